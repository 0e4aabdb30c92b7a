//! The two side tables of an ingest: rejected rows (verbatim, with their line
//! and every reason) and the values of unknown extra columns (as a JSON object
//! per accepted row). Each ingest writes one file per table, only when it has
//! rows, created on the first row and invisible until committed.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use csv::ByteRecord;
use parquet::arrow::ArrowWriter;

use super::validate::Layout;
use crate::capabilities::storage::{ObjectInfo, ObjectStore};
use crate::catalog::Column;
use crate::data::parquet::{StoreSink, writer_properties};

const BATCH_ROWS: usize = 8_192;

/// Catalog columns of `<table>_quarantine`.
pub fn quarantine_columns() -> Vec<Column> {
    let col = |name: &str, t: &str, comment: &str| Column {
        name: name.into(),
        data_type: t.into(),
        comment: Some(comment.into()),
    };
    vec![
        col("source_file", "string", "the input file the row came from"),
        col("line_number", "bigint", "CSV: physical line the record starts on (header = 1); Parquet: row number from 1"),
        col("raw_line", "string", "the record as in the file, without its line ending; invalid UTF-8 bytes shown as \\xNN"),
        col("reasons", "string", "every rule the row breaks, joined with '; '"),
    ]
}

/// Catalog columns of `<table>_extra_columns`.
pub fn extra_columns() -> Vec<Column> {
    let col = |name: &str, t: &str, comment: &str| Column {
        name: name.into(),
        data_type: t.into(),
        comment: Some(comment.into()),
    };
    vec![
        col("source_file", "string", "the input file the row came from"),
        col("line_number", "bigint", "where the row starts in the file"),
        col("user_id", "string", "the accepted row's user"),
        col("snapshot_date", "date", "the accepted row's snapshot"),
        col("extra", "string", "JSON object: unknown column name -> value as written"),
    ]
}

/// Text with invalid UTF-8 bytes escaped as `\xNN`, everything else unchanged.
pub fn escape_invalid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// A lazily created Parquet object fed batch by batch.
struct LazyFile {
    bucket: String,
    key: String,
    schema: SchemaRef,
    writer: Option<ArrowWriter<StoreSink>>,
    rows: u64,
}

impl LazyFile {
    fn new(bucket: &str, key: String, schema: SchemaRef) -> Self {
        Self { bucket: bucket.to_string(), key, schema, writer: None, rows: 0 }
    }

    fn write(&mut self, store: &dyn ObjectStore, arrays: Vec<ArrayRef>) -> Result<()> {
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).context("building a side-table batch")?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            let object = store.open_writer(&self.bucket, &self.key).with_context(|| format!("opening {}/{}", self.bucket, self.key))?;
            let props = writer_properties(&self.schema, 262_144);
            self.writer = Some(ArrowWriter::try_new(StoreSink::new(object), self.schema.clone(), Some(props))?);
        }
        self.rows += batch.num_rows() as u64;
        let writer = self.writer.as_mut().expect("created above");
        writer.write(&batch).with_context(|| format!("writing {}/{}", self.bucket, self.key))
    }

    fn commit(self) -> Result<Option<(String, u64, ObjectInfo)>> {
        let Some(writer) = self.writer else { return Ok(None) };
        let sink = writer.into_inner().with_context(|| format!("closing {}/{}", self.bucket, self.key))?;
        let info = sink.finish().with_context(|| format!("committing {}/{}", self.bucket, self.key))?;
        Ok(Some((self.key, self.rows, info)))
    }
}

pub struct QuarantineWriter {
    file: LazyFile,
    source_file: StringBuilder,
    line_number: Int64Builder,
    raw_line: StringBuilder,
    reasons: StringBuilder,
}

