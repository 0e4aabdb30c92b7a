//! The run lock where the runs bucket is shared object storage (S3), which has no file locks:
//! a lease object `runs/<id>/run.lock`, created only if absent, renewed by a heartbeat and
//! deleted on release. A holder that dies (a Fargate task stopped, a machine lost) stops
//! renewing; once its lease has expired, another process may take the run over. Every write
//! is conditional on the version last seen, so of two processes racing, one wins.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::step::RUNS_BUCKET;
use crate::capabilities::ErrorCode;
use crate::capabilities::storage::{ObjectStore, WriteCondition};

/// How long a lease lasts unless renewed. Long beside the renewal period, so a slow request or
/// two don't lose it; short enough that a run whose task died can be resumed minutes later.
pub const LEASE: Duration = Duration::from_secs(120);

/// What the lease object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Holding {
    /// Who runs it: pid and host, as the local lock file says.
    holder: String,
    /// When the lease runs out unless renewed (RFC 3339, the holder's clock).
    expires: String,
}

impl Holding {
    fn new(holder: &str, lease: Duration) -> Self {
        Self { holder: holder.to_string(), expires: (Utc::now() + lease).to_rfc3339_opts(SecondsFormat::Millis, true) }
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a lease serialises")
    }

    /// An expiry that doesn't parse protects nothing.
    fn expired(&self) -> bool {
        DateTime::parse_from_rfc3339(&self.expires).map_or(true, |t| t <= Utc::now())
    }
}

/// A held lease; renewed until dropped, then deleted.
pub struct Lease {
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

struct Shared {
    storage: Arc<dyn ObjectStore>,
    key: String,
    holder: String,
    lease: Duration,
    /// The version of the lease object we wrote last.
    tag: Mutex<String>,
    /// Why the lease is no longer ours, once it isn't.
    lost: Mutex<Option<String>>,
}

impl Lease {
    /// Takes the lease on `key` in the runs bucket for `run_id`, or refuses in one line naming
    /// the holder while an unexpired lease is held by someone else.
    pub fn acquire(storage: Arc<dyn ObjectStore>, key: &str, run_id: &str, holder: &str, lease: Duration) -> Result<Lease> {
        let fresh = Holding::new(holder, lease).bytes();
        let context = || format!("taking the run lock runs/{key}");
        let tag = match storage.put_if(RUNS_BUCKET, key, &fresh, WriteCondition::Absent).map_err(anyhow::Error::from).with_context(context)? {
            Some(tag) => tag,
            None => {
                let (bytes, stale_tag) = match storage.get_tagged(RUNS_BUCKET, key) {
                    Ok(found) => found,
                    // Released between our two requests: the next try finds it free.
                    Err(e) if e.code == ErrorCode::NotFound => return Self::acquire(storage, key, run_id, holder, lease),
                    Err(e) => return Err(anyhow::Error::from(e)).with_context(context),
                };
                // An unreadable lease protects nothing: treat it as expired.
                let current: Option<Holding> = serde_json::from_slice(&bytes).ok();
                if let Some(current) = current.as_ref().filter(|c| !c.expired()) {
                    bail!(
                        "run {run_id} is being run by {} (its lease runs until {}); wait for it or stop it",
                        current.holder, current.expires
                    );
                }
                match storage.put_if(RUNS_BUCKET, key, &fresh, WriteCondition::Matches(&stale_tag)).map_err(anyhow::Error::from).with_context(context)? {
                    Some(tag) => {
                        let previous = current.map_or_else(|| "an unreadable lease".to_string(), |c| c.holder);
                        tracing::warn!(run_id, "took over run {run_id} from {previous}, whose lease had expired");
                        tag
                    }
                    None => bail!("run {run_id} was taken over by another process just now; wait for it or stop it"),
                }
            }
        };
        let shared = Arc::new(Shared {
            storage,
            key: key.to_string(),
            holder: holder.to_string(),
            lease,
            tag: Mutex::new(tag),
            lost: Mutex::new(None),
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let beating = shared.clone();
        let heartbeat = std::thread::Builder::new()
            .name("engage-run-lease".into())
            .spawn(move || {
                // Renew at a third of the lease: two renewals may fail before it runs out.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(beating.lease / 3) {
                    if !beating.renew() {
                        break;
                    }
                }
            })
            .context("starting the run lease's heartbeat")?;
        Ok(Lease { shared, stop: Some(stop), heartbeat: Some(heartbeat) })
    }

    /// Why the lease was lost, if it was: another process took the run over.
    pub fn lost(&self) -> Option<String> {
        self.shared.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Shared {
    /// Extends the lease; false once it is lost (the heartbeat stops).
    fn renew(&self) -> bool {
        let mut tag = self.tag.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = Holding::new(&self.holder, self.lease).bytes();
        match self.storage.put_if(RUNS_BUCKET, &self.key, &bytes, WriteCondition::Matches(&tag)) {
            Ok(Some(new_tag)) => {
                *tag = new_tag;
                true
            }
            Ok(None) => {
                let why = format!("the run lock runs/{} was taken over by another process (this one's lease expired)", self.key);
                tracing::error!("{why}");
                *self.lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                false
            }
            // The lease is still ours until it expires: try again at the next beat.
            Err(e) => {
                tracing::warn!("renewing the run lock runs/{}: {e}", self.key);
                true
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.join();
        }
        if self.lost().is_none() {
            let tag = self.shared.tag.lock().unwrap_or_else(|e| e.into_inner()).clone();
            // Only our own version: a lease another process took over stays theirs.
            if let Err(e) = self.shared.storage.delete_if(RUNS_BUCKET, &self.shared.key, &tag) {
                tracing::warn!("releasing the run lock runs/{}: {e} (it expires by itself)", self.shared.key);
            }
        }
    }
}

/// Whether the lease on `key` has run out: `None` when there is no lease object (a run of an
/// older engage, or stage tasks run one by one) or it can't be read.
pub fn expired(storage: &dyn ObjectStore, key: &str) -> Option<bool> {
    let bytes = storage.get(RUNS_BUCKET, key).ok()?;
    Some(serde_json::from_slice::<Holding>(&bytes).map_or(true, |h| h.expired()))
}
