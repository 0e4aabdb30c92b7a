//! `AT TIME ZONE` and casts to a zoned timestamp as Trino reads them. Athena's
//! session zone is UTC, so a plain timestamp names a UTC instant:
//! `TIMESTAMP '2024-01-01 12:00:00' AT TIME ZONE 'Asia/Tokyo'` is 21:00 in Tokyo.
//! DataFusion (like PostgreSQL) takes the plain timestamp as wall time in the
//! target zone instead, 12:00 in Tokyo. After type coercion, an analyzer rule
//! ([`PlainTimestampsAreUtc`]) makes every cast from a plain timestamp to a zoned
//! one go through UTC first; a cast between two zones keeps the instant; and a
//! cast from a zoned timestamp to a plain one keeps its local time, as Trino's does
//! (Arrow's keeps the UTC time).

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::functions::datetime::to_local_time;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
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
