//! Writing a query's result into a table's location, as Athena's CTAS and
//! INSERT INTO do: Parquet files under the location, one folder per partition
//! (`k=v/`), partition columns taken from the last columns and not stored in
//! the files. Files are written whole before any catalog change names them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options, take};
use arrow::datatypes::{Field, Schema, SchemaRef};
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
        let cast = cast_with_options(array, &data_type, &options)
            .map_err(|e| format!("column {} ({}): {e}", column.name, column.data_type))?;
        fields.push(Field::new(&column.name, data_type, true));
        arrays.push(cast);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
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
