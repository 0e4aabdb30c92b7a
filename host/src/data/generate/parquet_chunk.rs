//! One row group's column chunks for the generator's fixed schema: values
//! encoded by [`encodings`](super::encodings), framed into pages and column
//! metadata by the parquet crate, ready to append to the week's file.
//!
//! Per column (one dictionary page at most, then one version 1 data page):
//! - integers: DELTA_BINARY_PACKED, uncompressed. Small counts take the bits
//!   they need and mostly-zero stretches about a byte per 32 rows. With Arrow's
//!   writer, zstd on top made the file 6% smaller and the writer 30% slower
//!   (`bench/results/generate-parts.txt`, 2026-12-06);
//! - floats: PLAIN, zstd level 1: 79 MB of doubles per 1M rows become 25 MB.
//!   Level -1 is no faster here, snappy twice as fast but 33 MB;
//! - categorical text: a dictionary of the chunk's values, then bit-packed indices;
//! - `user_id`: DELTA_BYTE_ARRAY (consecutive ids share all but their last digits);
//! - the snapshot date: DELTA_BINARY_PACKED (one value repeated);
//! - min/max statistics for the keys only: users are drawn independently, so
//!   every row group spans about the whole range of every feature and feature
//!   statistics would never let a reader skip one.

use std::fs::File;

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use rustc_hash::FxHashMap;

use super::columns::{Categories, Floats, Ints, Validity, write_user_id};
use super::encodings;

const FLOAT_ZSTD_LEVEL: i32 = 1;

/// One column of one row group, encoded and closed.
pub struct ColumnChunk {
    bytes: Bytes,
    close: ColumnCloseResult,
}

impl ColumnChunk {
    /// Appends the chunk as the next column of `row_group`.
    pub fn append_to(self, row_group: &mut SerializedRowGroupWriter<'_, File>) -> Result<()> {
        row_group.append_column(&self.bytes, self.close).context("appending a column chunk")
    }
}

/// A data page's values, before framing.
struct DataPage {
    rows: usize,
    /// Definition levels (optional columns) followed by the values.
    buf: Vec<u8>,
    encoding: Encoding,
    compression: Compression,
}

/// A data page's buffer, begun with the definition levels of an optional
/// column; none for a required one, which must then have every row.
fn start_page(descr: &ColumnDescPtr, validity: &Validity) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if descr.max_def_level() > 0 {
        encodings::definition_levels(&mut buf, validity.len(), validity.bitmap());
    } else {
        ensure!(validity.bitmap().is_none(), "column {} is required but has missing values", descr.name());
    }
    Ok(buf)
}

/// Encodes column chunks, reusing its scratch buffers and compressor from chunk to chunk.
pub struct ChunkWriter {
    ids: Vec<u8>,
    id_offsets: Vec<usize>,
    present_ints: Vec<i64>,
    present_floats: Vec<f64>,
    present_texts: Vec<&'static str>,
    /// A categorical column's dictionary: each static string's address and length, and its index.
    dictionary_index: FxHashMap<(usize, usize), u32>,
    dictionary: Vec<&'static str>,
    indices: Vec<u32>,
    zstd: zstd::bulk::Compressor<'static>,
}

impl ChunkWriter {
    pub fn new() -> Result<Self> {
        Ok(Self {
            ids: Vec::new(),
            id_offsets: Vec::new(),
            present_ints: Vec::new(),
            present_floats: Vec::new(),
            present_texts: Vec::new(),
            dictionary_index: FxHashMap::default(),
            dictionary: Vec::new(),
            indices: Vec::new(),
            zstd: zstd::bulk::Compressor::new(FLOAT_ZSTD_LEVEL).context("starting zstd")?,
        })
    }

    /// An integer column.
    pub fn ints(&mut self, descr: &ColumnDescPtr, column: &Ints) -> Result<ColumnChunk> {
        let (rows, mut buf) = (column.validity.len(), start_page(descr, &column.validity)?);
        encodings::delta_binary_packed(&mut buf, column.present(&mut self.present_ints));
        let page = DataPage { rows, buf, encoding: Encoding::DELTA_BINARY_PACKED, compression: Compression::UNCOMPRESSED };
        self.close(descr, None, page, None)
    }

    /// A double column.
    pub fn floats(&mut self, descr: &ColumnDescPtr, column: &Floats) -> Result<ColumnChunk> {
        let (rows, mut buf) = (column.validity.len(), start_page(descr, &column.validity)?);
        encodings::plain_doubles(&mut buf, column.present(&mut self.present_floats).iter().copied());
        let zstd = Compression::ZSTD(ZstdLevel::try_new(FLOAT_ZSTD_LEVEL)?);
        let page = DataPage { rows, buf, encoding: Encoding::PLAIN, compression: zstd };
        self.close(descr, None, page, None)
    }

