//! Learning behaviour, determinism, early stopping and edge cases.

mod common;

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::*;
use engage_boost::baseline::LogisticBaseline;
use engage_boost::{GrowPolicy, Model, Objective, Params, evaluate, train_batches};

fn rule(c: &[Vec<f32>], i: usize) -> f32 {
    ((c[0][i] > 0.3 && c[1][i] < 0.5) || c[2][i] > 0.8) as u8 as f32
}

#[test]
fn learns_a_noiseless_rule() {
    let cols = uniform_columns(6000, 5, 0.0, 1);
    let y: Vec<f32> = (0..6000).map(|i| rule(&cols, i)).collect();
    let test = uniform_columns(3000, 5, 0.0, 2);
    let ty: Vec<f32> = (0..3000).map(|i| rule(&test, i)).collect();
    let params = Params { n_rounds: 60, max_depth: 4, ..Params::default() };
    let tm = train_batches(&chunks(&batch(&cols, Some(&y)), 1000), "label", None, &params).unwrap();
    let p = tm.model.predict_batch(&batch(&test, None)).unwrap();
    let m = evaluate(&ty, &p.probability, 0.5);
    assert!(m.auc.unwrap() > 0.995, "auc {:?}", m.auc);
    assert!(m.accuracy > 0.98, "accuracy {}", m.accuracy);
    assert!(p.confidence.iter().all(|c| (0.0..=1.0).contains(c)));
    // The splits are on the rule's features.
    let imp = tm.model.importance();
    let top: Vec<&str> = imp.iter().take(3).map(|i| i.feature.as_str()).collect();
    for f in ["x0", "x1", "x2"] {
        assert!(top.contains(&f), "importance {imp:?}");
    }
    assert!(imp.iter().all(|i| i.weight > 0 && i.total_gain > 0.0 && i.cover > 0.0));
}

#[test]
fn regression_error_falls_every_round() {
    let cols = uniform_columns(4000, 3, 0.0, 3);
    let y: Vec<f32> = (0..4000).map(|i| (cols[0][i] * 6.0).sin() + cols[1][i] * cols[1][i] * 2.0).collect();
    let b = batch(&cols, Some(&y));
    let params = Params { objective: Objective::SquaredError, n_rounds: 40, eta: 0.3, ..Params::default() };
    // Validating on the training data gives the training error per round.
    let tm = train_batches(std::slice::from_ref(&b), "label", Some(std::slice::from_ref(&b)), &params).unwrap();
    assert_eq!(tm.metric, "rmse");
    let errs: Vec<f64> = tm.history.iter().map(|r| r.valid.unwrap()).collect();
    assert_eq!(errs.len(), 40);
    for w in errs.windows(2) {
        assert!(w[1] <= w[0] + 1e-9, "training rmse went up: {errs:?}");
    }
    assert!(errs[39] < errs[0] * 0.2, "{errs:?}");
    let p = tm.model.predict_batch(&b).unwrap();
    let rmse = engage_boost::metrics::rmse(&y, &p.probability);
    assert!((rmse - errs[39]).abs() < 1e-3, "predict_batch rmse {rmse} vs history {}", errs[39]);
    assert!(p.confidence.iter().all(|c| (0.0..=1.0).contains(c)));
}

#[test]
fn missing_values_follow_the_learned_default_direction() {
    // Missing x0 means positive; otherwise the label is x0 > 0.5.
    let cols = uniform_columns(5000, 2, 0.2, 4);
    let y: Vec<f32> = cols[0].iter().map(|&v| if v.is_nan() || v > 0.5 { 1.0 } else { 0.0 }).collect();
    let params = Params { n_rounds: 20, max_depth: 2, ..Params::default() };
    let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &params).unwrap();
    let q = batch(&[vec![f32::NAN, 0.1, 0.9, f32::NAN], vec![0.5, 0.5, 0.5, f32::NAN]], None);
    let p = tm.model.predict_batch(&q).unwrap().probability;
    assert!(p[0] > 0.9 && p[3] > 0.9, "missing rows should be positive: {p:?}");
    assert!(p[1] < 0.1 && p[2] > 0.9, "{p:?}");
    // The root splits on x0 and sends missing values right, with the high values.
    let root = &tm.model.trees()[0].nodes[0];
    assert_eq!(root.feature, 0);
    assert!(!root.default_left);
    // Missing the other way: missing means negative.
    let y2: Vec<f32> = cols[0].iter().map(|&v| if !v.is_nan() && v > 0.5 { 1.0 } else { 0.0 }).collect();
    let tm2 = train_batches(&[batch(&cols, Some(&y2))], "label", None, &params).unwrap();
    assert!(tm2.model.trees()[0].nodes[0].default_left);
    let p2 = tm2.model.predict_batch(&q).unwrap().probability;
    assert!(p2[0] < 0.1 && p2[3] < 0.1, "{p2:?}");
}

