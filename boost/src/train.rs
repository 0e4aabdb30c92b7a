//! The boosting loop: gradients, one tree per round, prediction updates,
//! validation and early stopping.

use arrow_array::RecordBatch;
use rayon::prelude::*;
use serde::Serialize;

use crate::binning::{FeatureCuts, FeatureMatrix};
use crate::column::{column_f32, is_numeric};
use crate::error::{BoostError, Result};
use crate::grow::Grower;
use crate::model::Model;
use crate::objective::Objective;
use crate::params::Params;
use crate::rng::Rng;

/// Metric values after one round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalRecord {
    pub round: usize,
    /// Validation log loss (`binary:logistic`) or RMSE (`reg:squarederror`).
    pub valid: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct TrainedModel {
    pub model: Model,
    /// One record per round trained (including rounds after the best one
    /// when early stopping fired).
    pub history: Vec<EvalRecord>,
    /// Name of the metric in `history`.
    pub metric: &'static str,
    /// Round (0-based) with the best validation metric, when there is a
    /// validation set. With early stopping the model keeps trees 0..=best.
    pub best_round: Option<usize>,
    pub stopped_early: bool,
    /// Quantile cuts used for training (to bin more data the same way).
    pub cuts: Vec<FeatureCuts>,
}

/// Read a label column (all batches) as f32; a missing label is an error.
pub fn read_labels(batches: &[RecordBatch], label: &str) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    for b in batches {
        let c = column_f32(b, label)?;
        if let Some(i) = c.iter().position(|v| v.is_nan()) {
            return Err(BoostError::BadLabel {
                column: label.to_string(),
                reason: format!("row {} is missing (null or NaN)", out.len() + i),
            });
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// All numeric columns of the first batch except `label`, in schema order.
pub fn default_features(batches: &[RecordBatch], label: &str) -> Vec<String> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .filter(|f| f.name() != label && is_numeric(f.data_type()))
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Train from Arrow batches: every numeric column except `label` is a feature
/// (see [`train_batches_with_features`] to choose them).
pub fn train_batches(
    batches: &[RecordBatch],
    label: &str,
    valid: Option<&[RecordBatch]>,
    params: &Params,
) -> Result<TrainedModel> {
    let features = default_features(batches, label);
    train_batches_with_features(batches, label, &features, valid, params)
}

pub fn train_batches_with_features<S: AsRef<str> + Sync>(
    batches: &[RecordBatch],
    label: &str,
    features: &[S],
    valid: Option<&[RecordBatch]>,
    params: &Params,
) -> Result<TrainedModel> {
    params.validate()?;
    with_threads(params.n_threads, || {
        let labels = read_labels(batches, label)?;
        let x = FeatureMatrix::from_batches(batches, features, params.max_bin, params.bin_sample_rows)?;
        let v = match valid {
            Some(vb) => {
                let vl = read_labels(vb, label)?;
                Some((FeatureMatrix::with_cuts(vb, features, x.cuts.clone())?, vl))
            }
            None => None,
        };
        train_inner(&x, &labels, v.as_ref().map(|(m, l)| (m, l.as_slice())), params, label)
    })
}

/// Train on a binned matrix. `valid` must be binned with `features.cuts()`.
pub fn train(
    features: &FeatureMatrix,
    labels: &[f32],
    valid: Option<(&FeatureMatrix, &[f32])>,
    params: &Params,
) -> Result<TrainedModel> {
    params.validate()?;
    with_threads(params.n_threads, || train_inner(features, labels, valid, params, "label"))
}

fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if n == 0 {
        return f();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| BoostError::ThreadPool(e.to_string()))?;
    pool.install(f)
}

fn check_labels(objective: Objective, labels: &[f32], label: &str) -> Result<()> {
    let bad = |reason: String| BoostError::BadLabel { column: label.to_string(), reason };
    if let Some(i) = labels.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("row {i} is {} (labels must be finite)", labels[i])));
    }
    if objective == Objective::BinaryLogistic {
        if let Some(i) = labels.iter().position(|&v| !(0.0..=1.0).contains(&v)) {
            return Err(bad(format!("row {i} is {}; binary:logistic needs labels in [0, 1]", labels[i])));
        }
        let pos = labels.iter().filter(|&&v| v > 0.5).count();
        if pos == 0 || pos == labels.len() {
            let which = if pos == 0 { "0" } else { "1" };
            return Err(bad(format!(
                "all {} rows are {which}: binary classification needs both classes",
                labels.len()
            )));
        }
    }
    Ok(())
}

