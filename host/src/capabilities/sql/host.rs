//! The WIT `sql` interface for one guest: check the grants (`sql`, and the storage
//! grants for what the statement reads and writes: `access`), run the statement on
//! the backend, hand results back as Arrow IPC bytes within the output limit.

use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::{BatchStream, SqlEngine};
use crate::capabilities::CapabilityError;
use crate::capabilities::grants::Grants;
use crate::capabilities::trace::{self, Size, Tracer};
use crate::runtime::bindings::sql;
use crate::runtime::errors::HostError;

pub struct SqlHost {
    stage: String,
    grants: Arc<Grants>,
    engine: Arc<dyn SqlEngine>,
    output_limit: usize,
    table: ResourceTable,
    tracer: Option<Tracer>,
}

/// The host side of a guest's `batches` resource.
pub struct BatchesHandle {
    stream: Box<dyn BatchStream>,
}

pub struct HasSql;

impl HasData for HasSql {
    type Data<'a> = &'a mut SqlHost;
}

impl SqlHost {
    pub fn new(stage: &str, grants: Arc<Grants>, engine: Arc<dyn SqlEngine>, output_limit: usize) -> Self {
        Self { stage: stage.to_string(), grants, engine, output_limit, table: ResourceTable::new(), tracer: None }
    }

    /// Reports every call to `tracer` (`--trace`).
    pub fn traced(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// The `sql` grant, and the storage grants for every location the statement reads or writes.
    fn authorize(&self, statement: &str) -> Result<(), HostError> {
        let catalog = self.engine.catalog();
        super::access::authorize(&self.stage, &self.grants, catalog.as_deref(), statement)
    }

    fn encode(&self, schema: &arrow::datatypes::SchemaRef, batches: &[arrow::array::RecordBatch]) -> Result<Vec<u8>, HostError> {
        let bytes = crate::ipc::encode(schema, batches)
            .map_err(|e| CapabilityError::internal(format!("encoding the query result: {e}")))?;
        if bytes.len() > self.output_limit {
            return Err(CapabilityError::limit(format!(
                "the query result is {} bytes, over the limit of {} bytes: read it with query-batches",
                bytes.len(),
                self.output_limit
            ))
            .into());
        }
        Ok(bytes)
    }
}

impl crate::runtime::bindings::types::Host for SqlHost {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<crate::runtime::bindings::types::Error> {
        crate::runtime::convert_host_error(err)
    }
}

impl sql::Host for SqlHost {
    fn query(&mut self, statement: String) -> Result<Vec<u8>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "sql.query", Size::bytes(statement.len()), || {
            self.authorize(&statement)?;
            let result = self.engine.query(&statement)?;
            let bytes = self.encode(&result.schema, &result.batches)?;
            let size = Size::table(result.num_rows(), bytes.len());
            Ok((bytes, size))
        })
    }

    fn query_batches(&mut self, statement: String) -> Result<Resource<BatchesHandle>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "sql.query-batches", Size::bytes(statement.len()), || {
            self.authorize(&statement)?;
            let stream = self.engine.query_stream(&statement)?;
            let handle = self.table.push(BatchesHandle { stream }).map_err(|e| HostError::Trap(wasmtime::Error::new(e)))?;
            Ok((handle, Size::default()))
        })
    }

    fn execute(&mut self, statement: String) -> Result<u64, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "sql.execute", Size::bytes(statement.len()), || {
            self.authorize(&statement)?;
            let rows = self.engine.execute(&statement)?;
            Ok((rows, Size::table(rows as usize, 8)))
        })
    }
}

impl sql::HostBatches for SqlHost {
    fn next(&mut self, batches: Resource<BatchesHandle>) -> Result<Option<Vec<u8>>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "sql.batches.next", Size::default(), || {
            let handle = self.table.get_mut(&batches).map_err(|e| HostError::Trap(wasmtime::Error::new(e)))?;
            let Some(batch) = handle.stream.next_batch()? else { return Ok((None, Size::default())) };
            let schema = batch.schema();
            let bytes = self.encode(&schema, std::slice::from_ref(&batch))?;
            let size = Size::table(batch.num_rows(), bytes.len());
            Ok((Some(bytes), size))
        })
    }

    fn drop(&mut self, batches: Resource<BatchesHandle>) -> wasmtime::Result<()> {
        self.table.delete(batches)?;
        Ok(())
    }
}
