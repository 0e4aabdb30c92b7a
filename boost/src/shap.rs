//! Exact TreeSHAP: per-row feature contributions to the margin.
//!
//! The algorithm is Algorithm 2 of Lundberg, Erion & Lee (2018), "Consistent
//! Individualized Feature Attribution for Tree Ensembles": one recursion over
//! each tree that carries the set of features on the path to the current node
//! with, for each, the fraction of "feature unknown" weight that reaches the
//! node (`zero`, the product of cover ratios `cover(child) / cover(parent)`)
//! and whether the row itself would reach it (`one`, 0 or 1), plus the
//! permutation weights of every subset size. Extending the path by one
//! feature and unwinding a feature back out of it are both O(depth), so a
//! tree costs O(leaves · depth²) per row.
//!
//! Conventions (the same as XGBoost's `pred_contribs`, which the tests check):
//! - The game is the tree's conditional expectation where an unknown
//!   feature's split sends the row down both children weighted by cover
//!   (sum of hessians). Its value with no feature known is the tree's
//!   expected value `E = Σ leaf value · Π cover ratios`; the bias column is
//!   the model's base margin plus `Σ E` over trees. Per row, contributions +
//!   bias = the raw margin (before the sigmoid), exactly up to rounding.
//! - A missing value (NaN / null) follows the node's default direction.
//! - A feature split on twice on one path is unwound from the path before it
//!   is added again (Algorithm 2's `UNWIND`).
//! - Degenerate covers: a node with zero cover gives its children cover
//!   ratio 0 (XGBoost would divide 0 by 0). A model whose trees carry no
//!   covers at all (an XGBoost JSON without `sum_hessian`) is rejected.
//!
//! Arithmetic is f64 throughout, one row at a time, so results do not depend
//! on the number of threads; the output is f32. Rows run in parallel (rayon).
//!
//! Speed (the algorithm is unchanged, only its arithmetic is arranged): the
//! constant factors `(l+1)/(i+1)`, `(l-i)/(l+1)` are tabulated so the inner
//! loops multiply instead of divide; EXTEND copies and extends the parent's
//! path in one pass; and at a leaf, `UNWOUND_SUM` for every path element the
//! row does not follow (`one = 0`) collapses to one shared sum, while the
//! elements it follows run their recurrences side by side.
//!
//! Per-leaf pattern tables (the "Fast TreeSHAP v2" idea, Yang 2021): a
//! leaf's credit to the features on its path depends on the row only through
//! which of those features' conditions the row meets (its `one` bits), so
//! for every leaf and every such pattern the credits are computed once per
//! model with the same EXTEND/leaf arithmetic. A row then costs one pass
//! over a tree's splits (a bit per split: does the row go left) and, per
//! leaf, a pattern built from those bits and one table lookup. Rows run
//! tree by tree in blocks so a tree's table stays in cache. Trees whose
//! tables would be too large (over 64 splits, or long paths of distinct
//! features) fall back to the recursion above. With the tables, about 11×
//! Python xgboost's `pred_contribs` per CPU-second (bench/boost/shap.sh).
//!
//! On top: [`Contributions::top_reasons`] (the k largest contributions of a
//! row, worded "low sessions_7d: −0.80") and [`Contributions::importance`] /
//! [`ShapSummary`] (global importance by mean |SHAP|).

use std::fmt;

use arrow_array::RecordBatch;
use rayon::prelude::*;
use serde::Serialize;

use crate::binning::{FeatureMatrix, MISSING_BIN};
use crate::column::column_f32;
use crate::error::{BoostError, Result};
use crate::model::Model;
use crate::tree::Tree;

/// Rows per parallel task: evaluated tree by tree, so a tree's pattern
/// table is loaded once per block.
const CHUNK_ROWS: usize = 512;
/// Path feature id of the root element (the bias; never credited).
const NO_FEATURE: u32 = u32::MAX;

/// Per-row contributions: `values[row * (n_features + 1) + f]` is feature
/// `f`'s contribution to the row's margin; column `n_features` is the bias
/// (the expected margin, the same for every row).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Contributions {
    pub values: Vec<f32>,
    pub n_features: usize,
    /// Model feature names, in column order.
    pub feature_names: Vec<String>,
}

impl Contributions {
    pub fn n_rows(&self) -> usize {
        self.values.len() / (self.n_features + 1)
    }
    /// One row: `n_features` contributions then the bias.
    pub fn row(&self, r: usize) -> &[f32] {
        let w = self.n_features + 1;
        &self.values[r * w..(r + 1) * w]
    }
    /// The bias (expected margin) of row `r`.
    pub fn bias(&self, r: usize) -> f32 {
        self.row(r)[self.n_features]
    }
    /// Sum of a row's contributions and bias in f64: the row's margin.
    pub fn margin(&self, r: usize) -> f64 {
        self.row(r).iter().map(|&v| v as f64).sum()
    }

