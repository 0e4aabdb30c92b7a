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

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::bindings::columns::ColumnTransform;
use super::bindings::transform::FeatureTransform;
use super::bindings::{ColumnType, TransformInfo};
use super::errors::{FailureKind, GuestError, OutputLimitExceeded};
use super::{Capabilities, GuestIdentity, GuestLimits, GuestState, Plugin, Runtime, arm_deadline};
use crate::capabilities::Grants;
use crate::data::schema::LABEL;
use crate::plugins::manifest::{KEY_COLUMNS, Manifest};
use crate::plugins::schema_check::{NonFinite, check_finite, column_type_name};

/// The most Arrow data (the projected input columns) sent to the guest in one call.
pub const MAX_CALL_INPUT_BYTES: usize = 16 << 20;

pub struct TransformInstance {
    stage: String,
    plugin: String,
    store: wasmtime::Store<GuestState>,
    guest: Guest,
    limits: GuestLimits,
    info: TransformInfo,
    output_schema: SchemaRef,
    /// Per output column: may it hold NaN or infinity (declared `non_finite` in the manifest)?
    non_finite: Vec<bool>,
    /// Loaded without a plugin.toml: a NaN error says how to declare one.
    without_manifest: bool,
    /// Set once the guest trapped: a trapped instance can't be entered again.
    stopped: bool,
    /// When the stage running it must end: no call runs past it, so a transform that hangs is
    /// stopped, and named, before the stage's own timeout fires.
    deadline: Option<std::time::Instant>,
    /// The time limit of the latest call (the stage's time left, when that was shorter).
    call_timeout: std::time::Duration,
}

