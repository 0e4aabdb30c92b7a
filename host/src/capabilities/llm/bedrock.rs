//! Bedrock as the `llm` backend (aws-sdk-bedrockruntime): `complete` is one
//! Converse call (Claude 3 Haiku unless `llm.chat_model` says otherwise),
//! `embed` one InvokeModel call per text on Titan Text Embeddings v2, a few at
//! a time. Throttling (429 ThrottlingException), 5xx and timeouts are retried
//! by the SDK's standard retry mode that [`AwsContext`] configures; a permanent
//! error names bedrock, the operation, the model id and AWS's message.
//! Credentials come from the SDK's chain and never reach an error or a log.

use std::sync::Arc;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Region;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message, SystemContentBlock};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::{CompletionOptions, LanguageModel, ModelIds};
use crate::aws::{AwsContext, service_error};
use crate::capabilities::{CapResult, CapabilityError};
use crate::config::LlmConfig;

pub const DEFAULT_CHAT_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub const DEFAULT_EMBED_MODEL: &str = "amazon.titan-embed-text-v2:0";
/// Titan v2 returns 1024, 512 or 256 dimensions; 1024 is its default and its best.
pub const EMBED_DIMENSIONS: u32 = 1024;
/// InvokeModel calls in flight at once while embedding many texts.
const EMBED_CONCURRENCY: usize = 8;
/// Titan v2 takes up to 8,192 tokens; at a few characters a token this keeps well inside it.
const EMBED_MAX_CHARS: usize = 20_000;

pub struct BedrockModel {
    aws: Arc<AwsContext>,
    /// The endpoint, for messages.
    at: String,
    client: Client,
    chat_model: String,
    embed_model: String,
}

impl BedrockModel {
    /// A client on `aws`'s SDK config, with `[llm]`'s own region and endpoint when set.
    pub fn new(aws: Arc<AwsContext>, settings: &LlmConfig) -> Self {
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(aws.sdk());
        if let Some(region) = &settings.region {
            config = config.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            config = config.endpoint_url(url.clone());
        }
        Self {
            client: Client::from_conf(config.build()),
            at: aws.endpoint_label("bedrock-runtime", settings.endpoint_url.as_deref(), settings.region.as_deref()),
            aws,
            chat_model: settings.chat_model.clone().unwrap_or_else(|| DEFAULT_CHAT_MODEL.into()),
            embed_model: settings.embed_model.clone().unwrap_or_else(|| DEFAULT_EMBED_MODEL.into()),
        }
    }

    /// One Converse call: a user message, the system text, the inference settings; the reply's text blocks joined.
    fn converse(&self, prompt: &str, options: &CompletionOptions) -> CapResult<String> {
        let model = self.chat_model.clone();
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.to_string()))
            .build()
            .map_err(|e| CapabilityError::invalid(format!("bedrock Converse model {model}: {e}")))?;
        let mut inference = InferenceConfiguration::builder().temperature(options.temperature);
        if options.max_tokens > 0 {
            inference = inference.max_tokens(options.max_tokens.min(i32::MAX as u32) as i32);
        }
        if !options.stop.is_empty() {
            inference = inference.set_stop_sequences(Some(options.stop.clone()));
        }
        let mut request = self.client.converse().model_id(&model).messages(message).inference_config(inference.build());
        if let Some(system) = options.system.as_deref().filter(|s| !s.is_empty()) {
            request = request.system(SystemContentBlock::Text(system.to_string()));
        }
        let target = format!("model {model}");
        let at = self.at.clone();
        let response =
            self.aws.block_on(async move { request.send().await.map_err(|e| service_error("bedrock", "Converse", &target, &at, e)) })?;
        match response.output() {
            Some(ConverseOutput::Message(reply)) => {
                Ok(reply.content().iter().filter_map(|block| block.as_text().ok().map(String::as_str)).collect::<Vec<_>>().join(""))
            }
            _ => Err(CapabilityError::internal(format!(
                "bedrock Converse model {model}: the reply holds no message (stop reason {})",
                response.stop_reason().as_str()
            ))),
        }
    }

    /// Titan v2 vectors for `texts`, in order, `EMBED_CONCURRENCY` calls at a time.
    fn embed_all(&self, texts: &[String]) -> CapResult<Vec<Vec<f32>>> {
        let model = self.embed_model.clone();
        for (i, text) in texts.iter().enumerate() {
            if text.trim().is_empty() {
                return Err(CapabilityError::invalid(format!(
                    "bedrock InvokeModel model {model}: text {i} is empty (Titan embeds no empty text)"
                )));
            }
        }
        let requests: Vec<_> = texts
            .iter()
            .map(|text| {
                let text: String = text.chars().take(EMBED_MAX_CHARS).collect();
                let body = json!({ "inputText": text, "dimensions": EMBED_DIMENSIONS, "normalize": true });
                self.client
                    .invoke_model()
                    .model_id(&model)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(Blob::new(serde_json::to_vec(&body).expect("a JSON value serialises")))
            })
            .collect();
        let at = self.at.clone();
        self.aws.block_on(async move {
            let target = format!("model {model}");
            let calls = requests.into_iter().map(|request| {
                let (target, at) = (target.clone(), at.clone());
                async move {
                    let response = request.send().await.map_err(|e| service_error("bedrock", "InvokeModel", &target, &at, e))?;
                    titan_vector(response.body().as_ref(), &target)
                }
            });
            // The first failure ends the batch: the calls not yet started are not made (a wrong endpoint
            // or missing credentials fail every call alike, each after its retries).
            futures::stream::iter(calls).buffered(EMBED_CONCURRENCY).try_collect::<Vec<_>>().await
        })
    }
}

/// The `embedding` of a Titan v2 reply.
fn titan_vector(body: &[u8], target: &str) -> CapResult<Vec<f32>> {
    let bad = |what: &str| CapabilityError::internal(format!("bedrock InvokeModel {target}: {what}"));
    let reply: Value = serde_json::from_slice(body).map_err(|e| bad(&format!("the reply is not JSON: {e}")))?;
    let vector = reply.get("embedding").and_then(Value::as_array).ok_or_else(|| bad("the reply has no 'embedding' list"))?;
    if vector.is_empty() {
        return Err(bad("the reply's 'embedding' is empty"));
    }
    vector.iter().map(|v| v.as_f64().map(|f| f as f32).ok_or_else(|| bad("'embedding' holds something that is not a number"))).collect()
}

impl LanguageModel for BedrockModel {
    fn complete(&self, prompt: &str, options: &CompletionOptions) -> CapResult<String> {
        self.converse(prompt, options)
    }

    fn embed(&self, texts: &[String]) -> CapResult<Vec<Vec<f32>>> {
        self.embed_all(texts)
    }

    fn describe(&self) -> ModelIds {
        ModelIds { backend: "bedrock", chat_model: Some(self.chat_model.clone()), embed_model: Some(self.embed_model.clone()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_titan_replies_and_names_what_is_wrong() {
        assert_eq!(titan_vector(br#"{"embedding":[0.5,-0.25],"inputTextTokenCount":3}"#, "model m").unwrap(), vec![0.5, -0.25]);
        let error = titan_vector(br#"{"vector":[1]}"#, "model m").unwrap_err();
        assert!(error.message.contains("bedrock InvokeModel model m: the reply has no 'embedding' list"), "{error}");
        assert!(titan_vector(b"<html>", "model m").unwrap_err().message.contains("not JSON"));
    }
}
