//! Runs a validated pipeline: stages in dependency order, independent ones side
//! by side (up to `max_parallel`), each attempt with its own scratch prefix,
//! retry with backoff, catch to a fallback or a clean stop, a per-attempt
//! timeout, a map over shards, resume of a failed or killed run, and publishing
//! when the run succeeds. The run record is rewritten after every event.
//!
//! A mapped stage's shard outputs merge as follows: `rows_in`/`rows_out` add up,
//! `outputs` concatenate (duplicates dropped), and the summary is
//! `{"shards": [each shard's summary], ...}` plus every top-level key merged
//! across shards: integers (counts) add up, objects merge key by key the same
//! way, integer arrays of one length (histograms) add up element-wise, and any
//! other value (a rate, a threshold, a name) is kept when every shard reports the
//! same one and left out otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rand::Rng;
use serde_json::{Map, Value};

use super::fanout::{FanOut, ShardTask};
use super::leftovers;
use super::plugin_step::PluginStep;
use super::publish_lock;
use super::record::{
    AttemptError, AttemptRecord, RunError, RunLock, RunRecord, RunStatus, RunStore, StageRecord, StageStatus, now,
};
use super::spec::{CatchAction, Jitter, Pipeline, Runs, StageSpec};
use super::step::{ErrorKind, Progress, Services, Shard, Step, StepContext, StepError, StepOutput};
use super::vars::{self, AttemptVars};
use crate::capabilities::{Grants, StorageGrant};
use crate::catalog::DEFAULT_DATABASE;
use crate::runtime::GuestLimits;

/// Native steps by the name pipeline files use.
pub type Registry = BTreeMap<String, Arc<dyn Step>>;

/// A plugin's own wall-time limit fires first (in a plugin stage, or a transform the
/// features step runs), naming the plugin; the executor waits this much longer before
/// giving up on a host call that hangs: a quarter of the timeout, at most 2 s, so a short
/// timeout is still kept close to.
fn plugin_grace(timeout: Duration) -> Duration {
    (timeout / 4).min(Duration::from_secs(2))
}

/// Turns `steps::registry()` (or a test's map) into a [`Registry`].
pub fn registry_of<'a>(steps: impl IntoIterator<Item = (&'a str, Arc<dyn Step>)>) -> Registry {
    steps.into_iter().map(|(name, step)| (name.to_string(), step)).collect()
}

/// What the CLI (or a test) hears while a run goes on. Every method has a no-op default.
#[allow(unused_variables)]
pub trait Observer: Send + Sync {
    fn run_started(&self, record: &RunRecord) {}
    fn stage_started(&self, stage: &str, shards: u32) {}
    /// `progress` counts this attempt's rows; its `cancelled` flag is set when it times out.
    fn attempt_started(&self, stage: &str, attempt: u32, shard: Option<Shard>, progress: &Arc<Progress>) {}
    /// `retry_in` is the wait before the next attempt, `None` when none follows.
    fn attempt_failed(&self, stage: &str, attempt: u32, shard: Option<Shard>, error: &StepError, retry_in: Option<Duration>) {}
    fn stage_committed(&self, stage: &str, output: &StepOutput) {}
    /// `fallback` names the stage that runs in its place, if a catch routes there.
    fn stage_failed(&self, stage: &str, error: &StepError, fallback: Option<&str>) {}
    fn run_finished(&self, record: &RunRecord) {}
}

pub struct NoObserver;
impl Observer for NoObserver {}

pub struct Executor {
    services: Services,
    native: Registry,
    observer: Arc<dyn Observer>,
    store: RunStore,
    /// Where shard attempts run when not on threads of this process.
    fanout: Option<Arc<FanOut>>,
}

impl Executor {
    pub fn new(services: Services, native: Registry) -> Self {
        let store = RunStore::new(services.storage.clone());
        Self { services, native, observer: Arc::new(NoObserver), store, fanout: None }
    }

