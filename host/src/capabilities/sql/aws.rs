//! SQL on Athena. A statement is sent as written (Athena's dialect is the one the
//! local backend translates) with StartQueryExecution in the configured workgroup
//! and output location, polled with GetQueryExecution (backoff from the poll
//! interval, doubling up to 5 s) until it ends; FAILED and CANCELLED carry
//! Athena's reason; GetQueryResults is paged into Arrow batches typed from
//! Athena's column metadata. The one change made to a statement: `'s3://<zone>/...'`
//! literals name the zone's real bucket, as the runtime config maps it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{ColumnInfo, QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row};

use super::athena_csv::{CsvResult, Typer};
use super::{BatchStream, QueryResult, SqlEngine};
use crate::aws::{AwsContext, service_error};
use crate::capabilities::storage::{S3Location, S3Storage, ZoneMap};
use crate::capabilities::{CapResult, CapabilityError, ErrorCode};
use crate::catalog::{Catalog, DEFAULT_DATABASE, parse_location};

/// Longest wait between two polls of a running query.
const MAX_POLL: Duration = Duration::from_secs(5);
/// Rows per GetQueryResults page (Athena's maximum).
const PAGE_ROWS: i32 = 1000;

#[derive(Debug, Clone)]
pub struct AthenaSettings {
    pub workgroup: String,
    pub output_location: String,
    pub poll_interval: Duration,
    pub query_timeout: Duration,
    /// Zone URLs in statements (`'s3://work/...'`) are pointed at their real buckets.
    pub zones: ZoneMap,
    /// Athena's own endpoint when it is not the SDK's (`sql.endpoint_url`).
    pub endpoint_url: Option<String>,
}

pub struct AthenaSql {
    aws: Arc<AwsContext>,
    client: Client,
    settings: AthenaSettings,
    /// Where Athena finds the tables statements name (Glue), for checking grants.
    catalog: Arc<dyn Catalog>,
    /// The endpoint, for messages.
    at: String,
}

/// How a query ended, as Athena reports it.
struct Finished {
    id: String,
    statement_type: Option<String>,
    /// Where Athena wrote the result object.
    output: Option<String>,
}

impl AthenaSql {
    /// `catalog` is the one Athena resolves table names in: the host checks every
    /// statement's reads and writes against a stage's grants through it.
    pub fn new(aws: Arc<AwsContext>, settings: AthenaSettings, catalog: Arc<dyn Catalog>) -> Self {
        let mut config = aws_sdk_athena::config::Builder::from(aws.sdk());
        if let Some(url) = &settings.endpoint_url {
            config = config.endpoint_url(url);
        }
        let client = Client::from_conf(config.timeout_config(aws.control_plane_timeouts()).build());
        let at = aws.endpoint_label("athena", settings.endpoint_url.as_deref(), None);
        Self { aws, client, settings, catalog, at }
    }

