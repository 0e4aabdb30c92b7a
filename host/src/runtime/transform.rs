//! Feature transforms: an instance lives for one stage run and takes batch after
//! batch. The host sends only the columns the plugin declares it reads, and
//! checks every batch it returns against what it declared.
//!
//! Transforms are row-wise: a batch's output rows depend on its input rows only,
//! so the host may cut a batch anywhere. It sends a large batch to the guest in
//! slices of at most [`MAX_CALL_INPUT_BYTES`] of Arrow data, which bounds the guest
//! memory a call needs whatever the batch size (one 1M-row batch of the weekly
//! table would otherwise need over a GiB inside the guest).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::bindings::transform::FeatureTransform;
use super::bindings::{ColumnType, TransformInfo};
use super::errors::{FailureKind, GuestError, OutputLimitExceeded};
use super::{Capabilities, GuestIdentity, GuestLimits, GuestState, Plugin, Runtime, arm_deadline};
use crate::capabilities::Grants;

/// The most Arrow data (the projected input columns) sent to the guest in one call.
pub const MAX_CALL_INPUT_BYTES: usize = 16 << 20;

pub struct TransformInstance {
    stage: String,
    plugin: String,
    store: wasmtime::Store<GuestState>,
    bindings: FeatureTransform,
    limits: GuestLimits,
    info: TransformInfo,
    output_schema: SchemaRef,
    /// Set once the guest trapped: a trapped instance can't be entered again.
    stopped: bool,
}

pub fn arrow_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Float32 => DataType::Float32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Utf8 => DataType::Utf8,
    }
}

impl Runtime {
    /// Instantiates a transform plugin for one stage run and asks it to describe itself.
    pub fn transform_instance(
        &self,
        plugin: &Plugin,
        run_id: &str,
        stage: &str,
        limits: GuestLimits,
        caps: &Capabilities,
    ) -> Result<TransformInstance, GuestError> {
        let pre = self.transform_pre(plugin).map_err(|e| GuestError { stage: stage.to_string(), ..e })?;
        let who = GuestIdentity { run_id, stage, plugin: &plugin.name };
        let mut store = self.new_store(GuestState::new(&who, Grants::default(), caps, &limits), &limits);
        let fail = |store: &wasmtime::Store<GuestState>, e: &wasmtime::Error| {
            GuestError::from_wasmtime(stage, &plugin.name, e, limits.timeout, store.data().guest_output())
        };
        let bindings = pre.instantiate(&mut store).map_err(|e| fail(&store, &e))?;
        let info = bindings.call_describe(&mut store).map_err(|e| fail(&store, &e))?;
        let output_schema = Arc::new(Schema::new(
            info.outputs.iter().map(|c| Field::new(&c.name, arrow_type(c.type_), true)).collect::<Vec<_>>(),
        ));
        Ok(TransformInstance {
            stage: stage.to_string(),
            plugin: plugin.name.clone(),
            store,
            bindings,
            limits,
            info,
            output_schema,
            stopped: false,
        })
    }
}

impl TransformInstance {
    pub fn info(&self) -> &TransformInfo {
        &self.info
    }

