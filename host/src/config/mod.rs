//! The runtime config (like Spin's runtime-config): one TOML file choosing the
//! backend of each capability and its settings. With no file every capability is
//! local, exactly as `engage` runs on a laptop. Every setting is checked when the
//! file is loaded and the zones a pipeline names when the run is set up, so a
//! missing or wrong setting fails before the first stage runs, naming its key.
//! The format is described in docs/hosted.md; examples are in `config/`.

pub mod backends;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;

use crate::aws::AwsSettings;
use crate::capabilities::storage::{S3Location, ZoneMap, s3};
use crate::pipeline::spec::{Pipeline, parse_duration, parse_size};

pub use backends::Backends;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    #[serde(default)]
    pub aws: AwsSettings,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub sql: SqlConfig,
    #[serde(default)]
    pub catalog: CatalogConfig,
    #[serde(default)]
    pub llm: LlmConfig,
    #[serde(default)]
    pub shards: ShardsConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A directory tree, one folder per bucket (`--root`).
    #[default]
    Local,
    S3,
}

/// `[storage]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub backend: StorageBackend,
    /// local: the storage root (else `--root` / `ENGAGE_ROOT`).
    pub root: Option<PathBuf>,
    /// s3: the bucket (optionally `bucket/prefix`) holding every zone not listed in `buckets`, each under `<zone>/`.
    pub bucket: Option<String>,
    /// s3: zone name -> `bucket` or `bucket/prefix`.
    #[serde(default)]
    pub buckets: BTreeMap<String, String>,
    /// s3: the multipart part size, e.g. "16MiB" (5MiB to 5GiB); objects up to one part go up in one PUT.
    pub part_size: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlBackend {
    /// DataFusion over the local storage root, Athena dialect translated.
    #[default]
    Local,
    Athena,
}

/// `[sql]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    #[serde(default)]
    pub backend: SqlBackend,
    /// athena: the workgroup queries run in.
    pub workgroup: Option<String>,
    /// athena: where Athena writes results, `s3://bucket/prefix/`.
    pub output_location: Option<String>,
    /// athena: the first wait between polls of a running query, e.g. "200ms" (doubling up to 5s).
    pub poll_interval: Option<String>,
    /// athena: give up on a query after this long, e.g. "30m".
    pub query_timeout: Option<String>,
    /// athena: an endpoint other than aws.endpoint_url (a VPC endpoint, or a stand-in under test).
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogBackend {
    /// One JSON object per table in the storage's `catalog` zone.
    #[default]
    Local,
    Glue,
}

/// `[catalog]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    #[serde(default)]
    pub backend: CatalogBackend,
    /// glue: the account id of the Data Catalog (else the caller's).
    pub catalog_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmBackend {
    /// The built-in answerer over the run's knowledge base and tables.
    #[default]
    Local,
    /// No llm: every call answers `unavailable`.
    None,
    Bedrock,
}

/// `[llm]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    #[serde(default)]
    pub backend: LlmBackend,
    /// bedrock: the model `complete` uses (Converse), e.g. anthropic.claude-3-haiku-20240307-v1:0.
    pub chat_model: Option<String>,
    /// bedrock: the model `embed` uses (InvokeModel), e.g. amazon.titan-embed-text-v2:0.
    pub embed_model: Option<String>,
    /// bedrock: a region other than aws.region.
    pub region: Option<String>,
    /// bedrock: an endpoint other than aws.endpoint_url.
    pub endpoint_url: Option<String>,
    /// bedrock: a Bedrock Knowledge Base over the knowledge zone; when set, `engage ask --backend
    /// bedrock` answers retrieval questions with RetrieveAndGenerate instead of its own retrieval.
    pub knowledge_base_id: Option<String>,
    /// bedrock: the model RetrieveAndGenerate writes with (default: chat_model's foundation-model ARN).
    pub knowledge_base_model_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardExecutor {
    /// Threads of the running process (max_concurrency from the pipeline file).
    #[default]
    Threads,
    /// One `engage stage run` process per shard attempt on this machine.
    Processes,
    /// One container of the image per shard attempt (`podman run`, network off, read-only).
    Podman,
    /// One ECS task per shard attempt (RunTask with the container command overridden).
    Ecs,
}