    /// Starts `statement` and waits until it ends.
    fn run(&self, statement: &str) -> CapResult<Finished> {
        let client = self.client.clone();
        let settings = self.settings.clone();
        let statement = settings.zones.rewrite_locations(statement);
        let at = self.at.clone();
        self.aws.block_on(async move {
            let start = client
                .start_query_execution()
                .query_string(&statement)
                .work_group(&settings.workgroup)
                .query_execution_context(QueryExecutionContext::builder().database(DEFAULT_DATABASE).build())
                .result_configuration(ResultConfiguration::builder().output_location(&settings.output_location).build())
                .send()
                .await
                .map_err(|e| service_error("athena", "StartQueryExecution", &format!("in workgroup {}", settings.workgroup), &at, e))?;
            let id = start.query_execution_id().unwrap_or_default().to_string();
            let began = Instant::now();
            let mut wait = settings.poll_interval;
            loop {
                let output = client
                    .get_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await
                    .map_err(|e| service_error("athena", "GetQueryExecution", &format!("query {id}"), &at, e))?;
                let execution = output.query_execution();
                let status = execution.and_then(|q| q.status());
                let statement_type = execution.and_then(|q| q.statement_type()).map(|t| t.as_str().to_string());
                let output = execution.and_then(|q| q.result_configuration()).and_then(|r| r.output_location()).map(str::to_string);
                match status.and_then(|s| s.state()) {
                    Some(QueryExecutionState::Succeeded) => return Ok(Finished { id, statement_type, output }),
                    Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                        let reason = status
                            .and_then(|s| s.athena_error().and_then(|e| e.error_message()).or(s.state_change_reason()))
                            .unwrap_or("no reason given");
                        let text = format!("athena query {id} {}: {reason}", state.as_str());
                        return Err(if matches!(state, QueryExecutionState::Failed) {
                            CapabilityError::invalid(text)
                        } else {
                            CapabilityError::unavailable(text)
                        });
                    }
                    _ => {}
                }
                if began.elapsed() >= settings.query_timeout {
                    let _ = client.stop_query_execution().query_execution_id(&id).send().await;
                    return Err(CapabilityError::unavailable(format!(
                        "athena query {id} still running after {:?} (sql.query_timeout): stopped it",
                        settings.query_timeout
                    )));
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_POLL);
            }
        })
    }

    /// Every page of a finished query's result, as one Arrow batch per page.
    fn results(&self, finished: &Finished) -> CapResult<QueryResult> {
        let client = self.client.clone();
        let id = finished.id.clone();
        let at = self.at.clone();
        let pages = self.aws.block_on(async move {
            let mut pages: Vec<(Vec<ColumnInfo>, Vec<Row>)> = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let output = client
                    .get_query_results()
                    .query_execution_id(&id)
                    .max_results(PAGE_ROWS)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("athena", "GetQueryResults", &format!("query {id}"), &at, e))?;
                let result = output.result_set();
                let columns = result.and_then(|r| r.result_set_metadata()).map(|m| m.column_info().to_vec()).unwrap_or_default();
                let rows = result.map(|r| r.rows().to_vec()).unwrap_or_default();
                pages.push((columns, rows));
                match output.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => return Ok::<_, CapabilityError>(pages),
                }
            }
        })?;
        let columns = pages.iter().map(|(c, _)| c).find(|c| !c.is_empty()).cloned().unwrap_or_default();
        let schema = schema_of(&columns);
        let mut batches = Vec::new();
        for (index, (_, rows)) in pages.into_iter().enumerate() {
            let mut rows = rows.as_slice();
            // A SELECT's first row holds the column labels.
            if index == 0 && finished.statement_type.as_deref() == Some("DML") && rows.first().is_some_and(|r| is_header(r, &columns)) {
                rows = &rows[1..];
            }
            if !rows.is_empty() {
                batches.push(typed_batch(&schema, &columns, rows.len(), |r, c| rows[r].data().get(c).and_then(|d| d.var_char_value()))?);
            }
        }
        Ok(QueryResult { schema, batches })
    }

    /// A SELECT's rows streamed from the result object Athena wrote, typed by the
    /// result's column metadata; `None` when there is no object to read.
    fn result_object(&self, finished: &Finished) -> CapResult<Option<Box<dyn BatchStream>>> {
        let Some(output) = finished.output.as_deref().filter(|_| finished.statement_type.as_deref() == Some("DML")) else {
            return Ok(None);
        };
        let (bucket, key) = parse_location(output).map_err(CapabilityError::internal)?;
        let location = S3Location { bucket: bucket.clone(), prefix: String::new() };
        let zones = ZoneMap { shared: None, zones: [(bucket.clone(), location)].into() };
        let store = S3Storage::new(self.aws.clone(), zones, 5 << 20);
        // The first page carries the column metadata.
        let columns = self.column_info(finished)?;
        let schema = schema_of(&columns);
        let typer_schema = schema.clone();
        let typer: Typer = Box::new(move |rows: &[Vec<Option<String>>]| typed_batch(&typer_schema, &columns, rows.len(), |r, c| rows[r].get(c).and_then(|v| v.as_deref())));
        match CsvResult::open(Box::new(store), bucket, key, schema, typer) {
            Ok(stream) => Ok(Some(Box::new(stream))),
            Err(e) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn column_info(&self, finished: &Finished) -> CapResult<Vec<ColumnInfo>> {
        let client = self.client.clone();
        let id = finished.id.clone();
        let at = self.at.clone();
        self.aws.block_on(async move {
            let output = client
                .get_query_results()
                .query_execution_id(&id)
                .max_results(1)
                .send()
                .await
                .map_err(|e| service_error("athena", "GetQueryResults", &format!("query {id}"), &at, e))?;
            Ok(output.result_set().and_then(|r| r.result_set_metadata()).map(|m| m.column_info().to_vec()).unwrap_or_default())
        })
    }
}

fn is_header(row: &Row, columns: &[ColumnInfo]) -> bool {
    row.data().len() == columns.len()
        && row.data().iter().zip(columns).all(|(cell, column)| cell.var_char_value() == Some(column.label().unwrap_or(column.name())))
}

/// Athena's column types as Arrow types; nested types (array, map, struct, json) stay text, as Athena prints them.
fn arrow_type_of(column: &ColumnInfo) -> DataType {
    let name = column.r#type().to_lowercase();
    let name = match name.as_str() {
        "decimal" => format!("decimal({},{})", column.precision(), column.scale()),
        "varchar" | "char" => "string".to_string(),
        _ => name,
    };
    match super::athena::types::arrow_type(&name) {
        Ok(DataType::List(_) | DataType::Map(..) | DataType::Struct(_)) | Err(_) => DataType::Utf8,
        Ok(data_type) => data_type,
    }
}

fn schema_of(columns: &[ColumnInfo]) -> SchemaRef {
    Arc::new(Schema::new(columns.iter().map(|c| Field::new(c.name(), arrow_type_of(c), true)).collect::<Vec<_>>()))
}

/// `rows` rows of text cells (`cell(row, column)`) cast to the schema's types.
fn typed_batch<'a>(schema: &SchemaRef, columns: &[ColumnInfo], rows: usize, cell: impl Fn(usize, usize) -> Option<&'a str>) -> CapResult<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (index, (column, field)) in columns.iter().zip(schema.fields()).enumerate() {
        let text: StringArray = (0..rows).map(|row| cell(row, index)).collect();
        let typed = arrow::compute::cast(&text, field.data_type()).map_err(|e| {
            CapabilityError::internal(format!("athena result column {} ({}): {e}", column.name(), column.r#type()))
        })?;
        arrays.push(typed);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| CapabilityError::internal(format!("athena result: {e}")))
}

struct Collected {
    schema: SchemaRef,
    batches: std::vec::IntoIter<RecordBatch>,
}

impl BatchStream for Collected {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn next_batch(&mut self) -> CapResult<Option<RecordBatch>> {
        Ok(self.batches.next())
    }
}

impl SqlEngine for AthenaSql {
    fn query(&self, statement: &str) -> CapResult<QueryResult> {
        let finished = self.run(statement)?;
        self.results(&finished)
    }

    /// Large results are read from the result object rather than paged.
    fn query_stream(&self, statement: &str) -> CapResult<Box<dyn BatchStream>> {
        let finished = self.run(statement)?;
        if let Some(stream) = self.result_object(&finished)? {
            return Ok(stream);
        }
        let result = self.results(&finished)?;
        Ok(Box::new(Collected { schema: result.schema, batches: result.batches.into_iter() }))
    }

    fn execute(&self, statement: &str) -> CapResult<u64> {
        let finished = self.run(statement)?;
        if finished.statement_type.as_deref() != Some("DML") {
            return Ok(0);
        }
        // CTAS and INSERT answer with one row: the number of rows written.
        let result = self.results(&finished)?;
        let written = result.batches.first().filter(|b| b.num_columns() == 1 && b.num_rows() == 1).and_then(|b| {
            arrow::compute::cast(b.column(0), &DataType::UInt64).ok().and_then(|a| {
                a.as_any().downcast_ref::<arrow::array::UInt64Array>().filter(|a| !a.is_null(0)).map(|a| a.value(0))
            })
        });
        Ok(written.unwrap_or(0))
    }

    fn catalog(&self) -> Option<Arc<dyn Catalog>> {
        Some(self.catalog.clone())
    }
}
