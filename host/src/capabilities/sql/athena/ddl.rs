//! Catalog statements, answered against the Catalog itself as Athena answers
//! them against Glue: CREATE EXTERNAL TABLE, DROP TABLE, CREATE DATABASE, MSCK
//! REPAIR TABLE, ALTER TABLE ADD/DROP PARTITION, SHOW and DESCRIBE.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::catalog_table::NULL_PARTITION;
use super::statement::{ColumnSpec, ExternalTable, PartitionSpec, TableName};
use super::text_table::{OPEN_CSV_SERDE, SERDE_PROPERTY, TextLayout, check_column_type};
use super::types::arrow_type;
use crate::capabilities::sql::QueryResult;
use crate::capabilities::storage::ObjectStore;
use crate::catalog::{Catalog, Column, Partition, TableDef, TableFormat, parse_location};

pub type DdlResult<T> = Result<T, String>;

/// A result of varchar columns.
pub fn text_result(columns: &[&str], rows: Vec<Vec<String>>) -> QueryResult {
    let schema = Arc::new(Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>()));
    let arrays = (0..columns.len())
        .map(|i| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[i].as_str()))) as _)
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("columns match the schema");
    QueryResult { schema, batches: vec![batch] }
}

pub fn empty_result() -> QueryResult {
    QueryResult { schema: Arc::new(Schema::empty()), batches: Vec::new() }
}

fn cap(e: crate::capabilities::CapabilityError) -> String {
    e.message
}

pub fn require_table(catalog: &dyn Catalog, name: &TableName) -> DdlResult<TableDef> {
    catalog
        .table(&name.database, &name.table)
        .map_err(cap)?
        .ok_or_else(|| format!("Table {name} does not exist"))
}

/// `s3://bucket/prefix/` with exactly one trailing slash.
pub fn directory(location: &str) -> String {
    format!("{}/", location.trim_end_matches('/'))
}