impl ShardExecutor {
    pub fn name(self) -> &'static str {
        match self {
            ShardExecutor::Threads => "threads",
            ShardExecutor::Processes => "processes",
            ShardExecutor::Podman => "podman",
            ShardExecutor::Ecs => "ecs",
        }
    }
}

/// `[shards]`: where the shards of a mapped stage run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardsConfig {
    #[serde(default)]
    pub executor: ShardExecutor,
    /// ecs: the cluster tasks run in (name or ARN).
    pub cluster: Option<String>,
    /// ecs: the task definition (family, family:revision or ARN) of the engage image.
    pub task_definition: Option<String>,
    /// ecs: the container of the task definition whose command is overridden.
    pub container: Option<String>,
    /// ecs: awsvpc subnets (at least one).
    #[serde(default)]
    pub subnets: Vec<String>,
    /// ecs: awsvpc security groups.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// ecs: give the task a public IP (needed in a public subnet without a NAT to pull the image).
    pub assign_public_ip: Option<bool>,
    /// ecs: FARGATE (default), FARGATE_SPOT is chosen through capacity providers, not here.
    pub launch_type: Option<String>,
    /// podman: the image holding engage (scripts/build-image.sh builds engage:latest).
    pub image: Option<String>,
    /// podman: arguments put before `run`, e.g. ["--storage-driver", "vfs", "--runtime", "runc"].
    #[serde(default)]
    pub podman_args: Vec<String>,
    /// ecs, podman: the pipeline file as the task sees it (default: the path this run was given).
    pub pipeline_path: Option<String>,
    /// ecs, podman: the runtime config as the task sees it (default: the path this run was given).
    pub config_path: Option<String>,
}

/// Zones the host itself reads and writes, whatever the pipeline grants.
pub const HOST_ZONES: &[&str] = &["processed", "work", "models", "runs", "knowledge", "catalog", "warehouse"];

