//! Where generated rows go: one file per week, CSV or Parquet, written to a
//! hidden temporary name and renamed when complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;

use super::process::{CellSink, Row};
use crate::data::schema::{self, snapshot_schema};

/// One week's output file.
pub trait WeekSink {
    fn push(&mut self, user_id: &str, row: &Row, label: Option<i64>) -> Result<()>;
    /// Called after each chunk of users: hand buffered rows to the file.
    fn flush_chunk(&mut self) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<()>;
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.partial"))
}

fn rename_into_place(temp: &Path, target: &Path) -> Result<()> {
    std::fs::rename(temp, target).with_context(|| format!("{}: cannot move into place", target.display()))
}

pub struct CsvWeek {
    out: BufWriter<File>,
    temp: PathBuf,
    target: PathBuf,
    date: String,
    line: Vec<u8>,
}

impl CsvWeek {
    pub fn create(target: &Path, date: String) -> Result<Self> {
        let temp = temp_path(target);
        let file = File::create(&temp).with_context(|| format!("{}: cannot create", temp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{}", schema::all_column_names().join(","))?;
        Ok(Self { out, temp, target: target.to_path_buf(), date, line: Vec::with_capacity(1024) })
    }
}

/// Formats cells as CSV fields. Generated values never need quoting.
struct CsvCells<'a>(&'a mut Vec<u8>);

impl CellSink for CsvCells<'_> {
    fn int(&mut self, value: Option<i64>) {
        self.0.push(b',');
        if let Some(v) = value {
            let _ = write!(self.0, "{v}");
        }
    }
    fn float(&mut self, value: Option<f64>) {
        self.0.push(b',');
        if let Some(v) = value {
            let _ = write!(self.0, "{v}");
        }
    }
    fn text(&mut self, value: Option<&'static str>) {
        self.0.push(b',');
        if let Some(v) = value {
            self.0.extend_from_slice(v.as_bytes());
        }
    }
}

impl WeekSink for CsvWeek {
    fn push(&mut self, user_id: &str, row: &Row, label: Option<i64>) -> Result<()> {
        self.line.clear();
        self.line.extend_from_slice(user_id.as_bytes());
        self.line.push(b',');
        self.line.extend_from_slice(self.date.as_bytes());
        row.emit(&mut CsvCells(&mut self.line));
        CsvCells(&mut self.line).int(label);
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        rename_into_place(&self.temp, &self.target)
    }
}

/// Typed column builders in schema order.
enum Column {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
}

struct Builders<'a> {
    columns: &'a mut [Column],
    next: usize,
}

impl CellSink for Builders<'_> {
    fn int(&mut self, value: Option<i64>) {
        if let Column::Int(b) = &mut self.columns[self.next] {
            b.append_option(value);
        }
        self.next += 1;
    }
    fn float(&mut self, value: Option<f64>) {
        if let Column::Float(b) = &mut self.columns[self.next] {
            b.append_option(value);
        }
        self.next += 1;
    }
    fn text(&mut self, value: Option<&'static str>) {
        if let Column::Text(b) = &mut self.columns[self.next] {
            b.append_option(value);
        }
        self.next += 1;
    }
}

pub struct ParquetWeek {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    temp: PathBuf,
    target: PathBuf,
    date_days: i32,
    user_ids: StringBuilder,
    dates: Date32Builder,
    features: Vec<Column>,
    labels: Int64Builder,
}

impl ParquetWeek {
    pub fn create(target: &Path, date_days: i32, rows_per_chunk: usize) -> Result<Self> {
        let schema = snapshot_schema();
        let temp = temp_path(target);
        let file = File::create(&temp).with_context(|| format!("{}: cannot create", temp.display()))?;
        let props = crate::data::parquet::writer_properties(&schema, rows_per_chunk.max(1));
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        let features = schema::FEATURES
            .iter()
            .map(|spec| match spec.rule.arrow_type() {
                DataType::Int64 => Column::Int(Int64Builder::with_capacity(rows_per_chunk)),
                DataType::Float64 => Column::Float(Float64Builder::with_capacity(rows_per_chunk)),
                _ => Column::Text(StringBuilder::with_capacity(rows_per_chunk, rows_per_chunk * 8)),
            })
            .collect();
        Ok(Self {
            writer,
            schema,
            temp,
            target: target.to_path_buf(),
            date_days,
            user_ids: StringBuilder::with_capacity(rows_per_chunk, rows_per_chunk * 10),
            dates: Date32Builder::with_capacity(rows_per_chunk),
            features,
            labels: Int64Builder::with_capacity(rows_per_chunk),
        })
    }
}

impl WeekSink for ParquetWeek {
    fn push(&mut self, user_id: &str, row: &Row, label: Option<i64>) -> Result<()> {
        self.user_ids.append_value(user_id);
        self.dates.append_value(self.date_days);
        row.emit(&mut Builders { columns: &mut self.features, next: 0 });
        self.labels.append_option(label);
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.user_ids.len() == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        arrays.push(Arc::new(self.user_ids.finish()));
        arrays.push(Arc::new(self.dates.finish()));
        for column in &mut self.features {
            arrays.push(match column {
                Column::Int(b) => Arc::new(b.finish()),
                Column::Float(b) => Arc::new(b.finish()),
                Column::Text(b) => Arc::new(b.finish()),
            });
        }
        arrays.push(Arc::new(self.labels.finish()));
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).context("building a generated batch")?;
        self.writer.write(&batch)?;
        self.writer.flush()?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush_chunk()?;
        let file = self.writer.into_inner()?;
        file.sync_all()?;
        rename_into_place(&self.temp, &self.target)
    }
}
