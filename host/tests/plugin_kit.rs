//! Plugin authoring end to end, driven as an author would: `engage plugin new`
//! → build → test against fixtures → publish → a pipeline naming `name@range`,
//! for Rust and for Python; and the host's checks on what a plugin returns.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use engage::capabilities::storage::{LocalStorage, ObjectStore};
use engage::plugins::registry::{PluginRef, Registry};
use engage::runtime::{Capabilities, FailureKind, GuestLimits};

/// The cargo target folder the plugins were built in: a scaffolded Rust plugin builds there too and reuses its dependencies.
fn cargo_target() -> PathBuf {
    support::plugin_dir().join("../..").canonicalize().expect("the plugin target folder exists")
}

fn engage(root: &Path, dir: &Path, args: &[&str]) -> Output {
    support::engage_command(root, "kit")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", cargo_target())
        .output()
        .expect("engage runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    text(&out)
}

/// A plugin scaffolded by `plugin new` in a fresh folder: (the folder's owner, the storage root, the plugin folder).
fn scaffold(name: &str, lang: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    ok(engage(&root, work.path(), &["plugin", "new", name, "--lang", lang]), "plugin new");
    let folder = work.path().join(name);
    (work, root, folder)
}

/// Replaces `from` (which must be there) with `to` in a plugin's source file, then builds the plugin.
fn edit_and_build(root: &Path, file: &Path, from: &str, to: &str) {
    let code = std::fs::read_to_string(file).unwrap();
    assert!(code.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, code.replace(from, to)).unwrap();
    let folder = file.ancestors().find(|d| d.join("plugin.toml").exists()).expect("the file is in a plugin folder");
    ok(engage(root, folder, &["plugin", "build"]), "plugin build");
}

/// `engage <args>` in a plugin folder, which must fail: what it printed.
fn fails(root: &Path, folder: &Path, args: &[&str]) -> String {
    let out = engage(root, folder, args);
    let shown = text(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {shown}");
    shown
}

fn batch(mode: i64, rows: usize) -> RecordBatch {
    let mode: ArrayRef = Arc::new(Int64Array::from(vec![mode; rows]));
    let x: ArrayRef = Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64)));
    RecordBatch::try_from_iter([("mode", mode), ("x", x)]).unwrap()
}

#[test]
fn every_batch_is_checked_against_the_declared_schema() {
    let plugin = support::load("bad_transform");
    let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(tempfile::tempdir().unwrap().path()).unwrap()));
    let run = |mode: i64| {
        let mut instance = support::runtime().transform_instance(&plugin, "run-1", "features", GuestLimits::default(), &caps).unwrap();
        instance.transform(&batch(mode, 4))
    };
    assert_eq!(run(0).unwrap().num_rows(), 4);
    let cases = [
        (1, "output column 'surprise': expected no such column (it is not declared), found Float64"),
        (2, "output column 'score': expected type float64 (declared), found Int64"),
        (3, "output: expected 4 rows (one per input row), found 3"),
        (4, "output column 'score': expected finite numbers, found NaN in row 1"),
    ];
    for (mode, message) in cases {
        let e = run(mode).unwrap_err();
        assert_eq!(e.kind, FailureKind::BadOutput, "mode {mode}: {e}");
        let shown = e.to_string();
        assert!(shown.contains("plugin bad_transform") && shown.contains(message), "mode {mode}: {shown}");
    }
    // A panic: its message, and a symbolized wasm backtrace with file:line, reach the author.
    let e = run(5).unwrap_err();
    assert_eq!(e.kind, FailureKind::Trap);
    let report = e.report();
    assert!(report.contains("bad-transform was told to panic on 4 rows"), "{report}");
    assert!(report.contains("std::panicking::") && report.contains("bad-transform/src/lib.rs:35"), "{report}");
}

/// A NaN names the row of the input file (not of its batch) and the row's user_id, which
/// the plugin itself never sees.
#[test]
fn a_nan_names_the_input_row_and_its_user() {
    let plugin = support::load("bad_transform");
    let dir = tempfile::tempdir().unwrap();
    let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(dir.path()).unwrap()));
    // bad_transform returns NaN in row 1 of a batch whose first `mode` is 4: rows 4..6 here.
    let mut csv = String::from("user_id,mode,x\n");
    for row in 0..8 {
        csv.push_str(&format!("u{row},{},{row}.5\n", if row == 4 { 4 } else { 0 }));
    }
    let input = dir.path().join("input.csv");
    std::fs::write(&input, csv).unwrap();
    let mut instance = support::runtime().transform_instance(&plugin, "run-1", "features", GuestLimits::default(), &caps).unwrap();
    let e = engage::plugins::fixtures::run_file(&mut instance, &input, 2).unwrap_err().to_string();
    assert!(e.contains("output column 'score': expected finite numbers, found NaN in input row 5 (user_id u5; 1 such row in the batch)"), "{e}");

    // Handed one batch, the transform names the row within it and its user.
    let users: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["a", "b", "c"]));
    let with_users = RecordBatch::try_from_iter(batch(4, 3).columns().iter().cloned().zip(["mode", "x"]).map(|(c, n)| (n, c)).chain([("user_id", users)])).unwrap();
    let mut instance = support::runtime().transform_instance(&plugin, "run-1", "features", GuestLimits::default(), &caps).unwrap();
    let e = instance.transform(&with_users).unwrap_err().to_string();
    assert!(e.contains("found NaN in row 1 of the batch (user_id b; 1 such row in the batch)"), "{e}");
    // Loaded without its plugin.toml, it is told where non_finite can be declared for it.
    assert!(e.contains("ran without its plugin.toml") && e.contains("engage plugin publish"), "{e}");
}

