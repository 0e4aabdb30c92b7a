//! The catalog on AWS Glue: databases, tables and partitions. Locations are kept
//! in Glue as real S3 URLs (what Athena reads) and handed back to the host as the
//! zone URLs it uses everywhere else (`s3://processed/...`), through the zone map.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_glue::Client;
use aws_sdk_glue::error::ProvideErrorMetadata;
use aws_sdk_glue::types::{Column as GlueColumn, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput};

use super::{Catalog, Column, Partition, TableDef, TableFormat};
use crate::aws::{AwsContext, service_error};
use crate::capabilities::storage::ZoneMap;
use crate::capabilities::{CapResult, CapabilityError, ErrorCode};

const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
const TEXT_INPUT: &str = "org.apache.hadoop.mapred.TextInputFormat";
const TEXT_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
const CSV_SERDE: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
/// Table properties that are the text SerDe's own parameters in Glue.
const SERDE_PARAMETERS: [&str; 6] = ["field.delim", "escape.delim", "serialization.null.format", "separatorChar", "quoteChar", "escapeChar"];
/// The table property naming the SerDe (kept in Glue as the SerDeInfo's library).
const SERDE_PROPERTY: &str = "serialization.lib";
/// BatchCreatePartition takes at most 100 partitions, BatchDeletePartition 25.
const CREATE_BATCH: usize = 100;
const DELETE_BATCH: usize = 25;
/// How often an update is retried when another process changed the table first.
const UPDATE_ATTEMPTS: u32 = 8;

/// What a write expects to find in Glue.
enum Expect {
    /// No table of that name (CreateTable).
    Absent,
    /// The table, at `version` when given (UpdateTable, conditional on VersionId).
    Exists { version: Option<String> },
}

pub struct GlueCatalog {
    /// The endpoint, for messages.
    at: String,
    aws: Arc<AwsContext>,
    client: Client,
    catalog_id: Option<String>,
    zones: ZoneMap,
}

impl GlueCatalog {
    pub fn new(aws: Arc<AwsContext>, catalog_id: Option<String>, zones: ZoneMap) -> Self {
        let config = aws_sdk_glue::config::Builder::from(aws.sdk()).timeout_config(aws.control_plane_timeouts()).build();
        Self { client: Client::from_conf(config), at: aws.endpoint_label("glue", None, None), aws, catalog_id, zones }
    }

