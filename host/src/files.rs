//! Reading and writing local data files as Arrow batches: Parquet, and CSV
//! (plain or gzipped) with inferred types. Used by commands that take a file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv { gzip: bool },
}

/// Picks the format from the file name, falling back to the first bytes.
pub fn detect_format(path: &Path) -> Result<FileFormat> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        return Ok(FileFormat::Parquet);
    }
    if name.ends_with(".csv.gz") || name.ends_with(".gz") {
        return Ok(FileFormat::Csv { gzip: true });
    }
    if name.ends_with(".csv") {
        return Ok(FileFormat::Csv { gzip: false });
    }
    let mut magic = [0u8; 4];
    let mut file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let n = file.read(&mut magic)?;
    match &magic[..n] {
        [b'P', b'A', b'R', b'1'] => Ok(FileFormat::Parquet),
        [0x1f, 0x8b, ..] => Ok(FileFormat::Csv { gzip: true }),
        _ => bail!("{}: not a Parquet or CSV file (name it .parquet, .csv or .csv.gz)", path.display()),
    }
}

/// Streams a file as batches of at most `batch_rows` rows.
pub fn read_batches(path: &Path, batch_rows: usize) -> Result<(SchemaRef, BatchIter)> {
    let shown = path.display().to_string();
    match detect_format(path)? {
        FileFormat::Parquet => {
            let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .with_context(|| format!("{shown}: not a readable Parquet file"))?;
            let schema = builder.schema().clone();
            let reader = builder.with_batch_size(batch_rows).build()?;
            let shown2 = shown.clone();
            Ok((schema, Box::new(reader.map(move |b| b.with_context(|| format!("{shown2}: reading Parquet"))))))
        }
        FileFormat::Csv { gzip } => {
            let open = || -> Result<Box<dyn Read + Send>> {
                let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
                Ok(if gzip { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) })
            };
            let format = arrow::csv::reader::Format::default().with_header(true);
            let (schema, _) = format
                .infer_schema(BufReader::new(open()?), Some(10_000))
                .with_context(|| format!("{shown}: cannot infer the CSV schema"))?;
            let schema = Arc::new(schema);
            let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_format(format)
                .with_batch_size(batch_rows)
                .build(BufReader::new(open()?))?;
            let shown2 = shown.clone();
            Ok((schema, Box::new(reader.map(move |b| b.with_context(|| format!("{shown2}: reading CSV"))))))
        }
    }
}

/// Writes batches to a Parquet file (zstd), atomically: a temp file renamed on
/// `finish`, and removed if the writer is dropped unfinished (a failed run leaves nothing).
pub struct ParquetFileWriter {
    /// `None` once finished.
    writer: Option<ArrowWriter<File>>,
    temp: std::path::PathBuf,
    target: std::path::PathBuf,
}

impl ParquetFileWriter {
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        let temp = path.with_extension("parquet.partial");
        let file = File::create(&temp).with_context(|| format!("{}: cannot create", temp.display()))?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
        let writer = ArrowWriter::try_new(file, schema, Some(props))?;
        Ok(Self { writer: Some(writer), temp, target: path.to_path_buf() })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.as_mut().expect("not finished").write(batch)?)
    }

    pub fn finish(mut self) -> Result<()> {
        let mut file = self.writer.take().expect("finished once").into_inner()?;
        file.seek(SeekFrom::End(0))?;
        file.sync_all()?;
        std::fs::rename(&self.temp, &self.target)
            .with_context(|| format!("{}: cannot move into place", self.target.display()))?;
        Ok(())
    }
}

impl Drop for ParquetFileWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
