//! The test kit for stage plugins: runs a stage with its capabilities faked from
//! the plugin folder's fixtures, under the grants its manifest asks for, and
//! compares what it wrote (objects, its summary) with the expected fixtures.
//!
//! ```text
//! fixtures/params.json              the stage's params (`${run_id}`, `${run_db}`, `${scratch}`, `${stage}` substituted)
//! fixtures/storage/<bucket>/<key>   objects the stage can read
//! fixtures/sql/<name>.sql + .csv    a statement and its answer (or .parquet)
//! fixtures/llm/<name>.prompt + .reply   text a prompt contains and the reply
//! fixtures/expected/summary.json    fields the summary must have (others are ignored)
//! fixtures/expected/storage/<bucket>/<key>   every object the stage must write, and no others
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use serde_json::Value;

use super::fixtures::{Tolerance, diff};
use super::manifest::Manifest;
use crate::capabilities::Grants;
use crate::capabilities::grants::StorageGrant;
use crate::capabilities::llm::fixture::FixtureLanguageModel;
use crate::capabilities::sql::fixture::FixtureSql;
use crate::capabilities::storage::fixture::{Change, FixtureStorage};
use crate::capabilities::trace::CallTrace;
use crate::runtime::stage::StageRequest;
use crate::runtime::{Capabilities, GuestError, GuestLimits, Plugin, Runtime};

/// The run id a stage under test sees.
pub const TEST_RUN_ID: &str = "test";

/// What a stage did under test, and how it differs from the expected fixtures.
pub struct StageReport {
    pub summary: Value,
    /// (bucket/key, bytes) of every object written.
    pub written: Vec<(String, usize)>,
    pub differences: Vec<String>,
}

/// The variables a test run defines, as `engage run` would for attempt 1 of the stage.
fn variables(stage: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("run_id", TEST_RUN_ID.to_string()),
        ("run_db", format!("run_{TEST_RUN_ID}")),
        ("stage", stage.to_string()),
        ("attempt", "1".to_string()),
        ("scratch", format!("run={TEST_RUN_ID}/{stage}/attempt=1/")),
        ("run_started", "2026-01-01T00:00:00Z".to_string()),
    ])
}

/// The grants the manifest asks for, variables substituted: what a pipeline entry would grant.
pub fn manifest_grants(manifest: &Manifest) -> Result<Grants> {
    let vars = variables(&manifest.name);
    let lookup = |name: &str| vars.get(name).cloned();
    let storage = manifest
        .grants
        .storage
        .iter()
        .map(|g| {
            let text = crate::pipeline::vars::substitute(g, &lookup).map_err(|e| anyhow::anyhow!("plugin.toml grants.storage: {e}"))?;
            StorageGrant::parse(&text).map_err(|e| anyhow::anyhow!("plugin.toml grants.storage: {e}"))
        })
        .collect::<Result<_>>()?;
    let sql_database = vars.get("run_db").cloned();
    Ok(Grants { storage, sql: manifest.grants.sql, llm: manifest.grants.llm, sql_database })
}

