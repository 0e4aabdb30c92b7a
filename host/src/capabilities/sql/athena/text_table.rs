//! Text (CSV, TSV, ...) tables read as Athena's SerDes read them, line by line in
//! ranged chunks (never a whole file at once):
//!
//! - LazySimpleSerDe (`ROW FORMAT DELIMITED`, the TEXTFILE default) splits a line at
//!   the field delimiter and knows no quotes: the first N fields fill the N declared
//!   columns, extra fields are ignored, missing ones are NULL. `\N` (or
//!   `serialization.null.format`) is NULL; an empty field is '' in a string column
//!   and NULL in any other; a value that does not parse as the column's type is NULL.
//! - OpenCSVSerde splits at `separatorChar` honouring `quoteChar` and `escapeChar`
//!   (as opencsv does, bug for bug as Trino reads it); missing fields are NULL, extra
//!   ones ignored, an empty line is all NULL. Strings are kept as written (`\N`
//!   included); a declared non-string column is parsed as Athena documents (numbers,
//!   booleans, DATE as days and TIMESTAMP as milliseconds since 1970), and a value that
//!   does not parse, the empty one included, fails the query with HIVE_BAD_DATA unless
//!   the table sets `use.null.for.invalid.data`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder, Int16Builder,
    Int32Builder, Int64Builder, RecordBatch, RecordBatchOptions, StringArray, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue, Statistics};
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStore as DfObjectStore;
use datafusion::object_store::path::Path as StorePath;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream, StatisticsArgs,
};

/// Bytes per ranged read.
const CHUNK_BYTES: u64 = 4 << 20;
/// Rows per batch.
const BATCH_ROWS: usize = 8192;

pub const OPEN_CSV_SERDE: &str = "org.apache.hadoop.hive.serde2.OpenCSVSerde";
pub const LAZY_SIMPLE_SERDE: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
/// The table property naming the SerDe class (Glue's SerDeInfo.SerializationLibrary).
pub const SERDE_PROPERTY: &str = "serialization.lib";

#[derive(Debug, Clone, PartialEq)]
pub enum Serde {
    LazySimple { delimiter: u8, escape: Option<u8>, null_format: String },
    OpenCsv { separator: char, quote: char, escape: char, null_for_invalid: bool },
}

/// How a text table's lines become rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLayout {
    pub serde: Serde,
    pub header_lines: u64,
}

/// A property by name, ignoring case (`separatorChar` is often written `separatorchar`).
fn property<'a>(properties: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn first_char(properties: &BTreeMap<String, String>, name: &str) -> Option<char> {
    property(properties, name).and_then(hive_char)
}

/// A delimiter, quote or escape character as Hive DDL writes it: `'\t'` is a tab,
/// `'\001'` (octal) is U+0001, `'\\'` a backslash; otherwise its first character.
pub fn hive_char(text: &str) -> Option<char> {
    let Some(rest) = text.strip_prefix('\\') else { return text.chars().next() };
    let octal: String = rest.chars().take_while(|c| c.is_digit(8)).take(3).collect();
    if !octal.is_empty() {
        return u32::from_str_radix(&octal, 8).ok().and_then(char::from_u32);
    }
    Some(match rest.chars().next() {
        None => '\\',
        Some('t') => '\t',
        Some('n') => '\n',
        Some('r') => '\r',
        Some(other) => other,
    })
}

