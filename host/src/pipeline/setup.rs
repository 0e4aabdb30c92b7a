//! Wiring a run on the local host: the backends of a storage root, the wasm
//! runtime, the native steps, and what validation checks a file against.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::executor::{Registry, registry_of};
use super::spec::LoadOptions;
use super::step::Services;
use crate::config::{Backends, HostConfig};
use crate::capabilities::llm::local::LocalLanguageModel;
use crate::local_host::LocalHost;
use crate::runtime::{Runtime, RuntimeConfig, default_cache_dir};

/// Services over a local storage root with a runtime of their own.
pub fn local_services(root: &Path, plugin_dir: &Path) -> Result<Services> {
    let runtime = Runtime::new(RuntimeConfig { cache_dir: default_cache_dir(), pooling: true })
        .context("starting the wasm runtime")?;
    local_services_with(root, plugin_dir, Arc::new(runtime))
}

/// Services over the backends a runtime config chooses (the default config: the local host over `root`).
pub fn services(config: &HostConfig, root: &Path, plugin_dir: &Path) -> Result<Services> {
    let runtime = Runtime::new(RuntimeConfig { cache_dir: default_cache_dir(), pooling: true })
        .context("starting the wasm runtime")?;
    Ok(services_of(Backends::open(config, root)?, plugin_dir, Arc::new(runtime)))
}

/// Services over opened backends.
pub fn services_of(backends: Backends, plugin_dir: &Path, runtime: Arc<Runtime>) -> Services {
    Services {
        storage: backends.storage,
        sql: backends.sql,
        catalog: backends.catalog,
        llm: backends.llm,
        runtime,
        plugin_dir: plugin_dir.to_path_buf(),
        local_root: backends.local_root,
        trace: None,
    }
}

/// Services over a local storage root sharing an existing runtime (tests share one per process).
pub fn local_services_with(root: &Path, plugin_dir: &Path, runtime: Arc<Runtime>) -> Result<Services> {
    let host = LocalHost::open(root)?;
    let sql = host.sql()?;
    Ok(Services {
        storage: host.object_store(),
        // The built-in answerer: a granted stage's llm calls are answered from the knowledge base.
        llm: Arc::new(LocalLanguageModel::new(host.object_store(), sql.clone())),
        sql,
        catalog: host.catalog(),
        runtime,
        plugin_dir: plugin_dir.to_path_buf(),
        local_root: Some(host.root.clone()),
        trace: None,
    })
}

/// The native steps this build of the host has.
pub fn native_registry() -> Registry {
    registry_of(super::steps::registry())
}

/// Validation against `registry` and the plugins in `plugin_dir`.
pub fn load_options(registry: &Registry, plugin_dir: &Path, overrides: BTreeMap<String, String>) -> LoadOptions {
    LoadOptions {
        overrides,
        native_steps: registry.keys().cloned().collect(),
        plugin_dir: Some(plugin_dir.to_path_buf()),
        published: None,
    }
}
