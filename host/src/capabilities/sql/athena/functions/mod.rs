//! Trino functions registered under their Trino names, so Athena SQL calls them
//! unchanged and gets Trino's answers where DataFusion's same-named function (or
//! none) would differ. Most work row by row on `ScalarValue`s through
//! [`RowFunction`]: simple to get right, fast enough for feature preparation.

mod aggregates;
mod array_casts;
mod arrays_more;
mod binary;
mod bitwise;
mod case_mapping;
mod casts;
mod checked;
mod collections;
mod dates;
mod decimal_overflow;
mod decimals;
mod durations;
mod formats;
mod joda;
mod json;
mod literals;
mod maps;
mod math_more;
mod misc;
mod nan_compare;
mod numbers;
mod random;
mod regex;
mod statistics;
mod strict_types;
mod strings;
mod strings_more;
mod subscripts;
mod text_datetimes;
mod urls;
mod zones;

use std::fmt;
use std::hash::{Hash, Hasher};

use arrow::array::new_empty_array;
use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub use array_casts::CAST_ELEMENTS;
pub use casts::{CAST_NAMED, CAST_SIZED_TEXT, CAST_TO_BOOLEAN, CAST_TO_VARCHAR};
pub use numbers::ROUND_FOR_INTEGER_CAST;
pub use zones::{CAST_ZONED, zone_name};
pub use strings::{LIKE_PATTERN, TRINO_SUBSTR, TRINO_TRIM, like_pattern};

/// Registers every Trino-named function on the session, replacing DataFusion's
/// functions of the same name.
pub fn register(ctx: &SessionContext) {
    for function in dates::functions()
        .into_iter()
        .chain(regex::functions())
        .chain(collections::functions())
        .chain(binary::functions())
        .chain(json::functions())
        .chain(formats::functions())
        .chain(joda::functions())
        .chain(strings::functions())
        .chain(casts::functions())
        .chain(misc::functions())
        .chain(subscripts::functions())
        .chain(strings_more::functions())
        .chain(bitwise::functions())
        .chain(math_more::functions())
        .chain(maps::functions())
        .chain(arrays_more::functions())
        .chain(durations::functions())
        .chain(urls::functions())
    {
        ctx.register_udf(ScalarUDF::new_from_impl(function));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(numbers::RoundForIntegerCast::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(casts::CastNamed::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(casts::CastToVarchar::new()));
    for function in collections::StringsOrArrays::all() {
        ctx.register_udf(ScalarUDF::new_from_impl(function));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(binary::Length::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(strings_more::TrinoReplace::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(zones::Zoned::with_timezone()));
    ctx.register_udf(ScalarUDF::new_from_impl(zones::Zoned::cast()));
    ctx.register_udf(ScalarUDF::new_from_impl(array_casts::CastElements::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(case_mapping::CaseMapping::new(true)));
    ctx.register_udf(ScalarUDF::new_from_impl(case_mapping::CaseMapping::new(false)));
    ctx.register_udaf(AggregateUDF::new_from_impl(aggregates::ApproxPercentile::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(random::Random::new()));
    for aggregate in statistics::functions() {
        ctx.register_udaf(aggregate);
    }
    // After type coercion: integer + - * and sum(bigint) fail on overflow instead of wrapping.
    ctx.add_analyzer_rule(std::sync::Arc::new(checked::CheckedIntegerArithmetic::new()));
    // After type coercion: decimal `/`, `avg`, `sum`, `round`, `ceil`, `floor` and `truncate` take Trino's result types.
    ctx.add_analyzer_rule(std::sync::Arc::new(decimals::TrinoDecimalRules::new()));
    // A varchar cast to a date or a timestamp is read in Trino's forms (DataFusion: lenient and strict in other places).
    ctx.add_analyzer_rule(std::sync::Arc::new(text_datetimes::TrinoTextToDatetime));
    // `a[i]` past the end and `m[k]` for a missing key fail, as in Trino (DataFusion: NULL).
    ctx.add_analyzer_rule(std::sync::Arc::new(subscripts::StrictSubscripts));
    // A plain timestamp is a UTC instant (Athena's session zone) when it is given a zone.
    ctx.add_analyzer_rule(std::sync::Arc::new(zones::PlainTimestampsAreUtc));
    // Decimal `+` and `-` past 38 digits fail (DataFusion: wrong digits).
    ctx.add_analyzer_rule(std::sync::Arc::new(decimal_overflow::TrinoDecimalOverflow));
    // NaN is unordered in comparisons (DataFusion: equal to itself and larger than any number).
    ctx.add_analyzer_rule(std::sync::Arc::new(nan_compare::TrinoNanComparisons));
    // The rules above give some expressions Trino's types (decimal quotients, sums, averages): coerce
    // again, so that what compares with them or takes them as input agrees with their new types.
    ctx.add_analyzer_rule(std::sync::Arc::new(datafusion::optimizer::analyzer::type_coercion::TypeCoercion::new()));
}

/// DataFusion's analyzer rules with those that must run before its type coercion: integer literals
/// are 32-bit when they fit, where a decimal meets a double, the double wins (Trino's rules;
/// DataFusion would pick a bigint and a decimal), and a varchar never meets a date or a number.
pub fn analyzer_rules() -> Vec<std::sync::Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Analyzer::new().rules;
    let coercion = rules.iter().position(|r| r.name() == "type_coercion").unwrap_or(rules.len());
    // A varchar compared with a number or a date, hours or a number added to a date, a number concatenated
    // to a varchar and CASE results of unrelated types fail as in Trino.
    rules.insert(coercion, std::sync::Arc::new(strict_types::TrinoTypeRules));
    rules.insert(coercion, std::sync::Arc::new(decimals::DecimalMeetsFloat));
    rules.insert(coercion, std::sync::Arc::new(literals::IntegerLiterals));
    rules
}

/// The plan of a rewrite that ran before type coercion: where types changed below a node, its
/// schema follows them.
fn with_schemas_recomputed(rewritten: Transformed<datafusion::logical_expr::LogicalPlan>) -> Result<datafusion::logical_expr::LogicalPlan> {
    if !rewritten.transformed {
        return Ok(rewritten.data);
    }
    rewritten.data.transform_up_with_subqueries(|plan| plan.recompute_schema().map(Transformed::yes)).map(|t| t.data)
}

/// Rewrites every expression of `plan` and its subqueries, bottom up, each seeing the schema of its node's
/// inputs: what an analyzer rule that swaps one expression for another needs.
fn rewrite_expressions(
    plan: datafusion::logical_expr::LogicalPlan,
    rewrite: impl Fn(datafusion::logical_expr::Expr, &datafusion::common::DFSchema) -> datafusion::common::Result<Transformed<datafusion::logical_expr::Expr>>,
) -> datafusion::common::Result<datafusion::logical_expr::LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        let schema = match plan.inputs().as_slice() {
            [] => plan.schema().as_ref().clone(),
            inputs => datafusion::logical_expr::utils::merge_schema(inputs),
        };
        // A node's output keeps its names (an aggregate's `sum(CASE ... DATE '...' ...)`), or the
        // nodes above, which refer to them by name, would not find them.
        let names = datafusion::logical_expr::expr_rewriter::NamePreserver::new(&plan);
        plan.map_expressions(|expr| {
            let name = names.save(&expr);
            expr.transform_up(|e| rewrite(e, &schema)).map(|t| t.update_data(|e| name.restore(e)))
        })
    })
    .map(|t| t.data)
}

type Coerce = fn(&[DataType]) -> std::result::Result<Vec<DataType>, String>;
type Returns = fn(&[DataType]) -> std::result::Result<DataType, String>;
type Eval = fn(&[ScalarValue], &DataType) -> std::result::Result<ScalarValue, String>;

/// A scalar function evaluated one row at a time.
pub struct RowFunction {
    name: &'static str,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    eval: Eval,
}

impl RowFunction {
    pub fn new(name: &'static str, coerce: Coerce, returns: Returns, eval: Eval) -> Self {
        Self { name, signature: Signature::user_defined(Volatility::Immutable), coerce, returns, eval }
    }
}

impl fmt::Debug for RowFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowFunction({})", self.name)
    }
}