#[test]
fn a_plugin_built_against_another_wit_version_is_refused_at_load() {
    let path = support::plugin_path("old_wit");
    let e = support::runtime().load_file(&path).err().expect("an old WIT version does not load");
    let message = format!("{e:#}");
    assert!(
        message.contains("plugin 'old_wit' cannot run on this host")
            && message.contains("engage:platform/log@0.9.0")
            && message.contains("this host runs engage:platform@0.2.0")
            && message.contains("rebuild"),
        "{message}"
    );
}

#[test]
fn a_range_resolves_to_the_newest_published_match() {
    let root = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStorage::new(root.path()).unwrap());
    let registry = Registry::new(store);
    let component = std::fs::read(support::plugin_path("bad_transform")).unwrap();
    let manifest = |version: &str| {
        format!(
            "name = \"scores\"\nversion = \"{version}\"\nkind = \"transform\"\nworld = \"engage:platform/feature-transform@0.2.0\"\n\
             inputs = [\"mode\", \"x\"]\n[[outputs]]\nname = \"score\"\ntype = \"float64\"\n"
        )
    };
    for version in ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "1.3.0-beta.1"] {
        let (_, new) = registry.publish(&manifest(version), &component).unwrap();
        assert!(new);
    }
    let resolve = |text: &str| registry.resolve(&PluginRef::parse(text).unwrap()).map(|r| r.release.version);
    assert_eq!(resolve("scores@1.x").unwrap(), "1.10.1");
    assert_eq!(resolve("scores@^1.2").unwrap(), "1.10.1");
    assert_eq!(resolve("scores@~1.2").unwrap(), "1.2.0");
    assert_eq!(resolve("scores@1.0.0").unwrap(), "1.0.0");
    assert_eq!(resolve("scores@2.x").unwrap(), "2.0.0");
    let e = resolve("scores@3.x").unwrap_err().to_string();
    assert!(e.contains("no published version matches") && e.contains("1.0.0, 1.2.0, 1.3.0-beta.1, 1.10.1, 2.0.0"), "{e}");
    assert!(resolve("nothing@1.x").unwrap_err().to_string().contains("not published"));
    // Same contents again: a no-op; other contents under a published version: refused.
    assert!(!registry.publish(&manifest("1.0.0"), &component).unwrap().1);
    let other = std::fs::read(support::plugin_path("old_wit")).unwrap();
    assert!(registry.publish(&manifest("1.0.0"), &other).unwrap_err().to_string().contains("releases are immutable"));
}

/// Publishing again under a published version says what differs: plugin.toml, the component, or both.
#[test]
fn a_refused_republish_says_whether_the_manifest_or_the_component_differs() {
    use engage::plugins::republish::conflict;
    let root = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStorage::new(root.path()).unwrap());
    let registry = Registry::new(store);
    let component = std::fs::read(support::plugin_path("bad_transform")).unwrap();
    let manifest = |description: &str| {
        format!(
            "name = \"mischief\"\nversion = \"0.1.0\"\nkind = \"transform\"\ndescription = \"{description}\"\n\
             world = \"engage:platform/feature-transform@0.2.0\"\ninputs = [\"mode\", \"x\"]\n[[outputs]]\nname = \"score\"\ntype = \"float64\"\n"
        )
    };
    assert_eq!(conflict(&registry, &manifest("one"), &component).unwrap(), None, "not published yet");
    registry.publish(&manifest("one"), &component).unwrap();
    assert_eq!(conflict(&registry, &manifest("one"), &component).unwrap(), None, "the same contents");
    let e = conflict(&registry, &manifest("two"), &component).unwrap().expect("refused");
    let hash = &engage::runtime::content_hash(&component)[..12];
    assert!(e.contains("the manifest differs: description; the component is unchanged") && e.contains(hash), "{e}");
    let other = std::fs::read(support::plugin_path("old_wit")).unwrap();
    let e = conflict(&registry, &manifest("one"), &other).unwrap().expect("refused");
    assert!(e.contains("the manifest is unchanged; the component differs (published"), "{e}");
    let e = conflict(&registry, &format!("# a comment\n{}", manifest("one")), &component).unwrap().expect("refused");
    assert!(e.contains("plugin.toml differs in comments or layout only; the component is unchanged"), "{e}");
}

