//! The SQL stage plugins (prepare, qa-table, aggregate) against generated,
//! ingested data on the local host: the tables they build, their summaries, their
//! data-quality failures, and a stage without the sql grant being stopped.

// The helpers hand back the runtime's own GuestError, as Runtime::run_stage does.
#![allow(clippy::result_large_err)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use engage::capabilities::llm::NoLanguageModel;
use engage::capabilities::sql::SqlEngine;
use engage::capabilities::sql::local::LocalSql;
use engage::capabilities::{Grants, StorageGrant};
use engage::data::generate::{GenerateOptions, generate};
use engage::data::ingest::{IngestOptions, ingest_files};
use engage::local_host::LocalHost;
use engage::runtime::stage::StageRequest;
use engage::runtime::{Capabilities, FailureKind, GuestError, GuestLimits};
use serde_json::{Value, json};

const USERS: u64 = 3000;
const RUN_ID: &str = "20261125-101500-a3f9";
const DB: &str = "run_20261125_101500_a3f9";

struct Env {
    _dir: tempfile::TempDir,
    sql: Arc<LocalSql>,
    caps: Capabilities,
}

/// `USERS` users over four weekly snapshots (2026-11-01 .. 2026-11-22, the newest unlabelled),
/// of which the newest `weeks` are ingested as `engage.users`.
fn env(weeks: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(&GenerateOptions::new(USERS, dir.path().join("raw"))).unwrap();
    let host = LocalHost::open(&dir.path().join("root")).unwrap();
    let files = &generated.files[..weeks];
    let report =
        ingest_files(host.storage.as_ref(), host.catalog.as_ref(), files, &IngestOptions::new("users")).unwrap();
    assert_eq!(report.rows_quarantined, 0, "{report}");
    let sql = host.sql().unwrap();
    let caps = Capabilities::new(host.object_store(), sql.clone(), Arc::new(NoLanguageModel));
    Env { _dir: dir, sql, caps }
}

fn limits() -> GuestLimits {
    GuestLimits { memory_bytes: 256 << 20, timeout: Duration::from_secs(120), output_bytes: 4 << 20 }
}

fn sql_grants() -> Grants {
    Grants {
        storage: vec![
            StorageGrant::parse("read:processed/").unwrap(),
            StorageGrant::parse(&format!("write:work/run={RUN_ID}/")).unwrap(),
        ],
        sql: true,
        llm: false,
        sql_database: Some(DB.to_string()),
    }
}

fn scratch(stage: &str, attempt: u32) -> String {
    format!("s3://work/run={RUN_ID}/{stage}/attempt={attempt}/")
}

fn run(env: &Env, plugin: &str, params: Value, grants: Grants) -> Result<Value, GuestError> {
    let request = StageRequest { run_id: RUN_ID, stage: plugin, params, grants, limits: limits() };
    // Plugin files are named after their crates: `qa-table` is qa_table.wasm.
    let outcome = support::runtime().run_stage(&support::load(&plugin.replace('-', "_")), request, &env.caps)?;
    Ok(serde_json::from_str(&outcome.summary).expect("the summary is JSON"))
}

fn prepare(env: &Env, extra: Value) -> Result<Value, GuestError> {
    let mut params = json!({ "source": "engage.users", "database": DB, "location": scratch("prepare", 1) });
    params.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    run(env, "prepare", params, sql_grants())
}

/// Every value of a query, rendered as text (NULL as "NULL"), row by row.
fn rows(env: &Env, statement: &str) -> Vec<Vec<String>> {
    let result = env.sql.query(statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
    let mut out = Vec::new();
    for batch in &result.batches {
        let columns: Vec<_> =
            batch.columns().iter().map(|c| arrow::compute::cast(c, &DataType::Utf8).unwrap()).collect();
        for i in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| if c.is_null(i) { "NULL".to_string() } else { c.as_string::<i32>().value(i).to_string() })
                    .collect(),
            );
        }
    }
    out
}

fn number(env: &Env, statement: &str) -> f64 {
    let rows = rows(env, statement);
    assert_eq!(rows.len(), 1, "{statement}: one row expected");
    rows[0][0].parse().unwrap_or_else(|_| panic!("{statement}: '{}' is not a number", rows[0][0]))
}

