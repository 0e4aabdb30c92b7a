//! Integer arithmetic that fails on overflow, as Trino's does ("bigint addition
//! overflow: 9223372036854775807 + 1"); DataFusion wraps silently. After type
//! coercion, an analyzer rule ([`CheckedIntegerArithmetic`]) replaces `+`, `-`
//! and `*` on two integers of the same type with [`CheckedArithmetic`], named
//! exactly as the operator was, unary minus and `abs` on an integer with
//! [`CheckedUnary`], and non-DISTINCT `sum` over bigint (DataFusion sums smaller
//! integers as bigint too) with [`CheckedSum`], also named `sum`.

use std::fmt::Display;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowNativeTypeOp, ArrowPrimitiveType, AsArray, Int64Array, UInt64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int8Type, Int16Type, Int32Type, Int64Type, UInt64Type};
use arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction, WindowFunction};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, ColumnarValue, EmitTo, Expr, ExprSchemable, GroupsAccumulator,
    LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, WindowFunctionDefinition,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

/// Trino's name for an integer type, or `None` when the type is not one.
fn integer_type_name(data_type: &DataType) -> Option<&'static str> {
    Some(match data_type {
        DataType::Int8 => "tinyint",
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        DataType::Int64 => "bigint",
        _ => return None,
    })
}

fn overflow(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

/// A kernel's result, its overflow (a compute error) as Trino's execution error.
fn checked_result<T: ArrowPrimitiveType>(result: std::result::Result<arrow::array::PrimitiveArray<T>, ArrowError>) -> Result<ArrayRef> {
    match result {
        Ok(array) => Ok(Arc::new(array)),
        Err(ArrowError::ComputeError(message)) => Err(overflow(message)),
        Err(other) => Err(other.into()),
    }
}

/// `a + b`, `a - b` or `a * b` on two integers of one type, failing on overflow.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CheckedArithmetic {
    op: Operator,
    name: &'static str,
    signature: Signature,
}

impl CheckedArithmetic {
    fn new(op: Operator) -> Option<Self> {
        let name = match op {
            Operator::Plus => "checked_add",
            Operator::Minus => "checked_subtract",
            Operator::Multiply => "checked_multiply",
            _ => return None,
        };
        Some(Self { op, name, signature: Signature::any(2, Volatility::Immutable) })
    }

    fn word(&self) -> &'static str {
        match self.op {
            Operator::Plus => "addition",
            Operator::Minus => "subtraction",
            _ => "multiplication",
        }
    }

    fn apply<T: ArrowPrimitiveType>(&self, left: &ArrayRef, right: &ArrayRef, type_name: &str) -> Result<ArrayRef>
    where
        T::Native: ArrowNativeTypeOp + Display,
    {
        let (word, op) = (self.word(), self.op);
        let result = arrow::compute::try_binary::<_, _, _, T>(left.as_primitive::<T>(), right.as_primitive::<T>(), |x, y| {
            let value = match op {
                Operator::Plus => x.add_checked(y),
                Operator::Minus => x.sub_checked(y),
                _ => x.mul_checked(y),
            };
            value.map_err(|_| ArrowError::ComputeError(format!("{type_name} {word} overflow: {x} {op} {y}")))
        });
        checked_result(result)
    }
}

impl ScalarUDFImpl for CheckedArithmetic {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [left, right] if left == right && integer_type_name(left).is_some() => Ok(left.clone()),
            _ => exec_err!("{} takes two integers of one type, got {arg_types:?}", self.name),
        }
    }
    /// Named as the operator it replaces, so the plan's column names do not change.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [left, right] => Ok(format!("{} {} {}", left.schema_name(), self.op, right.schema_name())),
            _ => exec_err!("{} takes two arguments", self.name),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let data_type = arrays[0].data_type().clone();
        let Some(type_name) = integer_type_name(&data_type) else { return exec_err!("{}: not an integer: {data_type}", self.name) };
        let (left, right) = (&arrays[0], &arrays[1]);
        let result = match data_type {
            DataType::Int8 => self.apply::<Int8Type>(left, right, type_name)?,
            DataType::Int16 => self.apply::<Int16Type>(left, right, type_name)?,
            DataType::Int32 => self.apply::<Int32Type>(left, right, type_name)?,
            _ => self.apply::<Int64Type>(left, right, type_name)?,
        };
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// `-x` and `abs(x)` on an integer, failing on the one value whose result does not fit (the
/// type's minimum), as Trino's do.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CheckedUnary {
    negate: bool,
    signature: Signature,
}

impl CheckedUnary {
    fn new(negate: bool) -> Self {
        Self { negate, signature: Signature::any(1, Volatility::Immutable) }
    }