/// Hive's escaping of a partition value in a path segment.
pub fn escape_path_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() || "\"#%'*/:=?\\\u{7f}{[]^".contains(c) {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape_path_value(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `k1=v1/k2=v2/` for a partition's values.
pub fn partition_path(keys: &[Column], values: &[String]) -> String {
    keys.iter().zip(values).map(|(k, v)| format!("{}={}/", k.name, escape_path_value(v))).collect()
}

pub fn create_external_table(catalog: &dyn Catalog, spec: ExternalTable) -> DdlResult<()> {
    let name = &spec.name;
    if catalog.table(&name.database, &name.table).map_err(cap)?.is_some() {
        return if spec.if_not_exists { Ok(()) } else { Err(format!("Table already exists: {name}")) };
    }
    let mut columns = Vec::new();
    for c in spec.columns.iter().chain(&spec.partition_keys) {
        let data_type = arrow_type(&c.athena_type).map_err(|e| format!("column {}: {e}", c.name))?;
        if spec.csv.is_some() && spec.columns.iter().any(|d| d.name == c.name) {
            check_column_type(&c.name, &data_type)?;
        }
        if columns.iter().any(|seen: &Column| seen.name == c.name) {
            return Err(format!("column {} is defined twice in {name}", c.name));
        }
        columns.push(Column { name: c.name.clone(), data_type: c.athena_type.clone(), comment: None });
    }
    let partition_keys = columns.split_off(spec.columns.len());
    parse_location(&spec.location)?;
    let mut properties: BTreeMap<String, String> = spec.properties.into_iter().collect();
    if let Some(csv) = &spec.csv {
        properties.insert(SERDE_PROPERTY.into(), csv.serde.clone());
        if csv.serde == OPEN_CSV_SERDE {
            properties.retain(|k, _| !k.eq_ignore_ascii_case("separatorChar"));
            properties.insert("separatorChar".into(), csv.delimiter.to_string());
        } else {
            properties.insert("field.delim".into(), csv.delimiter.to_string());
        }
        TextLayout::from_properties(&properties).map_err(|e| format!("{name}: {e}"))?;
    }
    catalog.create_database(&name.database).map_err(cap)?;
    catalog
        .put_table(&TableDef {
            database: name.database.clone(),
            name: name.table.clone(),
            location: directory(&spec.location),
            format: if spec.csv.is_some() { TableFormat::Csv } else { TableFormat::Parquet },
            columns,
            partition_keys,
            partitions: Vec::new(),
            properties,
        })
        .map_err(cap)
}

pub fn drop_table(catalog: &dyn Catalog, name: &TableName, if_exists: bool) -> DdlResult<()> {
    // External tables keep their data when dropped, in Athena as here.
    let existed = catalog.drop_table(&name.database, &name.table).map_err(cap)?;
    if existed || if_exists { Ok(()) } else { Err(format!("Table {name} does not exist")) }
}

/// Registers every `k1=v1/k2=v2/` folder under the table location that holds
/// data and is not yet a partition. A folder whose value does not fit its key's
/// type (`k=abc` for an int key) is left out, so that it cannot make the table
/// unreadable; the result has a line for each folder left out.
pub fn msck_repair(catalog: &dyn Catalog, store: &dyn ObjectStore, name: &TableName) -> DdlResult<Vec<String>> {
    let mut table = require_table(catalog, name)?;
    if table.partition_keys.is_empty() {
        return Ok(Vec::new());
    }
    let (bucket, prefix) = parse_location(&table.location)?;
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix } else { format!("{prefix}/") };
    let key_types: Vec<DataType> = table.partition_keys.iter().map(|k| arrow_type(&k.data_type)).collect::<Result<_, _>>()?;
    let known: BTreeSet<Vec<String>> = table.partitions.iter().map(|p| p.values.clone()).collect();
    let mut found = BTreeSet::new();
    let mut skipped = BTreeSet::new();
    for object in store.list_all(&bucket, &prefix).map_err(cap)? {
        let Some(rest) = object.key.strip_prefix(&prefix) else { continue };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.len() <= table.partition_keys.len() {
            continue;
        }
        let values: Option<Vec<String>> = table
            .partition_keys
            .iter()
            .zip(&segments)
            .map(|(key, segment)| segment.strip_prefix(&format!("{}=", key.name)).map(unescape_path_value))
            .collect();
        let Some(values) = values.filter(|v| !known.contains(v)) else { continue };
        let misfit = (table.partition_keys.iter().zip(&values).zip(&key_types))
            .find(|((_, value), data_type)| super::catalog_table::partition_value(value, data_type).is_err());
        match misfit {
            Some(((key, value), _)) => {
                let folder = segments[..table.partition_keys.len()].join("/");
                skipped.insert(format!(
                    "Skipped {folder}/: '{value}' is not a {} value for partition key {}; rename or remove the folder",
                    key.data_type, key.name
                ));
            }
            None => {
                found.insert(values);
            }
        }
    }
    if !found.is_empty() {
        for values in found {
            let location = format!("{}{}", table.location, partition_path(&table.partition_keys, &values));
            table.partitions.push(Partition { values, location });
        }
        catalog.put_table(&table).map_err(cap)?;
    }
    Ok(skipped.into_iter().collect())
}

fn spec_values(table: &TableDef, spec: &PartitionSpec) -> DdlResult<Vec<String>> {
    let given: BTreeMap<&str, &str> = spec.values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if given.len() != table.partition_keys.len() {
        let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
        return Err(format!("{}.{} is partitioned by ({}): give a value for each key", table.database, table.name, keys.join(", ")));
    }
    table
        .partition_keys
        .iter()
        .map(|key| {
            let value = given.get(key.name.as_str()).ok_or_else(|| format!("no value for partition key {}", key.name))?;
            let data_type = arrow_type(&key.data_type)?;
            super::catalog_table::partition_value(value, &data_type)?;
            Ok(value.to_string())
        })
        .collect()
}

pub fn add_partitions(catalog: &dyn Catalog, name: &TableName, if_not_exists: bool, specs: &[PartitionSpec]) -> DdlResult<()> {
    let mut table = require_table(catalog, name)?;
    if table.partition_keys.is_empty() {
        return Err(format!("Table {name} is not partitioned"));
    }
    for spec in specs {
        let values = spec_values(&table, spec)?;
        if table.partitions.iter().any(|p| p.values == values) {
            if if_not_exists {
                continue;
            }
            return Err(format!("Partition already exists: {name} {}", partition_path(&table.partition_keys, &values)));
        }
        let location = match &spec.location {
            Some(location) => {
                parse_location(location)?;
                directory(location)
            }
            None => format!("{}{}", table.location, partition_path(&table.partition_keys, &values)),
        };
        table.partitions.push(Partition { values, location });
    }
    catalog.put_table(&table).map_err(cap)
}

pub fn drop_partitions(catalog: &dyn Catalog, name: &TableName, if_exists: bool, specs: &[PartitionSpec]) -> DdlResult<()> {
    let mut table = require_table(catalog, name)?;
    for spec in specs {
        let values = spec_values(&table, spec)?;
        let before = table.partitions.len();
        table.partitions.retain(|p| p.values != values);
        if table.partitions.len() == before && !if_exists {
            return Err(format!("Partition does not exist: {name} {}", partition_path(&table.partition_keys, &values)));
        }
    }
    catalog.put_table(&table).map_err(cap)
}

/// `ALTER TABLE t ADD COLUMNS (...)` appends data columns (before the partition keys, as Athena shows them);
/// `REPLACE COLUMNS (...)` replaces every data column. Only the catalog changes: Parquet files are read by
/// column name, so files written before read an added column as NULL and no longer show a replaced one;
/// text files are read by position, as in Athena.
pub fn alter_columns(catalog: &dyn Catalog, name: &TableName, replace: bool, columns: &[ColumnSpec]) -> DdlResult<()> {
    let mut table = require_table(catalog, name)?;
    if replace {
        table.columns.clear();
    }
    for c in columns {
        let data_type = arrow_type(&c.athena_type).map_err(|e| format!("column {}: {e}", c.name))?;
        if table.format == TableFormat::Csv {
            check_column_type(&c.name, &data_type)?;
        }
        if table.columns.iter().chain(&table.partition_keys).any(|seen| seen.name == c.name) {
            return Err(format!("Column '{}' already exists in {name}", c.name));
        }
        table.columns.push(Column { name: c.name.clone(), data_type: c.athena_type.clone(), comment: None });
    }
    catalog.put_table(&table).map_err(cap)
}

/// Athena's SHOW patterns: `*` is any run of characters, `|` separates alternatives.
fn matches_pattern(pattern: &str, name: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    pattern.split('|').any(|alternative| glob(alternative.trim().as_bytes(), name.as_bytes()))
}

pub fn show_tables(catalog: &dyn Catalog, database: &str, pattern: Option<&str>) -> DdlResult<QueryResult> {
    let tables = catalog.tables(database).map_err(cap)?;
    let rows = tables.into_iter().filter(|t| pattern.is_none_or(|p| matches_pattern(p, t))).map(|t| vec![t]).collect();
    Ok(text_result(&["tab_name"], rows))
}

pub fn show_databases(catalog: &dyn Catalog, pattern: Option<&str>) -> DdlResult<QueryResult> {
    let databases = catalog.databases().map_err(cap)?;
    let rows = databases.into_iter().filter(|d| pattern.is_none_or(|p| matches_pattern(p, d))).map(|d| vec![d]).collect();
    Ok(text_result(&["database_name"], rows))
}

pub fn show_partitions(catalog: &dyn Catalog, name: &TableName) -> DdlResult<QueryResult> {
    let table = require_table(catalog, name)?;
    if table.partition_keys.is_empty() {
        return Err(format!("Table {name} is not partitioned"));
    }
    let mut rows: Vec<String> = table
        .partitions
        .iter()
        .map(|p| {
            let path = partition_path(&table.partition_keys, &p.values);
            path.trim_end_matches('/').replace(&escape_path_value(NULL_PARTITION), NULL_PARTITION)
        })
        .collect();
    rows.sort();
    Ok(text_result(&["partition"], rows.into_iter().map(|r| vec![r]).collect()))
}

pub fn show_columns(catalog: &dyn Catalog, name: &TableName) -> DdlResult<QueryResult> {
    let table = require_table(catalog, name)?;
    let rows = table.columns.iter().chain(&table.partition_keys).map(|c| vec![c.name.clone()]).collect();
    Ok(text_result(&["field"], rows))
}

/// Hive's DESCRIBE: every column, then the partition keys again under a heading.
pub fn describe(catalog: &dyn Catalog, name: &TableName) -> DdlResult<QueryResult> {
    let table = require_table(catalog, name)?;
    let row = |c: &Column| vec![c.name.clone(), c.data_type.clone(), c.comment.clone().unwrap_or_default()];
    let mut rows: Vec<Vec<String>> = table.columns.iter().chain(&table.partition_keys).map(row).collect();
    if !table.partition_keys.is_empty() {
        rows.push(vec![String::new(), String::new(), String::new()]);
        rows.push(vec!["# Partition Information".into(), String::new(), String::new()]);
        rows.push(vec!["# col_name".into(), "data_type".into(), "comment".into()]);
        rows.push(vec![String::new(), String::new(), String::new()]);
        rows.extend(table.partition_keys.iter().map(row));
    }
    Ok(text_result(&["col_name", "data_type", "comment"], rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_escape_like_hive_and_back() {
        assert_eq!(escape_path_value("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(unescape_path_value("a%2Fb%3Dc"), "a/b=c");
        assert_eq!(unescape_path_value("2024-01-01"), "2024-01-01");
    }

    #[test]
    fn show_patterns_glob_with_alternatives() {
        assert!(matches_pattern("ev*", "events"));
        assert!(matches_pattern("users|ev*", "users"));
        assert!(!matches_pattern("ev*", "users"));
    }
}
