//! `engage plugin ...`: scaffold, build, test, publish and list plugins.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};

use crate::capabilities::storage::{LocalStorage, ObjectStore};
use crate::files::ParquetFileWriter;
use crate::plugins::build::{build, component_path, load_manifest};
use crate::plugins::fixtures::{Tolerance, compare, fixture_paths, run_file, stream_file};
use crate::capabilities::trace::CallTrace;
use crate::plugins::manifest::{Kind, Language, Manifest};
use crate::plugins::stage_fixtures;
use crate::plugins::registry::Registry;
use crate::runtime::{Capabilities, GuestLimits, Plugin, Runtime, RuntimeConfig};

#[derive(Clone, Copy, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PluginKind {
    /// Columns in, feature columns out (no I/O).
    Transform,
    /// A pipeline stage reaching storage, SQL and the LLM through its grants.
    Stage,
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Create a plugin folder that builds and passes its own test at once.
    New {
        /// The plugin's name: lowercase letters, digits and '-'.
        name: String,
        #[arg(long, value_enum)]
        lang: Lang,
        #[arg(long, value_enum, default_value = "transform")]
        kind: PluginKind,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The Rust plugin SDK (plugins/sdk of an Engage checkout) a Rust plugin depends on; by default
        /// $ENGAGE_REPO/plugins/sdk, else found above the current folder or above this executable.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin folder into <folder>/build/<name>.wasm (cargo or componentize-py).
    Build {
        #[arg(default_value = ".")]
        folder: PathBuf,
    },
    /// Run a plugin against its fixtures (a plugin folder) or a transform over a file (a .wasm and --input).
    /// A stage runs with storage, SQL and LLM faked from fixtures/ and the grants of its plugin.toml.
    Test {
        /// A plugin folder (a transform: fixtures/input.csv vs fixtures/expected.csv; a stage:
        /// fixtures/params.json, storage/, sql/, llm/ vs expected/) or a component (.wasm).
        #[arg(default_value = ".")]
        plugin: PathBuf,
        /// Input rows for a component: .parquet, .csv or .csv.gz with a header row.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Write the output (key columns plus the plugin's columns) to this Parquet file.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Floats match within this absolute (and relative) difference.
        #[arg(long, default_value_t = 1e-9)]
        tolerance: f64,
        /// Rebuild and test again whenever a file of the folder changes.
        #[arg(long)]
        watch: bool,
        /// Rows per batch handed to the plugin.
        #[arg(long, default_value_t = 65_536)]
        batch_rows: usize,
        /// Linear-memory limit for the plugin, in MiB.
        #[arg(long, default_value_t = 1024)]
        memory_mib: usize,
        /// Time limit per batch (or per stage run), in seconds.
        #[arg(long, default_value_t = 600.0)]
        timeout_s: f64,
        /// Print every capability call the plugin makes (interface.function, sizes, time) to stderr,
        /// then a total per capability.
        #[arg(long)]
        trace: bool,
    },
    /// Compiles every plugin component in a folder for this engine into the component cache,
    /// so later runs (and container tasks) load them without compiling.
    Precompile {
        /// The folder of `<name>.wasm` components.
        #[arg(long, value_name = "DIR", env = "ENGAGE_PLUGIN_DIR")]
        plugins: PathBuf,
        /// The cache to fill: default $ENGAGE_CACHE_DIR, else ~/.cache/engage/components.
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Store a built plugin (component + plugin.toml) in the plugins zone, content addressed.
    Publish {
        /// A plugin folder (plugin.toml + build/<name>.wasm).
        #[arg(default_value = ".")]
        folder: PathBuf,
        /// The component, when it is not <folder>/build/<name>.wasm.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Published plugins and their versions.
    List,
}

pub fn run(command: PluginCommand, root: &Path) -> Result<()> {
    match command {
        PluginCommand::New { name, lang, kind, dir, sdk } => {
            let language = match lang {
                Lang::Rust => Language::Rust,
                Lang::Python => Language::Python,
            };
            let kind = match kind {
                PluginKind::Transform => Kind::Transform,
                PluginKind::Stage => Kind::Stage,
            };
            let folder = crate::plugins::scaffold::scaffold(&dir, &name, language, kind, sdk.as_deref())?;
            outln!("created {}", folder.display());
            outln!("next: engage plugin build {0} && engage plugin test {0}", folder.display());
            Ok(())
        }
        PluginCommand::Build { folder } => {
            let started = Instant::now();
            let out = build(&folder)?;
            let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            outln!("built {} ({:.1} MB) in {:.1} s", out.display(), size as f64 / 1e6, started.elapsed().as_secs_f64());
            Ok(())
        }
        PluginCommand::Test { plugin, input, output, tolerance, watch, batch_rows, memory_mib, timeout_s, trace } => {
            let limits = GuestLimits {
                memory_bytes: memory_mib << 20,
                timeout: Duration::try_from_secs_f64(timeout_s).context("--timeout-s")?,
                ..GuestLimits::default()
            };
            let tolerance = Tolerance { absolute: tolerance, relative: tolerance };
            let runtime = Runtime::new(RuntimeConfig::default())?;
            let trace = trace.then(CallTrace::to_stderr);
            let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(root)?)).traced(trace.clone());
            check_test_args(&plugin, input.as_deref(), output.as_deref(), watch)?;
            let outcome = if plugin.is_dir() {
                if watch {
                    return watch_folder(&runtime, &caps, &plugin, limits, tolerance, batch_rows);
                }
                test_folder(&runtime, &caps, &plugin, limits, tolerance, batch_rows)
            } else {
                let input = input.context("--input: a component needs an input file (or pass a plugin folder with fixtures)")?;
                test_component(&runtime, &caps, &plugin, &input, output.as_deref(), batch_rows.max(1), limits)
            };
            if let Some(trace) = trace {
                trace.finish();
            }
            outcome
        }
        PluginCommand::Publish { folder, component } => {
            let manifest_path = folder.join(crate::plugins::manifest::MANIFEST_FILE);
            let manifest_text = std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
            let manifest = Manifest::parse(&manifest_text).with_context(|| manifest_path.display().to_string())?;
            let component = component.unwrap_or_else(|| component_path(&folder, &manifest));
            let bytes = std::fs::read(&component)
                .with_context(|| format!("reading {} (build it first: engage plugin build {})", component.display(), folder.display()))?;
            // Only a component the host can run is published: load it with its manifest first.
            let runtime = Runtime::new(RuntimeConfig::default())?;
            let plugin = runtime.load_with_manifest(&manifest.name, &bytes, Some(manifest.clone()))?;
            if manifest.kind == Kind::Transform {
                let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(root)?));
                runtime.transform_instance(&plugin, "publish", "", GuestLimits::default(), &caps)?;
            }
            let store: Arc<dyn ObjectStore> = Arc::new(LocalStorage::new(root)?);
            let registry = Registry::new(store);
            // Said before the registry refuses: which of plugin.toml and the component differ.
            if let Some(refusal) = crate::plugins::republish::conflict(&registry, &manifest_text, &bytes)? {
                anyhow::bail!(refusal);
            }
            let (release, new) = registry.publish(&manifest_text, &bytes)?;
            let verb = if new { "published" } else { "already published (same contents)" };
            outln!("{verb} {}@{} sha256:{}", release.name, release.version, release.component);
            Ok(())
        }
        PluginCommand::List => {
            let store: Arc<dyn ObjectStore> = Arc::new(LocalStorage::new(root)?);
            let registry = Registry::new(store);
            let names = registry.names()?;
            if names.is_empty() {
                outln!("no plugins published in {}", root.join(crate::plugins::registry::PLUGINS_BUCKET).display());
            }
            for name in names {
                let versions: Vec<String> = registry.versions(&name)?.iter().map(|v| v.to_string()).collect();
                outln!("{name:<32} {}", versions.join(", "));
            }
            Ok(())
        }
        PluginCommand::Precompile { plugins, cache_dir } => {
            let cache_dir = cache_dir.or_else(crate::runtime::default_cache_dir).context("no cache folder: pass --cache-dir")?;
            let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache_dir.clone()), pooling: true })?;
            let outcomes = runtime.precompile_dir(&plugins)?;
            let mut failed = 0;
            for (path, outcome) in &outcomes {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                match outcome {
                    Ok(compiled) => outln!("{name}: {}", if *compiled { "compiled" } else { "already in the cache" }),
                    Err(e) => {
                        failed += 1;
                        outln!("{name}: not precompiled: {e:#}");
                    }
                }
            }
            outln!("cache: {}", cache_dir.display());
            if failed > 0 {
                bail!("{failed} of {} components in {} cannot run on this host (listed above); the others are in the cache", outcomes.len(), plugins.display());
            }
            Ok(())
        }
    }
}

