//! Values as Athena shows them: doubles as Java prints them (`1.0`, `1.0E7`),
//! timestamps with milliseconds (a zoned one at its local time, then the zone),
//! intervals as `D HH:MM:SS.mmm` or `Y-M`, arrays `[a, b]`, maps `{k=v}`,
//! varbinary as spaced hex bytes. NULL is `None`: the CLI prints NULL, CSV an empty field.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::DataType;
use arrow::array::timezone::Tz;
use chrono::DateTime;
use datafusion::common::ScalarValue;

/// Java's `Double.toString`: plain between 10^-3 and 10^7, scientific outside.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let magnitude = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exponent) = s.split_once('e').expect("scientific notation");
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exponent}")
    }
}

fn java_float(v: f32) -> String {
    if v.is_finite() && v != 0.0 && !(1e-3..1e7).contains(&v.abs()) {
        return java_double(v as f64);
    }
    let s = format!("{v}");
    if v.is_finite() && !s.contains('.') { format!("{s}.0") } else { s }
}

fn millis_text(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()).unwrap_or_else(|| ms.to_string())
}

/// A zoned timestamp as Trino shows it: the local time in its zone, then the zone
/// (`2024-02-01 00:59:59.123 Europe/Berlin`); a plain one as UTC wall time.
fn timestamp_text(ms: i64, tz: &Option<std::sync::Arc<str>>) -> String {
    let Some(zone) = tz else { return millis_text(ms) };
    let local = zone.parse::<Tz>().ok().zip(DateTime::from_timestamp_millis(ms)).map(|(tz, t)| t.with_timezone(&tz).naive_local());
    match local {
        Some(local) => format!("{} {zone}", local.format("%Y-%m-%d %H:%M:%S%.3f")),
        None => format!("{} {zone}", millis_text(ms)),
    }
}

/// Trino's `interval day to second` text: `[-]D HH:MM:SS.mmm`.
fn day_second_text(millis: i128) -> String {
    let sign = if millis < 0 { "-" } else { "" };
    let millis = millis.unsigned_abs();
    let (days, rest) = (millis / 86_400_000, millis % 86_400_000);
    let (hours, minutes, seconds, ms) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{sign}{days} {hours:02}:{minutes:02}:{seconds:02}.{ms:03}")
}

/// Trino's `interval year to month` text: `[-]Y-M`.
fn year_month_text(months: i64) -> String {
    let sign = if months < 0 { "-" } else { "" };
    format!("{sign}{}-{}", months.unsigned_abs() / 12, months.unsigned_abs() % 12)
}

/// An Arrow interval: year-month when it holds months only, else day-second (months, which
/// Trino never mixes with days, lead as a year-month text).
fn interval_text(months: i64, days: i64, nanos: i128) -> String {
    let day_second = day_second_text(days as i128 * 86_400_000 + nanos.div_euclid(1_000_000));
    match (months, days, nanos) {
        (0, _, _) => day_second,
        (_, 0, 0) => year_month_text(months),
        _ => format!("{} {day_second}", year_month_text(months)),
    }
}

fn list_text(values: &ArrayRef) -> String {
    let items: Vec<String> = (0..values.len()).map(|i| cell(values, i).unwrap_or_else(|| "NULL".into())).collect();
    format!("[{}]", items.join(", "))
}

/// One cell of a column.
pub fn cell(column: &ArrayRef, row: usize) -> Option<String> {
    // Logical nulls: a NULL-typed column (`SELECT NULL AS x`) has no validity buffer.
    if column.is_null(row) || column.data_type().is_null() {
        return None;
    }
    let value = ScalarValue::try_from_array(column, row).ok()?;
    Some(scalar(&value))
}

