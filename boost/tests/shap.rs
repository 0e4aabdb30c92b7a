//! TreeSHAP: additivity on random models with missing values, agreement with
//! Python xgboost's `pred_contribs` in both directions (xgboost installed by
//! the test command; these fail, never skip, when it is missing), trees small
//! enough to work out by hand, reasons and global importance.

mod common;

use common::*;
use engage_boost::{FeatureReference, GrowPolicy, Level, Model, Objective, Params, ShapSummary, train_batches};
use serde_json::json;

/// Features on different scales with ties and ~`missing` NaN; a label that
/// depends on several features with noise.
fn data(n: usize, nf: usize, missing: f32, seed: u64) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut cols = uniform_columns(n, nf, missing, seed);
    for (f, c) in cols.iter_mut().enumerate() {
        for v in c.iter_mut() {
            *v = if f % 3 == 0 { (*v * 20.0).floor() } else { *v * 1000.0 - 300.0 };
        }
    }
    let mut r = Lcg::new(seed + 1);
    let y = (0..n)
        .map(|i| {
            let a = if cols[0][i].is_nan() { 5.0 } else { cols[0][i] };
            let b = if cols[1][i].is_nan() { 0.0 } else { cols[1][i] };
            let z = (a - 10.0) / 4.0 + if b > 100.0 { 1.0 } else { -0.5 } - cols[2][i].max(-300.0) / 700.0;
            (r.next_f32() < 1.0 / (1.0 + (-z).exp())) as u8 as f32
        })
        .collect();
    (cols, y)
}

/// The margin of every row in f64: base margin + Σ leaf values.
fn margins_f64(m: &Model, cols: &[Vec<f32>]) -> Vec<f64> {
    let n = cols[0].len();
    let mut row = vec![0f32; cols.len()];
    (0..n)
        .map(|r| {
            for (v, c) in row.iter_mut().zip(cols) {
                *v = c[r];
            }
            m.base_margin() as f64 + m.trees().iter().map(|t| t.predict_row(&row) as f64).sum::<f64>()
        })
        .collect()
}

fn assert_additive(m: &Model, cols: &[Vec<f32>], what: &str) {
    let c = m.contributions(&batch(cols, None)).unwrap();
    assert_eq!(c.n_rows(), cols[0].len());
    assert_eq!(c.n_features, cols.len());
    let want = margins_f64(m, cols);
    let bias = m.expected_margin().unwrap();
    for (r, &w) in want.iter().enumerate() {
        let row = c.row(r);
        let scale = 1.0 + row.iter().map(|v| v.abs() as f64).sum::<f64>();
        let got = c.margin(r);
        assert!((got - w).abs() <= 1e-6 * scale, "{what}, row {r}: contributions sum to {got}, margin is {w}");
        assert!(row.iter().all(|v| v.is_finite()), "{what}, row {r}: {row:?}");
        assert_eq!(c.bias(r), bias as f32);
    }
    // The margin also agrees with the model's own (f32) prediction path.
    if m.objective() == Objective::SquaredError {
        let p = m.predict_batch(&batch(cols, None)).unwrap().probability;
        for (r, &p) in p.iter().enumerate() {
            assert!((c.margin(r) - p as f64).abs() <= 1e-5 * (1.0 + p.abs() as f64), "{what}, row {r}");
        }
    }
}

