//! The plugin a pipeline names: `name` is `<plugin_dir>/<name>.wasm` (a build
//! folder, for development), `name@version` or `name@range` is a published release.
//! Either way the run records what exactly ran: name, version and component hash.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::registry::{PluginRef, Registry, is_reference};
use crate::capabilities::storage::ObjectStore;
use crate::pipeline::spec::plugin_file;
use crate::runtime::{Plugin, Runtime};

/// One plugin a stage ran, as the run record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginUse {
    /// As the pipeline names it: `recency@1.x` or `engagement-features`.
    pub requested: String,
    pub name: String,
    /// From the manifest; unknown for an unpublished component from the plugin folder.
    pub version: Option<String>,
    /// sha256 of the component that ran.
    pub hash: String,
}

impl PluginUse {
    pub fn of(requested: &str, plugin: &Plugin) -> Self {
        let (name, version) = match &plugin.manifest {
            Some(m) => (m.name.clone(), Some(m.version.clone())),
            None => (requested.to_string(), None),
        };
        Self { requested: requested.to_string(), name, version, hash: plugin.hash.clone() }
    }
}

/// Loads the plugin a pipeline names (see the module docs).
pub fn load(runtime: &Runtime, store: &Arc<dyn ObjectStore>, plugin_dir: &Path, requested: &str) -> Result<Arc<Plugin>> {
    if is_reference(requested) {
        let reference = PluginRef::parse(requested).map_err(anyhow::Error::msg)?;
        let resolved = Registry::new(store.clone()).resolve(&reference)?;
        let label = format!("{}@{}", resolved.release.name, resolved.release.version);
        return runtime.load_with_manifest(&label, &resolved.component, Some(resolved.manifest));
    }
    let path = plugin_file(plugin_dir, requested);
    if !path.exists() {
        anyhow::bail!("no plugin at {}", path.display());
    }
    runtime.load_file(&path)
}

/// The `plugins` entry of a stage summary: what exactly ran.
pub fn summary_entry(uses: &[PluginUse]) -> serde_json::Value {
    serde_json::to_value(uses).expect("plugin uses serialize")
}
