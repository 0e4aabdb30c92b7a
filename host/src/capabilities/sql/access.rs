//! The storage a SQL statement reaches, checked against the stage's storage grants
//! before any backend sees the statement, so that `sql = true` never reaches
//! further than the storage capability would:
//!
//! - a query (and the SELECT of a CTAS or INSERT) reads every catalog table it
//!   names: it needs a read grant covering the table's location and every
//!   partition's location;
//! - CTAS writes under its `external_location` (or the default table root);
//!   INSERT INTO under the table's location and its partitions' locations;
//!   CREATE EXTERNAL TABLE and ADD PARTITION bind a location to a table, which
//!   needs a write grant covering it; MSCK REPAIR lists the table's location (read);
//! - DROP TABLE and DROP PARTITION keep the data but change what every reader of
//!   the table sees (and let a stage re-create a trusted table over its own
//!   files): they need a write grant covering the table's location;
//! - catalog-only statements (SHOW, DESCRIBE) need only `sql`.
//!
//! Every statement that creates, changes or drops a table (or creates a database)
//! must also name the stage's run database ([`Grants::sql_database`]): a table of
//! `engage` over granted scratch would outlive the scratch and mislead every reader,
//! so shared databases change only by publishing.
//!
//! A statement the check cannot read is refused rather than passed on (Athena
//! would otherwise run what the local parser does not understand), and a location
//! that is not a plain `s3://bucket/prefix/` (`..`, empty segments) is denied.
//! Both backends go through here: [`super::host::SqlHost`] calls [`authorize`]
//! with the catalog the engine resolves names in ([`super::SqlEngine::catalog`]).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Query, visit_relations};

use super::athena::ddl::directory;
use super::athena::statement::{AthenaStatement, TableName, parse};
use super::local::DEFAULT_TABLE_ROOT;
use crate::capabilities::CapabilityError;
use crate::capabilities::grants::{Denied, Grants};
use crate::capabilities::storage::validate_key;
use crate::catalog::{Catalog, TableDef, parse_location};
use crate::runtime::errors::HostError;

/// One location a statement reads or writes, and why.
struct Reach {
    what: String,
    location: String,
    write: bool,
}

/// Checks `statement` for `stage`: the `sql` grant, then every location it reads or
/// writes against the storage grants. `catalog` is `None` only for engines that
/// reach no storage (fixtures); then the `sql` grant is all there is to check.
pub fn authorize(stage: &str, grants: &Grants, catalog: Option<&dyn Catalog>, statement: &str) -> Result<(), HostError> {
    grants.check_sql(stage)?;
    let Some(catalog) = catalog else { return Ok(()) };
    let parsed = parse(statement).map_err(|e| CapabilityError::invalid(e.replace('\n', " ")))?;
    if let Some((kind, table, database)) = catalog_change(&parsed) {
        grants.check_sql_database(stage, kind, &table, &database)?;
    }
    for reach in reaches(catalog, &parsed)? {
        let (bucket, prefix) = parse_location(&directory(&reach.location)).map_err(|e| denied(stage, &reach, e))?;
        if !prefix.is_empty() {
            validate_key(prefix.trim_end_matches('/')).map_err(|e| denied(stage, &reach, e))?;
        }
        grants.check_sql_location(stage, &reach.what, &bucket, &prefix, reach.write)?;
    }
    Ok(())
}

fn denied(stage: &str, reach: &Reach, error: String) -> HostError {
    let what = &reach.what;
    Denied { stage: stage.to_string(), capability: "sql", detail: format!("{what}: location '{}': {error}", reach.location) }.into()
}

/// The statement kind, the table (or database) and the database of what a statement
/// creates, changes or drops in the catalog; `None` for reads.
fn catalog_change(statement: &AthenaStatement) -> Option<(&'static str, String, String)> {
    let table = |kind, name: &TableName| Some((kind, format!("table {name}"), name.database.clone()));
    match statement {
        AthenaStatement::CreateTableAs(spec) => table("CREATE TABLE AS SELECT", &spec.name),
        AthenaStatement::CreateExternalTable(spec) => table("CREATE EXTERNAL TABLE", &spec.name),
        AthenaStatement::InsertInto(spec) => table("INSERT INTO", &spec.table),
        AthenaStatement::DropTable { name, .. } => table("DROP TABLE", name),
        AthenaStatement::MsckRepair(name) => table("MSCK REPAIR TABLE", name),
        AthenaStatement::AddPartitions { table: name, .. } => table("ALTER TABLE ADD PARTITION", name),
        AthenaStatement::DropPartitions { table: name, .. } => table("ALTER TABLE DROP PARTITION", name),
        AthenaStatement::AlterColumns { table: name, replace, .. } => {
            table(if *replace { "ALTER TABLE REPLACE COLUMNS" } else { "ALTER TABLE ADD COLUMNS" }, name)
        }
        AthenaStatement::CreateDatabase { name, .. } => Some(("CREATE DATABASE", format!("database {name}"), name.clone())),
        AthenaStatement::Query(_)
        | AthenaStatement::ShowTables { .. }
        | AthenaStatement::ShowDatabases { .. }
        | AthenaStatement::ShowPartitions(_)
        | AthenaStatement::ShowColumns(_)
        | AthenaStatement::Describe(_) => None,
    }
}

