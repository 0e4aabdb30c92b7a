//! A varchar cast to a date or a timestamp, read as Trino reads it. DataFusion is lenient
//! where Trino is strict and strict where Trino is lenient: it takes `'20240105'` and
//! `'2024-01-05 10:00:00'` as dates and `'2024-01-05T10:00:00'` as a timestamp, all of
//! which Trino refuses, and refuses `'2024-01-05 10:00'` and `'2024-1-5 1:2:3'`, which
//! Trino takes. Trino's forms, after trimming spaces:
//! - date: `y-M-d` (month and day of one or two digits);
//! - timestamp: a date, then optionally ` H:m`, `:s` and a fraction of any length, rounded
//!   half up to milliseconds (timestamp(3), as the engine shows timestamps).
//!
//! After planning, an analyzer rule ([`TrinoTextToDatetime`]) sends the varchar of every
//! written cast (`CAST`, `TRY_CAST`, typed literals: they go through [`CAST_NAMED`]) to a
//! date or plain timestamp through [`TEXT_TO_DATE`] / [`TEXT_TO_TIMESTAMP`]; a failure is
//! `Value cannot be cast to date: 20240105`, or NULL under `TRY_CAST`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::{ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::optimizer::analyzer::AnalyzerRule;

use super::casts::CAST_NAMED;

pub const TEXT_TO_DATE: &str = "athena_text_to_date";
pub const TEXT_TO_TIMESTAMP: &str = "athena_text_to_timestamp";

/// Digits only, one to `max` of them.
fn number(text: &str, max: usize) -> Option<u32> {
    (!text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.splitn(3, '-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    NaiveDate::from_ymd_opt(number(year, 6)? as i32, number(month, 2)?, number(day, 2)?)
}

fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let (date, time) = match text.split_once(' ') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let date = parse_date(date)?;
    let Some(time) = time else { return Some(date.and_time(NaiveTime::MIN)) };
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut fields = clock.split(':');
    let (hour, minute) = (number(fields.next()?, 2)?, number(fields.next()?, 2)?);
    let second = fields.next().map(|s| number(s, 2)).unwrap_or(Some(0))?;
    if fields.next().is_some() || (fraction.is_some() && clock.matches(':').count() != 2) {
        return None;
    }
    let base = date.and_time(NaiveTime::from_hms_opt(hour, minute, second)?);
    let Some(fraction) = fraction else { return Some(base) };
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rounded half up to milliseconds: .9995 is the next second.
    let digits: Vec<u32> = fraction.bytes().map(|b| u32::from(b - b'0')).collect();
    let mut millis = digits.iter().chain(std::iter::repeat(&0)).take(3).fold(0, |m, d| m * 10 + d);
    if digits.get(3).is_some_and(|&d| d >= 5) {
        millis += 1;
    }
    base.checked_add_signed(chrono::Duration::milliseconds(i64::from(millis)))
}

/// `athena_text_to_date(text, is_try)` and `athena_text_to_timestamp(text, is_try)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TextToDatetime {
    name: &'static str,
    signature: Signature,
}

impl TextToDatetime {
    pub fn all() -> Vec<Self> {
        [TEXT_TO_DATE, TEXT_TO_TIMESTAMP].into_iter().map(|name| Self { name, signature: Signature::any(2, Volatility::Immutable) }).collect()
    }

    fn is_date(&self) -> bool {
        self.name == TEXT_TO_DATE
    }
}

