//! `engage run --config`: a bad runtime config stops before the first stage,
//! naming the key; a good one runs the pipeline's stages against S3 (moto on
//! 127.0.0.1), the run record and the stages' objects landing in the bucket.

mod support;
#[path = "support/moto.rs"]
mod moto;

use std::path::Path;
use std::process::Output;

use engage::capabilities::storage::{ObjectStore, S3Location, S3Storage, ZoneMap};
use moto::Moto;

fn engage(root: &Path, args: &[&str]) -> Output {
    support::stand_in_credentials(&mut support::engage_command(root, "cli"), "AKIDMOTOTESTING", "moto-secret-key")
        .args(args)
        .output()
        .expect("engage runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PIPELINE: &str = r#"
name = "hosted-smoke"
[defaults]
timeout = "60s"
memory = "64MiB"
retry = { max_attempts = 2, interval = "50ms", on = ["failed"] }
[[stage]]
name = "first"
plugin = "misbehave"
grants = { storage = ["write:scratch/granted/"] }
params = { mode = "ok" }
[[stage]]
name = "second"
plugin = "misbehave"
after = ["first"]
grants = { storage = ["write:work/run=${run_id}/"] }
params = { mode = "flaky", bucket = "work", counter = "run=${run_id}/counter", succeed_on = 2 }
"#;

fn hosted_config(endpoint: &str, storage: &str) -> String {
    format!(
        "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\nmax_attempts = 2\n\n[storage]\nbackend = \"s3\"\n{storage}\n\n\
         [sql]\nbackend = \"athena\"\nworkgroup = \"primary\"\noutput_location = \"s3://engage-hosted/athena/\"\n\n[catalog]\nbackend = \"glue\"\n"
    )
}

#[test]
fn a_wrong_runtime_config_stops_before_the_first_stage_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("smoke.toml");
    std::fs::write(&pipeline, PIPELINE).unwrap();
    let root = dir.path().join("data");
    let cases = [
        ("[storage]\nbackend = \"s3\"\n", "storage.bucket is required"),
        ("[storage]\nbackend = \"s3\"\nbucket = \"acme\"\n", "set sql.backend = \"athena\""),
        ("[sql]\nbackend = \"athena\"\nworkgroup = \"engage\"\n", "sql.output_location is required"),
        // Athena and Glue with local storage would quietly run everything locally.
        (
            "[aws]\nregion = \"eu-west-1\"\n[sql]\nbackend = \"athena\"\nworkgroup = \"w\"\noutput_location = \"s3://acme-x/r/\"\n[catalog]\nbackend = \"glue\"\n",
            "sql.backend = \"athena\" needs storage.backend = \"s3\"",
        ),
        ("[storage]\nbackend = \"local\"\nbukcet = \"acme\"\n", "line 3: unknown field `bukcet`"),
        // Every zone the host and the pipeline's grants use needs a place: `scratch` has none here.
        (&hosted_config("http://127.0.0.1:9", "[storage.buckets]\nprocessed = \"p-zone\"\nwork = \"w-zone\"\nmodels = \"m-zone\"\nruns = \"r-zone\"\nknowledge = \"k-zone\"\ncatalog = \"c-zone\"\nwarehouse = \"h-zone\""), "bucket 'scratch' has no S3 location: add storage.buckets.scratch"),
    ];
    for (config, expected) in cases {
        let file = dir.path().join("config.toml");
        std::fs::write(&file, config).unwrap();
        let out = engage(&root, &["run", pipeline.to_str().unwrap(), "--config", file.to_str().unwrap(), "--no-progress"]);
        assert!(!out.status.success(), "{config}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "expected '{expected}' in: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!root.join("runs").exists(), "nothing ran");
    }
}

#[test]
fn a_run_with_the_s3_backend_keeps_its_record_and_outputs_in_the_bucket() {
    let moto = Moto::start();
    let aws = moto.context();
    let store = S3Storage::new(aws.clone(), ZoneMap { shared: Some(S3Location::parse("engage-hosted/prod").unwrap()), zones: Default::default() }, 5 << 20);
    let request = store.client().create_bucket().bucket("engage-hosted");
    aws.block_on(async move { request.send().await }).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("smoke.toml");
    std::fs::write(&pipeline, PIPELINE).unwrap();
    let config = dir.path().join("hosted.toml");
    std::fs::write(&config, hosted_config(&moto.endpoint(), "bucket = \"engage-hosted/prod\"")).unwrap();
    let root = dir.path().join("data");

    let out = engage(&root, &["run", pipeline.to_str().unwrap(), "--config", config.to_str().unwrap(), "--json", "--no-progress"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["stages"][1]["attempts"], 2, "the flaky stage's counter lives on S3 between attempts");
    let run_id = summary["run_id"].as_str().unwrap();

    let record: serde_json::Value = serde_json::from_slice(&store.get("runs", &format!("{run_id}/run.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "succeeded");
    assert!(store.head("work", &format!("run={run_id}/counter")).is_ok(), "the stage wrote through the S3 backend");

    // The operator looks at the hosted history and catalog with the same runtime config.
    let config_arg = config.to_str().unwrap();
    let listed = engage(&root, &["runs", "list", "--json", "--config", config_arg]);
    assert!(listed.status.success(), "stderr: {}", text(&listed.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!((listed[0]["run_id"].as_str(), listed[0]["status"].as_str()), (Some(run_id), Some("succeeded")), "{listed}");
    let shown = engage(&root, &["runs", "--config", config_arg, "show", run_id]);
    assert!(shown.status.success() && text(&shown.stdout).contains("second"), "{}{}", text(&shown.stdout), text(&shown.stderr));
    let glue = engage::catalog::GlueCatalog::new(aws.clone(), None, ZoneMap { shared: Some(S3Location::parse("engage-hosted/prod").unwrap()), zones: Default::default() });
    let table = engage::catalog::TableDef {
        database: "engage".into(),
        name: "users".into(),
        location: "s3://processed/users/".into(),
        format: engage::catalog::TableFormat::Parquet,
        columns: vec![engage::catalog::Column { name: "user_id".into(), data_type: "string".into(), comment: None }],
        partition_keys: Vec::new(),
        partitions: Vec::new(),
        properties: Default::default(),
    };
    engage::catalog::Catalog::put_table(&glue, &table).unwrap();
    let catalog = engage(&root, &["catalog", "describe", "users", "--config", config_arg]);
    let described = text(&catalog.stdout);
    assert!(catalog.status.success() && described.contains("s3://processed/users/") && described.contains("user_id"), "{described}{}", text(&catalog.stderr));
    assert!(!root.exists() || !root.join("runs").exists(), "nothing went to the local root");
}

/// A port on 127.0.0.1 nothing listens on: connections to it are refused.
fn refused_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_aws_failure_is_one_line_naming_the_service_operation_endpoint_and_cause_and_comes_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = refused_endpoint();
    let config = dir.path().join("hosted.toml");
    std::fs::write(&config, hosted_config(&endpoint, "bucket = \"engage-hosted/prod\"").replace("max_attempts = 2", "max_attempts = 5")).unwrap();
    let root = dir.path().join("data");
    let args = ["sql", "SELECT 1", "--config", config.to_str().unwrap()];

    // Fake credentials, nothing listening: the connection is refused, retried, reported.
    let began = std::time::Instant::now();
    let out = engage(&root, &args);
    let elapsed = began.elapsed();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&format!(" at {endpoint}: connection refused")), "{stderr}");
    assert!(["athena ", "glue ", "s3 "].iter().any(|s| stderr.contains(s)), "names the service: {stderr}");
    assert!(!stderr.contains("DispatchFailure") && !stderr.contains("ConnectorError"), "no SDK debug dump: {stderr}");
    assert!(elapsed.as_secs() < 15, "took {elapsed:?}");

    // No credentials anywhere in the chain: said so, in one line (no warning per provider tried).
    let mut command = support::engage_command(&root, "cli");
    support::stand_in_credentials(&mut command, "unused", "unused")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("ENGAGE_LOG");
    let began = std::time::Instant::now();
    let out = command.args(args).output().unwrap();
    let elapsed = began.elapsed();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert!(stderr.contains(&format!(" at {endpoint}: ")), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(elapsed.as_secs() < 15, "took {elapsed:?}");
}

/// On S3 there are no file locks: a run's lock is a lease object, renewed while the run goes on.
/// A second process is refused while it is held, may take over once its holder died and it
/// expired, and a holder whose lease was taken over learns it has lost the run.
#[test]
fn an_s3_run_lock_refuses_a_second_runner_and_passes_on_once_its_holder_is_gone() {
    use engage::pipeline::record::{RunStatus, RunStore};
    use std::sync::Arc;
    use std::time::Duration;

    let moto = Moto::start();
    let aws = moto.context();
    let s3 = S3Storage::new(aws.clone(), ZoneMap { shared: Some(S3Location::parse("engage-hosted/prod").unwrap()), zones: Default::default() }, 5 << 20);
    let request = s3.client().create_bucket().bucket("engage-hosted");
    aws.block_on(async move { request.send().await }).unwrap();
    let s3 = Arc::new(s3);
    let store = RunStore::new(s3.clone()).with_lease(Duration::from_millis(1500));
    let run_id = store.allocate_id().unwrap();
    let lock_key = format!("{run_id}/run.lock");

    let first = store.lock(&run_id).unwrap();
    let refused = store.lock(&run_id).err().expect("a second runner is refused while the lease is held").to_string();
    assert!(refused.contains(&format!("run {run_id} is being run by pid {}", std::process::id())), "{refused}");
    // Renewed past its first term, so a long run keeps its lock.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(store.lock(&run_id).is_err(), "the lease was renewed while its holder lives");
    assert!(first.lost().is_none());
    drop(first);
    assert!(s3.head("runs", &lock_key).is_err(), "a released lease is deleted");

    // A holder that died leaves a lease that stops being renewed; its `running` record then
    // reads as interrupted, and the run may be resumed by someone else.
    let record = format!(
        r#"{{"run_id":"{run_id}","run_db":"run_x","pipeline":"p","pipeline_file":"p.toml","status":"running","started":"2026-01-01T00:00:00Z","ended":null,"vars":{{}},"error":null,"stages":[]}}"#
    );
    s3.put("runs", &format!("{run_id}/run.json"), record.as_bytes()).unwrap();
    let dead = r#"{"holder":"pid 7 on host gone","expires":"2026-01-01T00:02:00.000Z"}"#;
    s3.put("runs", &lock_key, dead.as_bytes()).unwrap();
    assert_eq!(store.load(&run_id).unwrap().status, RunStatus::Interrupted);
    let second = store.lock(&run_id).expect("an expired lease is taken over");
    assert_eq!(store.load(&run_id).unwrap().status, RunStatus::Running, "a live lease: the record is believed");
    let held = String::from_utf8(s3.get("runs", &lock_key).unwrap()).unwrap();
    assert!(held.contains(&format!("pid {}", std::process::id())), "{held}");

    // Another process overwrites the lease (as after taking over an expired one): the next
    // renewal finds it gone, and the run learns it must stop.
    s3.put("runs", &lock_key, br#"{"holder":"pid 8 on host other","expires":"2999-01-01T00:00:00.000Z"}"#).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let lost = second.lost().expect("the overwritten lease is noticed at the next renewal");
    assert!(lost.contains("taken over by another process"), "{lost}");
    drop(second);
    let kept = String::from_utf8(s3.get("runs", &lock_key).unwrap()).unwrap();
    assert!(kept.contains("pid 8"), "a lost lease is not deleted from under its new holder: {kept}");
}
