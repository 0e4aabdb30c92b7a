//! `predict`: scores `<run_db>.scoring_features` with the trained model, as a
//! map stage: shard `i` of `n` takes the users whose id hashes to `i` mod `n`
//! (every user in exactly one shard, whatever order rows stream in).
//!
//! Params: `table` (default `<run_db>.scoring_features`), `model_uri` (alias
//! `model`; default the `model_uri` the train stage reported), `output` (default
//! `predictions`), `reasons` (top reasons per user, default 3; 0 leaves the
//! column empty and skips TreeSHAP), `reasons_method` (`exact`, the default:
//! TreeSHAP; `path`: Saabas path attribution, O(depth) per tree instead of
//! O(leaves · depth), for runs of millions of users; both add up to the margin).
//!
//! Output: `<run_db>.<output>` (`user_id`, `snapshot_date`, `probability`,
//! `confidence`, `segment`, `reasons`: "low sessions_7d: −0.80; high plan: +0.31",
//! exact TreeSHAP contributions to the log-odds, "low"/"high" against the
//! training quantiles the model file carries). The summary adds global
//! importance: `shap.abs_sum_micro` (Σ |SHAP| per feature in millionths, so
//! shard summaries add up) over `shap.rows` users. Every shard writes one file at a fixed key,
//! `work/run=<id>/<stage>/<output>/shards=<n>/shard=<i>.parquet`, and registers
//! the same table definition over `.../shards=<n>/`:
//! - concurrent shards never read-modify-write the catalog (identical atomic puts);
//! - a retried shard replaces its own file atomically, so no rows are doubled;
//! - a rerun with another shard count uses another folder, so no stale shard leaks in.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use engage_boost::{FeatureReference, Model, ShapSummary};
use serde_json::{Value, json};

use super::{ParquetObject, catalog_columns, config, f32_column, lookup_table, param_str, param_u64, parquet_table, register, stream_columns, string_column, table_name, upstream, user_hash};
use crate::catalog::parse_location;
use crate::data::schema::{SNAPSHOT_DATE, USER_ID};
use crate::pipeline::step::{Shard, Step, StepContext, StepError, StepOutput, WORK_BUCKET};

pub struct Predict;

/// `high` when the probability of engaging next week is at least this: the
/// users most likely to come back without a nudge.
pub const HIGH_THRESHOLD: f64 = 0.6;
/// `medium` from here up to [`HIGH_THRESHOLD`]: the persuadable middle; `low` below.
pub const MEDIUM_THRESHOLD: f64 = 0.3;
/// Bins of the score histogram over [0, 1].
pub const HISTOGRAM_BINS: usize = 20;
/// Seed of the user hash that assigns shards.
const SHARD_SEED: u64 = 0x7072_6564_6963_7421;

pub fn segment(probability: f64) -> &'static str {
    if probability >= HIGH_THRESHOLD {
        "high"
    } else if probability >= MEDIUM_THRESHOLD {
        "medium"
    } else {
        "low"
    }
}

/// Which shard scores a user.
pub fn shard_of(user_id: &str, count: u32) -> u32 {
    (user_hash(user_id, SHARD_SEED) % count.max(1) as u64) as u32
}

/// Where a run's predictions live for a given shard count.
pub fn predictions_location(run_id: &str, stage: &str, output: &str, count: u32) -> (String, String) {
    let prefix = format!("run={run_id}/{stage}/{output}/shards={count}/");
    (format!("s3://{WORK_BUCKET}/{prefix}"), prefix)
}

/// Reasons per user unless the `reasons` param says otherwise.
const DEFAULT_REASONS: u64 = 3;

/// The model and what "low" and "high" mean for its features.
fn load_model(ctx: &StepContext, uri: &str) -> Result<(Model, FeatureReference), StepError> {
    let (bucket, key) = parse_location(uri).map_err(|e| config(ctx, format!("model '{uri}': {e}")))?;
    let bytes = ctx
        .services
        .storage
        .get(&bucket, &key)
        .map_err(|e| StepError::io(format!("stage '{}': reading model {uri}: {e}", ctx.stage)))?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| StepError::failed(format!("stage '{}': model {uri} is not JSON: {e}", ctx.stage)))?;
    let model = Model::from_xgboost_json(&json).map_err(|e| StepError::failed(format!("stage '{}': model {uri}: {e}", ctx.stage)))?;
    let reference = crate::model::bundle::reference_of(&json, &model);
    Ok((model, reference))
}

/// How the per-user reasons are attributed.
#[derive(Clone, Copy)]
enum ReasonsMethod {
    /// Exact TreeSHAP.
    Exact,
    /// Saabas: credit along the row's own decision path.
    Path,
}

