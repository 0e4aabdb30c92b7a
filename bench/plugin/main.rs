//! The plugin boundary, side by side with native code in one run:
//! - a cached component's load and instantiation time;
//! - the 14-feature transform over 1M rows × 72 raw columns, as a wasm guest
//!   (fresh instance included) against the same Rust code compiled natively.
//!
//! Run with `bench/plugin/run.sh` (builds the plugins and this binary in release).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use engage::capabilities::storage::LocalStorage;
use engage::runtime::{Capabilities, GuestLimits, Runtime, RuntimeConfig};
use rand::{Rng, SeedableRng};

const ROWS: usize = 1_000_000;
const COLUMNS: usize = 72;
const REPEATS: usize = 5;

fn main() -> Result<()> {
    let plugin_dir = std::env::var_os("ENGAGE_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("plugins/target/wasm32-wasip2/release"));
    let wasm = plugin_dir.join("engagement_features.wasm");
    let cache = tempdir("engage-bench-cache")?;
    let root = tempdir("engage-bench-root")?;
    let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(&root)?));
    let batch_rows: usize = std::env::var("BATCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(65_536);

    // Compile once (a cold cache), then measure what a later run pays.
    let config = RuntimeConfig { cache_dir: Some(cache.clone()), pooling: true };
    let t = Instant::now();
    Runtime::new(config.clone())?.load_file(&wasm)?;
    let compile = t.elapsed();

    let runtime = Runtime::new(config)?;
    let t = Instant::now();
    let plugin = runtime.load_file(&wasm)?;
    let load_cached = t.elapsed();
    assert_eq!(runtime.cache_stats().compiled, 0, "the second runtime must load the cached artifact");

    let n = 500;
    let t = Instant::now();
    for _ in 0..n {
        runtime.transform_instance(&plugin, "bench", "features", GuestLimits::default(), &caps)?;
    }
    let instantiate = t.elapsed() / n;

    let batches = raw_table(ROWS, batch_rows);
    let mut native = Vec::new();
    let mut guest = Vec::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        let mut rows = 0;
        for batch in &batches {
            let cols = engagement_features::compute(batch).map_err(anyhow::Error::msg)?;
            rows += cols[0].len();
        }
        native.push(t.elapsed());
        assert_eq!(rows, ROWS);

        let t = Instant::now();
        let mut instance = runtime.transform_instance(&plugin, "bench", "features", GuestLimits::default(), &caps)?;
        let mut rows = 0;
        for batch in &batches {
            rows += instance.transform(batch)?.num_rows();
        }
        guest.push(t.elapsed());
        assert_eq!(rows, ROWS);
    }
    let (native, guest) = (median(native), median(guest));
    let ratio = guest.as_secs_f64() / native.as_secs_f64();

    println!("plugin boundary benchmark ({ROWS} rows × {COLUMNS} columns, {batch_rows}-row batches, median of {REPEATS})");
    println!("{:<44} {:>12}", "measure", "value");
    println!("{:<44} {:>9.1} ms", "compile (Cranelift, cold cache)", ms(compile));
    println!("{:<44} {:>9.2} ms", "load precompiled component (disk cache)", ms(load_cached));
    println!("{:<44} {:>9.3} ms", "instantiate + describe (pooled)", ms(instantiate));
    println!("{:<44} {:>9.1} ms", "features, native", ms(native));
    println!("{:<44} {:>9.1} ms", "features, wasm guest (fresh instance)", ms(guest));
    println!("{:<44} {:>9.2} ×", "guest / native", ratio);
    println!("{:<44} {:>9.0}", "guest rows/s", ROWS as f64 / guest.as_secs_f64());

    let json = format!(
        "{{\n  \"rows\": {ROWS},\n  \"columns\": {COLUMNS},\n  \"batch_rows\": {batch_rows},\n  \"compile_ms\": {:.1},\n  \"load_cached_ms\": {:.3},\n  \"instantiate_ms\": {:.4},\n  \"native_ms\": {:.1},\n  \"guest_ms\": {:.1},\n  \"guest_over_native\": {:.3}\n}}\n",
        ms(compile), ms(load_cached), ms(instantiate), ms(native), ms(guest), ratio
    );
    std::fs::create_dir_all("bench/results")?;
    std::fs::write("bench/results/plugin.json", json).context("writing bench/results/plugin.json")?;
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn tempdir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A raw table shaped like the weekly input: the 19 columns the transform reads
/// (integer counts, some missing) among 72, the rest floats, plus user_id.
fn raw_table(rows: usize, batch_rows: usize) -> Vec<RecordBatch> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut fields = vec![Field::new("user_id", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("u{i:08}"))))];
    for name in engagement_features::INPUTS {
        fields.push(Field::new(name, DataType::Int64, true));
        let values: Int64Array =
            (0..rows).map(|_| if rng.random_bool(0.05) { None } else { Some(rng.random_range(0..60)) }).collect();
        columns.push(Arc::new(values));
    }
    for i in fields.len()..=COLUMNS {
        fields.push(Field::new(format!("other_{i}"), DataType::Float64, true));
        let values: Float64Array = (0..rows).map(|_| Some(rng.random::<f64>())).collect();
        columns.push(Arc::new(values));
    }
    let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("valid table");
    (0..rows).step_by(batch_rows).map(|start| table.slice(start, batch_rows.min(rows - start))).collect()
}
