//! The WebAssembly runtime: one engine per process, components compiled once and
//! cached, a fresh bounded store per guest run.

pub mod bindings;
pub mod cache;
pub mod errors;
pub mod limits;
mod linker;
pub mod output;
pub mod stage;
pub mod state;
pub mod transform;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

pub use cache::{CacheStats, ComponentCache, content_hash};
pub use errors::{FailureKind, GuestError, HostError};
pub use limits::GuestLimits;
pub use state::{GuestIdentity, GuestState};

use crate::capabilities::llm::{LanguageModel, NoLanguageModel};
use crate::capabilities::sql::{NoSql, SqlEngine};
use crate::capabilities::trace::CallTrace;
use crate::capabilities::storage::ObjectStore;
use crate::plugins::manifest::{Manifest, WIT_PACKAGE, check_wit_version};

/// The epoch advances this often; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Set (to anything but `0`) to profile guests with `perf`: guest functions are
/// named in `/tmp/perf-<pid>.map`, and components are compiled rather than loaded from the cache.
pub const PERFMAP_ENV: &str = "ENGAGE_WASM_PERFMAP";

/// The backends a guest's capabilities dispatch to. Grants decide what it may use.
#[derive(Clone)]
pub struct Capabilities {
    pub storage: Arc<dyn ObjectStore>,
    pub sql: Arc<dyn SqlEngine>,
    pub llm: Arc<dyn LanguageModel>,
    /// Where every capability call is reported (`--trace`); `None` traces nothing.
    pub trace: Option<Arc<CallTrace>>,
}

impl Capabilities {
    pub fn new(storage: Arc<dyn ObjectStore>, sql: Arc<dyn SqlEngine>, llm: Arc<dyn LanguageModel>) -> Self {
        Self { storage, sql, llm, trace: None }
    }

    /// Storage only: no SQL engine, no language model.
    pub fn storage_only(storage: Arc<dyn ObjectStore>) -> Self {
        Self::new(storage, Arc::new(NoSql), Arc::new(NoLanguageModel))
    }

    /// The same backends, every call reported to `trace`.
    pub fn traced(mut self, trace: Option<Arc<CallTrace>>) -> Self {
        self.trace = trace;
        self
    }
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are kept between runs; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling instance allocator (fast instantiation, reserved address space).
    pub pooling: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { cache_dir: default_cache_dir(), pooling: true }
    }
}

/// `$ENGAGE_CACHE_DIR`, else the user's cache folder.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("ENGAGE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("engage").join("components")))
}

/// A component ready to instantiate, with its identity.
pub struct Plugin {
    /// The file name without extension, used in messages.
    pub name: String,
    /// sha256 of the component bytes: recorded with every run.
    pub hash: String,
    pub component: Component,
    /// The plugin's `plugin.toml`, when it came with one (published plugins always do).
    pub manifest: Option<Arc<Manifest>>,
    stage_pre: OnceLock<bindings::stage::StagePre<GuestState>>,
    transform_pre: OnceLock<TransformPre>,
}

/// A transform plugin ready to instantiate, by the world it exports.
#[derive(Clone)]
pub(crate) enum TransformPre {
    /// `feature-transform`: Arrow IPC in and out.
    Arrow(bindings::transform::FeatureTransformPre<GuestState>),
    /// `column-transform`: packed columns in, values or expressions out.
    Columns(bindings::columns::ColumnTransformPre<GuestState>),
}

