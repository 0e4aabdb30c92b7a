//! An Athena stand-in on a free 127.0.0.1 port, for runs with every capability on
//! AWS. moto accepts Athena calls but runs no SQL, so this server speaks Athena's
//! JSON protocol (StartQueryExecution, GetQueryExecution, GetQueryResults,
//! StopQueryExecution; SigV4-signed for `athena`, as the SDK sends them) and runs
//! each statement as written with engage's local engine over the same S3 buckets
//! and Glue catalog the host uses (moto). Queries run on their own threads,
//! QUEUED then RUNNING then SUCCEEDED or FAILED with the engine's reason, and a
//! query's rows land at its output location as Athena writes them (CSV with a
//! header, every value quoted, NULL an empty field).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use engage::capabilities::sql::SqlEngine;
use engage::capabilities::sql::athena::render;
use engage::capabilities::sql::athena::statement::{AthenaStatement, parse};
use engage::capabilities::sql::athena::types::athena_type;
use engage::capabilities::storage::ObjectStore;
use engage::catalog::parse_location;
use serde_json::{Value, json};

/// The header every JSON 1.1 call of Athena names its operation in.
const TARGET_PREFIX: &str = "AmazonAthena.";

#[derive(Clone)]
struct Query {
    statement: String,
    workgroup: String,
    database: String,
    output: String,
    statement_type: &'static str,
    state: &'static str,
    reason: Option<String>,
    submitted: f64,
    completed: Option<f64>,
    /// (name, Athena type) per column.
    columns: Vec<(String, String)>,
    /// Rows as GetQueryResults pages them: for DML the column labels first.
    rows: Vec<Vec<Option<String>>>,
}

struct Shared {
    engine: Arc<dyn SqlEngine>,
    store: Arc<dyn ObjectStore>,
    queries: Mutex<HashMap<String, Query>>,
    received: Mutex<Vec<String>>,
    /// (query id, MaxResults) of every GetQueryResults call.
    result_calls: Mutex<Vec<(String, u64)>>,
    next_id: AtomicU64,
}

pub struct AthenaStandIn {
    pub port: u16,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Runtime,
}

