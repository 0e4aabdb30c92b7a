//! Trino's JSON functions over a JSONPath subset Athena users write: `$.a.b`,
//! `$.a[0]`, `$["key with spaces"]`. JSON values are their text (varchar). The path
//! is followed over the text itself, so a scalar comes back as written (`1.50`
//! stays `1.50`, as Trino's streaming parser gives it; a parsed value would be 1.5).
//! JSON Trino writes out again (`json_extract`, `json_parse`) has no spaces and
//! Java's double text for fractions (`1.5`, `1.0E20`); `json_parse` sorts object keys.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use serde_json::Value;

use super::{RowFunction, arity, integer, is_integer, text, want_integer, want_string};
use crate::capabilities::sql::athena::render::java_double;

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("json_extract_scalar", coerce_path, |_| Ok(DataType::Utf8), json_extract_scalar),
        RowFunction::new("json_extract", coerce_path, |_| Ok(DataType::Utf8), json_extract),
        RowFunction::new("json_size", coerce_path, |_| Ok(DataType::Int64), json_size),
        RowFunction::new("json_parse", coerce_json, |_| Ok(DataType::Utf8), json_parse),
        RowFunction::new("json_format", coerce_json, |_| Ok(DataType::Utf8), json_format),
        RowFunction::new("json_array_length", coerce_json, |_| Ok(DataType::Int64), json_array_length),
        RowFunction::new("is_json_scalar", coerce_json, |_| Ok(DataType::Boolean), is_json_scalar),
        RowFunction::new("json_array_get", coerce_array_get, |_| Ok(DataType::Utf8), json_array_get),
    ]
}

fn coerce_path(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "(json, json_path)")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

fn coerce_json(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "(json)")?;
    Ok(vec![want_string(&args[0], "the argument")?])
}

fn coerce_array_get(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "(json_array, index)")?;
    if !is_integer(&args[1]) {
        return Err(format!("the index must be an integer, got {}", args[1]));
    }
    Ok(vec![want_string(&args[0], "the array")?, want_integer(&args[1], "the index")?])
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

/// Scanning over JSON text already checked to be valid.
fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Where the value starting at `i` ends.
fn value_end(s: &[u8], i: usize) -> usize {
    match s[i] {
        b'"' => {
            let mut j = i + 1;
            while s[j] != b'"' {
                j += if s[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        }
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match s[j] {
                    b'"' => {
                        j = value_end(s, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while j < s.len() && !matches!(s[j], b',' | b'}' | b']') && !s[j].is_ascii_whitespace() {
                j += 1;
            }
            j
        }
    }
}

/// The members of the object (keys) or the array (no keys) whose text starts at `i`, as spans.
fn members(s: &[u8], i: usize) -> Vec<(Option<(usize, usize)>, (usize, usize))> {
    let object = s[i] == b'{';
    let mut out = Vec::new();
    let mut j = skip_space(s, i + 1);
    if matches!(s[j], b'}' | b']') {
        return out;
    }
    loop {
        let key = if object {
            let end = value_end(s, j);
            let key = (j, end);
            j = skip_space(s, skip_space(s, end) + 1);
            Some(key)
        } else {
            None
        };
        let end = value_end(s, j);
        out.push((key, (j, end)));
        j = skip_space(s, end);
        if s[j] != b',' {
            return out;
        }
        j = skip_space(s, j + 1);
    }
}

/// The text of the value `steps` lead to in valid JSON `json`.
fn follow<'a>(json: &'a str, steps: &[Step]) -> Option<&'a str> {
    let s = json.as_bytes();
    let mut start = skip_space(s, 0);
    for step in steps {
        let found = match (step, s[start]) {
            (Step::Key(k), b'{') => members(s, start).into_iter().find(|(key, _)| {
                key.is_some_and(|(a, b)| serde_json::from_str::<String>(&json[a..b]).is_ok_and(|key| &key == k))
            }),
            (Step::Index(n), b'[') => members(s, start).into_iter().nth(*n),
            _ => None,
        };
        start = found?.1.0;
    }
    Some(&json[start..value_end(s, start)])
}

/// The value at the path of `args` (json, path) as its text; `None` when absent, NULL or invalid.
fn find(args: &[ScalarValue]) -> Result<Option<String>, String> {
    let (Some(json), Some(path)) = (text(&args[0])?, text(&args[1])?) else { return Ok(None) };
    let steps = parse_path(path)?;
    // Invalid JSON gives NULL in Trino, not an error.
    if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
        return Ok(None);
    }
    Ok(follow(json, &steps).map(str::to_string))
}

fn json_extract_scalar(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(find(args)?.and_then(|v| match v.as_bytes()[0] {
        b'"' => serde_json::from_str::<String>(&v).ok(),
        b'{' | b'[' => None,
        _ if v == "null" => None,
        _ => Some(v),
    })))
}