    /// A text column of a few distinct static strings, dictionary-encoded.
    pub fn categories(&mut self, descr: &ColumnDescPtr, column: &Categories) -> Result<ColumnChunk> {
        let rows = column.validity.len();
        self.dictionary_index.clear();
        self.dictionary.clear();
        self.indices.clear();
        for value in column.present(&mut self.present_texts) {
            // The same category is the same static string: its address and
            // length identify it without hashing its text. (A string seen at
            // two addresses only costs a second dictionary entry.)
            let next = self.dictionary.len() as u32;
            let index = *self.dictionary_index.entry((value.as_ptr() as usize, value.len())).or_insert(next);
            if index == next {
                self.dictionary.push(value);
            }
            self.indices.push(index);
        }
        let mut dictionary = Vec::new();
        encodings::plain_byte_arrays(&mut dictionary, self.dictionary.iter().map(|v| v.as_bytes()));
        let mut buf = start_page(descr, &column.validity)?;
        encodings::dictionary_indices(&mut buf, &self.indices, self.dictionary.len());
        let page = DataPage { rows, buf, encoding: Encoding::RLE_DICTIONARY, compression: Compression::UNCOMPRESSED };
        self.close(descr, Some((dictionary, self.dictionary.len())), page, None)
    }

    /// The required `user_id` column of users `first..first + rows`, with its min/max.
    pub fn user_ids(&mut self, descr: &ColumnDescPtr, first: u64, rows: usize) -> Result<ColumnChunk> {
        ensure!(rows > 0, "a row group needs rows");
        self.ids.clear();
        self.id_offsets.clear();
        self.id_offsets.push(0);
        for index in first..first + rows as u64 {
            write_user_id(&mut self.ids, index);
            self.id_offsets.push(self.ids.len());
        }
        let ids = || self.id_offsets.windows(2).map(|w| &self.ids[w[0]..w[1]]);
        // Past a billion users the ids grow a digit and stop sorting in user order.
        let (min, max) = (ids().min().unwrap_or_default(), ids().max().unwrap_or_default());
        let statistics = ValueStatistics::new(Some(ByteArray::from(min.to_vec())), Some(ByteArray::from(max.to_vec())), None, Some(0), false);
        let mut buf = Vec::new();
        encodings::delta_byte_arrays(&mut buf, ids());
        let page = DataPage { rows, buf, encoding: Encoding::DELTA_BYTE_ARRAY, compression: Compression::UNCOMPRESSED };
        self.close(descr, None, page, Some(Statistics::from(statistics)))
    }

    /// The required snapshot date (days since the epoch), the same in every row.
    pub fn constant_date(&mut self, descr: &ColumnDescPtr, days: i32, rows: usize) -> Result<ColumnChunk> {
        let mut buf = Vec::new();
        encodings::delta_binary_packed(&mut buf, &vec![days; rows]);
        let statistics = ValueStatistics::new(Some(days), Some(days), None, Some(0), false).with_backwards_compatible_min_max(true);
        let page = DataPage { rows, buf, encoding: Encoding::DELTA_BINARY_PACKED, compression: Compression::UNCOMPRESSED };
        self.close(descr, None, page, Some(Statistics::from(statistics)))
    }