    /// The `k` contributions of row `r` with the largest |value| (zero ones
    /// are never reasons; ties go to the lower feature index), worded with
    /// the row's feature values (`feature_values`, in model feature order)
    /// against `reference`: see [`FeatureReference`] for low / high.
    pub fn top_reasons(&self, r: usize, k: usize, feature_values: &[f32], reference: &FeatureReference) -> Vec<Reason> {
        let row = self.row(r);
        let mut idx: Vec<usize> = (0..self.n_features).filter(|&f| row[f] != 0.0 && row[f].is_finite()).collect();
        idx.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()).then(a.cmp(&b)));
        idx.truncate(k);
        idx.into_iter()
            .map(|f| {
                let value = feature_values.get(f).copied().unwrap_or(f32::NAN);
                Reason {
                    feature: self.feature_names[f].clone(),
                    index: f,
                    value,
                    contribution: row[f],
                    level: reference.level(f, value),
                }
            })
            .collect()
    }

    /// Global importance: mean |contribution| per feature over these rows,
    /// highest first (ties by name). Use [`ShapSummary`] across batches.
    pub fn importance(&self) -> Vec<ShapImportance> {
        let mut s = ShapSummary::new(self.feature_names.clone());
        s.add(self);
        s.importance()
    }
}

/// Whether a feature value is low or high for its feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    High,
    /// Exactly at the reference median (or no reference for the feature).
    Typical,
    /// The value is missing (it followed the trees' default directions).
    Missing,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Low => "low",
            Level::High => "high",
            Level::Typical => "typical",
            Level::Missing => "missing",
        })
    }
}

/// One reason for a prediction. Displays as `low sessions_7d: −0.80`
/// (level, feature, signed contribution to the margin with two decimals and
/// a typographic minus).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    pub feature: String,
    /// Model feature index.
    pub index: usize,
    /// The row's value of the feature (NaN = missing).
    pub value: f32,
    /// Contribution to the margin (log-odds for `binary:logistic`).
    pub contribution: f32,
    pub level: Level,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.contribution < 0.0 { '\u{2212}' } else { '+' };
        write!(f, "{} {}: {sign}{:.2}", self.level, self.feature, self.contribution.abs())
    }
}

/// What "low" and "high" mean per feature: a weighted sample of reference
/// values. A value is low when it is below the reference median (more than
/// half of the weight lies above it), high when above it (more than half
/// lies below), typical otherwise: at the median, or between the two middle
/// values of an even reference. With the training data as reference this is
/// "below / above the training median"; a value most users share (0 sessions
/// where 60% of users have 0) is the median and reads as typical, so "low X"
/// always means X is below what is typical.
///
/// - [`FeatureReference::from_batches`] / [`FeatureReference::from_columns`]:
///   the training (or any reference) data; the preferred choice.
/// - [`FeatureReference::from_model`]: when no data is at hand, the model's
///   own split thresholds on the feature weighted by node cover: "low" then
///   means the value lies below most of the (cover-weighted) thresholds the
///   trees test the feature against, i.e. the row takes the `<` side of most
///   of the model's decisions on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureReference {
    /// Per model feature: sorted values and the cumulative weight up to and
    /// including each.
    features: Vec<(Vec<f32>, Vec<f64>)>,
}

/// Reference values kept per feature (an even-stride sample of the sorted data).
const REFERENCE_SAMPLE: usize = 4096;

impl FeatureReference {
    /// Reference values from the model's feature columns in `batches` (null
    /// and NaN ignored). A feature whose column is absent gets no reference
    /// (its values read as typical).
    pub fn from_batches(model: &Model, batches: &[RecordBatch]) -> Result<Self> {
        let mut per: Vec<Vec<f32>> = vec![Vec::new(); model.feature_names.len()];
        for b in batches {
            for (f, name) in model.feature_names.iter().enumerate() {
                if b.column_by_name(name).is_some() {
                    per[f].extend(column_f32(b, name)?.iter().copied().filter(|v| !v.is_nan()));
                }
            }
        }
        Ok(Self::from_values(per))
    }

    /// Reference values from columns in model feature order.
    pub fn from_columns(cols: &[&[f32]]) -> Self {
        Self::from_values(cols.iter().map(|c| c.iter().copied().filter(|v| !v.is_nan()).collect()).collect())
    }

    fn from_values(per: Vec<Vec<f32>>) -> Self {
        let features = per
            .into_iter()
            .map(|mut v| {
                v.sort_unstable_by(|a, b| a.total_cmp(b));
                if v.len() > REFERENCE_SAMPLE {
                    // Evenly spaced order statistics keep the quantiles.
                    let n = v.len();
                    v = (0..REFERENCE_SAMPLE).map(|i| v[(2 * i + 1) * n / (2 * REFERENCE_SAMPLE)]).collect();
                }
                let cum = (1..=v.len()).map(|i| i as f64).collect();
                (v, cum)
            })
            .collect();
        FeatureReference { features }
    }

    /// Reference from the model alone: each feature's split thresholds,
    /// weighted by the cover of the node that splits.
    pub fn from_model(model: &Model) -> Self {
        let mut per: Vec<Vec<(f32, f64)>> = vec![Vec::new(); model.feature_names.len()];
        for t in &model.trees {
            for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                per[n.feature as usize].push((n.threshold, (n.cover as f64).max(0.0)));
            }
        }
        let features = per
            .into_iter()
            .map(|mut v| {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut acc = 0.0;
                let cum = v
                    .iter()
                    .map(|&(_, w)| {
                        acc += w;
                        acc
                    })
                    .collect();
                (v.into_iter().map(|(x, _)| x).collect(), cum)
            })
            .collect();
        FeatureReference { features }
    }

    /// Low / high / typical / missing for value `v` of feature `f`.
    pub fn level(&self, f: usize, v: f32) -> Level {
        if v.is_nan() {
            return Level::Missing;
        }
        let Some((vals, cum)) = self.features.get(f) else { return Level::Typical };
        let total = cum.last().copied().unwrap_or(0.0);
        if total <= 0.0 {
            return Level::Typical;
        }
        let lo = vals.partition_point(|&x| x < v);
        let hi = vals.partition_point(|&x| x <= v);
        let below = if lo == 0 { 0.0 } else { cum[lo - 1] };
        let upto = if hi == 0 { 0.0 } else { cum[hi - 1] };
        // Weight strictly above / below v against half the total (2x: exact for integer weights).
        let above = total - upto;
        if 2.0 * above > total {
            Level::Low
        } else if 2.0 * below > total {
            Level::High
        } else {
            Level::Typical
        }
    }
}

