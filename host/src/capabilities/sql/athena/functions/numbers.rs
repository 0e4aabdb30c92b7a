//! Trino rounds when it casts a fraction to an integer (half away from zero);
//! DataFusion truncates. `CAST(x AS <integer type>)` is rewritten to
//! `CAST(round_for_integer_cast(x) AS ...)`, and this function rounds floats and
//! decimals while passing every other type through untouched.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

pub const ROUND_FOR_INTEGER_CAST: &str = "round_for_integer_cast";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RoundForIntegerCast {
    signature: Signature,
}

impl RoundForIntegerCast {
    pub fn new() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

pub(super) fn round_decimal(v: i128, scale: i8) -> i128 {
    if scale <= 0 {
        return v;
    }
    let unit = 10i128.pow(scale as u32);
    let (q, r) = (v / unit, v % unit);
    let q = if r.abs() * 2 >= unit { q + r.signum() } else { q };
    q * unit
}

impl ScalarUDFImpl for RoundForIntegerCast {
    fn name(&self) -> &str {
        ROUND_FOR_INTEGER_CAST
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = args.args.remove(0);
        Ok(match value {
            ColumnarValue::Scalar(s) => ColumnarValue::Scalar(match s {
                ScalarValue::Float64(v) => ScalarValue::Float64(v.map(f64::round)),
                ScalarValue::Float32(v) => ScalarValue::Float32(v.map(f32::round)),
                ScalarValue::Decimal128(v, p, s) => ScalarValue::Decimal128(v.map(|v| round_decimal(v, s)), p, s),
                other => other,
            }),
            ColumnarValue::Array(a) => ColumnarValue::Array(match a.data_type() {
                DataType::Float64 => std::sync::Arc::new(a.as_primitive::<Float64Type>().unary::<_, Float64Type>(f64::round)),
                DataType::Float32 => std::sync::Arc::new(a.as_primitive::<Float32Type>().unary::<_, Float32Type>(f32::round)),
                DataType::Decimal128(p, s) => {
                    let (p, s) = (*p, *s);
                    let rounded = a.as_primitive::<Decimal128Type>().unary::<_, Decimal128Type>(|v| round_decimal(v, s));
                    std::sync::Arc::new(rounded.with_precision_and_scale(p, s)?)
                }
                _ => a,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimals_round_half_away_from_zero() {
        assert_eq!(super::round_decimal(250, 2), 300);
        assert_eq!(super::round_decimal(-250, 2), -300);
        assert_eq!(super::round_decimal(249, 2), 200);
        assert_eq!(super::round_decimal(-149, 2), -100);
    }
}
