//! An answer and what backs it: the text, the citations (a chunk by id, or a
//! table and the query run on it), the evidence the citations hold, and the
//! rule applied last: a number the evidence does not hold turns the answer
//! into "I don't know" with the closest sources.

use serde::Serialize;

use super::numbers::unbacked;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Answered,
    /// No evidence: "I don't know", with the closest sources.
    Declined,
    /// The question asked for something the assistant never does (writes, raw SQL).
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Citation {
    Chunk { id: String, source: String, heading: String },
    Query { table: String, sql: String },
}

impl Citation {
    /// What the evaluation matches sources on: the chunk id, or `table:<name without the run database>`.
    pub fn key(&self) -> String {
        match self {
            Citation::Chunk { id, .. } => id.clone(),
            Citation::Query { table, .. } => format!("table:{}", table.rsplit('.').next().unwrap_or(table)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    pub run_id: String,
    pub status: Status,
    pub text: String,
    /// The headline number, when the answer is one (what the evaluation compares).
    pub value: Option<f64>,
    pub citations: Vec<Citation>,
    /// The text of what the citations hold: chunk texts, query results as rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The best 5 chunks for the question, whatever was used.
    pub retrieved: Vec<String>,
    /// The intent the question was read as.
    pub intent: String,
    pub millis: f64,
}

/// An answer under construction.
pub struct Draft {
    pub text: String,
    pub value: Option<f64>,
    pub citations: Vec<Citation>,
    pub evidence: Vec<String>,
}

impl Draft {
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), value: None, citations: Vec::new(), evidence: Vec::new() }
    }
    pub fn value(mut self, v: f64) -> Self {
        self.value = Some(v);
        self
    }
    pub fn cite(mut self, citation: Citation, evidence: impl Into<String>) -> Self {
        self.citations.push(citation);
        self.evidence.push(evidence.into());
        self
    }
}

/// How the answer ends up: answered when every number is backed, else declined.
pub enum Outcome {
    Draft(Draft),
    Decline(String),
    Refuse(String),
}

/// "I don't know" and why, naming the closest sources.
pub fn decline_text(reason: &str, closest: &[(String, String)]) -> String {
    let mut text = format!("I don't know: {reason}.");
    if !closest.is_empty() {
        text += " Closest sources: ";
        text += &closest.iter().map(|(id, heading)| format!("{heading} [{id}]")).collect::<Vec<_>>().join("; ");
        text.push('.');
    }
    text
}

/// Applies the evidence rule; `closest` are the retrieved chunks offered when declining.
pub fn finish(outcome: Outcome, closest: &[(String, String)]) -> (Status, Draft) {
    match outcome {
        Outcome::Draft(d) if d.citations.is_empty() => (Status::Declined, Draft::new(decline_text("nothing backs an answer", closest))),
        Outcome::Draft(d) => {
            let missing = unbacked(&d.text, &d.evidence);
            if missing.is_empty() {
                (Status::Answered, d)
            } else {
                let numbers: Vec<String> = missing.iter().map(|n| n.to_string()).collect();
                (Status::Declined, Draft::new(decline_text(&format!("the evidence does not hold {}", numbers.join(", ")), closest)))
            }
        }
        Outcome::Decline(reason) => (Status::Declined, Draft::new(decline_text(&reason, closest))),
        Outcome::Refuse(reason) => (Status::Refused, Draft::new(format!("I can't do that: {reason}."))),
    }
}
