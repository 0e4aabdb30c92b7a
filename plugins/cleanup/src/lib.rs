//! Deletes every object under the prefixes named in the stage's params, e.g.
//! `{"targets": ["scratch/run=42/", "results/run=42/"]}` (bucket, then prefix).
//! Each target must be covered by a write grant; the host stops the stage otherwise.

use engage_plugin_sdk::stage::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    targets: Vec<String>,
}

struct Cleanup;

impl Stage for Cleanup {
    fn run(ctx: &Context) -> Result<serde_json::Value, String> {
        let params: Params = ctx.params()?;
        let mut deleted = 0u64;
        let mut bytes = 0u64;
        for target in &params.targets {
            let (bucket, prefix) = target
                .split_once('/')
                .ok_or_else(|| format!("target '{target}' must be bucket/prefix/"))?;
            for object in list_all(bucket, prefix)? {
                storage::delete(bucket, &object.key).map_err(|e| e.to_string())?;
                deleted += 1;
                bytes += object.size;
            }
            log::log(log::Level::Info, &format!("cleared {target}"));
        }
        log::metric("objects_deleted", deleted as f64, "objects");
        Ok(serde_json::json!({ "objects_deleted": deleted, "bytes_deleted": bytes }))
    }
}

engage_plugin_sdk::export_stage!(Cleanup);
