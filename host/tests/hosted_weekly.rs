//! The weekly pipeline end to end with every capability on AWS: storage on S3 and
//! the catalog on Glue (moto on 127.0.0.1), SQL on Athena (a stand-in that runs
//! the statements it is sent, over the same S3 and Glue), predict's shards as
//! containers of the image when it is built (ENGAGE_IMAGE), else as processes.
//! It must score every user as the local run over the same snapshots does.

mod support;
#[path = "support/athena_standin.rs"]
mod athena_standin;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use athena_standin::AthenaStandIn;
use engage::capabilities::sql::SqlEngine;
use engage::capabilities::sql::aws::{AthenaSettings, AthenaSql};
use engage::capabilities::sql::local::LocalSql;
use engage::capabilities::storage::{ObjectStore, S3Location, S3Storage, ZoneMap};
use engage::catalog::GlueCatalog;
use engage::local_host::LocalHost;
use moto::Moto;

const USERS: u64 = 2000;
const BUCKET: &str = "engage-hosted";

fn pipeline_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/weekly-engagement.toml")
}

fn engage(root: &Path) -> Command {
    let mut command = support::engage_command(root, "weekly");
    support::stand_in_credentials(&mut command, "AKIDMOTOTESTING", "moto-secret-key");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "the run failed:\n{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints the summary");
    assert_eq!(summary["status"], "succeeded", "{summary}");
    summary
}

/// The zones as the host maps them: every zone a folder of one shared bucket.
fn host_zones() -> ZoneMap {
    ZoneMap { shared: Some(S3Location::parse(&format!("{BUCKET}/prod")).unwrap()), zones: Default::default() }
}

/// Real bucket names unchanged: how Athena sees the locations it is given.
fn athena_zones() -> ZoneMap {
    ZoneMap { shared: None, zones: [(BUCKET.to_string(), S3Location::parse(BUCKET).unwrap())].into() }
}

/// user_id → probability, and the summary table's rows, from `sql`.
fn outcome(sql: &dyn SqlEngine, predictions: &str, summary: &str) -> (BTreeMap<String, f64>, Vec<String>) {
    let mut scores = BTreeMap::new();
    for batch in sql.query(&format!("SELECT user_id, probability FROM {predictions}")).unwrap().batches {
        let ids = batch.column(0).as_string::<i32>();
        let p = batch.column(1).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            assert!(scores.insert(ids.value(i).to_string(), p.value(i)).is_none(), "user {} scored twice", ids.value(i));
        }
    }
    let rows = sql.query(&format!("SELECT dimension, value, users FROM {summary} ORDER BY dimension, value")).unwrap();
    (scores, lines(&rows.batches))
}

fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch.columns().iter().map(|c| arrow::util::display::array_value_to_string(c, row).unwrap()).collect();
            out.push(cells.join("|"));
        }
    }
    out
}

