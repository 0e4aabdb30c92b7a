//! `engage catalog list|describe`

use std::path::Path;

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::catalog::{Catalog, DEFAULT_DATABASE};
use crate::data::ingest::commit::ROWS_PROPERTY_PREFIX;
use crate::local_host::LocalHost;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Lists the tables of a database.
    List {
        #[arg(long, default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Shows a table: location, format, columns with types, partitions with row counts.
    Describe {
        /// `table` in --database, or `db.table` as `catalog list` prints it.
        table: String,
        #[arg(long, default_value = DEFAULT_DATABASE)]
        database: String,
    },
}

pub fn run(command: CatalogCommand, root: &Path) -> Result<()> {
    let host = LocalHost::open(root)?;
    let catalog = host.catalog();
    match command {
        CatalogCommand::List { database } => {
            for name in catalog.tables(&database)? {
                let partitions = catalog.table(&database, &name)?.map_or(0, |t| t.partitions.len());
                outln!("{database}.{name}\t{partitions} partition{}", if partitions == 1 { "" } else { "s" });
            }
            Ok(())
        }
        CatalogCommand::Describe { table, database } => match table.split_once('.') {
            Some((db, name)) => describe(catalog.as_ref(), db, name),
            None => describe(catalog.as_ref(), &database, &table),
        },
    }
}

fn describe(catalog: &dyn Catalog, database: &str, name: &str) -> Result<()> {
    let Some(table) = catalog.table(database, name)? else {
        bail!("no table {database}.{name} in the catalog (see `engage catalog list`)");
    };
    outln!("table     {}.{}", table.database, table.name);
    outln!("location  {}", table.location);
    outln!("format    {:?}", table.format);
    outln!("columns   {}", table.columns.len());
    let width = table.columns.iter().chain(&table.partition_keys).map(|c| c.name.len()).max().unwrap_or(0);
    for column in &table.columns {
        outln!("  {:width$}  {}", column.name, column.data_type);
    }
    for key in &table.partition_keys {
        outln!("  {:width$}  {}  (partition key)", key.name, key.data_type);
    }
    outln!("partitions {}", table.partitions.len());
    for partition in &table.partitions {
        let label: Vec<String> =
            table.partition_keys.iter().zip(&partition.values).map(|(k, v)| format!("{}={v}", k.name)).collect();
        let label = label.join("/");
        let rows = table.properties.get(&format!("{ROWS_PROPERTY_PREFIX}{label}")).map_or("?".to_string(), |r| r.clone());
        outln!("  {label}  rows {rows}  {}", partition.location);
    }
    let others: Vec<String> = table
        .properties
        .iter()
        .filter(|(k, _)| !k.starts_with(ROWS_PROPERTY_PREFIX))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !others.is_empty() {
        outln!("properties {}", others.join(", "));
    }
    Ok(())
}