    fn apply<T: ArrowPrimitiveType>(&self, values: &ArrayRef, type_name: &str) -> Result<ArrayRef>
    where
        T::Native: ArrowNativeTypeOp + Display,
    {
        let negate = self.negate;
        let result = values.as_primitive::<T>().try_unary::<_, T, _>(|x| {
            let value = if negate { x.neg_checked() } else if x.is_lt(T::Native::ZERO) { x.neg_checked() } else { Ok(x) };
            value.map_err(|_| match negate {
                true => ArrowError::ComputeError(format!("{type_name} negation overflow: {x}")),
                false => ArrowError::ComputeError(format!("Value {x} is out of range for abs({type_name})")),
            })
        });
        checked_result(result)
    }
}

impl ScalarUDFImpl for CheckedUnary {
    fn name(&self) -> &str {
        if self.negate { "checked_negate" } else { "checked_abs" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] if integer_type_name(t).is_some() => Ok(t.clone()),
            _ => exec_err!("{} takes one integer, got {arg_types:?}", self.name()),
        }
    }
    /// Named as the expression it replaces, so the plan's column names do not change.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match (args, self.negate) {
            ([arg], true) => Ok(format!("(- {})", arg.schema_name())),
            ([arg], false) => Ok(format!("abs({})", arg.schema_name())),
            _ => exec_err!("{} takes one argument", self.name()),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = args.args[0].to_array(args.number_rows.max(1))?;
        let data_type = values.data_type().clone();
        let Some(type_name) = integer_type_name(&data_type) else { return exec_err!("{}: not an integer: {data_type}", self.name()) };
        let result = match data_type {
            DataType::Int8 => self.apply::<Int8Type>(&values, type_name)?,
            DataType::Int16 => self.apply::<Int16Type>(&values, type_name)?,
            DataType::Int32 => self.apply::<Int32Type>(&values, type_name)?,
            _ => self.apply::<Int64Type>(&values, type_name)?,
        };
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// `sum(bigint)` that fails on overflow ("bigint addition overflow"), as Trino's does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CheckedSum {
    signature: Signature,
}

impl CheckedSum {
    fn new() -> Self {
        Self { signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable) }
    }
}

fn add(sum: i64, value: i64) -> Result<i64> {
    sum.checked_add(value).ok_or_else(|| overflow(format!("bigint addition overflow: {sum} + {value}")))
}

impl AggregateUDFImpl for CheckedSum {
    fn name(&self) -> &str {
        "sum"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return exec_err!("checked sum does not take DISTINCT");
        }
        Ok(Box::new(SumAccumulator::default()))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(format_state_name(args.name, "sum"), DataType::Int64, true).into(),
            Field::new(format_state_name(args.name, "count"), DataType::UInt64, true).into(),
        ])
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SumGroups::default()))
    }
}

/// The running sum and how many values went into it (NULL when none did).
#[derive(Debug, Default)]
struct SumAccumulator {
    sum: i64,
    count: u64,
}

impl Accumulator for SumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for value in values[0].as_primitive::<Int64Type>().iter().flatten() {
            self.sum = add(self.sum, value)?;
            self.count += 1;
        }
        Ok(())
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for value in values[0].as_primitive::<Int64Type>().iter().flatten() {
            self.sum = self.sum.checked_sub(value).ok_or_else(|| overflow(format!("bigint subtraction overflow: {} - {value}", self.sum)))?;
            self.count -= 1;
        }
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (sums, counts) = (states[0].as_primitive::<Int64Type>(), states[1].as_primitive::<UInt64Type>());
        for i in 0..sums.len() {
            if sums.is_valid(i) {
                self.sum = add(self.sum, sums.value(i))?;
            }
            if counts.is_valid(i) {
                self.count += counts.value(i);
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.sum)), ScalarValue::UInt64(Some(self.count))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64((self.count > 0).then_some(self.sum)))
    }
    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// [`SumAccumulator`] for many groups at once.
#[derive(Debug, Default)]
struct SumGroups {
    sums: Vec<i64>,
    counts: Vec<u64>,
}

impl SumGroups {
    fn resize(&mut self, groups: usize) {
        self.sums.resize(groups, 0);
        self.counts.resize(groups, 0);
    }
}

impl GroupsAccumulator for SumGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&arrow::array::BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let values = values[0].as_primitive::<Int64Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            if values.is_null(row) || opt_filter.is_some_and(|f| !(f.is_valid(row) && f.value(row))) {
                continue;
            }
            self.sums[group] = add(self.sums[group], values.value(row))?;
            self.counts[group] += 1;
        }
        Ok(())
    }
    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        let (sums, counts) = (values[0].as_primitive::<Int64Type>(), values[1].as_primitive::<UInt64Type>());
        for (row, &group) in group_indices.iter().enumerate() {
            if sums.is_valid(row) {
                self.sums[group] = add(self.sums[group], sums.value(row))?;
            }
            if counts.is_valid(row) {
                self.counts[group] += counts.value(row);
            }
        }
        Ok(())
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sums = emit_to.take_needed(&mut self.sums);
        let counts = emit_to.take_needed(&mut self.counts);
        Ok(Arc::new(sums.into_iter().zip(counts).map(|(s, c)| (c > 0).then_some(s)).collect::<Int64Array>()))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sums = emit_to.take_needed(&mut self.sums);
        let counts = emit_to.take_needed(&mut self.counts);
        Ok(vec![Arc::new(Int64Array::from(sums)), Arc::new(UInt64Array::from(counts))])
    }
    /// Each row its own group: its value (0 when NULL or filtered out) and whether it counts.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&arrow::array::BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = values[0].as_primitive::<Int64Type>();
        let counted = |row: usize| values.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        let sums: Int64Array = (0..values.len()).map(|row| if counted(row) { values.value(row) } else { 0 }).collect();
        let counts: UInt64Array = (0..values.len()).map(|row| u64::from(counted(row))).collect();
        Ok(vec![Arc::new(sums), Arc::new(counts)])
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 8 + self.counts.capacity() * 8
    }
}

