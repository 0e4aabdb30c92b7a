//! Trino's date functions: `date_diff` counts whole units (months by the
//! calendar), `date_add` clamps to the month's end, `date_trunc` keeps a DATE a
//! DATE, `from_unixtime` takes fractional seconds. Plain timestamps are read as
//! UTC; `date_trunc`, and `date_add` / `date_diff` in days or longer units, work on a
//! zoned timestamp's local time, as Trino does.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, null_of, text, want_integer, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("date_diff", coerce_diff, |_| Ok(DataType::Int64), date_diff),
        RowFunction::new("date_add", coerce_add, |args| Ok(args[2].clone()), date_add),
        RowFunction::new("date_trunc", coerce_trunc, |args| Ok(args[1].clone()), date_trunc),
        RowFunction::new("from_unixtime", coerce_from_unixtime, |_| Ok(utc_millis()), from_unixtime),
        RowFunction::new("to_unixtime", coerce_to_unixtime, |_| Ok(DataType::Float64), to_unixtime),
    ]
}

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
}

/// DATE stays DATE; any timestamp becomes a millisecond timestamp (Trino's timestamp(3)).
fn temporal(t: &DataType, what: &str) -> Result<DataType, String> {
    match t {
        DataType::Date32 | DataType::Date64 => Ok(DataType::Date32),
        DataType::Timestamp(_, tz) => Ok(DataType::Timestamp(TimeUnit::Millisecond, tz.clone())),
        DataType::Null => Ok(DataType::Date32),
        other => Err(format!(
            "{what} must be a date or timestamp, got {other}: CAST it, e.g. CAST(x AS DATE) or from_iso8601_timestamp(x)"
        )),
    }
}

fn coerce_diff(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[3], "date_diff(unit, start, end)")?;
    let (a, b) = (temporal(&args[1], "start")?, temporal(&args[2], "end")?);
    // Mixed DATE and timestamp compare as timestamps.
    let common = if a == b { a } else { DataType::Timestamp(TimeUnit::Millisecond, None) };
    Ok(vec![want_string(&args[0], "unit")?, common.clone(), common])
}

fn coerce_add(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[3], "date_add(unit, value, date_or_timestamp)")?;
    Ok(vec![want_string(&args[0], "unit")?, want_integer(&args[1], "value")?, temporal(&args[2], "the third argument")?])
}

fn coerce_trunc(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "date_trunc(unit, date_or_timestamp)")?;
    Ok(vec![want_string(&args[0], "unit")?, temporal(&args[1], "the second argument")?])
}

fn coerce_from_unixtime(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "from_unixtime(seconds)")?;
    if args[0].is_numeric() || args[0] == DataType::Null {
        Ok(vec![DataType::Float64])
    } else {
        Err(format!("seconds must be a number, got {}", args[0]))
    }
}

fn coerce_to_unixtime(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "to_unixtime(timestamp)")?;
    Ok(vec![DataType::Timestamp(TimeUnit::Millisecond, temporal(&args[0], "the argument").ok().and_then(|t| match t {
        DataType::Timestamp(_, tz) => tz,
        _ => None,
    }))])
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();

/// A date or timestamp scalar as a UTC date-time; `None` for NULL.
fn instant(value: &ScalarValue) -> Result<Option<NaiveDateTime>, String> {
    match value {
        ScalarValue::Date32(d) => Ok(d.map(|d| (EPOCH + Duration::days(d as i64)).and_time(NaiveTime::MIN))),
        ScalarValue::TimestampMillisecond(ms, _) => {
            ms.map(|ms| DateTime::from_timestamp_millis(ms).map(|t| t.naive_utc()).ok_or("timestamp out of range".into()))
                .transpose()
        }
        ScalarValue::Null => Ok(None),
        other => Err(format!("expected a date or timestamp, got {}", other.data_type())),
    }
}

/// The zone of a zoned timestamp scalar; `None` for a date or a plain timestamp.
pub fn zone_of(value: &ScalarValue) -> Result<Option<Tz>, String> {
    match value {
        ScalarValue::TimestampMillisecond(_, Some(zone)) => zone.parse::<Tz>().map(Some).map_err(|e| format!("time zone '{zone}': {e}")),
        _ => Ok(None),
    }
}

