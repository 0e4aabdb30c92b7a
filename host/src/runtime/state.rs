//! What a guest's store holds: WASI with nothing granted, the memory limiter,
//! and one host struct per capability.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::errors::MemoryLimitExceeded;
use super::output::GuestOutput;
use crate::capabilities::Grants;
use crate::capabilities::trace::Tracer;
use crate::capabilities::llm::host::LlmHost;
use crate::capabilities::log::LogHost;
use crate::capabilities::sql::host::SqlHost;
use crate::capabilities::storage::host::StorageHost;
use crate::runtime::{Capabilities, GuestLimits};

pub struct GuestState {
    wasi: WasiCtx,
    wasi_table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) output: GuestOutput,
    pub storage: StorageHost,
    pub sql: SqlHost,
    pub llm: LlmHost,
    pub log: LogHost,
}

/// Who the guest is, for grants and log tags.
pub struct GuestIdentity<'a> {
    pub run_id: &'a str,
    pub stage: &'a str,
    pub plugin: &'a str,
}

impl GuestState {
    pub fn new(who: &GuestIdentity, grants: Grants, caps: &Capabilities, limits: &GuestLimits) -> Self {
        let output = GuestOutput::new();
        // No preopened directories, no environment, no arguments, no network:
        // a guest reaches the world only through its capabilities.
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let grants = Arc::new(grants);
        let tracer = caps.trace.as_ref().map(|trace| Tracer { trace: trace.clone(), stage: who.stage.to_string() });
        Self {
            wasi,
            wasi_table: ResourceTable::new(),
            limiter: MemoryLimiter { limit: limits.memory_bytes },
            output,
            storage: StorageHost::new(who.stage, grants.clone(), caps.storage.clone(), limits.output_bytes).traced(tracer.clone()),
            sql: SqlHost::new(who.stage, grants.clone(), caps.sql.clone(), limits.output_bytes).traced(tracer.clone()),
            llm: LlmHost::new(who.stage, grants, caps.llm.clone()).traced(tracer.clone()),
            log: LogHost::new(who.run_id, who.stage, who.plugin).traced(tracer),
        }
    }

    /// What the guest printed, as text (the tail if it printed a lot).
    pub fn guest_output(&self) -> String {
        self.output.text()
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.wasi_table }
    }
}

/// Caps every linear memory of the guest; growing past it stops the guest with
/// [`MemoryLimitExceeded`] rather than handing it a failed allocation.
pub struct MemoryLimiter {
    limit: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded { limit: self.limit, requested: desired }));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
