//! Storage on S3. A zone (the logical bucket a pipeline names: `work`, `processed`,
//! ...) maps to a real bucket and key prefix from the runtime config. Reads stream
//! the body into one buffer (ranged reads send `Range`), large writes go up as a
//! multipart upload with a few parts in flight and are aborted on any failure or
//! when the writer is dropped unfinished, so no half object and no orphaned parts
//! remain. Listing pages with ListObjectsV2; the page token is the last key, as on
//! the local backend. Throttling, 5xx, timeouts and connection resets are retried
//! by the SDK's retry policy; what is left names the operation, the object and
//! S3's message.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::task::JoinHandle;

use super::{ListPage, ObjectInfo, ObjectStore, ObjectWriter, WriteCondition, validate_bucket, validate_prefix};
use crate::aws::AwsContext;
use crate::capabilities::{CapResult, CapabilityError};

/// S3's smallest part (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Parts uploading at once per writer: enough to fill a link, bounded memory.
const PARTS_IN_FLIGHT: usize = 4;

/// Where one zone lives: a bucket and a key prefix (empty or ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// `bucket` or `bucket/prefix` (an `s3://` in front is allowed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix("s3://").unwrap_or(text);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            validate_prefix(prefix)?;
        }
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Self { bucket: bucket.to_string(), prefix })
    }
}

/// Zone name -> S3 location: listed zones first, then `<bucket>/<zone>/` of the shared bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneMap {
    pub shared: Option<S3Location>,
    pub zones: BTreeMap<String, S3Location>,
}

impl ZoneMap {
    pub fn locate(&self, zone: &str) -> CapResult<S3Location> {
        if let Some(location) = self.zones.get(zone) {
            return Ok(location.clone());
        }
        match &self.shared {
            Some(shared) => Ok(S3Location { bucket: shared.bucket.clone(), prefix: format!("{}{zone}/", shared.prefix) }),
            None => Err(CapabilityError::invalid(format!(
                "bucket '{zone}' has no S3 location: add storage.buckets.{zone} (or a shared storage.bucket) to the runtime config"
            ))),
        }
    }
}

impl ZoneMap {
    /// `s3://<zone>/key` as the real `s3://bucket/prefix/key`; other text unchanged.
    pub fn real_url(&self, url: &str) -> String {
        let Some(rest) = url.strip_prefix("s3://") else { return url.to_string() };
        let (zone, key) = rest.split_once('/').unwrap_or((rest, ""));
        match self.locate(zone) {
            Ok(location) => format!("s3://{}/{}{key}", location.bucket, location.prefix),
            Err(_) => url.to_string(),
        }
    }

    /// The reverse of [`ZoneMap::real_url`] for the zones listed and the shared bucket's zones.
    pub fn logical_url(&self, url: &str) -> String {
        let Some(rest) = url.strip_prefix("s3://") else { return url.to_string() };
        for (zone, location) in &self.zones {
            let root = format!("{}/{}", location.bucket, location.prefix);
            if let Some(key) = rest.strip_prefix(&root) {
                return format!("s3://{zone}/{key}");
            }
        }
        if let Some(shared) = &self.shared
            && let Some(inside) = rest.strip_prefix(&format!("{}/{}", shared.bucket, shared.prefix))
            && let Some((zone, key)) = inside.split_once('/')
        {
            return format!("s3://{zone}/{key}");
        }
        url.to_string()
    }

    /// Every `'s3://<zone>/...` string literal in a statement pointed at its real location.
    pub fn rewrite_locations(&self, statement: &str) -> String {
        let mut out = String::with_capacity(statement.len());
        let mut rest = statement;
        while let Some(at) = rest.find("'s3://") {
            out.push_str(&rest[..at + 1]);
            let literal = &rest[at + 1..];
            let end = literal.find('\'').unwrap_or(literal.len());
            out.push_str(&self.real_url(&literal[..end]));
            rest = &literal[end..];
        }
        out.push_str(rest);
        out
    }
}

pub struct S3Storage {
    aws: Arc<AwsContext>,
    /// The endpoint, for messages.
    at: String,
    client: Client,
    zones: ZoneMap,
    part_size: usize,
}

