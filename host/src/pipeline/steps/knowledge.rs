//! `knowledge`: markdown documents the assistant retrieves and cites, in
//! `knowledge/run=<id>/`: the data dictionary, the model catalog, insights and
//! the run overview. Each has a `# title` and short `##` sections, so a passage
//! found by search stands on its own.
//!
//! Params (all optional): `features_stage`, `train_stage`, `predict_stage`
//! (default `features`, `train`, `predict`; found by their summary keys when
//! named otherwise) and `summary_table` (default `<run_db>.engagement_summary`,
//! read with SQL when it exists).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{param_str, table_name, upstream};
use crate::data::schema::{FEATURES, LABEL, Rule, SNAPSHOT_DATE, USER_ID};
use crate::pipeline::step::{KNOWLEDGE_BUCKET, RUNS_BUCKET, Step, StepContext, StepError, StepOutput};

pub struct Knowledge;

/// Rows of a SQL result shown in a document at most.
const MAX_TABLE_ROWS: usize = 60;

fn rule_text(rule: &Rule) -> String {
    match rule {
        Rule::Int { min, max: Some(max) } => format!("integer {min}-{max}"),
        Rule::Int { min, max: None } => format!("integer >= {min}"),
        Rule::Float { min, max: Some(max) } => format!("number {min}-{max}"),
        Rule::Float { min, max: None } => format!("number >= {min}"),
        Rule::Category(values) => format!("one of {}", values.join(", ")),
        Rule::Country => "ISO 3166 alpha-2 country code".into(),
        Rule::Text => "text".into(),
    }
}

/// A float with at most 4 decimals, trailing zeros dropped: documents are read, not parsed.
fn short(f: f64) -> String {
    let text = format!("{f:.4}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_u64() || v.is_i64() => format!("{}", f as i64),
        Some(f) => short(f),
        None if v.is_null() => "n/a".into(),
        None => v.to_string().trim_matches('"').to_string(),
    }
}

fn data_dictionary(features: Option<&Value>) -> String {
    let mut d = String::from("# Data dictionary\n\nWhat every column of the weekly user snapshot means, and the model features built from them.\n\n");
    d += "## Keys and label\n\n";
    let _ = writeln!(d, "- `{USER_ID}` (string): the user, unique within a snapshot.");
    let _ = writeln!(d, "- `{SNAPSHOT_DATE}` (date): the Sunday the snapshot was taken.");
    let _ = writeln!(d, "- `{LABEL}` (0/1): whether the user engaged in the 7 days after the snapshot; absent in the week being scored.\n");
    let mut groups: Vec<&str> = FEATURES.iter().map(|f| f.group).collect();
    groups.dedup();
    for group in groups {
        let cols: Vec<_> = FEATURES.iter().filter(|f| f.group == group).collect();
        let _ = writeln!(d, "## Raw columns: {group} ({} columns)\n", cols.len());
        for f in cols {
            let required = if f.required { "; required" } else { "; may be missing" };
            let _ = writeln!(d, "- `{}`: {}{required}.", f.name, rule_text(&f.rule));
        }
        d.push('\n');
    }
    match features.and_then(|f| f["features"].as_array()).filter(|f| !f.is_empty()) {
        Some(list) => {
            let _ = writeln!(d, "## Model features ({} features)\n", list.len());
            d += "The model reads these features, computed from the raw columns by feature-transform plugins.\n\n";
            for f in list {
                let _ = writeln!(
                    d,
                    "- `{}` ({}, unit: {}): {} (transform `{}`).",
                    num(&f["name"]),
                    num(&f["type"]),
                    if f["unit"].as_str().unwrap_or("").is_empty() { "none".into() } else { num(&f["unit"]) },
                    num(&f["description"]),
                    num(&f["transform"])
                );
            }
        }
        None => d += "## Model features\n\nThis run reported no feature transforms.\n",
    }
    d
}

