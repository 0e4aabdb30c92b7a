//! Why a plugin can't be published again under a version already published: which of
//! its parts differ from the release, so the author is not told the component changed
//! when only plugin.toml did.

use anyhow::{Context, Result};

use super::manifest::Manifest;
use super::registry::{PluginRef, Registry};
use crate::runtime::content_hash;

/// `Some(refusal)` when `name version` (from `manifest_text`) is published with other contents:
/// the manifest fields that differ, and whether the component does. `None` when the version is
/// not published or is published with these very contents.
pub fn conflict(registry: &Registry, manifest_text: &str, component: &[u8]) -> Result<Option<String>> {
    let manifest = Manifest::parse(manifest_text).context("plugin.toml")?;
    let Ok(version) = semver::Version::parse(&manifest.version) else { return Ok(None) };
    if !registry.versions(&manifest.name)?.contains(&version) {
        return Ok(None);
    }
    let reference = PluginRef::parse(&format!("{}@{}", manifest.name, manifest.version)).map_err(anyhow::Error::msg)?;
    let published = registry.resolve(&reference)?;
    let hash = content_hash(component);
    let same_component = published.release.component == hash;
    let same_text = published.release.manifest == content_hash(manifest_text.as_bytes());
    if same_component && same_text {
        return Ok(None);
    }
    let fields = differing_fields(&published.manifest, &manifest);
    let manifest_part = match (same_text, fields.is_empty()) {
        (true, _) => "the manifest is unchanged".to_string(),
        (false, true) => "plugin.toml differs in comments or layout only".to_string(),
        (false, false) => format!("the manifest differs: {}", fields.join(", ")),
    };
    let component_part = if same_component {
        format!("the component is unchanged ({})", &hash[..12])
    } else {
        format!("the component differs (published {}, this one {})", &published.release.component[..12], &hash[..12])
    };
    Ok(Some(format!(
        "{} {} is already published with other contents: {manifest_part}; {component_part}; \
         releases are immutable: bump the version in plugin.toml",
        manifest.name, manifest.version
    )))
}

/// The top-level plugin.toml fields whose values differ, in the manifest's order.
fn differing_fields(published: &Manifest, local: &Manifest) -> Vec<String> {
    let as_map = |m: &Manifest| match serde_json::to_value(m) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(published), as_map(local));
    let mut keys: Vec<&String> = new.keys().collect();
    keys.extend(old.keys().filter(|k| !new.contains_key(*k)));
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
}
