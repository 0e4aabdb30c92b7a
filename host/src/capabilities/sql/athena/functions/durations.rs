//! Trino's duration functions DataFusion lacks: `human_readable_seconds(x)` (`1 hour, 2 minutes,
//! 42 seconds`), `to_milliseconds(interval)` and `parse_duration('3.5h')` (an interval day to second,
//! rounded to the millisecond as Trino's is). DataFusion alone: "Invalid function ...".

use arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, text, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("human_readable_seconds", coerce_double, |_| Ok(DataType::Utf8), human_readable_seconds),
        RowFunction::new("to_milliseconds", coerce_interval, |_| Ok(DataType::Int64), to_milliseconds),
        RowFunction::new("parse_duration", coerce_text, |_| Ok(DataType::Interval(IntervalUnit::MonthDayNano)), parse_duration),
    ]
}

fn coerce_double(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "human_readable_seconds(double)")?;
    if args[0].is_numeric() || args[0].is_null() {
        Ok(vec![DataType::Float64])
    } else {
        Err(format!("the argument must be a number, got {}", args[0]))
    }
}

fn coerce_text(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "parse_duration(varchar)")?;
    Ok(vec![want_string(&args[0], "the argument")?])
}

fn coerce_interval(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "to_milliseconds(interval day to second)")?;
    match &args[0] {
        DataType::Interval(IntervalUnit::YearMonth) => {
            Err("to_milliseconds takes an interval day to second, got an interval year to month".into())
        }
        t @ (DataType::Interval(_) | DataType::Duration(_)) => Ok(vec![t.clone()]),
        DataType::Null => Ok(vec![DataType::Interval(IntervalUnit::MonthDayNano)]),
        other => Err(format!("the argument must be an interval day to second, got {other}")),
    }
}

/// Whole weeks, days, hours, minutes and seconds of |x| rounded to the second, the zero ones left out.
fn human_readable_seconds(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let ScalarValue::Float64(Some(x)) = args[0] else { return Ok(ScalarValue::Utf8(None)) };
    if !x.is_finite() {
        return Err(format!("Invalid argument found: {}", crate::capabilities::sql::athena::render::java_double(x)));
    }
    // Java's Math.round: half up.
    let mut seconds = (x.abs() + 0.5).floor() as i64;
    let mut parts = Vec::new();
    for (unit, size) in [("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)] {
        let count = seconds / size;
        seconds %= size;
        if count > 0 {
            parts.push(format!("{count} {unit}{}", if count == 1 { "" } else { "s" }));
        }
    }
    Ok(ScalarValue::Utf8(Some(if parts.is_empty() { "0 seconds".into() } else { parts.join(", ") })))
}

fn to_milliseconds(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let millis = match &args[0] {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => v.days as i64 * 86_400_000 + v.nanoseconds.div_euclid(1_000_000),
        ScalarValue::IntervalMonthDayNano(Some(_)) => {
            return Err("to_milliseconds takes an interval day to second, got one with months".into());
        }
        ScalarValue::IntervalDayTime(Some(v)) => v.days as i64 * 86_400_000 + v.milliseconds as i64,
        ScalarValue::DurationSecond(Some(v)) => v * 1000,
        ScalarValue::DurationMillisecond(Some(v)) => *v,
        ScalarValue::DurationMicrosecond(Some(v)) => v.div_euclid(1000),
        ScalarValue::DurationNanosecond(Some(v)) => v.div_euclid(1_000_000),
        _ => return Ok(ScalarValue::Int64(None)),
    };
    Ok(ScalarValue::Int64(Some(millis)))
}

/// Milliseconds in one of airlift's duration units.
fn unit_millis(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-6,
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    })
}

/// `<number>[.<digits>] <unit>`, spaces allowed around both, as airlift's Duration reads it.
fn parse_duration(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let Some(s) = text(&args[0])? else { return super::null_of(returns) };
    if s.is_empty() {
        return Err("duration is empty".into());
    }
    let invalid = || format!("duration is not a valid data duration string: {s}");
    let trimmed = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let number_end = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
    let (number, unit) = (&trimmed[..number_end], trimmed[number_end..].trim_start_matches(|c: char| c.is_ascii_whitespace()));
    let well_formed = match number.split_once('.') {
        Some((whole, fraction)) => !whole.is_empty() && !fraction.is_empty() && !fraction.contains('.'),
        None => !number.is_empty(),
    };
    if !well_formed || unit.is_empty() || !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid());
    }
    let per_unit = unit_millis(unit).ok_or_else(|| format!("Unknown time unit: {unit}"))?;
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let millis = (value * per_unit + 0.5).floor();
    if millis >= i64::MAX as f64 / 1_000_000.0 {
        return Err(format!("duration is out of range: {s}"));
    }
    let millis = millis as i64;
    let interval = IntervalMonthDayNano::new(0, (millis / 86_400_000) as i32, (millis % 86_400_000) * 1_000_000);
    Ok(ScalarValue::IntervalMonthDayNano(Some(interval)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ScalarValue, String> {
        parse_duration(&[ScalarValue::Utf8(Some(s.into()))], &DataType::Interval(IntervalUnit::MonthDayNano))
    }

    #[test]
    fn durations_parse_as_airlift_reads_them() {
        let millis = |s| to_milliseconds(&[parse(s).unwrap()], &DataType::Int64).unwrap();
        assert_eq!(millis("42.8ms"), ScalarValue::Int64(Some(43)));
        assert_eq!(millis(" 1234 us "), ScalarValue::Int64(Some(1)));
        assert_eq!(millis("1234.567d"), ScalarValue::Int64(Some(1234 * 86_400_000 + 49_000_000 - 11_200)));
        assert!(parse("1f").unwrap_err().contains("Unknown time unit: f"));
        assert!(parse("abc").unwrap_err().contains("not a valid data duration string: abc"));
        assert!(parse(".5s").is_err());
    }

    #[test]
    fn seconds_read_as_weeks_days_hours() {
        let readable = |x: f64| human_readable_seconds(&[ScalarValue::Float64(Some(x))], &DataType::Utf8).unwrap();
        assert_eq!(readable(96.0), ScalarValue::Utf8(Some("1 minute, 36 seconds".into())));
        assert_eq!(readable(56363463.0), ScalarValue::Utf8(Some("93 weeks, 1 day, 8 hours, 31 minutes, 3 seconds".into())));
        assert_eq!(readable(0.4), ScalarValue::Utf8(Some("0 seconds".into())));
    }
}
