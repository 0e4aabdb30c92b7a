//! The pipeline file's validation, and the executor's retry, catch, timeout,
//! parallel branches, map, resume, publishing and run isolation, with test steps.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use engage::catalog::{Column, TableDef, TableFormat};
use engage::pipeline::executor::{Executor, Registry};
use engage::pipeline::record::{RunRecord, RunStatus, StageStatus};
use engage::pipeline::setup::local_services_with;
use engage::pipeline::spec::{self, LoadOptions, Pipeline};
use engage::pipeline::step::{ErrorKind, Step, StepContext, StepError, StepOutput, WORK_BUCKET};
use engage::runtime::{Runtime, RuntimeConfig};
use serde_json::json;

// ---- helpers -------------------------------------------------------------

fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let cache = std::env::temp_dir().join(format!("engage-test-cache-{}", std::process::id()));
            Arc::new(Runtime::new(RuntimeConfig { cache_dir: Some(cache), pooling: false }).expect("runtime starts"))
        })
        .clone()
}

fn executor(root: &Path, registry: Registry) -> Executor {
    let services = local_services_with(root, &support::plugin_dir(), runtime()).expect("services");
    Executor::new(services, registry)
}

fn pipeline(text: &str, registry: &Registry) -> Pipeline {
    let options = LoadOptions { native_steps: registry.keys().cloned().collect(), ..Default::default() };
    spec::parse(text, "test.toml", &options).unwrap_or_else(|e| panic!("pipeline is valid:\n{e}"))
}

fn errors_of(text: &str, options: &LoadOptions) -> Vec<String> {
    spec::parse(text, "pipelines/x.toml", options).expect_err("the file has mistakes").0
}

fn registry(steps: &[(&str, Arc<dyn Step>)]) -> Registry {
    steps.iter().map(|(n, s)| (n.to_string(), s.clone())).collect()
}

fn ok(summary: serde_json::Value) -> Result<StepOutput, StepError> {
    Ok(StepOutput { rows_in: 1, rows_out: 1, outputs: vec![], summary })
}

/// One call of a step: stage, shard, start, end.
type Call = (String, Option<u32>, Instant, Instant);

/// Records every call and sleeps for `sleep`.
#[derive(Default)]
struct Recorder {
    sleep: Duration,
    calls: Mutex<Vec<Call>>,
    running: AtomicU32,
    max_running: AtomicU32,
}

impl Recorder {
    fn sleeping(sleep: Duration) -> Arc<Self> {
        Arc::new(Self { sleep, ..Default::default() })
    }
    fn calls_of(&self, stage: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|c| c.0 == stage).count()
    }
}

impl Step for Recorder {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let start = Instant::now();
        std::thread::sleep(self.sleep);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.calls.lock().unwrap().push((ctx.stage.to_string(), ctx.shard.map(|s| s.index), start, Instant::now()));
        let upstream: Vec<&String> = ctx.upstream.keys().collect();
        ok(json!({ "stage": ctx.stage, "upstream": upstream, "rows": 1 }))
    }
}

/// Fails with `kind` for the first `failures` calls, then succeeds; keeps the call times.
struct Flaky {
    failures: u32,
    kind: ErrorKind,
    calls: Mutex<Vec<Instant>>,
}

impl Flaky {
    fn new(failures: u32, kind: ErrorKind) -> Arc<Self> {
        Arc::new(Self { failures, kind, calls: Mutex::new(Vec::new()) })
    }
}

impl Step for Flaky {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Instant::now());
        if calls.len() as u32 <= self.failures {
            return Err(StepError::new(self.kind, format!("{} call {} fails", ctx.stage, calls.len())));
        }
        ok(json!({ "calls": calls.len() }))
    }
}

/// Fails while `fail` is set.
#[derive(Default)]
struct Switch {
    fail: AtomicBool,
    calls: AtomicU32,
    attempts: Mutex<Vec<u32>>,
}

impl Step for Switch {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.attempts.lock().unwrap().push(ctx.attempt);
        if self.fail.load(Ordering::SeqCst) {
            return Err(StepError::io(format!("{} is switched off", ctx.stage)));
        }
        ok(json!({ "upstream": ctx.upstream.keys().collect::<Vec<_>>() }))
    }
}

fn stage<'a>(record: &'a RunRecord, name: &str) -> &'a engage::pipeline::record::StageRecord {
    record.stage(name).unwrap_or_else(|| panic!("stage {name} in the record"))
}

// ---- validation ----------------------------------------------------------

#[test]
fn a_malformed_file_reports_every_mistake_with_its_line() {
    let text = r#"name = "x"

[vars]
source = "users"

[[stage]]
name = "prepare"
native = "ingest"
grants = { storage = ["raed:processed/"] }
timeout = "10 minutes"

[[stage]]
name = "train"
native = "nope"
after = ["prep"]
retry = { max_attempts = 2, on = ["io", "flaky"] }
colour = "blue"

[[stage]]
name = "predict"
native = "ingest"
params = { table = "${missing}" }
catch = { next = "train" }
memory = "lots"
"#;
    let options = LoadOptions { native_steps: ["ingest".to_string()].into(), ..Default::default() };
    let errors = errors_of(text, &options);
    let joined = errors.join("\n");
    // `colour` stops the `train` table from being read at all; its other mistakes wait for the next run.
    for expected in [
        "pipelines/x.toml:9: stage 'prepare': bad grant: storage grant 'raed:processed/': access must be 'read' or 'write'",
        "pipelines/x.toml:10: stage 'prepare': timeout: bad duration '10 minutes'",
        "pipelines/x.toml:17: stage 'train': unknown field `colour`",
        "pipelines/x.toml:22: stage 'predict': params: unknown variable '${missing}'",
        "pipelines/x.toml:24: stage 'predict': memory: bad size 'lots'",
    ] {
        assert!(errors.iter().any(|e| e.starts_with(expected)), "missing {expected:?} in:\n{joined}");
    }
    // `train` exists, it just could not be read: naming it is no second mistake.
    assert!(!joined.contains("unknown stage 'train'"), "a follow-on error of the unreadable stage:\n{joined}");

    let text = text.replace("colour = \"blue\"\n", "");
    let errors = errors_of(&text, &options);
    let joined = errors.join("\n");
    for expected in [
        "pipelines/x.toml:14: stage 'train': unknown native step 'nope' (this host has: ingest)",
        "pipelines/x.toml:15: stage 'train': after names unknown stage 'prep'",
        "pipelines/x.toml:16: stage 'train': retry.on: unknown error kind 'flaky'",
        "pipelines/x.toml:22: stage 'predict': catch.next names 'train', which is not marked fallback_only = true",
    ] {
        assert!(errors.iter().any(|e| e.starts_with(expected)), "missing {expected:?} in:\n{joined}");
    }
}

