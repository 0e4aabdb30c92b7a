//! Scores the assistant on a question set with answer keys (JSON lines):
//!
//! ```json
//! {"id": "q1", "question": "How many users are in the low segment?",
//!  "expect": {"sql": "SELECT count(*) FROM {run_db}.engagement_results WHERE segment = 'low'"},
//!  "sources": ["table:engagement_results"]}
//! ```
//!
//! `expect` is one of `{"sql": ...}` (the first cell of its result is the answer;
//! `{run_db}` is the run's database), `{"fact": "/json/pointer"}` into the run's
//! facts, `{"contains": ["text", ...]}`, or `{"decline": true}` (the assistant
//! must decline or refuse). A numeric key matches the answer's value within
//! `tolerance` (default 0.0001); a text key must appear in the answer text.
//! `sources` are chunk ids or `table:<name>`.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Assistant;
use super::answer::{Answer, Status};
use super::numbers::unbacked;
use crate::capabilities::sql::athena::render;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub question: String,
    pub expect: Expect,
    #[serde(default)]
    pub tolerance: Option<f64>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Expect {
    Sql(String),
    Fact(String),
    Contains(Vec<String>),
    Decline(bool),
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub id: String,
    pub question: String,
    pub expected: String,
    pub answer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub answerable: usize,
    pub answerable_correct: usize,
    pub must_decline: usize,
    pub declined: usize,
    pub abstention_accuracy: f64,
    /// Answerable questions the assistant declined anyway.
    pub false_declines: usize,
    pub citation_precision: f64,
    pub citation_recall: f64,
    /// Questions whose expected chunks are all in the 5 best retrieved.
    pub retrieval_recall_at_5: f64,
    pub retrieval_questions: usize,
    /// Answered questions whose every number is in their cited evidence.
    pub numbers_backed: f64,
    pub answered: usize,
    pub latency_ms: Latency,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

/// Reads a question file, naming the line that is wrong.
pub fn load(text: &str, path: &str) -> Result<Vec<Question>> {
    let mut questions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).with_context(|| format!("{path} line {}", i + 1))?;
        if questions.iter().any(|p: &Question| p.id == q.id) {
            bail!("{path} line {}: question id '{}' repeats", i + 1, q.id);
        }
        questions.push(q);
    }
    if questions.is_empty() {
        bail!("{path}: no questions");
    }
    Ok(questions)
}

enum Key {
    Number(f64),
    Text(Vec<String>),
    Decline,
}

fn key(assistant: &Assistant, q: &Question) -> Result<Key> {
    let from_value = |v: &Value| match v {
        Value::Number(n) => Ok(Key::Number(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => Ok(Key::Text(vec![s.clone()])),
        other => bail!("question {}: the key is {other}, not a number or text", q.id),
    };
    match &q.expect {
        Expect::Decline(true) => Ok(Key::Decline),
        Expect::Decline(false) => bail!("question {}: \"decline\": false is not a key", q.id),
        Expect::Contains(texts) => Ok(Key::Text(texts.clone())),
        Expect::Fact(pointer) => {
            let v = assistant.kb.facts.pointer(pointer).with_context(|| format!("question {}: the facts have no {pointer}", q.id))?;
            from_value(v)
        }
        Expect::Sql(sql) => {
            let sql = sql.replace("{run_db}", &assistant.kb.run_db);
            let result = assistant.sql.query(&sql).map_err(|e| anyhow::anyhow!("question {}: the key's SQL failed: {e}", q.id))?;
            let cell = render::rows(&result.batches).into_iter().next().and_then(|r| r.into_iter().next()).flatten();
            let cell = cell.with_context(|| format!("question {}: the key's SQL returned nothing", q.id))?;
            Ok(cell.parse::<f64>().map(Key::Number).unwrap_or(Key::Text(vec![cell])))
        }
    }
}

fn is_correct(key: &Key, answer: &Answer, tolerance: f64) -> bool {
    let answered = answer.status == Status::Answered;
    match key {
        Key::Decline => !answered,
        Key::Number(n) => answered && answer.value.is_some_and(|v| (v - n).abs() <= tolerance),
        Key::Text(texts) => answered && texts.iter().all(|t| answer.text.to_lowercase().contains(&t.to_lowercase())),
    }
}

fn key_text(key: &Key) -> String {
    match key {
        Key::Number(n) => n.to_string(),
        Key::Text(t) => t.join(" + "),
        Key::Decline => "declined".into(),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores `answer` (the built-in answerer: `|q| Ok(assistant.ask(q))`) on `questions`; keys are computed on `assistant`'s run.
pub fn evaluate(assistant: &Assistant, questions: &[Question], answer: &dyn Fn(&str) -> Result<Answer, String>) -> Result<Report> {
    let (mut correct, mut answerable, mut answerable_correct, mut must_decline, mut declined, mut false_declines) = (0, 0, 0, 0, 0, 0);
    let (mut cited_hits, mut cited_total, mut expected_hits, mut expected_total) = (0, 0, 0, 0);
    let (mut retrieval_hits, mut retrieval_questions, mut answered, mut backed) = (0, 0, 0, 0);
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for q in questions {
        let key = key(assistant, q)?;
        let answer = answer(&q.question).map_err(|e| anyhow::anyhow!("question {}: {e}", q.id))?;
        latencies.push(answer.millis);
        let ok = is_correct(&key, &answer, q.tolerance.unwrap_or(1e-4));
        correct += ok as usize;
        match key {
            Key::Decline => {
                must_decline += 1;
                declined += ok as usize;
            }
            _ => {
                answerable += 1;
                answerable_correct += ok as usize;
                false_declines += (answer.status != Status::Answered) as usize;
            }
        }
        if !ok {
            failures.push(Failure {
                id: q.id.clone(),
                question: q.question.clone(),
                expected: key_text(&key),
                answer: answer.text.clone(),
            });
        }
        if answer.status == Status::Answered {
            answered += 1;
            backed += unbacked(&answer.text, &answer.evidence).is_empty() as usize;
            if !q.sources.is_empty() {
                let cited: Vec<String> = answer.citations.iter().map(|c| c.key()).collect();
                cited_hits += cited.iter().filter(|c| q.sources.contains(c)).count();
                cited_total += cited.len();
                expected_hits += q.sources.iter().filter(|s| cited.contains(s)).count();
                expected_total += q.sources.len();
            }
        }
        let expected_chunks: Vec<&String> = q.sources.iter().filter(|s| !s.starts_with("table:")).collect();
        if !expected_chunks.is_empty() {
            retrieval_questions += 1;
            retrieval_hits += expected_chunks.iter().all(|s| answer.retrieved.contains(s)) as usize;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Ok(Report {
        run_id: assistant.kb.run_id.clone(),
        questions: questions.len(),
        correct,
        accuracy: ratio(correct, questions.len()),
        answerable,
        answerable_correct,
        must_decline,
        declined,
        abstention_accuracy: ratio(declined, must_decline),
        false_declines,
        citation_precision: ratio(cited_hits, cited_total),
        citation_recall: ratio(expected_hits, expected_total),
        retrieval_recall_at_5: ratio(retrieval_hits, retrieval_questions),
        retrieval_questions,
        numbers_backed: ratio(backed, answered),
        answered,
        latency_ms: Latency { mean: latencies.iter().sum::<f64>() / latencies.len() as f64, p50: at(0.5), p95: at(0.95), max: at(1.0) },
        failures,
    })
}