/// Deterministic stand-in for the predict step: a hash of the user id as probability,
/// confidence and segment by the rules of docs/pipeline.md (threshold 0.5), and a reason.
fn make_predictions(env: &Env, extra_rows: &str) {
    let statement = format!(
        "CREATE TABLE {DB}.predictions WITH (format = 'PARQUET', external_location = 's3://work/run={RUN_ID}/predict/attempt=1/predictions/') AS \
         SELECT user_id, snapshot_date, p AS probability, \
                CASE WHEN p >= 0.5 THEN (p - 0.5) / 0.5 ELSE (0.5 - p) / 0.5 END AS confidence, \
                CASE WHEN p >= 0.6 THEN 'high' WHEN p >= 0.3 THEN 'medium' ELSE 'low' END AS segment, \
                CASE WHEN p >= 0.5 THEN 'high sessions_7d: +0.40' ELSE 'low sessions_7d: -0.40' END AS reasons \
         FROM (SELECT user_id, snapshot_date, \
                      CAST(abs(from_big_endian_64(xxhash64(to_utf8(user_id)))) % 1000 AS double) / 1000.0 AS p \
               FROM {DB}.scoring_set {extra_rows})"
    );
    env.sql.execute(&statement).unwrap();
}

fn check<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {summary}"))
}

#[test]
fn prepare_builds_the_training_and_scoring_sets() {
    let env = env(4);
    let summary = prepare(&env, json!({})).expect("prepare runs");

    assert_eq!(summary["training_weeks"], json!(["2026-11-15", "2026-11-08", "2026-11-01"]), "{summary}");
    assert_eq!(summary["scoring_week"], "2026-11-22");
    assert_eq!(summary["training_rows"], 3 * USERS);
    assert_eq!(summary["scoring_rows"], USERS);
    assert_eq!(summary["rows_in"], 4 * USERS);
    assert_eq!(summary["rows_out"], 4 * USERS);
    assert_eq!(summary["outputs"], json!([format!("{DB}.training_set"), format!("{DB}.scoring_set")]));

    // The tables hold what the summary says, measured independently.
    assert_eq!(number(&env, &format!("SELECT count(*) FROM {DB}.training_set")), (3 * USERS) as f64);
    assert_eq!(number(&env, &format!("SELECT count(*) FROM {DB}.training_set WHERE engaged_next_7d IS NULL")), 0.0);
    let scoring_weeks = rows(&env, &format!("SELECT DISTINCT CAST(snapshot_date AS varchar) FROM {DB}.scoring_set"));
    assert_eq!(scoring_weeks, vec![vec!["2026-11-22".to_string()]]);
    assert_eq!(number(&env, &format!("SELECT count(DISTINCT user_id) FROM {DB}.scoring_set")), USERS as f64);
    let columns = rows(&env, &format!("SHOW COLUMNS IN {DB}.training_set"));
    assert_eq!(columns.len(), 75, "user_id, 72 features, the label and snapshot_date");

    let rate = number(&env, &format!("SELECT avg(CAST(engaged_next_7d AS double)) FROM {DB}.training_set"));
    assert!((summary["label_rate"].as_f64().unwrap() - rate).abs() < 1e-12, "{summary}");
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{summary}");
    for name in
        ["training_rows", "scoring_rows", "label_rate", "null_rate:training_set.plan", "null_rate:scoring_set.user_id"]
    {
        let c = check(&summary, name);
        assert!(c["value"].is_number() && c["limit"].is_string(), "{c}");
    }
    assert_eq!(check(&summary, "training_rows")["value"], 9000.0);
    assert_eq!(check(&summary, "training_rows")["limit"], ">= 1000");

    // A retry writes to its own attempt prefix and rebuilds the tables.
    let again =
        prepare(&env, json!({ "location": scratch("prepare", 2), "training_weeks": 1 })).expect("a rerun rebuilds");
    assert_eq!(again["training_weeks"], json!(["2026-11-15"]));
    assert_eq!(number(&env, &format!("SELECT count(*) FROM {DB}.training_set")), USERS as f64);
}

