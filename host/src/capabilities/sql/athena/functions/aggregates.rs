//! `approx_percentile(x, p)`: Trino returns a value of the input type taken from
//! the data; DataFusion's approx_percentile_cont interpolates between values.
//! This keeps every value and answers exactly with the nearest-rank value
//! (the smallest value with at least p of the rows at or below it).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ApproxPercentile {
    signature: Signature,
}

impl ApproxPercentile {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn plan(message: String) -> DataFusionError {
    DataFusionError::Plan(format!("approx_percentile: {message}"))
}

impl AggregateUDFImpl for ApproxPercentile {
    fn name(&self) -> &str {
        "approx_percentile"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() != 2 {
            return Err(plan("expected approx_percentile(x, percentage); the weighted form is not supported locally".into()));
        }
        if matches!(args[1], DataType::List(_)) {
            return Err(plan("approx_percentile(x, ARRAY[...]) is not supported locally: call it once per percentage".into()));
        }
        let value = if args[0].is_integer() {
            DataType::Int64
        } else if args[0].is_numeric() {
            DataType::Float64
        } else {
            return Err(plan(format!("x must be a number, got {}", args[0])));
        };
        Ok(vec![value, DataType::Float64])
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(if args[0].is_integer() { DataType::Int64 } else { DataType::Float64 })
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Percentile { values: Vec::new(), percentage: None, returns: args.return_field.data_type().clone() }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}_values", args.name),
                DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
                true,
            )),
            Arc::new(Field::new(format!("{}_percentage", args.name), DataType::Float64, true)),
        ])
    }
}

#[derive(Debug)]
struct Percentile {
    values: Vec<f64>,
    percentage: Option<f64>,
    returns: DataType,
}

impl Percentile {
    fn take_percentage(&mut self, array: &ArrayRef) -> Result<()> {
        if self.percentage.is_none() {
            let p = array.as_primitive::<Float64Type>();
            if let Some(value) = p.iter().flatten().next() {
                if !(0.0..=1.0).contains(&value) {
                    return Err(DataFusionError::Execution(format!("approx_percentile: percentage {value} must be between 0 and 1")));
                }
                self.percentage = Some(value);
            }
        }
        Ok(())
    }
}

impl Accumulator for Percentile {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let x = arrow::compute::cast(&values[0], &DataType::Float64)?;
        self.values.extend(x.as_primitive::<Float64Type>().iter().flatten());
        self.take_percentage(&values[1])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some(p) = self.percentage.filter(|_| !self.values.is_empty()) else {
            return ScalarValue::try_from(&self.returns);
        };
        self.values.sort_by(|a, b| a.total_cmp(b));
        let n = self.values.len();
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        ScalarValue::Float64(Some(self.values[rank - 1])).cast_to(&self.returns)
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * 8
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = Arc::new(Float64Array::from(self.values.clone())) as ArrayRef;
        let list = ListArray::try_new(
            Arc::new(Field::new("item", DataType::Float64, true)),
            arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        )?;
        Ok(vec![ScalarValue::List(Arc::new(list)), ScalarValue::Float64(self.percentage)])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if !lists.is_null(i) {
                self.values.extend(lists.value(i).as_primitive::<Float64Type>().iter().flatten());
            }
        }
        self.take_percentage(&states[1])
    }
}
