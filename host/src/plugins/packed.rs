//! Columns as packed buffers across the `column-transform` boundary: Arrow arrays
//! into little-endian value buffers (what a Python guest reads with `array`), and
//! the guest's outputs (values or expressions) back into Arrow arrays.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Int32Type, Int64Type, Schema, SchemaRef};

use super::expr;
use super::schema_check::NonFinite;
use crate::runtime::bindings::{Column, ColumnType, Output};

/// The batch's columns, packed. Types without a packed form travel as float64
/// (other integers) or utf8 (dates, anything else).
pub fn pack_batch(batch: &RecordBatch) -> Result<Vec<Column>, String> {
    let schema = batch.schema();
    schema.fields().iter().zip(batch.columns()).map(|(field, array)| pack(field.name(), array)).collect()
}

fn pack(name: &str, array: &ArrayRef) -> Result<Column, String> {
    let rows = array.len();
    let validity = match array.nulls() {
        Some(nulls) if nulls.null_count() > 0 => nulls.iter().map(u8::from).collect(),
        _ => Vec::new(),
    };
    let bytes_of = |buffer: &[u8]| buffer.to_vec();
    let (type_, values, offsets) = match array.data_type() {
        DataType::Float64 => (ColumnType::Float64, bytes_of(array.as_primitive::<Float64Type>().values().inner().as_slice()), Vec::new()),
        DataType::Float32 => (ColumnType::Float32, bytes_of(array.as_primitive::<Float32Type>().values().inner().as_slice()), Vec::new()),
        DataType::Int64 => (ColumnType::Int64, bytes_of(array.as_primitive::<Int64Type>().values().inner().as_slice()), Vec::new()),
        DataType::Int32 => (ColumnType::Int32, bytes_of(array.as_primitive::<Int32Type>().values().inner().as_slice()), Vec::new()),
        DataType::Boolean => (ColumnType::Boolean, array.as_boolean().values().iter().map(u8::from).collect(), Vec::new()),
        DataType::Utf8 => utf8(array.as_string::<i32>()),
        t if t.is_numeric() => {
            let cast = arrow::compute::cast(array, &DataType::Float64).map_err(|e| format!("input column '{name}': {e}"))?;
            (ColumnType::Float64, bytes_of(cast.as_primitive::<Float64Type>().values().inner().as_slice()), Vec::new())
        }
        _ => {
            let cast =
                arrow::compute::cast(array, &DataType::Utf8).map_err(|e| format!("input column '{name}' ({}): {e}", array.data_type()))?;
            utf8(cast.as_string::<i32>())
        }
    };
    Ok(Column { name: name.to_string(), type_, rows: rows as u32, values, offsets, validity })
}

fn utf8(array: &StringArray) -> (ColumnType, Vec<u8>, Vec<u8>) {
    let offsets = array.value_offsets();
    let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
    let values = array.value_data()[first..last].to_vec();
    let offsets = offsets.iter().flat_map(|o| (o - offsets[0]).to_le_bytes()).collect();
    (ColumnType::Utf8, values, offsets)
}

/// Bytes a guest's outputs take (for the output limit).
pub fn output_size(output: &Output) -> usize {
    match output {
        Output::Values(c) => c.values.len() + c.offsets.len() + c.validity.len(),
        Output::Expression(nodes) => nodes.len() * 32,
    }
}

/// Why the guest's outputs gave no columns.
pub enum UnpackError {
    Invalid(String),
    /// An expression gave a value its declared integer or boolean type can't hold, at this row of the batch.
    Unfit(NonFinite),
}

impl From<String> for UnpackError {
    fn from(message: String) -> Self {
        UnpackError::Invalid(message)
    }
}