fn noisy(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<f32>) {
    let cols = uniform_columns(n, 6, 0.05, seed);
    let mut r = Lcg::new(seed + 100);
    let y = (0..n)
        .map(|i| {
            let z = 3.0 * (cols[0][i].max(0.0) - 0.5) + 2.0 * (cols[1][i] - 0.5).abs() - cols[2][i];
            (r.next_f32() < 1.0 / (1.0 + (-z).exp())) as u8 as f32
        })
        .collect();
    (cols, y)
}

#[test]
fn training_is_deterministic_for_a_seed_and_across_thread_counts() {
    let (cols, y) = noisy(5000, 5);
    let b = batch(&cols, Some(&y));
    let run = |threads: usize, seed: u64| {
        let p = Params { n_rounds: 15, subsample: 0.7, colsample_bytree: 0.6, seed, n_threads: threads, ..Params::default() };
        train_batches(std::slice::from_ref(&b), "label", None, &p).unwrap().model.to_xgboost_json().to_string()
    };
    let a = run(2, 7);
    assert_eq!(a, run(2, 7));
    assert_eq!(a, run(1, 7));
    assert_ne!(a, run(2, 8), "a different seed should sample differently");
}

#[test]
fn large_nodes_split_into_row_chunks_stay_deterministic() {
    // Enough rows that histograms are built from several row chunks in parallel.
    let (cols, y) = noisy(150_000, 9);
    let b = batch(&cols, Some(&y));
    let run = |threads: usize| {
        let p = Params { n_rounds: 4, max_depth: 4, n_threads: threads, ..Params::default() };
        train_batches(std::slice::from_ref(&b), "label", None, &p).unwrap().model.to_xgboost_json().to_string()
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn early_stopping_stops_and_keeps_the_best_round() {
    let (cols, y) = noisy(3000, 6);
    let (vc, vy) = noisy(3000, 7);
    let p = Params { n_rounds: 300, eta: 0.5, max_depth: 8, min_child_weight: 0.0, lambda: 0.0, early_stopping_rounds: Some(5), ..Params::default() };
    let tm = train_batches(&[batch(&cols, Some(&y))], "label", Some(&[batch(&vc, Some(&vy))]), &p).unwrap();
    assert!(tm.stopped_early, "should overfit and stop");
    let best = tm.best_round.unwrap();
    assert_eq!(tm.history.len(), best + 6);
    assert_eq!(tm.model.n_trees(), best + 1);
    let best_metric = tm.history[best].valid.unwrap();
    assert!(tm.history.iter().all(|r| r.valid.unwrap() >= best_metric));
    // Without a validation set early stopping is a parameter error.
    let e = train_batches(&[batch(&cols, Some(&y))], "label", None, &p).unwrap_err();
    assert!(e.to_string().contains("early_stopping_rounds"), "{e}");
}

#[test]
fn leafwise_growth_respects_max_leaves() {
    let (cols, y) = noisy(4000, 8);
    let p = Params { grow_policy: GrowPolicy::Lossguide, max_leaves: 7, max_depth: 0, n_rounds: 5, ..Params::default() };
    let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &p).unwrap();
    for t in tm.model.trees() {
        assert!(t.n_leaves() <= 7 && t.n_leaves() >= 2);
    }
    let p = Params { max_depth: 3, n_rounds: 5, ..Params::default() };
    let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &p).unwrap();
    assert!(tm.model.trees().iter().all(|t| t.depth() <= 3));
}

