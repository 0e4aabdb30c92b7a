//! `engage deploy asl` and `engage stage run|finish`: the definition is valid by
//! the npm `asl-validator`, carries retry, catch, timeout, map and parallel over,
//! and — walked state by state by a small interpreter that runs each Task's
//! container command with the `engage` binary — scores every user exactly as
//! `engage run` does on the same data.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::AsArray;
use arrow::datatypes::Float64Type;
use engage::capabilities::sql::SqlEngine;
use engage::local_host::LocalHost;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn weekly() -> PathBuf {
    repo().join("pipelines/weekly-engagement.toml")
}

fn engage(root: &Path) -> Command {
    support::engage_command(root, "deploy")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn asl(pipeline: &Path, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = engage(dir.path())
        .args(["deploy", "asl"])
        .arg(pipeline)
        .args(["--cluster", "engage-weekly", "--subnet", "subnet-0a1b2c3d", "--security-group", "sg-0c2d3e4f"])
        .args(extra)
        .output()
        .unwrap();
    serde_json::from_str(&ok(out, "deploy asl")).expect("deploy asl prints JSON")
}

/// The npm asl-validator that scripts/test.sh installs under tests/node.
fn validate(definition: &Value) -> Result<(), String> {
    let validator = repo().join("tests/node/node_modules/.bin/asl-validator");
    assert!(validator.exists(), "{} is missing: run `npm install --prefix tests/node` (scripts/test.sh does)", validator.display());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(definition).unwrap()).unwrap();
    let out = Command::new(validator).arg("--json-path").arg(file.path()).output().unwrap();
    if out.status.success() { Ok(()) } else { Err(format!("{}{}", text(&out.stdout), text(&out.stderr))) }
}

#[test]
fn the_weekly_pipeline_becomes_a_valid_state_machine_with_its_structure_carried_over() {
    let d = asl(&weekly(), &[]);
    validate(&d).unwrap();
    let states = &d["States"];
    // ingest and cleanup have no `after`: they start side by side.
    assert_eq!(d["StartAt"], "ingest + cleanup");
    let parallel = &states["ingest + cleanup"];
    assert_eq!(parallel["Type"], "Parallel");
    assert_eq!(parallel["Branches"].as_array().unwrap().len(), 2);
    assert_eq!(parallel["Next"], "prepare");
    // prepare: 3 attempts in the file are 2 retries here; 10m timeout plus the start-up allowance.
    let prepare = &states["prepare"];
    assert_eq!(prepare["Retry"][0]["MaxAttempts"], 2);
    assert_eq!(prepare["Retry"][0]["JitterStrategy"], "FULL");
    assert_eq!(prepare["TimeoutSeconds"], 600 + 300);
    assert_eq!(prepare["Catch"].as_array().unwrap().last().unwrap()["Next"], "Record failure");
    // predict: a Map over its 4 shards, 2 at a time, each shard retried alone.
    assert_eq!(states["predict shards"]["Result"], json!([0, 1, 2, 3]));
    let predict = &states["predict"];
    assert_eq!(predict["Type"], "Map");
    assert_eq!(predict["MaxConcurrency"], 2);
    let shard = &predict["ItemProcessor"]["States"]["predict shard"];
    assert!(shard["Retry"].is_array());
    let command = shard["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command.$"].as_str().unwrap();
    assert!(command.contains("'--shard', States.Format('{}', $.shard)"), "{command}");
    assert_eq!(states["report"]["Next"], "Finish run");
    assert_eq!(states["Run failed"]["Type"], "Fail");
}

#[test]
fn a_catch_routes_to_the_fallback_which_runs_in_place_of_the_failed_stage() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fallback.toml");
    std::fs::write(
        &file,
        r#"
name = "with-fallback"
[[stage]]
name = "score"
native = "report"
retry = { max_attempts = 3, interval = "2s", backoff_rate = 1.5, on = ["io"] }
catch = { on = ["failed", "timeout"], next = "score-simple" }
[[stage]]
name = "score-simple"
native = "report"
fallback_only = true
[[stage]]
name = "after"
native = "report"
after = ["score"]
"#,
    )
    .unwrap();
    let d = asl(&file, &["--config-path", "/opt/engage/config/other.toml"]);
    validate(&d).unwrap();
    let score = &d["States"]["score"];
    assert_eq!(score["Retry"][0]["ErrorEquals"], json!(["States.TaskFailed"]));
    assert_eq!(score["Retry"][0]["IntervalSeconds"], 2);
    assert_eq!(score["Catch"][0]["ErrorEquals"], json!(["States.TaskFailed", "States.Timeout"]));
    assert_eq!(score["Catch"][0]["Next"], "score-simple");
    let fallback = &d["States"]["score-simple"];
    assert_eq!(fallback["Next"], "after", "the fallback continues where the stage it replaces would");
    let command = fallback["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command.$"].as_str().unwrap();
    assert!(command.contains("'--replaces', 'score'"), "{command}");
    assert!(command.contains("'--config', '/opt/engage/config/other.toml'"), "{command}");
}

