//! Capabilities: the only ways a guest reaches the world. Each one is a trait with
//! backends beside it (`local` now, `aws` later) and a WIT host implementation
//! (`host.rs`) that checks the stage's grants and then dispatches to the trait.

pub mod error;
pub mod grants;
pub mod llm;
pub mod log;
pub mod sql;
pub mod storage;
pub mod trace;

pub use error::{CapResult, CapabilityError, ErrorCode};
pub use grants::{Access, Grants, StorageGrant};
