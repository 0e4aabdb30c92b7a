//! Where generated rows go, in two halves so chunks can be encoded on any
//! thread while the files stay in user order:
//! - a [`ChunkEncoder`] turns one chunk of one week into bytes: CSV text, or
//!   closed (compressed) Parquet column chunks forming one row group;
//! - a [`WeekFile`] appends encoded chunks in order to the week's file, written
//!   to a hidden temporary name and renamed when complete ([`PartialFile`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Result, bail};
use parquet::arrow::ArrowWriter;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnDescPtr;

use super::columns::{self, Column, ColumnBuf, Ints};
use super::parquet_chunk::{ChunkWriter, ColumnChunk};
use super::process::{CellSink, Row, RowColumns};
use crate::data::schema::{self, snapshot_schema};
use crate::files::PartialFile;

/// Rows per tile turned into columns at once (about 300 KiB of rows, which stays in cache).
const TILE_ROWS: usize = 256;

/// One week's chunk, encoded and ready to append.
pub enum Encoded {
    Csv(Vec<u8>),
    /// One row group: the closed column chunks in schema order.
    Parquet(Vec<ColumnChunk>),
}

/// What every [`ChunkEncoder`] of a run shares.
#[derive(Clone)]
pub enum EncoderSpec {
    Csv,
    /// The Parquet columns, in schema order.
    Parquet { columns: Vec<ColumnDescPtr> },
}

/// Buffers one chunk of one week and encodes it.
pub enum ChunkEncoder {
    /// `row` is where the next row is simulated before it becomes text.
    Csv { date: String, text: Vec<u8>, row: Box<Row> },
    Parquet(Box<ParquetChunk>),
}

pub struct ParquetChunk {
    columns: Vec<ColumnDescPtr>,
    writer: ChunkWriter,
    date_days: i32,
    first_user: Option<u64>,
    features: RowColumns,
    /// Rows waiting to be turned into columns: the first `filled` of these
    /// [`TILE_ROWS`] slots, each simulated in place.
    pending: Vec<Row>,
    filled: usize,
    labels: Ints,
}

impl ChunkEncoder {
    pub fn new(spec: &EncoderSpec, rows: usize) -> Result<Self> {
        Ok(match spec {
            EncoderSpec::Csv => ChunkEncoder::Csv { date: String::new(), text: Vec::with_capacity(rows * 400), row: Box::default() },
            EncoderSpec::Parquet { columns } => ChunkEncoder::Parquet(Box::new(ParquetChunk {
                columns: columns.clone(),
                writer: ChunkWriter::new()?,
                date_days: 0,
                first_user: None,
                features: RowColumns::with_capacity(rows),
                pending: vec![Row::default(); TILE_ROWS],
                filled: 0,
                labels: Ints::with_capacity(rows),
            })),
        })
    }

    /// The rows pushed next belong to the snapshot of `date`.
    pub fn start_week(&mut self, date: chrono::NaiveDate) {
        match self {
            ChunkEncoder::Csv { date: text, .. } => *text = date.to_string(),
            ChunkEncoder::Parquet(chunk) => {
                chunk.date_days = super::days_since_epoch(date);
                chunk.first_user = None;
                chunk.filled = 0;
                chunk.features.clear();
                chunk.labels.clear();
            }
        }
    }

    /// Where the next user's row is to be written, before [`ChunkEncoder::push_next_row`].
    #[inline]
    pub fn next_row(&mut self) -> &mut Row {
        match self {
            ChunkEncoder::Csv { row, .. } => row,
            ChunkEncoder::Parquet(chunk) => &mut chunk.pending[chunk.filled],
        }
    }

    /// Pushes the row written at [`ChunkEncoder::next_row`] as the next user's;
    /// users come in consecutive order.
    #[inline]
    pub fn push_next_row(&mut self, user_index: u64, label: Option<i64>) {
        match self {
            ChunkEncoder::Csv { date, text, row } => {
                columns::write_user_id(text, user_index);
                text.push(b',');
                text.extend_from_slice(date.as_bytes());
                let mut cells = CsvCells(text);
                row.emit(&mut cells);
                cells.int(label);
                text.push(b'\n');
            }
            ChunkEncoder::Parquet(chunk) => {
                chunk.first_user.get_or_insert(user_index);
                chunk.filled += 1;
                if chunk.filled == TILE_ROWS {
                    chunk.features.push_rows(&chunk.pending);
                    chunk.filled = 0;
                }
                chunk.labels.push(label);
            }
        }
    }

    /// Encodes what was pushed as the next piece of the file, and starts over.
    pub fn finish(&mut self) -> Result<Encoded> {
        match self {
            ChunkEncoder::Csv { text, .. } => {
                let capacity = text.capacity();
                Ok(Encoded::Csv(std::mem::replace(text, Vec::with_capacity(capacity))))
            }
            ChunkEncoder::Parquet(chunk) => chunk.encode().map(Encoded::Parquet),
        }
    }
}

impl ParquetChunk {
    fn encode(&mut self) -> Result<Vec<ColumnChunk>> {
        self.features.push_rows(&self.pending[..self.filled]);
        self.filled = 0;
        let Some(first_user) = self.first_user else { return Ok(Vec::new()) };
        // Every row has a label cell, present or not.
        let (rows, writer) = (self.labels.validity.len(), &mut self.writer);
        let [user_id, date, features @ .., label] = self.columns.as_slice() else { bail!("the snapshot schema has too few columns") };
        let mut chunks = Vec::with_capacity(self.columns.len());
        chunks.push(writer.user_ids(user_id, first_user, rows)?);
        chunks.push(writer.constant_date(date, self.date_days, rows)?);
        for (descr, column) in features.iter().zip(self.features.columns()) {
            chunks.push(match column {
                Column::Ints(ints) => writer.ints(descr, ints)?,
                Column::Floats(floats) => writer.floats(descr, floats)?,
                Column::Categories(categories) => writer.categories(descr, categories)?,
            });
        }
        chunks.push(writer.ints(label, &self.labels)?);
        Ok(chunks)
    }
}