fn params(dir: &Path, stage: &str) -> Result<Value> {
    let path = dir.join("fixtures/params.json");
    if !path.exists() {
        return Ok(Value::Object(Default::default()));
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let vars = variables(stage);
    crate::pipeline::vars::substitute_json(&value, &|name| vars.get(name).cloned()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Runs the stage plugin in `dir` against its fixtures. A guest failure is the error.
pub fn run(
    runtime: &Runtime,
    plugin: &Plugin,
    dir: &Path,
    manifest: &Manifest,
    limits: GuestLimits,
    tolerance: Tolerance,
    trace: Option<Arc<CallTrace>>,
) -> Result<Result<StageReport, GuestError>> {
    let fixtures = dir.join("fixtures");
    let storage = Arc::new(FixtureStorage::new(&fixtures.join("storage")));
    let sql = Arc::new(FixtureSql::load(&fixtures.join("sql"))?);
    let llm = Arc::new(FixtureLanguageModel::load(&fixtures.join("llm"))?);
    let caps = Capabilities::new(storage.clone(), sql, llm).traced(trace);
    let request = StageRequest {
        run_id: TEST_RUN_ID,
        stage: &manifest.name,
        params: params(dir, &manifest.name)?,
        grants: manifest_grants(manifest)?,
        limits,
    };
    let outcome = match runtime.run_stage(plugin, request, &caps) {
        Ok(outcome) => outcome,
        // A stage that reads params it was never given: say where they come from in a test.
        Err(mut e) if !fixtures.join("params.json").exists() && e.message.contains("params") => {
            e.message += &format!(" (the test gave the stage no params: {} does not exist)", fixtures.join("params.json").display());
            return Ok(Err(e));
        }
        Err(e) => return Ok(Err(e)),
    };
    let summary: Value = serde_json::from_str(&outcome.summary).with_context(|| format!("{}: the summary is not JSON", manifest.name))?;
    let changes = storage.changes();
    let written = changes
        .iter()
        .filter_map(|((bucket, key), change)| match change {
            Change::Written(data) => Some((format!("{bucket}/{key}"), data.len())),
            Change::Deleted => None,
        })
        .collect();
    let mut differences = Vec::new();
    let expected_summary = fixtures.join("expected/summary.json");
    if expected_summary.exists() {
        let text = std::fs::read_to_string(&expected_summary).with_context(|| format!("reading {}", expected_summary.display()))?;
        let expected: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", expected_summary.display()))?;
        compare_json("summary", &expected, &summary, tolerance, &mut differences);
    }
    compare_objects(&fixtures.join("expected/storage"), &changes, tolerance, &mut differences)?;
    Ok(Ok(StageReport { summary, written, differences }))
}

/// Every field of `expected` must be in `found` with an equal value (numbers within the tolerance).
fn compare_json(path: &str, expected: &Value, found: &Value, tolerance: Tolerance, out: &mut Vec<String>) {
    match (expected, found) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let at = format!("{path}.{key}");
                match got.get(key) {
                    Some(found) => compare_json(&at, value, found, tolerance, out),
                    None => out.push(format!("{at}: expected {value}, found no such field")),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                compare_json(&format!("{path}[{i}]"), w, g, tolerance, out);
            }
        }
        (Value::Number(w), Value::Number(g)) => {
            let (w, g) = (w.as_f64().unwrap_or(f64::NAN), g.as_f64().unwrap_or(f64::NAN));
            if !(w == g || (g - w).abs() <= tolerance.absolute + tolerance.relative * w.abs()) {
                out.push(format!("{path}: expected {w}, found {g}"));
            }
        }
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{path}: expected {w}, found {g}")),
    }
}

/// Objects under `expected_dir/<bucket>/<key>` against what was written; tables compared row by row.
fn compare_objects(
    expected_dir: &Path,
    changes: &BTreeMap<(String, String), Change>,
    tolerance: Tolerance,
    out: &mut Vec<String>,
) -> Result<()> {
    let expected = FixtureStorage::new(expected_dir);
    let mut expected_keys = Vec::new();
    if let Ok(entries) = std::fs::read_dir(expected_dir) {
        for bucket in entries.flatten().filter(|e| e.path().is_dir()) {
            let bucket = bucket.file_name().to_string_lossy().into_owned();
            for object in crate::capabilities::storage::ObjectStore::list_all(&expected, &bucket, "").map_err(|e| anyhow::anyhow!("{e}"))? {
                expected_keys.push((bucket.clone(), object.key));
            }
        }
    }
    for (bucket, key) in &expected_keys {
        let name = format!("{bucket}/{key}");
        let want_path = expected_dir.join(bucket).join(key);
        match changes.get(&(bucket.clone(), key.clone())) {
            Some(Change::Written(data)) => compare_object(&name, &want_path, data, tolerance, out)?,
            Some(Change::Deleted) => out.push(format!("object {name}: expected it written, found it deleted")),
            None => out.push(format!("object {name}: expected it written, found no such object")),
        }
    }
    for ((bucket, key), change) in changes {
        if let Change::Written(data) = change
            && !expected_keys.iter().any(|(b, k)| b == bucket && k == key)
        {
            out.push(format!(
                "object {bucket}/{key}: expected no such object, found {} bytes written (add fixtures/expected/storage/{bucket}/{key})",
                data.len()
            ));
        }
    }
    Ok(())
}

fn compare_object(name: &str, want_path: &Path, data: &[u8], tolerance: Tolerance, out: &mut Vec<String>) -> Result<()> {
    let want = std::fs::read(want_path).with_context(|| format!("reading {}", want_path.display()))?;
    let file_name = want_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tabular = [".csv", ".parquet", ".csv.gz"].iter().any(|ext| file_name.ends_with(ext));
    if tabular {
        // The written bytes as a file of the same kind, read back like the expected one.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let found_path: PathBuf = std::env::temp_dir().join(format!("engage-stage-test-{}-{seq}-{file_name}", std::process::id()));
        std::fs::write(&found_path, data).with_context(|| format!("writing {}", found_path.display()))?;
        let read = |p: &Path| -> Result<RecordBatch> {
            let (schema, batches) = crate::files::read_batches(p, 1 << 16)?;
            let batches: Vec<RecordBatch> = batches.collect::<Result<_>>()?;
            Ok(arrow::compute::concat_batches(&schema, &batches)?)
        };
        let found = read(&found_path);
        let _ = std::fs::remove_file(&found_path);
        let found = match found {
            Ok(batch) => batch,
            Err(e) => {
                out.push(format!("object {name}: expected a table like {}, found one that does not read: {e:#}", want_path.display()));
                return Ok(());
            }
        };
        let expected = read(want_path)?;
        out.extend(diff(&found, &expected, tolerance).into_iter().map(|d| format!("object {name}: {d}")));
        return Ok(());
    }
    if want != data {
        let (want, got) = (String::from_utf8_lossy(&want), String::from_utf8_lossy(data));
        let line = want.lines().zip(got.lines()).position(|(w, g)| w != g).unwrap_or_else(|| want.lines().count().min(got.lines().count()));
        let show = |text: &str| text.lines().nth(line).map(|l| format!("'{l}'")).unwrap_or_else(|| "the end".into());
        out.push(format!("object {name} line {}: expected {}, found {}", line + 1, show(&want), show(&got)));
    }
    Ok(())
}

/// Checks a stage plugin folder has what a test needs before anything runs.
pub fn check_folder(dir: &Path) -> Result<()> {
    let fixtures = dir.join("fixtures");
    if !fixtures.is_dir() {
        bail!(
            "{}: no fixtures/ folder (a stage test reads fixtures/params.json, fixtures/sql/, fixtures/storage/, fixtures/expected/)",
            dir.display()
        );
    }
    if !fixtures.join("expected").is_dir() {
        bail!("{}: no fixtures/expected/ (summary.json and storage/<bucket>/<key> the stage must write)", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_fields_compare_by_path() {
        let mut out = Vec::new();
        let expected = serde_json::json!({ "rows_out": 3, "outputs": ["a"], "nested": { "share": 0.5 } });
        let found = serde_json::json!({ "rows_out": 4, "outputs": ["a"], "nested": { "share": 0.5 }, "extra": true });
        compare_json("summary", &expected, &found, Tolerance::default(), &mut out);
        assert_eq!(out, ["summary.rows_out: expected 3, found 4"]);
    }
}
