//! Casts as Trino has them.
//!
//! DataFusion names `CAST(x AS T)` after `x` alone, so `sum(x)` and
//! `sum(CAST(x AS double))` (or `GROUP BY x, CAST(x AS varchar)`) get the same
//! name and the plan fails with "duplicate field name". The rewrite therefore
//! casts `athena_cast(x, 'T')` instead of `x`: an identity function named after
//! the whole cast, which the optimizer removes again ([`CAST_NAMED`]).
//!
//! `CAST(x AS varchar(n))` truncates a longer string to n characters in Trino,
//! and fails for a non-string value that does not fit (TRY_CAST: NULL);
//! `char(n)` does the same and pads with spaces to n. DataFusion ignores the
//! length; the rewrite calls [`CAST_SIZED_TEXT`] instead.
//!
//! A varchar casts to boolean in Trino only from 'true', 'false', 't', 'f',
//! '1', '0' (any case); DataFusion also takes 'yes', 'on', ... The rewrite
//! casts through [`CAST_TO_BOOLEAN`].
//!
//! A timestamp casts to varchar as Trino's timestamp(3) text,
//! `2024-01-31 23:59:59.123` (` UTC` after a zoned one); DataFusion writes ISO
//! with a 'T'. The rewrite casts through [`CAST_TO_VARCHAR`].

use std::sync::Arc;

use arrow::array::{Array, StringArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::super::render;
use super::numbers::ROUND_FOR_INTEGER_CAST;
use super::{RowFunction, arity, integer, want_integer};

pub const CAST_NAMED: &str = "athena_cast";
pub const CAST_SIZED_TEXT: &str = "athena_cast_sized_text";
pub const CAST_TO_BOOLEAN: &str = "athena_cast_boolean";
pub const CAST_TO_VARCHAR: &str = "athena_cast_varchar";

/// `athena_cast_varchar(x)`: `CAST(x AS varchar)`, timestamps written as Trino writes them, doubles as Java does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CastToVarchar {
    signature: Signature,
}

impl CastToVarchar {
    pub fn new() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for CastToVarchar {
    fn name(&self) -> &str {
        CAST_TO_VARCHAR
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = args.args.swap_remove(0);
        // Timestamps as Trino writes them, doubles as Java prints them (1.0E7).
        if !matches!(value.data_type(), DataType::Timestamp(..) | DataType::Float64 | DataType::Float32) {
            return value.cast_to(&DataType::Utf8, None);
        }
        Ok(match value {
            ColumnarValue::Scalar(s) => ColumnarValue::Scalar(ScalarValue::Utf8((!s.is_null()).then(|| render::scalar(&s)))),
            ColumnarValue::Array(a) => {
                let text: StringArray = (0..a.len()).map(|i| render::cell(&a, i)).collect();
                ColumnarValue::Array(Arc::new(text))
            }
        })
    }
}

/// `athena_cast(x, 'TYPE')` is `x`, named `CAST(x AS TYPE)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CastNamed {
    signature: Signature,
}

impl CastNamed {
    pub fn new() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for CastNamed {
    fn name(&self) -> &str {
        CAST_NAMED
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let value = &args.arg_fields[0];
        Ok(Field::new(self.name(), value.data_type().clone(), value.is_nullable()).into())
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let [value, Expr::Literal(ScalarValue::Utf8(Some(type_name)), _)] = args else {
            return plan_err!("{CAST_NAMED} takes a value and a type name");
        };
        // The rounding an integer cast adds (and the strict boolean parse) is not part of the name.
        let value = match value {
            Expr::ScalarFunction(f) if f.name() == ROUND_FOR_INTEGER_CAST && f.args.len() == 1 => &f.args[0],
            Expr::ScalarFunction(f) if f.name() == CAST_TO_BOOLEAN && f.args.len() == 2 => &f.args[0],
            Expr::ScalarFunction(f) if f.name() == CAST_TO_VARCHAR && f.args.len() == 1 => &f.args[0],
            other => other,
        };
        Ok(format!("CAST({} AS {type_name})", value.schema_name()))
    }
    fn simplify(&self, mut args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(args.swap_remove(0)))
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args.swap_remove(0))
    }
}

/// `athena_cast_sized_text(x, n, padded, try)`: `CAST(x AS varchar(n))`, or
/// `char(n)` when `padded`, or their TRY_CAST when `try`.
pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new(CAST_SIZED_TEXT, coerce, |_| Ok(DataType::Utf8), sized_text),
        RowFunction::new(CAST_TO_BOOLEAN, coerce_boolean, |_| Ok(DataType::Boolean), to_boolean),
    ]
}

