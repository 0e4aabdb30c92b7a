//! `knowledge`: the knowledge base the assistant retrieves and cites, in
//! `knowledge/run=<id>/`: markdown for people (run overview, data dictionary,
//! model card, segments, insights, data quality, changes since the previous
//! week), `facts.json` for machines, and `chunks.jsonl`, the documents split at
//! their headings (one chunk per column, one per report section) with stable ids.
//!
//! Params (all optional): `features_stage`, `train_stage`, `predict_stage`
//! (default `features`, `train`, `predict`; found by their summary keys when
//! named otherwise) and `summary_table` (default `<run_db>.engagement_summary`,
//! read with SQL when it exists).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{param_str, table_name, upstream};
use crate::assistant::chunks;
use crate::data::dictionary;
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
pub fn short(f: f64) -> String {
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

/// One `###` section per column, so each column is a chunk of its own.
fn data_dictionary(features: Option<&Value>) -> String {
    let mut d = String::from("# Data dictionary\n\nWhat every column of the weekly user snapshot means, its unit, and the model features built from them.\n\n");
    let column = |d: &mut String, name: &str, kind: &str, source: &str| {
        let (meaning, unit) = dictionary::meaning(name).unwrap_or(("", ""));
        let _ = writeln!(d, "### `{name}`\n\n`{name}`: {meaning}. Unit: {unit}. Type: {kind}. Source: {source}.\n");
    };
    d += "## Keys and label\n\n";
    column(&mut d, USER_ID, "string, required", "the raw weekly snapshot (ingest)");
    column(&mut d, SNAPSHOT_DATE, "date, required", "the raw weekly snapshot (ingest)");
    column(&mut d, LABEL, "0/1; absent in the week being scored", "the raw weekly snapshot (ingest)");
    let mut groups: Vec<&str> = FEATURES.iter().map(|f| f.group).collect();
    groups.dedup();
    for group in groups {
        let cols: Vec<_> = FEATURES.iter().filter(|f| f.group == group).collect();
        let _ = writeln!(d, "## Raw columns: {group} ({} columns)\n", cols.len());
        let _ = writeln!(d, "{}.\n", cols.iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", "));
        for f in cols {
            let required = if f.required { "; required" } else { "; may be missing" };
            column(&mut d, f.name, &format!("{}{required}", rule_text(&f.rule)), &format!("the raw weekly snapshot (ingest), group {group}"));
        }
    }
    match features.and_then(|f| f["features"].as_array()).filter(|f| !f.is_empty()) {
        Some(list) => {
            let _ = writeln!(d, "## Model features ({} features)\n", list.len());
            d += "The model reads these features, computed from the raw columns by feature-transform plugins.\n\n";
            let _ = writeln!(d, "{}.\n", list.iter().map(|f| format!("`{}`", num(&f["name"]))).collect::<Vec<_>>().join(", "));
            for f in list {
                let unit = if f["unit"].as_str().unwrap_or("").is_empty() { "none".into() } else { num(&f["unit"]) };
                let _ = writeln!(
                    d,
                    "### `{}`\n\nModel feature `{}`: {}. Unit: {unit}. Type: {}. Source plugin: `{}` (feature transform).\n",
                    num(&f["name"]),
                    num(&f["name"]),
                    num(&f["description"]),
                    num(&f["type"]),
                    num(&f["transform"])
                );
            }
        }
        None => d += "## Model features\n\nThis run reported no feature transforms.\n",
    }
    d
}

fn model_card(train: Option<&Value>) -> String {
    let mut d = String::from("# Model card\n\nThe engagement model this run trained, how well it predicts against the baseline, what drives it, and how well calibrated it is.\n\n");
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
    d += "\n## Quality against the baseline\n\nMeasured on the validation set; the baseline is a logistic regression on the same features.\n\n| metric | model | baseline (logistic regression) |\n|---|---|---|\n";
    for m in ["auc", "average_precision", "logloss", "accuracy", "brier"] {
        let _ = writeln!(d, "| {m} | {} | {} |", num(&t["metrics"][m]), num(&t["baseline"][m]));
    }
    let _ = writeln!(d, "\nThe model's AUC is {} against the baseline's {}.", num(&t["metrics"]["auc"]), num(&t["baseline"]["auc"]));
    d += "AUC is the chance a random engaged user scores above a random non-engaged one (higher is better); log loss and Brier score measure probability error (lower is better).\n\n";
    d += "## Top drivers\n\nWhat drives engagement: the features ranked by gain, the total loss reduction of the splits on each feature.\n\n";
    for (i, f) in t["importance"].as_array().into_iter().flatten().take(10).enumerate() {
        let _ = writeln!(d, "{}. `{}`: gain {}", i + 1, num(&f["feature"]), num(&f["gain"]));
    }
    d += "\n## Calibration\n\nPredicted probability against the observed engagement rate on the validation set, per probability bin (a calibrated model has the two close).\n\n| bin | predicted | observed | users |\n|---|---|---|---|\n";
    for b in t["calibration"].as_array().into_iter().flatten() {
        let _ = writeln!(d, "| {}-{} | {} | {} | {} |", num(&b["lower"]), num(&b["upper"]), num(&b["predicted"]), num(&b["observed"]), num(&b["count"]));
    }
    d
}

