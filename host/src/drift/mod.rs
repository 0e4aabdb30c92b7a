//! Week over week: how one run's data, scores and model compare with an
//! earlier run of the same pipeline. The `drift` step writes the result to
//! `runs/<run_id>/drift.json` (shape in docs/pipeline.md, kept stable for the
//! knowledge base); `engage runs compare <a> <b>` prints it for any two runs.
//!
//! - per feature: PSI of the scoring set's values ([`psi`]) and the missing-rate change;
//! - scores: mean and PSI over ten equal-width probability bins;
//! - segment migration: users scored in both runs, by previous and current segment;
//! - realized AUC: the previous run's scores against the labels that arrived
//!   since (the label column of the previous scoring week in the source table).

pub mod psi;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Int64Type};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capabilities::sql::SqlEngine;
use crate::pipeline::record::RunRecord;
use psi::Sample;

/// Segments as drift.json names them, highest first.
pub const SEGMENTS: [&str; 3] = ["HIGH", "MEDIUM", "LOW"];
/// Bins of the score distribution over [0, 1].
const SCORE_BINS: usize = 10;

/// When a change becomes a warning (the `drift` step's params).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// A feature's PSI above this.
    pub psi: f64,
    /// A feature's missing rate moving by more than this (absolute, 0.05 = 5 points).
    pub missing_rate: f64,
    /// The score distribution's PSI above this.
    pub score_psi: f64,
    /// Realized AUC this far below the previous run's validation AUC.
    pub auc_drop: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { psi: 0.2, missing_rate: 0.05, score_psi: 0.2, auc_drop: 0.05 }
    }
}

/// The tables of one run a comparison reads.
#[derive(Clone, Debug)]
pub struct RunTables {
    pub run_id: String,
    /// `db.table` with user_id, snapshot_date, probability, segment.
    pub predictions: String,
    /// `db.table` with the model features of the scoring set.
    pub features: String,
    pub feature_names: Vec<String>,
    /// The model's AUC on its validation set, as the train stage reported it.
    pub validation_auc: Option<f64>,
}

impl RunTables {
    /// From a run's train and predict summaries: the predictions table predict
    /// reported (else `<run_db>.predictions`), `<run_db>.scoring_features`, the
    /// features and validation AUC train reported.
    pub fn from_summaries(run_id: &str, run_db: &str, train: Option<&Value>, predict: Option<&Value>) -> Self {
        RunTables {
            run_id: run_id.to_string(),
            predictions: predict.and_then(|s| s["table"].as_str()).map_or_else(|| format!("{run_db}.predictions"), str::to_string),
            features: format!("{run_db}.scoring_features"),
            feature_names: train
                .and_then(|s| s["features"].as_array())
                .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            validation_auc: train.and_then(|s| s["metrics"]["auc"].as_f64()),
        }
    }

    /// From a run record.
    pub fn of(record: &RunRecord) -> Self {
        let summary = |stage: &str| record.stage(stage).and_then(|s| s.output.as_ref()).map(|o| &o.summary);
        Self::from_summaries(&record.run_id, &record.run_db, summary("train"), summary("predict"))
    }
}

/// Where the labels that arrived since come from: `table` (`db.table` with
/// user_id, snapshot_date and `label`).
#[derive(Clone, Debug)]
pub struct Labels {
    pub table: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub name: String,
    /// None when the feature is missing in every row of either run (no distribution to compare).
    pub psi: Option<f64>,
    pub missing_rate_previous: f64,
    pub missing_rate_current: f64,
    pub warning: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoreShift {
    pub mean_previous: f64,
    pub mean_current: f64,
    pub psi: f64,
    /// Users per tenth of [0, 1].
    pub histogram_previous: Vec<u64>,
    pub histogram_current: Vec<u64>,
    pub warning: bool,
}

/// drift.json.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    pub previous_run: Option<String>,
    pub current_run: String,
    pub thresholds: Thresholds,
    pub features: Vec<FeatureDrift>,
    pub score_shift: Option<ScoreShift>,
    /// previous segment → current segment → users scored in both runs.
    pub segment_migration: BTreeMap<String, BTreeMap<String, u64>>,
    pub realized_auc: Option<f64>,
    /// Previous run's users whose label has arrived.
    pub realized_auc_rows: u64,
    pub validation_auc_previous: Option<f64>,
    pub warnings: Vec<String>,
}

