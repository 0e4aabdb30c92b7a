//! `executor = "ecs"`: each shard attempt is an ECS task of the engage image
//! (RunTask with the container's command overridden), watched with DescribeTasks
//! until it is STOPPED. The container's exit code and the task's stopped reason
//! say how it ended. Throttling and 5xx are retried by the SDK's retry config;
//! RunTask `failures` (no capacity, a bad subnet) fail the attempt with ECS's reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, ContainerOverride, LaunchType, NetworkConfiguration, TaskOverride};

use super::{Exit, ShardBackend, ShardTask, TIMED_OUT};
use crate::aws::{AwsContext, service_error};
use crate::config::HostConfig;
use crate::pipeline::step::StepError;

/// First wait between DescribeTasks calls; it grows by half each time up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(10);

pub struct Ecs {
    aws: Arc<AwsContext>,
    /// The endpoint, for messages.
    at: String,
    client: Client,
    cluster: String,
    task_definition: String,
    container: String,
    network: NetworkConfiguration,
    launch_type: LaunchType,
}

impl Ecs {
    /// From `[shards]` (checked when the config was loaded) and `[aws]`.
    pub fn new(config: &HostConfig) -> Result<Self> {
        let shards = &config.shards;
        let aws = Arc::new(AwsContext::new(&config.aws)?);
        let client = Client::from_conf(aws_sdk_ecs::config::Builder::from(aws.sdk()).timeout_config(aws.control_plane_timeouts()).build());
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(shards.subnets.clone()))
            .set_security_groups((!shards.security_groups.is_empty()).then(|| shards.security_groups.clone()))
            .assign_public_ip(if shards.assign_public_ip == Some(true) { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
            .build()?;
        Ok(Self {
            at: aws.endpoint_label("ecs", None, None),
            aws,
            client,
            cluster: shards.cluster.clone().unwrap_or_default(),
            task_definition: shards.task_definition.clone().unwrap_or_default(),
            container: shards.container.clone().unwrap_or_default(),
            network: NetworkConfiguration::builder().awsvpc_configuration(vpc).build(),
            launch_type: LaunchType::from(shards.launch_type.as_deref().unwrap_or("FARGATE")),
        })
    }

    fn start(&self, task: &ShardTask, args: &[String]) -> Result<String, StepError> {
        let request = self
            .client
            .run_task()
            .cluster(&self.cluster)
            .task_definition(&self.task_definition)
            .launch_type(self.launch_type.clone())
            .count(1)
            .started_by(format!("engage-{}", task.run_id).chars().take(36).collect::<String>())
            .network_configuration(self.network.clone())
            .overrides(
                TaskOverride::builder()
                    .container_overrides(ContainerOverride::builder().name(&self.container).set_command(Some(args.to_vec())).build())
                    .build(),
            );
        let target = format!("cluster {} task definition {}", self.cluster, self.task_definition);
        let output = self.aws.block_on(request.send()).map_err(|e| StepError::io(service_error("ECS", "RunTask", &target, &self.at, e).message))?;
        if let Some(failure) = output.failures().first() {
            return Err(StepError::io(format!(
                "ECS RunTask {target}: {}{}{}",
                failure.reason().unwrap_or("failed"),
                failure.detail().map(|d| format!(" ({d})")).unwrap_or_default(),
                failure.arn().map(|a| format!(" for {a}")).unwrap_or_default()
            )));
        }
        output
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(str::to_string)
            .ok_or_else(|| StepError::io(format!("ECS RunTask {target}: the answer holds neither a task nor a failure")))
    }

    /// DescribeTasks until STOPPED; `None` when the deadline passed first.
    fn wait(&self, arn: &str, deadline: Duration) -> Result<Option<aws_sdk_ecs::types::Task>, StepError> {
        let started = Instant::now();
        let mut pause = FIRST_POLL;
        let target = format!("cluster {} task {arn}", self.cluster);
        loop {
            let request = self.client.describe_tasks().cluster(&self.cluster).tasks(arn);
            let output =
                self.aws.block_on(request.send()).map_err(|e| StepError::io(service_error("ECS", "DescribeTasks", &target, &self.at, e).message))?;
            if let Some(failure) = output.failures().first() {
                return Err(StepError::io(format!("ECS DescribeTasks {target}: {}", failure.reason().unwrap_or("failed"))));
            }
            let Some(found) = output.tasks().iter().find(|t| t.task_arn() == Some(arn)) else {
                return Err(StepError::io(format!("ECS DescribeTasks {target}: the task is not in the answer")));
            };
            if found.last_status() == Some("STOPPED") {
                return Ok(Some(found.clone()));
            }
            if started.elapsed() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(pause.min(deadline.saturating_sub(started.elapsed())));
            pause = (pause + pause / 2).min(MAX_POLL);
        }
    }

    fn stop(&self, arn: &str, reason: &str) {
        let request = self.client.stop_task().cluster(&self.cluster).task(arn).reason(reason);
        if let Err(e) = self.aws.block_on(request.send()) {
            tracing::warn!("{}", service_error("ECS", "StopTask", &format!("cluster {} task {arn}", self.cluster), &self.at, e).message);
        }
    }
}

impl ShardBackend for Ecs {
    fn run(&self, task: &ShardTask, args: &[String], deadline: Duration) -> Result<Exit, StepError> {
        let arn = self.start(task, args)?;
        let Some(stopped) = self.wait(&arn, deadline)? else {
            self.stop(&arn, &format!("engage: {} ran past its deadline", task.label()));
            return Ok(Exit { success: false, detail: format!("{TIMED_OUT} {}s: ECS task {arn} stopped", deadline.as_secs()) });
        };
        let container = stopped.containers().iter().find(|c| c.name() == Some(self.container.as_str()));
        let exit_code = container.and_then(|c| c.exit_code());
        let mut detail = format!("ECS task {arn}");
        if let Some(reason) = stopped.stopped_reason() {
            detail.push_str(&format!(" stopped: {reason}"));
        }
        match exit_code {
            Some(code) => detail.push_str(&format!(" (container {} exit code {code})", self.container)),
            None => detail.push_str(&format!(" (container {} has no exit code)", self.container)),
        }
        if let Some(reason) = container.and_then(|c| c.reason()) {
            detail.push_str(&format!(": {reason}"));
        }
        Ok(Exit { success: exit_code == Some(0), detail })
    }

    fn allowance(&self) -> Duration {
        // Fargate provisioning and the image pull come before the stage's own clock starts.
        Duration::from_secs(300)
    }
}
