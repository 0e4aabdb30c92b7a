//! activity-features: how much and how deeply a user uses the product (9 of the
//! weekly model's 14 features; the formulas are engagement-features' own).

use engage_plugin_sdk::transform::*;
use libm::{exp, log1p};

const INPUTS: [&str; 11] = [
    "sessions_7d",
    "sessions_30d",
    "active_days_7d",
    "active_days_30d",
    "days_since_last_session",
    "avg_session_minutes_30d",
    "core_actions_7d",
    "items_saved_30d",
    "shares_30d",
    "comments_30d",
    "features_used_distinct_30d",
];

const OUTPUTS: [(&str, &str, &str); 9] = [
    ("sessions_per_day_7d", "sessions/day", "sessions_7d / 7"),
    ("session_trend", "ratio", "daily sessions in the last 7 days over the last 30, capped at 5 (1 = steady)"),
    ("active_day_share_7d", "ratio", "active_days_7d / 7"),
    ("active_day_share_30d", "ratio", "active_days_30d / 30"),
    ("session_recency", "score 0-1", "exp(-days_since_last_session / 7); 0 when never seen"),
    ("log_session_minutes", "log minutes", "ln(1 + avg_session_minutes_30d)"),
    ("core_actions_per_session_7d", "actions/session", "core_actions_7d / sessions_7d (0 without sessions)"),
    ("log_content_actions_30d", "log count", "ln(1 + items_saved_30d + shares_30d + comments_30d)"),
    ("feature_breadth_30d", "count", "features_used_distinct_30d"),
];

struct ActivityFeatures;

impl Transform for ActivityFeatures {
    fn describe() -> TransformInfo {
        let mut info = info("activity-features", env!("CARGO_PKG_VERSION")).reads(&INPUTS);
        for (name, unit, description) in OUTPUTS {
            info = info.writes(float64(name, unit, description));
        }
        info
    }

    fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
        let col = |name: &str| numbers(input, name);
        let sessions_7d = col("sessions_7d")?;
        Ok(vec![
            output(map(sessions_7d, |v| v / 7.0)),
            output(zip_with(sessions_7d, col("sessions_30d")?, |s7, s30| {
                let (a, b) = (s7 / 7.0, s30 / 30.0);
                if b > 0.0 {
                    (a / b).min(5.0)
                } else if a > 0.0 {
                    5.0
                } else {
                    0.0
                }
            })),
            output(map(col("active_days_7d")?, |v| v / 7.0)),
            output(map(col("active_days_30d")?, |v| v / 30.0)),
            output(map_or(col("days_since_last_session")?, 0.0, |d| exp(-d.max(0.0) / 7.0))),
            output(map(col("avg_session_minutes_30d")?, log1p)),
            output(zip_with(col("core_actions_7d")?, sessions_7d, |x, y| if y > 0.0 { x / y } else { 0.0 })),
            output(zip3_with(col("items_saved_30d")?, col("shares_30d")?, col("comments_30d")?, |a, b, c| log1p(a + b + c))),
            output(map(col("features_used_distinct_30d")?, |v| v)),
        ])
    }
}

engage_plugin_sdk::export_transform!(ActivityFeatures);