/// A pipeline over generated users: ingest, then a features stage per listed transform set.
fn pipeline(dir: &Path, data: &Path, stages: &[(&str, &[&str])]) -> PathBuf {
    let mut text = format!(
        "name = \"kit\"\n[defaults]\ntimeout = \"120s\"\n\n[[stage]]\nname = \"ingest\"\nnative = \"ingest\"\nparams = {{ source = \"{}\", table = \"users\" }}\n",
        data.display()
    );
    for (name, transforms) in stages {
        let list: Vec<String> = transforms.iter().map(|t| format!("\"{t}\"")).collect();
        text.push_str(&format!(
            "\n[[stage]]\nname = \"{name}\"\nnative = \"features\"\nafter = [\"ingest\"]\nparams = {{ transforms = [{}], inputs = {{ {} = \"engage.users\" }} }}\n",
            list.join(", "),
            name.replace('-', "_")
        ));
    }
    let file = dir.join("kit.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// Runs a pipeline file and returns the run id.
fn run(root: &Path, dir: &Path, file: &Path) -> String {
    let out = engage(root, dir, &["run", file.to_str().unwrap(), "--json", "--no-progress"]);
    assert!(out.status.success(), "engage run failed:\n{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(summary["status"], "succeeded", "{summary}");
    summary["run_id"].as_str().expect("a run id").to_string()
}

fn generate(root: &Path, dir: &Path) -> PathBuf {
    let data = dir.join("landing");
    ok(engage(root, dir, &["data", "generate", "--users", "300", "--weeks", "1", "--out", data.to_str().unwrap()]), "data generate");
    data
}

/// `plugin new --lang rust` finds the SDK at run time (never a path compiled into the binary): --sdk,
/// $ENGAGE_REPO, or an Engage checkout above the current folder (or the executable); not found, it fails
/// at once, naming where it looked and how to point at the SDK, and writes nothing.
#[test]
fn a_rust_scaffold_finds_the_sdk_at_run_time_or_says_how_to_point_at_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let sdk = repo.join("plugins/sdk");
    let work = tempfile::tempdir().unwrap();
    let elsewhere = work.path().canonicalize().unwrap();
    let root = elsewhere.join("data");
    let new = |cwd: &Path, name: &str, extra: &[&str], repo_env: Option<&Path>| {
        let mut command = support::engage_command(&root, "kit");
        command.env_remove("ENGAGE_REPO").current_dir(cwd).args(["plugin", "new", name, "--lang", "rust", "--dir"]).arg(&elsewhere).args(extra);
        if let Some(r) = repo_env {
            command.env("ENGAGE_REPO", r);
        }
        command.output().unwrap()
    };
    let dependency = |name: &str| {
        let cargo = std::fs::read_to_string(elsewhere.join(name).join("Cargo.toml")).unwrap();
        cargo.lines().find(|l| l.starts_with("engage-plugin-sdk")).unwrap().to_string()
    };
    let expected = format!("engage-plugin-sdk = {{ path = \"{}\", features = [\"transform\"] }}", sdk.display());

    // --sdk, from a folder outside any checkout.
    ok(new(&elsewhere, "by-flag", &["--sdk", sdk.to_str().unwrap()], None), "plugin new --sdk");
    assert_eq!(dependency("by-flag"), expected);
    // $ENGAGE_REPO.
    ok(new(&elsewhere, "by-env", &[], Some(&repo)), "plugin new with ENGAGE_REPO");
    assert_eq!(dependency("by-env"), expected);
    // Inside a checkout: found above the current folder.
    ok(new(&repo.join("host/src"), "by-cwd", &[], None), "plugin new inside the checkout");
    assert_eq!(dependency("by-cwd"), expected);

    // ENGAGE_REPO or --sdk naming something else: a one-line error saying how to point at the SDK, nothing written.
    let out = new(&elsewhere, "bad-env", &[], Some(&elsewhere));
    assert!(!out.status.success() && text(&out).contains("ENGAGE_REPO is") && text(&out).contains("--sdk"), "{}", text(&out));
    assert!(!elsewhere.join("bad-env").exists());
    let out = new(&elsewhere, "bad-flag", &["--sdk", elsewhere.to_str().unwrap()], None);
    assert!(!out.status.success() && text(&out).contains("is not the Engage plugin SDK"), "{}", text(&out));
    assert!(!elsewhere.join("bad-flag").exists());

    // Nowhere to be found: the error names every folder it looked above.
    let error = engage::plugins::build::find_repo_from(None, &[elsewhere.clone()]).unwrap_err().to_string();
    assert!(error.contains(&elsewhere.display().to_string()) && error.contains("--sdk") && error.contains("ENGAGE_REPO"), "{error}");
    let exe = Path::new(env!("CARGO_BIN_EXE_engage")).canonicalize().unwrap();
    if !exe.starts_with(&repo) {
        // This build's executable sits outside the checkout (a CARGO_TARGET_DIR elsewhere): the CLI can't find it either.
        let out = new(&elsewhere, "nowhere", &[], None);
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(&elsewhere.display().to_string()) && said.contains(&exe.parent().unwrap().display().to_string()), "{said}");
        assert!(said.contains("--sdk") && said.contains("ENGAGE_REPO"), "{said}");
        assert!(!elsewhere.join("nowhere").exists());
    }
}

/// new → build → test → a fixture that differs → publish → run in a pipeline, for one language.
fn author_a_plugin(lang: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let out = ok(engage(&root, work.path(), &["plugin", "new", name, "--lang", lang]), "plugin new");
    assert!(out.contains(&format!("created ./{name}")) || out.contains(&format!("created {name}")), "{out}");
    let folder = work.path().join(name);
    for file in ["plugin.toml", "README.md", "fixtures/input.csv", "fixtures/expected.csv"] {
        assert!(folder.join(file).exists(), "{file} scaffolded");
    }
    let out = ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
    assert!(out.contains(&format!("build/{name}.wasm")), "{out}");
    let out = ok(engage(&root, &folder, &["plugin", "test"]), "plugin test");
    assert!(out.contains(&format!("ok  {name} 0.1.0: 4 rows")), "{out}");

    // A fixture that differs: the diff names the column, the row and the user.
    let expected = folder.join("fixtures/expected.csv");
    let good = std::fs::read_to_string(&expected).unwrap();
    std::fs::write(&expected, good.replace("u4,1", "u4,1.5")).unwrap();
    let out = engage(&root, &folder, &["plugin", "test"]);
    assert!(!out.status.success());
    let feature = name.replace('-', "_");
    assert!(text(&out).contains(&format!("column '{feature}' row 3 (line 5, user_id u4): expected 1.5, found 1")), "{}", text(&out));
    std::fs::write(&expected, good).unwrap();

    // A component over any file, with its output written.
    let wasm = format!("build/{name}.wasm");
    let out = ok(
        engage(&root, &folder, &["plugin", "test", &wasm, "--input", "fixtures/input.csv", "--output", "out.parquet"]),
        "plugin test --input",
    );
    assert!(out.contains("rows out    4") && folder.join("out.parquet").exists(), "{out}");
    // A column with no value at all (type Null in a CSV) is a number column whose values are all missing, as in a run.
    std::fs::write(folder.join("empty.csv"), "user_id,sessions_7d,active_days_7d\nu1,6,\nu2,0,\n").unwrap();
    let out = ok(engage(&root, &folder, &["plugin", "test", &wasm, "--input", "empty.csv"]), "plugin test --input empty.csv");
    assert!(out.contains("rows out    2"), "{out}");

    let out = ok(engage(&root, &folder, &["plugin", "publish"]), "plugin publish");
    assert!(out.contains(&format!("published {name}@0.1.0 sha256:")), "{out}");
    let out = ok(engage(&root, &folder, &["plugin", "list"]), "plugin list");
    assert!(out.contains(name) && out.contains("0.1.0"), "{out}");

    // In a pipeline, by range, beside the engagement features.
    let data = generate(&root, work.path());
    let reference = format!("{name}@0.1.x");
    let file = pipeline(work.path(), &data, &[("features", &[&reference, "engagement-features"])]);
    let run_id = run(&root, work.path(), &file);
    let shown = ok(engage(&root, work.path(), &["runs", "show", &run_id]), "runs show");
    assert!(shown.contains("plugins (exactly what ran)"), "{shown}");
    assert!(shown.contains(&format!("{reference} -> {name} 0.1.0")) && shown.contains("sha256:"), "{shown}");
    assert!(shown.contains("engagement-features (plugin folder, unpublished)"), "{shown}");
    let count = ok(
        engage(
            &root,
            work.path(),
            &[
                "sql",
                &format!("SELECT count({feature}) AS n, max({feature}) AS top FROM run_{}.features_features", run_id.replace('-', "_")),
            ],
        ),
        "sql",
    );
    assert!(count.contains("300"), "{count}");
    (work, folder)
}

#[test]
fn a_rust_plugin_goes_from_scaffold_to_pipeline() {
    let (work, folder) = author_a_plugin("rust", "sessions-per-day");
    // --watch: tests at once, then again after every save.
    let mut child = Command::new(env!("CARGO_BIN_EXE_engage"))
        .arg("--root")
        .arg(work.path().join("data"))
        .args(["plugin", "test", "--watch"])
        .current_dir(&folder)
        .env("ENGAGE_CACHE_DIR", std::env::temp_dir().join("engage-test-kit-cache"))
        .env("CARGO_TARGET_DIR", cargo_target())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while let Ok(line) = seen.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            if line.contains(needle) {
                return;
            }
        }
        panic!("--watch never printed '{needle}'");
    };
    wait_for("ok  sessions-per-day 0.1.0");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let expected = folder.join("fixtures/expected.csv");
    std::fs::write(&expected, std::fs::read_to_string(&expected).unwrap().replace("u1,2", "u1,3")).unwrap();
    wait_for("column 'sessions_per_day' row 0 (line 2, user_id u1): expected 3, found 2");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_python_plugin_goes_from_scaffold_to_pipeline_and_its_tracebacks_reach_the_author() {
    let (work, folder) = author_a_plugin("python", "py-sessions");
    let root = work.path().join("data");
    // An exception inside the transform: the Python traceback is the error.
    let app = folder.join("app.py");
    edit_and_build(
        &root,
        &app,
        "    def transform(self, batch):\n",
        "    def transform(self, batch):\n        days = batch.values(\"active_days_7d\")\n        return {\"py_sessions\": [6 / d for d in days]}\n",
    );
    let out = engage(&root, &folder, &["plugin", "test"]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(shown.contains("Traceback (most recent call last)") && shown.contains("app.py\", line 20, in transform"), "{shown}");
    assert!(shown.contains("ZeroDivisionError: division by zero"), "{shown}");
}

/// A Python transform returning a column it did not declare is refused, naming the column,
/// as a Rust one is (the column used to be dropped without a word).
#[test]
fn a_python_transform_returning_an_undeclared_column_is_refused() {
    let (_work, root, folder) = scaffold("py-surprise", "python");
    let app = folder.join("app.py");
    edit_and_build(&root, &app, "        return {\"py_surprise\": ", "        return {\"surprise\": [1.0] * batch.rows, \"py_surprise\": ");
    let shown = fails(&root, &folder, &["plugin", "test"]);
    assert!(shown.contains("output column 'surprise': expected no such column (it is not declared"), "{shown}");
}

/// print() and sys.stderr.write() in a Python transform reach the log (they used to trap the
/// guest: the component's WASI stdio is stubbed), and the test passes.
#[test]
fn a_python_transform_that_prints_passes_and_its_lines_reach_the_log() {
    let (_work, root, folder) = scaffold("py-chatty", "python");
    let app = folder.join("app.py");
    edit_and_build(
        &root,
        &app,
        "    def transform(self, batch):\n",
        "    def transform(self, batch):\n        print(\"rows seen:\", batch.rows)\n        import sys\n        sys.stderr.write(\"a warning\\nand a tail\")\n",
    );
    let shown = ok(engage(&root, &folder, &["plugin", "test"]), "plugin test");
    assert!(shown.contains("ok  py-chatty 0.1.0: 4 rows"), "{shown}");
    assert!(shown.contains("INFO rows seen: 4"), "{shown}");
    assert!(shown.contains("WARN a warning") && shown.contains("WARN and a tail"), "{shown}");
}

/// A Python transform's result is not cast to its declared type: 6 / 4 declared int64 is not 1,
/// 6 declared boolean is not true; the test fails naming the column, the type, the value and the row.
#[test]
fn a_python_result_the_declared_type_cannot_hold_is_refused_not_cast() {
    let (_work, root, folder) = scaffold("py-quarter", "python");
    let (app, manifest) = (folder.join("app.py"), folder.join("plugin.toml"));
    let code = std::fs::read_to_string(&app).unwrap();
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let expression = "col(\"sessions_7d\").safe_div(col(\"active_days_7d\"), 0.0)";
    assert!(code.contains(expression), "{code}");
    let cases = [
        ("int64", "col(\"sessions_7d\") / 4", "output column 'py_quarter': expected int64 (declared), found a fractional value (1.5) in input row 0 (user_id u1; 3 such rows in the batch)"),
        ("boolean", "col(\"sessions_7d\")", "output column 'py_quarter': expected boolean (declared), found 6, which is neither true (1) nor false (0), in input row 0 (user_id u1; 3 such rows"),
        ("int64", "[s / 4 for s in batch.values(\"sessions_7d\")]", "output column 'py_quarter': expected int64 (declared), found 1.5 (float) in row 0 of the batch"),
        ("boolean", "batch.values(\"sessions_7d\")", "output column 'py_quarter': expected boolean (declared), found 6 (int) in row 0 of the batch"),
    ];
    for (declared, result, refusal) in cases {
        let typed = code.replace(expression, result).replace("import Transform, col, export, float64", "import Transform, boolean, col, export, float64, int64");
        std::fs::write(&app, typed.replace("float64(\"py_quarter\"", &format!("{declared}(\"py_quarter\""))).unwrap();
        std::fs::write(&manifest, toml.replace("type = \"float64\"", &format!("type = \"{declared}\""))).unwrap();
        ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
        let out = engage(&root, &folder, &["plugin", "test"]);
        let shown = text(&out);
        assert!(!out.status.success(), "{declared} {result}: {shown}");
        assert!(shown.contains(refusal), "{declared} {result}: {shown}");
    }
}

/// plugin.toml and the component's describe() must agree on the version and each output's unit
/// (one component used to pass test and publish under any version plugin.toml named).
#[test]
fn a_manifest_version_or_unit_the_component_does_not_say_is_refused() {
    let (_work, root, folder) = scaffold("py-versioned", "python");
    let manifest = folder.join("plugin.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
    let cases = [
        (toml.replace("version = \"0.1.0\"", "version = \"2.0.0\""), "plugin.toml declares version \"2.0.0\", but the component's describe() says version \"0.1.0\""),
        (
            toml.replace("unit = \"sessions/day\"", "unit = \"sessions\""),
            "output column 'py_versioned': plugin.toml declares unit \"sessions\", but the component's describe() says unit \"sessions/day\"",
        ),
    ];
    for (changed, refusal) in cases {
        assert_ne!(changed, toml);
        std::fs::write(&manifest, &changed).unwrap();
        for command in ["test", "publish"] {
            let out = engage(&root, &folder, &["plugin", command]);
            let shown = text(&out);
            assert!(!out.status.success(), "plugin {command}: {shown}");
            assert!(shown.contains(refusal), "plugin {command}: {shown}");
        }
    }
    std::fs::write(&manifest, &toml).unwrap();
    let out = ok(engage(&root, &folder, &["plugin", "publish"]), "plugin publish");
    assert!(out.contains("published py-versioned@0.1.0"), "{out}");
}

/// A Rust transform reading a column it did not declare is told so, though the file has the
/// column (it used to say "input column 'nps_score' is missing").
#[test]
fn a_rust_transform_reading_an_undeclared_column_is_told_to_declare_it() {
    let (_work, root, folder) = scaffold("reads-more", "rust");
    let lib = folder.join("src/lib.rs");
    edit_and_build(
        &root,
        &lib,
        "        let days = numbers(input, \"active_days_7d\")?;\n",
        "        let days = numbers(input, \"active_days_7d\")?;\n        let _nps = numbers(input, \"nps_score\")?;\n",
    );
    std::fs::write(folder.join("with-nps.csv"), "user_id,sessions_7d,active_days_7d,nps_score\nu1,6,3,9\n").unwrap();
    let shown = fails(&root, &folder, &["plugin", "test", "build/reads-more.wasm", "--input", "with-nps.csv"]);
    assert!(
        shown.contains("input column 'nps_score' is not a declared input (the host sends only the columns in `inputs`: sessions_7d, active_days_7d): add it to `inputs`"),
        "{shown}"
    );
}

/// `plugin test` options that used to be ignored or do harm are refused, saying why.
#[test]
fn plugin_test_refuses_options_it_would_ignore_or_that_overwrite_the_input() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    ok(engage(&root, work.path(), &["plugin", "new", "py-flags", "--lang", "python"]), "plugin new");
    let wasm = support::plugin_path("bad_transform");
    let wasm = wasm.to_str().unwrap();
    let input = work.path().join("input.csv");
    let rows = "user_id,mode,x\nu1,0,1\n";
    std::fs::write(&input, rows).unwrap();
    let input = input.to_str().unwrap();
    let parquet = work.path().join("in.parquet");
    let made = ok(engage(&root, work.path(), &["plugin", "test", wasm, "--input", input, "--output", parquet.to_str().unwrap()]), "plugin test");
    assert!(made.contains("rows out    1"), "{made}");
    let same = format!("{}/./in.parquet", work.path().display());
    let before = std::fs::read(&parquet).unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["py-flags", "--input", input], "--input is for a component (.wasm): a plugin folder (py-flags) is tested against its fixtures/"),
        (vec!["py-flags", "--output", "out.parquet"], "--output is for a component (.wasm)"),
        (vec![wasm, "--watch"], "--watch rebuilds and tests a plugin folder when its files change"),
        (vec![wasm, "--input", input, "--output", "out.csv"], "--output out.csv: the output is written as Parquet; name the file .parquet"),
        (vec![wasm, "--input", parquet.to_str().unwrap(), "--output", &same], "is the input file: it would be overwritten"),
    ];
    for (args, refusal) in cases {
        let out = engage(&root, work.path(), &[&["plugin", "test"][..], &args].concat());
        let shown = text(&out);
        assert!(!out.status.success(), "{args:?}: {shown}");
        assert!(shown.contains(refusal), "{args:?}: {shown}");
    }
    assert_eq!(std::fs::read(&parquet).unwrap(), before, "the input file is left as it was");
    assert!(!work.path().join("out.csv").exists());
}

