//! Feature transforms: Arrow batch in, Arrow batch out.
//!
//! ```ignore
//! use engage_plugin_sdk::transform::*;
//! struct Recency;
//! impl Transform for Recency {
//!     fn describe() -> TransformInfo {
//!         info("recency", "1.0.0")
//!             .reads(&["days_since_last_session"])
//!             .writes(float64("recency_score", "ratio", "exp(-days since last session / 7)"))
//!     }
//!     fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
//!         let days = numbers(input, "days_since_last_session")?;
//!         Ok(vec![output(map(days, |d| (-d / 7.0).exp()))])
//!     }
//! }
//! export_transform!(Recency);
//! ```

use std::sync::Arc;

pub use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

pub use crate::columns::{Numbers, f64_column, map, map_or, numbers, output, zip_with, zip3_with};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "feature-transform",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_feature_transform",
        default_bindings_module: "engage_plugin_sdk::transform::bindings",
    });
}

pub use bindings::engage::platform::log;
pub use bindings::engage::platform::transform_types::{ColumnType, OutputColumn, TransformInfo};

pub trait Transform {
    /// Name, version, the columns read and the columns written.
    fn describe() -> TransformInfo;
    /// One output array per declared output column, each as long as `input`.
    fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String>;
}

/// Starts a [`TransformInfo`].
pub fn info(name: &str, version: &str) -> TransformInfo {
    TransformInfo { name: name.into(), version: version.into(), inputs: Vec::new(), outputs: Vec::new() }
}

/// A `float64` output column.
pub fn float64(name: &str, unit: &str, description: &str) -> OutputColumn {
    OutputColumn { name: name.into(), type_: ColumnType::Float64, unit: unit.into(), description: description.into() }
}

impl TransformInfo {
    pub fn reads(mut self, columns: &[&str]) -> Self {
        self.inputs.extend(columns.iter().map(|c| c.to_string()));
        self
    }

    pub fn writes(mut self, column: OutputColumn) -> Self {
        self.outputs.push(column);
        self
    }
}

fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Float32 => DataType::Float32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Utf8 => DataType::Utf8,
    }
}

/// The manifest's name of a column type (`float64`).
fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Float64 => "float64",
        ColumnType::Float32 => "float32",
        ColumnType::Int64 => "int64",
        ColumnType::Int32 => "int32",
        ColumnType::Boolean => "boolean",
        ColumnType::Utf8 => "utf8",
    }
}

/// What `transform` returned must be one array per declared output, of its declared type: the error
/// names the column and both types, in the words the host uses for the same mistake.
fn check_declared(info: &TransformInfo, columns: &[ArrayRef]) -> Result<(), String> {
    if columns.len() != info.outputs.len() {
        let names: Vec<&str> = info.outputs.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "output: expected {} columns (declared: {}), found {}",
            info.outputs.len(),
            names.join(", "),
            columns.len()
        ));
    }
    for (declared, column) in info.outputs.iter().zip(columns) {
        if *column.data_type() != arrow_type(declared.type_) {
            return Err(format!(
                "output column '{}': expected type {} (declared), found {}",
                declared.name,
                type_name(declared.type_),
                column.data_type()
            ));
        }
    }
    Ok(())
}

/// The body of the exported `transform`; used by [`export_transform!`].
#[doc(hidden)]
pub fn run<T: Transform>(batch: Vec<u8>) -> Result<Vec<u8>, String> {
    let (_, batches) = crate::ipc::decode(batch)?;
    let info = T::describe();
    let out_schema = Arc::new(Schema::new(
        info.outputs.iter().map(|c| Field::new(&c.name, arrow_type(c.type_), true)).collect::<Vec<_>>(),
    ));
    let mut outputs = Vec::with_capacity(batches.len());
    for input in batches.iter() {
        let columns = T::transform(input)?;
        check_declared(&info, &columns)?;
        let batch = RecordBatch::try_new(out_schema.clone(), columns)
            .map_err(|e| format!("{} produced columns that don't match its declaration: {e}", info.name))?;
        outputs.push(batch);
    }
    if batches.is_empty() {
        outputs.push(RecordBatch::new_empty(out_schema.clone()));
    }
    crate::ipc::encode(&out_schema, &outputs)
}

/// Exports a type implementing [`Transform`] as the plugin's `feature-transform` world.
#[macro_export]
macro_rules! export_transform {
    ($t:ty) => {
        struct __EngageTransformExport;
        impl $crate::transform::bindings::Guest for __EngageTransformExport {
            fn describe() -> $crate::transform::TransformInfo {
                <$t as $crate::transform::Transform>::describe()
            }
            fn transform(batch: ::std::vec::Vec<u8>) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                $crate::transform::run::<$t>(batch)
            }
        }
        $crate::transform::bindings::__export_feature_transform!(__EngageTransformExport with_types_in $crate::transform::bindings);
    };
}
