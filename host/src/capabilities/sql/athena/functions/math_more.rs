//! Trino math functions DataFusion lacks: `e()`, `is_finite`, `is_infinite`, `truncate(x, n)`,
//! `width_bucket(x, bound1, bound2, n)` and `width_bucket(x, bins)`, `cosine_similarity` of two
//! sparse vectors (`map(varchar, double)`), `normal_cdf`, `inverse_normal_cdf`, `beta_cdf` and
//! `inverse_beta_cdf`, with Trino's argument checks and messages. DataFusion alone: "Invalid function ...".

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, null_of, text, want_integer};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("e", |args| arity(args, &[0], "e()").map(|_| vec![]), |_| Ok(DataType::Float64), |_, _| {
            Ok(ScalarValue::Float64(Some(std::f64::consts::E)))
        }),
        RowFunction::new("is_finite", one_double, |_| Ok(DataType::Boolean), |args, _| {
            Ok(ScalarValue::Boolean(double(&args[0])?.map(f64::is_finite)))
        }),
        RowFunction::new("is_infinite", one_double, |_| Ok(DataType::Boolean), |args, _| {
            Ok(ScalarValue::Boolean(double(&args[0])?.map(f64::is_infinite)))
        }),
        RowFunction::new("truncate", coerce_truncate, |args| Ok(args[0].clone()), truncate),
        RowFunction::new("width_bucket", coerce_width_bucket, |_| Ok(DataType::Int64), width_bucket),
        RowFunction::new("cosine_similarity", coerce_maps, |_| Ok(DataType::Float64), cosine_similarity),
        RowFunction::new("normal_cdf", three_doubles, |_| Ok(DataType::Float64), normal_cdf),
        RowFunction::new("inverse_normal_cdf", three_doubles, |_| Ok(DataType::Float64), inverse_normal_cdf),
        RowFunction::new("beta_cdf", three_doubles, |_| Ok(DataType::Float64), beta_cdf),
        RowFunction::new("inverse_beta_cdf", three_doubles, |_| Ok(DataType::Float64), inverse_beta_cdf),
    ]
}

fn want_double(t: &DataType, what: &str) -> Result<DataType, String> {
    if t.is_numeric() || t.is_null() { Ok(DataType::Float64) } else { Err(format!("{what} must be a number, got {t}")) }
}

fn one_double(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one double argument")?;
    Ok(vec![want_double(&args[0], "the argument")?])
}

fn three_doubles(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[3], "three double arguments (mean, standard deviation, value)")?;
    args.iter().map(|t| want_double(t, "every argument")).collect()
}

fn double(value: &ScalarValue) -> Result<Option<f64>, String> {
    match value.cast_to(&DataType::Float64).map_err(|e| e.to_string())? {
        ScalarValue::Float64(v) => Ok(v),
        other => Err(format!("expected a double, got {}", other.data_type())),
    }
}

fn coerce_truncate(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "truncate(x, n)")?;
    let x = match &args[0] {
        t @ DataType::Decimal128(..) => t.clone(),
        t => want_double(t, "x")?,
    };
    Ok(vec![x, want_integer(&args[1], "n")?])
}

/// Drops the digits after the n-th decimal place (n < 0: also the last -n integer digits), keeping
/// x's type: a decimal keeps its precision and scale (`truncate(DECIMAL '12.345', 1)` is 12.300).
fn truncate(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let Some(n) = integer(&args[1])? else { return null_of(returns) };
    match &args[0] {
        ScalarValue::Decimal128(Some(v), p, s) => {
            let (precision, scale) = (*p as i64, *s as i64);
            let kept = if precision - scale + n <= 0 {
                0
            } else if n >= scale {
                *v
            } else {
                let unit = 10i128.pow((scale - n) as u32);
                v - v % unit
            };
            Ok(ScalarValue::Decimal128(Some(kept), *p, *s))
        }
        ScalarValue::Float64(Some(x)) => {
            if !x.is_finite() {
                return Ok(ScalarValue::Float64(Some(*x)));
            }
            let factor = 10f64.powi(n.clamp(-400, 400) as i32);
            Ok(ScalarValue::Float64(Some((x * factor).trunc() / factor)))
        }
        _ => null_of(returns),
    }
}

fn coerce_width_bucket(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 4], "width_bucket(x, bound1, bound2, n) or width_bucket(x, bins)")?;
    if args.len() == 2 {
        return match &args[1] {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) | DataType::Null => {
                Ok(vec![want_double(&args[0], "x")?, DataType::new_list(DataType::Float64, true)])
            }
            other => Err(format!("bins must be an array of doubles, got {other}")),
        };
    }
    Ok(vec![
        want_double(&args[0], "x")?,
        want_double(&args[1], "bound1")?,
        want_double(&args[2], "bound2")?,
        want_integer(&args[3], "the bucket count")?,
    ])
}

