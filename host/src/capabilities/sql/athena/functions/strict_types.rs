//! Type rules Trino keeps and DataFusion relaxes, so that a query that runs here also
//! runs on Athena. DataFusion's type coercion quietly casts a varchar to the other
//! side's type in a comparison (`snapshot_date = '2026-11-15'`, `sessions_7d = '5'`);
//! Trino refuses it (`Cannot apply operator: date = varchar`), and a query tested here
//! would fail in the hosted run. DataFusion also adds hours to a date by dropping them;
//! Trino refuses. An analyzer rule ([`TrinoTypeRules`]) runs before type coercion, so it
//! sees the types as the query wrote them (a typed literal `DATE '...'` and a written
//! CAST are already of their type), and fails naming both.

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::{Between, BinaryExpr, Case, Cast, InList};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::analyzer::AnalyzerRule;

use super::misc::trino_type_name;

#[derive(Debug, Default)]
pub struct TrinoTypeRules;

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Types Trino never compares with a varchar without a CAST.
fn is_typed(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Boolean)
}

/// Fails when two operands are a varchar and a number, date, timestamp or boolean.
fn comparable(left: &Expr, op: &str, right: &Expr, schema: &DFSchema) -> Result<()> {
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else { return Ok(()) };
    if (is_text(&l) && is_typed(&r)) || (is_typed(&l) && is_text(&r)) {
        return Err(DataFusionError::Plan(format!(
            "Cannot apply operator: {} {op} {} (Athena refuses it: CAST one side, e.g. DATE '2026-11-15' or CAST(x AS varchar))",
            trino_type_name(&l),
            trino_type_name(&r)
        )));
    }
    Ok(())
}

/// A literal interval with hours, minutes or seconds in it.
fn has_time_part(expr: &Expr) -> bool {
    match expr {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) => v.nanoseconds != 0,
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => v.milliseconds != 0,
        Expr::Cast(Cast { expr, .. }) => has_time_part(expr),
        _ => false,
    }
}

fn check(expr: &Expr, schema: &DFSchema) -> Result<()> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                comparable(left, &op.to_string(), right, schema)
            }
            Operator::Plus | Operator::Minus
                if matches!(left.get_type(schema), Ok(DataType::Date32 | DataType::Date64)) && has_time_part(right) =>
            {
                Err(DataFusionError::Plan("Cannot add hour, minutes or seconds to a date (cast it to timestamp first)".into()))
            }
            _ => Ok(()),
        },
        Expr::InList(InList { expr, list, .. }) => list.iter().try_for_each(|item| comparable(expr, "IN", item, schema)),
        Expr::Between(Between { expr, low, high, .. }) => {
            comparable(expr, "BETWEEN", low, schema)?;
            comparable(expr, "BETWEEN", high, schema)
        }
        // `CASE x WHEN v THEN ...` compares x with each v.
        Expr::Case(Case { expr: Some(base), when_then_expr, .. }) => when_then_expr.iter().try_for_each(|(when, _)| comparable(base, "=", when, schema)),
        _ => Ok(()),
    }
}

impl AnalyzerRule for TrinoTypeRules {
    fn name(&self) -> &str {
        "trino_type_rules"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        // Every sub-expression is visited on its own: check each node, not its subtree.
        super::rewrite_expressions(plan, |expr, schema| check(&expr, schema).map(|()| Transformed::no(expr)))
    }
}
