//! `features`: runs feature-transform plugins over prepared tables, batch by
//! batch, and writes `<run_db>.<name>_features` (kept columns + every
//! transform's outputs) under the attempt's scratch prefix.
//!
//! Params: `transforms` (plugin names, `<plugin_dir>/<name with - as _>.wasm`),
//! `inputs` (`{name: "db.table"}`), `keep` (columns passed through untouched
//! when the input has them; default `user_id`, `snapshot_date`, `engaged_next_7d`).
//!
//! Each input stream gets fresh transform instances: no state leaks from the
//! training set into the scoring set. The transforms of a batch run in parallel.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use serde_json::{Value, json};

use super::{FEATURES_PROPERTY, ParquetObject, catalog_columns, config, lookup_table, param_list, parquet_table, quote, register, table_name};
use crate::capabilities::sql::BatchStream;
use crate::data::schema::{LABEL, SNAPSHOT_DATE, USER_ID};
use crate::pipeline::step::{Step, StepContext, StepError, StepOutput, WORK_BUCKET};
use crate::runtime::transform::TransformInstance;
use crate::plugins::resolve::PluginUse;
use crate::runtime::{Capabilities, Plugin};

pub struct Features;

/// Rows per output file: bounded files let later readers split work.
const ROWS_PER_FILE: u64 = 1 << 20;

struct Transform {
    name: String,
    plugin: Arc<Plugin>,
}

fn load_transforms(ctx: &StepContext, names: &[String]) -> Result<Vec<Transform>, StepError> {
    names
        .iter()
        .map(|name| {
            let services = ctx.services;
            let plugin = crate::plugins::resolve::load(&services.runtime, &services.storage, &services.plugin_dir, name).map_err(|e| {
                StepError::new(crate::pipeline::step::ErrorKind::Config, format!("stage '{}': transform '{name}': {e:#}", ctx.stage))
            })?;
            Ok(Transform { name: name.clone(), plugin })
        })
        .collect()
}

fn instances(ctx: &StepContext, transforms: &[Transform]) -> Result<Vec<TransformInstance>, StepError> {
    // Transforms import only `log`: they get no storage, SQL or LLM.
    let caps = Capabilities::storage_only(ctx.services.storage.clone()).traced(ctx.services.trace.clone());
    transforms
        .iter()
        .map(|t| Ok(ctx.services.runtime.transform_instance(&t.plugin, ctx.run_id, ctx.stage, *ctx.limits, &caps)?))
        .collect()
}

/// The documented features of every transform, for the summary.
fn describe(transforms: &[Transform], instances: &[TransformInstance]) -> Vec<Value> {
    let mut out = Vec::new();
    for (t, inst) in transforms.iter().zip(instances) {
        for c in &inst.info().outputs {
            out.push(json!({
                "name": c.name,
                "type": crate::runtime::transform::arrow_type(c.type_).to_string(),
                "unit": c.unit,
                "description": c.description,
                "transform": t.name,
            }));
        }
    }
    out
}