impl HostConfig {
    /// Reads and checks a runtime config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the runtime config {}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow!("runtime config {}: {e}", path.display()))
    }

    /// `--config` if given, else the local default.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self> {
        path.map_or_else(|| Ok(Self::default()), Self::load)
    }

    /// Parses and checks the text of a runtime config; errors name the line and key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().replace('\n', " ");
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        config.check()?;
        Ok(config)
    }

    /// Every setting that is missing, malformed, or set for a backend not chosen.
    pub fn check(&self) -> Result<(), String> {
        self.aws.check()?;
        let storage = &self.storage;
        let s3_settings = [("storage.bucket", storage.bucket.is_some()), ("storage.part_size", storage.part_size.is_some())];
        match storage.backend {
            StorageBackend::Local => {
                refuse_unused("storage", "local", &s3_settings)?;
                if !storage.buckets.is_empty() {
                    return Err("storage.buckets is an s3 setting, but storage.backend is \"local\"".into());
                }
            }
            StorageBackend::S3 => {
                if storage.root.is_some() {
                    return Err("storage.root is a local setting, but storage.backend is \"s3\"".into());
                }
                if storage.bucket.is_none() && storage.buckets.is_empty() {
                    return Err("storage.bucket is required when storage.backend = \"s3\" (or map every zone in storage.buckets)".into());
                }
                self.zone_map()?;
                self.part_size()?;
            }
        }

        let sql = &self.sql;
        let athena_settings = [
            ("sql.workgroup", sql.workgroup.is_some()),
            ("sql.output_location", sql.output_location.is_some()),
            ("sql.poll_interval", sql.poll_interval.is_some()),
            ("sql.query_timeout", sql.query_timeout.is_some()),
            ("sql.endpoint_url", sql.endpoint_url.is_some()),
        ];
        match sql.backend {
            SqlBackend::Local => {
                refuse_unused("sql", "local", &athena_settings)?;
                if storage.backend != StorageBackend::Local {
                    return Err("sql.backend = \"local\" reads files from a local storage root; with storage.backend = \"s3\" set sql.backend = \"athena\"".into());
                }
            }
            SqlBackend::Athena => {
                let workgroup = sql.workgroup.as_deref().ok_or("sql.workgroup is required when sql.backend = \"athena\"")?;
                if workgroup.is_empty() || workgroup.len() > 128 {
                    return Err(format!("sql.workgroup '{workgroup}' must be 1-128 characters"));
                }
                let output = sql.output_location.as_deref().ok_or("sql.output_location is required when sql.backend = \"athena\"")?;
                crate::catalog::parse_location(output).map_err(|e| format!("sql.output_location: {e}"))?;
                for (key, value) in [("sql.poll_interval", &sql.poll_interval), ("sql.query_timeout", &sql.query_timeout)] {
                    if let Some(text) = value {
                        parse_duration(text).map_err(|e| format!("{key}: {e}"))?;
                    }
                }
                let overrides = AwsSettings { endpoint_url: sql.endpoint_url.clone(), ..Default::default() };
                overrides.check().map_err(|e| e.replace("aws.", "sql."))?;
                if self.catalog.backend != CatalogBackend::Glue {
                    return Err("sql.backend = \"athena\" reads its tables from Glue: set catalog.backend = \"glue\"".into());
                }
            }
        }

        // Athena and Glue describe tables on S3: with local storage they would read nothing the run wrote.
        if storage.backend == StorageBackend::Local {
            if sql.backend == SqlBackend::Athena {
                return Err("sql.backend = \"athena\" needs storage.backend = \"s3\" (Athena queries tables on S3; with local storage use sql.backend = \"local\")".into());
            }
            if self.catalog.backend == CatalogBackend::Glue {
                return Err("catalog.backend = \"glue\" needs storage.backend = \"s3\" (Glue tables point at S3; with local storage use catalog.backend = \"local\")".into());
            }
        }
        if self.catalog.backend == CatalogBackend::Local && self.catalog.catalog_id.is_some() {
            return Err("catalog.catalog_id is a glue setting, but catalog.backend is \"local\"".into());
        }
        if self.catalog.backend == CatalogBackend::Glue && self.sql.backend == SqlBackend::Local {
            return Err("catalog.backend = \"glue\" needs sql.backend = \"athena\" (the local engine reads the local catalog)".into());
        }

        self.check_shards()?;

        let llm = &self.llm;
        match llm.backend {
            LlmBackend::Local | LlmBackend::None => refuse_unused(
                "llm",
                if llm.backend == LlmBackend::Local { "local" } else { "none" },
                &[
                    ("llm.chat_model", llm.chat_model.is_some()),
                    ("llm.embed_model", llm.embed_model.is_some()),
                    ("llm.region", llm.region.is_some()),
                    ("llm.endpoint_url", llm.endpoint_url.is_some()),
                ],
            )?,
            LlmBackend::Bedrock => {
                for (key, value) in [("llm.chat_model", &llm.chat_model), ("llm.embed_model", &llm.embed_model)] {
                    match value.as_deref() {
                        None => return Err(format!("{key} is required when llm.backend = \"bedrock\"")),
                        Some(id) if id.trim().is_empty() || id.contains(char::is_whitespace) => {
                            return Err(format!("{key} '{id}' is not a model id"));
                        }
                        Some(_) => {}
                    }
                }
                let overrides = AwsSettings { region: llm.region.clone(), endpoint_url: llm.endpoint_url.clone(), ..Default::default() };
                overrides.check().map_err(|e| e.replace("aws.", "llm."))?;
            }
        }
        Ok(())
    }

    /// `[shards]`: the keys the chosen executor needs, and none another one reads.
    fn check_shards(&self) -> Result<(), String> {
        let shards = &self.shards;
        let executor = shards.executor.name();
        let ecs_settings = [
            ("shards.cluster", shards.cluster.is_some()),
            ("shards.task_definition", shards.task_definition.is_some()),
            ("shards.container", shards.container.is_some()),
            ("shards.subnets", !shards.subnets.is_empty()),
            ("shards.security_groups", !shards.security_groups.is_empty()),
            ("shards.assign_public_ip", shards.assign_public_ip.is_some()),
            ("shards.launch_type", shards.launch_type.is_some()),
        ];
        let podman_settings = [("shards.image", shards.image.is_some()), ("shards.podman_args", !shards.podman_args.is_empty())];
        let task_paths = [("shards.pipeline_path", shards.pipeline_path.is_some()), ("shards.config_path", shards.config_path.is_some())];
        match shards.executor {
            ShardExecutor::Threads | ShardExecutor::Processes => {
                refuse_unused_by("shards", "executor", executor, &ecs_settings)?;
                refuse_unused_by("shards", "executor", executor, &podman_settings)?;
                refuse_unused_by("shards", "executor", executor, &task_paths)?;
            }
            ShardExecutor::Podman => {
                refuse_unused_by("shards", "executor", executor, &ecs_settings)?;
                match shards.image.as_deref() {
                    None => return Err("shards.image is required when shards.executor = \"podman\"".into()),
                    Some(image) if image.trim().is_empty() || image.contains(char::is_whitespace) => {
                        return Err(format!("shards.image '{image}' is not an image name"));
                    }
                    Some(_) => {}
                }
            }
            ShardExecutor::Ecs => {
                refuse_unused_by("shards", "executor", executor, &podman_settings)?;
                for (key, value) in
                    [("shards.cluster", &shards.cluster), ("shards.task_definition", &shards.task_definition), ("shards.container", &shards.container)]
                {
                    match value.as_deref() {
                        None => return Err(format!("{key} is required when shards.executor = \"ecs\"")),
                        Some(text) if text.trim().is_empty() => return Err(format!("{key} is empty")),
                        Some(_) => {}
                    }
                }
                if shards.subnets.is_empty() {
                    return Err("shards.subnets is required when shards.executor = \"ecs\" (Fargate tasks run in awsvpc mode)".into());
                }
                if let Some(launch_type) = &shards.launch_type
                    && !matches!(launch_type.as_str(), "FARGATE" | "EC2" | "EXTERNAL")
                {
                    return Err(format!("shards.launch_type '{launch_type}' must be FARGATE, EC2 or EXTERNAL"));
                }
            }
        }
        Ok(())
    }

    /// Whether any capability reaches AWS.
    pub fn uses_aws(&self) -> bool {
        self.storage.backend == StorageBackend::S3
            || self.sql.backend == SqlBackend::Athena
            || self.catalog.backend == CatalogBackend::Glue
            || self.llm.backend == LlmBackend::Bedrock
    }

    /// Where each zone lives on S3.
    pub fn zone_map(&self) -> Result<ZoneMap, String> {
        let shared = match &self.storage.bucket {
            Some(text) => Some(S3Location::parse(text).map_err(|e| format!("storage.bucket: {e}"))?),
            None => None,
        };
        let mut zones = BTreeMap::new();
        for (zone, text) in &self.storage.buckets {
            crate::capabilities::storage::validate_bucket(zone).map_err(|e| format!("storage.buckets.{zone}: the zone name: {e}"))?;
            zones.insert(zone.clone(), S3Location::parse(text).map_err(|e| format!("storage.buckets.{zone}: {e}"))?);
        }
        Ok(ZoneMap { shared, zones })
    }

    /// The multipart part size in bytes.
    pub fn part_size(&self) -> Result<u64, String> {
        let Some(text) = &self.storage.part_size else { return Ok(16 << 20) };
        let size = parse_size(text).map_err(|e| format!("storage.part_size: {e}"))?;
        if !(s3::MIN_PART_SIZE..=s3::MAX_PART_SIZE).contains(&size) {
            return Err(format!("storage.part_size '{text}' must be between 5MiB and 5GiB (S3's part limits)"));
        }
        Ok(size)
    }

    /// Checks that every zone the host and `pipeline`'s grants name has a place to live.
    pub fn check_pipeline(&self, pipeline: &Pipeline) -> Result<()> {
        if self.storage.backend != StorageBackend::S3 {
            return Ok(());
        }
        let map = self.zone_map().map_err(anyhow::Error::msg)?;
        let granted = pipeline.stages.iter().flat_map(|stage| {
            stage.grants.storage.iter().filter_map(|grant| grant.split_once(':').map(|(_, rest)| rest.split('/').next().unwrap_or(rest)))
        });
        for zone in HOST_ZONES.iter().copied().chain(granted) {
            map.locate(zone).map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    }
}