impl TextLayout {
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, String> {
        let header_lines = property(properties, "skip.header.line.count").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
        let lib = property(properties, SERDE_PROPERTY).unwrap_or(LAZY_SIMPLE_SERDE);
        let serde = if lib.to_lowercase().contains("opencsvserde") {
            let serde = Serde::OpenCsv {
                separator: first_char(properties, "separatorChar").unwrap_or(','),
                quote: first_char(properties, "quoteChar").unwrap_or('"'),
                escape: first_char(properties, "escapeChar").unwrap_or('\\'),
                null_for_invalid: property(properties, "use.null.for.invalid.data").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            };
            if let Serde::OpenCsv { separator, quote, escape, .. } = &serde
                && (separator == quote || separator == escape)
            {
                return Err("OpenCSVSerde: separatorChar must differ from quoteChar and escapeChar".into());
            }
            serde
        } else {
            // Hive takes the first byte of the delimiter; tables written before the
            // SerDe was recorded were comma-separated.
            let byte = |c: char| c.to_string().bytes().next();
            let delimiter = first_char(properties, "field.delim")
                .or_else(|| first_char(properties, "serialization.format"))
                .and_then(byte)
                .unwrap_or(b',');
            Serde::LazySimple {
                delimiter,
                escape: first_char(properties, "escape.delim").and_then(byte),
                null_format: property(properties, "serialization.null.format").unwrap_or("\\N").to_string(),
            }
        };
        Ok(Self { serde, header_lines })
    }
}

/// Splits one line (without its line break) into at most `wanted` fields; fields
/// the line does not have are absent (NULL).
fn split_line(serde: &Serde, line: &[u8], wanted: usize, fields: &mut Vec<Option<String>>) {
    fields.clear();
    match serde {
        Serde::LazySimple { delimiter, escape, null_format } => {
            let mut field = Vec::new();
            let mut i = 0;
            while fields.len() < wanted {
                match line.get(i) {
                    Some(b) if Some(*b) == *escape && i + 1 < line.len() => {
                        field.push(line[i + 1]);
                        i += 2;
                    }
                    Some(b) if b == delimiter => {
                        fields.push(Some(String::from_utf8_lossy(&field).into_owned()));
                        field.clear();
                        i += 1;
                    }
                    Some(b) => {
                        field.push(*b);
                        i += 1;
                    }
                    None => {
                        fields.push(Some(String::from_utf8_lossy(&field).into_owned()));
                        break;
                    }
                }
            }
            for f in fields.iter_mut() {
                if f.as_deref() == Some(null_format.as_str()) {
                    *f = None;
                }
            }
        }
        Serde::OpenCsv { separator, quote, escape, .. } => {
            // An empty line is a row of NULLs.
            if line.is_empty() {
                return;
            }
            let text = String::from_utf8_lossy(line);
            let chars: Vec<char> = text.chars().collect();
            let (mut in_quotes, mut in_field) = (false, false);
            let mut buffer = String::new();
            let mut i = 0;
            while i < chars.len() && fields.len() < wanted {
                let c = chars[i];
                let next = chars.get(i + 1).copied();
                if c == *escape {
                    // An escape keeps a following quote or escape; before anything else it vanishes.
                    if (in_quotes || in_field) && (next == Some(*quote) || next == Some(*escape)) {
                        buffer.push(chars[i + 1]);
                        i += 1;
                    }
                } else if c == *quote {
                    if (in_quotes || in_field) && next == Some(*quote) {
                        buffer.push(*quote);
                        i += 1;
                    } else {
                        // A quote inside a value (not near the line start, not next to a
                        // separator) is kept, unless only blanks precede it.
                        if i > 2 && chars[i - 1] != *separator && next.is_some_and(|n| n != *separator) {
                            if !buffer.is_empty() && buffer.chars().all(char::is_whitespace) {
                                buffer.clear();
                            } else {
                                buffer.push(c);
                            }
                        }
                        in_quotes = !in_quotes;
                    }
                    in_field = !in_field;
                } else if c == *separator && !in_quotes {
                    fields.push(Some(std::mem::take(&mut buffer)));
                    in_field = false;
                } else {
                    buffer.push(c);
                    in_field = true;
                }
                i += 1;
            }
            // A value whose quote is never closed is NULL.
            if fields.len() < wanted && !in_quotes {
                fields.push(Some(buffer));
            }
        }
    }
}

/// Hive's text integer: optional sign, digits, an ignored fraction of digits.
fn parse_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let whole = match digits.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|b| b.is_ascii_digit()) => whole,
        Some(_) => return None,
        None => digits,
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = whole.trim_start_matches('0');
    if significant.len() > 19 {
        return None;
    }
    let magnitude = if significant.is_empty() { 0 } else { significant.parse::<i128>().ok()? };
    i64::try_from(if text.starts_with('-') { -magnitude } else { magnitude }).ok()
}