impl PartialEq for RowFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for RowFunction {}
impl Hash for RowFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

fn plan_error(name: &str, message: String) -> DataFusionError {
    DataFusionError::Plan(format!("{name}: {message}"))
}

impl ScalarUDFImpl for RowFunction {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(arg_types).map_err(|m| plan_error(self.name, m))
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types).map_err(|m| plan_error(self.name, m))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let returns = args.return_field.data_type().clone();
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut out = Vec::with_capacity(rows);
        let mut row = Vec::with_capacity(arrays.len());
        for i in 0..rows {
            row.clear();
            for array in &arrays {
                row.push(ScalarValue::try_from_array(array, i)?);
            }
            let value = (self.eval)(&row, &returns).map_err(|m| DataFusionError::Execution(format!("{}: {m}", self.name)))?;
            out.push(value);
        }
        if all_scalar {
            return Ok(ColumnarValue::Scalar(out.pop().expect("one row")));
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(new_empty_array(&returns)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// A NULL of the given type.
pub fn null_of(data_type: &DataType) -> std::result::Result<ScalarValue, String> {
    ScalarValue::try_from(data_type).map_err(|e| e.to_string())
}

/// The text of a string scalar; `None` for NULL.
pub fn text(value: &ScalarValue) -> std::result::Result<Option<&str>, String> {
    match value {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => Ok(s.as_deref()),
        ScalarValue::Null => Ok(None),
        other => Err(format!("expected a varchar, got {}", other.data_type())),
    }
}

/// An integer scalar; `None` for NULL.
pub fn integer(value: &ScalarValue) -> std::result::Result<Option<i64>, String> {
    match value.cast_to(&DataType::Int64).map_err(|e| e.to_string())? {
        ScalarValue::Int64(v) => Ok(v),
        other => Err(format!("expected an integer, got {}", other.data_type())),
    }
}

pub fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

pub fn is_integer(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

/// Coerces a varchar argument to Utf8, naming the argument when it is not text.
pub fn want_string(t: &DataType, what: &str) -> std::result::Result<DataType, String> {
    if is_string(t) { Ok(DataType::Utf8) } else { Err(format!("{what} must be a varchar, got {t}")) }
}

pub fn want_integer(t: &DataType, what: &str) -> std::result::Result<DataType, String> {
    if is_integer(t) { Ok(DataType::Int64) } else { Err(format!("{what} must be an integer, got {t}")) }
}

pub fn arity(args: &[DataType], allowed: &[usize], usage: &str) -> std::result::Result<(), String> {
    if allowed.contains(&args.len()) { Ok(()) } else { Err(format!("expected {usage}, got {} arguments", args.len())) }
}
