//! `engage run`, `engage runs list|show` driven as a user would, with the
//! misbehave test plugin as the stages.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn engage(root: &Path, args: &[&str]) -> Output {
    support::engage_command(root, "cli").args(args).output()
        .expect("engage runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PIPELINE: &str = r#"
name = "smoke"
[defaults]
timeout = "30s"
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

#[test]
fn a_relative_storage_root_works_for_ingest_and_sql() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_engage")).current_dir(dir.path()).args(["--root", "data"]).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    in_dir(&["data", "generate", "--users", "40", "--weeks", "2", "--format", "parquet", "--out", "landing"]);
    in_dir(&["ingest", "landing", "--table", "users"]);
    let csv = in_dir(&["sql", "--format", "csv", "SELECT count(*) AS n, count(DISTINCT snapshot_date) AS weeks FROM engage.users"]);
    assert_eq!(csv.trim(), "n,weeks\n80,2", "{csv}");
    // JSON keeps the columns' order, and an untyped NULL is null like any other.
    let json = in_dir(&["sql", "--format", "json", "SELECT 2 AS x, 'a' AS s, NULL AS d"]);
    assert_eq!(json.trim(), r#"{"x":"2","s":"a","d":null}"#);
    let csv = in_dir(&["sql", "--format", "csv", "SELECT NULL AS d, 1 AS n"]);
    assert_eq!(csv.trim(), "d,n\n,1");
}

#[test]
fn log_lines_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = engage(dir.path(), &["data", "generate", "--users", "20", "--weeks", "1", "--format", "csv", "--out", &dir.path().join("g").display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // An unknown extra column: ingest warns about it.
    let file = std::fs::read_dir(dir.path().join("g")).unwrap().next().unwrap().unwrap().path();
    let with_extra: String = std::fs::read_to_string(&file).unwrap().lines().map(|l| format!("{l},x\n")).collect();
    std::fs::write(&file, with_extra).unwrap();
    let out = engage(dir.path(), &["ingest", &file.display().to_string(), "--table", "users"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(log.contains("WARN"), "the warning is logged: {log:?}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes when stderr is not a terminal: {log:?}");
}

#[test]
fn run_prints_a_summary_and_the_history_can_be_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smoke.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    let root = dir.path().join("data");

    let out = engage(&root, &["run", file.to_str().unwrap(), "--json", "--no-progress"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["stages"][1]["attempts"], 2);
    let run_id = summary["run_id"].as_str().unwrap().to_string();

    let out = engage(&root, &["runs", "list"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(&run_id), "{}", text(&out.stdout));

    let out = engage(&root, &["runs", "show", &run_id]);
    let shown = text(&out.stdout);
    assert!(shown.contains("second           committed  2 attempts"), "{shown}");
    assert!(shown.contains("attempt 1  ") && shown.contains("failed: stage 'second'"), "{shown}");

    // Not enough attempts: the run fails with a non-zero exit naming stage, kind and message.
    let failing = PIPELINE.replace("succeed_on = 2", "succeed_on = 3");
    std::fs::write(&file, failing).unwrap();
    let out = engage(&root, &["run", file.to_str().unwrap(), "--no-progress"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("failed at stage 'second' (failed)") && stderr.contains("call 2 fails"), "{stderr}");
    let failed_id = stderr.split("--resume ").nth(1).unwrap().trim().trim_end_matches('`').to_string();

    // A failed run has nothing to compare, and compare takes the earlier run first.
    let out = engage(&root, &["runs", "compare", &run_id, &failed_id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("run {failed_id} failed at stage 'second'; it has no predictions to compare")), "{err}");
    let out = engage(&root, &["runs", "compare", &failed_id, &run_id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("run {failed_id} (started ")) && err.contains(&format!("is later than run {run_id}")), "{err}");
    let out = engage(&root, &["runs", "compare", &run_id, &run_id]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("has no predictions to compare: its predict stage did not run"), "{err}");

    // Resuming reruns only `second`, in a new attempt, and succeeds on its third call.
    let out = engage(&root, &["run", file.to_str().unwrap(), "--resume", &failed_id, "--json", "--no-progress"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["run_id"], failed_id.as_str());
    assert_eq!(summary["stages"][0]["attempts"], 1, "first stayed committed");
    assert_eq!(summary["stages"][1]["attempts"], 3);

    // A succeeded run has nothing to resume, and says so even when the file has since been broken:
    // the record is read before the file.
    std::fs::write(&file, "[[stage]]\nname = \"a\"\nplugin = \"nothere\"\n").unwrap();
    let with_file = ["run", file.to_str().unwrap(), "--resume", run_id.as_str(), "--no-progress"];
    for args in [&with_file[..], &["run", "--resume", failed_id.as_str(), "--no-progress"]] {
        let out = engage(&root, args);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("already succeeded; there is nothing to resume") && !err.contains("nothere"), "{err}");
    }
}

#[test]
fn a_malformed_pipeline_fails_before_running_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[[stage]]\nname = \"a\"\nplugin = \"nothere\"\nafter = [\"zz\"]\n").unwrap();
    let out = engage(&dir.path().join("data"), &["run", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml:3: stage 'a': plugin 'nothere' not found"), "{stderr}");
    assert!(stderr.contains("bad.toml:4: stage 'a': after names unknown stage 'zz'"), "{stderr}");
    assert!(!dir.path().join("data/runs").exists(), "nothing ran");
}

#[test]
fn a_run_killed_mid_stage_resumes_from_that_stage() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kill.toml");
    std::fs::write(
        &file,
        r#"
name = "kill"
[defaults]
timeout = "60s"
memory = "64MiB"
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
params = { mode = "hang-once", bucket = "work", marker = "run=${run_id}/hung" }
"#,
    )
    .unwrap();
    let root = dir.path().join("data");
    let mut child = support::engage_command(&root, "cli")
        .args(["run", file.to_str().unwrap(), "--no-progress"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Wait until `second` is spinning, then kill the process outright.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run_id = loop {
        assert!(std::time::Instant::now() < deadline, "the run never reached its second stage");
        let hung = std::fs::read_dir(root.join("work")).ok().and_then(|entries| {
            entries.flatten().find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = name.strip_prefix("run=")?.to_string();
                e.path().join("hung").exists().then_some(id)
            })
        });
        if let Some(id) = hung {
            break id;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // While it runs, a second process may not resume it, and the record says running.
    let out = engage(&root, &["run", file.to_str().unwrap(), "--resume", &run_id, "--no-progress"]);
    assert!(!out.status.success(), "a run being executed must not be resumed beside it");
    let stderr = text(&out.stderr);
    let host = text(&Command::new("hostname").output().unwrap().stdout).trim().to_string();
    let refusal = format!("run {run_id} is being run by pid {} on host {host}; wait for it or stop it", child.id());
    assert!(stderr.contains(&refusal), "expected `{refusal}` in: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let out = engage(&root, &["runs", "show", &run_id, "--json"]);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "running");
    assert_eq!(record["stages"][1]["attempts"].as_array().unwrap().len(), 1, "the refused resume touched nothing");

    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let out = engage(&root, &["runs", "show", &run_id, "--json"]);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "interrupted", "a killed run's process is gone: {record}");
    assert_eq!(record["stages"][0]["status"], "committed", "its record says how far it got");
    assert_eq!(record["stages"][1]["status"], "running");
    let out = engage(&root, &["runs", "show", &run_id]);
    assert!(text(&out.stdout).lines().any(|l| l.starts_with("status") && l.ends_with("interrupted")), "{}", text(&out.stdout));
    let out = engage(&root, &["runs", "list"]);
    let listed = text(&out.stdout);
    assert!(listed.lines().any(|l| l.starts_with(run_id.as_str()) && l.contains("interrupted")), "{listed}");

    let out = engage(&root, &["run", file.to_str().unwrap(), "--resume", &run_id, "--json", "--no-progress"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let out = engage(&root, &["runs", "show", &run_id, "--json"]);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["stages"][0]["attempts"].as_array().unwrap().len(), 1, "first was not rerun");
    let second = record["stages"][1]["attempts"].as_array().unwrap();
    assert_eq!(second.len(), 2);
    assert!(second[0]["ended"].is_null(), "the killed attempt never ended");
    assert_eq!(second[1]["attempt"], 2);
    assert_eq!(record["stages"][1]["output"]["summary"]["hung_before"], true);
}

/// `engage ... | head -1`: the reader closes the pipe early; engage stops quietly with
/// status 0 instead of panicking with "failed printing to stdout: Broken pipe".
#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let engage = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_engage"));
        command.current_dir(dir.path()).args(["--root", "data"]);
        command
    };
    for args in [&["data", "generate", "--users", "300", "--weeks", "2", "--format", "parquet", "--out", "landing"][..], &["ingest", "landing", "--table", "users"]] {
        let out = engage().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    // 600 wide rows are far more than a pipe buffers, so printing them must meet the closed pipe.
    for args in [&["sql", "SELECT * FROM users"][..], &["sql", "--format", "csv", "SELECT * FROM users"], &["catalog", "describe", "users"]] {
        let mut child = engage().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!first.is_empty(), "{args:?} printed nothing: {stderr}");
        assert!(out.status.success() && !stderr.contains("panicked"), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// `engage run 2>&1 | head -1`: the log's reader goes away. The run goes on without its log and ends;
/// it hung before, a stage thread panicked by the log's own report of the failed write.
#[test]
fn a_run_whose_log_pipe_is_closed_still_finishes() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smoke.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    let root = dir.path().join("data");
    let mut child = support::engage_command(&root, "cli")
        .args(["run", file.to_str().unwrap(), "--no-progress", "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("engage run with a closed stderr did not finish in 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let out = engage(&root, &["runs", "list"]);
    assert!(text(&out.stdout).contains("succeeded"), "{}", text(&out.stdout));
}
