//! The built-in answerer as the `llm` capability's backend: `complete` answers
//! the prompt with the assistant over the newest published run (its text and
//! citations; "I don't know" when nothing backs an answer); `embed` is a
//! hashed bag of stemmed words (256 dimensions, unit length), enough to compare
//! texts offline with no model download.

use std::sync::Arc;

use super::{CompletionOptions, LanguageModel};
use crate::assistant::Assistant;
use crate::assistant::answer::Citation;
use crate::assistant::kb::KnowledgeBase;
use crate::assistant::retrieval::Tokenizer;
use crate::capabilities::sql::SqlEngine;
use crate::capabilities::storage::ObjectStore;
use crate::capabilities::{CapResult, CapabilityError};

/// Dimensions of the hashed embeddings.
pub const EMBEDDING_DIMENSIONS: usize = 256;

pub struct LocalLanguageModel {
    storage: Arc<dyn ObjectStore>,
    sql: Arc<dyn SqlEngine>,
}

impl LocalLanguageModel {
    pub fn new(storage: Arc<dyn ObjectStore>, sql: Arc<dyn SqlEngine>) -> Self {
        Self { storage, sql }
    }
}

/// A text as a unit vector of hashed stemmed-word counts.
pub fn embed_text(tokenizer: &Tokenizer, text: &str) -> Vec<f32> {
    use std::hash::Hasher;
    let mut v = vec![0f32; EMBEDDING_DIMENSIONS];
    for token in tokenizer.tokens(text) {
        let mut h = twox_hash::XxHash64::with_seed(0);
        h.write(token.as_bytes());
        let hash = h.finish();
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        v[(hash % EMBEDDING_DIMENSIONS as u64) as usize] += sign;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl LanguageModel for LocalLanguageModel {
    fn complete(&self, prompt: &str, options: &CompletionOptions) -> CapResult<String> {
        let kb = KnowledgeBase::load(self.storage.clone(), None)
            .map_err(|e| CapabilityError::unavailable(format!("the built-in answerer: {e:#}")))?;
        let answer = Assistant::new(kb, self.sql.clone()).ask(prompt);
        let sources: Vec<String> = answer
            .citations
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Citation::Chunk { id, .. } => format!("[{}] {id}", i + 1),
                Citation::Query { table, sql } => format!("[{}] {table}: {sql}", i + 1),
            })
            .collect();
        let mut text = answer.text;
        if !sources.is_empty() {
            text = format!("{text}\nSources:\n{}", sources.join("\n"));
        }
        // Stop sequences and the token budget (about 4 characters a token) apply as they would to a model.
        if let Some(at) = options.stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min() {
            text.truncate(at);
        }
        let budget = (options.max_tokens as usize).saturating_mul(4);
        if options.max_tokens > 0 && text.len() > budget {
            let cut = (0..=budget).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.truncate(cut);
        }
        Ok(text)
    }

    fn embed(&self, texts: &[String]) -> CapResult<Vec<Vec<f32>>> {
        let tokenizer = Tokenizer::default();
        Ok(texts.iter().map(|t| embed_text(&tokenizer, t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_texts_embed_closer_than_unrelated_ones() {
        let t = Tokenizer::default();
        let a = embed_text(&t, "average session minutes over 30 days");
        let b = embed_text(&t, "the average length of sessions in minutes");
        let c = embed_text(&t, "refunds and coupons used");
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        assert!(dot(&a, &b) > dot(&a, &c));
    }
}
