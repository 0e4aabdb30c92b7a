//! `drift`: this run against the previous succeeded run of the same pipeline
//! (see `crate::drift`): feature PSI and missing rates, score shift, segment
//! migration, realized AUC of last week's model. Writes
//! `runs/<run_id>/drift.json` and puts the same report in the summary; the
//! first run writes `previous_run: null` and no warnings.
//!
//! Params (warning thresholds, with defaults): `psi` (0.2), `missing_rate`
//! (0.05), `score_psi` (0.2), `auc_drop` (0.05); where labels arrive:
//! `labels` (default `engage.users`), `label` (default `engaged_next_7d`).

use serde_json::Value;

use super::{param_f64, param_str, upstream};
use crate::data::schema::LABEL;
use crate::drift::{DriftReport, Labels, RunTables, Thresholds, compare, previous_run};
use crate::pipeline::record::RunStore;
use crate::pipeline::step::{RUNS_BUCKET, Step, StepContext, StepError, StepOutput};

pub struct Drift;

/// Key of a run's drift report in the `runs` bucket.
pub fn drift_key(run_id: &str) -> String {
    format!("{run_id}/drift.json")
}

fn thresholds(ctx: &StepContext) -> Result<Thresholds, StepError> {
    let mut t = Thresholds::default();
    for (name, slot) in [("psi", &mut t.psi), ("missing_rate", &mut t.missing_rate), ("score_psi", &mut t.score_psi), ("auc_drop", &mut t.auc_drop)] {
        if let Some(v) = param_f64(ctx, name)? {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(super::config(ctx, format!("param '{name}' must be a number >= 0, not {v}")));
            }
            *slot = v;
        }
    }
    Ok(t)
}

impl Step for Drift {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let t = thresholds(ctx)?;
        let labels = Labels {
            table: param_str(ctx, "labels")?.unwrap_or_else(|| "engage.users".into()),
            label: param_str(ctx, "label")?.unwrap_or_else(|| LABEL.into()),
        };
        let failed = |e: anyhow::Error| StepError::failed(format!("stage '{}': {e:#}", ctx.stage));
        let store = RunStore::new(ctx.services.storage.clone());
        let me = store.load(ctx.run_id).map_err(failed)?;
        let runs = store.list().map_err(failed)?;
        let report = match previous_run(&runs, &me.pipeline, ctx.run_id) {
            None => DriftReport::first_run(ctx.run_id, &t),
            Some(previous) => {
                let current = RunTables::from_summaries(ctx.run_id, ctx.run_db, upstream(ctx, "train", "features"), upstream(ctx, "predict", "users_scored"));
                compare(ctx.services.sql.as_ref(), &RunTables::of(&previous), &current, &labels, &t).map_err(failed)?
            }
        };
        ctx.check_cancelled()?;
        let mut summary = report.to_json();
        let key = drift_key(ctx.run_id);
        let bytes = serde_json::to_vec_pretty(&summary).expect("JSON values serialize");
        ctx.services
            .storage
            .put(RUNS_BUCKET, &key, &bytes)
            .map_err(|e| StepError::io(format!("stage '{}': writing s3://{RUNS_BUCKET}/{key}: {e}", ctx.stage)))?;
        let uri = format!("s3://{RUNS_BUCKET}/{key}");
        summary["drift_uri"] = Value::String(uri.clone());
        Ok(StepOutput { rows_in: 0, rows_out: 0, outputs: vec![uri], summary })
    }
}
