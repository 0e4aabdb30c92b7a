//! The ECS task definition that runs the Engage image on Fargate: a read-only
//! root file system with a task-local scratch volume on /tmp, a non-root user,
//! JSON log lines (with Embedded Metric Format metrics) sent to CloudWatch Logs.

use anyhow::{Result, bail};
use serde_json::{Value, json};

/// The uid:gid the image runs as (the Dockerfile's `USER`, its etc/passwd entry).
pub const IMAGE_USER: &str = "65532:65532";

#[derive(Debug, Clone)]
pub struct TaskSettings {
    pub family: String,
    pub image: String,
    pub container: String,
    /// Fargate CPU units (256, 512, 1024, 2048, 4096, 8192, 16384).
    pub cpu: u32,
    /// MiB; must be a size Fargate offers for `cpu`.
    pub memory: u32,
    pub execution_role_arn: String,
    pub task_role_arn: String,
    pub log_group: String,
    pub region: String,
    /// Ephemeral storage in GiB (21..=200); scratch for spills and downloads.
    pub ephemeral_gib: u32,
}

/// Memory sizes (MiB) Fargate accepts for a CPU size: (min, max, step).
fn fargate_memory(cpu: u32) -> Option<(u32, u32, u32)> {
    Some(match cpu {
        256 => (512, 2048, 512),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return None,
    })
}

pub fn definition(s: &TaskSettings) -> Result<Value> {
    let Some((min, max, step)) = fargate_memory(s.cpu) else {
        bail!("--cpu {}: Fargate offers 256, 512, 1024, 2048, 4096, 8192 or 16384 CPU units", s.cpu);
    };
    if s.memory < min || s.memory > max || (s.memory - min) % step != 0 {
        bail!("--memory {}: with --cpu {} Fargate offers {min} to {max} MiB in steps of {step}", s.memory, s.cpu);
    }
    if !(21..=200).contains(&s.ephemeral_gib) {
        bail!("--ephemeral-gib {}: Fargate offers 21 to 200 GiB", s.ephemeral_gib);
    }
    for (flag, value) in [("--image", &s.image), ("--family", &s.family), ("--log-group", &s.log_group), ("--region", &s.region)] {
        if value.trim().is_empty() {
            bail!("{flag} is empty");
        }
    }
    Ok(json!({
        "family": s.family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": s.cpu.to_string(),
        "memory": s.memory.to_string(),
        "runtimePlatform": { "cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX" },
        "executionRoleArn": s.execution_role_arn,
        "taskRoleArn": s.task_role_arn,
        "ephemeralStorage": { "sizeInGiB": s.ephemeral_gib },
        "volumes": [{ "name": "scratch" }],
        "containerDefinitions": [{
            "name": s.container,
            "image": s.image,
            "essential": true,
            "user": IMAGE_USER,
            "readonlyRootFilesystem": true,
            "command": ["--version"],
            "environment": [
                { "name": "ENGAGE_LOG_FORMAT", "value": "json" },
                { "name": "ENGAGE_METRICS", "value": "emf" },
                { "name": "TMPDIR", "value": "/tmp" },
            ],
            "mountPoints": [{ "sourceVolume": "scratch", "containerPath": "/tmp", "readOnly": false }],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": s.log_group,
                    "awslogs-region": s.region,
                    "awslogs-stream-prefix": "engage",
                    "awslogs-create-group": "true",
                },
            },
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cpu: u32, memory: u32) -> TaskSettings {
        TaskSettings {
            family: "engage".into(),
            image: "123.dkr.ecr.eu-west-1.amazonaws.com/engage:1".into(),
            container: "engage".into(),
            cpu,
            memory,
            execution_role_arn: "arn:aws:iam::123456789012:role/exec".into(),
            task_role_arn: "arn:aws:iam::123456789012:role/task".into(),
            log_group: "/engage/weekly".into(),
            region: "eu-west-1".into(),
            ephemeral_gib: 50,
        }
    }

    #[test]
    fn sizes_fargate_does_not_offer_are_refused_with_the_range() {
        assert!(definition(&settings(2048, 8192)).is_ok());
        let err = definition(&settings(2048, 2048)).unwrap_err().to_string();
        assert!(err.contains("4096 to 16384"), "{err}");
        assert!(definition(&settings(3000, 8192)).unwrap_err().to_string().contains("--cpu 3000"));
    }
}
