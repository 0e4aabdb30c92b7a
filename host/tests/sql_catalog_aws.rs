//! SQL on Athena and the catalog on Glue, over the wire through the AWS SDK:
//! moto in server mode for Glue and the Athena query lifecycle with injected
//! results; for what moto cannot do (a FAILED query, results over several pages,
//! throttling) a stand-in answering in Athena's JSON shapes, checking SigV4.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow::array::{Array, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use engage::capabilities::ErrorCode;
use engage::capabilities::sql::SqlEngine;
use engage::capabilities::sql::aws::{AthenaSettings, AthenaSql};
use engage::capabilities::storage::{S3Location, ZoneMap};
use engage::catalog::{Catalog, Column, GlueCatalog, Partition, TableDef, TableFormat};
use fault_proxy::{Fault, FaultProxy};
use moto::Moto;
use serde_json::json;

fn zones() -> ZoneMap {
    ZoneMap { shared: Some(S3Location::parse("acme-lake/engage").unwrap()), zones: Default::default() }
}

/// POSTs JSON to moto's own API (result injection, state transitions).
fn moto_api(port: u16, path: &str, body: serde_json::Value) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 20") || answer.starts_with("HTTP/1.0 20"), "moto API {path}: {answer}");
}

fn column(name: &str, data_type: &str) -> Column {
    Column { name: name.into(), data_type: data_type.into(), comment: None }
}

fn users_table(partitions: &[&str]) -> TableDef {
    TableDef {
        database: "engage".into(),
        name: "users".into(),
        location: "s3://processed/users/".into(),
        format: TableFormat::Parquet,
        columns: vec![column("user_id", "string"), column("sessions_7d", "bigint"), Column { comment: Some("0-1".into()), ..column("discount_pct", "double") }],
        partition_keys: vec![column("snapshot_date", "date")],
        partitions: partitions
            .iter()
            .map(|d| Partition { values: vec![d.to_string()], location: format!("s3://processed/users/snapshot_date={d}/") })
            .collect(),
        properties: [("engage.rows".to_string(), "1000".to_string())].into(),
    }
}

fn sorted(mut def: TableDef) -> TableDef {
    def.partitions.sort_by(|a, b| a.values.cmp(&b.values));
    def
}

#[test]
fn glue_registers_and_updates_tables_and_partitions() {
    let moto = Moto::start();
    let aws = moto.context();
    let glue = GlueCatalog::new(aws.clone(), None, zones());

    glue.create_database("engage").unwrap();
    glue.create_database("engage").unwrap();
    assert!(glue.databases().unwrap().contains(&"engage".to_string()));
    assert_eq!(glue.table("engage", "users").unwrap(), None);
    assert!(glue.tables("no_such_db").unwrap().is_empty());

    let first = users_table(&["2026-11-15", "2026-11-22"]);
    glue.put_table(&first).unwrap();
    assert_eq!(sorted(glue.table("engage", "users").unwrap().unwrap()), first, "what goes into Glue comes back");

    // Glue holds the real S3 locations Athena reads.
    let client = aws_sdk_glue::Client::new(aws.sdk());
    let raw = aws.block_on(async move { client.get_table().database_name("engage").name("users").send().await }).unwrap();
    let descriptor = raw.table().unwrap().storage_descriptor().unwrap();
    assert_eq!(descriptor.location(), Some("s3://acme-lake/engage/processed/users/"));
    assert!(descriptor.input_format().unwrap().contains("Parquet"));

    // A new week arrives and an old one is dropped: the partitions follow.
    let second = users_table(&["2026-11-22", "2026-11-29", "2026-12-06"]);
    glue.put_table(&second).unwrap();
    assert_eq!(sorted(glue.table("engage", "users").unwrap().unwrap()), second);

    let mut csv = users_table(&[]);
    csv.name = "quarantine".into();
    csv.format = TableFormat::Csv;
    csv.partition_keys.clear();
    csv.properties.insert("field.delim".into(), "\t".into());
    glue.put_table(&csv).unwrap();
    // Glue records the SerDe a text table is read with; it comes back as a property.
    csv.properties.insert("serialization.lib".into(), "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe".into());
    assert_eq!(glue.table("engage", "quarantine").unwrap().unwrap(), csv);
    assert_eq!(glue.tables("engage").unwrap(), vec!["quarantine".to_string(), "users".to_string()]);

    assert!(glue.drop_table("engage", "users").unwrap());
    assert!(!glue.drop_table("engage", "users").unwrap());
    assert_eq!(glue.table("engage", "users").unwrap(), None);
}

