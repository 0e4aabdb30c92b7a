//! SQL in Athena's dialect. The trait speaks Arrow; `host.rs` turns results into
//! Arrow IPC bytes for guests. Backends: `local` (DataFusion over the storage
//! root, translating Athena SQL) now, `aws` (Athena) later.

pub mod access;
pub mod athena;
mod athena_csv;
pub mod aws;
pub mod fixture;
pub mod host;
pub mod local;
pub mod storage_bridge;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::CapResult;
use crate::catalog::Catalog;

/// A whole query result.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// A query result read batch by batch, so results larger than memory can flow.
pub trait BatchStream: Send {
    fn schema(&self) -> SchemaRef;
    fn next_batch(&mut self) -> CapResult<Option<RecordBatch>>;
}

pub trait SqlEngine: Send + Sync {
    /// Runs a query (SELECT, SHOW, DESCRIBE) and collects its result.
    fn query(&self, statement: &str) -> CapResult<QueryResult>;
    /// Runs a query and streams its result.
    fn query_stream(&self, statement: &str) -> CapResult<Box<dyn BatchStream>>;
    /// Runs DDL or DML and returns the number of rows written (0 for DDL).
    fn execute(&self, statement: &str) -> CapResult<u64>;
    /// The catalog the engine resolves table names in, so that the host can check
    /// the storage a statement reads and writes against the stage's grants
    /// ([`access`]). `None` only for engines that reach no storage at all (fixtures).
    fn catalog(&self) -> Option<Arc<dyn Catalog>>;
}

/// A sql backend that refuses everything: for hosts and tests with no engine configured.
pub struct NoSql;

impl SqlEngine for NoSql {
    fn query(&self, _: &str) -> CapResult<QueryResult> {
        Err(crate::capabilities::CapabilityError::unavailable("no sql backend is configured"))
    }
    fn query_stream(&self, _: &str) -> CapResult<Box<dyn BatchStream>> {
        Err(crate::capabilities::CapabilityError::unavailable("no sql backend is configured"))
    }
    fn execute(&self, _: &str) -> CapResult<u64> {
        Err(crate::capabilities::CapabilityError::unavailable("no sql backend is configured"))
    }
    fn catalog(&self) -> Option<Arc<dyn Catalog>> {
        None
    }
}
