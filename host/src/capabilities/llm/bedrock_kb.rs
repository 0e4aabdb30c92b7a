//! A Bedrock Knowledge Base as the assistant's retriever and writer
//! (aws-sdk-bedrockagentruntime RetrieveAndGenerate), for deployments that
//! index the knowledge zone in one: Bedrock retrieves, Claude writes, and the
//! reply comes back with the passages each part of it cites. The assistant then
//! checks that reply as it checks its own Converse answers (see
//! `assistant::grounded`). Errors name bedrock-agent, the operation and the
//! knowledge base; credentials never reach one.

use std::sync::Arc;

use aws_sdk_bedrockagentruntime::Client;
use aws_sdk_bedrockagentruntime::config::Region;
use aws_sdk_bedrockagentruntime::types::{
    KnowledgeBaseRetrieveAndGenerateConfiguration, RetrieveAndGenerateConfiguration, RetrieveAndGenerateInput, RetrieveAndGenerateType,
};

use super::bedrock::DEFAULT_CHAT_MODEL;
use crate::aws::{AwsContext, service_error};
use crate::capabilities::{CapResult, CapabilityError};
use crate::config::LlmConfig;

/// One passage the knowledge base retrieved and the reply cites.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub text: String,
    /// Where the passage comes from (`s3://bucket/key` for an S3 data source).
    pub uri: Option<String>,
}

/// RetrieveAndGenerate's reply: the generated text and every passage it cites, in order, once each.
#[derive(Debug, Clone)]
pub struct KnowledgeBaseReply {
    pub text: String,
    pub passages: Vec<Passage>,
}

pub struct BedrockKnowledgeBase {
    aws: Arc<AwsContext>,
    /// The endpoint, for messages.
    at: String,
    client: Client,
    knowledge_base_id: String,
    model_arn: String,
}

impl BedrockKnowledgeBase {
    /// The knowledge base `[llm] knowledge_base_id` names, or None when it names none.
    pub fn from_config(aws: Arc<AwsContext>, settings: &LlmConfig) -> Option<Self> {
        let id = settings.knowledge_base_id.clone()?;
        let mut config = aws_sdk_bedrockagentruntime::config::Builder::from(aws.sdk());
        if let Some(region) = &settings.region {
            config = config.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            config = config.endpoint_url(url.clone());
        }
        let config = config.build();
        let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let chat_model = settings.chat_model.as_deref().unwrap_or(DEFAULT_CHAT_MODEL);
        // A foundation model is named by its ARN here, not its id.
        let model_arn = settings.knowledge_base_model_arn.clone().unwrap_or_else(|| format!("arn:aws:bedrock:{region}::foundation-model/{chat_model}"));
        let at = aws.endpoint_label("bedrock-agent-runtime", settings.endpoint_url.as_deref(), Some(&region));
        Some(Self { client: Client::from_conf(config), aws, at, knowledge_base_id: id, model_arn })
    }

    pub fn id(&self) -> &str {
        &self.knowledge_base_id
    }

    pub fn model_arn(&self) -> &str {
        &self.model_arn
    }

    /// One RetrieveAndGenerate call for `question`.
    pub fn retrieve_and_generate(&self, question: &str) -> CapResult<KnowledgeBaseReply> {
        let target = format!("knowledge base {}", self.knowledge_base_id);
        let invalid = |e: &dyn std::fmt::Display| CapabilityError::invalid(format!("bedrock-agent RetrieveAndGenerate {target}: {e}"));
        let input = RetrieveAndGenerateInput::builder().text(question).build().map_err(|e| invalid(&e))?;
        let knowledge_base = KnowledgeBaseRetrieveAndGenerateConfiguration::builder()
            .knowledge_base_id(&self.knowledge_base_id)
            .model_arn(&self.model_arn)
            .build()
            .map_err(|e| invalid(&e))?;
        let configuration = RetrieveAndGenerateConfiguration::builder()
            .r#type(RetrieveAndGenerateType::KnowledgeBase)
            .knowledge_base_configuration(knowledge_base)
            .build()
            .map_err(|e| invalid(&e))?;
        let request = self.client.retrieve_and_generate().input(input).retrieve_and_generate_configuration(configuration);
        let at = self.at.clone();
        let response = self.aws.block_on(async move {
            request.send().await.map_err(|e| service_error("bedrock-agent", "RetrieveAndGenerate", &target, &at, e))
        })?;
        let text = response.output().map(|o| o.text().to_string()).unwrap_or_default();
        let mut passages: Vec<Passage> = Vec::new();
        for reference in response.citations().iter().flat_map(|c| c.retrieved_references()) {
            let passage = Passage {
                text: reference.content().map(|c| c.text().to_string()).unwrap_or_default(),
                uri: reference.location().and_then(|l| l.s3_location()).and_then(|s3| s3.uri()).map(str::to_string),
            };
            if !passage.text.trim().is_empty() && !passages.contains(&passage) {
                passages.push(passage);
            }
        }
        Ok(KnowledgeBaseReply { text, passages })
    }
}
