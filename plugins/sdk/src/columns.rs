//! Reading input columns by name as `f64`, whatever numeric type the data has.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};

use arrow_schema::DataType;

/// The column `name` as `Float64Array`: zero-copy when it already is one,
/// converted from any integer, float or boolean column otherwise. Nulls stay null.
pub fn f64_column(batch: &RecordBatch, name: &str) -> Result<Float64Array, String> {
    let column = batch.column_by_name(name).ok_or_else(|| format!("input column '{name}' is missing"))?;
    to_f64(column).ok_or_else(|| format!("input column '{name}' has type {}, expected a number", column.data_type()))
}

fn to_f64(column: &ArrayRef) -> Option<Float64Array> {
    Some(match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().clone(),
        DataType::Float32 => column.as_primitive::<Float32Type>().unary(|v| v as f64),
        DataType::Int64 => column.as_primitive::<Int64Type>().unary(|v| v as f64),
        DataType::Int32 => column.as_primitive::<Int32Type>().unary(|v| v as f64),
        DataType::Int16 => column.as_primitive::<Int16Type>().unary(|v| v as f64),
        DataType::Int8 => column.as_primitive::<Int8Type>().unary(|v| v as f64),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().unary(|v| v as f64),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().unary(|v| v as f64),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().unary(|v| v as f64),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().unary(|v| v as f64),
        DataType::Boolean => {
            let b = column.as_boolean();
            Float64Array::from_iter(b.iter().map(|v| v.map(|x| if x { 1.0 } else { 0.0 })))
        }
        _ => return None,
    })
}

/// Wraps a computed column for the output batch.
pub fn output(values: Float64Array) -> ArrayRef {
    Arc::new(values)
}

/// Element-wise combination of two columns; a row is null where either input is.
pub fn zip_with(a: &Float64Array, b: &Float64Array, f: impl Fn(f64, f64) -> f64) -> Float64Array {
    let nulls = arrow_buffer::NullBuffer::union(a.nulls(), b.nulls());
    let values: Vec<f64> = a.values().iter().zip(b.values().iter()).map(|(x, y)| f(*x, *y)).collect();
    Float64Array::new(values.into(), nulls)
}

/// Element-wise map of one column; nulls stay null.
pub fn map(a: &Float64Array, f: impl Fn(f64) -> f64) -> Float64Array {
    a.unary(f)
}