/// Refuses `plugin test` options that would be ignored or do harm: --input/--output with a plugin
/// folder (tested against its fixtures), --watch with a component, an --output that is the input
/// file (it would be overwritten) or not named .parquet (the output is Parquet).
fn check_test_args(plugin: &Path, input: Option<&Path>, output: Option<&Path>, watch: bool) -> Result<()> {
    if plugin.is_dir() {
        let given: Vec<&str> =
            [(input.is_some(), "--input"), (output.is_some(), "--output")].iter().filter(|(set, _)| *set).map(|(_, f)| *f).collect();
        if !given.is_empty() {
            let name = load_manifest(plugin).map(|m| m.name).unwrap_or_else(|_| "<name>".into());
            bail!(
                "{} {} for a component (.wasm): a plugin folder ({}) is tested against its fixtures/; to run it over a file, \
                 pass its component: engage plugin test {} --input <file> --output <file.parquet>",
                given.join(" and "),
                if given.len() == 1 { "is" } else { "are" },
                plugin.display(),
                plugin.join("build").join(format!("{name}.wasm")).display()
            );
        }
        return Ok(());
    }
    if watch {
        bail!("--watch rebuilds and tests a plugin folder when its files change; {} is not a folder: pass the plugin's folder", plugin.display());
    }
    let Some(output) = output else { return Ok(()) };
    if !output.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        bail!("--output {}: the output is written as Parquet; name the file .parquet", output.display());
    }
    if let Some(input) = input
        && same_file(input, output)
    {
        bail!("--output {} is the input file: it would be overwritten; write the output to another file", output.display());
    }
    Ok(())
}