#[test]
fn a_training_cap_keeps_a_hash_sample_of_whole_users() {
    let env = env(4);
    // A third of the labelled rows, written as a pipeline ${var} gives it (text).
    let cap = USERS;
    let summary = prepare(&env, json!({ "max_training_rows": cap.to_string() })).expect("prepare runs");
    let kept = summary["training_rows"].as_u64().unwrap();
    assert_eq!(summary["training_rows_available"], 3 * USERS, "{summary}");
    assert!(kept % 3 == 0 && (kept as f64 - cap as f64).abs() < 0.2 * cap as f64, "about {cap} rows of whole users: {summary}");
    let users = number(&env, &format!("SELECT count(DISTINCT user_id) FROM {DB}.training_set"));
    assert_eq!(users * 3.0, kept as f64, "every sampled user keeps all three weeks");
    assert_eq!(summary["scoring_rows"], USERS, "scoring is never sampled");
    // The same users on a rerun.
    let first = rows(&env, &format!("SELECT user_id FROM {DB}.training_set ORDER BY user_id LIMIT 20"));
    prepare(&env, json!({ "location": scratch("prepare", 2), "max_training_rows": cap })).expect("a rerun");
    assert_eq!(rows(&env, &format!("SELECT user_id FROM {DB}.training_set ORDER BY user_id LIMIT 20")), first);
    // A cap above the labelled rows keeps everyone.
    let all = prepare(&env, json!({ "location": scratch("prepare", 3), "max_training_rows": 10 * USERS })).expect("no sample");
    assert_eq!((all["training_rows"].as_u64(), all["training_sample_per_million_users"].clone()), (Some(3 * USERS), Value::Null));
    let error = prepare(&env, json!({ "max_training_rows": "lots" })).expect_err("not a number");
    assert!(error.to_string().contains("param 'max_training_rows' must be a whole number, got 'lots'"), "{error}");
}

#[test]
fn a_labelled_newest_snapshot_is_still_the_one_scored() {
    let env = env(3);
    let summary = prepare(&env, json!({})).expect("prepare runs");
    assert_eq!(summary["scoring_week"], "2026-11-15", "{summary}");
    assert_eq!(summary["scoring_week_labelled"], true);
    assert_eq!(summary["training_weeks"], json!(["2026-11-08", "2026-11-01"]), "the scoring week never trains");
    assert_eq!(summary["training_rows"], 2 * USERS);
}

#[test]
fn a_failed_data_quality_check_names_the_check_its_value_and_limit() {
    let env = env(4);
    let error = prepare(
        &env,
        json!({ "min_training_rows": 1_000_000, "label_rate_max": 0.1, "max_null_rate": { "days_since_last_session": 0.0, "plan": 0.0 } }),
    )
    .expect_err("no data meets these thresholds");
    assert_eq!(error.kind, FailureKind::PluginError, "{}", error.report());
    let text = error.to_string();
    assert!(text.contains("data-quality: stage 'prepare': 4 of 9 checks failed: "), "{text}");
    assert!(text.contains("training_rows = 9000 (limit >= 1000000)"), "{text}");
    assert!(text.contains("label_rate = 0.") && text.contains("(limit between 0.01 and 0.1)"), "{text}");
    for table in ["training_set", "scoring_set"] {
        assert!(text.contains(&format!("null_rate:{table}.days_since_last_session = 0.")), "{text}");
    }
    assert!(text.contains("(limit <= 0)"), "{text}");
    assert!(!text.contains("null_rate:training_set.plan"), "passing checks are not listed: {text}");
}