/// Settings of another backend are mistakes (a typo'd backend, a leftover): say which.
fn refuse_unused(section: &str, backend: &str, settings: &[(&str, bool)]) -> Result<(), String> {
    refuse_unused_by(section, "backend", backend, settings)
}

fn refuse_unused_by(section: &str, chooser: &str, chosen: &str, settings: &[(&str, bool)]) -> Result<(), String> {
    match settings.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(format!("{key} does not apply: {section}.{chooser} is \"{chosen}\"")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_every_capability_local() {
        let config = HostConfig::parse("").unwrap();
        assert_eq!(config, HostConfig::default());
        assert!(!config.uses_aws());
    }

    #[test]
    fn mistakes_name_their_key() {
        let cases = [
            ("[storage]\nbackend = \"s3\"\n", "storage.bucket is required"),
            ("[storage]\nbackend = \"s3\"\nbucket = \"Bad_Bucket\"\n[sql]\nbackend = \"athena\"\n", "storage.bucket: invalid bucket name"),
            ("[storage]\nbackend = \"s3\"\nbucket = \"acme\"\n", "set sql.backend = \"athena\""),
            ("[storage]\nbackend = \"s3\"\nbucket = \"acme\"\npart_size = \"1MiB\"\n", "storage.part_size '1MiB'"),
            ("[storage]\nbukcet = \"acme\"\n", "line 2: unknown field `bukcet`"),
            ("[storage]\nbackend = \"gcs\"\n", "line 2: unknown variant `gcs`"),
            ("[storage]\nbucket = \"acme\"\n", "storage.bucket does not apply: storage.backend is \"local\""),
            ("[sql]\nbackend = \"athena\"\n", "sql.workgroup is required"),
            ("[sql]\nbackend = \"athena\"\nworkgroup = \"wg\"\n", "sql.output_location is required"),
            ("[sql]\nbackend = \"athena\"\nworkgroup = \"wg\"\noutput_location = \"results/\"\n", "sql.output_location: location 'results/'"),
            ("[llm]\nbackend = \"bedrock\"\nchat_model = \"m\"\n", "llm.embed_model is required"),
            ("[aws]\nendpoint_url = \"127.0.0.1:5000\"\n", "aws.endpoint_url '127.0.0.1:5000'"),
            ("[sql]\nendpoint_url = \"http://127.0.0.1:9\"\n", "sql.endpoint_url does not apply: sql.backend is \"local\""),
            (
                "[storage]\nbackend = \"s3\"\nbucket = \"acme\"\n[sql]\nbackend = \"athena\"\nworkgroup = \"wg\"\noutput_location = \"s3://results/\"\nendpoint_url = \"athena.local\"\n[catalog]\nbackend = \"glue\"\n",
                "sql.endpoint_url 'athena.local' must start with http:// or https://",
            ),
            ("[shards]\nexecutor = \"fargate\"\n", "line 2: unknown variant `fargate`"),
            ("[shards]\nexecutor = \"ecs\"\n", "shards.cluster is required when shards.executor = \"ecs\""),
            ("[shards]\nexecutor = \"ecs\"\ncluster = \"c\"\ncontainer = \"engage\"\nsubnets = [\"s\"]\n", "shards.task_definition is required"),
            ("[shards]\nexecutor = \"ecs\"\ncluster = \"c\"\ntask_definition = \"t\"\ncontainer = \"engage\"\n", "shards.subnets is required"),
            ("[shards]\nexecutor = \"podman\"\n", "shards.image is required when shards.executor = \"podman\""),
            ("[shards]\ncluster = \"c\"\n", "shards.cluster does not apply: shards.executor is \"threads\""),
            (
                "[aws]\nregion = \"eu-west-1\"\n[sql]\nbackend = \"athena\"\nworkgroup = \"w\"\noutput_location = \"s3://acme-x/r/\"\n[catalog]\nbackend = \"glue\"\n",
                "sql.backend = \"athena\" needs storage.backend = \"s3\"",
            ),
            ("[catalog]\nbackend = \"glue\"\n", "catalog.backend = \"glue\" needs storage.backend = \"s3\""),
            ("[storage]\nbackend = \"s3\"\nbucket = \"192.168.1.1\"\n", "storage.bucket: invalid bucket name '192.168.1.1'"),
            ("[storage]\nbackend = \"s3\"\nbucket = \"xn--engage\"\n", "storage.bucket: invalid bucket name 'xn--engage'"),
            ("[storage]\nbackend = \"s3\"\nbucket = \"engage-s3alias\"\n", "storage.bucket: invalid bucket name 'engage-s3alias'"),
        ];
        for (text, expected) in cases {
            let error = HostConfig::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: expected '{expected}' in '{error}'");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn the_example_configs_are_valid() {
        let local = HostConfig::parse(include_str!("../../../config/local.toml")).unwrap();
        assert_eq!(local, HostConfig::default(), "config/local.toml spells out the default");
        let hosted = HostConfig::parse(include_str!("../../../config/hosted.toml")).unwrap();
        assert!(hosted.uses_aws());
    }

    #[test]
    fn zones_map_to_their_own_bucket_or_under_the_shared_one() {
        let text = "[storage]\nbackend = \"s3\"\nbucket = \"acme-engage/prod\"\n[storage.buckets]\nlanding = \"acme-landing\"\n\
                    [sql]\nbackend = \"athena\"\nworkgroup = \"engage\"\noutput_location = \"s3://acme-athena/results/\"\n[catalog]\nbackend = \"glue\"\n";
        let config = HostConfig::parse(text).unwrap();
        let map = config.zone_map().unwrap();
        assert_eq!(map.locate("landing").unwrap(), S3Location { bucket: "acme-landing".into(), prefix: String::new() });
        assert_eq!(map.locate("work").unwrap(), S3Location { bucket: "acme-engage".into(), prefix: "prod/work/".into() });

        assert_eq!(map.real_url("s3://work/run=1/x/"), "s3://acme-engage/prod/work/run=1/x/");
        assert_eq!(map.logical_url("s3://acme-engage/prod/work/run=1/x/"), "s3://work/run=1/x/");
        assert_eq!(map.logical_url("s3://acme-landing/users/"), "s3://landing/users/");
        assert_eq!(
            map.rewrite_locations("CREATE TABLE t WITH (external_location = 's3://work/run=1/t/') AS SELECT 's3 text'"),
            "CREATE TABLE t WITH (external_location = 's3://acme-engage/prod/work/run=1/t/') AS SELECT 's3 text'"
        );

        // An s3:// in front is dropped: the bucket is the name after it.
        let prefixed = HostConfig::parse(&text.replace("bucket = \"acme-engage/prod\"", "bucket = \"s3://acme-engage-prod\"")).unwrap();
        assert_eq!(prefixed.zone_map().unwrap().locate("work").unwrap().bucket, "acme-engage-prod");

        let only_listed = HostConfig { storage: StorageConfig { bucket: None, ..config.storage.clone() }, ..config };
        let error = only_listed.zone_map().unwrap().locate("work").unwrap_err();
        assert!(error.message.contains("storage.buckets.work"), "{error}");
    }
}