impl AthenaStandIn {
    /// Serves Athena with `engine` running the statements; results are written through `store`
    /// (both see real bucket names: the output location and table locations as Athena gets them).
    pub fn start(engine: Arc<dyn SqlEngine>, store: Arc<dyn ObjectStore>) -> AthenaStandIn {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let shared = Arc::new(Shared {
            engine,
            store,
            queries: Mutex::new(HashMap::new()),
            received: Mutex::new(Vec::new()),
            result_calls: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route("/", post(handle)).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        AthenaStandIn { port, shared, runtime }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every statement started, as the host sent it.
    pub fn statements(&self) -> Vec<String> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The MaxResults of every GetQueryResults call for the query that ran `statement`.
    pub fn result_calls(&self, statement: &str) -> Vec<u64> {
        let queries = self.shared.queries.lock().unwrap();
        let ids: Vec<&String> = queries.iter().filter(|(_, q)| q.statement == statement).map(|(id, _)| id).collect();
        self.shared.result_calls.lock().unwrap().iter().filter(|(id, _)| ids.contains(&id)).map(|(_, max)| *max).collect()
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

type Reply = (StatusCode, [(&'static str, &'static str); 1], String);

fn reply(status: StatusCode, body: Value) -> Reply {
    (status, [("content-type", "application/x-amz-json-1.1")], body.to_string())
}

fn client_error(kind: &str, message: &str) -> Reply {
    reply(StatusCode::BAD_REQUEST, json!({ "__type": kind, "Message": message }))
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Reply {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let authorization = header("authorization");
    if !authorization.starts_with("AWS4-HMAC-SHA256 Credential=") || !authorization.contains("/athena/aws4_request") {
        return client_error("UnrecognizedClientException", "requests must be SigV4-signed for athena");
    }
    if header("x-amz-date").is_empty() || header("content-type") != "application/x-amz-json-1.1" {
        return client_error("InvalidRequestException", "missing X-Amz-Date or content type application/x-amz-json-1.1");
    }
    let Some(operation) = header("x-amz-target").strip_prefix(TARGET_PREFIX).map(str::to_string) else {
        return client_error("UnknownOperationException", "X-Amz-Target must name an AmazonAthena operation");
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return client_error("SerializationException", "the body is not JSON");
    };
    let text = |key: &str| request[key].as_str().map(str::to_string);
    match operation.as_str() {
        "StartQueryExecution" => {
            let (Some(statement), Some(output)) = (text("QueryString"), request["ResultConfiguration"]["OutputLocation"].as_str()) else {
                return client_error("InvalidRequestException", "QueryString and ResultConfiguration.OutputLocation are required");
            };
            let id = format!("standin-{:08}", shared.next_id.fetch_add(1, Ordering::SeqCst));
            let query = Query {
                statement: statement.clone(),
                workgroup: text("WorkGroup").unwrap_or_else(|| "primary".into()),
                database: request["QueryExecutionContext"]["Database"].as_str().unwrap_or("default").to_string(),
                output: format!("{}{id}.csv", if output.ends_with('/') { output.to_string() } else { format!("{output}/") }),
                statement_type: statement_type(&statement),
                state: "QUEUED",
                reason: None,
                submitted: now(),
                completed: None,
                columns: Vec::new(),
                rows: Vec::new(),
            };
            shared.received.lock().unwrap().push(statement);
            shared.queries.lock().unwrap().insert(id.clone(), query);
            let worker = shared.clone();
            let query_id = id.clone();
            std::thread::spawn(move || execute(&worker, &query_id));
            reply(StatusCode::OK, json!({ "QueryExecutionId": id }))
        }
        "GetQueryExecution" => match lookup(&shared, &text("QueryExecutionId")) {
            Ok((id, query)) => reply(StatusCode::OK, json!({ "QueryExecution": execution(&id, &query) })),
            Err(e) => e,
        },
        "GetQueryResults" => match lookup(&shared, &text("QueryExecutionId")) {
            Ok((id, query)) if query.state != "SUCCEEDED" => {
                client_error("InvalidRequestException", &format!("Query has not yet finished. Current state: {} ({id})", query.state))
            }
            Ok((id, query)) => {
                let start = text("NextToken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
                let page = request["MaxResults"].as_u64().unwrap_or(1000).clamp(1, 1000);
                shared.result_calls.lock().unwrap().push((id, page));
                let page = page as usize;
                let end = (start + page).min(query.rows.len());
                let rows: Vec<Value> = query.rows[start.min(end)..end]
                    .iter()
                    .map(|row| json!({ "Data": row.iter().map(|c| c.as_ref().map_or(json!({}), |v| json!({ "VarCharValue": v }))).collect::<Vec<_>>() }))
                    .collect();
                let columns: Vec<Value> = query.columns.iter().map(|(name, kind)| column_info(name, kind)).collect();
                let mut body = json!({ "ResultSet": { "Rows": rows, "ResultSetMetadata": { "ColumnInfo": columns } }, "UpdateCount": 0 });
                if end < query.rows.len() {
                    body["NextToken"] = json!(end.to_string());
                }
                reply(StatusCode::OK, body)
            }
            Err(e) => e,
        },
        "StopQueryExecution" => match lookup(&shared, &text("QueryExecutionId")) {
            Ok((id, _)) => {
                if let Some(query) = shared.queries.lock().unwrap().get_mut(&id).filter(|q| matches!(q.state, "QUEUED" | "RUNNING")) {
                    query.state = "CANCELLED";
                    query.reason = Some("Query cancelled by user".into());
                    query.completed = Some(now());
                }
                reply(StatusCode::OK, json!({}))
            }
            Err(e) => e,
        },
        other => client_error("UnknownOperationException", &format!("the stand-in does not serve {other}")),
    }
}

fn lookup(shared: &Shared, id: &Option<String>) -> Result<(String, Query), Reply> {
    let Some(id) = id else { return Err(client_error("InvalidRequestException", "QueryExecutionId is required")) };
    match shared.queries.lock().unwrap().get(id) {
        Some(query) => Ok((id.clone(), query.clone())),
        None => Err(client_error("InvalidRequestException", &format!("QueryExecution {id} was not found"))),
    }
}

/// Athena's statement types: queries and writes are DML, SHOW and DESCRIBE are UTILITY.
fn statement_type(statement: &str) -> &'static str {
    match parse(statement) {
        Ok(AthenaStatement::Query(_) | AthenaStatement::CreateTableAs(_) | AthenaStatement::InsertInto(_)) => "DML",
        Ok(
            AthenaStatement::ShowTables { .. }
            | AthenaStatement::ShowDatabases { .. }
            | AthenaStatement::ShowPartitions(_)
            | AthenaStatement::ShowColumns(_)
            | AthenaStatement::Describe(_),
        ) => "UTILITY",
        _ => "DDL",
    }
}

/// Runs one statement to its end and records the outcome.
fn execute(shared: &Shared, id: &str) {
    let query = {
        let mut queries = shared.queries.lock().unwrap();
        let query = queries.get_mut(id).unwrap();
        query.state = "RUNNING";
        query.clone()
    };
    let outcome = run(shared, &query);
    let mut queries = shared.queries.lock().unwrap();
    let done = queries.get_mut(id).unwrap();
    if done.state == "CANCELLED" {
        return;
    }
    done.completed = Some(now());
    match outcome {
        Ok((columns, rows)) => {
            done.state = "SUCCEEDED";
            done.columns = columns;
            done.rows = rows;
        }
        Err(reason) => {
            done.state = "FAILED";
            done.reason = Some(reason);
        }
    }
}

type Table = (Vec<(String, String)>, Vec<Vec<Option<String>>>);

fn run(shared: &Shared, query: &Query) -> Result<Table, String> {
    let engine = &shared.engine;
    let (columns, mut rows) = match query.statement_type {
        "DML" if !matches!(parse(&query.statement), Ok(AthenaStatement::Query(_))) => {
            // CTAS and INSERT answer with the number of rows they wrote.
            let written = engine.execute(&query.statement).map_err(|e| e.to_string())?;
            (vec![("rows".to_string(), "bigint".to_string())], vec![vec![Some(written.to_string())]])
        }
        "DML" | "UTILITY" => {
            let result = engine.query(&query.statement).map_err(|e| e.to_string())?;
            let columns = result
                .schema
                .fields()
                .iter()
                .map(|f| Ok((f.name().clone(), presto_type(&athena_type(f.data_type())?))))
                .collect::<Result<Vec<_>, String>>()?;
            (columns, render::rows(&result.batches))
        }
        _ => {
            engine.execute(&query.statement).map_err(|e| e.to_string())?;
            (Vec::new(), Vec::new())
        }
    };
    write_csv(shared, &query.output, &columns, &rows)?;
    if query.statement_type == "DML" {
        rows.insert(0, columns.iter().map(|(name, _)| Some(name.clone())).collect());
    }
    Ok((columns, rows))
}

/// Result metadata names types as the query engine does (`varchar`, `integer`, `real`), not as DDL does.
fn presto_type(ddl: &str) -> String {
    match ddl {
        "string" => "varchar".into(),
        "int" => "integer".into(),
        "float" => "real".into(),
        other => other.split('(').next().unwrap_or(other).split('<').next().unwrap_or(other).to_string(),
    }
}

fn column_info(name: &str, kind: &str) -> Value {
    json!({
        "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": kind,
        "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": kind == "varchar",
    })
}

/// The result object Athena leaves at the output location.
fn write_csv(shared: &Shared, output: &str, columns: &[(String, String)], rows: &[Vec<Option<String>>]) -> Result<(), String> {
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut text = String::new();
    if !columns.is_empty() {
        text.push_str(&columns.iter().map(|(name, _)| quote(name)).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    for row in rows {
        text.push_str(&row.iter().map(|c| c.as_deref().map(quote).unwrap_or_default()).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    let (bucket, key) = parse_location(output)?;
    shared.store.put(&bucket, &key, text.as_bytes()).map_err(|e| format!("writing the result to {output}: {e}"))
}

fn execution(id: &str, query: &Query) -> Value {
    let mut status = json!({ "State": query.state, "SubmissionDateTime": query.submitted });
    if let Some(completed) = query.completed {
        status["CompletionDateTime"] = json!(completed);
    }
    if let Some(reason) = &query.reason {
        status["StateChangeReason"] = json!(reason);
        status["AthenaError"] = json!({ "ErrorCategory": 2, "ErrorType": 1006, "Retryable": false, "ErrorMessage": reason });
    }
    json!({
        "QueryExecutionId": id,
        "Query": query.statement,
        "StatementType": query.statement_type,
        "WorkGroup": query.workgroup,
        "QueryExecutionContext": { "Database": query.database },
        "ResultConfiguration": { "OutputLocation": query.output },
        "Status": status,
    })
}
