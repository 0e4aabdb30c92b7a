//! Growing one tree: depth-wise (level by level to `max_depth`) or leaf-wise
//! (best-gain leaf first, up to `max_leaves`).
//!
//! Rows of each open node are a contiguous range of one index array,
//! partitioned stably at every split. Only the smaller child's histogram is
//! built from rows; the larger one is the parent's minus it. Nodes that can
//! no longer split (e.g. at `max_depth`) get no histogram at all.

use rayon::prelude::*;

use crate::binning::{FeatureCuts, FeatureMatrix, GROUP, MISSING_BIN};
use crate::histogram::{self, Bin, HistPool, SplitInfo, SplitParams};
use crate::params::{GrowPolicy, Params};
use crate::tree::{Node, Tree};

pub(crate) struct Grower<'a> {
    pub x: &'a FeatureMatrix,
    pub cuts: &'a [FeatureCuts],
    pub n_bins: Vec<usize>,
    pub params: &'a Params,
    pub sp: SplitParams,
    pub pool: HistPool,
    ordered: Vec<[f32; 2]>,
    scratch: Vec<u32>,
}

/// A grown tree and, for each leaf, its range in the index array and value:
/// training predictions are updated from these without walking the tree.
pub(crate) struct Grown {
    pub tree: Tree,
    pub leaves: Vec<(usize, usize, f32)>,
}

struct Open {
    node: usize,
    begin: usize,
    end: usize,
    sum: Bin,
    depth: usize,
    hist: Option<Vec<Bin>>,
    split: Option<SplitInfo>,
}

