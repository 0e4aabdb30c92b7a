//! The `[llm]` backends of the runtime config that live on AWS.

use std::sync::Arc;

use super::LanguageModel;
use super::bedrock::BedrockModel;
use crate::aws::AwsContext;
use crate::capabilities::CapResult;
use crate::config::LlmConfig;

/// Bedrock: Converse for `chat_model`, InvokeModel for `embed_model` (Claude 3 Haiku and Titan v2 when unset).
pub fn bedrock(settings: &LlmConfig, aws: &Arc<AwsContext>) -> CapResult<Arc<dyn LanguageModel>> {
    Ok(Arc::new(BedrockModel::new(aws.clone(), settings)))
}