/// Output schema: kept columns (as the input has them), then each transform's outputs.
/// `table_columns` are every column of the input table: an output may not take one's name.
fn output_schema(
    ctx: &StepContext,
    input: &SchemaRef,
    keep: &[String],
    table_columns: &BTreeSet<&str>,
    instances: &[TransformInstance],
) -> Result<SchemaRef, StepError> {
    let mut fields: Vec<Field> = keep.iter().map(|k| input.field_with_name(k).expect("kept columns are selected").clone()).collect();
    let mut writers: BTreeMap<String, String> = keep.iter().map(|k| (k.clone(), "the kept column".to_string())).collect();
    for inst in instances {
        let plugin = &inst.info().name;
        // With the version: two releases of one plugin are the likely pair.
        let release = format!("{plugin}@{}", inst.info().version);
        for f in inst.output_schema().fields() {
            if let Some(other) = writers.get(f.name()) {
                return Err(config(ctx, format!("column '{}' is written by transform '{release}' and by {other}: rename one", f.name())));
            }
            if table_columns.contains(f.name().as_str()) {
                return Err(config(
                    ctx,
                    format!("transform '{plugin}' writes '{}', the name of an input column: the feature and the raw column would be confused in the results and their explanations; rename the output", f.name()),
                ));
            }
            // A model feature is a number: a string column would train and then fail every prediction.
            if !(f.data_type().is_numeric() || *f.data_type() == arrow::datatypes::DataType::Boolean) {
                return Err(config(
                    ctx,
                    format!("transform '{plugin}' writes '{}' as {}; model features must be numbers or booleans (encode a category as numbers, e.g. one 0/1 column per value)", f.name(), f.data_type()),
                ));
            }
            writers.insert(f.name().clone(), format!("transform '{release}'"));
            fields.push(f.as_ref().clone());
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

struct Written {
    rows: u64,
    schema: SchemaRef,
}

/// Streams one input table through fresh transform instances into Parquet files under `prefix`.
fn process_input(
    ctx: &StepContext,
    db: &str,
    table: &str,
    transforms: &[Transform],
    keep_wanted: &[String],
    prefix: &str,
    features: &mut Vec<Value>,
    deadline: std::time::Instant,
) -> Result<Written, StepError> {
    let def = lookup_table(ctx, db, table)?;
    let mut instances = instances(ctx, transforms)?;
    for inst in &mut instances {
        inst.set_deadline(deadline);
    }
    if features.is_empty() {
        *features = describe(transforms, &instances);
    }
    let has = |c: &str| def.columns.iter().chain(&def.partition_keys).any(|col| col.name == c);
    let keep: Vec<String> = keep_wanted.iter().filter(|k| has(k)).cloned().collect();
    let mut columns: Vec<String> = keep.clone();
    for inst in &instances {
        for input in &inst.info().inputs {
            if !has(input) {
                return Err(StepError::failed(format!(
                    "stage '{}': transform '{}' reads column '{input}', which {db}.{table} does not have",
                    ctx.stage,
                    inst.info().name
                )));
            }
            if !columns.contains(input) {
                columns.push(input.clone());
            }
        }
    }
    let select = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {select} FROM {}.{}", quote(db), quote(table));
    let sql_error = |e: crate::capabilities::CapabilityError| StepError::io(format!("stage '{}': reading {db}.{table}: {e}", ctx.stage));
    let mut stream: Box<dyn BatchStream> = ctx.services.sql.query_stream(&sql).map_err(sql_error)?;
    let table_columns: BTreeSet<&str> = def.columns.iter().chain(&def.partition_keys).map(|c| c.name.as_str()).collect();
    let schema = output_schema(ctx, &stream.schema(), &keep, &table_columns, &instances)?;

    let mut file: Option<ParquetObject> = None;
    let (mut files, mut rows) = (0usize, 0u64);
    while let Some(batch) = stream.next_batch().map_err(sql_error)? {
        ctx.check_cancelled()?;
        if batch.num_rows() == 0 {
            continue;
        }
        let mut arrays: Vec<ArrayRef> = keep.iter().map(|k| batch.column_by_name(k).expect("selected").clone()).collect();
        // Transforms are independent of each other: each runs on its own thread (its own instance).
        let outputs: Vec<_> = if instances.len() > 1 {
            use rayon::prelude::*;
            instances.par_iter_mut().map(|inst| inst.transform(&batch)).collect()
        } else {
            instances.iter_mut().map(|inst| inst.transform(&batch)).collect()
        };
        for output in outputs {
            // A NaN or infinity is named by its row in the input table, not in the batch.
            let output = output.map_err(|e| {
                let e = StepError::from(e.locate_rows(rows as usize));
                StepError { message: format!("{} (reading {db}.{table})", e.message), ..e }
            })?;
            arrays.extend(output.columns().iter().cloned());
        }
        let out = RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| StepError::failed(format!("stage '{}': assembling features of {db}.{table}: {e}", ctx.stage)))?;
        if file.is_none() {
            let key = format!("{prefix}part-{files:05}.parquet");
            file = Some(ParquetObject::create(ctx.services.storage.as_ref(), WORK_BUCKET, &key, schema.clone())?);
            files += 1;
        }
        let writer = file.as_mut().expect("opened above");
        writer.write(&out)?;
        rows += out.num_rows() as u64;
        ctx.progress.add_rows(out.num_rows() as u64);
        if writer.rows >= ROWS_PER_FILE {
            file.take().expect("open").finish()?;
        }
    }
    match file {
        Some(f) => {
            f.finish()?;
        }
        // An empty input still gets a (row-less) file so the table has a schema on disk.
        None => ParquetObject::create(ctx.services.storage.as_ref(), WORK_BUCKET, &format!("{prefix}part-00000.parquet"), schema.clone())?
            .finish()
            .map(|_| ())?,
    }
    Ok(Written { rows, schema })
}

impl Step for Features {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        // The stage's time, shared by every transform call and counted from here (loading and compiling the
        // transforms included, as the executor counts it): one that hangs is stopped, by name, when it runs out.
        let deadline = std::time::Instant::now() + ctx.limits.timeout;
        let names = param_list(ctx, "transforms")?.filter(|t| !t.is_empty()).ok_or_else(|| config(ctx, "param 'transforms' must name at least one transform plugin"))?;
        let inputs: BTreeMap<String, String> = match ctx.params.get("inputs") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(|| config(ctx, format!("inputs.{k} must be a \"db.table\" string")))?.to_string())))
                .collect::<Result<_, StepError>>()?,
            _ => return Err(config(ctx, "param 'inputs' must be a table {name = \"db.table\"}")),
        };
        if inputs.is_empty() {
            return Err(config(ctx, "param 'inputs' names no tables"));
        }
        for name in inputs.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(config(ctx, format!("input name '{name}' must be lowercase letters, digits and '_'")));
            }
        }
        let keep = param_list(ctx, "keep")?.unwrap_or_else(|| vec![USER_ID.into(), SNAPSHOT_DATE.into(), LABEL.into()]);
        let transforms = load_transforms(ctx, &names)?;
        let uses: Vec<PluginUse> = transforms.iter().map(|t| PluginUse::of(&t.name, &t.plugin)).collect();
        let plugin_uses = crate::plugins::resolve::summary_entry(&uses);

        let mut features = Vec::new();
        let mut tables = serde_json::Map::new();
        let mut outputs = Vec::new();
        let mut total = 0u64;
        for (name, qualified) in &inputs {
            let (db, table) = table_name(ctx, qualified)?;
            let out_name = format!("{name}_features");
            let prefix = format!("{}{out_name}/", ctx.scratch_prefix());
            let written = process_input(ctx, &db, &table, &transforms, &keep, &prefix, &mut features, deadline)?;
            let columns = catalog_columns(&written.schema).map_err(|e| StepError::failed(format!("stage '{}': {out_name}: {e}", ctx.stage)))?;
            let mut def = parquet_table(ctx.run_db, &out_name, format!("s3://{WORK_BUCKET}/{prefix}"), columns);
            let feature_names: Vec<&str> = features.iter().filter_map(|f| f["name"].as_str()).collect();
            def.properties.insert(FEATURES_PROPERTY.into(), feature_names.join(","));
            def.properties.insert("engage.source".into(), format!("{db}.{table}"));
            def.properties.insert("engage.rows".into(), written.rows.to_string());
            register(ctx, &def)?;
            tables.insert(name.clone(), json!(written.rows));
            outputs.push(format!("{}.{out_name}", ctx.run_db));
            total += written.rows;
        }
        Ok(StepOutput {
            rows_in: total,
            rows_out: total,
            outputs,
            summary: json!({ "tables": tables, "features": features, "transforms": names, "plugins": plugin_uses }),
        })
    }
}