impl S3Storage {
    pub fn new(aws: Arc<AwsContext>, zones: ZoneMap, part_size: u64) -> Self {
        let mut config = aws_sdk_s3::config::Builder::from(aws.sdk())
            // Checksums only where S3 requires them: S3-compatible stand-ins don't all speak the newer ones.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if aws.endpoint_overridden() {
            // Stand-in servers on 127.0.0.1 have no per-bucket host names.
            config = config.force_path_style(true);
        }
        let part_size = part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE) as usize;
        Self { client: Client::from_conf(config.build()), at: aws.endpoint_label("s3", None, None), aws, zones, part_size }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The real bucket and key of a zone's key.
    fn resolve(&self, zone: &str, key: &str) -> CapResult<(String, String)> {
        let location = self.zones.locate(zone)?;
        Ok((location.bucket, format!("{}{key}", location.prefix)))
    }
}

/// An SDK error naming S3, the operation, the object and S3's message.
fn s3_error<E>(operation: &str, target: &str, at: &str, error: SdkError<E, HttpResponse>) -> CapabilityError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    crate::aws::service_error("s3", operation, target, at, error)
}

fn body_error(target: &str, error: impl std::fmt::Display) -> CapabilityError {
    CapabilityError::unavailable(format!("s3 GetObject {target}: reading the body: {error}"))
}