    fn glue_columns(columns: &[Column]) -> Vec<GlueColumn> {
        columns
            .iter()
            .map(|c| GlueColumn::builder().name(&c.name).r#type(&c.data_type).set_comment(c.comment.clone()).build().expect("name is set"))
            .collect()
    }

    fn storage_descriptor(&self, def: &TableDef, location: &str) -> StorageDescriptor {
        let (input, output, serde) = match def.format {
            TableFormat::Parquet => (PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE),
            TableFormat::Csv => (TEXT_INPUT, TEXT_OUTPUT, CSV_SERDE),
        };
        let serde = match def.format {
            TableFormat::Csv => def.properties.get(SERDE_PROPERTY).map_or(serde, String::as_str),
            TableFormat::Parquet => serde,
        };
        let mut serde_info = SerDeInfo::builder().serialization_library(serde);
        if def.format == TableFormat::Csv {
            if serde == CSV_SERDE {
                let delimiter = def.properties.get("field.delim").cloned().unwrap_or_else(|| ",".into());
                serde_info = serde_info.parameters("field.delim", delimiter);
            }
            for (key, value) in def.properties.iter().filter(|(k, _)| SERDE_PARAMETERS.contains(&k.as_str()) && k.as_str() != "field.delim") {
                serde_info = serde_info.parameters(key, value);
            }
        }
        StorageDescriptor::builder()
            .set_columns(Some(Self::glue_columns(&def.columns)))
            .location(self.zones.real_url(location))
            .input_format(input)
            .output_format(output)
            .serde_info(serde_info.build())
            .build()
    }

    fn table_input(&self, def: &TableDef) -> TableInput {
        let mut parameters: BTreeMap<String, String> = def.properties.clone();
        parameters.remove(SERDE_PROPERTY);
        let classification = match def.format {
            TableFormat::Parquet => "parquet",
            TableFormat::Csv => "csv",
        };
        parameters.insert("classification".into(), classification.into());
        TableInput::builder()
            .name(&def.name)
            .table_type("EXTERNAL_TABLE")
            .set_parameters(Some(parameters.into_iter().collect()))
            .set_partition_keys(Some(Self::glue_columns(&def.partition_keys)))
            .storage_descriptor(self.storage_descriptor(def, &def.location))
            .build()
            .expect("name is set")
    }

    fn partitions(&self, database: &str, name: &str) -> CapResult<Vec<Partition>> {
        let client = self.client.clone();
        let (database, name, catalog_id) = (database.to_string(), name.to_string(), self.catalog_id.clone());
        let at = self.at.clone();
        let raw = self.aws.block_on(async move {
            let mut all = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let output = client
                    .get_partitions()
                    .set_catalog_id(catalog_id.clone())
                    .database_name(&database)
                    .table_name(&name)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("glue", "GetPartitions", &format!("{database}.{name}"), &at, e))?;
                for partition in output.partitions() {
                    let location = partition.storage_descriptor().and_then(|s| s.location()).unwrap_or_default().to_string();
                    all.push(Partition { values: partition.values().to_vec(), location });
                }
                match output.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => return Ok::<_, CapabilityError>(all),
                }
            }
        })?;
        Ok(raw.into_iter().map(|p| Partition { location: self.zones.logical_url(&p.location), values: p.values }).collect())
    }

    /// The table and its Glue version id.
    fn versioned_table(&self, database: &str, name: &str) -> CapResult<Option<(TableDef, Option<String>)>> {
        let client = self.client.clone();
        let (db, table_name, catalog_id) = (database.to_string(), name.to_string(), self.catalog_id.clone());
        let at = self.at.clone();
        let found = not_found_is_none(self.aws.block_on(async move {
            client
                .get_table()
                .set_catalog_id(catalog_id)
                .database_name(&db)
                .name(&table_name)
                .send()
                .await
                .map_err(|e| service_error("glue", "GetTable", &format!("{db}.{table_name}"), &at, e))
        }))?;
        let Some(output) = found else { return Ok(None) };
        let Some(table) = output.table() else { return Ok(None) };
        let descriptor = table.storage_descriptor();
        let input_format = descriptor.and_then(|s| s.input_format()).unwrap_or_default();
        let format = if input_format.to_lowercase().contains("parquet") { TableFormat::Parquet } else { TableFormat::Csv };
        let mut properties: BTreeMap<String, String> =
            table.parameters().map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        properties.remove("classification");
        let serde_info = descriptor.and_then(|s| s.serde_info());
        for (key, value) in serde_info.and_then(|s| s.parameters()).into_iter().flatten() {
            if SERDE_PARAMETERS.contains(&key.as_str()) {
                properties.insert(key.clone(), value.clone());
            }
        }
        if format == TableFormat::Csv
            && let Some(library) = serde_info.and_then(|s| s.serialization_library())
        {
            properties.insert(SERDE_PROPERTY.into(), library.to_string());
        }
        let mut def = TableDef {
            database: database.to_string(),
            name: table.name().to_string(),
            location: self.zones.logical_url(descriptor.and_then(|s| s.location()).unwrap_or_default()),
            format,
            columns: from_glue(descriptor.map(|s| s.columns()).unwrap_or_default()),
            partition_keys: from_glue(table.partition_keys()),
            partitions: Vec::new(),
            properties,
        };
        if !def.partition_keys.is_empty() {
            def.partitions = self.partitions(database, name)?;
        }
        let version = table.version_id().map(str::to_string);
        Ok(Some((def, version)))
    }

    /// Writes the table as `expect`ed, then its partitions; false, with nothing written, when
    /// Glue says another process got there first. `base`: the partitions the definition was
    /// made from, so that only those it dropped are deleted (`None`: delete all it lacks).
    fn write_table(&self, def: &TableDef, expect: Expect, base: Option<&BTreeSet<Vec<String>>>) -> CapResult<bool> {
        super::parse_location(&def.location).map_err(CapabilityError::invalid)?;
        self.create_database(&def.database)?;
        let client = self.client.clone();
        let input = self.table_input(def);
        let (database, catalog_id, target) = (def.database.clone(), self.catalog_id.clone(), format!("{}.{}", def.database, def.name));
        let at = self.at.clone();
        let written = self.aws.block_on(async move {
            match expect {
                Expect::Exists { version } => {
                    let request = client.update_table().set_catalog_id(catalog_id).database_name(&database).table_input(input);
                    match request.set_version_id(version).send().await {
                        Ok(_) => Ok(true),
                        Err(e) if lost_race(e.code()) => Ok(false),
                        Err(e) => Err(service_error("glue", "UpdateTable", &target, &at, e)),
                    }
                }
                Expect::Absent => match client.create_table().set_catalog_id(catalog_id).database_name(&database).table_input(input).send().await {
                    Ok(_) => Ok(true),
                    Err(e) if lost_race(e.code()) => Ok(false),
                    Err(e) => Err(service_error("glue", "CreateTable", &target, &at, e)),
                },
            }
        })?;
        if written {
            self.sync_partitions(def, base)?;
        }
        Ok(written)
    }

    fn sync_partitions(&self, def: &TableDef, base: Option<&BTreeSet<Vec<String>>>) -> CapResult<()> {
        let existing: BTreeSet<Vec<String>> = self.partitions(&def.database, &def.name)?.into_iter().map(|p| p.values).collect();
        let wanted: BTreeSet<Vec<String>> = def.partitions.iter().map(|p| p.values.clone()).collect();
        let to_create: Vec<PartitionInput> = def
            .partitions
            .iter()
            .filter(|p| !existing.contains(&p.values))
            .map(|p| {
                PartitionInput::builder()
                    .set_values(Some(p.values.clone()))
                    .storage_descriptor(self.storage_descriptor(def, &p.location))
                    .build()
            })
            .collect();
        let to_delete: Vec<Vec<String>> = existing.difference(&wanted).filter(|v| base.is_none_or(|b| b.contains(*v))).cloned().collect();
        let client = self.client.clone();
        let (database, name, catalog_id) = (def.database.clone(), def.name.clone(), self.catalog_id.clone());
        let at = self.at.clone();
        self.aws.block_on(async move {
            let target = format!("{database}.{name}");
            for chunk in to_create.chunks(CREATE_BATCH) {
                let output = client
                    .batch_create_partition()
                    .set_catalog_id(catalog_id.clone())
                    .database_name(&database)
                    .table_name(&name)
                    .set_partition_input_list(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| service_error("glue", "BatchCreatePartition", &target, &at, e))?;
                if let Some(failed) = output.errors().first() {
                    let detail = failed.error_detail().and_then(|d| d.error_message()).unwrap_or("no message");
                    return Err(CapabilityError::internal(format!(
                        "glue BatchCreatePartition {target}: partition {:?}: {detail}",
                        failed.partition_values()
                    )));
                }
            }
            for chunk in to_delete.chunks(DELETE_BATCH) {
                let values = chunk
                    .iter()
                    .map(|v| aws_sdk_glue::types::PartitionValueList::builder().set_values(Some(v.clone())).build().expect("values set"))
                    .collect();
                client
                    .batch_delete_partition()
                    .set_catalog_id(catalog_id.clone())
                    .database_name(&database)
                    .table_name(&name)
                    .set_partitions_to_delete(Some(values))
                    .send()
                    .await
                    .map_err(|e| service_error("glue", "BatchDeletePartition", &target, &at, e))?;
            }
            Ok(())
        })
    }
}