/// A transform writing a column its input has (in the file, or among its declared inputs) fails
/// `plugin test` as `engage run` fails it, instead of passing the test and failing the run.
#[test]
fn plugin_test_refuses_an_output_named_like_an_input_column() {
    let (_work, root, folder) = scaffold("py-clash", "python");
    ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
    let input = folder.join("fixtures/input.csv");
    let rows = std::fs::read_to_string(&input).unwrap();
    let with_it = rows.replacen("active_days_7d\n", "active_days_7d,py_clash\n", 1).replace(",3\n", ",3,1\n").replace(",0\n", ",0,1\n").replace(",\n", ",,1\n").replace(",7\n", ",7,1\n");
    std::fs::write(&input, &with_it).unwrap();
    let out = engage(&root, &folder, &["plugin", "test"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{with_it}\n{shown}");
    assert!(shown.contains("transform 'py-clash' writes 'py_clash', the name of an input column"), "{shown}");
    std::fs::write(&input, &rows).unwrap();

    // The output named like one of its own declared inputs.
    for file in ["plugin.toml", "app.py"] {
        let path = folder.join(file);
        let code = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, code.replace("\"py_clash\"", "\"active_days_7d\"")).unwrap();
    }
    ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
    let shown = fails(&root, &folder, &["plugin", "test"]);
    assert!(shown.contains("transform 'py-clash' writes 'active_days_7d', the name of an input column"), "{shown}");
}

/// `plugin new` refuses a name whose example output would be a key column or one of the example's
/// inputs (the scaffold used to fail its own test), and creates nothing.
#[test]
fn plugin_new_refuses_a_name_whose_example_output_it_could_not_write() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let cases = [
        ("user-id", "rust", "its example output column would be 'user_id', a key column the host keeps"),
        ("engaged-next-7d", "python", "its example output column would be 'engaged_next_7d', a key column the host keeps"),
        ("sessions-7d", "python", "its example output column would be 'sessions_7d', which the example also reads"),
    ];
    for (name, lang, refusal) in cases {
        let out = engage(&root, work.path(), &["plugin", "new", name, "--lang", lang]);
        let shown = text(&out);
        assert!(!out.status.success(), "{name}: {shown}");
        assert!(shown.contains(&format!("plugin name '{name}': {refusal}")) && shown.contains("choose another name"), "{shown}");
        assert!(!work.path().join(name).exists(), "{name}: nothing created");
    }
}

