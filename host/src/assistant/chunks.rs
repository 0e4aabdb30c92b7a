//! The knowledge base's unit of retrieval: a markdown document split at its
//! headings, one chunk per `##`/`###` section (one per column in the data
//! dictionary, one per report section elsewhere). A chunk's id is stable from
//! week to week (`<document>#<heading slug>`); the run id says which week.

use serde::{Deserialize, Serialize};

/// Name of the chunk index beside a run's documents: one JSON chunk per line.
pub const CHUNKS_FILE: &str = "chunks.jsonl";
/// Name of the machine-readable facts beside a run's documents.
pub const FACTS_FILE: &str = "facts.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// `<document stem>#<heading slug>`, e.g. `data-dictionary#sessions_7d`.
    pub id: String,
    pub run_id: String,
    /// Where the document is: `s3://knowledge/run=<id>/<name>.md`.
    pub source: String,
    /// The document's `#` title.
    pub title: String,
    /// The section's own heading (without `#`s).
    pub heading: String,
    /// The section's text, heading line included.
    pub text: String,
    /// Column and feature names the section is about (its backticked words).
    pub columns: Vec<String>,
}

/// Lower case, letters, digits and `_` kept, every other run of characters one `-`.
pub fn slug(heading: &str) -> String {
    let mut out = String::new();
    for c in heading.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn backticked(text: &str) -> Vec<String> {
    let mut names: Vec<String> =
        text.split('`').skip(1).step_by(2).filter(|w| !w.is_empty() && !w.contains(' ')).map(str::to_string).collect();
    names.sort();
    names.dedup();
    names
}

/// Splits `markdown` at every `##` or `###` heading. The text before the first
/// section (title and introduction) becomes the `<stem>#overview` chunk. A
/// heading that repeats within a document gets `-2`, `-3`, ... so ids stay unique.
pub fn split(markdown: &str, stem: &str, source: &str, run_id: &str) -> Vec<Chunk> {
    let title = markdown.lines().find_map(|l| l.strip_prefix("# ")).unwrap_or(stem).trim().to_string();
    let mut sections: Vec<(String, String)> = vec![("overview".into(), String::new())];
    for line in markdown.lines() {
        let heading = line.strip_prefix("### ").or_else(|| line.strip_prefix("## "));
        match heading {
            Some(h) => sections.push((h.trim().to_string(), format!("{line}\n"))),
            None => {
                let text = &mut sections.last_mut().expect("one section at least").1;
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let mut seen = std::collections::HashMap::<String, usize>::new();
    sections
        .into_iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|(heading, text)| {
            let base = slug(&heading.replace('`', ""));
            let n = seen.entry(base.clone()).and_modify(|n| *n += 1).or_insert(1);
            let id = if *n == 1 { format!("{stem}#{base}") } else { format!("{stem}#{base}-{n}") };
            let heading = if heading == "overview" { title.clone() } else { heading };
            Chunk {
                id,
                run_id: run_id.into(),
                source: source.into(),
                title: title.clone(),
                columns: backticked(&text),
                heading,
                text: text.trim_end().to_string(),
            }
        })
        .collect()
}

/// The index file's text: one chunk per line.
pub fn to_jsonl(chunks: &[Chunk]) -> String {
    chunks.iter().map(|c| serde_json::to_string(c).expect("chunks serialize") + "\n").collect()
}

/// Reads an index file, naming the line that is not a chunk.
pub fn from_jsonl(text: &str, path: &str) -> Result<Vec<Chunk>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{path} line {}: not a chunk: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_headings_with_stable_unique_ids() {
        let md = "# Data dictionary\n\nIntro.\n\n## Raw columns: sessions\n\n### `sessions_7d`\n\nSessions in the last 7 days.\n\n### `sessions_7d`\n\nAgain.\n";
        let chunks = split(md, "data-dictionary", "s3://knowledge/run=r/data-dictionary.md", "r");
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "data-dictionary#overview",
                "data-dictionary#raw-columns-sessions",
                "data-dictionary#sessions_7d",
                "data-dictionary#sessions_7d-2"
            ]
        );
        assert_eq!(chunks[2].heading, "`sessions_7d`");
        assert_eq!(chunks[2].columns, ["sessions_7d"]);
        assert!(chunks[2].text.contains("Sessions in the last 7 days."));
        assert_eq!(chunks[0].title, "Data dictionary");
        let back = from_jsonl(&to_jsonl(&chunks), "x").unwrap();
        assert_eq!(back, chunks);
        assert!(from_jsonl("{}\n", "k/chunks.jsonl").unwrap_err().starts_with("k/chunks.jsonl line 1"));
    }
}
