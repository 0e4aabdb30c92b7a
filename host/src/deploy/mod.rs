//! What an operator needs to schedule a pipeline on AWS outside Engage: the
//! Step Functions definition and the ECS task definition for the image.

pub mod asl;
pub mod task_definition;
pub mod validate;

/// Where the image (Dockerfile) puts the pipeline files.
pub const IMAGE_PIPELINE_DIR: &str = "/opt/engage/pipelines";
/// The hosted runtime config the image carries (config/hosted.toml, copied by the Dockerfile).
pub const IMAGE_CONFIG_PATH: &str = "/opt/engage/config/hosted.toml";
