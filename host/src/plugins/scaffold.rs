//! `engage plugin new <name> --lang rust|python`: a plugin folder that builds and
//! passes its own test at once: source, `plugin.toml`, a fixture input with its
//! expected output, and a README for the author.
//!
//! The example feature is `<name>` = sessions_7d per active day (0 without activity),
//! as a Rust transform or as a Python column expression.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::build::{repo_dir, rust_sdk_dir};
use super::manifest::{Language, MANIFEST_FILE, WIT_PACKAGE, WIT_VERSIONS, valid_name};

const FIXTURE_INPUT: &str = "user_id,sessions_7d,active_days_7d\nu1,6,3\nu2,0,0\nu3,5,\nu4,7,7\n";

/// The column the example writes: the plugin's name with `_` for `-`.
fn feature(name: &str) -> String {
    name.replace('-', "_")
}

fn fixture_expected(name: &str) -> String {
    format!("user_id,{}\nu1,2\nu2,0\nu3,\nu4,1\n", feature(name))
}

fn manifest(name: &str, language: Language) -> String {
    let (world, lang) = match language {
        Language::Rust => ("feature-transform", "rust"),
        Language::Python => ("column-transform", "python"),
    };
    format!(
        r#"# What this plugin is, reads and writes. The host checks every batch against it.
name = "{name}"
version = "0.1.0"
kind = "transform"
world = "{WIT_PACKAGE}/{world}@{wit}"
language = "{lang}"
description = "Sessions per active day in the last 7 days"
inputs = ["sessions_7d", "active_days_7d"]

[[outputs]]
name = "{feature}"
type = "float64"
unit = "sessions/day"
description = "sessions_7d / active_days_7d (0 without activity)"
# non_finite = true   # allow NaN or infinity in this column
"#,
        wit = WIT_VERSIONS[WIT_VERSIONS.len() - 1],
        feature = feature(name),
    )
}

fn rust_cargo(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
engage-plugin-sdk = {{ path = "{sdk}", features = ["transform"] }}

# Its own workspace, whatever folder it sits in.
[workspace]

[profile.release]
opt-level = 3
codegen-units = 1
lto = true
# Line tables give file:line in the wasm backtrace of a panic.
debug = "line-tables-only"
strip = "none"
"#,
        sdk = rust_sdk_dir().canonicalize().unwrap_or_else(|_| rust_sdk_dir()).display()
    )
}

fn rust_lib(name: &str) -> String {
    format!(
        r#"//! {name}: a feature transform. Change what it reads and writes here and in
//! plugin.toml, then `engage plugin build .` and `engage plugin test .`.

use engage_plugin_sdk::transform::*;

struct Plugin;

impl Transform for Plugin {{
    fn describe() -> TransformInfo {{
        info("{name}", "0.1.0")
            .reads(&["sessions_7d", "active_days_7d"])
            .writes(float64("{feature}", "sessions/day", "sessions_7d / active_days_7d (0 without activity)"))
    }}

    fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {{
        let sessions = numbers(input, "sessions_7d")?;
        let days = numbers(input, "active_days_7d")?;
        Ok(vec![output(zip_with(sessions, days, |s, d| if d > 0.0 {{ s / d }} else {{ 0.0 }}))])
    }}
}}

engage_plugin_sdk::export_transform!(Plugin);
"#,
        feature = feature(name)
    )
}

fn python_app(name: &str) -> String {
    let class: String = name.split('-').map(|p| p[..1].to_uppercase() + &p[1..]).collect();
    format!(
        r#""""{name}: a feature transform. Change what it reads and writes here and in
plugin.toml, then `engage plugin build .` and `engage plugin test .`.

Return an expression (col(...) arithmetic, safe_div, log1p, clip, fill_null,
when(...).otherwise(...)) and the host computes it natively over the batch; or
return a list with one value per row computed in Python (batch.values("x")).
"""

from engage_sdk import Transform, col, export, float64


class {class}(Transform):
    name = "{name}"
    version = "0.1.0"
    inputs = ["sessions_7d", "active_days_7d"]
    outputs = [float64("{feature}", "sessions/day", "sessions_7d / active_days_7d (0 without activity)")]

    def transform(self, batch):
        return {{"{feature}": col("sessions_7d").safe_div(col("active_days_7d"), 0.0)}}


WitWorld = export({class})
"#,
        feature = feature(name)
    )
}

fn readme(name: &str, language: Language) -> String {
    let source = match language {
        Language::Rust => "src/lib.rs",
        Language::Python => "app.py",
    };
    format!(
        r#"# {name}

A feature transform for Engage. Its code is `{source}`; `plugin.toml` declares
what it reads and writes (the host checks every batch against it).

```sh
engage plugin build .          # -> build/{name}.wasm
engage plugin test .           # fixtures/input.csv through the plugin, compared with fixtures/expected.csv
engage plugin test . --watch   # rebuild and test again on every save
engage plugin publish .        # into the plugins zone as {name}@0.1.0
```

Then name it in a pipeline's `features` stage: `transforms = ["{name}@0.1.x"]`.
Bump `version` in plugin.toml (and the code) for every change you publish:
releases are immutable. The full guide is docs/plugin-guide.md in the Engage repository.
"#
    )
}

/// Creates `<parent>/<name>/` and returns its path.
pub fn scaffold(parent: &Path, name: &str, language: Language) -> Result<PathBuf> {
    if !valid_name(name) {
        bail!("plugin name '{name}' must be lowercase letters, digits and '-', starting with a letter");
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let mut files: Vec<(PathBuf, String)> = vec![
        (PathBuf::from(MANIFEST_FILE), manifest(name, language)),
        (PathBuf::from("README.md"), readme(name, language)),
        (PathBuf::from("fixtures/input.csv"), FIXTURE_INPUT.to_string()),
        (PathBuf::from("fixtures/expected.csv"), fixture_expected(name)),
        (PathBuf::from(".gitignore"), "/build\n/target\n__pycache__/\n".to_string()),
    ];
    match language {
        Language::Rust => {
            files.push((PathBuf::from("Cargo.toml"), rust_cargo(name)));
            files.push((PathBuf::from("src/lib.rs"), rust_lib(name)));
        }
        Language::Python => files.push((PathBuf::from("app.py"), python_app(name))),
    }
    for (path, text) in &files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("inside the folder")).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    // The versions the Engage plugins build with, so a shared target folder is reused.
    if language == Language::Rust {
        let lock = repo_dir().join("plugins/Cargo.lock");
        if lock.exists() {
            std::fs::copy(&lock, dir.join("Cargo.lock")).with_context(|| format!("copying {}", lock.display()))?;
        }
    }
    Ok(dir)
}
