//! Trino aggregates DataFusion lacks: `geometric_mean`, `skewness` and `kurtosis` (Trino's
//! central-moment formulas: skewness √n·m3/m2^1.5 from 3 rows, excess kurtosis from 4 rows),
//! `bitwise_and_agg` and `bitwise_or_agg`; and `approx_distinct(x, e)`, whose maximum standard
//! error DataFusion's `approx_distinct` does not take: it is checked as Trino checks it and the
//! count is DataFusion's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    GeometricMean,
    Skewness,
    Kurtosis,
    BitwiseAnd,
    BitwiseOr,
}

/// One of the aggregates above, by kind.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Statistic {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

pub fn functions() -> Vec<AggregateUDF> {
    [
        ("geometric_mean", Kind::GeometricMean),
        ("skewness", Kind::Skewness),
        ("kurtosis", Kind::Kurtosis),
        ("bitwise_and_agg", Kind::BitwiseAnd),
        ("bitwise_or_agg", Kind::BitwiseOr),
    ]
    .into_iter()
    .map(|(name, kind)| AggregateUDF::new_from_impl(Statistic { name, kind, signature: Signature::user_defined(Volatility::Immutable) }))
    .chain([AggregateUDF::new_from_impl(ApproxDistinct::new())])
    .collect()
}

fn plan(name: &str, message: String) -> DataFusionError {
    DataFusionError::Plan(format!("{name}: {message}"))
}

impl Statistic {
    fn bitwise(&self) -> bool {
        matches!(self.kind, Kind::BitwiseAnd | Kind::BitwiseOr)
    }
}

impl AggregateUDFImpl for Statistic {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = args else { return Err(plan(self.name, format!("expected one argument, got {}", args.len()))) };
        match self.bitwise() {
            true if t.is_integer() || t.is_null() => Ok(vec![DataType::Int64]),
            true => Err(plan(self.name, format!("x must be a bigint, got {t}"))),
            false if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            false => Err(plan(self.name, format!("x must be a number, got {t}"))),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.bitwise() { DataType::Int64 } else { DataType::Float64 })
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(match self.kind {
            Kind::BitwiseAnd => Box::new(Bits { value: None, combine: |a, b| a & b }),
            Kind::BitwiseOr => Box::new(Bits { value: None, combine: |a, b| a | b }),
            kind => Box::new(Moments { kind: Some(kind), ..Moments::default() }),
        })
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if self.bitwise() {
            return Ok(vec![Arc::new(Field::new(format!("{}_value", args.name), DataType::Int64, true))]);
        }
        let mut fields = vec![Arc::new(Field::new(format!("{}_count", args.name), DataType::Int64, true))];
        for m in ["m1", "m2", "m3", "m4"] {
            fields.push(Arc::new(Field::new(format!("{}_{m}", args.name), DataType::Float64, true)));
        }
        Ok(fields)
    }
}

/// The count and central moments of the values, updated and merged as Trino's CentralMomentsState
/// is (a geometric mean keeps the sum of logarithms in `m1`).
#[derive(Debug, Default)]
struct Moments {
    kind: Option<Kind>,
    n: i64,
    m1: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        if self.kind == Some(Kind::GeometricMean) {
            self.n += 1;
            self.m1 += x.ln();
            return;
        }
        let (n1, n) = (self.n as f64, (self.n + 1) as f64);
        let delta = x - self.m1;
        let delta_n = delta / n;
        let delta_n2 = delta_n * delta_n;
        let dm2 = delta * delta_n * n1;
        self.m4 += dm2 * delta_n2 * (n * n - 3.0 * n + 3.0) + 6.0 * delta_n2 * self.m2 - 4.0 * delta_n * self.m3;
        self.m3 += dm2 * delta_n * (n - 2.0) - 3.0 * delta_n * self.m2;
        self.m2 += dm2;
        self.m1 += delta_n;
        self.n += 1;
    }

    fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        if self.kind == Some(Kind::GeometricMean) || self.n == 0 {
            let geometric = self.kind == Some(Kind::GeometricMean);
            if geometric {
                self.n += other.n;
                self.m1 += other.m1;
            } else {
                (self.n, self.m1, self.m2, self.m3, self.m4) = (other.n, other.m1, other.m2, other.m3, other.m4);
            }
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.m1 - self.m1;
        let (d2, d3, d4) = (delta * delta, delta.powi(3), delta.powi(4));
        let m4 = self.m4 + other.m4 + d4 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n)
            + 6.0 * d2 * (na * na * other.m2 + nb * nb * self.m2) / (n * n)
            + 4.0 * delta * (na * other.m3 - nb * self.m3) / n;
        let m3 = self.m3 + other.m3 + d3 * na * nb * (na - nb) / (n * n) + 3.0 * delta * (na * other.m2 - nb * self.m2) / n;
        let m2 = self.m2 + other.m2 + d2 * na * nb / n;
        (self.n, self.m1, self.m2, self.m3, self.m4) = (self.n + other.n, self.m1 + delta * nb / n, m2, m3, m4);
    }
}

