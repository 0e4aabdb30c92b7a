//! A small, fast, seedable random source with the few distributions the
//! generator needs. Its own code (not `rand`) so the bytes a seed gives never
//! change with a dependency upgrade.

/// wyrand: one multiply per draw, good enough statistics for synthetic data.
pub struct Rng(u64);

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Rng {
    /// An independent stream per (seed, stream id): a user's draws do not depend
    /// on how users are chunked.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        Rng(splitmix(seed ^ splitmix(stream.wrapping_add(0x5851_f42d_4c95_7f2d))))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform integer in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (((self.next_u64() >> 32) * ((hi - lo + 1) as u64)) >> 32) as i64
    }

    /// Approximately standard normal: the sum of four 16-bit uniforms
    /// (Irwin-Hall), one draw instead of a log and a cosine.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let x = self.next_u64();
        let sum = (x & 0xffff) + ((x >> 16) & 0xffff) + ((x >> 32) & 0xffff) + (x >> 48);
        (sum as f64 / 65536.0 - 2.0) * 1.732_050_807_568_877_2
    }

    /// Log-normal with the given median and log-scale spread.
    #[inline]
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// Poisson counts: exact for small means, a rounded normal above. Below 12
    /// the mean splits into a multiple of 1/8 and a remainder under 1/8, and the
    /// count is the sum of one draw of each (a sum of independent Poisson counts
    /// is the Poisson count of the summed means): the first is looked up in a
    /// precomputed cumulative table (one uniform, a guide table, about one
    /// comparison), the second is nearly always 0 (one uniform against `exp`).
    #[inline]
    pub fn poisson(&mut self, mean: f64) -> i64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < POISSON_TABLE_LIMIT {
            // Exact: scaling by a power of two and the subtraction lose no bits.
            let grid = (mean * POISSON_GRID) as usize;
            let rest = mean - grid as f64 / POISSON_GRID;
            let mut k = 0;
            if grid > 0 {
                k = POISSON_TABLES[grid].draw(self.unit());
            }
            if rest > 0.0 {
                k += self.poisson_by_inversion(rest);
            }
            k
        } else {
            round_half_up(mean + mean.sqrt() * self.normal()).max(0.0) as i64
        }
    }

    /// Poisson by inversion: one uniform, walked up the cumulative distribution.
    /// For the small remainders of [`Rng::poisson`], where it nearly always stops at 0.
    #[inline]
    fn poisson_by_inversion(&mut self, mean: f64) -> i64 {
        let u = self.unit();
        // P(X = 0) = e^-mean >= 1 - mean: below that the count is 0 without computing `exp`.
        if u < 1.0 - mean {
            return 0;
        }
        let mut p = exp(-mean);
        let mut cdf = p;
        let mut k = 0;
        while u >= cdf && k < POISSON_MAX {
            k += 1;
            p *= mean * RECIPROCALS[k];
            cdf += p;
        }
        k as i64
    }

    /// Successes out of `n` trials of probability `p`: exact by inversion up
    /// to 24 trials (on the rarer outcome), a rounded normal above.
    #[inline]
    pub fn binomial(&mut self, n: i64, p: f64) -> i64 {
        if n <= 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if n <= 24 {
            let (q, flipped) = if p > 0.5 { (1.0 - p, true) } else { (p, false) };
            let u = self.unit();
            let ratio = q / (1.0 - q);
            let mut pmf = powi_small(1.0 - q, n as u32);
            let mut cdf = pmf;
            let mut k = 0;
            while u >= cdf && k < n {
                pmf *= ratio * (n - k) as f64 * RECIPROCALS[k as usize + 1];
                k += 1;
                cdf += pmf;
            }
            if flipped { n - k } else { k }
        } else {
            let mean = n as f64 * p;
            round_half_up(mean + (mean * (1.0 - p)).sqrt() * self.normal()).clamp(0.0, n as f64) as i64
        }
    }

    /// Picks an index by cumulative weights (the last entry is the total).
    pub fn pick(&mut self, cumulative: &[f64]) -> usize {
        let x = self.unit() * cumulative[cumulative.len() - 1];
        cumulative.iter().position(|&c| x < c).unwrap_or(cumulative.len() - 1)
    }
}

