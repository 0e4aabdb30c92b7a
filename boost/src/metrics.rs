//! Model quality: AUC, log loss, accuracy, precision and recall at a
//! threshold, and a calibration table.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Predicted-probability range [lower, upper).
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: f64,
    /// Share of positives among the rows in the bin.
    pub observed_rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub positives: usize,
    /// Area under the ROC curve; `None` when only one class is present.
    pub auc: Option<f64>,
    pub logloss: f64,
    pub threshold: f64,
    pub accuracy: f64,
    /// `None` when nothing is predicted positive.
    pub precision: Option<f64>,
    /// `None` when there are no positives.
    pub recall: Option<f64>,
    /// Ten equal-width probability bins (empty bins included, count 0).
    pub calibration: Vec<CalibrationBin>,
}

/// Probabilities are clipped to [1e-15, 1 - 1e-15] (as scikit-learn and
/// XGBoost do) so one confident mistake gives a large, finite loss.
#[inline]
pub(crate) fn logloss_term(y: f64, p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
}

/// AUC by ranks (ties get their average rank). Labels > 0.5 are positive.
pub fn auc(labels: &[f32], probs: &[f32]) -> Option<f64> {
    let n = labels.len().min(probs.len());
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| probs[a as usize].total_cmp(&probs[b as usize]));
    let pos = labels[..n].iter().filter(|&&y| y > 0.5).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && probs[order[j + 1] as usize] == probs[order[i] as usize] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k as usize] > 0.5 {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - pos as f64 * (pos as f64 + 1.0) / 2.0) / (pos as f64 * neg as f64))
}

pub fn logloss(labels: &[f32], probs: &[f32]) -> f64 {
    let n = labels.len().min(probs.len());
    if n == 0 {
        return f64::NAN;
    }
    labels.iter().zip(probs).map(|(&y, &p)| logloss_term(y as f64, p as f64)).sum::<f64>() / n as f64
}

pub fn rmse(labels: &[f32], preds: &[f32]) -> f64 {
    let n = labels.len().min(preds.len());
    if n == 0 {
        return f64::NAN;
    }
    (labels.iter().zip(preds).map(|(&y, &p)| ((y - p) as f64).powi(2)).sum::<f64>() / n as f64).sqrt()
}

/// All classification metrics; a row is predicted positive when `p >= threshold`.
pub fn evaluate(labels: &[f32], probs: &[f32], threshold: f64) -> Metrics {
    let n = labels.len().min(probs.len());
    let (mut tp, mut fp, mut tn, mut fneg) = (0usize, 0usize, 0usize, 0usize);
    let mut cal = vec![(0usize, 0.0f64, 0usize); 10];
    for (&y, &p) in labels.iter().zip(probs) {
        let actual = y > 0.5;
        let predicted = p as f64 >= threshold;
        match (actual, predicted) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
            (true, false) => fneg += 1,
        }
        let b = ((p as f64 * 10.0) as usize).min(9);
        cal[b].0 += 1;
        cal[b].1 += p as f64;
        cal[b].2 += actual as usize;
    }
    let ratio = |a: usize, b: usize| if b == 0 { None } else { Some(a as f64 / b as f64) };
    Metrics {
        n,
        positives: tp + fneg,
        auc: auc(labels, probs),
        logloss: logloss(labels, probs),
        threshold,
        accuracy: ratio(tp + tn, n).unwrap_or(f64::NAN),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fneg),
        calibration: cal
            .iter()
            .enumerate()
            .map(|(i, &(c, s, pos))| CalibrationBin {
                lower: i as f64 / 10.0,
                upper: (i + 1) as f64 / 10.0,
                count: c,
                mean_predicted: if c > 0 { s / c as f64 } else { 0.0 },
                observed_rate: if c > 0 { pos as f64 / c as f64 } else { 0.0 },
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_known_values() {
        assert_eq!(auc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.2, 0.8, 0.9]), Some(1.0));
        assert_eq!(auc(&[1.0, 1.0, 0.0, 0.0], &[0.1, 0.2, 0.8, 0.9]), Some(0.0));
        assert_eq!(auc(&[0.0, 1.0], &[0.5, 0.5]), Some(0.5));
        assert_eq!(auc(&[1.0, 1.0], &[0.5, 0.6]), None);
    }

    #[test]
    fn evaluate_counts() {
        let m = evaluate(&[0.0, 1.0, 1.0, 0.0], &[0.2, 0.7, 0.4, 0.6], 0.5);
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.precision, Some(0.5));
        assert_eq!(m.recall, Some(0.5));
        assert_eq!(m.calibration.iter().map(|b| b.count).sum::<usize>(), 4);
    }
}
