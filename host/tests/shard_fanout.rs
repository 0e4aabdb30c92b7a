//! Shard fan-out: the weekly pipeline's predict stage (4 shards) run by each
//! `[shards] executor` — threads, local processes, ECS tasks (a stand-in on
//! 127.0.0.1 that checks SigV4 and runs each task's command as a local process) —
//! scores every user the same; a task that fails once is retried alone; RunTask
//! throttling is retried; a missing ECS key stops the run before its first
//! stage; a run killed mid-predict resumes without rerunning a finished shard;
//! and, with the image built (ENGAGE_IMAGE, set by scripts/test.sh when
//! ENGAGE_TEST_IMAGE=1), shards run as podman containers of it score the same.

#[path = "support/ecs_standin.rs"]
mod ecs_standin;
#[path = "support/moto.rs"]
mod moto;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Float64Type;
use ecs_standin::EcsStandIn;
use engage::capabilities::sql::SqlEngine;
use engage::local_host::LocalHost;
use serde_json::Value;

const USERS: &str = "2000";
const SHARDS: u32 = 4;

fn weekly() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/weekly-engagement.toml")
}

fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("engage-test-fanout-cache")
}

fn engage(root: &Path) -> Command {
    let mut command = support::engage_command(root, "fanout");
    support::stand_in_credentials(&mut command, ecs_standin::ACCESS_KEY, ecs_standin::SECRET_KEY);
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn root_with_sample(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    let out = engage(&root)
        .args(["data", "generate", "--users", USERS, "--weeks", "4", "--seed", "29", "--format", "csv", "--out"])
        .arg(root.join("landing/users"))
        .output()
        .unwrap();
    assert!(out.status.success(), "generate: {}", text(&out.stderr));
    root
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("engage.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_weekly(root: &Path, config: Option<&Path>) -> Output {
    let mut command = engage(root);
    command.arg("run").arg(weekly()).args(["--json", "--no-progress"]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.output().unwrap()
}

fn succeeded(out: &Output) -> Value {
    assert!(out.status.success(), "the run failed:\n{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("--json prints the summary");
    assert_eq!(summary["status"], "succeeded");
    summary
}

/// user_id → probability of the published predictions.
fn scores(root: &Path) -> BTreeMap<String, f64> {
    let host = LocalHost::open(root).unwrap();
    let result = host.sql().unwrap().query("SELECT user_id, probability FROM engage.engagement_predictions").unwrap();
    let mut out = BTreeMap::new();
    for batch in &result.batches {
        let ids = batch.column(0).as_string::<i32>();
        let p = batch.column(1).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            assert!(out.insert(ids.value(i).to_string(), p.value(i)).is_none(), "user {} scored twice", ids.value(i));
        }
    }
    out
}

fn assert_same_scores(what: &str, expected: &BTreeMap<String, f64>, actual: &BTreeMap<String, f64>) {
    assert_eq!(expected.len(), actual.len(), "{what}: the same users are scored");
    for (user, p) in expected {
        let q = actual.get(user).unwrap_or_else(|| panic!("{what}: user {user} not scored"));
        assert!((p - q).abs() < 1e-12, "{what}: user {user}: threads {p}, {what} {q}");
    }
}

/// The threads run every other executor is compared with.
fn reference() -> &'static BTreeMap<String, f64> {
    static REFERENCE: OnceLock<BTreeMap<String, f64>> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with_sample(dir.path());
        succeeded(&run_weekly(&root, None));
        scores(&root)
    })
}

fn run_record(root: &Path, run_id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("runs").join(run_id).join("run.json")).unwrap()).unwrap()
}

/// The predict stage's attempts in the run record, by shard.
fn predict_attempts(record: &Value) -> BTreeMap<u64, Vec<Value>> {
    let predict = record["stages"].as_array().unwrap().iter().find(|s| s["name"] == "predict").unwrap();
    let mut by_shard: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for attempt in predict["attempts"].as_array().unwrap() {
        by_shard.entry(attempt["shard"].as_u64().expect("a shard attempt")).or_default().push(attempt.clone());
    }
    by_shard
}

