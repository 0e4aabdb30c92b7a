//! A transform that reads next week's answer: `engaged_next_7d`, the label. A feature made
//! from it would leak the answer into the model, so the host refuses it before any row
//! goes in, whether or not a plugin.toml says so (this one has none).

use engage_plugin_sdk::transform::bindings::Guest;
use engage_plugin_sdk::transform::{TransformInfo, float64, info};

struct LabelReader;

impl Guest for LabelReader {
    fn describe() -> TransformInfo {
        info("label-reader", "1.0.0").reads(&["sessions_7d", "engaged_next_7d"]).writes(float64("leak", "", "the label itself"))
    }

    fn transform(batch: Vec<u8>) -> Result<Vec<u8>, String> {
        // Never reached: the host refuses the plugin at describe.
        Ok(batch)
    }
}

engage_plugin_sdk::transform::bindings::__export_feature_transform!(LabelReader with_types_in engage_plugin_sdk::transform::bindings);