#[test]
fn contributions_add_up_to_the_margin_on_random_models_with_missing_values() {
    for seed in 0..4u64 {
        let nf = 5 + seed as usize * 3;
        let (cols, y) = data(3000, nf, 0.15 + 0.05 * seed as f32, 100 + seed);
        // Labels that are mostly noise grow irregular trees that reuse features.
        let mut r = Lcg::new(seed);
        let noisy: Vec<f32> = y.iter().map(|&v| if r.next_f32() < 0.3 { 1.0 - v } else { v }).collect();
        let (test, _) = data(1500, nf, 0.3, 200 + seed);
        for depth in [1, 3, 6, 8] {
            for (i, params) in [
                Params { n_rounds: 30, max_depth: depth, eta: 0.3, seed, ..Params::default() },
                Params { n_rounds: 20, max_depth: depth, subsample: 0.7, colsample_bytree: 0.6, min_child_weight: 0.0, seed, ..Params::default() },
                Params { objective: Objective::SquaredError, n_rounds: 15, max_depth: depth, seed, ..Params::default() },
            ]
            .into_iter()
            .enumerate()
            {
                let labels = if i == 1 { &noisy } else { &y };
                let tm = train_batches(&[batch(&cols, Some(labels))], "label", None, &params).unwrap();
                assert!(tm.model.trees().iter().map(|t| t.depth()).max().unwrap() <= depth);
                assert_additive(&tm.model, &test, &format!("seed {seed}, depth {depth}, params {i}"));
            }
        }
        let lossguide = Params { n_rounds: 20, grow_policy: GrowPolicy::Lossguide, max_leaves: 40, max_depth: 0, seed, ..Params::default() };
        let tm = train_batches(&[batch(&cols, Some(&noisy))], "label", None, &lossguide).unwrap();
        assert_additive(&tm.model, &test, &format!("seed {seed}, lossguide (depth {})", tm.model.trees().iter().map(|t| t.depth()).max().unwrap()));
    }
}

#[test]
fn contributions_do_not_depend_on_thread_count() {
    let (cols, y) = data(4000, 6, 0.2, 5);
    let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &Params { n_rounds: 20, max_depth: 6, ..Params::default() }).unwrap();
    let b = batch(&cols, None);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| tm.model.contributions(&b).unwrap());
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| tm.model.contributions(&b).unwrap());
    assert_eq!(one, two);
}

fn python_contribs(model: &std::path::Path, cols: &[Vec<f32>], dir: &std::path::Path) -> Vec<f32> {
    let x = dir.join("x.f32");
    let out = dir.join("contribs.f32");
    write_f32(&x, cols);
    let (n, nf) = (cols[0].len().to_string(), cols.len().to_string());
    let s = py_script("xgb_interop.py");
    run_py(&[s.to_str().unwrap(), "contribs", model.to_str().unwrap(), x.to_str().unwrap(), &n, &nf, out.to_str().unwrap()]);
    read_f32(&out)
}

fn assert_close(ours: &[f32], theirs: &[f32], tol: f32, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let (i, d) = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).enumerate().fold((0, 0f32), |m, (i, d)| if d > m.1 { (i, d) } else { m });
    eprintln!("{what}: max abs difference from xgboost {d:e} over {} values", ours.len());
    assert!(d <= tol, "{what}: max abs difference {d} at value {i} (ours {}, xgboost {})", ours[i], theirs[i]);
}

#[test]
fn engage_models_match_xgboost_pred_contribs() {
    let dir = tempfile::tempdir().unwrap();
    let (cols, y) = data(5000, 7, 0.15, 41);
    let (test, _) = data(2000, 7, 0.25, 42);
    for (i, params) in [
        Params { n_rounds: 40, max_depth: 6, eta: 0.3, subsample: 0.8, colsample_bytree: 0.8, ..Params::default() },
        Params { n_rounds: 20, max_depth: 8, eta: 0.3, min_child_weight: 0.0, ..Params::default() },
        Params { n_rounds: 25, grow_policy: GrowPolicy::Lossguide, max_leaves: 31, max_depth: 0, ..Params::default() },
        Params { objective: Objective::SquaredError, n_rounds: 30, max_depth: 5, ..Params::default() },
    ]
    .into_iter()
    .enumerate()
    {
        let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &params).unwrap();
        let path = dir.path().join(format!("engage{i}.json"));
        tm.model.save_xgboost_json(&path).unwrap();
        let ours = tm.model.contributions(&batch(&test, None)).unwrap();
        let theirs = python_contribs(&path, &test, dir.path());
        assert_close(&ours.values, &theirs, 1e-5, &format!("engage model {i}"));
        // A reloaded model explains the same.
        let back = Model::load_xgboost_json(&path).unwrap();
        assert_eq!(back.contributions(&batch(&test, None)).unwrap(), ours);
    }
}