impl<'a> Grower<'a> {
    pub fn new(x: &'a FeatureMatrix, params: &'a Params) -> Self {
        let cuts = &x.cuts[..];
        Grower {
            x,
            cuts,
            n_bins: cuts.iter().map(|c| c.n_bins()).collect(),
            params,
            sp: SplitParams {
                lambda: params.lambda,
                alpha: params.alpha,
                gamma: params.gamma,
                min_child_weight: params.min_child_weight,
            },
            pool: HistPool::new(cuts.len()),
            ordered: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn can_split(&self, depth: usize, sum: Bin, rows: usize) -> bool {
        (self.params.max_depth == 0 || depth < self.params.max_depth)
            && rows >= 2
            && sum[1] >= 2.0 * self.params.min_child_weight
    }

    /// Grow one tree over the rows in `idx` (each < n_rows). `all_rows` says
    /// `idx` is exactly 0..n_rows in order. `active` lists the features this
    /// tree may split on.
    pub fn grow(&mut self, idx: &mut [u32], all_rows: bool, gh: &[[f32; 2]], active: &[usize]) -> Grown {
        let n_features = self.cuts.len();
        let mut mask = vec![false; n_features];
        for &f in active {
            mask[f] = true;
        }
        let sum = sum_gh(idx, gh, all_rows);
        let mut tree = Tree { nodes: vec![Node::leaf(0.0, sum[1] as f32, i32::MAX)] };
        let mut root = Open { node: 0, begin: 0, end: idx.len(), sum, depth: 0, hist: None, split: None };
        if self.can_split(0, sum, idx.len()) && !active.is_empty() {
            let mut h = self.pool.get(active);
            histogram::build(&mut h, self.x, &mask, active.len(), idx, gh, &mut self.ordered, all_rows);
            root.split = histogram::best_split(&h, &self.n_bins, active, sum, &self.sp);
            root.hist = Some(h);
        }
        let mut done: Vec<Open> = Vec::new();
        let max_leaves = if self.params.max_leaves == 0 { usize::MAX } else { self.params.max_leaves };
        let mut n_leaves = 1usize;
        match self.params.grow_policy {
            GrowPolicy::Depthwise => {
                let mut level = vec![root];
                while !level.is_empty() {
                    let mut next = Vec::new();
                    for o in level {
                        if o.split.is_some() && n_leaves < max_leaves {
                            let [l, r] = self.expand(o, idx, gh, active, &mask, &mut tree);
                            n_leaves += 1;
                            next.push(l);
                            next.push(r);
                        } else {
                            self.retire(o, &mut done);
                        }
                    }
                    level = next;
                }
            }
            GrowPolicy::Lossguide => {
                let mut open = vec![root];
                while n_leaves < max_leaves {
                    // Best gain first; ties go to the older node (deterministic).
                    let pick = open
                        .iter()
                        .enumerate()
                        .filter_map(|(i, o)| o.split.map(|s| (i, s.gain, o.node)))
                        .fold(None, |acc: Option<(usize, f64, usize)>, c| match acc {
                            Some(a) if a.1 > c.1 || (a.1 == c.1 && a.2 < c.2) => Some(a),
                            _ => Some(c),
                        });
                    let Some((i, _, _)) = pick else { break };
                    let o = open.swap_remove(i);
                    let [l, r] = self.expand(o, idx, gh, active, &mask, &mut tree);
                    n_leaves += 1;
                    open.push(l);
                    open.push(r);
                }
                for o in open {
                    self.retire(o, &mut done);
                }
            }
        }
        let eta = self.params.eta;
        let mut leaves = Vec::with_capacity(done.len());
        for o in done {
            let v = (self.sp.weight(o.sum) * eta) as f32;
            let n = &mut tree.nodes[o.node];
            n.threshold = v;
            n.base_weight = v;
            leaves.push((o.begin, o.end, v));
        }
        Grown { tree, leaves }
    }

    fn retire(&mut self, mut o: Open, done: &mut Vec<Open>) {
        if let Some(h) = o.hist.take() {
            self.pool.put(h);
        }
        done.push(o);
    }

    /// Split an open node: partition its rows, add two children, give each a
    /// histogram (one built, one by subtraction) and a best split if it can split.
    fn expand(
        &mut self,
        mut o: Open,
        idx: &mut [u32],
        gh: &[[f32; 2]],
        active: &[usize],
        mask: &[bool],
        tree: &mut Tree,
    ) -> [Open; 2] {
        let s = o.split.take().expect("expand needs a split");
        let cells = &self.x.groups[s.feature / GROUP][..];
        let shift = 8 * (s.feature % GROUP) as u32;
        let mid = o.begin
            + partition(
                &mut idx[o.begin..o.end],
                &mut self.scratch,
                |r| {
                    let b = (cells[r as usize] >> shift) as u8;
                    if b == MISSING_BIN { s.default_left } else { b <= s.bin }
                },
                |r| histogram::prefetch(cells.as_ptr().wrapping_add(r as usize)),
            );
        let l_id = tree.nodes.len();
        let parent = o.node as i32;
        tree.nodes.push(Node::leaf(0.0, s.left[1] as f32, parent));
        tree.nodes.push(Node::leaf(0.0, s.right[1] as f32, parent));
        {
            let n = &mut tree.nodes[o.node];
            n.left = l_id as i32;
            n.right = l_id as i32 + 1;
            n.feature = s.feature as u32;
            n.split_bin = s.bin;
            n.threshold = self.cuts[s.feature].threshold(s.bin);
            n.default_left = s.default_left;
            n.gain = s.gain as f32;
            n.base_weight = self.sp.weight(o.sum) as f32;
        }
        let depth = o.depth + 1;
        let mut l = Open { node: l_id, begin: o.begin, end: mid, sum: s.left, depth, hist: None, split: None };
        let mut r = Open { node: l_id + 1, begin: mid, end: o.end, sum: s.right, depth, hist: None, split: None };
        let l_ok = self.can_split(depth, l.sum, l.end - l.begin);
        let r_ok = self.can_split(depth, r.sum, r.end - r.begin);
        let parent_hist = o.hist.take().expect("a split node has a histogram");
        if !(l_ok || r_ok) {
            self.pool.put(parent_hist);
            return [l, r];
        }
        let (small, large) = if l.end - l.begin <= r.end - r.begin { (&mut l, &mut r) } else { (&mut r, &mut l) };
        let mut sh = self.pool.get(active);
        histogram::build(&mut sh, self.x, mask, active.len(), &idx[small.begin..small.end], gh, &mut self.ordered, false);
        let mut lh = parent_hist;
        histogram::subtract(&mut lh, &sh, active);
        small.hist = Some(sh);
        large.hist = Some(lh);
        for (c, ok) in [(&mut l, l_ok), (&mut r, r_ok)] {
            let h = c.hist.take().expect("both children have histograms here");
            if ok {
                c.split = histogram::best_split(&h, &self.n_bins, active, c.sum, &self.sp);
            }
            if c.split.is_some() {
                c.hist = Some(h);
            } else {
                self.pool.put(h);
            }
        }
        [l, r]
    }
}

fn sum_gh(idx: &[u32], gh: &[[f32; 2]], all_rows: bool) -> Bin {
    // Fixed-size chunks summed in order: the same result for any thread count.
    const CH: usize = 1 << 16;
    let part = |rows: &[u32], base: usize| -> Bin {
        let mut s = [0.0f64; 2];
        if all_rows {
            for g in &gh[base..base + rows.len()] {
                s[0] += g[0] as f64;
                s[1] += g[1] as f64;
            }
        } else {
            for &r in rows {
                let g = gh[r as usize];
                s[0] += g[0] as f64;
                s[1] += g[1] as f64;
            }
        }
        s
    };
    let parts: Vec<Bin> = idx.par_chunks(CH).enumerate().map(|(i, c)| part(c, i * CH)).collect();
    parts.iter().fold([0.0; 2], |a, p| [a[0] + p[0], a[1] + p[1]])
}

const PARTITION_AHEAD: usize = 64;

/// Stable partition of `rows`: rows where `go_left` holds come first. Returns
/// how many went left. Branch-free inner loop (splits are unpredictable), in
/// parallel over fixed chunks for large nodes.
pub(crate) fn partition(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    go_left: impl Fn(u32) -> bool + Sync,
    touch: impl Fn(u32) + Sync,
) -> usize {
    const CH: usize = 1 << 16;
    let n = rows.len();
    scratch.clear();
    scratch.resize(n, 0);
    // Each chunk writes its left rows to the front of its scratch chunk and its
    // right rows to the back (reversed), then everything is copied back in order.
    let split_chunk = |src: &[u32], dst: &mut [u32]| -> usize {
        let m = src.len();
        let mut nl = 0usize;
        let mut nr = 0usize;
        for (i, &r) in src.iter().enumerate() {
            // Fetch the data of a row further ahead: the rows of a deep node
            // are scattered, and this loop is too short to overlap the misses.
            if let Some(&ahead) = src.get(i + PARTITION_AHEAD) {
                touch(ahead);
            }
            let gl = go_left(r);
            // Both slots are still free (nl + nr < m), so write both and move
            // only one counter.
            dst[nl] = r;
            dst[m - 1 - nr] = r;
            nl += gl as usize;
            nr += (!gl) as usize;
        }
        nl
    };
    let counts: Vec<usize> = if n > CH {
        rows.par_chunks(CH).zip(scratch.par_chunks_mut(CH)).map(|(s, d)| split_chunk(s, d)).collect()
    } else if n > 0 {
        vec![split_chunk(rows, scratch)]
    } else {
        return 0;
    };
    let total_left: usize = counts.iter().sum();
    let mut wl = 0usize;
    let mut wr = total_left;
    for (ci, &nl) in counts.iter().enumerate() {
        let start = ci * CH;
        let len = (n - start).min(CH);
        let chunk = &scratch[start..start + len];
        rows[wl..wl + nl].copy_from_slice(&chunk[..nl]);
        wl += nl;
        // Right rows were written back to front: reverse to keep row order.
        for (k, &r) in chunk[nl..].iter().rev().enumerate() {
            rows[wr + k] = r;
        }
        wr += len - nl;
    }
    total_left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable() {
        for n in [0usize, 1, 5, 1000, 200_000] {
            let mut rows: Vec<u32> = (0..n as u32).collect();
            let mut scratch = Vec::new();
            let nl = partition(&mut rows, &mut scratch, |r| r % 3 == 0, |_| ());
            let want_l: Vec<u32> = (0..n as u32).filter(|r| r % 3 == 0).collect();
            let want_r: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 0).collect();
            assert_eq!(nl, want_l.len());
            assert_eq!(&rows[..nl], &want_l[..]);
            assert_eq!(&rows[nl..], &want_r[..]);
        }
    }
}
