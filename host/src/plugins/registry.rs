//! The plugins zone: published components and manifests, content addressed, in the
//! `plugins` bucket of the storage root.
//!
//! ```text
//! plugins/blobs/sha256/<hash>            component or manifest bytes, named by their sha256
//! plugins/<name>/<version>/release.json  {name, version, kind, component, manifest, published}
//! ```
//!
//! A release is immutable: publishing the same name and version again is a no-op if
//! the bytes are the same and an error otherwise. Pipelines name plugins `name@1.2.0`,
//! `name@1.x` or `name@^1.2`; a range resolves to the newest published match.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, valid_name};
use crate::capabilities::ErrorCode;
use crate::capabilities::storage::ObjectStore;
use crate::runtime::content_hash;

pub const PLUGINS_BUCKET: &str = "plugins";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub name: String,
    pub version: String,
    pub kind: String,
    /// sha256 of the component bytes.
    pub component: String,
    /// sha256 of the manifest bytes.
    pub manifest: String,
    pub published: String,
}

/// A resolved plugin: its release, manifest and component bytes.
pub struct Resolved {
    pub release: Release,
    pub manifest: Manifest,
    pub component: Vec<u8>,
}

/// `name@requirement` as a pipeline writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub name: String,
    pub requirement: semver::VersionReq,
    /// As written, for messages.
    pub text: String,
}

impl PluginRef {
    /// Parses `name@1.2.0` (exactly that version), `name@1.x`, `name@^1.2`, `name@>=1, <3`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, version) = text.split_once('@').ok_or_else(|| format!("'{text}' must look like name@version or name@1.x"))?;
        if !valid_name(name) {
            return Err(format!("'{text}': plugin name '{name}' must be lowercase letters, digits and '-'"));
        }
        let requirement = match semver::Version::parse(version) {
            Ok(exact) => semver::VersionReq::parse(&format!("={exact}")).expect("an exact version is a requirement"),
            Err(_) => semver::VersionReq::parse(version)
                .map_err(|e| format!("'{text}': '{version}' is neither a version (1.2.0) nor a range (1.x, ^1.2): {e}"))?,
        };
        Ok(Self { name: name.to_string(), requirement, text: text.to_string() })
    }
}

/// Whether a pipeline's plugin name is a registry reference (`name@...`) rather than a file in the plugin folder.
pub fn is_reference(name: &str) -> bool {
    name.contains('@')
}

pub struct Registry {
    store: Arc<dyn ObjectStore>,
}

fn blob_key(hash: &str) -> String {
    format!("blobs/sha256/{hash}")
}

fn release_key(name: &str, version: &str) -> String {
    format!("{name}/{version}/release.json")
}

impl Registry {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Stores a component and its manifest. Returns the release and whether it was new.
    pub fn publish(&self, manifest_text: &str, component: &[u8]) -> Result<(Release, bool)> {
        let manifest = Manifest::parse(manifest_text).context("plugin.toml")?;
        if component.get(..4) != Some(b"\0asm") {
            bail!("{} {}: the component is not a WebAssembly file", manifest.name, manifest.version);
        }
        let release = Release {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind.name().to_string(),
            component: content_hash(component),
            manifest: content_hash(manifest_text.as_bytes()),
            published: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let key = release_key(&release.name, &release.version);
        if let Some(existing) = self.release_at(&key)? {
            if existing.component == release.component && existing.manifest == release.manifest {
                return Ok((existing, false));
            }
            bail!(
                "{} {} is already published with other contents (component {}); releases are immutable: bump the version in plugin.toml",
                release.name,
                release.version,
                &existing.component[..12]
            );
        }
        // Blobs first: a release only ever names bytes that are already stored.
        self.put(&blob_key(&release.component), component)?;
        self.put(&blob_key(&release.manifest), manifest_text.as_bytes())?;
        self.put(&key, &serde_json::to_vec_pretty(&release)?)?;
        Ok((release, true))
    }

    /// Every published version of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<semver::Version>> {
        let objects = self
            .store
            .list_all(PLUGINS_BUCKET, &format!("{name}/"))
            .map_err(|e| anyhow::anyhow!("listing {PLUGINS_BUCKET}/{name}/: {e}"))?;
        let mut versions: Vec<semver::Version> = objects
            .iter()
            .filter_map(|o| o.key.strip_prefix(&format!("{name}/"))?.strip_suffix("/release.json").map(str::to_string))
            .filter_map(|v| semver::Version::parse(&v).ok())
            .collect();
        versions.sort();
        Ok(versions)
    }

