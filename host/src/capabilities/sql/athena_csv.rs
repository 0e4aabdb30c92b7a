//! A finished Athena query's result object, read in ranged chunks and parsed into
//! Arrow batches as it goes, so a large result needs neither a GetQueryResults
//! call per 1,000 rows nor all of its rows in memory. Athena writes the object as
//! CSV: a header row, every value quoted (`""` inside for a quote), NULL as an
//! empty unquoted field, rows ending in `\n`; values may hold newlines.

use arrow::array::RecordBatch;

use super::BatchStream;
use crate::capabilities::storage::ObjectStore;
use crate::capabilities::{CapResult, CapabilityError};

/// Bytes per ranged read.
const CHUNK_BYTES: u64 = 8 << 20;
/// Rows per batch handed on.
const BATCH_ROWS: usize = 8192;

/// Turns rows of text cells into a typed batch.
pub type Typer = Box<dyn Fn(&[Vec<Option<String>>]) -> CapResult<RecordBatch> + Send>;

pub struct CsvResult {
    store: Box<dyn ObjectStore>,
    bucket: String,
    key: String,
    size: u64,
    offset: u64,
    buffer: Vec<u8>,
    header_skipped: bool,
    schema: arrow::datatypes::SchemaRef,
    typer: Typer,
}

impl CsvResult {
    /// `store` reads `bucket` as the real bucket; `typer` builds batches of `schema`.
    pub fn open(store: Box<dyn ObjectStore>, bucket: String, key: String, schema: arrow::datatypes::SchemaRef, typer: Typer) -> CapResult<Self> {
        let size = store.head(&bucket, &key)?.size;
        Ok(Self { store, bucket, key, size, offset: 0, buffer: Vec::new(), header_skipped: false, schema, typer })
    }

    /// Reads the next chunk onto the buffer; false at the end of the object.
    fn fill(&mut self) -> CapResult<bool> {
        if self.offset >= self.size {
            return Ok(false);
        }
        let length = CHUNK_BYTES.min(self.size - self.offset);
        let chunk = self.store.get_range(&self.bucket, &self.key, self.offset, length)?;
        if chunk.is_empty() {
            return Err(CapabilityError::unavailable(format!("s3://{}/{}: ended at byte {} of {}", self.bucket, self.key, self.offset, self.size)));
        }
        self.offset += chunk.len() as u64;
        self.buffer.extend_from_slice(&chunk);
        Ok(true)
    }
}

impl BatchStream for CsvResult {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> CapResult<Option<RecordBatch>> {
        let mut rows = Vec::new();
        let mut at = 0;
        while rows.len() < BATCH_ROWS {
            let at_end = self.offset >= self.size;
            match parse_row(&self.buffer[at..], at_end).map_err(|e| {
                CapabilityError::internal(format!("athena result s3://{}/{}: {e}", self.bucket, self.key))
            })? {
                Some((row, used)) => {
                    at += used;
                    if self.header_skipped {
                        rows.push(row);
                    } else {
                        self.header_skipped = true;
                    }
                }
                None if at_end => break,
                None => {
                    self.buffer.drain(..at);
                    at = 0;
                    self.fill()?;
                }
            }
        }
        self.buffer.drain(..at);
        if rows.is_empty() {
            return Ok(None);
        }
        (self.typer)(&rows).map(Some)
    }
}

/// One row from the start of `bytes` and the bytes it took; `None` when the row is
/// not complete yet (or `bytes` is empty), unless `at_end` says no more will come.
fn parse_row(bytes: &[u8], at_end: bool) -> Result<Option<(Vec<Option<String>>, usize)>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut cells = Vec::new();
    let mut i = 0;
    loop {
        let cell = if bytes.get(i) == Some(&b'"') {
            let mut value = Vec::new();
            let mut j = i + 1;
            loop {
                match bytes.get(j) {
                    None => return if at_end { Err("a quoted value runs to the end".into()) } else { Ok(None) },
                    Some(b'"') if bytes.get(j + 1) == Some(&b'"') => {
                        value.push(b'"');
                        j += 2;
                    }
                    Some(b'"') if j + 1 == bytes.len() && !at_end => return Ok(None),
                    Some(b'"') => break,
                    Some(&b) => {
                        value.push(b);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            Some(String::from_utf8(value).map_err(|_| "a value is not UTF-8")?)
        } else {
            let end = bytes[i..].iter().position(|&b| b == b',' || b == b'\n').map_or(bytes.len(), |p| i + p);
            if end == bytes.len() && !at_end {
                return Ok(None);
            }
            let text = std::str::from_utf8(&bytes[i..end]).map_err(|_| "a value is not UTF-8")?.trim_end_matches('\r');
            i = end;
            (!text.is_empty()).then(|| text.to_string())
        };
        cells.push(cell);
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b'\n') => return Ok(Some((cells, i + 1))),
            Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => return Ok(Some((cells, i + 2))),
            Some(b'\r') if i + 1 == bytes.len() && !at_end => return Ok(None),
            None if at_end => return Ok(Some((cells, i))),
            None => return Ok(None),
            Some(&other) => return Err(format!("unexpected '{}' after a quoted value", other as char)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_row;

    fn all(text: &str) -> Vec<Vec<Option<String>>> {
        let mut rows = Vec::new();
        let mut bytes = text.as_bytes();
        while let Some((row, used)) = parse_row(bytes, true).unwrap() {
            rows.push(row);
            bytes = &bytes[used..];
        }
        rows
    }

    #[test]
    fn quoted_values_empty_strings_nulls_and_newlines() {
        let rows = all("\"a\",\"b\",\"c\"\n\"x, \"\"y\"\"\",,\"\"\n\"two\nlines\",\"1\",\"2.5\"\n");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(rows, vec![vec![s("a"), s("b"), s("c")], vec![s("x, \"y\""), None, s("")], vec![s("two\nlines"), s("1"), s("2.5")]]);
    }

    #[test]
    fn a_row_cut_by_the_chunk_waits_for_more() {
        for cut in ["\"ab", "\"ab\"", "\"ab\",", "\"ab\",\"c\"", "\"a\"\"", "plain"] {
            assert_eq!(parse_row(cut.as_bytes(), false).unwrap(), None, "{cut}");
        }
        assert!(parse_row(b"\"open", true).is_err());
        assert_eq!(parse_row(b"\"last\"", true).unwrap().unwrap().0, vec![Some("last".to_string())]);
    }
}