fn segments(predict: Option<&Value>) -> String {
    let mut d = String::from("# Segments\n\nWho is likely to engage next week: the segment definitions and how many users fall in each.\n\n");
    let Some(p) = predict else {
        return d + "## Segment sizes\n\nThis run produced no predictions.\n";
    };
    let users = p["users_scored"].as_u64().unwrap_or(0);
    d += "## Segment definitions\n\n";
    let _ = writeln!(
        d,
        "Users are segmented by their predicted probability of engaging next week: high at {} or above, medium at {} or above, low below {}. Users in the low segment are the ones likely to disengage.\n",
        num(&p["thresholds"]["high"]),
        num(&p["thresholds"]["medium"]),
        num(&p["thresholds"]["medium"])
    );
    d += "## Segment sizes\n\n";
    for s in ["high", "medium", "low"] {
        let n = p["segments"][s].as_u64().unwrap_or(0);
        let _ = writeln!(d, "- {s}: {n} users ({})", percent(n, users));
    }
    let _ = writeln!(d, "\n{users} users were scored in total.\n");
    d
}

/// `n` of `total` as a percentage with one decimal ("12.5%").
pub fn percent(n: u64, total: u64) -> String {
    format!("{:.1}%", if total > 0 { 100.0 * n as f64 / total as f64 } else { 0.0 })
}

