//! Text generation and embeddings. Backends: the built-in answerer (`local`,
//! the local host's default); `NoLanguageModel` answers
//! `unavailable` where none is configured.

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

pub trait LanguageModel: Send + Sync {
    fn complete(&self, prompt: &str, options: &CompletionOptions) -> CapResult<String>;
    fn embed(&self, texts: &[String]) -> CapResult<Vec<Vec<f32>>>;
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
}