#[test]
fn structural_mistakes_are_reported_with_lines() {
    let options = LoadOptions { native_steps: ["s".to_string()].into(), ..Default::default() };
    // TOML syntax.
    let errors = errors_of("name = \"x\"\n[[stage]\nname = \"a\"\n", &options);
    assert!(errors[0].starts_with("pipelines/x.toml:2: "), "{errors:?}");
    // Missing and duplicate `plugin`/`native`, duplicate names, unknown top-level keys.
    let text = "nmae = \"x\"\n[[stage]]\nname = \"a\"\n[[stage]]\nname = \"b\"\nnative = \"s\"\nplugin = \"p\"\n[[stage]]\nname = \"b\"\nnative = \"s\"\n";
    let errors = errors_of(text, &options);
    let joined = errors.join("\n");
    for expected in [
        "pipelines/x.toml:1: unknown field `nmae`",
        "pipelines/x.toml:3: stage 'a': missing 'plugin' or 'native'",
        "pipelines/x.toml:7: stage 'b': set either 'plugin' or 'native', not both",
        "pipelines/x.toml:9: stage 'b': duplicate stage name (first defined on line 5)",
    ] {
        assert!(errors.iter().any(|e| e.starts_with(expected)), "missing {expected:?} in:\n{joined}");
    }
}

#[test]
fn a_missing_plugin_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("engagement_features.wasm"), b"").unwrap();
    let options = LoadOptions { plugin_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    // A component is found under the name `plugin build` gives it (with '-') or cargo's (with '_').
    std::fs::write(dir.path().join("sessions-per-day.wasm"), b"").unwrap();
    let text = "[[stage]]\nname = \"a\"\nplugin = \"engagement-features\"\n[[stage]]\nname = \"b\"\nplugin = \"prepare\"\n\
                [[stage]]\nname = \"c\"\nplugin = \"sessions-per-day\"\n";
    let errors = errors_of(text, &options);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("pipelines/x.toml:6: stage 'b': plugin 'prepare' not found:"), "{errors:?}");
    assert!(errors[0].contains("prepare.wasm"), "{errors:?}");
}

/// An error quotes what the file says: a grant with a variable is quoted as written, not with the sample
/// values it was checked with; a misspelt key in one stage does not make the stages that name it fail too.
#[test]
fn errors_quote_the_file_and_an_unreadable_stage_causes_no_follow_on_errors() {
    let options = LoadOptions { native_steps: ["s".to_string()].into(), ..Default::default() };
    let text = r#"[[stage]]
name = "train"
native = "s"
grants = { storage = ["writ:work/${scratch}", "read:processed/"] }
afer = ["prep"]

[[stage]]
name = "predict"
native = "s"
after = ["train"]
catch = { next = "train" }

[[stage]]
name = "report"
native = "s"
after = ["predcit"]
"#;
    let errors = errors_of(text, &options);
    let joined = errors.join("\n");
    assert_eq!(errors.len(), 2, "{joined}");
    assert!(errors[0].starts_with("pipelines/x.toml:5: stage 'train': unknown field `afer`"), "{joined}");
    // A real unknown name is still reported.
    assert_eq!(errors[1], "pipelines/x.toml:16: stage 'report': after names unknown stage 'predcit'", "{joined}");

    let text = text.replace("afer = [\"prep\"]\n", "");
    let errors = errors_of(&text, &options);
    let joined = errors.join("\n");
    assert!(
        errors.iter().any(|e| e.starts_with("pipelines/x.toml:4: stage 'train': bad grant: storage grant 'writ:work/${scratch}'")),
        "{joined}"
    );
    assert!(!joined.contains("20260101"), "a sample value in an error:\n{joined}");
}

/// A feature step's transforms are plugins too: a missing one is reported before anything runs, at its line.
#[test]
fn a_missing_transform_plugin_file_is_reported_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("activity_features.wasm"), b"").unwrap();
    let options = LoadOptions { plugin_dir: Some(dir.path().to_path_buf()), native_steps: ["features".to_string()].into(), ..Default::default() };
    let text = r#"[[stage]]
