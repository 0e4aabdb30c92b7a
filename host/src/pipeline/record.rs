//! The run record (`runs/<id>/run.json`, docs/pipeline.md): what ran, when, how
//! often and with what result. Rewritten whole (an atomic put) after every event,
//! so a killed run leaves a record that says how far it got.
//!
//! A process executing a run holds an exclusive advisory lock (flock) on
//! `runs/<id>/run.lock`, which names its pid and host: a second `--resume` of
//! the run is refused while it is held, and a record that says `running` whose
//! lock nobody holds (the process died, even by SIGKILL: the OS releases the lock)
//! is shown as `interrupted`. Where the runs bucket is on S3 the lock is a lease
//! object instead (`run_lease.rs`), and a `running` record whose lease expired is
//! `interrupted`; on storage with neither, runs are not locked.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::run_lease::{self, Lease};
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
    /// Never stored: a `running` record whose process is gone (its run lock is free).
    Interrupted,
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
            RunStatus::Interrupted => "interrupted",
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
    /// A failed plugin's output and wasm backtrace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    /// How long a run lock on shared storage lasts unless renewed.
    lease: std::time::Duration,
}

impl RunStore {
    pub fn new(storage: Arc<dyn ObjectStore>) -> Self {
        Self { storage, lease: run_lease::LEASE }
    }

    /// The same store with run locks on shared storage that last `lease` (tests shorten it).
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = lease;
        self
    }

    fn lock_key(run_id: &str) -> String {
        format!("{run_id}/run.lock")
    }

    fn key(run_id: &str) -> String {
        format!("{run_id}/run.json")
    }

    /// `runs/<id>/run.lock` when the runs bucket is a local folder.
    fn lock_path(&self, run_id: &str) -> Option<PathBuf> {
        self.storage.local_path(RUNS_BUCKET, &Self::lock_key(run_id))
    }

    /// Takes the run's lock for as long as the returned value lives; refuses, in
    /// one line naming the holder, while another process holds it.
    pub fn lock(&self, run_id: &str) -> Result<RunLock> {
        if !is_run_id(run_id) {
            bail!("'{run_id}' is not a run id (expected YYYYMMDD-HHMMSS-xxxx)");
        }
        let Some(path) = self.lock_path(run_id) else {
            if !self.storage.conditional_writes() {
                return Ok(RunLock { _file: None, lease: None });
            }
            let holder = format!("pid {} on host {}", std::process::id(), host_name());
            let lease = Lease::acquire(self.storage.clone(), &Self::lock_key(run_id), run_id, &holder, self.lease)?;
            return Ok(RunLock { _file: None, lease: Some(lease) });
        };
        let mut file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let mut words = holder.split_whitespace();
                let (pid, host) = (words.next().unwrap_or("?"), words.next().unwrap_or("?"));
                bail!("run {run_id} is being run by pid {pid} on host {host}; wait for it or stop it");
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
        let holder = format!("{} {}\n", std::process::id(), host_name());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { _file: Some(file), lease: None })
    }

    /// Whether the record of a `running` run lies: its lock file is there and nobody holds it,
    /// or its lease on shared storage has expired.
    fn interrupted(&self, run_id: &str) -> bool {
        let Some(path) = self.lock_path(run_id) else {
            return self.storage.conditional_writes() && run_lease::expired(self.storage.as_ref(), &Self::lock_key(run_id)) == Some(true);
        };
        // No lock file: a run of an older engage, or stage tasks run one by one; leave it be.
        let Ok(file) = File::open(&path) else { return false };
        // Taken (and dropped, so released) means its holder is gone.
        file.try_lock().is_ok()
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

    /// The run's record, or `None` when there is none.
    pub fn try_load(&self, run_id: &str) -> Result<Option<RunRecord>> {
        if !is_run_id(run_id) {
            bail!("'{run_id}' is not a run id (expected YYYYMMDD-HHMMSS-xxxx)");
        }
        let key = Self::key(run_id);
        let bytes = match self.storage.get(RUNS_BUCKET, &key) {
            Ok(bytes) => bytes,
            Err(e) if e.code == ErrorCode::NotFound => return Ok(None),
            Err(e) => bail!("reading runs/{key}: {e}"),
        };
        let mut record: RunRecord = serde_json::from_slice(&bytes).with_context(|| format!("runs/{key} is not a valid run record"))?;
        if record.status == RunStatus::Running && self.interrupted(run_id) {
            record.status = RunStatus::Interrupted;
        }
        Ok(Some(record))
    }

    pub fn load(&self, run_id: &str) -> Result<RunRecord> {
        self.try_load(run_id)?.ok_or_else(|| anyhow::anyhow!("no run '{run_id}' (runs/{} does not exist)", Self::key(run_id)))
    }

    /// A run whose results and knowledge base exist, or why it has none: it failed, is still running, was
    /// interrupted, or there is no such run.
    pub fn finished(&self, run_id: &str) -> Result<RunRecord> {
        let record = self.load(run_id)?;
        match record.status {
            RunStatus::Succeeded => Ok(record),
            RunStatus::Failed => match &record.error {
                Some(e) => anyhow::bail!("run {run_id} failed at stage '{}'; it has no results", e.stage),
                None => anyhow::bail!("run {run_id} failed; it has no results"),
            },
            RunStatus::Running => anyhow::bail!("run {run_id} is still running; it has no results yet"),
            RunStatus::Interrupted => {
                anyhow::bail!("run {run_id} was interrupted; resume it (engage run --resume {run_id}) to get results")
            }
        }
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

/// A run's lock (`RunStore::lock`), released when dropped or when the process dies.
pub struct RunLock {
    _file: Option<File>,
    lease: Option<Lease>,
}

impl RunLock {
    /// Why the lock is no longer this process's, if it isn't: a lease on shared storage that
    /// another process took over after it expired. The run must then stop writing.
    pub fn lost(&self) -> Option<String> {
        self.lease.as_ref().and_then(Lease::lost)
    }
}

pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if ok && !name.is_empty() { name } else { "unknown".into() }
}

/// Opens (creating it and its folder) a lock file of the storage root, keeping what it holds: the
/// holder's name is read from it by whoever finds it locked.
pub(crate) fn open_lock_file(path: &std::path::Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).with_context(|| format!("opening {}", path.display()))
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

