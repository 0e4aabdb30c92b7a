//! Type rules Trino keeps and DataFusion relaxes, so that a query that runs here also
//! runs on Athena. DataFusion's type coercion quietly casts a varchar to the other
//! side's type in a comparison (`snapshot_date = '2026-11-15'`, `sessions_7d = '5'`);
//! Trino refuses it (`Cannot apply operator: date = varchar`), and a query tested here
//! would fail in the hosted run. DataFusion also adds hours to a date by dropping them,
//! adds a number of days to a date (`DATE '2026-11-15' + 1`), concatenates a number to a
//! varchar (`'a' || 1`, `concat('a', 1)`) and gives mixed CASE branches a common type
//! (`CASE WHEN x THEN 'a' ELSE 1 END`); Trino refuses all of them. An analyzer rule
//! ([`TrinoTypeRules`]) runs before type coercion, so it sees the types as the query wrote
//! them (a typed literal `DATE '...'` and a written CAST are already of their type), and
//! fails naming both.

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

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn is_date(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64)
}

fn is_list(t: &DataType) -> bool {
    matches!(t, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
}

/// Whether Trino finds a common type for two values: numbers with numbers (integer, decimal and
/// double mix), text with text, a date with a timestamp, containers by their elements; NULL with any.
fn coercible(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    match (a, b) {
        (Null, _) | (_, Null) => true,
        (Dictionary(_, a), b) | (b, Dictionary(_, a)) => coercible(a, b),
        _ if a == b => true,
        _ if a.is_numeric() && b.is_numeric() => true,
        _ if is_text(a) && is_text(b) => true,
        _ if is_binary(a) && is_binary(b) => true,
        (Date32 | Date64 | Timestamp(..), Date32 | Date64 | Timestamp(..)) => true,
        (Interval(_) | Duration(_), Interval(_) | Duration(_)) => true,
        (List(a) | LargeList(a) | FixedSizeList(a, _), List(b) | LargeList(b) | FixedSizeList(b, _)) => {
            coercible(a.data_type(), b.data_type())
        }
        (Map(a, _), Map(b, _)) => coercible(a.data_type(), b.data_type()),
        (Struct(a), Struct(b)) => a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| coercible(a.data_type(), b.data_type())),
        _ => false,
    }
}

/// Trino's `concat` (and `||`, which it reads as `concat`) takes varchars, or varbinaries; arrays
/// (with or without a lone element) are left to the array concatenation.
fn concatenable(args: &[&Expr], schema: &DFSchema) -> Result<()> {
    let Ok(types) = args.iter().map(|a| a.get_type(schema)).collect::<Result<Vec<_>>>() else { return Ok(()) };
    let values = |t: &DataType| match t {
        DataType::Dictionary(_, value) => value.as_ref().clone(),
        other => other.clone(),
    };
    let types: Vec<DataType> = types.iter().map(values).collect();
    let all = |kind: fn(&DataType) -> bool| types.iter().all(|t| kind(t) || matches!(t, DataType::Null));
    if types.iter().any(is_list) || all(is_text) || all(is_binary) {
        return Ok(());
    }
    let names: Vec<String> = types.iter().map(trino_type_name).collect();
    Err(DataFusionError::Plan(format!(
        "Unexpected parameters ({}) for function concat. Expected: concat(E, array(E)) E, concat(array(E)) E, concat(array(E), E) E, \
         concat(char(x), char(y)), concat(varbinary), concat(varchar) (Athena refuses it: CAST the value AS varchar first)",
        names.join(", ")
    )))
}

/// The results of a CASE (or `if`) must share a type in Trino; DataFusion casts them to one (text, usually).
fn common_result_type(results: &[&Expr], schema: &DFSchema) -> Result<()> {
    let Ok(types) = results.iter().map(|r| r.get_type(schema)).collect::<Result<Vec<_>>>() else { return Ok(()) };
    let Some(first) = types.iter().find(|t| !matches!(t, DataType::Null)) else { return Ok(()) };
    let Some(other) = types.iter().find(|t| !coercible(first, t)) else { return Ok(()) };
    let mut all: Vec<String> = Vec::new();
    for name in types.iter().filter(|t| !matches!(t, DataType::Null)).map(trino_type_name) {
        if !all.contains(&name) {
            all.push(name);
        }
    }
    Err(DataFusionError::Plan(format!(
        "All CASE results must be the same type or coercible to a common type. Cannot find common type between {} and {}, \
         all types (without duplicates): [{}] (Athena refuses it: CAST the results to one type)",
        trino_type_name(first),
        trino_type_name(other),
        all.join(", ")
    )))
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
            // Trino adds days to a date only as an interval.
            Operator::Plus | Operator::Minus => {
                let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else { return Ok(()) };
                if (is_date(&l) && r.is_numeric()) || (l.is_numeric() && is_date(&r)) {
                    return Err(DataFusionError::Plan(format!(
                        "Cannot apply operator: {} {op} {} (Athena refuses it: add an interval, e.g. DATE '2026-11-15' + INTERVAL '1' DAY, \
                         or date_add('day', n, d))",
                        trino_type_name(&l),
                        trino_type_name(&r)
                    )));
                }
                Ok(())
            }
            Operator::StringConcat => concatenable(&[left, right], schema),
            _ => Ok(()),
        },
        Expr::ScalarFunction(f) if f.name() == "concat" => concatenable(&f.args.iter().collect::<Vec<_>>(), schema),
        Expr::Case(Case { expr: base, when_then_expr, else_expr }) => {
            let mut results: Vec<&Expr> = when_then_expr.iter().map(|(_, then)| then.as_ref()).collect();
            results.extend(else_expr.as_deref());
            common_result_type(&results, schema)?;
            // `CASE x WHEN v THEN ...` compares x with each v.
            match base {
                Some(base) => when_then_expr.iter().try_for_each(|(when, _)| comparable(base, "=", when, schema)),
                None => Ok(()),
            }
        }
        Expr::InList(InList { expr, list, .. }) => list.iter().try_for_each(|item| comparable(expr, "IN", item, schema)),
        Expr::Between(Between { expr, low, high, .. }) => {
            comparable(expr, "BETWEEN", low, schema)?;
            comparable(expr, "BETWEEN", high, schema)
        }
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
