//! A catalog table as a DataFusion table: the files of every catalogued
//! partition (wherever its location points), each scanned with that partition's
//! key values filled in. Unregistered folders stay invisible, as in Athena
//! until MSCK REPAIR TABLE or ALTER TABLE ADD PARTITION registers them.

use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{Result as DfResult, ScalarValue, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::common::DFSchema;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use super::text_table::{TextFile, TextLayout, TextScanExec};
use super::types::arrow_type;
use crate::capabilities::sql::storage_bridge::{bridge_path, bridge_url};
use crate::capabilities::storage::ObjectStore;
use crate::catalog::{TableDef, TableFormat, parse_location};

/// Hive writes this folder name for a NULL partition value.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

#[derive(Debug)]
pub struct CatalogTable {
    schema: SchemaRef,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    files: Vec<(String, u64, Vec<ScalarValue>)>,
    /// How a text table's lines become rows.
    text: Option<TextLayout>,
    url: ObjectStoreUrl,
}

/// Files Athena skips: Hive's hidden files and S3 folder markers.
fn is_data_file(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    !(name.starts_with('_') || name.starts_with('.') || name.ends_with("$folder$") || key.ends_with('/'))
}

/// Every data file under `location`, as (path under [`store_url`], size).
pub fn files_under(store: &dyn ObjectStore, location: &str) -> Result<Vec<(String, u64)>, String> {
    let (bucket, prefix) = parse_location(location)?;
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix } else { format!("{prefix}/") };
    let objects = store.list_all(&bucket, &prefix).map_err(|e| format!("listing {location}: {e}"))?;
    let mut files = Vec::new();
    for object in objects.into_iter().filter(|o| is_data_file(&o.key)) {
        let path = match store.local_path(&bucket, &object.key) {
            Some(path) => path.to_string_lossy().into_owned(),
            None => bridge_path(&bucket, &object.key),
        };
        files.push((path, object.size));
    }
    Ok(files)
}

/// A file of a table as the engine's object store finds it. Both stores (the local file system and the
/// bridge) take a path's segments as file names or keys verbatim, so they are kept as they are:
/// `Path::from` would percent-encode a partition folder such as `country=México` and look for `country=M%C3%A9xico`.
fn partitioned_file(path: &str, size: u64) -> PartitionedFile {
    let mut file = PartitionedFile::new(path, size);
    if let Ok(verbatim) = datafusion::object_store::path::Path::parse(path) {
        file.object_meta.location = verbatim;
    }
    file
}

/// Where the engine reads a store's files: in place when they are on this machine, else through the bridge.
pub fn store_url(store: &dyn ObjectStore) -> ObjectStoreUrl {
    match store.local_path("engage", "probe") {
        Some(_) => ObjectStoreUrl::local_filesystem(),
        None => bridge_url(),
    }
}

pub fn table_fields(def: &TableDef) -> Result<(Vec<Field>, Vec<Field>), String> {
    let field = |c: &crate::catalog::Column| -> Result<Field, String> {
        Ok(Field::new(&c.name, arrow_type(&c.data_type).map_err(|e| format!("{}.{}: {e}", def.name, c.name))?, true))
    };
    Ok((
        def.columns.iter().map(field).collect::<Result<_, _>>()?,
        def.partition_keys.iter().map(field).collect::<Result<_, _>>()?,
    ))
}

impl CatalogTable {
    /// The files whose partition values can satisfy every partition-key filter.
    /// Any filter that cannot be evaluated here prunes nothing.
    fn files_matching(&self, state: &dyn Session, filters: &[Expr]) -> Vec<&(String, u64, Vec<ScalarValue>)> {
        let keys: Vec<&str> = self.partition_fields.iter().map(|f| f.name().as_str()).collect();
        let mut keep = vec![true; self.files.len()];
        let applicable: Vec<&Expr> =
            filters.iter().filter(|f| !keys.is_empty() && expr_applicable_for_cols(&keys, f)).collect();
        if !applicable.is_empty() && !self.files.is_empty() {
            let schema = Arc::new(Schema::new(self.partition_fields.clone()));
            let columns: Option<Vec<_>> = (0..keys.len())
                .map(|k| ScalarValue::iter_to_array(self.files.iter().map(|f| f.2[k].clone())).ok())
                .collect();
            let batch = columns.and_then(|c| arrow::array::RecordBatch::try_new(schema.clone(), c).ok());
            let df_schema = DFSchema::try_from(schema.as_ref().clone()).ok();
            if let (Some(batch), Some(df_schema)) = (batch, df_schema) {
                for filter in applicable {
                    let mask = state
                        .create_physical_expr(filter.clone(), &df_schema)
                        .and_then(|e| e.evaluate(&batch))
                        .and_then(|v| v.into_array(batch.num_rows()));
                    if let Ok(mask) = mask
                        && let Some(mask) = mask.as_any().downcast_ref::<arrow::array::BooleanArray>()
                    {
                        for (i, k) in keep.iter_mut().enumerate() {
                            *k &= mask.is_valid(i) && mask.value(i);
                        }
                    }
                }
            }
        }
        self.files.iter().zip(keep).filter_map(|(f, k)| k.then_some(f)).collect()
    }

