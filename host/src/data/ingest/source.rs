//! Reading input files record by record: CSV (plain or gzipped, RFC 4180, LF or
//! CRLF, optional UTF-8 BOM) and Parquet. Each record comes with the line it
//! starts on and its raw bytes, so a rejected row can be quarantined verbatim.
//! Fields stay bytes (`ByteRecord`): invalid UTF-8 is a per-row problem, found
//! by validation.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use csv::ByteRecord;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::files::{FileFormat, detect_format};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Rows per Parquet batch read.
const PARQUET_BATCH_ROWS: usize = 16_384;

/// The input files named by a path: the file itself, or the files of a folder
/// (sorted; hidden files such as partial writes skipped).
pub fn input_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("{}: cannot list the folder", path.display()))? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if entry.file_type()?.is_file() && !hidden {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{}: the folder holds no files to ingest", path.display());
    }
    Ok(files)
}

/// One record: where it starts, its fields, its raw text.
pub struct RecordRef<'a> {
    /// CSV: the physical line the record starts on (the header is line 1).
    /// Parquet: the row number, from 1.
    pub line: u64,
    pub fields: &'a ByteRecord,
    /// CSV: the record's bytes as in the file, without the line ending.
    /// Parquet: `None`; the row is rendered as a CSV line by `raw()` only when
    /// it is quarantined (rendering every row cost a third of a Parquet ingest).
    raw: Option<&'a [u8]>,
}

impl RecordRef<'_> {
    /// The record's text as the quarantine keeps it.
    pub fn raw(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        if let Some(raw) = self.raw {
            return Ok(raw.into());
        }
        let mut line = Vec::new();
        let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(&mut line);
        writer.write_byte_record(self.fields).context("rendering a Parquet row")?;
        drop(writer);
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Ok(line.into())
    }
}

pub enum Source {
    Csv(CsvSource),
    Parquet(ParquetSource),
}

impl Source {
    /// Opens a file and reads its header. Every problem here is file-level.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_rows(path, None)
    }

    /// Opens a file to read only the given row groups (Parquet; `None`: all of it).
    /// Rows keep their numbers in the whole file.
    pub fn open_rows(path: &Path, row_groups: Option<Range<usize>>) -> Result<Self> {
        let shown = path.display();
        let meta = std::fs::metadata(path).with_context(|| format!("{shown}: cannot read"))?;
        if meta.len() == 0 {
            bail!("{shown}: the file is empty");
        }
        match detect_format(path)? {
            FileFormat::Parquet => Ok(Source::Parquet(ParquetSource::open(path, row_groups)?)),
            FileFormat::Csv { gzip } => Ok(Source::Csv(CsvSource::open(path, gzip)?)),
        }
    }

    pub fn header(&self) -> &[String] {
        match self {
            Source::Csv(s) => &s.header,
            Source::Parquet(s) => &s.header,
        }
    }

    pub fn format_name(&self) -> &'static str {
        match self {
            Source::Csv(s) if s.gzip => "csv.gz",
            Source::Csv(_) => "csv",
            Source::Parquet(_) => "parquet",
        }
    }

    /// The next record, or `None` at the end. An error here (a broken gzip
    /// stream, a corrupt Parquet page) is file-level.
    pub fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        match self {
            Source::Csv(s) => s.next_record(),
            Source::Parquet(s) => s.next_record(),
        }
    }
}

/// Bytes the CSV parser has consumed but we have not yet released: the raw
/// text of the current record is cut from here.
#[derive(Default)]
struct Tape {
    bytes: Vec<u8>,
    /// Stream offset of `bytes[0]`.
    start: u64,
}

impl Tape {
    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let a = (from.saturating_sub(self.start) as usize).min(self.bytes.len());
        let b = (to.saturating_sub(self.start) as usize).min(self.bytes.len());
        &self.bytes[a..b.max(a)]
    }

    /// Forgets bytes before `offset`, in large steps so draining stays cheap.
    fn release(&mut self, offset: u64) {
        let done = offset.saturating_sub(self.start) as usize;
        if done > (1 << 20) {
            self.bytes.drain(..done);
            self.start = offset;
        }
    }
}

/// A reader that keeps a copy of what passes through it on the tape.
struct Recording<R> {
    inner: R,
    tape: Rc<RefCell<Tape>>,
}

impl<R: Read> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tape.borrow_mut().bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

pub struct CsvSource {
    path: PathBuf,
    gzip: bool,
    header: Vec<String>,
    reader: csv::Reader<Recording<Box<dyn Read>>>,
    tape: Rc<RefCell<Tape>>,
    record: ByteRecord,
    raw: Vec<u8>,
}

