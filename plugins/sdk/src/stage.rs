//! Stages: a `run` entry point with access to the capabilities the pipeline grants.
//!
//! ```ignore
//! use engage_plugin_sdk::stage::*;
//! struct Hello;
//! impl Stage for Hello {
//!     fn run(ctx: &Context) -> Result<serde_json::Value, String> {
//!         log::log(log::Level::Info, &format!("hello from {}", ctx.stage));
//!         Ok(serde_json::json!({ "greeted": 1 }))
//!     }
//! }
//! export_stage!(Hello);
//! ```

use arrow_array::RecordBatch;
use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "stage",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_stage",
        default_bindings_module: "engage_plugin_sdk::stage::bindings",
    });
}

pub use bindings::engage::platform::{llm, log, sql, storage, types};
pub use serde_json;

/// What the host tells a stage about its run.
pub struct Context {
    pub run_id: String,
    pub stage: String,
    pub params: serde_json::Value,
}

impl Context {
    /// The parameters deserialized into your own type.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.params.clone()).map_err(|e| format!("stage '{}': bad params: {e}", self.stage))
    }
}

pub trait Stage {
    /// Does the stage's work and returns a JSON summary for the run history.
    fn run(ctx: &Context) -> Result<serde_json::Value, String>;
}

/// Runs a query and decodes its Arrow result.
pub fn query(statement: &str) -> Result<Vec<RecordBatch>, String> {
    let bytes = sql::query(statement).map_err(|e| sql_error("query", statement, &e))?;
    Ok(crate::ipc::decode(bytes)?.1)
}

/// Runs DDL or DML (CREATE, CTAS, INSERT, DROP) and returns the rows written.
pub fn execute(statement: &str) -> Result<u64, String> {
    sql::execute(statement).map_err(|e| sql_error("statement", statement, &e))
}

/// A small query's rows as JSON objects keyed by column name (see [`crate::rows`]
/// for the types it reads); for counts, checks and summaries, not for bulk data.
pub fn query_rows(statement: &str) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let batches = query(statement)?;
    let mut rows = Vec::new();
    for batch in &batches {
        rows.extend(crate::rows::to_json(batch).map_err(|e| format!("reading the result of `{}`: {e}", excerpt(statement)))?);
    }
    Ok(rows)
}

/// The single value of a one-row, one-column query (`SELECT count(*) FROM t`).
pub fn query_value(statement: &str) -> Result<serde_json::Value, String> {
    let rows = query_rows(statement)?;
    match rows.as_slice() {
        [row] if row.len() == 1 => Ok(row.values().next().cloned().unwrap_or_default()),
        _ => Err(format!(
            "`{}` must return one row of one column, got {} rows of {} columns",
            excerpt(statement),
            rows.len(),
            rows.first().map_or(0, |r| r.len())
        )),
    }
}

/// (Re)builds `database.table` from `select` with a Parquet CTAS whose files go to
/// `<location><table>/`, and returns the rows written. The old table is dropped
/// first so a retry can rebuild it; `location` should be the attempt's own scratch
/// prefix, since a CTAS into a non-empty location fails.
pub fn replace_table(database: &str, table: &str, location: &str, select: &str) -> Result<u64, String> {
    execute(&format!("CREATE DATABASE IF NOT EXISTS {database}"))?;
    execute(&format!("DROP TABLE IF EXISTS {database}.{table}"))?;
    let target = sql_string(&format!("{location}{table}/"));
    execute(&format!("CREATE TABLE {database}.{table} WITH (format = 'PARQUET', external_location = {target}) AS {select}"))
        .map_err(|e| format!("building {database}.{table}: {e}"))
}

/// Checks a table name from params (`db.table` or `table`) before it is spliced into SQL.
pub fn table_name(param: &str, value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() <= 2 && parts.iter().all(|p| is_identifier(p)) {
        Ok(value.to_string())
    } else {
        Err(format!("param '{param}': '{value}' is not a table name ([a-z0-9_]+, optionally db.table)"))
    }
}

/// Checks a database name from params.
/// A table param that defaults to `<database>.<default>` when the pipeline leaves it out.
pub fn table_or_default(param: &str, value: Option<&str>, database: &str, default: &str) -> Result<String, String> {
    match value {
        Some(value) => table_name(param, value),
        None => table_name(param, &format!("{database}.{default}")),
    }
}

pub fn database_name(param: &str, value: &str) -> Result<String, String> {
    if is_identifier(value) { Ok(value.to_string()) } else { Err(format!("param '{param}': '{value}' is not a database name ([a-z0-9_]+)")) }
}

/// Checks a column name from params.
pub fn column_name(param: &str, value: &str) -> Result<String, String> {
    if is_identifier(value) { Ok(value.to_string()) } else { Err(format!("param '{param}': '{value}' is not a column name ([a-z0-9_]+)")) }
}

/// Athena's lowercase identifiers: what needs no quoting.
fn is_identifier(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks an `s3://bucket/prefix/` location from params; returns it with a trailing `/`.
pub fn location(param: &str, value: &str) -> Result<String, String> {
    let rest = value.strip_prefix("s3://").unwrap_or("");
    let bucket = rest.split('/').next().unwrap_or("");
    if bucket.is_empty() || value.contains(['\'', '\\']) || value.contains(char::is_whitespace) {
        return Err(format!("param '{param}': '{value}' is not an s3://bucket/prefix/ location"));
    }
    Ok(if value.ends_with('/') { value.to_string() } else { format!("{value}/") })
}

/// A SQL string literal: quoted, with `'` doubled.
pub fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// One line naming what failed, the backend's message and the statement (shortened).
fn sql_error(what: &str, statement: &str, e: &types::Error) -> String {
    format!("sql {what} failed ({:?}): {} in `{}`", e.code, e.message, excerpt(statement))
}

/// The start of a statement, on one line, for error messages.
fn excerpt(statement: &str) -> String {
    let flat = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 160 { flat } else { flat.chars().take(160).collect::<String>() + " ..." }
}

/// Every key under `prefix`, following pagination.
pub fn list_all(bucket: &str, prefix: &str) -> Result<Vec<types::ObjectInfo>, String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = storage::list(bucket, prefix, token.as_deref(), 1000).map_err(|e| e.to_string())?;
        out.extend(page.objects);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok(out),
        }
    }
}

/// The body of the exported `run`; used by [`export_stage!`].
#[doc(hidden)]
pub fn run<S: Stage>(context: bindings::engage::platform::stage_types::StageContext) -> Result<String, String> {
    let params = if context.params.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(&context.params).map_err(|e| format!("stage params are not JSON: {e}"))?
    };
    let ctx = Context { run_id: context.run_id, stage: context.stage, params };
    S::run(&ctx).map(|summary| summary.to_string())
}

/// Exports a type implementing [`Stage`] as the plugin's `stage` world.
#[macro_export]
macro_rules! export_stage {
    ($t:ty) => {
        struct __EngageStageExport;
        impl $crate::stage::bindings::Guest for __EngageStageExport {
            fn run(
                context: $crate::stage::bindings::engage::platform::stage_types::StageContext,
            ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::stage::run::<$t>(context)
            }
        }
        $crate::stage::bindings::__export_stage!(__EngageStageExport with_types_in $crate::stage::bindings);
    };
}
