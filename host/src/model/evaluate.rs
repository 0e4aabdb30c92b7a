//! How good the scores are on labelled rows: AUC, log loss, average
//! precision, calibration, and lift and cumulative gain by score decile.

use engage_boost::metrics::{self, CalibrationBin};
use serde::Serialize;

/// One tenth of the rows, best scores first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decile {
    /// 1 = the 10% highest scores.
    pub decile: usize,
    pub rows: usize,
    pub positives: usize,
    /// Share of positives in the decile.
    pub rate: f64,
    /// `rate` over the overall positive rate (1 = no better than random).
    pub lift: f64,
    /// Share of all positives found in deciles 1..=this one.
    pub cumulative_gain: f64,
    pub min_score: f64,
    pub max_score: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub rows: usize,
    pub positives: usize,
    pub auc: Option<f64>,
    pub logloss: f64,
    pub average_precision: Option<f64>,
    /// Ten equal-width probability bins.
    pub calibration: Vec<CalibrationBin>,
    pub deciles: Vec<Decile>,
}

impl Evaluation {
    /// The headline metrics by name, in the order they are shown.
    pub fn headline(&self) -> [(&'static str, Option<f64>); 3] {
        [("AUC", self.auc), ("log loss", Some(self.logloss)), ("average precision", self.average_precision)]
    }
}

pub fn evaluate(labels: &[f32], probs: &[f32]) -> Evaluation {
    let m = metrics::evaluate(labels, probs, 0.5);
    Evaluation {
        rows: m.n,
        positives: m.positives,
        auc: m.auc,
        logloss: m.logloss,
        average_precision: average_precision(labels, probs),
        calibration: m.calibration,
        deciles: deciles(labels, probs),
    }
}

/// Indices ordered by score, highest first (ties keep row order).
fn by_score(probs: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    order
}

/// Average precision as scikit-learn computes it: Σ (Rₙ − Rₙ₋₁) · Pₙ over
/// the distinct score thresholds, highest first. `None` without positives.
pub fn average_precision(labels: &[f32], probs: &[f32]) -> Option<f64> {
    let total = labels.iter().filter(|&&y| y > 0.5).count() as f64;
    if total == 0.0 {
        return None;
    }
    let order = by_score(probs);
    let (mut tp, mut seen, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        seen += 1.0;
        if labels[i] > 0.5 {
            tp += 1.0;
        }
        // Rows with the same score are one threshold.
        if order.get(k + 1).is_none_or(|&j| probs[j] != probs[i]) {
            let recall = tp / total;
            ap += (recall - last_recall) * (tp / seen);
            last_recall = recall;
        }
    }
    Some(ap)
}

/// Ten groups of (nearly) equal size by score, highest first.
pub fn deciles(labels: &[f32], probs: &[f32]) -> Vec<Decile> {
    let n = labels.len();
    let total_pos = labels.iter().filter(|&&y| y > 0.5).count();
    let overall = if n > 0 { total_pos as f64 / n as f64 } else { 0.0 };
    let order = by_score(probs);
    let mut found = 0;
    (0..10)
        .filter_map(|d| {
            let rows = &order[d * n / 10..(d + 1) * n / 10];
            if rows.is_empty() {
                return None;
            }
            let positives = rows.iter().filter(|&&i| labels[i] > 0.5).count();
            found += positives;
            let rate = positives as f64 / rows.len() as f64;
            Some(Decile {
                decile: d + 1,
                rows: rows.len(),
                positives,
                rate,
                lift: if overall > 0.0 { rate / overall } else { 0.0 },
                cumulative_gain: if total_pos > 0 { found as f64 / total_pos as f64 } else { 0.0 },
                min_score: probs[*rows.last().expect("not empty")] as f64,
                max_score: probs[rows[0]] as f64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_matches_a_hand_computation() {
        // Ranked: 1, 0, 1, 0 -> precision at the positives 1/1 and 2/3.
        let ap = average_precision(&[1.0, 0.0, 1.0, 0.0], &[0.9, 0.8, 0.7, 0.1]).unwrap();
        assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        assert_eq!(average_precision(&[0.0, 0.0], &[0.1, 0.2]), None);
    }

    #[test]
    fn a_perfect_ranking_puts_every_positive_in_the_top_deciles() {
        let labels: Vec<f32> = (0..100).map(|i| (i < 20) as u8 as f32).collect();
        let probs: Vec<f32> = (0..100).map(|i| 1.0 - i as f32 / 100.0).collect();
        let d = deciles(&labels, &probs);
        assert_eq!(d.len(), 10);
        assert_eq!(d[0].positives, 10);
        assert!((d[0].lift - 5.0).abs() < 1e-12);
        assert!((d[1].cumulative_gain - 1.0).abs() < 1e-12);
        assert_eq!(d[9].positives, 0);
    }
}
