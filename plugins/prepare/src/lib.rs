//! Builds the run's training set (labelled rows of the newest labelled weeks) and
//! scoring set (the newest week) from the ingested snapshots with Athena SQL, then
//! checks their quality with SQL: row counts, label rate, null rates. Any failed
//! check fails the stage with a `data-quality:` error naming each check.
//!
//! ```json
//! {"source": "engage.users", "database": "run_x", "location": "s3://work/run=x/prepare/attempt=1/",
//!  "training_weeks": 3, "min_training_rows": 1000, "min_scoring_rows": 100,
//!  "label_rate_min": 0.01, "label_rate_max": 0.99,
//!  "max_null_rate": 0.2, "null_rate_columns": ["plan", "tenure_days", "sessions_7d"],
//!  "max_training_rows": 1250000}
//! ```
//!
//! `max_training_rows`: when the chosen weeks hold more labelled rows, the training
//! set keeps a sample of users (all their weeks) picked by the xxhash64 of their id,
//! the way Athena users sample: the same users on every rerun, and the steps after
//! it (features, train) handle only what the model will learn from.

mod params;
mod weeks;

use engage_plugin_sdk::checks::{Check, verdict};
use engage_plugin_sdk::stage::*;
use serde_json::json;

use params::Params;
use weeks::Week;

struct Prepare;

impl Stage for Prepare {
    fn run(ctx: &Context) -> Result<serde_json::Value, String> {
        let p = Params::read(ctx)?;
        let weeks = weeks::list(&p.source, &p.label)?;
        let Some(scoring) = weeks.first() else {
            return Err(format!("data-quality: stage '{}': source {} has no rows", ctx.stage, p.source));
        };
        // The scoring week never trains: a rerun after its labels arrive must train as the first run did.
        let training: Vec<&Week> = weeks.iter().skip(1).filter(|w| w.labelled > 0).take(p.training_weeks).collect();
        log::log(
            log::Level::Info,
            &format!(
                "scoring week {}, training weeks [{}]",
                scoring.date,
                training.iter().map(|w| w.date.as_str()).collect::<Vec<_>>().join(", ")
            ),
        );

        let labelled: u64 = training.iter().map(|w| w.labelled).sum();
        let sample = sample_per_million(p.max_training_rows, labelled);
        let training_rows = replace_table(&p.database, "training_set", &p.location, &training_select(&p, &training, sample))?;
        let scoring_rows = replace_table(
            &p.database,
            "scoring_set",
            &p.location,
            &format!("SELECT * FROM {} WHERE snapshot_date = DATE {}", p.source, sql_string(&scoring.date)),
        )?;

        let checks = run_checks(&p, training_rows, scoring_rows)?;
        let label_rate = checks.iter().find(|c| c.name == "label_rate").map(|c| c.value);
        verdict(&ctx.stage, &checks)?;

        let rows_in: u64 = scoring.rows + training.iter().map(|w| w.rows).sum::<u64>();
        log::metric("training_rows", training_rows as f64, "rows");
        log::metric("scoring_rows", scoring_rows as f64, "rows");
        Ok(json!({
            "training_rows": training_rows,
            "training_rows_available": labelled,
            "training_sample_per_million_users": sample,
            "scoring_rows": scoring_rows,
            "label_rate": label_rate,
            "training_weeks": training.iter().map(|w| w.date.clone()).collect::<Vec<_>>(),
            "scoring_week": scoring.date,
            "scoring_week_labelled": scoring.labelled > 0,
            "checks": checks,
            "tables": { "training_set": training_rows, "scoring_set": scoring_rows },
            "outputs": [format!("{}.training_set", p.database), format!("{}.scoring_set", p.database)],
            "rows_in": rows_in,
            "rows_out": training_rows + scoring_rows,
        }))
    }
}

/// Users kept per million when `labelled` rows exceed `max` (None: keep everyone).
fn sample_per_million(max: Option<u64>, labelled: u64) -> Option<u64> {
    let max = max.filter(|&m| m < labelled)?;
    Some((max as u128 * 1_000_000).div_ceil(labelled as u128).max(1) as u64)
}

/// Labelled rows of the chosen weeks, of the sampled users when `sample` is given;
/// no weeks selects nothing (and the row-count check fails).
fn training_select(p: &Params, weeks: &[&Week], sample: Option<u64>) -> String {
    let dates = weeks.iter().map(|w| format!("DATE {}", sql_string(&w.date))).collect::<Vec<_>>().join(", ");
    let in_weeks = if dates.is_empty() { "FALSE".to_string() } else { format!("snapshot_date IN ({dates})") };
    let sampled = match sample {
        Some(k) => format!(" AND abs(mod(from_big_endian_64(xxhash64(to_utf8(user_id))), 1000000)) < {k}"),
        None => String::new(),
    };
    format!("SELECT * FROM {} WHERE {in_weeks} AND {} IS NOT NULL{sampled}", p.source, p.label)
}

/// Every check, measured on the tables just built.
fn run_checks(p: &Params, training_rows: u64, scoring_rows: u64) -> Result<Vec<Check>, String> {
    let training = format!("{}.training_set", p.database);
    let scoring = format!("{}.scoring_set", p.database);
    let mut checks = vec![
        Check::at_least("training_rows", training_rows as f64, p.min_training_rows as f64),
        Check::at_least("scoring_rows", scoring_rows as f64, p.min_scoring_rows as f64),
    ];

    let label = &p.label;
    let labels = query_rows(&format!(
        "SELECT avg(CAST({label} AS double)) AS rate, count_if({label} NOT IN (0, 1)) AS bad FROM {training}"
    ))?;
    let labels = labels.first().ok_or_else(|| format!("no result for the label rate of {training}"))?;
    // No training rows means no rate; report 0 so the row-count check is not alone in failing.
    let rate = labels["rate"].as_f64().unwrap_or(0.0);
    checks.push(Check::between("label_rate", rate, p.label_rate_min, p.label_rate_max));
    checks.push(Check::none("label_not_0_or_1", labels["bad"].as_f64().unwrap_or(0.0)));

    let duplicates = query_value(&format!("SELECT count(*) - count(DISTINCT user_id) FROM {scoring}"))?;
    checks.push(Check::none("scoring_duplicate_users", duplicates.as_f64().unwrap_or(0.0)));

    for (table, rows) in [(&training, training_rows), (&scoring, scoring_rows)] {
        checks.extend(null_rate_checks(p, table, rows)?);
    }
    Ok(checks)
}

/// `null_rate:<table>.<column>` for every configured column, in one scan of the table.
fn null_rate_checks(p: &Params, table: &str, rows: u64) -> Result<Vec<Check>, String> {
    if p.null_rate_columns.is_empty() {
        return Ok(Vec::new());
    }
    let counts = p
        .null_rate_columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("count({c}) AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = query_rows(&format!("SELECT count(*) AS n, {counts} FROM {table}"))?;
    let row = row.first().ok_or_else(|| format!("no result for the null counts of {table}"))?;
    let n = row["n"].as_f64().unwrap_or(rows as f64);
    let short = table.rsplit('.').next().unwrap_or(table);
    Ok(p.null_rate_columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let present = row[&format!("c{i}")].as_f64().unwrap_or(0.0);
            let rate = if n > 0.0 { (n - present) / n } else { 0.0 };
            Check::at_most(format!("null_rate:{short}.{column}"), rate, p.max_null_rate.for_column(column))
        })
        .collect())
}

engage_plugin_sdk::export_stage!(Prepare);
