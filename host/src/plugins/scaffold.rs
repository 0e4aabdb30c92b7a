//! `engage plugin new <name> --lang rust|python`: a plugin folder that builds and
//! passes its own test at once: source, `plugin.toml`, a fixture input with its
//! expected output, and a README for the author.
//!
//! The example feature is `<name>` = sessions_7d per active day (0 without activity),
//! as a Rust transform or as a Python column expression. The example stage (Rust)
//! counts users per plan with SQL, labels plans from a reference object and writes
//! a CSV under its scratch prefix; its fixtures fake storage and SQL.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::build::rust_sdk_dir;
use super::manifest::{KEY_COLUMNS, Kind, Language, MANIFEST_FILE, WIT_PACKAGE, WIT_VERSIONS, valid_name};

/// The columns the example transform reads.
const EXAMPLE_INPUTS: [&str; 2] = ["sessions_7d", "active_days_7d"];

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

fn stage_manifest(name: &str) -> String {
    format!(
        r#"# What this stage is and the grants it asks for: `engage plugin test` runs it under
# exactly these, and a pipeline entry grants them (docs/pipeline.md).
name = "{name}"
version = "0.1.0"
kind = "stage"
world = "{WIT_PACKAGE}/stage@{wit}"
language = "rust"
description = "Users per plan, labelled, as a CSV under the stage's scratch prefix"

[grants]
# SQL reads a table only as far as these reach: engage.users lives under processed/.
storage = ["read:reference/", "read:processed/", "write:work/run=${{run_id}}/"]
sql = true
llm = false
"#,
        wit = WIT_VERSIONS[WIT_VERSIONS.len() - 1],
    )
}

fn stage_lib(name: &str) -> String {
    format!(
        r#"//! {name}: a pipeline stage. It reaches storage, SQL and the LLM only through
//! the grants in plugin.toml. `engage plugin build .` then `engage plugin test .`
//! runs it against fixtures/ (storage objects, SQL answers, LLM replies).

use engage_plugin_sdk::stage::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {{
    /// The users table, `db.table`.
    table: String,
    /// Where to write, `bucket/prefix/` (the pipeline passes `work/${{scratch}}`).
    output: String,
}}

struct Plugin;

impl Stage for Plugin {{
    fn run(ctx: &Context) -> Result<serde_json::Value, String> {{
        let params: Params = ctx.params()?;
        let table = table_name("table", &params.table)?;
        let (bucket, prefix) = params
            .output
            .split_once('/')
            .filter(|(_, prefix)| prefix.is_empty() || prefix.ends_with('/'))
            .ok_or_else(|| format!("param 'output': '{{}}' must be bucket/prefix/", params.output))?;

        // Plan names people read, from a reference object.
        let labels = storage::get("reference", "plans.csv").map_err(|e| format!("reading reference/plans.csv: {{e}}"))?;
        let labels = String::from_utf8_lossy(&labels).into_owned();
        let label = |plan: &str| {{
            labels.lines().skip(1).filter_map(|l| l.split_once(',')).find(|(p, _)| *p == plan).map_or(plan, |(_, l)| l).to_string()
        }};

        // Users per plan.
        let rows = query_rows(&format!("SELECT plan, count(*) AS users FROM {{table}} GROUP BY plan ORDER BY plan"))?;
        let mut csv = String::from("plan,label,users\n");
        let mut users = 0;
        for row in &rows {{
            let plan = row.get("plan").and_then(|v| v.as_str()).unwrap_or("");
            let count = row.get("users").and_then(|v| v.as_u64()).unwrap_or(0);
            users += count;
            csv.push_str(&format!("{{plan}},{{}},{{count}}\n", label(plan)));
        }}
        let key = format!("{{prefix}}users_by_plan.csv");
        storage::put(bucket, &key, csv.as_bytes()).map_err(|e| format!("writing {{bucket}}/{{key}}: {{e}}"))?;
        log::metric("plans", rows.len() as f64, "plans");
        Ok(serde_json::json!({{ "rows_in": users, "rows_out": rows.len(), "outputs": [format!("{{bucket}}/{{key}}")] }}))
    }}
}}

engage_plugin_sdk::export_stage!(Plugin);
"#
    )
}

/// The stage's fixtures: params, faked storage and SQL, and what it must write.
fn stage_fixtures(name: &str) -> Vec<(PathBuf, String)> {
    let written = format!("fixtures/expected/storage/work/run=test/{name}/attempt=1/users_by_plan.csv");
    vec![
        (PathBuf::from("fixtures/params.json"), "{ \"table\": \"engage.users\", \"output\": \"work/${scratch}\" }\n".to_string()),
        (PathBuf::from("fixtures/storage/reference/plans.csv"), "plan,label\nbasic,Basic\npro,Pro\n".to_string()),
        (
            PathBuf::from("fixtures/sql/users-by-plan.sql"),
            "SELECT plan, count(*) AS users\nFROM engage.users\nGROUP BY plan\nORDER BY plan\n".to_string(),
        ),
        (PathBuf::from("fixtures/sql/users-by-plan.csv"), "plan,users\nbasic,3\nfree,2\npro,1\n".to_string()),
        (
            PathBuf::from("fixtures/expected/summary.json"),
            format!("{{ \"rows_in\": 6, \"rows_out\": 3, \"outputs\": [\"work/run=test/{name}/attempt=1/users_by_plan.csv\"] }}\n"),
        ),
        (PathBuf::from(written), "plan,label,users\nbasic,Basic,3\nfree,free,2\npro,Pro,1\n".to_string()),
    ]
}

