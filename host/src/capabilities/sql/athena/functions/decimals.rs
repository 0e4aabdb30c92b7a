//! Trino's decimal rules where DataFusion's differ. An unquoted literal with a point is a
//! decimal (the parser option `parse_float_as_decimal`), so these matter for every `0.5`:
//! - a decimal meeting a double is a double in Trino, in comparisons, CASE, COALESCE, IN,
//!   VALUES and UNION too; DataFusion makes both a decimal(30,15) there. [`DecimalMeetsFloat`]
//!   casts the decimal side to the float type before type coercion runs.
//! - decimal `/` has scale max(s1, s2), rounded half up, and fails on a zero divisor; DataFusion's
//!   has scale at least 6, truncated. [`TrinoDecimalRules`] swaps in [`DecimalDivide`].
//! - `ceil`, `floor`, `truncate` and `round` of a decimal have Trino's types ([`DecimalRounding`]).
//! - `avg(decimal(p,s))` is decimal(p,s) rounded half up (DataFusion: scale s + 4), `sum` is
//!   decimal(38,s) (DataFusion: precision p + 10): [`DecimalAggregate`] wraps DataFusion's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Decimal128Array};
use arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, i256};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{AggregateFunction, Case, ScalarFunction, WindowFunction};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Between, BinaryExpr, Cast, ColumnarValue, EmitTo, Expr, ExprSchemable, GroupsAccumulator,
    LogicalPlan, Operator, Projection, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Union, Values, Volatility,
    WindowFunctionDefinition,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

use super::casts::CAST_NAMED;

const MAX_PRECISION: u8 = 38;

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// The float type a mix of decimals and floats meets at (Trino: double, or real when only reals
/// are there), or `None` when the types are not such a mix.
fn float_meeting(types: &[Option<DataType>]) -> Option<DataType> {
    let types: Vec<&DataType> = types.iter().flatten().collect();
    if !types.iter().any(|t| t.is_decimal()) || !types.iter().any(|t| is_float(t)) {
        return None;
    }
    let only_reals = types.iter().filter(|t| is_float(t)).all(|t| matches!(t, DataType::Float32 | DataType::Float16));
    Some(if only_reals { DataType::Float32 } else { DataType::Float64 })
}

/// Casts the decimals among `exprs` to the float type when decimals and floats meet there.
fn decimals_to_float(exprs: &mut [&mut Expr], schema: &DFSchema) -> bool {
    let types: Vec<Option<DataType>> = exprs.iter().map(|e| e.get_type(schema).ok()).collect();
    let Some(float) = float_meeting(&types) else { return false };
    for (expr, data_type) in exprs.iter_mut().zip(&types) {
        if data_type.as_ref().is_some_and(DataType::is_decimal) {
            **expr = Expr::Cast(Cast::new(Box::new(std::mem::take(*expr)), float.clone()));
        }
    }
    true
}

/// Functions whose arguments meet at one type, as CASE branches do.
const ONE_TYPE_FUNCTIONS: &[&str] = &["coalesce", "nullif", "greatest", "least", "nvl", "ifnull", "make_array"];

fn is_comparison(op: &Operator) -> bool {
    use Operator::*;
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom)
}

fn meet_as_float(expr: Expr, schema: &DFSchema) -> Transformed<Expr> {
    let mut expr = expr;
    let changed = match &mut expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            decimals_to_float(&mut [left.as_mut(), right.as_mut()], schema)
        }
        Expr::Between(Between { expr, low, high, .. }) => decimals_to_float(&mut [expr.as_mut(), low.as_mut(), high.as_mut()], schema),
        Expr::InList(in_list) => {
            let mut exprs: Vec<&mut Expr> = vec![in_list.expr.as_mut()];
            exprs.extend(in_list.list.iter_mut());
            decimals_to_float(&mut exprs, schema)
        }
        Expr::Case(Case { expr, when_then_expr, else_expr }) => {
            let mut changed = false;
            if let Some(operand) = expr {
                let mut compared: Vec<&mut Expr> = vec![operand.as_mut()];
                compared.extend(when_then_expr.iter_mut().map(|(when, _)| when.as_mut()));
                changed |= decimals_to_float(&mut compared, schema);
            }
            let mut results: Vec<&mut Expr> = when_then_expr.iter_mut().map(|(_, then)| then.as_mut()).collect();
            results.extend(else_expr.iter_mut().map(|e| e.as_mut()));
            changed | decimals_to_float(&mut results, schema)
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) if ONE_TYPE_FUNCTIONS.contains(&func.name()) => {
            decimals_to_float(&mut args.iter_mut().collect::<Vec<_>>(), schema)
        }
        _ => false,
    };
    if changed { Transformed::yes(expr) } else { Transformed::no(expr) }
}

