//! `train`: gradient boosting (engage-boost) on `<run_db>.training_features`,
//! early stopping on a validation set, a logistic-regression baseline (linfa,
//! via `engage_boost::baseline`) on the same split, and the model, metrics and
//! importances saved to `models/<model>/run=<id>/`.
//!
//! Params: `table` (default `<run_db>.training_features`), `label` (default
//! `engaged_next_7d`), `model` (default `engagement`), `validation_fraction`
//! (default 0.2), `features` (default: the table's documented features, else
//! every numeric column but the keys and label), and boosting params: `rounds`,
//! `eta`, `max_depth`, `max_leaves`, `early_stopping_rounds`, `min_child_weight`,
//! `subsample`, `colsample_bytree`, `lambda`, `alpha`, `gamma`, `max_bin`,
//! `threshold`, `seed`, `threads`. `max_training_rows` caps the rows the model
//! learns from (a random sample of users: rows are in user-hash order, so the
//! first N are a sample); `max_validation_rows` caps the validation side the same
//! way (early stopping scores it every round). Without them both sides stay whole.
//!
//! Importance by mean |SHAP| is computed on the first [`SHAP_SAMPLE_ROWS`] validation
//! rows (again a random sample of users): exact TreeSHAP over millions of rows would
//! cost more than the training itself and change the ranking in the third decimal.
//!
//! Determinism: a user is in the validation set when the hash of its id falls
//! below the fraction (all of a user's weeks on one side, so no leakage), and
//! rows are put in hash order before training, so a rerun over the same table
//! gives the same model whatever order the SQL engine streams rows in.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use engage_boost::baseline::LogisticBaseline;
use engage_boost::{Params, metrics};
use serde_json::{Value, json};

use super::{FEATURES_PROPERTY, config, f32_column, lookup_table, param_f64, param_list, param_str, param_u64, stream_columns, string_column, table_name, user_hash};
use crate::data::schema::{LABEL, SNAPSHOT_DATE, USER_ID};
use crate::model::ModelBundle;
use crate::model::bundle::reference_quantiles;
use crate::model::encoding::Encoding;
use crate::model::evaluate::deciles;
use crate::pipeline::step::{MODELS_BUCKET, Step, StepContext, StepError, StepOutput};

pub struct Train;

/// Seed of the user hash that picks the validation set.
const SPLIT_SEED: u64 = 0x7261_696e_5f73_706c;
/// Validation rows explained for the SHAP importance.
pub const SHAP_SAMPLE_ROWS: usize = 20_000;
/// Most points of the ROC curve in the summary (the report draws it).
const ROC_POINTS: usize = 101;

/// Rows of one side of the split, column by column.
#[derive(Default)]
struct Rows {
    /// (user hash, snapshot day): the canonical row order.
    keys: Vec<(u64, i32)>,
    label: Vec<f32>,
    cols: Vec<Vec<f32>>,
}

impl Rows {
    fn new(features: usize) -> Self {
        Rows { cols: vec![Vec::new(); features], ..Rows::default() }
    }

    /// Sorts rows into key order and builds one batch of Float32 columns (label
    /// last), of the first `limit` rows in that order when given (found without
    /// sorting the rest: capping 24M rows to 1M then sorts only the 1M).
    fn into_batch(mut self, features: &[String], label: &str, limit: Option<usize>) -> Result<RecordBatch, String> {
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        if let Some(limit) = limit.filter(|&l| l < order.len()) {
            order.select_nth_unstable_by_key(limit, |&i| self.keys[i as usize]);
            order.truncate(limit);
        }
        order.sort_unstable_by_key(|&i| self.keys[i as usize]);
        drop(std::mem::take(&mut self.keys));
        // One column at a time, so memory grows by one column, not the table.
        let permute = |col: Vec<f32>| -> ArrayRef { Arc::new(Float32Array::from(order.iter().map(|&i| col[i as usize]).collect::<Vec<f32>>())) };
        let mut arrays = Vec::with_capacity(features.len() + 1);
        let mut fields = Vec::with_capacity(features.len() + 1);
        for (name, col) in features.iter().zip(self.cols) {
            arrays.push(permute(col));
            fields.push(Field::new(name, DataType::Float32, true));
        }
        arrays.push(permute(self.label));
        fields.push(Field::new(label, DataType::Float32, false));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
    }
}

