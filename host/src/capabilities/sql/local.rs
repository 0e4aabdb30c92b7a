//! The local SQL backend: Athena statements over the storage root, answered by
//! DataFusion. Catalog statements go to the Catalog; queries are rewritten to
//! Trino semantics and run over the catalog's tables, re-read for every
//! statement because other processes ingest in between; CTAS and INSERT write
//! Parquet through the ObjectStore, then update the catalog.
//!
//! The trait is synchronous and DataFusion is async: a private two-worker tokio
//! runtime runs each statement; called from inside another runtime, the work
//! moves to a scoped thread so `block_on` never nests.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt64Array, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::common::TableReference;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, Statement, visit_relations};
use futures::StreamExt;
use tokio::runtime::Runtime;

use super::athena::catalog_table::{CatalogTable, files_under, store_url};
use super::storage_bridge::{StorageBridge, bridge_url};
use super::athena::ddl::{self, directory, empty_result, require_table};
use super::athena::rewrite::{duplicate_column, rewrite_query_with};
use super::athena::statement::{AthenaStatement, InsertInto, TableAsSelect, TableName, parse};
use super::athena::types::athena_type;
use super::athena::{functions, write};
use super::{BatchStream, QueryResult, SqlEngine};
use crate::capabilities::storage::ObjectStore;
use crate::capabilities::{CapResult, CapabilityError};
use crate::catalog::{Catalog, Column, DEFAULT_DATABASE, Partition, TableDef, TableFormat};

/// DataFusion's name for the one catalog, as Athena calls Glue's.
const CATALOG_NAME: &str = "awsdatacatalog";

/// Where CTAS puts a table given no external_location (Athena uses the workgroup's location).
pub const DEFAULT_TABLE_ROOT: &str = "s3://warehouse/tables/";

pub struct LocalSql {
    store: Arc<dyn ObjectStore>,
    catalog: Arc<dyn Catalog>,
    runtime: Arc<Runtime>,
}

/// What a statement produced: rows to show, and how many rows it wrote.
struct Outcome {
    result: QueryResult,
    rows_written: u64,
}

fn invalid(message: impl Into<String>) -> CapabilityError {
    CapabilityError::invalid(message.into().replace('\n', " "))
}

/// The error a user can act on: an optimizer or analyzer rule that failed while folding a
/// constant says which rule ("Optimizer rule 'simplify_expressions' failed caused by ..."),
/// which means nothing to them; what went wrong is the cause, said the way Trino says it.
fn cause(message: &str) -> String {
    let Some((_, cause)) = message.rsplit_once("caused by\n") else { return message.to_string() };
    let cause = cause.strip_prefix("Error during planning: ").unwrap_or(cause);
    // Arrow: "Cast error: Can't cast value 3000000000 to type Int32"
    if let Some(rest) = cause.strip_prefix("Arrow error: Cast error: Can't cast value ")
        && let Some((value, arrow_type)) = rest.split_once(" to type ")
    {
        let trino = match arrow_type.trim() {
            "Int8" => "tinyint",
            "Int16" => "smallint",
            "Int32" => "integer",
            "Int64" => "bigint",
            other => other,
        };
        return format!("Out of range for {trino}: {value}");
    }
    // Arrow: "Parser error: Error parsing timestamp from '2024-13-01': ..."
    if let Some(rest) = cause.strip_prefix("Arrow error: Parser error: Error parsing timestamp from ") {
        let value = rest.split(": ").next().unwrap_or(rest);
        return format!("Value cannot be cast to timestamp: {}", value.trim_matches('\''));
    }
    cause.to_string()
}

fn df_error(e: DataFusionError) -> CapabilityError {
    let message = e.to_string();
    let message = message.split("\nbacktrace").next().unwrap_or(&message);
    let message = &cause(message);
    // A subquery DataFusion could not turn into a join reaches the physical planner unplanned.
    if message.contains("Physical plan does not support logical expression") {
        let construct = ["ScalarSubquery", "Exists", "InSubquery", "OuterReferenceColumn"]
            .into_iter()
            .find(|c| message.contains(&format!("expression {c}")))
            .unwrap_or("subquery");
        return invalid(format!(
            "a correlated subquery ({construct}) that the local engine cannot turn into a join, e.g. one comparing with the \
             outer row other than by '=': rewrite it as a JOIN (LEFT JOIN ... GROUP BY for a per-row count or EXISTS), \
             or move the test to WHERE ({message})"
        ));
    }
    invalid(message)
}