fn model_catalog(train: Option<&Value>) -> String {
    let mut d = String::from("# Model catalog\n\nThe engagement model this run trained, how well it predicts, and what it relies on.\n\n");
    let Some(t) = train else {
        return d + "## Model\n\nThis run trained no model.\n";
    };
    d += "## Model\n\n";
    let _ = writeln!(d, "- Location: `{}` (XGBoost JSON format; loads in Python `xgboost`).", num(&t["model_uri"]));
    let _ = writeln!(d, "- Trees: {} of {} rounds trained; best iteration {}.", num(&t["trees"]), num(&t["rounds"]), num(&t["best_iteration"]));
    let _ = writeln!(d, "- Training rows: {}; validation rows: {} (users split by a hash of user_id).", num(&t["training_rows"]), num(&t["validation_rows"]));
    if let Some(p) = t["params"].as_object() {
        let shown: Vec<String> = ["n_rounds", "eta", "max_depth", "early_stopping_rounds", "min_child_weight", "subsample", "colsample_bytree", "seed"]
            .iter()
            .filter_map(|k| p.get(*k).map(|v| format!("{k} = {}", num(v))))
            .collect();
        let _ = writeln!(d, "- Parameters: {}.", shown.join(", "));
    }
    d += "\n## Quality on the validation set\n\n| metric | model | baseline (logistic regression) |\n|---|---|---|\n";
    for m in ["auc", "logloss", "accuracy", "brier"] {
        let _ = writeln!(d, "| {m} | {} | {} |", num(&t["metrics"][m]), num(&t["baseline"][m]));
    }
    d += "\nAUC is the chance a random engaged user scores above a random non-engaged one (higher is better); log loss and Brier score measure probability error (lower is better).\n\n";
    d += "## Most important features\n\nRanked by the total loss reduction of the splits on each feature.\n\n";
    for (i, f) in t["importance"].as_array().into_iter().flatten().take(10).enumerate() {
        let _ = writeln!(d, "{}. `{}`: gain {}", i + 1, num(&f["feature"]), num(&f["gain"]));
    }
    d
}

fn insights(ctx: &StepContext, predict: Option<&Value>, summary: Option<(String, crate::capabilities::sql::QueryResult)>) -> String {
    let mut d = String::from("# Insights\n\nWho is likely to engage next week, by segment, from this run's predictions.\n\n");
    match predict {
        Some(p) => {
            let users = p["users_scored"].as_u64().unwrap_or(0);
            d += "## Segments\n\n";
            let _ = writeln!(
                d,
                "Users are segmented by predicted probability of engaging next week: high at {} or above, medium at {} or above, low below.\n",
                num(&p["thresholds"]["high"]),
                num(&p["thresholds"]["medium"])
            );
            for s in ["high", "medium", "low"] {
                let n = p["segments"][s].as_u64().unwrap_or(0);
                let share = if users > 0 { 100.0 * n as f64 / users as f64 } else { 0.0 };
                let _ = writeln!(d, "- {s}: {n} users ({share:.1}%)");
            }
            let _ = writeln!(d, "\n{users} users were scored in total.\n");
            if let Some(h) = p["histogram"].as_array() {
                d += "## Score distribution\n\nUsers per probability band of width 0.05:\n\n";
                let bins = h.len().max(1) as f64;
                for (i, c) in h.iter().enumerate() {
                    let _ = writeln!(d, "- {:.2}-{:.2}: {}", i as f64 / bins, (i + 1) as f64 / bins, num(c));
                }
                d.push('\n');
            }
        }
        None => d += "## Segments\n\nThis run produced no predictions.\n\n",
    }
    if let Some((table, result)) = summary {
        let _ = writeln!(d, "## Summary statistics\n\nFrom `{table}` (stage `{}`):\n", ctx.stage);
        let names: Vec<String> = result.schema.fields().iter().map(|f| f.name().clone()).collect();
        let _ = writeln!(d, "| {} |\n|{}", names.join(" | "), "---|".repeat(names.len()));
        let mut shown = 0;
        'rows: for batch in &result.batches {
            for r in 0..batch.num_rows() {
                if shown == MAX_TABLE_ROWS {
                    break 'rows;
                }
                let cells: Vec<String> = (0..batch.num_columns())
                    .map(|c| {
                        let text = arrow::util::display::array_value_to_string(batch.column(c), r).unwrap_or_default();
                        match batch.column(c).data_type() {
                            arrow::datatypes::DataType::Float64 | arrow::datatypes::DataType::Float32 => text.parse().map(short).unwrap_or(text),
                            _ => text,
                        }
                    })
                    .collect();
                let _ = writeln!(d, "| {} |", cells.join(" | "));
                shown += 1;
            }
        }
        if result.num_rows() > shown {
            let _ = writeln!(d, "\n({} of {} rows shown.)", shown, result.num_rows());
        }
    }
    d
}