name = "features"
native = "features"
params = { transforms = [
  "activity-features",
  "activity-featurez",
  "team-features@0.1.x",
  "bad@ref@",
] }
"#;
    let errors = errors_of(text, &options);
    let joined = errors.join("\n");
    assert_eq!(errors.len(), 2, "{joined}");
    assert!(errors[0].starts_with("pipelines/x.toml:6: stage 'features': transform 'activity-featurez' not found:"), "{joined}");
    assert!(errors[0].contains("activity_featurez.wasm"), "{joined}");
    assert!(errors[1].starts_with("pipelines/x.toml:8: stage 'features': transform "), "{joined}");
    // The weekly pipeline with one transform misspelt: the same error, from the real file.
    let weekly = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/weekly-engagement.toml")).unwrap();
    let line = weekly.lines().position(|l| l.contains("\"activity-features\"")).unwrap() + 1;
    let options = LoadOptions { plugin_dir: Some(support::plugin_dir()), ..LoadOptions::default() };
    let errors = match spec::parse(&weekly.replace("\"activity-features\"", "\"activity-featurez\""), "weekly.toml", &options) {
        Ok(_) => vec![],
        Err(e) => e.0,
    };
    assert!(
        errors.iter().any(|e| e.starts_with(&format!("weekly.toml:{line}: stage 'features': transform 'activity-featurez' not found"))),
        "{errors:?}"
    );
}

#[test]
fn cycles_are_detected() {
    let options = LoadOptions { native_steps: ["s".to_string()].into(), ..Default::default() };
    let text = r#"
[[stage]]
name = "a"
native = "s"
after = ["c"]

[[stage]]
name = "b"
native = "s"
after = ["a"]

[[stage]]
name = "c"
native = "s"
after = ["b"]

[[stage]]
name = "d"
native = "s"
after = ["d"]
"#;
    let errors = errors_of(text, &options);
    let cycles: Vec<&String> = errors.iter().filter(|e| e.contains("cycle")).collect();
    assert_eq!(cycles.len(), 1, "{errors:?}");
    assert!(cycles[0].contains("a -> c -> b -> a"), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("pipelines/x.toml:20: stage 'd': a stage cannot come after itself")), "{errors:?}");
}

/// Hands its params back as its summary.
struct Echo;

impl Step for Echo {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        ok(ctx.params.clone())
    }
}

#[test]
fn var_values_may_use_builtins_and_other_vars_expanded_where_used() {
    let root = tempfile::tempdir().unwrap();
    let reg = registry(&[("echo", Arc::new(Echo))]);
    let text = r#"
[vars]
out = "work/${scratch}"
file = "${out}${name}.csv"
name = "users_by_plan"
[[stage]]
name = "a"
native = "echo"
params = { table = "engage.users", output = "${out}", file = "${file}" }
"#;
    let p = pipeline(text, &reg);
    let record = executor(root.path(), reg).run(&p).unwrap();
    let summary = &stage(&record, "a").output.as_ref().unwrap().summary;
    let scratch = format!("run={}/a/attempt=1/", record.run_id);
    assert_eq!(summary["output"], format!("work/{scratch}"));
    assert_eq!(summary["file"], format!("work/{scratch}users_by_plan.csv"));
    assert_eq!(record.vars["out"], "work/${scratch}", "the record keeps vars as written");
}

#[test]
fn unknown_names_and_cycles_in_var_values_fail_validation_at_their_line() {
    let native_steps: std::collections::BTreeSet<String> = ["s".to_string()].into();
    let text = r#"
[vars]
out = "work/${scratch}"
bad = "work/${nosuch}/"
a = "${b}"
b = "${a}"
[[stage]]
name = "s"
native = "s"
params = { output = "${out}", other = "${bad}", loop = "${a}" }
"#;
    let errors = errors_of(text, &LoadOptions { native_steps: native_steps.clone(), ..Default::default() });
    assert_eq!(
        errors,
        [
            "pipelines/x.toml:4: [vars] 'bad': unknown variable '${nosuch}' in 'work/${nosuch}/'",
            "pipelines/x.toml:5: [vars] 'a': '${b}' leads back to 'a': a -> b -> a",
            "pipelines/x.toml:6: [vars] 'b': '${a}' leads back to 'b': b -> a -> b",
        ],
        "reported once each, at the var, not again where it is used"
    );
    // A --set value is checked the same way, and named by its option.
    let fixed = text.replace("${nosuch}", "x").replace("\"${a}\"", "\"y\"");
    let overrides = [("out".to_string(), "work/${nosuch}/".to_string())].into();
    let errors = errors_of(&fixed, &LoadOptions { native_steps, overrides, ..Default::default() });
    assert_eq!(errors, ["--set out: unknown variable '${nosuch}' in 'work/${nosuch}/'"]);
}

/// Two published transforms writing the same columns (two releases of one plugin, the likely case) fail
/// validation at their line, naming both releases, before anything runs.
#[test]
fn two_published_transforms_writing_one_column_fail_validation() {
    use engage::capabilities::storage::{LocalStorage, ObjectStore};
    let root = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStorage::new(root.path()).unwrap());
    let component = std::fs::read(support::plugin_path("engagement_features")).unwrap();
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/engagement-features/plugin.toml")).unwrap();
    let registry = engage::plugins::registry::Registry::new(store.clone());
    for version in ["1.0.0", "1.1.0"] {
        registry.publish(&manifest.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")), &component).unwrap();
    }
    let text = r#"
[[stage]]
name = "features"
native = "features"
params = { inputs = { training = "run.training_set" }, transforms = [
  "engagement-features@1.0.0",
  "engagement-features@1.x",
] }
"#;
    let options = LoadOptions { native_steps: ["features".to_string()].into(), ..Default::default() }.with_published(store);
    let errors = errors_of(text, &options);
    assert_eq!(errors.len(), 1, "one error however many columns the two share: {errors:?}");
    assert!(
        errors[0].starts_with(
            "pipelines/x.toml:7: stage 'features': transform 'engagement-features@1.x' (engagement-features@1.1.0) writes columns \
             'sessions_per_day_7d', 'session_trend', "
        ),
        "{errors:?}"
    );
    assert!(errors[0].contains("as does transform 'engagement-features@1.0.0'"), "{errors:?}");
    // A version given by a var is checked as the run resolves it.
    let with_var = format!("[vars]\nfirst = \"1.0.0\"\n{}", text.replace("features@1.0.0", "features@${first}"));
    let errors = errors_of(&with_var, &options);
    assert!(errors.len() == 1 && errors[0].contains("as does transform 'engagement-features@1.0.0'"), "{errors:?}");
}

