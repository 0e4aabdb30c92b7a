//! `substr` as Trino has it: a negative start counts from the end
//! (`substr('hello', -3)` is 'llo'); DataFusion, like Postgres, starts before
//! the string instead and returns 'hello'. Positions count characters.
//! sqlparser reads `substr(...)` and `SUBSTRING(s FROM i FOR n)` as a special
//! form DataFusion plans to its own function, so the rewrite calls this one by
//! its own name, [`TRINO_SUBSTR`].
//!
//! [`LIKE_PATTERN`] spells a Trino LIKE pattern (no escape character, or the
//! one ESCAPE names) with the backslash escapes DataFusion's LIKE always uses.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, text, want_integer, want_string};

pub const TRINO_SUBSTR: &str = "trino_substr";
pub const LIKE_PATTERN: &str = "trino_like_pattern";
pub const TRINO_TRIM: &str = "trino_trim";

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new(TRINO_SUBSTR, coerce, |_| Ok(DataType::Utf8), substr),
        RowFunction::new(LIKE_PATTERN, coerce_like_pattern, |_| Ok(DataType::Utf8), like_pattern_row),
        RowFunction::new(TRINO_TRIM, coerce_trim, |_| Ok(DataType::Utf8), trim),
        RowFunction::new("split_part", coerce_split_part, |_| Ok(DataType::Utf8), split_part),
    ]
}

fn coerce_split_part(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[3], "split_part(string, delimiter, index)")?;
    Ok(vec![want_string(&args[0], "string")?, want_string(&args[1], "delimiter")?, want_integer(&args[2], "index")?])
}

/// Trino's split_part: NULL past the last field (DataFusion: ''); the index must be at least 1
/// (DataFusion counts a negative one from the end); an empty delimiter leaves one field.
fn split_part(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(delimiter), Some(index)) = (text(&args[0])?, text(&args[1])?, integer(&args[2])?) else {
        return Ok(ScalarValue::Utf8(None));
    };
    if index < 1 {
        return Err("Index must be greater than zero".into());
    }
    let field = if delimiter.is_empty() { (index == 1).then_some(s) } else { s.split(delimiter).nth(index as usize - 1) };
    Ok(ScalarValue::Utf8(field.map(str::to_string)))
}

fn coerce_trim(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "trino_trim(string, side)")?;
    args.iter().map(|t| want_string(t, "the argument")).collect()
}

/// Java's `Character.isWhitespace`, which Trino's trim uses: Unicode space separators other than
/// the no-break spaces, and the controls \t \n \u{b} \u{c} \r \u{1c}..\u{1f}. Rust's
/// `is_whitespace` would also strip U+00A0 and U+0085.
pub fn java_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}')
        || (c.is_whitespace() && !matches!(c, '\u{85}' | '\u{a0}' | '\u{2007}' | '\u{202f}') && c > '\u{1f}')
}

/// `trino_trim(s, 'both' | 'leading' | 'trailing')`: Trino's one-argument trim, ltrim, rtrim.
fn trim(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(side)) = (text(&args[0])?, text(&args[1])?) else { return Ok(ScalarValue::Utf8(None)) };
    let trimmed = match side {
        "leading" => s.trim_start_matches(java_whitespace),
        "trailing" => s.trim_end_matches(java_whitespace),
        _ => s.trim_matches(java_whitespace),
    };
    Ok(ScalarValue::Utf8(Some(trimmed.to_string())))
}

fn coerce_like_pattern(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1, 2], "a LIKE pattern and its escape character")?;
    args.iter().map(|t| want_string(t, "a LIKE pattern")).collect()
}

fn like_pattern_row(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(pattern) = text(&args[0])? else { return Ok(ScalarValue::Utf8(None)) };
    let escape = match args.get(1) {
        Some(e) => text(e)?.and_then(|e| e.chars().next()),
        None => None,
    };
    Ok(ScalarValue::Utf8(Some(like_pattern(pattern, escape)?)))
}

/// `pattern` as Trino reads it, with `escape` (if any) escaping `%`, `_` and
/// itself, spelled with backslash escapes: a literal backslash becomes `\\`.
pub fn like_pattern(pattern: &str, escape: Option<char>) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 2);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(n);
                }
                Some('\\') if escape == Some('\\') => out.push_str("\\\\"),
                Some(n) if Some(n) == escape => out.push(n),
                _ => return Err("Escape character must be followed by '%', '_' or the escape character itself".into()),
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn coerce(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3], "substr(string, start[, length])")?;
    let mut out = vec![want_string(&args[0], "string")?, want_integer(&args[1], "start")?];
    if let Some(length) = args.get(2) {
        out.push(want_integer(length, "length")?);
    }
    Ok(out)
}

pub fn trino_substr(s: &str, start: i64, length: Option<i64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    let from = match start {
        0 => return String::new(),
        s if s > 0 => s - 1,
        s => len + s,
    };
    if from < 0 || from >= len {
        return String::new();
    }
    let to = match length {
        Some(n) if n <= 0 => return String::new(),
        Some(n) => (from + n).min(len),
        None => len,
    };
    chars[from as usize..to as usize].iter().collect()
}

fn substr(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let length = match args.get(2) {
        // A NULL length makes the result NULL; no length means to the end.
        Some(n) => integer(n)?.map(Some),
        None => Some(None),
    };
    let (Some(s), Some(start), Some(length)) = (text(&args[0])?, integer(&args[1])?, length) else {
        return Ok(ScalarValue::Utf8(None));
    };
    Ok(ScalarValue::Utf8(Some(trino_substr(s, start, length))))
}

#[cfg(test)]
mod tests {
    use super::trino_substr;

    #[test]
    fn substr_counts_negative_starts_from_the_end() {
        assert_eq!(trino_substr("hello", -3, None), "llo");
        assert_eq!(trino_substr("hello", 2, Some(3)), "ell");
        assert_eq!(trino_substr("hello", 0, None), "");
        assert_eq!(trino_substr("hello", 9, None), "");
        assert_eq!(trino_substr("héllo", -4, Some(2)), "él");
    }

    #[test]
    fn trim_strips_javas_whitespace() {
        use super::java_whitespace;
        assert!([' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{2003}', '\u{3000}'].into_iter().all(java_whitespace));
        assert!(!['\u{a0}', '\u{85}', '\u{202f}', 'a', '\0'].into_iter().any(java_whitespace));
    }

    #[test]
    fn like_patterns_take_trinos_escapes() {
        use super::like_pattern;
        assert_eq!(like_pattern(r"C:\Users\%", None).unwrap(), r"C:\\Users\\%");
        assert_eq!(like_pattern("100!%_!_!!", Some('!')).unwrap(), r"100\%_\_!");
        assert_eq!(like_pattern(r"a\%\\", Some('\\')).unwrap(), r"a\%\\");
        assert!(like_pattern("a!b", Some('!')).is_err());
        assert!(like_pattern("a!", Some('!')).is_err());
        assert!(like_pattern(r"a!\", Some('!')).is_err());
    }
}