    /// Every published plugin name.
    pub fn names(&self) -> Result<Vec<String>> {
        let objects = self.store.list_all(PLUGINS_BUCKET, "").map_err(|e| anyhow::anyhow!("listing {PLUGINS_BUCKET}/: {e}"))?;
        let mut names: Vec<String> = objects
            .iter()
            .filter(|o| o.key.ends_with("/release.json"))
            .filter_map(|o| o.key.split('/').next().map(str::to_string))
            .collect();
        names.dedup();
        Ok(names)
    }

    /// The newest published release record matching `reference` (what a pipeline is checked against before it runs).
    pub fn find(&self, reference: &PluginRef) -> Result<Release> {
        let versions = self.versions(&reference.name)?;
        if versions.is_empty() {
            bail!("plugin '{}' is not published in {PLUGINS_BUCKET}/: publish it with `engage plugin publish <folder>`", reference.name);
        }
        let Some(version) = versions.iter().rev().find(|v| reference.requirement.matches(v)) else {
            let list: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
            bail!("plugin '{}': no published version matches (published: {})", reference.text, list.join(", "));
        };
        let key = release_key(&reference.name, &version.to_string());
        self.release_at(&key)?.with_context(|| format!("{PLUGINS_BUCKET}/{key} vanished"))
    }

    /// The newest published release matching `reference`, with its manifest and component.
    pub fn resolve(&self, reference: &PluginRef) -> Result<Resolved> {
        let release = self.find(reference)?;
        let component = self.get_blob(&release.component)?;
        let manifest = self.manifest(&release).with_context(|| format!("the stored manifest of {}", reference.text))?;
        Ok(Resolved { release, manifest, component })
    }

    /// A release's manifest, without reading its component.
    pub fn manifest(&self, release: &Release) -> Result<Manifest> {
        let manifest_text = String::from_utf8(self.get_blob(&release.manifest)?).context("the stored manifest is not UTF-8")?;
        Manifest::parse(&manifest_text)
    }

    fn release_at(&self, key: &str) -> Result<Option<Release>> {
        match self.store.get(PLUGINS_BUCKET, key) {
            Ok(bytes) => {
                Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("{PLUGINS_BUCKET}/{key} is not a release record"))?))
            }
            Err(e) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => bail!("reading {PLUGINS_BUCKET}/{key}: {e}"),
        }
    }

    /// A blob, checked against its name: a corrupted store never runs other code than was published.
    fn get_blob(&self, hash: &str) -> Result<Vec<u8>> {
        let key = blob_key(hash);
        let bytes = self.store.get(PLUGINS_BUCKET, &key).map_err(|e| anyhow::anyhow!("reading {PLUGINS_BUCKET}/{key}: {e}"))?;
        if content_hash(&bytes) != hash {
            bail!("{PLUGINS_BUCKET}/{key} does not match its hash: the store is corrupt");
        }
        Ok(bytes)
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.store.put(PLUGINS_BUCKET, key, bytes).map_err(|e| anyhow::anyhow!("writing {PLUGINS_BUCKET}/{key}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_versions_and_ranges() {
        let exact = PluginRef::parse("recency@1.2.0").unwrap();
        assert!(exact.requirement.matches(&semver::Version::new(1, 2, 0)));
        assert!(!exact.requirement.matches(&semver::Version::new(1, 2, 1)));
        let range = PluginRef::parse("recency@1.x").unwrap();
        assert!(range.requirement.matches(&semver::Version::new(1, 9, 3)));
        assert!(!range.requirement.matches(&semver::Version::new(2, 0, 0)));
        assert!(PluginRef::parse("recency@^1.2").unwrap().requirement.matches(&semver::Version::new(1, 3, 0)));
        assert!(PluginRef::parse("Recency@1.0.0").unwrap_err().contains("lowercase"));
        assert!(PluginRef::parse("recency@one").unwrap_err().contains("neither a version"));
    }
}
