//! Values as Athena shows them: doubles as Java prints them (`1.0`, `1.0E7`),
//! timestamps with milliseconds, arrays `[a, b]`, maps `{k=v}`, varbinary as
//! spaced hex bytes. NULL is `None`: the CLI prints NULL, CSV an empty field.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::DataType;
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
        S::TimestampSecond(Some(v), tz) => with_zone(millis_text(v * 1000), tz),
        S::TimestampMillisecond(Some(v), tz) => with_zone(millis_text(*v), tz),
        S::TimestampMicrosecond(Some(v), tz) => with_zone(millis_text(v.div_euclid(1000)), tz),
        S::TimestampNanosecond(Some(v), tz) => with_zone(millis_text(v.div_euclid(1_000_000)), tz),
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

fn with_zone(text: String, tz: &Option<std::sync::Arc<str>>) -> String {
    match tz {
        Some(zone) => format!("{text} {zone}"),
        None => text,
    }
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
    use super::java_double;

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