fn width_bucket(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    if let [x, ScalarValue::List(bins)] = args {
        let Some(x) = double(x)? else { return Ok(ScalarValue::Int64(None)) };
        if bins.is_null(0) {
            return Ok(ScalarValue::Int64(None));
        }
        return bin_of(x, bins.value(0).as_primitive::<Float64Type>()).map(|b| ScalarValue::Int64(Some(b)));
    }
    let (Some(x), Some(bound1), Some(bound2), Some(count)) = (double(&args[0])?, double(&args[1])?, double(&args[2])?, integer(&args[3])?)
    else {
        return Ok(ScalarValue::Int64(None));
    };
    if count <= 0 {
        return Err("bucketCount must be greater than 0".into());
    }
    if x.is_nan() {
        return Err("operand must not be NaN".into());
    }
    if !bound1.is_finite() {
        return Err("first bound must be finite".into());
    }
    if !bound2.is_finite() {
        return Err("second bound must be finite".into());
    }
    if bound1 == bound2 {
        return Err("bounds cannot equal each other".into());
    }
    let (lower, upper) = (bound1.min(bound2), bound1.max(bound2));
    let bucket = if x < lower {
        0
    } else if x >= upper {
        count.checked_add(1).ok_or_else(|| format!("Bucket for value {x} is out of range"))?
    } else {
        (count as f64 * (x - lower) / (upper - lower) + 1.0) as i64
    };
    Ok(ScalarValue::Int64(Some(if bound1 > bound2 { count - bucket + 1 } else { bucket })))
}

/// Trino's binary search over ascending bins: the number of bins at or below x.
fn bin_of(x: f64, bins: &arrow::array::Float64Array) -> Result<i64, String> {
    if bins.is_empty() {
        return Err("Bins cannot be an empty array".into());
    }
    if x.is_nan() {
        return Err("Operand cannot be NaN".into());
    }
    let (mut lower, mut upper) = (0, bins.len());
    while lower < upper {
        if bins.value(lower) > bins.value(upper - 1) {
            return Err("Bin values are not sorted in ascending order".into());
        }
        let index = (lower + upper) / 2;
        let bin = bins.value(index);
        if !bin.is_finite() {
            return Err(format!("Bin value must be finite, got {}", crate::capabilities::sql::athena::render::java_double(bin)));
        }
        if x < bin {
            upper = index;
        } else {
            lower = index + 1;
        }
    }
    Ok(lower as i64)
}

fn coerce_maps(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "cosine_similarity(map(varchar, double), map(varchar, double))")?;
    for t in args {
        if !matches!(t, DataType::Map(..) | DataType::Null) {
            return Err(format!("the arguments must be maps from varchar to double, got {t}"));
        }
    }
    Ok(args.to_vec())
}

/// A map's entries as (key, value); a NULL value is `None`. `None` for a NULL map.
fn sparse_vector(value: &ScalarValue) -> Result<Option<Vec<(String, Option<f64>)>>, String> {
    let ScalarValue::Map(map) = value else { return Ok(None) };
    if map.is_null(0) {
        return Ok(None);
    }
    let entries = map.value(0);
    let mut out = Vec::with_capacity(entries.len());
    for i in 0..entries.len() {
        let key = ScalarValue::try_from_array(entries.column(0), i).map_err(|e| e.to_string())?;
        let value = ScalarValue::try_from_array(entries.column(1), i).map_err(|e| e.to_string())?;
        let key = text(&key)?.ok_or("map keys cannot be NULL")?.to_string();
        out.push((key, double(&value)?));
    }
    Ok(Some(out))
}

/// NULL when either map holds a NULL value; the dot product over shared keys by the two L2 norms.
fn cosine_similarity(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(left), Some(right)) = (sparse_vector(&args[0])?, sparse_vector(&args[1])?) else {
        return Ok(ScalarValue::Float64(None));
    };
    // Sums start at +0.0, as Java's do (Rust's `sum` of floats starts at -0.0).
    let norm = |v: &[(String, Option<f64>)]| v.iter().try_fold(0.0, |acc, (_, x)| x.map(|x| acc + x * x)).map(f64::sqrt);
    let (Some(left_norm), Some(right_norm)) = (norm(&left), norm(&right)) else { return Ok(ScalarValue::Float64(None)) };
    let right: std::collections::HashMap<&str, f64> = right.iter().map(|(k, v)| (k.as_str(), v.unwrap_or(0.0))).collect();
    let dot = left.iter().filter_map(|(k, v)| right.get(k.as_str()).map(|r| v.unwrap_or(0.0) * r)).fold(0.0, |acc, x| acc + x);
    Ok(ScalarValue::Float64(Some(dot / (left_norm * right_norm))))
}

fn normal_cdf(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(mean), Some(sd), Some(value)) = (double(&args[0])?, double(&args[1])?, double(&args[2])?) else {
        return Ok(ScalarValue::Float64(None));
    };
    if !(sd > 0.0) {
        return Err("standardDeviation must be > 0".into());
    }
    Ok(ScalarValue::Float64(Some(0.5 * (1.0 + libm::erf((value - mean) / (sd * std::f64::consts::SQRT_2))))))
}

