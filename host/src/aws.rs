//! The AWS SDK from synchronous code. One [`AwsContext`] per host holds the SDK
//! configuration (the default credential chain, region, an `endpoint_url` override
//! for stand-in servers, retry and timeout settings) and a private tokio runtime
//! the clients run on. Capability traits are synchronous and are called from plain
//! threads and from inside other tokio runtimes alike, so every call is spawned
//! onto this runtime and waited for without nesting `block_on`.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use serde::Deserialize;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The `[aws]` section of the runtime config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// AWS region; else `AWS_REGION` / the profile's region.
    pub region: Option<String>,
    /// Send every request here instead of AWS (a stand-in server on 127.0.0.1).
    pub endpoint_url: Option<String>,
    /// Attempts per request, first try included (throttling, 5xx, timeouts, resets).
    pub max_attempts: Option<u32>,
    /// Longest a single attempt may take, e.g. "2m".
    pub attempt_timeout: Option<String>,
}

impl AwsSettings {
    /// Problems with the section, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("aws.endpoint_url '{url}' must start with http:// or https://"));
        }
        if self.max_attempts == Some(0) {
            return Err("aws.max_attempts must be at least 1".into());
        }
        if let Some(text) = &self.attempt_timeout {
            crate::pipeline::spec::parse_duration(text).map_err(|e| format!("aws.attempt_timeout: {e}"))?;
        }
        if let Some(region) = &self.region
            && !crate::deploy::validate::region_name(region)
        {
            return Err(format!("aws.region '{region}' is not a region name (e.g. eu-west-1)"));
        }
        Ok(())
    }
}

pub struct AwsContext {
    runtime: Option<Runtime>,
    sdk: SdkConfig,
    attempt_timeout: Duration,
}

/// The longest a control-plane call (Athena Start/GetQueryExecution, Glue, ECS) may take per
/// attempt: they answer in well under a second, so a server that accepts and never answers
/// is given up on quickly. `aws.attempt_timeout` (for S3 parts and Bedrock replies) caps it.
pub const CONTROL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// All attempts of a control-plane call together, retries and backoff included.
pub const CONTROL_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Waiting for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl AwsContext {
    /// The SDK configuration from the default chain plus the `[aws]` settings.
    pub fn new(settings: &AwsSettings) -> Result<Self> {
        Self::build(settings, None)
    }

    /// As [`AwsContext::new`] with fixed credentials instead of the default chain (tests).
    pub fn with_credentials(settings: &AwsSettings, access_key: &str, secret_key: &str) -> Result<Self> {
        let credentials = aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "engage-fixed");
        Self::build(settings, Some(credentials))
    }

    fn build(settings: &AwsSettings, credentials: Option<aws_sdk_s3::config::Credentials>) -> Result<Self> {
        settings.check().map_err(anyhow::Error::msg)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("engage-aws")
            .enable_all()
            .build()
            .context("starting the AWS runtime")?;
        let attempt_timeout = match &settings.attempt_timeout {
            Some(text) => crate::pipeline::spec::parse_duration(text).map_err(anyhow::Error::msg)?,
            None => Duration::from_secs(120),
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // The SDK's HTTPS client (hyper + rustls) on ring rather than the default aws-lc, a long
            // C build; plain `http://` endpoints (stand-ins) work too.
            .http_client(aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.max_attempts.unwrap_or(5))
                    .with_initial_backoff(Duration::from_millis(100)),
            )
            .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).operation_attempt_timeout(attempt_timeout).build());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let sdk = runtime.block_on(loader.load());
        if sdk.region().is_none() {
            bail!("no AWS region: set aws.region in the runtime config or AWS_REGION in the environment");
        }
        Ok(Self { runtime: Some(runtime), sdk, attempt_timeout })
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// Timeouts for control-plane clients: [`CONTROL_ATTEMPT_TIMEOUT`] per attempt (or
    /// aws.attempt_timeout when shorter), [`CONTROL_OPERATION_TIMEOUT`] in all.
    pub fn control_plane_timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(self.attempt_timeout.min(CONTROL_ATTEMPT_TIMEOUT))
            .operation_timeout(CONTROL_OPERATION_TIMEOUT.max(self.attempt_timeout.min(CONTROL_ATTEMPT_TIMEOUT)))
            .build()
    }

    /// Where a service's requests go, for messages: the endpoint override if any, else the
    /// regional AWS endpoint `https://<host>.<region>.amazonaws.com`.
    pub fn endpoint_label(&self, host: &str, endpoint_url: Option<&str>, region: Option<&str>) -> String {
        if let Some(url) = endpoint_url.or(self.sdk.endpoint_url()) {
            return url.trim_end_matches('/').to_string();
        }
        let region = region.map(str::to_string).or_else(|| self.sdk.region().map(|r| r.to_string())).unwrap_or_else(|| "us-east-1".into());
        format!("https://{host}.{region}.amazonaws.com")
    }

    pub fn endpoint_overridden(&self) -> bool {
        self.sdk.endpoint_url().is_some()
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Starts `future` on the AWS runtime.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(future)
    }

    /// Waits for a spawned call from any thread, inside a runtime or not.
    pub fn wait<T>(handle: JoinHandle<T>) -> T {
        match futures::executor::block_on(handle) {
            Ok(value) => value,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("AWS call cancelled: {error}"),
        }
    }

    /// Runs `future` on the AWS runtime and waits for it.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Self::wait(self.spawn(future))
    }
}

