//! Trino array functions DataFusion lacks: `array_average` (of the non-NULL elements),
//! `trim_array(a, n)` (drops the last n), `ngrams(a, n)` (one n-gram of the whole array when
//! n exceeds its length) and `combinations(a, k)` (k ≤ 5, in Trino's order: the lowest index
//! advances first) and `zip(a1, a2, ...)` (an array of rows `field0`, `field1`, ..., the shorter arrays padded with
//! NULLs). DataFusion alone: "Invalid function ...".

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, StructArray, new_null_array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, null_of, want_integer};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("array_average", coerce_doubles, |_| Ok(DataType::Float64), array_average),
        RowFunction::new("trim_array", coerce_array_and_count, |args| Ok(args[0].clone()), trim_array),
        RowFunction::new("ngrams", coerce_array_and_count, |args| Ok(DataType::new_list(args[0].clone(), true)), ngrams),
        RowFunction::new("combinations", coerce_array_and_count, |args| Ok(DataType::new_list(args[0].clone(), true)), combinations),
        RowFunction::new("zip", coerce_arrays, zipped_type, zip),
    ]
}

fn element_field(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

fn coerce_doubles(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "array_average(array(double))")?;
    match element_field(&args[0]) {
        Some(f) if f.data_type().is_numeric() || f.data_type().is_null() => Ok(vec![DataType::new_list(DataType::Float64, true)]),
        _ if args[0].is_null() => Ok(vec![DataType::new_list(DataType::Float64, true)]),
        _ => Err(format!("the argument must be an array of numbers, got {}", args[0])),
    }
}

fn coerce_array_and_count(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "(array, n)")?;
    match element_field(&args[0]) {
        Some(f) => Ok(vec![DataType::List(f.clone()), want_integer(&args[1], "n")?]),
        None => Err(format!("the first argument must be an array, got {}", args[0])),
    }
}

/// The elements of a non-NULL array scalar, and its element field.
fn elements(value: &ScalarValue) -> Option<(ArrayRef, FieldRef)> {
    let ScalarValue::List(list) = value else { return None };
    if list.is_null(0) {
        return None;
    }
    let DataType::List(field) = list.data_type() else { return None };
    Some((list.value(0), field.clone()))
}

fn list_of(values: ArrayRef, field: &FieldRef) -> ScalarValue {
    ScalarValue::List(Arc::new(ListArray::new(field.clone(), OffsetBuffer::from_lengths([values.len()]), values, None)))
}

fn array_average(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some((values, _)) = elements(&args[0]) else { return Ok(ScalarValue::Float64(None)) };
    let values = values.as_any().downcast_ref::<arrow::array::Float64Array>().ok_or("expected an array of doubles")?;
    let (sum, count) = values.iter().flatten().fold((0.0, 0), |(sum, count), x| (sum + x, count + 1));
    Ok(ScalarValue::Float64((count > 0).then(|| sum / count as f64)))
}

fn trim_array(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some((values, field)), Some(size)) = (elements(&args[0]), integer(&args[1])?) else { return null_of(returns) };
    if size < 0 {
        return Err(format!("size must not be negative: {size}"));
    }
    if size as usize > values.len() {
        return Err(format!("size must not exceed array cardinality {}: {size}", values.len()));
    }
    Ok(list_of(values.slice(0, values.len() - size as usize), &field))
}

/// Arrays of the given slices of `values`, as one array scalar of arrays.
fn arrays_of(values: &ArrayRef, field: &FieldRef, picks: Vec<Vec<usize>>) -> Result<ScalarValue, String> {
    let inner: Vec<ScalarValue> = picks
        .into_iter()
        .map(|indices| {
            let indices = arrow::array::UInt32Array::from(indices.into_iter().map(|i| i as u32).collect::<Vec<_>>());
            arrow::compute::take(values, &indices, None).map(|taken| list_of(taken, field)).map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&inner, &DataType::List(field.clone()))))
}

fn ngrams(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some((values, field)), Some(n)) = (elements(&args[0]), integer(&args[1])?) else { return null_of(returns) };
    if n <= 0 {
        return Err("N must be positive".into());
    }
    let width = values.len().min(n as usize);
    let picks = (0..=values.len() - width).map(|start| (start..start + width).collect()).collect();
    arrays_of(&values, &field, picks)
}

const MAX_COMBINATION_LENGTH: i64 = 5;
const MAX_RESULT_ELEMENTS: u64 = 100_000;

fn combinations(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some((values, field)), Some(k)) = (elements(&args[0]), integer(&args[1])?) else { return null_of(returns) };
    if k < 0 {
        return Err(format!("combination size must not be negative: {k}"));
    }
    if k > MAX_COMBINATION_LENGTH {
        return Err(format!("combination size must not exceed {MAX_COMBINATION_LENGTH}: {k}"));
    }
    let (n, k) = (values.len(), k as usize);
    if k > n {
        return arrays_of(&values, &field, Vec::new());
    }
    let count = (0..k).fold(1u64, |c, i| c * (n - i) as u64 / (i as u64 + 1));
    if count * k as u64 > MAX_RESULT_ELEMENTS {
        return Err("combinations exceed max size".into());
    }
    // Trino's order: advance the lowest index that can move, resetting those below it.
    let mut combination: Vec<usize> = (0..k).collect();
    let mut picks = vec![combination.clone()];
    'next: loop {
        for i in 0..k {
            let limit = if i + 1 < k { combination[i + 1] } else { n };
            if combination[i] + 1 < limit {
                combination[i] += 1;
                for (j, c) in combination.iter_mut().enumerate().take(i) {
                    *c = j;
                }
                picks.push(combination.clone());
                continue 'next;
            }
        }
        break;
    }
    arrays_of(&values, &field, picks)
}

/// Trino's zip takes two to five arrays.
fn coerce_arrays(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3, 4, 5], "zip(array1, array2[, ...]) with two to five arrays")?;
    args.iter()
        .map(|t| match element_field(t) {
            Some(f) => Ok(DataType::List(f.clone())),
            None if t.is_null() => Ok(DataType::new_list(DataType::Null, true)),
            None => Err(format!("every argument of zip must be an array, got {t}")),
        })
        .collect()
}

/// The rows' fields, named as Trino shows an anonymous row's: `field0`, `field1`, ...
fn zipped_fields(args: &[DataType]) -> Fields {
    args.iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("field{i}"), element_field(t).map(|f| f.data_type().clone()).unwrap_or(DataType::Null), true))
        .collect()
}

fn zipped_type(args: &[DataType]) -> Result<DataType, String> {
    Ok(DataType::new_list(DataType::Struct(zipped_fields(args)), true))
}

fn zip(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let Some(arrays) = args.iter().map(elements).collect::<Option<Vec<_>>>() else { return null_of(returns) };
    let length = arrays.iter().map(|(values, _)| values.len()).max().unwrap_or(0);
    let columns = arrays
        .iter()
        .map(|(values, field)| {
            let padding = new_null_array(field.data_type(), length - values.len());
            arrow::compute::concat(&[values.as_ref(), padding.as_ref()]).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
    let rows = StructArray::try_new(zipped_fields(&types), columns, None).map_err(|e| e.to_string())?;
    let DataType::List(field) = returns else { return Err(format!("zip returns an array, not {returns}")) };
    Ok(list_of(Arc::new(rows), field))
}