/// The local wall time in `zone` of a UTC date-time.
pub fn to_local(utc: NaiveDateTime, zone: &Tz) -> NaiveDateTime {
    zone.from_utc_datetime(&utc).naive_local()
}

/// The UTC date-time of a local wall time in `zone`: the earlier one when the clocks
/// went back; a time the clocks skipped is read an hour later (as Joda moves it forward).
pub fn from_local(local: NaiveDateTime, zone: &Tz) -> NaiveDateTime {
    zone.from_local_datetime(&local)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(local + Duration::hours(1))).earliest())
        .map(|t| t.naive_utc())
        .unwrap_or(local)
}

/// The value back in the type the function returns.
fn typed(value: NaiveDateTime, returns: &DataType) -> Result<ScalarValue, String> {
    match returns {
        DataType::Date32 => Ok(ScalarValue::Date32(Some((value.date() - EPOCH).num_days() as i32))),
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            Ok(ScalarValue::TimestampMillisecond(Some(value.and_utc().timestamp_millis()), tz.clone()))
        }
        other => Err(format!("cannot return {other}")),
    }
}

fn unit_of(value: &ScalarValue) -> Result<Option<String>, String> {
    Ok(text(value)?.map(|u| u.trim().to_lowercase()))
}

fn is_date_unit(unit: &str) -> bool {
    matches!(unit, "day" | "week" | "month" | "quarter" | "year")
}

fn check_unit(unit: &str, on_date: bool) -> Result<(), String> {
    let known = matches!(unit, "millisecond" | "second" | "minute" | "hour") || is_date_unit(unit);
    if !known {
        return Err(format!("'{unit}' is not a valid unit: use millisecond, second, minute, hour, day, week, month, quarter or year"));
    }
    if on_date && !is_date_unit(unit) {
        return Err(format!("'{unit}' is not a valid DATE field: use day, week, month, quarter or year, or CAST to timestamp"));
    }
    Ok(())
}

fn unit_millis(unit: &str) -> i64 {
    match unit {
        "millisecond" => 1,
        "second" => 1_000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        _ => unreachable!("calendar units are handled by months"),
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    next.and_then(|n| n.pred_opt()).map(|d| d.day()).unwrap_or(31)
}

fn since_month_start(t: NaiveDateTime) -> Duration {
    t - t.date().with_day(1).expect("day 1 exists").and_time(NaiveTime::MIN)
}

/// Whole calendar months from `start` to `end`, as Joda (and so Trino) counts
/// them: a month is complete once the day and time of day are reached again,
/// and the last day of a short month completes a month started on a later day.
pub fn months_between(start: NaiveDateTime, end: NaiveDateTime) -> i64 {
    if end < start {
        return -months_between(end, start);
    }
    let mut months = (end.year() - start.year()) as i64 * 12 + end.month() as i64 - start.month() as i64;
    let mut start_adjusted = start;
    if end.day() == days_in_month(end.year(), end.month()) && start.day() > end.day() {
        start_adjusted = start.with_day(end.day()).expect("an earlier day of the month exists");
    }
    if since_month_start(end) < since_month_start(start_adjusted) {
        months -= 1;
    }
    months
}

fn date_diff(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(unit), Some(start), Some(end)) = (unit_of(&args[0])?, instant(&args[1])?, instant(&args[2])?) else {
        return Ok(ScalarValue::Int64(None));
    };
    check_unit(&unit, matches!(args[1], ScalarValue::Date32(_)))?;
    // Days and longer units count on the local calendar of the first argument's zone (Trino uses its
    // chronology); shorter ones are exact durations.
    let (start, end) = match zone_of(&args[1])? {
        Some(zone) if is_date_unit(&unit) => (to_local(start, &zone), to_local(end, &zone)),
        _ => (start, end),
    };
    let diff = match unit.as_str() {
        "month" => months_between(start, end),
        "quarter" => months_between(start, end) / 3,
        "year" => months_between(start, end) / 12,
        fixed => (end - start).num_milliseconds() / unit_millis(fixed),
    };
    Ok(ScalarValue::Int64(Some(diff)))
}