#[test]
fn defaults_vars_and_overrides_are_applied() {
    let options = LoadOptions {
        native_steps: ["s".to_string()].into(),
        overrides: [("source".to_string(), "people".to_string())].into(),
        ..Default::default()
    };
    let text = r#"
max_parallel = 3
[vars]
source = "users"
weeks = 4
[defaults]
timeout = "90s"
retry = { max_attempts = 3, interval = "500ms", backoff_rate = 2.0, max_interval = "1s", jitter = "full", on = ["io"] }
[publish]
engagement_results = "${run_db}.results"
[[stage]]
name = "a"
native = "s"
timeout = "1h"
memory = "512MiB"
params = { source = "engage.${source}", weeks = "${weeks}", scratch = "${scratch}" }
[[stage]]
name = "b"
native = "s"
after = ["a"]
map = { shards = 4, max_concurrency = 2 }
"#;
    let p = spec::parse(text, "x.toml", &options).unwrap();
    assert_eq!(p.max_parallel, 3);
    assert_eq!(p.vars["source"], "people");
    assert_eq!(p.vars["weeks"], "4");
    let a = p.stage("a").unwrap();
    assert_eq!(a.timeout, Duration::from_secs(3600));
    assert_eq!(a.memory, 512 << 20);
    assert_eq!(a.retry.max_attempts, 3);
    let b = p.stage("b").unwrap();
    assert_eq!(b.timeout, Duration::from_secs(90));
    assert_eq!(b.map.unwrap().max_concurrency, 2);
    // Backoff: 0.5s, 1s, then capped at max_interval.
    assert_eq!(b.retry.delay(1), Duration::from_millis(500));
    assert_eq!(b.retry.delay(2), Duration::from_secs(1));
    assert_eq!(b.retry.delay(5), Duration::from_secs(1));
    assert_eq!(p.publish, vec![("engagement_results".to_string(), "${run_db}.results".to_string())]);
}

// ---- retry, catch, timeout -------------------------------------------------

#[test]
fn a_stage_that_fails_twice_is_retried_with_growing_backoff() {
    let root = tempfile::tempdir().unwrap();
    let flaky = Flaky::new(2, ErrorKind::Io);
    let reg = registry(&[("flaky", flaky.clone())]);
    let p = pipeline(
        r#"
[[stage]]
name = "load"
native = "flaky"
retry = { max_attempts = 3, interval = "100ms", backoff_rate = 3.0, jitter = "none", on = ["io"] }
"#,
        &reg,
    );
    let record = executor(root.path(), reg).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let load = stage(&record, "load");
    assert_eq!(load.status, StageStatus::Committed);
    let attempts: Vec<u32> = load.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert_eq!(load.attempts[0].error.as_ref().unwrap().kind, ErrorKind::Io);
    assert!(load.attempts[2].error.is_none());
    let calls = flaky.calls.lock().unwrap();
    let (gap1, gap2) = (calls[1] - calls[0], calls[2] - calls[1]);
    assert!(gap1 >= Duration::from_millis(100), "first wait {gap1:?}");
    assert!(gap2 >= Duration::from_millis(300), "second wait {gap2:?}");
    assert!(gap2 > gap1 + Duration::from_millis(100), "the wait grew: {gap1:?} then {gap2:?}");
}

#[test]
fn only_the_listed_error_kinds_are_retried() {
    let root = tempfile::tempdir().unwrap();
    let flaky = Flaky::new(5, ErrorKind::DataQuality);
    let reg = registry(&[("flaky", flaky.clone())]);
    let p = pipeline(
        "[[stage]]\nname = \"check\"\nnative = \"flaky\"\nretry = { max_attempts = 4, interval = \"10ms\", on = [\"io\", \"timeout\"] }\n",
        &reg,
    );
    let record = executor(root.path(), reg).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(stage(&record, "check").attempts.len(), 1);
    let error = record.error.unwrap();
    assert_eq!((error.stage.as_str(), error.kind), ("check", ErrorKind::DataQuality));
}

const CATCH_PIPELINE: &str = r#"
[[stage]]
name = "prepare"
native = "ok"

[[stage]]
name = "train"
native = "broken"
after = ["prepare"]
retry = { max_attempts = 2, interval = "10ms", on = ["failed"] }
catch = { on = ["failed"], next = "train-fallback" }

[[stage]]
name = "train-fallback"
native = "ok"
fallback_only = true

[[stage]]
name = "predict"
native = "ok"
after = ["train"]
"#;

