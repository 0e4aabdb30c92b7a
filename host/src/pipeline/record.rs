//! The run record (`runs/<id>/run.json`, docs/pipeline.md): what ran, when, how
//! often and with what result. Rewritten whole (an atomic put) after every event,
//! so a killed run leaves a record that says how far it got.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::step::{ErrorKind, RUNS_BUCKET, StepOutput};
use crate::capabilities::ErrorCode;
use crate::capabilities::storage::ObjectStore;

/// The object naming the newest published run.
pub const LATEST_KEY: &str = "latest";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    Pending,
    Running,
    Committed,
    Failed,
    /// Failed, and its `catch.next` stage ran in its place.
    Caught,
    /// Never ran: the run stopped first, or a fallback nobody routed to.
    Skipped,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

impl StageStatus {
    pub fn name(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Committed => "committed",
            StageStatus::Failed => "failed",
            StageStatus::Caught => "caught",
            StageStatus::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunError {
    pub stage: String,
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub shard: Option<u32>,
    pub started: String,
    pub ended: Option<String>,
    pub rows_in: u64,
    pub rows_out: u64,
    pub error: Option<AttemptError>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    /// `plugin:<name>` or `native:<name>`.
    pub kind: String,
    pub status: StageStatus,
    pub started: Option<String>,
    pub ended: Option<String>,
    pub attempts: Vec<AttemptRecord>,
    pub output: Option<StepOutput>,
    /// For a caught stage: the fallback that ran in its place. For a fallback: whom it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

impl StageRecord {
    pub fn new(name: &str, kind: String) -> Self {
        StageRecord {
            name: name.to_string(),
            kind,
            status: StageStatus::Pending,
            started: None,
            ended: None,
            attempts: Vec::new(),
            output: None,
            replaced_by: None,
            replaces: None,
        }
    }

    /// The highest attempt number used so far (0 before the first).
    pub fn last_attempt(&self) -> u32 {
        self.attempts.iter().map(|a| a.attempt).max().unwrap_or(0)
    }

    pub fn elapsed_secs(&self) -> Option<f64> {
        Some(seconds_between(self.started.as_deref()?, self.ended.as_deref()?))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub run_db: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub status: RunStatus,
    pub started: String,
    pub ended: Option<String>,
    pub vars: BTreeMap<String, String>,
    pub error: Option<RunError>,
    pub stages: Vec<StageRecord>,
    /// Catalog names this run published (`engage.<name>`), once it succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<String>,
    /// Catalog names a newer run had already published, left pointing at its tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<String>,
}

impl RunRecord {
    pub fn stage(&self, name: &str) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.name == name)
    }

    pub fn stage_mut(&mut self, name: &str) -> Option<&mut StageRecord> {
        self.stages.iter_mut().find(|s| s.name == name)
    }

    pub fn elapsed_secs(&self) -> Option<f64> {
        Some(seconds_between(&self.started, self.ended.as_deref()?))
    }
}

/// RFC 3339 UTC with milliseconds, as every timestamp in the record.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn seconds_between(start: &str, end: &str) -> f64 {
    match (DateTime::parse_from_rfc3339(start), DateTime::parse_from_rfc3339(end)) {
        (Ok(a), Ok(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    }
}

/// `YYYYMMDD-HHMMSS-xxxx`: UTC time and 4 random hex digits.
pub fn new_run_id() -> String {
    let suffix: u16 = rand::rng().random();
    format!("{}-{suffix:04x}", Utc::now().format("%Y%m%d-%H%M%S"))
}

/// Whether `id` has the run id shape (it becomes a key prefix, so check before use).
pub fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 20
        && b[8] == b'-'
        && b[15] == b'-'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && b[16..].iter().all(|c| c.is_ascii_hexdigit())
}

/// Run records in the `runs` bucket.
#[derive(Clone)]
pub struct RunStore {
    storage: Arc<dyn ObjectStore>,
}

impl RunStore {
    pub fn new(storage: Arc<dyn ObjectStore>) -> Self {
        Self { storage }
    }

    fn key(run_id: &str) -> String {
        format!("{run_id}/run.json")
    }

    /// A fresh id no other record uses.
    pub fn allocate_id(&self) -> Result<String> {
        for _ in 0..32 {
            let id = new_run_id();
            if !self.exists(&id)? {
                return Ok(id);
            }
        }
        bail!("could not find an unused run id in the runs bucket")
    }

    pub fn exists(&self, run_id: &str) -> Result<bool> {
        match self.storage.head(RUNS_BUCKET, &Self::key(run_id)) {
            Ok(_) => Ok(true),
            Err(e) if e.code == ErrorCode::NotFound => Ok(false),
            Err(e) => Err(anyhow::anyhow!("checking run {run_id}: {e}")),
        }
    }

    pub fn save(&self, record: &RunRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(record)?;
        self.storage
            .put(RUNS_BUCKET, &Self::key(&record.run_id), &json)
            .map_err(|e| anyhow::anyhow!("writing runs/{}: {e}", Self::key(&record.run_id)))
    }

    pub fn load(&self, run_id: &str) -> Result<RunRecord> {
        if !is_run_id(run_id) {
            bail!("'{run_id}' is not a run id (expected YYYYMMDD-HHMMSS-xxxx)");
        }
        let key = Self::key(run_id);
        let bytes = self.storage.get(RUNS_BUCKET, &key).map_err(|e| match e.code {
            ErrorCode::NotFound => anyhow::anyhow!("no run '{run_id}' (runs/{key} does not exist)"),
            _ => anyhow::anyhow!("reading runs/{key}: {e}"),
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("runs/{key} is not a valid run record"))
    }

    /// Every run, oldest first (ids sort by time).
    pub fn list(&self) -> Result<Vec<RunRecord>> {
        let objects = self.storage.list_all(RUNS_BUCKET, "").map_err(|e| anyhow::anyhow!("listing runs: {e}"))?;
        let mut ids: Vec<&str> = objects.iter().filter_map(|o| o.key.strip_suffix("/run.json")).filter(|id| is_run_id(id)).collect();
        ids.sort();
        ids.into_iter().map(|id| self.load(id)).collect()
    }

    /// Points `runs/latest` at `run_id` unless it already names a newer run.
    pub fn set_latest_if_newer(&self, run_id: &str) -> Result<()> {
        match self.latest()? {
            Some(latest) if latest.as_str() > run_id => Ok(()),
            _ => self.set_latest(run_id),
        }
    }

    pub fn set_latest(&self, run_id: &str) -> Result<()> {
        self.storage
            .put(RUNS_BUCKET, LATEST_KEY, format!("{run_id}\n").as_bytes())
            .map_err(|e| anyhow::anyhow!("writing runs/{LATEST_KEY}: {e}"))
    }

    pub fn latest(&self) -> Result<Option<String>> {
        match self.storage.get(RUNS_BUCKET, LATEST_KEY) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).trim().to_string())),
            Err(e) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading runs/{LATEST_KEY}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_have_the_documented_shape() {
        let id = new_run_id();
        assert!(is_run_id(&id), "{id}");
        assert!(!is_run_id("20261125-101500-a3f"));
        assert!(!is_run_id("../../etc/passwd-xxxx"));
    }
}
