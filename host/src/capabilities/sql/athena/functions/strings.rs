//! `substr` as Trino has it: a negative start counts from the end
//! (`substr('hello', -3)` is 'llo'); DataFusion, like Postgres, starts before
//! the string instead and returns 'hello'. Positions count characters.
//! sqlparser reads `substr(...)` and `SUBSTRING(s FROM i FOR n)` as a special
//! form DataFusion plans to its own function, so the rewrite calls this one by
//! its own name, [`TRINO_SUBSTR`].

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, text, want_integer, want_string};

pub const TRINO_SUBSTR: &str = "trino_substr";

pub fn functions() -> Vec<RowFunction> {
    vec![RowFunction::new(TRINO_SUBSTR, coerce, |_| Ok(DataType::Utf8), substr)]
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
}
