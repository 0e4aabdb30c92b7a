//! Trino functions DataFusion lacks or answers differently, row by row: `sign` (of the
//! argument's type), `sqrt` (NaN below zero), `typeof` (Trino's type names), `slice`
//! (1-based, negative from the end), `sequence` (integers and dates, inclusive, either
//! direction), `to_base64` / `from_base64`, `strpos(s, sub, n)` (n < 0 from the end) and `split(s, d, limit)`.

use std::sync::Arc;

use arrow::array::{Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{Duration, Months, NaiveDate};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, is_integer, null_of, text, want_integer, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("sign", coerce_number, sign_type, sign),
        RowFunction::new("sqrt", coerce_double, |_| Ok(DataType::Float64), sqrt),
        RowFunction::new("typeof", |args| Ok(args.to_vec()), |_| Ok(DataType::Utf8), type_of),
        RowFunction::new("slice", coerce_slice, |args| Ok(args[0].clone()), slice),
        RowFunction::new("sequence", coerce_sequence, |args| Ok(DataType::new_list(args[0].clone(), true)), sequence),
        RowFunction::new("to_base64", coerce_binary, |_| Ok(DataType::Utf8), to_base64),
        RowFunction::new("from_base64", coerce_text, |_| Ok(DataType::Binary), from_base64),
        RowFunction::new("strpos", coerce_strpos, |_| Ok(DataType::Int64), strpos),
        RowFunction::new("split", coerce_split, |_| Ok(DataType::new_list(DataType::Utf8, true)), split),
    ]
}

fn coerce_number(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "sign(number)")?;
    match &args[0] {
        DataType::Null => Ok(vec![DataType::Int64]),
        t if t.is_numeric() => Ok(vec![t.clone()]),
        other => Err(format!("the argument must be a number, got {other}")),
    }
}

/// The argument's type; Trino's sign of a decimal is a `decimal(1,0)`.
fn sign_type(args: &[DataType]) -> Result<DataType, String> {
    Ok(match &args[0] {
        DataType::Decimal128(..) => DataType::Decimal128(1, 0),
        other => other.clone(),
    })
}

fn sign(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    use ScalarValue as S;
    Ok(match &args[0] {
        S::Int8(v) => S::Int8(v.map(i8::signum)),
        S::Int16(v) => S::Int16(v.map(i16::signum)),
        S::Int32(v) => S::Int32(v.map(i32::signum)),
        S::Int64(v) => S::Int64(v.map(i64::signum)),
        S::UInt8(v) => S::UInt8(v.map(|v| v.min(1))),
        S::UInt16(v) => S::UInt16(v.map(|v| v.min(1))),
        S::UInt32(v) => S::UInt32(v.map(|v| v.min(1))),
        S::UInt64(v) => S::UInt64(v.map(|v| v.min(1))),
        // Trino: sign(NaN) is NaN, sign(-0.0) is 0.
        S::Float64(v) => S::Float64(v.map(|v| if v == 0.0 || v.is_nan() { v } else { v.signum() })),
        S::Float32(v) => S::Float32(v.map(|v| if v == 0.0 || v.is_nan() { v } else { v.signum() })),
        S::Decimal128(v, _, _) => S::Decimal128(v.map(i128::signum), 1, 0),
        _ => null_of(returns)?,
    })
}

fn coerce_double(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "sqrt(number)")?;
    if args[0].is_numeric() || args[0] == DataType::Null {
        Ok(vec![DataType::Float64])
    } else {
        Err(format!("the argument must be a number, got {}", args[0]))
    }
}

/// Trino's sqrt of a negative number is NaN (DataFusion fails).
fn sqrt(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    match &args[0] {
        ScalarValue::Float64(v) => Ok(ScalarValue::Float64(v.map(f64::sqrt))),
        _ => Ok(ScalarValue::Float64(None)),
    }
}

/// A type as Trino names it.
pub fn trino_type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "unknown".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::UInt8 | DataType::UInt16 => "integer".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "varbinary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(unit, zone) => {
            let precision = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            let zoned = if zone.is_some() { " with time zone" } else { "" };
            format!("timestamp({precision}){zoned}")
        }
        DataType::Interval(arrow::datatypes::IntervalUnit::YearMonth) => "interval year to month".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval day to second".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => format!("array({})", trino_type_name(f.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map({}, {})", trino_type_name(kv[0].data_type()), trino_type_name(kv[1].data_type()))
            }
            other => other.to_string(),
        },
        DataType::Struct(fields) => {
            let members: Vec<String> = fields.iter().map(|f| format!("{} {}", f.name(), trino_type_name(f.data_type()))).collect();
            format!("row({})", members.join(", "))
        }
        DataType::Dictionary(_, value) => trino_type_name(value),
        other => other.to_string(),
    }
}

