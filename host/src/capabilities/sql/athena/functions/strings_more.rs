//! Trino string functions DataFusion lacks: `levenshtein_distance` and `hamming_distance`
//! (over code points, Trino's limits and errors), `codepoint`, `luhn_check`, `from_base` /
//! `to_base` (Java's `Long.parseLong` / `Long.toString`), `regexp_split` (trailing empty pieces
//! kept), `regexp_position(s, pattern[, start[, occurrence]])` (-1 when not found) and `soundex`
//! (American Soundex, H and W silent). DataFusion alone: "Invalid function ...". And `replace(s, '', x)`
//! ([`TrinoReplace`]), which inserts x before every character and at the end, where DataFusion's gives s back.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};

use super::regex::with_regex;
use super::{RowFunction, arity, integer, null_of, text, want_integer, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("levenshtein_distance", two_strings, |_| Ok(DataType::Int64), levenshtein_distance),
        RowFunction::new("hamming_distance", two_strings, |_| Ok(DataType::Int64), hamming_distance),
        RowFunction::new("codepoint", one_string, |_| Ok(DataType::Int32), codepoint),
        RowFunction::new("luhn_check", one_string, |_| Ok(DataType::Boolean), luhn_check),
        RowFunction::new("from_base", coerce_from_base, |_| Ok(DataType::Int64), from_base),
        RowFunction::new("to_base", coerce_to_base, |_| Ok(DataType::Utf8), to_base),
        RowFunction::new("regexp_split", two_strings, |_| Ok(DataType::new_list(DataType::Utf8, true)), regexp_split),
        RowFunction::new("regexp_position", coerce_regexp_position, |_| Ok(DataType::Int32), regexp_position),
        RowFunction::new("soundex", one_string, |_| Ok(DataType::Utf8), soundex),
    ]
}

fn one_string(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one varchar argument")?;
    Ok(vec![want_string(&args[0], "the argument")?])
}

fn two_strings(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "two varchar arguments")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

fn levenshtein_distance(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(a), Some(b)) = (text(&args[0])?, text(&args[1])?) else { return Ok(ScalarValue::Int64(None)) };
    let (mut long, mut short): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if long.len() < short.len() {
        std::mem::swap(&mut long, &mut short);
    }
    if short.is_empty() {
        return Ok(ScalarValue::Int64(Some(long.len() as i64)));
    }
    if long.len() * (short.len() - 1) > 1_000_000 {
        return Err("The combined inputs for Levenshtein distance are too large".into());
    }
    let mut previous: Vec<usize> = (0..=short.len()).collect();
    for (i, l) in long.iter().enumerate() {
        let mut current = vec![i + 1; short.len() + 1];
        for (j, s) in short.iter().enumerate() {
            current[j + 1] = if l == s { previous[j] } else { 1 + previous[j].min(previous[j + 1]).min(current[j]) };
        }
        previous = current;
    }
    Ok(ScalarValue::Int64(Some(previous[short.len()] as i64)))
}

fn hamming_distance(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(a), Some(b)) = (text(&args[0])?, text(&args[1])?) else { return Ok(ScalarValue::Int64(None)) };
    if a.chars().count() != b.chars().count() {
        return Err("The input strings to hamming_distance function must have the same length".into());
    }
    Ok(ScalarValue::Int64(Some(a.chars().zip(b.chars()).filter(|(x, y)| x != y).count() as i64)))
}

/// Trino takes a `varchar(1)`; any other length fails.
fn codepoint(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(s) = text(&args[0])? else { return Ok(ScalarValue::Int32(None)) };
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(ScalarValue::Int32(Some(c as i32))),
        _ => Err("Input string must be a single character string".into()),
    }
}

/// Every other digit from the right doubled (9 taken off above 9), the sum a multiple of 10; '' is false.
fn luhn_check(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(s) = text(&args[0])? else { return Ok(ScalarValue::Boolean(None)) };
    if s.is_empty() {
        return Ok(ScalarValue::Boolean(Some(false)));
    }
    let mut sum = 0;
    for (i, b) in s.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return Err("Input contains non-digit character".into());
        }
        let mut n = (b - b'0') as u32 * if i % 2 == 1 { 2 } else { 1 };
        if n > 9 {
            n -= 9;
        }
        sum += n;
    }
    Ok(ScalarValue::Boolean(Some(sum % 10 == 0)))
}

