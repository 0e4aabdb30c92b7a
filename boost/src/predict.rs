//! Prediction: trees flattened into one array, traversed branch-free over
//! blocks of rows, in parallel over row chunks.
//!
//! Layout: a node is 12 bytes (feature + flags, threshold, left child); the
//! right child is always `left + 1`. A leaf points to itself (left = self - 1,
//! threshold NaN so every row "goes right"), so every row takes exactly
//! `depth` steps per tree with no exit branch, and a block of rows advances
//! level by level: independent loads the CPU overlaps. Trees deeper than
//! [`FIXED_STEP_MAX_DEPTH`] (leaf-wise growth) are walked row by row with an
//! early exit instead (a leaf is the node whose threshold is NaN).
//!
//! Confidence (in [0, 1]):
//! - `binary:logistic`: distance of the probability from the decision
//!   threshold `t`, scaled so each side spans [0, 1]:
//!   `(p - t) / (1 - t)` when `p >= t`, else `(t - p) / t`. 0 means "on the
//!   threshold", 1 means "as sure as a probability can be".
//! - `reg:squarederror`: agreement across trees, `|sum of leaf values| / sum
//!   of |leaf values|`: 1 when every tree moves the prediction the same way
//!   from the base score, near 0 when trees cancel out.

use rayon::prelude::*;

use crate::objective::Objective;
use crate::tree::Tree;

