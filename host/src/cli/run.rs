//! `engage run <pipeline.toml>`: validate, run (or resume) on the local host with
//! a progress bar per stage, then print the run summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::executor::{Executor, Observer};
use crate::pipeline::fanout::{FanOut, Origin};
use crate::pipeline::metrics::emf_documents;
use crate::pipeline::record::{RunRecord, RunStatus, RunStore};
use crate::config::HostConfig;
use crate::capabilities::trace::CallTrace;
use crate::pipeline::setup::{load_options, native_registry, services};
use crate::pipeline::spec;
use crate::pipeline::step::{Progress, Shard, StepError, StepOutput};
use crate::pipeline::summary::{RunSummary, thousands};

#[derive(Args)]
pub struct RunArgs {
    /// The pipeline file, e.g. pipelines/weekly-engagement.toml. With --resume it
    /// may be left out: the run record names the file the run was started with.
    #[arg(required_unless_present = "resume")]
    pub pipeline: Option<PathBuf>,
    /// Override or add a [vars] entry (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Where stage plugins (<name>.wasm) are: default $ENGAGE_PLUGIN_DIR, else
    /// plugins/target/wasm32-wasip2/release, else a `plugins` folder next to the executable.
    #[arg(long, value_name = "DIR", env = "ENGAGE_PLUGIN_DIR")]
    pub plugins: Option<PathBuf>,
    /// The runtime config choosing each capability's backend (config/hosted.toml); local when left out.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Rerun the stages of this run that did not commit.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Also print the run's stage metrics as CloudWatch Embedded Metric Format
    /// JSON lines on stdout (what a hosted run's log group turns into metrics).
    #[arg(long, value_enum, env = "ENGAGE_METRICS", default_value_t = Metrics::None)]
    pub metrics: Metrics,
    /// Print every capability call a plugin stage makes (interface.function, sizes, time) to stderr,
    /// then a total per capability (stages in this process; not shards another executor runs).
    #[arg(long)]
    pub trace: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metrics {
    None,
    Emf,
}

pub fn run(args: RunArgs, root: &Path) -> Result<()> {
    let plugin_dir = plugin_dir(args.plugins.as_deref())?;
    let config = HostConfig::load_or_default(args.config.as_deref())?;
    let mut services = services(&config, root, &plugin_dir)?;
    let trace = args.trace.then(CallTrace::to_stderr);
    services.trace = trace.clone();
    let store = RunStore::new(services.storage.clone());

    // A resumed run keeps its variables; --set still wins.
    let mut overrides = BTreeMap::new();
    let mut pipeline_file = args.pipeline.clone();
    if let Some(id) = &args.resume {
        let record = store.load(id)?;
        // Before the file is read: a finished run has nothing to resume, whatever the file now says.
        if record.status == RunStatus::Succeeded {
            bail!("run {id} already succeeded; there is nothing to resume");
        }
        overrides = record.vars;
        pipeline_file.get_or_insert_with(|| PathBuf::from(&record.pipeline_file));
    }
    let pipeline_file = pipeline_file.ok_or_else(|| anyhow!("name a pipeline file, or a run to resume with --resume"))?;
    for pair in &args.set {
        let (name, value) = pair.split_once('=').ok_or_else(|| anyhow!("--set '{pair}' must look like name=value"))?;
        overrides.insert(name.trim().to_string(), value.to_string());
    }
    let registry = native_registry();
    let options = load_options(&registry, &plugin_dir, overrides).with_published(services.storage.clone());
    let pipeline = spec::load(&pipeline_file, &options).map_err(|e| anyhow!("{e}"))?;
    config.check_pipeline(&pipeline)?;

    let origin = Origin { config_path: args.config.as_deref(), local_root: services.local_root.as_deref(), plugin_dir: &plugin_dir };
    let fanout = FanOut::from_config(&config, &origin)?;
    let display = Arc::new(Display::new(!args.no_progress));
    display.start_ticker();
    let executor = Executor::new(services, registry).with_observer(display.clone()).with_fanout(fanout);
    let record = match &args.resume {
        Some(id) => executor.resume(&pipeline, id)?,
        None => executor.run(&pipeline)?,
    };
    display.stop();
    if let Some(trace) = &trace {
        trace.finish();
    }

    print_metrics(args.metrics, &record);
    let summary = RunSummary::of(&record);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        out!("{summary}");
    }
    match (&record.status, &record.error) {
        (RunStatus::Succeeded, _) => Ok(()),
        (_, Some(e)) => bail!(
            "run {} failed at stage '{}' ({}): {} — fix it and run `engage run {} --resume {}`",
            record.run_id,
            e.stage,
            e.kind,
            e.message,
            pipeline_file.display(),
            record.run_id
        ),
        (status, None) => bail!("run {} ended {}", record.run_id, status.name()),
    }
}

/// EMF lines on stdout, one per committed stage and one for the run, when asked for.
pub(super) fn print_metrics(metrics: Metrics, record: &RunRecord) {
    if metrics == Metrics::Emf {
        for document in emf_documents(record, chrono::Utc::now().timestamp_millis()) {
            outln!("{document}");
        }
    }
}

