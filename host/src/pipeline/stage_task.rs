//! One stage (or one shard of a mapped stage) of a run as a process of its own:
//! how a run goes when a scheduler outside Engage orders the stages (the Step
//! Functions definition of `engage deploy asl`, one ECS task per state).
//!
//! Tasks that run side by side must never overwrite each other, so a task writes
//! only its own part, `runs/<id>/parts/<stage>.json` (or `<stage>.shard-<i>.json`),
//! and reads the parts of the stages before it for their summaries. `finish`
//! assembles `run.json` from the parts, publishes the run's tables when every
//! stage is done and renders the report, just as a run in one process ends.
//! Retries and catches are the scheduler's: a task runs exactly one attempt.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use twox_hash::XxHash64;

use super::executor::{Executor, RunIdentity, attempt_input, merge_outputs};
use super::record::{AttemptError, AttemptRecord, RunError, RunRecord, RunStatus, StageRecord, StageStatus, is_run_id, now};
use super::spec::{CatchAction, Pipeline, StageSpec};
use super::step::{Progress, RUNS_BUCKET, Services, Shard, StepOutput};
use super::vars;
use crate::capabilities::ErrorCode;

/// Which run a task belongs to, and when that run started.
#[derive(Debug, Clone)]
pub struct TaskRun {
    pub run_id: String,
    /// RFC 3339; `${run_started}` of every stage.
    pub started: String,
}

impl TaskRun {
    /// The run of a scheduler's execution: every task of one execution derives the
    /// same id from the execution's id and start time (`YYYYMMDD-HHMMSS-xxxx`, the
    /// start time in UTC and 4 hex digits of a hash of the execution id).
    pub fn of_execution(execution_id: &str, started: &str) -> Result<Self> {
        let time = DateTime::parse_from_rfc3339(started)
            .with_context(|| format!("--started '{started}' is not an RFC 3339 time (Step Functions' $$.Execution.StartTime)"))?
            .with_timezone(&Utc);
        if execution_id.trim().is_empty() {
            bail!("--execution is empty");
        }
        let hash = XxHash64::oneshot(0, execution_id.as_bytes()) as u16;
        Ok(Self {
            run_id: format!("{}-{hash:04x}", time.format("%Y%m%d-%H%M%S")),
            started: time.to_rfc3339_opts(SecondsFormat::Millis, true),
        })
    }

    /// A run named by its id: its start time is the one its id carries.
    pub fn of_id(run_id: &str) -> Result<Self> {
        if !is_run_id(run_id) {
            bail!("'{run_id}' is not a run id (expected YYYYMMDD-HHMMSS-xxxx)");
        }
        let time = chrono::NaiveDateTime::parse_from_str(&run_id[..15], "%Y%m%d-%H%M%S")
            .with_context(|| format!("run id '{run_id}' does not start with a valid time"))?;
        Ok(Self { run_id: run_id.to_string(), started: time.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true) })
    }

    /// The run record as the parts say so far; stages not yet run are pending.
    fn record(&self, pipeline: &Pipeline, stages: Vec<StageRecord>) -> RunRecord {
        RunRecord {
            run_id: self.run_id.clone(),
            run_db: vars::run_db(&self.run_id),
            pipeline: pipeline.name.clone(),
            pipeline_file: pipeline.file.clone(),
            status: RunStatus::Running,
            started: self.started.clone(),
            ended: None,
            vars: pipeline.vars.clone(),
            error: None,
            stages,
            published: Vec::new(),
            superseded: Vec::new(),
        }
    }

    fn identity(&self, pipeline: &Pipeline) -> RunIdentity {
        RunIdentity {
            run_id: self.run_id.clone(),
            run_db: vars::run_db(&self.run_id),
            started: self.started.clone(),
            vars: pipeline.vars.clone(),
        }
    }
}

/// What one task was asked to run.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub stage: String,
    pub shard: Option<u32>,
    /// 1-based; the scheduler's retry count + 1.
    pub attempt: u32,
    /// For a fallback: the stage it stands in for.
    pub replaces: Option<String>,
}

pub(crate) fn part_key(run_id: &str, stage: &str, shard: Option<u32>) -> String {
    match shard {
        Some(i) => format!("{run_id}/parts/{stage}.shard-{i}.json"),
        None => format!("{run_id}/parts/{stage}.json"),
    }
}