/// Java's Integer/Long.parseLong: optional sign and digits only.
fn parse_java_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.strip_prefix('+').unwrap_or(text).parse::<i64>().ok()
}

fn parse_double(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = t.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(t);
    match t {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ if t.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => None,
        _ => t.parse::<f64>().ok(),
    }
}

fn parse_boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A decimal text (sign, digits, point, digits, exponent) as an unscaled value of
/// `scale` digits, rounded half up; None when it does not parse or needs more than
/// `precision` digits.
pub fn parse_decimal(text: &str, precision: u8, scale: i8) -> Option<i128> {
    let t = text.trim();
    let (negative, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], t[at + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (whole.is_empty() && fraction.is_empty()) || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).map(|b| b - b'0').collect();
    // value = digits * 10^(exponent - fraction.len()); we want value * 10^scale.
    let shift = exponent as i64 - fraction.len() as i64 + scale as i64;
    if shift > 38 {
        return None;
    }
    let mut value: i128 = 0;
    let keep = (digits.len() as i64 + shift.min(0)).max(0) as usize;
    for &d in &digits[..keep] {
        value = value.checked_mul(10)?.checked_add(d as i128)?;
    }
    if shift > 0 {
        for _ in 0..shift {
            value = value.checked_mul(10)?;
        }
    } else if digits.len() as i64 + shift >= 0 && keep < digits.len() && digits[keep] >= 5 {
        value = value.checked_add(1)?;
    }
    if value >= 10i128.checked_pow(precision as u32)? {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// Arrow types a text table can hold.
pub fn check_column_type(name: &str, data_type: &DataType) -> Result<(), String> {
    match data_type {
        DataType::Utf8
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Date32
        | DataType::Timestamp(TimeUnit::Millisecond, None)
        | DataType::Decimal128(..) => Ok(()),
        other => Err(format!(
            "column {name} of type {other} in a text table is not supported locally: declare it string and parse it in the query (e.g. split, json_parse)"
        )),
    }
}

/// The values of one column as Athena's SerDe types them.
fn typed_column(serde: &Serde, texts: &StringArray, data_type: &DataType, column: &str, ordinal: usize) -> DfResult<ArrayRef> {
    if *data_type == DataType::Utf8 {
        return Ok(Arc::new(texts.clone()));
    }
    let (strict, null_for_invalid) = match serde {
        Serde::LazySimple { .. } => (false, true),
        Serde::OpenCsv { null_for_invalid, .. } => (true, *null_for_invalid),
    };
    // An invalid value: NULL, or under OpenCSVSerde the error Athena raises.
    let invalid = |text: &str| -> DfResult<()> {
        if null_for_invalid {
            Ok(())
        } else {
            Err(DataFusionError::Execution(format!(
                "HIVE_BAD_DATA: Error parsing field value '{text}' for field {ordinal}: OpenCSVSerde cannot read it as {data_type} (column {column}); \
                 declare the column string and convert it with TRY_CAST, or set TBLPROPERTIES ('use.null.for.invalid.data'='true')"
            )))
        }
    };
    macro_rules! integers {
        ($builder:ty, $t:ty) => {{
            let mut builder = <$builder>::with_capacity(texts.len());
            for text in texts.iter() {
                match text {
                    None => builder.append_null(),
                    Some(t) => {
                        let parsed = if strict { parse_java_integer(t) } else { parse_integer(t) };
                        match parsed.and_then(|v| <$t>::try_from(v).ok()) {
                            Some(v) => builder.append_value(v),
                            None => {
                                invalid(t)?;
                                builder.append_null()
                            }
                        }
                    }
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    macro_rules! parsed {
        ($builder:expr, $parse:expr) => {{
            let mut builder = $builder;
            for text in texts.iter() {
                match text {
                    None => builder.append_null(),
                    Some(t) => match $parse(t) {
                        Some(v) => builder.append_value(v),
                        None => {
                            invalid(t)?;
                            builder.append_null()
                        }
                    },
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    let n = texts.len();
    Ok(match data_type {
        DataType::Int8 => integers!(Int8Builder, i8),
        DataType::Int16 => integers!(Int16Builder, i16),
        DataType::Int32 => integers!(Int32Builder, i32),
        DataType::Int64 => integers!(Int64Builder, i64),
        DataType::Float64 => parsed!(Float64Builder::with_capacity(n), parse_double),
        DataType::Float32 => parsed!(Float32Builder::with_capacity(n), |t: &str| parse_double(t).map(|v| v as f32)),
        DataType::Boolean => parsed!(BooleanBuilder::with_capacity(n), parse_boolean),
        DataType::Decimal128(p, s) => {
            parsed!(Decimal128Builder::with_capacity(n).with_precision_and_scale(*p, *s)?, |t: &str| parse_decimal(t, *p, *s))
        }
        // Athena's OpenCSVSerde reads DATE as days and TIMESTAMP as milliseconds since 1970.
        DataType::Date32 if strict => {
            parsed!(Date32Builder::with_capacity(n), |t: &str| parse_java_integer(t).and_then(|v| i32::try_from(v).ok()))
        }
        DataType::Timestamp(TimeUnit::Millisecond, None) if strict => {
            parsed!(TimestampMillisecondBuilder::with_capacity(n), parse_java_integer)
        }
        // LazySimpleSerDe: dates and timestamps as text, NULL when they do not parse.
        other => cast_with_options(texts, other, &CastOptions { safe: true, ..Default::default() })?,
    })
}

/// Undoes a text file's compression, chosen by its extension as Hive chooses it.
enum Decompressor {
    Plain,
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

/// Extensions of compressions Athena reads that this reader does not.
const UNSUPPORTED_COMPRESSION: [&str; 6] = [".bz2", ".snappy", ".lz4", ".deflate", ".lzo", ".br"];

impl Decompressor {
    fn for_file(location: &StorePath) -> DfResult<Self> {
        let name = location.as_ref().to_lowercase();
        Ok(if name.ends_with(".gz") || name.ends_with(".gzip") {
            Self::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new())))
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Self::Zstd(Box::new(zstd::stream::write::Decoder::new(Vec::new())?))
        } else {
            Self::Plain
        })
    }

    /// Appends what `chunk` decodes to onto `out`; `None` at the end of the file.
    fn push(&mut self, chunk: Option<&[u8]>, out: &mut Vec<u8>) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            Self::Plain => out.extend_from_slice(chunk.unwrap_or_default()),
            Self::Gzip(decoder) => {
                match chunk {
                    Some(chunk) => {
                        decoder.write_all(chunk)?;
                        decoder.flush()?;
                    }
                    None => decoder.try_finish()?,
                }
                out.append(decoder.get_mut());
            }
            Self::Zstd(decoder) => {
                if let Some(chunk) = chunk {
                    decoder.write_all(chunk)?;
                }
                decoder.flush()?;
                out.append(decoder.get_mut());
            }
        }
        Ok(())
    }
}

/// The rows of one file group, batch by batch.
struct GroupReader {
    store: Arc<dyn DfObjectStore>,
    files: std::vec::IntoIter<TextFile>,
    current: Option<(TextFile, u64)>,
    decompressor: Decompressor,
    buffer: Vec<u8>,
    /// Where the unread part of `buffer` starts.
    start: usize,
    /// How far `buffer` has been searched for a line break.
    searched: usize,
    at_end: bool,
    lines: u64,
    scan: Arc<ScanShape>,
    columns: Vec<StringBuilder>,
    rows: usize,
    fields: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct TextFile {
    pub location: StorePath,
    pub size: u64,
    pub partition_values: Vec<ScalarValue>,
}

/// What a scan reads and returns.
#[derive(Debug)]
struct ScanShape {
    layout: TextLayout,
    /// The declared columns (the file's) and their types.
    file_columns: Vec<(String, DataType)>,
    /// Per output column: a file column's index, or a partition value's index.
    output: Vec<Source>,
    /// How many fields of each line are needed.
    wanted: usize,
    schema: SchemaRef,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    File(usize),
    Partition(usize),
}

impl GroupReader {
    fn add_line(&mut self, range: Range<usize>) {
        self.lines += 1;
        if self.lines <= self.scan.layout.header_lines {
            return;
        }
        let mut line = &self.buffer[range];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        split_line(&self.scan.layout.serde, line, self.scan.wanted, &mut self.fields);
        let mut k = 0;
        for source in &self.scan.output {
            if let Source::File(i) = source {
                match self.fields.get(*i).and_then(|f| f.as_deref()) {
                    Some(value) => self.columns[k].append_value(value),
                    None => self.columns[k].append_null(),
                }
                k += 1;
            }
        }
        self.rows += 1;
    }

    fn finish_batch(&mut self) -> DfResult<RecordBatch> {
        let (file, _) = self.current.as_ref().expect("a batch belongs to a file");
        let mut texts = self.columns.iter_mut().map(|b| b.finish());
        let mut arrays = Vec::with_capacity(self.scan.output.len());
        for source in &self.scan.output {
            arrays.push(match source {
                Source::File(i) => {
                    let text = texts.next().expect("one builder per file column read");
                    let (name, data_type) = &self.scan.file_columns[*i];
                    typed_column(&self.scan.layout.serde, &text, data_type, name, *i)?
                }
                Source::Partition(i) => file.partition_values[*i].to_array_of_size(self.rows)?,
            });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        Ok(RecordBatch::try_new_with_options(self.scan.schema.clone(), arrays, &options)?)
    }

    async fn next_batch(&mut self) -> DfResult<Option<RecordBatch>> {
        loop {
            if self.current.is_none() {
                let Some(file) = self.files.next() else { return Ok(None) };
                self.decompressor = Decompressor::for_file(&file.location)?;
                self.current = Some((file, 0));
                self.buffer.clear();
                (self.start, self.searched, self.at_end, self.lines) = (0, 0, false, 0);
            }
            while self.rows < BATCH_ROWS {
                match self.buffer[self.searched..].iter().position(|&b| b == b'\n') {
                    Some(at) => {
                        let end = self.searched + at;
                        self.add_line(self.start..end);
                        self.start = end + 1;
                        self.searched = self.start;
                    }
                    None => {
                        self.searched = self.buffer.len();
                        break;
                    }
                }
            }
            if self.rows >= BATCH_ROWS {
                return self.finish_batch().map(Some);
            }
            if self.at_end {
                // A last line without a line break is still a line.
                if self.start < self.buffer.len() {
                    self.add_line(self.start..self.buffer.len());
                }
                let batch = if self.rows > 0 { Some(self.finish_batch()?) } else { None };
                self.current = None;
                if batch.is_some() {
                    return Ok(batch);
                }
                continue;
            }
            self.buffer.drain(..self.start);
            self.searched -= self.start;
            self.start = 0;
            let (file, offset) = self.current.as_mut().expect("a file is open");
            if *offset >= file.size {
                self.decompressor.push(None, &mut self.buffer).map_err(|e| read_error(file, e))?;
                self.at_end = true;
                continue;
            }
            let range: Range<u64> = *offset..(*offset + CHUNK_BYTES).min(file.size);
            let chunk = self.store.get_ranges(&file.location, &[range]).await?.into_iter().next().unwrap_or_default();
            if chunk.is_empty() {
                return Err(DataFusionError::Execution(format!("{}: ended at byte {} of {}", file.location, offset, file.size)));
            }
            *offset += chunk.len() as u64;
            self.decompressor.push(Some(&chunk), &mut self.buffer).map_err(|e| read_error(file, e))?;
        }
    }
}

fn read_error(file: &TextFile, error: std::io::Error) -> DataFusionError {
    DataFusionError::Execution(format!("{}: {error}", file.location))
}

/// Reads text files into batches of the table's columns.
#[derive(Debug)]
pub struct TextScanExec {
    scan: Arc<ScanShape>,
    groups: Vec<Vec<TextFile>>,
    url: ObjectStoreUrl,
    statistics: Arc<Statistics>,
    properties: Arc<PlanProperties>,
}

impl TextScanExec {
    /// `table_schema` is the declared columns then the partition keys; `projection`
    /// picks the output columns from it.
    pub fn new(
        layout: TextLayout,
        table_schema: SchemaRef,
        file_column_count: usize,
        projection: Option<&Vec<usize>>,
        groups: Vec<Vec<TextFile>>,
        url: ObjectStoreUrl,
        statistics: Statistics,
    ) -> DfResult<Self> {
        let file_columns: Vec<(String, DataType)> =
            table_schema.fields().iter().take(file_column_count).map(|f| (f.name().clone(), f.data_type().clone())).collect();
        for (name, data_type) in &file_columns {
            check_column_type(name, data_type).map_err(DataFusionError::Plan)?;
        }
        for file in groups.iter().flatten() {
            let name = file.location.as_ref().to_lowercase();
            if let Some(ext) = UNSUPPORTED_COMPRESSION.iter().find(|ext| name.ends_with(*ext)) {
                return Err(DataFusionError::Plan(format!(
                    "{}: {ext} compressed text files are not supported locally: recompress them with gzip or zstd, or convert the table to Parquet with CTAS",
                    file.location
                )));
            }
        }
        let indices: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..table_schema.fields().len()).collect());
        let output: Vec<Source> =
            indices.iter().map(|&i| if i < file_column_count { Source::File(i) } else { Source::Partition(i - file_column_count) }).collect();
        let schema = Arc::new(table_schema.project(&indices)?);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        let statistics = Arc::new(statistics.project(Some(&indices)));
        Ok(Self {
            scan: Arc::new(ScanShape { layout, wanted: file_column_count, file_columns, output, schema }),
            groups,
            url,
            statistics,
            properties: Arc::new(properties),
        })
    }
}

impl DisplayAs for TextScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let serde = match self.scan.layout.serde {
            Serde::LazySimple { .. } => "LazySimpleSerDe",
            Serde::OpenCsv { .. } => "OpenCSVSerde",
        };
        write!(f, "TextScanExec: serde={serde}, files={}", self.groups.iter().map(Vec::len).sum::<usize>())
    }
}

impl ExecutionPlan for TextScanExec {
    fn name(&self) -> &str {
        "TextScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn statistics_from_inputs(&self, _input_stats: &[Arc<Statistics>], args: &StatisticsArgs) -> DfResult<Arc<Statistics>> {
        Ok(match args.partition() {
            None => self.statistics.clone(),
            Some(_) => Arc::new(Statistics::new_unknown(&self.scan.schema)),
        })
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let store = context.runtime_env().object_store(&self.url)?;
        let files = self.groups.get(partition).cloned().unwrap_or_default();
        let builders = self.scan.output.iter().filter(|s| matches!(s, Source::File(_))).map(|_| StringBuilder::new()).collect();
        let reader = GroupReader {
            store,
            files: files.into_iter(),
            current: None,
            decompressor: Decompressor::Plain,
            buffer: Vec::new(),
            start: 0,
            searched: 0,
            at_end: false,
            lines: 0,
            scan: self.scan.clone(),
            columns: builders,
            rows: 0,
            fields: Vec::new(),
        };
        let stream = futures::stream::try_unfold(reader, |mut reader| async move {
            Ok(reader.next_batch().await?.map(|batch| (batch, reader)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.scan.schema.clone(), stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy() -> Serde {
        Serde::LazySimple { delimiter: b',', escape: None, null_format: "\\N".into() }
    }

    fn open_csv() -> Serde {
        Serde::OpenCsv { separator: ',', quote: '"', escape: '\\', null_for_invalid: false }
    }

    fn split(serde: &Serde, line: &str, wanted: usize) -> Vec<Option<String>> {
        let mut fields = Vec::new();
        split_line(serde, line.as_bytes(), wanted, &mut fields);
        fields
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn lazy_simple_splits_without_quotes() {
        assert_eq!(split(&lazy(), "a,b,c,d", 2), some(&["a", "b"]));
        assert_eq!(split(&lazy(), "\"Smith, J\",x", 3), some(&["\"Smith", " J\"", "x"]));
        assert_eq!(split(&lazy(), "a", 3), some(&["a"]));
        assert_eq!(split(&lazy(), ",\\N,", 3), vec![Some(String::new()), None, Some(String::new())]);
        assert_eq!(split(&lazy(), "", 2), some(&[""]));
        let escaped = Serde::LazySimple { delimiter: b',', escape: Some(b'\\'), null_format: "\\N".into() };
        assert_eq!(split(&escaped, "a\\,b,c", 2), some(&["a,b", "c"]));
    }

    #[test]
    fn open_csv_honours_quotes_and_escapes() {
        assert_eq!(split(&open_csv(), "\"Smith, J\",x", 3), some(&["Smith, J", "x"]));
        assert_eq!(split(&open_csv(), "\"say \"\"hi\"\"\",\\N", 2), some(&["say \"hi\"", "N"]));
        assert_eq!(split(&open_csv(), "\"a\\\"b\",c\\d", 2), some(&["a\"b", "cd"]));
        assert_eq!(split(&open_csv(), "a,b,c", 2), some(&["a", "b"]));
        assert_eq!(split(&open_csv(), "a,\"open", 2), vec![Some("a".into())]);
        assert_eq!(split(&open_csv(), "", 2), Vec::<Option<String>>::new());
        assert_eq!(split(&open_csv(), "a,,", 3), some(&["a", "", ""]));
    }

    #[test]
    fn numbers_as_hive_text_reads_them() {
        assert_eq!(parse_integer("42"), Some(42));
        assert_eq!(parse_integer("-7.9"), Some(-7));
        assert_eq!(parse_integer("+007"), Some(7));
        assert_eq!(parse_integer(" 5"), None);
        assert_eq!(parse_integer("x"), None);
        assert_eq!(parse_integer("1.x"), None);
        assert_eq!(parse_java_integer("1.5"), None);
        assert_eq!(parse_java_integer("-15"), Some(-15));
        assert_eq!(parse_decimal("1.005", 10, 2), Some(101));
        assert_eq!(parse_decimal("-1.005", 10, 2), Some(-101));
        assert_eq!(parse_decimal("12.3e1", 10, 1), Some(1230));
        assert_eq!(parse_decimal("123.4", 3, 1), None);
        assert_eq!(parse_decimal(".5", 3, 0), Some(1));
        assert_eq!(parse_double(" 2.5 "), Some(2.5));
        assert_eq!(parse_double("inf"), None);
    }

    #[test]
    fn gzip_and_zstd_files_decode_chunk_by_chunk() {
        use std::io::Write;
        let text = b"a,1\nb,2\n".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::stream::encode_all(&text[..], 1).unwrap();
        for (name, bytes) in [("t/x.csv.gz", gz), ("t/x.zst", zst)] {
            let mut decoder = Decompressor::for_file(&StorePath::from(name)).unwrap();
            let mut out = Vec::new();
            for chunk in bytes.chunks(7) {
                decoder.push(Some(chunk), &mut out).unwrap();
            }
            decoder.push(None, &mut out).unwrap();
            assert_eq!(out, text, "{name}");
        }
    }

    #[test]
    fn hive_characters() {
        assert_eq!(hive_char("\\t"), Some('\t'));
        assert_eq!(hive_char("\\001"), Some('\u{1}'));
        assert_eq!(hive_char("\\\\"), Some('\\'));
        assert_eq!(hive_char("\\"), Some('\\'));
        assert_eq!(hive_char("|"), Some('|'));
        assert_eq!(hive_char(""), None);
    }
}