impl DriftReport {
    /// The report of a run with nothing to compare with.
    pub fn first_run(current_run: &str, thresholds: &Thresholds) -> Self {
        DriftReport {
            previous_run: None,
            current_run: current_run.into(),
            thresholds: thresholds.clone(),
            features: Vec::new(),
            score_shift: None,
            segment_migration: BTreeMap::new(),
            realized_auc: None,
            realized_auc_rows: 0,
            validation_auc_previous: None,
            warnings: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a drift report serializes")
    }
}

fn quote(qualified: &str) -> String {
    qualified.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

fn query(sql: &dyn SqlEngine, statement: &str) -> Result<Vec<RecordBatch>> {
    Ok(sql.query(statement).map_err(anyhow::Error::msg).with_context(|| format!("running {statement}"))?.batches)
}

/// Streams `columns` of `table` as f32 into a bounded sample.
fn sample(sql: &dyn SqlEngine, table: &str, columns: &[String]) -> Result<Sample> {
    let select = columns.iter().map(|c| format!("CAST(\"{c}\" AS REAL) AS \"{c}\"")).collect::<Vec<_>>().join(", ");
    let statement = format!("SELECT {select} FROM {}", quote(table));
    let mut stream = sql.query_stream(&statement).map_err(anyhow::Error::msg).with_context(|| format!("reading {table}"))?;
    let mut out = Sample::new(columns.len());
    while let Some(batch) = stream.next_batch().map_err(anyhow::Error::msg).with_context(|| format!("reading {table}"))? {
        let cols: Vec<_> = (0..columns.len()).map(|c| batch.column(c).as_primitive::<Float32Type>().clone()).collect();
        for r in 0..batch.num_rows() {
            out.push(cols.iter().map(|c| if c.is_valid(r) { c.value(r) } else { f32::NAN }));
        }
    }
    Ok(out)
}

fn feature_drift(sql: &dyn SqlEngine, previous: &RunTables, current: &RunTables, t: &Thresholds) -> Result<Vec<FeatureDrift>> {
    // Features both models used, in the current model's order.
    let names: Vec<String> = current.feature_names.iter().filter(|f| previous.feature_names.contains(f)).cloned().collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let (p, c) = (sample(sql, &previous.features, &names)?, sample(sql, &current.features, &names)?);
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let psi = psi::psi(&p.columns[i], &c.columns[i]);
            let (mp, mc) = (p.missing_rate(i), c.missing_rate(i));
            FeatureDrift { name, psi, missing_rate_previous: mp, missing_rate_current: mc, warning: psi.is_some_and(|p| p > t.psi) || (mc - mp).abs() > t.missing_rate }
        })
        .collect())
}

fn score_shift(sql: &dyn SqlEngine, previous: &RunTables, current: &RunTables, t: &Thresholds) -> Result<ScoreShift> {
    // Exact counts per tenth of [0, 1], and the mean, in SQL.
    let histogram = |table: &str| -> Result<(Vec<u64>, f64)> {
        let batches = query(
            sql,
            &format!(
                "SELECT CAST(least(floor(probability * {SCORE_BINS}), {}) AS BIGINT) AS bin, count(*) AS users, sum(probability) AS total FROM {} GROUP BY 1",
                SCORE_BINS - 1,
                quote(table)
            ),
        )?;
        let (mut h, mut total) = (vec![0u64; SCORE_BINS], 0.0);
        for b in &batches {
            let bins = b.column(0).as_primitive::<Int64Type>();
            let users = arrow::compute::cast(b.column(1), &DataType::Int64)?;
            let sums = arrow::compute::cast(b.column(2), &DataType::Float64)?;
            for r in 0..b.num_rows() {
                h[(bins.value(r).max(0) as usize).min(SCORE_BINS - 1)] += users.as_primitive::<Int64Type>().value(r) as u64;
                total += sums.as_primitive::<arrow::datatypes::Float64Type>().value(r);
            }
        }
        Ok((h.clone(), total / h.iter().sum::<u64>().max(1) as f64))
    };
    let (hp, mp) = histogram(&previous.predictions)?;
    let (hc, mc) = histogram(&current.predictions)?;
    let share = |h: &[u64]| {
        let n = h.iter().sum::<u64>().max(1) as f64;
        h.iter().map(|&c| c as f64 / n).collect::<Vec<_>>()
    };
    let psi = psi::psi_of_shares(&share(&hp), &share(&hc));
    Ok(ScoreShift { mean_previous: mp, mean_current: mc, psi, histogram_previous: hp, histogram_current: hc, warning: psi > t.score_psi })
}

