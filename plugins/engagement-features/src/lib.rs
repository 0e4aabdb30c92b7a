//! The 14 model features of the weekly engagement model, from 19 raw columns.
//! Ratios divide safely (a zero denominator gives 0), counts are log-compressed
//! because their tails are heavy, and recencies decay exponentially so that
//! "never" (a missing value) and "long ago" both approach 0.

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use engage_plugin_sdk::columns::{Numbers, map, map_or, numbers, output, zip_with, zip3_with};
use libm::{exp, log1p};

/// Raw columns read, in the order the host sends them.
pub const INPUTS: [&str; 19] = [
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
    "email_opens_30d",
    "emails_sent_30d",
    "push_opens_30d",
    "push_sent_30d",
    "days_since_last_purchase",
    "revenue_90d",
    "support_tickets_90d",
    "complaints_90d",
];

/// (name, unit, description) of each output column, in order.
pub const OUTPUTS: [(&str, &str, &str); 14] = [
    ("sessions_per_day_7d", "sessions/day", "sessions_7d / 7"),
    ("session_trend", "ratio", "daily sessions in the last 7 days over the last 30, capped at 5 (1 = steady)"),
    ("active_day_share_7d", "ratio", "active_days_7d / 7"),
    ("active_day_share_30d", "ratio", "active_days_30d / 30"),
    ("session_recency", "score 0-1", "exp(-days_since_last_session / 7); 0 when never seen"),
    ("log_session_minutes", "log minutes", "ln(1 + avg_session_minutes_30d)"),
    ("core_actions_per_session_7d", "actions/session", "core_actions_7d / sessions_7d (0 without sessions)"),
    ("log_content_actions_30d", "log count", "ln(1 + items_saved_30d + shares_30d + comments_30d)"),
    ("feature_breadth_30d", "count", "features_used_distinct_30d"),
    ("email_open_rate_30d", "ratio", "email_opens_30d / emails_sent_30d (0 when none sent)"),
    ("push_open_rate_30d", "ratio", "push_opens_30d / push_sent_30d (0 when none sent)"),
    ("purchase_recency", "score 0-1", "exp(-days_since_last_purchase / 30); 0 when never purchased"),
    ("log_revenue_90d", "log currency", "ln(1 + revenue_90d)"),
    ("support_friction_90d", "log count", "ln(1 + support_tickets_90d + complaints_90d)"),
];

fn ratio<'a, 'b>(a: impl Into<Numbers<'a>>, b: impl Into<Numbers<'b>>) -> Float64Array {
    zip_with(a, b, |x, y| if y > 0.0 { x / y } else { 0.0 })
}

/// A recency where a missing value ("never") scores 0 instead of null.
fn decay(days: Numbers, scale: f64) -> Float64Array {
    map_or(days, 0.0, |d| exp(-d.max(0.0) / scale))
}

/// Computes the 14 features; the arrays come back in [`OUTPUTS`] order.
///
/// Inputs are read in place (integers converted block by block) and each output
/// is written in one pass. `exp` and `ln_1p` come from the `libm` crate, not the
/// platform's C library, so a guest and a native build give the same bits.
pub fn compute(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
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
        output(decay(col("days_since_last_session")?, 7.0)),
        output(map(col("avg_session_minutes_30d")?, log1p)),
        output(ratio(col("core_actions_7d")?, sessions_7d)),
        output(zip3_with(col("items_saved_30d")?, col("shares_30d")?, col("comments_30d")?, |a, b, c| log1p(a + b + c))),
        output(map(col("features_used_distinct_30d")?, |v| v)),
        output(ratio(col("email_opens_30d")?, col("emails_sent_30d")?)),
        output(ratio(col("push_opens_30d")?, col("push_sent_30d")?)),
        output(decay(col("days_since_last_purchase")?, 30.0)),
        output(map(col("revenue_90d")?, log1p)),
        output(zip_with(col("support_tickets_90d")?, col("complaints_90d")?, |a, b| log1p(a + b))),
    ])
}

#[cfg(feature = "component")]
mod component {
    use engage_plugin_sdk::transform::*;

    struct EngagementFeatures;

    impl Transform for EngagementFeatures {
        fn describe() -> TransformInfo {
            let mut info = info("engagement-features", env!("CARGO_PKG_VERSION")).reads(&super::INPUTS);
            for (name, unit, description) in super::OUTPUTS {
                info = info.writes(float64(name, unit, description));
            }
            info
        }

        fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
            super::compute(input)
        }
    }

    engage_plugin_sdk::export_transform!(EngagementFeatures);
}
