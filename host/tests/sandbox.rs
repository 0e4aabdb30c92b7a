//! Guests that misbehave are stopped with an error naming the stage and the
//! limit, the host goes on, and a well-behaved run right after works.

mod support;

use std::sync::Arc;
use std::time::Duration;

use engage::capabilities::storage::{LocalStorage, ObjectStore};
use engage::capabilities::{Grants, StorageGrant};
use engage::runtime::stage::{StageOutcome, StageRequest};
use engage::runtime::{Capabilities, FailureKind, GuestError, GuestLimits};
use serde_json::json;
use support::load;

struct Sandbox {
    _dir: tempfile::TempDir,
    storage: Arc<LocalStorage>,
    caps: Capabilities,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let caps = Capabilities::storage_only(storage.clone());
    Sandbox { _dir: dir, storage, caps }
}

fn grants() -> Grants {
    Grants { storage: vec![StorageGrant::parse("write:scratch/granted/").unwrap()], ..Grants::default() }
}

fn limits() -> GuestLimits {
    GuestLimits { memory_bytes: 64 << 20, timeout: Duration::from_secs(2), output_bytes: 1 << 20 }
}

fn run(sb: &Sandbox, mode: &str, limits: GuestLimits) -> Result<String, GuestError> {
    run_with(sb, json!({ "mode": mode }), limits).map(|o| o.summary)
}

fn run_with(sb: &Sandbox, params: serde_json::Value, limits: GuestLimits) -> Result<StageOutcome, GuestError> {
    let plugin = load("misbehave");
    let stage = format!("misbehave-{}", params["mode"].as_str().unwrap());
    let request = StageRequest { run_id: "test-run", stage: &stage, params, grants: grants(), limits };
    support::runtime().run_stage(&plugin, request, &sb.caps)
}

/// The failure, then proof that the host still runs a good guest.
fn expect_failure(mode: &str, kind: FailureKind, limits: GuestLimits) -> GuestError {
    let sb = sandbox();
    let error = run(&sb, mode, limits).expect_err("the guest must be stopped");
    assert_eq!(error.kind, kind, "{}", error.report());
    assert!(error.to_string().contains(&format!("stage 'misbehave-{mode}'")), "{error}");
    let summary = run(&sb, "ok", self::limits()).expect("a well-behaved guest runs after a failure");
    assert!(summary.contains("\"mode\":\"ok\""), "{summary}");
    assert_eq!(sb.storage.get("scratch", "granted/ok.txt").unwrap(), b"fine");
    error
}

#[test]
fn allocating_past_the_memory_limit_is_stopped() {
    let error = expect_failure("alloc", FailureKind::MemoryLimit, limits());
    assert!(error.to_string().contains("memory limit of 64.0 MiB exceeded"), "{error}");
}

#[test]
fn an_endless_loop_is_stopped_at_its_deadline() {
    let started = std::time::Instant::now();
    let error = expect_failure("loop", FailureKind::Timeout, GuestLimits { timeout: Duration::from_millis(500), ..limits() });
    assert!(error.to_string().contains("time limit of 0.5 s exceeded"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(30), "the loop was not interrupted in time");
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let error = expect_failure("panic", FailureKind::Trap, limits());
    let text = error.to_string();
    assert!(text.contains("misbehave was told to panic"), "the panic message must reach the error: {text}");
    assert!(text.contains("src/lib.rs"), "the panic location must reach the error: {text}");
    assert!(!error.backtrace.is_empty(), "a trap carries a wasm backtrace");
}

#[test]
fn a_guest_that_exits_instead_of_returning_is_reported_as_such() {
    let error = expect_failure("exit", FailureKind::Trap, limits());
    assert!(error.to_string().contains("the guest exited (with failure, status 1) instead of returning a result"), "{error}");
}

#[test]
fn a_guest_may_print_a_lot_and_its_newest_output_is_kept() {
    let sb = sandbox();
    let outcome = run_with(&sb, json!({ "mode": "chatty" }), limits()).expect("printing is no reason to stop a guest");
    let summary: serde_json::Value = serde_json::from_str(&outcome.summary).unwrap();
    let printed = summary["printed"].as_u64().unwrap();
    assert!(printed > 3 << 20, "{printed}");
    let output = &outcome.guest_output;
    let (note, kept) = output.split_once('\n').unwrap();
    assert!(note.starts_with('[') && note.ends_with(" bytes of earlier output not kept]"), "{note}");
    assert!(kept.starts_with("chatter line "), "kept from a whole line: {}", &kept[..80]);
    assert!(kept.trim_end().ends_with(&format!("chatter line 039999 {}", "-".repeat(60))), "the last line is kept");
    assert!(kept.len() <= engage::runtime::output::KEPT_BYTES, "{}", kept.len());
}

#[test]
fn a_panic_after_a_lot_of_output_is_still_reported_with_its_message() {
    let error = expect_failure("chatty-panic", FailureKind::Trap, limits());
    assert!(error.to_string().contains("misbehave panicked after printing a lot"), "{error}");
    assert!(error.report().contains("chatter line 039999"), "the output before the panic is in the report");
}

#[test]
fn a_guest_sees_no_environment_no_files_and_no_network() {
    // Something to reach: a listener on this machine, and an environment the host does have.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    assert!(std::env::vars().count() > 0);
    let sb = sandbox();
    let params = json!({ "mode": "reach-out", "connect": listener.local_addr().unwrap().to_string() });
    let outcome = run_with(&sb, params, limits()).expect("trying is allowed; getting through is not");
    let seen: serde_json::Value = serde_json::from_str(&outcome.summary).unwrap();
    assert_eq!(seen["env"], json!([]), "no environment variable reaches the guest: {seen}");
    assert_eq!(seen["args"], json!(0), "{seen}");
    for attempt in ["read_dir", "read_file", "connect"] {
        assert!(seen[attempt].as_str().unwrap().starts_with("Err("), "{attempt} must fail: {seen}");
    }
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection may reach the listener: {accepted:?}"
    );
}

