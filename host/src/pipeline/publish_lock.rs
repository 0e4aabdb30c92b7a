//! The storage root's publish lock, `runs/publish.lock`: publishing a run's tables, writing its
//! record and moving `runs/latest` is one critical section, so that of two runs finishing at
//! once on one root each published name, and `runs/latest`, end up at the newer run, and the
//! older run's record says truly what it published and what it left to the newer one.
//!
//! On a local root it is an exclusive flock on the file, which names the holder (pid, host,
//! run); the OS releases it when the holder exits or dies, even by SIGKILL, so it is never
//! stale. Where the runs bucket is on S3 it is a lease object, as the run lock
//! (`run_lease.rs`), taken over once its holder stopped renewing it. A second publisher waits.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::run_lease::{self, Lease};
use crate::capabilities::storage::ObjectStore;
use crate::pipeline::step::RUNS_BUCKET;

const KEY: &str = "publish.lock";

/// How long a publisher waits for another: publishing is a few catalog writes, so minutes
/// mean the holder hangs; a dead holder's lease on S3 expires within `run_lease::LEASE`.
const WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

/// Held while publishing; released when dropped (or when the process dies).
pub struct PublishLock {
    _file: Option<File>,
    _lease: Option<Lease>,
}

/// Takes the root's publish lock for run `run_id`, waiting while another run holds it.
pub fn acquire(storage: &Arc<dyn ObjectStore>, run_id: &str) -> Result<PublishLock> {
    let holder = format!("pid {} on host {} publishing run {run_id}", std::process::id(), super::record::host_name());
    let Some(path) = storage.local_path(RUNS_BUCKET, KEY) else {
        if !storage.conditional_writes() {
            // Storage with neither file locks nor conditional writes cannot serialise publishers.
            return Ok(PublishLock { _file: None, _lease: None });
        }
        let deadline = Instant::now() + WAIT.max(run_lease::LEASE + Duration::from_secs(30));
        loop {
            match Lease::acquire(storage.clone(), KEY, run_id, &holder, run_lease::LEASE) {
                Ok(lease) => return Ok(PublishLock { _file: None, _lease: Some(lease) }),
                Err(e) if Instant::now() < deadline => tracing::debug!("run {run_id} waits to publish: {e:#}"),
                Err(e) => bail!("run {run_id}: the publish lock runs/{KEY} stayed taken: {e:#}"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    let mut file = super::record::open_lock_file(&path)?;
    let deadline = Instant::now() + WAIT;
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let mut current = String::new();
                let _ = file.rewind().and_then(|()| file.read_to_string(&mut current));
                let current = match current.trim() {
                    "" => "another process",
                    named => named,
                };
                if Instant::now() >= deadline {
                    bail!(
                        "run {run_id} could not publish: {current} has held {} for {}s; if that process hangs, stop it and run \
                         engage run --resume {run_id}",
                        path.display(),
                        WAIT.as_secs()
                    );
                }
                if !told {
                    tracing::info!("run {run_id} waits to publish: {current} holds {}", path.display());
                    told = true;
                }
                std::thread::sleep(POLL);
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(format!("{holder}\n").as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(PublishLock { _file: Some(file), _lease: None })
}
