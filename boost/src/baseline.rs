//! Logistic-regression baseline (linfa-logistic) on the same features, so a
//! model report can say how much boosting gains over a linear model.
//!
//! Preparation: each feature is standardised with its training mean and
//! standard deviation; missing values become the mean (0 after scaling).

use arrow_array::RecordBatch;
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

use crate::column::column_f32;
use crate::error::{BoostError, Result};
use crate::train::read_labels;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LogisticBaseline {
    pub features: Vec<String>,
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    pub weights: Vec<f64>,
    pub intercept: f64,
}

/// Most rows used to fit (an evenly spaced subset beyond this): 15 parameters are
/// pinned down long before 50K rows (the baseline's validation AUC moves in the
/// fourth decimal from 50K to 240K rows), while LBFGS time grows with every row.
pub const BASELINE_MAX_ROWS: usize = 50_000;

impl LogisticBaseline {
    /// Fit on the named features of `batches` against the 0/1 `label` column.
    pub fn fit<S: AsRef<str>>(batches: &[RecordBatch], label: &str, features: &[S]) -> Result<Self> {
        let y = read_labels(batches, label)?;
        let names: Vec<String> = features.iter().map(|s| s.as_ref().to_string()).collect();
        let mut cols: Vec<Vec<f32>> = Vec::with_capacity(names.len());
        for n in &names {
            let mut c = Vec::with_capacity(y.len());
            for b in batches {
                c.extend_from_slice(&column_f32(b, n)?);
            }
            cols.push(c);
        }
        let refs: Vec<&[f32]> = cols.iter().map(|c| c.as_slice()).collect();
        Self::fit_columns(&names, &refs, &y)
    }

    /// Fit from f32 columns (NaN = missing) and 0/1 labels.
    pub fn fit_columns(names: &[String], cols: &[&[f32]], labels: &[f32]) -> Result<Self> {
        let n = labels.len();
        if n == 0 {
            return Err(BoostError::Empty("the baseline's training set has zero rows".into()));
        }
        if cols.len() != names.len() || cols.iter().any(|c| c.len() != n) {
            return Err(BoostError::Shape("baseline columns and labels differ in length".into()));
        }
        let pos = labels.iter().filter(|&&y| y > 0.5).count();
        if pos == 0 || pos == n {
            return Err(BoostError::Baseline("the label has only one class; logistic regression needs both".into()));
        }
        let mut means = Vec::with_capacity(cols.len());
        let mut scales = Vec::with_capacity(cols.len());
        for c in cols {
            let (mut s, mut s2, mut k) = (0.0f64, 0.0f64, 0usize);
            for &v in c.iter().filter(|v| v.is_finite()) {
                s += v as f64;
                s2 += (v as f64) * (v as f64);
                k += 1;
            }
            let mean = if k > 0 { s / k as f64 } else { 0.0 };
            let var = if k > 0 { (s2 / k as f64 - mean * mean).max(0.0) } else { 0.0 };
            means.push(mean);
            // A constant or empty column scales by 1 and contributes nothing.
            scales.push(if var > 1e-24 { var.sqrt() } else { 1.0 });
        }
        let step = n.div_ceil(BASELINE_MAX_ROWS).max(1);
        let rows: Vec<usize> = (0..n).step_by(step).collect();
        let nf = cols.len();
        let mut x = Array2::<f64>::zeros((rows.len(), nf));
        for (i, &r) in rows.iter().enumerate() {
            for f in 0..nf {
                x[[i, f]] = standardise(cols[f][r], means[f], scales[f]);
            }
        }
        let y: Array1<usize> = rows.iter().map(|&r| (labels[r] > 0.5) as usize).collect();
        let ds = Dataset::new(x, y);
        let fitted = LogisticRegression::default()
            .max_iterations(200)
            .fit(&ds)
            .map_err(|e| BoostError::Baseline(e.to_string()))?;
        // linfa's "positive" class is whichever label it met first: flip the
        // model so it always gives the probability of label 1.
        let sign = if fitted.labels().pos.class == 1 { 1.0 } else { -1.0 };
        Ok(LogisticBaseline {
            features: names.to_vec(),
            means,
            scales,
            weights: fitted.params().iter().map(|w| sign * w).collect(),
            intercept: sign * fitted.intercept(),
        })
    }

    /// Probability of the positive class for each row of `batch` (columns by name).
    pub fn predict_batch(&self, batch: &RecordBatch) -> Result<Vec<f32>> {
        let cols = self
            .features
            .iter()
            .map(|n| column_f32(batch, n))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[f32]> = cols.iter().map(|c| c.as_ref()).collect();
        Ok(self.predict_columns(&refs, batch.num_rows()))
    }

    pub fn predict_columns(&self, cols: &[&[f32]], n: usize) -> Vec<f32> {
        let mut z = vec![self.intercept; n];
        for (f, c) in cols.iter().enumerate() {
            let (m, s, w) = (self.means[f], self.scales[f], self.weights[f]);
            for (z, &v) in z.iter_mut().zip(c.iter()) {
                *z += w * standardise(v, m, s);
            }
        }
        z.into_iter().map(|z| (1.0 / (1.0 + (-z).exp())) as f32).collect()
    }
}

#[inline]
fn standardise(v: f32, mean: f64, scale: f64) -> f64 {
    if v.is_finite() { (v as f64 - mean) / scale } else { 0.0 }
}