fn athena(endpoint: &str, attempts: u32) -> AthenaSql {
    AthenaSql::new(
        Moto::context_for(endpoint, attempts),
        AthenaSettings {
            workgroup: "primary".into(),
            output_location: "s3://acme-athena/results/".into(),
            poll_interval: Duration::from_millis(20),
            query_timeout: Duration::from_secs(30),
            zones: zones(),
            endpoint_url: None,
        },
        Arc::new(GlueCatalog::new(Moto::context_for(endpoint, attempts), None, zones())),
    )
}

#[test]
fn athena_query_lifecycle_over_moto_types_the_result() {
    let moto = Moto::start();
    // Each query stays queued, then running, for a few polls before it succeeds.
    moto_api(moto.port, "/moto-api/state-manager/set-transition", json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 3}}));
    let info = |name: &str, t: &str| json!({"Name": name, "Label": name, "Type": t, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN"});
    let cell = |v: Option<&str>| match v {
        Some(v) => json!({"VarCharValue": v}),
        None => json!({}),
    };
    let row = |cells: [Option<&str>; 5]| json!({"Data": cells.iter().map(|c| cell(*c)).collect::<Vec<_>>()});
    moto_api(
        moto.port,
        "/moto-api/static/athena/query-results",
        json!({"region": moto::REGION, "results": [{
            "column_info": [info("plan", "varchar"), info("users", "bigint"), info("mean_score", "double"), info("paying", "boolean"), info("week", "date")],
            "rows": [
                row([Some("plan"), Some("users"), Some("mean_score"), Some("paying"), Some("week")]),
                row([Some("pro"), Some("1204"), Some("0.61"), Some("true"), Some("2026-11-22")]),
                row([Some("free"), Some("88120"), None, Some("false"), Some("2026-11-22")]),
            ]
        }]}),
    );
    let sql = athena(&moto.endpoint(), 3);
    let statement = "SELECT plan, count(*) AS users, avg(score) AS mean_score, bool_or(paying) AS paying, max(snapshot_date) AS week FROM engage.scores GROUP BY 1";
    let result = sql.query(statement).unwrap();
    let types: Vec<DataType> = result.schema.fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types, vec![DataType::Utf8, DataType::Int64, DataType::Float64, DataType::Boolean, DataType::Date32]);
    assert_eq!(result.num_rows(), 2, "the label row is not data");
    let batch = &result.batches[0];
    let plans = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!((plans.value(0), plans.value(1)), ("pro", "free"));
    assert_eq!(batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap().value(1), 88120);
    let means = batch.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(means.value(0), 0.61);
    assert!(means.is_null(1), "a missing cell is NULL");
    assert!(batch.column(3).as_any().downcast_ref::<BooleanArray>().unwrap().value(0));
    assert_eq!(batch.column(4).as_any().downcast_ref::<Date32Array>().unwrap().value(0), 20779);

    // The statement reached Athena as written, in the workgroup, results to the output location.
    let ctas = "CREATE TABLE run_1.scoring WITH (format = 'PARQUET', external_location = 's3://work/run=1/scoring/') AS SELECT * FROM engage.users";
    assert_eq!(sql.execute(ctas).unwrap(), 0);
    let aws = moto.context();
    let client = aws_sdk_athena::Client::new(aws.sdk());
    let queries: Vec<String> = aws.block_on(async move {
        let ids = client.list_query_executions().send().await.unwrap().query_execution_ids().to_vec();
        let mut queries = Vec::new();
        for id in ids {
            let output = client.get_query_execution().query_execution_id(id).send().await.unwrap();
            let execution = output.query_execution().unwrap();
            assert_eq!(execution.work_group(), Some("primary"));
            let location = execution.result_configuration().and_then(|c| c.output_location()).unwrap_or_default();
            assert!(location.starts_with("s3://acme-athena/results/"), "{location}");
            queries.push(execution.query().unwrap_or_default().to_string());
        }
        queries
    });
    assert!(queries.contains(&statement.to_string()), "{queries:?}");
    let pointed = ctas.replace("s3://work/", "s3://acme-lake/engage/work/");
    assert!(queries.contains(&pointed), "zone locations point at the real bucket: {queries:?}");
}