fn train_inner(
    x: &FeatureMatrix,
    labels: &[f32],
    valid: Option<(&FeatureMatrix, &[f32])>,
    p: &Params,
    label_name: &str,
) -> Result<TrainedModel> {
    let n = x.n_rows;
    if n == 0 {
        return Err(BoostError::Empty("the training set has zero rows".into()));
    }
    if labels.len() != n {
        return Err(BoostError::Shape(format!("{} label values for {n} training rows", labels.len())));
    }
    if n > u32::MAX as usize {
        return Err(BoostError::Shape(format!("{n} rows is more than 2^32 - 1")));
    }
    check_labels(p.objective, labels, label_name)?;
    if p.early_stopping_rounds.is_some() && valid.is_none() {
        return Err(BoostError::InvalidParam {
            name: "early_stopping_rounds",
            reason: "needs a validation set".into(),
        });
    }
    if let Some((vx, vl)) = valid {
        if vx.names != x.names {
            return Err(BoostError::Shape("validation features differ from training features".into()));
        }
        if vl.len() != vx.n_rows {
            return Err(BoostError::Shape(format!("{} validation labels for {} rows", vl.len(), vx.n_rows)));
        }
        check_labels(p.objective, vl, label_name)?;
        if vx.cuts != x.cuts {
            return Err(BoostError::Shape("validation matrix was binned with different cuts".into()));
        }
    }
    let obj = p.objective;
    let base_score = p.base_score.unwrap_or_else(|| {
        let mean = labels.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        match obj {
            Objective::BinaryLogistic => mean.clamp(1e-6, 1.0 - 1e-6),
            Objective::SquaredError => mean,
        }
    });
    let base_margin = obj.base_margin(base_score);
    let mut margins = vec![base_margin; n];
    let mut gh = vec![[0.0f32; 2]; n];
    let mut valid_margins = valid.map(|(vx, _)| vec![base_margin; vx.n_rows]);

    // Features that can split at all (constant and all-missing ones cannot).
    let eligible: Vec<usize> = (0..x.n_features()).filter(|&f| x.cuts[f].n_bins() >= 2).collect();
    let mut rng = Rng::new(p.seed);
    let mut grower = Grower::new(x, p);
    let mut idx: Vec<u32> = Vec::with_capacity(n);
    let mut in_sample: Vec<bool> = Vec::new();
    let mut trees = Vec::with_capacity(p.n_rounds);
    let mut history = Vec::with_capacity(p.n_rounds);
    let mut best: Option<(usize, f64)> = None;
    let mut stopped_early = false;

    for round in 0..p.n_rounds {
        gh.par_chunks_mut(1 << 14)
            .zip(margins.par_chunks(1 << 14))
            .zip(labels.par_chunks(1 << 14))
            .for_each(|((g, m), y)| {
                for ((g, &m), &y) in g.iter_mut().zip(m).zip(y) {
                    *g = obj.grad(m, y);
                }
            });

        // Row sampling: the tree sees only sampled rows (as if the others had
        // zero hessian, like XGBoost), the rest are predicted by walking it.
        idx.clear();
        let all_rows = p.subsample >= 1.0;
        if all_rows {
            idx.extend(0..n as u32);
        } else {
            in_sample.clear();
            in_sample.extend((0..n).map(|_| rng.next_f64() < p.subsample));
            idx.extend((0..n as u32).filter(|&r| in_sample[r as usize]));
            if idx.is_empty() {
                idx.extend(0..n as u32);
                in_sample.iter_mut().for_each(|s| *s = true);
            }
        }
        let active = sample_features(&eligible, p.colsample_bytree, &mut rng);

        let grown = grower.grow(&mut idx, all_rows, &gh, &active);
        for &(b, e, v) in &grown.leaves {
            for &r in &idx[b..e] {
                margins[r as usize] += v;
            }
        }
        let tree = grown.tree;
        if !all_rows {
            margins.par_chunks_mut(1 << 14).enumerate().for_each(|(ci, m)| {
                let start = ci << 14;
                for (k, m) in m.iter_mut().enumerate() {
                    if !in_sample[start + k] {
                        *m += tree.predict_binned(x, start + k);
                    }
                }
            });
        }

        let mut rec = EvalRecord { round, valid: None };
        if let (Some((vx, vl)), Some(vm)) = (valid, valid_margins.as_mut()) {
            vm.par_chunks_mut(1 << 14).enumerate().for_each(|(ci, m)| {
                let start = ci << 14;
                for (k, m) in m.iter_mut().enumerate() {
                    *m += tree.predict_binned(vx, start + k);
                }
            });
            let metric = obj.metric(vl, vm);
            rec.valid = Some(metric);
            if best.is_none_or(|(_, b)| metric < b) {
                best = Some((round, metric));
            }
        }
        trees.push(tree);
        history.push(rec);
        if let (Some(esr), Some((b, _))) = (p.early_stopping_rounds, best)
            && round >= b + esr {
                stopped_early = true;
                break;
            }
    }
    let best_round = best.map(|(r, _)| r);
    if stopped_early {
        trees.truncate(best_round.expect("early stopping needs a best round") + 1);
    }
    let model = Model::new(obj, x.names.clone(), base_score, trees, p.threshold as f32);
    Ok(TrainedModel { model, history, metric: obj.metric_name(), best_round, stopped_early, cuts: x.cuts.clone() })
}

/// `colsample_bytree` of the eligible features (at least one), in index order.
fn sample_features(eligible: &[usize], frac: f64, rng: &mut Rng) -> Vec<usize> {
    if frac >= 1.0 || eligible.is_empty() {
        return eligible.to_vec();
    }
    let k = ((eligible.len() as f64 * frac).round() as usize).clamp(1, eligible.len());
    let mut v = eligible.to_vec();
    for i in 0..k {
        let j = i + rng.below(v.len() - i);
        v.swap(i, j);
    }
    v.truncate(k);
    v.sort_unstable();
    v
}