impl QuarantineWriter {
    pub fn new(bucket: &str, key: String) -> Self {
        let schema = Arc::new(Schema::new(vec![
            Field::new("source_file", DataType::Utf8, false),
            Field::new("line_number", DataType::Int64, false),
            Field::new("raw_line", DataType::Utf8, false),
            Field::new("reasons", DataType::Utf8, false),
        ]));
        Self {
            file: LazyFile::new(bucket, key, schema),
            source_file: StringBuilder::new(),
            line_number: Int64Builder::new(),
            raw_line: StringBuilder::new(),
            reasons: StringBuilder::new(),
        }
    }

    pub fn push(&mut self, store: &dyn ObjectStore, source_file: &str, line: u64, raw: &[u8], reasons: &[String]) -> Result<()> {
        self.source_file.append_value(source_file);
        self.line_number.append_value(line as i64);
        match std::str::from_utf8(raw) {
            Ok(text) => self.raw_line.append_value(text),
            Err(_) => self.raw_line.append_value(escape_invalid_utf8(raw)),
        }
        self.reasons.append_value(reasons.join("; "));
        if self.line_number.len() >= BATCH_ROWS {
            self.flush(store)?;
        }
        Ok(())
    }

    fn flush(&mut self, store: &dyn ObjectStore) -> Result<()> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.source_file.finish()),
            Arc::new(self.line_number.finish()),
            Arc::new(self.raw_line.finish()),
            Arc::new(self.reasons.finish()),
        ];
        self.file.write(store, arrays)
    }

    /// Commits the file if any row was quarantined: (key, rows, object).
    pub fn commit(mut self, store: &dyn ObjectStore) -> Result<Option<(String, u64, ObjectInfo)>> {
        self.flush(store)?;
        self.file.commit()
    }
}

pub struct ExtraColumnsWriter {
    file: LazyFile,
    source_file: StringBuilder,
    line_number: Int64Builder,
    user_id: StringBuilder,
    snapshot_date: Date32Builder,
    extra: StringBuilder,
}

impl ExtraColumnsWriter {
    pub fn new(bucket: &str, key: String) -> Self {
        let schema = Arc::new(Schema::new(vec![
            Field::new("source_file", DataType::Utf8, false),
            Field::new("line_number", DataType::Int64, false),
            Field::new("user_id", DataType::Utf8, false),
            Field::new("snapshot_date", DataType::Date32, false),
            Field::new("extra", DataType::Utf8, false),
        ]));
        Self {
            file: LazyFile::new(bucket, key, schema),
            source_file: StringBuilder::new(),
            line_number: Int64Builder::new(),
            user_id: StringBuilder::new(),
            snapshot_date: Date32Builder::new(),
            extra: StringBuilder::new(),
        }
    }

    /// Keeps the extra columns of an accepted row (validation checked they are UTF-8).
    pub fn push(
        &mut self,
        store: &dyn ObjectStore,
        source_file: &str,
        line: u64,
        layout: &Layout,
        record: &ByteRecord,
        snapshot_date: i32,
    ) -> Result<()> {
        let text = |p: usize| record.get(p).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
        let extra: serde_json::Map<String, serde_json::Value> =
            layout.extras.iter().map(|(p, name)| (name.clone(), serde_json::Value::from(text(*p)))).collect();
        self.source_file.append_value(source_file);
        self.line_number.append_value(line as i64);
        self.user_id.append_value(std::str::from_utf8(layout.user_id_of(record)).unwrap_or(""));
        self.snapshot_date.append_value(snapshot_date);
        self.extra.append_value(serde_json::Value::Object(extra).to_string());
        if self.line_number.len() >= BATCH_ROWS {
            self.flush(store)?;
        }
        Ok(())
    }

    fn flush(&mut self, store: &dyn ObjectStore) -> Result<()> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.source_file.finish()),
            Arc::new(self.line_number.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.snapshot_date.finish()),
            Arc::new(self.extra.finish()),
        ];
        self.file.write(store, arrays)
    }

    pub fn commit(mut self, store: &dyn ObjectStore) -> Result<Option<(String, u64, ObjectInfo)>> {
        self.flush(store)?;
        self.file.commit()
    }
}