/// The value a VALUES row gave before the planner cast it to the column's common type.
fn as_written(value: &Expr, column_type: &DataType) -> Expr {
    match value {
        Expr::Cast(Cast { expr, field }) if field.data_type() == column_type && !is_named_cast(expr) => expr.as_ref().clone(),
        other => other.clone(),
    }
}

fn is_named_cast(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == CAST_NAMED)
}

/// A VALUES column holding decimals and doubles becomes double, as in Trino.
fn values_as_float(values: Values) -> Result<Transformed<LogicalPlan>> {
    let Values { schema, mut values } = values;
    let empty = DFSchema::empty();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut changed = false;
    for (column, field) in fields.iter_mut().enumerate() {
        let written: Vec<Expr> = values.iter().map(|row| as_written(&row[column], field.data_type())).collect();
        let types: Vec<Option<DataType>> = written.iter().map(|e| e.get_type(&empty).ok()).collect();
        let Some(float) = float_meeting(&types) else { continue };
        for (row, value) in values.iter_mut().zip(written) {
            row[column] = value.cast_to(&float, &empty)?;
        }
        *field = field.clone().with_data_type(float);
        changed = true;
    }
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Values(Values { schema, values })));
    }
    let schema = Arc::new(DFSchema::from_unqualified_fields(fields.into(), schema.metadata().clone())?);
    Ok(Transformed::yes(LogicalPlan::Values(Values { schema, values })))
}

/// A UNION column holding decimals in one input and doubles in another becomes double.
/// `a UNION ALL b UNION ALL c` as one union of three inputs: the planner nests them, and an inner
/// union alone would not see that a later input is a double (its schema is its first input's).
fn flatten(union: Union) -> Union {
    let inputs = union
        .inputs
        .into_iter()
        .flat_map(|input| match input.as_ref() {
            LogicalPlan::Union(inner) => inner.inputs.clone(),
            _ => vec![input],
        })
        .collect();
    Union { inputs, schema: union.schema }
}

fn union_as_float(union: Union) -> Result<Transformed<LogicalPlan>> {
    let mut inputs: Vec<LogicalPlan> = union.inputs.iter().map(|i| i.as_ref().clone()).collect();
    let mut floats: Vec<Option<DataType>> = vec![None; union.schema.fields().len()];
    for (column, float) in floats.iter_mut().enumerate() {
        let types: Vec<Option<DataType>> = inputs.iter().map(|i| i.schema().fields().get(column).map(|f| f.data_type().clone())).collect();
        *float = float_meeting(&types);
        let Some(float) = float else { continue };
        for input in inputs.iter_mut() {
            if !input.schema().field(column).data_type().is_decimal() {
                continue;
            }
            let exprs = input
                .schema()
                .columns()
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let name = c.name.clone();
                    let (qualifier, expr) = (c.relation.clone(), Expr::Column(c));
                    if i == column { Expr::Cast(Cast::new(Box::new(expr), float.clone())).alias_qualified(qualifier, name) } else { expr }
                })
                .collect();
            *input = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input.clone()))?);
        }
    }
    if floats.iter().all(Option::is_none) {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    // Type coercion starts from the union's own types: they follow the inputs'.
    let fields = union
        .schema
        .iter()
        .zip(&floats)
        .map(|((qualifier, field), float)| match float {
            Some(float) => (qualifier.cloned(), Arc::new(field.as_ref().clone().with_data_type(float.clone()))),
            None => (qualifier.cloned(), field.clone()),
        })
        .collect();
    let schema = Arc::new(DFSchema::new_with_metadata(fields, union.schema.metadata().clone())?);
    Ok(Transformed::yes(LogicalPlan::Union(Union { inputs: inputs.into_iter().map(Arc::new).collect(), schema })))
}