#[test]
fn a_stage_that_always_fails_takes_the_catch_path() {
    let root = tempfile::tempdir().unwrap();
    let ok_step = Recorder::sleeping(Duration::ZERO);
    let broken = Flaky::new(u32::MAX, ErrorKind::Failed);
    let reg = registry(&[("ok", ok_step.clone()), ("broken", broken.clone())]);
    let p = pipeline(CATCH_PIPELINE, &reg);
    let record = executor(root.path(), reg).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let train = stage(&record, "train");
    assert_eq!(train.status, StageStatus::Caught);
    assert_eq!(train.replaced_by.as_deref(), Some("train-fallback"));
    assert_eq!(train.attempts.len(), 2, "retried before the catch");
    assert!(train.attempts.iter().all(|a| a.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Failed)));
    assert_eq!(stage(&record, "train-fallback").status, StageStatus::Committed);
    assert_eq!(stage(&record, "train-fallback").replaces.as_deref(), Some("train"));
    let predict = stage(&record, "predict");
    assert_eq!(predict.status, StageStatus::Committed);
    // The fallback's summary stands in for the stage it replaced.
    let upstream = &predict.output.as_ref().unwrap().summary["upstream"];
    assert!(upstream.as_array().unwrap().contains(&json!("train")), "{upstream}");
}

#[test]
fn a_stage_that_always_fails_can_fail_the_run_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let ok_step = Recorder::sleeping(Duration::ZERO);
    let broken = Flaky::new(u32::MAX, ErrorKind::Failed);
    let reg = registry(&[("ok", ok_step.clone()), ("broken", broken.clone())]);
    let text = CATCH_PIPELINE.replace("catch = { on = [\"failed\"], next = \"train-fallback\" }", "catch = { on = [\"all\"], fail_run = true }");
    let p = pipeline(&text, &reg);
    let exec = executor(root.path(), reg);
    let record = exec.run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.as_ref().unwrap();
    assert_eq!((error.stage.as_str(), error.kind), ("train", ErrorKind::Failed));
    assert!(error.message.contains("train call 2 fails"), "{}", error.message);
    assert_eq!(stage(&record, "prepare").status, StageStatus::Committed);
    assert_eq!(stage(&record, "train").status, StageStatus::Failed);
    assert_eq!(stage(&record, "train").attempts.len(), 2);
    assert_eq!(stage(&record, "train-fallback").status, StageStatus::Skipped);
    assert_eq!(stage(&record, "predict").status, StageStatus::Skipped);
    assert_eq!(ok_step.calls_of("predict"), 0);
    // The stored history says the same.
    let stored = exec.store().load(&record.run_id).unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    assert_eq!(stored.error.unwrap().stage, "train");
    assert_eq!(stored.stages[1].attempts[1].error.as_ref().unwrap().message, "train call 2 fails");
    assert!(exec.store().latest().unwrap().is_none(), "a failed run is not published");
}

/// Sleeps until cancelled (or 10 s), noting whether it saw the cancel.
#[derive(Default)]
struct Stubborn {
    saw_cancel: AtomicBool,
}

impl Step for Stubborn {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Err(e) = ctx.check_cancelled() {
                self.saw_cancel.store(true, Ordering::SeqCst);
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        ok(json!({}))
    }
}

#[test]
fn a_native_step_that_runs_too_long_is_recorded_as_timeout() {
    let root = tempfile::tempdir().unwrap();
    let stubborn = Arc::new(Stubborn::default());
    let reg = registry(&[("slow", stubborn.clone())]);
    let p = pipeline("[[stage]]\nname = \"slow\"\nnative = \"slow\"\ntimeout = \"200ms\"\n", &reg);
    let started = Instant::now();
    let record = executor(root.path(), reg).run(&p).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "the executor stopped waiting at the deadline");
    assert_eq!(record.status, RunStatus::Failed);
    let attempt = &stage(&record, "slow").attempts[0];
    let error = attempt.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("timeout of 200ms"), "{}", error.message);
    assert_eq!(record.error.unwrap().kind, ErrorKind::Timeout);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !stubborn.saw_cancel.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stubborn.saw_cancel.load(Ordering::SeqCst), "the abandoned attempt was told to stop");
}

// ---- parallel branches and map ---------------------------------------------

#[test]
fn independent_branches_run_at_the_same_time() {
    let root = tempfile::tempdir().unwrap();
    let rec = Recorder::sleeping(Duration::from_millis(300));
    let reg = registry(&[("work", rec.clone())]);
    let p = pipeline(
        r#"
max_parallel = 2
[[stage]]
name = "root"
native = "work"
[[stage]]
name = "left"
native = "work"
after = ["root"]
[[stage]]
name = "right"
native = "work"
after = ["root"]
[[stage]]
name = "join"
native = "work"
after = ["left", "right"]
"#,
        &reg,
    );
    let record = executor(root.path(), reg).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let calls = rec.calls.lock().unwrap();
    let span = |name: &str| calls.iter().find(|c| c.0 == name).map(|c| (c.2, c.3)).unwrap();
    let (root_s, left, right, join) = (span("root"), span("left"), span("right"), span("join"));
    assert!(left.0 < right.1 && right.0 < left.1, "left and right overlap");
    assert!(left.0 >= root_s.1 && right.0 >= root_s.1, "branches wait for their `after`");
    assert!(join.0 >= left.1 && join.0 >= right.1, "the join waits for both");
    assert_eq!(rec.max_running.load(Ordering::SeqCst), 2);
}

/// Per shard: calls, and a first failure for the shards in `fail_once`.
struct Shards {
    calls: Mutex<BTreeMap<u32, u32>>,
    fail_once: Vec<u32>,
    recorder: Arc<Recorder>,
}

impl Step for Shards {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let shard = ctx.shard.expect("a mapped stage gets a shard");
        assert_eq!(shard.count, 6);
        let calls = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(shard.index).or_default();
            *n += 1;
            *n
        };
        self.recorder.run(ctx)?;
        if self.fail_once.contains(&shard.index) && calls == 1 {
            return Err(StepError::io(format!("shard {} hiccup", shard.index)));
        }
        assert!(ctx.scratch_prefix().ends_with(&format!("shard={}/", shard.index)));
        Ok(StepOutput {
            rows_in: 10,
            rows_out: 10,
            outputs: vec![format!("{}.predictions", ctx.run_db)],
            summary: json!({ "users_scored": 10, "segments": { "high": 1, "low": 9 } }),
        })
    }
}

