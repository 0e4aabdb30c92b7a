//! `plugin.toml`: what a plugin is (name, semantic version, kind, the WIT world and
//! version it targets), what it reads, what it writes (type, unit, description,
//! whether NaN/infinity are expected) and the grants it asks for.
//!
//! The host reads the manifest when a plugin is published or tested, checks the
//! world version against the ones it runs, and checks every output batch of a
//! transform against the declared columns.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "engage:platform";
/// Versions of [`WIT_PACKAGE`] this host links guests against.
pub const WIT_VERSIONS: &[&str] = &["0.2.0"];

/// The manifest's file name in a plugin's folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Transform,
    Stage,
}

impl Kind {
    /// The WIT worlds a plugin of this kind may target: a transform takes Arrow IPC
    /// (`feature-transform`, Rust) or packed columns and may return expressions
    /// (`column-transform`, Python).
    pub fn worlds(self) -> &'static [&'static str] {
        match self {
            Kind::Transform => &["feature-transform", "column-transform"],
            Kind::Stage => &["stage"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Transform => "transform",
            Kind::Stage => "stage",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
}

/// One declared output column of a transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputColumn {
    pub name: String,
    /// float64, float32, int64, int32, boolean or utf8.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub description: String,
    /// The column may hold NaN or ±infinity. Undeclared, either is an error.
    #[serde(default)]
    pub non_finite: bool,
}

/// The grants a stage plugin asks for, in the pipeline file's syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedGrants {
    #[serde(default)]
    pub storage: Vec<String>,
    #[serde(default)]
    pub sql: bool,
    #[serde(default)]
    pub llm: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    /// `engage:platform/<world>@<version>`.
    pub world: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(default)]
    pub description: String,
    /// Columns a transform reads; the host sends only these.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Columns a transform writes, in order.
    #[serde(default)]
    pub outputs: Vec<OutputColumn>,
    #[serde(default)]
    pub grants: RequestedGrants,
}

/// Output column types a transform may declare.
pub const COLUMN_TYPES: &[&str] = &["float64", "float32", "int64", "int32", "boolean", "utf8"];

/// Columns the host passes through beside a transform's outputs: a transform may not write them.
pub const KEY_COLUMNS: &[&str] = &["user_id", "snapshot_date", "engaged_next_7d"];

