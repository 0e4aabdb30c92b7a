//! Quantile binning: each feature becomes a column of u8 bin indices.
//!
//! Bin `b` of a feature holds values `v` with `cuts[b-1] <= v < cuts[b]`, so
//! "bin <= b" is exactly XGBoost's split rule "v < cuts[b]" (compared as f32).
//! A split learned on bins therefore predicts identically from raw values.
//! Missing values (null or NaN) go to the reserved bin [`MISSING_BIN`]; up to
//! 255 value bins plus the missing bin fill the 256 states of a u8.

use arrow_array::RecordBatch;
use rayon::prelude::*;

use crate::column::column_f32;
use crate::error::{BoostError, Result};
use crate::rng::Rng;

/// The bin reserved for missing values.
pub const MISSING_BIN: u8 = 255;
/// Most value bins a feature can have (the missing bin is extra).
pub const MAX_VALUE_BINS: usize = 255;

/// Sorted cut points of one feature: `cuts.len() + 1` value bins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureCuts {
    pub cuts: Vec<f32>,
}

impl FeatureCuts {
    /// Quantile cuts from a sample of non-missing finite values (sorted in place).
    pub fn from_sample(sample: &mut [f32], max_bins: usize) -> Self {
        let max_bins = max_bins.clamp(1, MAX_VALUE_BINS);
        if sample.is_empty() {
            return FeatureCuts::default();
        }
        sample.sort_unstable_by(|a, b| a.total_cmp(b));
        let n = sample.len();
        let mut uniques = 1;
        for i in 1..n {
            if sample[i] != sample[i - 1] {
                uniques += 1;
                if uniques > max_bins {
                    break;
                }
            }
        }
        let mut cuts = Vec::new();
        if uniques <= max_bins {
            // Few distinct values: one bin each, cut at the value itself.
            for i in 1..n {
                if sample[i] != sample[i - 1] {
                    cuts.push(sample[i]);
                }
            }
        } else {
            // Cut at the sample quantiles; a cut must be above the previous one
            // (and the minimum) so no value bin is empty.
            let mut last = sample[0];
            for i in 1..max_bins {
                let q = sample[i * n / max_bins];
                if q > last {
                    cuts.push(q);
                    last = q;
                }
            }
        }
        FeatureCuts { cuts }
    }

    /// Number of value bins (the missing bin not counted).
    pub fn n_bins(&self) -> usize {
        self.cuts.len() + 1
    }

    /// The bin of one value.
    #[inline]
    pub fn bin(&self, v: f32) -> u8 {
        if v.is_nan() {
            MISSING_BIN
        } else {
            // Number of cuts <= v; branch-light binary search over <= 254 cuts.
            let c = &self.cuts;
            let mut lo = 0usize;
            let mut len = c.len();
            while len > 0 {
                let half = len / 2;
                if c[lo + half] <= v {
                    lo += half + 1;
                    len -= half + 1;
                } else {
                    len = half;
                }
            }
            lo as u8
        }
    }

    /// Threshold for a split that sends bins `0..=bin` left: XGBoost's
    /// `split_condition` (go left when `v < threshold`).
    pub fn threshold(&self, bin: u8) -> f32 {
        self.cuts[bin as usize]
    }
}

/// Features packed side by side in one u64 cell per row.
pub(crate) const GROUP: usize = 8;

/// A training matrix of u8 bins, one byte per value.
///
/// Layout: features in groups of [`GROUP`]; each group is a column of u64
/// cells holding the eight features' bins of one row (the last group is
/// padded with bin 0). Columnar across groups, so batches append cheaply and
/// no row-major copy of the raw data is ever made; packed inside a group, so
/// building a deep node's histogram (whose rows are scattered) fetches one
/// cache line per row for eight features instead of eight. Memory is
/// rows × features rounded up to 8 bytes: 60M rows × 14 features = 960 MB.
#[derive(Clone, Debug)]
pub struct FeatureMatrix {
    pub(crate) names: Vec<String>,
    pub(crate) cuts: Vec<FeatureCuts>,
    pub(crate) groups: Vec<Vec<u64>>,
    pub(crate) n_rows: usize,
}

/// Rows sampled to compute quantile cuts.
pub const DEFAULT_BIN_SAMPLE_ROWS: usize = 200_000;