/// Before type coercion: where a decimal meets a float, the decimal becomes the float.
#[derive(Debug)]
pub struct DecimalMeetsFloat;

impl AnalyzerRule for DecimalMeetsFloat {
    fn name(&self) -> &str {
        "decimal_meets_float"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let rewritten = plan.transform_up_with_subqueries(|plan| {
            let plan = match plan {
                LogicalPlan::Values(values) => return values_as_float(values),
                LogicalPlan::Union(union) => union_as_float(flatten(union))?,
                other => Transformed::no(other),
            };
            plan.transform_data(|plan| {
                let schema = match plan.inputs().as_slice() {
                    [] => plan.schema().as_ref().clone(),
                    inputs => datafusion::logical_expr::utils::merge_schema(inputs),
                };
                plan.map_expressions(|expr| expr.transform_up(|e| Ok(meet_as_float(e, &schema))))
            })
        })?;
        super::with_schemas_recomputed(rewritten)
    }
}

/// Trino's type of `decimal(p1,s1) / decimal(p2,s2)`: the divisor's precision plays no part.
fn quotient_type(left: (u8, i8), right: (u8, i8)) -> (u8, i8) {
    let ((p1, s1), (_, s2)) = (left, right);
    let scale = s1.max(s2);
    let precision = p1 as i32 + s2 as i32 + (s2 as i32 - s1 as i32).max(0);
    (precision.clamp(1, MAX_PRECISION as i32) as u8, scale)
}

fn pow10(n: u32) -> i256 {
    i256::from_i128(10).wrapping_pow(n)
}

/// `a / b` of unscaled decimals (scales `sa`, `sb`) at `scale`, rounded half away from zero
/// (Java's HALF_UP, as Trino rounds).
fn divide(a: i128, sa: i8, b: i128, sb: i8, scale: i8) -> Result<i128> {
    if b == 0 {
        return exec_err!("Division by zero");
    }
    // a / 10^sa / (b / 10^sb) * 10^scale = a * 10^(scale + sb - sa) / b, the exponent never negative.
    let numerator = i256::from_i128(a).wrapping_mul(pow10((scale as i32 + sb as i32 - sa as i32) as u32));
    let divisor = i256::from_i128(b);
    let (quotient, remainder) = (numerator.wrapping_div(divisor), numerator.wrapping_rem(divisor));
    let twice = remainder.wrapping_abs().wrapping_mul(i256::from_i128(2));
    let quotient = if twice >= divisor.wrapping_abs() {
        let away = if (numerator < i256::ZERO) == (divisor < i256::ZERO) { i256::ONE } else { i256::MINUS_ONE };
        quotient.wrapping_add(away)
    } else {
        quotient
    };
    quotient.to_i128().ok_or_else(|| DataFusionError::Execution("Decimal overflow".into()))
}

/// `a / b` on two decimals with Trino's result type and rounding.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecimalDivide {
    signature: Signature,
}

impl DecimalDivide {
    fn new() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

fn decimal_parts(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal128(p, s) => Some((*p, *s)),
        _ => None,
    }
}

