//! Gradient histograms: per feature, per bin, the sums of gradient and hessian
//! of the rows in a node. Built in parallel over feature groups and fixed row
//! chunks, reduced in a fixed order: deterministic for any thread count.
//!
//! The rows of a deep node are scattered over the data, so the loops here are
//! bound by memory latency, not arithmetic; they prefetch the data of rows a
//! few dozen positions ahead (measured: 1.8x faster training at 1M x 72).

use rayon::prelude::*;

use crate::binning::{FeatureMatrix, GROUP, MISSING_BIN};

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
/// Rows per parallel task in large nodes. Fixed (not derived from the thread
/// count) and reduced in order, so sums are identical for any thread count.
const ROW_CHUNK: usize = 1 << 16;

/// Fill `hist` (zeroed for `active`) from `rows`. `all_rows` means `rows` is
/// exactly 0..n in order, so cells and gradients are read sequentially.
/// Parallel over feature groups and, in large nodes, over row chunks.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    hist: &mut [Bin],
    x: &FeatureMatrix,
    active_mask: &[bool],
    n_active: usize,
    rows: &[u32],
    gh: &[[f32; 2]],
    ordered: &mut Vec<[f32; 2]>,
    all_rows: bool,
) {
    let ordered: &[[f32; 2]] = if all_rows {
        &gh[..rows.len()]
    } else {
        // Gather gradients once into the node's row order; every group then
        // reads them sequentially.
        ordered.clear();
        ordered.resize(rows.len(), [0.0; 2]);
        let gather = |(dst, src): (&mut [[f32; 2]], &[u32])| {
            for (i, (d, &r)) in dst.iter_mut().zip(src).enumerate() {
                if let Some(&ahead) = src.get(i + PREFETCH_AHEAD) {
                    prefetch(gh.as_ptr().wrapping_add(ahead as usize));
                }
                *d = gh[r as usize];
            }
        };
        if rows.len() > ROW_CHUNK {
            ordered.par_chunks_mut(ROW_CHUNK).zip(rows.par_chunks(ROW_CHUNK)).for_each(gather);
        } else {
            gather((&mut ordered[..], rows));
        }
        ordered
    };
    let nf = x.names.len();
    let width = |g: usize| (nf - g * GROUP).min(GROUP);
    let groups: Vec<usize> = (0..x.groups.len())
        .filter(|&g| active_mask[g * GROUP..g * GROUP + width(g)].iter().any(|&a| a))
        .collect();
    let n = rows.len();
    let rows_opt = if all_rows { None } else { Some(rows) };
    let run = |h: &mut [Bin], g: usize, lo: usize, hi: usize| {
        let cells = &x.groups[g][..];
        macro_rules! by_width {
            ($w:literal) => {
                match rows_opt {
                    None => accumulate::<false, $w>(h, cells, |i| lo + i, &ordered[lo..hi]),
                    Some(rows) => {
                        let rows = &rows[lo..hi];
                        accumulate::<true, $w>(h, cells, |i| rows[i] as usize, &ordered[lo..hi])
                    }
                }
            };
        }
        // One copy per group width, so the per-row loop is fully unrolled and
        // a last, narrower group does no work for its padding.
        match width(g) {
            8 => by_width!(8),
            7 => by_width!(7),
            6 => by_width!(6),
            5 => by_width!(5),
            4 => by_width!(4),
            3 => by_width!(3),
            2 => by_width!(2),
            _ => by_width!(1),
        }
    };
    let group_range = |g: usize| g * GROUP * BINS..(g * GROUP + width(g)) * BINS;
    if n * n_active < PAR_MIN_WORK {
        for &g in &groups {
            let r = group_range(g);
            run(&mut hist[r], g, 0, n);
        }
        return;
    }
    if n <= ROW_CHUNK {
        hist.par_chunks_mut(GROUP * BINS).enumerate().for_each(|(g, h)| {
            if groups.contains(&g) {
                run(&mut h[..width(g) * BINS], g, 0, n);
            }
        });
        return;
    }
    // Large node: one task per (group, row chunk), each into its own
    // histogram, then added in a fixed order.
    let n_chunks = n.div_ceil(ROW_CHUNK);
    let tasks: Vec<(usize, usize)> = groups.iter().flat_map(|&g| (0..n_chunks).map(move |c| (g, c))).collect();
    let parts: Vec<Vec<Bin>> = tasks
        .par_iter()
        .map(|&(g, c)| {
            let mut h = vec![[0.0f64; 2]; width(g) * BINS];
            run(&mut h, g, c * ROW_CHUNK, ((c + 1) * ROW_CHUNK).min(n));
            h
        })
        .collect();
    for (&(g, _), part) in tasks.iter().zip(&parts) {
        let r = group_range(g);
        for (e, p) in hist[r].iter_mut().zip(part) {
            e[0] += p[0];
            e[1] += p[1];
        }
    }
}

/// Below this many rows, add straight into the f64 histogram. Above it, add
/// into f32 lane histograms (8-byte bins: half the cache traffic, no
/// conversion) flushed into f64 every [`FLUSH_ROWS`] rows, so an f32 sum never
/// holds more than a few thousand values (relative error ~1e-6, far below
/// what changes a split). The eight features of a cell interleave, so
/// consecutive adds rarely wait on the same bin.
const MULTI_MIN_ROWS: usize = 512;
const FLUSH_ROWS: usize = 1 << 13;

const PREFETCH_AHEAD: usize = 96;

/// Hint the CPU to bring `p`'s cache line in; never faults.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, even on a bad address.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Histograms of the `w` features of one group: `h` holds them back to back,
/// `row(i)` is the row of the i-th gradient in `ordered`.
#[inline(always)]
fn accumulate<const SCATTERED: bool, const W: usize>(h: &mut [Bin], cells: &[u64], row: impl Fn(usize) -> usize, ordered: &[[f32; 2]]) {
    let w = W;
    let n = ordered.len();
    if n < MULTI_MIN_ROWS {
        for (i, g) in ordered.iter().enumerate() {
            let c = cells[row(i)];
            for k in 0..w {
                let e = &mut h[k * BINS + ((c >> (8 * k)) & 0xff) as usize];
                e[0] += g[0] as f64;
                e[1] += g[1] as f64;
            }
        }
        return;
    }
    let mut lanes = [[[0.0f32; 2]; BINS]; W];
    let mut start = 0;
    while start < n {
        let end = (start + FLUSH_ROWS).min(n);
        for (i, g) in ordered[start..end].iter().enumerate() {
            // Each row costs a dozen instructions, so the CPU can't run far
            // enough ahead to overlap the misses on scattered rows by itself.
            let ahead = start + i + PREFETCH_AHEAD;
            if SCATTERED && ahead < n {
                prefetch(cells.as_ptr().wrapping_add(row(ahead)));
            }
            let c = cells[row(start + i)];
            for (k, lane) in lanes.iter_mut().enumerate() {
                let e = &mut lane[((c >> (8 * k)) & 0xff) as usize];
                e[0] += g[0];
                e[1] += g[1];
            }
        }
        for (k, lane) in lanes.iter_mut().enumerate() {
            for (e, l) in h[k * BINS..(k + 1) * BINS].iter_mut().zip(lane.iter_mut()) {
                e[0] += l[0] as f64;
                e[1] += l[1] as f64;
                *l = [0.0; 2];
            }
        }
        start = end;
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
