//! The orchestrator: the pipeline file model, the executor (retry, catch,
//! timeout, parallel branches, map over shards), run records and resume, and the
//! stages it runs (plugin stages and the native steps).

pub mod executor;
pub mod fanout;
mod leftovers;
pub mod metrics;
pub mod plugin_step;
mod publish_lock;
pub mod record;
pub mod run_lease;
pub mod setup;
pub mod spec;
pub mod stage_task;
pub mod step;
pub mod steps;
pub mod summary;
pub mod vars;
