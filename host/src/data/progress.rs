//! Rows done so far, reported while long data work runs: the CLI draws a
//! progress bar from it, a pipeline stage counts its rows with it.

use std::fmt;
use std::sync::Arc;

/// Where to report rows as they are done; reports nothing by default.
#[derive(Clone, Default)]
pub struct RowProgress(Option<Arc<dyn Fn(u64) + Send + Sync>>);

impl RowProgress {
    pub fn new(report: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(report)))
    }

    /// `rows` more are done.
    pub fn add(&self, rows: u64) {
        if let Some(report) = &self.0 {
            report(rows);
        }
    }
}

impl fmt::Debug for RowProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "RowProgress(reported)" } else { "RowProgress(none)" })
    }
}
