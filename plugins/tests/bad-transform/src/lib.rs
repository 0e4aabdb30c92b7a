//! A transform that breaks its own declaration on purpose, so the host's checks on
//! every batch can be tested. It declares one float64 column `score` (reading
//! `mode` and `x`); the first row's `mode` picks what it returns instead:
//! 0 the declared column (score = x), 1 an extra undeclared column, 2 `score` as
//! int64, 3 one row fewer, 4 NaN in row 1, 5 a panic, 6 a loop that never ends.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use engage_plugin_sdk::transform::bindings::Guest;
use engage_plugin_sdk::transform::{TransformInfo, f64_column, float64, info, numbers};

struct BadTransform;

impl Guest for BadTransform {
    fn describe() -> TransformInfo {
        info("bad-transform", "1.0.0").reads(&["mode", "x"]).writes(float64("score", "", "x, unless told to misbehave"))
    }

    fn transform(batch: Vec<u8>) -> Result<Vec<u8>, String> {
        let (_, batches) = engage_plugin_sdk::ipc::decode(batch)?;
        let input = batches.first().ok_or("no batch")?;
        let mode = numbers(input, "mode")?;
        let mode = engage_plugin_sdk::columns::map(mode, |v| v).value(0) as i64;
        let x = f64_column(input, "x")?;
        let rows = x.len();
        let float = |name: &str, a: Float64Array| (Field::new(name, DataType::Float64, true), Arc::new(a) as ArrayRef);
        let columns: Vec<(Field, ArrayRef)> = match mode {
            0 => vec![float("score", x)],
            1 => vec![float("score", x.clone()), float("surprise", x)],
            2 => vec![(Field::new("score", DataType::Int64, true), Arc::new(Int64Array::from(vec![1; rows])) as ArrayRef)],
            3 => vec![float("score", x.slice(0, rows - 1))],
            4 => vec![float("score", Float64Array::from_iter_values((0..rows).map(|i| if i == 1 { f64::NAN } else { 1.0 })))],
            5 => panic!("bad-transform was told to panic on {rows} rows"),
            6 => loop {
                std::hint::black_box(rows);
            },
            other => return Err(format!("unknown mode {other}")),
        };
        let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
        let schema = Arc::new(Schema::new(fields));
        let out = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        engage_plugin_sdk::ipc::encode(&schema, &[out])
    }
}

engage_plugin_sdk::transform::bindings::__export_feature_transform!(BadTransform with_types_in engage_plugin_sdk::transform::bindings);