impl Accumulator for Moments {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        values[0].as_primitive::<Float64Type>().iter().flatten().for_each(|x| self.add(x));
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.n as f64;
        Ok(ScalarValue::Float64(match self.kind {
            Some(Kind::GeometricMean) => (self.n > 0).then(|| (self.m1 / n).exp()),
            Some(Kind::Skewness) => (self.n >= 3).then(|| n.sqrt() * self.m3 / self.m2.powf(1.5)),
            Some(Kind::Kurtosis) => (self.n >= 4).then(|| {
                ((n - 1.0) * n * (n + 1.0)) / ((n - 2.0) * (n - 3.0)) * self.m4 / (self.m2 * self.m2)
                    - 3.0 * ((n - 1.0) * (n - 1.0)) / ((n - 2.0) * (n - 3.0))
            }),
            _ => None,
        }))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(Some(self.n)),
            ScalarValue::Float64(Some(self.m1)),
            ScalarValue::Float64(Some(self.m2)),
            ScalarValue::Float64(Some(self.m3)),
            ScalarValue::Float64(Some(self.m4)),
        ])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<Int64Type>();
        let moment = |j: usize, i: usize| states[j].as_primitive::<Float64Type>().value(i);
        for i in 0..counts.len() {
            if counts.is_valid(i) {
                let other =
                    Moments { kind: self.kind, n: counts.value(i), m1: moment(1, i), m2: moment(2, i), m3: moment(3, i), m4: moment(4, i) };
                self.merge(&other);
            }
        }
        Ok(())
    }
}

/// `bitwise_and_agg` / `bitwise_or_agg`: NULL over no (non-NULL) rows.
#[derive(Debug)]
struct Bits {
    value: Option<i64>,
    combine: fn(i64, i64) -> i64,
}

impl Accumulator for Bits {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Int64Type>().iter().flatten() {
            self.value = Some(self.value.map_or(v, |acc| (self.combine)(acc, v)));
        }
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(self.value))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(self.value)])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
}

/// Trino's bounds on approx_distinct's maximum standard error.
const LOWEST_MAX_STANDARD_ERROR: f64 = 0.0040625;
const HIGHEST_MAX_STANDARD_ERROR: f64 = 0.26;

/// `approx_distinct(x[, e])`: DataFusion's HyperLogLog count, with Trino's second argument checked.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ApproxDistinct {
    signature: Signature,
}

impl ApproxDistinct {
    fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn datafusion_approx_distinct() -> Arc<AggregateUDF> {
    datafusion::functions_aggregate::approx_distinct::approx_distinct_udaf()
}

impl AggregateUDFImpl for ApproxDistinct {
    fn name(&self) -> &str {
        "approx_distinct"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [x] => Ok(vec![x.clone()]),
            [x, e] if e.is_numeric() || e.is_null() => Ok(vec![x.clone(), DataType::Float64]),
            [_, e] => Err(plan("approx_distinct", format!("the maximum standard error must be a double, got {e}"))),
            _ => Err(plan("approx_distinct", format!("expected approx_distinct(x[, e]), got {} arguments", args.len()))),
        }
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        datafusion_approx_distinct().return_type(&args[..1])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // DataFusion's accumulator reads only the first argument's type.
        Ok(Box::new(StandardErrorChecked { inner: datafusion_approx_distinct().accumulator(args)? }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        datafusion_approx_distinct().state_fields(args)
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        datafusion_approx_distinct().default_value(data_type)
    }
    fn is_nullable(&self) -> bool {
        datafusion_approx_distinct().is_nullable()
    }
    // Grouped, the one-argument form keeps DataFusion's faster accumulator.
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        args.exprs.len() == 1 && datafusion_approx_distinct().groups_accumulator_supported(args)
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn datafusion::logical_expr::GroupsAccumulator>> {
        datafusion_approx_distinct().create_groups_accumulator(args)
    }
}

#[derive(Debug)]
struct StandardErrorChecked {
    inner: Box<dyn Accumulator>,
}

impl Accumulator for StandardErrorChecked {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if let Some(errors) = values.get(1) {
            for e in errors.as_primitive::<Float64Type>().iter() {
                let e = e.ok_or_else(|| DataFusionError::Execution("approx_distinct: the maximum standard error cannot be NULL".into()))?;
                if !(LOWEST_MAX_STANDARD_ERROR..=HIGHEST_MAX_STANDARD_ERROR).contains(&e) {
                    let shown = |v: f64| crate::capabilities::sql::athena::render::java_double(v);
                    return Err(DataFusionError::Execution(format!(
                        "Max standard error must be in [{}, {}]: {}",
                        shown(LOWEST_MAX_STANDARD_ERROR),
                        shown(HIGHEST_MAX_STANDARD_ERROR),
                        shown(e)
                    )));
                }
            }
        }
        self.inner.update_batch(&values[..1])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_moments_equal_moments_of_all_rows() {
        let kind = Some(Kind::Kurtosis);
        let empty = || Moments { kind, ..Default::default() };
        let (mut all, mut a, mut b) = (empty(), empty(), empty());
        for (i, x) in [1.0, 2.0, 4.0, 8.0, 3.0, 10.0, -2.0].into_iter().enumerate() {
            all.add(x);
            if i < 3 { a.add(x) } else { b.add(x) }
        }
        a.merge(&b);
        for (x, y) in [(a.m1, all.m1), (a.m2, all.m2), (a.m3, all.m3), (a.m4, all.m4)] {
            assert!((x - y).abs() < 1e-9 * y.abs().max(1.0), "{x} vs {y}");
        }
    }
}
