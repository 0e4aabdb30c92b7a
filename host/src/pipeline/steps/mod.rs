//! The native steps a pipeline names with `native = "<name>"`: trusted host code
//! (boosting, streaming transforms, reports) behind the same [`Step`] contract as
//! plugin stages.

pub mod drift;
pub mod features;
pub mod ingest;
pub mod knowledge;
pub mod predict;
pub mod report;
pub mod train;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use serde_json::Value;

use super::step::{ErrorKind, Step, StepContext, StepError};
use crate::capabilities::storage::ObjectStore;
use crate::catalog::{Column, TableDef, TableFormat};
use crate::data::parquet::{StoreSink, writer_properties};

/// Every native step by the name a pipeline file uses.
pub fn registry() -> BTreeMap<&'static str, Arc<dyn Step>> {
    let mut steps: BTreeMap<&'static str, Arc<dyn Step>> = BTreeMap::new();
    steps.insert("ingest", Arc::new(ingest::Ingest));
    steps.insert("features", Arc::new(features::Features));
    steps.insert("train", Arc::new(train::Train));
    steps.insert("predict", Arc::new(predict::Predict));
    steps.insert("drift", Arc::new(drift::Drift));
    steps.insert("knowledge", Arc::new(knowledge::Knowledge));
    steps.insert("report", Arc::new(report::Report));
    steps
}

/// Table property listing the model-feature columns of a features table, so
/// `train` and `predict` need not guess which numeric columns are features.
pub const FEATURES_PROPERTY: &str = "engage.features";

// Params come from TOML through `${var}` substitution, which always yields text
// (docs/pipeline.md), so every scalar accessor also takes a numeric string.

pub(crate) fn config(ctx: &StepContext, message: impl std::fmt::Display) -> StepError {
    StepError::new(ErrorKind::Config, format!("stage '{}': {message}", ctx.stage))
}

pub(crate) fn param_str(ctx: &StepContext, name: &str) -> Result<Option<String>, StepError> {
    match ctx.params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(config(ctx, format!("param '{name}' must be a string, not {other}"))),
    }
}

pub(crate) fn param_f64(ctx: &StepContext, name: &str) -> Result<Option<f64>, StepError> {
    match ctx.params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| config(ctx, format!("param '{name}' must be a number, not '{s}'")))
        }
        Some(other) => Err(config(ctx, format!("param '{name}' must be a number, not {other}"))),
    }
}

pub(crate) fn param_u64(ctx: &StepContext, name: &str) -> Result<Option<u64>, StepError> {
    match param_f64(ctx, name)? {
        None => Ok(None),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 => Ok(Some(v as u64)),
        Some(v) => Err(config(ctx, format!("param '{name}' must be a whole number >= 0, not {v}"))),
    }
}

