//! `upper` and `lower` as Trino maps case: one code point at a time, as Java's
//! `Character.toUpperCase(int)` does (airlift's `SliceUtf8`), never one to many and
//! without context. So `upper('straße')` is `STRAßE` and `lower('İ')` is `i`, where
//! DataFusion (Rust's full Unicode mapping) gives `STRASSE` and `i̇` (i and a combining
//! dot), and `lower('ΟΔΟΣ')` ends in `σ`, not the final `ς`.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::is_string;

/// Java's simple (one code point) uppercase: Rust's when it is one character; else the Greek letters
/// with ypogegrammeni take their title-case forms, as UnicodeData's simple mapping has it, and the
/// rest (ß, ŉ, ligatures, ...) stay as they are.
fn java_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => match c as u32 {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => char::from_u32(c as u32 + 8).unwrap_or(c),
            0x1FB3 => '\u{1FBC}',
            0x1FC3 => '\u{1FCC}',
            0x1FF3 => '\u{1FFC}',
            _ => c,
        },
    }
}

/// Java's simple lowercase: only `İ` lowercases to more than one character in Rust (`i` and a dot);
/// its simple mapping is `i`.
fn java_lower(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CaseMapping {
    upper: bool,
    signature: Signature,
}

impl CaseMapping {
    pub fn new(upper: bool) -> Self {
        Self { upper, signature: Signature::user_defined(Volatility::Immutable) }
    }

    fn map(&self, s: &str) -> String {
        match (s.is_ascii(), self.upper) {
            (true, true) => s.to_ascii_uppercase(),
            (true, false) => s.to_ascii_lowercase(),
            (false, true) => s.chars().map(java_upper).collect(),
            (false, false) => s.chars().map(java_lower).collect(),
        }
    }
}

impl ScalarUDFImpl for CaseMapping {
    fn name(&self) -> &str {
        if self.upper { "upper" } else { "lower" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_string(t) => Ok(vec![DataType::Utf8]),
            _ => plan_err!("{} takes one varchar, got {arg_types:?}", self.name()),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Scalar(value) => {
                let text = match value {
                    ScalarValue::Utf8(s) => s.as_deref().map(|s| self.map(s)),
                    other => return plan_err!("{}: expected a varchar, got {}", self.name(), other.data_type()),
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(text)))
            }
            ColumnarValue::Array(array) => {
                let mapped: StringArray = array.as_string::<i32>().iter().map(|s| s.map(|s| self.map(s))).collect();
                Ok(ColumnarValue::Array(Arc::new(mapped) as ArrayRef))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_maps_one_code_point_at_a_time() {
        let (upper, lower) = (CaseMapping::new(true), CaseMapping::new(false));
        assert_eq!(upper.map("straße"), "STRAßE");
        assert_eq!(lower.map("İSTANBUL"), "istanbul");
        assert_eq!(lower.map("ΟΔΟΣ"), "οδοσ");
        assert_eq!(upper.map("ǆ ᾳ ŉ é"), "Ǆ ᾼ ŉ É");
        assert_eq!(upper.map("abc"), "ABC");
    }
}