/// Reads a body into one buffer chunk by chunk, sized up front when the length is known.
async fn read_body(mut body: ByteStream, expected: Option<i64>, target: &str) -> CapResult<Vec<u8>> {
    let mut data = Vec::with_capacity(expected.unwrap_or(0).max(0) as usize);
    while let Some(chunk) = body.try_next().await.map_err(|e| body_error(target, e))? {
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

impl ObjectStore for S3Storage {
    fn get(&self, bucket: &str, key: &str) -> CapResult<Vec<u8>> {
        self.get_tagged(bucket, key).map(|(data, _)| data)
    }

    fn get_range(&self, bucket: &str, key: &str, offset: u64, length: u64) -> CapResult<Vec<u8>> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        let target = format!("s3://{real_bucket}/{real_key}");
        if length == 0 {
            // S3 has no empty range: check the object exists, as the local backend does.
            self.head(bucket, key)?;
            return Ok(Vec::new());
        }
        let range = format!("bytes={offset}-{}", offset.saturating_add(length - 1));
        let request = self.client.get_object().bucket(real_bucket).key(real_key).range(range);
        let at = self.at.clone();
        self.aws.block_on(async move {
            match request.send().await {
                Ok(output) => {
                    let length = output.content_length();
                    read_body(output.body, length, &target).await
                }
                // A range starting at or past the end: nothing to read, like the local backend.
                Err(e) if e.code() == Some("InvalidRange") || e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                    Ok(Vec::new())
                }
                Err(e) => Err(s3_error("GetObject", &target, &at, e)),
            }
        })
    }

    fn head(&self, bucket: &str, key: &str) -> CapResult<ObjectInfo> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        let target = format!("s3://{real_bucket}/{real_key}");
        let request = self.client.head_object().bucket(real_bucket).key(real_key);
        let key = key.to_string();
        let at = self.at.clone();
        self.aws.block_on(async move {
            let output = request.send().await.map_err(|e| s3_error("HeadObject", &target, &at, e))?;
            Ok(ObjectInfo { key, size: output.content_length().unwrap_or(0).max(0) as u64 })
        })
    }

    fn put(&self, bucket: &str, key: &str, data: &[u8]) -> CapResult<()> {
        let mut writer = self.open_writer(bucket, key)?;
        writer.write(data)?;
        writer.finish().map(|_| ())
    }

    fn open_writer(&self, bucket: &str, key: &str) -> CapResult<Box<dyn ObjectWriter>> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        Ok(Box::new(S3Writer {
            aws: self.aws.clone(),
            at: self.at.clone(),
            client: self.client.clone(),
            target: format!("s3://{real_bucket}/{real_key}"),
            bucket: real_bucket,
            real_key,
            key: key.to_string(),
            part_size: self.part_size,
            buffer: Vec::new(),
            upload_id: None,
            in_flight: VecDeque::new(),
            done_parts: Vec::new(),
            next_part: 1,
            size: 0,
            finished: false,
        }))
    }

    fn list(&self, bucket: &str, prefix: &str, continuation: Option<&str>, max_keys: usize) -> CapResult<ListPage> {
        let location = self.zones.locate(bucket)?;
        let target = format!("s3://{}/{}{prefix}", location.bucket, location.prefix);
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&location.bucket)
            .prefix(format!("{}{prefix}", location.prefix))
            .max_keys(max_keys.clamp(1, 1000) as i32);
        if let Some(after) = continuation {
            request = request.start_after(format!("{}{after}", location.prefix));
        }
        let zone_prefix = location.prefix;
        let at = self.at.clone();
        self.aws.block_on(async move {
            let output = request.send().await.map_err(|e| s3_error("ListObjectsV2", &target, &at, e))?;
            let mut objects = Vec::new();
            for object in output.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(zone_prefix.as_str())) else { continue };
                objects.push(ObjectInfo { key: key.to_string(), size: object.size().unwrap_or(0).max(0) as u64 });
            }
            let truncated = output.is_truncated().unwrap_or(false);
            let next_token = if truncated { objects.last().map(|o| o.key.clone()) } else { None };
            Ok(ListPage { objects, next_token })
        })
    }

    fn delete(&self, bucket: &str, key: &str) -> CapResult<()> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        let target = format!("s3://{real_bucket}/{real_key}");
        let request = self.client.delete_object().bucket(real_bucket).key(real_key);
        let at = self.at.clone();
        self.aws.block_on(async move {
            match request.send().await {
                Ok(_) => Ok(()),
                Err(e) => match s3_error("DeleteObject", &target, &at, e) {
                    missing if missing.code == crate::capabilities::ErrorCode::NotFound => Ok(()),
                    other => Err(other),
                },
            }
        })
    }

    fn local_path(&self, _bucket: &str, _key: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn conditional_writes(&self) -> bool {
        true
    }

    // Conditional writes are S3's own (If-None-Match / If-Match on PutObject and DeleteObject):
    // one request each, so two tasks racing for a lease can't both win.
    fn put_if(&self, bucket: &str, key: &str, data: &[u8], condition: WriteCondition) -> CapResult<Option<String>> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        let target = format!("s3://{real_bucket}/{real_key}");
        let request = self.client.put_object().bucket(real_bucket).key(real_key).body(ByteStream::from(data.to_vec()));
        let request = match condition {
            WriteCondition::Absent => request.if_none_match("*"),
            WriteCondition::Matches(tag) => request.if_match(tag),
        };
        let at = self.at.clone();
        self.aws.block_on(async move {
            match request.send().await {
                Ok(output) => Ok(Some(output.e_tag().unwrap_or_default().to_string())),
                Err(e) if condition_failed(&e) => Ok(None),
                Err(e) => Err(s3_error("PutObject", &target, &at, e)),
            }
        })
    }

    fn get_tagged(&self, bucket: &str, key: &str) -> CapResult<(Vec<u8>, String)> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        let target = format!("s3://{real_bucket}/{real_key}");
        let request = self.client.get_object().bucket(real_bucket).key(real_key);
        let at = self.at.clone();
        self.aws.block_on(async move {
            let output = request.send().await.map_err(|e| s3_error("GetObject", &target, &at, e))?;
            let tag = output.e_tag().unwrap_or_default().to_string();
            let length = output.content_length();
            Ok((read_body(output.body, length, &target).await?, tag))
        })
    }

    fn delete_if(&self, bucket: &str, key: &str, tag: &str) -> CapResult<bool> {
        let (real_bucket, real_key) = self.resolve(bucket, key)?;
        let target = format!("s3://{real_bucket}/{real_key}");
        let request = self.client.delete_object().bucket(real_bucket).key(real_key).if_match(tag);
        let at = self.at.clone();
        self.aws.block_on(async move {
            match request.send().await {
                Ok(_) => Ok(true),
                Err(e) if condition_failed(&e) => Ok(false),
                Err(e) => match s3_error("DeleteObject", &target, &at, e) {
                    missing if missing.code == crate::capabilities::ErrorCode::NotFound => Ok(false),
                    other => Err(other),
                },
            }
        })
    }
}

/// S3's answer when a conditional request's condition did not hold (412), or when another
/// conditional write to the key was in flight at the same moment (409).
fn condition_failed<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    matches!(error.code(), Some("PreconditionFailed" | "ConditionalRequestConflict"))
        || error.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412))
}

/// A streamed write: one PutObject when it fits in a part, else a multipart upload.
struct S3Writer {
    aws: Arc<AwsContext>,
    at: String,
    client: Client,
    target: String,
    bucket: String,
    real_key: String,
    /// The key as the caller named it (within its zone).
    key: String,
    part_size: usize,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    in_flight: VecDeque<JoinHandle<CapResult<CompletedPart>>>,
    done_parts: Vec<CompletedPart>,
    next_part: i32,
    size: u64,
    finished: bool,
}