    /// Runs shard attempts through `fanout` (a process, container or ECS task each) instead of threads.
    pub fn with_fanout(mut self, fanout: Option<Arc<FanOut>>) -> Self {
        self.fanout = fanout;
        self
    }

    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    pub fn store(&self) -> &RunStore {
        &self.store
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Starts a new run of `pipeline` and runs it to the end. `Ok` holds the final
    /// record whether the run succeeded or failed; `Err` means the record could not be kept.
    pub fn run(&self, pipeline: &Pipeline) -> Result<RunRecord> {
        let run_id = self.store.allocate_id()?;
        let lock = self.store.lock(&run_id)?;
        let record = RunRecord {
            run_db: vars::run_db(&run_id),
            run_id,
            pipeline: pipeline.name.clone(),
            pipeline_file: pipeline.file.clone(),
            status: RunStatus::Running,
            started: now(),
            ended: None,
            vars: pipeline.vars.clone(),
            error: None,
            stages: pipeline.stages.iter().map(|s| StageRecord::new(&s.name, s.runs.label())).collect(),
            published: Vec::new(),
            superseded: Vec::new(),
        };
        self.execute(pipeline, record, lock)
    }

    /// Reruns every stage of `run_id` that did not commit (a failed run, or one
    /// whose process died while its record said `running`), with new attempt numbers.
    pub fn resume(&self, pipeline: &Pipeline, run_id: &str) -> Result<RunRecord> {
        // Load first so that a wrong id is reported as such; read again once the lock is
        // ours, since the run may have moved on while another process held it.
        self.store.load(run_id)?;
        let lock = self.store.lock(run_id)?;
        let mut record = self.store.load(run_id)?;
        if record.status == RunStatus::Succeeded {
            bail!("run {run_id} already succeeded; there is nothing to resume");
        }
        if record.pipeline != pipeline.name {
            bail!("run {run_id} ran pipeline '{}', not '{}'", record.pipeline, pipeline.name);
        }
        let recorded: Vec<&str> = record.stages.iter().map(|s| s.name.as_str()).collect();
        let current: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
        if recorded != current {
            bail!("run {run_id} had stages [{}] but {} now has [{}]", recorded.join(", "), pipeline.file, current.join(", "));
        }
        let committed = |r: &RunRecord, name: &str| r.stage(name).is_some_and(|s| s.status == StageStatus::Committed);
        let keep: Vec<bool> = record
            .stages
            .iter()
            .map(|s| match s.status {
                StageStatus::Committed => true,
                StageStatus::Caught => s.replaced_by.as_deref().is_some_and(|f| committed(&record, f)),
                _ => false,
            })
            .collect();
        for (stage, keep) in record.stages.iter_mut().zip(keep) {
            if !keep {
                stage.status = StageStatus::Pending;
                stage.output = None;
                stage.ended = None;
                stage.replaced_by = None;
                stage.replaces = None;
            }
        }
        record.status = RunStatus::Running;
        record.ended = None;
        record.error = None;
        record.vars = pipeline.vars.clone();
        self.execute(pipeline, record, lock)
    }

    /// Runs `record` to the end, holding the run's `lock` throughout (a lost lease stops it).
    fn execute(&self, pipeline: &Pipeline, record: RunRecord, lock: RunLock) -> Result<RunRecord> {
        let run = RunState::new(self, pipeline, record, &lock)?;
        self.observer.run_started(&run.snapshot());
        let failure = self.schedule(&run);
        // Another process took the run over: its record and outputs are its own now.
        if let Some(why) = lock.lost() {
            bail!("run {}: {why}; this process stopped without finishing or publishing it", run.snapshot().run_id);
        }
        let mut record = run.snapshot();
        for stage in &mut record.stages {
            if stage.status == StageStatus::Pending {
                stage.status = StageStatus::Skipped;
            }
        }
        record.ended = Some(now());
        match failure {
            Some(error) => {
                record.status = RunStatus::Failed;
                record.error = Some(error);
                self.store.save(&record)?;
            }
            None => self.publish_and_save(pipeline, &mut record)?,
        }
        self.render_final_report(pipeline, &record);
        if let Some(e) = run.save_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bail!("run {}: the run record could not be kept up to date: {e}", record.run_id);
        }
        self.observer.run_finished(&record);
        Ok(record)
    }

    /// The report stage runs before the run ends, so its page says "running"; and a
    /// failed run never reaches it. A pipeline with a report gets it rendered again
    /// from the final record, so the page a person opens shows how the run ended.
    pub(crate) fn render_final_report(&self, pipeline: &Pipeline, record: &RunRecord) {
        if !pipeline.stages.iter().any(|s| s.runs == Runs::Native("report".into())) {
            return;
        }
        let storage = self.services.storage.as_ref();
        if let Err(e) = crate::report::write_report(storage, self.services.local_root.as_deref(), &record.run_id) {
            tracing::warn!("run {}: the final report could not be written: {e:#}", record.run_id);
        }
    }