/// `x^n` by squaring, inline (`powi` with a variable exponent is a call).
#[inline]
fn powi_small(mut x: f64, mut n: u32) -> f64 {
    let mut r = 1.0;
    while n > 0 {
        if n & 1 == 1 {
            r *= x;
        }
        x *= x;
        n >>= 1;
    }
    r
}

/// Poisson means below this are drawn exactly, from [`POISSON_TABLES`] plus a remainder.
const POISSON_TABLE_LIMIT: f64 = 12.0;
/// The tables' means are multiples of `1 / POISSON_GRID`.
const POISSON_GRID: f64 = 8.0;
/// The largest count an exact draw returns (the mass beyond is below 1e-20 for any mean under 12).
const POISSON_MAX: usize = 60;
/// Buckets of the uniform in a table's guide.
const POISSON_GUIDE: usize = 32;

/// The cumulative distribution of Poisson(m) for one table mean `m`.
struct PoissonTable {
    /// `P(X <= k)` for k = 0, 1, ..., up to where it stops growing in floating point (or [`POISSON_MAX`]).
    cdf: Vec<f64>,
    /// For the uniform's bucket `b`, the first `k` with `P(X <= k) > b / POISSON_GUIDE`: where the walk starts.
    guide: [u8; POISSON_GUIDE],
}

impl PoissonTable {
    fn new(mean: f64) -> Self {
        // The same recurrence as the walk by inversion, run once.
        let mut p = exp(-mean);
        let mut cdf = vec![p];
        for k in 1..POISSON_MAX {
            p *= mean * RECIPROCALS[k];
            let next = cdf[k - 1] + p;
            if next == cdf[k - 1] && k as f64 > mean {
                break;
            }
            cdf.push(next);
        }
        let mut guide = [0u8; POISSON_GUIDE];
        for (bucket, slot) in guide.iter_mut().enumerate() {
            let floor = bucket as f64 / POISSON_GUIDE as f64;
            *slot = cdf.iter().position(|&c| c > floor).unwrap_or(cdf.len()) as u8;
        }
        Self { cdf, guide }
    }

    /// The count for uniform `u`: the first `k` with `u < P(X <= k)`, or [`POISSON_MAX`].
    #[inline]
    fn draw(&self, u: f64) -> i64 {
        let mut k = self.guide[(u * POISSON_GUIDE as f64) as usize] as usize;
        while k < self.cdf.len() && u >= self.cdf[k] {
            k += 1;
        }
        if k == self.cdf.len() { POISSON_MAX as i64 } else { k as i64 }
    }
}

/// One [`PoissonTable`] per multiple of 1/8 below [`POISSON_TABLE_LIMIT`] (index 0, mean 0, unused).
static POISSON_TABLES: std::sync::LazyLock<Vec<PoissonTable>> = std::sync::LazyLock::new(|| {
    (0..(POISSON_TABLE_LIMIT * POISSON_GRID) as usize).map(|i| PoissonTable::new(i as f64 / POISSON_GRID)).collect()
});

/// `1/k` for the inversion loops.
static RECIPROCALS: [f64; 64] = {
    let mut table = [0.0; 64];
    let mut k = 1;
    while k < 64 {
        table[k] = 1.0 / k as f64;
        k += 1;
    }
    table
};

/// Rounds half away from zero like `f64::round`, without a libm call (the
/// build targets baseline x86-64, which has no rounding instruction).
#[inline]
pub fn round_half_up(x: f64) -> f64 {
    if x.abs() < 4.0e15 { (x + 0.5f64.copysign(x)) as i64 as f64 } else { x }
}