const DEFAULT_LEFT: u32 = 1 << 31;
const FEATURE_MASK: u32 = !DEFAULT_LEFT;
/// Trees up to this depth are walked a fixed number of steps (branch-free);
/// deeper ones (long leaf-wise chains) row by row with an early exit at the leaf.
const FIXED_STEP_MAX_DEPTH: u32 = 16;
/// Rows advanced together through one tree.
const BLOCK: usize = 64;
/// Rows per parallel task.
const CHUNK: usize = 8192;

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct FlatNode {
    /// Feature index, high bit = missing goes left.
    feat: u32,
    threshold: f32,
    left: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct FlatForest {
    nodes: Vec<FlatNode>,
    values: Vec<f32>,
    /// (root index, depth) per tree.
    roots: Vec<(u32, u32)>,
}

impl FlatForest {
    pub fn new(trees: &[Tree]) -> Self {
        let mut f = FlatForest::default();
        for t in trees {
            if t.nodes.is_empty() {
                continue;
            }
            let root = f.nodes.len() as u32;
            // Breadth-first renumbering that places siblings side by side.
            let mut queue = std::collections::VecDeque::from([(0usize, root)]);
            f.nodes.push(FlatNode { feat: 0, threshold: 0.0, left: 0 });
            f.values.push(0.0);
            while let Some((src, dst)) = queue.pop_front() {
                let n = &t.nodes[src];
                if n.is_leaf() {
                    f.nodes[dst as usize] = FlatNode { feat: 0, threshold: f32::NAN, left: dst.wrapping_sub(1) };
                    f.values[dst as usize] = n.threshold;
                } else {
                    let l = f.nodes.len() as u32;
                    f.nodes.push(FlatNode { feat: 0, threshold: 0.0, left: 0 });
                    f.nodes.push(FlatNode { feat: 0, threshold: 0.0, left: 0 });
                    f.values.extend([0.0, 0.0]);
                    let dl = if n.default_left { DEFAULT_LEFT } else { 0 };
                    f.nodes[dst as usize] = FlatNode { feat: n.feature | dl, threshold: n.threshold, left: l };
                    queue.push_back((n.left as usize, l));
                    queue.push_back((n.right as usize, l + 1));
                }
            }
            f.roots.push((root, t.depth() as u32));
        }
        f
    }

    /// Add every tree's leaf to `out[r]` for the rows of a row-major block
    /// (`block[r * n_features + f]`). `abs` collects `|leaf|` when given.
    #[inline]
    fn add_block(&self, block: &[f32], n_features: usize, out: &mut [f32], mut abs: Option<&mut [f32]>) {
        let m = out.len();
        let mut pos = [0u32; BLOCK];
        let nodes = &self.nodes[..];
        for &(root, depth) in &self.roots {
            if depth > FIXED_STEP_MAX_DEPTH {
                // Deep (leaf-wise) trees: most rows stop long before the
                // deepest leaf, so walk each row only until its leaf.
                for (r, o) in out.iter_mut().enumerate() {
                    let mut p = root;
                    loop {
                        let n = nodes[p as usize];
                        if n.threshold.is_nan() {
                            break;
                        }
                        let v = block[r * n_features + (n.feat & FEATURE_MASK) as usize];
                        let left = if v.is_nan() { n.feat & DEFAULT_LEFT != 0 } else { v < n.threshold };
                        p = n.left + (!left) as u32;
                    }
                    *o += self.values[p as usize];
                    if let Some(a) = abs.as_deref_mut() {
                        a[r] += self.values[p as usize].abs();
                    }
                }
                continue;
            }
            pos[..m].fill(root);
            for _ in 0..depth {
                for (r, p) in pos[..m].iter_mut().enumerate() {
                    let n = nodes[*p as usize];
                    let v = block[r * n_features + (n.feat & FEATURE_MASK) as usize];
                    let left = if v.is_nan() { n.feat & DEFAULT_LEFT != 0 } else { v < n.threshold };
                    *p = n.left.wrapping_add((!left) as u32);
                }
            }
            for (o, &p) in out.iter_mut().zip(&pos[..m]) {
                *o += self.values[p as usize];
            }
            if let Some(a) = abs.as_deref_mut() {
                for (o, &p) in a.iter_mut().zip(&pos[..m]) {
                    *o += self.values[p as usize].abs();
                }
            }
        }
    }

    /// Margins for `n` rows given as columns (`cols[f][row]`, in model
    /// feature order; `None` = feature absent, all missing).
    pub fn margins(&self, cols: &[Option<&[f32]>], n: usize, base_margin: f32, want_abs: bool) -> (Vec<f32>, Option<Vec<f32>>) {
        let nf = cols.len().max(1);
        let mut out = vec![base_margin; n];
        let mut abs = if want_abs { Some(vec![0.0f32; n]) } else { None };
        let work = |ci: usize, out: &mut [f32], mut abs: Option<&mut [f32]>| {
            let mut block = vec![f32::NAN; BLOCK * nf];
            let start = ci * CHUNK;
            for (bi, o) in out.chunks_mut(BLOCK).enumerate() {
                let s = start + bi * BLOCK;
                let m = o.len();
                for (f, c) in cols.iter().enumerate() {
                    match c {
                        Some(c) => {
                            for (r, &v) in c[s..s + m].iter().enumerate() {
                                block[r * nf + f] = v;
                            }
                        }
                        None => {
                            for r in 0..m {
                                block[r * nf + f] = f32::NAN;
                            }
                        }
                    }
                }
                let a = abs.as_deref_mut().map(|a| &mut a[bi * BLOCK..bi * BLOCK + m]);
                self.add_block(&block, nf, o, a);
            }
        };
        match abs.as_mut() {
            Some(a) => out
                .par_chunks_mut(CHUNK)
                .zip(a.par_chunks_mut(CHUNK))
                .enumerate()
                .for_each(|(ci, (o, a))| work(ci, o, Some(a))),
            None => out.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, o)| work(ci, o, None)),
        }
        (out, abs)
    }
}

/// Predictions for a batch of rows.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Predictions {
    /// Probability of the positive class (`binary:logistic`) or the predicted
    /// value (`reg:squarederror`), one per row.
    pub probability: Vec<f32>,
    /// Confidence in [0, 1], one per row; see the module docs for the definition.
    pub confidence: Vec<f32>,
}

pub(crate) fn finish(objective: Objective, margins: Vec<f32>, abs: Option<Vec<f32>>, base_margin: f32, threshold: f32) -> Predictions {
    match objective {
        Objective::BinaryLogistic => {
            let probability: Vec<f32> = margins.into_iter().map(|m| objective.transform(m)).collect();
            let t = threshold;
            let confidence = probability
                .iter()
                .map(|&p| if p >= t { (p - t) / (1.0 - t) } else { (t - p) / t }.clamp(0.0, 1.0))
                .collect();
            Predictions { probability, confidence }
        }
        Objective::SquaredError => {
            let abs = abs.unwrap_or_else(|| vec![0.0; margins.len()]);
            let confidence = margins
                .iter()
                .zip(&abs)
                .map(|(&m, &a)| if a > 0.0 { ((m - base_margin).abs() / a).clamp(0.0, 1.0) } else { 1.0 })
                .collect();
            Predictions { probability: margins, confidence }
        }
    }
}
