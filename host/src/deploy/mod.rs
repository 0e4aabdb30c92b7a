//! What an operator needs to schedule a pipeline on AWS outside Engage: the
//! Step Functions definition and the ECS task definition for the image.

pub mod asl;
pub mod task_definition;
