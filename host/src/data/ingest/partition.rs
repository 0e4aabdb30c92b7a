//! Typed Parquet output of accepted rows, one writer per snapshot date, each
//! streaming into an object-store write that stays invisible until committed.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, SchemaRef};
use csv::ByteRecord;
use parquet::arrow::ArrowWriter;

use super::validate::{Cell, Layout, ValidRow};
use crate::capabilities::storage::{ObjectInfo, ObjectStore};
use crate::data::parquet::{StoreSink, writer_properties};
use crate::data::schema::{FEATURES, Rule, snapshot_schema};

/// Rows buffered before a batch goes to the Parquet writer.
const BATCH_ROWS: usize = 65_536;
/// Rows per row group: large enough for scans, small enough to bound memory.
const ROW_GROUP_ROWS: usize = 262_144;

enum Column {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
}

pub struct PartitionWriter {
    pub key: String,
    pub rows: u64,
    schema: SchemaRef,
    writer: ArrowWriter<StoreSink>,
    user_ids: StringBuilder,
    dates: Date32Builder,
    features: Vec<Column>,
    labels: Int64Builder,
}

impl PartitionWriter {
    pub fn create(store: &dyn ObjectStore, bucket: &str, key: String) -> Result<Self> {
        let schema = snapshot_schema();
        let sink = StoreSink::new(store.open_writer(bucket, &key).with_context(|| format!("opening {bucket}/{key}"))?);
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties(&schema, ROW_GROUP_ROWS)))?;
        let features = FEATURES
            .iter()
            .map(|spec| match spec.rule.arrow_type() {
                DataType::Int64 => Column::Int(Int64Builder::with_capacity(BATCH_ROWS)),
                DataType::Float64 => Column::Float(Float64Builder::with_capacity(BATCH_ROWS)),
                _ => Column::Text(StringBuilder::new()),
            })
            .collect();
        Ok(Self {
            key,
            rows: 0,
            schema,
            writer,
            user_ids: StringBuilder::new(),
            dates: Date32Builder::with_capacity(BATCH_ROWS),
            features,
            labels: Int64Builder::with_capacity(BATCH_ROWS),
        })
    }

    /// Appends a validated row; `record` holds its text fields.
    pub fn append(&mut self, layout: &Layout, record: &ByteRecord, row: &ValidRow) -> Result<()> {
        let text = |position: Option<usize>| {
            position.and_then(|p| record.get(p)).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
        };
        self.user_ids.append_value(text(Some(layout.user_id)));
        self.dates.append_value(row.snapshot_date);
        for (i, (column, cell)) in self.features.iter_mut().zip(&row.cells).enumerate() {
            match (column, cell) {
                (Column::Int(b), Cell::Int(v)) => b.append_value(*v),
                (Column::Float(b), Cell::Float(v)) => b.append_value(*v),
                (Column::Text(b), Cell::Text) => {
                    let value = text(layout.features[i]);
                    // Categories were matched trimmed; free text is kept as written.
                    b.append_value(if FEATURES[i].rule == Rule::Text { value } else { value.trim() });
                }
                (Column::Int(b), _) => b.append_null(),
                (Column::Float(b), _) => b.append_null(),
                (Column::Text(b), _) => b.append_null(),
            }
        }
        self.labels.append_option(row.label);
        self.rows += 1;
        if self.user_ids.len() >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        if self.user_ids.len() == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(self.user_ids.finish()), Arc::new(self.dates.finish())];
        for column in &mut self.features {
            arrays.push(match column {
                Column::Int(b) => Arc::new(b.finish()),
                Column::Float(b) => Arc::new(b.finish()),
                Column::Text(b) => Arc::new(b.finish()),
            });
        }
        arrays.push(Arc::new(self.labels.finish()));
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).context("building a snapshot batch")?;
        self.writer.write(&batch).with_context(|| format!("writing {}", self.key))?;
        Ok(())
    }

    /// Writes what is buffered and makes the object visible.
    pub fn commit(mut self) -> Result<ObjectInfo> {
        self.write_batch()?;
        let sink = self.writer.into_inner().with_context(|| format!("closing {}", self.key))?;
        sink.finish().with_context(|| format!("committing {}", self.key))
    }
}
