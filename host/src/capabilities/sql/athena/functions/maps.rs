//! Trino map functions DataFusion lacks: `split_to_map(s, entry_delimiter, key_value_delimiter)`
//! (a duplicate key fails, as in Trino), `map_from_entries(array(row(k, v)))` and
//! `map_concat(map1, map2, ...)` (a key's value from the last map holding it; the last map's
//! entries first, then the earlier maps', as Trino builds it). DataFusion alone: "Invalid function ...".

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, MapArray, StructArray, new_empty_array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, null_of, text, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("split_to_map", coerce_split_to_map, |_| Ok(map_type(DataType::Utf8, DataType::Utf8)), split_to_map),
        RowFunction::new("map_from_entries", coerce_map_from_entries, returns_map_from_entries, map_from_entries),
        RowFunction::new("map_concat", coerce_map_concat, |args| Ok(args[0].clone()), map_concat),
    ]
}

/// A map type shaped as DataFusion's `map` function makes them.
pub fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Fields::from(vec![Field::new("key", key, false), Field::new("value", value, true)]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

fn entry_types(map: &DataType) -> Option<(DataType, DataType)> {
    match map {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Some((kv[0].data_type().clone(), kv[1].data_type().clone())),
            _ => None,
        },
        _ => None,
    }
}

fn column(values: Vec<ScalarValue>, t: &DataType) -> Result<ArrayRef, String> {
    if values.is_empty() {
        return Ok(new_empty_array(t));
    }
    ScalarValue::iter_to_array(values).map_err(|e| e.to_string())
}

/// One map of the given type holding `entries` in order.
pub fn map_scalar(map: &DataType, entries: Vec<(ScalarValue, ScalarValue)>) -> Result<ScalarValue, String> {
    let DataType::Map(entries_field, sorted) = map else { return Err(format!("expected a map type, got {map}")) };
    let DataType::Struct(fields) = entries_field.data_type() else { return Err(format!("expected map entries, got {map}")) };
    let count = entries.len();
    let (keys, values): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
    let keys = column(keys, fields[0].data_type())?;
    let values = column(values, fields[1].data_type())?;
    let entries = StructArray::try_new(fields.clone(), vec![keys, values], None).map_err(|e| e.to_string())?;
    let array = MapArray::try_new(entries_field.clone(), OffsetBuffer::from_lengths([count]), entries, None, *sorted)
        .map_err(|e| e.to_string())?;
    Ok(ScalarValue::Map(Arc::new(array)))
}

/// The entries of a map scalar; `None` for NULL.
fn map_entries(value: &ScalarValue) -> Result<Option<Vec<(ScalarValue, ScalarValue)>>, String> {
    let ScalarValue::Map(map) = value else { return Ok(None) };
    if map.is_null(0) {
        return Ok(None);
    }
    let entries = map.value(0);
    (0..entries.len())
        .map(|i| {
            let key = ScalarValue::try_from_array(entries.column(0), i).map_err(|e| e.to_string())?;
            let value = ScalarValue::try_from_array(entries.column(1), i).map_err(|e| e.to_string())?;
            Ok((key, value))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

fn coerce_split_to_map(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[3], "split_to_map(string, entry_delimiter, key_value_delimiter)")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

fn split_to_map(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(entry_delimiter), Some(key_value_delimiter)) = (text(&args[0])?, text(&args[1])?, text(&args[2])?) else {
        return null_of(returns);
    };
    if entry_delimiter.is_empty() {
        return Err("entryDelimiter is empty".into());
    }
    if key_value_delimiter.is_empty() {
        return Err("keyValueDelimiter is empty".into());
    }
    if entry_delimiter == key_value_delimiter {
        return Err("entryDelimiter and keyValueDelimiter must not be the same".into());
    }
    let mut entries: Vec<(ScalarValue, ScalarValue)> = Vec::new();
    let mut rest = s;
    // A trailing entry delimiter ends the string without an empty entry.
    while !rest.is_empty() {
        let (entry, next) = match rest.split_once(entry_delimiter) {
            Some((entry, next)) => (entry, Some(next)),
            None => (rest, None),
        };
        let bad = || format!("Key-value delimiter must appear exactly once in each entry. Bad input: '{entry}'");
        let (key, value) = entry.split_once(key_value_delimiter).ok_or_else(bad)?;
        if value.contains(key_value_delimiter) {
            return Err(bad());
        }
        let key = ScalarValue::Utf8(Some(key.to_string()));
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("Duplicate keys ({}) are not allowed", text(&key)?.unwrap_or_default()));
        }
        entries.push((key, ScalarValue::Utf8(Some(value.to_string()))));
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    map_scalar(returns, entries)
}

fn coerce_map_from_entries(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "map_from_entries(array(row(key, value)))")?;
    match &args[0] {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if matches!(f.data_type(), DataType::Struct(kv) if kv.len() == 2) =>
        {
            Ok(vec![DataType::List(f.clone())])
        }
        other => Err(format!("the argument must be an array of two-field rows, got {other}")),
    }
}

fn returns_map_from_entries(args: &[DataType]) -> Result<DataType, String> {
    match &args[0] {
        DataType::List(f) => match f.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Ok(map_type(kv[0].data_type().clone(), kv[1].data_type().clone())),
            other => Err(format!("expected rows of (key, value), got {other}")),
        },
        other => Err(format!("expected an array, got {other}")),
    }
}

fn map_from_entries(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let ScalarValue::List(list) = &args[0] else { return null_of(returns) };
    if list.is_null(0) {
        return null_of(returns);
    }
    let rows = list.value(0);
    let mut entries: Vec<(ScalarValue, ScalarValue)> = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let ScalarValue::Struct(row) = ScalarValue::try_from_array(&rows, i).map_err(|e| e.to_string())? else {
            return Err("expected rows of (key, value)".into());
        };
        if row.is_null(0) {
            return Err("map entry cannot be null".into());
        }
        let key = ScalarValue::try_from_array(row.column(0), 0).map_err(|e| e.to_string())?;
        let value = ScalarValue::try_from_array(row.column(1), 0).map_err(|e| e.to_string())?;
        if key.is_null() {
            return Err("map key cannot be null".into());
        }
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("Duplicate map keys ({}) are not allowed", crate::capabilities::sql::athena::render::scalar(&key)));
        }
        entries.push((key, value));
    }
    map_scalar(returns, entries)
}

fn coerce_map_concat(args: &[DataType]) -> Result<Vec<DataType>, String> {
    if args.len() < 2 {
        return Err("There must be two or more concatenation arguments to map_concat".into());
    }
    let Some(first) = args.iter().find(|t| !t.is_null()) else { return Ok(args.to_vec()) };
    let Some((key, value)) = entry_types(first) else { return Err(format!("the arguments must be maps, got {first}")) };
    let common = map_type(key, value);
    for t in args {
        if !t.is_null() && entry_types(t) != entry_types(&common) {
            return Err(format!("the maps must all have one type, got {first} and {t}"));
        }
    }
    Ok(vec![common; args.len()])
}

/// NULL when any map is; otherwise the last map's entries, then each earlier map's new keys.
fn map_concat(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let mut merged: Vec<(ScalarValue, ScalarValue)> = Vec::new();
    for map in args.iter().rev() {
        let Some(entries) = map_entries(map)? else { return null_of(returns) };
        for (key, value) in entries {
            if !merged.iter().any(|(k, _)| *k == key) {
                merged.push((key, value));
            }
        }
    }
    map_scalar(returns, merged)
}
