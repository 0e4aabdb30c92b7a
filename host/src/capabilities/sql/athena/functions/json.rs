//! `json_extract_scalar` and `json_extract` over a JSONPath subset Athena users
//! write: `$.a.b`, `$.a[0]`, `$["key with spaces"]`. A scalar comes back as its
//! text (strings unquoted); objects and arrays give NULL from
//! `json_extract_scalar` and their JSON text from `json_extract`.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use serde_json::Value;

use super::{RowFunction, arity, text, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("json_extract_scalar", coerce, |_| Ok(DataType::Utf8), json_extract_scalar),
        RowFunction::new("json_extract", coerce, |_| Ok(DataType::Utf8), json_extract),
    ]
}

fn coerce(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "(json, json_path)")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let invalid = || format!("invalid JSON path '{path}': use $.key, $.key[0] or $[\"key\"]");
    let mut rest = path.trim().strip_prefix('$').ok_or_else(invalid)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return Err(invalid());
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(invalid)?;
            let inside = after[..end].trim();
            if let Some(quoted) = inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                steps.push(Step::Key(quoted.to_string()));
            } else {
                steps.push(Step::Index(inside.parse().map_err(|_| invalid())?));
            }
            rest = &after[end + 1..];
        } else {
            return Err(invalid());
        }
    }
    Ok(steps)
}

fn find(args: &[ScalarValue]) -> Result<Option<Value>, String> {
    let (Some(json), Some(path)) = (text(&args[0])?, text(&args[1])?) else { return Ok(None) };
    let steps = parse_path(path)?;
    // Invalid JSON gives NULL in Trino, not an error.
    let Ok(mut value) = serde_json::from_str::<Value>(json) else { return Ok(None) };
    for step in steps {
        let next = match (&step, value) {
            (Step::Key(k), Value::Object(mut map)) => map.remove(k),
            (Step::Index(i), Value::Array(mut items)) if *i < items.len() => Some(items.swap_remove(*i)),
            _ => None,
        };
        match next {
            Some(v) => value = v,
            None => return Ok(None),
        }
    }
    Ok(Some(value))
}

fn json_extract_scalar(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(find(args)?.and_then(|v| match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    })))
}

fn json_extract(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(find(args)?.map(|v| v.to_string())))
}