/// The instantiated guest, by the world it exports.
enum Guest {
    Arrow(FeatureTransform),
    Columns(ColumnTransform),
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
            GuestError::from_wasmtime(stage, &plugin.name, e, &limits, store.data().guest_output())
        };
        let (guest, info) = match pre {
            super::TransformPre::Arrow(pre) => {
                let bindings = pre.instantiate(&mut store).map_err(|e| fail(&store, &e))?;
                let info = bindings.call_describe(&mut store).map_err(|e| fail(&store, &e))?;
                (Guest::Arrow(bindings), info)
            }
            super::TransformPre::Columns(pre) => {
                let bindings = pre.instantiate(&mut store).map_err(|e| fail(&store, &e))?;
                let info = bindings.call_describe(&mut store).map_err(|e| fail(&store, &e))?;
                (Guest::Columns(bindings), info)
            }
        };
        let load_error = |message: String| GuestError::new(stage, &plugin.name, FailureKind::Load, message);
        let non_finite = match &plugin.manifest {
            Some(manifest) => agree_with_manifest(&info, manifest).map_err(load_error)?,
            None => vec![false; info.outputs.len()],
        };
        if let Some(key) = info.outputs.iter().find(|c| KEY_COLUMNS.contains(&c.name.as_str())) {
            return Err(load_error(format!("output column '{}' is a key column the host keeps; a transform may not write it", key.name)));
        }
        if let Some(clash) = info.outputs.iter().find(|c| info.inputs.contains(&c.name)) {
            return Err(load_error(crate::plugins::fixtures::writes_an_input_column(&info.name, &clash.name)));
        }
        // A plugin.toml is refused for this at publish; a component without one is refused here.
        if info.inputs.iter().any(|c| c == LABEL) {
            return Err(load_error(format!(
                "input column '{LABEL}' is the label: a feature computed from it gives the model next week's answer; a transform may not read it"
            )));
        }
        let output_schema = Arc::new(Schema::new(
            info.outputs.iter().map(|c| Field::new(&c.name, arrow_type(c.type_), true)).collect::<Vec<_>>(),
        ));
        Ok(TransformInstance {
            stage: stage.to_string(),
            plugin: plugin.name.clone(),
            store,
            guest,
            limits,
            info,
            output_schema,
            non_finite,
            without_manifest: plugin.manifest.is_none(),
            stopped: false,
            deadline: None,
            call_timeout: limits.timeout,
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

    /// No call runs past `deadline` (the end of the stage's time).
    pub fn set_deadline(&mut self, deadline: std::time::Instant) {
        self.deadline = Some(deadline);
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
            return self.call(&input).map_err(|e| name_bad_row(e, 0, batch));
        }
        let rows = input.num_rows().div_ceil(calls);
        let mut outputs = Vec::with_capacity(calls);
        for start in (0..input.num_rows()).step_by(rows) {
            outputs.push(self.call(&input.slice(start, rows.min(input.num_rows() - start))).map_err(|e| name_bad_row(e, start, batch))?);
        }
        arrow::compute::concat_batches(&self.output_schema, &outputs)
            .map_err(|e| self.error(FailureKind::BadOutput, e.to_string()))
    }

    /// One call into the guest with the projected input columns.
    fn call(&mut self, input: &RecordBatch) -> Result<RecordBatch, GuestError> {
        let left = self.deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        self.call_timeout = left.map_or(self.limits.timeout, |left| self.limits.timeout.min(left).max(std::time::Duration::from_millis(1)));
        arm_deadline(&mut self.store, self.call_timeout);
        let (schema, columns) = match &self.guest {
            Guest::Arrow(bindings) => {
                let bytes = crate::ipc::encode(&input.schema(), std::slice::from_ref(input))
                    .map_err(|e| self.error(FailureKind::Load, format!("encoding the input batch: {e}")))?;
                let result = bindings.call_transform(&mut self.store, &bytes);
                drop(bytes);
                let output = self.returned(result)?;
                self.check_size(output.len())?;
                let bad = |message: String| self.error(FailureKind::BadOutput, message);
                let (schema, batches) = crate::ipc::decode(output).map_err(|e| bad(format!("returned unreadable Arrow IPC: {e}")))?;
                let batch = match batches.len() {
                    1 => batches.into_iter().next().unwrap(),
                    _ => arrow::compute::concat_batches(&schema, &batches).map_err(|e| bad(e.to_string()))?,
                };
                (Schema::clone(&schema), batch.columns().to_vec())
            }
            Guest::Columns(bindings) => {
                let packed = crate::plugins::packed::pack_batch(input).map_err(|e| self.error(FailureKind::Load, e))?;
                let result = bindings.call_transform(&mut self.store, &packed);
                drop(packed);
                let outputs = self.returned(result)?;
                let size: usize = outputs.iter().map(crate::plugins::packed::output_size).sum();
                self.check_size(size)?;
                let declared = self.output_schema.clone();
                crate::plugins::packed::unpack_outputs(outputs, input, &declared).map_err(|e| match e {
                    crate::plugins::packed::UnpackError::Invalid(e) => self.error(FailureKind::BadOutput, e),
                    crate::plugins::packed::UnpackError::Unfit(bad) => {
                        GuestError { non_finite: Some(bad.clone()), ..self.error(FailureKind::BadOutput, bad.to_string()) }
                    }
                })?
            }
        };
        self.check_output(&schema, columns, input.num_rows())
    }

    /// The guest's answer, or the error it returned or trapped with (a trapped instance is not entered again).
    fn returned<T>(&mut self, result: wasmtime::Result<Result<T, String>>) -> Result<T, GuestError> {
        match result {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(message)) => {
                let mut e = self.error(FailureKind::PluginError, format!("the transform failed: {message}"));
                e.guest_output = self.store.data().guest_output();
                Err(e)
            }
            Err(trap) => {
                self.stopped = true;
                let output = self.store.data().guest_output();
                // The time limit this call had: the stage's time left, when that was shorter.
                let limits = GuestLimits { timeout: self.call_timeout, ..self.limits };
                Err(GuestError::from_wasmtime(&self.stage, &self.plugin, &trap, &limits, output))
            }
        }
    }

    fn check_size(&self, size: usize) -> Result<(), GuestError> {
        if size > self.limits.output_bytes {
            let e = OutputLimitExceeded { what: "the output batch".into(), size, limit: self.limits.output_bytes };
            return Err(self.error(FailureKind::OutputLimit, e.to_string()));
        }
        Ok(())
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
        let input = batch.project(&indices).map_err(|e| self.error(FailureKind::Load, e.to_string()))?;
        decimals_as_doubles(input).map_err(|e| self.error(FailureKind::Load, e))
    }

    /// The output must have the declared columns and types, the input's row count,
    /// and no NaN or infinity where the plugin did not declare them.
    fn check_output(&self, schema: &Schema, columns: Vec<arrow::array::ArrayRef>, rows: usize) -> Result<RecordBatch, GuestError> {
        let bad = |message: String| self.error(FailureKind::BadOutput, message);
        for found in schema.fields() {
            if self.output_schema.field_with_name(found.name()).is_err() {
                return Err(bad(format!(
                    "output column '{}': expected no such column (it is not declared), found {}",
                    found.name(),
                    found.data_type()
                )));
            }
        }
        for (i, declared) in self.output_schema.fields().iter().enumerate() {
            match schema.fields().get(i) {
                Some(found) if found.name() != declared.name() => {
                    return Err(bad(format!("output column {i}: expected '{}' (declared), found '{}'", declared.name(), found.name())));
                }
                Some(found) if found.data_type() != declared.data_type() => {
                    return Err(bad(format!(
                        "output column '{}': expected type {} (declared), found {}",
                        declared.name(),
                        column_type_name(declared.data_type()),
                        found.data_type()
                    )));
                }
                Some(_) => {}
                None => return Err(bad(format!("output column '{}': expected (declared), found nothing", declared.name()))),
            }
        }
        let found_rows = columns.first().map_or(rows, |c| c.len());
        if found_rows != rows || columns.iter().any(|c| c.len() != found_rows) {
            return Err(bad(format!("output: expected {rows} rows (one per input row), found {found_rows}")));
        }
        for (i, column) in columns.iter().enumerate() {
            if !self.non_finite[i] {
                check_finite(self.output_schema.field(i).name(), column.as_ref())
                    .map_err(|e| NonFinite { without_manifest: self.without_manifest, ..e })
                    .map_err(|e| GuestError { non_finite: Some(e.clone()), ..bad(e.to_string()) })?;
            }
        }
        // Re-attach our schema so nullability and metadata are the host's, not the guest's.
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.output_schema.clone(), columns, &options).map_err(|e| bad(e.to_string()))
    }
}

