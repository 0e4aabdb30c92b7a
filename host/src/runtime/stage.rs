//! Running a stage plugin: a fresh instance per run, its grants and limits, and
//! an outcome or a [`GuestError`] that names the stage and what went wrong.

use std::time::{Duration, Instant};

use super::bindings::stage::engage::platform::stage_types::StageContext;
use super::errors::{FailureKind, GuestError, OutputLimitExceeded};
use super::{Capabilities, GuestIdentity, GuestLimits, GuestState, Plugin, Runtime};
use crate::capabilities::Grants;
use crate::capabilities::log::Metric;

/// One run of a stage.
pub struct StageRequest<'a> {
    pub run_id: &'a str,
    pub stage: &'a str,
    /// The stage's parameters, handed to the guest as a JSON object.
    pub params: serde_json::Value,
    pub grants: Grants,
    pub limits: GuestLimits,
}

#[derive(Debug, Clone)]
pub struct StageOutcome {
    /// The guest's JSON summary.
    pub summary: String,
    pub metrics: Vec<Metric>,
    pub guest_output: String,
    pub elapsed: Duration,
}

impl Runtime {
    pub fn run_stage(&self, plugin: &Plugin, request: StageRequest, caps: &Capabilities) -> Result<StageOutcome, GuestError> {
        let started = Instant::now();
        let stage = request.stage;
        let pre = self.stage_pre(plugin).map_err(|e| GuestError { stage: stage.to_string(), ..e })?;
        let who = GuestIdentity { run_id: request.run_id, stage, plugin: &plugin.name };
        let state = GuestState::new(&who, request.grants, caps, &request.limits);
        let mut store = self.new_store(state, &request.limits);
        let fail = |store: &wasmtime::Store<GuestState>, e: &wasmtime::Error| {
            GuestError::from_wasmtime(stage, &plugin.name, e, &request.limits, store.data().guest_output())
        };

        let instance = pre.instantiate(&mut store).map_err(|e| fail(&store, &e))?;
        let context = StageContext {
            run_id: request.run_id.to_string(),
            stage: stage.to_string(),
            params: request.params.to_string(),
        };
        let result = instance.call_run(&mut store, &context).map_err(|e| fail(&store, &e))?;
        let guest_output = store.data().guest_output();
        let summary = result.map_err(|message| GuestError {
            guest_output: guest_output.clone(),
            ..GuestError::new(stage, &plugin.name, FailureKind::PluginError, format!("the stage failed: {message}"))
        })?;
        let limit = request.limits.output_bytes;
        if summary.len() > limit {
            let e = OutputLimitExceeded { what: "the stage summary".into(), size: summary.len(), limit };
            return Err(GuestError::new(stage, &plugin.name, FailureKind::OutputLimit, e.to_string()));
        }
        Ok(StageOutcome {
            summary,
            metrics: std::mem::take(&mut store.data_mut().log.metrics),
            guest_output,
            elapsed: started.elapsed(),
        })
    }
}
