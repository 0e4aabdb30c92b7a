//! Runs the Athena-dialect suite in `tests/athena/*.toml` against the local SQL
//! engine. Each file gets a fresh storage root: its `files` are written, its
//! `setup` statements run, then its cases run in order (later cases may rely on
//! earlier ones). A case gives the statement and Athena's answer: `rows` as
//! Athena writes them (NULL as "NULL"), optionally `columns`, or `error`, a
//! piece of the error message. Every failing case is reported by name.

use std::path::{Path, PathBuf};

use engage::capabilities::sql::SqlEngine;
use engage::capabilities::sql::athena::render;
use engage::local_host::LocalHost;
use serde::Deserialize;

#[derive(Deserialize)]
struct Suite {
    #[serde(default)]
    files: Vec<SeedFile>,
    #[serde(default)]
    setup: Vec<String>,
    #[serde(rename = "case")]
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct SeedFile {
    /// `bucket/key` under the storage root.
    path: String,
    content: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    sql: String,
    #[serde(default)]
    rows: Option<Vec<Vec<toml::Value>>>,
    #[serde(default)]
    columns: Option<Vec<String>>,
    #[serde(default)]
    error: Option<String>,
    /// Compare rows as a set when the statement has no ORDER BY.
    #[serde(default)]
    unordered: bool,
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/athena")
}

fn expected_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs one case; `Err` describes how the answer differs from Athena's.
fn run_case(engine: &dyn SqlEngine, case: &Case) -> Result<(), String> {
    let outcome = engine.query(&case.sql);
    match (&case.error, outcome) {
        (Some(expected), Err(e)) => {
            if e.message.to_lowercase().contains(&expected.to_lowercase()) {
                Ok(())
            } else {
                Err(format!("expected an error containing {expected:?}, got: {}", e.message))
            }
        }
        (Some(expected), Ok(result)) => {
            Err(format!("expected an error containing {expected:?}, got {} rows", result.num_rows()))
        }
        (None, Err(e)) => Err(format!("failed: {}", e.message)),
        (None, Ok(result)) => {
            if let Some(columns) = &case.columns {
                let got: Vec<String> = result.schema.fields().iter().map(|f| f.name().clone()).collect();
                if &got != columns {
                    return Err(format!("columns {got:?}, Athena gives {columns:?}"));
                }
            }
            let Some(rows) = &case.rows else { return Ok(()) };
            let mut got: Vec<Vec<String>> = render::rows(&result.batches)
                .into_iter()
                .map(|r| r.into_iter().map(|c| c.unwrap_or_else(|| "NULL".into())).collect())
                .collect();
            let mut want: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(expected_text).collect()).collect();
            if case.unordered {
                got.sort();
                want.sort();
            }
            if got == want { Ok(()) } else { Err(format!("rows {got:?}, Athena gives {want:?}")) }
        }
    }
}

#[test]
fn athena_dialect_suite() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .expect("tests/athena exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no suites in {}", suite_dir().display());
    let (mut failures, mut total) = (Vec::new(), 0);
    for file in &files {
        let label = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).expect("readable suite");
        let suite: Suite = toml::from_str(&text).unwrap_or_else(|e| panic!("{label}: {e}"));
        let root = tempfile::tempdir().expect("temp dir");
        for seed in &suite.files {
            let path = root.path().join(&seed.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &seed.content).unwrap();
        }
        let host = LocalHost::open(root.path()).expect("storage root");
        let engine = host.sql().expect("sql engine");
        for statement in &suite.setup {
            if let Err(e) = engine.query(statement) {
                failures.push(format!("{label} setup `{statement}`: {}", e.message));
            }
        }
        for case in &suite.cases {
            total += 1;
            if let Err(why) = run_case(engine.as_ref(), case) {
                failures.push(format!("{label} / {}: {why}\n    sql: {}", case.name, case.sql.trim()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} Athena cases differ:\n{}", failures.len(), failures.join("\n"));
    assert!(total >= 50, "the suite should hold at least 50 cases, found {total}");
}

/// The engine as guests reach it: `execute` reports rows written, `query_stream`
/// yields batches, and both work when called from inside another tokio runtime.
#[test]
fn execute_and_stream_work_inside_and_outside_a_runtime() {
    let root = tempfile::tempdir().expect("temp dir");
    let host = LocalHost::open(root.path()).expect("storage root");
    let engine = host.sql().expect("sql engine");
    let written = engine
        .execute("CREATE TABLE n WITH (format = 'PARQUET', external_location = 's3://lake/n/') AS SELECT * FROM (VALUES (1), (2), (3)) AS t(x)")
        .expect("ctas");
    assert_eq!(written, 3);
    assert!(engine.execute("SELECT 1").unwrap_err().message.contains("query"));

    let count_streamed = |engine: &dyn SqlEngine| {
        let mut stream = engine.query_stream("SELECT x FROM n ORDER BY x").expect("stream");
        assert_eq!(stream.schema().field(0).name(), "x");
        let mut rows = 0;
        while let Some(batch) = stream.next_batch().expect("batch") {
            rows += batch.num_rows();
        }
        rows
    };
    assert_eq!(count_streamed(engine.as_ref()), 3);

    let outer = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let inside = outer.block_on(async {
        assert_eq!(engine.execute("INSERT INTO n VALUES (4)").expect("insert"), 1);
        count_streamed(engine.as_ref())
    });
    assert_eq!(inside, 4);
}