/// A wrong output type names the column and the declared type: from the Rust SDK (it used to pass
/// on Arrow's "expected Float64 but found Int64 at column index 0") and from Python (a str in a float column).
#[test]
fn a_wrong_output_type_names_the_column_and_the_declared_type() {
    let (work, root, folder) = scaffold("ints-out", "rust");
    let lib = folder.join("src/lib.rs");
    edit_and_build(
        &root,
        &lib,
        "        Ok(vec![output(",
        "        let _ = (&sessions, &days);\n        return Ok(vec![std::sync::Arc::new(engage_plugin_sdk::arrow_array::Int64Array::from(vec![1i64; input.num_rows()]))]);\n        #[allow(unreachable_code)]\n        Ok(vec![output(",
    );
    let shown = fails(&root, &folder, &["plugin", "test"]);
    assert!(shown.contains("output column 'ints_out': expected type float64 (declared), found Int64"), "{shown}");
    assert!(!shown.contains("at column index"), "{shown}");

    ok(engage(&root, work.path(), &["plugin", "new", "py-text", "--lang", "python"]), "plugin new");
    let folder = work.path().join("py-text");
    let app = folder.join("app.py");
    edit_and_build(&root, &app, "col(\"sessions_7d\").safe_div(col(\"active_days_7d\"), 0.0)", "[\"many\"] * batch.rows");
    let shown = fails(&root, &folder, &["plugin", "test"]);
    assert!(shown.contains("output column 'py_text': expected float64 (declared), found 'many' (str) in row 0 of the batch"), "{shown}");
}

