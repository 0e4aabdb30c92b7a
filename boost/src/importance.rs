//! Feature importance from the trees, in XGBoost's three senses.

use serde::Serialize;

use crate::model::Model;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureImportance {
    pub feature: String,
    /// Number of splits on the feature ("weight").
    pub weight: u64,
    /// Sum of the loss reduction of those splits.
    pub total_gain: f64,
    /// Mean loss reduction per split (XGBoost's "gain").
    pub gain: f64,
    /// Sum of the hessian of rows reaching those splits.
    pub total_cover: f64,
    /// Mean cover per split (XGBoost's "cover").
    pub cover: f64,
}

impl Model {
    /// Importance of every feature used in a split, by total gain, highest first.
    pub fn importance(&self) -> Vec<FeatureImportance> {
        let nf = self.feature_names.len();
        let mut w = vec![0u64; nf];
        let mut g = vec![0.0f64; nf];
        let mut c = vec![0.0f64; nf];
        for t in &self.trees {
            for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                let f = n.feature as usize;
                w[f] += 1;
                g[f] += n.gain as f64;
                c[f] += n.cover as f64;
            }
        }
        let mut out: Vec<FeatureImportance> = (0..nf)
            .filter(|&f| w[f] > 0)
            .map(|f| FeatureImportance {
                feature: self.feature_names[f].clone(),
                weight: w[f],
                total_gain: g[f],
                gain: g[f] / w[f] as f64,
                total_cover: c[f],
                cover: c[f] / w[f] as f64,
            })
            .collect();
        out.sort_by(|a, b| b.total_gain.total_cmp(&a.total_gain).then_with(|| a.feature.cmp(&b.feature)));
        out
    }
}
