//! The plugin boundary, side by side with native code in one run:
//! - a cached component's load and instantiation time;
//! - the 14-feature transform over 1M rows × 72 raw columns, as a wasm guest
//!   (fresh instance included: instantiate, every batch, drop) against the same
//!   Rust code compiled natively;
//! - where the guest's time goes: the boundary alone (an identity-like guest that
//!   returns 14 of its 19 inputs unchanged, as many bytes as the real output), the
//!   same Arrow IPC round trip natively (no wasm), and a warm instance;
//! - the guest memory one 1M-row batch needs (the smallest memory limit it runs under).
//!
//! Guest outputs are compared bit for bit with the native result; differences are counted.
//!
//! Run with `bench/plugin/run.sh` (builds the plugins and this binary in release).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::ipc::writer::StreamWriter;
use engage::capabilities::storage::LocalStorage;
use engage::runtime::{Capabilities, FailureKind, GuestLimits, Plugin, Runtime, RuntimeConfig};
use rand::{Rng, SeedableRng};

const ROWS: usize = 1_000_000;
const COLUMNS: usize = 72;
const REPEATS: usize = 5;
const MIB: usize = 1 << 20;
/// The largest wasm32 linear memory (4 GiB less one 64 KiB page).
const MAX_MEMORY: usize = (4 << 30) - (64 << 10);

