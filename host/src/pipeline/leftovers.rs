//! What an earlier attempt of a stage left behind, cleared before the next attempt starts.
//!
//! An attempt writes under its own scratch prefix (`work/run=<id>/<stage>/attempt=<n>/`, plus
//! `shard=<i>/` in a mapped stage) and may register tables over it in the run's database. An
//! attempt that failed, timed out or was killed (SIGKILL, a lost machine) leaves those behind,
//! and the next attempt, whose grants cover only its own scratch, may not drop them: a stage
//! that replaces its table (`DROP TABLE IF EXISTS` then CTAS) would be denied for good. So the
//! host, before each attempt, unregisters the run database's tables that lie under an earlier
//! attempt's scratch of the same stage (and shard), and deletes that scratch. Nothing else is
//! touched: not other stages', not other shards', not other runs' data.

use super::step::{Services, Shard, StepError, WORK_BUCKET};
use crate::catalog::parse_location;

/// Clears the tables and scratch attempts before `attempt` of `stage` (shard) left in run `run_id`.
pub(crate) fn clear_earlier_attempts(
    services: &Services,
    run_id: &str,
    run_db: &str,
    stage: &str,
    attempt: u32,
    shard: Option<Shard>,
) -> Result<(), StepError> {
    if attempt <= 1 {
        return Ok(());
    }
    let earlier = |location: &str| earlier_attempt(location, run_id, stage, attempt, shard);
    let io = |e: crate::capabilities::CapabilityError| {
        StepError::io(format!("stage '{stage}' attempt {attempt}: clearing what earlier attempts left in {run_db}: {e}"))
    };
    // A run database not made yet lists no tables.
    for name in services.catalog.tables(run_db).map_err(io)? {
        let Some(def) = services.catalog.table(run_db, &name).map_err(io)? else { continue };
        if let Some(left_by) = earlier(&def.location) {
            services.catalog.drop_table(run_db, &name).map_err(io)?;
            tracing::info!(run_id, "stage '{stage}' attempt {attempt}: dropped {run_db}.{name}, left by attempt {left_by}");
        }
    }
    for old in 1..attempt {
        let prefix = scratch(run_id, stage, old, shard);
        // Scratch only takes space; a failure to delete it must not stop the attempt.
        let objects = match services.storage.list_all(WORK_BUCKET, &prefix) {
            Ok(objects) => objects,
            Err(e) => {
                tracing::warn!(run_id, "stage '{stage}': listing {WORK_BUCKET}/{prefix} to clear it: {e}");
                continue;
            }
        };
        for object in objects {
            if let Err(e) = services.storage.delete(WORK_BUCKET, &object.key) {
                tracing::warn!(run_id, "stage '{stage}': deleting {WORK_BUCKET}/{} left by attempt {old}: {e}", object.key);
            }
        }
    }
    Ok(())
}

/// `run=<id>/<stage>/attempt=<n>/` (and `shard=<i>/`), as `StepContext::scratch_prefix`.
fn scratch(run_id: &str, stage: &str, attempt: u32, shard: Option<Shard>) -> String {
    let mut prefix = format!("run={run_id}/{stage}/attempt={attempt}/");
    if let Some(shard) = shard {
        prefix.push_str(&format!("shard={}/", shard.index));
    }
    prefix
}

/// The earlier attempt whose scratch `location` lies under, if it does.
fn earlier_attempt(location: &str, run_id: &str, stage: &str, attempt: u32, shard: Option<Shard>) -> Option<u32> {
    let (bucket, key) = parse_location(location).ok()?;
    if bucket != WORK_BUCKET {
        return None;
    }
    let rest = key.strip_prefix(&format!("run={run_id}/{stage}/attempt="))?;
    let (number, _) = rest.split_once('/')?;
    let old: u32 = number.parse().ok()?;
    let under = old < attempt && format!("{key}/").starts_with(&scratch(run_id, stage, old, shard));
    under.then_some(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_earlier_attempts_of_the_same_stage_and_shard_count() {
        let run = "20261207-101500-abcd";
        let at = |location: &str, shard: Option<u32>| {
            earlier_attempt(location, run, "qa-table", 3, shard.map(|index| Shard { index, count: 4 }))
        };
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=1/qa_table/"), None), Some(1));
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=2/qa_table"), None), Some(2));
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=3/qa_table/"), None), None, "its own");
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=12/qa_table/"), None), None, "a later one");
        assert_eq!(at(&format!("s3://work/run={run}/aggregate/attempt=1/t/"), None), None, "another stage");
        assert_eq!(at(&format!("s3://work/run={run}/qa-table-2/attempt=1/t/"), None), None, "a stage named alike");
        assert_eq!(at("s3://work/run=20261207-101500-ffff/qa-table/attempt=1/t/", None), None, "another run");
        assert_eq!(at(&format!("s3://processed/run={run}/qa-table/attempt=1/t/"), None), None, "another bucket");
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=1/shard=1/t/"), Some(1)), Some(1));
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=1/shard=10/t/"), Some(1)), None, "another shard");
        assert_eq!(at(&format!("s3://work/run={run}/qa-table/attempt=1/t/"), Some(1)), None, "not the shard's");
    }
}