#[test]
fn xgboost_models_match_xgboost_pred_contribs() {
    let dir = tempfile::tempdir().unwrap();
    let (cols, y) = data(6000, 6, 0.2, 51);
    let (test, _) = data(2000, 6, 0.3, 52);
    let x = dir.path().join("train.f32");
    let yl = dir.path().join("y.f32");
    write_f32(&x, &cols);
    write_f32(&yl, std::slice::from_ref(&y));
    let s = py_script("xgb_interop.py");
    for (depth, rounds) in [(6, 60), (8, 25)] {
        let model = dir.path().join(format!("xgb{depth}.json"));
        let out = dir.path().join("xgb_pred.f32");
        let (d, r) = (depth.to_string(), rounds.to_string());
        run_py(&[s.to_str().unwrap(), "train", x.to_str().unwrap(), yl.to_str().unwrap(), "6000", "6", model.to_str().unwrap(), out.to_str().unwrap(), &d, &r]);
        let m = Model::load_xgboost_json(&model).unwrap();
        assert_eq!(m.n_trees(), rounds);
        let ours = m.contributions(&batch(&test, None)).unwrap();
        let theirs = python_contribs(&model, &test, dir.path());
        assert_close(&ours.values, &theirs, 1e-5, &format!("xgboost model, depth {depth}"));
        assert_additive(&m, &test, &format!("xgboost model, depth {depth}"));
    }
}

/// An XGBoost JSON model from hand-written trees:
/// (left, right, split feature, threshold or leaf value, default_left, cover).
type HandNode = (i32, i32, u32, f32, bool, f32);
type HandTree = Vec<HandNode>;

fn hand_model(trees: &[HandTree], nf: usize, objective: &str, base_score: f32) -> Model {
    let trees: Vec<_> = trees
        .iter()
        .enumerate()
        .map(|(id, t)| {
            let col = |f: &dyn Fn(&HandNode) -> serde_json::Value| t.iter().map(f).collect::<Vec<_>>();
            json!({
                "id": id,
                "left_children": col(&|n| n.0.into()),
                "right_children": col(&|n| n.1.into()),
                "split_indices": col(&|n| n.2.into()),
                "split_conditions": col(&|n| n.3.into()),
                "default_left": col(&|n| (n.4 as u8).into()),
                "sum_hessian": col(&|n| n.5.into()),
                "split_type": col(&|_| 0.into()),
            })
        })
        .collect();
    let v = json!({"learner": {
        "feature_names": names(nf),
        "learner_model_param": {"base_score": format!("[{base_score:E}]"), "num_feature": nf.to_string(), "num_class": "0"},
        "objective": {"name": objective},
        "gradient_booster": {"name": "gbtree", "model": {"trees": trees}},
    }});
    Model::from_xgboost_json(&v).unwrap()
}

#[test]
fn one_split_tree_by_hand() {
    // x0 < 0.5 ? -1 (cover 30) : +2 (cover 10); missing goes right.
    let t: HandTree = vec![(1, 2, 0, 0.5, false, 40.0), (-1, -1, 0, -1.0, false, 30.0), (-1, -1, 0, 2.0, false, 10.0)];
    // reg:squarederror with base_score 0.5: the base margin is 0.5.
    let m = hand_model(&[t], 2, "reg:squarederror", 0.5);
    // E = (-1 * 30 + 2 * 10) / 40 = -0.25, so bias = 0.5 - 0.25 = 0.25.
    // Only x0 is split on: phi0 = f(x) - E, phi1 = 0.
    //   x0 = 0.2 -> leaf -1: phi0 = -1 + 0.25 = -0.75
    //   x0 = 0.9 -> leaf +2: phi0 = 2 + 0.25 = 2.25
    //   x0 missing -> right (default): phi0 = 2.25
    let cols = vec![vec![0.2, 0.9, f32::NAN], vec![7.0, f32::NAN, 1.0]];
    let c = m.contributions(&batch(&cols, None)).unwrap();
    assert_eq!(c.values, vec![-0.75, 0.0, 0.25, 2.25, 0.0, 0.25, 2.25, 0.0, 0.25]);
    assert_eq!(m.expected_margin().unwrap(), 0.25);
}

