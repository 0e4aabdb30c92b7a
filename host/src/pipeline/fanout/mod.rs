//! Where the shards of a mapped stage run, as `[shards] executor` in the runtime
//! config chooses: `threads` (the default) runs every shard attempt on a thread of
//! the running process; the others run each attempt as its own
//! `engage stage run <pipeline> --run <id> --stage <s> --shard <i> --attempt <n> --fanout`
//! somewhere else — a local process, a podman container of the image, an ECS task —
//! and wait for it. The task records its attempt in its part,
//! `runs/<id>/parts/<stage>.shard-<i>.json` (see `stage_task`), which this side
//! reads for the shard's output; when the task died before writing it, its exit
//! code (or ECS's stopped reason) becomes the error. Either way the executor's
//! retry and catch decide what happens next, shard by shard, and a shard whose
//! part says committed is never run again (a resumed run picks up the rest).

mod ecs;
mod podman;
mod processes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::record::StageStatus;
use super::spec::StageSpec;
use super::stage_task::load_part;
use super::step::{ErrorKind, Services, Shard, StepError, StepOutput};
use crate::config::{HostConfig, ShardExecutor};

/// One shard attempt to run elsewhere.
#[derive(Debug, Clone)]
pub struct ShardTask {
    pub run_id: String,
    pub stage: String,
    pub shard: u32,
    pub attempt: u32,
}

impl ShardTask {
    /// `engage`'s arguments for the task, given the pipeline file and runtime config as the task sees them.
    pub fn command(&self, pipeline_file: &str, config: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> =
            ["stage", "run", pipeline_file, "--run", &self.run_id, "--stage", &self.stage].into_iter().map(String::from).collect();
        args.extend(["--shard".into(), self.shard.to_string(), "--attempt".into(), self.attempt.to_string(), "--fanout".into()]);
        if let Some(config) = config {
            args.extend(["--config".into(), config.to_string()]);
        }
        args
    }

    fn label(&self) -> String {
        format!("stage '{}' shard {} attempt {}", self.stage, self.shard, self.attempt)
    }
}

/// How a task ended, as the backend saw it.
#[derive(Debug, Clone)]
pub struct Exit {
    pub success: bool,
    /// "exit code 1", "killed by signal 9", ECS's stopped reason and exit code.
    pub detail: String,
}

/// A place to run shard tasks.
pub trait ShardBackend: Send + Sync {
    /// Runs `engage <args>` for `task` and waits for it to end; past `deadline` it is stopped
    /// and the attempt is a timeout. `Err` means it could not be started or watched.
    fn run(&self, task: &ShardTask, args: &[String], deadline: Duration) -> Result<Exit, StepError>;
    /// Time the backend needs beyond the stage's own timeout (start-up, image pull, provisioning).
    fn allowance(&self) -> Duration;
}

/// The shard executor of a run that does not use threads.
pub struct FanOut {
    executor: ShardExecutor,
    backend: Box<dyn ShardBackend>,
    /// The pipeline file and runtime config as the tasks see them (`None`: the run's own).
    pipeline_path: Option<String>,
    config_path: Option<String>,
}

/// What a task needs from the process that starts it.
pub struct Origin<'a> {
    /// `--config` of this run.
    pub config_path: Option<&'a Path>,
    /// The local storage root, when storage is local.
    pub local_root: Option<&'a Path>,
    pub plugin_dir: &'a Path,
}

impl FanOut {
    /// The configured executor; `None` for threads.
    pub fn from_config(config: &HostConfig, origin: &Origin) -> Result<Option<Arc<FanOut>>> {
        let shards = &config.shards;
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let config_path = origin.config_path.map(absolute);
        let backend: Box<dyn ShardBackend> = match shards.executor {
            ShardExecutor::Threads => return Ok(None),
            ShardExecutor::Processes => Box::new(processes::Processes::new(origin.local_root.map(absolute), absolute(origin.plugin_dir))?),
            ShardExecutor::Podman => Box::new(podman::Podman::new(shards, origin.local_root.map(absolute), config_path.clone())?),
            ShardExecutor::Ecs => Box::new(ecs::Ecs::new(config).context("shards.executor = \"ecs\"")?),
        };
        let config_path = match shards.executor {
            ShardExecutor::Podman => config_path.as_ref().map(|_| podman::CONFIG_IN_CONTAINER.to_string()),
            _ => shards.config_path.clone().or_else(|| config_path.map(|p| p.display().to_string())),
        };
        Ok(Some(Arc::new(FanOut { executor: shards.executor, backend, pipeline_path: shards.pipeline_path.clone(), config_path })))
    }

    /// For tests and benchmarks: any backend.
    pub fn with_backend(executor: ShardExecutor, backend: Box<dyn ShardBackend>, config_path: Option<PathBuf>) -> Self {
        Self { executor, backend, pipeline_path: None, config_path: config_path.map(|p| p.display().to_string()) }
    }

    pub fn name(&self) -> &'static str {
        self.executor.name()
    }

    /// The shard's output if its part says it committed (in this run's life or an earlier one).
    pub(crate) fn committed(&self, services: &Services, run_id: &str, stage: &str, shard: Shard) -> Result<Option<StepOutput>, StepError> {
        let part = load_part(services, run_id, stage, Some(shard.index)).map_err(|e| StepError::io(format!("{e:#}")))?;
        Ok(part.filter(|p| p.status == StageStatus::Committed).and_then(|p| p.output))
    }

    /// Runs one attempt of one shard through the backend and reads what it recorded.
    pub(crate) fn run_attempt(
        &self,
        services: &Services,
        pipeline_file: &str,
        spec: &StageSpec,
        task: &ShardTask,
    ) -> Result<StepOutput, StepError> {
        let pipeline_file = self.pipeline_path.as_deref().unwrap_or(pipeline_file);
        let args = task.command(pipeline_file, self.config_path.as_deref());
        let exit = self.backend.run(task, &args, spec.timeout + self.backend.allowance())?;
        let part = load_part(services, &task.run_id, &task.stage, Some(task.shard)).map_err(|e| StepError::io(format!("{e:#}")))?;
        let recorded = part.as_ref().and_then(|p| p.attempts.iter().rev().find(|a| a.attempt == task.attempt));
        match (part.as_ref(), recorded) {
            // The attempt's own verdict, whatever the exit code says.
            (Some(part), Some(attempt)) => match &attempt.error {
                Some(error) => Err(StepError::new(error.kind, error.message.clone())),
                None if part.status == StageStatus::Committed => Ok(part.output.clone().unwrap_or_default()),
                None => Err(StepError::failed(format!("{}: the part says {} ({})", task.label(), part.status.name(), exit.detail))),
            },
            // An earlier attempt committed (a task that outlived its runner): its output stands.
            (Some(part), None) if part.status == StageStatus::Committed => Ok(part.output.clone().unwrap_or_default()),
            _ if exit.detail.starts_with(TIMED_OUT) => {
                Err(StepError::new(ErrorKind::Timeout, format!("{}: {}", task.label(), exit.detail)))
            }
            // The task died before it could record anything: a crash, as a trapped guest is.
            _ => Err(StepError::new(
                ErrorKind::Trap,
                format!("{}: the {} task ended without recording the attempt ({})", task.label(), self.name(), exit.detail),
            )),
        }
    }
}

/// How an [`Exit`]'s detail starts when the backend stopped the task at its deadline.
pub const TIMED_OUT: &str = "stopped after";