/// A cap on rows (at least 1), or None when the param is absent.
fn row_cap(ctx: &StepContext, name: &str) -> Result<Option<usize>, StepError> {
    match param_u64(ctx, name)? {
        Some(0) => Err(config(ctx, format!("param '{name}' must be at least 1"))),
        n => Ok(n.map(|n| n as usize)),
    }
}

/// Boosting params from the stage params over Engage's defaults.
fn boost_params(ctx: &StepContext) -> Result<Params, StepError> {
    let mut p = Params { n_rounds: 300, eta: 0.1, max_depth: 6, early_stopping_rounds: Some(20), ..Params::default() };
    const NAMES: [&str; 15] = [
        "rounds", "eta", "max_depth", "max_leaves", "early_stopping_rounds", "min_child_weight", "subsample",
        "colsample_bytree", "lambda", "alpha", "gamma", "max_bin", "threshold", "seed", "threads",
    ];
    let mut given = Vec::new();
    for name in NAMES {
        if let Some(v) = param_str(ctx, name)? {
            p.set(name, &v).map_err(|e| config(ctx, format!("boosting params: {e}")))?;
            given.push(name);
        }
    }
    p.validate_as_given(&given).map_err(|e| config(ctx, format!("boosting params: {e}")))?;
    Ok(p)
}

/// The feature columns: the param, else the table's documented features, else numeric columns.
fn feature_names(ctx: &StepContext, def: &crate::catalog::TableDef, label: &str) -> Result<Vec<String>, StepError> {
    if let Some(list) = param_list(ctx, "features")? {
        return Ok(list);
    }
    if let Some(list) = def.properties.get(FEATURES_PROPERTY).filter(|l| !l.is_empty()) {
        return Ok(list.split(',').map(str::to_string).collect());
    }
    const NUMERIC: [&str; 7] = ["double", "float", "bigint", "int", "smallint", "tinyint", "boolean"];
    Ok(def
        .columns
        .iter()
        .filter(|c| c.name != label && c.name != USER_ID && c.name != SNAPSHOT_DATE && NUMERIC.contains(&c.data_type.as_str()))
        .map(|c| c.name.clone())
        .collect())
}

/// ROC points (fpr, tpr) from (0,0) to (1,1), at most [`ROC_POINTS`], evenly spaced over thresholds by rank.
pub fn roc_curve(labels: &[f32], probs: &[f32]) -> Vec<[f64; 2]> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_unstable_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let pos = labels.iter().filter(|&&y| y > 0.5).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return vec![[0.0, 0.0], [1.0, 1.0]];
    }
    // One point per distinct threshold (ties move together).
    let mut full = vec![[0.0, 0.0]];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] > 0.5 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if order.get(k + 1).is_none_or(|&j| probs[j] != probs[i]) {
            full.push([fp / neg, tp / pos]);
        }
    }
    if full.len() <= ROC_POINTS {
        return full;
    }
    let last = full.len() - 1;
    (0..ROC_POINTS).map(|k| full[k * last / (ROC_POINTS - 1)]).collect()
}

fn brier(labels: &[f32], probs: &[f32]) -> f64 {
    let n = labels.len().max(1) as f64;
    labels.iter().zip(probs).map(|(&y, &p)| (p as f64 - y as f64).powi(2)).sum::<f64>() / n
}

/// The summary's metric keys for one model on the validation set.
fn metric_json(labels: &[f32], probs: &[f32], threshold: f64) -> (Value, metrics::Metrics) {
    let m = metrics::evaluate(labels, probs, threshold);
    let v = json!({
        "auc": m.auc,
        "average_precision": crate::model::evaluate::average_precision(labels, probs),
        "logloss": m.logloss,
        "accuracy": m.accuracy,
        "brier": brier(labels, probs),
        "precision": m.precision,
        "recall": m.recall,
        "threshold": threshold,
    });
    (v, m)
}

