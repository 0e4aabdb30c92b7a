//! The native steps on generated data, called directly with hand-built
//! contexts: ingest → (prepare, as a CTAS) → features → train → predict (two
//! shards, one retried) → knowledge.

mod support;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use engage::capabilities::Grants;
use engage::capabilities::sql::QueryResult;
use engage::data::generate::{GenerateOptions, OutputFormat, generate};
use engage::pipeline::setup::local_services_with;
use engage::pipeline::step::{ErrorKind, Progress, Services, Shard, StepContext, StepError, StepOutput};
use engage::pipeline::steps::registry;
use engage::runtime::{GuestLimits, Runtime, RuntimeConfig};
use serde_json::{Map, Value, json};

const RUN_ID: &str = "20261125-101500-a3f9";
const RUN_DB: &str = "run_20261125_101500_a3f9";
const USERS: u64 = 4000;
const WEEKS: u32 = 4;

fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let cache = std::env::temp_dir().join(format!("engage-test-cache-{}", std::process::id()));
            Arc::new(Runtime::new(RuntimeConfig { cache_dir: Some(cache), pooling: false }).expect("runtime starts"))
        })
        .clone()
}

struct Harness {
    _dir: tempfile::TempDir,
    raw: std::path::PathBuf,
    services: Services,
    upstream: Map<String, Value>,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let services = local_services_with(&root, &support::plugin_dir(), runtime()).unwrap();
        Harness { raw: dir.path().join("raw"), _dir: dir, services, upstream: Map::new() }
    }

    fn run_step(&self, step: &str, stage: &str, attempt: u32, shard: Option<Shard>, params: Value) -> Result<StepOutput, StepError> {
        self.run_step_within(step, stage, attempt, shard, params, GuestLimits::default())
    }

    fn run_step_within(
        &self,
        step: &str,
        stage: &str,
        attempt: u32,
        shard: Option<Shard>,
        params: Value,
        limits: GuestLimits,
    ) -> Result<StepOutput, StepError> {
        let progress = std::sync::Arc::new(Progress::default());
        let grants = Grants::default();
        let ctx = StepContext {
            run_id: RUN_ID,
            run_db: RUN_DB,
            stage,
            attempt,
            shard,
            params: &params,
            grants: &grants,
            limits: &limits,
            upstream: &self.upstream,
            services: &self.services,
            progress: &progress,
        };
        let steps = registry();
        let result = steps.get(step).unwrap_or_else(|| panic!("step {step} is registered")).run(&ctx);
        if let Ok(out) = &result {
            assert!(progress.rows.load(std::sync::atomic::Ordering::Relaxed) >= out.rows_in.min(1), "{step} reports progress");
            assert!(out.summary.is_object());
        }
        result
    }

    /// Runs a step, keeps its summary as upstream of later steps, and times it.
    fn commit(&mut self, step: &str, params: Value) -> StepOutput {
        let started = Instant::now();
        let out = self.run_step(step, step, 1, None, params).unwrap_or_else(|e| panic!("{step} fails: {e}"));
        eprintln!("{step}: {:.2}s", started.elapsed().as_secs_f64());
        self.upstream.insert(step.to_string(), out.summary.clone());
        out
    }

    fn query(&self, sql: &str) -> QueryResult {
        self.services.sql.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn count(&self, sql: &str) -> i64 {
        let result = self.query(sql);
        result.batches[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    fn generate(&self) {
        let mut options = GenerateOptions::new(USERS, &self.raw);
        options.weeks = WEEKS;
        options.seed = 11;
        generate(&options).unwrap();
    }

    /// What the `prepare` plugin does, as two CTAS statements: labelled weeks
    /// are the training set, the newest week the scoring set.
    fn prepare(&self) {
        self.services.catalog.create_database(RUN_DB).unwrap();
        let scratch = format!("s3://work/run={RUN_ID}/prepare/attempt=1");
        self.services
            .sql
            .execute(&format!(
                "CREATE TABLE {RUN_DB}.training_set WITH (format = 'PARQUET', external_location = '{scratch}/training_set/') AS \
                 SELECT * FROM engage.users WHERE engaged_next_7d IS NOT NULL"
            ))
            .unwrap();
        self.services
            .sql
            .execute(&format!(
                "CREATE TABLE {RUN_DB}.scoring_set WITH (format = 'PARQUET', external_location = '{scratch}/scoring_set/') AS \
                 SELECT * FROM engage.users WHERE snapshot_date = (SELECT max(snapshot_date) FROM engage.users)"
            ))
            .unwrap();
    }

    fn features_params() -> Value {
        json!({
            "transforms": ["engagement-features"],
            "inputs": {"training": format!("{RUN_DB}.training_set"), "scoring": format!("{RUN_DB}.scoring_set")},
            "keep": ["user_id", "snapshot_date", "engaged_next_7d"],
        })
    }
}

fn read_object(services: &Services, uri: &str) -> Vec<u8> {
    let (bucket, key) = engage::catalog::parse_location(uri).unwrap();
    services.storage.get(&bucket, &key).unwrap()
}

#[test]
fn the_native_steps_run_end_to_end_on_generated_data() {
    let mut h = Harness::new();
    h.generate();

    // ingest
    let out = h.commit("ingest", json!({"source": h.raw.display().to_string(), "table": "users"}));
    let s = &out.summary;
    assert_eq!(s["rows_read"], USERS * WEEKS as u64);
    assert_eq!(s["rows_read"].as_u64(), Some(s["rows_accepted"].as_u64().unwrap() + s["rows_quarantined"].as_u64().unwrap()));
    assert_eq!(s["files"], WEEKS);
    assert_eq!(s["snapshots"].as_object().unwrap().len(), WEEKS as usize);
    h.prepare();

    // features: 14 features + the kept columns, every row of each input.
    let out = h.commit("features", Harness::features_params());
    let s = &out.summary;
    assert_eq!(s["tables"]["training"], USERS * (WEEKS as u64 - 1));
    assert_eq!(s["tables"]["scoring"], USERS);
    let features = s["features"].as_array().unwrap();
    assert_eq!(features.len(), 14);
    assert!(features.iter().all(|f| f["description"].as_str().is_some_and(|d| !d.is_empty()) && f["transform"] == "engagement-features"));
    let training = h.services.catalog.table(RUN_DB, "training_features").unwrap().expect("training_features registered");
    let names: Vec<&str> = training.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 3 + 14);
    assert_eq!(&names[..3], ["user_id", "snapshot_date", "engaged_next_7d"]);
    assert!(training.location.starts_with(&format!("s3://work/run={RUN_ID}/features/attempt=1/")));
    let scoring = h.services.catalog.table(RUN_DB, "scoring_features").unwrap().expect("scoring_features registered");
    assert_eq!(scoring.columns.len(), 3 + 14, "the label column is kept even when empty");
    assert_eq!(h.count(&format!("SELECT count(*) FROM {RUN_DB}.training_features")), (USERS * (WEEKS as u64 - 1)) as i64);
    assert_eq!(h.count(&format!("SELECT count(*) FROM {RUN_DB}.scoring_features WHERE sessions_per_day_7d IS NOT NULL")), USERS as i64);

    // train: a model that ranks well, at least near the linear baseline.
    let train_params = json!({"rounds": 200, "eta": 0.1, "max_depth": 4, "early_stopping_rounds": 15, "seed": 7});
    let out = h.commit("train", train_params.clone());
    let s = out.summary.clone();
    let auc = s["metrics"]["auc"].as_f64().unwrap();
    let baseline = s["baseline"]["auc"].as_f64().unwrap();
    eprintln!("auc {auc:.4} baseline {baseline:.4} rounds {} best {}", s["rounds"], s["best_iteration"]);
    assert!(auc > 0.7, "AUC {auc} is well above chance");
    assert!(auc > baseline - 0.01, "AUC {auc} is above or near the baseline's {baseline}");
    for key in ["auc", "logloss", "accuracy", "brier"] {
        assert!(s["metrics"][key].is_number() && s["baseline"][key].is_number(), "metric {key}");
    }
    let rows = USERS * (WEEKS as u64 - 1);
    let (tr, va) = (s["training_rows"].as_u64().unwrap(), s["validation_rows"].as_u64().unwrap());
    assert_eq!(tr + va, rows);
    assert!((va as f64 / rows as f64 - 0.2).abs() < 0.05, "validation is about 20%: {va} of {rows}");
    let roc = s["roc"].as_array().unwrap();
    assert!(roc.len() >= 10 && roc.len() <= 101);
    assert_eq!(roc.last().unwrap(), &json!([1.0, 1.0]));
    let calibration = s["calibration"].as_array().unwrap();
    assert_eq!(calibration.len(), 10);
    assert_eq!(calibration.iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), va);
    let importance = s["importance"].as_array().unwrap();
    assert!(!importance.is_empty() && importance.iter().all(|f| f["feature"].is_string() && f["gain"].as_f64().unwrap() > 0.0));
    let model_uri = s["model_uri"].as_str().unwrap().to_string();
    assert_eq!(model_uri, format!("s3://models/engagement/run={RUN_ID}/model.json"));
    for name in ["model.json", "metrics.json", "importance.json"] {
        assert!(!read_object(&h.services, &format!("s3://models/engagement/run={RUN_ID}/{name}")).is_empty());
    }
    let model_bytes = read_object(&h.services, &model_uri);
    // A rerun over the same table trains the same model.
    let again = h.run_step("train", "train", 2, None, train_params).unwrap();
    assert_eq!(again.summary["metrics"], s["metrics"]);
    assert_eq!(read_object(&h.services, &model_uri), model_bytes, "retrained model is identical");

    // predict in two shards; shard 0 runs twice (a retry) and must not duplicate rows.
    let mut shard_summaries = Vec::new();
    let started = Instant::now();
    for (index, attempt) in [(0, 1), (1, 1), (0, 2)] {
        let out = h.run_step("predict", "predict", attempt, Some(Shard { index, count: 2 }), json!({})).unwrap();
        if attempt == 1 {
            shard_summaries.push(out.summary);
        } else {
            assert_eq!(out.summary, shard_summaries[0], "a retried shard scores the same users");
        }
    }
    eprintln!("predict (3 shard runs): {:.2}s", started.elapsed().as_secs_f64());
    let merged = engage::pipeline::steps::predict::merge_summaries(&shard_summaries);
    assert!(shard_summaries.iter().all(|s| s["users_scored"].as_u64().unwrap() > USERS / 4), "both shards get users");
    assert_eq!(merged["users_scored"], USERS);
    let seg = &merged["segments"];
    assert_eq!(seg["high"].as_u64().unwrap() + seg["medium"].as_u64().unwrap() + seg["low"].as_u64().unwrap(), USERS);
    assert_eq!(merged["histogram"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>(), USERS);
    assert_eq!(merged["thresholds"], json!({"high": 0.6, "medium": 0.3}));
    h.upstream.insert("predict".into(), merged);

    let table = format!("{RUN_DB}.predictions");
    assert_eq!(h.count(&format!("SELECT count(*) FROM {table}")), USERS as i64, "every user exactly once");
    assert_eq!(h.count(&format!("SELECT count(DISTINCT user_id) FROM {table}")), USERS as i64);
    assert_eq!(
        h.count(&format!("SELECT count(*) FROM {table} p JOIN {RUN_DB}.scoring_set s ON p.user_id = s.user_id")),
        USERS as i64,
        "the users scored are the scoring set's"
    );
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM {table} WHERE probability < 0 OR probability > 1 OR confidence < 0 OR confidence > 1 \
             OR segment <> CASE WHEN probability >= 0.6 THEN 'high' WHEN probability >= 0.3 THEN 'medium' ELSE 'low' END"
        )),
        0,
        "probabilities, confidences and segments are consistent"
    );
    let def = h.services.catalog.table(RUN_DB, "predictions").unwrap().unwrap();
    let cols: Vec<(&str, &str)> = def.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(cols, [("user_id", "string"), ("snapshot_date", "date"), ("probability", "double"), ("confidence", "double"), ("segment", "string"), ("reasons", "string")]);
    // Three reasons per user beside the score, worded with the feature's level and signed contribution.
    let reasons = h.query(&format!("SELECT reasons FROM {table}"));
    let pattern = regex::Regex::new(r"^(low|high|typical|missing) [a-z0-9_]+: [+\x{2212}]\d+\.\d\d$").unwrap();
    for batch in &reasons.batches {
        for text in batch.column(0).as_string::<i32>().iter().flatten() {
            let parts: Vec<&str> = text.split("; ").collect();
            assert!(parts.len() == 3 && parts.iter().all(|p| pattern.is_match(p)), "reasons '{text}'");
        }
    }
    let shap = &h.upstream["predict"]["shap"];
    assert_eq!(shap["rows"], USERS as u64, "global importance covers every user");
    assert_eq!(shap["abs_sum_micro"].as_object().unwrap().len(), features.len());

    // Path attribution: the same scores, reasons in the same words, every user explained.
    let path = h.run_step("predict", "predict", 1, None, json!({"reasons_method": "path", "output": "predictions_path"})).unwrap();
    assert_eq!(path.summary["reasons_method"], "path");
    assert_eq!(h.upstream["predict"]["shap"]["rows"], path.summary["shap"]["rows"]);
    let differing = h.count(&format!(
        "SELECT count(*) FROM {table} e JOIN {RUN_DB}.predictions_path p ON e.user_id = p.user_id WHERE e.probability <> p.probability"
    ));
    assert_eq!(differing, 0, "the method changes the reasons, never the scores");
    let reasons = h.query(&format!("SELECT reasons FROM {RUN_DB}.predictions_path"));
    let texts: Vec<String> = reasons.batches.iter().flat_map(|b| b.column(0).as_string::<i32>().iter().flatten().map(str::to_string).collect::<Vec<_>>()).collect();
    assert_eq!(texts.len(), USERS as usize);
    assert!(texts.iter().all(|t| t.split("; ").count() == 3 && t.split("; ").all(|p| pattern.is_match(p))), "path reasons are worded like exact ones");

    // A training cap learns from a sample of users and says so; SHAP importance uses a sample too.
    assert_eq!(s["shap_rows"].as_u64(), Some(va.min(20_000)));
    let capped = h.run_step("train", "train", 1, None, json!({"model": "capped", "max_training_rows": 1000, "rounds": 20, "seed": 7})).unwrap();
    assert_eq!((capped.summary["training_rows"].as_u64(), capped.summary["training_rows_available"].as_u64()), (Some(1000), Some(tr)));
    assert_eq!(capped.summary["validation_rows"].as_u64(), Some(va), "the validation set stays whole");
    let both = h
        .run_step("train", "train", 1, None, json!({"model": "both", "max_training_rows": 1000, "max_validation_rows": 300, "rounds": 20, "seed": 7}))
        .unwrap();
    assert_eq!((both.summary["validation_rows"].as_u64(), both.summary["validation_rows_available"].as_u64()), (Some(300), Some(va)));
    assert_eq!((both.rows_in, both.rows_out), (tr + va, 1300), "rows read vs rows used");
    assert!(both.summary["metrics"]["auc"].as_f64().unwrap() > 0.6, "a capped model still learns: {}", both.summary["metrics"]);

    // knowledge
    let out = h.commit("knowledge", json!({}));
    let docs: Vec<&str> = out.summary["documents"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(docs.len(), 7);
    let text = |name: &str| {
        let key = docs.iter().find(|k| k.ends_with(name)).unwrap_or_else(|| panic!("{name} is written"));
        String::from_utf8(h.services.storage.get("knowledge", key).unwrap()).unwrap()
    };
    let dictionary = text("data-dictionary.md");
    assert!(dictionary.starts_with("# Data dictionary"));
    for f in features {
        let name = f["name"].as_str().unwrap();
        assert!(dictionary.contains(&format!("`{name}`")), "the dictionary documents {name}");
    }
    for raw in ["sessions_7d", "nps_score", "referrals_converted", "plan"] {
        assert!(dictionary.contains(&format!("`{raw}`")), "the dictionary documents raw column {raw}");
    }
    let card = text("model-card.md");
    assert!(card.contains(&model_uri) && card.contains("| auc |") && card.contains("## Calibration"));
    assert!(card.contains(importance[0]["feature"].as_str().unwrap()));
    assert!(text("segments.md").contains(&format!("{USERS} users were scored")));
    assert!(text("run-overview.md").contains(RUN_DB));
    assert!(text("changes.md").contains("no previous run"), "the first run says nothing changed");
    // One chunk per column, each with a stable id, its source and the run id.
    let index = String::from_utf8(h.services.storage.get("knowledge", out.summary["chunks"].as_str().unwrap()).unwrap()).unwrap();
    let chunks = engage::assistant::chunks::from_jsonl(&index, "chunks.jsonl").unwrap();
    let column = chunks.iter().find(|c| c.id == "data-dictionary#avg_session_minutes_30d").expect("a chunk per raw column");
    assert!(column.text.contains("Average length of a session") && column.text.contains("Unit: minutes per session"), "{}", column.text);
    assert!(column.source.ends_with("data-dictionary.md") && column.run_id == RUN_ID);
    let feature = chunks.iter().find(|c| c.id == format!("data-dictionary#{}", features[0]["name"].as_str().unwrap())).expect("a chunk per feature");
    assert!(feature.text.contains("Source plugin"), "{}", feature.text);
    assert!(chunks.iter().any(|c| c.id == "model-card#top-drivers"));
    let facts: serde_json::Value = serde_json::from_slice(&h.services.storage.get("knowledge", out.summary["facts"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(facts["users_scored"], USERS as u64);
}

#[test]
fn ingest_reads_s3_sources_from_the_storage_root_or_copies_them_from_the_store() {
    let mut h = Harness::new();
    let root = h.services.local_root.clone().unwrap();
    let mut options = GenerateOptions::new(300, root.join("raw/weekly"));
    options.weeks = 2;
    generate(&options).unwrap();
    let out = h.run_step("ingest", "ingest", 1, None, json!({"source": "s3://raw/weekly/", "table": "users", "max_bad_fraction": "0.05"})).unwrap();
    assert_eq!(out.summary["rows_accepted"], 600);
    assert_eq!(out.outputs, ["engage.users"]);
    // The same landing zone again: nothing new, nothing re-read.
    let again = h.run_step("ingest", "ingest", 2, None, json!({"source": "s3://raw/weekly/"})).unwrap();
    assert_eq!((again.summary["rows_read"].as_u64(), again.summary["skipped_files"].as_u64()), (Some(0), Some(2)));
    let forced = h.run_step("ingest", "ingest", 3, None, json!({"source": "s3://raw/weekly/", "only_new": false})).unwrap();
    assert_eq!(forced.summary["rows_read"], 600);
    // A table dropped since has taken in nothing: every landed file is read again.
    assert!(h.services.catalog.drop_table("engage", "users").unwrap());
    let after_drop = h.run_step("ingest", "ingest", 3, None, json!({"source": "s3://raw/weekly/"})).unwrap();
    assert_eq!((after_drop.summary["rows_read"].as_u64(), after_drop.summary["skipped_files"].as_u64()), (Some(600), Some(0)));

    // Without a root (S3) the files are copied in through the storage capability,
    // into a table of their own so that nothing the path runs took in is skipped.
    h.services.local_root = None;
    let copied = h.run_step("ingest", "ingest", 4, None, json!({"source": "s3://raw/weekly/", "table": "users_copied"})).unwrap();
    assert_eq!((copied.summary["rows_accepted"].as_u64(), copied.summary["files"].as_u64()), (Some(600), Some(2)));
    assert_eq!(copied.outputs, ["engage.users_copied"]);
    let again = h.run_step("ingest", "ingest", 5, None, json!({"source": "s3://raw/weekly/", "table": "users_copied"})).unwrap();
    assert_eq!((again.summary["rows_read"].as_u64(), again.summary["skipped_files"].as_u64()), (Some(0), Some(2)));
    let err = h.run_step("ingest", "ingest", 6, None, json!({"source": "s3://raw/nothing-here/"})).unwrap_err();
    assert!(err.message.contains("s3://raw/nothing-here/") && err.message.contains("stage 'ingest'") && err.message.contains("no files"), "{}", err.message);
    let err = h.run_step("ingest", "ingest", 7, None, json!({"source": "s3://../weekly/"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config, "{}", err.message);
    let err = h.run_step("ingest", "ingest", 1, None, json!({})).unwrap_err();
    assert!(err.kind == ErrorKind::Config && err.message.contains("'source'"), "{}", err.message);
    let err = h.run_step("ingest", "ingest", 1, None, json!({"source": Path::new("/nonexistent/dir").display().to_string()})).unwrap_err();
    assert!(err.message.contains("/nonexistent/dir"), "{}", err.message);
}

/// A snapshot delivered in two files, one of them corrected and landed again: the weekly ingest reads the
/// other file again, so the replaced snapshot keeps every user (it kept only the corrected file's before).
#[test]
fn a_snapshot_split_over_two_files_keeps_both_when_one_lands_again() {
    let mut h = Harness::new();
    let root = h.services.local_root.clone().unwrap();
    let mut options = GenerateOptions::new(200, root.join("raw/full"));
    options.format = OutputFormat::Csv;
    generate(&options).unwrap();
    let full = std::fs::read_dir(root.join("raw/full")).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&full).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    let landing = root.join("raw/weekly");
    std::fs::create_dir_all(&landing).unwrap();
    let write = |name: &str, part: &[String]| std::fs::write(landing.join(name), format!("{header}\n{}\n", part.join("\n"))).unwrap();
    let part = |range: std::ops::Range<usize>| rows[range].iter().map(|r| r.to_string()).collect::<Vec<_>>();
    write("part1.csv", &part(0..100));
    write("part2.csv", &part(100..200));
    // part2 corrected and landed again: its first user id quoted, the same values in a file of another size.
    let mut corrected = part(100..200);
    let (id, rest) = corrected[0].split_once(',').unwrap();
    corrected[0] = format!("\"{id}\",{rest}");

    let first = h.run_step("ingest", "ingest", 1, None, json!({"source": "s3://raw/weekly/"})).unwrap();
    assert_eq!(first.summary["rows_accepted"], 200);
    write("part2.csv", &corrected);
    let again = h.run_step("ingest", "ingest", 2, None, json!({"source": "s3://raw/weekly/"})).unwrap();
    assert_eq!(again.summary["rows_read"], 200, "part1 is read again with the corrected part2: {}", again.summary);
    assert!(again.summary["warnings"].to_string().contains("part1.csv holds snapshot"), "{}", again.summary);
    assert_eq!(h.count("SELECT count(*) FROM engage.users"), 200);

    // The same through the store (S3): the companion is copied in only when it is needed.
    h.services.local_root = None;
    write("part2.csv", &part(100..200));
    let copied = h.run_step("ingest", "ingest", 3, None, json!({"source": "s3://raw/weekly/", "table": "users_copied"})).unwrap();
    assert_eq!(copied.summary["rows_accepted"], 200);
    write("part2.csv", &corrected);
    let again = h.run_step("ingest", "ingest", 4, None, json!({"source": "s3://raw/weekly/", "table": "users_copied"})).unwrap();
    assert_eq!((again.summary["rows_read"].as_u64(), again.summary["rows_accepted"].as_u64()), (Some(200), Some(200)), "{}", again.summary);
    assert_eq!(h.count("SELECT count(*) FROM engage.users_copied"), 200);
}

/// Outputs that would mislead the model or its readers are refused before a row is written: one named like
/// an input column, and one two transforms both write (the error names both writers).
#[test]
fn features_refuse_outputs_named_like_inputs_or_written_twice() {
    let h = Harness::new();
    h.services.catalog.create_database(RUN_DB).unwrap();
    let table = |name: &str, select: &str| {
        let sql = format!("CREATE TABLE {RUN_DB}.{name} WITH (format = 'PARQUET', external_location = 's3://work/t/{name}/') AS {select}");
        h.services.sql.execute(&sql).unwrap();
    };
    table("with_score", "SELECT 'u1' AS user_id, 0 AS mode, 1.0e0 AS x, 2.0e0 AS score");
    table("plain", "SELECT 'u1' AS user_id, 0 AS mode, 1.0e0 AS x");
    let run = |transforms: Value, input: &str| {
        let params = json!({"transforms": transforms, "inputs": {"training": format!("{RUN_DB}.{input}")}});
        h.run_step("features", "features", 1, None, params).unwrap_err()
    };
    let err = run(json!(["bad-transform"]), "with_score");
    assert_eq!(err.kind, ErrorKind::Config, "{err}");
    assert!(err.message.contains("transform 'bad-transform' writes 'score', the name of an input column"), "{}", err.message);
    // A NaN is named by its user and the table it was read from.
    table("nans", "SELECT * FROM (VALUES ('u1', 4, 1.0e0), ('u2', 4, 2.0e0)) AS t(user_id, mode, x)");
    let err = run(json!(["bad-transform"]), "nans");
    assert!(err.message.contains("user_id u2") && err.message.contains(&format!("(reading {RUN_DB}.nans)")), "{}", err.message);
    let err = run(json!(["bad-transform", "bad-transform"]), "plain");
    assert!(err.message.contains("column 'score' is written by transform 'bad-transform@1.0.0' and by transform 'bad-transform@1.0.0'"), "{}", err.message);
    assert!(h.services.catalog.table(RUN_DB, "training_features").unwrap().is_none());
}

/// A transform that never returns is stopped when the stage's time runs out, and the error names it
/// (the stage's own timeout would only say the stage ran too long).
#[test]
fn a_hung_transform_is_stopped_by_name_within_the_stage_time() {
    let h = Harness::new();
    h.services.catalog.create_database(RUN_DB).unwrap();
    let sql = format!("CREATE TABLE {RUN_DB}.hang WITH (format = 'PARQUET', external_location = 's3://work/t/hang/') AS SELECT 'u1' AS user_id, 6 AS mode, 1.0e0 AS x");
    h.services.sql.execute(&sql).unwrap();
    let params = json!({"transforms": ["bad-transform"], "inputs": {"training": format!("{RUN_DB}.hang")}});
    let limits = GuestLimits { timeout: std::time::Duration::from_secs(2), ..GuestLimits::default() };
    let started = Instant::now();
    let err = h.run_step_within("features", "features", 1, None, params, limits).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("plugin bad_transform") && err.message.contains("time limit"), "{}", err.message);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "stopped after {:?}", started.elapsed());
}

#[test]
fn bad_params_name_the_stage_and_the_problem() {
    let h = Harness::new();
    let cases = [
        ("features", json!({"inputs": {"training": "x.y"}}), "transforms"),
        ("features", json!({"transforms": ["no-such-transform"], "inputs": {"training": "x.y"}}), "no_such_transform.wasm"),
        ("features", json!({"transforms": ["engagement-features"], "inputs": "x.y"}), "inputs"),
        ("train", json!({"validation_fraction": 1.5}), "validation_fraction"),
        ("train", json!({"eta": "fast"}), "eta"),
        ("train", json!({"rounds": 0}), "parameter `rounds`"),
        ("predict", json!({}), "model_uri"),
        ("predict", json!({"model_uri": "s3://models/m/model.json", "reasons_method": "fast"}), "reasons_method"),
        ("train", json!({"max_training_rows": 0}), "max_training_rows"),
        ("train", json!({"max_validation_rows": 0}), "max_validation_rows"),
    ];
    for (step, params, needle) in cases {
        let err = h.run_step(step, step, 1, None, params.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config, "{step} {params}: {err}");
        assert!(err.message.contains(needle) && err.message.contains(&format!("stage '{step}'")), "{step} {params}: {}", err.message);
    }
    // A missing input table is named.
    let err = h
        .run_step("features", "features", 1, None, json!({"transforms": ["engagement-features"], "inputs": {"training": "run_x.training_set"}}))
        .unwrap_err();
    assert!(err.message.contains("run_x.training_set"), "{}", err.message);
    assert!(h.services.catalog.table("run_x", "training_features").unwrap().is_none());
    let _ = h.query("SELECT 1").batches[0].column(0).len();
}
