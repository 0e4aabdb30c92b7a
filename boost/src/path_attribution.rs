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
/// Rows walked together tree by tree: one tree's nodes stay in L1 while its
/// rows go through it, instead of the whole forest streaming past every row.
const BLOCK_ROWS: usize = 256;

/// Rows of a block that walk one tree side by side: their walks are independent,
/// so the CPU overlaps their node loads instead of waiting on one chain at a time.
const LANES: usize = 8;

/// A node as the walk reads it: its two children and the credit the split
/// feature earns on the way to each (`E(child) - E(node)`), indexed by
/// "goes left". A leaf leads to itself with no credit, so every row can take
/// the same number of steps without a branch on where its walk ended.
#[derive(Clone, Copy)]
struct PathNode {
    /// [right, left]
    children: [u32; 2],
    credits: [f64; 2],
    feature: u32,
    threshold: f32,
    default_left: bool,
}

impl PathNode {
    /// The child `x` goes to and the credit it earns there, without branches:
    /// the data decides every split, so a predicted branch would often be wrong.
    #[inline(always)]
    fn step(&self, x: &[f32]) -> (u32, f64) {
        let v = x[self.feature as usize];
        let left = (v < self.threshold) | (v.is_nan() & self.default_left);
        (self.children[left as usize], self.credits[left as usize])
    }
}

/// Every tree's nodes in one array.
struct PathForest {
    nodes: Vec<PathNode>,
    /// Each tree's root and depth (splits on its longest path).
    roots: Vec<(u32, usize)>,
    /// Σ E(root): the bias beside the base margin.
    expected: f64,
}

impl PathForest {
    fn new(model: &Model) -> Self {
        let mut forest = PathForest { nodes: Vec::new(), roots: Vec::new(), expected: 0.0 };
        for tree in model.trees.iter().filter(|t| !t.nodes.is_empty()) {
            let offset = forest.nodes.len();
            // Children come after their parent in XGBoost order, so one pass
            // from the back gives every node its expectation and height.
            let mut expected = vec![0f64; tree.nodes.len()];
            let mut height = vec![0usize; tree.nodes.len()];
            for (i, n) in tree.nodes.iter().enumerate().rev() {
                if n.is_leaf() {
                    expected[i] = n.threshold as f64;
                    continue;
                }
                let (l, r) = (n.left as usize, n.right as usize);
                let (cl, cr) = (tree.nodes[l].cover.max(0.0) as f64, tree.nodes[r].cover.max(0.0) as f64);
                expected[i] = if cl + cr > 0.0 { (cl * expected[l] + cr * expected[r]) / (cl + cr) } else { 0.5 * (expected[l] + expected[r]) };
                height[i] = 1 + height[l].max(height[r]);
            }
            forest.nodes.extend(tree.nodes.iter().enumerate().map(|(i, n)| {
                if n.is_leaf() {
                    let me = (offset + i) as u32;
                    return PathNode { children: [me, me], credits: [0.0, 0.0], feature: 0, threshold: 0.0, default_left: false };
                }
                let (l, r) = (n.left as usize, n.right as usize);
                PathNode {
                    children: [(offset + r) as u32, (offset + l) as u32],
                    credits: [expected[r] - expected[i], expected[l] - expected[i]],
                    feature: n.feature,
                    threshold: n.threshold,
                    default_left: n.default_left,
                }
            }));
            forest.expected += expected[0];
            forest.roots.push((offset as u32, height[0]));
        }
        forest
    }

    /// Adds the credits of the rows of `xs` (row-major, `nf` features each) to `phis` (same shape),
    /// tree by tree, `LANES` rows at a time.
    #[inline]
    fn walk_block(&self, xs: &[f32], phis: &mut [f64], nf: usize) {
        let rows = xs.len() / nf;
        for &(root, depth) in &self.roots {
            let mut first = 0;
            while first < rows {
                let lanes = LANES.min(rows - first);
                let mut at = [root; LANES];
                for _ in 0..depth {
                    for (k, node) in at.iter_mut().enumerate().take(lanes) {
                        let row = (first + k) * nf;
                        let here = &self.nodes[*node as usize];
                        let (next, credit) = here.step(&xs[row..row + nf]);
                        phis[row + here.feature as usize] += credit;
                        *node = next;
                    }
                }
                first += lanes;
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
        if nf == 0 {
            values.iter_mut().for_each(|v| *v = bias);
            return Ok(Contributions { values, n_features: nf, feature_names: self.feature_names.clone() });
        }
        values.par_chunks_mut(CHUNK_ROWS * w).enumerate().for_each(|(ci, out)| {
            let (mut xs, mut phis) = (vec![0f32; BLOCK_ROWS * nf], vec![0f64; BLOCK_ROWS * nf]);
            for (bi, block) in out.chunks_mut(BLOCK_ROWS * w).enumerate() {
                let (first, rows) = (ci * CHUNK_ROWS + bi * BLOCK_ROWS, block.len() / w);
                let (xs, phis) = (&mut xs[..rows * nf], &mut phis[..rows * nf]);
                for (k, x) in xs.chunks_exact_mut(nf).enumerate() {
                    for (v, c) in x.iter_mut().zip(&cols) {
                        *v = c.map_or(f32::NAN, |c| c[first + k]);
                    }
                }
                phis.fill(0.0);
                forest.walk_block(xs, phis, nf);
                for (o, phi) in block.chunks_mut(w).zip(phis.chunks_exact(nf)) {
                    for (o, p) in o.iter_mut().zip(phi) {
                        *o = *p as f32;
                    }
                    o[nf] = bias;
                }
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
        // Rows are walked in blocks: a row's credits do not depend on where it sits in the batch.
        for r in [0, 255, 256, 3999] {
            let alone = model.path_contributions(&batch.slice(r, 1)).unwrap();
            assert_eq!(alone.row(0), path.row(r), "row {r}");
        }
    }
}