fn run_overview(ctx: &StepContext, record: Option<Value>) -> String {
    let mut d = format!("# Run overview\n\nRun `{}` of the weekly engagement pipeline; its tables are in database `{}`.\n\n## Stages\n\n", ctx.run_id, ctx.run_db);
    match record.as_ref().and_then(|r| r["stages"].as_array()) {
        Some(stages) => {
            d += "| stage | kind | status | rows in | rows out | attempts |\n|---|---|---|---|---|---|\n";
            for s in stages {
                let _ = writeln!(
                    d,
                    "| {} | {} | {} | {} | {} | {} |",
                    num(&s["name"]),
                    num(&s["kind"]),
                    num(&s["status"]),
                    num(&s["output"]["rows_in"]),
                    num(&s["output"]["rows_out"]),
                    s["attempts"].as_array().map_or(0, |a| a.len())
                );
            }
        }
        None => {
            for name in ctx.upstream.keys() {
                let _ = writeln!(d, "- `{name}`: committed");
            }
        }
    }
    d += "\n## Highlights\n\n";
    if let Some(i) = upstream(ctx, "ingest", "rows_read") {
        let _ = writeln!(d, "- Ingest: {} rows read, {} accepted, {} quarantined.", num(&i["rows_read"]), num(&i["rows_accepted"]), num(&i["rows_quarantined"]));
    }
    if let Some(f) = upstream(ctx, "features", "tables") {
        for (name, rows) in f["tables"].as_object().into_iter().flatten() {
            let _ = writeln!(d, "- Features: {} rows in the {name} set.", num(rows));
        }
    }
    if let Some(t) = upstream(ctx, "train", "model_uri") {
        let _ = writeln!(d, "- Model AUC {} against the baseline's {}.", num(&t["metrics"]["auc"]), num(&t["baseline"]["auc"]));
    }
    if let Some(p) = upstream(ctx, "predict", "users_scored") {
        let _ = writeln!(d, "- Predictions: {} users scored.", num(&p["users_scored"]));
    }
    d
}

impl Step for Knowledge {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let stage = |param: &str, default: &str| -> Result<String, StepError> { Ok(param_str(ctx, param)?.unwrap_or_else(|| default.into())) };
        let features = upstream(ctx, &stage("features_stage", "features")?, "features");
        let train = upstream(ctx, &stage("train_stage", "train")?, "model_uri");
        let predict = upstream(ctx, &stage("predict_stage", "predict")?, "users_scored");

        let summary_table = param_str(ctx, "summary_table")?.unwrap_or_else(|| format!("{}.engagement_summary", ctx.run_db));
        let (db, table) = table_name(ctx, &summary_table)?;
        let exists = ctx.services.catalog.table(&db, &table).map_err(|e| StepError::io(format!("stage '{}': catalog {db}.{table}: {e}", ctx.stage)))?.is_some();
        let summary = if exists {
            let result = ctx
                .services
                .sql
                .query(&format!("SELECT * FROM \"{db}\".\"{table}\" LIMIT {}", MAX_TABLE_ROWS + 1))
                .map_err(|e| StepError::io(format!("stage '{}': reading {db}.{table}: {e}", ctx.stage)))?;
            Some((format!("{db}.{table}"), result))
        } else {
            None
        };
        // The record as the executor last wrote it (this stage still running).
        let record = ctx
            .services
            .storage
            .get(RUNS_BUCKET, &format!("{}/run.json", ctx.run_id))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());

        let documents = [
            ("data-dictionary.md", data_dictionary(features)),
            ("model-catalog.md", model_catalog(train)),
            ("insights.md", insights(ctx, predict, summary)),
            ("run-overview.md", run_overview(ctx, record)),
        ];
        let mut keys = Vec::new();
        for (name, text) in &documents {
            ctx.check_cancelled()?;
            let key = format!("run={}/{name}", ctx.run_id);
            ctx.services
                .storage
                .put(KNOWLEDGE_BUCKET, &key, text.as_bytes())
                .map_err(|e| StepError::io(format!("stage '{}': writing s3://{KNOWLEDGE_BUCKET}/{key}: {e}", ctx.stage)))?;
            keys.push(key);
        }
        Ok(StepOutput {
            rows_in: 0,
            rows_out: keys.len() as u64,
            outputs: keys.iter().map(|k| format!("s3://{KNOWLEDGE_BUCKET}/{k}")).collect(),
            summary: json!({ "documents": keys, "bucket": KNOWLEDGE_BUCKET }),
        })
    }
}
