//! The data a model command reads: a catalog table (`db.table`, or `table` in
//! the `engage` database) or a `.parquet` / `.csv` / `.csv.gz` file, as one
//! Arrow batch (the commands work in memory).

use std::path::Path;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::compute::concat_batches;

use crate::capabilities::sql::SqlEngine;
use crate::files::read_batches;
use crate::local_host::LocalHost;

/// Rows per batch while reading a file.
const BATCH_ROWS: usize = 64 * 1024;

/// Reads `source`: a path to an existing file (or one named like a data
/// file) is read as a file; anything else is a catalog table under `root`.
pub fn load(source: &str, root: &Path) -> Result<RecordBatch> {
    let lower = source.to_ascii_lowercase();
    let looks_like_file = [".parquet", ".pq", ".csv", ".csv.gz", ".gz"].iter().any(|s| lower.ends_with(s));
    let batch = if looks_like_file || Path::new(source).is_file() {
        load_file(Path::new(source))?
    } else {
        load_table(source, root)?
    };
    if batch.num_rows() == 0 {
        bail!("{source}: has no rows");
    }
    Ok(batch)
}

fn load_file(path: &Path) -> Result<RecordBatch> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    let (schema, batches) = read_batches(path, BATCH_ROWS)?;
    let batches: Vec<RecordBatch> = batches.collect::<Result<_>>()?;
    concat_batches(&schema, &batches).with_context(|| format!("{}: joining batches", path.display()))
}

fn load_table(name: &str, root: &Path) -> Result<RecordBatch> {
    let (db, table) = name.split_once('.').unwrap_or(("engage", name));
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok(db) || !ok(table) {
        bail!("'{name}' is neither a data file (.parquet, .csv, .csv.gz) nor a table name (db.table)");
    }
    let host = LocalHost::open(root)?;
    if host.catalog().table(db, table).map_err(anyhow::Error::msg)?.is_none() {
        bail!("'{name}' is not a file, and there is no table {db}.{table} in the catalog at {}", root.display());
    }
    let result = host
        .sql()?
        .query(&format!("SELECT * FROM \"{db}\".\"{table}\""))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("reading table {db}.{table}"))?;
    concat_batches(&result.schema, &result.batches).with_context(|| format!("reading table {db}.{table}"))
}
