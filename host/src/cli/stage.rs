//! `engage stage run` and `engage stage finish`: one stage (or shard) of a run per
//! process, for a scheduler that orders the stages itself (the Step Functions
//! definition of `engage deploy asl`). Exits non-zero when the stage failed, so
//! the scheduler's retry and catch see it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};

use super::run::{Metrics, plugin_dir, print_metrics};
use crate::capabilities::trace::CallTrace;
use crate::pipeline::executor::Executor;
use crate::pipeline::record::{RunStatus, RunStore, StageStatus};
use crate::config::HostConfig;
use crate::pipeline::setup::{load_options, native_registry, services};
use crate::pipeline::spec::{self, Pipeline};
use crate::pipeline::stage_task::{self, TaskRun, TaskSpec};

#[derive(Subcommand)]
pub enum StageCommand {
    /// Run one attempt of one stage (or one shard) and record it as a part of the run.
    Run(StageRunArgs),
    /// Assemble the run record from its parts; publish when every stage is done.
    Finish(FinishArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// The run, by id.
    #[arg(long = "run", value_name = "RUN_ID", conflicts_with_all = ["execution", "started"])]
    pub run_id: Option<String>,
    /// The scheduler's execution id; with --started, names the run every task of it shares.
    #[arg(long, requires = "started")]
    pub execution: Option<String>,
    /// When the execution started (RFC 3339).
    #[arg(long, requires = "execution")]
    pub started: Option<String>,
    #[arg(long, value_name = "DIR", env = "ENGAGE_PLUGIN_DIR")]
    pub plugins: Option<PathBuf>,
    /// The runtime config choosing each capability's backend; local when left out.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct FinishArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Also print the run's stage metrics as CloudWatch Embedded Metric Format lines on stdout.
    #[arg(long, value_enum, env = "ENGAGE_METRICS", default_value_t = Metrics::None)]
    pub metrics: Metrics,
}

#[derive(Args)]
pub struct StageRunArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The stage to run.
    #[arg(long)]
    pub stage: String,
    /// The shard, for a stage mapped over shards.
    #[arg(long)]
    pub shard: Option<u32>,
    /// The attempt number (1 for the first try).
    #[arg(long, default_value_t = 1)]
    pub attempt: u32,
    /// Run as the fallback of this stage.
    #[arg(long)]
    pub replaces: Option<String>,
    /// This shard belongs to a run an `engage run` process drives (its shard executor
    /// started this task): take the run's variables from its record and leave the record to it.
    #[arg(long, requires = "shard", conflicts_with = "replaces")]
    pub fanout: bool,
    /// Print every capability call the stage's plugin makes (interface.function, sizes, time) to stderr,
    /// then a total per capability.
    #[arg(long)]
    pub trace: bool,
}

struct Loaded {
    executor: Executor,
    pipeline: Pipeline,
    run: TaskRun,
}

fn load(args: &RunArgs, root: &Path, fanout: bool, trace: Option<Arc<CallTrace>>) -> Result<Loaded> {
    let run = match (&args.run_id, &args.execution, &args.started) {
        (Some(id), _, _) => TaskRun::of_id(id)?,
        (None, Some(execution), Some(started)) => TaskRun::of_execution(execution, started)?,
        _ => bail!("name the run: --run <id>, or --execution <id> --started <time>"),
    };
    let plugin_dir = plugin_dir(args.plugins.as_deref())?;
    let config = HostConfig::load_or_default(args.config.as_deref())?;
    let mut services = services(&config, root, &plugin_dir)?;
    services.trace = trace;
    let registry = native_registry();
    // A driven run's variables may carry `--set` overrides the pipeline file lacks.
    let overrides = if fanout { RunStore::new(services.storage.clone()).load(&run.run_id)?.vars } else { Default::default() };
    let options = load_options(&registry, &plugin_dir, overrides).with_published(services.storage.clone());
    let pipeline = spec::load(&args.pipeline, &options).map_err(|e| anyhow!("{e}"))?;
    config.check_pipeline(&pipeline)?;
    Ok(Loaded { executor: Executor::new(services, registry), pipeline, run })
}

pub fn run(command: StageCommand, root: &Path) -> Result<()> {
    match command {
        StageCommand::Run(args) => {
            let trace = args.trace.then(CallTrace::to_stderr);
            let loaded = load(&args.run, root, args.fanout, trace.clone())?;
            let task = TaskSpec { stage: args.stage, shard: args.shard, attempt: args.attempt, replaces: args.replaces };
            let part = if args.fanout {
                stage_task::run_fanout_shard(&loaded.executor, &loaded.pipeline, &loaded.run.run_id, &task)?
            } else {
                stage_task::run_task(&loaded.executor, &loaded.pipeline, &loaded.run, &task)?
            };
            if let Some(trace) = &trace {
                trace.finish();
            }
            let shard = task.shard.map(|s| format!(" shard {s}")).unwrap_or_default();
            match (&part.status, part.attempts.last().and_then(|a| a.error.as_ref())) {
                (StageStatus::Committed, _) => {
                    let rows = part.output.as_ref().map_or(0, |o| o.rows_out);
                    outln!("run {} stage {}{shard}: committed ({rows} rows out)", loaded.run.run_id, task.stage);
                    Ok(())
                }
                (_, Some(error)) => bail!(
                    "run {} stage {}{shard} attempt {} failed ({}): {}",
                    loaded.run.run_id,
                    task.stage,
                    task.attempt,
                    error.kind,
                    error.message
                ),
                (status, None) => bail!("run {} stage {}{shard} ended {}", loaded.run.run_id, task.stage, status.name()),
            }
        }
        StageCommand::Finish(args) => {
            let loaded = load(&args.run, root, false, None)?;
            let record = stage_task::finish(&loaded.executor, &loaded.pipeline, &loaded.run)?;
            print_metrics(args.metrics, &record);
            match (&record.status, &record.error) {
                (RunStatus::Succeeded, _) => {
                    outln!("run {} succeeded; published {}", record.run_id, record.published.join(", "));
                    Ok(())
                }
                (_, Some(e)) => bail!("run {} failed at stage '{}' ({}): {}", record.run_id, e.stage, e.kind, e.message),
                (status, None) => bail!("run {} ended {}", record.run_id, status.name()),
            }
        }
    }
}