pub(crate) fn load_part(services: &Services, run_id: &str, stage: &str, shard: Option<u32>) -> Result<Option<StageRecord>> {
    let key = part_key(run_id, stage, shard);
    match services.storage.get(RUNS_BUCKET, &key) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("runs/{key} is not a valid stage part"))?)),
        Err(e) if e.code == ErrorCode::NotFound => Ok(None),
        Err(e) => bail!("reading runs/{key}: {e}"),
    }
}

/// A stage as its parts say: one record, shards merged.
fn assemble_stage(services: &Services, run_id: &str, spec: &StageSpec) -> Result<StageRecord> {
    let mut stage = StageRecord::new(&spec.name, spec.runs.label());
    let parts: Vec<Option<StageRecord>> = match spec.map {
        Some(map) => (0..map.shards).map(|i| load_part(services, run_id, &spec.name, Some(i))).collect::<Result<_>>()?,
        None => vec![load_part(services, run_id, &spec.name, None)?],
    };
    let present: Vec<&StageRecord> = parts.iter().flatten().collect();
    if present.is_empty() {
        return Ok(stage);
    }
    stage.started = present.iter().filter_map(|p| p.started.clone()).min();
    stage.attempts = present.iter().flat_map(|p| p.attempts.clone()).collect();
    stage.replaces = present.iter().find_map(|p| p.replaces.clone());
    let all_committed = parts.iter().all(|p| p.as_ref().is_some_and(|p| p.status == StageStatus::Committed));
    if all_committed {
        let outputs: Vec<StepOutput> = present.iter().filter_map(|p| p.output.clone()).collect();
        stage.output = Some(if spec.map.is_some() { merge_outputs(outputs) } else { outputs.into_iter().next().unwrap_or_default() });
        stage.status = StageStatus::Committed;
        stage.ended = present.iter().filter_map(|p| p.ended.clone()).max();
    } else if present.iter().any(|p| p.status == StageStatus::Failed) {
        stage.status = StageStatus::Failed;
        stage.ended = present.iter().filter_map(|p| p.ended.clone()).max();
    } else {
        stage.status = StageStatus::Running;
    }
    Ok(stage)
}

/// Every stage of the run as its parts say, with caught stages marked.
fn assemble_stages(services: &Services, pipeline: &Pipeline, run_id: &str) -> Result<Vec<StageRecord>> {
    let mut stages: Vec<StageRecord> = pipeline.stages.iter().map(|spec| assemble_stage(services, run_id, spec)).collect::<Result<_>>()?;
    let fallbacks: Vec<(String, String)> =
        stages.iter().filter(|s| s.status == StageStatus::Committed).filter_map(|s| Some((s.replaces.clone()?, s.name.clone()))).collect();
    for (replaced, fallback) in fallbacks {
        if let Some(stage) = stages.iter_mut().find(|s| s.name == replaced && s.status == StageStatus::Failed) {
            stage.status = StageStatus::Caught;
            stage.replaced_by = Some(fallback);
        }
    }
    Ok(stages)
}

/// Whether dependants may count `stage` as done: committed, or caught by a committed fallback.
fn is_done(stages: &[StageRecord], name: &str) -> bool {
    stages.iter().any(|s| {
        (s.name == name && matches!(s.status, StageStatus::Committed | StageStatus::Caught))
            || (s.replaces.as_deref() == Some(name) && s.status == StageStatus::Committed)
    })
}

fn upstream_of(stages: &[StageRecord]) -> Map<String, Value> {
    let mut upstream = Map::new();
    for stage in stages.iter().filter(|s| s.status == StageStatus::Committed) {
        let summary = stage.output.as_ref().map(|o| o.summary.clone()).unwrap_or(Value::Null);
        if let Some(replaced) = &stage.replaces {
            upstream.insert(replaced.clone(), summary.clone());
        }
        upstream.insert(stage.name.clone(), summary);
    }
    upstream
}