/// Formats cells as CSV fields. Generated values never need quoting.
struct CsvCells<'a>(&'a mut Vec<u8>);

impl CellSink for CsvCells<'_> {
    #[inline]
    fn int(&mut self, value: Option<i64>) {
        self.0.push(b',');
        if let Some(v) = value {
            push_int(self.0, v);
        }
    }
    #[inline]
    fn float(&mut self, value: Option<f64>) {
        self.0.push(b',');
        if let Some(v) = value {
            push_float(self.0, v);
        }
    }
    #[inline]
    fn text(&mut self, value: Option<&'static str>) {
        self.0.push(b',');
        if let Some(v) = value {
            self.0.extend_from_slice(v.as_bytes());
        }
    }
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Decimal digits of `n`, two at a time.
#[inline]
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[at..]);
}

/// The same text as `{v}` for an `i64`.
#[inline]
fn push_int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A float as the shortest decimal that reads back as the same value. Generated
/// amounts have at most three decimals, written directly (`12.5`, `0.25`, `3`);
/// anything else goes through `{v}`.
#[inline]
fn push_float(out: &mut Vec<u8>, v: f64) {
    let thousandths = (v * 1000.0).round();
    // `thousandths / 1000` is the correctly rounded value of the decimal we
    // print, so when it equals `v` the text parses back to exactly `v`.
    if thousandths.abs() < 1e15 && thousandths / 1000.0 == v && !(v == 0.0 && v.is_sign_negative()) {
        let k = thousandths as i64;
        if k < 0 {
            out.push(b'-');
        }
        let k = k.unsigned_abs();
        push_u64(out, k / 1000);
        let frac = (k % 1000) as u16;
        if frac != 0 {
            let digits = [(frac / 100) as u8, (frac / 10 % 10) as u8, (frac % 10) as u8];
            let len = if digits[2] != 0 { 3 } else if digits[1] != 0 { 2 } else { 1 };
            out.push(b'.');
            out.extend(digits[..len].iter().map(|d| b'0' + d));
        }
    } else {
        let _ = write!(out, "{v}");
    }
}

/// One week's output file.
pub enum WeekFile {
    Csv { out: BufWriter<File>, partial: PartialFile },
    Parquet { writer: Box<SerializedFileWriter<File>>, partial: PartialFile },
}

impl WeekFile {
    pub fn csv(target: &Path) -> Result<Self> {
        let (partial, file) = PartialFile::create(target)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{}", schema::all_column_names().join(","))?;
        Ok(WeekFile::Csv { out, partial })
    }

    /// A Parquet week file, and the columns its chunks are encoded for.
    pub fn parquet(target: &Path) -> Result<(Self, EncoderSpec)> {
        let (partial, file) = PartialFile::create(target)?;
        // Through `ArrowWriter` so the file carries the Arrow schema like any other;
        // the row groups come already encoded, so its writer settings play no part.
        let (writer, _) = ArrowWriter::try_new(file, snapshot_schema(), None)?.into_serialized_writer()?;
        let columns = writer.schema_descr().columns().to_vec();
        Ok((WeekFile::Parquet { writer: Box::new(writer), partial }, EncoderSpec::Parquet { columns }))
    }

    pub fn append(&mut self, encoded: Encoded) -> Result<()> {
        match (self, encoded) {
            (WeekFile::Csv { out, .. }, Encoded::Csv(text)) => out.write_all(&text)?,
            (WeekFile::Parquet { writer, .. }, Encoded::Parquet(chunks)) => {
                // A chunk without rows encodes to no columns: no empty row group.
                if !chunks.is_empty() {
                    let mut row_group = writer.next_row_group()?;
                    for chunk in chunks {
                        chunk.append_to(&mut row_group)?;
                    }
                    row_group.close()?;
                }
            }
            _ => bail!("an encoded chunk of the wrong format"),
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let (file, partial) = match self {
            WeekFile::Csv { out, partial } => (out.into_inner().map_err(|e| e.into_error())?, partial),
            WeekFile::Parquet { writer, partial } => (writer.into_inner()?, partial),
        };
        partial.commit(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_file_not_finished_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("users_2026-11-22.csv");
        let mut file = WeekFile::csv(&target).unwrap();
        file.append(Encoded::Csv(b"u1,2026-11-22\n".to_vec())).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the hidden partial file while writing");
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing once it is dropped unfinished");

        let (file, _) = WeekFile::parquet(&target.with_extension("parquet")).unwrap();
        file.finish().unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["users_2026-11-22.parquet"]);
    }

    #[test]
    fn numbers_read_back_exactly() {
        for v in [0.0, 1.0, 12.5, 0.25, 0.1, 99.99, 1234.56, 0.333, 1e-7, 1.0 / 3.0, 2.5e20, 123456789.12] {
            let mut out = Vec::new();
            push_float(&mut out, v);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.parse::<f64>().unwrap(), v, "{text}");
            if v != 1.0 / 3.0 && v != 1e-7 && v != 2.5e20 {
                assert_eq!(text, format!("{v}"));
            }
        }
        for v in [0i64, 5, 10, 99, 100, 101, 9_999_999, -42, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            push_int(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