/// A list of strings; a single string is a list of one.
pub(crate) fn param_list(ctx: &StepContext, name: &str) -> Result<Option<Vec<String>>, StepError> {
    match ctx.params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| config(ctx, format!("param '{name}' must list strings, found {v}"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(config(ctx, format!("param '{name}' must be a list of strings, not {other}"))),
    }
}

/// `db.table` → (db, table); a bare name is in the run's database.
pub(crate) fn table_name(ctx: &StepContext, qualified: &str) -> Result<(String, String), StepError> {
    let (db, table) = qualified.split_once('.').unwrap_or((ctx.run_db, qualified));
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok(db) || !ok(table) {
        return Err(config(ctx, format!("'{qualified}' is not a table name (db.table, lowercase letters, digits, '_')")));
    }
    Ok((db.to_string(), table.to_string()))
}

/// The catalog entry of `db.table`, or an error naming it and the stage.
pub(crate) fn lookup_table(ctx: &StepContext, db: &str, table: &str) -> Result<TableDef, StepError> {
    ctx.services
        .catalog
        .table(db, table)
        .map_err(|e| StepError::io(format!("stage '{}': reading catalog entry {db}.{table}: {e}", ctx.stage)))?
        .ok_or_else(|| StepError::failed(format!("stage '{}': table {db}.{table} does not exist in the catalog", ctx.stage)))
}

/// Catalog columns for an Arrow schema.
pub(crate) fn catalog_columns(schema: &SchemaRef) -> Result<Vec<Column>, String> {
    use crate::capabilities::sql::athena::types::athena_type;
    schema
        .fields()
        .iter()
        .map(|f| Ok(Column { name: f.name().clone(), data_type: athena_type(f.data_type()).map_err(|e| format!("column {}: {e}", f.name()))?, comment: None }))
        .collect()
}

/// A Parquet table definition in `db` at `location`.
pub(crate) fn parquet_table(db: &str, name: &str, location: String, columns: Vec<Column>) -> TableDef {
    TableDef {
        database: db.to_string(),
        name: name.to_string(),
        location,
        format: TableFormat::Parquet,
        columns,
        partition_keys: Vec::new(),
        partitions: Vec::new(),
        properties: BTreeMap::from([("classification".to_string(), "parquet".to_string())]),
    }
}

/// Creates the run database (idempotent) and writes the table definition.
pub(crate) fn register(ctx: &StepContext, table: &TableDef) -> Result<(), StepError> {
    let catalog = &ctx.services.catalog;
    let fail = |e: crate::capabilities::CapabilityError| {
        StepError::io(format!("stage '{}': registering {}.{}: {e}", ctx.stage, table.database, table.name))
    };
    catalog.create_database(&table.database).map_err(fail)?;
    catalog.put_table(table).map_err(fail)
}

/// Streams batches into one Parquet object; nothing is visible before `finish`.
pub(crate) struct ParquetObject {
    writer: ArrowWriter<StoreSink>,
    pub rows: u64,
    shown: String,
}

/// Rows per row group of the tables the steps write.
const ROW_GROUP_ROWS: usize = 128 * 1024;

impl ParquetObject {
    pub fn create(store: &dyn ObjectStore, bucket: &str, key: &str, schema: SchemaRef) -> Result<Self, StepError> {
        let shown = format!("s3://{bucket}/{key}");
        let sink = store.open_writer(bucket, key).map_err(|e| StepError::io(format!("{shown}: cannot open for writing: {e}")))?;
        let props = writer_properties(&schema, ROW_GROUP_ROWS);
        let writer = ArrowWriter::try_new(StoreSink::new(sink), schema, Some(props))
            .map_err(|e| StepError::io(format!("{shown}: {e}")))?;
        Ok(Self { writer, rows: 0, shown })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StepError> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|e| StepError::io(format!("{}: writing Parquet: {e}", self.shown)))
    }

    pub fn finish(self) -> Result<u64, StepError> {
        let sink = self.writer.into_inner().map_err(|e| StepError::io(format!("{}: finishing Parquet: {e}", self.shown)))?;
        sink.finish().map_err(|e| StepError::io(format!("{}: committing: {e}", self.shown)))?;
        Ok(self.rows)
    }
}

/// A summary of an upstream stage: by the stage name a param gives (or the
/// step's usual stage name), else the first committed stage whose summary has `key`.
pub(crate) fn upstream<'a>(ctx: &'a StepContext, stage: &str, key: &str) -> Option<&'a Value> {
    ctx.upstream
        .get(stage)
        .filter(|s| s.get(key).is_some())
        .or_else(|| ctx.upstream.values().find(|s| s.get(key).is_some()))
}

/// SQL identifier quoting (Athena/Trino double quotes).
/// Streams `columns` of `db.table` batch by batch through the run's SQL engine.
pub(crate) fn stream_columns(
    ctx: &StepContext,
    db: &str,
    table: &str,
    columns: &[String],
) -> Result<Box<dyn crate::capabilities::sql::BatchStream>, StepError> {
    let select = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    ctx.services
        .sql
        .query_stream(&format!("SELECT {select} FROM {}.{}", quote(db), quote(table)))
        .map_err(|e| StepError::io(format!("stage '{}': reading {db}.{table}: {e}", ctx.stage)))
}

pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A stable 64-bit hash of a user id (xxHash64 with a per-use seed), for splits
/// that must not change between runs or machines.
pub(crate) fn user_hash(user_id: &str, seed: u64) -> u64 {
    twox_hash::XxHash64::oneshot(seed, user_id.as_bytes())
}

/// The named column of `batch` as f32 (nulls become NaN), or an error naming it.
pub(crate) fn f32_column(batch: &RecordBatch, name: &str) -> Result<Vec<f32>, String> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float32Type};
    let column = batch.column_by_name(name).ok_or_else(|| format!("column '{name}' is missing"))?;
    let cast = arrow::compute::cast(column, &DataType::Float32).map_err(|e| format!("column '{name}' is not numeric: {e}"))?;
    let values = cast.as_primitive::<Float32Type>();
    Ok((0..values.len()).map(|i| if values.is_valid(i) { values.value(i) } else { f32::NAN }).collect())
}

/// The named string column of `batch` as text, or an error naming it.
pub(crate) fn string_column(batch: &RecordBatch, name: &str) -> Result<arrow::array::StringArray, String> {
    use arrow::array::AsArray;
    use arrow::datatypes::DataType;
    let column = batch.column_by_name(name).ok_or_else(|| format!("column '{name}' is missing"))?;
    let cast = arrow::compute::cast(column, &DataType::Utf8).map_err(|e| format!("column '{name}' is not text: {e}"))?;
    Ok(cast.as_string::<i32>().clone())
}