pub struct Runtime {
    engine: Engine,
    cache: ComponentCache,
    stage_linker: wasmtime::component::Linker<GuestState>,
    transform_linker: wasmtime::component::Linker<GuestState>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let profiling = std::env::var_os(PERFMAP_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        let engine = build_engine(config.pooling, profiling)?;
        start_epoch_ticker(&engine);
        // perf names code in anonymous memory from the map but code mapped from a
        // cached artifact only by file offset: compile in memory while profiling.
        let cache = ComponentCache::new(&engine, if profiling { None } else { config.cache_dir })?;
        let stage_linker = linker::stage_linker(&engine)?;
        let transform_linker = linker::transform_linker(&engine)?;
        Ok(Self { engine, cache, stage_linker, transform_linker })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Loads a component file, compiling it only if no cached artifact exists.
    pub fn load_file(&self, path: &Path) -> Result<Arc<Plugin>> {
        let bytes = std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
        self.load_bytes(&name, &bytes)
    }

    /// Compiles every `.wasm` component in `dir` into this runtime's on-disk cache
    /// (a container image ships the cache, so a task starts without Cranelift).
    /// Returns each component's path and whether it had to be compiled, or why it can't run here.
    pub fn precompile_dir(&self, dir: &Path) -> Result<Vec<(PathBuf, Result<bool>)>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("listing plugins in {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        if files.is_empty() {
            anyhow::bail!("{} holds no .wasm components", dir.display());
        }
        // One component that cannot run here (an old WIT, not a component) does not stop the others.
        let compile = |path: &Path| -> Result<bool> {
            let before = self.cache.stats().compiled;
            self.load_file(path)?;
            Ok(self.cache.stats().compiled > before)
        };
        Ok(files.into_iter().map(|path| {
            let outcome = compile(&path);
            (path, outcome)
        }).collect())
    }

    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Arc<Plugin>> {
        self.load_with_manifest(name, bytes, None)
    }

    /// Loads a component with its manifest. Either way the WIT versions the component
    /// was built against are checked before anything is instantiated.
    pub fn load_with_manifest(&self, name: &str, bytes: &[u8], manifest: Option<Manifest>) -> Result<Arc<Plugin>> {
        let hash = content_hash(bytes);
        let component = self.cache.get_or_compile(&self.engine, bytes, &hash, name)?;
        check_wit_imports(&self.engine, &component).with_context(|| format!("plugin '{name}' cannot run on this host"))?;
        Ok(Arc::new(Plugin {
            name: name.to_string(),
            hash,
            component,
            manifest: manifest.map(Arc::new),
            stage_pre: OnceLock::new(),
            transform_pre: OnceLock::new(),
        }))
    }

    fn stage_pre(&self, plugin: &Plugin) -> Result<bindings::stage::StagePre<GuestState>, GuestError> {
        if let Some(pre) = plugin.stage_pre.get() {
            return Ok(pre.clone());
        }
        let pre = self
            .stage_linker
            .instantiate_pre(&plugin.component)
            .and_then(bindings::stage::StagePre::new)
            .map_err(|e| load_error(&self.engine, plugin, "stage", &e))?;
        Ok(plugin.stage_pre.get_or_init(|| pre).clone())
    }

    fn transform_pre(&self, plugin: &Plugin) -> Result<TransformPre, GuestError> {
        if let Some(pre) = plugin.transform_pre.get() {
            return Ok(pre.clone());
        }
        let instance_pre =
            self.transform_linker.instantiate_pre(&plugin.component).map_err(|e| load_error(&self.engine, plugin, "feature-transform", &e))?;
        let arrow = || bindings::transform::FeatureTransformPre::new(instance_pre.clone()).map(TransformPre::Arrow);
        let columns = || bindings::columns::ColumnTransformPre::new(instance_pre.clone()).map(TransformPre::Columns);
        let world = plugin.manifest.as_ref().map(|m| m.world_name().to_string());
        let pre = match world.as_deref() {
            Some("column-transform") => columns().map_err(|e| load_error(&self.engine, plugin, "column-transform", &e))?,
            Some("feature-transform") => arrow().map_err(|e| load_error(&self.engine, plugin, "feature-transform", &e))?,
            // Without a manifest, the exports tell.
            _ => match arrow() {
                Ok(pre) => pre,
                Err(e) => columns().map_err(|_| load_error(&self.engine, plugin, "feature-transform (or column-transform)", &e))?,
            },
        };
        Ok(plugin.transform_pre.get_or_init(|| pre).clone())
    }

    /// A store bounded by `limits`: memory through the limiter, time through the epoch deadline,
    /// and the data one call moves from the guest to the host through [`hostcall_fuel`].
    fn new_store(&self, state: GuestState, limits: &GuestLimits) -> Store<GuestState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(hostcall_fuel(limits));
        arm_deadline(&mut store, limits.timeout);
        store
    }
}

