//! One run's knowledge base as the knowledge step left it: the chunk index and
//! the facts, read from `knowledge/run=<id>/`.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::chunks::{CHUNKS_FILE, Chunk, FACTS_FILE, from_jsonl};
use crate::capabilities::storage::ObjectStore;
use crate::pipeline::record::{RunStore, is_run_id};
use crate::pipeline::step::KNOWLEDGE_BUCKET;

pub struct KnowledgeBase {
    pub run_id: String,
    pub run_db: String,
    pub chunks: Vec<Chunk>,
    pub facts: Value,
}

impl KnowledgeBase {
    /// The knowledge base of `run` (default: the newest published run).
    pub fn load(storage: std::sync::Arc<dyn ObjectStore>, run: Option<&str>) -> Result<Self> {
        let run_id = match run {
            Some(id) if is_run_id(id) => RunStore::new(storage.clone()).finished(id)?.run_id,
            Some(id) => bail!("--run '{id}' is not a run id (like 20261125-101500-a3f9)"),
            None => {
                RunStore::new(storage.clone()).latest()?.context("no published run yet: run the pipeline first, or name one with --run")?
            }
        };
        let read = |name: &str| -> Result<String> {
            let key = format!("run={run_id}/{name}");
            let bytes = storage
                .get(KNOWLEDGE_BUCKET, &key)
                .map_err(|e| anyhow::anyhow!("run {run_id} has no knowledge base (s3://{KNOWLEDGE_BUCKET}/{key}: {e})"))?;
            String::from_utf8(bytes).with_context(|| format!("s3://{KNOWLEDGE_BUCKET}/{key} is not UTF-8"))
        };
        let chunks =
            from_jsonl(&read(CHUNKS_FILE)?, &format!("s3://{KNOWLEDGE_BUCKET}/run={run_id}/{CHUNKS_FILE}")).map_err(anyhow::Error::msg)?;
        let facts: Value =
            serde_json::from_str(&read(FACTS_FILE)?).with_context(|| format!("s3://{KNOWLEDGE_BUCKET}/run={run_id}/{FACTS_FILE}"))?;
        let run_db = facts["run_db"].as_str().map(str::to_string).unwrap_or_else(|| crate::pipeline::vars::run_db(&run_id));
        Ok(Self { run_id, run_db, chunks, facts })
    }

    pub fn chunk(&self, id: &str) -> Option<&Chunk> {
        self.chunks.iter().find(|c| c.id == id)
    }
}
