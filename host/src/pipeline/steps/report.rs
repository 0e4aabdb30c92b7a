//! The `report` native step: renders the run's HTML report from its record
//! (`runs/<id>/run.json`, which the executor keeps current, so every earlier
//! stage is in it) and writes `runs/<id>/report.html`. Summary: `report_uri`
//! and `path` (the local file, null on hosted storage). Takes no params.

use serde_json::json;

use crate::pipeline::step::{Step, StepContext, StepError, StepOutput};

pub struct Report;

impl Step for Report {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        ctx.check_cancelled()?;
        let written = crate::report::write_report(ctx.services.storage.as_ref(), ctx.services.local_root.as_deref(), ctx.run_id)
            // Reading or writing storage failed: worth a retry, unlike a render bug.
            .map_err(|e| StepError::io(format!("stage '{}': {e:#}", ctx.stage)))?;
        let path = written.path.as_ref().map(|p| p.display().to_string());
        Ok(StepOutput {
            rows_in: 0,
            rows_out: 0,
            outputs: vec![written.uri.clone()],
            summary: json!({ "report_uri": written.uri, "path": path, "bytes": written.bytes }),
        })
    }
}