/// Runs one attempt of one stage (or shard) and writes its part. `Ok` holds the
/// part whether the attempt committed or failed; `Err` means it could not run at all.
pub fn run_task(executor: &Executor, pipeline: &Pipeline, run: &TaskRun, task: &TaskSpec) -> Result<StageRecord> {
    let services = executor.services();
    let spec = pipeline.stage(&task.stage).with_context(|| {
        let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
        format!("pipeline '{}' has no stage '{}' (stages: {})", pipeline.name, task.stage, names.join(", "))
    })?;
    let shard = match (spec.map, task.shard) {
        (Some(map), Some(i)) if i < map.shards => Some(Shard { index: i, count: map.shards }),
        (Some(map), Some(i)) => bail!("stage '{}' has {} shards; --shard {i} is out of range", spec.name, map.shards),
        (Some(map), None) => bail!("stage '{}' is mapped over {} shards: pass --shard", spec.name, map.shards),
        (None, Some(_)) => bail!("stage '{}' is not mapped over shards: drop --shard", spec.name),
        (None, None) => None,
    };
    if task.attempt == 0 {
        bail!("--attempt counts from 1");
    }
    if let Some(replaced) = &task.replaces {
        let Some(failed) = pipeline.stage(replaced) else {
            bail!("--replaces '{replaced}': pipeline '{}' has no such stage", pipeline.name);
        };
        // Only the fallback the pipeline names may stand in for a stage.
        let fallback = failed.catch.as_ref().and_then(|c| match &c.action {
            CatchAction::Next(next) => Some(next.as_str()),
            CatchAction::FailRun => None,
        });
        if fallback != Some(task.stage.as_str()) {
            bail!("--replaces '{replaced}': stage '{}' is not the catch.next fallback of stage '{replaced}'", task.stage);
        }
    }
    check_same_run(executor, pipeline, run)?;
    let stages = assemble_stages(services, pipeline, &run.run_id)?;
    check_after(spec, &run.run_id, &stages)?;

    // `run.json` as of now, so `engage runs show` (and a report stage) see the run going on.
    // Tasks side by side may each write one; every copy is true when written, and
    // `finish` writes the final one.
    executor.store().save(&run.record(pipeline, stages.clone()))?;
    let part = run_part(executor, spec, task, shard, &run.identity(pipeline), &upstream_of(&stages))?;
    // And again with this attempt's outcome, so the record does not lag a task behind.
    executor.store().save(&run.record(pipeline, assemble_stages(services, pipeline, &run.run_id)?))?;
    Ok(part)
}

/// A task belongs to the run its record describes: the same pipeline, and not a run
/// that already succeeded (its tables are published; a failed run may be re-driven).
fn check_same_run(executor: &Executor, pipeline: &Pipeline, run: &TaskRun) -> Result<()> {
    let Some(record) = executor.store().try_load(&run.run_id)? else { return Ok(()) };
    if record.pipeline != pipeline.name {
        bail!("run {} is a run of pipeline '{}', not '{}' ({})", run.run_id, record.pipeline, pipeline.name, pipeline.file);
    }
    if record.status == RunStatus::Succeeded {
        bail!("run {} already succeeded and published its tables; a finished run is not run again (start a new execution)", run.run_id);
    }
    Ok(())
}

/// Runs one attempt of one shard of a run that an `engage run` process drives
/// (its shard executor started this task): the variables, start time and upstream
/// summaries come from that run's record, which this task leaves to its owner.
pub fn run_fanout_shard(executor: &Executor, pipeline: &Pipeline, run_id: &str, task: &TaskSpec) -> Result<StageRecord> {
    let record = executor.store().load(run_id)?;
    let spec = pipeline.stage(&task.stage).with_context(|| format!("pipeline '{}' has no stage '{}'", pipeline.name, task.stage))?;
    let (Some(map), Some(index)) = (spec.map, task.shard) else {
        bail!("--fanout runs one shard of a mapped stage: stage '{}' needs map and --shard", spec.name);
    };
    if index >= map.shards {
        bail!("stage '{}' has {} shards; --shard {index} is out of range", spec.name, map.shards);
    }
    if task.attempt == 0 {
        bail!("--attempt counts from 1");
    }
    check_after(spec, run_id, &record.stages)?;
    let shard = Some(Shard { index, count: map.shards });
    run_part(executor, spec, task, shard, &RunIdentity::of(&record), &upstream_of(&record.stages))
}

fn check_after(spec: &StageSpec, run_id: &str, stages: &[StageRecord]) -> Result<()> {
    let waiting: Vec<&str> = spec.after.iter().map(String::as_str).filter(|a| !is_done(stages, a)).collect();
    if !waiting.is_empty() {
        bail!("stage '{}' of run {run_id} runs after [{}], which have not committed", spec.name, waiting.join(", "));
    }
    Ok(())
}

