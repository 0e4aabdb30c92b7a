//! A stage plugin behind the [`Step`] contract: `<plugin_dir>/<name>.wasm` run in
//! a fresh sandboxed instance per attempt with the stage's grants and limits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::step::{ErrorKind, Services, Step, StepContext, StepError, StepOutput};
use crate::runtime::stage::StageRequest;
use crate::runtime::{Capabilities, GuestLimits, Plugin};

pub struct PluginStep {
    name: String,
    /// Compiled once per run, instantiated per attempt.
    loaded: Mutex<Option<Arc<Plugin>>>,
}

impl PluginStep {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), loaded: Mutex::new(None) }
    }

    /// Loads (compiling unless cached) the component; later calls reuse it.
    pub fn load(&self, services: &Services, stage: &str) -> Result<Arc<Plugin>, StepError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plugin) = loaded.as_ref() {
            return Ok(plugin.clone());
        }
        let plugin = crate::plugins::resolve::load(&services.runtime, &services.storage, &services.plugin_dir, &self.name)
            .map_err(|e| StepError::new(ErrorKind::Trap, format!("stage '{stage}': loading plugin '{}': {e:#}", self.name)))?;
        *loaded = Some(plugin.clone());
        Ok(plugin)
    }
}

impl Step for PluginStep {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let started = std::time::Instant::now();
        let plugin = self.load(ctx.services, ctx.stage)?;
        // Loading (a first compile takes seconds) counts toward the stage's timeout, as the executor counts it,
        // so that the plugin's own limit, which names it, is the one that fires.
        let limits = GuestLimits { timeout: ctx.limits.timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1)), ..*ctx.limits };
        let mut params = ctx.params.clone();
        // A mapped plugin learns its slice through its params.
        if let (Some(shard), Some(map)) = (ctx.shard, params.as_object_mut()) {
            map.insert("shard".into(), serde_json::json!({ "index": shard.index, "count": shard.count }));
        }
        let request = StageRequest {
            run_id: ctx.run_id,
            stage: ctx.stage,
            params,
            grants: ctx.grants.clone(),
            limits,
        };
        let caps = Capabilities::new(ctx.services.storage.clone(), ctx.services.sql.clone(), ctx.services.llm.clone())
            .traced(ctx.services.trace.clone());
        let outcome = ctx.services.runtime.run_stage(&plugin, request, &caps)?;
        let mut summary: serde_json::Value = serde_json::from_str(&outcome.summary).map_err(|e| {
            StepError::failed(format!("stage '{}': plugin '{}' returned a summary that is not JSON: {e}", ctx.stage, self.name))
        })?;
        // What exactly ran goes into the run record beside what the plugin reported.
        if let Some(map) = summary.as_object_mut() {
            let used = crate::plugins::resolve::PluginUse::of(&self.name, &plugin);
            map.insert("plugins".into(), crate::plugins::resolve::summary_entry(std::slice::from_ref(&used)));
        }
        let count = |key: &str| summary.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        let outputs = summary
            .get("outputs")
            .and_then(|v| v.as_array())
            .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        ctx.progress.add_rows(count("rows_out"));
        Ok(StepOutput { rows_in: count("rows_in"), rows_out: count("rows_out"), outputs, summary })
    }
}
