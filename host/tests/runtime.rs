//! The component cache and feature transforms.

mod support;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use engage::capabilities::storage::LocalStorage;
use engage::runtime::{Capabilities, FailureKind, GuestLimits, Runtime, RuntimeConfig};

const FEATURE_INPUTS: [&str; 19] = [
    "sessions_7d", "sessions_30d", "active_days_7d", "active_days_30d", "days_since_last_session",
    "avg_session_minutes_30d", "core_actions_7d", "items_saved_30d", "shares_30d", "comments_30d",
    "features_used_distinct_30d", "email_opens_30d", "emails_sent_30d", "push_opens_30d", "push_sent_30d",
    "days_since_last_purchase", "revenue_90d", "support_tickets_90d", "complaints_90d",
];

fn caps(dir: &tempfile::TempDir) -> Capabilities {
    Capabilities::storage_only(Arc::new(LocalStorage::new(dir.path()).unwrap()))
}

#[test]
fn a_cached_component_is_not_compiled_again() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(support::plugin_path("cleanup")).unwrap();
    let config = RuntimeConfig { cache_dir: Some(cache.path().to_path_buf()), pooling: false };

    let first = Runtime::new(config.clone()).unwrap();
    first.load_bytes("cleanup", &bytes).unwrap();
    assert_eq!(first.cache_stats().compiled, 1);
    first.load_bytes("cleanup", &bytes).unwrap();
    assert_eq!(first.cache_stats().compiled, 1, "the second load in one process reuses the compiled component");
    assert_eq!(first.cache_stats().memory_hits, 1);

    // The artifact is written whole under a temporary name, then renamed: nothing else is left.
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    let artifact = files();
    assert!(artifact.len() == 1 && artifact[0].ends_with(".cwasm"), "{artifact:?}");
    // What a compiler killed mid-write left (its process is gone) is cleared by the next runtime.
    let orphan = std::fs::File::create(cache.path().join(".tmp-999999999-0-5eed")).unwrap();
    orphan.set_modified(std::time::SystemTime::now() - engage::temp_files::ORPHAN_AFTER * 2).unwrap();

    // A new process (a new runtime) finds the precompiled artifact on disk.
    let second = Runtime::new(config).unwrap();
    assert_eq!(files(), artifact, "the orphan is removed, the artifact kept");
    let plugin = second.load_bytes("cleanup", &bytes).unwrap();
    assert_eq!(second.cache_stats().compiled, 0, "a cached component must not be recompiled");
    assert_eq!(second.cache_stats().disk_hits, 1);
    assert_eq!(plugin.hash.len(), 64);
}

#[test]
fn precompile_compiles_every_component_it_can_and_names_the_ones_it_cannot() {
    let plugins = tempfile::tempdir().unwrap();
    let (root, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for name in ["cleanup", "old_wit"] {
        std::fs::copy(support::plugin_path(name), plugins.path().join(format!("{name}.wasm"))).unwrap();
    }
    let precompile = || {
        support::engage_command(root.path(), "precompile")
            .args(["plugin", "precompile", "--plugins"])
            .arg(plugins.path())
            .arg("--cache-dir")
            .arg(cache.path())
            .output()
            .unwrap()
    };
    let out = precompile();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a component that cannot run here fails the command: {stdout}");
    assert!(stdout.contains("cleanup.wasm: compiled"), "{stdout}");
    assert!(stdout.contains("old_wit.wasm: not precompiled: plugin 'old_wit' cannot run on this host"), "{stdout}");
    assert!(stderr.contains("1 of 2 components"), "{stderr}");
    let again = String::from_utf8_lossy(&precompile().stdout).into_owned();
    assert!(again.contains("cleanup.wasm: already in the cache"), "{again}");
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(support::plugin_path("cleanup")).unwrap();
    let config = RuntimeConfig { cache_dir: Some(cache.path().to_path_buf()), pooling: false };
    Runtime::new(config.clone()).unwrap().load_bytes("cleanup", &bytes).unwrap();
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a compiled component").unwrap();
    }
    let runtime = Runtime::new(config).unwrap();
    runtime.load_bytes("cleanup", &bytes).unwrap();
    assert_eq!(runtime.cache_stats().compiled, 1);
}

#[test]
fn bytes_that_are_not_a_component_are_refused_by_name() {
    let error = support::runtime().load_bytes("broken", b"\0asm garbage").err().unwrap();
    assert!(format!("{error:#}").contains("broken is not a valid WebAssembly component"), "{error:#}");
    assert!(!format!("{error:#}").contains('\n'), "one line: {error:#}");
    let error = support::runtime().load_bytes("text", b"hello\n").err().unwrap();
    assert!(format!("{error:#}").contains("text is not a WebAssembly file") && !format!("{error:#}").contains('\n'), "{error:#}");
    let error = support::runtime().load_bytes("core", b"\0asm\x01\0\0\0").err().unwrap();
    assert!(format!("{error:#}").contains("core is a core WebAssembly module, not a component"), "{error:#}");
}