/// One attempt, recorded in the task's part (which a committed earlier attempt short-cuts).
fn run_part(
    executor: &Executor,
    spec: &StageSpec,
    task: &TaskSpec,
    shard: Option<Shard>,
    identity: &RunIdentity,
    upstream: &Map<String, Value>,
) -> Result<StageRecord> {
    let services = executor.services();
    let run = identity;
    let key = part_key(&run.run_id, &spec.name, task.shard);
    let mut part =
        load_part(services, &run.run_id, &spec.name, task.shard)?.unwrap_or_else(|| StageRecord::new(&spec.name, spec.runs.label()));
    if part.status == StageStatus::Committed {
        // A scheduler that reruns a finished task (a resumed execution) gets the same result.
        return Ok(part);
    }
    part.replaces = task.replaces.clone();
    part.status = StageStatus::Running;
    part.started.get_or_insert_with(now);
    let started = now();

    let progress = Arc::new(Progress::default());
    let result = executor.load_step(spec).and_then(|step| {
        let input = attempt_input(identity, spec, task.attempt, shard, upstream)?;
        executor.run_attempt_with(spec, &step, input, task.attempt, shard, &progress)
    });
    let mut attempt =
        AttemptRecord { attempt: task.attempt, shard: task.shard, started, ended: Some(now()), rows_in: 0, rows_out: 0, error: None };
    match result {
        Ok(output) => {
            attempt.rows_in = output.rows_in;
            attempt.rows_out = output.rows_out;
            part.status = StageStatus::Committed;
            part.output = Some(output);
        }
        Err(error) => {
            attempt.error = Some(AttemptError { kind: error.kind, message: error.message, detail: error.detail });
            part.status = StageStatus::Failed;
        }
    }
    part.ended = attempt.ended.clone();
    part.attempts.push(attempt);
    let json = serde_json::to_vec_pretty(&part)?;
    services.storage.put(RUNS_BUCKET, &key, &json).map_err(|e| anyhow::anyhow!("writing runs/{key}: {e}"))?;
    Ok(part)
}

/// Assembles `run.json` from the parts; when every stage is done, publishes and
/// marks the run succeeded, otherwise records it failed at its first failed stage.
pub fn finish(executor: &Executor, pipeline: &Pipeline, run: &TaskRun) -> Result<RunRecord> {
    let services = executor.services();
    let stages = assemble_stages(services, pipeline, &run.run_id)?;
    match executor.store().try_load(&run.run_id)? {
        None if stages.iter().all(|s| s.status == StageStatus::Pending) => bail!("no run '{}': no stage of it has run", run.run_id),
        Some(record) if record.pipeline != pipeline.name => {
            bail!("run {} is a run of pipeline '{}', not '{}' ({})", run.run_id, record.pipeline, pipeline.name, pipeline.file)
        }
        // A scheduler retrying the last task after it published gets the same answer.
        Some(record) if record.status == RunStatus::Succeeded => return Ok(record),
        _ => {}
    }
    let complete = pipeline.stages.iter().filter(|s| !s.fallback_only).all(|s| is_done(&stages, &s.name));
    let mut record = run.record(pipeline, stages);
    record.ended = Some(now());
    for stage in &mut record.stages {
        if stage.status == StageStatus::Pending {
            stage.status = StageStatus::Skipped;
        }
    }
    if complete {
        executor.publish_and_save(pipeline, &mut record)?;
    } else {
        record.status = RunStatus::Failed;
        record.error = Some(first_failure(&record, pipeline));
        executor.store().save(&record)?;
    }
    executor.render_final_report(pipeline, &record);
    Ok(record)
}

/// Why an unfinished run stopped: its first failed stage's last error, or the first stage never run.
fn first_failure(record: &RunRecord, pipeline: &Pipeline) -> RunError {
    let failed = record.stages.iter().find(|s| s.status == StageStatus::Failed);
    if let Some(stage) = failed
        && let Some(error) = stage.attempts.iter().rev().find_map(|a| a.error.clone())
    {
        return RunError { stage: stage.name.clone(), kind: error.kind, message: error.message };
    }
    if let Some(stage) = failed {
        return RunError {
            stage: stage.name.clone(),
            kind: super::step::ErrorKind::Failed,
            message: format!("stage '{}' did not finish before the run ended", stage.name),
        };
    }
    // Nothing failed: the run was ended before these ran (fallback-only stages nobody routed to aside).
    let unfinished: Vec<&str> = record
        .stages
        .iter()
        .filter(|s| !matches!(s.status, StageStatus::Committed | StageStatus::Caught))
        .filter(|s| pipeline.stage(&s.name).is_none_or(|spec| !spec.fallback_only))
        .map(|s| s.name.as_str())
        .collect();
    RunError {
        stage: unfinished.first().map(|s| s.to_string()).unwrap_or_default(),
        kind: super::step::ErrorKind::Failed,
        message: format!("the run was ended before stage(s) {} committed", unfinished.join(", ")),
    }
}