#[test]
fn two_feature_tree_by_hand() {
    // root: x0 < 0.5 (cover 100)
    //   left: x1 < 0.5 (cover 60) -> 1 (cover 20) | 3 (cover 40)
    //   right: 6 (cover 40)
    let t: HandTree = vec![
        (1, 2, 0, 0.5, true, 100.0),
        (3, 4, 1, 0.5, true, 60.0),
        (-1, -1, 0, 6.0, false, 40.0),
        (-1, -1, 0, 1.0, false, 20.0),
        (-1, -1, 0, 3.0, false, 40.0),
    ];
    let m = hand_model(&[t], 2, "reg:squarederror", 0.0);
    // Row x = (0.2, 0.8) lands on leaf 3. The game v(S):
    //   v({})     = 0.6 * (1/3 * 1 + 2/3 * 3) + 0.4 * 6 = 1.4 + 2.4 = 3.8
    //   v({0})    = (20 * 1 + 40 * 3) / 60 = 7/3
    //   v({1})    = 0.6 * 3 + 0.4 * 6 = 4.2
    //   v({0,1})  = 3
    // phi0 = ((v0 - v{}) + (v01 - v1)) / 2 = ((7/3 - 3.8) + (3 - 4.2)) / 2 = -4/3
    // phi1 = ((v1 - v{}) + (v01 - v0)) / 2 = ((4.2 - 3.8) + (3 - 7/3)) / 2 = 8/15
    // and phi0 + phi1 = -0.8 = 3 - 3.8.
    // Row (0.9, 0.1) lands on 6: x1 is never tested on its path, but knowing
    // it still changes v({1}) = 0.6 * 1 + 0.4 * 6 = 3.0, v({0}) = 6, v({0,1}) = 6:
    // phi0 = ((6 - 3.8) + (6 - 3.0)) / 2 = 2.6, phi1 = ((3.0 - 3.8) + (6 - 6)) / 2 = -0.4.
    let cols = vec![vec![0.2, 0.9], vec![0.8, 0.1]];
    let c = m.contributions(&batch(&cols, None)).unwrap();
    let want = [-4.0 / 3.0, 8.0 / 15.0, 3.8, 2.6, -0.4, 3.8];
    for (got, want) in c.values.iter().zip(want) {
        assert!((*got as f64 - want).abs() < 1e-6, "{:?} vs {want:?}", c.values);
    }
}

#[test]
fn top_reasons_name_the_largest_contributions_low_or_high() {
    // Tree 1 splits x0 (pushes down when x0 is low); tree 2 splits x1.
    let t1: HandTree = vec![(1, 2, 0, 5.0, true, 100.0), (-1, -1, 0, -1.0, false, 50.0), (-1, -1, 0, 1.0, false, 50.0)];
    let t2: HandTree = vec![(1, 2, 1, 5.0, false, 100.0), (-1, -1, 0, 0.2, false, 50.0), (-1, -1, 0, -0.2, false, 50.0)];
    let m = hand_model(&[t1, t2], 3, "binary:logistic", 0.5);
    let cols = vec![vec![1.0, 9.0], vec![8.0, f32::NAN], vec![3.0, 3.0]];
    let c = m.contributions(&batch(&cols, None)).unwrap();
    // Reference: x0, x1, x2 all uniform on 0..=9, median 4.5.
    let reference_cols: Vec<Vec<f32>> = (0..3).map(|_| (0..10).map(|v| v as f32).collect()).collect();
    let reference = FeatureReference::from_columns(&reference_cols.iter().map(|c| c.as_slice()).collect::<Vec<_>>());
    let r0 = c.top_reasons(0, 3, &[1.0, 8.0, 3.0], &reference);
    let text: Vec<String> = r0.iter().map(|r| r.to_string()).collect();
    // x2 never splits (contribution 0): not a reason.
    assert_eq!(text, ["low x0: \u{2212}1.00", "high x1: \u{2212}0.20"]);
    assert_eq!(r0[0].level, Level::Low);
    let r1 = c.top_reasons(1, 1, &[9.0, f32::NAN, 3.0], &reference);
    assert_eq!(r1.len(), 1);
    assert_eq!(r1[0].to_string(), "high x0: +1.00");
    let r1 = c.top_reasons(1, 2, &[9.0, f32::NAN, 3.0], &reference);
    assert_eq!(r1[1].to_string(), "missing x1: \u{2212}0.20");
    // A value equal to the median is typical, however many share it: 0 where 60% of the reference is 0.
    let skewed = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0];
    let r = FeatureReference::from_columns(&[&skewed]);
    assert_eq!(r.level(0, 0.0), Level::Typical);
    assert_eq!(r.level(0, -1.0), Level::Low);
    assert_eq!(r.level(0, 1.0), Level::High);
    // ... and where 60% are above it (3 is the median of 1,2,3,3,3,3,3,4,5,6 tied with 5 others).
    let tied = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 4.0, 5.0, 6.0];
    let r = FeatureReference::from_columns(&[&tied]);
    assert_eq!((r.level(0, 2.0), r.level(0, 3.0), r.level(0, 4.0)), (Level::Low, Level::Typical, Level::High));
    assert_eq!(FeatureReference::from_columns(&[&[1.0, 2.0, 3.0]]).level(0, 2.0), Level::Typical);
    // An even reference: between (and at) the two middle values is typical.
    let even = FeatureReference::from_columns(&[&[1.0, 2.0, 3.0, 4.0]]);
    assert_eq!([1.0, 2.0, 2.5, 3.0, 4.0].map(|v| even.level(0, v)), [Level::Low, Level::Typical, Level::Typical, Level::Typical, Level::High]);
    // Without data, the model's cover-weighted thresholds: x0 splits at 5.
    let from_model = FeatureReference::from_model(&m);
    assert_eq!(from_model.level(0, 1.0), Level::Low);
    assert_eq!(from_model.level(0, 9.0), Level::High);
    assert_eq!(from_model.level(2, 9.0), Level::Typical);
    // From batches (columns by name).
    let rb = FeatureReference::from_batches(&m, &[batch(&reference_cols, None)]).unwrap();
    assert_eq!(rb, reference);
}

