//! Writing a query's result into a table's location, as Athena's CTAS and
//! INSERT INTO do: Parquet files under the location, one folder per partition
//! (`k=v/`), partition columns taken from the last columns and not stored in
//! the files. Files are written whole before any catalog change names them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options, concat_batches, take};
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::catalog_table::NULL_PARTITION;
use super::ddl::{directory, partition_path};
use super::render;
use super::types::arrow_type;
use crate::capabilities::storage::ObjectStore;
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

/// Writes `batches` (already conformed: data columns then partition keys) under
/// `location`. Returns the partitions written to, and every key written so a
/// failed statement can remove them.
pub fn write_files(
    store: &dyn ObjectStore,
    location: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    partition_keys: &[Column],
    existing_locations: &BTreeMap<Vec<String>, String>,
    written: &mut Vec<(String, String)>,
) -> Result<Vec<WrittenPartition>, String> {
    let all = concat_batches(schema, batches).map_err(|e| e.to_string())?;
    if all.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let data_width = all.num_columns() - partition_keys.len();
    // Group row numbers by their partition values.
    let mut groups: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    for row in 0..all.num_rows() {
        let values = (data_width..all.num_columns())
            .map(|c| render::cell(all.column(c), row).unwrap_or_else(|| NULL_PARTITION.to_string()))
            .collect();
        groups.entry(values).or_default().push(row as u32);
    }
    let data_schema = Arc::new(Schema::new(all.schema().fields()[..data_width].to_vec()));
    let run = format!("{:016x}", rand::random::<u64>());
    let mut partitions = Vec::new();
    for (n, (values, rows)) in groups.into_iter().enumerate() {
        let indices = UInt32Array::from(rows);
        let columns: Vec<ArrayRef> = all.columns()[..data_width]
            .iter()
            .map(|c| take(c, &indices, None).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let part = RecordBatch::try_new(data_schema.clone(), columns).map_err(|e| e.to_string())?;
        let folder = match existing_locations.get(&values) {
            Some(existing) => directory(existing),
            None => format!("{}{}", directory(location), partition_path(partition_keys, &values)),
        };
        let (bucket, prefix) = parse_location(&folder)?;
        let key = format!("{prefix}{run}_{n:05}.parquet");
        store.put(&bucket, &key, &parquet_bytes(&part)?).map_err(|e| e.message)?;
        written.push((bucket.clone(), key.clone()));
        partitions.push(WrittenPartition { values, location: folder, keys: vec![(bucket, key)] });
    }
    Ok(partitions)
}

fn parquet_bytes(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties)).map_err(|e| e.to_string())?;
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(buffer)
}

/// Best-effort removal of files a failed statement wrote.
pub fn remove(store: &dyn ObjectStore, written: &[(String, String)]) {
    for (bucket, key) in written {
        let _ = store.delete(bucket, key);
    }
}