    pub fn open(def: &TableDef, store: &dyn ObjectStore) -> Result<Self, String> {
        let (columns, keys) = table_fields(def)?;
        let file_schema = Arc::new(Schema::new(columns.clone()));
        let schema = Arc::new(Schema::new(columns.into_iter().chain(keys.clone()).collect::<Vec<_>>()));
        let mut files = Vec::new();
        if def.partition_keys.is_empty() {
            files.extend(files_under(store, &def.location)?.into_iter().map(|(p, s)| (p, s, Vec::new())));
        } else {
            for partition in &def.partitions {
                if partition.values.len() != keys.len() {
                    return Err(format!("{}.{}: partition {:?} does not match the partition keys", def.database, def.name, partition.values));
                }
                let values = partition
                    .values
                    .iter()
                    .zip(&keys)
                    .map(|(v, k)| partition_value(v, k.data_type()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{}.{}: {e}", def.database, def.name))?;
                for (path, size) in files_under(store, &partition.location)? {
                    files.push((path, size, values.clone()));
                }
            }
        }
        let text = match def.format {
            TableFormat::Csv => Some(TextLayout::from_properties(&def.properties).map_err(|e| format!("{}.{}: {e}", def.database, def.name))?),
            TableFormat::Parquet => None,
        };
        Ok(Self {
            schema,
            file_schema,
            partition_fields: keys.into_iter().map(Arc::new).collect(),
            files,
            text,
            url: store_url(store),
        })
    }
}

pub fn partition_value(text: &str, data_type: &DataType) -> Result<ScalarValue, String> {
    if text == NULL_PARTITION {
        return ScalarValue::try_from(data_type).map_err(|e| e.to_string());
    }
    ScalarValue::try_from_string(text.to_string(), data_type)
        .map_err(|e| format!("partition value '{text}' is not a {data_type}: {e}"))
}

#[async_trait]
impl TableProvider for CatalogTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters on partition keys alone prune files before the scan; DataFusion
    /// still applies them to the rows, so pruning need not be exact.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let keys: Vec<&str> = self.partition_fields.iter().map(|f| f.name().as_str()).collect();
        Ok(filters
            .iter()
            .map(|f| {
                if !keys.is_empty() && expr_applicable_for_cols(&keys, f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let files = self.files_matching(state, filters);
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let statistics = estimated_statistics(&files, &self.schema, projection.map_or(self.schema.fields().len(), Vec::len));
        let target = state.config().target_partitions().max(1);
        if let Some(layout) = &self.text {
            let mut groups: Vec<Vec<TextFile>> = vec![Vec::new(); target.min(files.len())];
            for (i, (path, size, values)) in files.into_iter().enumerate() {
                let location = partitioned_file(path, *size).object_meta.location;
                let n = groups.len();
                groups[i % n].push(TextFile { location, size: *size, partition_values: values.clone() });
            }
            let exec = TextScanExec::new(
                layout.clone(),
                self.schema.clone(),
                self.file_schema.fields().len(),
                projection,
                groups,
                self.url.clone(),
                statistics,
            )?;
            return Ok(Arc::new(exec));
        }
        let table_schema = TableSchema::builder(self.file_schema.clone()).with_table_partition_cols(self.partition_fields.clone()).build();
        let format: Arc<dyn FileFormat> = Arc::new(ParquetFormat::default());
        let source = format.file_source(table_schema);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); target.min(files.len())];
        for (i, (path, size, values)) in files.into_iter().enumerate() {
            let mut file = partitioned_file(path, *size);
            file.partition_values = values.clone();
            let n = groups.len();
            groups[i % n].push(file);
        }
        let config = FileScanConfigBuilder::new(self.url.clone(), source)
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_statistics(statistics)
            .build();
        format.create_physical_plan(state, config).await
    }
}

/// What the planner may assume about a scan's size before reading: the bytes of
/// its files, scaled to the share of columns read. With it a join builds its hash
/// table on the smaller side (the predictions, not the 72-column scoring set).
fn estimated_statistics(files: &[&(String, u64, Vec<ScalarValue>)], schema: &Schema, columns_read: usize) -> Statistics {
    let bytes: u64 = files.iter().map(|(_, size, _)| size).sum();
    let share = columns_read.max(1) as f64 / schema.fields().len().max(1) as f64;
    let mut statistics = Statistics::new_unknown(schema);
    statistics.total_byte_size = Precision::Inexact((bytes as f64 * share.min(1.0)) as usize);
    statistics
}
