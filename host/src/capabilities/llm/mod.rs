//! Text generation and embeddings. Backends: the built-in answerer (`local`,
//! the local host's default), Bedrock (`bedrock`); `NoLanguageModel` answers
//! `unavailable` where none is configured.

pub mod bedrock;
pub mod bedrock_kb;
pub mod fixture;
pub mod host;
pub mod hosted;
pub mod local;

use super::{CapResult, CapabilityError};

#[derive(Debug, Clone, PartialEq)]
pub struct CompletionOptions {
    pub system: Option<String>,
    pub max_tokens: u32,
    pub temperature: f32,
    pub stop: Vec<String>,
}

/// Which backend and models answer, for people and `--json` output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelIds {
    pub backend: &'static str,
    pub chat_model: Option<String>,
    pub embed_model: Option<String>,
}

pub trait LanguageModel: Send + Sync {
    fn complete(&self, prompt: &str, options: &CompletionOptions) -> CapResult<String>;
    fn embed(&self, texts: &[String]) -> CapResult<Vec<Vec<f32>>>;
    fn describe(&self) -> ModelIds {
        ModelIds { backend: "local", chat_model: None, embed_model: None }
    }
}

/// The backend used when none is configured.
pub struct NoLanguageModel;

impl LanguageModel for NoLanguageModel {
    fn complete(&self, _: &str, _: &CompletionOptions) -> CapResult<String> {
        Err(CapabilityError::unavailable("no llm backend is configured"))
    }
    fn embed(&self, _: &[String]) -> CapResult<Vec<Vec<f32>>> {
        Err(CapabilityError::unavailable("no llm backend is configured"))
    }
    fn describe(&self) -> ModelIds {
        ModelIds { backend: "none", chat_model: None, embed_model: None }
    }
}