impl ReasonsMethod {
    fn parse(ctx: &StepContext) -> Result<Self, StepError> {
        match param_str(ctx, "reasons_method")?.as_deref() {
            None | Some("exact") => Ok(ReasonsMethod::Exact),
            Some("path") => Ok(ReasonsMethod::Path),
            Some(other) => Err(config(ctx, format!("param 'reasons_method' must be \"exact\" or \"path\", not \"{other}\""))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ReasonsMethod::Exact => "exact",
            ReasonsMethod::Path => "path",
        }
    }
}

/// Each row's top `k` reasons, and the contributions added to `shap`.
fn reasons(
    model: &Model,
    batch: &RecordBatch,
    k: usize,
    method: ReasonsMethod,
    reference: &FeatureReference,
    shap: &mut ShapSummary,
) -> Result<StringArray, String> {
    let c = match method {
        ReasonsMethod::Exact => model.contributions(batch),
        ReasonsMethod::Path => model.path_contributions(batch),
    }
    .map_err(|e| e.to_string())?;
    shap.add(&c);
    let cols: Vec<Option<Vec<f32>>> = model.feature_names().iter().map(|f| f32_column(batch, f).ok()).collect();
    let cols: Vec<Option<&[f32]>> = cols.iter().map(Option::as_deref).collect();
    Ok(crate::model::explain::reasons_column(&c, &cols, k, reference))
}

/// Σ |SHAP| per feature in millionths (integers, so the executor adds shards up).
fn shap_summary_json(shap: &ShapSummary) -> Value {
    let rows = shap.rows();
    let sums: serde_json::Map<String, Value> =
        shap.importance().into_iter().map(|i| (i.feature, Value::from((i.mean_abs * rows as f64 * 1e6).round() as u64))).collect();
    json!({"abs_sum_micro": sums, "rows": rows})
}

fn output_schema(date_type: Option<&DataType>) -> SchemaRef {
    let mut fields = vec![Field::new(USER_ID, DataType::Utf8, false)];
    if let Some(t) = date_type {
        fields.push(Field::new(SNAPSHOT_DATE, t.clone(), true));
    }
    fields.extend([
        Field::new("probability", DataType::Float64, false),
        Field::new("confidence", DataType::Float64, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("reasons", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(fields))
}

#[derive(Default)]
struct Tally {
    users: u64,
    high: u64,
    medium: u64,
    low: u64,
    histogram: [u64; HISTOGRAM_BINS],
}

impl Tally {
    fn add(&mut self, p: f64) {
        self.users += 1;
        match segment(p) {
            "high" => self.high += 1,
            "medium" => self.medium += 1,
            _ => self.low += 1,
        }
        self.histogram[((p * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1)] += 1;
    }
}

impl Step for Predict {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let shard = ctx.shard.unwrap_or(Shard { index: 0, count: 1 });
        if shard.count == 0 || shard.index >= shard.count {
            return Err(config(ctx, format!("shard {} of {} does not exist", shard.index, shard.count)));
        }
        let qualified = param_str(ctx, "table")?.unwrap_or_else(|| format!("{}.scoring_features", ctx.run_db));
        let (db, table) = table_name(ctx, &qualified)?;
        let output = param_str(ctx, "output")?.unwrap_or_else(|| "predictions".into());
        table_name(ctx, &output)?;
        let model_uri = match (param_str(ctx, "model_uri")?, param_str(ctx, "model")?) {
            (Some(uri), _) | (None, Some(uri)) => uri,
            (None, None) => upstream(ctx, "train", "model_uri")
                .and_then(|s| s["model_uri"].as_str())
                .map(str::to_string)
                .ok_or_else(|| config(ctx, "no 'model_uri' param and no committed train stage reported one"))?,
        };
        let method = ReasonsMethod::parse(ctx)?;
        let (model, reference) = load_model(ctx, &model_uri)?;
        let top_reasons = param_u64(ctx, "reasons")?.unwrap_or(DEFAULT_REASONS) as usize;
        let mut shap = ShapSummary::new(model.feature_names().to_vec());
        let def = lookup_table(ctx, &db, &table)?;
        let date_type = def
            .columns
            .iter()
            .find(|c| c.name == SNAPSHOT_DATE)
            .map(|c| crate::capabilities::sql::athena::types::arrow_type(&c.data_type))
            .transpose()
            .map_err(|e| StepError::failed(format!("stage '{}': {db}.{table}.{SNAPSHOT_DATE}: {e}", ctx.stage)))?;
        let schema = output_schema(date_type.as_ref());

        let mut columns = vec![USER_ID.to_string()];
        if date_type.is_some() {
            columns.push(SNAPSHOT_DATE.into());
        }
        // Only the features some tree splits on must exist; absent others are missing values.
        let present = |c: &str| def.columns.iter().any(|col| col.name == c);
        columns.extend(model.feature_names().iter().filter(|f| present(f)).cloned());
        let read_error = |e: String| StepError::failed(format!("stage '{}': reading {db}.{table}: {e}", ctx.stage));
        let mut stream = stream_columns(ctx, &db, &table, &columns)?;

        let (location, prefix) = predictions_location(ctx.run_id, ctx.stage, &output, shard.count);
        let key = format!("{prefix}shard={}.parquet", shard.index);
        let mut file = ParquetObject::create(ctx.services.storage.as_ref(), WORK_BUCKET, &key, schema.clone())?;
        let mut tally = Tally::default();
        while let Some(batch) = stream.next_batch().map_err(|e| read_error(e.to_string()))? {
            ctx.check_cancelled()?;
            let ids = string_column(&batch, USER_ID).map_err(read_error)?;
            let mine: BooleanArray = ids.iter().map(|id| Some(id.is_some_and(|id| shard_of(id, shard.count) == shard.index))).collect();
            let batch = arrow::compute::filter_record_batch(&batch, &mine).map_err(|e| read_error(e.to_string()))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let predictions = model
                .predict_batch(&batch)
                .map_err(|e| StepError::failed(format!("stage '{}': predicting {db}.{table}: {e}", ctx.stage)))?;
            let probability: Vec<f64> = predictions.probability.iter().map(|&p| p as f64).collect();
            let confidence: Vec<f64> = predictions.confidence.iter().map(|&c| c as f64).collect();
            probability.iter().for_each(|&p| tally.add(p));
            let segments: StringArray = probability.iter().map(|&p| Some(segment(p))).collect();
            let reasons = if top_reasons > 0 {
                reasons(&model, &batch, top_reasons, method, &reference, &mut shap).map_err(|e| StepError::failed(format!("stage '{}': explaining {db}.{table}: {e}", ctx.stage)))?
            } else {
                StringArray::from(vec![""; batch.num_rows()])
            };
            let mut arrays: Vec<ArrayRef> = vec![Arc::new(string_column(&batch, USER_ID).map_err(read_error)?)];
            if date_type.is_some() {
                arrays.push(batch.column_by_name(SNAPSHOT_DATE).expect("selected").clone());
            }
            arrays.extend([
                Arc::new(Float64Array::from(probability)) as ArrayRef,
                Arc::new(Float64Array::from(confidence)),
                Arc::new(segments),
                Arc::new(reasons),
            ]);
            let out = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| read_error(e.to_string()))?;
            file.write(&out)?;
            ctx.progress.add_rows(out.num_rows() as u64);
        }
        // An attempt abandoned at its deadline must not replace a newer attempt's file.
        ctx.check_cancelled()?;
        file.finish()?;

        let columns = catalog_columns(&schema).map_err(|e| StepError::failed(format!("stage '{}': {e}", ctx.stage)))?;
        let mut table_def = parquet_table(ctx.run_db, &output, location, columns);
        table_def.properties.insert("engage.model".into(), model_uri.clone());
        table_def.properties.insert("engage.shards".into(), shard.count.to_string());
        register(ctx, &table_def)?;

        Ok(StepOutput {
            rows_in: tally.users,
            rows_out: tally.users,
            outputs: vec![format!("{}.{output}", ctx.run_db)],
            summary: json!({
                "users_scored": tally.users,
                "segments": {"high": tally.high, "medium": tally.medium, "low": tally.low},
                "thresholds": {"high": HIGH_THRESHOLD, "medium": MEDIUM_THRESHOLD},
                "histogram": tally.histogram.to_vec(),
                "model_uri": model_uri,
                "table": format!("{}.{output}", ctx.run_db),
                "shap": shap_summary_json(&shap),
                "reasons_method": method.name(),
            }),
        })
    }
}

/// Merges per-shard summaries the way the executor does for a map stage
/// (counts, histograms and SHAP sums add up; agreeing values are kept), for
/// callers that hold shard summaries themselves.
pub fn merge_summaries(shards: &[Value]) -> Value {
    let outputs = shards.iter().map(|s| StepOutput { summary: s.clone(), ..StepOutput::default() }).collect();
    let mut merged = crate::pipeline::executor::merge_outputs(outputs).summary;
    if let Some(m) = merged.as_object_mut() {
        m.remove("shards");
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_the_documented_thresholds() {
        assert_eq!(segment(0.6), "high");
        assert_eq!(segment(0.599), "medium");
        assert_eq!(segment(0.3), "medium");
        assert_eq!(segment(0.299), "low");
    }

    #[test]
    fn every_user_lands_in_exactly_one_shard() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            let s = shard_of(&format!("u{i}"), 4);
            counts[s as usize] += 1;
            assert_eq!(s, shard_of(&format!("u{i}"), 4), "stable");
        }
        assert!(counts.iter().all(|&c| c > 800), "roughly balanced: {counts:?}");
    }

    #[test]
    fn merged_summaries_add_counts() {
        let a = json!({"users_scored": 3, "segments": {"high": 1, "medium": 1, "low": 1}, "histogram": [1, 2], "model_uri": "s3://m/x"});
        let b = json!({"users_scored": 2, "segments": {"high": 2, "medium": 0, "low": 0}, "histogram": [0, 2], "model_uri": "s3://m/x"});
        let m = merge_summaries(&[a, b]);
        assert_eq!(m["users_scored"], 5);
        assert_eq!(m["segments"]["high"], 3);
        assert_eq!(m["histogram"][1], 4);
        assert_eq!(m["model_uri"], "s3://m/x");
    }
}
