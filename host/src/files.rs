//! Reading and writing local data files as Arrow batches: Parquet, and CSV
//! (plain or gzipped) with inferred types. Used by commands that take a file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
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

/// A file written whole or not at all: under a hidden name beside its target
/// (`.<name>.partial`, which folder readers skip), moved into place by
/// [`commit`](Self::commit), and removed if dropped first, so a run that fails
/// part way, or cannot move the file into place, leaves nothing behind.
pub struct PartialFile {
    temp: PathBuf,
    target: PathBuf,
}

impl PartialFile {
    pub fn create(target: &Path) -> Result<(Self, File)> {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = target.with_file_name(format!(".{name}.partial"));
        // Named by its target: the hidden name means nothing to whoever asked for the file.
        let file = File::create(&temp).with_context(|| format!("{}: cannot create", target.display()))?;
        Ok((Self { temp, target: target.to_path_buf() }, file))
    }

    /// Flushes `file` (written through this) to disk and moves it into place.
    pub fn commit(self, file: File) -> Result<()> {
        file.sync_all().with_context(|| format!("{}: cannot write", self.target.display()))?;
        std::fs::rename(&self.temp, &self.target).with_context(|| format!("{}: cannot move into place", self.target.display()))
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        // After a commit there is nothing left to remove.
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Writes batches to a Parquet file (zstd), whole or not at all ([`PartialFile`]).
pub struct ParquetFileWriter {
    writer: ArrowWriter<File>,
    partial: PartialFile,
}

impl ParquetFileWriter {
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        let (partial, file) = PartialFile::create(path)?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
        let writer = ArrowWriter::try_new(file, schema, Some(props))?;
        Ok(Self { writer, partial })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.write(batch)?)
    }

    pub fn finish(self) -> Result<()> {
        let mut file = self.writer.into_inner()?;
        file.seek(SeekFrom::End(0))?;
        self.partial.commit(file)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_parquet_file_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let target = dir.path().join("out.parquet");

        // Dropped unfinished (a failure part way): nothing.
        let mut writer = ParquetFileWriter::create(&target, batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        assert_eq!(names(dir.path()), vec![".out.parquet.partial"], "hidden while written");
        drop(writer);
        assert!(names(dir.path()).is_empty());

        // Finished, but its name is taken by a folder: an error, and still nothing else.
        std::fs::create_dir(&target).unwrap();
        let mut writer = ParquetFileWriter::create(&target, batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        let error = writer.finish().unwrap_err().to_string();
        assert!(error.contains("out.parquet: cannot move into place"), "{error}");
        assert_eq!(names(dir.path()), vec!["out.parquet"]);

        std::fs::remove_dir(&target).unwrap();
        let mut writer = ParquetFileWriter::create(&target, batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        assert_eq!(names(dir.path()), vec!["out.parquet"]);
        let (_, mut batches) = read_batches(&target, 10).unwrap();
        assert_eq!(batches.next().unwrap().unwrap(), batch);
    }
}