    /// Frames the pages (compressing the data page if asked) and builds the
    /// column chunk's metadata, with offsets relative to its own bytes.
    fn close(
        &mut self,
        descr: &ColumnDescPtr,
        dictionary: Option<(Vec<u8>, usize)>,
        page: DataPage,
        statistics: Option<Statistics>,
    ) -> Result<ColumnChunk> {
        let mut sink = TrackedWrite::new(Vec::with_capacity(page.buf.len() + 1024));
        let mut writer = SerializedPageWriter::new(&mut sink);
        let (mut compressed_size, mut uncompressed_size) = (0, 0);
        let mut encodings = vec![page.encoding, Encoding::RLE];
        let mut dictionary_offset = None;
        if let Some((buf, entries)) = dictionary {
            let len = buf.len();
            let dictionary_page = Page::DictionaryPage { buf: buf.into(), num_values: entries as u32, encoding: Encoding::PLAIN, is_sorted: false };
            let spec = writer.write_page(CompressedPage::new(dictionary_page, len))?;
            dictionary_offset = Some(spec.offset as i64);
            compressed_size += spec.compressed_size;
            uncompressed_size += spec.uncompressed_size;
            encodings.push(Encoding::PLAIN);
        }
        let plain_len = page.buf.len();
        let buf = match page.compression {
            Compression::ZSTD(_) => {
                Bytes::from(self.zstd.compress(&page.buf).context("compressing a page with zstd")?)
            }
            _ => Bytes::from(page.buf),
        };
        let data_page = Page::DataPage {
            buf,
            num_values: page.rows as u32,
            encoding: page.encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec = writer.write_page(CompressedPage::new(data_page, plain_len))?;
        writer.close()?;
        compressed_size += spec.compressed_size;
        uncompressed_size += spec.uncompressed_size;
        let mut metadata = ColumnChunkMetaData::builder(descr.clone())
            .set_compression(page.compression)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_total_compressed_size(compressed_size as i64)
            .set_total_uncompressed_size(uncompressed_size as i64)
            .set_num_values(page.rows as i64)
            .set_data_page_offset(spec.offset as i64)
            .set_dictionary_page_offset(dictionary_offset);
        if let Some(statistics) = statistics {
            metadata = metadata.set_statistics(statistics);
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: page.rows as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok(ColumnChunk { bytes, close })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::data::generate::columns::ColumnBuf;

    /// Writes one column chunk as a one-column file and reads it back with the
    /// parquet crate's own reader.
    fn round_trip(field: Field, encode: impl FnOnce(&mut ChunkWriter, &ColumnDescPtr) -> Result<ColumnChunk>) -> ArrayRef {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.parquet");
        let schema = Arc::new(Schema::new(vec![field]));
        let (mut file, _) = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap().into_serialized_writer().unwrap();
        let descr = file.schema_descr().column(0);
        let chunk = encode(&mut ChunkWriter::new().unwrap(), &descr).unwrap();
        let mut group = file.next_row_group().unwrap();
        chunk.append_to(&mut group).unwrap();
        group.close().unwrap();
        file.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap().build().unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        batch.column(0).clone()
    }

    fn column(cells: &[Option<i64>]) -> Ints {
        let mut column = Ints::with_capacity(cells.len());
        column.extend(cells.iter().copied());
        column
    }

    fn ints(cells: &[Option<i64>], nullable: bool) -> ArrayRef {
        round_trip(Field::new("n", DataType::Int64, nullable), |w, d| w.ints(d, &column(cells)))
    }

    #[test]
    fn integers_read_back_exactly_at_every_width_and_gap() {
        let cases: Vec<Vec<Option<i64>>> = vec![
            vec![Some(0)],
            vec![None],
            vec![Some(5), None, Some(7)],
            (0..1000).map(|i| Some(i % 3)).collect(),
            (0..1000).map(|i| (i % 5 != 0).then_some(i * i)).collect(),
            (0..300).map(|i| Some(if i == 150 { 1 << 40 } else { 0 })).collect(),
            (0..257).map(|i| if i % 2 == 0 { Some(i64::MIN) } else { Some(i64::MAX) }).collect(),
            (0..129).map(|i| Some(-i * 1_000_003)).collect(),
            vec![None; 100],
            (0..65_536).map(|i| (i % 97 != 0).then_some((i * 7919) % 1013)).collect(),
        ];
        for cells in cases {
            let expected = Int64Array::from(cells.clone());
            let read = ints(&cells, true);
            assert_eq!(read.as_any().downcast_ref::<Int64Array>().unwrap(), &expected, "{} cells", cells.len());
            // A required column has no definition levels.
            if expected.null_count() == 0 {
                let read = ints(&cells, false);
                assert_eq!(read.as_any().downcast_ref::<Int64Array>().unwrap(), &expected, "{} required cells", cells.len());
            }
        }
    }

    #[test]
    fn a_required_column_with_a_missing_value_is_refused_by_name() {
        let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let descr = ArrowSchemaConverter::new().convert(&schema).unwrap().column(0);
        let error = ChunkWriter::new().unwrap().ints(&descr, &column(&[Some(1), None])).err().unwrap().to_string();
        assert!(error.contains("column n is required"), "{error}");
    }

    #[test]
    fn floats_read_back_exactly() {
        let cells: Vec<Option<f64>> = (0..5000).map(|i| (i % 11 != 0).then_some(i as f64 * 0.01 - 3.0)).collect();
        let mut column = Floats::with_capacity(8);
        column.extend(cells.iter().copied());
        let read = round_trip(Field::new("x", DataType::Float64, true), |w, d| w.floats(d, &column));
        assert_eq!(read.as_any().downcast_ref::<Float64Array>().unwrap(), &Float64Array::from(cells));
    }

    #[test]
    fn categories_read_back_through_their_dictionary() {
        const VALUES: [&str; 3] = ["pro", "free", "enterprise"];
        let gaps: Vec<Option<&'static str>> = (0..1001).map(|i| (i % 13 != 0).then_some(VALUES[(i * i) % 3])).collect();
        let full: Vec<Option<&'static str>> = (0..77).map(|i| Some(VALUES[i % 2])).collect();
        for (cells, nullable) in [(gaps, true), (full.clone(), true), (full, false), (vec![None; 9], true)] {
            let mut column = Categories::with_capacity(8);
            column.extend(cells.iter().copied());
            let read = round_trip(Field::new("plan", DataType::Utf8, nullable), |w, d| w.categories(d, &column));
            assert_eq!(read.as_any().downcast_ref::<StringArray>().unwrap(), &StringArray::from(cells));
        }
    }

    #[test]
    fn user_ids_and_the_date_read_back_with_their_ranges() {
        let first = 999_999_990;
        let read = round_trip(Field::new("user_id", DataType::Utf8, false), |w, d| w.user_ids(d, first, 300));
        let expected: Vec<String> = (first..first + 300).map(|i| format!("u{i:09}")).collect();
        assert_eq!(read.as_any().downcast_ref::<StringArray>().unwrap(), &StringArray::from(expected));
        let read = round_trip(Field::new("snapshot_date", DataType::Date32, false), |w, d| w.constant_date(d, 20_000, 1000));
        assert_eq!(read.as_any().downcast_ref::<Date32Array>().unwrap(), &Date32Array::from(vec![20_000; 1000]));
    }
}
