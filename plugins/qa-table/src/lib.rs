//! Builds `<database>.qa_table`: one row per scored user with the columns a person
//! checks before results go out (plan, country, activity, revenue, the probability
//! as a percentage, confidence, segment), ranked by probability. Then checks with
//! SQL that every scoring user has exactly one prediction, of the scoring week, that no
//! prediction is for someone outside the scoring set, that probabilities lie in [0, 1] and that
//! every segment is high, medium or low; a broken check fails the stage with
//! `data-quality:`.
//!
//! ```json
//! {"database": "run_x", "location": "s3://work/run=x/qa-table/attempt=1/",
//!  "predictions": "run_x.predictions", "scoring": "run_x.scoring_set", "table": "qa_table"}
//! ```

use engage_plugin_sdk::checks::{Check, verdict};
use engage_plugin_sdk::stage::*;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    database: String,
    location: String,
    /// Default `<database>.predictions`.
    predictions: Option<String>,
    /// Default `<database>.scoring_set`.
    scoring: Option<String>,
    /// The table built in `database`; default `qa_table`.
    table: Option<String>,
}

struct QaTable;

impl Stage for QaTable {
    fn run(ctx: &Context) -> Result<serde_json::Value, String> {
        let raw: Params = ctx.params()?;
        let bad = |e: String| format!("stage '{}': {e}", ctx.stage);
        let database = database_name("database", &raw.database).map_err(bad)?;
        let location = location("location", &raw.location).map_err(bad)?;
        let predictions = table_or_default("predictions", raw.predictions.as_deref(), &database, "predictions").map_err(bad)?;
        let scoring = table_or_default("scoring", raw.scoring.as_deref(), &database, "scoring_set").map_err(bad)?;
        let table = database_name("table", raw.table.as_deref().unwrap_or("qa_table")).map_err(bad)?;

        let rows = replace_table(&database, &table, &location, &qa_select(&scoring, &predictions))?;
        let (checks, counts) = run_checks(&scoring, &predictions)?;
        verdict(&ctx.stage, &checks)?;

        log::metric("qa_rows", rows as f64, "rows");
        Ok(json!({
            "tables": { table.clone(): rows },
            "outputs": [format!("{database}.{table}")],
            "scoring_rows": counts.scoring,
            "prediction_rows": counts.predictions,
            "checks": checks,
            "rows_in": counts.scoring + counts.predictions,
            "rows_out": rows,
        }))
    }
}

/// Readable columns, rounded for a person, best prospects first. A LEFT JOIN keeps
/// unscored users visible (with empty prediction columns) for whoever reads the table.
fn qa_select(scoring: &str, predictions: &str) -> String {
    format!(
        "SELECT row_number() OVER (ORDER BY p.probability DESC, s.user_id) AS rank, \
                s.user_id, s.snapshot_date, s.plan, s.country, s.tenure_days, s.sessions_7d, \
                s.days_since_last_session, round(s.revenue_30d, 2) AS revenue_30d, \
                round(p.probability * 100, 1) AS probability_pct, round(p.confidence, 2) AS confidence, p.segment \
         FROM {scoring} s LEFT JOIN {predictions} p ON s.user_id = p.user_id \
         ORDER BY rank"
    )
}

struct Counts {
    scoring: u64,
    predictions: u64,
}

fn run_checks(scoring: &str, predictions: &str) -> Result<(Vec<Check>, Counts), String> {
    let coverage = one_row(&format!(
        "SELECT count(*) AS users, count_if(p.n IS NULL) AS missing, count_if(p.n > 1) AS several \
         FROM {scoring} s LEFT JOIN (SELECT user_id, count(*) AS n FROM {predictions} GROUP BY user_id) p \
         ON s.user_id = p.user_id"
    ))?;
    let values = one_row(&format!(
        "SELECT count(*) AS n, \
                count_if(probability IS NULL OR probability < 0 OR probability > 1) AS out_of_range, \
                count_if(segment IS NULL) AS null_segment, \
                count_if(segment NOT IN ('high', 'medium', 'low')) AS unknown_segment \
         FROM {predictions}"
    ))?;
    let orphans = query_value(&format!(
        "SELECT count(*) FROM {predictions} p LEFT JOIN (SELECT DISTINCT user_id FROM {scoring}) s \
         ON p.user_id = s.user_id WHERE s.user_id IS NULL"
    ))?;
    let other_week = query_value(&format!(
        "SELECT count(*) FROM {scoring} s JOIN {predictions} p ON s.user_id = p.user_id \
         WHERE p.snapshot_date <> s.snapshot_date"
    ))?;
    let get = |row: &serde_json::Map<String, serde_json::Value>, key: &str| row[key].as_f64().unwrap_or(0.0);
    let checks = vec![
        Check::none("scoring_users_without_prediction", get(&coverage, "missing")),
        Check::none("scoring_users_with_several_predictions", get(&coverage, "several")),
        Check::none("predictions_for_users_not_scored", orphans.as_f64().unwrap_or(0.0)),
        Check::none("predictions_for_another_week", other_week.as_f64().unwrap_or(0.0)),
        Check::none("probability_null_or_outside_0_1", get(&values, "out_of_range")),
        Check::none("segment_null", get(&values, "null_segment")),
        Check::none("segment_not_high_medium_low", get(&values, "unknown_segment")),
    ];
    let counts = Counts { scoring: get(&coverage, "users") as u64, predictions: get(&values, "n") as u64 };
    Ok((checks, counts))
}

fn one_row(statement: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    query_rows(statement)?.into_iter().next().ok_or_else(|| format!("no result row for `{statement}`"))
}

engage_plugin_sdk::export_stage!(QaTable);
