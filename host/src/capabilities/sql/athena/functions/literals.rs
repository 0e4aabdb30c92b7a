//! An unquoted integer literal is an `integer` in Trino when it fits 32 bits (`typeof(1)` is
//! `integer`, so `2147483647 + 1` overflows), a `bigint` only beyond; DataFusion reads every one
//! as a bigint. [`IntegerLiterals`], before type coercion, retypes such literals, and the VALUES
//! columns holding only them, as 32-bit integers. LIMIT and OFFSET keep theirs.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{Cast, Expr, LogicalPlan, Values};
use datafusion::optimizer::analyzer::AnalyzerRule;

/// `Some(the 32-bit literal)` for a bigint literal that fits 32 bits.
fn as_integer(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) => {
            // `-2147483648` is the negation of the bigint 2147483648 in Trino, so it stays a bigint.
            i32::try_from(*v).ok().filter(|v| *v != i32::MIN).map(|v| Expr::Literal(ScalarValue::Int32(Some(v)), metadata.clone()))
        }
        _ => None,
    }
}

/// A bigint VALUES column whose rows are all literals fitting 32 bits (or NULL) becomes `integer`.
fn integer_values(values: Values) -> Result<Transformed<LogicalPlan>> {
    let Values { schema, mut values } = values;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut changed = false;
    for (column, field) in fields.iter_mut().enumerate() {
        let is_null = |e: &Expr| matches!(e, Expr::Literal(v, _) if v.is_null());
        if field.data_type() != &DataType::Int64 || !values.iter().all(|row| as_integer(&row[column]).is_some() || is_null(&row[column])) {
            continue;
        }
        for row in values.iter_mut() {
            row[column] = as_integer(&row[column]).unwrap_or(Expr::Literal(ScalarValue::Int32(None), None));
        }
        *field = field.clone().with_data_type(DataType::Int32);
        changed = true;
    }
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Values(Values { schema, values })));
    }
    let schema = Arc::new(DFSchema::from_unqualified_fields(fields.into(), schema.metadata().clone())?);
    Ok(Transformed::yes(LogicalPlan::Values(Values { schema, values })))
}

/// Retypes the literals of `expr` that fit 32 bits, except in the parts of aggregates and window
/// functions whose text names them (FILTER, ORDER BY), which later nodes refer to by that name.
/// A cast rather than a new literal for the same reason: a cast is named as its operand.
fn retype(expr: Expr) -> Result<Transformed<Expr>> {
    expr.transform_down(|e| match e {
        Expr::AggregateFunction(mut aggregate) => {
            let args = std::mem::take(&mut aggregate.params.args).into_iter().map(retype).collect::<Result<Vec<_>>>()?;
            let changed = args.iter().any(|a| a.transformed);
            aggregate.params.args = args.into_iter().map(|a| a.data).collect();
            Ok(Transformed::new(Expr::AggregateFunction(aggregate), changed, TreeNodeRecursion::Jump))
        }
        Expr::WindowFunction(mut window) => {
            let args = std::mem::take(&mut window.params.args).into_iter().map(retype).collect::<Result<Vec<_>>>()?;
            let changed = args.iter().any(|a| a.transformed);
            window.params.args = args.into_iter().map(|a| a.data).collect();
            Ok(Transformed::new(Expr::WindowFunction(window), changed, TreeNodeRecursion::Jump))
        }
        e => Ok(match as_integer(&e) {
            Some(_) => Transformed::new(Expr::Cast(Cast::new(Box::new(e), DataType::Int32)), true, TreeNodeRecursion::Jump),
            None => Transformed::no(e),
        }),
    })
}

#[derive(Debug)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn name(&self) -> &str {
        "integer_literals"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let rewritten = plan.transform_up_with_subqueries(|plan| match plan {
            LogicalPlan::Values(values) => integer_values(values),
            LogicalPlan::Limit(_) => Ok(Transformed::no(plan)),
            plan => plan.map_expressions(retype),
        })?;
        super::with_schemas_recomputed(rewritten)
    }
}
