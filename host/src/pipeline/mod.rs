//! The orchestrator: the pipeline file model, the executor (retry, catch,
//! timeout, parallel branches, map over shards), run records and resume, and the
//! stages it runs (plugin stages and the native steps).

pub mod step;
pub mod steps;