impl ScalarUDFImpl for DecimalDivide {
    fn name(&self) -> &str {
        "decimal_divide"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [l, r] if decimal_parts(l).is_some() && decimal_parts(r).is_some() => {
                let (p, s) = quotient_type(decimal_parts(l).unwrap(), decimal_parts(r).unwrap());
                Ok(DataType::Decimal128(p, s))
            }
            _ => exec_err!("decimal_divide takes two decimals, got {arg_types:?}"),
        }
    }
    /// Named as the operator it replaces, so the plan's column names do not change.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [left, right] => Ok(format!("{} / {}", left.schema_name(), right.schema_name())),
            _ => exec_err!("decimal_divide takes two arguments"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (Some((_, sa)), Some((_, sb))) = (decimal_parts(arrays[0].data_type()), decimal_parts(arrays[1].data_type())) else {
            return exec_err!("decimal_divide takes two decimals");
        };
        let DataType::Decimal128(p, s) = args.return_field.data_type().clone() else { return exec_err!("decimal_divide returns a decimal") };
        let (left, right) = (arrays[0].as_primitive::<Decimal128Type>(), arrays[1].as_primitive::<Decimal128Type>());
        let result = (0..left.len())
            .map(|i| match (left.is_valid(i), right.is_valid(i)) {
                (true, true) => divide(left.value(i), sa, right.value(i), sb, s).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Decimal128Array>>()?;
        let result: ArrayRef = Arc::new(result.with_precision_and_scale(p, s)?);
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// How [`DecimalRounding`] rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rounding {
    Ceil,
    Floor,
    Trunc,
    /// Half away from zero, to 0 digits or to the digits the second argument gives.
    Round,
}

impl Rounding {
    fn of(name: &str, args: usize) -> Option<Self> {
        Some(match (name, args) {
            ("ceil", 1) => Self::Ceil,
            ("floor", 1) => Self::Floor,
            ("trunc", 1) => Self::Trunc,
            ("round", 1 | 2) => Self::Round,
            _ => return None,
        })
    }

    /// `v` (scale `s`) divided by 10^(s - digits) and rounded: a count of 10^-digits units.
    fn units(self, v: i128, scale: i8, digits: i64) -> i128 {
        let drop = scale as i64 - digits;
        if drop <= 0 {
            return v;
        }
        if drop > 38 {
            return match self {
                Self::Ceil if v > 0 => 1,
                Self::Floor if v < 0 => -1,
                _ => 0,
            };
        }
        let unit = 10i128.pow(drop as u32);
        let (q, r) = (v / unit, v % unit);
        match self {
            Self::Ceil if r > 0 => q + 1,
            Self::Floor if r < 0 => q - 1,
            Self::Round if r.abs() >= unit - r.abs() => q + r.signum(),
            _ => q,
        }
    }
}

/// `ceil`, `floor`, `truncate` and `round` of a decimal with Trino's result types: scale 0
/// (`ceil(1.5)` is `2`; DataFusion keeps the scale: `2.0`), and `round(x, d)` keeping x's scale
/// (`round(0.125, 2)` is `0.130`; DataFusion: `0.13`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecimalRounding {
    rounding: Rounding,
    name: &'static str,
    signature: Signature,
}

impl DecimalRounding {
    fn new(rounding: Rounding) -> Self {
        let name = match rounding {
            Rounding::Ceil => "ceil",
            Rounding::Floor => "floor",
            Rounding::Trunc => "trunc",
            Rounding::Round => "round",
        };
        Self { rounding, name, signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for DecimalRounding {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let Some((p, s)) = arg_types.first().and_then(decimal_parts) else { return exec_err!("{} takes a decimal", self.name) };
        let (p, s) = (p as i32, s as i32);
        Ok(match (self.rounding, arg_types.len()) {
            (Rounding::Round, 2) => DataType::Decimal128((p + 1).min(MAX_PRECISION as i32) as u8, s as i8),
            (Rounding::Trunc, _) => DataType::Decimal128((p - s).max(1) as u8, 0),
            _ => DataType::Decimal128((p - s + s.min(1)).clamp(1, MAX_PRECISION as i32) as u8, 0),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some((_, scale)) = decimal_parts(arrays[0].data_type()) else { return exec_err!("{} takes a decimal", self.name) };
        let DataType::Decimal128(p, s) = args.return_field.data_type().clone() else { return exec_err!("{} returns a decimal", self.name) };
        let values = arrays[0].as_primitive::<Decimal128Type>();
        let digits = match arrays.get(1) {
            Some(d) => Some(arrow::compute::cast(d, &DataType::Int64)?),
            None => None,
        };
        let digits = digits.as_ref().map(|d| d.as_primitive::<arrow::datatypes::Int64Type>());
        let result: Decimal128Array = (0..values.len())
            .map(|i| {
                let d = match digits {
                    Some(d) if d.is_null(i) => return None,
                    Some(d) => d.value(i),
                    None => 0,
                };
                let units = values.is_valid(i).then(|| self.rounding.units(values.value(i), scale, d))?;
                // Scale-0 results are the units themselves; round(x, d) scales them back to x's scale.
                Some(if s == 0 { units } else { units * 10i128.pow((scale as i64 - d).clamp(0, 38) as u32) })
            })
            .collect();
        let result: ArrayRef = Arc::new(result.with_precision_and_scale(p, s)?);
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// Trino's result type of `avg` / `sum` over a decimal, or `None` for other functions and types.
fn aggregate_type(name: &str, arg: &DataType) -> Option<DataType> {
    let (p, s) = decimal_parts(arg)?;
    match name {
        "avg" => Some(DataType::Decimal128(p, s)),
        "sum" => Some(DataType::Decimal128(MAX_PRECISION, s)),
        _ => None,
    }
}

/// DataFusion's `avg` or `sum` over a decimal, its result cast (rounding half up) to Trino's type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecimalAggregate {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl DecimalAggregate {
    fn new(inner: Arc<AggregateUDF>) -> Self {
        Self { inner, signature: Signature::any(1, Volatility::Immutable) }
    }

    fn inner_field(&self, field: &FieldRef, input: &DataType) -> Result<FieldRef> {
        Ok(Arc::new(field.as_ref().clone().with_data_type(self.inner.return_type(std::slice::from_ref(input))?)))
    }

    fn inner_args<'a>(&self, args: &AccumulatorArgs<'a>) -> Result<AccumulatorArgs<'a>> {
        let input = args.expr_fields.first().map(|f| f.data_type().clone()).unwrap_or(DataType::Null);
        Ok(AccumulatorArgs { return_field: self.inner_field(&args.return_field, &input)?, ..args.clone() })
    }
}

impl AggregateUDFImpl for DecimalAggregate {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [arg] => aggregate_type(self.inner.name(), arg).ok_or_else(|| DataFusionError::Plan(format!("{}: not a decimal: {arg}", self.name()))),
            _ => exec_err!("{} takes one argument", self.name()),
        }
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let target = args.return_field.data_type().clone();
        Ok(Box::new(RoundedAccumulator { inner: self.inner.accumulator(self.inner_args(&args)?)?, target }))
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let target = args.return_field.data_type().clone();
        Ok(Box::new(RoundedAccumulator { inner: self.inner.create_sliding_accumulator(self.inner_args(&args)?)?, target }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let input = args.input_fields.first().map(|f| f.data_type().clone()).unwrap_or(DataType::Null);
        let return_field = self.inner_field(&args.return_field, &input)?;
        self.inner.state_fields(StateFieldsArgs { return_field, ..args })
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner_args(&args).is_ok_and(|inner| self.inner.groups_accumulator_supported(inner))
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let target = args.return_field.data_type().clone();
        Ok(Box::new(RoundedGroups { inner: self.inner.create_groups_accumulator(self.inner_args(&args)?)?, target }))
    }
}

#[derive(Debug)]
struct RoundedAccumulator {
    inner: Box<dyn Accumulator>,
    target: DataType,
}

impl Accumulator for RoundedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()?.cast_to(&self.target)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }
    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

struct RoundedGroups {
    inner: Box<dyn GroupsAccumulator>,
    target: DataType,
}

impl GroupsAccumulator for RoundedGroups {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        self.inner.update_batch(values, groups, filter, total)
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(arrow::compute::cast(&self.inner.evaluate(emit_to)?, &self.target)?)
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }
    fn merge_batch(&mut self, values: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.inner.merge_batch(values, groups, total)
    }
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, filter)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
}

/// After type coercion: decimal `/` becomes [`DecimalDivide`], decimal `avg` and `sum`
/// [`DecimalAggregate`], decimal `ceil`, `floor`, `trunc` and `round` [`DecimalRounding`].
#[derive(Debug)]
pub struct TrinoDecimalRules {
    divide: Arc<ScalarUDF>,
}

impl TrinoDecimalRules {
    pub fn new() -> Self {
        Self { divide: Arc::new(ScalarUDF::new_from_impl(DecimalDivide::new())) }
    }

    fn rewrite(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let decimal_sum_or_avg = |func: &Arc<AggregateUDF>, args: &[Expr]| {
            !func.inner().is::<DecimalAggregate>()
                && matches!(args, [arg] if arg.get_type(schema).is_ok_and(|t| aggregate_type(func.name(), &t).is_some()))
        };
        Ok(match expr {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Divide, right })
                if [&left, &right].iter().all(|e| e.get_type(schema).is_ok_and(|t| decimal_parts(&t).is_some())) =>
            {
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(self.divide.clone(), vec![*left, *right])))
            }
            Expr::ScalarFunction(ScalarFunction { func, args })
                if args.first().is_some_and(|x| x.get_type(schema).is_ok_and(|t| decimal_parts(&t).is_some()))
                    && Rounding::of(func.name(), args.len()).is_some() =>
            {
                let rounding = Rounding::of(func.name(), args.len()).expect("matched above");
                Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(DecimalRounding::new(rounding))), args)))
            }
            Expr::AggregateFunction(AggregateFunction { func, params }) if decimal_sum_or_avg(&func, &params.args) => {
                let func = Arc::new(AggregateUDF::new_from_impl(DecimalAggregate::new(func)));
                Transformed::yes(Expr::AggregateFunction(AggregateFunction { func, params }))
            }
            Expr::WindowFunction(window)
                if matches!(&window.fun, WindowFunctionDefinition::AggregateUDF(f) if decimal_sum_or_avg(f, &window.params.args)) =>
            {
                let WindowFunction { fun, params, .. } = *window;
                let WindowFunctionDefinition::AggregateUDF(func) = fun else { unreachable!("matched above") };
                let fun = WindowFunctionDefinition::AggregateUDF(Arc::new(AggregateUDF::new_from_impl(DecimalAggregate::new(func))));
                Transformed::yes(Expr::from(WindowFunction { fun, params }))
            }
            other => Transformed::no(other),
        })
    }
}

