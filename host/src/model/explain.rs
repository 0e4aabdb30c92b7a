//! Why a row got its score: exact TreeSHAP contributions (they add up to the
//! margin), the top reasons per row as text, importance by mean |SHAP|.

use anyhow::Result;
use arrow::array::RecordBatch;
use engage_boost::{Contributions, FeatureReference, Model, ShapImportance, ShapSummary};

/// Rows per TreeSHAP call, so long work can report progress.
pub const CHUNK_ROWS: usize = 16 * 1024;

/// Contributions for every row of `inputs` (the encoded feature batch),
/// chunk by chunk; `progress` gets the rows done after each chunk.
pub fn contributions(model: &Model, inputs: &RecordBatch, mut progress: impl FnMut(usize)) -> Result<Contributions> {
    let mut all = Contributions { values: Vec::new(), n_features: model.feature_names().len(), feature_names: model.feature_names().to_vec() };
    let mut start = 0;
    while start < inputs.num_rows() {
        let len = CHUNK_ROWS.min(inputs.num_rows() - start);
        let part = model.contributions(&inputs.slice(start, len))?;
        all.values.extend_from_slice(&part.values);
        start += len;
        progress(len);
    }
    Ok(all)
}

/// Global importance (mean |SHAP|) for every row of `inputs`.
pub fn importance(model: &Model, inputs: &RecordBatch, progress: impl FnMut(usize)) -> Result<Vec<ShapImportance>> {
    let c = contributions(model, inputs, progress)?;
    let mut summary = ShapSummary::new(model.feature_names().to_vec());
    summary.add(&c);
    Ok(summary.importance())
}

/// Row `r`'s top `k` reasons as one line: `low sessions_7d: −0.80; high plan: +0.31`.
pub fn reasons_text(c: &Contributions, r: usize, k: usize, values: &[f32], reference: &FeatureReference) -> String {
    c.top_reasons(r, k, values, reference).iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Every row's top `k` reasons as a text column. `cols` are the feature
/// values in model order (`None`: the column is absent, all missing).
pub fn reasons_column(c: &Contributions, cols: &[Option<&[f32]>], k: usize, reference: &FeatureReference) -> arrow::array::StringArray {
    let mut values = vec![f32::NAN; cols.len()];
    (0..c.n_rows())
        .map(|r| {
            for (v, col) in values.iter_mut().zip(cols) {
                *v = col.map_or(f32::NAN, |c| c[r]);
            }
            Some(reasons_text(c, r, k, &values, reference))
        })
        .collect()
}