#[test]
fn qa_table_and_aggregate_build_their_tables_over_the_predictions() {
    let env = env(4);
    prepare(&env, json!({})).expect("prepare runs");
    make_predictions(&env, "");

    let qa = run(&env, "qa-table", json!({ "database": DB, "location": scratch("qa-table", 1) }), sql_grants())
        .expect("qa-table runs");
    assert_eq!(qa["tables"]["qa_table"], USERS, "{qa}");
    assert_eq!(qa["outputs"], json!([format!("{DB}.qa_table")]));
    assert!(qa["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{qa}");
    let qa_rows = rows(
        &env,
        &format!(
            "SELECT count(*), count(DISTINCT user_id), min(probability_pct), max(probability_pct), min(rank), max(rank) FROM {DB}.qa_table"
        ),
    );
    let [n, distinct, min_pct, max_pct, min_rank, max_rank] = &qa_rows[0][..] else { panic!() };
    assert_eq!((n.as_str(), distinct.as_str()), ("3000", "3000"));
    assert!(min_pct.parse::<f64>().unwrap() >= 0.0 && max_pct.parse::<f64>().unwrap() <= 100.0);
    assert_eq!((min_rank.as_str(), max_rank.as_str()), ("1", "3000"));
    let top = rows(&env, &format!("SELECT probability_pct FROM {DB}.qa_table WHERE rank = 1"));
    let best = number(&env, &format!("SELECT round(max(probability) * 100, 1) FROM {DB}.predictions"));
    assert_eq!(top[0][0].parse::<f64>().unwrap(), best, "rank 1 is the highest probability");

    let params = json!({
        "database": DB, "location": scratch("aggregate", 1), "run_id": RUN_ID,
        "model_uri": format!("s3://models/engagement/run={RUN_ID}/model.json"), "run_started": "2026-11-25T10:15:00.123Z",
    });
    let agg = run(&env, "aggregate", params, sql_grants()).expect("aggregate runs");
    assert_eq!(agg["tables"]["engagement_results"], USERS, "{agg}");
    assert_eq!(agg["rows_out"], USERS);

    let results = format!("{DB}.engagement_results");
    assert_eq!(number(&env, &format!("SELECT count(DISTINCT user_id) FROM {results}")), USERS as f64);
    let meta = rows(&env, &format!("SELECT DISTINCT run_id, model_uri, to_unixtime(scored_at) FROM {results}"));
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0][0], RUN_ID);
    assert!(meta[0][1].ends_with("/model.json"));
    assert_eq!(
        meta[0][2].parse::<f64>().unwrap(),
        1_795_601_700.123,
        "scored_at is run_started, 2026-11-25T10:15:00.123Z"
    );
    assert_eq!(rows(&env, &format!("SHOW COLUMNS IN {results}")).len(), 75 + 7, "raw columns + prediction + reasons + metadata");
    assert_eq!(number(&env, &format!("SELECT count(*) FROM {results} WHERE reasons LIKE '% sessions_7d: %'")), USERS as f64, "reasons ride along");

    // Segment counts: the summary JSON, the summary table and the predictions agree.
    for segment in ["high", "medium", "low"] {
        let expected = number(&env, &format!("SELECT count(*) FROM {DB}.predictions WHERE segment = '{segment}'"));
        assert_eq!(agg["segments"][segment].as_f64().unwrap(), expected, "{agg}");
        let in_table = number(
            &env,
            &format!("SELECT users FROM {DB}.engagement_summary WHERE dimension = 'segment' AND value = '{segment}'"),
        );
        assert_eq!(in_table, expected);
    }
    // Each dimension partitions the users.
    let totals = rows(
        &env,
        &format!("SELECT dimension, sum(users) FROM {DB}.engagement_summary GROUP BY dimension ORDER BY dimension"),
    );
    let expected: Vec<Vec<String>> =
        ["country", "overall", "plan", "segment"].iter().map(|d| vec![d.to_string(), USERS.to_string()]).collect();
    assert_eq!(totals, expected);
    let overall = rows(
        &env,
        &format!(
            "SELECT avg_probability, share_high, label_rate FROM {DB}.engagement_summary WHERE dimension = 'overall'"
        ),
    );
    let avg = number(&env, &format!("SELECT avg(probability) FROM {DB}.predictions"));
    assert!((overall[0][0].parse::<f64>().unwrap() - avg).abs() < 1e-9);
    let share_high = agg["segments"]["high"].as_f64().unwrap() / USERS as f64;
    assert!((overall[0][1].parse::<f64>().unwrap() - share_high).abs() < 1e-9);
    assert_eq!(overall[0][2], "NULL", "the scoring week has no labels yet");
}