/// What wasmtime lets one call move from the guest to the host (the arguments of a
/// capability call, the result of `run` or `transform`), in bytes. Wasmtime's default
/// (128 MiB) would stop a `storage.put` of 130 MiB with a trap whatever the stage's
/// output limit; the guest can't hand over more than its memory anyway, so the
/// budget is the larger of the memory and output limits plus room for keys and
/// framing. The capabilities then apply the output limit and say so by name.
pub fn hostcall_fuel(limits: &GuestLimits) -> usize {
    const HEADROOM: usize = 16 << 20;
    limits.memory_bytes.max(limits.output_bytes).saturating_add(HEADROOM)
}

fn arm_deadline(store: &mut Store<GuestState>, timeout: Duration) {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1) as u64 + 1;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
}

/// Every `engage:platform/...@<version>` the component imports must be a version this host runs.
fn check_wit_imports(engine: &Engine, component: &Component) -> Result<()> {
    let prefix = format!("{WIT_PACKAGE}/");
    for (name, _) in component.component_type().imports(engine) {
        if let Some(rest) = name.strip_prefix(&prefix) {
            let version = rest.rsplit_once('@').map(|(_, v)| v).unwrap_or("(no version)");
            check_wit_version(version).map_err(|e| anyhow::anyhow!("it imports {name}: {e}"))?;
        }
    }
    Ok(())
}

/// Why a component can't serve as a `world` plugin. A stage plugin handed over
/// as a transform, or the other way round, is told so with where it belongs,
/// rather than with the first import the linker missed.
fn load_error(engine: &Engine, plugin: &Plugin, world: &str, error: &wasmtime::Error) -> GuestError {
    let exports: Vec<String> = plugin.component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
    let exports = |name: &str| exports.iter().any(|e| e == name);
    let wanted_stage = world == "stage";
    let message = if wanted_stage && exports("transform") {
        "is a feature-transform plugin (it exports `transform`), not a stage plugin: list it in a pipeline's features step, or try it with `engage plugin test <component.wasm> --input <file>`".to_string()
    } else if !wanted_stage && exports("run") {
        format!("is a stage plugin (it exports `run`), not a {world} plugin: run it as a pipeline stage, or test it from its folder with `engage plugin test <folder>` against its fixtures")
    } else if matches!(world, "feature-transform" | "column-transform") && format!("{error:#}").contains("type-checking export") {
        // Both transform worlds export `transform`, with different types: most often plugin.toml names the other one.
        let other = if world == "column-transform" { "feature-transform" } else { "column-transform" };
        format!(
            "is not a {world} plugin: its `transform` has another world's types ({error:#}); if plugin.toml says `world = \"{WIT_PACKAGE}/{world}@...\"`, check the plugin was not built as a {other}"
        )
    } else {
        format!("is not a {world} plugin compatible with {WIT_PACKAGE}@{}: {error:#}", crate::plugins::manifest::WIT_VERSIONS.join(", @"))
    };
    GuestError::new("", &plugin.name, FailureKind::Load, message)
}

fn build_engine(pooling: bool, profiling: bool) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if profiling {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(128)
            .total_core_instances(2048)
            .total_memories(128)
            .total_tables(512)
            .max_memory_size(4 << 30)
            // Keep a little of each freed memory mapped so a fresh instance doesn't page-fault it in again.
            .linear_memory_keep_resident(16 << 20);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config).map_err(anyhow::Error::from).context("creating the wasm engine")
}

/// Advances the engine's epoch until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("engage-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// Maps a capability's error onto the WIT error, or turns it into a trap.
pub fn convert_host_error(err: HostError) -> wasmtime::Result<bindings::types::Error> {
    use crate::capabilities::ErrorCode as C;
    use bindings::types::ErrorCode as W;
    match err {
        HostError::Trap(e) => Err(e),
        HostError::Capability(e) => Ok(bindings::types::Error {
            code: match e.code {
                C::NotFound => W::NotFound,
                C::InvalidInput => W::InvalidInput,
                C::LimitExceeded => W::LimitExceeded,
                C::Unavailable => W::Unavailable,
                C::Internal => W::Internal,
            },
            message: e.message,
        }),
    }
}

#[allow(unused_imports)]
use InstancePre as _;
