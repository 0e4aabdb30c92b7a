//! The language model faked from a plugin's fixtures (`engage plugin test`):
//! `<dir>/<name>.prompt` holds text a prompt must contain (whitespace collapsed),
//! `<name>.reply` the reply; the first match in name order answers. Embeddings are
//! the built-in hashed bag of words, so they are deterministic. A prompt no fixture
//! matches is an error naming it and the fixture folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{CompletionOptions, LanguageModel, ModelIds};
use crate::assistant::retrieval::Tokenizer;
use crate::capabilities::{CapResult, CapabilityError};

pub struct FixtureLanguageModel {
    dir: PathBuf,
    /// (text a prompt contains, reply), in file-name order.
    replies: Vec<(String, String)>,
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl FixtureLanguageModel {
    /// Reads every `<dir>/*.prompt` with its `.reply`; a missing folder means no replies.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut replies = Vec::new();
        if dir.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("listing {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "prompt"))
                .collect();
            files.sort();
            for file in files {
                let reply_file = file.with_extension("reply");
                if !reply_file.exists() {
                    bail!("{}: no reply beside it ({} is missing)", file.display(), reply_file.display());
                }
                let prompt = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let reply = std::fs::read_to_string(&reply_file).with_context(|| format!("reading {}", reply_file.display()))?;
                replies.push((flat(&prompt), reply.trim_end_matches('\n').to_string()));
            }
        }
        Ok(Self { dir: dir.to_path_buf(), replies })
    }
}

impl LanguageModel for FixtureLanguageModel {
    fn complete(&self, prompt: &str, _: &CompletionOptions) -> CapResult<String> {
        let wanted = flat(prompt);
        self.replies.iter().find(|(contains, _)| wanted.contains(contains.as_str())).map(|(_, reply)| reply.clone()).ok_or_else(|| {
            let shown: String = wanted.chars().take(160).collect();
            CapabilityError::not_found(format!(
                "no LLM fixture matches the prompt \"{shown}\": add <name>.prompt (text it contains) and <name>.reply to {}",
                self.dir.display()
            ))
        })
    }

    fn embed(&self, texts: &[String]) -> CapResult<Vec<Vec<f32>>> {
        let tokenizer = Tokenizer::default();
        Ok(texts.iter().map(|t| super::local::embed_text(&tokenizer, t)).collect())
    }

    fn describe(&self) -> ModelIds {
        ModelIds { backend: "fixtures", chat_model: None, embed_model: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_containing_the_fixture_text_gets_its_reply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.prompt"), "Summarise   the segments").unwrap();
        std::fs::write(dir.path().join("summary.reply"), "Most users are low.\n").unwrap();
        let llm = FixtureLanguageModel::load(dir.path()).unwrap();
        let options = CompletionOptions { system: None, max_tokens: 100, temperature: 0.0, stop: vec![] };
        assert_eq!(
            llm.complete("Please summarise the segments\nof run 1", &options).unwrap_err().code,
            crate::capabilities::ErrorCode::NotFound
        );
        assert_eq!(llm.complete("Please: Summarise the segments of run 1", &options).unwrap(), "Most users are low.");
        assert!(
            llm.complete("Something else", &options).unwrap_err().message.contains("no LLM fixture matches the prompt \"Something else\"")
        );
    }
}
