//! `engage deploy asl <pipeline>` and `engage deploy task-definition`: the JSON an
//! operator hands to Step Functions and ECS.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};

use super::run::plugin_dir;
use crate::deploy::asl::{self, EcsTarget};
use crate::deploy::validate;
use crate::deploy::task_definition::{self, TaskSettings};
use crate::pipeline::setup::{load_options, native_registry};
use crate::pipeline::spec;

#[derive(Subcommand)]
pub enum DeployCommand {
    /// Write the pipeline as an Amazon States Language definition: one ECS task per stage.
    // A fixed usage line: clap's own lists every flag given, env-set `--plugins` and `--root` too, as if required.
    #[command(override_usage = "engage deploy asl [OPTIONS] --cluster <CLUSTER> --subnet <SUBNET>... <PIPELINE>")]
    Asl(AslArgs),
    /// Write the ECS task definition (Fargate) that runs the Engage image.
    TaskDefinition(TaskDefinitionArgs),
}

#[derive(Args)]
pub struct AslArgs {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// ECS cluster name or ARN.
    #[arg(long, env = "ENGAGE_ECS_CLUSTER")]
    pub cluster: String,
    /// Task definition family[:revision] or ARN (see `engage deploy task-definition`).
    #[arg(long, default_value = "engage")]
    pub task_definition: String,
    /// The container that runs engage in the task definition.
    #[arg(long, default_value = "engage")]
    pub container: String,
    /// Subnet for the tasks (repeatable).
    #[arg(long = "subnet", value_name = "SUBNET", required = true)]
    pub subnets: Vec<String>,
    /// Security group for the tasks (repeatable).
    #[arg(long = "security-group", value_name = "GROUP")]
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (needed in a public subnet without a NAT gateway).
    #[arg(long)]
    pub assign_public_ip: bool,
    /// The pipeline file's path inside the image [default: /opt/engage/pipelines/<file name>].
    #[arg(long)]
    pub pipeline_path: Option<String>,
    /// The runtime config's path inside the image, passed to every task as --config; the stages
    /// share their outputs through the storage it names.
    #[arg(long, default_value = crate::deploy::IMAGE_CONFIG_PATH)]
    pub config_path: String,
    /// Plugin directory used to check the pipeline's plugin stages exist.
    #[arg(long, value_name = "DIR", env = "ENGAGE_PLUGIN_DIR")]
    pub plugins: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct TaskDefinitionArgs {
    /// The image, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/engage:2026-11-25.
    #[arg(long)]
    pub image: String,
    #[arg(long, default_value = "engage")]
    pub family: String,
    #[arg(long, default_value = "engage")]
    pub container: String,
    /// Fargate CPU units.
    #[arg(long, default_value_t = 2048)]
    pub cpu: u32,
    /// Memory in MiB (a size Fargate offers for --cpu).
    #[arg(long, default_value_t = 8192)]
    pub memory: u32,
    /// Role ECS uses to pull the image and write logs.
    #[arg(long)]
    pub execution_role_arn: String,
    /// Role the task's code runs as (S3, Athena, Glue, Bedrock, ECS for shards).
    #[arg(long)]
    pub task_role_arn: String,
    #[arg(long, default_value = "/engage/weekly")]
    pub log_group: String,
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
    /// Task-local disk in GiB (21-200).
    #[arg(long, default_value_t = 50)]
    pub ephemeral_gib: u32,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(command: DeployCommand) -> Result<()> {
    let (json, out) = match command {
        DeployCommand::Asl(args) => {
            validate::cluster("--cluster", &args.cluster)?;
            validate::task_definition("--task-definition", &args.task_definition)?;
            validate::name("--container", &args.container)?;
            for subnet in &args.subnets {
                validate::subnet("--subnet", subnet)?;
            }
            for group in &args.security_groups {
                validate::security_group("--security-group", group)?;
            }
            if let Some(path) = &args.pipeline_path {
                validate::image_path("--pipeline-path", path)?;
            }
            validate::image_path("--config-path", &args.config_path)?;
            let plugin_dir = plugin_dir(args.plugins.as_deref())?;
            let registry = native_registry();
            let options = load_options(&registry, &plugin_dir, Default::default());
            let pipeline = spec::load(&args.pipeline, &options).map_err(|e| anyhow!("{e}"))?;
            let file_name = args.pipeline.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target = EcsTarget {
                cluster: args.cluster,
                task_definition: args.task_definition,
                container: args.container,
                subnets: args.subnets,
                security_groups: args.security_groups,
                assign_public_ip: args.assign_public_ip,
                pipeline_path: args.pipeline_path.unwrap_or_else(|| format!("{}/{file_name}", crate::deploy::IMAGE_PIPELINE_DIR)),
                config_path: args.config_path,
            };
            (asl::definition(&pipeline, &target), args.out)
        }
        DeployCommand::TaskDefinition(args) => {
            validate::image("--image", &args.image)?;
            validate::name("--family", &args.family)?;
            validate::name("--container", &args.container)?;
            validate::role_arn("--execution-role-arn", &args.execution_role_arn)?;
            validate::role_arn("--task-role-arn", &args.task_role_arn)?;
            validate::log_group("--log-group", &args.log_group)?;
            validate::region("--region", &args.region)?;
            let settings = TaskSettings {
                family: args.family,
                image: args.image,
                container: args.container,
                cpu: args.cpu,
                memory: args.memory,
                execution_role_arn: args.execution_role_arn,
                task_role_arn: args.task_role_arn,
                log_group: args.log_group,
                region: args.region,
                ephemeral_gib: args.ephemeral_gib,
            };
            (task_definition::definition(&settings)?, args.out)
        }
    };
    write_json(&json, out.as_deref())
}

fn write_json(json: &serde_json::Value, out: Option<&Path>) -> Result<()> {
    let text = serde_json::to_string_pretty(json)? + "\n";
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display())),
        None => {
            out!("{text}");
            Ok(())
        }
    }
}
