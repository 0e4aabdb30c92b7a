//! Decimal `+` and `-` that fail past 38 digits, as Trino's do (`Decimal overflow`); DataFusion
//! keeps the 128-bit sum, which no longer fits `decimal(38, s)` and prints wrong digits. Only a
//! result of precision 38 can overflow (a smaller one has room for the carry), so after type
//! coercion an analyzer rule ([`TrinoDecimalOverflow`]) computes those with [`DECIMAL_SUM`].

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Decimal128Array};
use arrow::datatypes::{DataType, Decimal128Type};
use arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{BinaryExpr, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

pub const DECIMAL_SUM: &str = "athena_decimal_sum";

/// The largest unscaled value of 38 digits, plus one.
const TEN_TO_38: i128 = 10i128.pow(38);

/// `athena_decimal_sum(a, b, '+')` (or `'-'`): the decimal sum or difference, of Trino's type
/// `decimal(min(38, 1 + max(s1, s2) + max(p1 - s1, p2 - s2)), max(s1, s2))`, failing past 38 digits.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecimalSum {
    signature: Signature,
}

impl DecimalSum {
    pub fn new() -> Self {
        Self { signature: Signature::any(3, Volatility::Immutable) }
    }
}

fn overflow<T>(_: T) -> DataFusionError {
    DataFusionError::Execution("Decimal overflow".into())
}

impl ScalarUDFImpl for DecimalSum {
    fn name(&self) -> &str {
        DECIMAL_SUM
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2), _] => {
                let scale = *s1.max(s2);
                let integral = (*p1 as i8 - s1).max(*p2 as i8 - s2);
                Ok(DataType::Decimal128((1 + scale + integral).clamp(1, 38) as u8, scale))
            }
            _ => exec_err!("{DECIMAL_SUM} takes two decimals, got {arg_types:?}"),
        }
    }
    /// Named as the operator it replaces, so the plan's column names do not change.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [left, right, Expr::Literal(ScalarValue::Utf8(Some(op)), _)] => {
                Ok(format!("{} {op} {}", left.schema_name(), right.schema_name()))
            }
            _ => exec_err!("{DECIMAL_SUM} takes two values and an operator"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let returns = args.return_field.data_type().clone();
        let subtract = matches!(&args.args[2], ColumnarValue::Scalar(ScalarValue::Utf8(Some(op))) if op == "-");
        let scalar = args.args[..2].iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        // Both sides at the result's scale: a value that no longer fits 38 digits there overflows too.
        let side = |i: usize| -> Result<Decimal128Array> {
            let cast = arrow::compute::cast(&args.args[i].to_array(rows)?, &returns).map_err(overflow)?;
            Ok(cast.as_primitive::<Decimal128Type>().clone())
        };
        let (left, right) = (side(0)?, side(1)?);
        let sums: Decimal128Array = arrow::compute::try_binary(&left, &right, |a: i128, b: i128| {
            let sum = if subtract { a.checked_sub(b) } else { a.checked_add(b) };
            sum.filter(|v| v.unsigned_abs() < TEN_TO_38 as u128).ok_or_else(|| ArrowError::ComputeError("Decimal overflow".into()))
        })
        .map_err(overflow)?;
        let out: ArrayRef = Arc::new(sums.with_data_type(returns));
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

#[derive(Debug, Default)]
pub struct TrinoDecimalOverflow;

impl TrinoDecimalOverflow {
    fn rewrite(expr: Expr, schema: &DFSchema, udf: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
        if !matches!(expr.get_type(schema), Ok(DataType::Decimal128(38, _))) {
            return Ok(Transformed::no(expr));
        }
        Ok(match expr {
            Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Plus | Operator::Minus), right })
                if matches!((left.get_type(schema), right.get_type(schema)), (Ok(DataType::Decimal128(..)), Ok(DataType::Decimal128(..)))) =>
            {
                let op = Expr::Literal(ScalarValue::Utf8(Some(op.to_string())), None);
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(udf.clone(), vec![*left, *right, op])))
            }
            other => Transformed::no(other),
        })
    }
}

impl AnalyzerRule for TrinoDecimalOverflow {
    fn name(&self) -> &str {
        "trino_decimal_overflow"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let udf = Arc::new(ScalarUDF::new_from_impl(DecimalSum::new()));
        super::rewrite_expressions(plan, |e, schema| Self::rewrite(e, schema, &udf))
    }
}