impl S3Writer {
    fn start_upload(&mut self) -> CapResult<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let request = self.client.create_multipart_upload().bucket(&self.bucket).key(&self.real_key);
        let target = self.target.clone();
        let at = self.at.clone();
        let id = self.aws.block_on(async move {
            let output = request.send().await.map_err(|e| s3_error("CreateMultipartUpload", &target, &at, e))?;
            output.upload_id().map(str::to_string).ok_or_else(|| {
                CapabilityError::internal(format!("s3 CreateMultipartUpload {target}: the answer has no upload id"))
            })
        })?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Sends the buffer as the next part; waits when too many parts are in flight.
    fn send_part(&mut self) -> CapResult<()> {
        let upload_id = self.start_upload()?;
        let body = std::mem::take(&mut self.buffer);
        let number = self.next_part;
        self.next_part += 1;
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.real_key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body));
        let (target, at) = (self.target.clone(), self.at.clone());
        self.in_flight.push_back(self.aws.spawn(async move {
            let output = request.send().await.map_err(|e| s3_error(&format!("UploadPart {number}"), &target, &at, e))?;
            Ok(CompletedPart::builder().part_number(number).set_e_tag(output.e_tag().map(str::to_string)).build())
        }));
        while self.in_flight.len() > PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    fn wait_oldest(&mut self) -> CapResult<()> {
        if let Some(handle) = self.in_flight.pop_front() {
            self.done_parts.push(AwsContext::wait(handle)?);
        }
        Ok(())
    }

    fn complete(&mut self) -> CapResult<()> {
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        while !self.in_flight.is_empty() {
            self.wait_oldest()?;
        }
        let mut parts = std::mem::take(&mut self.done_parts);
        parts.sort_by_key(|p| p.part_number());
        let request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.real_key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        let target = self.target.clone();
        let at = self.at.clone();
        self.aws.block_on(async move {
            request.send().await.map_err(|e| s3_error("CompleteMultipartUpload", &target, &at, e))?;
            Ok(())
        })
    }

    fn put_whole(&mut self) -> CapResult<()> {
        let body = std::mem::take(&mut self.buffer);
        let request = self.client.put_object().bucket(&self.bucket).key(&self.real_key).body(ByteStream::from(body));
        let target = self.target.clone();
        let at = self.at.clone();
        self.aws.block_on(async move {
            request.send().await.map_err(|e| s3_error("PutObject", &target, &at, e))?;
            Ok(())
        })
    }

    /// Lets the parts in flight end, then aborts the upload so S3 drops every part.
    fn abort(&mut self) {
        for handle in std::mem::take(&mut self.in_flight) {
            let _ = AwsContext::wait(handle);
        }
        if let Some(upload_id) = self.upload_id.take() {
            let request = self.client.abort_multipart_upload().bucket(&self.bucket).key(&self.real_key).upload_id(upload_id);
            let target = self.target.clone();
            let at = self.at.clone();
            if let Err(e) = self.aws.block_on(async move { request.send().await.map_err(|e| s3_error("AbortMultipartUpload", &target, &at, e)) }) {
                tracing::warn!("{e}");
            }
        }
    }
}

impl ObjectWriter for S3Writer {
    fn write(&mut self, mut chunk: &[u8]) -> CapResult<()> {
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve_exact(self.part_size.min(chunk.len().max(1 << 20)));
            }
            let take = (self.part_size - self.buffer.len()).min(chunk.len());
            self.buffer.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buffer.len() == self.part_size {
                if let Err(e) = self.send_part() {
                    self.abort();
                    self.finished = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> CapResult<ObjectInfo> {
        if self.finished {
            return Err(CapabilityError::invalid(format!("the write of {} already failed", self.target)));
        }
        let result = if self.upload_id.is_none() { self.put_whole() } else { self.complete() };
        if let Err(e) = result {
            self.abort();
            self.finished = true;
            return Err(e);
        }
        self.upload_id = None;
        self.finished = true;
        Ok(ObjectInfo { key: self.key.clone(), size: self.size })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // An unfinished write leaves no object and no parts behind.
        if !self.finished {
            self.abort();
        }
    }
}
