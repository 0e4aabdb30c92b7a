//! Engage's side of the boosting benchmark (run by bench/boost/run.sh).
//! Prints one JSON line: train_s, predict_rows_per_s, auc, logloss, peak_rss_mb.
//!
//! usage: boost_bench DATA_DIR THREADS ROUNDS [depthwise|lossguide]

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use engage_boost::{FeatureMatrix, GrowPolicy, Params, metrics, train};

fn read_f32(path: &std::path::Path, n: usize) -> Vec<f32> {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_f32_from(&mut f, n)
}

fn read_f32_from(f: &mut std::fs::File, n: usize) -> Vec<f32> {
    let mut v = vec![0f32; n];
    // SAFETY: f32 has no invalid bit patterns; the file is little-endian f32.
    let bytes = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, n * 4) };
    f.read_exact(bytes).unwrap();
    v
}

/// Column-major file -> one record batch of f32 columns (no copy after the read).
fn load(dir: &std::path::Path, split: &str, n: usize, nf: usize) -> (RecordBatch, Vec<f32>) {
    // One column at a time, so loading never holds the data twice.
    let path = dir.join(format!("X_{split}.f32"));
    let mut file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields = Vec::with_capacity(nf);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(nf);
    for f in 0..nf {
        fields.push(Field::new(format!("f{f}"), DataType::Float32, true));
        arrays.push(Arc::new(Float32Array::from(read_f32_from(&mut file, n))));
    }
    let y = read_f32(&dir.join(format!("y_{split}.f32")), n);
    (RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap(), y)
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map(|k| k / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let threads: usize = args[2].parse().unwrap();
    let rounds: usize = args[3].parse().unwrap();
    let policy = args.get(4).map(|s| s.as_str()).unwrap_or("depthwise");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let (n_train, n_test, nf) = (
        meta["n_train"].as_u64().unwrap() as usize,
        meta["n_test"].as_u64().unwrap() as usize,
        meta["n_features"].as_u64().unwrap() as usize,
    );
    let mut params = Params { n_rounds: rounds, eta: 0.1, max_depth: 6, max_bin: 255, n_threads: threads, ..Params::default() };
    if policy == "lossguide" {
        params.grow_policy = GrowPolicy::Lossguide;
        params.max_leaves = 63;
        params.max_depth = 0;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let (batch, y) = load(&dir, "train", n_train, nf);
    let names: Vec<String> = (0..nf).map(|f| format!("f{f}")).collect();
    let t0 = Instant::now();
    let x = pool.install(|| FeatureMatrix::from_batches(&[batch], &names, params.max_bin, params.bin_sample_rows)).unwrap();
    // The raw training columns were moved in and are freed now: only bins remain.
    let bin_s = t0.elapsed().as_secs_f64();
    let tm = train(&x, &y, None, &params).unwrap();
    let train_s = t0.elapsed().as_secs_f64();
    drop(x);
    drop(y);
    let (test, yt) = load(&dir, "test", n_test, nf);
    let t1 = Instant::now();
    let p = pool.install(|| tm.model.predict_batch(&test)).unwrap();
    let pred_s = t1.elapsed().as_secs_f64();
    // Optional: keep the model and its test predictions to check them in Python.
    if let Ok(path) = std::env::var("ENGAGE_BENCH_SAVE") {
        tm.model.save_xgboost_json(format!("{path}.json")).unwrap();
        let bytes: Vec<u8> = p.probability.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(format!("{path}.pred.f32"), bytes).unwrap();
    }
    let auc = metrics::auc(&yt, &p.probability).unwrap();
    let ll = metrics::logloss(&yt, &p.probability);
    println!(
        "{}",
        serde_json::json!({
            "train_s": train_s,
            "bin_s": bin_s,
            "predict_rows_per_s": n_test as f64 / pred_s,
            "auc": auc,
            "logloss": ll,
            "peak_rss_mb": peak_rss_mb(),
        })
    );
}
