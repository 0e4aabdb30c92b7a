//! Writing a query's result into a table's location, as Athena's CTAS and
//! INSERT INTO do: Parquet files under the location, one folder per partition
//! (`k=v/`), partition columns taken from the last columns and not stored in
//! the files. Files are written whole before any catalog change names them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;

use super::catalog_table::NULL_PARTITION;
use super::ddl::{directory, partition_path};
use super::render;
use super::types::arrow_type;
use crate::capabilities::sql::BatchStream;
use crate::capabilities::storage::ObjectStore;
use crate::data::parquet::{StoreSink, writer_properties};
use crate::catalog::{Column, parse_location};

/// Files written for one partition (or the whole table when unpartitioned).
pub struct WrittenPartition {
    pub values: Vec<String>,
    pub location: String,
    pub keys: Vec<(String, String)>,
}

/// Casts the result's columns, by position, to the catalog columns' types.
pub fn conform(batch: &RecordBatch, columns: &[Column]) -> Result<RecordBatch, String> {
    if batch.num_columns() != columns.len() {
        return Err(format!(
            "the query returns {} columns, the table has {}",
            batch.num_columns(),
            columns.len()
        ));
    }
    let options = CastOptions { safe: false, ..Default::default() };
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (array, column) in batch.columns().iter().zip(columns) {
        let data_type = arrow_type(&column.data_type)?;
        if !coerces(array.data_type(), &data_type) {
            return Err(format!(
                "Insert query has mismatched column types: column {} is {}, the query gives {}; Athena does not convert \
                 these implicitly, so say how with CAST (CAST of a double to an integer rounds)",
                column.name,
                column.data_type,
                super::types::athena_type(array.data_type()).unwrap_or_else(|_| array.data_type().to_string())
            ));
        }
        let cast = cast_with_options(array, &data_type, &options)
            .map_err(|e| format!("column {} ({}): {e}", column.name, column.data_type))?;
        fields.push(Field::new(&column.name, data_type, true));
        arrays.push(cast);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

/// Whether Athena stores a query's `from` values in a `to` column without an explicit CAST. Integers
/// widen, integers become decimals or doubles, decimals become doubles; anything into a string
/// column, a string into any other, and a fraction into an integer (or a double into a decimal)
/// are refused, as Trino refuses them. A narrower integer is let through too (Trino would refuse a
/// bigint into an integer column); a value that does not fit still fails the cast.
fn coerces(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let integer = |t: &DataType| t.is_integer();
    let fraction = |t: &DataType| t.is_floating() || matches!(t, Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..));
    let scale = |t: &DataType| match t {
        Decimal32(_, s) | Decimal64(_, s) | Decimal128(_, s) | Decimal256(_, s) => Some(*s),
        _ => None,
    };
    let from = match from {
        Dictionary(_, values) => values.as_ref(),
        other => other,
    };
    match (from, to) {
        (Null, _) => true,
        (f, t) if text(f) || text(t) => text(f) && text(t),
        (f, t) if fraction(f) && integer(t) => false,
        (f, t) if f.is_floating() && scale(t).is_some() => false,
        (f, t) => match (scale(f), scale(t)) {
            (Some(from_scale), Some(to_scale)) => from_scale <= to_scale,
            _ => true,
        },
    }
}

/// Rows per Parquet row group: bounds what one open file buffers in memory
/// (a 75-column table holds about 80 MB per open partition at most).
const ROWS_PER_GROUP: usize = 131_072;

/// One partition's file being written.
struct OpenFile {
    writer: ArrowWriter<StoreSink>,
    bucket: String,
    key: String,
    location: String,
}

/// Streams `batches` under `location`, conforming each to `columns` (data
/// columns then partition keys), one file per partition written as rows arrive,
/// so a result larger than memory can be written. Returns the partitions written
/// to and the row count; every finished file's key goes into `written` so a
/// failed statement can remove them (unfinished files never become visible).
pub fn write_stream(
    store: &dyn ObjectStore,
    location: &str,
    batches: &mut dyn BatchStream,
    columns: &[Column],
    partition_keys: &[Column],
    existing_locations: &BTreeMap<Vec<String>, String>,
    written: &mut Vec<(String, String)>,
) -> Result<(Vec<WrittenPartition>, u64), String> {
    let run = format!("{:016x}", rand::random::<u64>());
    let mut open: BTreeMap<Vec<String>, OpenFile> = BTreeMap::new();
    let mut rows = 0u64;
    while let Some(batch) = batches.next_batch().map_err(|e| e.message)? {
        if batch.num_rows() == 0 {
            continue;
        }
        let batch = conform(&batch, columns)?;
        rows += batch.num_rows() as u64;
        let data_width = batch.num_columns() - partition_keys.len();
        // Group row numbers by their partition values.
        let mut groups: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let values = (data_width..batch.num_columns())
                .map(|c| render::cell(batch.column(c), row).unwrap_or_else(|| NULL_PARTITION.to_string()))
                .collect();
            groups.entry(values).or_default().push(row as u32);
        }
        let data_schema: SchemaRef = Arc::new(Schema::new(batch.schema().fields()[..data_width].to_vec()));
        for (values, group) in groups {
            let part = if group.len() == batch.num_rows() {
                RecordBatch::try_new(data_schema.clone(), batch.columns()[..data_width].to_vec()).map_err(|e| e.to_string())?
            } else {
                let indices = UInt32Array::from(group);
                let columns: Vec<ArrayRef> = batch.columns()[..data_width]
                    .iter()
                    .map(|c| take(c, &indices, None).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
                RecordBatch::try_new(data_schema.clone(), columns).map_err(|e| e.to_string())?
            };
            let n = open.len();
            let file = match open.entry(values) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let folder = match existing_locations.get(entry.key()) {
                        Some(existing) => directory(existing),
                        None => format!("{}{}", directory(location), partition_path(partition_keys, entry.key())),
                    };
                    let (bucket, prefix) = parse_location(&folder)?;
                    let key = format!("{prefix}{run}_{n:05}.parquet");
                    let sink = StoreSink::new(store.open_writer(&bucket, &key).map_err(|e| e.message)?);
                    // The engine's own encodings: dictionaries for text only (trying one on every float column
                    // costs more than it saves), delta for integers and dates.
                    let properties = writer_properties(&data_schema, ROWS_PER_GROUP);
                    let writer = ArrowWriter::try_new(sink, data_schema.clone(), Some(properties)).map_err(|e| e.to_string())?;
                    entry.insert(OpenFile { writer, bucket, key, location: folder })
                }
            };
            file.writer.write(&part).map_err(|e| e.to_string())?;
        }
    }
    let mut partitions = Vec::new();
    for (values, file) in open {
        let sink = file.writer.into_inner().map_err(|e| e.to_string())?;
        sink.finish().map_err(|e| e.message)?;
        written.push((file.bucket.clone(), file.key.clone()));
        partitions.push(WrittenPartition { values, location: file.location, keys: vec![(file.bucket, file.key)] });
    }
    Ok((partitions, rows))
}

/// Best-effort removal of files a failed statement wrote.
pub fn remove(store: &dyn ObjectStore, written: &[(String, String)]) {
    for (bucket, key) in written {
        let _ = store.delete(bucket, key);
    }
}
