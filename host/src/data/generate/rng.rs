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
        median * (sigma * self.normal()).exp()
    }

    /// Poisson counts: exact for small means, a rounded normal above.
    pub fn poisson(&mut self, mean: f64) -> i64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 12.0 {
            let limit = (-mean).exp();
            let mut k = 0;
            let mut p = self.unit();
            while p > limit {
                k += 1;
                p *= self.unit();
            }
            k
        } else {
            (mean + mean.sqrt() * self.normal()).round().max(0.0) as i64
        }
    }

    /// Successes out of `n` trials of probability `p`.
    pub fn binomial(&mut self, n: i64, p: f64) -> i64 {
        if n <= 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if n <= 24 {
            (0..n).filter(|_| self.unit() < p).count() as i64
        } else {
            let mean = n as f64 * p;
            (mean + (mean * (1.0 - p)).sqrt() * self.normal()).round().clamp(0.0, n as f64) as i64
        }
    }

    /// Picks an index by cumulative weights (the last entry is the total).
    pub fn pick(&mut self, cumulative: &[f64]) -> usize {
        let x = self.unit() * cumulative[cumulative.len() - 1];
        cumulative.iter().position(|&c| x < c).unwrap_or(cumulative.len() - 1)
    }
}