    /// The schema every output batch has.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    fn error(&self, kind: FailureKind, message: impl Into<String>) -> GuestError {
        GuestError::new(&self.stage, &self.plugin, kind, message)
    }

    /// Runs the plugin over one batch, which must hold the declared input columns.
    pub fn transform(&mut self, batch: &RecordBatch) -> Result<RecordBatch, GuestError> {
        if self.stopped {
            return Err(self.error(FailureKind::Trap, "the plugin was stopped after an earlier failure"));
        }
        let input = self.select_inputs(batch)?;
        let bytes = crate::ipc::batch_bytes(&input);
        let calls = bytes.div_ceil(MAX_CALL_INPUT_BYTES).max(1);
        if calls == 1 {
            return self.call(&input);
        }
        let rows = input.num_rows().div_ceil(calls);
        let mut outputs = Vec::with_capacity(calls);
        for start in (0..input.num_rows()).step_by(rows) {
            outputs.push(self.call(&input.slice(start, rows.min(input.num_rows() - start)))?);
        }
        arrow::compute::concat_batches(&self.output_schema, &outputs)
            .map_err(|e| self.error(FailureKind::BadOutput, e.to_string()))
    }

    /// One call into the guest with the projected input columns.
    fn call(&mut self, input: &RecordBatch) -> Result<RecordBatch, GuestError> {
        let bytes = crate::ipc::encode(&input.schema(), std::slice::from_ref(input)).map_err(|e| self.error(FailureKind::Load, format!("encoding the input batch: {e}")))?;

        arm_deadline(&mut self.store, self.limits.timeout);
        let result = self.bindings.call_transform(&mut self.store, &bytes);
        drop(bytes);
        let output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(message)) => {
                let mut e = self.error(FailureKind::PluginError, format!("the transform failed: {message}"));
                e.guest_output = self.store.data().guest_output();
                return Err(e);
            }
            Err(trap) => {
                self.stopped = true;
                let output = self.store.data().guest_output();
                return Err(GuestError::from_wasmtime(&self.stage, &self.plugin, &trap, self.limits.timeout, output));
            }
        };
        if output.len() > self.limits.output_bytes {
            let e = OutputLimitExceeded { what: "the output batch".into(), size: output.len(), limit: self.limits.output_bytes };
            return Err(self.error(FailureKind::OutputLimit, e.to_string()));
        }
        self.check_output(output, input.num_rows())
    }

    fn select_inputs(&self, batch: &RecordBatch) -> Result<RecordBatch, GuestError> {
        let schema = batch.schema();
        let mut indices = Vec::with_capacity(self.info.inputs.len());
        for name in &self.info.inputs {
            match schema.index_of(name) {
                Ok(i) => indices.push(i),
                Err(_) => {
                    return Err(self.error(
                        FailureKind::Load,
                        format!("the plugin reads column '{name}', which the input does not have"),
                    ));
                }
            }
        }
        batch.project(&indices).map_err(|e| self.error(FailureKind::Load, e.to_string()))
    }

    /// The output must have the declared columns, types and the input's row count.
    fn check_output(&self, output: Vec<u8>, rows: usize) -> Result<RecordBatch, GuestError> {
        let bad = |message: String| self.error(FailureKind::BadOutput, message);
        let (schema, batches) = crate::ipc::decode(output).map_err(|e| bad(format!("returned unreadable Arrow IPC: {e}")))?;
        for (i, declared) in self.output_schema.fields().iter().enumerate() {
            match schema.fields().get(i) {
                Some(found) if found.name() != declared.name() => {
                    return Err(bad(format!("output column {i} is '{}', but the plugin declared '{}'", found.name(), declared.name())));
                }
                Some(found) if found.data_type() != declared.data_type() => {
                    return Err(bad(format!(
                        "output column '{}' has type {}, but the plugin declared {}",
                        declared.name(),
                        found.data_type(),
                        declared.data_type()
                    )));
                }
                Some(_) => {}
                None => return Err(bad(format!("the output is missing declared column '{}'", declared.name()))),
            }
        }
        if let Some(extra) = schema.fields().get(self.output_schema.fields().len()) {
            return Err(bad(format!("the output has column '{}', which the plugin did not declare", extra.name())));
        }
        let batch = match batches.len() {
            1 => batches.into_iter().next().unwrap(),
            _ => arrow::compute::concat_batches(&schema, &batches).map_err(|e| bad(e.to_string()))?,
        };
        if batch.num_rows() != rows {
            return Err(bad(format!("returned {} rows for {rows} input rows", batch.num_rows())));
        }
        // Re-attach our schema so nullability and metadata are the host's, not the guest's.
        RecordBatch::try_new(self.output_schema.clone(), batch.columns().to_vec()).map_err(|e| bad(e.to_string()))
    }
}