    /// Launches stages as their `after` commit; returns why the run failed, if it did.
    fn schedule(&self, run: &RunState) -> Option<RunError> {
        let stages = &run.pipeline.stages;
        let mut failure: Option<RunError> = None;
        let mut running = 0usize;
        let (tx, rx) = mpsc::channel::<(usize, Result<StepOutput, StepError>)>();
        std::thread::scope(|scope| {
            loop {
                // A lost run lock starts nothing more; the stages running finish unrecorded.
                if failure.is_none() && run.lock.lost().is_none() {
                    while running < run.pipeline.max_parallel {
                        let Some(next) = run.next_ready() else { break };
                        running += 1;
                        run.mark_started(next);
                        let tx = tx.clone();
                        let spec = &stages[next];
                        std::thread::Builder::new()
                            .name(format!("stage-{}", spec.name))
                            .spawn_scoped(scope, move || {
                                let result = self.run_stage(run, spec);
                                let _ = tx.send((next, result));
                            })
                            .expect("spawning a stage thread");
                    }
                }
                if running == 0 {
                    if failure.is_none()
                        && let Some(stuck) = run.first_unfinished()
                    {
                        // Validation rules this out; never report success with stages left over.
                        failure = Some(RunError {
                            stage: stuck.clone(),
                            kind: ErrorKind::Config,
                            message: format!("stage '{stuck}' could not be scheduled: its 'after' never completed"),
                        });
                    }
                    break;
                }
                let Ok((index, result)) = rx.recv() else { break };
                running -= 1;
                let spec = &stages[index];
                match result {
                    Ok(output) => {
                        self.observer.stage_committed(&spec.name, &output);
                        run.commit(index, output);
                    }
                    Err(error) => {
                        let fallback = spec.catch.as_ref().filter(|c| c.on.matches(error.kind)).map(|c| &c.action);
                        match fallback {
                            Some(CatchAction::Next(next)) if failure.is_none() => {
                                self.observer.stage_failed(&spec.name, &error, Some(next));
                                run.route_to_fallback(index, next);
                            }
                            _ => {
                                self.observer.stage_failed(&spec.name, &error, None);
                                run.fail(index);
                                failure.get_or_insert(RunError {
                                    stage: spec.name.clone(),
                                    kind: error.kind,
                                    message: error.message,
                                });
                            }
                        }
                    }
                }
            }
        });
        failure
    }

