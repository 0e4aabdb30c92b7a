//! A trained (or loaded) model: trees plus what prediction needs.

use std::borrow::Cow;

use arrow_array::RecordBatch;

use crate::column::column_f32;
use crate::error::{BoostError, Result};
use crate::objective::Objective;
use crate::predict::{FlatForest, Predictions, finish};
use crate::tree::Tree;

#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) objective: Objective,
    pub(crate) feature_names: Vec<String>,
    /// In prediction space (a probability for `binary:logistic`), as XGBoost stores it.
    pub(crate) base_score: f64,
    pub(crate) trees: Vec<Tree>,
    pub(crate) threshold: f32,
    pub(crate) forest: FlatForest,
}

impl Model {
    pub(crate) fn new(objective: Objective, feature_names: Vec<String>, base_score: f64, trees: Vec<Tree>, threshold: f32) -> Self {
        let forest = FlatForest::new(&trees);
        Model { objective, feature_names, base_score, trees, threshold, forest }
    }

    pub fn objective(&self) -> Objective {
        self.objective
    }
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    pub fn base_score(&self) -> f64 {
        self.base_score
    }
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }
    /// Decision threshold used for confidence (and the default for metrics).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }
    pub fn set_threshold(&mut self, t: f32) -> Result<()> {
        if !(t > 0.0 && t < 1.0) {
            return Err(BoostError::InvalidParam { name: "threshold", reason: format!("{t} is outside (0, 1)") });
        }
        self.threshold = t;
        Ok(())
    }
    /// The base score as a margin (log-odds for `binary:logistic`): where every
    /// prediction starts before the trees add their leaves.
    pub fn base_margin(&self) -> f32 {
        self.objective.base_margin(self.base_score)
    }

    /// Features some tree splits on: only these must be present at prediction.
    pub(crate) fn used_features(&self) -> Vec<bool> {
        let mut used = vec![false; self.feature_names.len()];
        for t in &self.trees {
            for n in &t.nodes {
                if !n.is_leaf() {
                    used[n.feature as usize] = true;
                }
            }
        }
        used
    }

    /// The model's features from `batch` by name, in model order, as f32
    /// (borrowed when already f32). A feature no tree splits on may be absent
    /// (`None`, all missing); one that a tree splits on must be present.
    pub(crate) fn feature_columns<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<Option<Cow<'a, [f32]>>>> {
        let used = self.used_features();
        let mut owned = Vec::with_capacity(self.feature_names.len());
        for (name, &u) in self.feature_names.iter().zip(&used) {
            match batch.column_by_name(name) {
                Some(_) => owned.push(Some(column_f32(batch, name)?)),
                None if !u => owned.push(None),
                None => return Err(BoostError::MissingColumn(name.clone())),
            }
        }
        Ok(owned)
    }

    /// Predict every row of `batch`. Columns are found by name, so their order
    /// (and extra columns) do not matter; a column the model splits on must be
    /// present. Any numeric type; null and NaN are missing.
    pub fn predict_batch(&self, batch: &RecordBatch) -> Result<Predictions> {
        let owned = self.feature_columns(batch)?;
        let cols: Vec<Option<&[f32]>> = owned.iter().map(|c| c.as_deref()).collect();
        self.predict_columns(&cols, batch.num_rows())
    }

    /// Predict from f32 columns in model feature order (`None` = all missing).
    pub fn predict_columns(&self, cols: &[Option<&[f32]>], n_rows: usize) -> Result<Predictions> {
        if cols.len() != self.feature_names.len() {
            return Err(BoostError::Shape(format!("{} columns for a model of {} features", cols.len(), self.feature_names.len())));
        }
        if let Some(f) = cols.iter().position(|c| c.is_some_and(|c| c.len() < n_rows)) {
            return Err(BoostError::Shape(format!("column `{}` has fewer than {n_rows} rows", self.feature_names[f])));
        }
        let base = self.base_margin();
        let want_abs = self.objective == Objective::SquaredError;
        let (m, abs) = self.forest.margins(cols, n_rows, base, want_abs);
        Ok(finish(self.objective, m, abs, base, self.threshold))
    }

    /// Predict a stream of batches, one result per batch, without holding more
    /// than one batch of predictions.
    pub fn predict_stream<'a, I>(&'a self, batches: I) -> impl Iterator<Item = Result<Predictions>> + 'a
    where
        I: IntoIterator<Item = RecordBatch>,
        I::IntoIter: 'a,
    {
        batches.into_iter().map(move |b| self.predict_batch(&b))
    }
}
