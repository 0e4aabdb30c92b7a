//! NaN compared as Trino compares it: unordered, so `nan() = nan()`, `nan() > 0` and `nan() < 1`
//! are false and `nan() <> nan()` is true (Java's `==` and `<` on doubles). DataFusion compares
//! doubles by their total order, where NaN equals itself and is larger than any number. ORDER BY
//! keeps that total order, as Trino's does (NaN sorts after every number).
//!
//! After type coercion, an analyzer rule ([`TrinoNanComparisons`]) sends every comparison of two
//! doubles (or reals), and `BETWEEN` over them, through [`FLOAT_COMPARE`], which compares as IEEE
//! does. An `=` between columns of two relations stays DataFusion's, so that a join on it stays a hash
//! join (two NaN keys match there, where Trino's join would not pair them).

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Float64Array};
use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{Between, BinaryExpr, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

pub const FLOAT_COMPARE: &str = "athena_float_compare";

/// `athena_float_compare(a, b, 'op')`: `a op b` on two doubles, NaN unordered.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FloatCompare {
    signature: Signature,
}

impl FloatCompare {
    pub fn new() -> Self {
        Self { signature: Signature::any(3, Volatility::Immutable) }
    }
}

fn compare(op: &str) -> Option<fn(f64, f64) -> bool> {
    Some(match op {
        "=" => |a, b| a == b,
        "!=" => |a, b| a != b,
        "<" => |a, b| a < b,
        "<=" => |a, b| a <= b,
        ">" => |a, b| a > b,
        ">=" => |a, b| a >= b,
        _ => return None,
    })
}

impl ScalarUDFImpl for FloatCompare {
    fn name(&self) -> &str {
        FLOAT_COMPARE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(op))) = &args.args[2] else {
            return exec_err!("{FLOAT_COMPARE} takes the operator as a literal");
        };
        let Some(holds) = compare(op) else { return exec_err!("{FLOAT_COMPARE}: unknown operator {op}") };
        let scalar = args.args[..2].iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let side = |i: usize| -> Result<Float64Array> {
            let values = arrow::compute::cast(&args.args[i].to_array(rows)?, &DataType::Float64)?;
            Ok(values.as_any().downcast_ref::<Float64Array>().expect("cast to Float64").clone())
        };
        let (left, right) = (side(0)?, side(1)?);
        let out: BooleanArray = left.iter().zip(right.iter()).map(|(a, b)| Some(holds(a?, b?))).collect();
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[derive(Debug, Default)]
pub struct TrinoNanComparisons;

fn is_float(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(expr.get_type(schema), Ok(DataType::Float64 | DataType::Float32))
}

/// `a.x = b.y`, columns of two relations: what the optimizer turns into a hash join's keys.
fn is_join_key(left: &Expr, right: &Expr) -> bool {
    matches!((left, right), (Expr::Column(l), Expr::Column(r)) if l.relation != r.relation)
}

fn compared(udf: &Arc<ScalarUDF>, left: Expr, op: &str, right: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(udf.clone(), vec![left, right, Expr::Literal(ScalarValue::Utf8(Some(op.into())), None)]))
}

impl TrinoNanComparisons {
    fn rewrite(expr: Expr, schema: &DFSchema, udf: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
        Ok(match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(op, Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq)
                    && (is_float(&left, schema) || is_float(&right, schema))
                    && !(op == Operator::Eq && is_join_key(&left, &right)) =>
            {
                Transformed::yes(compared(udf, *left, &op.to_string(), *right))
            }
            Expr::Between(Between { expr, negated, low, high }) if is_float(&expr, schema) => {
                let within = compared(udf, (*expr).clone(), ">=", *low).and(compared(udf, *expr, "<=", *high));
                Transformed::yes(if negated { Expr::Not(Box::new(within)) } else { within })
            }
            other => Transformed::no(other),
        })
    }
}

impl AnalyzerRule for TrinoNanComparisons {
    fn name(&self) -> &str {
        "trino_nan_comparisons"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let udf = Arc::new(ScalarUDF::new_from_impl(FloatCompare::new()));
        super::rewrite_expressions(plan, |e, schema| Self::rewrite(e, schema, &udf))
    }
}