impl AnalyzerRule for TrinoDecimalRules {
    fn name(&self) -> &str {
        "trino_decimal_rules"
    }
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, |e, schema| self.rewrite(e, schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_quotients_take_the_larger_scale_and_round_half_up() {
        assert_eq!(quotient_type((10, 2), (10, 2)), (12, 2));
        assert_eq!(quotient_type((2, 1), (10, 0)), (2, 1));
        // 2.00 / 3.00 = 0.67; 1.0 / 3 = 0.3; -2.00 / 3.00 = -0.67; 1 / 8 at scale 2 = 0.13.
        assert_eq!(divide(200, 2, 300, 2, 2).unwrap(), 67);
        assert_eq!(divide(10, 1, 3, 0, 1).unwrap(), 3);
        assert_eq!(divide(-200, 2, 300, 2, 2).unwrap(), -67);
        assert_eq!(divide(100, 2, 800, 2, 2).unwrap(), 13);
        assert_eq!(divide(100, 2, -800, 2, 2).unwrap(), -13);
        assert!(divide(1, 0, 0, 0, 0).unwrap_err().to_string().contains("Division by zero"));
    }

    #[test]
    fn decimal_rounding_counts_units_of_the_digits_kept() {
        // 0.125 to 2 digits: 13 hundredths; -1.5 floors to -2, ceils to -1, truncates to -1; 123.45 to -1 digits: 12 tens.
        assert_eq!(Rounding::Round.units(125, 3, 2), 13);
        assert_eq!(Rounding::Round.units(-125, 3, 2), -13);
        assert_eq!(Rounding::Round.units(124, 3, 2), 12);
        assert_eq!(Rounding::Floor.units(-15, 1, 0), -2);
        assert_eq!(Rounding::Ceil.units(-15, 1, 0), -1);
        assert_eq!(Rounding::Trunc.units(-15, 1, 0), -1);
        assert_eq!(Rounding::Round.units(12345, 2, -1), 12);
        assert_eq!(Rounding::Round.units(125, 3, 5), 125);
    }
}