fn inverse_normal_cdf(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(mean), Some(sd), Some(p)) = (double(&args[0])?, double(&args[1])?, double(&args[2])?) else {
        return Ok(ScalarValue::Float64(None));
    };
    if !(p > 0.0 && p < 1.0) {
        return Err("p must be 0 > p > 1".into());
    }
    if !(sd > 0.0) {
        return Err("sd must be > 0".into());
    }
    Ok(ScalarValue::Float64(Some(mean + sd * std::f64::consts::SQRT_2 * inverse_erf(2.0 * p - 1.0))))
}

/// The a, b and value (or p) of the beta functions, checked in Trino's order; `None` when one is NULL.
fn beta_args(args: &[ScalarValue], what: &str) -> Result<Option<(f64, f64, f64)>, String> {
    let (Some(a), Some(b), Some(x)) = (double(&args[0])?, double(&args[1])?, double(&args[2])?) else { return Ok(None) };
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{what} must be in the interval [0, 1]"));
    }
    if !(a > 0.0) {
        return Err("a must be > 0".into());
    }
    if !(b > 0.0) {
        return Err("b must be > 0".into());
    }
    Ok(Some((a, b, x)))
}

fn beta_cdf(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Float64(beta_args(args, "value")?.map(|(a, b, x)| regularized_beta(x, a, b))))
}

fn inverse_beta_cdf(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Float64(beta_args(args, "p")?.map(|(a, b, p)| match p {
        0.0 => 0.0,
        1.0 => 1.0,
        _ => brent_root(|x| regularized_beta(x, a, b) - p, 0.0, 1.0, 1e-9),
    })))
}

/// I_x(a, b), the beta distribution's cdf: the continued fraction of DLMF 8.17.22 (modified Lentz), on the side
/// of the mean where it converges fast.
fn regularized_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - regularized_beta(1.0 - x, b, a);
    }
    let log_beta = libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b);
    let front = (a * x.ln() + b * (-x).ln_1p() - a.ln() - log_beta).exp();
    const TINY: f64 = 1e-300;
    let (mut c, mut d, mut fraction) = (1.0, 0.0, 1.0);
    for n in 1..100_000 {
        let m = (n / 2) as f64;
        let term = if n % 2 == 0 {
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
        } else {
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
        };
        d = 1.0 + term * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + term / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        fraction *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front / fraction
}

/// A root of f in [lo, hi] (f(lo) and f(hi) of opposite signs) to within `tolerance`, by Brent's method:
/// inverse quadratic or linear interpolation where it makes progress, bisection where it does not.
fn brent_root(f: impl Fn(f64) -> f64, lo: f64, hi: f64, tolerance: f64) -> f64 {
    let (mut a, mut b) = (lo, hi);
    let (mut fa, mut fb) = (f(a), f(b));
    if fa == 0.0 {
        return a;
    }
    let (mut c, mut fc) = (a, fa);
    let (mut step, mut previous_step) = (b - a, b - a);
    for _ in 0..1000 {
        if fb == 0.0 {
            return b;
        }
        if (fb > 0.0) == (fc > 0.0) {
            (c, fc) = (a, fa);
            step = b - a;
            previous_step = step;
        }
        if fc.abs() < fb.abs() {
            (a, b, c) = (b, c, b);
            (fa, fb, fc) = (fb, fc, fb);
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5 * tolerance;
        let middle = 0.5 * (c - b);
        if middle.abs() <= tol {
            return b;
        }
        if previous_step.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q) = if a == c {
                (2.0 * middle * s, 1.0 - s)
            } else {
                let (q, r) = (fa / fc, fb / fc);
                (s * (2.0 * middle * q * (q - r) - (b - a) * (r - 1.0)), (q - 1.0) * (r - 1.0) * (s - 1.0))
            };
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * middle * q - (tol * q).abs()).min((previous_step * q).abs()) {
                previous_step = step;
                step = p / q;
            } else {
                step = middle;
                previous_step = step;
            }
        } else {
            step = middle;
            previous_step = step;
        }
        (a, fa) = (b, fb);
        b += if step.abs() > tol { step } else { tol.copysign(middle) };
        fb = f(b);
    }
    b
}

/// erf⁻¹(y) for -1 < y < 1 by Newton's method on erf, from a logarithmic first guess.
fn inverse_erf(y: f64) -> f64 {
    if y == 0.0 {
        return 0.0;
    }
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let mut x = y.signum() * (w.sqrt() * 0.9).max(y.abs() * std::f64::consts::PI.sqrt() / 2.0).min(w.sqrt());
    for _ in 0..100 {
        let step = (libm::erf(x) - y) / (2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp());
        x -= step;
        if step.abs() <= 1e-16 * x.abs().max(1e-300) {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_erf_inverts_erf() {
        for y in [-0.999, -0.5, -1e-9, 0.1, 0.5, 0.9, 0.999999] {
            assert!((libm::erf(inverse_erf(y)) - y).abs() < 1e-15, "{y}");
        }
    }
}