fn stage_readme(name: &str) -> String {
    format!(
        r#"# {name}

A pipeline stage for Engage. Its code is `src/lib.rs`; `plugin.toml` declares the
grants it asks for (`engage plugin test` runs it under exactly those).

```sh
engage plugin build .           # -> build/{name}.wasm
engage plugin test .            # runs it with storage, SQL and LLM faked from fixtures/
engage plugin test . --trace    # ... and prints every capability call it makes
engage plugin publish .         # into the plugins zone as {name}@0.1.0
```

Fixtures (run id `test`, so `${{scratch}}` is `run=test/{name}/attempt=1/`):

```
fixtures/params.json                         the stage's params
fixtures/storage/<bucket>/<key>              objects it can read
fixtures/sql/<name>.sql + <name>.csv         a statement (matched ignoring case and spacing) and its answer
fixtures/llm/<name>.prompt + <name>.reply    text a prompt contains, and the reply
fixtures/expected/summary.json               fields its summary must have
fixtures/expected/storage/<bucket>/<key>     every object it must write (and no others)
```

Then name it in a pipeline: `plugin = "{name}@0.1.x"` with the grants of plugin.toml.
The full guide is docs/plugin-guide.md in the Engage repository.
"#
    )
}

fn rust_cargo(name: &str, kind: Kind, sdk: &Path) -> String {
    let (feature, serde) = match kind {
        Kind::Transform => ("transform", ""),
        Kind::Stage => ("stage", "serde = { version = \"1\", features = [\"derive\"] }\n"),
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
engage-plugin-sdk = {{ path = "{sdk}", features = ["{feature}"] }}
{serde}
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
        sdk = sdk.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
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

/// Creates `<parent>/<name>/` and returns its path. A Rust plugin depends on the plugin SDK by path:
/// `sdk` (its plugins/sdk folder) when given, else found at run time (`build::repo_dir`); not found, it
/// fails before writing anything, naming where it looked.
pub fn scaffold(parent: &Path, name: &str, language: Language, kind: Kind, sdk: Option<&Path>) -> Result<PathBuf> {
    if !valid_name(name) {
        bail!("plugin name '{name}' must be lowercase letters, digits and '-', starting with a letter");
    }
    // The example transform writes a column named like the plugin: it must be one a transform may write.
    let column = feature(name);
    if kind == Kind::Transform && KEY_COLUMNS.contains(&column.as_str()) {
        bail!(
            "plugin name '{name}': its example output column would be '{column}', a key column the host keeps beside every \
             transform's outputs (a transform may not write it); choose another name, e.g. '{name}-feature'"
        );
    }
    if kind == Kind::Transform && EXAMPLE_INPUTS.contains(&column.as_str()) {
        bail!(
            "plugin name '{name}': its example output column would be '{column}', which the example also reads (an output may \
             not take the name of an input column); choose another name, e.g. '{name}-feature'"
        );
    }
    if kind == Kind::Stage && language == Language::Python {
        bail!("stage plugins are written in Rust for now (Python plugins are transforms): use --lang rust --kind stage");
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = if language == Language::Rust { Some(rust_sdk_dir(sdk)?) } else { None };
    let mut files: Vec<(PathBuf, String)> = vec![(PathBuf::from(".gitignore"), "/build\n/target\n__pycache__/\n".to_string())];
    match kind {
        Kind::Transform => files.extend([
            (PathBuf::from(MANIFEST_FILE), manifest(name, language)),
            (PathBuf::from("README.md"), readme(name, language)),
            (PathBuf::from("fixtures/input.csv"), FIXTURE_INPUT.to_string()),
            (PathBuf::from("fixtures/expected.csv"), fixture_expected(name)),
        ]),
        Kind::Stage => {
            files.extend([(PathBuf::from(MANIFEST_FILE), stage_manifest(name)), (PathBuf::from("README.md"), stage_readme(name))]);
            files.extend(stage_fixtures(name));
        }
    }
    match (language, kind) {
        (Language::Rust, Kind::Transform) => {
            files.push((PathBuf::from("Cargo.toml"), rust_cargo(name, kind, sdk.as_deref().expect("found above"))));
            files.push((PathBuf::from("src/lib.rs"), rust_lib(name)));
        }
        (Language::Rust, Kind::Stage) => {
            files.push((PathBuf::from("Cargo.toml"), rust_cargo(name, kind, sdk.as_deref().expect("found above"))));
            files.push((PathBuf::from("src/lib.rs"), stage_lib(name)));
        }
        (Language::Python, _) => files.push((PathBuf::from("app.py"), python_app(name))),
    }
    for (path, text) in &files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("inside the folder")).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    // The versions the Engage plugins build with, so a shared target folder is reused.
    if let Some(sdk) = &sdk {
        let lock = sdk.join("../Cargo.lock");
        if lock.exists() {
            std::fs::copy(&lock, dir.join("Cargo.lock")).with_context(|| format!("copying {}", lock.display()))?;
        }
    }
    Ok(dir)
}