fn from_glue(columns: &[GlueColumn]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| Column { name: c.name().to_string(), data_type: c.r#type().unwrap_or("string").to_string(), comment: c.comment().map(str::to_string) })
        .collect()
}

/// Glue's answers when another process changed the table first: a stale VersionId, or a
/// table created since it was read as missing.
fn lost_race(code: Option<&str>) -> bool {
    matches!(code, Some("ConcurrentModificationException" | "AlreadyExistsException"))
}

fn not_found_is_none<T>(result: CapResult<T>) -> CapResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.code == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Catalog for GlueCatalog {
    fn databases(&self) -> CapResult<Vec<String>> {
        let client = self.client.clone();
        let catalog_id = self.catalog_id.clone();
        let at = self.at.clone();
        self.aws.block_on(async move {
            let mut names = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let output = client
                    .get_databases()
                    .set_catalog_id(catalog_id.clone())
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("glue", "GetDatabases", "the catalog", &at, e))?;
                names.extend(output.database_list().iter().map(|d| d.name().to_string()));
                match output.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
            names.sort();
            Ok(names)
        })
    }

    fn create_database(&self, name: &str) -> CapResult<()> {
        let client = self.client.clone();
        let (name, catalog_id) = (name.to_string(), self.catalog_id.clone());
        let at = self.at.clone();
        self.aws.block_on(async move {
            let input = DatabaseInput::builder().name(&name).build().expect("name is set");
            match client.create_database().set_catalog_id(catalog_id).database_input(input).send().await {
                Ok(_) => Ok(()),
                Err(e) if aws_sdk_glue::error::ProvideErrorMetadata::code(&e) == Some("AlreadyExistsException") => Ok(()),
                Err(e) => Err(service_error("glue", "CreateDatabase", &name, &at, e)),
            }
        })
    }

    fn tables(&self, database: &str) -> CapResult<Vec<String>> {
        let client = self.client.clone();
        let (database, catalog_id) = (database.to_string(), self.catalog_id.clone());
        let at = self.at.clone();
        let listed = self.aws.block_on(async move {
            let mut names = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let output = client
                    .get_tables()
                    .set_catalog_id(catalog_id.clone())
                    .database_name(&database)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("glue", "GetTables", &database, &at, e))?;
                names.extend(output.table_list().iter().map(|t| t.name().to_string()));
                match output.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
            names.sort();
            Ok(names)
        });
        // A database that does not exist has no tables, as in the local catalog.
        Ok(not_found_is_none(listed)?.unwrap_or_default())
    }

    fn table(&self, database: &str, name: &str) -> CapResult<Option<TableDef>> {
        Ok(self.versioned_table(database, name)?.map(|(def, _)| def))
    }

    fn put_table(&self, def: &TableDef) -> CapResult<()> {
        let exists = self.table(&def.database, &def.name)?.is_some();
        self.write_table(def, if exists { Expect::Exists { version: None } } else { Expect::Absent }, None).map(|_| ())
    }

    /// Glue has no lock: an update is optimistic. The table is read with its version, changed,
    /// and written only if that version is still the newest (a create only if there still is
    /// none); otherwise it is read again and changed again. Partitions are separate objects in
    /// Glue, so only those this change removed are deleted: a partition another process added
    /// meanwhile (an ingest of another snapshot) stays.
    fn update_table(
        &self,
        database: &str,
        name: &str,
        change: &mut dyn FnMut(Option<TableDef>) -> anyhow::Result<TableDef>,
    ) -> anyhow::Result<TableDef> {
        for attempt in 1..=UPDATE_ATTEMPTS {
            let (read, version) = self.versioned_table(database, name)?.map_or((None, None), |(def, version)| (Some(def), version));
            let base: BTreeSet<Vec<String>> = read.iter().flat_map(|d| d.partitions.iter().map(|p| p.values.clone())).collect();
            let expect = if read.is_some() { Expect::Exists { version } } else { Expect::Absent };
            let table = change(read)?;
            if self.write_table(&table, expect, Some(&base))? {
                return Ok(table);
            }
            tracing::debug!("glue: {database}.{name} changed while it was updated; reading it again");
            std::thread::sleep(std::time::Duration::from_millis(50 * u64::from(attempt)));
        }
        anyhow::bail!("glue: {database}.{name} kept changing under this update ({UPDATE_ATTEMPTS} tries); try again")
    }

    fn drop_table(&self, database: &str, name: &str) -> CapResult<bool> {
        let client = self.client.clone();
        let (db, table_name, catalog_id) = (database.to_string(), name.to_string(), self.catalog_id.clone());
        let at = self.at.clone();
        let dropped = self.aws.block_on(async move {
            client
                .delete_table()
                .set_catalog_id(catalog_id)
                .database_name(&db)
                .name(&table_name)
                .send()
                .await
                .map_err(|e| service_error("glue", "DeleteTable", &format!("{db}.{table_name}"), &at, e))
        });
        Ok(not_found_is_none(dropped)?.is_some())
    }
}
