//! BM25 over the knowledge base's chunks, with English stemming. A chunk's
//! heading and the column names it documents weigh more than its body, so
//! "what does avg_session_minutes_30d mean" finds that column's own chunk first.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

use super::chunks::Chunk;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// How much a term in each field counts against one in the body.
const HEADING_WEIGHT: f64 = 3.0;
const COLUMN_WEIGHT: f64 = 4.0;
const TITLE_WEIGHT: f64 = 1.5;

/// Words that carry no subject: question words, fillers, and verbs every question has.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "do", "does", "did", "what", "which", "who", "whom", "how", "why", "when",
    "where", "of", "in", "on", "for", "to", "by", "at", "with", "from", "as", "and", "or", "not", "it", "its", "this", "that", "these",
    "those", "there", "i", "we", "you", "our", "my", "me", "us", "your", "can", "could", "would", "should", "will", "shall", "may",
    "might", "must", "about", "tell", "show", "give", "explain", "mean", "means", "meaning", "please", "much", "many", "any", "some",
    "has", "have", "had", "than", "so", "if", "then", "into", "up", "out", "s", "column", "columns", "field",
];

pub struct Tokenizer {
    stemmer: Stemmer,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self { stemmer: Stemmer::create(Algorithm::English) }
    }
}

impl Tokenizer {
    /// Lower-cased stemmed words, stopwords dropped. A name with underscores
    /// (`sessions_7d`) yields itself whole and its stemmed parts.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
            let word = word.to_lowercase();
            if word.contains('_') {
                let parts: Vec<&str> = word.split('_').filter(|p| !p.is_empty()).collect();
                if parts.len() > 1 {
                    out.push(word.clone());
                }
                for part in parts {
                    if !STOPWORDS.contains(&part) {
                        out.push(self.stemmer.stem(part).into_owned());
                    }
                }
            } else if !STOPWORDS.contains(&word.as_str()) {
                out.push(Self::same_root(self.stemmer.stem(&word).into_owned()));
            }
        }
        out
    }
}

impl Tokenizer {
    /// Stems Snowball keeps apart though a question means the same: "defined" (defin) and "definitions" (definit).
    fn same_root(stem: String) -> String {
        match stem.as_str() {
            "definit" => "defin".into(),
            _ => stem,
        }
    }
}

struct Doc {
    /// Weighted term frequency.
    terms: HashMap<String, f64>,
    length: f64,
}

pub struct Index {
    tokenizer: Tokenizer,
    docs: Vec<Doc>,
    /// term -> number of chunks holding it.
    df: HashMap<String, usize>,
    avg_length: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index into the chunks the index was built from.
    pub chunk: usize,
    pub score: f64,
    /// Share of the query's distinct terms this chunk holds (0-1).
    pub coverage: f64,
}

impl Index {
    pub fn build(chunks: &[Chunk]) -> Self {
        let tokenizer = Tokenizer::default();
        let mut df: HashMap<String, usize> = HashMap::new();
        let docs: Vec<Doc> = chunks
            .iter()
            .map(|c| {
                let mut terms: HashMap<String, f64> = HashMap::new();
                let mut add = |text: &str, weight: f64| {
                    for t in tokenizer.tokens(text) {
                        *terms.entry(t).or_default() += weight;
                    }
                };
                add(&c.heading, HEADING_WEIGHT);
                add(&c.title, TITLE_WEIGHT);
                add(&c.columns.join(" "), COLUMN_WEIGHT);
                add(&c.text, 1.0);
                for t in terms.keys() {
                    *df.entry(t.clone()).or_default() += 1;
                }
                let length = terms.values().sum();
                Doc { terms, length }
            })
            .collect();
        let avg_length = if docs.is_empty() { 1.0 } else { docs.iter().map(|d| d.length).sum::<f64>() / docs.len() as f64 };
        Self { tokenizer, docs, df, avg_length }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The best `k` chunks for `query`, best first; chunks sharing no term are left out.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        let mut terms = self.tokenizer.tokens(query);
        terms.sort();
        terms.dedup();
        if terms.is_empty() {
            return Vec::new();
        }
        let n = self.docs.len() as f64;
        let mut hits: Vec<Hit> = self
            .docs
            .iter()
            .enumerate()
            .filter_map(|(i, doc)| {
                let mut score = 0.0;
                let mut matched = 0;
                for t in &terms {
                    let Some(&tf) = doc.terms.get(t) else { continue };
                    matched += 1;
                    let df = self.df.get(t).copied().unwrap_or(0) as f64;
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    score += idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * doc.length / self.avg_length));
                }
                (matched > 0).then(|| Hit { chunk: i, score, coverage: matched as f64 / terms.len() as f64 })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.chunk.cmp(&b.chunk)));
        hits.truncate(k);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, heading: &str, text: &str, columns: &[&str]) -> Chunk {
        Chunk {
            id: id.into(),
            run_id: "r".into(),
            source: "s".into(),
            title: "Data dictionary".into(),
            heading: heading.into(),
            text: text.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn stems_and_weights_column_names() {
        let chunks = vec![
            chunk("a", "`sessions_30d`", "Sessions in the last 30 days. Average session minutes are elsewhere.", &["sessions_30d"]),
            chunk("b", "`avg_session_minutes_30d`", "Average length of a session over the last 30 days.", &["avg_session_minutes_30d"]),
            chunk("c", "Calibration", "Predicted probability against observed rates.", &[]),
        ];
        let index = Index::build(&chunks);
        let hits = index.search("What does avg_session_minutes_30d mean?", 5);
        assert_eq!(hits[0].chunk, 1);
        // Stemming: "calibrated" finds "Calibration".
        assert_eq!(index.search("is the model calibrated", 5)[0].chunk, 2);
        assert!(index.search("weather in Paris", 5).is_empty());
    }
}