#[test]
fn degenerate_inputs_give_errors_or_sensible_models() {
    let n = 500;
    let mut cols = uniform_columns(n, 1, 0.0, 9);
    let y: Vec<f32> = cols[0].iter().map(|&v| (v > 0.4) as u8 as f32).collect();
    cols.push(vec![3.0; n]); // constant
    cols.push(vec![f32::NAN; n]); // all missing
    let b = batch(&cols, Some(&y));
    let tm = train_batches(std::slice::from_ref(&b), "label", None, &Params { n_rounds: 10, ..Params::default() }).unwrap();
    for t in tm.model.trees() {
        assert!(t.nodes.iter().all(|nd| nd.is_leaf() || nd.feature == 0), "only x0 can split");
    }
    let p = tm.model.predict_batch(&b).unwrap();
    assert!(evaluate(&y, &p.probability, 0.5).auc.unwrap() > 0.99);

    // One class only: a clear error naming the label.
    let ones = vec![1.0f32; n];
    let e = train_batches(&[batch(&cols, Some(&ones))], "label", None, &Params::default()).unwrap_err().to_string();
    assert!(e.contains("label") && e.contains("both classes"), "{e}");
    // ... but regression on a constant target is a fine (constant) model.
    let r = Params { objective: Objective::SquaredError, n_rounds: 3, ..Params::default() };
    let tm = train_batches(&[batch(&cols, Some(&ones))], "label", None, &r).unwrap();
    assert!(tm.model.predict_batch(&b).unwrap().probability.iter().all(|&v| (v - 1.0).abs() < 1e-6));

    // Zero rows, and no batches at all.
    let empty = b.slice(0, 0);
    let e = train_batches(std::slice::from_ref(&empty), "label", None, &Params::default()).unwrap_err().to_string();
    assert!(e.contains("zero rows"), "{e}");
    assert!(train_batches(&[], "label", None, &Params::default()).is_err());
    // Predicting zero rows is fine.
    assert!(tm.model.predict_batch(&empty).unwrap().probability.is_empty());

    // A missing label value, a missing label column, a bad parameter.
    let e = train_batches(std::slice::from_ref(&b), "nope", None, &Params::default()).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    let e = train_batches(std::slice::from_ref(&b), "label", None, &Params { eta: 0.0, ..Params::default() }).unwrap_err().to_string();
    assert!(e.contains("eta"), "{e}");
    let mut yn = y.clone();
    yn[7] = f32::NAN;
    let e = train_batches(&[batch(&cols, Some(&yn))], "label", None, &Params::default()).unwrap_err().to_string();
    assert!(e.contains("row 7"), "{e}");
    // Predicting without a column the model splits on names the column.
    let clf = train_batches(std::slice::from_ref(&b), "label", None, &Params { n_rounds: 2, ..Params::default() }).unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("x9", DataType::Float32, false)])),
        vec![Arc::new(arrow_array::Float32Array::from(vec![1.0f32]))],
    )
    .unwrap();
    let e = clf.model.predict_batch(&other).unwrap_err().to_string();
    assert!(e.contains("x0"), "{e}");
}

#[test]
fn any_numeric_arrow_type_and_any_column_order() {
    let n = 2000;
    let mut r = Lcg::new(11);
    let a: Vec<Option<f64>> = (0..n).map(|_| { let v = r.next_f32() as f64; if v < 0.1 { None } else { Some(v) } }).collect();
    let b: Vec<i32> = (0..n).map(|_| (r.next_f32() * 10.0) as i32).collect();
    let c: Vec<Option<bool>> = (0..n).map(|_| Some(r.next_f32() < 0.5)).collect();
    let y: Vec<f64> = (0..n).map(|i| ((a[i].unwrap_or(0.9) > 0.5) ^ c[i].unwrap() || b[i] > 7) as u8 as f64).collect();
    let mk = |order: &[usize]| {
        let all: Vec<(Field, ArrayRef)> = vec![
            (Field::new("a", DataType::Float64, true), Arc::new(Float64Array::from(a.clone()))),
            (Field::new("b", DataType::Int32, false), Arc::new(Int32Array::from(b.clone()))),
            (Field::new("c", DataType::Boolean, true), Arc::new(BooleanArray::from(c.clone()))),
            (Field::new("label", DataType::Float64, false), Arc::new(Float64Array::from(y.clone()))),
        ];
        let (f, arr): (Vec<Field>, Vec<ArrayRef>) = order.iter().map(|&i| all[i].clone()).unzip();
        RecordBatch::try_new(Arc::new(Schema::new(f)), arr).unwrap()
    };
    let tm = train_batches(&[mk(&[0, 1, 2, 3])], "label", None, &Params { n_rounds: 30, ..Params::default() }).unwrap();
    assert_eq!(tm.model.feature_names(), ["a", "b", "c"]);
    let p1 = tm.model.predict_batch(&mk(&[0, 1, 2, 3])).unwrap();
    let p2 = tm.model.predict_batch(&mk(&[3, 2, 0, 1])).unwrap();
    assert_eq!(p1, p2);
    let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    assert!(evaluate(&yf, &p1.probability, 0.5).auc.unwrap() > 0.99);
    // Streaming gives the same as one batch.
    let streamed: Vec<f32> = tm.model.predict_stream(chunks(&mk(&[0, 1, 2, 3]), 300)).flat_map(|p| p.unwrap().probability).collect();
    assert_eq!(streamed, p1.probability);
}

