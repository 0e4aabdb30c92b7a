//! The table catalog (Glue's counterpart): databases, tables with their location,
//! format, schema and partitions. `local` keeps one JSON object per table in the
//! `catalog` bucket of the storage root; a Glue backend comes with the hosted run.

pub mod glue;
pub mod local;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capabilities::CapResult;

pub use glue::GlueCatalog;
pub use local::StorageCatalog;

/// The database tables land in when none is named.
pub const DEFAULT_DATABASE: &str = "engage";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Athena (Hive) type name: string, bigint, int, double, float, boolean, date, timestamp.
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    Parquet,
    Csv,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// One value per partition key, in key order.
    pub values: Vec<String>,
    /// `s3://bucket/prefix/` of the partition's files.
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    pub database: String,
    pub name: String,
    /// `s3://bucket/prefix/`: on the local host the bucket is a folder of the storage root.
    pub location: String,
    pub format: TableFormat,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub partition_keys: Vec<Column>,
    #[serde(default)]
    pub partitions: Vec<Partition>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

pub trait Catalog: Send + Sync {
    fn databases(&self) -> CapResult<Vec<String>>;
    fn create_database(&self, name: &str) -> CapResult<()>;
    fn tables(&self, database: &str) -> CapResult<Vec<String>>;
    fn table(&self, database: &str, name: &str) -> CapResult<Option<TableDef>>;
    /// Creates or replaces the table definition, atomically.
    fn put_table(&self, table: &TableDef) -> CapResult<()>;
    /// Returns whether a table was there to drop.
    fn drop_table(&self, database: &str, name: &str) -> CapResult<bool>;

    /// Reads a table, lets `change` turn it (or `None`, when there is none) into the new
    /// definition, and puts that. A backend that can serialise updates does so here, so
    /// that two processes updating one table (two ingests of different snapshots) do not
    /// lose each other's partitions; without that it is a plain read and put.
    fn update_table(
        &self,
        database: &str,
        name: &str,
        change: &mut dyn FnMut(Option<TableDef>) -> anyhow::Result<TableDef>,
    ) -> anyhow::Result<TableDef> {
        read_change_put(self, database, name, change)
    }
}

/// The body of every `update_table`: read, change, put (a backend adds its lock around it).
pub(crate) fn read_change_put<C: Catalog + ?Sized>(
    catalog: &C,
    database: &str,
    name: &str,
    change: &mut dyn FnMut(Option<TableDef>) -> anyhow::Result<TableDef>,
) -> anyhow::Result<TableDef> {
    let table = change(catalog.table(database, name)?)?;
    catalog.put_table(&table)?;
    Ok(table)
}

/// Splits `s3://bucket/prefix/` into bucket and prefix.
pub fn parse_location(location: &str) -> Result<(String, String), String> {
    let rest = location
        .strip_prefix("s3://")
        .ok_or_else(|| format!("location '{location}' must start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    crate::capabilities::storage::validate_bucket(bucket).map_err(|e| format!("location '{location}': {e}"))?;
    Ok((bucket.to_string(), prefix.to_string()))
}