/// The guest's outputs as Arrow arrays, in the declared order: values unpacked,
/// expressions evaluated over `input`. The schema has the types as found, for the caller to check.
pub fn unpack_outputs(outputs: Vec<Output>, input: &RecordBatch, declared: &SchemaRef) -> Result<(Schema, Vec<ArrayRef>), UnpackError> {
    if outputs.len() != declared.fields().len() {
        return Err(format!("output: expected {} columns (declared), found {}", declared.fields().len(), outputs.len()).into());
    }
    let mut fields = Vec::with_capacity(outputs.len());
    let mut arrays = Vec::with_capacity(outputs.len());
    for (output, field) in outputs.into_iter().zip(declared.fields()) {
        let array = match output {
            Output::Values(column) => {
                if column.name != *field.name() {
                    return Err(format!("output column {}: expected '{}' (declared), found '{}'", arrays.len(), field.name(), column.name).into());
                }
                unpack(column)?
            }
            Output::Expression(nodes) => {
                expr::evaluate(&nodes, input, field.data_type()).map_err(|e| match e {
                    expr::EvalError::Invalid(e) => UnpackError::Invalid(format!("output column '{}': {e}", field.name())),
                    expr::EvalError::Unfit { row, value, count } => UnpackError::Unfit(NonFinite {
                        column: field.name().clone(),
                        row,
                        value,
                        count,
                        user_id: None,
                        located: false,
                        without_manifest: false,
                        declared: Some(match field.data_type() {
                            DataType::Boolean => "boolean",
                            DataType::Int32 => "int32",
                            _ => "int64",
                        }),
                    }),
                })?
            }
        };
        fields.push(Field::new(field.name(), array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok((Schema::new(fields), arrays))
}

fn unpack(column: Column) -> Result<ArrayRef, String> {
    let rows = column.rows as usize;
    let name = &column.name;
    let nulls = match column.validity.len() {
        0 => None,
        n if n == rows => Some(NullBuffer::from(column.validity.iter().map(|v| *v != 0).collect::<Vec<bool>>())),
        n => return Err(format!("output column '{name}': validity has {n} bytes for {rows} rows")),
    };
    let width = match column.type_ {
        ColumnType::Float64 | ColumnType::Int64 => 8,
        ColumnType::Float32 | ColumnType::Int32 => 4,
        ColumnType::Boolean => 1,
        ColumnType::Utf8 => 0,
    };
    if width > 0 && column.values.len() != rows * width {
        return Err(format!("output column '{name}': {} value bytes for {rows} rows of {width} bytes", column.values.len()));
    }
    let values = &column.values;
    fn read<const N: usize, T>(values: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        values.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N"))).collect()
    }
    Ok(match column.type_ {
        ColumnType::Float64 => Arc::new(Float64Array::new(ScalarBuffer::from(read(values, f64::from_le_bytes)), nulls)),
        ColumnType::Float32 => Arc::new(Float32Array::new(ScalarBuffer::from(read(values, f32::from_le_bytes)), nulls)),
        ColumnType::Int64 => Arc::new(Int64Array::new(ScalarBuffer::from(read(values, i64::from_le_bytes)), nulls)),
        ColumnType::Int32 => Arc::new(Int32Array::new(ScalarBuffer::from(read(values, i32::from_le_bytes)), nulls)),
        ColumnType::Boolean => Arc::new(BooleanArray::new(values.iter().map(|v| *v != 0).collect(), nulls)),
        ColumnType::Utf8 => {
            let offsets: Vec<i32> = read(&column.offsets, i32::from_le_bytes);
            if offsets.len() != rows + 1 {
                return Err(format!("output column '{name}': {} offsets for {rows} rows (expected rows + 1)", offsets.len()));
            }
            let offsets = OffsetBuffer::<i32>::new(ScalarBuffer::from(offsets));
            Arc::new(
                StringArray::try_new(offsets, column.values.into(), nulls)
                    .map_err(|e| format!("output column '{name}': not valid UTF-8 text: {e}"))?,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pack_and_unpack_unchanged() {
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)]));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![7, 8, 9]).slice(0, 3));
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("bé"), None]).slice(0, 3));
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true]));
        for array in [floats, ints, text, flags] {
            let column = pack("c", &array).unwrap();
            assert_eq!(unpack(column).unwrap().to_data(), array.to_data());
        }
    }

    #[test]
    fn short_buffers_are_named() {
        let mut column = pack("ratio", &(Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef)).unwrap();
        column.values.truncate(8);
        assert_eq!(unpack(column).unwrap_err(), "output column 'ratio': 8 value bytes for 2 rows of 8 bytes");
    }
}
