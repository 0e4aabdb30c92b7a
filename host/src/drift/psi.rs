//! Population stability index and the bounded samples it is computed from.
//!
//! `PSI = Σ (cᵢ − pᵢ) · ln(cᵢ / pᵢ)` over bins, with `pᵢ`/`cᵢ` the previous and
//! current shares of non-missing values in bin `i` (floored at
//! [`MIN_SHARE`] so an empty bin gives a large, finite term). Bins are the
//! previous sample's deciles (distinct cut points only, so a feature that is
//! mostly 0 gets a bin of its own for 0). Rules of thumb: below 0.1 stable,
//! 0.1–0.2 a moderate shift, above 0.2 a large one.

/// Most values a [`Sample`] keeps per column.
pub const SAMPLE_CAP: usize = 200_000;
/// Floor of a bin's share.
pub const MIN_SHARE: f64 = 1e-4;

/// A deterministic, evenly strided sample of a stream of rows, per column,
/// plus exact missing counts. When it fills up it keeps every other value and
/// doubles its stride, so it never holds more than [`SAMPLE_CAP`] per column.
pub struct Sample {
    pub columns: Vec<Vec<f32>>,
    pub missing: Vec<u64>,
    pub rows: u64,
    stride: u64,
}

impl Sample {
    pub fn new(columns: usize) -> Self {
        Sample { columns: vec![Vec::new(); columns], missing: vec![0; columns], rows: 0, stride: 1 }
    }

    /// Adds one row (NaN = missing).
    pub fn push(&mut self, row: impl Iterator<Item = f32>) {
        let keep = self.rows.is_multiple_of(self.stride);
        for (c, v) in row.enumerate() {
            if v.is_nan() {
                self.missing[c] += 1;
            } else if keep {
                self.columns[c].push(v);
            }
        }
        self.rows += 1;
        if keep && self.columns.iter().any(|c| c.len() >= SAMPLE_CAP) {
            for c in &mut self.columns {
                let mut i = 0;
                c.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
            }
            self.stride *= 2;
        }
    }

    pub fn missing_rate(&self, c: usize) -> f64 {
        if self.rows == 0 { 0.0 } else { self.missing[c] as f64 / self.rows as f64 }
    }
}

/// Distinct decile cut points of `reference`.
pub fn decile_cuts(reference: &[f32]) -> Vec<f32> {
    let mut v = reference.to_vec();
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let mut cuts: Vec<f32> = (1..10).filter_map(|k| v.get(k * v.len() / 10).copied()).collect();
    cuts.dedup();
    cuts
}

/// Shares of `values` in the bins the cuts make: bin `i` holds values in `[cuts[i-1], cuts[i])`.
pub fn shares(values: &[f32], cuts: &[f32]) -> Vec<f64> {
    let mut counts = vec![0u64; cuts.len() + 1];
    for &v in values {
        counts[cuts.partition_point(|&c| c <= v)] += 1;
    }
    let n = values.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// PSI between two share vectors of the same bins.
pub fn psi_of_shares(previous: &[f64], current: &[f64]) -> f64 {
    previous.iter().zip(current).map(|(&p, &c)| {
        let (p, c) = (p.max(MIN_SHARE), c.max(MIN_SHARE));
        (c - p) * (c / p).ln()
    }).sum()
}

/// PSI of `current` against `previous` on the previous values' deciles; None when either has no
/// values (a feature missing in every row has no distribution to compare, not the same one).
pub fn psi(previous: &[f32], current: &[f32]) -> Option<f64> {
    if previous.is_empty() || current.is_empty() {
        return None;
    }
    let cuts = decile_cuts(previous);
    Some(psi_of_shares(&shares(previous, &cuts), &shares(current, &cuts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_distribution_is_stable_and_a_moved_one_is_not() {
        let a: Vec<f32> = (0..10_000).map(|i| (i % 1000) as f32).collect();
        let b: Vec<f32> = (0..10_000).map(|i| ((i * 7) % 1000) as f32).collect();
        assert!(psi(&a, &b).unwrap() < 0.01, "{:?}", psi(&a, &b));
        let shifted: Vec<f32> = a.iter().map(|v| v + 300.0).collect();
        assert!(psi(&a, &shifted).unwrap() > 0.5, "{:?}", psi(&a, &shifted));
        assert_eq!(psi(&a, &[]), None, "all missing now: no PSI, not 0");
    }

    #[test]
    fn a_mostly_zero_feature_gets_a_bin_for_zero() {
        let a: Vec<f32> = (0..1000).map(|i| if i < 700 { 0.0 } else { i as f32 }).collect();
        let cuts = decile_cuts(&a);
        assert_eq!(shares(&a, &cuts)[0], 0.0, "nothing below the first cut, which is 0");
        assert!((shares(&a, &cuts)[1] - 0.7).abs() < 1e-9);
    }

    #[test]
    fn the_sample_stays_bounded_and_counts_every_missing_value() {
        let mut s = Sample::new(2);
        for i in 0..(3 * SAMPLE_CAP as u64) {
            s.push([i as f32, if i % 10 == 0 { f32::NAN } else { 1.0 }].into_iter());
        }
        assert!(s.columns[0].len() <= SAMPLE_CAP);
        assert_eq!(s.rows, 3 * SAMPLE_CAP as u64);
        assert!((s.missing_rate(1) - 0.1).abs() < 1e-9);
    }
}