fn segment_migration(sql: &dyn SqlEngine, previous: &RunTables, current: &RunTables) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let batches = query(
        sql,
        &format!(
            "SELECT upper(p.segment) AS previous, upper(c.segment) AS current, count(*) AS users FROM {} p JOIN {} c ON p.user_id = c.user_id GROUP BY 1, 2",
            quote(&previous.predictions),
            quote(&current.predictions)
        ),
    )?;
    let mut out: BTreeMap<String, BTreeMap<String, u64>> =
        SEGMENTS.iter().map(|a| (a.to_string(), SEGMENTS.iter().map(|b| (b.to_string(), 0)).collect())).collect();
    for b in &batches {
        let (from, to) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
        let users = arrow::compute::cast(b.column(2), &DataType::Int64)?;
        let users = users.as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            *out.entry(from.value(r).to_string()).or_default().entry(to.value(r).to_string()).or_default() += users.value(r) as u64;
        }
    }
    Ok(out)
}

/// The previous run's scores against the labels that arrived since: (AUC, rows).
pub fn realized_auc(sql: &dyn SqlEngine, previous: &RunTables, labels: &Labels) -> Result<(Option<f64>, u64)> {
    // A snapshot delivered again with its labels may sit beside the unlabelled copy: take the labelled one.
    let statement = format!(
        "SELECT CAST(p.probability AS REAL) AS probability, CAST(l.y AS REAL) AS y FROM {} p JOIN \
         (SELECT user_id, snapshot_date, max(\"{label}\") AS y FROM {} WHERE \"{label}\" IS NOT NULL GROUP BY 1, 2) l \
         ON p.user_id = l.user_id AND p.snapshot_date = l.snapshot_date",
        quote(&previous.predictions),
        quote(&labels.table),
        label = labels.label
    );
    let (mut y, mut p) = (Vec::new(), Vec::new());
    for b in query(sql, &statement)? {
        p.extend_from_slice(b.column(0).as_primitive::<Float32Type>().values());
        y.extend_from_slice(b.column(1).as_primitive::<Float32Type>().values());
    }
    Ok((engage_boost::metrics::auc(&y, &p), y.len() as u64))
}

/// Compares `current` with `previous`.
pub fn compare(sql: &dyn SqlEngine, previous: &RunTables, current: &RunTables, labels: &Labels, t: &Thresholds) -> Result<DriftReport> {
    let features = feature_drift(sql, previous, current, t)?;
    let score_shift = score_shift(sql, previous, current, t)?;
    let segment_migration = segment_migration(sql, previous, current)?;
    let (realized_auc, realized_auc_rows) = realized_auc(sql, previous, labels)?;

    let mut warnings = Vec::new();
    for f in features.iter().filter(|f| f.warning) {
        let mut why = Vec::new();
        if let Some(psi) = f.psi.filter(|&p| p > t.psi) {
            why.push(format!("PSI {psi:.3} above {}", t.psi));
        }
        if (f.missing_rate_current - f.missing_rate_previous).abs() > t.missing_rate {
            why.push(format!("missing rate {:.1}% → {:.1}%", f.missing_rate_previous * 100.0, f.missing_rate_current * 100.0));
        }
        warnings.push(format!("feature {}: {}", f.name, why.join(", ")));
    }
    if score_shift.warning {
        warnings.push(format!(
            "scores: PSI {:.3} above {} (mean {:.3} → {:.3})",
            score_shift.psi, t.score_psi, score_shift.mean_previous, score_shift.mean_current
        ));
    }
    if let (Some(r), Some(v)) = (realized_auc, previous.validation_auc)
        && r < v - t.auc_drop
    {
        warnings.push(format!("model: realized AUC {r:.3} of run {} is more than {} below its validation AUC {v:.3}", previous.run_id, t.auc_drop));
    }
    Ok(DriftReport {
        previous_run: Some(previous.run_id.clone()),
        current_run: current.run_id.clone(),
        thresholds: t.clone(),
        features,
        score_shift: Some(score_shift),
        segment_migration,
        realized_auc,
        realized_auc_rows,
        validation_auc_previous: previous.validation_auc,
        warnings,
    })
}

/// The latest succeeded run of `pipeline` that started before `run_id`.
pub fn previous_run(runs: &[RunRecord], pipeline: &str, run_id: &str) -> Option<RunRecord> {
    runs.iter()
        .filter(|r| r.pipeline == pipeline && r.run_id.as_str() < run_id && r.status == crate::pipeline::record::RunStatus::Succeeded)
        .max_by(|a, b| a.run_id.cmp(&b.run_id))
        .cloned()
}
