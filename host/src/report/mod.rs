//! The HTML run report: one self-contained page per run (inline CSS and SVG,
//! no scripts, no network) drawn from the run record `runs/<id>/run.json`.
//! The `report` native step writes it at the end of a run; `engage runs report
//! <id>` re-renders it for any run through [`write_report`].
//!
//! `view` reads the record forgivingly, `svg` draws chart primitives, `charts`
//! the six charts, `html` the page, `format` numbers and escaping.

mod charts;
mod model_charts;
mod model_page;
mod format;
mod html;
mod svg;
mod view;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::capabilities::storage::{ObjectStore, validate_key};
use crate::pipeline::step::RUNS_BUCKET;

pub use format::escape;
pub use model_page::{EvalPage, eval_page};

/// The page for a run record. Missing stages and summaries become "not
/// available" panels; only a record that is not a JSON object is an error.
pub fn render(run_record: &serde_json::Value) -> Result<String> {
    if !run_record.is_object() {
        bail!("a run record must be a JSON object, not {}", kind_of(run_record));
    }
    Ok(html::page(&view::Run::new(run_record)))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Where a report was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenReport {
    /// `s3://runs/<id>/report.html`.
    pub uri: String,
    /// The file on this machine, when storage is a local directory.
    pub path: Option<PathBuf>,
    /// Size of the page in bytes.
    pub bytes: usize,
}

/// Key of a run's record in the `runs` bucket.
pub fn record_key(run_id: &str) -> String {
    format!("{run_id}/run.json")
}

/// Key of a run's report in the `runs` bucket.
pub fn report_key(run_id: &str) -> String {
    format!("{run_id}/report.html")
}

/// Loads `runs/<run_id>/run.json`, renders it and writes
/// `runs/<run_id>/report.html` (atomically, like every object). `local_root`
/// is the storage root when storage is a directory; the returned path points
/// into it so a browser can open the file.
pub fn write_report(storage: &dyn ObjectStore, local_root: Option<&Path>, run_id: &str) -> Result<WrittenReport> {
    // The id becomes a key prefix: one plain segment, nothing that walks elsewhere.
    if run_id.contains('/') {
        bail!("'{run_id}' is not a run id");
    }
    validate_key(&record_key(run_id)).map_err(|e| anyhow::anyhow!("'{run_id}' is not a run id: {e}"))?;
    let key = record_key(run_id);
    let bytes = storage.get(RUNS_BUCKET, &key).with_context(|| format!("reading the run record s3://{RUNS_BUCKET}/{key}"))?;
    let record: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("s3://{RUNS_BUCKET}/{key} is not valid JSON"))?;
    let page = render(&record).with_context(|| format!("rendering the report of run {run_id}"))?;
    let out_key = report_key(run_id);
    storage.put(RUNS_BUCKET, &out_key, page.as_bytes()).with_context(|| format!("writing s3://{RUNS_BUCKET}/{out_key}"))?;
    let path = match local_root {
        Some(root) => Some(root.join(RUNS_BUCKET).join(run_id).join("report.html")),
        None => storage.local_path(RUNS_BUCKET, &out_key),
    };
    Ok(WrittenReport { uri: format!("s3://{RUNS_BUCKET}/{out_key}"), path, bytes: page.len() })
}