impl LocalSql {
    pub fn new(store: Arc<dyn ObjectStore>, catalog: Arc<dyn Catalog>) -> CapResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("engage-sql")
            .enable_all()
            .build()
            .map_err(|e| CapabilityError::internal(format!("starting the SQL runtime: {e}")))?;
        Ok(Self { store, catalog, runtime: Arc::new(runtime) })
    }

    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        block_on(&self.runtime, future)
    }

    /// A fresh session: Athena's defaults, Trino-named functions, no tables yet.
    fn session(&self) -> SessionContext {
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_DATABASE)
            .with_target_partitions(2);
        let options = config.options_mut();
        // Trino sorts NULLs last whether ascending or descending.
        options.sql_parser.default_null_ordering = "nulls_last".into();
        // Identifiers are lowercased while reading the statement, quoted or not, as in Athena.
        options.sql_parser.enable_ident_normalization = false;
        options.sql_parser.map_string_types_to_utf8view = false;
        // A literal with a point is a decimal in Trino (`0.1` is decimal(1,1)); exponent literals are
        // rewritten to doubles while reading (`athena/rewrite.rs`).
        options.sql_parser.parse_float_as_decimal = true;
        options.execution.parquet.schema_force_view_types = false;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_analyzer_rules(functions::analyzer_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        functions::register(&ctx);
        if store_url(self.store.as_ref()) == bridge_url() {
            ctx.register_object_store(bridge_url().as_ref(), Arc::new(StorageBridge::new(self.store.clone())));
        }
        ctx
    }

    /// Registers every catalog table the query names, as the catalog has it now.
    fn register_tables(&self, ctx: &SessionContext, query: &Query) -> CapResult<()> {
        let mut names = BTreeSet::new();
        let _ = visit_relations(query, |name| {
            if let Ok(table) = TableName::from_object_name(name) {
                names.insert(table);
            }
            ControlFlow::<()>::Continue(())
        });
        let catalog = ctx.catalog(CATALOG_NAME).ok_or_else(|| CapabilityError::internal("the SQL catalog is missing"))?;
        for name in names {
            // Names the catalog does not know are CTEs, or DataFusion reports them as missing.
            let Some(def) = self.catalog.table(&name.database, &name.table)? else { continue };
            if catalog.schema(&name.database).is_none() {
                catalog.register_schema(&name.database, Arc::new(MemorySchemaProvider::new())).map_err(df_error)?;
            }
            let table = CatalogTable::open(&def, self.store.as_ref()).map_err(invalid)?;
            ctx.register_table(TableReference::partial(name.database.as_str(), name.table.as_str()), Arc::new(table))
                .map_err(df_error)?;
        }
        Ok(())
    }

    /// Rewrites and plans an Athena query against a new session.
    /// With `unique_names` (a CTAS), a name the result gives twice fails instead of being numbered.
    fn plan(&self, mut query: Box<Query>, unique_names: bool) -> CapResult<(SessionContext, LogicalPlan)> {
        let ctx = self.session();
        self.register_tables(&ctx, &query)?;
        // A `*` beside other select items is expanded into the columns DataFusion plans for it.
        let columns_of = |probe: &Query| {
            let statement = DfStatement::Statement(Box::new(Statement::Query(Box::new(probe.clone()))));
            let plan = self.block_on(ctx.state().statement_to_plan(statement)).ok()?;
            let columns = plan.schema().iter().map(|(qualifier, field)| {
                let parts = qualifier.map(|q| match q {
                    TableReference::Bare { table } => vec![table.to_string()],
                    TableReference::Partial { schema, table } => vec![schema.to_string(), table.to_string()],
                    TableReference::Full { catalog, schema, table } => vec![catalog.to_string(), schema.to_string(), table.to_string()],
                });
                (parts.unwrap_or_default(), field.name().clone())
            });
            Some(columns.collect())
        };
        rewrite_query_with(&mut query, &columns_of, unique_names).map_err(invalid)?;
        let statement = DfStatement::Statement(Box::new(Statement::Query(query)));
        let plan = self.block_on(ctx.state().statement_to_plan(statement)).map_err(df_error)?;
        Ok((ctx, plan))
    }

    fn collect(&self, query: Box<Query>) -> CapResult<QueryResult> {
        let (ctx, plan) = self.plan(query, false)?;
        self.block_on(async move {
            let frame = ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await?;
            Ok(QueryResult { schema, batches })
        })
        .map_err(df_error)
    }

    /// The rows of a new table batch by batch, for writers that must not hold them all; a column name
    /// given twice fails.
    fn table_rows(&self, query: Box<Query>) -> CapResult<Box<dyn BatchStream>> {
        let stream = self.stream(query, true)?;
        Ok(Box::new(DataFusionBatches { runtime: self.runtime.clone(), stream }))
    }

    fn stream(&self, query: Box<Query>, unique_names: bool) -> CapResult<SendableRecordBatchStream> {
        let (ctx, plan) = self.plan(query, unique_names)?;
        self.block_on(async move { ctx.execute_logical_plan(plan).await?.execute_stream().await }).map_err(df_error)
    }

    fn run(&self, sql: &str) -> CapResult<Outcome> {
        let statement = parse(sql).map_err(invalid)?;
        let catalog = self.catalog.as_ref();
        let shown = |result: QueryResult| Outcome { result, rows_written: 0 };
        let done = || Outcome { result: empty_result(), rows_written: 0 };
        Ok(match statement {
            AthenaStatement::Query(query) => shown(self.collect(query)?),
            AthenaStatement::CreateExternalTable(spec) => ddl::create_external_table(catalog, spec).map(|()| done()).map_err(invalid)?,
            AthenaStatement::DropTable { name, if_exists } => ddl::drop_table(catalog, &name, if_exists).map(|()| done()).map_err(invalid)?,
            AthenaStatement::CreateDatabase { name, if_not_exists } => {
                if !if_not_exists && catalog.databases()?.contains(&name) {
                    return Err(invalid(format!("Database {name} already exists")));
                }
                catalog.create_database(&name)?;
                done()
            }
            AthenaStatement::MsckRepair(name) => {
                let skipped = ddl::msck_repair(catalog, self.store.as_ref(), &name).map_err(invalid)?;
                let lines: Vec<Vec<String>> = skipped.into_iter().map(|line| vec![line]).collect();
                if lines.is_empty() { done() } else { Outcome { result: ddl::text_result(&["result"], lines), rows_written: 0 } }
            }
            AthenaStatement::AddPartitions { table, if_not_exists, partitions } => {
                ddl::add_partitions(catalog, &table, if_not_exists, &partitions).map(|()| done()).map_err(invalid)?
            }
            AthenaStatement::DropPartitions { table, if_exists, partitions } => {
                ddl::drop_partitions(catalog, &table, if_exists, &partitions).map(|()| done()).map_err(invalid)?
            }
            AthenaStatement::AlterColumns { table, replace, columns } => {
                ddl::alter_columns(catalog, &table, replace, &columns).map(|()| done()).map_err(invalid)?
            }
            AthenaStatement::ShowTables { database, pattern } => {
                let database = database.unwrap_or_else(|| DEFAULT_DATABASE.to_string());
                shown(ddl::show_tables(catalog, &database, pattern.as_deref()).map_err(invalid)?)
            }
            AthenaStatement::ShowDatabases { pattern } => shown(ddl::show_databases(catalog, pattern.as_deref()).map_err(invalid)?),
            AthenaStatement::ShowPartitions(name) => shown(ddl::show_partitions(catalog, &name).map_err(invalid)?),
            AthenaStatement::ShowColumns(name) => shown(ddl::show_columns(catalog, &name).map_err(invalid)?),
            AthenaStatement::Describe(name) => shown(ddl::describe(catalog, &name).map_err(invalid)?),
            AthenaStatement::CreateTableAs(spec) => written(self.create_table_as(spec)?),
            AthenaStatement::InsertInto(spec) => written(self.insert_into(spec)?),
        })
    }

    /// CTAS: run the query, write its rows under the location, then catalogue the table.
    fn create_table_as(&self, spec: TableAsSelect) -> CapResult<u64> {
        let name = &spec.name;
        if self.catalog.table(&name.database, &name.table)?.is_some() {
            return if spec.if_not_exists { Ok(0) } else { Err(invalid(format!("Table already exists: {name}"))) };
        }
        let location = match &spec.location {
            Some(location) => directory(location),
            None => format!("{DEFAULT_TABLE_ROOT}{}/{}/", name.database, name.table),
        };
        if !files_under(self.store.as_ref(), &location).map_err(invalid)?.is_empty() {
            return Err(invalid(format!(
                "HIVE_PATH_ALREADY_EXISTS: target directory for table '{name}' already exists: {location}; choose an empty external_location"
            )));
        }
        if let Some(column) = duplicate_column(&spec.query) {
            return Err(invalid(format!("Column name '{column}' specified more than once: give each column its own alias")));
        }
        let mut batches = self.table_rows(spec.query)?;
        let mut columns = Vec::new();
        for field in batches.schema().fields() {
            let data_type = athena_type(field.data_type()).map_err(|e| invalid(format!("column {}: {e}", field.name())))?;
            if columns.iter().any(|c: &Column| c.name == *field.name()) {
                return Err(invalid(format!("column name {} appears twice: give each column its own alias", field.name())));
            }
            columns.push(Column { name: field.name().clone(), data_type, comment: None });
        }
        let data_width = columns.len() - spec.partitioned_by.len().min(columns.len());
        let trailing: Vec<&str> = columns[data_width..].iter().map(|c| c.name.as_str()).collect();
        let only_partition_columns = data_width == 0 && !columns.is_empty();
        if trailing != spec.partitioned_by.iter().map(String::as_str).collect::<Vec<_>>() || only_partition_columns {
            return Err(invalid(format!(
                "partitioned_by columns ({}) must be the last columns of the SELECT, in that order",
                spec.partitioned_by.join(", ")
            )));
        }
        let partition_keys = columns.split_off(data_width);
        let def = TableDef {
            database: name.database.clone(),
            name: name.table.clone(),
            location: location.clone(),
            format: TableFormat::Parquet,
            columns,
            partition_keys,
            partitions: Vec::new(),
            properties: BTreeMap::from([("has_encrypted_data".to_string(), "false".to_string())]),
        };
        self.write_rows(def, batches.as_mut(), None)
    }

    /// INSERT INTO: the query's columns by position (or by the listed names) into
    /// new files of the table, registering partitions that are new.
    fn insert_into(&self, spec: InsertInto) -> CapResult<u64> {
        let table = require_table(self.catalog.as_ref(), &spec.table).map_err(invalid)?;
        if table.format != TableFormat::Parquet {
            return Err(invalid(format!(
                "INSERT INTO {} is not supported locally: the table is text (CSV); insert into a Parquet table made with CREATE TABLE ... AS SELECT",
                spec.table
            )));
        }
        let result = self.collect(spec.query)?;
        let all: Vec<Column> = table.columns.iter().chain(&table.partition_keys).cloned().collect();
        let result = if spec.columns.is_empty() { result } else { arrange(&result, &spec.columns, &all)? };
        let mut batches = CollectedBatches { schema: result.schema, batches: result.batches.into_iter() };
        self.write_rows(table, &mut batches, Some(&spec.table))
    }

    /// Writes rows into `def`'s location as they stream in and records the
    /// partitions in the catalog (for an INSERT, re-reading the entry so
    /// concurrent partitions survive).
    fn write_rows(&self, def: TableDef, batches: &mut dyn BatchStream, insert_into: Option<&TableName>) -> CapResult<u64> {
        let all: Vec<Column> = def.columns.iter().chain(&def.partition_keys).cloned().collect();
        let width = batches.schema().fields().len();
        if width != all.len() {
            return Err(invalid(format!(
                "{}.{}: the query returns {width} columns, the table has {}",
                def.database,
                def.name,
                all.len()
            )));
        }
        let existing: BTreeMap<Vec<String>, String> =
            def.partitions.iter().map(|p| (p.values.clone(), p.location.clone())).collect();
        let mut written = Vec::new();
        let outcome = write::write_stream(
            self.store.as_ref(),
            &def.location,
            batches,
            &all,
            &def.partition_keys,
            &existing,
            &mut written,
        )
        .map_err(|e| format!("{}.{}: {e}", def.database, def.name))
        .and_then(|(partitions, rows)| {
            let mut def = match insert_into {
                Some(name) => require_table(self.catalog.as_ref(), name)?,
                None => def.clone(),
            };
            if !def.partition_keys.is_empty() {
                for p in partitions {
                    if !def.partitions.iter().any(|known| known.values == p.values) {
                        def.partitions.push(Partition { values: p.values, location: p.location });
                    }
                }
            }
            self.catalog.put_table(&def).map_err(|e| e.message)?;
            Ok(rows)
        });
        outcome.map_err(|e| {
            write::remove(self.store.as_ref(), &written);
            invalid(e)
        })
    }
}