/// Every location the statement reaches.
fn reaches(catalog: &dyn Catalog, statement: &AthenaStatement) -> Result<Vec<Reach>, HostError> {
    let mut out = Vec::new();
    match statement {
        AthenaStatement::Query(query) => reads(catalog, query, &mut out)?,
        AthenaStatement::CreateTableAs(spec) => {
            reads(catalog, &spec.query, &mut out)?;
            let name = &spec.name;
            let location = spec.location.clone().unwrap_or_else(|| format!("{DEFAULT_TABLE_ROOT}{}/{}/", name.database, name.table));
            out.push(Reach { what: format!("creating table {name}"), location, write: true });
        }
        AthenaStatement::InsertInto(spec) => {
            reads(catalog, &spec.query, &mut out)?;
            if let Some(def) = catalog.table(&spec.table.database, &spec.table.table)? {
                table_locations(&def, &format!("inserting into table {}", spec.table), true, &mut out);
            }
        }
        AthenaStatement::CreateExternalTable(spec) => {
            out.push(Reach { what: format!("creating table {}", spec.name), location: spec.location.clone(), write: true });
        }
        AthenaStatement::AddPartitions { table, partitions, .. } => {
            if let Some(def) = catalog.table(&table.database, &table.table)? {
                let what = format!("adding partitions to table {table}");
                // A partition without a location goes under the table's.
                out.push(Reach { what: what.clone(), location: def.location.clone(), write: true });
                for location in partitions.iter().filter_map(|p| p.location.clone()) {
                    out.push(Reach { what: what.clone(), location, write: true });
                }
            }
        }
        AthenaStatement::MsckRepair(table) => {
            if let Some(def) = catalog.table(&table.database, &table.table)? {
                out.push(Reach { what: format!("repairing table {table}"), location: def.location, write: false });
            }
        }
        AthenaStatement::DropTable { name, .. } => {
            if let Some(def) = catalog.table(&name.database, &name.table)? {
                table_locations(&def, &format!("dropping table {name}"), true, &mut out);
            }
        }
        // Changing a table's columns changes what every reader of its location sees.
        AthenaStatement::AlterColumns { table, .. } => {
            if let Some(def) = catalog.table(&table.database, &table.table)? {
                out.push(Reach { what: format!("altering the columns of table {table}"), location: def.location, write: true });
            }
        }
        AthenaStatement::DropPartitions { table, .. } => {
            if let Some(def) = catalog.table(&table.database, &table.table)? {
                out.push(Reach { what: format!("dropping partitions of table {table}"), location: def.location, write: true });
            }
        }
        AthenaStatement::CreateDatabase { .. }
        | AthenaStatement::ShowTables { .. }
        | AthenaStatement::ShowDatabases { .. }
        | AthenaStatement::ShowPartitions(_)
        | AthenaStatement::ShowColumns(_)
        | AthenaStatement::Describe(_) => {}
    }
    Ok(out)
}

/// The locations of every catalog table the query names (names the catalog does
/// not know are CTEs, or missing tables the engine reports).
fn reads(catalog: &dyn Catalog, query: &Query, out: &mut Vec<Reach>) -> Result<(), HostError> {
    let mut names = BTreeSet::new();
    let mut bad = None;
    let _ = visit_relations(query, |name| {
        match TableName::from_object_name(name) {
            Ok(table) => {
                names.insert(table);
            }
            Err(e) => bad = Some(e),
        }
        ControlFlow::<()>::Continue(())
    });
    if let Some(e) = bad {
        return Err(CapabilityError::invalid(e).into());
    }
    for name in names {
        if let Some(def) = catalog.table(&name.database, &name.table)? {
            table_locations(&def, &format!("reading table {name}"), false, out);
        }
    }
    Ok(())
}

fn table_locations(def: &TableDef, what: &str, write: bool, out: &mut Vec<Reach>) {
    out.push(Reach { what: what.to_string(), location: def.location.clone(), write });
    for partition in &def.partitions {
        out.push(Reach { what: what.to_string(), location: partition.location.clone(), write });
    }
}
