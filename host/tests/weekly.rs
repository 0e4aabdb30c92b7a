//! The weekly pipeline end to end, driven through the `engage` binary on
//! generated data: one uninterrupted run, one killed with SIGKILL and resumed,
//! and two runs at once in one storage root. All must agree on every score.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use engage::capabilities::sql::SqlEngine;
use engage::local_host::LocalHost;

const USERS: u64 = 3000;
const WEEKS: u64 = 4;

fn pipeline_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/weekly-engagement.toml")
}

fn engage(root: &Path) -> Command {
    support::engage_command(root, "weekly")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A storage root with the same generated snapshots in its landing zone.
fn root_with_sample(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    let landing = root.join("landing/users");
    let out = engage(&root)
        .args(["data", "generate", "--users", &USERS.to_string(), "--weeks", &WEEKS.to_string(), "--seed", "11"])
        .args(["--format", "csv", "--out"])
        .arg(&landing)
        .output()
        .unwrap();
    assert!(out.status.success(), "generate: {}", text(&out.stderr));
    root
}

fn run(root: &Path, extra: &[&str]) -> Output {
    engage(root).arg("run").arg(pipeline_file()).args(["--json", "--no-progress"]).args(extra).output().unwrap()
}

fn summary_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "the run failed:\n{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json prints the summary")
}

/// user_id → probability from a run's predictions table.
fn scores(root: &Path, table: &str) -> BTreeMap<String, f64> {
    let host = LocalHost::open(root).unwrap();
    let result = host.sql().unwrap().query(&format!("SELECT user_id, probability FROM {table}")).unwrap();
    let mut out = BTreeMap::new();
    for batch in &result.batches {
        let ids = batch.column(0).as_string::<i32>();
        let p = batch.column(1).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            assert!(!p.is_null(i), "user {} has no probability", ids.value(i));
            let previous = out.insert(ids.value(i).to_string(), p.value(i));
            assert!(previous.is_none(), "user {} scored twice in {table}", ids.value(i));
        }
    }
    out
}

fn count(root: &Path, sql: &str) -> i64 {
    let host = LocalHost::open(root).unwrap();
    let result = host.sql().unwrap().query(sql).unwrap();
    result.batches[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0)
}

struct Baseline {
    _dir: tempfile::TempDir,
    root: PathBuf,
    summary: serde_json::Value,
    scores: BTreeMap<String, f64>,
}

/// One uninterrupted run, shared by the tests that compare against it.
fn baseline() -> &'static Baseline {
    static BASELINE: OnceLock<Baseline> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with_sample(dir.path());
        let summary = summary_of(&run(&root, &[]));
        let scores = scores(&root, "engage.engagement_predictions");
        Baseline { _dir: dir, root, summary, scores }
    })
}

