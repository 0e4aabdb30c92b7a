//! XGBoost JSON round trips in both directions against Python `xgboost`
//! (installed by the test command from tests/requirements.txt). These fail,
//! never skip, when xgboost is missing.

mod common;

use common::*;
use engage_boost::{GrowPolicy, Model, Objective, Params, train_batches};

fn data(n: usize, nf: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut cols = uniform_columns(n, nf, 0.1, seed);
    // Spread scales and add ties so thresholds are not all "nice" numbers.
    for (f, c) in cols.iter_mut().enumerate() {
        for v in c.iter_mut() {
            *v = if f % 3 == 0 { (*v * 20.0).floor() } else { *v * 1000.0 - 300.0 };
        }
    }
    let mut r = Lcg::new(seed + 1);
    let y = (0..n)
        .map(|i| {
            let a = if cols[0][i].is_nan() { 5.0 } else { cols[0][i] };
            let z = (a - 10.0) / 4.0 + if cols[1][i] > 100.0 { 1.0 } else { -0.5 } - cols[2][i].max(-300.0) / 700.0;
            (r.next_f32() < 1.0 / (1.0 + (-z).exp())) as u8 as f32
        })
        .collect();
    (cols, y)
}

fn python_predict(model: &std::path::Path, cols: &[Vec<f32>], dir: &std::path::Path) -> Vec<f32> {
    let x = dir.join("x.f32");
    let out = dir.join("pred.f32");
    write_f32(&x, cols);
    let n = cols[0].len().to_string();
    let nf = cols.len().to_string();
    let s = py_script("xgb_interop.py");
    run_py(&[s.to_str().unwrap(), "predict", model.to_str().unwrap(), x.to_str().unwrap(), &n, &nf, out.to_str().unwrap()]);
    read_f32(&out)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn engage_models_load_in_xgboost_and_predict_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (cols, y) = data(4000, 6, 21);
    let (test, _) = data(3000, 6, 22);
    for (i, params) in [
        Params { n_rounds: 40, max_depth: 6, eta: 0.3, subsample: 0.8, colsample_bytree: 0.8, ..Params::default() },
        Params { n_rounds: 25, grow_policy: GrowPolicy::Lossguide, max_leaves: 15, max_depth: 0, alpha: 0.5, gamma: 0.1, max_bin: 32, ..Params::default() },
        Params { objective: Objective::SquaredError, n_rounds: 30, ..Params::default() },
    ]
    .into_iter()
    .enumerate()
    {
        let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &params).unwrap();
        let path = dir.path().join(format!("engage{i}.json"));
        tm.model.save_xgboost_json(&path).unwrap();
        let ours = tm.model.predict_batch(&batch(&test, None)).unwrap().probability;
        let theirs = python_predict(&path, &test, dir.path());
        let d = max_abs_diff(&ours, &theirs);
        assert!(d <= 1e-5, "model {i}: max abs difference {d}");
        // And Engage reads its own file back to the same predictions.
        let back = Model::load_xgboost_json(&path).unwrap();
        assert_eq!(back.predict_batch(&batch(&test, None)).unwrap().probability, ours);
        assert_eq!(back.importance(), tm.model.importance());
    }
}

#[test]
fn xgboost_models_load_in_engage_and_predict_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (cols, y) = data(5000, 5, 31);
    let x = dir.path().join("train.f32");
    let yl = dir.path().join("y.f32");
    write_f32(&x, &cols);
    write_f32(&yl, std::slice::from_ref(&y));
    let model = dir.path().join("xgb.json");
    let out = dir.path().join("xgb_pred.f32");
    let s = py_script("xgb_interop.py");
    run_py(&[s.to_str().unwrap(), "train", x.to_str().unwrap(), yl.to_str().unwrap(), "5000", "5", model.to_str().unwrap(), out.to_str().unwrap()]);
    let theirs = read_f32(&out);
    let m = Model::load_xgboost_json(&model).unwrap();
    assert_eq!(m.n_trees(), 30);
    assert_eq!(m.feature_names(), names(5));
    let ours = m.predict_batch(&batch(&cols, Some(&y))).unwrap().probability;
    let d = max_abs_diff(&ours, &theirs);
    assert!(d <= 1e-5, "max abs difference {d}");
    assert!(!m.importance().is_empty());
    // Unsupported models fail with a message naming the problem.
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    v["learner"]["objective"]["name"] = "multi:softprob".into();
    let e = Model::from_xgboost_json(&v).unwrap_err().to_string();
    assert!(e.contains("multi:softprob"), "{e}");
}