#[test]
fn two_versions_of_one_plugin_run_side_by_side() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    // Two releases, each a component built to say its own version (the host refuses a plugin.toml
    // version the component does not say, so one component can't be published as both).
    ok(engage(&root, work.path(), &["plugin", "new", "py-twice", "--lang", "python"]), "plugin new");
    let folder = work.path().join("py-twice");
    for version in ["1.0.0", "1.1.0"] {
        for file in ["plugin.toml", "app.py"] {
            let path = folder.join(file);
            let code = std::fs::read_to_string(&path).unwrap();
            let old = if version == "1.0.0" { "\"0.1.0\"" } else { "\"1.0.0\"" };
            assert!(code.contains(old), "{file}: {code}");
            std::fs::write(&path, code.replace(old, &format!("\"{version}\""))).unwrap();
        }
        ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
        let out = ok(engage(&root, &folder, &["plugin", "publish"]), "plugin publish");
        assert!(out.contains(&format!("published py-twice@{version}")), "{out}");
    }
    let data = generate(&root, work.path());
    let file = pipeline(work.path(), &data, &[("features-a", &["py-twice@1.0.0"]), ("features-b", &["py-twice@1.x"])]);
    let run_id = run(&root, work.path(), &file);
    let shown = ok(engage(&root, work.path(), &["runs", "show", &run_id]), "runs show");
    assert!(shown.contains("py-twice 1.0.0"), "{shown}");
    assert!(shown.contains("py-twice@1.x -> py-twice 1.1.0"), "{shown}");
}

