//! Parquet output shared by the generator and ingest: the writer settings, and
//! an adapter that streams a Parquet file into an object-store write.

use std::io::{self, Write};

use arrow::datatypes::{DataType, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::capabilities::storage::{ObjectInfo, ObjectWriter};
use crate::capabilities::CapResult;

/// Settings chosen for write speed on one core: no dictionaries for numbers
/// (most are high-cardinality), delta-packed integers and dates, light zstd;
/// dictionaries only for categorical strings, where they pay. `user_id` is
/// unique per row, so it gets none either.
pub fn writer_properties(schema: &SchemaRef, rows_per_group: usize) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")))
        .set_max_row_group_row_count(Some(rows_per_group.max(1)))
        .set_dictionary_enabled(false);
    for field in schema.fields() {
        let path = ColumnPath::from(field.name().as_str());
        props = match field.data_type() {
            DataType::Int64 | DataType::Date32 => props.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
            DataType::Utf8 if field.name() != crate::data::schema::USER_ID => {
                props.set_column_dictionary_enabled(path, true)
            }
            _ => props,
        };
    }
    props.build()
}

/// `std::io::Write` over an object-store writer, so `ArrowWriter` can stream
/// into storage. Nothing is visible until [`StoreSink::finish`].
pub struct StoreSink(Box<dyn ObjectWriter>);

impl StoreSink {
    pub fn new(writer: Box<dyn ObjectWriter>) -> Self {
        Self(writer)
    }

    pub fn finish(self) -> CapResult<ObjectInfo> {
        self.0.finish()
    }
}

impl Write for StoreSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(|e| io::Error::other(e.message))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
