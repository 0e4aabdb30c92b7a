//! `CAST(x AS array(T))` converts every element as Trino's `CAST(element AS T)` does: a fraction
//! rounds half away from zero into an integer type, `varchar(n)` / `char(n)` cut (and pad), a
//! varchar becomes a boolean only from true/false/t/f/1/0, and doubles and timestamps become
//! Trino's text (`1.0E7`, `2024-01-31 23:59:59.123`). DataFusion casts the elements with Arrow's
//! kernels instead. The rewrite casts `athena_cast_elements(x, kind, n, padded, try)`, whose
//! elements are already converted where Arrow would differ (rounded, still fractional, for an
//! integer type), so the outer cast only changes the type.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, new_empty_array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::super::render;
use super::casts::{sized_text, to_boolean};
use super::numbers::round_decimal;

pub const CAST_ELEMENTS: &str = "athena_cast_elements";

/// What the elements are cast to, as far as their conversion differs from Arrow's.
#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Varchar,
    Sized { length: i64, padded: bool },
    Boolean,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CastElements {
    signature: Signature,
}

impl CastElements {
    pub fn new() -> Self {
        Self { signature: Signature::any(5, Volatility::Immutable) }
    }
}

fn kind_of(args: &[Option<&ScalarValue>]) -> Result<Kind> {
    let kind = match args.get(1) {
        Some(Some(ScalarValue::Utf8(Some(kind)))) => kind.as_str(),
        _ => return plan_err!("{CAST_ELEMENTS}: the kind must be a constant"),
    };
    let length = match args.get(2) {
        Some(Some(value)) => match value.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => n,
            _ => 0,
        },
        _ => 0,
    };
    let padded = matches!(args.get(3), Some(Some(ScalarValue::Boolean(Some(true)))));
    Ok(match kind {
        "integer" => Kind::Integer,
        "varchar" => Kind::Varchar,
        "sized" => Kind::Sized { length, padded },
        "boolean" => Kind::Boolean,
        other => return plan_err!("{CAST_ELEMENTS}: unknown kind '{other}'"),
    })
}

/// The type of the converted value: the leaves of the (nested) list replaced.
fn converted_type(data_type: &DataType, kind: Kind) -> Result<DataType> {
    Ok(match data_type {
        DataType::List(field) => DataType::List(Arc::new(Field::new(field.name(), converted_type(field.data_type(), kind)?, true))),
        DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            return plan_err!("CAST(... AS array(...)) of a {data_type} is not supported locally: build the array with ARRAY[...]");
        }
        leaf => match kind {
            Kind::Integer => leaf.clone(),
            Kind::Varchar | Kind::Sized { .. } => DataType::Utf8,
            Kind::Boolean => DataType::Boolean,
        },
    })
}

fn convert_leaf(value: ScalarValue, kind: Kind) -> std::result::Result<ScalarValue, String> {
    let flag = |b: bool| ScalarValue::Boolean(Some(b));
    match kind {
        Kind::Integer => Ok(match value {
            ScalarValue::Float64(v) => ScalarValue::Float64(v.map(f64::round)),
            ScalarValue::Float32(v) => ScalarValue::Float32(v.map(f32::round)),
            ScalarValue::Decimal128(v, p, s) => ScalarValue::Decimal128(v.map(|v| round_decimal(v, s)), p, s),
            other => other,
        }),
        Kind::Varchar => match value {
            v if v.is_null() => Ok(ScalarValue::Utf8(None)),
            v @ (ScalarValue::Float64(_) | ScalarValue::Float32(_)) => Ok(ScalarValue::Utf8(Some(render::scalar(&v)))),
            v if matches!(v.data_type(), DataType::Timestamp(..)) => Ok(ScalarValue::Utf8(Some(render::scalar(&v)))),
            other => other.cast_to(&DataType::Utf8).map_err(|e| e.to_string()),
        },
        Kind::Sized { length, padded } => sized_text(&[value, ScalarValue::Int64(Some(length)), flag(padded), flag(false)], &DataType::Utf8),
        Kind::Boolean => to_boolean(&[value, flag(false)], &DataType::Boolean),
    }
}

fn convert(values: &ArrayRef, kind: Kind) -> Result<ArrayRef> {
    if let DataType::List(field) = values.data_type() {
        let list = values.as_list::<i32>();
        // Only the elements this (possibly sliced) list holds, so that others cannot fail it.
        let (start, end) = (list.value_offsets()[0], list.value_offsets()[list.len()]);
        let inner = convert(&list.values().slice(start as usize, (end - start) as usize), kind)?;
        let offsets = OffsetBuffer::new(list.value_offsets().iter().map(|o| o - start).collect::<Vec<i32>>().into());
        let field = Arc::new(Field::new(field.name(), inner.data_type().clone(), true));
        return Ok(Arc::new(ListArray::try_new(field, offsets, inner, list.nulls().cloned())?));
    }
    let target = converted_type(values.data_type(), kind)?;
    if values.is_empty() {
        return Ok(new_empty_array(&target));
    }
    let converted = (0..values.len())
        .map(|i| {
            let value = ScalarValue::try_from_array(values, i)?;
            convert_leaf(value, kind).map_err(|m| DataFusionError::Execution(format!("CAST to array: {m}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // A NULL-typed element (ARRAY[NULL]) converts to a NULL of the target type.
    let converted = converted
        .into_iter()
        .map(|v| if v.is_null() { ScalarValue::try_from(&target) } else { Ok(v) })
        .collect::<Result<Vec<_>>>()?;
    ScalarValue::iter_to_array(converted)
}

impl ScalarUDFImpl for CastElements {
    fn name(&self) -> &str {
        CAST_ELEMENTS
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("return_field_from_args is used")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let kind = kind_of(args.scalar_arguments)?;
        let value = args.arg_fields[0].data_type();
        let data_type = match value {
            DataType::Null => value.clone(),
            DataType::List(_) => converted_type(value, kind)?,
            other => return plan_err!("CAST(... AS array(...)) needs an array, got {other}"),
        };
        Ok(Field::new(self.name(), data_type, true).into())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars: Vec<Option<&ScalarValue>> =
            args.args.iter().map(|a| if let ColumnarValue::Scalar(s) = a { Some(s) } else { None }).collect();
        let kind = kind_of(&scalars)?;
        let is_try = matches!(scalars.get(4), Some(Some(ScalarValue::Boolean(Some(true)))));
        let value = &args.args[0];
        if value.data_type() == DataType::Null {
            return Ok(value.clone());
        }
        let array = value.to_array(args.number_rows)?;
        // TRY_CAST gives NULL for an array any of whose elements fails, not NULL elements.
        let converted = if is_try {
            let target = converted_type(array.data_type(), kind)?;
            let rows = (0..array.len())
                .map(|i| match convert(&array.slice(i, 1), kind) {
                    Ok(row) => ScalarValue::try_from_array(&row, 0),
                    Err(_) => ScalarValue::try_from(&target),
                })
                .collect::<Result<Vec<_>>>()?;
            if rows.is_empty() { new_empty_array(&target) } else { ScalarValue::iter_to_array(rows)? }
        } else {
            convert(&array, kind)?
        };
        Ok(match value {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&converted, 0)?),
            ColumnarValue::Array(_) => ColumnarValue::Array(converted),
        })
    }
}
