//! Gradient histograms: per feature, per bin, the sums of gradient and hessian
//! of the rows in a node. Built in parallel over features (each thread owns
//! whole features, so sums are added in one fixed order: deterministic for any
//! thread count).

use rayon::prelude::*;

use crate::binning::MISSING_BIN;

/// Bins per feature in a histogram: 255 value bins + the missing bin.
pub(crate) const BINS: usize = 256;
/// (gradient sum, hessian sum).
pub(crate) type Bin = [f64; 2];

/// Reuses histogram buffers: a fresh ~300 KB allocation per node would hit
/// mmap and page faults every time.
pub(crate) struct HistPool {
    free: Vec<Vec<Bin>>,
    len: usize,
}

impl HistPool {
    pub fn new(n_features: usize) -> Self {
        HistPool { free: Vec::new(), len: n_features * BINS }
    }
    /// A buffer whose active features are zero (others hold stale values that
    /// are never read).
    pub fn get(&mut self, active: &[usize]) -> Vec<Bin> {
        match self.free.pop() {
            Some(mut h) => {
                for &f in active {
                    h[f * BINS..(f + 1) * BINS].fill([0.0; 2]);
                }
                h
            }
            None => vec![[0.0; 2]; self.len],
        }
    }
    pub fn put(&mut self, h: Vec<Bin>) {
        self.free.push(h);
    }
}

/// Work below which threading costs more than it saves.
const PAR_MIN_WORK: usize = 1 << 15;

/// Fill `hist` (zeroed for `active`) from `rows`. `all_rows` means `rows` is
/// exactly 0..n in order, so columns and gradients are read sequentially.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    hist: &mut [Bin],
    cols: &[Vec<u8>],
    active_mask: &[bool],
    n_active: usize,
    rows: &[u32],
    gh: &[[f32; 2]],
    ordered: &mut Vec<[f32; 2]>,
    all_rows: bool,
) {
    let ordered: &[[f32; 2]] = if all_rows {
        gh
    } else {
        // Gather gradients once into row order of the node; every feature then
        // reads them sequentially.
        ordered.clear();
        ordered.extend(rows.iter().map(|&r| gh[r as usize]));
        ordered
    };
    let work = rows.len() * n_active;
    let per_feature = |(f, h): (usize, &mut [Bin])| {
        if !active_mask[f] {
            return;
        }
        let h: &mut [Bin; BINS] = h.try_into().expect("histogram chunk is BINS long");
        if all_rows {
            accumulate_all(h, &cols[f], ordered);
        } else {
            accumulate_rows(h, &cols[f], rows, ordered);
        }
    };
    if work >= PAR_MIN_WORK {
        hist.par_chunks_mut(BINS).enumerate().for_each(per_feature);
    } else {
        hist.chunks_mut(BINS).enumerate().for_each(per_feature);
    }
}

/// Below this many rows one f64 histogram is enough. Above it, rows are
/// spread over [`LANES`] partial f32 histograms: features with few distinct
/// values send consecutive rows to the same bin, and each add would wait for
/// the previous one (a store-to-load dependency); independent lanes hide that
/// latency, and 8-byte f32 bins halve the cache traffic. Lanes are flushed
/// into the f64 histogram every [`FLUSH_ROWS`] rows, so an f32 lane never sums
/// more than a few thousand values (relative error ~1e-6, far below what
/// changes a split).
const MULTI_MIN_ROWS: usize = 2048;
const LANES: usize = 4;
const FLUSH_ROWS: usize = 1 << 14;

type Lane = [[f32; 2]; BINS];

#[inline(always)]
fn add(e: &mut Bin, g: &[f32; 2]) {
    e[0] += g[0] as f64;
    e[1] += g[1] as f64;
}

#[inline(always)]
fn add32(e: &mut [f32; 2], g: &[f32; 2]) {
    e[0] += g[0];
    e[1] += g[1];
}

fn flush_lanes(h: &mut [Bin; BINS], lanes: &mut [Lane; LANES]) {
    for b in 0..BINS {
        let mut s = h[b];
        for l in lanes.iter_mut() {
            s[0] += l[b][0] as f64;
            s[1] += l[b][1] as f64;
            l[b] = [0.0; 2];
        }
        h[b] = s;
    }
}

#[inline(never)]
fn accumulate_all(h: &mut [Bin; BINS], col: &[u8], gh: &[[f32; 2]]) {
    let n = col.len().min(gh.len());
    let (col, gh) = (&col[..n], &gh[..n]);
    if n < MULTI_MIN_ROWS {
        for (&b, g) in col.iter().zip(gh) {
            add(&mut h[b as usize], g);
        }
        return;
    }
    let mut lanes = [[[0.0f32; 2]; BINS]; LANES];
    for (col, gh) in col.chunks(FLUSH_ROWS).zip(gh.chunks(FLUSH_ROWS)) {
        let mut cc = col.chunks_exact(LANES);
        let mut gc = gh.chunks_exact(LANES);
        for (c, g) in (&mut cc).zip(&mut gc) {
            for k in 0..LANES {
                add32(&mut lanes[k][c[k] as usize], &g[k]);
            }
        }
        for (&b, g) in cc.remainder().iter().zip(gc.remainder()) {
            add(&mut h[b as usize], g);
        }
        flush_lanes(h, &mut lanes);
    }
}