    /// Every attempt (and shard) of one stage; `Ok` once it commits.
    fn run_stage(&self, run: &RunState, spec: &StageSpec) -> Result<StepOutput, StepError> {
        let step = self.load_step(spec)?;
        let base = run.with_record(|r| r.stage(&spec.name).map(|s| s.last_attempt()).unwrap_or(0));
        let upstream = run.upstream.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(map) = spec.map else {
            self.observer.stage_started(&spec.name, 1);
            return self.run_with_retry(run, spec, &step, base, None, &upstream);
        };
        self.observer.stage_started(&spec.name, map.shards);
        let next_shard = AtomicU32::new(0);
        let stop = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<StepOutput, StepError>>>> = Mutex::new(vec![None; map.shards as usize]);
        std::thread::scope(|scope| {
            for _ in 0..map.max_concurrency.min(map.shards) {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let index = next_shard.fetch_add(1, Ordering::Relaxed);
                        if index >= map.shards {
                            break;
                        }
                        let shard = Shard { index, count: map.shards };
                        let result = match self.already_committed(run, spec, shard) {
                            Some(done) => done,
                            None => self.run_with_retry(run, spec, &step, base, Some(shard), &upstream),
                        };
                        // A shard that failed for good fails the stage: start no more.
                        if result.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        results.lock().unwrap_or_else(|e| e.into_inner())[index as usize] = Some(result);
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut outputs = Vec::with_capacity(results.len());
        for result in results.into_iter().flatten() {
            outputs.push(result?);
        }
        Ok(merge_outputs(outputs))
    }

    /// The native step or the (compiled) plugin a stage runs.
    pub(crate) fn load_step(&self, spec: &StageSpec) -> Result<Arc<dyn Step>, StepError> {
        match &spec.runs {
            Runs::Native(name) => match self.native.get(name) {
                Some(step) => Ok(step.clone()),
                None => Err(StepError::new(ErrorKind::Config, format!("stage '{}': no native step '{name}'", spec.name))),
            },
            Runs::Plugin(name) => {
                // Compile before the clock starts: the timeout is for the stage's work.
                let step = PluginStep::new(name);
                step.load(&self.services, &spec.name)?;
                Ok(Arc::new(step))
            }
        }
    }

    fn run_with_retry(
        &self,
        run: &RunState,
        spec: &StageSpec,
        step: &Arc<dyn Step>,
        base: u32,
        shard: Option<Shard>,
        upstream: &Map<String, Value>,
    ) -> Result<StepOutput, StepError> {
        let policy = &spec.retry;
        for try_no in 1..=policy.max_attempts {
            let attempt = base + try_no;
            let progress = Arc::new(Progress::default());
            let slot = run.attempt_started(&spec.name, attempt, shard);
            self.observer.attempt_started(&spec.name, attempt, shard, &progress);
            let result = self.run_attempt(run, spec, step, attempt, shard, upstream, &progress);
            run.attempt_ended(&spec.name, slot, &result);
            match result {
                Ok(output) => return Ok(output),
                Err(error) => {
                    let retry = try_no < policy.max_attempts && policy.on.matches(error.kind);
                    let wait = retry.then(|| {
                        let delay = policy.delay(try_no);
                        match policy.jitter {
                            Jitter::None => delay,
                            Jitter::Full => delay.mul_f64(rand::rng().random::<f64>()),
                        }
                    });
                    self.observer.attempt_failed(&spec.name, attempt, shard, &error, wait);
                    match wait {
                        Some(wait) => std::thread::sleep(wait),
                        None => return Err(error),
                    }
                }
            }
        }
        unreachable!("max_attempts is at least 1, so the loop returns")
    }

    /// A shard an earlier life of a resumed run committed, by its part (fanned-out shards only).
    fn already_committed(&self, run: &RunState, spec: &StageSpec, shard: Shard) -> Option<Result<StepOutput, StepError>> {
        let fanout = self.fanout.as_ref()?;
        let run_id = run.with_record(|r| r.run_id.clone());
        match fanout.committed(&self.services, &run_id, &spec.name, shard) {
            Ok(Some(output)) => {
                tracing::info!("run {run_id} stage '{}' shard {}: committed earlier, not run again", spec.name, shard.index);
                Some(Ok(output))
            }
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }

    /// One attempt on its own thread, so the executor can stop waiting at the deadline.
    #[allow(clippy::too_many_arguments)]
    fn run_attempt(
        &self,
        run: &RunState,
        spec: &StageSpec,
        step: &Arc<dyn Step>,
        attempt: u32,
        shard: Option<Shard>,
        upstream: &Map<String, Value>,
        progress: &Arc<Progress>,
    ) -> Result<StepOutput, StepError> {
        let identity = run.with_record(RunIdentity::of);
        if let (Some(fanout), Some(shard)) = (&self.fanout, shard) {
            let task = ShardTask { run_id: identity.run_id, stage: spec.name.clone(), shard: shard.index, attempt };
            return fanout.run_attempt(&self.services, &run.pipeline.file, spec, &task);
        }
        let input = attempt_input(&identity, spec, attempt, shard, upstream)?;
        self.run_attempt_with(spec, step, input, attempt, shard, progress)
    }

    /// Runs one prepared attempt on its own thread, so the caller can stop waiting at the deadline.
    pub(crate) fn run_attempt_with(
        &self,
        spec: &StageSpec,
        step: &Arc<dyn Step>,
        input: AttemptInput,
        attempt: u32,
        shard: Option<Shard>,
        progress: &Arc<Progress>,
    ) -> Result<StepOutput, StepError> {
        // A table an earlier attempt (even of a killed run) left over its scratch would block this one.
        leftovers::clear_earlier_attempts(&self.services, &input.run_id, &input.run_db, &spec.name, attempt, shard)?;
        let (tx, rx) = mpsc::channel();
        let step = step.clone();
        let services = self.services.clone();
        let thread_progress = progress.clone();
        let stage = spec.name.clone();
        std::thread::Builder::new()
            .name(format!("attempt-{stage}"))
            .spawn(move || {
                let ctx = StepContext {
                    run_id: &input.run_id,
                    run_db: &input.run_db,
                    stage: &input.stage,
                    attempt,
                    shard,
                    params: &input.params,
                    grants: &input.grants,
                    limits: &input.limits,
                    upstream: &input.upstream,
                    services: &services,
                    progress: &thread_progress,
                };
                let result = catch_unwind(AssertUnwindSafe(|| step.run(&ctx))).unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(StepError::new(ErrorKind::Trap, format!("stage '{}' panicked: {message}", input.stage)))
                });
                let _ = tx.send(result);
            })
            .map_err(|e| StepError::io(format!("stage '{stage}': cannot start a thread: {e}")))?;
        let started = Instant::now();
        let deadline = started + spec.timeout + plugin_grace(spec.timeout);
        // Without a terminal there is no progress bar: a long attempt says how far it got now and then.
        let heartbeat = (!std::io::stderr().is_terminal()).then_some(HEARTBEAT);
        let received = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(heartbeat.map_or(left, |beat| beat.min(left))) {
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    log_still_running(&stage, attempt, shard, started.elapsed(), progress);
                }
                received => break received,
            }
        };
        match received {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The attempt wrote only under its own scratch prefix; it is abandoned, not undone.
                progress.cancelled.store(true, Ordering::Relaxed);
                Err(StepError::new(
                    ErrorKind::Timeout,
                    format!("stage '{stage}' attempt {attempt} ran past its timeout of {}", humanize(spec.timeout)),
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(StepError::failed(format!("stage '{stage}' attempt {attempt} ended without a result")))
            }
        }
    }

    /// Ends a run whose stages all committed: publishes its tables, saves its record (succeeded, or
    /// failed at publishing) and moves `runs/latest`, all under the root's publish lock, so that
    /// runs finishing at once publish one after the other and each name goes to the newer run.
    pub(crate) fn publish_and_save(&self, pipeline: &Pipeline, record: &mut RunRecord) -> Result<()> {
        // Held until the record is saved and runs/latest moved, whatever publishing did.
        let lock = publish_lock::acquire(&self.services.storage, &record.run_id);
        let published = match &lock {
            Ok(_) => self.publish(pipeline, record),
            Err(e) => Err(StepError::io(format!("{e:#}"))),
        };
        match published {
            Ok(publication) => {
                record.status = RunStatus::Succeeded;
                record.published = publication.published;
                record.superseded = publication.superseded;
            }
            Err(e) => {
                record.status = RunStatus::Failed;
                record.error = Some(RunError { stage: "publish".into(), kind: e.kind, message: e.message });
            }
        }
        self.store.save(record)?;
        if record.status == RunStatus::Succeeded {
            self.store.set_latest_if_newer(&record.run_id)?;
        }
        drop(lock);
        Ok(())
    }

    /// Points `engage.<name>` at each run table the pipeline publishes, unless a
    /// newer run (a later run id) already has: a slow run that finishes last must
    /// not replace fresher results. The tables left alone are returned as superseded.
    pub(crate) fn publish(&self, pipeline: &Pipeline, record: &RunRecord) -> Result<Publication, StepError> {
        let mut publication = Publication::default();
        if pipeline.publish.is_empty() {
            return Ok(publication);
        }
        let lookup = AttemptVars {
            run_id: &record.run_id,
            run_db: &record.run_db,
            run_started: &record.started,
            stage: "publish",
            attempt: 0,
            scratch: "",
            vars: &record.vars,
        };
        let mut tables = Vec::new();
        for (published, template) in &pipeline.publish {
            let target = vars::substitute(template, &|n| lookup.get(n)).map_err(|e| StepError::new(ErrorKind::Config, e))?;
            let (db, table) = target
                .split_once('.')
                .ok_or_else(|| StepError::new(ErrorKind::Config, format!("publish {published}: '{target}' is not db.table")))?;
            let mut def = self
                .services
                .catalog
                .table(db, table)?
                .ok_or_else(|| StepError::io(format!("publish {published}: the run has no table {target}")))?;
            def.database = DEFAULT_DATABASE.to_string();
            def.name = published.clone();
            def.properties.insert(PUBLISHED_BY.into(), record.run_id.clone());
            tables.push(def);
        }
        // Check every table first so a missing one publishes nothing.
        self.services.catalog.create_database(DEFAULT_DATABASE)?;
        for def in tables {
            let name = format!("{}.{}", def.database, def.name);
            let current = self.services.catalog.table(&def.database, &def.name)?;
            if let Some(newer) = current.as_ref().and_then(|t| t.properties.get(PUBLISHED_BY)).filter(|by| by.as_str() > record.run_id.as_str()) {
                tracing::warn!("run {}: {name} keeps the results of the newer run {newer}", record.run_id);
                publication.superseded.push(format!("{name} (run {newer} is newer)"));
                continue;
            }
            self.services.catalog.put_table(&def)?;
            publication.published.push(name);
        }
        Ok(publication)
    }
}

/// The catalog property naming the run whose table a published name points at.
pub const PUBLISHED_BY: &str = "engage.published_by_run";

/// What publishing did.
#[derive(Debug, Default)]
pub struct Publication {
    /// `engage.<name>` now pointing at this run's tables.
    pub published: Vec<String>,
    /// Names left pointing at a newer run's tables, with that run.
    pub superseded: Vec<String>,
}

/// Owned inputs of one attempt (the attempt thread may outlive the executor's wait).
pub(crate) struct AttemptInput {
    run_id: String,
    run_db: String,
    stage: String,
    params: Value,
    grants: Grants,
    limits: GuestLimits,
    upstream: Map<String, Value>,
}

/// The run in progress: the record (saved after every change) and what is done.
struct RunState<'a> {
    pipeline: &'a Pipeline,
    store: &'a RunStore,
    lock: &'a RunLock,
    record: Mutex<RunRecord>,
    /// Summaries of committed stages by name; a fallback's also under the stage it replaced.
    upstream: Mutex<Map<String, Value>>,
    /// Stages dependants may count as done: committed, or caught with a committed fallback.
    done: Mutex<Vec<bool>>,
    /// Fallbacks routed to, with the stage each one stands in for.
    routed: Mutex<BTreeMap<usize, usize>>,
    save_error: Mutex<Option<String>>,
}

