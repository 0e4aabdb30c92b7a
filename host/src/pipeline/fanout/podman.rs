//! `executor = "podman"`: each shard attempt is a container of the engage image,
//! `podman run --rm --read-only`, with the pipeline file and runtime config
//! mounted read-only. With local storage the root is mounted read-write and the
//! network is off; with storage on S3 the container shares the host's network
//! (so endpoints on 127.0.0.1 answer) and takes the AWS settings of this
//! process's environment by name, never by value on the command line. The
//! image's entry point is `engage`; its plugins are precompiled inside it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};

use super::processes::wait_for;
use super::{Exit, ShardBackend, ShardTask};
use crate::config::ShardsConfig;
use crate::pipeline::step::StepError;

/// Where the storage root, the pipeline folder and the runtime config appear inside the container.
const ROOT_IN_CONTAINER: &str = "/data";
const PIPELINES_IN_CONTAINER: &str = "/pipeline";
pub const CONFIG_IN_CONTAINER: &str = "/config/engage.toml";
/// What the AWS SDK reads from the environment: credentials, region, endpoints, the task role.
const AWS_ENVIRONMENT: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
];

pub struct Podman {
    image: String,
    podman_args: Vec<String>,
    /// The local storage root; `None` when storage is remote.
    root: Option<PathBuf>,
    config: Option<PathBuf>,
}

impl Podman {
    pub fn new(shards: &ShardsConfig, root: Option<PathBuf>, config: Option<PathBuf>) -> Result<Self> {
        if root.is_none() && config.is_none() {
            bail!("shards.executor = \"podman\" with remote storage needs the runtime config (engage run --config) to hand to each container")
        }
        let image = shards.image.clone().unwrap_or_default();
        Ok(Self { image, podman_args: shards.podman_args.clone(), root, config })
    }

    /// `podman ... run ... <image> <args>` with the pipeline file's folder mounted and its path rewritten.
    fn command(&self, args: &[String]) -> Result<Command, StepError> {
        let mut args = args.to_vec();
        let pipeline = PathBuf::from(&args[2]);
        let pipeline = std::path::absolute(&pipeline).unwrap_or(pipeline);
        let (Some(folder), Some(name)) = (pipeline.parent(), pipeline.file_name()) else {
            return Err(StepError::io(format!("pipeline file '{}' has no folder to mount", pipeline.display())));
        };
        args[2] = format!("{PIPELINES_IN_CONTAINER}/{}", name.to_string_lossy());
        let mut command = Command::new("podman");
        command.args(&self.podman_args).args(["run", "--rm", "--read-only"]);
        match &self.root {
            Some(root) => {
                command.args(["--network", "none"]);
                command.arg("-v").arg(format!("{}:{ROOT_IN_CONTAINER}", root.display()));
                command.args(["-e", &format!("ENGAGE_ROOT={ROOT_IN_CONTAINER}")]);
            }
            None => {
                command.args(["--network", "host"]);
                // `-e NAME` copies the value from podman's environment, which this process hands down.
                for name in AWS_ENVIRONMENT.iter().filter(|name| std::env::var_os(name).is_some()) {
                    command.args(["-e", name]);
                }
            }
        }
        command.arg("-v").arg(format!("{}:{PIPELINES_IN_CONTAINER}:ro", folder.display()));
        if let Some(config) = &self.config {
            command.arg("-v").arg(format!("{}:{CONFIG_IN_CONTAINER}:ro", config.display()));
        }
        command.arg(&self.image).args(args);
        Ok(command)
    }
}

impl ShardBackend for Podman {
    fn run(&self, task: &ShardTask, args: &[String], deadline: Duration) -> Result<Exit, StepError> {
        let mut command = self.command(args)?;
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = command.spawn().map_err(|e| {
            StepError::io(format!(
                "stage '{}' shard {}: starting podman: {e} (install podman and runc; see docs/hosted.md)",
                task.stage, task.shard
            ))
        })?;
        Ok(wait_for(child, deadline))
    }

    fn allowance(&self) -> Duration {
        Duration::from_secs(120)
    }
}