fn add_months(t: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let magnitude = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 { t.checked_add_months(magnitude) } else { t.checked_sub_months(magnitude) }
}

fn date_add(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some(unit), Some(n), Some(t)) = (unit_of(&args[0])?, integer(&args[1])?, instant(&args[2])?) else {
        return null_of(returns);
    };
    check_unit(&unit, *returns == DataType::Date32)?;
    // Days and longer units move the local date-time in a zoned value's zone (a day across a DST change is
    // 23 or 25 hours); shorter ones add an exact duration.
    let zone = zone_of(&args[2])?.filter(|_| is_date_unit(&unit));
    let t = match &zone {
        Some(zone) => to_local(t, zone),
        None => t,
    };
    let shifted = match unit.as_str() {
        "month" => add_months(t, n),
        "quarter" => n.checked_mul(3).and_then(|m| add_months(t, m)),
        "year" => n.checked_mul(12).and_then(|m| add_months(t, m)),
        fixed => n.checked_mul(unit_millis(fixed)).and_then(|ms| t.checked_add_signed(Duration::milliseconds(ms))),
    };
    let shifted = shifted.ok_or_else(|| format!("date_add('{unit}', {n}, {t}) is out of range"))?;
    typed(zone.map(|zone| from_local(shifted, &zone)).unwrap_or(shifted), returns)
}

fn date_trunc(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let (Some(unit), Some(t)) = (unit_of(&args[0])?, instant(&args[1])?) else { return null_of(returns) };
    check_unit(&unit, *returns == DataType::Date32)?;
    // A zoned timestamp is truncated at its local time (midnight in New York, not in UTC).
    let zone = zone_of(&args[1])?;
    let t = match &zone {
        Some(zone) => to_local(t, zone),
        None => t,
    };
    let date = t.date();
    let truncated = match unit.as_str() {
        "millisecond" => t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000).expect("valid"),
        "second" => t.with_nanosecond(0).expect("valid"),
        "minute" => t.with_nanosecond(0).and_then(|t| t.with_second(0)).expect("valid"),
        "hour" => date.and_hms_opt(t.hour(), 0, 0).expect("valid"),
        "day" => date.and_time(NaiveTime::MIN),
        "week" => (date - Duration::days(date.weekday().num_days_from_monday() as i64)).and_time(NaiveTime::MIN),
        "month" => date.with_day(1).expect("valid").and_time(NaiveTime::MIN),
        "quarter" => {
            let month = (date.month0() / 3) * 3 + 1;
            NaiveDate::from_ymd_opt(date.year(), month, 1).expect("valid").and_time(NaiveTime::MIN)
        }
        "year" => NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("valid").and_time(NaiveTime::MIN),
        _ => unreachable!("checked above"),
    };
    typed(zone.map(|zone| from_local(truncated, &zone)).unwrap_or(truncated), returns)
}

fn from_unixtime(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    match &args[0] {
        // Trino rounds to the millisecond.
        ScalarValue::Float64(Some(seconds)) => {
            Ok(ScalarValue::TimestampMillisecond(Some((seconds * 1000.0).round() as i64), Some(Arc::from("UTC"))))
        }
        _ => null_of(returns),
    }
}

fn to_unixtime(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    match &args[0] {
        ScalarValue::TimestampMillisecond(Some(ms), _) => Ok(ScalarValue::Float64(Some(*ms as f64 / 1000.0))),
        _ => Ok(ScalarValue::Float64(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn months_count_whole_calendar_months_like_joda() {
        assert_eq!(months_between(at("2024-01-31 00:00:00"), at("2024-02-29 00:00:00")), 1);
        assert_eq!(months_between(at("2024-01-31 00:00:00"), at("2024-02-28 00:00:00")), 0);
        assert_eq!(months_between(at("2024-01-15 12:00:00"), at("2024-02-15 11:59:59")), 0);
        assert_eq!(months_between(at("2024-01-15 12:00:00"), at("2024-02-15 12:00:00")), 1);
        assert_eq!(months_between(at("2024-03-31 00:00:00"), at("2024-01-31 00:00:00")), -2);
        assert_eq!(months_between(at("2023-02-28 00:00:00"), at("2024-02-29 00:00:00")), 12);
    }
}