impl<'a> RunState<'a> {
    fn new(executor: &'a Executor, pipeline: &'a Pipeline, record: RunRecord, lock: &'a RunLock) -> Result<Self> {
        let mut upstream = Map::new();
        let mut done = vec![false; pipeline.stages.len()];
        for (i, stage) in record.stages.iter().enumerate() {
            if stage.status == StageStatus::Committed
                && let Some(output) = &stage.output
            {
                upstream.insert(stage.name.clone(), output.summary.clone());
                if let Some(replaced) = &stage.replaces {
                    upstream.insert(replaced.clone(), output.summary.clone());
                }
                done[i] = true;
            }
            if stage.status == StageStatus::Caught {
                done[i] = true;
            }
        }
        executor.store.save(&record)?;
        Ok(Self {
            pipeline,
            store: &executor.store,
            lock,
            record: Mutex::new(record),
            upstream: Mutex::new(upstream),
            done: Mutex::new(done),
            routed: Mutex::new(BTreeMap::new()),
            save_error: Mutex::new(None),
        })
    }

    fn snapshot(&self) -> RunRecord {
        self.with_record(|r| r.clone())
    }

    fn with_record<T>(&self, f: impl FnOnce(&RunRecord) -> T) -> T {
        f(&self.record.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the record and writes it out while still holding the lock, so writes land in order.
    fn update<T>(&self, f: impl FnOnce(&mut RunRecord) -> T) -> T {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        let value = f(&mut record);
        if self.lock.lost().is_some() {
            return value;
        }
        if let Err(e) = self.store.save(&record) {
            tracing::error!("{e:#}");
            self.save_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(format!("{e:#}"));
        }
        value
    }

    fn stage_index(&self, name: &str) -> usize {
        self.pipeline.stages.iter().position(|s| s.name == name).expect("validated stage name")
    }

    /// A pending stage whose `after` are all done: a routed fallback first, then file order.
    fn next_ready(&self) -> Option<usize> {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let routed = self.routed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.with_record(|record| {
            let pending = |i: usize| record.stages[i].status == StageStatus::Pending;
            if let Some(&fallback) = routed.keys().find(|&&f| pending(f)) {
                return Some(fallback);
            }
            self.pipeline.stages.iter().enumerate().find_map(|(i, spec)| {
                let ready = pending(i)
                    && !spec.fallback_only
                    && spec.after.iter().all(|a| done[self.stage_index(a)]);
                ready.then_some(i)
            })
        })
    }

    /// A stage that should have run but did not finish (none after a clean run).
    fn first_unfinished(&self) -> Option<String> {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.pipeline.stages.iter().enumerate().find(|(i, s)| !s.fallback_only && !done[*i]).map(|(_, s)| s.name.clone())
    }

    fn mark_started(&self, index: usize) {
        self.update(|r| {
            let stage = &mut r.stages[index];
            stage.status = StageStatus::Running;
            stage.started = Some(now());
            stage.ended = None;
        });
    }

    fn commit(&self, index: usize, output: StepOutput) {
        let name = self.pipeline.stages[index].name.clone();
        let replaced = self.routed.lock().unwrap_or_else(|e| e.into_inner()).get(&index).copied();
        {
            let mut upstream = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
            upstream.insert(name, output.summary.clone());
            if let Some(original) = replaced {
                upstream.insert(self.pipeline.stages[original].name.clone(), output.summary.clone());
            }
        }
        self.update(|r| {
            let stage = &mut r.stages[index];
            stage.status = StageStatus::Committed;
            stage.ended = Some(now());
            stage.output = Some(output);
        });
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        done[index] = true;
        if let Some(original) = replaced {
            done[original] = true;
        }
    }

    fn fail(&self, index: usize) {
        self.update(|r| {
            let stage = &mut r.stages[index];
            stage.status = StageStatus::Failed;
            stage.ended = Some(now());
        });
    }

    fn route_to_fallback(&self, index: usize, fallback: &str) {
        let target = self.stage_index(fallback);
        // A fallback of a fallback still stands in for the stage that failed first.
        let original = {
            let mut routed = self.routed.lock().unwrap_or_else(|e| e.into_inner());
            let original = routed.get(&index).copied().unwrap_or(index);
            routed.insert(target, original);
            original
        };
        let original_name = self.pipeline.stages[original].name.clone();
        self.update(|r| {
            let stage = &mut r.stages[index];
            stage.status = StageStatus::Caught;
            stage.ended = Some(now());
            stage.replaced_by = Some(fallback.to_string());
            r.stages[target].replaces = Some(original_name);
        });
    }

    /// Appends an attempt to the record; returns its position for [`Self::attempt_ended`].
    fn attempt_started(&self, stage: &str, attempt: u32, shard: Option<Shard>) -> usize {
        self.update(|r| {
            let attempts = &mut r.stage_mut(stage).expect("stage in record").attempts;
            attempts.push(AttemptRecord {
                attempt,
                shard: shard.map(|s| s.index),
                started: now(),
                ended: None,
                rows_in: 0,
                rows_out: 0,
                error: None,
            });
            attempts.len() - 1
        })
    }

    fn attempt_ended(&self, stage: &str, slot: usize, result: &Result<StepOutput, StepError>) {
        self.update(|r| {
            let entry = &mut r.stage_mut(stage).expect("stage in record").attempts[slot];
            entry.ended = Some(now());
            match result {
                Ok(output) => {
                    entry.rows_in = output.rows_in;
                    entry.rows_out = output.rows_out;
                }
                Err(error) => {
                    if let Some(detail) = &error.detail {
                        tracing::warn!(stage, attempt = entry.attempt, "{}\n{detail}", error.message);
                    }
                    entry.error = Some(AttemptError { kind: error.kind, message: error.message.clone(), detail: error.detail.clone() });
                }
            }
        });
    }

}

/// What every attempt of a run reads from its record.
#[derive(Clone)]
pub(crate) struct RunIdentity {
    pub run_id: String,
    pub run_db: String,
    pub started: String,
    pub vars: BTreeMap<String, String>,
}

impl RunIdentity {
    pub fn of(record: &RunRecord) -> Self {
        Self { run_id: record.run_id.clone(), run_db: record.run_db.clone(), started: record.started.clone(), vars: record.vars.clone() }
    }
}

/// Variables, params, grants and limits of one attempt, resolved.
pub(crate) fn attempt_input(
    identity: &RunIdentity,
    spec: &StageSpec,
    attempt: u32,
    shard: Option<Shard>,
    upstream: &Map<String, Value>,
) -> Result<AttemptInput, StepError> {
    let RunIdentity { run_id, run_db, started: run_started, vars } = identity.clone();
    let mut scratch = format!("run={run_id}/{}/attempt={attempt}/", spec.name);
    if let Some(shard) = shard {
        scratch.push_str(&format!("shard={}/", shard.index));
    }
    let lookup = AttemptVars {
        run_id: &run_id,
        run_db: &run_db,
        run_started: &run_started,
        stage: &spec.name,
        attempt,
        scratch: &scratch,
        vars: &vars,
    };
    let lookup = |n: &str| lookup.get(n);
    let config = |e: String| StepError::new(ErrorKind::Config, format!("stage '{}': {e}", spec.name));
    let params = vars::substitute_json(&spec.params, &lookup).map_err(config)?;
    let mut grants =
        Grants { storage: Vec::new(), sql: spec.grants.sql, llm: spec.grants.llm, sql_database: Some(run_db.clone()) };
    for template in &spec.grants.storage {
        let text = vars::substitute(template, &lookup).map_err(config)?;
        grants.storage.push(StorageGrant::parse(&text).map_err(config)?);
    }
    Ok(AttemptInput {
        run_id,
        run_db,
        stage: spec.name.clone(),
        params,
        grants,
        limits: GuestLimits {
            memory_bytes: usize::try_from(spec.memory).unwrap_or(usize::MAX),
            timeout: spec.timeout,
            output_bytes: usize::try_from(spec.output).unwrap_or(usize::MAX),
        },
        upstream: upstream.clone(),
    })
}

/// How often an attempt running without a progress bar logs how far it got.
const HEARTBEAT: Duration = Duration::from_secs(15);

fn log_still_running(stage: &str, attempt: u32, shard: Option<Shard>, elapsed: Duration, progress: &Progress) {
    let shard = shard.map(|s| format!(" shard {} of {}", s.index, s.count)).unwrap_or_default();
    let rows = progress.rows.load(Ordering::Relaxed);
    let total = progress.total.load(Ordering::Relaxed);
    let of = if total > 0 { format!(" of {total}") } else { String::new() };
    tracing::info!("stage '{stage}'{shard} attempt {attempt}: still running after {:.0}s, {rows}{of} rows so far", elapsed.as_secs_f64());
}

fn humanize(d: Duration) -> String {
    if d < Duration::from_secs(1) { format!("{}ms", d.as_millis()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

/// Merges the outputs of a mapped stage's shards (rules in the module docs).
pub fn merge_outputs(shards: Vec<StepOutput>) -> StepOutput {
    let mut merged = StepOutput::default();
    let summaries: Vec<Value> = shards.iter().map(|s| s.summary.clone()).collect();
    for shard in shards {
        merged.rows_in += shard.rows_in;
        merged.rows_out += shard.rows_out;
        for output in shard.outputs {
            if !merged.outputs.contains(&output) {
                merged.outputs.push(output);
            }
        }
    }
    let mut summary = match merge_values(&summaries) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    summary.insert("shards".into(), Value::Array(summaries));
    merged.summary = Value::Object(summary);
    merged
}

fn merge_values(values: &[Value]) -> Option<Value> {
    let first = values.first()?;
    if values.iter().all(Value::is_u64) {
        return Some(Value::from(values.iter().filter_map(Value::as_u64).sum::<u64>()));
    }
    if values.iter().all(|v| v.is_i64() || v.is_u64()) {
        return Some(Value::from(values.iter().filter_map(Value::as_i64).sum::<i64>()));
    }
    if values.iter().all(|v| v.is_object()) {
        let mut keys: Vec<&String> = values.iter().flat_map(|v| v.as_object().into_iter().flat_map(|m| m.keys())).collect();
        keys.sort();
        keys.dedup();
        let mut out = Map::new();
        for key in keys {
            let column: Option<Vec<Value>> = values.iter().map(|v| v.get(key).cloned()).collect();
            if let Some(merged) = column.and_then(|c| merge_values(&c)) {
                out.insert(key.clone(), merged);
            }
        }
        return Some(Value::Object(out));
    }
    if let Some(len) = first.as_array().map(Vec::len)
        && values.iter().all(|v| v.as_array().is_some_and(|a| a.len() == len && a.iter().all(|x| x.is_i64() || x.is_u64())))
        && len > 0
    {
        let column = |i: usize| values.iter().map(|v| v[i].clone()).collect::<Vec<_>>();
        return Some(Value::Array((0..len).filter_map(|i| merge_values(&column(i))).collect()));
    }
    values.iter().all(|v| v == first).then(|| first.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shard_summaries_merge_by_the_documented_rules() {
        let shard = |n: u64, high: u64| StepOutput {
            rows_in: n,
            rows_out: n,
            outputs: vec!["run_x.predictions".into()],
            summary: json!({ "users_scored": n, "segments": { "high": high, "low": 1 }, "histogram": [1, 2],
                             "thresholds": { "high": 0.6 }, "model": "m", "part": n }),
        };
        let merged = merge_outputs(vec![shard(10, 3), shard(5, 1)]);
        assert_eq!(merged.rows_out, 15);
        assert_eq!(merged.outputs, vec!["run_x.predictions".to_string()]);
        let s = &merged.summary;
        assert_eq!(s["users_scored"], 15);
        assert_eq!(s["segments"], json!({ "high": 4, "low": 2 }));
        assert_eq!(s["histogram"], json!([2, 4]));
        assert_eq!(s["model"], "m");
        assert_eq!(s["thresholds"], json!({ "high": 0.6 }));
        assert_eq!(s["shards"].as_array().unwrap().len(), 2);
    }
}