/// A feature's global importance: mean |SHAP| over the rows seen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShapImportance {
    pub feature: String,
    pub mean_abs: f64,
}

/// Accumulates mean |SHAP| per feature over many [`Contributions`] (one per
/// batch), for global importance on data too large to hold at once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShapSummary {
    names: Vec<String>,
    abs_sums: Vec<f64>,
    rows: u64,
}

impl ShapSummary {
    pub fn new(feature_names: Vec<String>) -> Self {
        let n = feature_names.len();
        ShapSummary { names: feature_names, abs_sums: vec![0.0; n], rows: 0 }
    }
    /// Add every row of `c` (its features must be the summary's).
    pub fn add(&mut self, c: &Contributions) {
        assert_eq!(c.n_features, self.names.len(), "contributions of a different model");
        for r in 0..c.n_rows() {
            for (s, &v) in self.abs_sums.iter_mut().zip(c.row(r)) {
                *s += v.abs() as f64;
            }
        }
        self.rows += c.n_rows() as u64;
    }
    pub fn rows(&self) -> u64 {
        self.rows
    }
    /// Every feature's mean |SHAP|, highest first (ties by name).
    pub fn importance(&self) -> Vec<ShapImportance> {
        let n = self.rows.max(1) as f64;
        let mut out: Vec<ShapImportance> = self
            .names
            .iter()
            .zip(&self.abs_sums)
            .map(|(f, &s)| ShapImportance { feature: f.clone(), mean_abs: s / n })
            .collect();
        out.sort_by(|a, b| b.mean_abs.total_cmp(&a.mean_abs).then_with(|| a.feature.cmp(&b.feature)));
        out
    }
}

// ---------------------------------------------------------------------------
// The algorithm.

/// A node as TreeSHAP reads it.
#[derive(Clone, Copy, Debug)]
struct SNode {
    /// Children (`u32::MAX` for a leaf).
    left: u32,
    right: u32,
    feature: u32,
    threshold: f32,
    default_left: bool,
    /// cover(left) / cover(node), cover(right) / cover(node).
    left_frac: f64,
    right_frac: f64,
    /// Leaf value.
    value: f64,
}

impl SNode {
    #[inline]
    fn is_leaf(&self) -> bool {
        self.left == u32::MAX
    }
}

/// Every tree's nodes in one array, with cover ratios precomputed.
#[derive(Clone, Debug)]
struct ShapForest {
    nodes: Vec<SNode>,
    roots: Vec<u32>,
    /// Longest root-to-leaf path (edges) over all trees.
    max_depth: usize,
    /// Σ over trees of the expected value, in f64.
    expected: f64,
    /// `coef[l][i] = [(l+1)/(i+1), (l-i)/(l+1)]`: the constant factors of
    /// UNWIND on a path whose last index is `l`, so the hot loops multiply
    /// instead of divide.
    coef: Vec<Vec<[f64; 2]>>,
    /// `ext[l][j] = [(l-j)/(l+1), j/(l+1)]`: EXTEND's factors for a new last index `l`.
    ext: Vec<Vec<[f64; 2]>>,
}

impl ShapForest {
    fn new(trees: &[Tree]) -> Result<Self> {
        let mut f = ShapForest { nodes: Vec::new(), roots: Vec::new(), max_depth: 0, expected: 0.0, coef: Vec::new(), ext: Vec::new() };
        for (ti, t) in trees.iter().enumerate() {
            if t.nodes.is_empty() {
                continue;
            }
            let root = &t.nodes[0];
            if !(root.is_leaf() || root.cover > 0.0 && root.cover.is_finite()) {
                return Err(BoostError::InvalidParam {
                    name: "model",
                    reason: format!(
                        "tree {ti} has no node covers (sum_hessian = {}); TreeSHAP needs them",
                        root.cover
                    ),
                });
            }
            let off = f.nodes.len() as u32;
            for n in &t.nodes {
                let frac = |c: usize| {
                    let (p, c) = (n.cover as f64, t.nodes[c].cover as f64);
                    if p > 0.0 && c > 0.0 { c / p } else { 0.0 }
                };
                f.nodes.push(if n.is_leaf() {
                    SNode {
                        left: u32::MAX,
                        right: u32::MAX,
                        feature: 0,
                        threshold: 0.0,
                        default_left: false,
                        left_frac: 0.0,
                        right_frac: 0.0,
                        value: n.threshold as f64,
                    }
                } else {
                    SNode {
                        left: off + n.left as u32,
                        right: off + n.right as u32,
                        feature: n.feature,
                        threshold: n.threshold,
                        default_left: n.default_left,
                        left_frac: frac(n.left as usize),
                        right_frac: frac(n.right as usize),
                        value: 0.0,
                    }
                });
            }
            f.roots.push(off);
            f.max_depth = f.max_depth.max(t.depth());
            // Expected value: Σ leaf · Π cover ratios (iterative; loaded trees may be deep).
            let mut e = 0.0;
            let mut stack = vec![(off, 1.0f64)];
            while let Some((i, w)) = stack.pop() {
                let n = f.nodes[i as usize];
                if n.is_leaf() {
                    e += w * n.value;
                } else {
                    stack.push((n.left, w * n.left_frac));
                    stack.push((n.right, w * n.right_frac));
                }
            }
            f.expected += e;
        }
        f.coef = (0..=f.max_depth + 1)
            .map(|l| {
                let lp1 = (l + 1) as f64;
                (0..l).map(|i| [lp1 / (i + 1) as f64, (l - i) as f64 / lp1]).collect()
            })
            .collect();
        f.ext = (0..=f.max_depth + 1)
            .map(|l| {
                let lp1 = (l + 1) as f64;
                (0..=l).map(|j| [(l - j) as f64 / lp1, j as f64 / lp1]).collect()
            })
            .collect();
        Ok(f)
    }