fn raw_batch(rows: usize) -> RecordBatch {
    let mut fields = vec![Field::new("user_id", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("u{i}"))))];
    for (c, name) in FEATURE_INPUTS.iter().enumerate() {
        fields.push(Field::new(*name, DataType::Int64, true));
        // Row 0 is hand-checked below; the rest vary; every 5th value of column 4 is missing.
        let values = (0..rows as i64).map(|r| if c == 4 && r % 5 == 4 { None } else { Some((r * 7 + c as i64 * 3) % 40) });
        columns.push(Arc::new(Int64Array::from_iter(values)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn the_feature_transform_keeps_rows_and_computes_declared_columns() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = support::load("engagement_features");
    let mut instance = support::runtime()
        .transform_instance(&plugin, "test-run", "features", GuestLimits::default(), &caps(&dir))
        .unwrap();
    assert_eq!(instance.info().outputs.len(), 14);
    assert_eq!(instance.info().inputs.len(), 19);

    let input = raw_batch(1000);
    let output = instance.transform(&input).unwrap();
    assert_eq!(output.num_rows(), 1000);
    assert_eq!(output.num_columns(), 14);
    let col = |name: &str| output.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().clone();
    // Row 0: sessions_7d = 0, sessions_30d = 3, days_since_last_session = 12.
    assert_eq!(col("sessions_per_day_7d").value(0), 0.0);
    assert!((col("session_recency").value(0) - (-12.0f64 / 7.0).exp()).abs() < 1e-12);
    // Row 4 has no days_since_last_session: "never seen" decays to 0, not null.
    assert_eq!(col("session_recency").value(4), 0.0);
    assert!(col("email_open_rate_30d").iter().all(|v| v.is_some_and(f64::is_finite)));

    // The same instance takes batch after batch.
    assert_eq!(instance.transform(&raw_batch(10)).unwrap().num_rows(), 10);
}

#[test]
fn a_transform_input_without_a_declared_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = support::load("engagement_features");
    let mut instance = support::runtime()
        .transform_instance(&plugin, "test-run", "features", GuestLimits::default(), &caps(&dir))
        .unwrap();
    let input = raw_batch(3);
    let without = input.project(&(0..input.num_columns() - 1).collect::<Vec<_>>()).unwrap();
    let error = instance.transform(&without).unwrap_err();
    assert!(error.to_string().contains("reads column 'complaints_90d', which the input does not have"), "{error}");
}

#[test]
fn a_transform_output_over_the_limit_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = support::load("engagement_features");
    let limits = GuestLimits { output_bytes: 64 << 10, timeout: Duration::from_secs(30), ..GuestLimits::default() };
    let mut instance = support::runtime().transform_instance(&plugin, "test-run", "features", limits, &caps(&dir)).unwrap();
    assert!(instance.transform(&raw_batch(10)).is_ok(), "a small batch fits");
    let error = instance.transform(&raw_batch(10_000)).unwrap_err();
    assert_eq!(error.kind, FailureKind::OutputLimit);
    assert!(error.to_string().contains("stage 'features'") && error.to_string().contains("output limit of 64.0 KiB"), "{error}");
}

#[test]
fn a_stage_plugin_is_not_a_transform() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = support::load("cleanup");
    let error = support::runtime()
        .transform_instance(&plugin, "test-run", "features", GuestLimits::default(), &caps(&dir))
        .err()
        .unwrap();
    assert_eq!(error.kind, FailureKind::Load);
    assert!(error.to_string().contains("is a stage plugin (it exports `run`), not a feature-transform plugin"), "{error}");
    assert!(error.to_string().contains("engage plugin test <folder>"), "where it belongs: {error}");

    // And the other way round.
    let request = engage::runtime::stage::StageRequest {
        run_id: "test-run",
        stage: "features",
        params: serde_json::json!({}),
        grants: engage::capabilities::Grants::default(),
        limits: GuestLimits::default(),
    };
    let error = support::runtime().run_stage(&support::load("engagement_features"), request, &caps(&dir)).unwrap_err();
    assert_eq!(error.kind, FailureKind::Load);
    assert!(error.to_string().contains("is a feature-transform plugin (it exports `transform`), not a stage plugin"), "{error}");
}

/// plugin.toml naming the other transform world than the one a component was built for is traced back
/// to plugin.toml's `world`, not left as a type-checking error alone.
#[test]
fn a_transform_loaded_as_the_other_transform_world_points_at_plugin_toml() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(support::plugin_path("engagement_features")).unwrap();
    let manifest = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/engagement-features/plugin.toml")).unwrap();
    assert!(manifest.contains("/feature-transform@"), "{manifest}");
    let manifest = engage::plugins::manifest::Manifest::parse(&manifest.replace("/feature-transform@", "/column-transform@")).unwrap();
    let plugin = support::runtime().load_with_manifest("engagement-features", &bytes, Some(manifest)).unwrap();
    let error = support::runtime().transform_instance(&plugin, "test-run", "features", GuestLimits::default(), &caps(&dir)).err().expect("refused");
    let error = error.to_string();
    assert!(error.contains("is not a column-transform plugin") && error.contains("check the plugin was not built as a feature-transform"), "{error}");
}