/// `exp(x)` without a libm call, so it inlines: x = (64n + j)·ln2/64 + r with
/// |r| ≤ ln2/128, exp(x) = 2^n · 2^(j/64) · e^r, e^r by a degree-5 polynomial.
/// Relative error below 1e-15 on [-700, 700] (clamped outside).
#[inline]
pub fn exp(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
    const INV_LN2_64: f64 = 92.332_482_616_893_66;
    const LN2_64_HI: f64 = 0.010_830_417_275_428_772;
    const LN2_64_LO: f64 = 7.420_820_373_486_988e-9;
    let x = x.clamp(-700.0, 700.0);
    let shifted = x * INV_LN2_64 + SHIFT;
    // `shifted` has the exponent of SHIFT, so its bits differ from SHIFT's by the integer.
    let k = (shifted.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let n = shifted - SHIFT;
    let r = x - n * LN2_64_HI - n * LN2_64_LO;
    let poly = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0)))));
    let scale = f64::from_bits(((1023 + (k >> 6)) as u64) << 52);
    EXP2_64THS[(k & 63) as usize] * poly * scale
}

/// 2^(j/64), exactly rounded.
static EXP2_64THS: [f64; 64] = [
    f64::from_bits(0x3ff0000000000000),
    f64::from_bits(0x3ff02c9a3e778061),
    f64::from_bits(0x3ff059b0d3158574),
    f64::from_bits(0x3ff0874518759bc8),
    f64::from_bits(0x3ff0b5586cf9890f),
    f64::from_bits(0x3ff0e3ec32d3d1a2),
    f64::from_bits(0x3ff11301d0125b51),
    f64::from_bits(0x3ff1429aaea92de0),
    f64::from_bits(0x3ff172b83c7d517b),
    f64::from_bits(0x3ff1a35beb6fcb75),
    f64::from_bits(0x3ff1d4873168b9aa),
    f64::from_bits(0x3ff2063b88628cd6),
    f64::from_bits(0x3ff2387a6e756238),
    f64::from_bits(0x3ff26b4565e27cdd),
    f64::from_bits(0x3ff29e9df51fdee1),
    f64::from_bits(0x3ff2d285a6e4030b),
    f64::from_bits(0x3ff306fe0a31b715),
    f64::from_bits(0x3ff33c08b26416ff),
    f64::from_bits(0x3ff371a7373aa9cb),
    f64::from_bits(0x3ff3a7db34e59ff7),
    f64::from_bits(0x3ff3dea64c123422),
    f64::from_bits(0x3ff4160a21f72e2a),
    f64::from_bits(0x3ff44e086061892d),
    f64::from_bits(0x3ff486a2b5c13cd0),
    f64::from_bits(0x3ff4bfdad5362a27),
    f64::from_bits(0x3ff4f9b2769d2ca7),
    f64::from_bits(0x3ff5342b569d4f82),
    f64::from_bits(0x3ff56f4736b527da),
    f64::from_bits(0x3ff5ab07dd485429),
    f64::from_bits(0x3ff5e76f15ad2148),
    f64::from_bits(0x3ff6247eb03a5585),
    f64::from_bits(0x3ff6623882552225),
    f64::from_bits(0x3ff6a09e667f3bcd),
    f64::from_bits(0x3ff6dfb23c651a2f),
    f64::from_bits(0x3ff71f75e8ec5f74),
    f64::from_bits(0x3ff75feb564267c9),
    f64::from_bits(0x3ff7a11473eb0187),
    f64::from_bits(0x3ff7e2f336cf4e62),
    f64::from_bits(0x3ff82589994cce13),
    f64::from_bits(0x3ff868d99b4492ed),
    f64::from_bits(0x3ff8ace5422aa0db),
    f64::from_bits(0x3ff8f1ae99157736),
    f64::from_bits(0x3ff93737b0cdc5e5),
    f64::from_bits(0x3ff97d829fde4e50),
    f64::from_bits(0x3ff9c49182a3f090),
    f64::from_bits(0x3ffa0c667b5de565),
    f64::from_bits(0x3ffa5503b23e255d),
    f64::from_bits(0x3ffa9e6b5579fdbf),
    f64::from_bits(0x3ffae89f995ad3ad),
    f64::from_bits(0x3ffb33a2b84f15fb),
    f64::from_bits(0x3ffb7f76f2fb5e47),
    f64::from_bits(0x3ffbcc1e904bc1d2),
    f64::from_bits(0x3ffc199bdd85529c),
    f64::from_bits(0x3ffc67f12e57d14b),
    f64::from_bits(0x3ffcb720dcef9069),
    f64::from_bits(0x3ffd072d4a07897c),
    f64::from_bits(0x3ffd5818dcfba487),
    f64::from_bits(0x3ffda9e603db3285),
    f64::from_bits(0x3ffdfc97337b9b5f),
    f64::from_bits(0x3ffe502ee78b3ff6),
    f64::from_bits(0x3ffea4afa2a490da),
    f64::from_bits(0x3ffefa1bee615a27),
    f64::from_bits(0x3fff50765b6e4540),
    f64::from_bits(0x3fffa7c1819e90d8),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut x = -60.0;
        while x < 60.0 {
            let (ours, libm) = (exp(x), x.exp());
            assert!(((ours - libm) / libm).abs() < 1e-15, "exp({x}) = {ours}, not {libm}");
            x += 0.01234;
        }
        assert!((exp(-700.0) / (-700f64).exp() - 1.0).abs() < 1e-14);
        assert!((exp(700.0) / 700f64.exp() - 1.0).abs() < 1e-14);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn rounding_matches_round() {
        for x in [0.0, 0.4, 0.5, 1.5, 2.4999, 2.5, -0.5, -1.5, -2.6, 123456.5, 1e16, -1e16] {
            assert_eq!(round_half_up(x), x.round(), "{x}");
        }
    }

    /// Mean and variance of many draws against the distribution's.
    fn moments(draw: impl FnMut(&mut Rng) -> i64) -> (f64, f64) {
        let mut rng = Rng::for_stream(1, 2);
        let mut draw = draw;
        let n = 200_000;
        let values: Vec<f64> = (0..n).map(|_| draw(&mut rng) as f64).collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        (mean, var)
    }

    #[test]
    fn a_table_draw_is_the_walk_by_inversion_for_the_same_uniform() {
        let mut state = Rng::for_stream(5, 6);
        for grid in 1..POISSON_TABLES.len() {
            let mean = grid as f64 / POISSON_GRID;
            for _ in 0..2_000 {
                let u = state.unit();
                let (mut p, mut k) = (exp(-mean), 0);
                let mut cdf = p;
                while u >= cdf && k < POISSON_MAX {
                    k += 1;
                    p *= mean * RECIPROCALS[k];
                    cdf += p;
                }
                assert_eq!(POISSON_TABLES[grid].draw(u), k as i64, "mean {mean}, u {u}");
            }
        }
    }

    #[test]
    fn counts_have_their_distributions_moments() {
        for mean in [0.05, 0.8, 3.0, 11.5, 40.0] {
            let (m, v) = moments(|rng| rng.poisson(mean));
            assert!((m - mean).abs() < 0.02 * mean.max(1.0), "poisson({mean}) mean {m}");
            assert!((v - mean).abs() < 0.04 * mean.max(1.0), "poisson({mean}) variance {v}");
        }
        for (n, p) in [(7, 0.3), (23, 0.9), (12, 0.05), (24, 0.5), (100, 0.2)] {
            let (m, v) = moments(|rng| rng.binomial(n, p));
            let (mean, var) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!((m - mean).abs() < 0.02 * mean.max(1.0), "binomial({n}, {p}) mean {m}");
            assert!((v - var).abs() < 0.05 * var.max(1.0), "binomial({n}, {p}) variance {v}");
        }
        let mut rng = Rng::for_stream(3, 4);
        assert!((0..10_000).all(|_| (0..=7).contains(&rng.binomial(7, 0.99))));
    }
}