#[test]
fn global_importance_is_mean_absolute_contribution() {
    let (cols, y) = data(3000, 6, 0.1, 61);
    let tm = train_batches(&[batch(&cols, Some(&y))], "label", None, &Params { n_rounds: 30, max_depth: 4, ..Params::default() }).unwrap();
    let b = batch(&cols, None);
    let c = tm.model.contributions(&b).unwrap();
    let imp = c.importance();
    assert_eq!(imp.len(), 6);
    assert!(imp.windows(2).all(|w| w[0].mean_abs >= w[1].mean_abs));
    let f = tm.model.feature_names().iter().position(|n| *n == imp[0].feature).unwrap();
    let want: f64 = (0..c.n_rows()).map(|r| c.row(r)[f].abs() as f64).sum::<f64>() / c.n_rows() as f64;
    assert!((imp[0].mean_abs - want).abs() < 1e-12);
    // The label is driven by x0..x2: they lead.
    let top3: Vec<&str> = imp[..3].iter().map(|i| i.feature.as_str()).collect();
    for f in ["x0", "x1", "x2"] {
        assert!(top3.contains(&f), "{imp:?}");
    }
    // Accumulated over batches: the same.
    let mut s = ShapSummary::new(tm.model.feature_names().to_vec());
    for part in chunks(&b, 700) {
        s.add(&tm.model.contributions(&part).unwrap());
    }
    assert_eq!(s.rows(), 3000);
    for (a, b) in s.importance().iter().zip(&imp) {
        assert_eq!(a.feature, b.feature);
        assert!((a.mean_abs - b.mean_abs).abs() < 1e-9);
    }
}

#[test]
fn contributions_need_the_split_columns_and_node_covers() {
    let t: HandTree = vec![(1, 2, 1, 0.5, false, 40.0), (-1, -1, 0, -1.0, false, 30.0), (-1, -1, 0, 2.0, false, 10.0)];
    let m = hand_model(std::slice::from_ref(&t), 2, "binary:logistic", 0.5);
    // x0 is never split on: it may be absent; x1 may not.
    let only_x1 = batch(&[vec![0.1]], None); // named x0
    let e = m.contributions(&only_x1).unwrap_err().to_string();
    assert!(e.contains("x1"), "{e}");
    let no_cover: HandTree = t.iter().map(|n| (n.0, n.1, n.2, n.3, n.4, 0.0)).collect();
    let e = hand_model(&[no_cover], 2, "binary:logistic", 0.5).contributions(&batch(&[vec![0.1], vec![0.2]], None)).unwrap_err().to_string();
    assert!(e.contains("sum_hessian"), "{e}");
}
