//! Path attribution (Saabas): a fast, approximate alternative to TreeSHAP.
//!
//! Each tree credits every split on the row's own decision path with the change
//! it makes to the expected value: going from a node to the child the row takes,
//! the split feature gains `E(child) - E(node)`, where `E` is the cover-weighted
//! mean of the leaves below (the same expectation TreeSHAP uses). Contributions
//! plus the bias (base margin + Σ E(root)) give the raw margin exactly, as with
//! TreeSHAP, but only the features on the path get credit and the order of the
//! splits matters, so a row's ranking of features can differ from TreeSHAP's
//! (XGBoost's `pred_contribs(approx_contribs=True)` is this method).
//!
//! Cost: one walk per tree, O(depth) per row instead of O(leaves · depth), which
//! is what makes per-user reasons affordable for tens of millions of users.

use arrow_array::RecordBatch;
use rayon::prelude::*;

use crate::error::Result;
use crate::model::Model;
use crate::shap::Contributions;

/// Rows per parallel task.
const CHUNK_ROWS: usize = 4096;

/// A node as the walk reads it: children, split and the subtree's expected value.
#[derive(Clone, Copy)]
struct PathNode {
    /// `u32::MAX` for a leaf.
    left: u32,
    right: u32,
    feature: u32,
    threshold: f32,
    default_left: bool,
    expected: f64,
}

/// Every tree's nodes in one array with their expected values.
struct PathForest {
    nodes: Vec<PathNode>,
    roots: Vec<u32>,
    expected: f64,
}

impl PathForest {
    fn new(model: &Model) -> Self {
        let mut forest = PathForest { nodes: Vec::new(), roots: Vec::new(), expected: 0.0 };
        for tree in model.trees.iter().filter(|t| !t.nodes.is_empty()) {
            let offset = forest.nodes.len() as u32;
            forest.nodes.extend(tree.nodes.iter().map(|n| PathNode {
                left: if n.is_leaf() { u32::MAX } else { offset + n.left as u32 },
                right: if n.is_leaf() { u32::MAX } else { offset + n.right as u32 },
                feature: n.feature,
                threshold: n.threshold,
                default_left: n.default_left,
                expected: if n.is_leaf() { n.threshold as f64 } else { 0.0 },
            }));
            // Children come after their parent in XGBoost order, so one pass
            // from the back fills every inner node's expectation.
            for (i, n) in tree.nodes.iter().enumerate().rev().filter(|(_, n)| !n.is_leaf()) {
                let (l, r) = (&tree.nodes[n.left as usize], &tree.nodes[n.right as usize]);
                let (cl, cr) = (l.cover.max(0.0) as f64, r.cover.max(0.0) as f64);
                let (el, er) = (forest.nodes[offset as usize + n.left as usize].expected, forest.nodes[offset as usize + n.right as usize].expected);
                forest.nodes[offset as usize + i].expected = if cl + cr > 0.0 { (cl * el + cr * er) / (cl + cr) } else { 0.5 * (el + er) };
            }
            forest.expected += forest.nodes[offset as usize].expected;
            forest.roots.push(offset);
        }
        forest
    }

    /// Adds one row's credits to `phi`.
    #[inline]
    fn walk(&self, x: &[f32], phi: &mut [f64]) {
        for &root in &self.roots {
            let mut node = &self.nodes[root as usize];
            while node.left != u32::MAX {
                let v = x[node.feature as usize];
                let go_left = if v.is_nan() { node.default_left } else { v < node.threshold };
                let child = &self.nodes[if go_left { node.left } else { node.right } as usize];
                phi[node.feature as usize] += child.expected - node.expected;
                node = child;
            }
        }
    }
}

impl Model {
    /// Path (Saabas) contributions for every row of `batch`, in the same shape as
    /// [`Model::contributions`]: columns found by name, null and NaN missing.
    pub fn path_contributions(&self, batch: &RecordBatch) -> Result<Contributions> {
        let owned = self.feature_columns(batch)?;
        let cols: Vec<Option<&[f32]>> = owned.iter().map(|c| c.as_deref()).collect();
        let (n_rows, nf) = (batch.num_rows(), self.feature_names.len());
        let forest = PathForest::new(self);
        let bias = (self.base_margin() as f64 + forest.expected) as f32;
        let w = nf + 1;
        let mut values = vec![0f32; n_rows * w];
        values.par_chunks_mut(CHUNK_ROWS * w).enumerate().for_each(|(ci, out)| {
            let (mut x, mut phi) = (vec![f32::NAN; nf], vec![0f64; nf]);
            for (k, o) in out.chunks_mut(w).enumerate() {
                let r = ci * CHUNK_ROWS + k;
                for (v, c) in x.iter_mut().zip(&cols) {
                    *v = c.map_or(f32::NAN, |c| c[r]);
                }
                phi.fill(0.0);
                forest.walk(&x, &mut phi);
                for (o, p) in o.iter_mut().zip(&phi) {
                    *o = *p as f32;
                }
                o[nf] = bias;
            }
        });
        Ok(Contributions { values, n_features: nf, feature_names: self.feature_names.clone() })
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Float32Array, RecordBatch};
    use std::sync::Arc;

    use crate::params::Params;
    use crate::train::train_batches;

    fn data(n: usize) -> RecordBatch {
        let a: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 / 10.0).collect();
        let b: Vec<f32> = (0..n).map(|i| if i % 7 == 0 { f32::NAN } else { ((i * 13) % 29) as f32 }).collect();
        let y: Vec<f32> = (0..n).map(|i| ((a[i] > 5.0) as u8 ^ (i % 11 == 0) as u8) as f32).collect();
        RecordBatch::try_from_iter(vec![
            ("a", Arc::new(Float32Array::from(a)) as _),
            ("b", Arc::new(Float32Array::from(b)) as _),
            ("y", Arc::new(Float32Array::from(y)) as _),
        ])
        .unwrap()
    }

    #[test]
    fn path_credits_add_up_to_the_margin_and_agree_with_treeshap_on_the_leading_feature() {
        let batch = data(4000);
        let params = Params { n_rounds: 30, max_depth: 4, ..Params::default() };
        let model = train_batches(std::slice::from_ref(&batch), "y", None, &params).unwrap().model;
        let path = model.path_contributions(&batch).unwrap();
        let exact = model.contributions(&batch).unwrap();
        let mut same_leader = 0;
        for r in 0..batch.num_rows() {
            // TreeSHAP's credits add up to the model's margin (tested in shap.rs).
            assert!((path.margin(r) - exact.margin(r)).abs() < 1e-4, "row {r}: {} vs {}", path.margin(r), exact.margin(r));
            assert!((path.bias(r) - exact.bias(r)).abs() < 1e-6);
            let leader = |row: &[f32]| if row[0].abs() >= row[1].abs() { 0 } else { 1 };
            same_leader += (leader(path.row(r)) == leader(exact.row(r))) as usize;
        }
        // `a` drives the label: both methods should name it first almost always.
        assert!(same_leader * 100 >= 95 * batch.num_rows(), "{same_leader} of {} rows agree", batch.num_rows());
    }
}
