//! `random()`, `random(n)` and `random(m, n)` as Trino has them: a double in [0, 1), an integer in
//! [0, n), an integer in [m, n) of the arguments' type. DataFusion's `random` takes no argument.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use rand::Rng;

use super::integer;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Random {
    signature: Signature,
}

impl Random {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Volatile) }
    }
}

fn plan(message: String) -> DataFusionError {
    DataFusionError::Plan(format!("random: {message}"))
}

/// A bound one row draws below: Trino checks it row by row.
fn draw(rng: &mut impl Rng, low: Option<i64>, high: Option<i64>, ranged: bool) -> Result<Option<i64>> {
    let (Some(low), Some(high)) = (low, high) else { return Ok(None) };
    if low >= high {
        let message = if ranged { "start value must be less than stop value" } else { "bound must be positive" };
        return Err(DataFusionError::Execution(format!("random: {message}")));
    }
    Ok(Some(rng.random_range(low..high)))
}

impl ScalarUDFImpl for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() > 2 {
            return Err(plan(format!("expected random(), random(n) or random(m, n), got {} arguments", args.len())));
        }
        if let Some(t) = args.iter().find(|t| !(t.is_integer() || t.is_null())) {
            return Err(plan(format!("the bounds must be integers, got {t}")));
        }
        // The integer type of the bounds (Trino: tinyint, smallint, integer or bigint), bigint when unsigned or mixed.
        let common = match args {
            [t] | [t, _] if args.iter().all(|a| a == t) && matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32) => t.clone(),
            _ => DataType::Int64,
        };
        Ok(vec![common; args.len()])
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Float64))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut rng = rand::rng();
        if args.args.is_empty() {
            let values: Float64Array = (0..rows).map(|_| Some(rng.random::<f64>())).collect();
            return Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef));
        }
        let returns = args.return_field.data_type().clone();
        // One draw per row, a constant bound included.
        let arrays = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let bound = |a: &ArrayRef| ScalarValue::try_from_array(a, i).and_then(|v| integer(&v).map_err(DataFusionError::Execution));
            let (low, high) = match arrays.as_slice() {
                [n] => (Some(0), bound(n)?),
                [m, n] => (bound(m)?, bound(n)?),
                _ => unreachable!("coerce_types allows at most two arguments"),
            };
            out.push(ScalarValue::Int64(draw(&mut rng, low, high, arrays.len() == 2)?).cast_to(&returns)?);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(arrow::array::new_empty_array(&returns)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}