#[test]
fn a_map_stage_runs_every_shard_once_with_bounded_concurrency() {
    let root = tempfile::tempdir().unwrap();
    let shards = Arc::new(Shards {
        calls: Mutex::new(BTreeMap::new()),
        fail_once: vec![3],
        recorder: Recorder::sleeping(Duration::from_millis(100)),
    });
    let reg = registry(&[("predict", shards.clone())]);
    let p = pipeline(
        r#"
[[stage]]
name = "predict"
native = "predict"
map = { shards = 6, max_concurrency = 2 }
retry = { max_attempts = 2, interval = "10ms", on = ["io"] }
"#,
        &reg,
    );
    let record = executor(root.path(), reg).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let calls = shards.calls.lock().unwrap().clone();
    let expected: BTreeMap<u32, u32> = (0..6).map(|i| (i, if i == 3 { 2 } else { 1 })).collect();
    assert_eq!(calls, expected, "every shard once, the failed shard once more");
    assert_eq!(shards.recorder.max_running.load(Ordering::SeqCst), 2, "at most max_concurrency at once");
    let predict = stage(&record, "predict");
    assert_eq!(predict.attempts.len(), 7);
    let retried: Vec<_> = predict.attempts.iter().filter(|a| a.shard == Some(3)).map(|a| a.attempt).collect();
    assert_eq!(retried, vec![1, 2]);
    let output = predict.output.as_ref().unwrap();
    assert_eq!(output.rows_out, 60);
    assert_eq!(output.outputs.len(), 1);
    assert_eq!(output.summary["users_scored"], 60);
    assert_eq!(output.summary["segments"], json!({ "high": 6, "low": 54 }));
    assert_eq!(output.summary["shards"].as_array().unwrap().len(), 6);
}

// ---- resume ----------------------------------------------------------------

const CHAIN: &str = r#"
[[stage]]
name = "a"
native = "count"
[[stage]]
name = "b"
native = "switch"
after = ["a"]
[[stage]]
name = "c"
native = "count"
after = ["b"]
"#;

#[test]
fn resume_reruns_only_the_stages_that_did_not_commit() {
    let root = tempfile::tempdir().unwrap();
    let count = Recorder::sleeping(Duration::ZERO);
    let switch = Arc::new(Switch::default());
    switch.fail.store(true, Ordering::SeqCst);
    let reg = registry(&[("count", count.clone()), ("switch", switch.clone())]);
    let p = pipeline(CHAIN, &reg);
    let exec = executor(root.path(), reg);
    let failed = exec.run(&p).unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(stage(&failed, "c").status, StageStatus::Skipped);

    switch.fail.store(false, Ordering::SeqCst);
    let resumed = exec.resume(&p, &failed.run_id).unwrap();
    assert_eq!(resumed.run_id, failed.run_id);
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    assert!(resumed.error.is_none());
    assert_eq!(count.calls_of("a"), 1, "a committed the first time");
    assert_eq!(count.calls_of("c"), 1);
    assert_eq!(*switch.attempts.lock().unwrap(), vec![1, 2], "b reruns as a new attempt");
    let b = stage(&resumed, "b");
    assert_eq!(b.attempts.len(), 2);
    assert!(b.attempts[0].error.is_some() && b.attempts[1].error.is_none());
    // The committed stage's summary fed the rerun.
    assert_eq!(b.output.as_ref().unwrap().summary["upstream"], json!(["a"]));
    assert!(exec.resume(&p, &failed.run_id).unwrap_err().to_string().contains("already succeeded"));
}

#[test]
fn a_killed_run_resumes_from_its_running_stage() {
    let root = tempfile::tempdir().unwrap();
    let count = Recorder::sleeping(Duration::ZERO);
    let switch = Arc::new(Switch::default());
    switch.fail.store(true, Ordering::SeqCst);
    let reg = registry(&[("count", count.clone()), ("switch", switch.clone())]);
    let p = pipeline(CHAIN, &reg);
    let exec = executor(root.path(), reg);
    let failed = exec.run(&p).unwrap();

    // Rewrite the record as a process killed during b leaves it.
    let mut killed = failed.clone();
    killed.status = RunStatus::Running;
    killed.ended = None;
    killed.error = None;
    killed.stages[1].status = StageStatus::Running;
    killed.stages[1].ended = None;
    killed.stages[1].attempts[0].ended = None;
    killed.stages[1].attempts[0].error = None;
    killed.stages[2].status = StageStatus::Pending;
    exec.store().save(&killed).unwrap();

    switch.fail.store(false, Ordering::SeqCst);
    let resumed = exec.resume(&p, &failed.run_id).unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    assert_eq!(count.calls_of("a"), 1);
    assert_eq!(switch.calls.load(Ordering::SeqCst), 2);
    assert_eq!(stage(&resumed, "b").attempts.last().unwrap().attempt, 2);
    assert_eq!(stage(&resumed, "c").status, StageStatus::Committed);
}

// ---- isolation and publishing ------------------------------------------------

/// Writes its run id under its scratch prefix and reads it back after a pause.
struct Scratch;

