//! What the orchestrator hands a stage and what it gets back. Native steps
//! (ingest, features, train, predict, knowledge, report) and plugin stages both
//! run behind [`Step`], so retry, catch, timeout and map treat them alike.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::capabilities::llm::LanguageModel;
use crate::capabilities::sql::SqlEngine;
use crate::capabilities::storage::ObjectStore;
use crate::catalog::Catalog;
use crate::runtime::{FailureKind, GuestError, Runtime};

/// Bucket of per-run working data: `work/run=<id>/<stage>/attempt=<n>/...`.
pub const WORK_BUCKET: &str = "work";
/// Bucket of trained models: `models/<model>/run=<id>/...`.
pub const MODELS_BUCKET: &str = "models";
/// Bucket of run records and reports: `runs/<id>/...`.
pub const RUNS_BUCKET: &str = "runs";
/// Bucket of knowledge-base documents: `knowledge/run=<id>/...`.
pub const KNOWLEDGE_BUCKET: &str = "knowledge";

/// The backends a run works against, shared by every stage of the run.
#[derive(Clone)]
pub struct Services {
    pub storage: Arc<dyn ObjectStore>,
    pub sql: Arc<dyn SqlEngine>,
    pub catalog: Arc<dyn Catalog>,
    pub llm: Arc<dyn LanguageModel>,
    pub runtime: Arc<Runtime>,
    /// Where `<name>.wasm` plugins are found (stage plugins and transforms).
    pub plugin_dir: PathBuf,
    /// The local storage root when the backend is a directory (reports are also
    /// written there so a browser can open them); None on hosted backends.
    pub local_root: Option<PathBuf>,
    /// `--trace`: every capability call of every plugin stage, reported here.
    pub trace: Option<Arc<crate::capabilities::trace::CallTrace>>,
}

/// Which slice of a mapped stage this call handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Everything one attempt of one stage (or one shard of it) sees.
pub struct StepContext<'a> {
    pub run_id: &'a str,
    /// The run's catalog database (`run_<id>`): every table a stage creates goes here.
    pub run_db: &'a str,
    pub stage: &'a str,
    pub attempt: u32,
    pub shard: Option<Shard>,
    /// The stage's `params` from the pipeline file, `${...}` already substituted.
    pub params: &'a serde_json::Value,
    /// The stage's grants and limits (plugin stages hand them to the guest).
    pub grants: &'a crate::capabilities::Grants,
    pub limits: &'a crate::runtime::GuestLimits,
    /// Summaries of the stages this run has committed so far, by stage name.
    pub upstream: &'a serde_json::Map<String, serde_json::Value>,
    pub services: &'a Services,
    /// Shared, so that work running elsewhere (ingest's readers) can count rows as it goes.
    pub progress: &'a Arc<Progress>,
}

impl StepContext<'_> {
    /// `bucket`-relative prefix this attempt writes under: `run=<id>/<stage>/attempt=<n>/`
    /// (plus `shard=<i>/` in a mapped stage). Attempts never share files.
    pub fn scratch_prefix(&self) -> String {
        let mut prefix = format!("run={}/{}/attempt={}/", self.run_id, self.stage, self.attempt);
        if let Some(shard) = self.shard {
            prefix.push_str(&format!("shard={}/", shard.index));
        }
        prefix
    }

    /// A typed view of the params.
    pub fn params<T: serde::de::DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_json::from_value(self.params.clone())
            .map_err(|e| StepError::new(ErrorKind::Config, format!("stage '{}': bad params: {e}", self.stage)))
    }

    /// Native steps call this between batches; it fails once the stage timed out
    /// or the run is being stopped.
    pub fn check_cancelled(&self) -> Result<(), StepError> {
        if self.progress.cancelled.load(Ordering::Relaxed) {
            Err(StepError::new(ErrorKind::Timeout, format!("stage '{}' was stopped (timeout or run cancelled)", self.stage)))
        } else {
            Ok(())
        }
    }
}

/// Live counters of a running stage, read by the progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    /// Expected rows, 0 when unknown.
    pub total: AtomicU64,
    pub cancelled: AtomicBool,
}

impl Progress {
    pub fn add_rows(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
    pub fn set_total(&self, rows: u64) {
        self.total.store(rows, Ordering::Relaxed);
    }
}

/// What a successful attempt reports; goes into the run history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepOutput {
    pub rows_in: u64,
    pub rows_out: u64,
    /// Tables (`db.table`) and objects (`s3://bucket/key`) the stage produced.
    pub outputs: Vec<String>,
    /// Free-form JSON the later stages, the summary and the report read (see docs/pipeline.md).
    pub summary: serde_json::Value,
}

/// Error kinds a pipeline's `retry.on` and `catch.on` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The stage ran past its timeout.
    Timeout,
    /// A guest broke its memory limit.
    MemoryLimit,
    /// A guest wrote more than its output limit.
    OutputLimit,
    /// A guest asked for a capability or resource it was not granted.
    Denied,
    /// A guest trapped (panic, bad instruction) or failed to load.
    Trap,
    /// The stage ran and reported failure (a guest's `Err`, a native step's error).
    Failed,
    /// A data-quality check failed: retrying will not help.
    DataQuality,
    /// Bad parameters or pipeline configuration.
    Config,
    /// Storage, SQL or catalog I/O failed.
    Io,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Timeout,
        ErrorKind::MemoryLimit,
        ErrorKind::OutputLimit,
        ErrorKind::Denied,
        ErrorKind::Trap,
        ErrorKind::Failed,
        ErrorKind::DataQuality,
        ErrorKind::Config,
        ErrorKind::Io,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::MemoryLimit => "memory-limit",
            ErrorKind::OutputLimit => "output-limit",
            ErrorKind::Denied => "denied",
            ErrorKind::Trap => "trap",
            ErrorKind::Failed => "failed",
            ErrorKind::DataQuality => "data-quality",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
        }
    }

    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    /// What a plugin wrote to stdout/stderr and its wasm backtrace, when one failed: kept with the
    /// attempt in the run record and logged, as `engage plugin test` prints them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), detail: None }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }
    pub fn data_quality(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DataQuality, message)
    }
}

impl From<GuestError> for StepError {
    fn from(e: GuestError) -> Self {
        let kind = match e.kind {
            FailureKind::MemoryLimit => ErrorKind::MemoryLimit,
            FailureKind::Timeout => ErrorKind::Timeout,
            FailureKind::OutputLimit => ErrorKind::OutputLimit,
            FailureKind::Denied => ErrorKind::Denied,
            FailureKind::Trap => ErrorKind::Trap,
            // A component that is not the kind of plugin asked for, or disagrees with its manifest: no retry mends it.
            FailureKind::Load => ErrorKind::Config,
            FailureKind::PluginError | FailureKind::BadOutput => ErrorKind::Failed,
        };
        // A guest that reports a failed data check says so with this prefix.
        let message = e.to_string();
        let kind = if kind == ErrorKind::Failed && message.contains("data-quality:") { ErrorKind::DataQuality } else { kind };
        StepError { detail: e.detail(), ..StepError::new(kind, message) }
    }
}

impl From<crate::capabilities::CapabilityError> for StepError {
    fn from(e: crate::capabilities::CapabilityError) -> Self {
        StepError::io(e.to_string())
    }
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> Self {
        StepError::failed(format!("{e:#}"))
    }
}

/// One kind of stage. Called once per attempt (and per shard in a mapped stage),
/// possibly from several threads at once for different shards.
pub trait Step: Send + Sync {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError>;
}