fn type_of(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    match args {
        [value] => Ok(ScalarValue::Utf8(Some(trino_type_name(&value.data_type())))),
        _ => Err(format!("expected typeof(x), got {} arguments", args.len())),
    }
}

fn coerce_slice(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[3], "slice(array, start, length)")?;
    let array = match &args[0] {
        DataType::List(_) => args[0].clone(),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => DataType::List(f.clone()),
        other => return Err(format!("the first argument must be an array, got {other}")),
    };
    Ok(vec![array, want_integer(&args[1], "start")?, want_integer(&args[2], "length")?])
}

/// Trino's slice: from the 1-based `start` (negative counts from the end), `length` elements.
fn slice(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (ScalarValue::List(list), Some(start), Some(length)) = (&args[0], integer(&args[1])?, integer(&args[2])?) else {
        return null_of(returns);
    };
    if list.is_null(0) {
        return null_of(returns);
    }
    if start == 0 {
        return Err("SQL array indices start at 1".into());
    }
    if length < 0 {
        return Err(format!("Length must be greater than or equal to 0, got {length}"));
    }
    let values = list.value(0);
    let size = values.len() as i64;
    let from = if start > 0 { start - 1 } else { size + start };
    let (from, to) = if from < 0 || from >= size { (0, 0) } else { (from, (from + length).min(size)) };
    let DataType::List(field) = list.data_type() else { return Err("expected an array".into()) };
    let sliced = values.slice(from as usize, (to - from) as usize);
    let array = ListArray::new(field.clone(), OffsetBuffer::from_lengths([sliced.len()]), sliced, None);
    Ok(ScalarValue::List(Arc::new(array)))
}

fn coerce_sequence(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3], "sequence(start, stop[, step])")?;
    let is_date = |t: &DataType| matches!(t, DataType::Date32 | DataType::Date64 | DataType::Null);
    if is_integer(&args[0]) && is_integer(&args[1]) {
        return args.iter().map(|t| want_integer(t, "every argument")).collect();
    }
    if is_date(&args[0]) && is_date(&args[1]) {
        let mut types = vec![DataType::Date32, DataType::Date32];
        match args.get(2) {
            None => {}
            Some(DataType::Interval(_) | DataType::Null) => {
                types.push(DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano))
            }
            Some(other) => return Err(format!("the step of a date sequence must be an INTERVAL, e.g. INTERVAL '1' MONTH, got {other}")),
        }
        return Ok(types);
    }
    Err(format!(
        "sequence is supported locally for integers and dates, not ({}): for timestamps, make a date or integer sequence and add it",
        args.iter().map(trino_type_name).collect::<Vec<_>>().join(", ")
    ))
}

const SEQUENCE_LIMIT: i64 = 10_000;

fn check_direction(start: i64, stop: i64, step: i64) -> Result<(), String> {
    if step == 0 {
        return Err("step must not be zero".into());
    }
    if (step > 0 && stop < start) || (step < 0 && stop > start) {
        return Err("sequence stop value should be greater than or equal to start value if step is greater than zero otherwise stop should be less than or equal to start".into());
    }
    Ok(())
}

fn too_long() -> String {
    format!("result of sequence function must not have more than {SEQUENCE_LIMIT} entries")
}

/// Trino's sequence: inclusive of `stop`; without a step, 1 (or -1 counting down), a day for dates.
fn sequence(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let element = match returns {
        DataType::List(f) => f.data_type().clone(),
        other => return Err(format!("cannot return {other}")),
    };
    if args.iter().any(ScalarValue::is_null) {
        return null_of(returns);
    }
    let values: Vec<ScalarValue> = match (&args[0], &args[1]) {
        (ScalarValue::Date32(Some(start)), ScalarValue::Date32(Some(stop))) => {
            let (start, stop) = (*start as i64, *stop as i64);
            let (months, days) = match args.get(2) {
                None => (0, if stop >= start { 1 } else { -1 }),
                Some(ScalarValue::IntervalMonthDayNano(Some(step))) if step.nanoseconds == 0 && (step.months == 0 || step.days == 0) => {
                    (step.months as i64, step.days as i64)
                }
                Some(other) => return Err(format!("the step of a date sequence must be whole days or whole months, got {other}")),
            };
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
            let first = epoch + Duration::days(start);
            check_direction(start, stop, if months != 0 { months } else { days })?;
            let mut out = Vec::new();
            for i in 0.. {
                let day = if months != 0 {
                    let shift = Months::new(u32::try_from((i * months).unsigned_abs()).map_err(|_| too_long())?);
                    if months > 0 { first.checked_add_months(shift) } else { first.checked_sub_months(shift) }
                        .ok_or("date out of range")?
                        .signed_duration_since(epoch)
                        .num_days()
                } else {
                    start + i * days
                };
                if (months + days > 0 && day > stop) || (months + days < 0 && day < stop) {
                    break;
                }
                if i >= SEQUENCE_LIMIT {
                    return Err(too_long());
                }
                out.push(ScalarValue::Date32(Some(day as i32)));
            }
            out
        }
        (start, stop) => {
            let (Some(start), Some(stop)) = (integer(start)?, integer(stop)?) else { return null_of(returns) };
            let step = match args.get(2) {
                Some(step) => integer(step)?.unwrap_or(1),
                None if stop >= start => 1,
                None => -1,
            };
            check_direction(start, stop, step)?;
            let count = (stop as i128 - start as i128) / step as i128 + 1;
            if count > SEQUENCE_LIMIT as i128 {
                return Err(too_long());
            }
            (0..count as i64).map(|i| ScalarValue::Int64(Some(start + i * step))).collect()
        }
    };
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&values, &element)))
}