impl Step for Scratch {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let key = format!("{}out.txt", ctx.scratch_prefix());
        let storage = &ctx.services.storage;
        storage.put(WORK_BUCKET, &key, ctx.run_id.as_bytes())?;
        std::thread::sleep(Duration::from_millis(50));
        let back = storage.get(WORK_BUCKET, &key)?;
        if back != ctx.run_id.as_bytes() {
            return Err(StepError::failed(format!("{key} was overwritten by another run")));
        }
        // A table in the run's own database, as stages make them.
        ctx.services.catalog.create_database(ctx.run_db)?;
        ctx.services.catalog.put_table(&TableDef {
            database: ctx.run_db.to_string(),
            name: "results".into(),
            location: format!("s3://{WORK_BUCKET}/{}", ctx.scratch_prefix()),
            format: TableFormat::Parquet,
            columns: vec![Column { name: "user_id".into(), data_type: "string".into(), comment: None }],
            partition_keys: vec![],
            partitions: vec![],
            properties: BTreeMap::new(),
        })?;
        Ok(StepOutput { rows_in: 0, rows_out: 1, outputs: vec![format!("s3://{WORK_BUCKET}/{key}")], summary: json!({}) })
    }
}

const PUBLISHING: &str = r#"
[publish]
engagement_results = "${run_db}.results"
[[stage]]
name = "write"
native = "scratch"
[[stage]]
name = "again"
native = "scratch"
after = ["write"]
"#;