    /// Path buffer length: the segments of one root-to-leaf recursion.
    fn path_len(&self) -> usize {
        let d = self.max_depth + 1;
        d * (d + 1) / 2 + 1
    }

    /// Add row `x`'s contributions (all trees) to `phi`, by the recursion alone.
    #[cfg(test)]
    fn add_row(&self, x: &[f32], phi: &mut [f64], path: &mut [PathElem]) {
        for &root in &self.roots {
            self.recurse(root, x, phi, path, 0, 1.0, 1.0, NO_FEATURE);
        }
    }

    /// Algorithm 2's RECURSE. `path[..l]` is the parent's path; this node's
    /// path is built in `path[l..]`, so the parent's survives for its other
    /// child.
    #[allow(clippy::too_many_arguments)]
    fn recurse(&self, j: u32, x: &[f32], phi: &mut [f64], path: &mut [PathElem], l: usize, pz: f64, po: f64, pi: u32) {
        let (parent, m) = path.split_at_mut(l);
        extend(parent, m, &self.ext[l], pz, po, pi);
        let n = &self.nodes[j as usize];
        if n.is_leaf() {
            leaf(m, l, &self.coef[l], n.value, phi);
            return;
        }
        let v = x[n.feature as usize];
        let go_left = if v.is_nan() { n.default_left } else { v < n.threshold };
        let (hot, cold, hot_frac, cold_frac) =
            if go_left { (n.left, n.right, n.left_frac, n.right_frac) } else { (n.right, n.left, n.right_frac, n.left_frac) };
        let mut len = l + 1;
        let (mut iz, mut io) = (1.0, 1.0);
        if let Some(k) = (1..len).find(|&k| m[k].feature == n.feature) {
            iz = m[k].zero;
            io = m[k].one;
            unwind(m, l, k, &self.coef[l]);
            len -= 1;
        }
        // A branch where both fractions are zero adds nothing (and unwinding
        // it later would divide by zero): skip it.
        if iz * hot_frac != 0.0 || io != 0.0 {
            self.recurse(hot, x, phi, m, len, iz * hot_frac, io, n.feature);
        }
        if iz * cold_frac != 0.0 {
            self.recurse(cold, x, phi, m, len, iz * cold_frac, 0.0, n.feature);
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct PathElem {
    feature: u32,
    /// Fraction of the "feature unknown" weight that flows along the path.
    zero: f64,
    /// 1 when the row itself follows the path, else 0 (never anything else:
    /// it starts at 1 and is only ever copied or set to 0).
    one: f64,
    /// Permutation weight of subsets of size = this element's index.
    w: f64,
}

/// EXTEND: `m` = the path `parent` (last index `l - 1`) with (pi, pz, po)
/// appended at index `l`, and the permutation weights updated:
/// `w'_j = pz w_j (l-j)/(l+1) + po w_{j-1} j/(l+1)`. Copying and extending in
/// one pass keeps the parent's path intact for the node's other child.
/// `ext` is `ShapForest::ext[l]`.
#[inline]
fn extend(parent: &[PathElem], m: &mut [PathElem], ext: &[[f64; 2]], pz: f64, po: f64, pi: u32) {
    let l = parent.len();
    if l == 0 {
        m[0] = PathElem { feature: pi, zero: pz, one: po, w: 1.0 };
        return;
    }
    m[0] = PathElem { w: pz * parent[0].w * ext[0][0], ..parent[0] };
    for j in 1..l {
        m[j] = PathElem { w: pz * parent[j].w * ext[j][0] + po * parent[j - 1].w * ext[j][1], ..parent[j] };
    }
    m[l] = PathElem { feature: pi, zero: pz, one: po, w: po * parent[l - 1].w * ext[l][1] };
}

/// UNWIND: remove element `k` from the path `m[..=l]` (the inverse of
/// EXTEND). `coef` is `ShapForest::coef[l]`.
#[inline]
fn unwind(m: &mut [PathElem], l: usize, k: usize, coef: &[[f64; 2]]) {
    let (one, zero) = (m[k].one, m[k].zero);
    if one != 0.0 {
        // one == 1: peel the extension's "one" term off from the top.
        let mut next = m[l].w;
        for i in (0..l).rev() {
            let t = m[i].w;
            m[i].w = next * coef[i][0];
            next = t - m[i].w * zero * coef[i][1];
        }
    } else {
        // w_i = w'_i (l+1) / (zero (l-i)).
        let r = 1.0 / zero;
        for i in 0..l {
            m[i].w *= coef[l - 1 - i][0] * r;
        }
    }
    for i in k..l {
        m[i].feature = m[i + 1].feature;
        m[i].zero = m[i + 1].zero;
        m[i].one = m[i + 1].one;
    }
}

/// Hot path elements whose unwound sums run side by side (independent
/// recurrences the CPU overlaps, and the compiler vectorises).
const LANES: usize = 4;

/// The leaf step of RECURSE: credit every path feature (`m[1..=l]`) with
/// `UNWOUND_SUM(m, k) · (one - zero) · value`. `coef` is `ShapForest::coef[l]`.
///
/// `UNWOUND_SUM` (the weights `UNWIND(m, k)` would leave, summed) splits by
/// `one`, which is 0 or 1:
/// - `one = 0`: the sum is `S0 / zero` with `S0 = Σ_i w_i (l+1)/(l-i)` the
///   same for every such k, so the credit `S0 / zero · (0 - zero) · value`
///   is `-S0 · value`: computed once, no division.
/// - `one = 1`: UNWIND's O(l) recurrence, summed on the way; up to [`LANES`]
///   elements at a time.
#[inline]
fn leaf(m: &[PathElem], l: usize, coef: &[[f64; 2]], value: f64, phi: &mut [f64]) {
    if l == 0 {
        return;
    }
    let mut s0 = 0.0;
    for (i, e) in m[..l].iter().enumerate() {
        s0 += e.w * coef[l - 1 - i][0];
    }
    let cold = -s0 * value;
    let mut zs = [0.0f64; LANES];
    let mut fs = [0u32; LANES];
    let mut nh = 0;
    for e in &m[1..=l] {
        if e.one == 0.0 {
            phi[e.feature as usize] += cold;
        } else {
            zs[nh] = e.zero;
            fs[nh] = e.feature;
            nh += 1;
            if nh == LANES {
                hot_sums(m, l, coef, value, &zs, &fs, nh, phi);
                nh = 0;
            }
        }
    }
    if nh > 0 {
        hot_sums(m, l, coef, value, &zs, &fs, nh, phi);
    }
}

#[inline]
#[allow(clippy::too_many_arguments)]
fn hot_sums(m: &[PathElem], l: usize, coef: &[[f64; 2]], value: f64, zs: &[f64; LANES], fs: &[u32; LANES], nh: usize, phi: &mut [f64]) {
    let mut next = [m[l].w; LANES];
    let mut total = [0.0f64; LANES];
    for i in (0..l).rev() {
        let [a, b] = coef[i];
        let w = m[i].w;
        for j in 0..LANES {
            let t = next[j] * a;
            total[j] += t;
            next[j] = w - t * zs[j] * b;
        }
    }
    for j in 0..nh {
        phi[fs[j] as usize] += total[j] * (1.0 - zs[j]) * value;
    }
}

// ---------------------------------------------------------------------------
// Model entry points.

impl Model {
    /// The expected margin: base margin plus every tree's cover-weighted
    /// mean leaf value (the bias column of [`Model::contributions`]).
    pub fn expected_margin(&self) -> Result<f64> {
        Ok(self.base_margin() as f64 + ShapForest::new(&self.trees)?.expected)
    }

    /// Exact TreeSHAP contributions for every row of `batch`. Columns are
    /// found by name like [`Model::predict_batch`]: a column the model splits
    /// on must be present; null and NaN are missing.
    pub fn contributions(&self, batch: &RecordBatch) -> Result<Contributions> {
        let owned = self.feature_columns(batch)?;
        let cols: Vec<Option<&[f32]>> = owned.iter().map(|c| c.as_deref()).collect();
        self.contributions_columns(&cols, batch.num_rows())
    }

    /// Contributions from f32 columns in model feature order (`None` = all missing).
    pub fn contributions_columns(&self, cols: &[Option<&[f32]>], n_rows: usize) -> Result<Contributions> {
        let nf = self.feature_names.len();
        if cols.len() != nf {
            return Err(BoostError::Shape(format!("{} columns for a model of {nf} features", cols.len())));
        }
        if let Some(f) = cols.iter().position(|c| c.is_some_and(|c| c.len() < n_rows)) {
            return Err(BoostError::Shape(format!("column `{}` has fewer than {n_rows} rows", self.feature_names[f])));
        }
        self.shap_rows(n_rows, |r, row| {
            for (v, c) in row.iter_mut().zip(cols) {
                *v = c.map_or(f32::NAN, |c| c[r]);
            }
        })
    }

    /// Contributions for the rows of a binned matrix. The matrix must be
    /// binned with the cuts this model was trained on (its
    /// `TrainedModel::cuts`): every split threshold must be one of them, or
    /// bins could not say which way a row goes (an error says which).
    pub fn contributions_matrix(&self, x: &FeatureMatrix) -> Result<Contributions> {
        if x.names != self.feature_names {
            return Err(BoostError::Shape("the matrix's features differ from the model's".into()));
        }
        for t in &self.trees {
            for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                let f = n.feature as usize;
                if x.cuts[f].cuts.binary_search_by(|c| c.total_cmp(&n.threshold)).is_err() {
                    return Err(BoostError::Shape(format!(
                        "split `{} < {}` is not a cut of the matrix: bin it with the model's training cuts",
                        self.feature_names[f], n.threshold
                    )));
                }
            }
        }
        // Bin b holds [cuts[b-1], cuts[b]): its lower edge (or -inf) goes the
        // same way as every value of the bin at every cut-point threshold.
        self.shap_rows(x.n_rows, |r, row| {
            for (f, v) in row.iter_mut().enumerate() {
                let b = x.bin(f, r);
                *v = match b {
                    MISSING_BIN => f32::NAN,
                    0 => f32::NEG_INFINITY,
                    b => x.cuts[f].cuts[b as usize - 1],
                };
            }
        })
    }

    fn shap_rows(&self, n_rows: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Result<Contributions> {
        let nf = self.feature_names.len();
        let forest = ShapForest::new(&self.trees)?;
        let tables = PatternTables::new(&forest);
        let bias = (self.base_margin() as f64 + forest.expected) as f32;
        let w = nf + 1;
        let mut values = vec![0f32; n_rows * w];
        values.par_chunks_mut(CHUNK_ROWS * w).enumerate().for_each(|(ci, out)| {
            let rows = out.len() / w;
            let mut xs = vec![f32::NAN; rows * nf];
            for (k, x) in xs.chunks_mut(nf.max(1)).enumerate().take(rows) {
                fill(ci * CHUNK_ROWS + k, x);
            }
            let mut phi = vec![0f64; rows * nf];
            let mut path = vec![PathElem::default(); forest.path_len()];
            // A model of no features has only a bias.
            let roots = if nf == 0 { &[][..] } else { &forest.roots[..] };
            for (t, &root) in roots.iter().enumerate() {
                match &tables.trees[t] {
                    Some(table) => table.add_rows(&xs, &mut phi, nf),
                    None => {
                        for k in 0..rows {
                            let x = &xs[k * nf..(k + 1) * nf];
                            forest.recurse(root, x, &mut phi[k * nf..(k + 1) * nf], &mut path, 0, 1.0, 1.0, NO_FEATURE);
                        }
                    }
                }
            }
            for (k, o) in out.chunks_mut(w).enumerate() {
                for (o, &p) in o.iter_mut().zip(&phi[k * nf..(k + 1) * nf]) {
                    *o = p as f32;
                }
                o[nf] = bias;
            }
        });
        Ok(Contributions { values, n_features: nf, feature_names: self.feature_names.clone() })
    }
}

// ---------------------------------------------------------------------------
// Pattern tables.

/// Largest number of distinct features on one root-to-leaf path that gets a
/// table (2^k patterns per leaf).
const MAX_PATH_FEATURES: usize = 10;
/// Largest table per tree, in credits (f64): 64 leaves x 64 patterns x 6 is 24,576.
const MAX_TABLE_CREDITS: usize = 1 << 18;

/// Every tree's table, or `None` where the tree runs the recursion.
struct PatternTables {
    trees: Vec<Option<PatternTree>>,
}

impl PatternTables {
    fn new(forest: &ShapForest) -> Self {
        PatternTables { trees: forest.roots.iter().map(|&root| PatternTree::new(forest, root)).collect() }
    }
}

/// One split as the row pass reads it; its index is its bit in the row's
/// direction mask.
#[derive(Clone, Copy)]
struct Split {
    feature: u32,
    threshold: f32,
    default_left: bool,
}

/// One distinct feature on a leaf's path: the row meets the path's
/// conditions on it when, on every split of `splits`, its direction bit
/// equals the bit in `left`.
#[derive(Clone, Copy)]
struct Slot {
    feature: u32,
    splits: u64,
    left: u64,
}

#[derive(Clone, Copy)]
struct LeafPatterns {
    /// The leaf's slots: `slots[first..first + len]`.
    first: u32,
    len: u32,
    /// Credits of pattern `p` (bit s = the row meets slot s) for slot s at
    /// `credits[offset + p * len + s]`.
    offset: u32,
}

struct PatternTree {
    splits: Vec<Split>,
    slots: Vec<Slot>,
    leaves: Vec<LeafPatterns>,
    credits: Vec<f64>,
}

impl PatternTree {
    /// The tree's table, or `None` when it has more than 64 splits or its
    /// table would pass the size limits.
    fn new(forest: &ShapForest, root: u32) -> Option<Self> {
        let mut t = PatternTree { splits: Vec::new(), slots: Vec::new(), leaves: Vec::new(), credits: Vec::new() };
        // Depth-first; each entry carries the path to it as (split bit, went left, feature, cover fraction).
        let mut stack = vec![(root, Vec::<(u32, bool, u32, f64)>::new())];
        while let Some((j, path)) = stack.pop() {
            let n = &forest.nodes[j as usize];
            if n.is_leaf() {
                t.add_leaf(forest, &path, n.value)?;
                continue;
            }
            let bit = t.splits.len() as u32;
            if bit >= 64 {
                return None;
            }
            t.splits.push(Split { feature: n.feature, threshold: n.threshold, default_left: n.default_left });
            let mut right = path.clone();
            right.push((bit, false, n.feature, n.right_frac));
            let mut left = path;
            left.push((bit, true, n.feature, n.left_frac));
            stack.push((n.right, right));
            stack.push((n.left, left));
        }
        Some(t)
    }

    /// Tabulate a leaf: per pattern, the credits RECURSE's leaf step gives
    /// each distinct path feature when the row meets exactly the pattern's
    /// slots. The path's repeated features merge the way UNWIND merges them:
    /// zero fractions multiply, and the row must meet every condition.
    fn add_leaf(&mut self, forest: &ShapForest, path: &[(u32, bool, u32, f64)], value: f64) -> Option<()> {
        let first = self.slots.len();
        let mut zeros: Vec<f64> = Vec::new();
        for &(bit, left, feature, frac) in path {
            let mask = 1u64 << bit;
            match self.slots[first..].iter().position(|s| s.feature == feature) {
                Some(s) => {
                    let slot = &mut self.slots[first + s];
                    slot.splits |= mask;
                    if left {
                        slot.left |= mask;
                    }
                    zeros[s] *= frac;
                }
                None => {
                    self.slots.push(Slot { feature, splits: mask, left: if left { mask } else { 0 } });
                    zeros.push(frac);
                }
            }
        }
        let k = zeros.len();
        if k > MAX_PATH_FEATURES || self.credits.len() + (k << k) > MAX_TABLE_CREDITS {
            return None;
        }
        let offset = self.credits.len();
        let mut m = vec![PathElem::default(); k + 1];
        let mut scratch = vec![PathElem::default(); k + 1];
        let mut credit = vec![0f64; k];
        for pattern in 0..1usize << k {
            extend(&[], &mut m[..1], &forest.ext[0], 1.0, 1.0, NO_FEATURE);
            for (s, &z) in zeros.iter().enumerate() {
                let l = s + 1;
                scratch[..l].copy_from_slice(&m[..l]);
                let one = ((pattern >> s) & 1) as f64;
                // The slot index stands in for the feature, so `leaf` credits slots.
                extend(&scratch[..l], &mut m[..=l], &forest.ext[l], z, one, s as u32);
            }
            credit.fill(0.0);
            if k > 0 {
                leaf(&m, k, &forest.coef[k], value, &mut credit);
            }
            self.credits.extend_from_slice(&credit);
        }
        self.leaves.push(LeafPatterns { first: first as u32, len: k as u32, offset: offset as u32 });
        Some(())
    }

    /// Add this tree's contributions for every row of `xs` (rows of `nf`
    /// values) to `phi` (rows of `nf` credits).
    fn add_rows(&self, xs: &[f32], phi: &mut [f64], nf: usize) {
        for (x, phi) in xs.chunks_exact(nf).zip(phi.chunks_exact_mut(nf)) {
            let mut dirs = 0u64;
            for (i, s) in self.splits.iter().enumerate() {
                let v = x[s.feature as usize];
                let left = if v.is_nan() { s.default_left } else { v < s.threshold };
                dirs |= (left as u64) << i;
            }
            for leaf in &self.leaves {
                let slots = &self.slots[leaf.first as usize..(leaf.first + leaf.len) as usize];
                let mut pattern = 0usize;
                for (s, slot) in slots.iter().enumerate() {
                    pattern |= ((((dirs ^ slot.left) & slot.splits) == 0) as usize) << s;
                }
                let at = leaf.offset as usize + pattern * slots.len();
                for (slot, &c) in slots.iter().zip(&self.credits[at..at + slots.len()]) {
                    phi[slot.feature as usize] += c;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Objective;
    use crate::tree::Node;

    fn split(feature: u32, threshold: f32, left: i32, right: i32, cover: f32, default_left: bool) -> Node {
        Node { left, right, parent: -1, feature, threshold, split_bin: 0, default_left, gain: 1.0, cover, base_weight: 0.0 }
    }

    /// Brute force: Shapley values of the cover-weighted conditional
    /// expectation game, over every subset.
    fn brute_force(t: &Tree, x: &[f32], nf: usize) -> Vec<f64> {
        fn value(t: &Tree, i: usize, x: &[f32], s: u32) -> f64 {
            let n = &t.nodes[i];
            if n.is_leaf() {
                return n.threshold as f64;
            }
            let f = n.feature as usize;
            if s & (1 << f) != 0 {
                let v = x[f];
                let left = if v.is_nan() { n.default_left } else { v < n.threshold };
                value(t, if left { n.left } else { n.right } as usize, x, s)
            } else {
                let (l, r) = (&t.nodes[n.left as usize], &t.nodes[n.right as usize]);
                (l.cover as f64 * value(t, n.left as usize, x, s) + r.cover as f64 * value(t, n.right as usize, x, s))
                    / n.cover as f64
            }
        }
        let fact = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
        let mut phi = vec![0.0; nf];
        for (f, p) in phi.iter_mut().enumerate() {
            for s in 0u32..(1 << nf) {
                if s & (1 << f) != 0 {
                    continue;
                }
                let k = s.count_ones() as usize;
                let w = fact(k) * fact(nf - k - 1) / fact(nf);
                *p += w * (value(t, 0, x, s | (1 << f)) - value(t, 0, x, s));
            }
        }
        phi
    }

    /// A random full tree of `depth` over `nf` features (features repeat
    /// along paths), covers consistent, random default directions.
    fn random_tree(depth: usize, nf: usize, seed: u64) -> Tree {
        let mut rng = crate::rng::Rng::new(seed);
        let mut nodes = vec![Node::leaf(0.0, 1000.0, -1)];
        let mut frontier = vec![(0usize, 0usize)];
        while let Some((i, d)) = frontier.pop() {
            let cover = nodes[i].cover;
            if d == depth || (d > 0 && rng.next_f64() < 0.2) {
                nodes[i].threshold = (rng.next_f64() * 4.0 - 2.0) as f32;
                continue;
            }
            let share = (0.05 + 0.9 * rng.next_f64()) as f32;
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.push(Node::leaf(0.0, cover * share, i as i32));
            nodes.push(Node::leaf(0.0, cover * (1.0 - share), i as i32));
            let p = nodes[i].parent;
            nodes[i] = split(rng.below(nf) as u32, rng.next_f64() as f32, l as i32, r as i32, cover, rng.next_f64() < 0.5);
            nodes[i].parent = p;
            frontier.push((l, d + 1));
            frontier.push((r, d + 1));
        }
        Tree { nodes }
    }

    fn random_row(nf: usize, rng: &mut crate::rng::Rng) -> Vec<f32> {
        (0..nf).map(|_| if rng.next_f64() < 0.2 { f32::NAN } else { rng.next_f64() as f32 }).collect()
    }

    #[test]
    fn treeshap_equals_brute_force_shapley_values() {
        let mut rng = crate::rng::Rng::new(7);
        for seed in 0..40 {
            let nf = 2 + (seed as usize % 5);
            let depth = 1 + (seed as usize % 7);
            let t = random_tree(depth, nf, seed);
            let forest = ShapForest::new(std::slice::from_ref(&t)).unwrap();
            let mut path = vec![PathElem::default(); forest.path_len()];
            for _ in 0..10 {
                let x = random_row(nf, &mut rng);
                let mut phi = vec![0.0; nf];
                forest.add_row(&x, &mut phi, &mut path);
                let want = brute_force(&t, &x, nf);
                for f in 0..nf {
                    assert!((phi[f] - want[f]).abs() < 1e-9, "seed {seed} feature {f}: {} vs {}", phi[f], want[f]);
                }
                let sum: f64 = phi.iter().sum::<f64>() + forest.expected;
                assert!((sum - t.predict_row(&x) as f64).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn pattern_tables_equal_the_recursion() {
        let mut rng = crate::rng::Rng::new(11);
        let mut tabled = 0;
        for seed in 0..60 {
            let nf = 2 + (seed as usize % 6);
            let t = random_tree(1 + (seed as usize % 8), nf, 100 + seed);
            let forest = ShapForest::new(std::slice::from_ref(&t)).unwrap();
            let Some(table) = PatternTree::new(&forest, forest.roots[0]) else { continue };
            tabled += 1;
            let mut path = vec![PathElem::default(); forest.path_len()];
            let rows: Vec<Vec<f32>> = (0..20).map(|_| random_row(nf, &mut rng)).collect();
            let xs: Vec<f32> = rows.concat();
            let mut phi = vec![0.0; xs.len()];
            table.add_rows(&xs, &mut phi, nf);
            for (r, x) in rows.iter().enumerate() {
                let mut want = vec![0.0; nf];
                forest.add_row(x, &mut want, &mut path);
                for f in 0..nf {
                    let got = phi[r * nf + f];
                    assert!((got - want[f]).abs() < 1e-9, "seed {seed} row {r} feature {f}: {got} vs {}", want[f]);
                }
            }
        }
        assert!(tabled > 30, "only {tabled} trees got a table");
    }

    #[test]
    fn trees_too_large_for_a_table_use_the_recursion() {
        // Depth 8, no early leaves: 255 splits, over the 64 a direction mask holds.
        let mut t = random_tree(8, 5, 9);
        while t.nodes.iter().filter(|n| !n.is_leaf()).count() <= 64 {
            t = random_tree(8, 5, t.nodes.len() as u64);
        }
        let forest = ShapForest::new(std::slice::from_ref(&t)).unwrap();
        assert!(PatternTree::new(&forest, forest.roots[0]).is_none());
    }

    #[test]
    fn matrix_contributions_equal_raw_value_contributions() {
        use crate::{Params, train_batches};
        use arrow_array::{ArrayRef, Float32Array};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let mut rng = crate::rng::Rng::new(3);
        let n = 2000;
        let cols: Vec<Vec<f32>> = (0..4).map(|_| (0..n).map(|_| if rng.next_f64() < 0.1 { f32::NAN } else { (rng.next_f64() * 10.0).floor() as f32 }).collect()).collect();
        let y: Vec<f32> = (0..n).map(|i| ((cols[0][i] + cols[1][i].max(3.0)) > 9.0) as u8 as f32).collect();
        let mut fields = vec![];
        let mut arrays: Vec<ArrayRef> = vec![];
        for (i, c) in cols.iter().enumerate() {
            fields.push(Field::new(format!("x{i}"), DataType::Float32, true));
            arrays.push(Arc::new(Float32Array::from(c.clone())));
        }
        fields.push(Field::new("label", DataType::Float32, false));
        arrays.push(Arc::new(Float32Array::from(y)));
        let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
        let tm = train_batches(std::slice::from_ref(&b), "label", None, &Params { n_rounds: 10, max_depth: 4, ..Params::default() }).unwrap();
        let names: Vec<String> = (0..4).map(|i| format!("x{i}")).collect();
        let x = FeatureMatrix::with_cuts(std::slice::from_ref(&b), &names, tm.cuts.clone()).unwrap();
        let a = tm.model.contributions_matrix(&x).unwrap();
        let c = tm.model.contributions(&b).unwrap();
        assert_eq!(a, c);
        assert_eq!(tm.model.objective(), Objective::BinaryLogistic);
    }
}
