//! `AT TIME ZONE` and casts to a zoned timestamp as Trino reads them. Athena's
//! session zone is UTC, so a plain timestamp names a UTC instant:
//! `TIMESTAMP '2024-01-01 12:00:00' AT TIME ZONE 'Asia/Tokyo'` is 21:00 in Tokyo.
//! DataFusion (like PostgreSQL) takes the plain timestamp as wall time in the
//! target zone instead, 12:00 in Tokyo. After type coercion, an analyzer rule
//! ([`PlainTimestampsAreUtc`]) makes every cast from a plain timestamp to a zoned
//! one go through UTC first; a cast between two zones keeps the instant; and a
//! cast from a zoned timestamp to a plain one keeps its local time, as Trino's does
//! (Arrow's keeps the UTC time).

use arrow::array::timezone::Tz;
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, internal_err, plan_err};
use datafusion::functions::datetime::to_local_time;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct PlainTimestampsAreUtc;

impl PlainTimestampsAreUtc {
    /// The zoned type a plain timestamp of `data_type` goes through, when `target` is zoned.
    fn via_utc(data_type: &DataType, target: &DataType) -> Option<DataType> {
        match (data_type, target) {
            (DataType::Timestamp(unit, None), DataType::Timestamp(_, Some(_))) => Some(DataType::Timestamp(*unit, Some("UTC".into()))),
            _ => None,
        }
    }

    fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let through = |inner: &Expr, target: &DataType| inner.get_type(schema).ok().and_then(|t| Self::via_utc(&t, target));
        let zoned_to_plain = |inner: &Expr, target: &DataType| {
            matches!(target, DataType::Timestamp(_, None)) && matches!(inner.get_type(schema), Ok(DataType::Timestamp(_, Some(_))))
        };
        Ok(match expr {
            Expr::Cast(Cast { expr, field }) if zoned_to_plain(&expr, field.data_type()) => {
                Transformed::yes(Expr::Cast(Cast::new_from_field(Box::new(to_local_time().call(vec![*expr])), field)))
            }
            Expr::Cast(Cast { expr, field }) => match through(&expr, field.data_type()) {
                Some(utc) => Transformed::yes(Expr::Cast(Cast::new_from_field(Box::new(Expr::Cast(Cast::new(expr, utc))), field))),
                None => Transformed::no(Expr::Cast(Cast { expr, field })),
            },
            Expr::TryCast(TryCast { expr, field }) => match through(&expr, field.data_type()) {
                Some(utc) => Transformed::yes(Expr::TryCast(TryCast::new_from_field(Box::new(Expr::Cast(Cast::new(expr, utc))), field))),
                None => Transformed::no(Expr::TryCast(TryCast { expr, field })),
            },
            other => Transformed::no(other),
        })
    }
}

impl AnalyzerRule for PlainTimestampsAreUtc {
    fn name(&self) -> &str {
        "plain_timestamps_are_utc"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, Self::rewrite)
    }
}

pub const CAST_ZONED: &str = "athena_cast_zoned";

/// Gives a value a zone. `with_timezone(x, 'zone')` reads a plain timestamp (or the text of a
/// zoned literal, `TIMESTAMP '2024-01-01 12:00:00 America/New_York'`) as wall time in that zone;
/// `athena_cast_zoned(x, try)` is `CAST(x AS timestamp with time zone)` (`TRY_CAST` when `try`): a zoned value keeps its zone,
/// a plain timestamp or date is read in UTC (Athena's session zone), a varchar as its text says
/// (UTC when it names no zone). Both call Arrow's cast kernel, which reads a plain value as local
/// time in the target zone, so the analyzer rule above (which would go through UTC) is bypassed.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Zoned {
    name: &'static str,
    signature: Signature,
}

impl Zoned {
    pub fn with_timezone() -> Self {
        Self { name: "with_timezone", signature: Signature::user_defined(Volatility::Immutable) }
    }
    pub fn cast() -> Self {
        Self { name: CAST_ZONED, signature: Signature::user_defined(Volatility::Immutable) }
    }
}

/// Trino's zone name: the spellings of UTC (`Z`, `+00:00`, `GMT`, ...) are `UTC`; others must be
/// a region (`America/New_York`, any case) or an offset (`+05:30`).
pub fn zone_name(zone: &str) -> std::result::Result<String, String> {
    let zone = zone.trim();
    if ["utc", "z", "ut", "uct", "gmt", "gmt0", "greenwich", "universal", "zulu", "+00:00", "-00:00", "etc/utc", "etc/gmt"]
        .contains(&zone.to_lowercase().as_str())
    {
        return Ok("UTC".into());
    }
    // A region in any case is spelled as the zone database spells it (`america/new_york` is `America/New_York`).
    if let Some(region) = chrono_tz::TZ_VARIANTS.iter().find(|region| region.name().eq_ignore_ascii_case(zone)) {
        return Ok(region.name().to_string());
    }
    match zone.parse::<Tz>() {
        Ok(_) => Ok(zone.to_string()),
        Err(_) => Err(format!("Time zone not supported: {zone}")),
    }
}

impl ScalarUDFImpl for Zoned {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let usage = if self.name == CAST_ZONED { "CAST(x AS timestamp with time zone)" } else { "with_timezone(timestamp, zone)" };
        let value = match args.first() {
            Some(DataType::Timestamp(_, None)) if self.name != CAST_ZONED => DataType::Timestamp(TimeUnit::Millisecond, None),
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => DataType::Utf8,
            Some(DataType::Timestamp(_, zone)) if self.name == CAST_ZONED => DataType::Timestamp(TimeUnit::Millisecond, zone.clone()),
            Some(DataType::Date32 | DataType::Date64) if self.name == CAST_ZONED => DataType::Date32,
            Some(DataType::Null) => DataType::Timestamp(TimeUnit::Millisecond, None),
            other => return plan_err!("{usage}: cannot read {} as a timestamp", other.map(|t| t.to_string()).unwrap_or_default()),
        };
        match (self.name, args.len()) {
            (CAST_ZONED, 2) if matches!(args[1], DataType::Boolean) => Ok(vec![value, DataType::Boolean]),
            ("with_timezone", 2) if matches!(args[1], DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                Ok(vec![value, DataType::Utf8])
            }
            _ => plan_err!("expected {usage}"),
        }
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        internal_err!("return_field_from_args is used")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let zone = match (self.name, args.arg_fields[0].data_type(), args.scalar_arguments.get(1)) {
            (CAST_ZONED, DataType::Timestamp(_, Some(zone)), _) => zone.to_string(),
            (CAST_ZONED, _, _) => "UTC".into(),
            (_, _, Some(Some(ScalarValue::Utf8(Some(zone))))) => zone_name(zone).map_err(DataFusionError::Plan)?,
            _ => return plan_err!("with_timezone: the zone must be a constant, e.g. 'America/New_York'"),
        };
        Ok(Field::new(self.name, DataType::Timestamp(TimeUnit::Millisecond, Some(zone.into())), true).into())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        // TRY_CAST: a text that is not a timestamp is NULL.
        let safe = self.name == CAST_ZONED && matches!(args.args.get(1), Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))));
        args.args[0].cast_to(&target, Some(&CastOptions { safe, ..Default::default() }))
    }
}