/// A published plugin a pipeline names is checked before any stage runs: a version nobody published, and a
/// transform named as a stage, fail at their line of the file, and no run starts.
#[test]
fn published_plugins_are_checked_before_a_run_starts() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStorage::new(&root).unwrap());
    let component = std::fs::read(support::plugin_path("engagement_features")).unwrap();
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/engagement-features/plugin.toml")).unwrap();
    Registry::new(store).publish(&manifest.replace("version = \"0.1.0\"", "version = \"1.0.0\""), &component).unwrap();
    let data = generate(&root, work.path());

    let file = pipeline(work.path(), &data, &[("features", &["engagement-features@2.x"])]);
    let out = engage(&root, work.path(), &["run", file.to_str().unwrap(), "--no-progress"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("kit.toml:") && text(&out).contains("no published version matches (published: 1.0.0)"), "{}", text(&out));

    let mut file_text = std::fs::read_to_string(&file).unwrap();
    file_text.push_str("\n[[stage]]\nname = \"wrong-kind\"\nplugin = \"engagement-features@1.x\"\nafter = [\"ingest\"]\n");
    std::fs::write(&file, file_text.replace("engagement-features@2.x", "engagement-features@1.x")).unwrap();
    let out = engage(&root, work.path(), &["run", file.to_str().unwrap(), "--no-progress"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("resolves to engagement-features 1.0.0, a transform plugin, not a stage plugin"), "{}", text(&out));
    // Nothing ran: no run record, no ingested table.
    let runs = ok(engage(&root, work.path(), &["runs", "list"]), "runs list");
    assert!(!runs.contains("failed") && !runs.contains("succeeded"), "{runs}");
}

/// new --kind stage → build → test with storage and SQL faked from fixtures; --trace; a missing SQL answer;
/// a write outside the grants of plugin.toml.
#[test]
fn a_component_over_a_file_writes_batch_by_batch_and_nothing_when_it_fails() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let wasm = support::plugin_path("bad_transform");
    let test = |input: &str, output: &Path| {
        let file = work.path().join("input.csv");
        std::fs::write(&file, input).unwrap();
        let args = ["plugin", "test", wasm.to_str().unwrap(), "--input", file.to_str().unwrap(), "--output", output.to_str().unwrap()];
        engage(&root, work.path(), &[&args[..], &["--batch-rows", "2"]].concat())
    };

    // Three batches, each written as it comes: every row, in order.
    let out = work.path().join("good.parquet");
    let shown = ok(test("user_id,mode,x\nu1,0,1\nu2,0,2\nu3,0,3\nu4,0,4\nu5,0,5\n", &out), "plugin test over three batches");
    assert!(shown.contains("rows out    5"), "{shown}");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let ids: Vec<String> = batches.iter().flat_map(|b| b.column_by_name("user_id").unwrap().as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>()).collect();
    let scores: Vec<f64> = batches.iter().flat_map(|b| b.column_by_name("score").unwrap().as_primitive::<arrow::datatypes::Float64Type>().values().to_vec()).collect();
    assert_eq!(ids, ["u1", "u2", "u3", "u4", "u5"]);
    assert_eq!(scores, [1.0, 2.0, 3.0, 4.0, 5.0]);

    // The second batch makes the plugin panic: the first was already written, yet no file is left.
    let out = work.path().join("bad.parquet");
    let failed = test("user_id,mode,x\nu1,0,1\nu2,0,2\nu3,5,3\nu4,5,4\n", &out);
    assert!(!failed.status.success());
    assert!(text(&failed).contains("bad-transform was told to panic"), "{}", text(&failed));
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!left.iter().any(|name| name.starts_with("bad.parquet")), "{left:?}");
}

#[test]
fn profiling_names_the_guest_functions_for_perf() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let data = generate(&root, work.path());
    let input = std::fs::read_dir(&data).unwrap().next().unwrap().unwrap().path();
    let wasm = support::plugin_path("engagement_features");
    let child = support::engage_command(&root, "kit-perfmap")
        .args(["plugin", "test", wasm.to_str().unwrap(), "--input", input.to_str().unwrap()])
        .env(engage::runtime::PERFMAP_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // perf reads the map of a process from /tmp/perf-<pid>.map.
    let map = PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let out = child.wait_with_output().unwrap();
    let written = std::fs::read_to_string(&map);
    let _ = std::fs::remove_file(&map);
    ok(out, "plugin test with profiling");
    let written = written.expect("the perf map was written");
    // The transform's own functions are named, not just the host's.
    assert!(written.lines().any(|l| l.contains("engagement_features::")), "{written}");
}

