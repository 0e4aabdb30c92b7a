//! monetary-features: purchase recency and revenue (2 of the weekly model's 14
//! features; the formulas are engagement-features' own).

use engage_plugin_sdk::transform::*;
use libm::{exp, log1p};

struct MonetaryFeatures;

impl Transform for MonetaryFeatures {
    fn describe() -> TransformInfo {
        info("monetary-features", env!("CARGO_PKG_VERSION"))
            .reads(&["days_since_last_purchase", "revenue_90d"])
            .writes(float64("purchase_recency", "score 0-1", "exp(-days_since_last_purchase / 30); 0 when never purchased"))
            .writes(float64("log_revenue_90d", "log currency", "ln(1 + revenue_90d)"))
    }

    fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
        Ok(vec![
            output(map_or(numbers(input, "days_since_last_purchase")?, 0.0, |d| exp(-d.max(0.0) / 30.0))),
            output(map(numbers(input, "revenue_90d")?, log1p)),
        ])
    }
}

engage_plugin_sdk::export_transform!(MonetaryFeatures);