fn coerce_boolean(args: &[DataType]) -> std::result::Result<Vec<DataType>, String> {
    arity(args, &[2], "athena_cast_boolean(value, try)")?;
    Ok(vec![args[0].clone(), DataType::Boolean])
}

/// `athena_cast_boolean(x, try)`: `CAST(x AS boolean)`, or its TRY_CAST when `try`.
pub(super) fn to_boolean(args: &[ScalarValue], _: &DataType) -> std::result::Result<ScalarValue, String> {
    let is_try = matches!(args[1], ScalarValue::Boolean(Some(true)));
    let failed = |message: String| if is_try { Ok(ScalarValue::Boolean(None)) } else { Err(message) };
    match &args[0] {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => match s.as_deref() {
            None => Ok(ScalarValue::Boolean(None)),
            Some(s) if ["true", "t", "1"].iter().any(|t| s.eq_ignore_ascii_case(t)) => Ok(ScalarValue::Boolean(Some(true))),
            Some(s) if ["false", "f", "0"].iter().any(|f| s.eq_ignore_ascii_case(f)) => Ok(ScalarValue::Boolean(Some(false))),
            Some(s) => failed(format!("Cannot cast '{s}' to BOOLEAN")),
        },
        other => match other.cast_to(&DataType::Boolean) {
            Ok(b) => Ok(b),
            Err(e) => failed(format!("Cannot cast {other} to BOOLEAN: {e}")),
        },
    }
}

fn coerce(args: &[DataType]) -> std::result::Result<Vec<DataType>, String> {
    arity(args, &[4], "athena_cast_sized_text(value, length, padded, try)")?;
    Ok(vec![args[0].clone(), want_integer(&args[1], "length")?, DataType::Boolean, DataType::Boolean])
}

pub(super) fn sized_text(args: &[ScalarValue], _: &DataType) -> std::result::Result<ScalarValue, String> {
    let flag = |v: &ScalarValue| matches!(v, ScalarValue::Boolean(Some(true)));
    let (length, padded, is_try) = (integer(&args[1])?.unwrap_or(0).max(0) as usize, flag(&args[2]), flag(&args[3]));
    let type_name = if padded { format!("char({length})") } else { format!("varchar({length})") };
    let from_text = matches!(args[0].data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let text = match args[0].cast_to(&DataType::Utf8) {
        Ok(_) if matches!(args[0].data_type(), DataType::Timestamp(..)) && !args[0].is_null() => Some(render::scalar(&args[0])),
        Ok(ScalarValue::Utf8(text)) => text,
        Ok(other) => return Err(format!("cannot cast {} to {type_name}", other.data_type())),
        Err(_) if is_try => None,
        Err(e) => return Err(format!("cannot cast {} to {type_name}: {e}", args[0])),
    };
    let Some(text) = text else { return Ok(ScalarValue::Utf8(None)) };
    let chars = text.chars().count();
    let mut text = if chars <= length {
        text
    } else if from_text {
        text.chars().take(length).collect()
    } else if is_try {
        return Ok(ScalarValue::Utf8(None));
    } else {
        return Err(format!("Value {text} cannot be represented as {type_name}"));
    };
    if padded {
        let short = length.saturating_sub(text.chars().count());
        text.extend(std::iter::repeat_n(' ', short));
    }
    Ok(ScalarValue::Utf8(Some(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast(value: ScalarValue, length: i64, padded: bool, is_try: bool) -> std::result::Result<ScalarValue, String> {
        sized_text(&[value, ScalarValue::Int64(Some(length)), ScalarValue::Boolean(Some(padded)), ScalarValue::Boolean(Some(is_try))], &DataType::Utf8)
    }

    #[test]
    fn sized_text_truncates_strings_pads_chars_and_rejects_long_numbers() {
        let text = |s: &str| ScalarValue::Utf8(Some(s.into()));
        assert_eq!(cast(text("ABC"), 2, false, false).unwrap(), text("AB"));
        assert_eq!(cast(text("ABC"), 5, false, false).unwrap(), text("ABC"));
        assert_eq!(cast(text("A"), 3, true, false).unwrap(), text("A  "));
        assert_eq!(cast(text("éàü"), 2, false, false).unwrap(), text("éà"));
        assert_eq!(cast(ScalarValue::Int64(Some(12)), 2, false, false).unwrap(), text("12"));
        let e = cast(ScalarValue::Int64(Some(123)), 2, false, false).unwrap_err();
        assert!(e.contains("123 cannot be represented as varchar(2)"), "{e}");
        assert_eq!(cast(ScalarValue::Int64(Some(123)), 2, false, true).unwrap(), ScalarValue::Utf8(None));
        assert_eq!(cast(ScalarValue::Utf8(None), 2, true, false).unwrap(), ScalarValue::Utf8(None));
    }
}
