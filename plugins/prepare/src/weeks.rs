//! The source's snapshots, newest first, with how many rows each has and how many carry a label.

use engage_plugin_sdk::stage::query_rows;

pub struct Week {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub rows: u64,
    pub labelled: u64,
}

pub fn list(source: &str, label: &str) -> Result<Vec<Week>, String> {
    let rows = query_rows(&format!(
        "SELECT CAST(snapshot_date AS varchar) AS week, count(*) AS n, count({label}) AS labelled \
         FROM {source} GROUP BY snapshot_date ORDER BY snapshot_date DESC"
    ))?;
    rows.into_iter()
        .map(|row| {
            let date = row["week"].as_str().ok_or_else(|| format!("{source} has a row without snapshot_date"))?;
            Ok(Week {
                date: date.to_string(),
                rows: row["n"].as_u64().unwrap_or(0),
                labelled: row["labelled"].as_u64().unwrap_or(0),
            })
        })
        .collect()
}