#[test]
fn a_stage_plugin_is_tested_with_faked_capabilities() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let name = "plan-counts";
    ok(engage(&root, work.path(), &["plugin", "new", name, "--lang", "rust", "--kind", "stage"]), "plugin new --kind stage");
    let folder = work.path().join(name);
    for file in ["plugin.toml", "README.md", "src/lib.rs", "fixtures/params.json", "fixtures/sql/users-by-plan.sql", "fixtures/expected/summary.json"] {
        assert!(folder.join(file).exists(), "{file} scaffolded");
    }
    ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
    let out = ok(engage(&root, &folder, &["plugin", "test", "--trace"]), "plugin test");
    assert!(
        out.contains(&format!("ok  {name} 0.1.0: summary and 1 written object(s) match fixtures/expected (work/run=test/{name}/attempt=1/users_by_plan.csv 53 B)")),
        "{out}"
    );
    // --trace: one line per call, in order, with sizes; then a total per capability.
    let trace: Vec<&str> = out.lines().filter(|l| l.starts_with("trace ")).collect();
    let calls: Vec<&str> = trace.iter().filter(|l| !l.starts_with("trace total")).map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(calls, ["storage.get", "sql.query", "storage.put", "log.metric"], "{out}");
    assert!(trace[0].starts_with(&format!("trace {name}: storage.get")) && trace[0].contains("in 18 B") && trace[0].contains("out 31 B"), "{out}");
    assert!(trace[1].contains("out 3 rows, "), "{out}");
    assert!(out.contains("trace total sql: 1 calls (0 failed), in 76 B,") && out.contains("(3 rows)"), "{out}");
    assert!(out.contains("trace total storage: 2 calls (0 failed), in 123 B, out 31 B"), "{out}");

    // What the stage wrote differs from what is expected: the object, column, row and values are named.
    let expected = folder.join(format!("fixtures/expected/storage/work/run=test/{name}/attempt=1/users_by_plan.csv"));
    let good = std::fs::read_to_string(&expected).unwrap();
    std::fs::write(&expected, good.replace("pro,Pro,1", "pro,Pro,4")).unwrap();
    let out = engage(&root, &folder, &["plugin", "test"]);
    assert!(!out.status.success());
    let needle = format!("object work/run=test/{name}/attempt=1/users_by_plan.csv: column 'users' row 2 (line 4): expected 4, found 1");
    assert!(text(&out).contains(&needle), "{}", text(&out));
    std::fs::write(&expected, good).unwrap();

    // No SQL fixture answers the query: the error names the query and the fixture folder.
    let answer = folder.join("fixtures/sql/users-by-plan.sql");
    std::fs::rename(&answer, folder.join("fixtures/sql/users-by-plan.sql.off")).unwrap();
    let out = engage(&root, &folder, &["plugin", "test"]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(
        shown.contains("no SQL fixture answers `SELECT plan, count(*) AS users FROM engage.users GROUP BY plan ORDER BY plan`")
            && shown.contains("fixtures/sql"),
        "{shown}"
    );
    std::fs::rename(folder.join("fixtures/sql/users-by-plan.sql.off"), &answer).unwrap();

    // Published, it runs in a pipeline under the grants its entry gives; `engage run --trace` shows its calls.
    ok(engage(&root, &folder, &["plugin", "publish"]), "plugin publish");
    let data = generate(&root, work.path());
    std::fs::create_dir_all(root.join("reference")).unwrap();
    std::fs::write(root.join("reference/plans.csv"), "plan,label\nbasic,Basic\n").unwrap();
    let file = work.path().join("stage.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"stage\"\n[defaults]\ntimeout = \"120s\"\n\n[[stage]]\nname = \"ingest\"\nnative = \"ingest\"\nparams = {{ source = \"{}\", table = \"users\" }}\n\n\
             [[stage]]\nname = \"plans\"\nplugin = \"{name}@0.1.x\"\nafter = [\"ingest\"]\n\
             grants = {{ sql = true, storage = [\"read:reference/\", \"read:processed/\", \"write:work/run=${{run_id}}/\"] }}\n\
             params = {{ table = \"engage.users\", output = \"work/${{scratch}}\" }}\n",
            data.display()
        ),
    )
    .unwrap();
    // An entry granting less than the manifest declares fails before anything runs, naming what it lacks.
    let full = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, full.replace("sql = true, storage = [\"read:reference/\", ", "storage = [")).unwrap();
    let out = engage(&root, work.path(), &["run", file.to_str().unwrap(), "--no-progress"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("stage.toml:") && text(&out).contains("declares grants this entry does not give: sql, read:reference/"),
        "{}",
        text(&out)
    );
    std::fs::write(&file, full).unwrap();
    let out = ok(engage(&root, work.path(), &["run", file.to_str().unwrap(), "--no-progress", "--trace"]), "engage run --trace");
    assert!(out.contains("trace plans: storage.get") && out.contains("trace plans: sql.query") && out.contains("trace plans: storage.put"), "{out}");
    assert!(out.contains("trace total sql: 1 calls (0 failed)") && out.contains("trace total storage: 2 calls (0 failed)"), "{out}");

    // A write outside the manifest's grants is denied as the real host denies it: stage, capability, resource.
    let params = folder.join("fixtures/params.json");
    std::fs::write(&params, "{ \"table\": \"engage.users\", \"output\": \"results/elsewhere/\" }\n").unwrap();
    let out = engage(&root, &folder, &["plugin", "test"]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(
        shown.contains(&format!("stage '{name}' (plugin {name}): denied storage: write of bucket 'results' key 'elsewhere/users_by_plan.csv' is outside its grants"))
            && shown.contains("write:work/run=test/"),
        "{shown}"
    );
}

/// A component without a plugin.toml is not checked at publish, so the runtime refuses a
/// transform that declares the label as an input, before any row reaches it.
#[test]
fn a_transform_that_reads_the_label_is_refused_without_a_manifest_too() {
    let plugin = support::load("label_reader");
    assert!(plugin.manifest.is_none(), "the test component has no plugin.toml");
    let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(tempfile::tempdir().unwrap().path()).unwrap()));
    let e = support::runtime().transform_instance(&plugin, "run-1", "features", GuestLimits::default(), &caps).err().expect("refused");
    assert_eq!(e.kind, FailureKind::Load);
    let shown = e.to_string();
    assert!(shown.contains("plugin label_reader") && shown.contains("input column 'engaged_next_7d' is the label"), "{shown}");
}

/// A decimal column (money, or `1.5` in Athena SQL, a decimal literal) reaches a transform as
/// float64, so the SDK's number readers take it like any other number.
#[test]
fn a_decimal_input_column_reaches_the_transform_as_doubles() {
    let plugin = support::load("bad_transform");
    let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(tempfile::tempdir().unwrap().path()).unwrap()));
    let mode: ArrayRef = Arc::new(Int64Array::from(vec![0; 3]));
    let cents = arrow::array::Decimal128Array::from(vec![Some(1250), None, Some(-5)]).with_precision_and_scale(10, 2).unwrap();
    let input = RecordBatch::try_from_iter([("mode", mode), ("x", Arc::new(cents) as ArrayRef)]).unwrap();
    let mut instance = support::runtime().transform_instance(&plugin, "run-1", "features", GuestLimits::default(), &caps).unwrap();
    let out = instance.transform(&input).unwrap();
    let score = out.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(score, &Float64Array::from(vec![Some(12.5), None, Some(-0.05)]));
}