/// `--plugins`/`$ENGAGE_PLUGIN_DIR`, else the plugins workspace's build output
/// under the current directory, else `plugins/` beside the executable.
pub(super) fn plugin_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    let built = PathBuf::from("plugins/target/wasm32-wasip2/release");
    if built.is_dir() {
        return Ok(built);
    }
    let exe = std::env::current_exe().context("locating the engage executable")?;
    let beside = exe.parent().map(|d| d.join("plugins")).unwrap_or_else(|| PathBuf::from("plugins"));
    if beside.is_dir() {
        return Ok(beside);
    }
    bail!(
        "no plugin directory: pass --plugins DIR or set ENGAGE_PLUGIN_DIR (looked in {} and {})",
        built.display(),
        beside.display()
    )
}

/// One bar per stage, fed by the attempts' row counters.
struct Display {
    multi: MultiProgress,
    drawn: bool,
    stages: Mutex<BTreeMap<String, StageBar>>,
    stopped: AtomicBool,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct StageBar {
    bar: ProgressBar,
    started: Instant,
    /// Live attempts (one per shard in a mapped stage).
    attempts: Vec<Arc<Progress>>,
    shards: u32,
}

impl Display {
    fn new(enabled: bool) -> Self {
        // indicatif hides a stderr target by itself when stderr is not a terminal.
        let target = if enabled { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let drawn = !multi.is_hidden();
        Self { multi, drawn, stages: Mutex::new(BTreeMap::new()), stopped: AtomicBool::new(false), ticker: Mutex::new(None) }
    }

    fn start_ticker(self: &Arc<Self>) {
        if !self.drawn {
            return;
        }
        let me = self.clone();
        let handle = std::thread::spawn(move || {
            while !me.stopped.load(Ordering::Relaxed) {
                me.tick();
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        *self.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    fn tick(&self) {
        let stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        for stage in stages.values() {
            if stage.bar.is_finished() {
                continue;
            }
            let rows: u64 = stage.attempts.iter().map(|p| p.rows.load(Ordering::Relaxed)).sum();
            let total: u64 = stage.attempts.iter().map(|p| p.total.load(Ordering::Relaxed)).sum();
            let secs = stage.started.elapsed().as_secs_f64().max(0.001);
            if total > 0 {
                stage.bar.set_length(total);
            }
            stage.bar.set_position(rows);
            let shards = if stage.shards > 1 { format!("  {} shards", stage.shards) } else { String::new() };
            stage.bar.set_message(format!("{} rows  {}/s{shards}", thousands(rows), thousands((rows as f64 / secs) as u64)));
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        if let Some(handle) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        let _ = self.multi.clear();
    }

    /// A line above the bars, or a log line when no bars are drawn.
    fn note(&self, line: String) {
        if self.drawn {
            let _ = self.multi.println(line);
        } else {
            tracing::info!("{line}");
        }
    }
}

impl Observer for Display {
    fn run_started(&self, record: &RunRecord) {
        self.note(format!("run {} of {} ({})", record.run_id, record.pipeline, record.pipeline_file));
    }

    fn stage_started(&self, stage: &str, shards: u32) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<16} {elapsed:>4} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        let entry = StageBar { bar, started: Instant::now(), attempts: Vec::new(), shards };
        self.stages.lock().unwrap_or_else(|e| e.into_inner()).insert(stage.to_string(), entry);
        if !self.drawn {
            tracing::info!("stage {stage} started");
        }
    }

    fn attempt_started(&self, stage: &str, _attempt: u32, _shard: Option<Shard>, progress: &Arc<Progress>) {
        if let Some(entry) = self.stages.lock().unwrap_or_else(|e| e.into_inner()).get_mut(stage) {
            entry.attempts.push(progress.clone());
        }
    }

    fn attempt_failed(&self, stage: &str, attempt: u32, shard: Option<Shard>, error: &StepError, retry_in: Option<Duration>) {
        let shard = shard.map(|s| format!(" shard {}", s.index)).unwrap_or_default();
        let next = match retry_in {
            Some(wait) => format!("; retrying in {:.1}s", wait.as_secs_f64()),
            None => String::new(),
        };
        self.note(format!("stage {stage}{shard} attempt {attempt} failed ({}): {}{next}", error.kind, error.message));
    }

    fn stage_committed(&self, stage: &str, output: &StepOutput) {
        if let Some(entry) = self.stages.lock().unwrap_or_else(|e| e.into_inner()).get(stage) {
            let secs = entry.started.elapsed().as_secs_f64();
            entry.bar.finish_with_message(format!("committed  {} rows in {secs:.1}s", thousands(output.rows_out)));
        }
        if !self.drawn {
            tracing::info!("stage {stage} committed ({} rows out)", thousands(output.rows_out));
        }
    }

    fn stage_failed(&self, stage: &str, error: &StepError, fallback: Option<&str>) {
        let then = fallback.map(|f| format!("; running '{f}' in its place")).unwrap_or_default();
        if let Some(entry) = self.stages.lock().unwrap_or_else(|e| e.into_inner()).get(stage) {
            entry.bar.abandon_with_message(format!("failed ({}){then}", error.kind));
        }
        if !self.drawn {
            tracing::warn!("stage {stage} failed ({}): {}{then}", error.kind, error.message);
        }
    }
}