impl Drop for AwsContext {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime: let it wind down on its own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// An SDK error as a one-line capability error: the service, the operation, the resource,
/// the endpoint, and the cause in words — AWS's HTTP status, code and message; no
/// credentials found; connection refused; a name that does not resolve; a timeout and
/// after how long (never a credential: the SDK keeps those out).
pub fn service_error<E>(
    service: &str,
    operation: &str,
    target: &str,
    endpoint: &str,
    error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> crate::capabilities::CapabilityError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use crate::capabilities::CapabilityError;
    use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().unwrap_or_default().to_string();
    let cause = match (status, error.message()) {
        (Some(status), message) => {
            let mut text = format!("HTTP {status}");
            if !code.is_empty() {
                text.push_str(&format!(" {code}"));
            }
            match message.filter(|m| !m.is_empty()) {
                Some(message) => text.push_str(&format!(": {message}")),
                // No AWS error in the reply (one that could not be read, say): what went wrong with it.
                None if code.is_empty() => text.push_str(&format!(": {}", transport_cause(&error))),
                None => {}
            }
            text
        }
        (None, Some(message)) if !code.is_empty() => format!("{code}: {message}"),
        (None, _) => transport_cause(&error),
    };
    let target = if target.is_empty() { String::new() } else { format!(" {target}") };
    let text = format!("{service} {operation}{target} at {endpoint}: {}", cause.replace('\n', " "));
    let missing = matches!(
        code.as_str(),
        "NoSuchKey" | "NotFound" | "NoSuchBucket" | "NoSuchUpload" | "EntityNotFoundException" | "ResourceNotFoundException"
    );
    match (&error, status) {
        (_, Some(404)) => CapabilityError::not_found(text),
        _ if missing => CapabilityError::not_found(text),
        (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), _) => CapabilityError::unavailable(text),
        (_, Some(429 | 500..=599)) => CapabilityError::unavailable(text),
        (_, Some(400)) if code.contains("Invalid") || code.contains("Validation") => CapabilityError::invalid(text),
        _ => CapabilityError::internal(text),
    }
}

/// Why a request got no answer, in words, from the error's chain of sources.
fn transport_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        chain.push(e);
        next = e.source();
    }
    let texts: Vec<String> = chain.iter().map(|e| e.to_string()).collect();
    let all = texts.join(" / ").to_lowercase();
    let io_kind = chain.iter().find_map(|e| e.downcast_ref::<std::io::Error>()).map(|e| e.kind());
    if all.contains("credential") || all.contains("no providers in chain") {
        return "no AWS credentials found in the default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, web identity, \
                the ECS task role or EC2 instance metadata)"
            .into();
    }
    if let Some(timeout) = texts.iter().rev().find(|t| t.contains("occurred after")) {
        // The SDK's own wording: "operation attempt timeout (single attempt) occurred after 10s".
        return format!("timed out: {timeout}");
    }
    if io_kind == Some(std::io::ErrorKind::ConnectionRefused) || all.contains("connection refused") {
        return "connection refused".into();
    }
    if all.contains("dns error") || all.contains("failed to lookup address") || all.contains("name or service not known") {
        return format!("the host name does not resolve ({})", texts.last().map(String::as_str).unwrap_or("dns error"));
    }
    if io_kind == Some(std::io::ErrorKind::TimedOut) || all.contains("timed out") || all.contains("timeout") {
        return format!("timed out connecting (after at most {}s)", CONNECT_TIMEOUT.as_secs());
    }
    if io_kind == Some(std::io::ErrorKind::ConnectionReset) || all.contains("connection reset") {
        return "the connection was reset".into();
    }
    // Else the innermost cause, which is the most specific.
    let innermost = texts.iter().rev().find(|t| !t.trim().is_empty()).cloned().unwrap_or_default();
    let outermost = texts.first().cloned().unwrap_or_default();
    if innermost == outermost { innermost } else { format!("{outermost}: {innermost}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_in_words() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        assert_eq!(transport_cause(&refused), "connection refused");
        let dns = std::io::Error::other("dns error: failed to lookup address information: Name or service not known");
        assert!(transport_cause(&dns).starts_with("the host name does not resolve"), "{}", transport_cause(&dns));
        let creds = std::io::Error::other("failed to construct request: no providers in chain provided credentials");
        assert!(transport_cause(&creds).starts_with("no AWS credentials found"));
    }
}