#[test]
fn broken_predictions_fail_qa_table_and_aggregate_with_data_quality() {
    let env = env(4);
    prepare(&env, json!({})).expect("prepare runs");
    // One user twice, the second time for another week with a probability out of range; one user not at all.
    let first = rows(&env, &format!("SELECT min(user_id), max(user_id) FROM {DB}.scoring_set"));
    let (dup, gone) = (&first[0][0], &first[0][1]);
    make_predictions(
        &env,
        &format!(
            "WHERE user_id <> '{gone}' UNION ALL SELECT user_id, DATE '2026-11-15', 1.5 FROM {DB}.scoring_set WHERE user_id = '{dup}'"
        ),
    );

    let error = run(&env, "qa-table", json!({ "database": DB, "location": scratch("qa-table", 1) }), sql_grants())
        .expect_err("qa-table must refuse these predictions");
    let text = error.to_string();
    assert!(text.contains("data-quality:"), "{text}");
    for failed in [
        "scoring_users_without_prediction = 1 (limit <= 0)",
        "scoring_users_with_several_predictions = 1 (limit <= 0)",
        "probability_null_or_outside_0_1 = 1 (limit <= 0)",
        "predictions_for_another_week = 1 (limit <= 0)",
    ] {
        assert!(text.contains(failed), "missing '{failed}' in {text}");
    }

    let error = run(&env, "aggregate", json!({ "database": DB, "location": scratch("aggregate", 1) }), sql_grants())
        .expect_err("aggregate must refuse these predictions");
    let text = error.to_string();
    assert!(text.contains("data-quality:") && text.contains("results_without_probability = 1"), "{text}");
    assert!(text.contains("results_rows_vs_scoring_rows = 3001 (limit between 3000 and 3000)"), "{text}");
}

#[test]
fn a_stage_without_the_sql_grant_is_denied() {
    let env = env(4);
    let grants = Grants { sql: false, ..sql_grants() };
    let params = json!({ "source": "engage.users", "database": DB, "location": scratch("prepare", 1) });
    let error = run(&env, "prepare", params, grants).expect_err("no sql grant, no sql");
    assert_eq!(error.kind, FailureKind::Denied, "{}", error.report());
    let text = error.to_string();
    assert!(text.contains("stage 'prepare'") && text.contains("not granted sql"), "{text}");
    assert!(rows(&env, "SHOW DATABASES").iter().all(|r| r[0] != DB), "nothing was created");
}