/// Do `a` and `b` name one file (`b` may not exist yet)?
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some(parent.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    match (resolve(a), resolve(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// Runs a plugin folder's component over its fixtures and prints the differences.
fn test_folder(runtime: &Runtime, caps: &Capabilities, dir: &Path, limits: GuestLimits, tolerance: Tolerance, batch_rows: usize) -> Result<()> {
    let manifest = load_manifest(dir)?;
    let component = component_path(dir, &manifest);
    let bytes = std::fs::read(&component)
        .with_context(|| format!("reading {} (build it first: engage plugin build {})", component.display(), dir.display()))?;
    if manifest.kind == Kind::Stage {
        stage_fixtures::check_folder(dir)?;
        let plugin = runtime.load_with_manifest(&manifest.name, &bytes, Some(manifest.clone()))?;
        return test_stage_folder(runtime, &plugin, dir, &manifest, limits, tolerance, caps.trace.clone());
    }
    let fixtures = fixture_paths(dir)?;
    let plugin = runtime.load_with_manifest(&manifest.name, &bytes, Some(manifest.clone()))?;
    let mut instance = runtime.transform_instance(&plugin, "plugin-test", "", limits, caps).map_err(|e| anyhow::anyhow!(e.report()))?;
    let found = run_file(&mut instance, &fixtures.input, batch_rows.max(1)).map_err(|e| match e.downcast_ref::<crate::runtime::GuestError>() {
        Some(guest) => anyhow::anyhow!(guest.report()),
        None => e,
    })?;
    let differences = compare(&found, &fixtures.expected, tolerance)?;
    let shown = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
    if differences.is_empty() {
        outln!(
            "ok  {} {}: {} rows of {} match {} ({} columns checked, row count and keys kept)",
            manifest.name,
            manifest.version,
            found.num_rows(),
            shown(&fixtures.input),
            shown(&fixtures.expected),
            manifest.outputs.len()
        );
        return Ok(());
    }
    outln!("FAIL {} {}: {} difference(s) from {}", manifest.name, manifest.version, differences.len(), shown(&fixtures.expected));
    for d in differences.iter().take(50) {
        outln!("  {d}");
    }
    if differences.len() > 50 {
        outln!("  ... and {} more", differences.len() - 50);
    }
    bail!("{}: the output differs from {} ({} differences; first: {})", manifest.name, shown(&fixtures.expected), differences.len(), differences[0])
}

/// Runs a stage plugin with its capabilities faked from its fixtures and prints what differs.
fn test_stage_folder(
    runtime: &Runtime,
    plugin: &Plugin,
    dir: &Path,
    manifest: &Manifest,
    limits: GuestLimits,
    tolerance: Tolerance,
    trace: Option<Arc<CallTrace>>,
) -> Result<()> {
    let report = stage_fixtures::run(runtime, plugin, dir, manifest, limits, tolerance, trace)?.map_err(|e| anyhow::anyhow!(e.report()))?;
    if report.differences.is_empty() {
        outln!(
            "ok  {} {}: summary and {} written object(s) match fixtures/expected ({})",
            manifest.name,
            manifest.version,
            report.written.len(),
            report.written.iter().map(|(name, bytes)| format!("{name} {bytes} B")).collect::<Vec<_>>().join(", ")
        );
        return Ok(());
    }
    outln!("FAIL {} {}: {} difference(s) from fixtures/expected", manifest.name, manifest.version, report.differences.len());
    for d in report.differences.iter().take(50) {
        outln!("  {d}");
    }
    if report.differences.len() > 50 {
        outln!("  ... and {} more", report.differences.len() - 50);
    }
    outln!("summary: {}", report.summary);
    bail!("{}: what the stage wrote differs from fixtures/expected ({} differences; first: {})", manifest.name, report.differences.len(), report.differences[0])
}

/// The newest modification time of the folder's sources (build output and caches aside).
fn newest_change(dir: &Path) -> SystemTime {
    fn walk(dir: &Path, newest: &mut SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if matches!(name.to_str(), Some("build" | "target" | "__pycache__" | ".git")) {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(modified);
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    walk(dir, &mut newest);
    newest
}

fn watch_folder(runtime: &Runtime, caps: &Capabilities, dir: &Path, limits: GuestLimits, tolerance: Tolerance, batch_rows: usize) -> Result<()> {
    let mut seen = None;
    loop {
        let now = newest_change(dir);
        if seen != Some(now) {
            seen = Some(now);
            outln!("--- {} changed: building and testing (Ctrl-C to stop)", dir.display());
            let outcome = build(dir).and_then(|_| test_folder(runtime, caps, dir, limits, tolerance, batch_rows));
            if let Err(e) = outcome {
                outln!("error: {e:#}");
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn test_component(
    runtime: &Runtime,
    caps: &Capabilities,
    component: &Path,
    input: &Path,
    output: Option<&Path>,
    batch_rows: usize,
    limits: GuestLimits,
) -> Result<()> {
    let started = Instant::now();
    let plugin = runtime.load_file(component)?;
    let loaded = started.elapsed();
    let t = Instant::now();
    let mut instance = runtime.transform_instance(&plugin, "plugin-test", "", limits, caps).map_err(|e| anyhow::anyhow!(e.report()))?;
    let instantiated = t.elapsed();
    // Batch by batch into the output file, so a file of any size fits in memory.
    let bar = super::progress::rows_bar("transforming", None);
    let (mut writer, mut rows) = (None, 0u64);
    let streamed = stream_file(&mut instance, input, batch_rows, |batch| {
        if let Some(path) = output {
            let writer = match &mut writer {
                Some(writer) => writer,
                None => writer.insert(ParquetFileWriter::create(path, batch.schema())?),
            };
            writer.write(batch)?;
        }
        rows += batch.num_rows() as u64;
        bar.inc(batch.num_rows() as u64);
        Ok(())
    });
    bar.finish_and_clear();
    let (schema, in_guest) = streamed.map_err(|e| match e.downcast_ref::<crate::runtime::GuestError>() {
        Some(guest) => anyhow::anyhow!(guest.report()),
        None => e,
    })?;
    if let Some(path) = output {
        // An input without rows still gets a file with the output's columns.
        writer.map_or_else(|| ParquetFileWriter::create(path, schema), Ok)?.finish()?;
    }
    let info = instance.info();
    outln!("plugin      {} {} ({})", info.name, info.version, &plugin.hash[..12]);
    outln!("reads       {} columns: {}", info.inputs.len(), info.inputs.join(", "));
    outln!("writes      {} columns: {}", info.outputs.len(), info.outputs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
    outln!("rows in     {rows}");
    outln!("rows out    {rows}");
    outln!("load        {:.1} ms (compiled: {})", loaded.as_secs_f64() * 1e3, runtime.cache_stats().compiled > 0);
    outln!("instantiate {:.2} ms (a fresh instance, describe() called)", instantiated.as_secs_f64() * 1e3);
    outln!(
        "transform   {:.1} ms ({:.0} rows/s in the plugin)",
        in_guest.as_secs_f64() * 1e3,
        rows as f64 / in_guest.as_secs_f64().max(1e-9)
    );
    outln!("total       {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    if let Some(path) = output {
        outln!("output      {}", path.display());
    }
    Ok(())
}