/// The result as a statement that wrote rows reports it.
fn written(rows: u64) -> Outcome {
    let schema = Arc::new(Schema::new(vec![Field::new("rows", DataType::UInt64, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(UInt64Array::from(vec![rows]))]).expect("one column");
    Outcome { result: QueryResult { schema, batches: vec![batch] }, rows_written: rows }
}

/// Puts the query's columns, named by `targets`, into table order; unnamed columns are NULL.
fn arrange(result: &QueryResult, targets: &[String], all: &[Column]) -> CapResult<QueryResult> {
    if targets.len() != result.schema.fields().len() {
        return Err(invalid(format!(
            "INSERT lists {} columns but the query returns {}",
            targets.len(),
            result.schema.fields().len()
        )));
    }
    for target in targets {
        if !all.iter().any(|c| &c.name == target) {
            return Err(invalid(format!("INSERT names column {target}, which the table does not have")));
        }
    }
    // The types of the columns as they came (the plan's schema may name a type a later rule changed).
    let fields = |types: &Schema| -> Vec<Field> {
        all.iter()
            .map(|c| match targets.iter().position(|t| t == &c.name) {
                Some(i) => Field::new(&c.name, types.field(i).data_type().clone(), true),
                None => Field::new(&c.name, DataType::Null, true),
            })
            .collect()
    };
    let schema = Arc::new(Schema::new(fields(&result.schema)));
    let batches = result
        .batches
        .iter()
        .map(|batch| {
            let schema = Arc::new(Schema::new(fields(&batch.schema())));
            let columns = all
                .iter()
                .map(|c| match targets.iter().position(|t| t == &c.name) {
                    Some(i) => batch.column(i).clone(),
                    None => new_null_array(&DataType::Null, batch.num_rows()),
                })
                .collect();
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| invalid(e.to_string()))
        })
        .collect::<CapResult<Vec<_>>>()?;
    Ok(QueryResult { schema, batches })
}

fn block_on<F>(runtime: &Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(|| runtime.block_on(future)).join().expect("the SQL thread panicked"))
    } else {
        runtime.block_on(future)
    }
}