/// American Soundex as Trino computes it: the letters only, upper-cased; the first letter kept, then the digits of
/// the next consonants (B F P V 1, C G J K Q S X Z 2, D T 3, L 4, M N 5, R 6), a digit equal to the one before it
/// dropped, vowels (and Y) separating equal digits, H and W skipped; padded with 0 to four characters. Text with no
/// letter gives ''; a letter outside A-Z once upper-cased (`é`) fails, as in Trino.
fn soundex(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(s) = text(&args[0])? else { return Ok(ScalarValue::Utf8(None)) };
    const DIGITS: &[u8; 26] = b"01230120022455012623010202";
    let digit = |c: char| match c {
        'A'..='Z' => Ok(DIGITS[c as usize - 'A' as usize]),
        other => Err(format!("The character is not mapped: {other} (index={})", other as i64 - 'A' as i64)),
    };
    let letters: String = s.chars().filter(|c| c.is_alphabetic()).collect::<String>().to_uppercase();
    let mut letters = letters.chars();
    let Some(first) = letters.next() else { return Ok(ScalarValue::Utf8(Some(String::new()))) };
    let mut code = String::from(first);
    let mut last = digit(first)?;
    for letter in letters {
        if code.chars().count() == 4 {
            break;
        }
        if letter == 'H' || letter == 'W' {
            continue;
        }
        let d = digit(letter)?;
        if d != b'0' && d != last {
            code.push(d as char);
        }
        last = d;
    }
    while code.chars().count() < 4 {
        code.push('0');
    }
    Ok(ScalarValue::Utf8(Some(code)))
}

fn check_radix(radix: i64) -> Result<u32, String> {
    if (2..=36).contains(&radix) { Ok(radix as u32) } else { Err("Radix must be between 2 and 36".into()) }
}

fn coerce_from_base(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "from_base(string, radix)")?;
    Ok(vec![want_string(&args[0], "string")?, want_integer(&args[1], "radix")?])
}

fn from_base(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(radix)) = (text(&args[0])?, integer(&args[1])?) else { return Ok(ScalarValue::Int64(None)) };
    let radix = check_radix(radix)?;
    // Java's Long.parseLong: an optional sign, then digits of the radix in either case.
    i64::from_str_radix(s, radix).map(|v| ScalarValue::Int64(Some(v))).map_err(|_| format!("Not a valid base-{radix} number: {s}"))
}

fn coerce_to_base(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "to_base(x, radix)")?;
    Ok(vec![want_integer(&args[0], "x")?, want_integer(&args[1], "radix")?])
}

/// Java's Long.toString(x, radix): lower-case digits, a leading '-' when negative.
pub fn to_radix(value: i64, radix: u32) -> String {
    let mut magnitude = value.unsigned_abs();
    if magnitude == 0 {
        return "0".into();
    }
    let mut digits = Vec::new();
    while magnitude > 0 {
        digits.push(std::char::from_digit((magnitude % radix as u64) as u32, radix).expect("digit below the radix"));
        magnitude /= radix as u64;
    }
    if value < 0 {
        digits.push('-');
    }
    digits.iter().rev().collect()
}

fn to_base(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(value), Some(radix)) = (integer(&args[0])?, integer(&args[1])?) else { return Ok(ScalarValue::Utf8(None)) };
    Ok(ScalarValue::Utf8(Some(to_radix(value, check_radix(radix)?))))
}

/// The byte offset where the next search starts after a match: past an empty match by one character.
fn next_start(s: &str, start: usize, end: usize) -> usize {
    if end > start { end } else { end + s[end..].chars().next().map_or(1, char::len_utf8) }
}

fn regexp_split(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(pattern)) = (text(&args[0])?, text(&args[1])?) else { return null_of(returns) };
    let pieces = with_regex(pattern, |regex| {
        let mut pieces = Vec::new();
        let (mut last_end, mut at) = (0, 0);
        while at <= s.len() {
            let Some(m) = regex.find_at(s, at) else { break };
            pieces.push(ScalarValue::Utf8(Some(s[last_end..m.start()].to_string())));
            last_end = m.end();
            at = next_start(s, m.start(), m.end());
        }
        pieces.push(ScalarValue::Utf8(Some(s[last_end..].to_string())));
        pieces
    })?;
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&pieces, &DataType::Utf8)))
}