fn coerce_binary(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "to_base64(varbinary)")?;
    match &args[0] {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null => Ok(vec![DataType::Binary]),
        other => Err(format!("the argument must be a varbinary, got {other}: convert a varchar with to_utf8(x)")),
    }
}

fn coerce_text(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "from_base64(varchar)")?;
    Ok(vec![want_string(&args[0], "the argument")?])
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Java's encoder writes it.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64; the padding may be left out.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.trim_end_matches('=').bytes().collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        if chunk.len() == 1 {
            return Err(format!("'{s}' is not valid base64"));
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = BASE64.iter().position(|b| b == c).ok_or_else(|| format!("'{s}' is not valid base64"))?;
            n |= (v as u32) << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

fn to_base64(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    match &args[0] {
        ScalarValue::Binary(Some(b)) => Ok(ScalarValue::Utf8(Some(base64_encode(b)))),
        _ => Ok(ScalarValue::Utf8(None)),
    }
}

fn from_base64(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Binary(text(&args[0])?.map(base64_decode).transpose()?))
}

fn coerce_strpos(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3], "strpos(string, substring[, instance])")?;
    let mut types = vec![want_string(&args[0], "string")?, want_string(&args[1], "substring")?];
    if let Some(n) = args.get(2) {
        types.push(want_integer(n, "instance")?);
    }
    Ok(types)
}

/// The 1-based character position of the n-th `sub` in `s` (occurrences may overlap), 0 if none;
/// a negative n counts occurrences from the end.
fn strpos(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(sub)) = (text(&args[0])?, text(&args[1])?) else { return Ok(ScalarValue::Int64(None)) };
    let instance = match args.get(2) {
        Some(n) => match integer(n)? {
            Some(n) => n,
            None => return Ok(ScalarValue::Int64(None)),
        },
        None => 1,
    };
    if instance == 0 {
        return Err("'instance' must be a positive or negative number.".into());
    }
    if sub.is_empty() {
        return Ok(ScalarValue::Int64(Some(1)));
    }
    let starts: Vec<usize> = s.char_indices().map(|(byte, _)| byte).filter(|&byte| s[byte..].starts_with(sub)).collect();
    let nth = usize::try_from(instance.unsigned_abs() - 1).unwrap_or(usize::MAX);
    let found = if instance > 0 { starts.get(nth) } else { starts.iter().rev().nth(nth) };
    Ok(ScalarValue::Int64(Some(found.map_or(0, |&byte| s[..byte].chars().count() as i64 + 1))))
}

fn coerce_split(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2, 3], "split(string, delimiter[, limit])")?;
    let mut types = vec![want_string(&args[0], "string")?, want_string(&args[1], "delimiter")?];
    if let Some(n) = args.get(2) {
        types.push(want_integer(n, "limit")?);
    }
    Ok(types)
}

/// Trino's split: at most `limit` pieces, the last holding the rest of the string.
fn split(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(delimiter)) = (text(&args[0])?, text(&args[1])?) else { return null_of(returns) };
    let limit = match args.get(2) {
        Some(n) => match integer(n)? {
            Some(n) => n,
            None => return null_of(returns),
        },
        None => i64::MAX,
    };
    if limit <= 0 {
        return Err("Limit must be positive".into());
    }
    if delimiter.is_empty() {
        return Err("The delimiter may not be the empty string".into());
    }
    let pieces: Vec<ScalarValue> =
        s.splitn(usize::try_from(limit).unwrap_or(usize::MAX), delimiter).map(|p| ScalarValue::Utf8(Some(p.to_string()))).collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&pieces, &DataType::Utf8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_with_padding() {
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert_eq!(base64_encode(b"hello world"), "aGVsbG8gd29ybGQ=");
        assert_eq!(base64_decode("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("a!").is_err());
    }
}
