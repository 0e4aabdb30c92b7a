//! Stage metrics as CloudWatch Embedded Metric Format: one JSON line per
//! committed stage (rows, rows/s, seconds; AUC for a stage that trained a model)
//! and one for the run. CloudWatch Logs turns these lines into metrics by
//! itself, so a hosted run needs no metrics SDK and no extra permission.

use serde_json::{Map, Value, json};

use super::record::{RunRecord, StageStatus};

/// The CloudWatch namespace the metrics go to.
pub const NAMESPACE: &str = "Engage";

/// EMF documents for `record`, stages first, the run last.
pub fn emf_documents(record: &RunRecord, timestamp_ms: i64) -> Vec<Value> {
    let mut documents = Vec::new();
    for stage in record.stages.iter().filter(|s| s.status == StageStatus::Committed) {
        let Some(output) = &stage.output else {
            continue;
        };
        let seconds = stage.elapsed_secs().unwrap_or(0.0);
        let mut values = Map::new();
        values.insert("Rows".into(), output.rows_out.into());
        values.insert("Seconds".into(), seconds.into());
        values.insert("RowsPerSecond".into(), if seconds > 0.0 { (output.rows_out as f64 / seconds).into() } else { 0.0.into() });
        if let Some(auc) = output.summary.pointer("/metrics/auc").and_then(Value::as_f64) {
            values.insert("AUC".into(), auc.into());
        }
        let dimensions = [("Pipeline", record.pipeline.as_str()), ("Stage", stage.name.as_str())];
        documents.push(document(timestamp_ms, &dimensions, values, &record.run_id));
    }
    let mut values = Map::new();
    values.insert("Seconds".into(), record.elapsed_secs().unwrap_or(0.0).into());
    values.insert("Succeeded".into(), u8::from(record.status.name() == "succeeded").into());
    documents.push(document(timestamp_ms, &[("Pipeline", record.pipeline.as_str())], values, &record.run_id));
    documents
}

fn unit(metric: &str) -> &'static str {
    match metric {
        "Rows" | "Succeeded" => "Count",
        "Seconds" => "Seconds",
        "RowsPerSecond" => "Count/Second",
        _ => "None",
    }
}

/// One EMF document: the metric values and dimensions at the top level, and
/// `_aws` telling CloudWatch which keys are metrics. `RunId` rides along as a
/// property (searchable in Logs Insights, not a dimension: one per run would
/// make a new metric every week).
fn document(timestamp_ms: i64, dimensions: &[(&str, &str)], values: Map<String, Value>, run_id: &str) -> Value {
    let metrics: Vec<Value> = values.keys().map(|name| json!({ "Name": name, "Unit": unit(name) })).collect();
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({ "Timestamp": timestamp_ms, "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [names], "Metrics": metrics }] }),
    );
    for (name, value) in dimensions {
        doc.insert((*name).into(), Value::from(*value));
    }
    doc.insert("RunId".into(), Value::from(run_id));
    doc.extend(values);
    Value::Object(doc)
}