#[test]
fn the_weekly_run_on_s3_glue_and_athena_scores_every_user_as_the_local_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    let out = engage(&dir.path().join("unused"))
        .args(["data", "generate", "--users", &USERS.to_string(), "--weeks", "4", "--seed", "23", "--format", "csv", "--out"])
        .arg(&landing)
        .output()
        .unwrap();
    assert!(out.status.success(), "generate: {}", text(&out.stderr));
    let snapshots: Vec<PathBuf> = std::fs::read_dir(&landing).unwrap().map(|e| e.unwrap().path()).collect();

    // The local run over the same snapshots.
    let local_root = dir.path().join("local");
    std::fs::create_dir_all(local_root.join("landing/users")).unwrap();
    for file in &snapshots {
        std::fs::copy(file, local_root.join("landing/users").join(file.file_name().unwrap())).unwrap();
    }
    let local = succeeded(&engage(&local_root).arg("run").arg(pipeline_file()).args(["--json", "--no-progress"]).output().unwrap());
    let local_sql = LocalHost::open(&local_root).unwrap().sql().unwrap();
    let local_db = format!("run_{}", local["run_id"].as_str().unwrap().replace('-', "_"));
    let expected = outcome(local_sql.as_ref(), &format!("{local_db}.predictions"), &format!("{local_db}.engagement_summary"));

    // The hosted run: the snapshots land in S3, Athena runs over what the host writes.
    let moto = Moto::start();
    let aws = moto.context();
    let store = S3Storage::new(aws.clone(), host_zones(), 5 << 20);
    let create = store.client().create_bucket().bucket(BUCKET);
    aws.block_on(async move { create.send().await }).unwrap();
    for file in &snapshots {
        let key = format!("users/{}", file.file_name().unwrap().to_string_lossy());
        store.put("landing", &key, &std::fs::read(file).unwrap()).unwrap();
    }
    let athena_store: Arc<dyn ObjectStore> = Arc::new(S3Storage::new(aws.clone(), athena_zones(), 5 << 20));
    let glue = Arc::new(GlueCatalog::new(aws.clone(), None, athena_zones()));
    let athena_sql: Arc<dyn SqlEngine> = Arc::new(LocalSql::new(athena_store.clone(), glue.clone()).unwrap());
    let athena = AthenaStandIn::start(athena_sql.clone(), athena_store);

    let shards = match std::env::var("ENGAGE_IMAGE").ok().filter(|s| !s.is_empty()) {
        Some(image) => format!(
            "executor = \"podman\"\nimage = \"{image}\"\npodman_args = {}\n",
            serde_json::to_string(&support::podman_args()).unwrap()
        ),
        None => {
            eprintln!("ENGAGE_IMAGE is not set (scripts/test.sh sets it with ENGAGE_TEST_IMAGE=1): shards run as processes");
            "executor = \"processes\"\n".to_string()
        }
    };
    let config = dir.path().join("hosted.toml");
    std::fs::write(
        &config,
        format!(
            "[aws]\nregion = \"{}\"\nendpoint_url = \"{}\"\n\n[storage]\nbackend = \"s3\"\nbucket = \"{BUCKET}/prod\"\n\n\
             [sql]\nbackend = \"athena\"\nworkgroup = \"primary\"\noutput_location = \"s3://{BUCKET}/athena/\"\nendpoint_url = \"{}\"\npoll_interval = \"20ms\"\n\n\
             [catalog]\nbackend = \"glue\"\n\n[shards]\n{shards}",
            moto::REGION,
            moto.endpoint(),
            athena.endpoint(),
        ),
    )
    .unwrap();
    let hosted_root = dir.path().join("hosted-root");
    let mut command = engage(&hosted_root);
    command.arg("run").arg(pipeline_file()).args(["--json", "--no-progress", "--config"]).arg(&config);
    support::use_containers_conf(&mut command);
    let hosted = succeeded(&command.output().unwrap());
    let hosted_db = format!("run_{}", hosted["run_id"].as_str().unwrap().replace('-', "_"));
    let (scores, summary) = outcome(athena_sql.as_ref(), &format!("{hosted_db}.predictions"), &format!("{hosted_db}.engagement_summary"));

    assert_eq!(scores.len(), USERS as usize, "every user is scored once");
    assert_eq!(scores.len(), expected.0.len());
    for (user, p) in &expected.0 {
        let q = scores.get(user).unwrap_or_else(|| panic!("user {user} not scored on AWS"));
        assert!((p - q).abs() < 1e-9, "user {user}: local {p}, hosted {q}");
    }
    assert_eq!(summary, expected.1, "the summary table is the same");

    // The SQL went to Athena as the pipeline wrote it, zone URLs pointed at the real bucket.
    let statements = athena.statements();
    assert!(
        statements.iter().any(|s| s.contains("CREATE TABLE") && s.contains(&format!("s3://{BUCKET}/prod/work/"))),
        "{statements:#?}"
    );
    // A large result streams from the object Athena left at the output location: one
    // GetQueryResults call, for the column types, instead of one per 1,000 rows.
    let hosted_athena = AthenaSql::new(
        aws.clone(),
        AthenaSettings {
            workgroup: "primary".into(),
            output_location: format!("s3://{BUCKET}/athena/"),
            poll_interval: Duration::from_millis(20),
            query_timeout: Duration::from_secs(60),
            zones: host_zones(),
            endpoint_url: Some(athena.endpoint()),
        },
        glue.clone(),
    );
    let statement = format!("SELECT user_id, probability FROM {hosted_db}.predictions ORDER BY user_id");
    let mut stream = hosted_athena.query_stream(&statement).unwrap();
    let mut streamed = BTreeMap::new();
    while let Some(batch) = stream.next_batch().unwrap() {
        let ids = batch.column(0).as_string::<i32>();
        let p = batch.column(1).as_primitive::<Float64Type>();
        streamed.extend((0..batch.num_rows()).map(|i| (ids.value(i).to_string(), p.value(i))));
    }
    assert_eq!(streamed, scores, "the streamed result holds every row, typed and exact");
    assert_eq!(athena.result_calls(&statement), vec![1]);

    assert!(!hosted_root.join("processed").exists() && !hosted_root.join("runs").exists(), "nothing went to a local root");
    let record = store.get("runs", &format!("{}/run.json", hosted["run_id"].as_str().unwrap())).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["status"], "succeeded");

    // The next week's run copies in only what landed since: here nothing.
    let again = succeeded(&command.output().unwrap());
    let ingest = &again["stages"][0];
    assert_eq!((ingest["name"].as_str(), ingest["rows_in"].as_u64()), (Some("ingest"), Some(0)), "{again}");
}
