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
    let path = find_plugin_file(plugin_dir, requested).map_err(anyhow::Error::msg)?;
    runtime.load_file(&path)
}

/// The files an unversioned name may be, in order: `<dir>/<name>.wasm` as `plugin build` names
/// it (`sessions-per-day.wasm`), then with `-` as `_` as cargo names it (`sessions_per_day.wasm`).
pub fn plugin_file_candidates(plugin_dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let exact = plugin_dir.join(format!("{name}.wasm"));
    let cargo = plugin_file(plugin_dir, name);
    if cargo == exact { vec![exact] } else { vec![exact, cargo] }
}

/// The first of [`plugin_file_candidates`] that exists, or an error naming every file tried.
pub fn find_plugin_file(plugin_dir: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    let candidates = plugin_file_candidates(plugin_dir, name);
    if let Some(found) = candidates.iter().find(|p| p.exists()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    Err(format!("plugin '{name}' not found: tried {} (none exists)", tried.join(" and ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unversioned_name_is_found_as_built_or_as_cargo_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_plugin_file(dir.path(), "sessions-per-day").unwrap_err();
        assert!(e.contains("sessions-per-day.wasm and ") && e.contains("sessions_per_day.wasm (none exists)"), "{e}");
        std::fs::write(dir.path().join("sessions_per_day.wasm"), b"").unwrap();
        assert_eq!(find_plugin_file(dir.path(), "sessions-per-day").unwrap(), dir.path().join("sessions_per_day.wasm"));
        std::fs::write(dir.path().join("sessions-per-day.wasm"), b"").unwrap();
        assert_eq!(find_plugin_file(dir.path(), "sessions-per-day").unwrap(), dir.path().join("sessions-per-day.wasm"));
        assert_eq!(plugin_file_candidates(dir.path(), "prepare").len(), 1);
    }
}

/// The `plugins` entry of a stage summary: what exactly ran.
pub fn summary_entry(uses: &[PluginUse]) -> serde_json::Value {
    serde_json::to_value(uses).expect("plugin uses serialize")
}
