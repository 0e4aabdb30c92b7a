//! The WIT `llm` interface for one guest: check the grant, then call the backend.

use std::sync::Arc;

use wasmtime::component::HasData;

use super::{CompletionOptions, LanguageModel};
use crate::capabilities::grants::Grants;
use crate::capabilities::trace::{self, Size, Tracer};
use crate::runtime::bindings::llm;
use crate::runtime::errors::HostError;

pub struct LlmHost {
    stage: String,
    grants: Arc<Grants>,
    model: Arc<dyn LanguageModel>,
    tracer: Option<Tracer>,
}

pub struct HasLlm;

impl HasData for HasLlm {
    type Data<'a> = &'a mut LlmHost;
}

impl LlmHost {
    pub fn new(stage: &str, grants: Arc<Grants>, model: Arc<dyn LanguageModel>) -> Self {
        Self { stage: stage.to_string(), grants, model, tracer: None }
    }

    /// Reports every call to `tracer` (`--trace`).
    pub fn traced(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }
}

impl crate::runtime::bindings::types::Host for LlmHost {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<crate::runtime::bindings::types::Error> {
        crate::runtime::convert_host_error(err)
    }
}

impl llm::Host for LlmHost {
    fn complete(&mut self, prompt: String, options: llm::CompletionOptions) -> Result<String, HostError> {
        let tracer = self.tracer.clone();
        let args = Size::bytes(prompt.len() + options.system.as_ref().map_or(0, |s| s.len()) + options.stop.iter().map(|s| s.len()).sum::<usize>());
        trace::call(tracer.as_ref(), "llm.complete", args, || {
            self.grants.check_llm(&self.stage)?;
            let options = CompletionOptions {
                system: options.system,
                max_tokens: options.max_tokens,
                temperature: options.temperature,
                stop: options.stop,
            };
            let reply = self.model.complete(&prompt, &options)?;
            let size = Size::bytes(reply.len());
            Ok((reply, size))
        })
    }

    fn embed(&mut self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "llm.embed", Size::table(texts.len(), texts.iter().map(|t| t.len()).sum()), || {
            self.grants.check_llm(&self.stage)?;
            let vectors = self.model.embed(&texts)?;
            let size = Size::table(vectors.len(), vectors.iter().map(|v| v.len() * 4).sum());
            Ok((vectors, size))
        })
    }
}