fn main() -> Result<()> {
    let plugin_dir = std::env::var_os("ENGAGE_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("plugins/target/wasm32-wasip2/release"));
    let wasm = plugin_dir.join("engagement_features.wasm");
    let identity_wasm = plugin_dir.join("bench_identity.wasm");
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
    // A profiling run (ENGAGE_WASM_PERFMAP) compiles in process, without the cache.
    if std::env::var_os("ENGAGE_WASM_PERFMAP").is_none() {
        assert_eq!(runtime.cache_stats().compiled, 0, "the second runtime must load the cached artifact");
    }
    let identity = runtime.load_file(&identity_wasm).with_context(|| {
        format!("loading {} (built by bench/plugin/run.sh from bench/plugin/identity)", identity_wasm.display())
    })?;

    let n = 500;
    let t = Instant::now();
    for _ in 0..n {
        runtime.transform_instance(&plugin, "bench", "features", GuestLimits::default(), &caps)?;
    }
    let instantiate = t.elapsed() / n;

    let batches = raw_table(ROWS, batch_rows);
    let expected: Vec<Vec<ArrayRef>> =
        batches.iter().map(engagement_features::compute).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?;

    // A profiling aid: BENCH_ONLY=guest runs the fresh-instance guest pass 30 times and stops.
    if std::env::var("BENCH_ONLY").as_deref() == Ok("guest") {
        for _ in 0..30 {
            let (fresh, warm, _) = run_guest(&runtime, &plugin, &caps, &batches, GuestLimits::default(), None)?;
            eprintln!("fresh {:.1} ms, warm {:.1} ms", ms(fresh), ms(warm));
        }
        return Ok(());
    }
    let mut native = Vec::new();
    let mut round_trip = Vec::new();
    let mut boundary = Vec::new();
    let mut guest = Vec::new();
    let mut warm = Vec::new();
    let mut differ = 0;
    for repeat in 0..REPEATS {
        let t = Instant::now();
        let mut rows = 0;
        for batch in &batches {
            let cols = engagement_features::compute(batch).map_err(anyhow::Error::msg)?;
            rows += cols[0].len();
        }
        native.push(t.elapsed());
        assert_eq!(rows, ROWS);

        round_trip.push(native_round_trip(&batches)?);
        boundary.push(run_guest(&runtime, &identity, &caps, &batches, GuestLimits::default(), None)?.0);

        let check = (repeat == 0).then_some(expected.as_slice());
        let (fresh, second_pass, d) = run_guest(&runtime, &plugin, &caps, &batches, GuestLimits::default(), check)?;
        differ += d;
        guest.push(fresh);
        warm.push(second_pass);
    }
    let (native, round_trip, boundary, guest, warm) =
        (median(native), median(round_trip), median(boundary), median(guest), median(warm));
    let ratio = guest.as_secs_f64() / native.as_secs_f64();

    // One 1M-row batch: its time, and the smallest memory limit it runs under.
    drop((batches, expected));
    let whole = raw_table(ROWS, ROWS);
    // Time it under the largest limit wasm32 allows; the default limit may be too small.
    let big = GuestLimits { memory_bytes: MAX_MEMORY, ..GuestLimits::default() };
    let whole_ms = ms(run_guest(&runtime, &plugin, &caps, &whole, big, None)?.0);
    let memory = smallest_memory_limit(&runtime, &plugin, &caps, &whole[0])?;

    println!("plugin boundary benchmark ({ROWS} rows × {COLUMNS} columns, {batch_rows}-row batches, median of {REPEATS})");
    println!("{:<58} {:>12}", "measure", "value");
    println!("{:<58} {:>9.1} ms", "compile (Cranelift, cold cache)", ms(compile));
    println!("{:<58} {:>9.2} ms", "load precompiled component (disk cache)", ms(load_cached));
    println!("{:<58} {:>9.3} ms", "instantiate + describe (pooled)", ms(instantiate));
    println!("{:<58} {:>9.1} ms", "features, native", ms(native));
    println!("{:<58} {:>9.1} ms", "features, native + IPC round trip (no wasm)", ms(round_trip));
    println!("{:<58} {:>9.1} ms", "boundary only: identity guest (fresh instance)", ms(boundary));
    println!("{:<58} {:>9.1} ms", "features, wasm guest (fresh instance)", ms(guest));
    println!("{:<58} {:>9.1} ms", "features, wasm guest (warm instance, second pass)", ms(warm));
    println!("{:<58} {:>9.1} ms", "  guest compute (fresh guest - identity guest)", ms(guest.saturating_sub(boundary)));
    println!("{:<58} {:>9.2} ×", "guest / native", ratio);
    println!("{:<58} {:>12}", "guest values differing from native (bit for bit)", differ);
    println!("{:<58} {:>9.0}", "guest rows/s", ROWS as f64 / guest.as_secs_f64());
    println!("{:<58} {:>9.1} ms", "one 1M-row batch, wasm guest (fresh instance)", whole_ms);
    println!("{:<58} {:>9} MiB", "  guest memory it needs (smallest limit that runs)", memory / MIB);

    let json = format!(
        "{{\n  \"rows\": {ROWS},\n  \"columns\": {COLUMNS},\n  \"batch_rows\": {batch_rows},\n  \"compile_ms\": {:.1},\n  \"load_cached_ms\": {:.3},\n  \"instantiate_ms\": {:.4},\n  \"native_ms\": {:.1},\n  \"native_ipc_round_trip_ms\": {:.1},\n  \"identity_guest_ms\": {:.1},\n  \"guest_ms\": {:.1},\n  \"guest_warm_ms\": {:.1},\n  \"guest_over_native\": {:.3},\n  \"guest_values_differing_from_native\": {differ},\n  \"single_batch_1m_guest_ms\": {:.1},\n  \"single_batch_1m_guest_memory_mib\": {}\n}}\n",
        ms(compile),
        ms(load_cached),
        ms(instantiate),
        ms(native),
        ms(round_trip),
        ms(boundary),
        ms(guest),
        ms(warm),
        ratio,
        whole_ms,
        memory / MIB
    );
    std::fs::create_dir_all("bench/results")?;
    std::fs::write("bench/results/plugin.json", json).context("writing bench/results/plugin.json")?;
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// A fresh instance over every batch, dropped at the end (all timed), then the
/// time of a second pass on a second instance that is warmed by a first one.
/// With `expected`, also how many output values differ from the native result bit for bit.
fn run_guest(
    runtime: &Runtime,
    plugin: &Plugin,
    caps: &Capabilities,
    batches: &[RecordBatch],
    limits: GuestLimits,
    expected: Option<&[Vec<ArrayRef>]>,
) -> Result<(Duration, Duration, usize)> {
    let pass = |instance: &mut engage::runtime::transform::TransformInstance, check: bool| -> Result<usize> {
        let (mut rows, mut differ) = (0, 0);
        for (i, batch) in batches.iter().enumerate() {
            let out = instance.transform(batch)?;
            rows += out.num_rows();
            if let (true, Some(expected)) = (check, expected) {
                differ += differing_values(out.columns(), &expected[i]).with_context(|| format!("batch {i}"))?;
            }
        }
        ensure!(rows == batches.iter().map(|b| b.num_rows()).sum::<usize>());
        Ok(differ)
    };
    let t = Instant::now();
    let mut instance = runtime.transform_instance(plugin, "bench", "features", limits, caps)?;
    pass(&mut instance, false)?;
    drop(instance);
    let fresh = t.elapsed();

    let mut instance = runtime.transform_instance(plugin, "bench", "features", limits, caps)?;
    let differ = pass(&mut instance, expected.is_some())?;
    let t = Instant::now();
    pass(&mut instance, false)?;
    Ok((fresh, t.elapsed(), differ))
}

/// Native compute with the Arrow IPC encode/decode the guest path does on both sides.
fn native_round_trip(batches: &[RecordBatch]) -> Result<Duration> {
    let t = Instant::now();
    for batch in batches {
        let indices: Vec<usize> =
            engagement_features::INPUTS.iter().map(|n| batch.schema().index_of(n)).collect::<Result<_, _>>()?;
        let input = batch.project(&indices)?;
        let bytes = encode(&input)?;
        let (_, decoded) = engage::ipc::decode(bytes)?;
        let cols = engagement_features::compute(&decoded[0]).map_err(anyhow::Error::msg)?;
        let schema = Arc::new(Schema::new(
            engagement_features::OUTPUTS.iter().map(|(n, _, _)| Field::new(*n, DataType::Float64, true)).collect::<Vec<_>>(),
        ));
        let out = RecordBatch::try_new(schema.clone(), cols)?;
        let bytes = encode(&out)?;
        let (_, decoded) = engage::ipc::decode(bytes)?;
        ensure!(decoded[0].num_rows() == batch.num_rows());
    }
    Ok(t.elapsed())
}

/// How many values differ (bit for bit, nulls included) from the expected columns.
/// An IPC stream in a buffer of its size, as the host and the SDK write them.
fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let data: usize = batch.columns().iter().map(|c| c.to_data().get_slice_memory_size()).sum::<Result<_, _>>()?;
    let mut writer = StreamWriter::try_new(Vec::with_capacity(data + batch.num_columns() * 512 + 1024), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

fn differing_values(found: &[ArrayRef], expected: &[ArrayRef]) -> Result<usize> {
    ensure!(found.len() == expected.len(), "{} columns, expected {}", found.len(), expected.len());
    let mut differ = 0;
    for (i, (f, e)) in found.iter().zip(expected).enumerate() {
        let (f, e) = (f.as_primitive::<Float64Type>(), e.as_primitive::<Float64Type>());
        ensure!(f.len() == e.len(), "column {i}: {} rows, expected {}", f.len(), e.len());
        for row in 0..f.len() {
            let (a, b) = (f.is_valid(row).then(|| f.value(row)), e.is_valid(row).then(|| e.value(row)));
            if a.map(f64::to_bits) != b.map(f64::to_bits) {
                if differ == 0 && std::env::var_os("BENCH_VERBOSE").is_some() {
                    eprintln!("first difference: column {i} row {row}: guest {a:?}, native {b:?}");
                }
                differ += 1;
            }
        }
    }
    Ok(differ)
}

/// Binary search, to 8 MiB, for the smallest memory limit under which the batch runs.
fn smallest_memory_limit(runtime: &Runtime, plugin: &Plugin, caps: &Capabilities, batch: &RecordBatch) -> Result<usize> {
    let runs = |memory_bytes: usize| -> Result<bool> {
        let limits = GuestLimits { memory_bytes, ..GuestLimits::default() };
        let mut instance = runtime.transform_instance(plugin, "bench", "features", limits, caps)?;
        match instance.transform(batch) {
            Ok(_) => Ok(true),
            Err(e) if e.kind == FailureKind::MemoryLimit => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    let (mut low, mut high) = (8 * MIB, MAX_MEMORY);
    if !runs(high)? {
        bail!("the 1M-row batch does not run in 4 GiB of guest memory");
    }
    while high - low > 8 * MIB {
        let mid = (low + (high - low) / 2) / MIB * MIB;
        if runs(mid)? { high = mid } else { low = mid }
    }
    Ok(high)
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