impl Manifest {
    /// Reads and checks `path`; every error names the file and the field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| path.display().to_string())
    }

    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", one_line(&e, text)))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest serializes")
    }

    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).expect("validated")
    }

    /// The WIT package version the plugin targets (`0.2.0` of `engage:platform/stage@0.2.0`).
    /// The world's name (`column-transform` of `engage:platform/column-transform@0.2.0`).
    pub fn world_name(&self) -> &str {
        self.world.split_once('/').map_or("", |(_, w)| w.split('@').next().unwrap_or(""))
    }

    pub fn wit_version(&self) -> &str {
        self.world.rsplit_once('@').map(|(_, v)| v).unwrap_or("")
    }

    pub fn validate(&self) -> Result<()> {
        if !valid_name(&self.name) {
            bail!("name: '{}' must be lowercase letters, digits and '-', starting with a letter", self.name);
        }
        semver::Version::parse(&self.version)
            .map_err(|e| anyhow::anyhow!("version: '{}' is not a semantic version (like 1.0.0): {e}", self.version))?;
        let world_version = self.kind.worlds().iter().find_map(|w| self.world.strip_prefix(&format!("{WIT_PACKAGE}/{w}@")));
        let Some(version) = world_version else {
            let expected: Vec<String> = self.kind.worlds().iter().map(|w| format!("{WIT_PACKAGE}/{w}@<version>")).collect();
            bail!("world: '{}' must be {} for a {} plugin", self.world, expected.join(" or "), self.kind.name());
        };
        semver::Version::parse(version).map_err(|_| anyhow::anyhow!("world: '{version}' in '{}' is not a version", self.world))?;
        check_wit_version(version).map_err(|e| anyhow::anyhow!("world: {e}"))?;
        match self.kind {
            Kind::Transform => {
                if self.outputs.is_empty() {
                    bail!("outputs: a transform must declare at least one output column");
                }
                if !self.grants.storage.is_empty() || self.grants.sql || self.grants.llm {
                    bail!("grants: a transform gets no storage, SQL or LLM; remove [grants]");
                }
                let mut seen = BTreeSet::new();
                for (i, c) in self.outputs.iter().enumerate() {
                    if c.name.is_empty() {
                        bail!("outputs[{i}].name is empty");
                    }
                    if !seen.insert(c.name.as_str()) {
                        bail!("outputs[{i}]: column '{}' is declared twice", c.name);
                    }
                    if KEY_COLUMNS.contains(&c.name.as_str()) {
                        bail!("outputs[{i}]: '{}' is a key column the host keeps; a transform may not write it", c.name);
                    }
                    if !COLUMN_TYPES.contains(&c.type_.as_str()) {
                        bail!("outputs[{i}].type: '{}' is not a column type ({})", c.type_, COLUMN_TYPES.join(", "));
                    }
                }
                let mut inputs = BTreeSet::new();
                for c in &self.inputs {
                    if !inputs.insert(c.as_str()) {
                        bail!("inputs: column '{c}' is listed twice");
                    }
                    if c == crate::data::schema::LABEL {
                        bail!("inputs: '{c}' is the label; a feature computed from it gives the model next week's answer");
                    }
                }
            }
            Kind::Stage => {
                if !self.outputs.is_empty() || !self.inputs.is_empty() {
                    bail!("inputs/outputs: only a transform declares columns; a stage declares [grants]");
                }
                for g in &self.grants.storage {
                    if !(g.starts_with("read:") || g.starts_with("write:")) {
                        bail!("grants.storage: '{g}' must look like read:bucket/prefix/ or write:bucket/prefix/");
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether this host links guests built against `version` of the WIT package.
/// Pre-1.0, a minor version is a breaking change (semver's caret rule).
pub fn check_wit_version(version: &str) -> Result<(), String> {
    let found = semver::Version::parse(version).map_err(|_| format!("'{version}' is not a WIT package version"))?;
    // Semver's compatibility class: the major version, or the minor one before 1.0.
    let class = |v: &semver::Version| if v.major > 0 { (v.major, 0) } else { (0, v.minor) };
    let compatible =
        WIT_VERSIONS.iter().any(|supported| class(&semver::Version::parse(supported).expect("a valid version")) == class(&found));
    if compatible {
        Ok(())
    } else {
        Err(format!(
            "built against {WIT_PACKAGE}@{version}, but this host runs {WIT_PACKAGE}@{}; rebuild the plugin with the current SDK",
            WIT_VERSIONS.join(", @")
        ))
    }
}

pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
        && name.len() <= 64
}

/// toml's errors span several lines (a source excerpt); keep the first and the message.
/// A TOML error on one line, placed by line and column of `text`.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("at line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "recency"
version = "1.2.0"
kind = "transform"
world = "engage:platform/feature-transform@0.2.0"
inputs = ["days_since_last_session"]

[[outputs]]
name = "session_recency"
type = "float64"
unit = "score 0-1"
description = "exp(-days / 7)"
"#;

    #[test]
    fn a_good_manifest_reads_back() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.semver(), semver::Version::new(1, 2, 0));
        assert_eq!(m.wit_version(), "0.2.0");
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn mistakes_name_the_field() {
        let bad = |from: &str, to: &str| Manifest::parse(&GOOD.replace(from, to)).unwrap_err().to_string();
        assert!(bad("1.2.0", "1.2").starts_with("version: '1.2'"), "{}", bad("1.2.0", "1.2"));
        assert!(bad("\"float64\"", "\"float\"").starts_with("outputs[0].type: 'float'"));
        assert!(bad("session_recency", "user_id").contains("key column"));
        let leak = bad("[\"days_since_last_session\"]", "[\"days_since_last_session\", \"engaged_next_7d\"]");
        assert!(leak.starts_with("inputs: 'engaged_next_7d' is the label"), "{leak}");
        assert!(bad("@0.2.0", "@0.9.0").contains("built against engage:platform@0.9.0"));
        assert!(bad("feature-transform@", "stage@").starts_with("world:"));
        assert!(bad("kind = \"transform\"", "kind = \"sink\"").contains("unknown variant"));
        assert!(bad("kind = \"transform\"", "kind = \"sink\"").starts_with("at line 4, column 8:"), "{}", bad("kind = \"transform\"", "kind = \"sink\""));
    }

    #[test]
    fn wit_versions_follow_the_caret_rule() {
        assert!(check_wit_version("0.2.0").is_ok());
        assert!(check_wit_version("0.2.1").is_ok());
        assert!(check_wit_version("0.1.0").is_err());
        assert!(check_wit_version("1.0.0").is_err());
    }
}