impl ScalarUDFImpl for TextToDatetime {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.is_date() { DataType::Date32 } else { DataType::Timestamp(TimeUnit::Nanosecond, None) })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let is_try = matches!(&args.args[1], ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))));
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let text = args.args[0].to_array(args.number_rows)?;
        let text = arrow::compute::cast(&text, &DataType::Utf8)?;
        let text = text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
        let kind = if self.is_date() { "date" } else { "timestamp" };
        let fail = |value: &str| -> Result<()> { if is_try { Ok(()) } else { exec_err!("Value cannot be cast to {kind}: {value}") } };
        let out: ArrayRef = if self.is_date() {
            let mut days = Vec::with_capacity(text.len());
            for value in text.iter() {
                let parsed = value.and_then(|v| parse_date(v.trim()));
                if let (Some(value), None) = (value, parsed) {
                    fail(value)?;
                }
                days.push(parsed.map(|d| (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32));
            }
            Arc::new(Date32Array::from(days))
        } else {
            let mut nanos = Vec::with_capacity(text.len());
            for value in text.iter() {
                let parsed = value.and_then(|v| parse_timestamp(v.trim())).and_then(|t| t.and_utc().timestamp_nanos_opt());
                if let (Some(value), None) = (value, parsed) {
                    fail(value)?;
                }
                nanos.push(parsed);
            }
            Arc::new(TimestampNanosecondArray::from(nanos))
        };
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

#[derive(Debug, Default)]
pub struct TrinoTextToDatetime;

impl TrinoTextToDatetime {
    /// `athena_cast(text, 'T')` inside a cast to a date or a plain timestamp: the text is parsed first.
    fn reparse(named: Expr, target: &DataType, is_try: bool, schema: &DFSchema, udfs: &[Arc<ScalarUDF>; 2]) -> Result<Transformed<Expr>> {
        let Expr::ScalarFunction(ScalarFunction { func, mut args }) = named else { return Ok(Transformed::no(named)) };
        let is_text = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View));
        let parser = match target {
            DataType::Date32 => &udfs[0],
            DataType::Timestamp(_, None) => &udfs[1],
            _ => return Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args }))),
        };
        if func.name() != CAST_NAMED || args.is_empty() || !is_text(&args[0]) {
            return Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args })));
        }
        let text = args.remove(0);
        let parsed = Expr::ScalarFunction(ScalarFunction::new_udf(parser.clone(), vec![text, Expr::Literal(ScalarValue::Boolean(Some(is_try)), None)]));
        args.insert(0, parsed);
        Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction { func, args })))
    }

    fn rewrite(expr: Expr, schema: &DFSchema, udfs: &[Arc<ScalarUDF>; 2]) -> Result<Transformed<Expr>> {
        Ok(match expr {
            Expr::Cast(Cast { expr, field }) => Self::reparse(*expr, field.data_type(), false, schema, udfs)?
                .update_data(|inner| Expr::Cast(Cast::new_from_field(Box::new(inner), field))),
            Expr::TryCast(TryCast { expr, field }) => Self::reparse(*expr, field.data_type(), true, schema, udfs)?
                .update_data(|inner| Expr::TryCast(TryCast::new_from_field(Box::new(inner), field))),
            other => Transformed::no(other),
        })
    }
}

impl AnalyzerRule for TrinoTextToDatetime {
    fn name(&self) -> &str {
        "trino_text_to_datetime"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let mut all = TextToDatetime::all().into_iter().map(|f| Arc::new(ScalarUDF::new_from_impl(f)));
        let udfs = [all.next().expect("date"), all.next().expect("timestamp")];
        super::rewrite_expressions(plan, |e, schema| Self::rewrite(e, schema, &udfs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_read_as_trino_reads_them() {
        assert_eq!(parse_date("2024-1-5"), NaiveDate::from_ymd_opt(2024, 1, 5));
        assert_eq!(parse_date("20240105"), None);
        assert_eq!(parse_date("2024-01-05 10:00:00"), None);
        assert_eq!(parse_date("2024-02-30"), None);
        let at = |s: &str| parse_timestamp(s).map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
        assert_eq!(at("2024-01-05 10:00").as_deref(), Some("2024-01-05 10:00:00.000"));
        assert_eq!(at("2024-1-5 1:2:3").as_deref(), Some("2024-01-05 01:02:03.000"));
        assert_eq!(at("2024-01-05").as_deref(), Some("2024-01-05 00:00:00.000"));
        assert_eq!(at("2024-01-05 10:00:00.9999").as_deref(), Some("2024-01-05 10:00:01.000"));
        assert_eq!(at("2024-01-05 10:00:00.12").as_deref(), Some("2024-01-05 10:00:00.120"));
        assert_eq!(at("2024-01-05T10:00:00"), None);
        assert_eq!(at("2024-01-05 10"), None);
        assert_eq!(at("2024-01-05 10:00.5"), None);
        assert_eq!(at("2024-01-05 25:00:00"), None);
    }
}