#[test]
fn the_weekly_run_scores_every_user_once_and_beats_the_baseline() {
    let Baseline { root, summary, scores, .. } = baseline();
    assert_eq!(summary["status"], "succeeded", "{summary:#}");

    // Accounting: every row read was accepted or quarantined.
    let ingest = &summary["ingest"];
    let read = ingest["rows_read"].as_u64().unwrap();
    assert_eq!(read, USERS * WEEKS);
    assert_eq!(read, ingest["rows_accepted"].as_u64().unwrap() + ingest["rows_quarantined"].as_u64().unwrap());

    // The model: clearly better than chance and than the logistic baseline.
    let auc = summary["model"]["auc"].as_f64().unwrap();
    let baseline_auc = summary["model"]["baseline_auc"].as_f64().unwrap();
    assert!(auc > 0.7, "AUC {auc}");
    assert!(auc > baseline_auc, "AUC {auc} vs baseline {baseline_auc}");

    // Every user of the newest week scored exactly once; segments add up.
    let newest_week_users = count(
        root,
        "SELECT count(*) FROM engage.users WHERE snapshot_date = (SELECT max(snapshot_date) FROM engage.users)",
    );
    assert_eq!(scores.len() as i64, newest_week_users);
    assert!(scores.values().all(|p| (0.0..=1.0).contains(p)));
    let segments = &summary["segments"];
    let by_segment: u64 = ["high", "medium", "low"].iter().map(|s| segments[*s].as_u64().unwrap()).sum();
    assert_eq!(by_segment, scores.len() as u64);
    assert_eq!(segments["users_scored"].as_u64().unwrap(), scores.len() as u64);

    // The published results and QA tables hold one row per scored user.
    assert_eq!(count(root, "SELECT count(*) FROM engage.engagement_results"), newest_week_users);
    assert_eq!(count(root, "SELECT count(DISTINCT user_id) FROM engage.engagement_results"), newest_week_users);
    assert_eq!(count(root, "SELECT count(*) FROM engage.engagement_qa"), newest_week_users);

    // The report opens from disk.
    let report = summary["report"].as_str().expect("a report path");
    let html = std::fs::read_to_string(report).expect("the report file exists");
    assert!(html.contains("<svg") && html.contains("ROC"), "the report has its charts");
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_same_results() {
    let expected = &baseline().scores;
    let dir = tempfile::tempdir().unwrap();
    let root = root_with_sample(dir.path());

    let mut child = engage(&root)
        .arg("run")
        .arg(pipeline_file())
        .args(["--json", "--no-progress"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the features have committed: mid-run, before training.
    let deadline = Instant::now() + Duration::from_secs(300);
    let run_id = loop {
        assert!(Instant::now() < deadline, "the run never reached the features stage");
        if let Some((id, record)) = newest_record(&root)
            && stage_status(&record, "features") == Some("committed")
        {
            break id;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let (_, record) = newest_record(&root).unwrap();
    assert_eq!(record["status"], "running", "a killed run's record says it was running");
    // As if it had also been killed inside qa-table and aggregate, after their first attempts
    // had built their tables: the resumed attempts, granted only their own scratch, must not be blocked.
    let leftovers: Vec<PathBuf> = ["qa-table", "aggregate"].iter().map(|stage| interrupted_attempt(&root, &run_id, stage)).collect();

    // The run record names the pipeline file, so resuming needs only the run id.
    let out = engage(&root).args(["run", "--resume", &run_id, "--json", "--no-progress"]).output().unwrap();
    let summary = summary_of(&out);
    assert_eq!(summary["run_id"], run_id.as_str());
    let ingest = summary["stages"].as_array().unwrap().iter().find(|s| s["name"] == "ingest").unwrap();
    assert_eq!(ingest["attempts"], 1, "committed stages are not rerun");
    assert_same_scores(expected, &scores(&root, "engage.engagement_predictions"));
    for leftover in leftovers {
        assert!(!leftover.exists(), "the scratch of the interrupted attempt is cleared: {}", leftover.display());
    }
}

/// Leaves what attempt 1 of `stage` leaves when killed after building its table: the table
/// registered over the attempt's scratch, and the attempt in the run record. Returns the scratch.
fn interrupted_attempt(root: &Path, run_id: &str, stage: &str) -> PathBuf {
    let run_db = format!("run_{}", run_id.replace('-', "_"));
    let table = if stage == "qa-table" { "qa_table" } else { "engagement_results" };
    let sql = LocalHost::open(root).unwrap().sql().unwrap();
    sql.execute(&format!("CREATE DATABASE IF NOT EXISTS {run_db}")).unwrap();
    let location = format!("s3://work/run={run_id}/{stage}/attempt=1/{table}/");
    sql.execute(&format!("CREATE TABLE {run_db}.{table} WITH (format = 'PARQUET', external_location = '{location}') AS SELECT 1 AS x"))
        .unwrap();
    let path = root.join("runs").join(run_id).join("run.json");
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let entry = record["stages"].as_array_mut().unwrap().iter_mut().find(|s| s["name"] == stage).unwrap();
    entry["status"] = "running".into();
    entry["started"] = "2026-12-07T00:00:00.000Z".into();
    entry["attempts"] = serde_json::json!([{ "attempt": 1, "shard": null, "started": "2026-12-07T00:00:00.000Z", "ended": null,
                                             "rows_in": 0, "rows_out": 0, "error": null }]);
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    root.join("work").join(format!("run={run_id}/{stage}/attempt=1"))
}

#[test]
fn two_runs_at_once_do_not_touch_each_other() {
    let expected = &baseline().scores;
    let dir = tempfile::tempdir().unwrap();
    let root = root_with_sample(dir.path());
    // Ingest first: both runs then read the same snapshots.
    let out = engage(&root).args(["ingest"]).arg(root.join("landing/users")).args(["--table", "users"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let spawn = || {
        engage(&root)
            .arg("run")
            .arg(pipeline_file())
            .args(["--json", "--no-progress"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let a = summary_of(&a.wait_with_output().unwrap());
    let b = summary_of(&b.wait_with_output().unwrap());
    assert_ne!(a["run_id"], b["run_id"]);
    for summary in [&a, &b] {
        let run_db = format!("run_{}", summary["run_id"].as_str().unwrap().replace('-', "_"));
        assert_same_scores(expected, &scores(&root, &format!("{run_db}.predictions")));
    }
    // Every published name, and runs/latest, end at the newer run; the older says what it left.
    let newer = a["run_id"].as_str().unwrap().max(b["run_id"].as_str().unwrap());
    let catalog = LocalHost::open(&root).unwrap().catalog();
    for name in ["engagement_results", "engagement_summary", "engagement_qa", "engagement_predictions"] {
        let table = catalog.table("engage", name).unwrap().unwrap();
        assert_eq!(table.properties["engage.published_by_run"], newer, "engage.{name}");
    }
    assert_eq!(std::fs::read_to_string(root.join("runs/latest")).unwrap().trim(), newer);
    let older = if a["run_id"] == newer { &b } else { &a };
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("runs").join(older["run_id"].as_str().unwrap()).join("run.json")).unwrap()).unwrap();
    let listed = |key: &str| record[key].as_array().map_or(0, Vec::len);
    assert_eq!(listed("published") + listed("superseded"), 4, "{record}");
    assert!(listed("published") == 0 || listed("published") == 4, "all of the older run's tables or none: {record}");
}

fn assert_same_scores(expected: &BTreeMap<String, f64>, actual: &BTreeMap<String, f64>) {
    assert_eq!(expected.len(), actual.len(), "the same users are scored");
    for (user, p) in expected {
        let q = actual.get(user).unwrap_or_else(|| panic!("user {user} not scored"));
        assert!((p - q).abs() < 1e-9, "user {user}: {p} vs {q}");
    }
}

fn newest_record(root: &Path) -> Option<(String, serde_json::Value)> {
    let runs = std::fs::read_dir(root.join("runs")).ok()?;
    let mut ids: Vec<String> = runs
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("run.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    let id = ids.pop()?;
    let bytes = std::fs::read(root.join("runs").join(&id).join("run.json")).ok()?;
    Some((id, serde_json::from_slice(&bytes).ok()?))
}

fn stage_status<'a>(record: &'a serde_json::Value, stage: &str) -> Option<&'a str> {
    record["stages"].as_array()?.iter().find(|s| s["name"] == stage)?["status"].as_str()
}

#[test]
fn the_next_week_compares_itself_with_the_last() {
    let first = baseline();
    assert_eq!(first.summary["status"], "succeeded");
    // The first run has nothing to compare with.
    let first_id = first.summary["run_id"].as_str().unwrap();
    let drift: serde_json::Value = serde_json::from_slice(&std::fs::read(first.root.join("runs").join(first_id).join("drift.json")).unwrap()).unwrap();
    assert!(drift["previous_run"].is_null() && drift["realized_auc"].is_null(), "{drift:#}");
    assert_eq!(drift["warnings"], serde_json::json!([]));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    // Copy the first run's storage root, then land next week's delivery: the
    // same users, a fifth snapshot, and last week's snapshot with its labels.
    let copy = Command::new("cp").arg("-r").arg(&first.root).arg(&root).status().unwrap();
    assert!(copy.success());
    let out = engage(&root)
        .args(["data", "generate", "--users", &USERS.to_string(), "--weeks", &(WEEKS + 1).to_string(), "--seed", "11"])
        .args(["--last-date", "2026-11-29", "--format", "csv", "--out"])
        .arg(root.join("landing/users"))
        .output()
        .unwrap();
    assert!(out.status.success(), "generate: {}", text(&out.stderr));
    let second = summary_of(&run(&root, &[]));
    assert_eq!(second["status"], "succeeded", "{second:#}");

    let run_id = second["run_id"].as_str().unwrap();
    let drift: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("runs").join(run_id).join("drift.json")).unwrap()).unwrap();
    assert_eq!(drift["previous_run"], first.summary["run_id"], "compared with the first run");
    assert_eq!(drift["features"].as_array().unwrap().len(), 14, "every model feature");
    // Last week's model on last week's users, now that their labels are in.
    let realized = drift["realized_auc"].as_f64().expect("labels arrived for last week");
    assert!(realized > 0.65, "realized AUC {realized}");
    let moved: u64 = drift["segment_migration"].as_object().unwrap().values().flat_map(|row| row.as_object().unwrap().values()).map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(moved, USERS, "every user was scored in both weeks");

    let out = engage(&root).args(["runs", "compare", first.summary["run_id"].as_str().unwrap(), run_id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("segment migration") && printed.contains(&format!("realized AUC of {}", first.summary["run_id"].as_str().unwrap())), "{printed}");
}

#[test]
fn the_pipelines_model_keys_predictions_and_explanations_to_users() {
    let Baseline { root, summary, .. } = baseline();
    let run_id = summary["run_id"].as_str().unwrap();
    let model = root.join("models/engagement").join(format!("run={run_id}")).join("model.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    let attrs = &json["learner"]["attributes"];
    let keys: Vec<&String> = attrs.as_object().unwrap().keys().collect();
    assert_eq!(attrs["engage_id_column"], "user_id", "{keys:?}");
    assert_eq!(attrs["engage_label"], "engaged_next_7d");
    assert!(attrs["engage_encoding"].as_str().unwrap().contains("session_recency") && attrs["engage_baseline"].is_string(), "{keys:?}");

    let scoring = format!("run_{}.scoring_features", run_id.replace('-', "_"));
    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("pp.csv");
    let out = engage(root).args(["model", "predict"]).arg(&model).arg(&scoring).arg("--out").arg(&out_csv).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&out_csv).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("user_id,probability,confidence,reasons"));
    let user = lines.next().unwrap().split(',').next().unwrap().to_string();
    assert!(user.starts_with('u'), "{user}");

    let out = engage(root).args(["model", "explain"]).arg(&model).args([&scoring, "--user", &user]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.starts_with(&format!("user_id {user}: probability")) && shown.contains("reasons: "), "{shown}");

    // The training table holds a row per user and labelled week: explain --user names the weeks instead of picking one.
    let training = format!("run_{}.training_features", run_id.replace('-', "_"));
    let host = LocalHost::open(root).unwrap();
    let result = host
        .sql()
        .unwrap()
        .query(&format!("SELECT user_id, count(*) AS n FROM {training} GROUP BY user_id HAVING count(*) > 1 ORDER BY user_id LIMIT 1"))
        .unwrap();
    let user = result.batches[0].column(0).as_string::<i32>().value(0).to_string();
    let n = result.batches[0].column(1).as_primitive::<arrow::datatypes::Int64Type>().value(0);
    let out = engage(root).args(["model", "explain"]).arg(&model).args([&training, "--user", &user]).output().unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{n} rows have user_id = '{user}' (snapshot_date 20")) && err.contains("--where snapshot_date="), "{err}");
    let date = err.split("--where snapshot_date=").nth(1).unwrap().split([',', ' ']).next().unwrap().to_string();
    let out = engage(root).args(["model", "explain"]).arg(&model).args([&training, "--user", &user, "--where", &format!("snapshot_date={date}")]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("reasons: "));
}
