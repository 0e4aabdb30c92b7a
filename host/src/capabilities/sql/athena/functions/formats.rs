//! `date_format(ts, format)` and `date_parse(string, format)` with Trino's
//! MySQL-style specifiers (`%i` is minutes, `%s` seconds, `%M` the month name),
//! translated to chrono's (a zoned timestamp at its local time); `from_iso8601_timestamp`, `from_iso8601_date`
//! and `to_iso8601`.

use arrow::array::timezone::Tz;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset};
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, text, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("date_format", coerce_format, |_| Ok(DataType::Utf8), date_format),
        RowFunction::new("date_parse", coerce_strings, |_| Ok(millis()), date_parse),
        RowFunction::new("from_iso8601_timestamp", coerce_strings, |_| Ok(utc_millis()), from_iso8601_timestamp),
        RowFunction::new("from_iso8601_date", coerce_strings, |_| Ok(DataType::Date32), from_iso8601_date),
        RowFunction::new("to_iso8601", coerce_iso8601, |_| Ok(DataType::Utf8), to_iso8601),
    ]
}

/// Trino's from_iso8601_timestamp returns `timestamp(3) with time zone`; the zone here is UTC.
fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

fn coerce_format(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "date_format(timestamp, format)")?;
    let value = match &args[0] {
        DataType::Date32 | DataType::Date64 | DataType::Null => millis(),
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        other => return Err(format!("the first argument must be a date or timestamp, got {other}")),
    };
    Ok(vec![value, want_string(&args[1], "format")?])
}

fn coerce_strings(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1, 2], "string arguments")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

/// Trino's (MySQL's) format specifiers in chrono's spelling, for formatting.
pub fn chrono_format(mysql: &str) -> Result<String, String> {
    translate_format(mysql, false)
}

/// As [`chrono_format`], for parsing: `.%f` reads 1 to 9 fraction digits, as Trino's
/// (Joda's) parser does; chrono's `%6f` would take exactly six.
pub fn chrono_parse_format(mysql: &str) -> Result<String, String> {
    translate_format(mysql, true)
}

fn translate_format(mysql: &str, parsing: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = mysql.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next().ok_or("format ends with a lone %")?;
        if parsing && spec == 'f' && out.ends_with('.') && !out.ends_with("%.") {
            out.pop();
            out.push_str("%.f");
            continue;
        }
        out.push_str(match spec {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'M' => "%B",
            'b' => "%b",
            'W' => "%A",
            'a' => "%a",
            'j' => "%j",
            '%' => "%%",
            other => return Err(format!("format specifier %{other} is not supported locally")),
        });
    }
    Ok(out)
}

fn date_format(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (ScalarValue::TimestampMillisecond(Some(ms), _), Some(format)) = (&args[0], text(&args[1])?) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let t = DateTime::from_timestamp_millis(*ms).ok_or("timestamp out of range")?.naive_utc();
    // A zoned timestamp is written at its local time, as Trino does.
    let t = match super::dates::zone_of(&args[0])? {
        Some(zone) => super::dates::to_local(t, &zone),
        None => t,
    };
    Ok(ScalarValue::Utf8(Some(t.format(&chrono_format(format)?).to_string())))
}

fn timestamp(t: NaiveDateTime) -> ScalarValue {
    ScalarValue::TimestampMillisecond(Some(t.and_utc().timestamp_millis()), None)
}

fn date_parse(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(s), Some(format)) = (text(&args[0])?, args.get(1).map(text).transpose()?.flatten()) else {
        return Ok(ScalarValue::TimestampMillisecond(None, None));
    };
    let chrono = chrono_parse_format(format)?;
    let parsed = NaiveDateTime::parse_from_str(s, &chrono)
        .or_else(|_| NaiveDate::parse_from_str(s, &chrono).map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|e| format!("Invalid format: \"{s}\" for '{format}': {e}"))?;
    Ok(timestamp(parsed))
}

fn from_iso8601_timestamp(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(s) = text(&args[0])? else { return Ok(ScalarValue::TimestampMillisecond(None, Some("UTC".into()))) };
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| format!("Invalid format: \"{s}\" is not an ISO 8601 timestamp"))?;
    Ok(ScalarValue::TimestampMillisecond(Some(parsed.and_utc().timestamp_millis()), Some("UTC".into())))
}

fn from_iso8601_date(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(s) = text(&args[0])? else { return Ok(ScalarValue::Date32(None)) };
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("Invalid format: \"{s}\" is not an ISO 8601 date"))?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    Ok(ScalarValue::Date32(Some((date - epoch).num_days() as i32)))
}

fn coerce_iso8601(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "to_iso8601(date_or_timestamp)")?;
    Ok(vec![match &args[0] {
        DataType::Date32 | DataType::Date64 | DataType::Null => DataType::Date32,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        other => return Err(format!("the argument must be a date or timestamp, got {other}")),
    }])
}

/// Trino's ISO 8601 text: `2024-01-01` for a date, `2024-01-01T12:00:00.000` for a plain timestamp, and for a
/// zoned one its local time and offset (`Z` when the offset is zero, as Java writes it).
fn to_iso8601(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let text = match &args[0] {
        ScalarValue::Date32(Some(days)) => {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid") + chrono::Duration::days(*days as i64);
            date.format("%Y-%m-%d").to_string()
        }
        ScalarValue::TimestampMillisecond(Some(ms), zone) => {
            let t = DateTime::from_timestamp_millis(*ms).ok_or("timestamp out of range")?;
            match zone {
                None => t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
                Some(zone) => {
                    let zone: Tz = zone.parse().map_err(|e| format!("time zone '{zone}': {e}"))?;
                    let local = t.with_timezone(&zone);
                    let offset = local.offset().fix().local_minus_utc();
                    let offset = if offset == 0 {
                        "Z".to_string()
                    } else {
                        let sign = if offset < 0 { '-' } else { '+' };
                        format!("{sign}{:02}:{:02}", offset.abs() / 3600, offset.abs() / 60 % 60)
                    };
                    format!("{}{offset}", local.naive_local().format("%Y-%m-%dT%H:%M:%S%.3f"))
                }
            }
        }
        _ => return Ok(ScalarValue::Utf8(None)),
    };
    Ok(ScalarValue::Utf8(Some(text)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn mysql_specifiers_translate() {
        assert_eq!(super::chrono_format("%Y-%m-%d %H:%i:%s").unwrap(), "%Y-%m-%d %H:%M:%S");
        assert_eq!(super::chrono_format("%M %e").unwrap(), "%B %-d");
        assert!(super::chrono_format("%Q").is_err());
        assert_eq!(super::chrono_format("%s.%f").unwrap(), "%S.%6f");
        assert_eq!(super::chrono_parse_format("%s.%f").unwrap(), "%S%.f");
    }
}