#[inline(never)]
fn accumulate_rows(h: &mut [Bin; BINS], col: &[u8], rows: &[u32], ordered: &[[f32; 2]]) {
    let ordered = &ordered[..rows.len()];
    // SAFETY (all get_unchecked below): row numbers come from 0..n_rows of
    // this matrix (the index array is built that way) and every column has
    // n_rows entries.
    if rows.len() < MULTI_MIN_ROWS {
        for (&r, g) in rows.iter().zip(ordered) {
            let b = unsafe { *col.get_unchecked(r as usize) };
            add(&mut h[b as usize], g);
        }
        return;
    }
    let mut lanes = [[[0.0f32; 2]; BINS]; LANES];
    for (rows, ordered) in rows.chunks(FLUSH_ROWS).zip(ordered.chunks(FLUSH_ROWS)) {
        let mut rc = rows.chunks_exact(LANES);
        let mut gc = ordered.chunks_exact(LANES);
        for (r, g) in (&mut rc).zip(&mut gc) {
            for k in 0..LANES {
                let b = unsafe { *col.get_unchecked(r[k] as usize) };
                add32(&mut lanes[k][b as usize], &g[k]);
            }
        }
        for (&r, g) in rc.remainder().iter().zip(gc.remainder()) {
            let b = unsafe { *col.get_unchecked(r as usize) };
            add(&mut h[b as usize], g);
        }
        flush_lanes(h, &mut lanes);
    }
}

/// `parent -= child` for the active features: the sibling's histogram.
pub(crate) fn subtract(parent: &mut [Bin], child: &[Bin], active: &[usize]) {
    for &f in active {
        let r = f * BINS..(f + 1) * BINS;
        for (p, c) in parent[r.clone()].iter_mut().zip(&child[r]) {
            p[0] -= c[0];
            p[1] -= c[1];
        }
    }
}

/// Regularisation and limits for split search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SplitParams {
    pub lambda: f64,
    pub alpha: f64,
    pub gamma: f64,
    pub min_child_weight: f64,
}

impl SplitParams {
    #[inline]
    fn thresh_l1(&self, g: f64) -> f64 {
        if g > self.alpha {
            g - self.alpha
        } else if g < -self.alpha {
            g + self.alpha
        } else {
            0.0
        }
    }
    /// Structure score of a node (XGBoost's CalcGain without max_delta_step).
    #[inline]
    pub fn gain(&self, s: Bin) -> f64 {
        let t = self.thresh_l1(s[0]);
        t * t / (s[1] + self.lambda)
    }
    /// Optimal leaf weight (before eta).
    #[inline]
    pub fn weight(&self, s: Bin) -> f64 {
        if s[1] <= 0.0 && self.lambda == 0.0 {
            return 0.0;
        }
        -self.thresh_l1(s[0]) / (s[1] + self.lambda)
    }
    #[inline]
    fn child_ok(&self, s: Bin) -> bool {
        s[1] >= self.min_child_weight && s[1] > 1e-10
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct SplitInfo {
    pub feature: usize,
    /// Bins `<= bin` go left.
    pub bin: u8,
    pub default_left: bool,
    pub gain: f64,
    pub left: Bin,
    pub right: Bin,
}

/// Best split of a node over the active features, or `None` when no split
/// gains more than `gamma` (and XGBoost's epsilon).
pub(crate) fn best_split(
    hist: &[Bin],
    n_bins: &[usize],
    active: &[usize],
    total: Bin,
    sp: &SplitParams,
) -> Option<SplitInfo> {
    let parent = sp.gain(total);
    let min_gain = sp.gamma.max(1e-6);
    let per_feature = |&f: &usize| -> Option<SplitInfo> {
        let nb = n_bins[f];
        if nb < 2 {
            return None;
        }
        let h = &hist[f * BINS..(f + 1) * BINS];
        let miss = h[MISSING_BIN as usize];
        let has_missing = miss[1] > 0.0;
        let mut best: Option<SplitInfo> = None;
        let mut best_gain = min_gain;
        let mut acc = [0.0f64; 2];
        let mut consider = |l: Bin, bin: usize, default_left: bool, best: &mut Option<SplitInfo>| {
            let r = [total[0] - l[0], total[1] - l[1]];
            if sp.child_ok(l) && sp.child_ok(r) {
                let g = sp.gain(l) + sp.gain(r) - parent;
                if g > best_gain {
                    best_gain = g;
                    *best = Some(SplitInfo { feature: f, bin: bin as u8, default_left, gain: g, left: l, right: r });
                }
            }
        };
        for (b, e) in h.iter().enumerate().take(nb - 1) {
            acc[0] += e[0];
            acc[1] += e[1];
            consider(acc, b, false, &mut best);
            if has_missing {
                consider([acc[0] + miss[0], acc[1] + miss[1]], b, true, &mut best);
            }
        }
        best
    };
    let per: Vec<Option<SplitInfo>> = if active.len() >= 16 {
        active.par_iter().map(per_feature).collect()
    } else {
        active.iter().map(per_feature).collect()
    };
    // Fold in feature order: ties keep the lower feature, for determinism.
    per.into_iter().flatten().fold(None, |acc: Option<SplitInfo>, s| match acc {
        Some(a) if a.gain >= s.gain => Some(a),
        _ => Some(s),
    })
}
