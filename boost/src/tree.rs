//! One regression tree in XGBoost's node layout (node 0 is the root; a leaf
//! has no children and its value is already scaled by eta).

use crate::binning::MISSING_BIN;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Child node ids; `-1` for a leaf.
    pub left: i32,
    pub right: i32,
    pub parent: i32,
    pub feature: u32,
    /// Go left when `value < threshold`; for a leaf, the leaf value.
    pub threshold: f32,
    /// Bin of the split (training only): bins `<= split_bin` go left.
    pub split_bin: u8,
    /// Where missing values go.
    pub default_left: bool,
    /// Loss reduction of the split (0 for a leaf).
    pub gain: f32,
    /// Hessian sum of the rows reaching the node.
    pub cover: f32,
    /// Weight of the node as if it were a leaf (XGBoost's `base_weights`).
    pub base_weight: f32,
}

impl Node {
    pub fn leaf(value: f32, cover: f32, parent: i32) -> Self {
        Node {
            left: -1,
            right: -1,
            parent,
            feature: 0,
            threshold: value,
            split_bin: 0,
            default_left: false,
            gain: 0.0,
            cover,
            base_weight: value,
        }
    }
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.left < 0
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Leaf value for one row of a binned matrix (training-time prediction).
    #[inline]
    pub(crate) fn predict_binned(&self, x: &crate::binning::FeatureMatrix, row: usize) -> f32 {
        let mut i = 0usize;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf() {
                return n.threshold;
            }
            let b = x.bin(n.feature as usize, row);
            let left = if b == MISSING_BIN { n.default_left } else { b <= n.split_bin };
            i = if left { n.left } else { n.right } as usize;
        }
    }

    /// Leaf value for one row of raw feature values (the reference path; the
    /// fast path is the flat forest in `predict`).
    pub fn predict_row(&self, row: &[f32]) -> f32 {
        let mut i = 0usize;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf() {
                return n.threshold;
            }
            let v = row[n.feature as usize];
            let left = if v.is_nan() { n.default_left } else { v < n.threshold };
            i = if left { n.left } else { n.right } as usize;
        }
    }

    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// Longest root-to-leaf path (iterative: a loaded tree may be deep).
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = if self.nodes.is_empty() { vec![] } else { vec![(0usize, 0usize)] };
        while let Some((i, d)) = stack.pop() {
            let n = &self.nodes[i];
            if n.is_leaf() {
                max = max.max(d);
            } else {
                stack.push((n.left as usize, d + 1));
                stack.push((n.right as usize, d + 1));
            }
        }
        max
    }
}