impl FeatureMatrix {
    /// Bin the named feature columns of `batches`, computing quantile cuts from
    /// a sample of up to `sample_rows` rows (all rows if fewer).
    pub fn from_batches<S: AsRef<str>>(
        batches: &[RecordBatch],
        features: &[S],
        max_bins: usize,
        sample_rows: usize,
    ) -> Result<Self> {
        let cuts = compute_cuts(batches, features, max_bins, sample_rows)?;
        Self::with_cuts(batches, features, cuts)
    }

    /// Bin `batches` with cuts learned elsewhere (validation or test data).
    pub fn with_cuts<S: AsRef<str>>(batches: &[RecordBatch], features: &[S], cuts: Vec<FeatureCuts>) -> Result<Self> {
        let mut b = FeatureMatrixBuilder::new(features, cuts)?;
        check_columns(batches, &b.names)?;
        b.reserve(batches.iter().map(|b| b.num_rows()).sum());
        for batch in batches {
            b.push(batch)?;
        }
        Ok(b.finish())
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    pub fn n_features(&self) -> usize {
        self.names.len()
    }
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }
    pub fn cuts(&self) -> &[FeatureCuts] {
        &self.cuts
    }
    /// Bin of feature `f` in row `r`.
    #[inline]
    pub fn bin(&self, f: usize, r: usize) -> u8 {
        (self.groups[f / GROUP][r] >> (8 * (f % GROUP))) as u8
    }
    /// Bytes held by the bins.
    pub fn binned_bytes(&self) -> usize {
        self.groups.iter().map(|c| c.len() * 8).sum()
    }
}

/// Quantile cuts for the named features from a sample of up to `sample_rows`
/// rows of `batches` (all rows if fewer). With [`FeatureMatrixBuilder`] this
/// lets a caller bin data far larger than memory: cuts from a sample first,
/// then batches streamed in one at a time.
pub fn compute_cuts<S: AsRef<str>>(
    batches: &[RecordBatch],
    features: &[S],
    max_bins: usize,
    sample_rows: usize,
) -> Result<Vec<FeatureCuts>> {
    if !(2..=MAX_VALUE_BINS).contains(&max_bins) {
        return Err(BoostError::InvalidParam {
            name: "max_bin",
            reason: format!("{max_bins} is outside 2..={MAX_VALUE_BINS}"),
        });
    }
    let names: Vec<String> = features.iter().map(|s| s.as_ref().to_string()).collect();
    check_columns(batches, &names)?;
    let n_rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let sample = sample_rows_sorted(n_rows, sample_rows.max(1));
    names
        .par_iter()
        .map(|name| {
            let mut vals = Vec::with_capacity(sample.len());
            let mut offset = 0usize;
            let mut s = 0usize;
            for b in batches {
                let col = column_f32(b, name)?;
                let end = offset + b.num_rows();
                while s < sample.len() && sample[s] < end {
                    let v = col[sample[s] - offset];
                    if v.is_finite() {
                        vals.push(v);
                    }
                    s += 1;
                }
                offset = end;
            }
            Ok(FeatureCuts::from_sample(&mut vals, max_bins))
        })
        .collect()
}

/// Builds a [`FeatureMatrix`] one batch at a time, so the raw batches need
/// not all be in memory: only the 1-byte bins accumulate.
#[derive(Debug)]
pub struct FeatureMatrixBuilder {
    names: Vec<String>,
    cuts: Vec<FeatureCuts>,
    groups: Vec<Vec<u64>>,
    n_rows: usize,
}

impl FeatureMatrixBuilder {
    pub fn new<S: AsRef<str>>(features: &[S], cuts: Vec<FeatureCuts>) -> Result<Self> {
        let names: Vec<String> = features.iter().map(|s| s.as_ref().to_string()).collect();
        if names.len() != cuts.len() {
            return Err(BoostError::Shape(format!("{} feature names but {} cut sets", names.len(), cuts.len())));
        }
        for (name, fc) in names.iter().zip(&cuts) {
            let sorted = fc.cuts.windows(2).all(|w| w[0] < w[1]);
            if fc.cuts.len() >= MAX_VALUE_BINS || !sorted || fc.cuts.iter().any(|c| !c.is_finite()) {
                return Err(BoostError::Shape(format!(
                    "cuts of feature `{name}` must be at most {} finite, strictly increasing values",
                    MAX_VALUE_BINS - 1
                )));
            }
        }
        let groups = vec![Vec::new(); names.len().div_ceil(GROUP)];
        Ok(FeatureMatrixBuilder { names, cuts, groups, n_rows: 0 })
    }

