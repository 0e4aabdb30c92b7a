//! Builds the run's published tables:
//! - `<database>.engagement_results`: every scoring-set column, the prediction
//!   (probability, confidence, segment, reasons) and the run's metadata (run_id, model_uri, scored_at);
//! - `<database>.engagement_summary`: one long table of statistics by segment, plan,
//!   country and overall (`dimension`, `value`, users, averages, share high, label rate
//!   where labels exist).
//!
//! `scored_at` is the run's start (`run_started`, RFC 3339), else the time in the run
//! id (`YYYYMMDD-HHMMSS-xxxx`), else empty: a guest has no clock of its own to consult.
//!
//! ```json
//! {"database": "run_x", "location": "s3://work/run=x/aggregate/attempt=1/", "run_id": "20261125-101500-a3f9",
//!  "model_uri": "s3://models/engagement/run=20261125-101500-a3f9/model.json",
//!  "run_started": "2026-11-25T10:15:00.000Z", "predictions": "run_x.predictions", "scoring": "run_x.scoring_set"}
//! ```

mod metadata;
mod summary;

use engage_plugin_sdk::checks::{Check, verdict};
use engage_plugin_sdk::stage::*;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    database: String,
    location: String,
    /// Default: the run id the host gives the stage.
    run_id: Option<String>,
    model_uri: Option<String>,
    run_started: Option<String>,
    /// Default `<database>.predictions`.
    predictions: Option<String>,
    /// Default `<database>.scoring_set`.
    scoring: Option<String>,
    /// Default `engaged_next_7d`; its rate is reported where it is filled in.
    label: Option<String>,
}

struct Aggregate;

impl Stage for Aggregate {
    fn run(ctx: &Context) -> Result<serde_json::Value, String> {
        let raw: Params = ctx.params()?;
        let bad = |e: String| format!("stage '{}': {e}", ctx.stage);
        let database = database_name("database", &raw.database).map_err(bad)?;
        let location = location("location", &raw.location).map_err(bad)?;
        let predictions = table_or_default("predictions", raw.predictions.as_deref(), &database, "predictions").map_err(bad)?;
        let scoring = table_or_default("scoring", raw.scoring.as_deref(), &database, "scoring_set").map_err(bad)?;
        let label = column_name("label", raw.label.as_deref().unwrap_or("engaged_next_7d")).map_err(bad)?;
        let run_id = raw.run_id.unwrap_or_else(|| ctx.run_id.clone());
        let scored_at = metadata::scored_at(raw.run_started.as_deref(), &run_id).map_err(bad)?;
        let model_uri = raw.model_uri.as_deref().map_or("CAST(NULL AS varchar)".to_string(), sql_string);

        let scoring_rows = query_value(&format!("SELECT count(*) FROM {scoring}"))?.as_u64().unwrap_or(0);
        let results_select = format!(
            "SELECT s.*, p.probability, p.confidence, p.segment, p.reasons, \
                    {} AS run_id, {model_uri} AS model_uri, {scored_at} AS scored_at \
             FROM {scoring} s LEFT JOIN {predictions} p ON s.user_id = p.user_id",
            sql_string(&run_id)
        );
        let results_rows = replace_table(&database, "engagement_results", &location, &results_select)?;
        let results = format!("{database}.engagement_results");

        // A duplicated or missing prediction would skew every statistic below: stop here.
        let unscored =
            query_value(&format!("SELECT count_if(probability IS NULL) FROM {results}"))?.as_f64().unwrap_or(0.0);
        let checks = vec![
            Check::between(
                "results_rows_vs_scoring_rows",
                results_rows as f64,
                scoring_rows as f64,
                scoring_rows as f64,
            ),
            Check::none("results_without_probability", unscored),
        ];
        verdict(&ctx.stage, &checks)?;

        let summary_rows =
            replace_table(&database, "engagement_summary", &location, &summary::select(&results, &label, &run_id))?;
        let segments = summary::segment_counts(&results)?;
        let statistics = summary::statistics(&format!("{database}.engagement_summary"))?;

        log::metric("results_rows", results_rows as f64, "rows");
        Ok(json!({
            "tables": { "engagement_results": results_rows, "engagement_summary": summary_rows },
            "outputs": [results, format!("{database}.engagement_summary")],
            "segments": segments,
            "statistics": statistics,
            "statistics_rows": summary_rows,
            "statistics_note": "the 10 largest values of each dimension, by users",
            "users": results_rows,
            "checks": checks,
            "rows_in": scoring_rows,
            "rows_out": results_rows,
        }))
    }
}

engage_plugin_sdk::export_stage!(Aggregate);
