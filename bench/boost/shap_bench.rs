//! TreeSHAP benchmark: Engage's exact TreeSHAP against Python xgboost's
//! `pred_contribs` on the same model and the same rows, in one run (run by
//! bench/boost/shap.sh).
//!
//! Trains a 200-tree depth-6 model on DATA_DIR's training split (the data of
//! bench/boost/gen_data.py), saves it as XGBoost JSON, times
//! `Model::contributions` on the test split, then runs shap_py.py (Python
//! xgboost) on the saved model and the same rows, checks the two agree, and
//! prints a table plus one JSON line.
//!
//! usage: shap_bench DATA_DIR THREADS ROUNDS PYTHON [ROWS]

use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use engage_boost::{Params, train_batches_with_features};

fn read_cols(path: &std::path::Path, n_file: usize, n: usize, nf: usize) -> Vec<Vec<f32>> {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = vec![0u8; n_file * 4];
    (0..nf)
        .map(|_| {
            f.read_exact(&mut bytes).unwrap();
            bytes[..n * 4].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
        })
        .collect()
}

/// CPU seconds (user + system) this process has used so far: the machine
/// may be shared, so rows per CPU-second is reported beside wall-clock.
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

fn batch(cols: &[Vec<f32>], label: Option<Vec<f32>>) -> RecordBatch {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (f, c) in cols.iter().enumerate() {
        fields.push(Field::new(format!("f{f}"), DataType::Float32, true));
        arrays.push(Arc::new(Float32Array::from(c.clone())));
    }
    if let Some(y) = label {
        fields.push(Field::new("label", DataType::Float32, false));
        arrays.push(Arc::new(Float32Array::from(y)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: shap_bench DATA_DIR THREADS ROUNDS PYTHON [ROWS]");
        std::process::exit(2);
    }
    let dir = std::path::PathBuf::from(&args[1]);
    let threads: usize = args[2].parse().unwrap();
    let rounds: usize = args[3].parse().unwrap();
    let python = &args[4];
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let (n_train, n_test, nf) = (
        meta["n_train"].as_u64().unwrap() as usize,
        meta["n_test"].as_u64().unwrap() as usize,
        meta["n_features"].as_u64().unwrap() as usize,
    );
    let rows: usize = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(n_test).min(n_test);
    let names: Vec<String> = (0..nf).map(|f| format!("f{f}")).collect();

    let train_cols = read_cols(&dir.join("X_train.f32"), n_train, n_train, nf);
    let y = read_cols(&dir.join("y_train.f32"), n_train, n_train, 1).pop().unwrap();
    let params = Params { n_rounds: rounds, eta: 0.1, max_depth: 6, max_bin: 255, n_threads: threads, seed: 0, ..Params::default() };
    let t0 = Instant::now();
    let tm = train_batches_with_features(&[batch(&train_cols, Some(y))], "label", &names, None, &params).unwrap();
    let train_s = t0.elapsed().as_secs_f64();
    drop(train_cols);
    let model = tm.model;
    let model_path = dir.join("shap_model.json");
    model.save_xgboost_json(&model_path).unwrap();
    let leaves: usize = model.trees().iter().map(|t| t.n_leaves()).sum();
    let max_depth = model.trees().iter().map(|t| t.depth()).max().unwrap_or(0);

    let test = batch(&read_cols(&dir.join("X_test.f32"), n_test, rows, nf), None);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let (t1, c1) = (Instant::now(), cpu_s());
    let c = pool.install(|| model.contributions(&test)).unwrap();
    let engage_s = t1.elapsed().as_secs_f64();
    let engage_cpu_s = cpu_s() - c1;
    // Additivity over every row: contributions + bias against base margin +
    // Σ leaf values, both summed in f64.
    let cols: Vec<&[f32]> = (0..nf).map(|f| test.column(f).as_any().downcast_ref::<Float32Array>().unwrap().values().as_ref()).collect();
    let mut row = vec![0f32; nf];
    let additivity = (0..rows)
        .map(|r| {
            for (v, c) in row.iter_mut().zip(&cols) {
                *v = c[r];
            }
            let m = model.base_margin() as f64 + model.trees().iter().map(|t| t.predict_row(&row) as f64).sum::<f64>();
            (c.margin(r) - m).abs() / (1.0 + m.abs())
        })
        .fold(0.0, f64::max);
    let top = c.importance();

    // Path (Saabas) attribution, the cheap per-user reasons: the same rows, the same threads.
    let (t2, c2) = (Instant::now(), cpu_s());
    let p = pool.install(|| model.path_contributions(&test)).unwrap();
    let path_s = t2.elapsed().as_secs_f64();
    let path_cpu_s = cpu_s() - c2;

    // Python xgboost: same model file, same rows, same threads.
    let out = dir.join("shap_xgb.f32");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/boost/shap_py.py");
    let py = Command::new(python)
        .args([script.to_str().unwrap(), model_path.to_str().unwrap(), dir.join("X_test.f32").to_str().unwrap()])
        .args([n_test.to_string(), rows.to_string(), nf.to_string(), threads.to_string()])
        .arg(&out)
        .output()
        .expect("run python");
    assert!(py.status.success(), "shap_py.py failed:\n{}", String::from_utf8_lossy(&py.stderr));
    let pyr: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&py.stdout).trim()).unwrap();
    let xgb_s = pyr["contribs_s"].as_f64().unwrap();
    let xgb_cpu_s = pyr["contribs_cpu_s"].as_f64().unwrap();
    let theirs: Vec<f32> =
        std::fs::read(&out).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let _ = std::fs::remove_file(&out);
    assert_eq!(theirs.len(), c.values.len());
    let max_diff = c.values.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let approx_out = dir.join("shap_xgb.f32.approx");
    let theirs_approx: Vec<f32> =
        std::fs::read(&approx_out).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let _ = std::fs::remove_file(&approx_out);
    assert_eq!(theirs_approx.len(), p.values.len());
    let path_max_diff = p.values.iter().zip(&theirs_approx).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let (xgb_approx_s, xgb_approx_cpu_s) = (pyr["approx_s"].as_f64().unwrap(), pyr["approx_cpu_s"].as_f64().unwrap());

    let (er, xr) = (rows as f64 / engage_s, rows as f64 / xgb_s);
    eprintln!("TreeSHAP, {rows} rows x {nf} features, {} trees (max depth {max_depth}, {leaves} leaves), {threads} threads", model.n_trees());
    let (ec, xc) = (rows as f64 / engage_cpu_s, rows as f64 / xgb_cpu_s);
    eprintln!("                          wall s      rows/s     CPU s  rows/CPU-s");
    eprintln!("  engage  contributions {engage_s:8.2} {er:11.0} {engage_cpu_s:9.2} {ec:11.0}");
    eprintln!("  xgboost pred_contribs {xgb_s:8.2} {xr:11.0} {xgb_cpu_s:9.2} {xc:11.0}   (xgboost {}; DMatrix build {:.2} s not counted)", pyr["xgboost"].as_str().unwrap_or("?"), pyr["dmatrix_s"].as_f64().unwrap_or(f64::NAN));
    eprintln!("  ratio engage / xgboost: {:.2}x wall-clock, {:.2}x per CPU-second", er / xr, ec / xc);
    let (pr, pxr) = (rows as f64 / path_s, rows as f64 / xgb_approx_s);
    eprintln!("  engage  path (Saabas) {path_s:8.2} {pr:11.0} {path_cpu_s:9.2} {:11.0}", rows as f64 / path_cpu_s);
    eprintln!("  xgboost approx_contribs {xgb_approx_s:6.2} {pxr:11.0} {xgb_approx_cpu_s:9.2} {:11.0}", rows as f64 / xgb_approx_cpu_s);
    eprintln!("  ratio engage / xgboost (path): {:.2}x wall-clock; max |engage - xgboost| {path_max_diff:.2e}", pr / pxr);
    eprintln!("  max |engage - xgboost| {max_diff:.2e}; max additivity error (relative to 1+|margin|) {additivity:.1e}");
    eprintln!("  top features by mean |SHAP|: {}", top.iter().take(5).map(|i| format!("{} {:.3}", i.feature, i.mean_abs)).collect::<Vec<_>>().join(", "));
    println!(
        "{}",
        serde_json::json!({
            "rows": rows, "features": nf, "trees": model.n_trees(), "max_depth": max_depth, "leaves": leaves,
            "threads": threads, "train_s": train_s,
            "engage_s": engage_s, "engage_rows_per_s": er,
            "engage_cpu_s": engage_cpu_s, "engage_rows_per_cpu_s": ec,
            "xgboost_s": xgb_s, "xgboost_rows_per_s": xr, "xgboost_version": pyr["xgboost"],
            "xgboost_cpu_s": xgb_cpu_s, "xgboost_rows_per_cpu_s": xc,
            "ratio": er / xr, "ratio_per_cpu_s": ec / xc, "max_abs_diff": max_diff, "additivity_max_rel_err": additivity,
            "path_s": path_s, "path_cpu_s": path_cpu_s, "path_rows_per_s": pr,
            "xgboost_approx_s": xgb_approx_s, "xgboost_approx_cpu_s": xgb_approx_cpu_s,
            "path_ratio": pr / pxr, "path_max_abs_diff": path_max_diff,
        })
    );
}