#[test]
fn boosting_beats_the_logistic_baseline_on_a_nonlinear_rule() {
    let cols = uniform_columns(6000, 4, 0.05, 12);
    let y: Vec<f32> = (0..6000).map(|i| rule(&cols, i)).collect();
    let b = batch(&cols, Some(&y));
    let feats = names(4);
    let base = LogisticBaseline::fit(std::slice::from_ref(&b), "label", &feats).unwrap();
    let pb = base.predict_batch(&b).unwrap();
    let base_auc = evaluate(&y, &pb, 0.5).auc.unwrap();
    assert!(base_auc > 0.6 && base_auc < 0.97, "baseline auc {base_auc}");
    let tm = train_batches(std::slice::from_ref(&b), "label", None, &Params { n_rounds: 40, ..Params::default() }).unwrap();
    let auc = evaluate(&y, &tm.model.predict_batch(&b).unwrap().probability, 0.5).auc.unwrap();
    assert!(auc > base_auc + 0.02, "boost {auc} vs baseline {base_auc}");
    // The baseline learns a linear signal well.
    let ly: Vec<f32> = (0..6000).map(|i| (cols[0][i].max(0.0) + cols[3][i].max(0.0) > 1.0) as u8 as f32).collect();
    let lb = LogisticBaseline::fit(&[batch(&cols, Some(&ly))], "label", &feats).unwrap();
    assert!(evaluate(&ly, &lb.predict_batch(&b).unwrap(), 0.5).auc.unwrap() > 0.95);
    assert!(LogisticBaseline::fit(&[batch(&cols, Some(&vec![0.0; 6000]))], "label", &feats).is_err());
}

#[test]
fn params_round_trip_through_serde_with_defaults() {
    let p: Params = serde_json::from_str(r#"{"objective": "reg:squarederror", "eta": 0.1, "grow_policy": "lossguide", "max_leaves": 31}"#).unwrap();
    assert_eq!(p.objective, Objective::SquaredError);
    assert_eq!(p.max_depth, 6);
    p.validate().unwrap();
    assert!(serde_json::from_str::<Params>(r#"{"etaa": 0.1}"#).is_err());
    let back: Params = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    let bad = Params { subsample: 1.5, ..Params::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("subsample"));
    let _ = Model::load_xgboost_json("/nonexistent/model.json").unwrap_err();
}

#[test]
fn streaming_builder_bins_like_the_one_shot_path() {
    use engage_boost::{FeatureMatrix, FeatureMatrixBuilder, compute_cuts, train};
    let (cols, y) = noisy(5000, 13);
    let b = batch(&cols, Some(&y));
    let feats = names(6);
    let whole = FeatureMatrix::from_batches(std::slice::from_ref(&b), &feats, 64, 1000).unwrap();
    // Cuts from a sample, then batches streamed one at a time.
    let cuts = compute_cuts(std::slice::from_ref(&b), &feats, 64, 1000).unwrap();
    assert_eq!(cuts, whole.cuts());
    let mut builder = FeatureMatrixBuilder::new(&feats, cuts).unwrap();
    for part in chunks(&b, 777) {
        builder.push(&part).unwrap();
    }
    let streamed = builder.finish();
    assert_eq!(streamed.n_rows(), 5000);
    for f in 0..6 {
        for r in (0..5000).step_by(97) {
            assert_eq!(streamed.bin(f, r), whole.bin(f, r));
        }
    }
    let p = Params { n_rounds: 5, ..Params::default() };
    let a = train(&whole, &y, None, &p).unwrap().model.to_xgboost_json();
    let s = train(&streamed, &y, None, &p).unwrap().model.to_xgboost_json();
    assert_eq!(a, s);
    // A batch without a feature column is an error naming it.
    let mut builder = FeatureMatrixBuilder::new(&feats, whole.cuts().to_vec()).unwrap();
    let e = builder.push(&batch(&cols[..2], None)).unwrap_err().to_string();
    assert!(e.contains("x2"), "{e}");
}

#[test]
fn flat_prediction_matches_walking_each_tree() {
    // Shallow depth-wise trees take the fixed-step path, deep leaf-wise trees
    // the early-exit path; both must equal a plain walk of every tree.
    let (cols, y) = noisy(6000, 14);
    let b = batch(&cols, Some(&y));
    for p in [
        Params { n_rounds: 8, max_depth: 6, ..Params::default() },
        Params { n_rounds: 8, grow_policy: GrowPolicy::Lossguide, max_leaves: 2000, max_depth: 0, min_child_weight: 0.0, lambda: 0.0, ..Params::default() },
    ] {
        let m = train_batches(std::slice::from_ref(&b), "label", None, &p).unwrap().model;
        let fast = m.predict_batch(&b).unwrap().probability;
        let base = (m.base_score() / (1.0 - m.base_score())).ln() as f32;
        for r in (0..6000).step_by(7) {
            let row: Vec<f32> = cols.iter().map(|c| c[r]).collect();
            let margin = base + m.trees().iter().map(|t| t.predict_row(&row)).sum::<f32>();
            let slow = 1.0 / (1.0 + (-margin).exp());
            assert!((fast[r] - slow).abs() < 1e-6, "row {r}: {} vs {slow}", fast[r]);
        }
        if p.grow_policy == GrowPolicy::Lossguide {
            let deepest = m.trees().iter().map(|t| t.depth()).max().unwrap();
            assert!(deepest > 16, "want a tree deeper than 16 to test the early-exit path, got {deepest}");
        }
    }
}