impl Step for Train {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let qualified = param_str(ctx, "table")?.unwrap_or_else(|| format!("{}.training_features", ctx.run_db));
        let (db, table) = table_name(ctx, &qualified)?;
        let label = param_str(ctx, "label")?.unwrap_or_else(|| LABEL.into());
        let model_name = param_str(ctx, "model")?.unwrap_or_else(|| "engagement".into());
        if model_name.is_empty() || !model_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(config(ctx, format!("param 'model' must be letters, digits, '-' or '_', not '{model_name}'")));
        }
        let fraction = param_f64(ctx, "validation_fraction")?.unwrap_or(0.2);
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(config(ctx, format!("param 'validation_fraction' must be in (0, 1), not {fraction}")));
        }
        let params = boost_params(ctx)?;
        let max_training_rows = row_cap(ctx, "max_training_rows")?;
        let max_validation_rows = row_cap(ctx, "max_validation_rows")?;
        let def = lookup_table(ctx, &db, &table)?;
        let features = feature_names(ctx, &def, &label)?;
        if features.is_empty() {
            return Err(StepError::failed(format!("stage '{}': {db}.{table} has no feature columns", ctx.stage)));
        }
        let has_date = def.columns.iter().any(|c| c.name == SNAPSHOT_DATE);

        // Read once, splitting by user as rows stream past.
        let started = Instant::now();
        let mut columns: Vec<String> = vec![USER_ID.into(), label.clone()];
        if has_date {
            columns.push(SNAPSHOT_DATE.into());
        }
        columns.extend(features.iter().cloned());
        let read_error = |e: String| StepError::failed(format!("stage '{}': reading {db}.{table}: {e}", ctx.stage));
        let mut stream = stream_columns(ctx, &db, &table, &columns)?;
        let (mut train, mut valid) = (Rows::new(features.len()), Rows::new(features.len()));
        let cut = (fraction * u64::MAX as f64) as u64;
        while let Some(batch) = stream.next_batch().map_err(|e| read_error(e.to_string()))? {
            ctx.check_cancelled()?;
            let ids = string_column(&batch, USER_ID).map_err(read_error)?;
            let labels = f32_column(&batch, &label).map_err(read_error)?;
            let days: Vec<i32> = if has_date {
                let d = arrow::compute::cast(batch.column_by_name(SNAPSHOT_DATE).expect("selected"), &DataType::Int32)
                    .map_err(|e| read_error(e.to_string()))?;
                d.as_primitive::<Int32Type>().values().to_vec()
            } else {
                vec![0; batch.num_rows()]
            };
            let cols = features.iter().map(|f| f32_column(&batch, f)).collect::<Result<Vec<_>, _>>().map_err(read_error)?;
            for r in 0..batch.num_rows() {
                if !labels[r].is_finite() {
                    return Err(StepError::data_quality(format!(
                        "stage '{}': {db}.{table}: label '{label}' is missing for user {}",
                        ctx.stage,
                        ids.value(r)
                    )));
                }
                let h = user_hash(ids.value(r), SPLIT_SEED);
                let side = if h < cut { &mut valid } else { &mut train };
                side.keys.push((h, days[r]));
                side.label.push(labels[r]);
                for (c, col) in side.cols.iter_mut().zip(&cols) {
                    c.push(col[r]);
                }
            }
            ctx.progress.add_rows(batch.num_rows() as u64);
        }
        let (training_rows, validation_rows) = (train.label.len(), valid.label.len());
        if training_rows == 0 || validation_rows == 0 {
            return Err(StepError::data_quality(format!(
                "stage '{}': {db}.{table} gives {training_rows} training and {validation_rows} validation rows; both sides need rows",
                ctx.stage
            )));
        }
        let read_seconds = started.elapsed().as_secs_f64();
        let build = |rows: Rows, limit| rows.into_batch(&features, &label, limit).map_err(|e| StepError::failed(format!("stage '{}': {e}", ctx.stage)));
        let training_rows_available = training_rows;
        let train_batch = build(train, max_training_rows)?;
        let validation_rows_available = validation_rows;
        let valid_batch = build(valid, max_validation_rows)?;
        let (training_rows, validation_rows) = (train_batch.num_rows(), valid_batch.num_rows());
        ctx.check_cancelled()?;

        let boost_error = |what: &str, e: engage_boost::BoostError| {
            let message = format!("stage '{}': {what}: {e}", ctx.stage);
            match e {
                engage_boost::BoostError::BadLabel { .. } => StepError::data_quality(message),
                _ => StepError::failed(message),
            }
        };
        // The baseline does not depend on the boosted model: fit it beside the training,
        // which leaves a core idle between its parallel phases.
        let t = Instant::now();
        let (trained, (baseline, baseline_seconds)) = std::thread::scope(|scope| {
            let baseline = scope.spawn(|| {
                let t = Instant::now();
                (LogisticBaseline::fit(std::slice::from_ref(&train_batch), &label, &features), t.elapsed().as_secs_f64())
            });
            let trained = engage_boost::train_batches_with_features(
                std::slice::from_ref(&train_batch),
                &label,
                &features,
                Some(std::slice::from_ref(&valid_batch)),
                &params,
            );
            (trained, baseline.join().expect("the baseline fit does not panic"))
        });
        let trained = trained.map_err(|e| boost_error("training", e))?;
        let baseline = baseline.map_err(|e| boost_error("baseline", e))?;
        let train_seconds = t.elapsed().as_secs_f64();
        ctx.check_cancelled()?;
        // Training quantiles per feature: what "low" and "high" mean in predict's reasons.
        let train_cols = features.iter().map(|f| f32_column(&train_batch, f)).collect::<Result<Vec<_>, _>>().map_err(read_error)?;
        drop(train_batch);
        let reference = reference_quantiles(&train_cols.iter().map(Vec::as_slice).collect::<Vec<_>>());
        drop(train_cols);

        // Validation metrics of both models on the same rows.
        let y = f32_column(&valid_batch, &label).map_err(read_error)?;
        let probs = trained.model.predict_batch(&valid_batch).map_err(|e| boost_error("validation prediction", e))?.probability;
        let base_probs = baseline.predict_batch(&valid_batch).map_err(|e| boost_error("baseline prediction", e))?;
        let (metrics, full) = metric_json(&y, &probs, params.threshold);
        let (baseline_metrics, _) = metric_json(&y, &base_probs, params.threshold);
        let roc = roc_curve(&y, &probs);
        let deciles = json!({"model": deciles(&y, &probs), "baseline": deciles(&y, &base_probs)});
        let t = Instant::now();
        let shap_rows = SHAP_SAMPLE_ROWS.min(validation_rows);
        let shap_importance =
            trained.model.contributions(&valid_batch.slice(0, shap_rows)).map_err(|e| boost_error("validation contributions", e))?.importance();
        let importance_seconds = t.elapsed().as_secs_f64();
        let calibration: Vec<Value> = full
            .calibration
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"bin": i, "lower": b.lower, "upper": b.upper, "predicted": b.mean_predicted, "observed": b.observed_rate, "count": b.count}))
            .collect();
        // `gain` is the total loss reduction of the feature's splits (what the
        // ranking uses); `mean_gain` is XGBoost's per-split "gain".
        let importance: Vec<Value> = trained
            .model
            .importance()
            .iter()
            .map(|f| json!({"feature": f.feature, "gain": f.total_gain, "mean_gain": f.gain, "splits": f.weight, "cover": f.cover}))
            .collect();

        // Persist: model, metrics, importance; each put is atomic and the keys
        // are this run's own, so a retry simply replaces them.
        let prefix = format!("{model_name}/run={}/", ctx.run_id);
        let store = ctx.services.storage.as_ref();
        let put = |name: &str, value: &Value| -> Result<String, StepError> {
            let key = format!("{prefix}{name}");
            let bytes = serde_json::to_vec_pretty(value).expect("JSON values serialize");
            store.put(MODELS_BUCKET, &key, &bytes).map_err(|e| StepError::io(format!("stage '{}': writing s3://{MODELS_BUCKET}/{key}: {e}", ctx.stage)))?;
            Ok(format!("s3://{MODELS_BUCKET}/{key}"))
        };
        // The same attributes `engage model train` records (label, id column, encoding,
        // baseline, reference), so `engage model predict|explain --user` work on it.
        let bundle = ModelBundle {
            model: trained.model,
            encoding: Encoding { features: features.clone(), categories: Default::default() },
            label: Some(label.clone()),
            id_column: Some(USER_ID.into()),
            baseline: Some(baseline),
            reference_values: reference,
        };
        let model_json = bundle.to_json();
        let (trained_model, baseline) = (bundle.model, bundle.baseline.expect("set above"));
        let model_uri = put("model.json", &model_json)?;
        let label_rate = y.iter().filter(|&&v| v > 0.5).count() as f64 / y.len() as f64;
        let metrics_doc = json!({
            "table": format!("{db}.{table}"),
            "label": label,
            "features": features,
            "params": params,
            "training_rows": training_rows,
            "training_rows_available": training_rows_available,
            "validation_rows": validation_rows,
            "validation_rows_available": validation_rows_available,
            "shap_rows": shap_rows,
            "validation_label_rate": label_rate,
            "rounds": trained.history.len(),
            "best_iteration": trained.best_round,
            "stopped_early": trained.stopped_early,
            "history": trained.history,
            "metrics": metrics,
            "baseline": baseline_metrics,
            "baseline_model": baseline,
            "roc": roc,
            "calibration": calibration,
            "deciles": deciles,
            "shap_importance": shap_importance,
        });
        let metrics_uri = put("metrics.json", &metrics_doc)?;
        let importance_uri = put("importance.json", &json!(importance))?;

        Ok(StepOutput {
            rows_in: (training_rows_available + validation_rows_available) as u64,
            rows_out: (training_rows + validation_rows) as u64,
            outputs: vec![model_uri.clone(), metrics_uri, importance_uri],
            summary: json!({
                "model_uri": model_uri,
                "model": model_name,
                "rounds": trained.history.len(),
                "trees": trained_model.n_trees(),
                "best_iteration": trained.best_round,
                "stopped_early": trained.stopped_early,
                "metrics": metrics,
                "baseline": baseline_metrics,
                "baseline_kind": "logistic regression (linfa-logistic) on standardized features",
                "importance": importance,
                "roc": roc,
                "calibration": calibration,
                "deciles": deciles,
                "shap_importance": shap_importance,
                "training_rows": training_rows,
                "training_rows_available": training_rows_available,
                "validation_rows": validation_rows,
                "validation_rows_available": validation_rows_available,
                "shap_rows": shap_rows,
                "validation_label_rate": label_rate,
                "features": features,
                "params": params,
                "seconds": {"read": read_seconds, "train": train_seconds, "baseline": baseline_seconds, "importance": importance_seconds},
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_runs_from_origin_to_one_and_is_capped() {
        let labels: Vec<f32> = (0..1000).map(|i| (i % 3 == 0) as u8 as f32).collect();
        let probs: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).fract()).collect();
        let roc = roc_curve(&labels, &probs);
        assert!(roc.len() <= ROC_POINTS);
        assert_eq!(roc[0], [0.0, 0.0]);
        assert_eq!(*roc.last().unwrap(), [1.0, 1.0]);
        assert!(roc.windows(2).all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]));
        // A perfect ranking reaches tpr 1 at fpr 0.
        let perfect = roc_curve(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.2, 0.8, 0.9]);
        assert!(perfect.contains(&[0.0, 1.0]));
    }
}