fn part(root: &Path, run_id: &str, shard: u32) -> Option<Value> {
    let bytes = std::fs::read(root.join("runs").join(run_id).join("parts").join(format!("predict.shard-{shard}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[test]
fn processes_and_ecs_tasks_score_every_user_as_threads_do() {
    let expected = reference();
    let dir = tempfile::tempdir().unwrap();

    // Local processes: one `engage stage run --fanout` per shard.
    let root = root_with_sample(&dir.path().join("processes"));
    let config = write_config(&dir.path().join("processes"), "[shards]\nexecutor = \"processes\"\n");
    let summary = succeeded(&run_weekly(&root, Some(&config)));
    let run_id = summary["run_id"].as_str().unwrap();
    assert_same_scores("processes", expected, &scores(&root));
    let attempts = predict_attempts(&run_record(&root, run_id));
    assert_eq!(attempts.len(), SHARDS as usize);
    assert!(attempts.values().all(|a| a.len() == 1), "each shard ran once: {attempts:?}");
    for shard in 0..SHARDS {
        let part = part(&root, run_id, shard).expect("each shard process wrote its part");
        assert_eq!(part["status"], "committed");
    }

    // ECS tasks through the stand-in, whose first RunTask answers 429 ThrottlingException.
    let root = root_with_sample(&dir.path().join("ecs"));
    let plugins = support::plugin_dir();
    let cache = cache_dir();
    let env = [("ENGAGE_ROOT", root.as_path()), ("ENGAGE_PLUGIN_DIR", plugins.as_path()), ("ENGAGE_CACHE_DIR", cache.as_path())];
    let ecs = EcsStandIn::start(dir.path(), &["--throttle-once"], &env);
    let config = write_config(&dir.path().join("ecs"), &ecs.config());
    let summary = succeeded(&run_weekly(&root, Some(&config)));
    let run_id = summary["run_id"].as_str().unwrap();
    assert_same_scores("ecs", expected, &scores(&root));

    let log = ecs.log();
    assert_eq!(log[0]["throttled"], "RunTask", "the stand-in throttled the first call: {log:?}");
    let tasks: Vec<&Value> = log.iter().filter(|e| e.get("arn").is_some()).collect();
    let shards: BTreeSet<u64> = tasks.iter().map(|t| t["shard"].as_u64().unwrap()).collect();
    assert_eq!(tasks.len(), SHARDS as usize, "one task per shard, the throttled call retried by the SDK: {log:?}");
    assert_eq!(shards, (0..SHARDS as u64).collect());
    for task in &tasks {
        let command: Vec<&str> = task["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(command[..2], ["stage", "run"], "{command:?}");
        let run = command.iter().position(|a| *a == "--run").unwrap();
        assert_eq!(command[run + 1], run_id);
        assert!(command.contains(&"--fanout") && command.contains(&"--config"), "{command:?}");
    }
    let attempts = predict_attempts(&run_record(&root, run_id));
    assert!(attempts.values().all(|a| a.len() == 1 && a[0]["error"].is_null()), "{attempts:?}");
}

#[test]
fn podman_containers_of_the_image_score_every_user_as_threads_do() {
    let Some(image) = std::env::var("ENGAGE_IMAGE").ok().filter(|s| !s.is_empty()) else {
        eprintln!("ENGAGE_IMAGE is not set (scripts/test.sh sets it with ENGAGE_TEST_IMAGE=1): skipping");
        return;
    };
    let expected = reference();
    let dir = tempfile::tempdir().unwrap();
    let root = root_with_sample(dir.path());
    let podman_args = serde_json::to_string(&support::podman_args()).unwrap();
    let config = write_config(dir.path(), &format!("[shards]\nexecutor = \"podman\"\nimage = \"{image}\"\npodman_args = {podman_args}\n"));
    // The containers run as the image's user (65532): what this process creates under the
    // mounted root must be writable by it, so the run starts with umask 0.
    let mut command = engage(&root);
    command.arg("run").arg(weekly()).args(["--json", "--no-progress", "--config"]).arg(&config);
    let line = format!("umask 0 && exec {:?}", command.get_program()) + &command.get_args().map(|a| format!(" {a:?}")).collect::<String>();
    let mut shell = Command::new("sh");
    shell.args(["-c", &line]).envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
    support::use_containers_conf(&mut shell);
    let summary = succeeded(&shell.output().unwrap());
    let run_id = summary["run_id"].as_str().unwrap();
    assert_same_scores("podman", expected, &scores(&root));
    let attempts = predict_attempts(&run_record(&root, run_id));
    assert_eq!(attempts.len(), SHARDS as usize);
    for shard in 0..SHARDS {
        let part = part(&root, run_id, shard).expect("each container wrote its part");
        assert_eq!(part["status"], "committed");
        let path = root.join("runs").join(run_id).join("parts").join(format!("predict.shard-{shard}.json"));
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(path).unwrap()), 65532, "written by the image's user");
    }
}

#[test]
fn an_ecs_task_that_exits_non_zero_once_is_retried_alone() {
    let expected = reference();
    let dir = tempfile::tempdir().unwrap();
    let root = root_with_sample(dir.path());
    let plugins = support::plugin_dir();
    let cache = cache_dir();
    let env = [("ENGAGE_ROOT", root.as_path()), ("ENGAGE_PLUGIN_DIR", plugins.as_path()), ("ENGAGE_CACHE_DIR", cache.as_path())];
    let ecs = EcsStandIn::start(dir.path(), &["--fail-first-task-of-shard", "2"], &env);
    let config = write_config(dir.path(), &ecs.config());
    let summary = succeeded(&run_weekly(&root, Some(&config)));
    let run_id = summary["run_id"].as_str().unwrap();
    assert_same_scores("ecs with a retried shard", expected, &scores(&root));

    let attempts = predict_attempts(&run_record(&root, run_id));
    for (shard, tries) in &attempts {
        if *shard == 2 {
            assert_eq!(tries.len(), 2, "shard 2 failed once, then succeeded: {tries:?}");
            let error = &tries[0]["error"];
            assert_eq!(error["kind"], "trap", "{error}");
            let message = error["message"].as_str().unwrap();
            assert!(message.contains("exit code 1") && message.contains("Essential container in task exited"), "{message}");
            assert!(message.contains("arn:aws:ecs:"), "the error names the task: {message}");
            assert!(tries[1]["error"].is_null());
        } else {
            assert_eq!(tries.len(), 1, "shard {shard} ran once: {tries:?}");
        }
    }
    let tasks = ecs.log();
    assert_eq!(tasks.iter().filter(|t| t["shard"] == 2).count(), 2);
    assert_eq!(tasks.len(), SHARDS as usize + 1);
}

#[test]
fn a_missing_ecs_key_is_named_before_any_stage_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let config = write_config(
        dir.path(),
        "[aws]\nregion = \"us-east-1\"\n[shards]\nexecutor = \"ecs\"\ncluster = \"engage-weekly\"\ncontainer = \"engage\"\nsubnets = [\"subnet-0a1b\"]\n",
    );
    let out = run_weekly(&root, Some(&config));
    assert!(!out.status.success());
    let error = text(&out.stderr);
    assert!(error.contains("shards.task_definition is required when shards.executor = \"ecs\""), "{error}");
    assert_eq!(error.trim().lines().count(), 1, "one line: {error}");
    assert!(!root.join("runs").exists(), "no run was started");
}

/// Processes whose command line holds every one of `needles`.
fn processes_with(needles: &[&str]) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if needles.iter().all(|n| args.iter().any(|a| a == n)) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_run_killed_mid_predict_resumes_only_the_unfinished_shards() {
    let expected = reference();
    let dir = tempfile::tempdir().unwrap();
    let root = root_with_sample(dir.path());
    let config = write_config(dir.path(), "[shards]\nexecutor = \"processes\"\n");
    let mut parent = engage(&root)
        .arg("run")
        .arg(weekly())
        .args(["--no-progress", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait for the first shard to commit, then SIGKILL the run and every shard process it started.
    let deadline = Instant::now() + Duration::from_secs(600);
    let run_id = loop {
        assert!(Instant::now() < deadline, "predict never committed a shard");
        if let Some(status) = parent.try_wait().unwrap() {
            panic!("the run ended ({status}) before a shard could be killed");
        }
        let runs = std::fs::read_dir(root.join("runs")).into_iter().flatten().flatten();
        let committed = runs.filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            (0..SHARDS).any(|s| part(&root, &id, s).is_some_and(|p| p["status"] == "committed")).then_some(id)
        });
        if let Some(id) = committed.into_iter().next() {
            break id;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    parent.kill().unwrap();
    parent.wait().unwrap();
    let children = processes_with(&["--run", &run_id, "--fanout"]);
    for pid in &children {
        sigkill(*pid);
    }
    let settle = Instant::now() + Duration::from_secs(30);
    while !processes_with(&["--run", &run_id, "--fanout"]).is_empty() {
        assert!(Instant::now() < settle, "shard processes outlived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished: BTreeSet<u32> = (0..SHARDS).filter(|s| part(&root, &run_id, *s).is_some_and(|p| p["status"] == "committed")).collect();
    assert!(!finished.is_empty() && finished.len() < SHARDS as usize, "killed mid-predict: finished shards {finished:?}");
    let before = predict_attempts(&run_record(&root, &run_id));

    let out = engage(&root).args(["run", "--resume", &run_id, "--json", "--no-progress", "--config"]).arg(&config).output().unwrap();
    succeeded(&out);
    assert_same_scores("resumed", expected, &scores(&root));
    let after = predict_attempts(&run_record(&root, &run_id));
    for shard in 0..SHARDS as u64 {
        let (was, now) = (before.get(&shard).map_or(0, Vec::len), after.get(&shard).map_or(0, Vec::len));
        if finished.contains(&(shard as u32)) {
            assert_eq!(now, was, "shard {shard} had committed: not run again ({after:?})");
            assert_eq!(part(&root, &run_id, shard as u32).unwrap()["attempts"].as_array().unwrap().len(), 1);
        } else {
            assert_eq!(now, was + 1, "shard {shard} had not committed: run once more ({after:?})");
        }
    }
}

/// SIGKILL by pid, through kill(1): the test needs no libc binding.
fn sigkill(pid: i32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}
