//! Column expressions a `column-transform` guest returns (`ratio(a, b).clip(0, 5)`),
//! evaluated by the host natively over the Arrow batch: the guest never touches the
//! rows, so a Python transform written with column operations runs at native speed.
//!
//! Values are `f64` with a validity mask; comparisons give 1 or 0; a null operand
//! makes a null result except in `fill-null` and `when` (a null condition is false).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Float64Type};

use crate::runtime::bindings::{Node, Op};

/// One evaluated node: a value per row, and which rows are valid (`None`: all).
#[derive(Clone)]
struct Values {
    values: Arc<Vec<f64>>,
    valid: Option<Arc<Vec<bool>>>,
}

impl Values {
    fn is_valid(&self, i: usize) -> bool {
        self.valid.as_ref().is_none_or(|v| v[i])
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Column => "column",
        Op::Literal => "literal",
        Op::Add => "add",
        Op::Sub => "sub",
        Op::Mul => "mul",
        Op::Div => "div",
        Op::SafeDiv => "safe-div",
        Op::Neg => "neg",
        Op::Abs => "abs",
        Op::Log1p => "log1p",
        Op::Exp => "exp",
        Op::Sqrt => "sqrt",
        Op::Min => "min",
        Op::Max => "max",
        Op::Clip => "clip",
        Op::FillNull => "fill-null",
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Lt => "lt",
        Op::Le => "le",
        Op::Gt => "gt",
        Op::Ge => "ge",
        Op::And => "and",
        Op::Or => "or",
        Op::Not => "not",
        Op::When => "when",
    }
}

fn arity(op: Op) -> usize {
    match op {
        Op::Column | Op::Literal => 0,
        Op::Neg | Op::Abs | Op::Log1p | Op::Exp | Op::Sqrt | Op::Not => 1,
        Op::Clip | Op::When => 3,
        _ => 2,
    }
}

/// Why an expression gave no column.
#[derive(Debug, PartialEq)]
pub enum EvalError {
    /// The expression itself is wrong (an operand missing, a column not read).
    Invalid(String),
    /// A value the declared integer or boolean type can't hold (1.5 for int64, 2 for boolean):
    /// the first such row of the batch, its value, and how many rows are affected.
    Unfit { row: usize, value: f64, count: usize },
}

impl From<String> for EvalError {
    fn from(message: String) -> Self {
        EvalError::Invalid(message)
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Invalid(message) => f.write_str(message),
            EvalError::Unfit { row, value, count } => write!(f, "found {value} in row {row} of the batch ({count} rows)"),
        }
    }
}

/// Evaluates `nodes` over `batch` into an array of type `declared`.
pub fn evaluate(nodes: &[Node], batch: &RecordBatch, declared: &DataType) -> Result<ArrayRef, EvalError> {
    if nodes.is_empty() {
        return Err(EvalError::Invalid("the expression is empty".into()));
    }
    let rows = batch.num_rows();
    let mut done: Vec<Values> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let name = op_name(node.op);
        if node.args.len() != arity(node.op) {
            return Err(EvalError::Invalid(format!("expression node {i} ({name}) needs {} operands, has {}", arity(node.op), node.args.len())));
        }
        let mut args = Vec::with_capacity(node.args.len());
        for &a in &node.args {
            let a = a as usize;
            if a >= i {
                return Err(EvalError::Invalid(format!("expression node {i} ({name}) refers to node {a}, which is not an earlier node")));
            }
            args.push(&done[a]);
        }
        let value = match node.op {
            Op::Column => column(batch, &node.name)?,
            Op::Literal => Values { values: Arc::new(vec![node.value; rows]), valid: None },
            Op::Add => binary(args[0], args[1], |a, b| a + b),
            Op::Sub => binary(args[0], args[1], |a, b| a - b),
            Op::Mul => binary(args[0], args[1], |a, b| a * b),
            Op::Div => binary(args[0], args[1], |a, b| a / b),
            Op::SafeDiv => {
                let fallback = node.value;
                binary(args[0], args[1], |a, b| if b == 0.0 { fallback } else { a / b })
            }
            Op::Neg => unary(args[0], |a| -a),
            Op::Abs => unary(args[0], f64::abs),
            Op::Log1p => unary(args[0], libm_log1p),
            Op::Exp => unary(args[0], f64::exp),
            Op::Sqrt => unary(args[0], f64::sqrt),
            Op::Min => binary(args[0], args[1], f64::min),
            Op::Max => binary(args[0], args[1], f64::max),
            Op::Clip => {
                let low = binary(args[0], args[1], f64::max);
                binary(&low, args[2], f64::min)
            }
            Op::Eq => binary(args[0], args[1], |a, b| flag(a == b)),
            Op::Ne => binary(args[0], args[1], |a, b| flag(a != b)),
            Op::Lt => binary(args[0], args[1], |a, b| flag(a < b)),
            Op::Le => binary(args[0], args[1], |a, b| flag(a <= b)),
            Op::Gt => binary(args[0], args[1], |a, b| flag(a > b)),
            Op::Ge => binary(args[0], args[1], |a, b| flag(a >= b)),
            Op::And => binary(args[0], args[1], |a, b| flag(a != 0.0 && b != 0.0)),
            Op::Or => binary(args[0], args[1], |a, b| flag(a != 0.0 || b != 0.0)),
            Op::Not => unary(args[0], |a| flag(a == 0.0)),
            Op::FillNull => {
                let (a, b) = (args[0], args[1]);
                let values = (0..rows).map(|r| if a.is_valid(r) { a.values[r] } else { b.values[r] }).collect();
                let valid = b.valid.as_ref().map(|_| Arc::new((0..rows).map(|r| a.is_valid(r) || b.is_valid(r)).collect()));
                Values { values: Arc::new(values), valid: if a.valid.is_none() { None } else { valid } }
            }
            Op::When => {
                let (cond, then, other) = (args[0], args[1], args[2]);
                let pick = |r: usize| cond.is_valid(r) && cond.values[r] != 0.0;
                let values = (0..rows).map(|r| if pick(r) { then.values[r] } else { other.values[r] }).collect();
                let valid = (then.valid.is_some() || other.valid.is_some())
                    .then(|| Arc::new((0..rows).map(|r| if pick(r) { then.is_valid(r) } else { other.is_valid(r) }).collect()));
                Values { values: Arc::new(values), valid }
            }
        };
        done.push(value);
    }
    let result = done.pop().expect("at least one node");
    to_array(result, declared)
}

