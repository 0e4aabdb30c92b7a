//! Guest log lines and metrics go into `tracing`, tagged with run id, stage and
//! plugin; metrics are also kept so the run history can record them.

pub mod host;

pub use host::{LogHost, Metric};
