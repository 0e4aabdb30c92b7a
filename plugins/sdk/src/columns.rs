//! Reading input columns by name as numbers, whatever numeric type the data has,
//! and computing `float64` columns from them.
//!
//! [`numbers`] reads a column in place (no converted copy); [`map`], [`zip_with`]
//! and [`map_or`] convert it block by block into a small buffer that stays in the
//! CPU cache and write each output column in one pass over its value buffer. Nulls
//! are carried as validity bitmaps, never as an `Option` per row.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::DataType;

/// Rows converted at a time: 8 KiB of `f64`, well inside the L1 cache.
const BLOCK: usize = 1024;

/// A numeric column read in place: its value buffer, whatever its type, and its validity bitmap.
#[derive(Clone, Copy)]
pub struct Numbers<'a> {
    values: Values<'a>,
    nulls: Option<&'a NullBuffer>,
}

#[derive(Clone, Copy)]
enum Values<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
    I64(&'a [i64]),
    I32(&'a [i32]),
    I16(&'a [i16]),
    I8(&'a [i8]),
    U64(&'a [u64]),
    U32(&'a [u32]),
    U16(&'a [u16]),
    U8(&'a [u8]),
    Bool(&'a BooleanBuffer),
}

impl<'a> Numbers<'a> {
    /// Reads `column` in place, or `None` if it is not a number or boolean.
    pub fn new(column: &'a dyn Array) -> Option<Self> {
        let values = match column.data_type() {
            DataType::Float64 => Values::F64(column.as_primitive::<Float64Type>().values()),
            DataType::Float32 => Values::F32(column.as_primitive::<Float32Type>().values()),
            DataType::Int64 => Values::I64(column.as_primitive::<Int64Type>().values()),
            DataType::Int32 => Values::I32(column.as_primitive::<Int32Type>().values()),
            DataType::Int16 => Values::I16(column.as_primitive::<Int16Type>().values()),
            DataType::Int8 => Values::I8(column.as_primitive::<Int8Type>().values()),
            DataType::UInt64 => Values::U64(column.as_primitive::<UInt64Type>().values()),
            DataType::UInt32 => Values::U32(column.as_primitive::<UInt32Type>().values()),
            DataType::UInt16 => Values::U16(column.as_primitive::<UInt16Type>().values()),
            DataType::UInt8 => Values::U8(column.as_primitive::<UInt8Type>().values()),
            DataType::Boolean => Values::Bool(column.as_boolean().values()),
            _ => return None,
        };
        Some(Self { values, nulls: column.nulls() })
    }

    pub fn len(&self) -> usize {
        match self.values {
            Values::F64(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I16(v) => v.len(),
            Values::I8(v) => v.len(),
            Values::U64(v) => v.len(),
            Values::U32(v) => v.len(),
            Values::U16(v) => v.len(),
            Values::U8(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which rows are null, if any.
    pub fn nulls(&self) -> Option<&'a NullBuffer> {
        self.nulls
    }

    /// Rows `start..start + out.len()` as `f64` (whatever sits under a null, too).
    fn read(&self, start: usize, out: &mut [f64]) {
        fn convert<T: Copy>(values: &[T], start: usize, out: &mut [f64], f: impl Fn(T) -> f64) {
            let values = &values[start..start + out.len()];
            for (o, v) in out.iter_mut().zip(values) {
                *o = f(*v);
            }
        }
        match self.values {
            Values::F64(v) => out.copy_from_slice(&v[start..start + out.len()]),
            Values::F32(v) => convert(v, start, out, f64::from),
            Values::I64(v) => convert(v, start, out, |x| x as f64),
            Values::I32(v) => convert(v, start, out, f64::from),
            Values::I16(v) => convert(v, start, out, f64::from),
            Values::I8(v) => convert(v, start, out, f64::from),
            Values::U64(v) => convert(v, start, out, |x| x as f64),
            Values::U32(v) => convert(v, start, out, f64::from),
            Values::U16(v) => convert(v, start, out, f64::from),
            Values::U8(v) => convert(v, start, out, f64::from),
            Values::Bool(b) => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if b.value(start + i) { 1.0 } else { 0.0 };
                }
            }
        }
    }
}

impl<'a> From<&'a Float64Array> for Numbers<'a> {
    fn from(array: &'a Float64Array) -> Self {
        Self { values: Values::F64(array.values()), nulls: array.nulls() }
    }
}

impl<'a, 'b> From<&'b Numbers<'a>> for Numbers<'a> {
    fn from(numbers: &'b Numbers<'a>) -> Self {
        *numbers
    }
}

/// A column the batch lacks: the host sends exactly the declared inputs (and refuses an input
/// file without one of them), so it is one the plugin did not declare, whatever the file holds.
fn undeclared(batch: &RecordBatch, name: &str) -> String {
    let declared: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
    format!(
        "input column '{name}' is not a declared input (the host sends only the columns in `inputs`: {}): \
         add it to `inputs` in describe() (.reads(...)) and in plugin.toml",
        if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
    )
}

/// The column `name`, read in place whatever its numeric (or boolean) type.
pub fn numbers<'a>(batch: &'a RecordBatch, name: &str) -> Result<Numbers<'a>, String> {
    let column = batch.column_by_name(name).ok_or_else(|| undeclared(batch, name))?;
    Numbers::new(column.as_ref())
        .ok_or_else(|| format!("input column '{name}' has type {}, expected a number", column.data_type()))
}

/// The column `name` as `Float64Array`: zero-copy when it already is one,
/// converted from any integer, float or boolean column otherwise. Nulls stay null.
pub fn f64_column(batch: &RecordBatch, name: &str) -> Result<Float64Array, String> {
    let column = batch.column_by_name(name).ok_or_else(|| undeclared(batch, name))?;
    if let Some(array) = column.as_primitive_opt::<Float64Type>() {
        return Ok(array.clone());
    }
    Ok(map(numbers(batch, name)?, |v| v))
}

/// Wraps a computed column for the output batch.
pub fn output(values: Float64Array) -> ArrayRef {
    Arc::new(values)
}

/// Applies `f` block by block to the rows of each input, converted to `f64`,
/// collecting what it writes into one value buffer.
fn blocks<const N: usize>(inputs: [Numbers; N], mut f: impl FnMut(&[[f64; BLOCK]; N], usize, &mut Vec<f64>)) -> Vec<f64> {
    let len = inputs[0].len();
    debug_assert!(inputs.iter().all(|c| c.len() == len), "columns of one batch have one length");
    let mut values = Vec::with_capacity(len);
    let mut buffers = [[0.0; BLOCK]; N];
    for start in (0..len).step_by(BLOCK) {
        let n = BLOCK.min(len - start);
        for (input, buffer) in inputs.iter().zip(buffers.iter_mut()) {
            input.read(start, &mut buffer[..n]);
        }
        f(&buffers, n, &mut values);
    }
    values
}

/// Element-wise map of one column; nulls stay null.
pub fn map<'a>(a: impl Into<Numbers<'a>>, f: impl Fn(f64) -> f64) -> Float64Array {
    let a = a.into();
    let values = blocks([a], |[x], n, out| out.extend(x[..n].iter().map(|v| f(*v))));
    Float64Array::new(ScalarBuffer::from(values), a.nulls.cloned())
}

/// Element-wise combination of two columns; a row is null where either input is.
pub fn zip_with<'a, 'b>(a: impl Into<Numbers<'a>>, b: impl Into<Numbers<'b>>, f: impl Fn(f64, f64) -> f64) -> Float64Array {
    let (a, b) = (a.into(), b.into());
    let values = blocks([a, b], |[x, y], n, out| out.extend(x[..n].iter().zip(&y[..n]).map(|(x, y)| f(*x, *y))));
    Float64Array::new(ScalarBuffer::from(values), NullBuffer::union(a.nulls, b.nulls))
}

/// Element-wise combination of three columns; a row is null where any input is.
pub fn zip3_with<'a, 'b, 'c>(
    a: impl Into<Numbers<'a>>,
    b: impl Into<Numbers<'b>>,
    c: impl Into<Numbers<'c>>,
    f: impl Fn(f64, f64, f64) -> f64,
) -> Float64Array {
    let (a, b, c) = (a.into(), b.into(), c.into());
    let values = blocks([a, b, c], |[x, y, z], n, out| {
        out.extend(x[..n].iter().zip(&y[..n]).zip(&z[..n]).map(|((x, y), z)| f(*x, *y, *z)))
    });
    let nulls = NullBuffer::union(NullBuffer::union(a.nulls, b.nulls).as_ref(), c.nulls);
    Float64Array::new(ScalarBuffer::from(values), nulls)
}

/// Element-wise map where a null input becomes `default` instead: the output has no nulls.
/// `f` sees only the values of valid rows.
pub fn map_or<'a>(a: impl Into<Numbers<'a>>, default: f64, f: impl Fn(f64) -> f64) -> Float64Array {
    let a = a.into();
    let values = match a.nulls.filter(|n| n.null_count() > 0) {
        None => blocks([a], |[x], n, out| out.extend(x[..n].iter().map(|v| f(*v)))),
        Some(nulls) => {
            let mut start = 0;
            blocks([a], |[x], n, out| {
                let valid = nulls.inner().slice(start, n);
                out.extend(x[..n].iter().zip(valid.iter()).map(|(v, valid)| if valid { f(*v) } else { default }));
                start += n;
            })
        }
    };
    Float64Array::new(ScalarBuffer::from(values), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BooleanArray, Int32Array, Int64Array};

    fn rows(a: &Float64Array) -> Vec<Option<f64>> {
        a.iter().collect()
    }

    #[test]
    fn reads_any_numeric_type_in_place_across_blocks() {
        let n = 2 * BLOCK + 7;
        let ints = Int64Array::from_iter((0..n as i64).map(|i| (i % 3 != 0).then_some(i)));
        let sliced = ints.slice(5, n - 5);
        let out = map(Numbers::new(&sliced).unwrap(), |v| v * 2.0);
        let expected: Vec<Option<f64>> = (5..n as i64).map(|i| (i % 3 != 0).then_some(2.0 * i as f64)).collect();
        assert_eq!(rows(&out), expected);

        let small = Int32Array::from(vec![Some(1), None, Some(-3)]);
        assert_eq!(rows(&map(Numbers::new(&small).unwrap(), |v| v)), vec![Some(1.0), None, Some(-3.0)]);
        let flags = BooleanArray::from(vec![Some(true), Some(false), None]);
        assert_eq!(rows(&map(Numbers::new(&flags).unwrap(), |v| v)), vec![Some(1.0), Some(0.0), None]);
        assert!(Numbers::new(&arrow_array::StringArray::from(vec!["x"])).is_none());
    }

    #[test]
    fn nulls_combine_and_defaults_replace_them() {
        let a = Float64Array::from(vec![Some(1.0), None, Some(3.0), Some(4.0)]);
        let b = Int64Array::from(vec![Some(10), Some(20), None, Some(40)]);
        let c = Int64Array::from(vec![Some(100), Some(200), Some(300), None]);
        let (nb, nc) = (Numbers::new(&b).unwrap(), Numbers::new(&c).unwrap());
        assert_eq!(rows(&zip_with(&a, nb, |x, y| x + y)), vec![Some(11.0), None, None, Some(44.0)]);
        assert_eq!(rows(&zip3_with(&a, nb, nc, |x, y, z| x + y + z)), vec![Some(111.0), None, None, None]);
        let filled = map_or(nb, -1.0, |v| v / 10.0);
        assert_eq!(filled.null_count(), 0);
        assert_eq!(filled.values().to_vec(), vec![1.0, 2.0, -1.0, 4.0]);
        // The null mask of a slice starts where the slice does.
        let sliced = b.slice(1, 3);
        assert_eq!(map_or(Numbers::new(&sliced).unwrap(), -1.0, |v| v).values().to_vec(), vec![20.0, -1.0, 40.0]);
    }
}
