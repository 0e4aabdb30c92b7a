//! `element_at` as Trino has it: 1-based array subscripts (negative from the
//! end, NULL past either end) and map lookups that return the value itself.
//! DataFusion's `element_at` is map-only and returns a list.

use arrow::array::Array;
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, null_of};

pub fn functions() -> Vec<RowFunction> {
    vec![RowFunction::new("element_at", coerce_element_at, returns_element, element_at)]
}

fn coerce_element_at(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "element_at(array, index) or element_at(map, key)")?;
    match &args[0] {
        DataType::List(_) => Ok(vec![args[0].clone(), DataType::Int64]),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(vec![DataType::List(f.clone()), DataType::Int64]),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => Ok(vec![args[0].clone(), kv[0].data_type().clone()]),
            other => Err(format!("unexpected map entries {other}")),
        },
        other => Err(format!("the first argument must be an array or a map, got {other}")),
    }
}

fn returns_element(args: &[DataType]) -> Result<DataType, String> {
    match &args[0] {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(f.data_type().clone()),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => Ok(kv[1].data_type().clone()),
            other => Err(format!("unexpected map entries {other}")),
        },
        other => Err(format!("the first argument must be an array or a map, got {other}")),
    }
}

fn element_at(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let at = |array: &dyn Array, i: usize| ScalarValue::try_from_array(array, i).map_err(|e| e.to_string());
    match &args[0] {
        ScalarValue::List(list) if !list.is_null(0) => {
            let ScalarValue::Int64(Some(index)) = args[1] else { return null_of(returns) };
            let values = list.value(0);
            let len = values.len() as i64;
            let position = match index {
                0 => return Err("SQL array indices start at 1".into()),
                i if i > 0 => i - 1,
                i => len + i,
            };
            if position < 0 || position >= len { null_of(returns) } else { at(&values, position as usize) }
        }
        ScalarValue::Map(map) if !map.is_null(0) => {
            if args[1].is_null() {
                return null_of(returns);
            }
            let entries = map.value(0);
            for i in 0..entries.len() {
                if at(entries.column(0), i)? == args[1] {
                    return at(entries.column(1), i);
                }
            }
            null_of(returns)
        }
        _ => null_of(returns),
    }
}