/// JSON text as Trino writes a value out: no spaces, fractions as Java doubles, keys in their order.
fn compact(json: &str) -> String {
    let s = json.as_bytes();
    let (mut out, mut i) = (String::with_capacity(json.len()), 0);
    while i < s.len() {
        match s[i] {
            b if b.is_ascii_whitespace() => i += 1,
            b'"' => {
                let end = value_end(s, i);
                out.push_str(&json[i..end]);
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = value_end(s, i);
                out.push_str(&number_text(&json[i..end]));
                i = end;
            }
            _ => {
                let end = i + json[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&json[i..end]);
                i = end;
            }
        }
    }
    out
}

/// An integer as written; a fraction or exponent as Java prints the double.
fn number_text(number: &str) -> String {
    if number.contains(['.', 'e', 'E']) {
        number.parse::<f64>().map(java_double).unwrap_or_else(|_| number.to_string())
    } else {
        number.to_string()
    }
}

fn json_extract(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(find(args)?.map(|v| compact(&v))))
}

/// `json_size`: members of an object or array, 0 for a scalar.
fn json_size(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Int64(find(args)?.map(|v| match v.as_bytes()[0] {
        b'{' | b'[' => members(v.as_bytes(), 0).len() as i64,
        _ => 0,
    })))
}

/// A parsed value written as Trino's `json_parse` writes it: keys sorted, no spaces.
fn canonical(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64().map(java_double).unwrap_or_else(|| n.to_string()),
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let members: Vec<String> = entries.iter().map(|(k, v)| format!("{}:{}", Value::String((*k).clone()), canonical(v))).collect();
            format!("{{{}}}", members.join(","))
        }
        other => other.to_string(),
    }
}

fn json_parse(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(json) = text(&args[0])? else { return Ok(ScalarValue::Utf8(None)) };
    let value: Value = serde_json::from_str(json).map_err(|_| format!("Cannot convert value to JSON: '{json}'"))?;
    Ok(ScalarValue::Utf8(Some(canonical(&value))))
}

/// JSON is text here already: `json_format` gives it back.
fn json_format(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(text(&args[0])?.map(str::to_string)))
}

/// The trimmed text of valid JSON, `None` when NULL or invalid.
fn valid(value: &ScalarValue) -> Result<Option<&str>, String> {
    Ok(text(value)?.filter(|json| serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()).map(str::trim))
}

fn json_array_length(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(json) = valid(&args[0])? else { return Ok(ScalarValue::Int64(None)) };
    Ok(ScalarValue::Int64((json.as_bytes()[0] == b'[').then(|| members(json.as_bytes(), 0).len() as i64)))
}

fn is_json_scalar(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(json) = text(&args[0])? else { return Ok(ScalarValue::Boolean(None)) };
    let Some(json) = valid(&args[0])? else { return Err(format!("Invalid JSON value: {json}")) };
    Ok(ScalarValue::Boolean(Some(!matches!(json.as_bytes()[0], b'{' | b'['))))
}

/// The element at a 0-based index (negative counts from the end), NULL when out of range or not an array.
fn json_array_get(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(json), Some(index)) = (valid(&args[0])?, integer(&args[1])?) else { return Ok(ScalarValue::Utf8(None)) };
    if json.as_bytes()[0] != b'[' {
        return Ok(ScalarValue::Utf8(None));
    }
    let items = members(json.as_bytes(), 0);
    let position = if index < 0 { items.len() as i64 + index } else { index };
    let item = usize::try_from(position).ok().and_then(|p| items.get(p));
    Ok(ScalarValue::Utf8(item.map(|(_, (a, b))| compact(&json[*a..*b]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_text_and_keep_numbers_as_written() {
        let json = r#" { "a" : { "b" : [ 1.50 , "x\"y" , {"c": null} ] }, "k e": 1e2 } "#;
        let at = |path: &str| follow(json, &parse_path(path).unwrap());
        assert_eq!(at("$.a.b[0]"), Some("1.50"));
        assert_eq!(at("$.a.b[1]"), Some(r#""x\"y""#));
        assert_eq!(at("$.a.b[2].c"), Some("null"));
        assert_eq!(at("$[\"k e\"]"), Some("1e2"));
        assert_eq!(at("$.a.b[3]"), None);
        assert_eq!(compact(at("$.a").unwrap()), r#"{"b":[1.5,"x\"y",{"c":null}]}"#);
        assert_eq!(compact("[1e20, 10, -0.5]"), "[1.0E20,10,-0.5]");
    }
}