/// Every file under `bucket` of the env's storage root.
fn files_in(env: &Env, bucket: &str) -> Vec<String> {
    let root = env._dir.path().join("root").join(bucket);
    let mut out = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                todo.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn sql_reading_a_table_outside_the_storage_grants_is_denied() {
    let env = env(4);
    // `sql` and its own scratch, but not `read:processed/` where engage.users lives.
    let grants = Grants { storage: vec![StorageGrant::parse(&format!("write:work/run={RUN_ID}/")).unwrap()], ..sql_grants() };
    let params = json!({ "source": "engage.users", "database": DB, "location": scratch("prepare", 1) });
    let error = run(&env, "prepare", params, grants).expect_err("engage.users is not readable with these grants");
    assert_eq!(error.kind, FailureKind::Denied, "{}", error.report());
    let text = error.to_string();
    assert!(text.contains("stage 'prepare'") && text.contains("denied sql:"), "{text}");
    assert!(text.contains("reading table engage.users needs read:processed/"), "{text}");
    assert!(text.contains(&format!("granted: write:work/run={RUN_ID}/")), "{text}");
    assert!(files_in(&env, "work").is_empty(), "nothing was written: {:?}", files_in(&env, "work"));
}

#[test]
fn sql_writing_outside_the_storage_grants_is_denied_and_writes_nothing() {
    let env = env(4);
    // The repro of the escape: prepare told to build its tables under models/, granted only its scratch.
    let params = json!({ "source": "engage.users", "database": DB, "location": "s3://models/evil/" });
    let error = run(&env, "prepare", params, sql_grants()).expect_err("models/ is not writable with these grants");
    assert_eq!(error.kind, FailureKind::Denied, "{}", error.report());
    let text = error.to_string();
    assert!(text.contains("stage 'prepare'") && text.contains("denied sql:"), "{text}");
    assert!(text.contains(&format!("creating table {DB}.training_set needs write:models/evil/training_set/")), "{text}");
    assert!(files_in(&env, "models").is_empty(), "nothing was written: {:?}", files_in(&env, "models"));
    assert!(rows(&env, &format!("SHOW TABLES IN {DB}")).is_empty(), "no table was catalogued");
}

/// The sql capability as a guest calls it, for statements no shipped plugin issues.
mod sql_capability {
    use super::*;
    use engage::capabilities::sql::host::SqlHost;
    use engage::runtime::HostError;
    use engage::runtime::bindings::sql::Host;

    fn host(env: &Env, storage: &[&str]) -> SqlHost {
        let storage = storage.iter().map(|g| StorageGrant::parse(g).unwrap()).collect();
        SqlHost::new("probe", Arc::new(Grants { storage, ..sql_grants() }), env.sql.clone(), 4 << 20)
    }

    fn denial<T>(result: Result<T, HostError>) -> String {
        match result {
            Ok(_) => panic!("the statement ran"),
            Err(HostError::Trap(e)) => e.to_string(),
            Err(HostError::Capability(e)) => panic!("an error for the guest, not a denial: {e}"),
        }
    }

    fn ok<T>(result: Result<T, HostError>) -> T {
        match result {
            Ok(value) => value,
            Err(HostError::Trap(e)) => panic!("stopped: {e}"),
            Err(HostError::Capability(e)) => panic!("failed: {e}"),
        }
    }

    #[test]
    fn reads_need_a_read_grant_over_the_table_and_its_partitions() {
        let env = env(2);
        let mut none = host(&env, &[]);
        let text = denial(none.query("SELECT count(*) FROM engage.users".into()));
        assert!(text.contains("stage 'probe' was denied sql: reading table engage.users needs read:processed/"), "{text}");
        assert!(text.contains("(granted: none)"), "{text}");
        // Through a CTE, a subquery or query-batches alike.
        let text = denial(none.query_batches("WITH u AS (SELECT * FROM users) SELECT * FROM (SELECT user_id FROM u) x".into()));
        assert!(text.contains("reading table engage.users"), "{text}");
        // Catalog-only statements need only sql.
        ok(none.query("SHOW TABLES IN engage".into()));
        ok(none.query("DESCRIBE engage.users".into()));
        ok(none.query("SELECT 1 AS one".into()));
        // A grant over one partition's prefix is not a grant over the table.
        let partition = env.sql.catalog().unwrap().table("engage", "users").unwrap().unwrap().partitions[0].location.clone();
        let one = partition.strip_prefix("s3://").unwrap();
        let text = denial(host(&env, &[&format!("read:{one}")]).query("SELECT count(*) FROM engage.users".into()));
        assert!(text.contains("reading table engage.users needs read:processed/"), "{text}");

        let mut granted = host(&env, &["read:processed/"]);
        assert!(!ok(granted.query("SELECT count(*) FROM engage.users".into())).is_empty());
    }

    #[test]
    fn writes_need_a_write_grant_over_the_target_and_write_nothing_otherwise() {
        let env = env(2);
        let scratch = format!("work/run={RUN_ID}/probe/");
        let mut sql = host(&env, &["read:processed/", &format!("write:{scratch}")]);
        ok(sql.execute(format!("CREATE DATABASE IF NOT EXISTS {DB}")));

        // CTAS outside the write grant, with the read granted.
        let ctas = |location: &str| {
            format!("CREATE TABLE {DB}.t WITH (format = 'PARQUET', external_location = '{location}') AS SELECT user_id FROM engage.users")
        };
        let text = denial(sql.execute(ctas("s3://models/evil/")));
        assert!(text.contains(&format!("creating table {DB}.t needs write:models/evil/")), "{text}");
        // A read grant is not a write grant, and `..` does not climb out of a granted prefix.
        assert!(denial(sql.execute(ctas("s3://processed/t/"))).contains("needs write:processed/t/"));
        let text = denial(sql.execute(ctas(&format!("s3://{scratch}../../../models/evil/"))));
        assert!(text.contains("'.' and '..' segments are not allowed"), "{text}");
        // No location: the default table root, not granted either.
        let text = denial(sql.execute(format!("CREATE TABLE {DB}.t AS SELECT 1 AS one")));
        assert!(text.contains("needs write:warehouse/tables/"), "{text}");
        // An external table over someone else's location.
        let text = denial(sql.execute(format!("CREATE EXTERNAL TABLE {DB}.x (user_id string) STORED AS PARQUET LOCATION 's3://models/evil/'")));
        assert!(text.contains(&format!("creating table {DB}.x needs write:models/evil/")), "{text}");
        assert!(files_in(&env, "models").is_empty() && files_in(&env, "warehouse").is_empty());
        assert!(rows(&env, &format!("SHOW TABLES IN {DB}")).is_empty(), "no table was catalogued");

        // The granted case: CTAS into the scratch, then INSERT into it.
        let rows_written = ok(sql.execute(ctas(&format!("s3://{scratch}t/"))));
        assert!(rows_written > 0);
        assert!(ok(sql.execute(format!("INSERT INTO {DB}.t SELECT user_id FROM engage.users"))) > 0);

        // The same table, reached by a stage that may only read it: no INSERT, no reading engage.users.
        let mut reader = host(&env, &[&format!("read:{scratch}")]);
        ok(reader.query(format!("SELECT count(*) FROM {DB}.t")));
        let before = files_in(&env, "work").len();
        let text = denial(reader.execute(format!("INSERT INTO {DB}.t SELECT user_id FROM {DB}.t")));
        assert!(text.contains(&format!("inserting into table {DB}.t needs write:{scratch}t/")), "{text}");
        assert_eq!(files_in(&env, "work").len(), before, "the INSERT wrote nothing");

        // Dropping a table (or its partitions) it may only read: the table a later step trusts stays.
        let text = denial(reader.execute(format!("DROP TABLE {DB}.t")));
        assert!(text.contains(&format!("dropping table {DB}.t needs write:{scratch}t/")), "{text}");
        let text = denial(sql.execute("DROP TABLE engage.users".to_string()));
        assert!(text.contains("DROP TABLE of table engage.users is outside its run's database"), "{text}");
        assert!(!rows(&env, "SHOW TABLES IN engage").is_empty(), "engage.users is still catalogued");
        // Its own table it may drop.
        ok(sql.execute(format!("DROP TABLE {DB}.t")));
    }

    /// Tables outside the run's database are denied by statement kind, whatever the storage grants
    /// reach: here every bucket involved is writable, so the database is the only thing to deny.
    fn denied_outside_the_run_database(statement: &str, kind: &str, target: &str) -> Env {
        let env = env(2);
        let mut sql = host(&env, &["write:processed/", "write:work/"]);
        let text = denial(sql.execute(statement.to_string()));
        let expected = format!(
            "stage 'probe' was denied sql: {kind} of {target} is outside its run's database: \
             a stage may create, change or drop tables only in its run's database {DB}"
        );
        assert!(text.contains(&expected), "{text}");
        env
    }

    fn engage_tables(env: &Env) -> Vec<String> {
        rows(env, "SHOW TABLES IN engage").into_iter().map(|r| r[0].clone()).collect()
    }

    #[test]
    fn ctas_outside_the_run_database_is_denied() {
        // The repro: a lasting engage table over the run's scratch, which cleanup later removes.
        let location = format!("s3://work/run={RUN_ID}/probe/evil2/");
        let ctas = |db: &str| format!("CREATE TABLE {db}.evil2 WITH (format='PARQUET', external_location='{location}') AS SELECT 1 AS x");
        let env = denied_outside_the_run_database(&ctas("engage"), "CREATE TABLE AS SELECT", "table engage.evil2");
        assert_eq!(engage_tables(&env), ["users"], "nothing was catalogued in engage");
        assert!(files_in(&env, "work").is_empty(), "nothing was written: {:?}", files_in(&env, "work"));
        // The same statement into the run's database is what stages do.
        let mut sql = host(&env, &["write:work/"]);
        ok(sql.execute(format!("CREATE DATABASE IF NOT EXISTS {DB}")));
        assert_eq!(ok(sql.execute(ctas(DB))), 1);
    }

    #[test]
    fn create_external_table_outside_the_run_database_is_denied() {
        let statement = format!("CREATE EXTERNAL TABLE engage.evil (x int) STORED AS PARQUET LOCATION 's3://work/run={RUN_ID}/evil/'");
        let env = denied_outside_the_run_database(&statement, "CREATE EXTERNAL TABLE", "table engage.evil");
        assert_eq!(engage_tables(&env), ["users"]);
    }

    #[test]
    fn insert_outside_the_run_database_is_denied() {
        let env = denied_outside_the_run_database("INSERT INTO engage.users SELECT * FROM engage.users", "INSERT INTO", "table engage.users");
        assert_eq!(rows(&env, "SELECT count(*) FROM engage.users")[0][0], (2 * USERS).to_string(), "no row was added");
    }

    #[test]
    fn drop_table_outside_the_run_database_is_denied() {
        let env = denied_outside_the_run_database("DROP TABLE IF EXISTS engage.users", "DROP TABLE", "table engage.users");
        assert_eq!(engage_tables(&env), ["users"]);
    }

    #[test]
    fn add_partition_outside_the_run_database_is_denied() {
        let statement = "ALTER TABLE engage.users ADD PARTITION (snapshot_date = DATE '2026-12-06') LOCATION 's3://work/evil/'";
        let env = denied_outside_the_run_database(statement, "ALTER TABLE ADD PARTITION", "table engage.users");
        assert_eq!(rows(&env, "SHOW PARTITIONS engage.users").len(), 2);
    }

    #[test]
    fn drop_partition_outside_the_run_database_is_denied() {
        let statement = "ALTER TABLE engage.users DROP PARTITION (snapshot_date = DATE '2026-11-22')";
        let env = denied_outside_the_run_database(statement, "ALTER TABLE DROP PARTITION", "table engage.users");
        assert_eq!(rows(&env, "SHOW PARTITIONS engage.users").len(), 2);
    }

    #[test]
    fn alter_columns_outside_the_run_database_is_denied() {
        denied_outside_the_run_database("ALTER TABLE engage.users ADD COLUMNS (evil string)", "ALTER TABLE ADD COLUMNS", "table engage.users");
    }

    #[test]
    fn msck_repair_outside_the_run_database_is_denied() {
        denied_outside_the_run_database("MSCK REPAIR TABLE engage.users", "MSCK REPAIR TABLE", "table engage.users");
    }

    #[test]
    fn create_database_other_than_the_run_database_is_denied() {
        let env = denied_outside_the_run_database("CREATE DATABASE evil", "CREATE DATABASE", "database evil");
        denied_outside_the_run_database("CREATE SCHEMA IF NOT EXISTS evil", "CREATE DATABASE", "database evil");
        assert!(rows(&env, "SHOW DATABASES").iter().all(|r| r[0] != "evil"));
        // Views are not accepted at all (the parser refuses them), so they cannot escape either.
        assert!(host(&env, &["write:work/"]).execute("CREATE VIEW engage.v AS SELECT 1 AS x".into()).is_err());
    }
}

#[test]
fn no_labelled_week_fails_prepare_with_data_quality() {
    let env = env(1);
    let error = prepare(&env, json!({})).expect_err("nothing to train on");
    let text = error.to_string();
    assert!(text.contains("data-quality:") && text.contains("training_rows = 0 (limit >= 1000)"), "{text}");
    assert!(!text.contains("scoring_rows"), "the newest week is there to score: {text}");
}

#[test]
fn bad_params_name_the_param() {
    let env = env(1);
    let error = prepare(&env, json!({ "database": "run-x; DROP" })).expect_err("not a database name");
    assert!(error.to_string().contains("param 'database': 'run-x; DROP' is not a database name"), "{error}");
    let error = prepare(&env, json!({ "location": "work/x/" })).expect_err("not an s3 location");
    assert!(error.to_string().contains("param 'location'"), "{error}");
    let error = run(
        &env,
        "aggregate",
        json!({ "database": DB, "location": scratch("aggregate", 1), "run_started": "yesterday" }),
        sql_grants(),
    )
    .expect_err("not a time");
    assert!(error.to_string().contains("param 'run_started': 'yesterday' is not an RFC 3339 time"), "{error}");
}
