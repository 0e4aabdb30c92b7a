//! The WIT `llm` interface for one guest: check the grant, then call the backend.

use std::sync::Arc;

use wasmtime::component::HasData;

use super::{CompletionOptions, LanguageModel};
use crate::capabilities::grants::Grants;
use crate::runtime::bindings::llm;
use crate::runtime::errors::HostError;

pub struct LlmHost {
    stage: String,
    grants: Arc<Grants>,
    model: Arc<dyn LanguageModel>,
}

pub struct HasLlm;

impl HasData for HasLlm {
    type Data<'a> = &'a mut LlmHost;
}

impl LlmHost {
    pub fn new(stage: &str, grants: Arc<Grants>, model: Arc<dyn LanguageModel>) -> Self {
        Self { stage: stage.to_string(), grants, model }
    }
}

impl crate::runtime::bindings::types::Host for LlmHost {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<crate::runtime::bindings::types::Error> {
        crate::runtime::convert_host_error(err)
    }
}

impl llm::Host for LlmHost {
    fn complete(&mut self, prompt: String, options: llm::CompletionOptions) -> Result<String, HostError> {
        self.grants.check_llm(&self.stage)?;
        let options = CompletionOptions {
            system: options.system,
            max_tokens: options.max_tokens,
            temperature: options.temperature,
            stop: options.stop,
        };
        Ok(self.model.complete(&prompt, &options)?)
    }

    fn embed(&mut self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, HostError> {
        self.grants.check_llm(&self.stage)?;
        Ok(self.model.embed(&texts)?)
    }
}
