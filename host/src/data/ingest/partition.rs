//! Typed Parquet output of accepted rows, one writer per snapshot date, each
//! streaming into an object-store write that stays invisible until committed.
//! Encoding and compressing a batch runs on a thread of its own per writer, so
//! it overlaps with parsing and validating the rows of the next batch.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
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
/// Batches waiting for the encoder: enough to ride out a slow page, few enough to bound memory.
const QUEUED_BATCHES: usize = 2;

enum ToEncoder {
    Batch(RecordBatch),
    /// Finish the file and make it visible. Without it the encoder discards the object.
    Commit,
}

/// The thread that owns the Parquet writer of one partition.
struct Encoder {
    queue: Option<SyncSender<ToEncoder>>,
    worker: Option<JoinHandle<Result<Option<ObjectInfo>>>>,
}

impl Encoder {
    fn start(key: String, writer: ArrowWriter<StoreSink>) -> Result<Self> {
        let (queue, batches) = sync_channel(QUEUED_BATCHES);
        let worker = std::thread::Builder::new()
            .name("ingest-encode".into())
            .spawn(move || encode(&key, writer, batches))
            .context("starting a Parquet encoder thread")?;
        Ok(Self { queue: Some(queue), worker: Some(worker) })
    }

    fn send(&mut self, message: ToEncoder) -> Result<()> {
        let queue = self.queue.as_ref().ok_or_else(|| anyhow!("the encoder has stopped"))?;
        if queue.send(message).is_err() {
            // The encoder stopped on an error: that error is the one to report.
            return Err(self.join().err().unwrap_or_else(|| anyhow!("the Parquet encoder stopped early")));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<Option<ObjectInfo>> {
        self.queue = None;
        match self.worker.take() {
            Some(worker) => worker.join().map_err(|_| anyhow!("the Parquet encoder panicked"))?,
            None => Ok(None),
        }
    }
}

impl Drop for Encoder {
    /// Not committed: the encoder drops its writer, which discards the object.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

fn encode(key: &str, mut writer: ArrowWriter<StoreSink>, batches: Receiver<ToEncoder>) -> Result<Option<ObjectInfo>> {
    for message in batches {
        match message {
            ToEncoder::Batch(batch) => writer.write(&batch).with_context(|| format!("writing {key}"))?,
            ToEncoder::Commit => {
                let sink = writer.into_inner().with_context(|| format!("closing {key}"))?;
                return sink.finish().map(Some).with_context(|| format!("committing {key}"));
            }
        }
    }
    Ok(None)
}

enum Column {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
}

pub struct PartitionWriter {
    pub key: String,
    pub rows: u64,
    schema: SchemaRef,
    encoder: Encoder,
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
        let encoder = Encoder::start(key.clone(), writer)?;
        Ok(Self {
            key,
            rows: 0,
            schema,
            encoder,
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
        self.user_ids.append_value(std::str::from_utf8(layout.user_id_of(record)).unwrap_or(""));
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
        self.encoder.send(ToEncoder::Batch(batch))
    }

    /// Writes what is buffered and makes the object visible.
    pub fn commit(mut self) -> Result<ObjectInfo> {
        self.write_batch()?;
        self.encoder.send(ToEncoder::Commit)?;
        self.encoder.join()?.ok_or_else(|| anyhow!("{}: the encoder ended without committing", self.key))
    }
}
