//! Making an ingest visible: the catalog entry is the switch. New partition
//! files already sit under a fresh `ingest=<id>/` prefix; one catalog put points
//! the partitions at them; only then are the replaced partitions' files deleted.
//! A reader going through the catalog sees the old snapshot or the new one,
//! never both and never a mix.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::capabilities::storage::ObjectStore;
use crate::catalog::{Catalog, Column, Partition, TableDef, TableFormat, parse_location};
use crate::data::schema::{FEATURES, LABEL, USER_ID};

pub const PROCESSED_BUCKET: &str = "processed";
/// Table property holding the row count of a partition: `rows.snapshot_date=2026-11-22`.
pub const ROWS_PROPERTY_PREFIX: &str = "rows.";

pub fn table_location(table: &str) -> String {
    format!("s3://{PROCESSED_BUCKET}/{table}/")
}

/// The catalog columns of a snapshot table (snapshot_date is the partition key).
pub fn snapshot_columns() -> Vec<Column> {
    let mut columns = vec![Column { name: USER_ID.into(), data_type: "string".into(), comment: None }];
    columns.extend(FEATURES.iter().map(|c| Column {
        name: c.name.into(),
        data_type: c.rule.athena_type().into(),
        comment: Some(c.group.into()),
    }));
    columns.push(Column {
        name: LABEL.into(),
        data_type: "bigint".into(),
        comment: Some("label: 1 if engaged in the 7 days after the snapshot; empty in the snapshot to score".into()),
    });
    columns
}

/// A table partitioned by one key, registered or updated with new partitions.
pub struct PartitionUpdate {
    pub table: String,
    pub columns: Vec<Column>,
    pub key: Column,
    /// (partition value, location, row count)
    pub partitions: Vec<(String, String, u64)>,
    pub comment: String,
}

/// Puts the table with its new partitions; returns the locations of the
/// partitions it replaced (to delete once the put has succeeded).
pub fn register(catalog: &dyn Catalog, database: &str, ingest_id: &str, update: PartitionUpdate) -> Result<Vec<(String, String)>> {
    let existing = catalog
        .table(database, &update.table)
        .with_context(|| format!("reading catalog entry {database}.{}", update.table))?;
    let mut table = existing.unwrap_or_else(|| TableDef {
        database: database.to_string(),
        name: update.table.clone(),
        location: table_location(&update.table),
        format: TableFormat::Parquet,
        columns: Vec::new(),
        partition_keys: Vec::new(),
        partitions: Vec::new(),
        properties: BTreeMap::new(),
    });
    table.format = TableFormat::Parquet;
    table.columns = update.columns;
    table.partition_keys = vec![update.key.clone()];
    table.properties.insert("classification".into(), "parquet".into());
    table.properties.insert("comment".into(), update.comment);
    table.properties.insert("last_ingest".into(), ingest_id.to_string());
    let mut replaced = Vec::new();
    for (value, location, rows) in update.partitions {
        if let Some(old) = table.partitions.iter_mut().find(|p| p.values == [value.clone()]) {
            if old.location != location {
                replaced.push((value.clone(), std::mem::replace(&mut old.location, location)));
            }
        } else {
            table.partitions.push(Partition { values: vec![value.clone()], location });
        }
        table.properties.insert(format!("{ROWS_PROPERTY_PREFIX}{}={value}", update.key.name), rows.to_string());
    }
    table.partitions.sort_by(|a, b| a.values.cmp(&b.values));
    catalog.put_table(&table).with_context(|| format!("registering {database}.{} in the catalog", update.table))?;
    Ok(replaced)
}

/// Deletes every object under a replaced partition's location.
pub fn delete_location(store: &dyn ObjectStore, location: &str) -> Result<usize> {
    let (bucket, prefix) = parse_location(location).map_err(anyhow::Error::msg)?;
    // A partition lives under its table's prefix; never clear a whole bucket.
    if !prefix.trim_end_matches('/').contains('/') {
        anyhow::bail!("refusing to delete {location}: not a partition location");
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix } else { format!("{prefix}/") };
    let objects = store.list_all(&bucket, &prefix).with_context(|| format!("listing {location}"))?;
    for object in &objects {
        store.delete(&bucket, &object.key).with_context(|| format!("deleting {bucket}/{}", object.key))?;
    }
    Ok(objects.len())
}
