//! The backends a runtime config chooses, opened once per process and shared by
//! every stage: what commands and the pipeline's services are built from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

use super::{CatalogBackend, HostConfig, LlmBackend, SqlBackend, StorageBackend};
use crate::aws::AwsContext;
use crate::capabilities::llm::local::LocalLanguageModel;
use crate::capabilities::llm::{LanguageModel, NoLanguageModel};
use crate::capabilities::sql::SqlEngine;
use crate::capabilities::storage::{ObjectStore, S3Storage};
use crate::capabilities::sql::aws::{AthenaSettings, AthenaSql};
use crate::capabilities::storage::ZoneMap;
use crate::catalog::{Catalog, GlueCatalog, StorageCatalog};
use crate::pipeline::spec::parse_duration;
use crate::local_host::LocalHost;

pub struct Backends {
    pub storage: Arc<dyn ObjectStore>,
    pub catalog: Arc<dyn Catalog>,
    pub sql: Arc<dyn SqlEngine>,
    pub llm: Arc<dyn LanguageModel>,
    /// The local storage root, when storage is a directory.
    pub local_root: Option<PathBuf>,
    /// The SDK configuration and runtime, when a capability is on AWS.
    pub aws: Option<Arc<AwsContext>>,
}

impl Backends {
    /// Opens every backend `config` names; `root` is the local storage root unless the config sets one.
    pub fn open(config: &HostConfig, root: &Path) -> Result<Self> {
        let aws = if config.uses_aws() { Some(Arc::new(AwsContext::new(&config.aws)?)) } else { None };
        Self::open_with(config, root, aws)
    }

    /// As [`Backends::open`] over a given AWS context (tests bring fixed credentials).
    pub fn open_with(config: &HostConfig, root: &Path, aws: Option<Arc<AwsContext>>) -> Result<Self> {
        config.check().map_err(anyhow::Error::msg)?;
        let need_aws = || aws.clone().ok_or_else(|| anyhow!("the runtime config uses AWS but no AWS context was opened"));
        match config.storage.backend {
            StorageBackend::Local => {
                let root = config.storage.root.as_deref().unwrap_or(root);
                let host = LocalHost::open(root)?;
                let (storage, sql): (Arc<dyn ObjectStore>, Arc<dyn SqlEngine>) = (host.object_store(), host.sql()?);
                Ok(Self {
                    llm: llm(config, aws.as_ref(), &storage, &sql)?,
                    storage,
                    catalog: host.catalog(),
                    sql,
                    local_root: Some(host.root.clone()),
                    aws,
                })
            }
            StorageBackend::S3 => {
                let zones = config.zone_map().map_err(anyhow::Error::msg)?;
                let part_size = config.part_size().map_err(anyhow::Error::msg)?;
                let storage: Arc<dyn ObjectStore> = Arc::new(S3Storage::new(need_aws()?, zones.clone(), part_size));
                let catalog: Arc<dyn Catalog> = match config.catalog.backend {
                    CatalogBackend::Local => Arc::new(StorageCatalog::new(storage.clone())),
                    CatalogBackend::Glue => Arc::new(GlueCatalog::new(need_aws()?, config.catalog.catalog_id.clone(), zones.clone())),
                };
                let sql: Arc<dyn SqlEngine> = match config.sql.backend {
                    SqlBackend::Athena => Arc::new(AthenaSql::new(need_aws()?, athena_settings(config, zones)?, catalog.clone())),
                    SqlBackend::Local => bail!("sql.backend = \"local\" needs storage.backend = \"local\""),
                };
                Ok(Self { llm: llm(config, aws.as_ref(), &storage, &sql)?, storage, catalog, sql, local_root: None, aws })
            }
        }
    }
}

fn llm(config: &HostConfig, aws: Option<&Arc<AwsContext>>, storage: &Arc<dyn ObjectStore>, sql: &Arc<dyn SqlEngine>) -> Result<Arc<dyn LanguageModel>> {
    match config.llm.backend {
        // The built-in answerer: a granted stage's llm calls are answered from the knowledge base.
        LlmBackend::Local => Ok(Arc::new(LocalLanguageModel::new(storage.clone(), sql.clone()))),
        LlmBackend::None => Ok(Arc::new(NoLanguageModel)),
        LlmBackend::Bedrock => {
            let aws = aws.ok_or_else(|| anyhow!("llm.backend = \"bedrock\" needs an AWS context"))?;
            crate::capabilities::llm::hosted::bedrock(&config.llm, aws).map_err(|e| anyhow!("llm.backend = \"bedrock\": {e}"))
        }
    }
}

fn athena_settings(config: &HostConfig, zones: ZoneMap) -> Result<AthenaSettings> {
    let sql = &config.sql;
    let duration = |key: &str, value: &Option<String>, default: &str| {
        parse_duration(value.as_deref().unwrap_or(default)).map_err(|e| anyhow!("{key}: {e}"))
    };
    Ok(AthenaSettings {
        workgroup: sql.workgroup.clone().ok_or_else(|| anyhow!("sql.workgroup is required"))?,
        output_location: sql.output_location.clone().ok_or_else(|| anyhow!("sql.output_location is required"))?,
        poll_interval: duration("sql.poll_interval", &sql.poll_interval, "200ms")?,
        query_timeout: duration("sql.query_timeout", &sql.query_timeout, "30m")?,
        zones,
        endpoint_url: sql.endpoint_url.clone(),
    })
}
