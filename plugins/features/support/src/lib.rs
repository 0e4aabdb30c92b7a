//! support-features: how much friction a user met with support (1 of the weekly
//! model's 14 features; the formula is engagement-features' own).

use engage_plugin_sdk::transform::*;
use libm::log1p;

struct SupportFeatures;

impl Transform for SupportFeatures {
    fn describe() -> TransformInfo {
        info("support-features", env!("CARGO_PKG_VERSION")).reads(&["support_tickets_90d", "complaints_90d"]).writes(float64(
            "support_friction_90d",
            "log count",
            "ln(1 + support_tickets_90d + complaints_90d)",
        ))
    }

    fn transform(input: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
        Ok(vec![output(zip_with(numbers(input, "support_tickets_90d")?, numbers(input, "complaints_90d")?, |a, b| log1p(a + b)))])
    }
}

engage_plugin_sdk::export_transform!(SupportFeatures);