/// `ln(1 + x)` with full precision near zero.
fn libm_log1p(x: f64) -> f64 {
    x.ln_1p()
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn column(batch: &RecordBatch, name: &str) -> Result<Values, String> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| format!("the expression reads column '{name}', which is not among the transform's declared inputs"))?;
    let floats = match array.data_type() {
        DataType::Float64 => array.clone(),
        DataType::Boolean | DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            arrow::compute::cast(array, &DataType::Float64).map_err(|e| e.to_string())?
        }
        t if t.is_numeric() => arrow::compute::cast(array, &DataType::Float64).map_err(|e| e.to_string())?,
        t => return Err(format!("the expression reads column '{name}' of type {t}, which is not a number")),
    };
    let floats = floats.as_primitive::<Float64Type>();
    let valid = floats.nulls().filter(|n| n.null_count() > 0).map(|n| Arc::new(n.iter().collect()));
    Ok(Values { values: Arc::new(floats.values().to_vec()), valid })
}

fn unary(a: &Values, f: impl Fn(f64) -> f64) -> Values {
    Values { values: Arc::new(a.values.iter().map(|v| f(*v)).collect()), valid: a.valid.clone() }
}

fn binary(a: &Values, b: &Values, f: impl Fn(f64, f64) -> f64) -> Values {
    let values = a.values.iter().zip(b.values.iter()).map(|(x, y)| f(*x, *y)).collect();
    let valid = match (&a.valid, &b.valid) {
        (None, None) => None,
        (Some(v), None) | (None, Some(v)) => Some(v.clone()),
        (Some(x), Some(y)) => Some(Arc::new(x.iter().zip(y.iter()).map(|(p, q)| *p && *q).collect())),
    };
    Values { values: Arc::new(values), valid }
}

/// Can a column of type `declared` hold `v` as it is (no rounding, no truthiness)?
fn fits(declared: &DataType, v: f64) -> bool {
    match declared {
        DataType::Boolean => v == 0.0 || v == 1.0,
        DataType::Int64 => v.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v),
        DataType::Int32 => v.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&v),
        _ => true,
    }
}

