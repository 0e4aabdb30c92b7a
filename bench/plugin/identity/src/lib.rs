//! Identity-like transform: the boundary without the compute.

use engage_plugin_sdk::transform::*;

/// The inputs engagement-features reads (bench/plugin sends the same table).
const INPUTS: [&str; 19] = [
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
/// As many columns out as engagement-features writes.
const OUTPUTS: usize = 14;

struct Identity;

impl Transform for Identity {
    fn describe() -> TransformInfo {
        let mut info = info("bench-identity", "0.1.0").reads(&INPUTS);
        for name in &INPUTS[..OUTPUTS] {
            // Named apart from the inputs: the runtime refuses an output named like an input column.
            info = info.writes(OutputColumn {
                name: format!("{name}_copy"),
                type_: ColumnType::Int64,
                unit: String::new(),
                description: "the input column, unchanged".into(),
            });
        }
        info
    }

    fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
        Ok(input.columns()[..OUTPUTS].to_vec())
    }
}

engage_plugin_sdk::export_transform!(Identity);