impl CsvSource {
    fn open(path: &Path, gzip: bool) -> Result<Self> {
        let shown = path.display();
        let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
        let decoded: Box<dyn Read> =
            if gzip { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
        let mut buffered = BufReader::with_capacity(1 << 16, decoded);
        // Drop a UTF-8 BOM before the parser sees it, so it is not part of the first column's name.
        let starts_with_bom = buffered
            .fill_buf()
            .with_context(|| format!("{shown}: cannot read{}", if gzip { " (is it gzip?)" } else { "" }))?
            .starts_with(UTF8_BOM);
        if starts_with_bom {
            buffered.consume(UTF8_BOM.len());
        }
        let tape = Rc::new(RefCell::new(Tape::default()));
        let recording = Recording { inner: Box::new(buffered) as Box<dyn Read>, tape: tape.clone() };
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(recording);
        let mut first = ByteRecord::new();
        let has_header = reader
            .read_byte_record(&mut first)
            .with_context(|| format!("{shown}: cannot read the header"))?;
        if !has_header {
            bail!("{shown}: the file is empty");
        }
        let header = first
            .iter()
            .enumerate()
            .map(|(i, name)| {
                std::str::from_utf8(name)
                    .map(|s| s.trim().to_string())
                    .map_err(|_| anyhow!("{shown}: header column {} is not valid UTF-8", i + 1))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { path: path.to_path_buf(), gzip, header, reader, tape, record: ByteRecord::new(), raw: Vec::new() })
    }

    fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .with_context(|| format!("{}: cannot read", self.path.display()))?;
        if !more {
            return Ok(None);
        }
        let position = self.record.position().expect("records read from a reader have a position");
        let (mut line, start) = (position.line(), position.byte());
        let end = self.reader.position().byte();
        {
            let mut tape = self.tape.borrow_mut();
            let mut raw = tape.slice(start, end);
            // After a CRLF (or blank lines) the parser counts the record as
            // starting at the line ending before it: step over those bytes.
            while let [first @ (b'\n' | b'\r'), rest @ ..] = raw {
                line += (*first == b'\n') as u64;
                raw = rest;
            }
            while let [rest @ .., b'\n' | b'\r'] = raw {
                raw = rest;
            }
            self.raw.clear();
            self.raw.extend_from_slice(raw);
            tape.release(end);
        }
        Ok(Some(RecordRef { line, fields: &self.record, raw: Some(&self.raw) }))
    }
}

pub struct ParquetSource {
    path: PathBuf,
    header: Vec<String>,
    reader: ParquetRecordBatchReader,
    /// The current batch as strings, one array per column.
    columns: Vec<StringArray>,
    row_in_batch: usize,
    rows_before_batch: u64,
    record: ByteRecord,
}

/// Rows in each row group of a Parquet file; `None` for CSV, which is read whole.
pub fn parquet_row_groups(path: &Path) -> Result<Option<Vec<u64>>> {
    if detect_format(path)? != FileFormat::Parquet {
        return Ok(None);
    }
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    Ok(Some(builder.metadata().row_groups().iter().map(|g| g.num_rows().max(0) as u64).collect()))
}

impl ParquetSource {
    fn open(path: &Path, row_groups: Option<Range<usize>>) -> Result<Self> {
        let shown = path.display();
        let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("{shown}: not a readable Parquet file"))?;
        let header = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut rows_before = 0;
        if let Some(groups) = row_groups {
            rows_before = builder.metadata().row_groups()[..groups.start].iter().map(|g| g.num_rows().max(0) as u64).sum();
            builder = builder.with_row_groups(groups.collect());
        }
        let reader = builder
            .with_batch_size(PARQUET_BATCH_ROWS)
            .build()
            .with_context(|| format!("{shown}: not a readable Parquet file"))?;
        Ok(Self {
            path: path.to_path_buf(),
            header,
            reader,
            columns: Vec::new(),
            row_in_batch: 0,
            rows_before_batch: rows_before,
            record: ByteRecord::new(),
        })
    }

    /// Renders every column as text, so Parquet rows go through the same
    /// validation as CSV fields.
    fn load(&mut self, batch: RecordBatch) -> Result<()> {
        let schema = batch.schema();
        self.columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(column, field)| {
                as_text(column).with_context(|| {
                    format!("{}: column '{}' of type {} cannot be read as text", self.path.display(), field.name(), field.data_type())
                })
            })
            .collect::<Result<_>>()?;
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        while self.columns.first().is_none_or(|c| self.row_in_batch >= c.len()) {
            self.rows_before_batch += self.columns.first().map_or(0, |c| c.len() as u64);
            self.row_in_batch = 0;
            match self.reader.next() {
                None => return Ok(None),
                Some(batch) => {
                    let batch = batch.with_context(|| format!("{}: cannot read Parquet data", self.path.display()))?;
                    if batch.num_columns() == 0 {
                        return Ok(None);
                    }
                    self.load(batch)?;
                }
            }
        }
        let row = self.row_in_batch;
        self.row_in_batch += 1;
        self.record.clear();
        for column in &self.columns {
            self.record.push_field(if column.is_null(row) { b"" } else { column.value(row).as_bytes() });
        }
        Ok(Some(RecordRef { line: self.rows_before_batch + row as u64 + 1, fields: &self.record, raw: None }))
    }
}

fn as_text(column: &ArrayRef) -> Result<StringArray> {
    let column = match column.data_type() {
        // true/false become 1/0, the contract's flags.
        DataType::Boolean => cast(column, &DataType::Int64)?,
        _ => column.clone(),
    };
    let text = cast(&column, &DataType::Utf8)?;
    Ok(text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8 gives a StringArray").clone())
}