/// Athena in JSON: what the stand-in answers.
fn execution(id: &str, state: &str, reason: Option<&str>) -> String {
    let mut status = json!({"State": state, "SubmissionDateTime": 1.7e9});
    if let Some(reason) = reason {
        status["StateChangeReason"] = json!(reason);
        status["AthenaError"] = json!({"ErrorCategory": 2, "ErrorType": 1001, "Retryable": false, "ErrorMessage": reason});
    }
    json!({"QueryExecution": {"QueryExecutionId": id, "Query": "…", "StatementType": "DML", "Status": status, "WorkGroup": "primary"}}).to_string()
}

#[test]
fn athena_failures_pages_and_throttling_against_a_stand_in() {
    const ROWS: usize = 2_500;
    let polls = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let unsigned = Arc::new(AtomicUsize::new(0));
    let stand_in = {
        let (polls, throttled, unsigned) = (polls.clone(), throttled.clone(), unsigned.clone());
        FaultProxy::start(
            moto::free_port(),
            Box::new(move |request| {
                let auth = request.header("authorization").unwrap_or_default();
                if !(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMOTOTESTING/") && auth.contains("/athena/aws4_request") && auth.contains("Signature=")) {
                    unsigned.fetch_add(1, Ordering::SeqCst);
                    return Fault::Answer(403, json!({"__type": "InvalidSignatureException", "message": "not signed"}).to_string());
                }
                let body = request.json();
                match request.header("x-amz-target").unwrap_or_default() {
                    "AmazonAthena.StartQueryExecution" => {
                        assert_eq!(body["WorkGroup"], "primary");
                        assert_eq!(body["ResultConfiguration"]["OutputLocation"], "s3://acme-athena/results/");
                        let id = if body["QueryString"].as_str().unwrap().contains("boom") { "q-fail" } else { "q-big" };
                        Fault::Answer(200, json!({"QueryExecutionId": id}).to_string())
                    }
                    "AmazonAthena.GetQueryExecution" => match body["QueryExecutionId"].as_str().unwrap() {
                        "q-fail" => Fault::Answer(200, execution("q-fail", "FAILED", Some("COLUMN_NOT_FOUND: line 1:8: Column 'boom' cannot be resolved"))),
                        _ if polls.fetch_add(1, Ordering::SeqCst) < 2 => Fault::Answer(200, execution("q-big", "RUNNING", None)),
                        _ => Fault::Answer(200, execution("q-big", "SUCCEEDED", None)),
                    },
                    "AmazonAthena.GetQueryResults" => {
                        if body["NextToken"] == "page-2" && throttled.fetch_add(1, Ordering::SeqCst) == 0 {
                            return Fault::Answer(400, json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string());
                        }
                        assert_eq!(body["MaxResults"], 1000);
                        let page: usize = match body["NextToken"].as_str() {
                            None => 1,
                            Some(token) => token.trim_start_matches("page-").parse().unwrap(),
                        };
                        // Athena's first page starts with the label row: 999 data rows, then 1000 a page.
                        let mut rows = Vec::new();
                        if page == 1 {
                            rows.push(json!({"Data": [{"VarCharValue": "user_id"}, {"VarCharValue": "probability"}]}));
                        }
                        let start = if page == 1 { 0 } else { 999 + (page - 2) * 1000 };
                        let end = (start + 1000 - rows.len()).min(ROWS);
                        for i in start..end {
                            rows.push(json!({"Data": [{"VarCharValue": format!("u{i:05}")}, {"VarCharValue": format!("{}", i as f64 / ROWS as f64)}]}));
                        }
                        let columns = [("user_id", "varchar"), ("probability", "double")]
                            .map(|(n, t)| json!({"Name": n, "Label": n, "Type": t, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN"}));
                        let mut answer = json!({"ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": columns}}});
                        if end < ROWS {
                            answer["NextToken"] = json!(format!("page-{}", page + 1));
                        }
                        Fault::Answer(200, answer.to_string())
                    }
                    other => panic!("unexpected call {other}"),
                }
            }),
        )
    };
    let sql = athena(&stand_in.endpoint(), 3);

    let error = sql.query("SELECT boom FROM engage.users").unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert_eq!(error.message, "athena query q-fail FAILED: COLUMN_NOT_FOUND: line 1:8: Column 'boom' cannot be resolved");

    let result = sql.query("SELECT user_id, probability FROM engage.engagement_predictions").unwrap();
    assert_eq!(result.num_rows(), ROWS, "every page, without the label row");
    assert_eq!(result.batches.len(), 3);
    let ids: Vec<String> = result
        .batches
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<StringArray>().unwrap().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>())
        .collect();
    assert_eq!(ids, (0..ROWS).map(|i| format!("u{i:05}")).collect::<Vec<_>>());
    assert_eq!(result.schema.field(1).data_type(), &DataType::Float64);
    assert!(polls.load(Ordering::SeqCst) >= 3, "polled while RUNNING");
    assert_eq!(throttled.load(Ordering::SeqCst), 2, "throttled once, then retried");
    assert_eq!(unsigned.load(Ordering::SeqCst), 0, "every call carried a SigV4 signature");
}

