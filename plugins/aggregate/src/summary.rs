//! The long summary table: the same statistics grouped by each dimension, stacked.

use engage_plugin_sdk::stage::serde_json::{Map, Value, json};
use engage_plugin_sdk::stage::{query_rows, sql_string};

/// (dimension name, the column grouped by); `overall` is one group of everyone.
const DIMENSIONS: [(&str, Option<&str>); 4] =
    [("overall", None), ("segment", Some("segment")), ("plan", Some("plan")), ("country", Some("country"))];

/// `dimension, value, users, avg_probability, share_high, avg_confidence,
/// labelled_users, label_rate` for every group; label_rate is NULL where no row has a label.
pub fn select(results: &str, label: &str, run_id: &str) -> String {
    let run_id = sql_string(run_id);
    DIMENSIONS
        .iter()
        .enumerate()
        .map(|(order, (name, column))| {
            let (value, group_by) = match column {
                Some(c) => (format!("coalesce(CAST({c} AS varchar), '(missing)')"), format!(" GROUP BY {c}")),
                None => ("'all'".to_string(), String::new()),
            };
            format!(
                "SELECT {order} AS dimension_order, '{name}' AS dimension, \
                        {value} AS value, \
                        count(*) AS users, avg(probability) AS avg_probability, \
                        avg(CAST(CASE WHEN segment = 'high' THEN 1 ELSE 0 END AS double)) AS share_high, \
                        avg(confidence) AS avg_confidence, count({label}) AS labelled_users, \
                        avg(CAST({label} AS double)) AS label_rate, {run_id} AS run_id \
                 FROM {results}{group_by}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY dimension_order, users DESC, value"
}

/// Users per segment (`{"high": n, "medium": n, "low": n}`), every segment named even when empty.
pub fn segment_counts(results: &str) -> Result<Value, String> {
    let rows = query_rows(&format!("SELECT segment, count(*) AS users FROM {results} GROUP BY segment"))?;
    let mut counts: Map<String, Value> = ["high", "medium", "low"].iter().map(|s| (s.to_string(), json!(0))).collect();
    for row in rows {
        let segment = row["segment"].as_str().unwrap_or("(missing)").to_string();
        counts.insert(segment, row["users"].clone());
    }
    Ok(Value::Object(counts))
}

/// The summary table's rows for the run report: every segment and plan, and the
/// ten largest groups of any longer dimension (countries), rounded for reading.
pub fn statistics(summary_table: &str) -> Result<Value, String> {
    let rows = query_rows(&format!(
        "SELECT dimension, value, users, round(avg_probability, 3) AS avg_probability, \
                round(share_high, 3) AS share_high, round(label_rate, 3) AS label_rate \
         FROM (SELECT *, row_number() OVER (PARTITION BY dimension ORDER BY users DESC, value) AS n \
               FROM {summary_table}) ranked \
         WHERE n <= 10 ORDER BY dimension_order, users DESC, value"
    ))?;
    Ok(Value::Array(rows.into_iter().map(Value::Object).collect()))
}
