//! `engage catalog list|describe`

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::catalog::{Catalog, DEFAULT_DATABASE};
use crate::data::ingest::commit::ROWS_PROPERTY_PREFIX;
use crate::config::{Backends, HostConfig};

#[derive(Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,
    /// The runtime config naming the catalog (config/hosted.toml: Glue); the local catalog when left out.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

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

pub fn run(args: CatalogArgs, root: &Path) -> Result<()> {
    let catalog = Backends::open(&HostConfig::load_or_default(args.config.as_deref())?, root)?.catalog;
    match args.command {
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