#[test]
fn two_concurrent_runs_do_not_touch_each_others_outputs() {
    let root = tempfile::tempdir().unwrap();
    let reg = registry(&[("scratch", Arc::new(Scratch))]);
    let p = pipeline(PUBLISHING, &reg);
    let records: Vec<RunRecord> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (reg, p, root) = (reg.clone(), &p, root.path());
                scope.spawn(move || executor(root, reg).run(p).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_ne!(records[0].run_id, records[1].run_id);
    let services = local_services_with(root.path(), &support::plugin_dir(), runtime()).unwrap();
    for record in &records {
        assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
        for stage in &record.stages {
            let key = format!("run={}/{}/attempt=1/out.txt", record.run_id, stage.name);
            let stored = services.storage.get(WORK_BUCKET, &key).unwrap();
            assert_eq!(stored, record.run_id.as_bytes(), "{key} holds its own run's data");
        }
    }
    let exec = Executor::new(services, reg);
    let listed: Vec<String> = exec.store().list().unwrap().into_iter().map(|r| r.run_id).collect();
    assert_eq!(listed.len(), 2);
    let latest = exec.store().latest().unwrap().unwrap();
    assert!(listed.contains(&latest), "runs/latest names one of the two runs");
}

#[test]
fn a_successful_run_publishes_its_tables_and_becomes_latest() {
    let root = tempfile::tempdir().unwrap();
    let reg = registry(&[("scratch", Arc::new(Scratch))]);
    let p = pipeline(PUBLISHING, &reg);
    let services = local_services_with(root.path(), &support::plugin_dir(), runtime()).unwrap();
    let exec = Executor::new(services.clone(), reg);
    let record = exec.run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(record.published, vec!["engage.engagement_results".to_string()]);
    let published = services.catalog.table("engage", "engagement_results").unwrap().expect("published table");
    let own = services.catalog.table(&record.run_db, "results").unwrap().unwrap();
    assert_eq!(published.location, own.location);
    assert!(published.location.contains(&format!("run={}/again/", record.run_id)));
    assert_eq!(exec.store().latest().unwrap().as_deref(), Some(record.run_id.as_str()));
}

// ---- a real plugin stage -----------------------------------------------------

#[test]
fn a_flaky_plugin_stage_is_retried_in_fresh_instances() {
    let root = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let text = r#"
[[stage]]
name = "flaky"
plugin = "misbehave"
grants = { storage = ["write:work/run=${run_id}/"] }
params = { mode = "flaky", bucket = "work", counter = "run=${run_id}/flaky-counter", succeed_on = 3 }
timeout = "20s"
memory = "64MiB"
retry = { max_attempts = 3, interval = "50ms", backoff_rate = 2.0, on = ["failed"] }
"#;
    let options = LoadOptions { plugin_dir: Some(support::plugin_dir()), ..Default::default() };
    let p = spec::parse(text, "flaky.toml", &options).unwrap_or_else(|e| panic!("{e}"));
    let services = local_services_with(root.path(), &support::plugin_dir(), runtime()).unwrap();
    let record = Executor::new(services.clone(), reg).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let flaky = stage(&record, "flaky");
    assert_eq!(flaky.attempts.len(), 3);
    let first = flaky.attempts[0].error.as_ref().unwrap();
    assert_eq!(first.kind, ErrorKind::Failed);
    assert!(first.message.contains("flaky: call 1 fails"), "{}", first.message);
    let output = flaky.output.as_ref().unwrap();
    assert_eq!(output.summary["calls"], 3);
    assert_eq!(output.rows_out, 7);
    let counter = services.storage.get(WORK_BUCKET, &format!("run={}/flaky-counter", record.run_id)).unwrap();
    assert_eq!(counter, b"3");

    // Without enough attempts the run fails, naming the plugin's error.
    let text = text.replace("succeed_on = 3", "succeed_on = 5");
    let p = spec::parse(&text, "flaky.toml", &options).unwrap();
    let record = Executor::new(services, Registry::new()).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.unwrap();
    assert_eq!((error.stage.as_str(), error.kind), ("flaky", ErrorKind::Failed));
    assert!(error.message.contains("call 3 fails"), "{}", error.message);
}

#[test]
fn a_plugin_that_panics_in_a_run_leaves_its_output_and_backtrace_in_the_record() {
    let root = tempfile::tempdir().unwrap();
    let text = r#"
[[stage]]
name = "crash"
plugin = "misbehave"
params = { mode = "panic" }
"#;
    let options = LoadOptions { plugin_dir: Some(support::plugin_dir()), ..Default::default() };
    let p = spec::parse(text, "crash.toml", &options).unwrap_or_else(|e| panic!("{e}"));
    let services = local_services_with(root.path(), &support::plugin_dir(), runtime()).unwrap();
    let record = Executor::new(services, Registry::new()).run(&p).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    let error = stage(&record, "crash").attempts[0].error.clone().unwrap();
    assert!(error.message.contains("misbehave was told to panic"), "{}", error.message);
    let detail = error.detail.expect("the guest's output and backtrace are kept with the attempt");
    assert!(detail.contains("--- guest output ---") && detail.contains("--- wasm backtrace ---"), "{detail}");
    assert!(detail.contains("src/lib.rs"), "the backtrace names the guest's source: {detail}");
}

#[test]
fn an_older_run_that_finishes_last_does_not_replace_newer_published_results() {
    use engage::pipeline::stage_task::{self, TaskRun, TaskSpec};
    let root = tempfile::tempdir().unwrap();
    let reg = registry(&[("scratch", Arc::new(Scratch))]);
    let p = pipeline(PUBLISHING, &reg);
    let exec = executor(root.path(), reg);
    let newer = exec.run(&p).unwrap();
    assert_eq!(newer.published, vec!["engage.engagement_results".to_string()]);

    // A run that started in 2020 (its tasks scheduled one by one) finishes after it.
    let older = TaskRun::of_id("20200101-000000-abcd").unwrap();
    for stage in ["write", "again"] {
        let task = TaskSpec { stage: stage.into(), shard: None, attempt: 1, replaces: None };
        let part = stage_task::run_task(&exec, &p, &older, &task).unwrap();
        assert_eq!(part.status, StageStatus::Committed);
    }
    let record = stage_task::finish(&exec, &p, &older).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert!(record.published.is_empty(), "{:?}", record.published);
    assert_eq!(record.superseded.len(), 1);
    assert!(record.superseded[0].contains(&newer.run_id), "{:?}", record.superseded);

    let published = exec.services().catalog.table("engage", "engagement_results").unwrap().unwrap();
    assert!(published.location.contains(&format!("run={}/", newer.run_id)), "{}", published.location);
    assert_eq!(exec.store().latest().unwrap().as_deref(), Some(newer.run_id.as_str()));
}

/// The local catalog, with every write of a published name slowed down: two publishers
/// that do not wait for each other interleave.
struct SlowPublishing(Arc<dyn engage::catalog::Catalog>);

impl engage::catalog::Catalog for SlowPublishing {
    fn databases(&self) -> engage::capabilities::CapResult<Vec<String>> {
        self.0.databases()
    }
    fn create_database(&self, name: &str) -> engage::capabilities::CapResult<()> {
        self.0.create_database(name)
    }
    fn tables(&self, database: &str) -> engage::capabilities::CapResult<Vec<String>> {
        self.0.tables(database)
    }
    fn table(&self, database: &str, name: &str) -> engage::capabilities::CapResult<Option<TableDef>> {
        self.0.table(database, name)
    }
    fn put_table(&self, table: &TableDef) -> engage::capabilities::CapResult<()> {
        if table.database == "engage" {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.0.put_table(table)
    }
    fn drop_table(&self, database: &str, name: &str) -> engage::capabilities::CapResult<bool> {
        self.0.drop_table(database, name)
    }
}

#[test]
fn two_runs_publishing_at_once_leave_every_name_and_latest_at_the_newer_run() {
    use engage::pipeline::stage_task::{self, TaskRun, TaskSpec};
    let root = tempfile::tempdir().unwrap();
    let reg = registry(&[("scratch", Arc::new(Scratch))]);
    let text = PUBLISHING.replace(
        "engagement_results = \"${run_db}.results\"",
        "a = \"${run_db}.results\"\nb = \"${run_db}.results\"\nc = \"${run_db}.results\"\nd = \"${run_db}.results\"",
    );
    let p = pipeline(&text, &reg);
    let mut services = local_services_with(root.path(), &support::plugin_dir(), runtime()).unwrap();
    services.catalog = Arc::new(SlowPublishing(services.catalog.clone()));
    let exec = Executor::new(services, reg);
    let (older, newer) = (TaskRun::of_id("20200101-000000-abcd").unwrap(), TaskRun::of_id("20200101-000001-abcd").unwrap());
    for run in [&older, &newer] {
        for stage in ["write", "again"] {
            let task = TaskSpec { stage: stage.into(), shard: None, attempt: 1, replaces: None };
            assert_eq!(stage_task::run_task(&exec, &p, run, &task).unwrap().status, StageStatus::Committed);
        }
    }
    // The newer run starts publishing its four names (100 ms each); the older one comes in midway.
    let (older_record, newer_record) = std::thread::scope(|scope| {
        let newer = scope.spawn(|| stage_task::finish(&exec, &p, &newer).unwrap());
        std::thread::sleep(Duration::from_millis(150));
        let older = scope.spawn(|| stage_task::finish(&exec, &p, &older).unwrap());
        (older.join().unwrap(), newer.join().unwrap())
    });
    let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|n| format!("engage.{n}")).collect();
    assert_eq!(newer_record.published, names);
    assert!(older_record.published.is_empty(), "the older run published {:?}", older_record.published);
    assert_eq!(older_record.superseded.len(), 4, "{:?}", older_record.superseded);
    for name in ["a", "b", "c", "d"] {
        let table = exec.services().catalog.table("engage", name).unwrap().unwrap();
        assert_eq!(table.properties["engage.published_by_run"], newer.run_id, "engage.{name} is the newer run's");
    }
    assert_eq!(exec.store().latest().unwrap().as_deref(), Some(newer.run_id.as_str()));
}
