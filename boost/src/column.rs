//! Arrow columns to f32 without a row-major copy. XGBoost compares features as
//! f32, so Engage does too: bins, thresholds and predictions agree bit for bit.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;

use crate::error::{BoostError, Result};

/// The named column of `batch` as f32; nulls and NaN are missing (NaN).
pub(crate) fn column_f32<'a>(batch: &'a RecordBatch, name: &str) -> Result<Cow<'a, [f32]>> {
    let arr = batch
        .column_by_name(name)
        .ok_or_else(|| BoostError::MissingColumn(name.to_string()))?;
    array_f32(name, arr.as_ref())
}

pub(crate) fn array_f32<'a>(name: &str, arr: &'a dyn Array) -> Result<Cow<'a, [f32]>> {
    fn prim<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, f: impl Fn(T::Native) -> f32) -> Vec<f32> {
        let vals = a.values();
        match a.nulls() {
            None => vals.iter().map(|&v| f(v)).collect(),
            Some(n) => vals
                .iter()
                .enumerate()
                .map(|(i, &v)| if n.is_valid(i) { f(v) } else { f32::NAN })
                .collect(),
        }
    }
    Ok(match arr.data_type() {
        DataType::Float32 => {
            let a = arr.as_primitive::<Float32Type>();
            if a.null_count() == 0 {
                Cow::Borrowed(a.values().as_ref())
            } else {
                Cow::Owned(prim(a, |v| v))
            }
        }
        DataType::Float64 => Cow::Owned(prim(arr.as_primitive::<Float64Type>(), |v| v as f32)),
        DataType::Int8 => Cow::Owned(prim(arr.as_primitive::<Int8Type>(), |v| v as f32)),
        DataType::Int16 => Cow::Owned(prim(arr.as_primitive::<Int16Type>(), |v| v as f32)),
        DataType::Int32 => Cow::Owned(prim(arr.as_primitive::<Int32Type>(), |v| v as f32)),
        DataType::Int64 => Cow::Owned(prim(arr.as_primitive::<Int64Type>(), |v| v as f32)),
        DataType::UInt8 => Cow::Owned(prim(arr.as_primitive::<UInt8Type>(), |v| v as f32)),
        DataType::UInt16 => Cow::Owned(prim(arr.as_primitive::<UInt16Type>(), |v| v as f32)),
        DataType::UInt32 => Cow::Owned(prim(arr.as_primitive::<UInt32Type>(), |v| v as f32)),
        DataType::UInt64 => Cow::Owned(prim(arr.as_primitive::<UInt64Type>(), |v| v as f32)),
        DataType::Boolean => {
            let a = arr.as_boolean();
            Cow::Owned(
                (0..a.len())
                    .map(|i| if a.is_null(i) { f32::NAN } else if a.value(i) { 1.0 } else { 0.0 })
                    .collect(),
            )
        }
        DataType::Null => Cow::Owned(vec![f32::NAN; arr.len()]),
        other => {
            return Err(BoostError::UnsupportedType { column: name.to_string(), dtype: other.to_string() });
        }
    })
}

/// True when Engage can read this type as a feature.
pub(crate) fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float32
            | DataType::Float64
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean
            | DataType::Null
    )
}
