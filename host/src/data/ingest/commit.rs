//! Making an ingest visible: the catalog entry is the switch. New partition
//! files already sit under a fresh `ingest=<id>/` prefix; one catalog put points
//! the partitions at them; only then are the replaced partitions' files deleted.
//! A reader going through the catalog sees the old snapshot or the new one,
//! never both and never a mix.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};

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

/// Table property naming what ingest keeps in a table (a [`TableKind`]), so that
/// ingest never writes over a table it did not make, or one of another kind.
pub const KIND_PROPERTY: &str = "engage.ingest";
/// Table property prefix of a side-table part file: `part.<key>` = `rows=5;snapshots=2026-11-08`,
/// the rows it holds and the snapshot dates its input loaded; a later ingest that
/// replaces all of those snapshots retires the part (see [`retire_superseded_parts`]).
pub const PART_PROPERTY_PREFIX: &str = "part.";

/// What an ingest keeps in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Snapshots,
    Quarantine,
    ExtraColumns,
}

impl TableKind {
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Snapshots => "snapshots",
            TableKind::Quarantine => "quarantine",
            TableKind::ExtraColumns => "extra_columns",
        }
    }
}

/// Fails unless `existing` is absent or a table ingest made for `kind`. Tables
/// written by earlier versions carry no kind: their columns must then match.
pub fn check_owner(existing: Option<&TableDef>, kind: TableKind, columns: &[Column]) -> Result<()> {
    let Some(table) = existing else { return Ok(()) };
    let name = format!("{}.{}", table.database, table.name);
    match table.properties.get(KIND_PROPERTY).map(String::as_str) {
        Some(found) if found == kind.name() => Ok(()),
        Some(found) => bail!(
            "table {name} holds the {found} of an ingest, so it cannot take the {} of this one: ingest into another table name",
            kind.name()
        ),
        None if table.properties.contains_key("last_ingest") && table.columns == columns => Ok(()),
        None => bail!(
            "table {name} exists and was not made by engage ingest (or has other columns): ingest into another table name, or drop it first with engage sql \"DROP TABLE {name}\""
        ),
    }
}

/// A table partitioned by one key, registered or updated with new partitions.
pub struct PartitionUpdate {
    pub table: String,
    pub kind: TableKind,
    pub columns: Vec<Column>,
    pub key: Column,
    /// (partition value, location, row count)
    pub partitions: Vec<(String, String, u64)>,
    /// Side tables: each new part file (its key in the bucket), its rows and the snapshot dates its input loaded.
    pub parts: Vec<(String, u64, Vec<String>)>,
    pub comment: String,
}

/// Puts the table with its new partitions, under the catalog's update lock; returns
/// the locations of the partitions it replaced (to delete once the put has succeeded).
pub fn register(catalog: &dyn Catalog, database: &str, ingest_id: &str, update: PartitionUpdate) -> Result<Vec<(String, String)>> {
    let mut replaced = Vec::new();
    catalog
        .update_table(database, &update.table, &mut |existing| {
            check_owner(existing.as_ref(), update.kind, &update.columns)?;
            replaced.clear();
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
            table.columns = update.columns.clone();
            table.partition_keys = vec![update.key.clone()];
            table.properties.insert("classification".into(), "parquet".into());
            table.properties.insert("comment".into(), update.comment.clone());
            table.properties.insert("last_ingest".into(), ingest_id.to_string());
            table.properties.insert(KIND_PROPERTY.into(), update.kind.name().into());
            for (value, location, rows) in &update.partitions {
                if let Some(old) = table.partitions.iter_mut().find(|p| p.values == [value.clone()]) {
                    if old.location != *location {
                        replaced.push((value.clone(), std::mem::replace(&mut old.location, location.clone())));
                    }
                } else {
                    table.partitions.push(Partition { values: vec![value.clone()], location: location.clone() });
                }
                table.properties.insert(format!("{ROWS_PROPERTY_PREFIX}{}={value}", update.key.name), rows.to_string());
            }
            for (key, rows, snapshots) in &update.parts {
                table.properties.insert(format!("{PART_PROPERTY_PREFIX}{key}"), format!("rows={rows};snapshots={}", snapshots.join(",")));
            }
            table.partitions.sort_by(|a, b| a.values.cmp(&b.values));
            Ok(table)
        })
        .with_context(|| format!("registering {database}.{} in the catalog", update.table))?;
    Ok(replaced)
}