impl SqlEngine for LocalSql {
    fn query(&self, statement: &str) -> CapResult<QueryResult> {
        Ok(self.run(statement)?.result)
    }

    fn query_stream(&self, statement: &str) -> CapResult<Box<dyn BatchStream>> {
        if let AthenaStatement::Query(query) = parse(statement).map_err(invalid)? {
            let stream = self.stream(query, false)?;
            return Ok(Box::new(DataFusionBatches { runtime: self.runtime.clone(), stream }));
        }
        let result = self.run(statement)?.result;
        Ok(Box::new(CollectedBatches { schema: result.schema, batches: result.batches.into_iter() }))
    }

    fn execute(&self, statement: &str) -> CapResult<u64> {
        if matches!(parse(statement).map_err(invalid)?, AthenaStatement::Query(_)) {
            return Err(invalid("execute runs DDL, CTAS and INSERT: run SELECT with query"));
        }
        Ok(self.run(statement)?.rows_written)
    }

    fn catalog(&self) -> Option<Arc<dyn Catalog>> {
        Some(self.catalog.clone())
    }
}

struct DataFusionBatches {
    runtime: Arc<Runtime>,
    stream: SendableRecordBatchStream,
}

impl BatchStream for DataFusionBatches {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
    fn next_batch(&mut self) -> CapResult<Option<RecordBatch>> {
        let runtime = self.runtime.clone();
        block_on(&runtime, self.stream.next()).transpose().map_err(df_error)
    }
}

struct CollectedBatches {
    schema: SchemaRef,
    batches: std::vec::IntoIter<RecordBatch>,
}

impl BatchStream for CollectedBatches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn next_batch(&mut self) -> CapResult<Option<RecordBatch>> {
        Ok(self.batches.next())
    }
}