/// Two ingests of different snapshots update one table at the same time (two Fargate tasks):
/// Glue has no lock, so neither may lose the other's partition, nor fail on the other's create.
#[test]
fn glue_updates_racing_on_one_table_keep_each_others_partitions() {
    let moto = Moto::start();
    let ours = GlueCatalog::new(moto.context(), None, zones());
    let theirs = GlueCatalog::new(moto.context(), None, zones());
    let with_partition = |existing: Option<TableDef>, day: &str| {
        let mut def = existing.unwrap_or_else(|| users_table(&[]));
        def.partitions.push(users_table(&[day]).partitions.remove(0));
        def
    };

    // The table is created by the other task between our read (no table) and our create:
    // ours is retried on the table that now exists.
    let mut calls = 0;
    ours.update_table("engage", "users", &mut |existing| {
        calls += 1;
        if calls == 1 {
            assert!(existing.is_none());
            theirs.update_table("engage", "users", &mut |e| Ok(with_partition(e, "2026-11-29"))).unwrap();
        }
        Ok(with_partition(existing, "2026-11-22"))
    })
    .unwrap();
    assert_eq!(calls, 2, "the create that lost the race is made again from the table as it now is");
    assert_eq!(sorted(ours.table("engage", "users").unwrap().unwrap()), users_table(&["2026-11-22", "2026-11-29"]));

    // The other task adds its week between our read and our write.
    ours.update_table("engage", "users", &mut |existing| {
        if existing.as_ref().is_some_and(|d| d.partitions.len() == 2) {
            theirs.update_table("engage", "users", &mut |e| Ok(with_partition(e, "2026-12-13"))).unwrap();
        }
        Ok(with_partition(existing, "2026-12-06"))
    })
    .unwrap();
    let both = sorted(ours.table("engage", "users").unwrap().unwrap());
    assert_eq!(both, users_table(&["2026-11-22", "2026-11-29", "2026-12-06", "2026-12-13"]), "neither week is lost");

    // A partition the change itself drops is still deleted.
    ours.update_table("engage", "users", &mut |existing| {
        let mut def = existing.unwrap();
        def.partitions.retain(|p| p.values[0] != "2026-11-22");
        Ok(def)
    })
    .unwrap();
    assert_eq!(sorted(ours.table("engage", "users").unwrap().unwrap()), users_table(&["2026-11-29", "2026-12-06", "2026-12-13"]));
}