fn coerce_regexp_position(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3, 4], "regexp_position(string, pattern[, start[, occurrence]])")?;
    let mut out = vec![want_string(&args[0], "string")?, want_string(&args[1], "pattern")?];
    for t in &args[2..] {
        out.push(want_integer(t, "start and occurrence")?);
    }
    Ok(out)
}

/// The 1-based character position of the occurrence-th match at or after the character `start`; -1 if none.
fn regexp_position(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let optional = |i: usize| args.get(i).map(integer).transpose().map(|v| v.unwrap_or(Some(1)));
    let (Some(s), Some(pattern), Some(start), Some(occurrence)) = (text(&args[0])?, text(&args[1])?, optional(2)?, optional(3)?) else {
        return Ok(ScalarValue::Int32(None));
    };
    if start < 1 {
        return Err("start position cannot be smaller than 1".into());
    }
    if occurrence < 1 {
        return Err("occurrence cannot be smaller than 1".into());
    }
    if start > s.chars().count() as i64 {
        return Ok(ScalarValue::Int32(Some(-1)));
    }
    let mut at = s.char_indices().nth(start as usize - 1).map_or(s.len(), |(byte, _)| byte);
    let position = with_regex(pattern, |regex| {
        let mut count = 0;
        while at <= s.len() {
            let Some(m) = regex.find_at(s, at) else { return -1 };
            count += 1;
            if count == occurrence {
                return s[..m.start()].chars().count() as i32 + 1;
            }
            at = next_start(s, m.start(), m.end());
        }
        -1
    })?;
    Ok(ScalarValue::Int32(Some(position)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.into()))
    }

    #[test]
    fn distances_count_code_points() {
        let distance = |a, b| levenshtein_distance(&[s(a), s(b)], &DataType::Int64).unwrap();
        assert_eq!(distance("kitten", "sitting"), ScalarValue::Int64(Some(3)));
        assert_eq!(distance("", "abc"), ScalarValue::Int64(Some(3)));
        assert_eq!(distance("héllo", "hello"), ScalarValue::Int64(Some(1)));
        assert!(hamming_distance(&[s("ab"), s("abc")], &DataType::Int64).is_err());
    }

    #[test]
    fn bases_follow_java() {
        assert_eq!(to_radix(-255, 16), "-ff");
        assert_eq!(to_radix(i64::MIN, 2).len(), 65);
        assert_eq!(to_radix(0, 7), "0");
    }
}

/// Trino's `replace(s, search, with)`: DataFusion's, except for an empty search, which Trino (as Java's
/// `String.replace`) answers by inserting `with` before every character and at the end (`-a-b-c-`).
#[derive(Debug)]
pub struct TrinoReplace {
    inner: Arc<ScalarUDF>,
}

impl PartialEq for TrinoReplace {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for TrinoReplace {}
impl std::hash::Hash for TrinoReplace {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl TrinoReplace {
    pub fn new() -> Self {
        Self { inner: datafusion::functions::string::replace() }
    }
}

impl ScalarUDFImpl for TrinoReplace {
    fn name(&self) -> &str {
        "replace"
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.inner().return_type(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let literal_search = match &args.args[1] {
            ColumnarValue::Scalar(s) => s.try_as_str().flatten().is_some_and(|s| !s.is_empty()),
            ColumnarValue::Array(_) => false,
        };
        if literal_search {
            return self.inner.invoke_with_args(args);
        }
        // Row by row: Rust's str::replace also inserts at every character boundary for an empty pattern.
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let text = |i: usize| -> DfResult<StringArray> {
            Ok(arrow::compute::cast(&args.args[i].to_array(rows)?, &DataType::Utf8)?.as_string::<i32>().clone())
        };
        let (s, search, with) = (text(0)?, text(1)?, text(2)?);
        let replaced: StringArray = (0..rows)
            .map(|i| (s.is_valid(i) && search.is_valid(i) && with.is_valid(i)).then(|| s.value(i).replace(search.value(i), with.value(i))))
            .collect();
        let out: ArrayRef = arrow::compute::cast(&replaced, args.return_field.data_type())?;
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}