fn insights(ctx: &StepContext, predict: Option<&Value>, summary: Option<(String, crate::capabilities::sql::QueryResult)>) -> String {
    let mut d = String::from("# Insights\n\nHow this run's predictions spread, and summary statistics by segment, plan and country.\n\n");
    if let Some(p) = predict {
        let _ = writeln!(d, "{} users were scored in total.\n", num(&p["users_scored"]));
        if let Some(h) = p["histogram"].as_array() {
            d += "## Score distribution\n\nUsers per probability band of width 0.05:\n\n";
            let bins = h.len().max(1) as f64;
            for (i, c) in h.iter().enumerate() {
                let _ = writeln!(d, "- {:.2}-{:.2}: {}", i as f64 / bins, (i + 1) as f64 / bins, num(c));
            }
            d.push('\n');
        }
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

pub(crate) fn data_quality(ingest: Option<&Value>, prepare: Option<&Value>) -> String {
    let mut d = String::from("# Data quality\n\nWhat ingest accepted and quarantined, and the data-quality checks the training and scoring sets passed.\n\n");
    d += "## Ingest accounting\n\n";
    match ingest {
        Some(i) => {
            let _ = writeln!(
                d,
                "Ingest read {} rows from {} new files into `{}`: {} accepted and {} quarantined (rows read = accepted + quarantined). {} files were skipped as already ingested.\n",
                num(&i["rows_read"]),
                num(&i["files"]),
                num(&i["table"]),
                num(&i["rows_accepted"]),
                num(&i["rows_quarantined"]),
                num(&i["skipped_files"])
            );
            d += "## Quarantine reasons\n\nQuarantined rows keep their line number and every reason in the quarantine table. Reasons by column:\n\n";
            let reasons = i["reasons_by_column"].as_object().filter(|r| !r.is_empty());
            match reasons {
                Some(r) => r.iter().for_each(|(c, n)| {
                    let _ = writeln!(d, "- `{c}`: {}", num(n));
                }),
                None => d += "No row was quarantined in this run.\n",
            }
            let first = i["first_rejected"].as_array().filter(|rows| !rows.is_empty());
            if let Some(rows) = first {
                d += "\nThe first quarantined rows:\n\n";
                for row in rows {
                    let reasons: Vec<&str> = row["reasons"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
                    let _ = writeln!(d, "- {} {}: {}", num(&row["file"]), num(&row["place"]), reasons.join("; "));
                }
            }
            for w in i["warnings"].as_array().into_iter().flatten() {
                let _ = writeln!(d, "\nWarning: {}", num(w));
            }
            d.push('\n');
        }
        None => d += "This run ingested nothing new.\n\n",
    }
    d += "## Data-quality checks\n\n";
    match prepare.and_then(|p| p["checks"].as_array()) {
        Some(checks) => {
            d += "| check | value | limit | passed |\n|---|---|---|---|\n";
            for c in checks {
                let _ = writeln!(d, "| {} | {} | {} | {} |", num(&c["name"]), num(&c["value"]), num(&c["limit"]), if c["ok"].as_bool() == Some(true) { "yes" } else { "no" });
            }
        }
        None => d += "The prepare stage reported no checks.\n",
    }
    d
}

pub(crate) fn changes(drift: Option<&Value>) -> String {
    let mut d = String::from("# Changes since the previous week\n\nWhat moved between the previous run and this one: scores, segments, features and the realized accuracy of last week's model.\n\n");
    let Some(r) = drift.filter(|r| !r["previous_run"].is_null()) else {
        return d + "## Previous run\n\nThere is no previous run to compare with: this is the first run of the pipeline, so nothing changed since last week.\n";
    };
    let _ = writeln!(d, "## Previous run\n\nCompared with run `{}`.\n", num(&r["previous_run"]));
    if let Some(s) = r["score_shift"].as_object() {
        let _ = writeln!(
            d,
            "## Score shift\n\nThe mean predicted probability moved from {} last week to {} this week (PSI {}{}).\n",
            num(&s["mean_previous"]),
            num(&s["mean_current"]),
            num(&s["psi"]),
            if s["warning"].as_bool() == Some(true) { ", above the warning threshold" } else { "" }
        );
    }
    if let Some(m) = r["segment_migration"].as_object().filter(|m| !m.is_empty()) {
        d += "## Segment migration\n\nUsers scored in both weeks, by last week's segment (rows) and this week's (columns):\n\n| last week | high | medium | low |\n|---|---|---|---|\n";
        for from in ["high", "medium", "low"] {
            let row = m.iter().find(|(k, _)| k.eq_ignore_ascii_case(from)).map(|(_, v)| v);
            let cell = |to: &str| row.and_then(|r| r.as_object()).and_then(|r| r.iter().find(|(k, _)| k.eq_ignore_ascii_case(to))).map_or("0".into(), |(_, v)| num(v));
            let _ = writeln!(d, "| {from} | {} | {} | {} |", cell("high"), cell("medium"), cell("low"));
        }
        d.push('\n');
    }
    d += "## Realized accuracy\n\n";
    match r["realized_auc"].as_f64() {
        Some(_) => {
            let _ = writeln!(d, "Last week's model reached an AUC of {} on the {} users whose labels arrived (its validation AUC was {}).\n", num(&r["realized_auc"]), num(&r["realized_auc_rows"]), num(&r["validation_auc_previous"]));
        }
        None => d += "The labels of last week's scores have not arrived yet.\n\n",
    }
    d += "## Feature drift\n\n";
    for f in r["features"].as_array().into_iter().flatten() {
        let _ = writeln!(d, "- `{}`: PSI {}{}", num(&f["name"]), num(&f["psi"]), if f["warning"].as_bool() == Some(true) { " (warning)" } else { "" });
    }
    d += "\n## Warnings\n\n";
    match r["warnings"].as_array().filter(|w| !w.is_empty()) {
        Some(w) => w.iter().for_each(|w| {
            let _ = writeln!(d, "- {}", num(w));
        }),
        None => d += "No drift warnings this week.\n",
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

/// The same facts for machines (the assistant answers metric questions from them).
fn facts(ctx: &StepContext, train: Option<&Value>, predict: Option<&Value>, ingest: Option<&Value>, drift: Option<&Value>, features: Option<&Value>) -> Value {
    let pick = |v: Option<&Value>, keys: &[&str]| -> Value {
        v.map_or(Value::Null, |v| Value::Object(keys.iter().filter_map(|k| v.get(*k).map(|x| (k.to_string(), x.clone()))).collect()))
    };
    let drivers: Vec<Value> = train.and_then(|t| t["importance"].as_array()).into_iter().flatten().take(10).map(|f| json!({"feature": f["feature"], "gain": f["gain"]})).collect();
    json!({
        "run_id": ctx.run_id,
        "run_db": ctx.run_db,
        "tables": {
            "results": format!("{}.engagement_results", ctx.run_db),
            "summary": format!("{}.engagement_summary", ctx.run_db),
            "predictions": format!("{}.predictions", ctx.run_db),
        },
        "users_scored": predict.map_or(Value::Null, |p| p["users_scored"].clone()),
        "thresholds": predict.map_or(Value::Null, |p| p["thresholds"].clone()),
        "segments": predict.map_or(Value::Null, |p| p["segments"].clone()),
        "model": pick(train, &["model_uri", "trees", "rounds", "best_iteration", "training_rows", "validation_rows", "metrics", "baseline", "calibration"]),
        "top_drivers": drivers,
        "ingest": pick(ingest, &["table", "rows_read", "rows_accepted", "rows_quarantined", "files", "reasons_by_column"]),
        "drift": drift.cloned().unwrap_or(Value::Null),
        "features": features.and_then(|f| f["features"].as_array()).into_iter().flatten().map(|f| f["name"].clone()).collect::<Vec<_>>(),
    })
}

impl Step for Knowledge {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let stage = |param: &str, default: &str| -> Result<String, StepError> { Ok(param_str(ctx, param)?.unwrap_or_else(|| default.into())) };
        let features = upstream(ctx, &stage("features_stage", "features")?, "features");
        let train = upstream(ctx, &stage("train_stage", "train")?, "model_uri");
        let predict = upstream(ctx, &stage("predict_stage", "predict")?, "users_scored");
        let ingest = upstream(ctx, "ingest", "rows_read");
        let prepare = upstream(ctx, "prepare", "checks");
        let drift = upstream(ctx, "drift", "current_run");

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
            ("run-overview", run_overview(ctx, record)),
            ("data-dictionary", data_dictionary(features)),
            ("model-card", model_card(train)),
            ("segments", segments(predict)),
            ("insights", insights(ctx, predict, summary)),
            ("data-quality", data_quality(ingest, prepare)),
            ("changes", changes(drift)),
        ];
        let put = |name: &str, bytes: &[u8]| -> Result<String, StepError> {
            ctx.check_cancelled()?;
            let key = format!("run={}/{name}", ctx.run_id);
            ctx.services
                .storage
                .put(KNOWLEDGE_BUCKET, &key, bytes)
                .map_err(|e| StepError::io(format!("stage '{}': writing s3://{KNOWLEDGE_BUCKET}/{key}: {e}", ctx.stage)))?;
            Ok(key)
        };
        let mut keys = Vec::new();
        let mut all_chunks = Vec::new();
        for (stem, text) in &documents {
            let key = put(&format!("{stem}.md"), text.as_bytes())?;
            all_chunks.extend(chunks::split(text, stem, &format!("s3://{KNOWLEDGE_BUCKET}/{key}"), ctx.run_id));
            keys.push(key);
        }
        let mut facts = facts(ctx, train, predict, ingest, drift, features);
        // The assistant's counts, shares, averages and rankings are sums over this cube: no scan per question.
        let results = format!("{}.engagement_results", ctx.run_db);
        if ctx.services.catalog.table(&ctx.run_db, "engagement_results").ok().flatten().is_some() {
            let cube = crate::assistant::cube::build(ctx.services.sql.as_ref(), &results)
                .map_err(|e| StepError::io(format!("stage '{}': {e}", ctx.stage)))?;
            facts[crate::assistant::cube::FACTS_KEY] = cube;
        }
        let facts_key = put(chunks::FACTS_FILE, &serde_json::to_vec_pretty(&facts).expect("JSON values serialize"))?;
        // The index last: a reader that finds it finds every document it names.
        let chunks_key = put(chunks::CHUNKS_FILE, chunks::to_jsonl(&all_chunks).as_bytes())?;
        Ok(StepOutput {
            rows_in: 0,
            rows_out: all_chunks.len() as u64,
            outputs: keys.iter().chain([&facts_key, &chunks_key]).map(|k| format!("s3://{KNOWLEDGE_BUCKET}/{k}")).collect(),
            summary: json!({ "documents": keys, "bucket": KNOWLEDGE_BUCKET, "facts": facts_key, "chunks": chunks_key, "chunk_count": all_chunks.len() }),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn data_quality_names_the_first_quarantined_rows_with_their_reasons() {
        let ingest = json!({
            "table": "users", "rows_read": 3, "rows_accepted": 2, "rows_quarantined": 1, "files": 1, "skipped_files": 0,
            "reasons_by_column": { "seats": 1 },
            "first_rejected": [{ "file": "in/users.csv", "place": "line 3", "reasons": ["seats: 0 is out of range >= 1", "plan: 'gold' is not one of free, basic, pro, enterprise"] }],
        });
        let page = data_quality(Some(&ingest), None);
        assert!(page.contains("- `seats`: 1"), "{page}");
        assert!(
            page.contains("- in/users.csv line 3: seats: 0 is out of range >= 1; plan: 'gold' is not one of free, basic, pro, enterprise"),
            "{page}"
        );
        let clean = json!({ "table": "users", "rows_read": 2, "rows_accepted": 2, "rows_quarantined": 0, "reasons_by_column": {}, "first_rejected": [] });
        assert!(!data_quality(Some(&clean), None).contains("The first quarantined rows"));
    }
}