/// A NaN/infinity error from the call over rows `start..` of `batch` names the row within the
/// whole batch and, when the batch has one (the plugin does not see it), the row's `user_id`.
fn name_bad_row(mut e: GuestError, start: usize, batch: &RecordBatch) -> GuestError {
    if let Some(bad) = &mut e.non_finite {
        bad.row += start;
        if let Some(users) = batch.column_by_name("user_id")
            && bad.row < users.len()
            && users.is_valid(bad.row)
        {
            let shown = arrow::util::display::array_value_to_string(users, bad.row).ok();
            bad.user_id = shown;
        }
        e.message = bad.to_string();
    }
    e
}

/// What the plugin says of itself (`describe`) must be what its manifest declares.
/// Returns the manifest's `non_finite` flags in output order.
fn agree_with_manifest(info: &TransformInfo, manifest: &Manifest) -> Result<Vec<bool>, String> {
    if info.name != manifest.name {
        return Err(format!("describe() names the plugin '{}', but plugin.toml names it '{}'", info.name, manifest.name));
    }
    // Releases are named by the manifest's version: a component saying another would be
    // published (and recorded in runs) under a version its code does not claim.
    if info.version != manifest.version {
        return Err(format!(
            "plugin.toml declares version \"{}\", but the component's describe() says version \"{}\": set the same version in \
             both (the plugin's code and plugin.toml) and rebuild",
            manifest.version, info.version
        ));
    }
    if info.inputs != manifest.inputs {
        return Err(format!(
            "describe() reads [{}], but plugin.toml declares inputs [{}]",
            info.inputs.join(", "),
            manifest.inputs.join(", ")
        ));
    }
    let described: Vec<String> = info.outputs.iter().map(|c| format!("{} {}", c.name, column_type_name(&arrow_type(c.type_)))).collect();
    let declared: Vec<String> = manifest.outputs.iter().map(|c| format!("{} {}", c.name, c.type_)).collect();
    if described != declared {
        let i = described.iter().zip(&declared).position(|(a, b)| a != b).unwrap_or(described.len().min(declared.len()));
        return Err(format!(
            "output column {i}: plugin.toml declares '{}', but describe() says '{}'",
            declared.get(i).map_or("nothing", String::as_str),
            described.get(i).map_or("nothing", String::as_str)
        ));
    }
    for (described, declared) in info.outputs.iter().zip(&manifest.outputs) {
        let fields = [("unit", &described.unit, &declared.unit), ("description", &described.description, &declared.description)];
        for (field, said, written) in fields {
            if said != written {
                return Err(format!(
                    "output column '{}': plugin.toml declares {field} \"{written}\", but the component's describe() says {field} \"{said}\": \
                     set the same {field} in both (the plugin's code and plugin.toml) and rebuild",
                    declared.name
                ));
            }
        }
    }
    Ok(manifest.outputs.iter().map(|c| c.non_finite).collect())
}

/// A decimal column (money in a user table, or `1.5` in Athena SQL, which is a decimal literal)
/// reaches a transform as float64: features are doubles, and the guest SDKs read numbers of
/// every other type in place but would have to learn decimal scales one by one.
fn decimals_as_doubles(batch: RecordBatch) -> Result<RecordBatch, String> {
    let is_decimal = |t: &DataType| matches!(t, DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..));
    if !batch.schema().fields().iter().any(|f| is_decimal(f.data_type())) {
        return Ok(batch);
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_decimal(field.data_type()) {
            let doubles = arrow::compute::cast(column, &DataType::Float64).map_err(|e| format!("reading decimal column '{}' as float64: {e}", field.name()))?;
            fields.push(Field::new(field.name(), DataType::Float64, field.is_nullable()));
            columns.push(doubles);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}