pub fn scalar(value: &ScalarValue) -> String {
    use ScalarValue as S;
    match value {
        S::Float64(Some(v)) => java_double(*v),
        S::Float32(Some(v)) => java_float(*v),
        S::Date32(Some(_)) | S::Date64(Some(_)) => value.to_string(),
        S::TimestampSecond(Some(v), tz) => timestamp_text(v * 1000, tz),
        S::TimestampMillisecond(Some(v), tz) => timestamp_text(*v, tz),
        S::TimestampMicrosecond(Some(v), tz) => timestamp_text(v.div_euclid(1000), tz),
        S::TimestampNanosecond(Some(v), tz) => timestamp_text(v.div_euclid(1_000_000), tz),
        S::Time32Second(Some(v)) => time_text(*v as i64 * 1_000_000_000),
        S::Time32Millisecond(Some(v)) => time_text(*v as i64 * 1_000_000),
        S::Time64Microsecond(Some(v)) => time_text(v * 1000),
        S::Time64Nanosecond(Some(v)) => time_text(*v),
        S::IntervalYearMonth(Some(months)) => year_month_text(*months as i64),
        S::IntervalDayTime(Some(v)) => interval_text(0, v.days as i64, v.milliseconds as i128 * 1_000_000),
        S::IntervalMonthDayNano(Some(v)) => interval_text(v.months as i64, v.days as i64, v.nanoseconds as i128),
        S::DurationSecond(Some(v)) => day_second_text(*v as i128 * 1000),
        S::DurationMillisecond(Some(v)) => day_second_text(*v as i128),
        S::DurationMicrosecond(Some(v)) => day_second_text((*v as i128).div_euclid(1000)),
        S::DurationNanosecond(Some(v)) => day_second_text((*v as i128).div_euclid(1_000_000)),
        S::Binary(Some(b)) | S::LargeBinary(Some(b)) | S::BinaryView(Some(b)) => {
            b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
        }
        S::List(list) => list_text(&list.value(0)),
        S::LargeList(list) => list_text(&list.value(0)),
        S::FixedSizeList(list) => list_text(&list.value(0)),
        S::Map(map) => {
            let entries = map.value(0);
            let pairs: Vec<String> = (0..entries.len())
                .map(|i| {
                    let key = cell(entries.column(0), i).unwrap_or_else(|| "NULL".into());
                    let value = cell(entries.column(1), i).unwrap_or_else(|| "NULL".into());
                    format!("{key}={value}")
                })
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
        S::Struct(s) => {
            let DataType::Struct(fields) = s.data_type() else { return value.to_string() };
            let members: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| format!("{}={}", f.name(), cell(s.column(i), 0).unwrap_or_else(|| "NULL".into())))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
        other => other.to_string(),
    }
}

/// A time of day as Trino writes it: `10:00:00`, with milliseconds when there is a fraction
/// (the engine keeps no time precision to tell `time(0)` from `time(3)`).
fn time_text(nanos: i64) -> String {
    let (seconds, fraction) = (nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000));
    let clock = format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if fraction == 0 { clock } else { format!("{clock}.{:03}", fraction / 1_000_000) }
}

/// Every row of the batches as Athena's text, NULL as `None`.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(batch.columns().iter().map(|c| cell(c, row)).collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_zoned_timestamps_print_as_trino_prints_them() {
        assert_eq!(day_second_text(43_200_000), "0 12:00:00.000");
        assert_eq!(day_second_text(-(3 * 86_400_000 + 1)), "-3 00:00:00.001");
        assert_eq!(year_month_text(14), "1-2");
        assert_eq!(year_month_text(-1), "-0-1");
        assert_eq!(interval_text(0, 3, 0), "3 00:00:00.000");
        assert_eq!(interval_text(14, 0, 0), "1-2");
        // 2024-01-31 23:59:59.123 UTC is past midnight in Berlin.
        let berlin = Some(std::sync::Arc::from("Europe/Berlin"));
        assert_eq!(timestamp_text(1_706_745_599_123, &berlin), "2024-02-01 00:59:59.123 Europe/Berlin");
        assert_eq!(timestamp_text(1_706_745_599_123, &Some(std::sync::Arc::from("+05:00"))), "2024-02-01 04:59:59.123 +05:00");
        assert_eq!(timestamp_text(1_706_745_599_123, &None), "2024-01-31 23:59:59.123");
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(10_000_000.0), "1.0E7");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(java_double(-2.5), "-2.5");
    }
}