/// Re-ingesting snapshots replaces their side rows too: every part file of an
/// earlier ingest in side table `table` whose input loaded only snapshots among
/// `snapshots` is deleted, and a partition left without files leaves the catalog.
/// Returns the part files deleted. (A part whose input also loaded snapshots this
/// ingest did not replace stays whole: the rows are not split by snapshot.)
pub fn retire_superseded_parts(
    catalog: &dyn Catalog,
    store: &dyn ObjectStore,
    database: &str,
    table: &str,
    ingest_id: &str,
    snapshots: &BTreeSet<String>,
) -> Result<Vec<String>> {
    // Most ingests replace nothing: then the catalog is neither locked nor written.
    match catalog.table(database, table)? {
        Some(def) if !superseded_parts(&def, ingest_id, snapshots).is_empty() => {}
        _ => return Ok(Vec::new()),
    }
    let mut retired: Vec<String> = Vec::new();
    catalog.update_table(database, table, &mut |existing| {
        let mut table = existing.context("the side table went away during the update")?;
        // Again under the lock: another ingest may have changed the table since.
        retired = superseded_parts(&table, ingest_id, snapshots);
        for key in &retired {
            let value = table.properties.remove(&format!("{PART_PROPERTY_PREFIX}{key}")).unwrap_or_default();
            let rows: u64 = value.strip_prefix("rows=").and_then(|v| v.split(';').next()).and_then(|v| v.parse().ok()).unwrap_or(0);
            let Some(partition) = table.partitions.iter().find(|p| partition_holds(&p.location, key)).cloned() else { continue };
            let rows_property = format!("{ROWS_PROPERTY_PREFIX}{}={}", table.partition_keys[0].name, partition.values[0]);
            let left = table.properties.get(&rows_property).and_then(|r| r.parse::<u64>().ok()).map(|r| r.saturating_sub(rows));
            // A partition whose files all go leaves the catalog with them.
            let (bucket, prefix) = parse_location(&partition.location).map_err(anyhow::Error::msg)?;
            let remaining = store.list_all(&bucket, &prefix)?.into_iter().filter(|o| !retired.contains(&o.key)).count();
            if remaining == 0 {
                table.partitions.retain(|p| p.location != partition.location);
                table.properties.remove(&rows_property);
            } else if let Some(left) = left {
                table.properties.insert(rows_property, left.to_string());
            }
        }
        Ok(table)
    })?;
    for key in &retired {
        store.delete(PROCESSED_BUCKET, key).with_context(|| format!("deleting the superseded {PROCESSED_BUCKET}/{key}"))?;
    }
    Ok(retired)
}

/// The part files of earlier ingests whose input loaded only snapshots among `snapshots`.
fn superseded_parts(table: &TableDef, ingest_id: &str, snapshots: &BTreeSet<String>) -> Vec<String> {
    let this_ingest = format!("ingest={ingest_id}/");
    table
        .properties
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix(PART_PROPERTY_PREFIX)?;
            let covered = value.split_once("snapshots=")?.1;
            let superseded = !covered.is_empty() && covered.split(',').all(|d| snapshots.contains(d));
            (superseded && !key.contains(&this_ingest)).then(|| key.to_string())
        })
        .collect()
}

/// Whether the part file `key` (in the processed bucket) lies under partition `location`.
fn partition_holds(location: &str, key: &str) -> bool {
    location.strip_prefix(&format!("s3://{PROCESSED_BUCKET}/")).is_some_and(|prefix| key.starts_with(prefix))
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