#[test]
fn by_default_every_task_reads_the_pipeline_and_the_hosted_config_where_the_image_has_them() {
    let d = asl(&weekly(), &[]);
    let command = d["States"]["prepare"]["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command.$"].as_str().unwrap();
    assert!(command.contains("'/opt/engage/pipelines/weekly-engagement.toml'"), "{command}");
    assert!(command.contains("'--config', '/opt/engage/config/hosted.toml'"), "{command}");
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY pipelines/ /opt/engage/pipelines/") && dockerfile.contains("COPY config/ /opt/engage/config/"));
}

#[test]
fn invalid_identifiers_are_refused_naming_the_flag_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    // The good flags with one of them replaced by the case's value.
    let with = |good: &[&'static str], (flag, value): (&'static str, &'static str)| -> Vec<&'static str> {
        let mut args: Vec<&str> = good.to_vec();
        match args.iter().position(|a| *a == flag) {
            Some(i) => args[i + 1] = value,
            None => args.extend([flag, value]),
        }
        args
    };
    let good_asl = ["--cluster", "engage", "--subnet", "subnet-0a1b2c3d", "--task-definition", "engage:3", "--container", "engage"];
    let asl_cases = [
        (("--cluster", ""), "--cluster ''"),
        (("--subnet", ""), "--subnet ''"),
        (("--task-definition", ""), "--task-definition ''"),
        (("--container", ""), "--container ''"),
        (("--subnet", "not-a-subnet"), "--subnet 'not-a-subnet'"),
        (("--security-group", "foo"), "--security-group 'foo'"),
        (("--task-definition", "arn:bad"), "--task-definition 'arn:bad'"),
        (("--cluster", "bad cluster!"), "--cluster 'bad cluster!'"),
    ];
    for (case, expected) in asl_cases {
        let extra = with(&good_asl, case);
        let out = engage(dir.path()).args(["deploy", "asl"]).arg(weekly()).args(&extra).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted: {}", text(&out.stdout));
        assert!(stderr.contains(expected), "{extra:?}: expected {expected:?} in {stderr}");
        assert!(out.stdout.is_empty(), "nothing written");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let good_td = [
        "--image", "engage:test", "--execution-role-arn", "arn:aws:iam::123456789012:role/e",
        "--task-role-arn", "arn:aws:iam::123456789012:role/t", "--region", "eu-west-1",
    ];
    let td_cases = [
        (("--execution-role-arn", "notanarn"), "--execution-role-arn 'notanarn'"),
        (("--task-role-arn", "arn:aws:s3:::bucket"), "--task-role-arn 'arn:aws:s3:::bucket'"),
        (("--region", "EU WEST"), "--region 'EU WEST'"),
        (("--image", "bad image with spaces"), "--image 'bad image with spaces'"),
        (("--log-group", "bad group!"), "--log-group 'bad group!'"),
    ];
    for (case, expected) in td_cases {
        let extra = with(&good_td, case);
        let out = engage(dir.path()).args(["deploy", "task-definition"]).args(&extra).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted: {}", text(&out.stdout));
        assert!(stderr.contains(expected), "{extra:?}: expected {expected:?} in {stderr}");
        assert!(out.stdout.is_empty(), "nothing written");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn the_validator_rejects_a_broken_definition() {
    // The check above is only worth something if the validator says no.
    let mut d = asl(&weekly(), &[]);
    d["States"]["train"]["Next"] = json!("nowhere");
    assert!(validate(&d).is_err());
}

#[test]
fn a_task_definition_is_fargate_ready_and_refuses_sizes_fargate_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["deploy", "task-definition", "--image", "engage:test", "--execution-role-arn", "arn:aws:iam::123456789012:role/e"];
    let run = |extra: &[&str]| {
        engage(dir.path())
            .args(base)
            .args(["--task-role-arn", "arn:aws:iam::123456789012:role/t", "--region", "eu-west-1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let d: Value = serde_json::from_str(&ok(run(&[]), "task-definition")).unwrap();
    let container = &d["containerDefinitions"][0];
    assert_eq!(d["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(container["user"], "65532:65532", "the image's user (Dockerfile USER), not root");
    assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
    let bad = run(&["--cpu", "1024", "--memory", "16384"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("2048 to 8192"), "{}", text(&bad.stderr));
}

// ---- the state machine, run ----------------------------------------------

const USERS: &str = "2000";

fn root_with_sample(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    let out = engage(&root)
        .args(["data", "generate", "--users", USERS, "--weeks", "4", "--seed", "23", "--format", "csv", "--out"])
        .arg(root.join("landing/users"))
        .output()
        .unwrap();
    ok(out, "data generate");
    root
}

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

/// Just enough of Step Functions to walk an `engage deploy asl` definition: Task
/// (the container command run with the engage binary), Pass, Parallel, Map, Fail,
/// Retry and Catch. Branches and shards run one after another.
struct Machine<'a> {
    root: &'a Path,
    execution_id: &'a str,
    started: &'a str,
    /// Every container command run, in order.
    log: Vec<Vec<String>>,
    /// What the last task printed.
    last_stdout: String,
}

impl Machine<'_> {
    fn run(&mut self, states: &Value, start: &str, mut input: Value) -> Result<Value, String> {
        let mut name = start.to_string();
        loop {
            let state = &states[&name];
            let result = match state["Type"].as_str().unwrap() {
                "Pass" => {
                    let key = state["ResultPath"].as_str().unwrap().trim_start_matches("$.");
                    input[key] = state["Result"].clone();
                    Ok(())
                }
                "Fail" => return Err(state["Error"].as_str().unwrap().to_string()),
                "Task" => self.task(state, &input),
                "Parallel" => state["Branches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .try_for_each(|b| self.run(&b["States"], b["StartAt"].as_str().unwrap(), input.clone()).map(drop)),
                "Map" => {
                    let items = input[state["ItemsPath"].as_str().unwrap().trim_start_matches("$.")].as_array().unwrap().clone();
                    let processor = &state["ItemProcessor"];
                    items.iter().try_for_each(|item| {
                        self.run(&processor["States"], processor["StartAt"].as_str().unwrap(), json!({ "shard": item })).map(drop)
                    })
                }
                other => panic!("state type {other} is not one engage deploy asl writes"),
            };
            if let Err(error) = result {
                let catch = state["Catch"].as_array().into_iter().flatten().find(|c| matches(&c["ErrorEquals"], &error));
                match catch {
                    Some(c) => {
                        name = c["Next"].as_str().unwrap().to_string();
                        continue;
                    }
                    None => return Err(error),
                }
            }
            if state["End"] == true {
                return Ok(input);
            }
            name = state["Next"].as_str().unwrap().to_string();
        }
    }

    /// Runs a Task with its Retry rules; an exit code other than 0 is States.TaskFailed.
    fn task(&mut self, state: &Value, input: &Value) -> Result<(), String> {
        let template = state["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command.$"].as_str().unwrap();
        let retries = state["Retry"][0]["MaxAttempts"].as_u64().unwrap_or(0);
        for retry_count in 0..=retries {
            let args = intrinsic(template, &|path| match path {
                "$$.Execution.Id" => json!(self.execution_id),
                "$$.Execution.StartTime" => json!(self.started),
                "$$.State.RetryCount" => json!(retry_count),
                p => input[p.trim_start_matches("$.")].clone(),
            });
            let args: Vec<String> = args.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            self.log.push(args.clone());
            // As the task definition sets it: metrics as EMF lines.
            let out = engage(self.root).env("ENGAGE_METRICS", "emf").args(&args).output().unwrap();
            self.last_stdout = text(&out.stdout);
            if out.status.success() {
                return Ok(());
            }
            eprintln!("task {args:?} failed: {}", text(&out.stderr));
        }
        Err("States.TaskFailed".into())
    }
}

fn matches(errors: &Value, error: &str) -> bool {
    errors.as_array().unwrap().iter().any(|e| e == "States.ALL" || e == error)
}

/// Evaluates the intrinsic functions `deploy asl` uses: States.Array, States.Format
/// with `{}`, States.MathAdd, quoted literals and paths.
fn intrinsic(text: &str, path: &dyn Fn(&str) -> Value) -> Value {
    let text = text.trim();
    if let Some(body) = text.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = body.strip_suffix('\'').unwrap().chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
        return json!(out);
    }
    if text.starts_with('$') {
        return path(text);
    }
    let (function, rest) = text.split_once('(').unwrap();
    let args: Vec<Value> = split_args(rest.strip_suffix(')').unwrap()).iter().map(|a| intrinsic(a, path)).collect();
    match function {
        "States.Array" => Value::Array(args),
        "States.Format" => {
            let value = match &args[1] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!(args[0].as_str().unwrap().replacen("{}", &value, 1))
        }
        "States.MathAdd" => {
            json!(args[0].as_i64().unwrap() + args[1].as_i64().unwrap_or_else(|| args[1].as_str().unwrap().parse().unwrap()))
        }
        other => panic!("intrinsic {other} is not one engage deploy asl writes"),
    }
}

/// Top-level comma-separated arguments (commas inside quotes or parentheses stay).
fn split_args(text: &str) -> Vec<String> {
    let (mut args, mut current, mut depth, mut quoted, mut escaped) = (Vec::new(), String::new(), 0, false, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                args.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        args.push(current);
    }
    // MathAdd's second argument is a bare number.
    args.into_iter().map(|a| if a.trim().parse::<i64>().is_ok() { format!("'{}'", a.trim()) } else { a }).collect()
}

#[test]
fn the_state_machine_run_task_by_task_scores_like_engage_run() {
    let dir = tempfile::tempdir().unwrap();
    let reference_root = root_with_sample(&dir.path().join("reference"));
    let out = engage(&reference_root).arg("run").arg(weekly()).args(["--json", "--no-progress", "--metrics", "emf"]).output().unwrap();
    let stdout = ok(out, "engage run");
    let reference = scores(&reference_root);

    // The run's metrics as CloudWatch Embedded Metric Format, one JSON line each.
    let emf: Vec<Value> =
        stdout.lines().filter(|l| l.starts_with('{') && l.contains("\"_aws\":")).map(|l| serde_json::from_str(l).unwrap()).collect();
    let train = emf.iter().find(|d| d["Stage"] == "train").expect("an EMF line for train");
    assert_eq!(train["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Engage");
    assert!(train["AUC"].as_f64().unwrap() > 0.6);
    let predict = emf.iter().find(|d| d["Stage"] == "predict").unwrap();
    assert_eq!(predict["Rows"].as_u64().unwrap(), reference.len() as u64);

    let root = root_with_sample(&dir.path().join("stepfunctions"));
    // Run here rather than in the image: this checkout's pipeline, and the local config (every
    // task on the one storage root `--root` names) in place of the image's hosted one.
    let local_config = repo().join("config/local.toml");
    let definition = asl(&weekly(), &["--pipeline-path", weekly().to_str().unwrap(), "--config-path", local_config.to_str().unwrap()]);
    let mut machine = Machine {
        root: &root,
        execution_id: "arn:aws:states:eu-west-1:1:execution:weekly:week-48",
        started: "2026-11-29T03:00:00.000Z",
        log: Vec::new(),
        last_stdout: String::new(),
    };
    let result = machine.run(&definition["States"], definition["StartAt"].as_str().unwrap(), json!({}));
    assert!(result.is_ok(), "the state machine failed: {result:?}\ncommands: {:#?}", machine.log);

    // One task per stage, one per shard of predict, and one to finish.
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for args in machine.log.iter().filter(|a| a[1] == "run") {
        let stage = &args[args.iter().position(|a| a == "--stage").unwrap() + 1];
        *runs.entry(stage.clone()).or_default() += 1;
    }
    let pipeline_stages = std::fs::read_to_string(weekly()).unwrap().matches("[[stage]]").count();
    assert_eq!(runs.len(), pipeline_stages, "every stage ran: {runs:?}");
    assert_eq!(runs["predict"], 4, "one task per shard: {runs:?}");
    assert!(runs.iter().all(|(stage, n)| stage == "predict" || *n == 1), "no retries needed: {runs:?}");
    assert_eq!(machine.log.last().unwrap()[..2], ["stage".to_string(), "finish".to_string()]);
    assert!(machine.last_stdout.contains(r#""Stage":"train""#), "finish prints the run's EMF lines:\n{}", machine.last_stdout);

    // The run record says what happened, under the id every task derived from the execution.
    let runs = ok(engage(&root).args(["runs", "list", "--json"]).output().unwrap(), "runs list");
    let runs: Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["status"], "succeeded");
    assert!(runs[0]["run_id"].as_str().unwrap().starts_with("20261129-030000-"));

    let actual = scores(&root);
    assert_eq!(actual.len(), reference.len(), "every user scored once");
    for (user, p) in &reference {
        let q = actual[user];
        assert!((p - q).abs() < 1e-12, "user {user}: engage run {p}, state machine {q}");
    }

    // The run succeeded and published: a late task is refused, a retried finish answers the same.
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    let out = engage(&root).args(["stage", "run"]).arg(weekly()).args(["--run", &run_id, "--stage", "cleanup", "--attempt", "3"]).output().unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains("already succeeded"), "{}", text(&out.stderr));
    ok(engage(&root).args(["stage", "finish"]).arg(weekly()).args(["--run", &run_id]).output().unwrap(), "a second stage finish");
    let show: Value = serde_json::from_str(&ok(engage(&root).args(["runs", "show", &run_id, "--json"]).output().unwrap(), "runs show")).unwrap();
    assert_eq!(show["status"], "succeeded");
}

#[test]
fn stage_tasks_keep_the_run_record_true() {
    let dir = tempfile::tempdir().unwrap();
    let run = "20261129-030000-beef";
    let task = |pipeline: &Path, args: &[&str]| engage(dir.path()).args(["stage", "run"]).arg(pipeline).args(["--run", run]).args(args).output().unwrap();

    // Finishing a run nothing ran for is an error, not a failed run.
    let out = engage(dir.path()).args(["stage", "finish"]).arg(weekly()).args(["--run", run]).output().unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains(&format!("no run '{run}'")), "{}", text(&out.stderr));
    assert!(!dir.path().join("runs").join(run).join("run.json").exists());

    // Only a stage's catch.next fallback may stand in for it.
    let out = task(&weekly(), &["--stage", "cleanup", "--replaces", "ingest"]);
    assert!(!out.status.success() && text(&out.stderr).contains("is not the catch.next fallback of stage 'ingest'"), "{}", text(&out.stderr));

    // The record shows a task's outcome as soon as it ends.
    ok(task(&weekly(), &["--stage", "cleanup"]), "stage run cleanup");
    let show: Value = serde_json::from_str(&ok(engage(dir.path()).args(["runs", "show", run, "--json"]).output().unwrap(), "runs show")).unwrap();
    let cleanup = show["stages"].as_array().unwrap().iter().find(|s| s["name"] == "cleanup").unwrap();
    assert_eq!(cleanup["status"], "committed", "{cleanup}");

    // A task of another pipeline does not join this run.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, std::fs::read_to_string(weekly()).unwrap().replacen("name = \"weekly-engagement\"", "name = \"other\"", 1)).unwrap();
    let out = task(&other, &["--stage", "cleanup", "--attempt", "2"]);
    assert!(!out.status.success() && text(&out.stderr).contains("is a run of pipeline 'weekly-engagement', not 'other'"), "{}", text(&out.stderr));

    // Ending the run early names every stage that never ran.
    let out = engage(dir.path()).args(["stage", "finish"]).arg(weekly()).args(["--run", run]).output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("the run was ended before stage(s) ingest, prepare"), "{err}");
}

#[test]
fn a_stage_task_refuses_to_run_before_the_stages_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let out = engage(dir.path())
        .args(["stage", "run"])
        .arg(weekly())
        .args(["--run", "20261129-030000-abcd", "--stage", "predict", "--shard", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("runs after [train], which have not committed"), "{err}");

    let out = engage(dir.path())
        .args(["stage", "run"])
        .arg(weekly())
        .args(["--run", "20261129-030000-abcd", "--stage", "predict"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("mapped over 4 shards: pass --shard"), "{}", text(&out.stderr));
}

#[test]
fn the_usage_line_lists_only_the_required_flags_even_with_env_set_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = engage(dir.path()).env("ENGAGE_ROOT", dir.path()).args(["deploy", "asl"]).arg(weekly()).args(["--cluster", "c"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    let usage = stderr.lines().find(|l| l.starts_with("Usage:")).unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(usage, "Usage: engage deploy asl [OPTIONS] --cluster <CLUSTER> --subnet <SUBNET>... <PIPELINE>");
}