/// The analyzer rule putting the checked functions in place of the wrapping ones.
#[derive(Debug)]
pub struct CheckedIntegerArithmetic {
    add: Arc<ScalarUDF>,
    subtract: Arc<ScalarUDF>,
    multiply: Arc<ScalarUDF>,
    negate: Arc<ScalarUDF>,
    abs: Arc<ScalarUDF>,
    sum: Arc<AggregateUDF>,
}

impl CheckedIntegerArithmetic {
    pub fn new() -> Self {
        let udf = |op| Arc::new(ScalarUDF::new_from_impl(CheckedArithmetic::new(op).expect("an arithmetic operator")));
        Self {
            add: udf(Operator::Plus),
            subtract: udf(Operator::Minus),
            multiply: udf(Operator::Multiply),
            negate: Arc::new(ScalarUDF::new_from_impl(CheckedUnary::new(true))),
            abs: Arc::new(ScalarUDF::new_from_impl(CheckedUnary::new(false))),
            sum: Arc::new(AggregateUDF::new_from_impl(CheckedSum::new())),
        }
    }

    fn rewrite(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let is_bigint_sum = |args: &[Expr]| matches!(args, [arg] if arg.get_type(schema).is_ok_and(|t| t == DataType::Int64));
        let is_integer = |arg: &Expr| arg.get_type(schema).is_ok_and(|t| integer_type_name(&t).is_some());
        Ok(match expr {
            Expr::Negative(arg) if is_integer(&arg) => {
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(self.negate.clone(), vec![*arg])))
            }
            Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "abs" && matches!(args.as_slice(), [arg] if is_integer(arg)) => {
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(self.abs.clone(), args)))
            }
            Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Plus | Operator::Minus | Operator::Multiply), right }) => {
                let (left_type, right_type) = (left.get_type(schema), right.get_type(schema));
                match (left_type, right_type) {
                    (Ok(l), Ok(r)) if l == r && integer_type_name(&l).is_some() => {
                        let func = match op {
                            Operator::Plus => &self.add,
                            Operator::Minus => &self.subtract,
                            _ => &self.multiply,
                        };
                        Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(func.clone(), vec![*left, *right])))
                    }
                    _ => Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right })),
                }
            }
            Expr::AggregateFunction(AggregateFunction { func, params })
                if func.name() == "sum" && !params.distinct && !Arc::ptr_eq(&func, &self.sum) && is_bigint_sum(&params.args) =>
            {
                Transformed::yes(Expr::AggregateFunction(AggregateFunction { func: self.sum.clone(), params }))
            }
            Expr::WindowFunction(window)
                if matches!(&window.fun, WindowFunctionDefinition::AggregateUDF(f) if f.name() == "sum" && !Arc::ptr_eq(f, &self.sum))
                    && !window.params.distinct
                    && is_bigint_sum(&window.params.args) =>
            {
                let WindowFunction { params, .. } = *window;
                Transformed::yes(Expr::from(WindowFunction { fun: WindowFunctionDefinition::AggregateUDF(self.sum.clone()), params }))
            }
            other => Transformed::no(other),
        })
    }
}

impl AnalyzerRule for CheckedIntegerArithmetic {
    fn name(&self) -> &str {
        "checked_integer_arithmetic"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, |e, schema| self.rewrite(e, schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_sum_fails_on_overflow_and_is_null_without_values() {
        let mut sum = SumAccumulator::default();
        assert_eq!(sum.evaluate().unwrap(), ScalarValue::Int64(None));
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(i64::MAX), None]));
        sum.update_batch(&[values]).unwrap();
        let one: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let e = sum.update_batch(&[one]).unwrap_err().to_string();
        assert!(e.contains("bigint addition overflow"), "{e}");

        let mut groups = SumGroups::default();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(i64::MAX)]));
        let e = groups.update_batch(&[values], &[0, 1, 0, 0], None, 2).unwrap_err().to_string();
        assert!(e.contains("bigint addition overflow"), "{e}");
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(2)]));
        let mut groups = SumGroups::default();
        groups.update_batch(&[values], &[0, 1, 0], None, 2).unwrap();
        let out = groups.evaluate(EmitTo::All).unwrap();
        assert_eq!(out.as_primitive::<Int64Type>(), &Int64Array::from(vec![Some(3), None]));
    }
}
