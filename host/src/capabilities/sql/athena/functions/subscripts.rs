//! Subscripts as Trino has them: `a[i]` past the end of an array and `m[k]` for a key
//! the map lacks are errors, where DataFusion answers NULL (and a typo in a key would
//! quietly become a column of NULLs). `element_at` stays the lenient form, as in Trino.
//! After planning, an analyzer rule ([`StrictSubscripts`]) swaps DataFusion's
//! `array_element` and map `get_field` for [`TRINO_SUBSCRIPT`].

use arrow::array::Array;
use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, ScalarUDF};
use datafusion::optimizer::analyzer::AnalyzerRule;

use super::{RowFunction, null_of};

/// Named as the error a user sees begins: `subscript: Array subscript must be ...`.
pub const TRINO_SUBSCRIPT: &str = "subscript";

pub fn functions() -> Vec<RowFunction> {
    vec![RowFunction::new(TRINO_SUBSCRIPT, coerce, returns, subscript)]
}

fn coerce(args: &[DataType]) -> Result<Vec<DataType>, String> {
    match &args[0] {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            super::collections::coerce_element_at(args)
        }
        DataType::Map(..) => super::collections::coerce_element_at(args),
        other => Err(format!("a subscript needs an array or a map, got {other}")),
    }
}

fn returns(args: &[DataType]) -> Result<DataType, String> {
    super::collections::returns_element(args)
}

/// Trino's messages: `Array subscript must be less than or equal to array length: 3 > 2`,
/// `Array subscript is negative: -1`, `SQL array indices start at 1`, `Key not present in map: b`.
fn subscript(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let at = |array: &dyn Array, i: usize| ScalarValue::try_from_array(array, i).map_err(|e| e.to_string());
    match &args[0] {
        ScalarValue::List(list) if !list.is_null(0) => {
            let ScalarValue::Int64(Some(index)) = args[1] else { return null_of(returns) };
            let values = list.value(0);
            match index {
                0 => Err("SQL array indices start at 1".into()),
                i if i < 0 => Err(format!("Array subscript is negative: {i}")),
                i if i as usize > values.len() => Err(format!("Array subscript must be less than or equal to array length: {i} > {}", values.len())),
                i => at(&values, i as usize - 1),
            }
        }
        ScalarValue::Map(map) if !map.is_null(0) && !args[1].is_null() => {
            super::collections::map_value(map, &args[1])?.ok_or_else(|| format!("Key not present in map: {}", args[1]))
        }
        _ => null_of(returns),
    }
}

#[derive(Debug, Default)]
pub struct StrictSubscripts;

impl StrictSubscripts {
    fn rewrite(expr: Expr, schema: &DFSchema, strict: &std::sync::Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
        let Expr::ScalarFunction(call) = &expr else { return Ok(Transformed::no(expr)) };
        let is_subscript = match call.func.name() {
            "array_element" => true,
            "get_field" => call.args.len() == 2 && matches!(call.args[0].get_type(schema), Ok(DataType::Map(..))),
            _ => false,
        };
        if !is_subscript {
            return Ok(Transformed::no(expr));
        }
        let Expr::ScalarFunction(call) = expr else { unreachable!("matched above") };
        Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(strict.clone(), call.args))))
    }
}

impl AnalyzerRule for StrictSubscripts {
    fn name(&self) -> &str {
        "strict_subscripts"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let strict = std::sync::Arc::new(ScalarUDF::new_from_impl(functions().remove(0)));
        super::rewrite_expressions(plan, |e, schema| Self::rewrite(e, schema, &strict))
    }
}