#[test]
fn a_key_escaping_the_bucket_is_denied() {
    let error = expect_failure("escape-key", FailureKind::Denied, limits());
    assert!(error.to_string().contains("'..' segments are not allowed"), "{error}");
}

#[test]
fn writing_another_bucket_is_denied() {
    let sb = sandbox();
    let error = run(&sb, "other-bucket", limits()).unwrap_err();
    assert_eq!(error.kind, FailureKind::Denied);
    let text = error.to_string();
    assert!(text.contains("stage 'misbehave-other-bucket'") && text.contains("bucket 'models'"), "{text}");
    assert!(sb.storage.head("models", "granted/x.txt").is_err(), "nothing may land in the other bucket");
    expect_failure("other-bucket", FailureKind::Denied, limits());
}

#[test]
fn writing_an_ungranted_prefix_is_denied() {
    let sb = sandbox();
    let error = run(&sb, "ungranted-prefix", limits()).unwrap_err();
    assert_eq!(error.kind, FailureKind::Denied);
    assert!(error.to_string().contains("key 'other/x.txt' is outside its grants (granted: write:scratch/granted/)"), "{error}");
    assert!(sb.storage.head("scratch", "other/x.txt").is_err());
}

#[test]
fn a_summary_over_the_output_limit_is_rejected() {
    let error = expect_failure("big-summary", FailureKind::OutputLimit, limits());
    assert!(error.to_string().contains("output limit of 1.0 MiB exceeded"), "{error}");
}

#[test]
fn a_write_over_the_output_limit_is_stopped_and_leaves_nothing() {
    let sb = sandbox();
    let error = run(&sb, "big-write", limits()).unwrap_err();
    assert_eq!(error.kind, FailureKind::OutputLimit, "{}", error.report());
    assert!(sb.storage.head("scratch", "granted/big.bin").is_err());
    expect_failure("big-write", FailureKind::OutputLimit, limits());
}

#[test]
fn sql_without_a_grant_is_denied() {
    let error = expect_failure("sql", FailureKind::Denied, limits());
    assert!(error.to_string().contains("not granted sql"), "{error}");
}

#[test]
fn llm_without_a_grant_is_denied() {
    let error = expect_failure("llm", FailureKind::Denied, limits());
    assert!(error.to_string().contains("not granted llm"), "{error}");
}

#[test]
fn a_stage_that_returns_an_error_is_reported_as_its_own_failure() {
    let error = expect_failure("fail", FailureKind::PluginError, limits());
    assert!(error.to_string().contains("misbehave was told to fail"), "{error}");
}

#[test]
fn the_cleanup_stage_deletes_only_its_targets() {
    let sb = sandbox();
    for key in ["run=7/a.parquet", "run=7/sub/b.parquet", "run=70/c.parquet"] {
        sb.storage.put("scratch", key, b"data").unwrap();
    }
    let request = StageRequest {
        run_id: "7",
        stage: "cleanup",
        params: json!({ "targets": ["scratch/run=7/"] }),
        grants: Grants { storage: vec![StorageGrant::parse("write:scratch/run=7/").unwrap()], ..Grants::default() },
        limits: limits(),
    };
    let outcome = support::runtime().run_stage(&load("cleanup"), request, &sb.caps).expect("cleanup runs");
    assert!(outcome.summary.contains("\"objects_deleted\":2"), "{}", outcome.summary);
    assert_eq!(outcome.metrics[0].name, "objects_deleted");
    let left: Vec<String> = sb.storage.list_all("scratch", "").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(left, vec!["run=70/c.parquet"]);
}

/// A put over wasmtime's default hostcall budget (128 MiB) but within the stage's limits
/// lands; over the output limit it is stopped with the limit named, not retried as a trap.
#[test]
fn a_put_over_128_mib_follows_the_output_limit() {
    let sb = sandbox();
    let bytes = 136usize << 20;
    let roomy = GuestLimits { memory_bytes: 512 << 20, timeout: Duration::from_secs(60), output_bytes: 1 << 30 };
    let outcome = run_with(&sb, json!({ "mode": "put-bytes", "bytes": bytes }), roomy).expect("a put within the output limit lands");
    assert!(outcome.summary.contains(&bytes.to_string()), "{}", outcome.summary);
    assert_eq!(sb.storage.head("scratch", "granted/put.bin").unwrap().size as usize, bytes);

    let tight = GuestLimits { output_bytes: 130 << 20, ..roomy };
    let error = run_with(&sb, json!({ "mode": "put-bytes", "bytes": bytes }), tight).unwrap_err();
    assert_eq!(error.kind, FailureKind::OutputLimit, "{}", error.report());
    assert!(
        error.to_string().contains("output limit of 130.0 MiB exceeded: object scratch/granted/put.bin is 136.0 MiB"),
        "{error}"
    );
}
