//! The `[llm]` backends of the runtime config that live on AWS.

use std::sync::Arc;

use super::LanguageModel;
use crate::aws::AwsContext;
use crate::capabilities::{CapResult, CapabilityError};
use crate::config::LlmConfig;

/// Bedrock (Converse for `chat_model`, InvokeModel for `embed_model`): built with the assistant.
pub fn bedrock(_settings: &LlmConfig, _aws: &Arc<AwsContext>) -> CapResult<Arc<dyn LanguageModel>> {
    Err(CapabilityError::unavailable("bedrock llm backend not built in"))
}
