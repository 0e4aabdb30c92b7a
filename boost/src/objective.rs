//! Loss functions: gradients, hessians, base score and the transform from
//! margin to prediction.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Objective {
    /// Binary classification, logistic loss; predictions are probabilities.
    #[default]
    #[serde(rename = "binary:logistic")]
    BinaryLogistic,
    /// Regression, squared error; predictions are values.
    #[serde(rename = "reg:squarederror")]
    SquaredError,
}

#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Objective {
    /// XGBoost's name for the objective.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::BinaryLogistic => "binary:logistic",
            Objective::SquaredError => "reg:squarederror",
        }
    }

    /// Gradient and hessian of the loss at `margin` for `label`.
    #[inline]
    pub(crate) fn grad(&self, margin: f32, label: f32) -> [f32; 2] {
        match self {
            Objective::BinaryLogistic => {
                let p = sigmoid(margin);
                // XGBoost floors the hessian the same way so leaves stay finite.
                [p - label, (p * (1.0 - p)).max(1e-16)]
            }
            Objective::SquaredError => [margin - label, 1.0],
        }
    }

    /// Margin to prediction (probability or value).
    #[inline]
    pub(crate) fn transform(&self, margin: f32) -> f32 {
        match self {
            Objective::BinaryLogistic => sigmoid(margin),
            Objective::SquaredError => margin,
        }
    }

    /// Base score (in prediction space, as XGBoost stores it) to margin.
    pub(crate) fn base_margin(&self, base_score: f64) -> f32 {
        match self {
            Objective::BinaryLogistic => {
                let p = base_score.clamp(1e-7, 1.0 - 1e-7);
                (p / (1.0 - p)).ln() as f32
            }
            Objective::SquaredError => base_score as f32,
        }
    }

    /// Validation metric minimised by early stopping: log loss or RMSE.
    pub(crate) fn metric_name(&self) -> &'static str {
        match self {
            Objective::BinaryLogistic => "logloss",
            Objective::SquaredError => "rmse",
        }
    }

    pub(crate) fn metric(&self, labels: &[f32], margins: &[f32]) -> f64 {
        if labels.is_empty() {
            return f64::NAN;
        }
        let n = labels.len() as f64;
        match self {
            Objective::BinaryLogistic => {
                let s: f64 = labels
                    .iter()
                    .zip(margins)
                    .map(|(&y, &m)| crate::metrics::logloss_term(y as f64, sigmoid(m) as f64))
                    .sum();
                s / n
            }
            Objective::SquaredError => {
                let s: f64 = labels.iter().zip(margins).map(|(&y, &m)| ((m - y) as f64).powi(2)).sum();
                (s / n).sqrt()
            }
        }
    }
}