    fn reserve(&mut self, rows: usize) {
        for g in &mut self.groups {
            g.reserve_exact(rows);
        }
    }

    /// Bin and append every row of `batch` (feature columns found by name).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        check_columns(std::slice::from_ref(batch), &self.names)?;
        let m = batch.num_rows();
        let (names, cuts) = (&self.names, &self.cuts);
        self.groups.par_iter_mut().enumerate().try_for_each(|(g, out)| -> Result<()> {
            let first = g * GROUP;
            let w = (names.len() - first).min(GROUP);
            let start = out.len();
            out.resize(start + m, 0);
            let cells = &mut out[start..];
            for k in 0..w {
                let col = column_f32(batch, &names[first + k])?;
                let fc = &cuts[first + k];
                let shift = 8 * k as u32;
                for (c, &v) in cells.iter_mut().zip(col.iter()) {
                    *c |= (fc.bin(v) as u64) << shift;
                }
            }
            Ok(())
        })?;
        self.n_rows += m;
        Ok(())
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn finish(mut self) -> FeatureMatrix {
        for c in &mut self.groups {
            c.shrink_to_fit();
        }
        FeatureMatrix { names: self.names, cuts: self.cuts, groups: self.groups, n_rows: self.n_rows }
    }
}

fn check_columns(batches: &[RecordBatch], names: &[String]) -> Result<()> {
    for b in batches {
        for n in names {
            let f = b.schema().field_with_name(n).map_err(|_| BoostError::MissingColumn(n.clone()))?.clone();
            if !crate::column::is_numeric(f.data_type()) {
                return Err(BoostError::UnsupportedType { column: n.clone(), dtype: f.data_type().to_string() });
            }
        }
    }
    Ok(())
}

/// Up to `k` distinct row numbers out of `n`, sorted; all rows when `n <= k`.
/// Seeded so the cuts, and so the model, are reproducible.
fn sample_rows_sorted(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    // Selection sampling (Knuth's algorithm S): one pass, sorted output.
    let mut rng = Rng::new(0x5EED_B1A5);
    let mut out = Vec::with_capacity(k);
    let mut need = k;
    for i in 0..n {
        let left = n - i;
        if rng.below(left) < need {
            out.push(i);
            need -= 1;
            if need == 0 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_match_split_rule() {
        let mut s: Vec<f32> = (0..1000).map(|i| (i % 37) as f32 * 0.5).collect();
        let fc = FeatureCuts::from_sample(&mut s, 16);
        assert!(fc.n_bins() <= 16);
        for i in 0..200 {
            let v = i as f32 * 0.1 - 1.0;
            let b = fc.bin(v);
            for (cb, &c) in fc.cuts.iter().enumerate() {
                assert_eq!(b as usize <= cb, v < c, "v={v} bin={b} cut[{cb}]={c}");
            }
        }
        assert_eq!(fc.bin(f32::NAN), MISSING_BIN);
    }

    #[test]
    fn bad_cuts_are_rejected() {
        let bad = FeatureCuts { cuts: vec![2.0, 1.0] };
        let e = FeatureMatrixBuilder::new(&["a"], vec![bad]).unwrap_err().to_string();
        assert!(e.contains("`a`"), "{e}");
        let many = FeatureCuts { cuts: (0..300).map(|i| i as f32).collect() };
        assert!(FeatureMatrixBuilder::new(&["a"], vec![many]).is_err());
    }

    #[test]
    fn few_values_get_one_bin_each() {
        let mut s = vec![3.0f32, 1.0, 2.0, 2.0, 1.0];
        let fc = FeatureCuts::from_sample(&mut s, 255);
        assert_eq!(fc.cuts, vec![2.0, 3.0]);
        assert_eq!(fc.bin(1.0), 0);
        assert_eq!(fc.bin(2.5), 1);
        assert_eq!(fc.bin(9.0), 2);
    }
}