fn to_array(result: Values, declared: &DataType) -> Result<ArrayRef, EvalError> {
    if matches!(declared, DataType::Boolean | DataType::Int64 | DataType::Int32) {
        let mut unfit = (0..result.values.len()).filter(|&r| result.is_valid(r) && !fits(declared, result.values[r]));
        if let Some(row) = unfit.next() {
            return Err(EvalError::Unfit { row, value: result.values[row], count: 1 + unfit.count() });
        }
    }
    let nulls = result.valid.map(|v| NullBuffer::from(v.as_ref().clone()));
    let values = Arc::try_unwrap(result.values).unwrap_or_else(|shared| shared.as_ref().clone());
    match declared {
        DataType::Float64 => Ok(Arc::new(Float64Array::new(ScalarBuffer::from(values), nulls))),
        DataType::Boolean => Ok(Arc::new(BooleanArray::new(values.iter().map(|v| *v != 0.0).collect(), nulls))),
        DataType::Float32 | DataType::Int64 | DataType::Int32 => {
            let floats: ArrayRef = Arc::new(Float64Array::new(ScalarBuffer::from(values), nulls));
            Ok(arrow::compute::cast(&floats, declared).map_err(|e| e.to_string())?)
        }
        other => Err(EvalError::Invalid(format!("an expression gives numbers; the column is declared {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};

    fn node(op: Op, args: &[u32]) -> Node {
        Node { op, args: args.to_vec(), value: 0.0, name: String::new() }
    }
    fn col(name: &str) -> Node {
        Node { op: Op::Column, args: vec![], value: 0.0, name: name.into() }
    }
    fn lit(value: f64) -> Node {
        Node { op: Op::Literal, args: vec![], value, name: String::new() }
    }

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![Field::new("opens", DataType::Int64, true), Field::new("sent", DataType::Int64, true)]);
        let opens: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), Some(1), None, Some(5)]));
        let sent: ArrayRef = Arc::new(Int64Array::from(vec![Some(6), Some(0), Some(4), Some(5)]));
        RecordBatch::try_new(Arc::new(schema), vec![opens, sent]).unwrap()
    }

    #[test]
    fn a_safe_ratio_clipped_and_filled() {
        // fill_null(clip(opens / sent (0 when sent = 0), 0, 0.8), -1)
        let mut div = node(Op::SafeDiv, &[0, 1]);
        div.value = 0.0;
        let nodes =
            vec![col("opens"), col("sent"), div, lit(0.0), lit(0.8), node(Op::Clip, &[2, 3, 4]), lit(-1.0), node(Op::FillNull, &[5, 6])];
        let out = evaluate(&nodes, &batch(), &DataType::Float64).unwrap();
        let out: Vec<Option<f64>> = out.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(out, vec![Some(0.5), Some(0.0), Some(-1.0), Some(0.8)]);
    }

    #[test]
    fn when_otherwise_and_comparisons() {
        // when(opens >= 3, 1, 0) as boolean; the null row's condition is false.
        let nodes = vec![col("opens"), lit(3.0), node(Op::Ge, &[0, 1]), lit(10.0), lit(20.0), node(Op::When, &[2, 3, 4])];
        let out = evaluate(&nodes, &batch(), &DataType::Float64).unwrap();
        let out: Vec<Option<f64>> = out.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(out, vec![Some(10.0), Some(20.0), Some(20.0), Some(10.0)]);
    }

    #[test]
    fn bad_expressions_say_which_node() {
        assert_eq!(
            evaluate(&[col("opens"), node(Op::Add, &[0])], &batch(), &DataType::Float64).unwrap_err(),
            EvalError::Invalid("expression node 1 (add) needs 2 operands, has 1".into())
        );
        assert!(evaluate(&[col("clicks")], &batch(), &DataType::Float64).unwrap_err().to_string().contains("'clicks'"));
        assert!(evaluate(&[node(Op::Neg, &[0])], &batch(), &DataType::Float64).unwrap_err().to_string().contains("not an earlier node"));
    }

    #[test]
    fn a_value_the_declared_type_cannot_hold_is_refused_not_cast() {
        // opens / 4 declared int64: 3 / 4 is 0.75 in row 0 (row 2 is null, row 1 is 0.25, row 3 1.25).
        let quarter = vec![col("opens"), lit(4.0), node(Op::Div, &[0, 1])];
        assert_eq!(evaluate(&quarter, &batch(), &DataType::Int64).unwrap_err(), EvalError::Unfit { row: 0, value: 0.75, count: 3 });
        // opens declared boolean: 3 is not true or false.
        assert_eq!(evaluate(&[col("opens")], &batch(), &DataType::Boolean).unwrap_err(), EvalError::Unfit { row: 0, value: 3.0, count: 2 });
        // Whole numbers and comparisons fit.
        let out = evaluate(&[col("opens"), lit(2.0), node(Op::Mul, &[0, 1])], &batch(), &DataType::Int64).unwrap();
        assert_eq!(out.as_primitive::<arrow::datatypes::Int64Type>().iter().collect::<Vec<_>>(), vec![Some(6), Some(2), None, Some(10)]);
        assert!(evaluate(&[col("opens"), lit(2.0), node(Op::Gt, &[0, 1])], &batch(), &DataType::Boolean).is_ok());
    }
}
