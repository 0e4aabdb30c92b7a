//! Trino's regexp functions over Rust's `regex` (Java-like syntax for the
//! patterns feature prep writes): `regexp_replace` replaces every match and reads
//! `$1` the Java way; `regexp_extract` returns a group of the first match.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ListArray, StringArray};
use arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use regex::Regex;

use super::{RowFunction, arity, integer, text, want_integer, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("regexp_replace", coerce_replace, |_| Ok(DataType::Utf8), regexp_replace),
        RowFunction::new("regexp_extract", coerce_extract, |_| Ok(DataType::Utf8), regexp_extract),
        RowFunction::new("regexp_extract_all", coerce_extract, |_| Ok(string_list()), regexp_extract_all),
    ]
}

fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn coerce_replace(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3], "regexp_replace(string, pattern[, replacement])")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

fn coerce_extract(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3], "regexp_extract(string, pattern[, group])")?;
    let mut out = vec![want_string(&args[0], "string")?, want_string(&args[1], "pattern")?];
    if let Some(group) = args.get(2) {
        out.push(want_integer(group, "group")?);
    }
    Ok(out)
}

/// Compiled patterns, cached per thread: patterns are nearly always constants.
pub(super) fn with_regex<T>(pattern: &str, f: impl FnOnce(&Regex) -> T) -> Result<T, String> {
    thread_local!(static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new()));
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            let regex = Regex::new(pattern).map_err(|e| format!("invalid pattern '{pattern}': {e}"))?;
            if cache.len() > 256 {
                cache.clear();
            }
            cache.insert(pattern.to_string(), regex);
        }
        Ok(f(&cache[pattern]))
    })
}

/// Java's replacement syntax (`$1`, `${name}`, `\$` for a literal) in Rust's (`${1}`, `$$`).
pub fn java_replacement(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' if chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                out.push_str("${");
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    out.push(*d);
                    chars.next();
                }
                out.push('}');
            }
            '$' if chars.peek() == Some(&'{') => out.push('$'),
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

fn regexp_replace(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let replacement = match args.get(2) {
        Some(r) => text(r)?.map(java_replacement),
        None => Some(String::new()),
    };
    let (Some(s), Some(pattern), Some(replacement)) = (text(&args[0])?, text(&args[1])?, replacement) else {
        return Ok(ScalarValue::Utf8(None));
    };
    with_regex(pattern, |re| ScalarValue::Utf8(Some(re.replace_all(s, replacement.as_str()).into_owned())))
}

fn group_of(args: &[ScalarValue]) -> Result<Option<usize>, String> {
    match args.get(2) {
        None => Ok(Some(0)),
        Some(g) => integer(g)?.map(|g| usize::try_from(g).map_err(|_| format!("group {g} is negative"))).transpose(),
    }
}

fn regexp_extract(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(pattern), Some(group)) = (text(&args[0])?, text(&args[1])?, group_of(args)?) else {
        return Ok(ScalarValue::Utf8(None));
    };
    with_regex(pattern, |re| {
        if group >= re.captures_len() {
            return Err(format!("pattern has {} groups, cannot return group {group}", re.captures_len() - 1));
        }
        Ok(ScalarValue::Utf8(re.captures(s).and_then(|c| c.get(group)).map(|m| m.as_str().to_string())))
    })?
}

fn regexp_extract_all(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(pattern), Some(group)) = (text(&args[0])?, text(&args[1])?, group_of(args)?) else {
        return super::null_of(returns);
    };
    let found: Vec<Option<String>> = with_regex(pattern, |re| {
        re.captures_iter(s).map(|c| c.get(group).map(|m| m.as_str().to_string())).collect()
    })?;
    let values = Arc::new(StringArray::from(found));
    let field = Arc::new(Field::new("item", DataType::Utf8, true));
    let list = ListArray::try_new(field, arrow::buffer::OffsetBuffer::from_lengths([values.len()]), values, None)
        .map_err(|e| e.to_string())?;
    Ok(ScalarValue::List(Arc::new(list)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn java_replacements_translate() {
        assert_eq!(super::java_replacement("$1-x"), "${1}-x");
        assert_eq!(super::java_replacement("$1a"), "${1}a");
        assert_eq!(super::java_replacement("\\$5"), "$$5");
        assert_eq!(super::java_replacement("${name}"), "${name}");
    }
}
