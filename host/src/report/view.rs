//! A forgiving view over a run record (`runs/<id>/run.json`, docs/pipeline.md).
//! The report reads the record as plain JSON rather than the typed
//! `RunRecord`, so a record from an older host, a half-written run or a
//! hand-edited file still renders: every lookup answers "missing, because …"
//! instead of failing.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// The record and the questions the panels ask of it.
pub struct Run<'a> {
    pub record: &'a Value,
}

/// One stage's entry in the record.
#[derive(Clone, Copy)]
pub struct Stage<'a> {
    pub entry: &'a Value,
}

impl<'a> Run<'a> {
    pub fn new(record: &'a Value) -> Self {
        Run { record }
    }

    /// A top-level text field, if present.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.record.get(key).and_then(Value::as_str)
    }

    pub fn status(&self) -> &'a str {
        self.text("status").unwrap_or("unknown")
    }

    pub fn stages(&self) -> Vec<Stage<'a>> {
        match self.record.get("stages").and_then(Value::as_array) {
            Some(stages) => stages.iter().map(|entry| Stage { entry }).collect(),
            None => Vec::new(),
        }
    }

    /// The stage that runs `step`: the one whose kind is `native:<step>` or
    /// `plugin:<step>`, else the one named `step` (pipelines may rename stages).
    pub fn stage_for(&self, step: &str) -> Option<Stage<'a>> {
        let stages = self.stages();
        let by_kind = stages.iter().find(|s| {
            s.kind().is_some_and(|k| k.strip_prefix("native:").or_else(|| k.strip_prefix("plugin:")) == Some(step))
        });
        by_kind.or_else(|| stages.iter().find(|s| s.name() == step)).copied()
    }

    fn stage_named(&self, name: &str) -> Option<Stage<'a>> {
        self.stages().into_iter().find(|s| s.name() == name)
    }

    /// The summary `step` reported, or why there is none. A caught stage's
    /// fallback stands in for it, as it does for later stages.
    pub fn summary(&self, step: &str) -> Result<&'a Value, String> {
        let Some(stage) = self.stage_for(step) else {
            return Err(format!("this pipeline has no {step} stage"));
        };
        if let Some(summary) = stage.summary() {
            return Ok(summary);
        }
        if let Some(fallback) = stage.entry.get("replaced_by").and_then(Value::as_str).and_then(|n| self.stage_named(n))
            && let Some(summary) = fallback.summary() {
                return Ok(summary);
            }
        Err(stage.why_no_output())
    }

    /// `summary[key]` of `step`, or why it is missing.
    pub fn summary_key(&self, step: &str, key: &str) -> Result<&'a Value, String> {
        let summary = self.summary(step)?;
        match summary.get(key) {
            Some(v) if !v.is_null() => Ok(v),
            _ => Err(format!("the {step} stage reported no '{key}'")),
        }
    }

    /// The run's error (`{stage, kind, message}`), when it failed.
    pub fn error(&self) -> Option<&'a Value> {
        self.record.get("error").filter(|e| e.is_object())
    }

    pub fn started(&self) -> Option<DateTime<FixedOffset>> {
        self.text("started").and_then(parse_time)
    }

    /// When the run ended; for a run still going, the latest time in its record.
    pub fn ended(&self) -> Option<DateTime<FixedOffset>> {
        self.text("ended").and_then(parse_time).or_else(|| self.latest_time())
    }

    pub fn latest_time(&self) -> Option<DateTime<FixedOffset>> {
        self.stages()
            .iter()
            .flat_map(|s| s.attempts().into_iter().flat_map(|a| [text(a, "started"), text(a, "ended")]))
            .flatten()
            .filter_map(parse_time)
            .max()
    }
}

impl<'a> Stage<'a> {
    pub fn name(&self) -> &'a str {
        text(self.entry, "name").unwrap_or("?")
    }

    pub fn kind(&self) -> Option<&'a str> {
        text(self.entry, "kind")
    }

    pub fn status(&self) -> &'a str {
        text(self.entry, "status").unwrap_or("unknown")
    }

    pub fn attempts(&self) -> Vec<&'a Value> {
        self.entry.get("attempts").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
    }

    pub fn output(&self) -> Option<&'a Value> {
        self.entry.get("output").filter(|o| o.is_object())
    }

    pub fn summary(&self) -> Option<&'a Value> {
        self.output().and_then(|o| o.get("summary")).filter(|s| s.is_object())
    }

    /// The last attempt's error object.
    fn last_error_entry(&self) -> Option<&'a Value> {
        self.attempts().into_iter().rev().find_map(|a| a.get("error").filter(|e| e.is_object()))
    }

    /// The last attempt's error, `kind: message` (once, when the message
    /// already starts with its kind, as `data-quality:` messages do).
    pub fn last_error(&self) -> Option<String> {
        self.last_error_entry().map(|e| {
            let kind = text(e, "kind").unwrap_or("error");
            let message = text(e, "message").unwrap_or("");
            if message.starts_with(&format!("{kind}:")) { message.to_string() } else { format!("{kind}: {message}") }
        })
    }

    /// A sentence saying why this stage has no output.
    pub fn why_no_output(&self) -> String {
        let name = self.name();
        match self.status() {
            // Only the kind: the whole message is in the run's error box and the stages table.
            "failed" => match self.last_error_entry().and_then(|e| text(e, "kind")) {
                Some(kind) => format!("stage '{name}' failed ({kind})"),
                None => format!("stage '{name}' failed"),
            },
            "caught" => format!("stage '{name}' failed and its fallback reported nothing"),
            "skipped" => format!("stage '{name}' did not run (skipped)"),
            "pending" => format!("stage '{name}' has not run yet"),
            "running" => format!("stage '{name}' was still running when this report was written"),
            "committed" => format!("stage '{name}' committed without a summary"),
            other => format!("stage '{name}' has status '{other}' and no output"),
        }
    }

    pub fn started(&self) -> Option<DateTime<FixedOffset>> {
        text(self.entry, "started").and_then(parse_time)
    }

    pub fn ended(&self) -> Option<DateTime<FixedOffset>> {
        text(self.entry, "ended").and_then(parse_time)
    }

    /// Rows in and out of the committed output; None before it commits (an
    /// attempt's counts would double up across retries and shards).
    pub fn rows(&self) -> (Option<u64>, Option<u64>) {
        let from = |key: &str| self.output().and_then(|o| o.get(key)).and_then(Value::as_u64);
        (from("rows_in"), from("rows_out"))
    }
}

/// A text field of any JSON object.
pub fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A number field (JSON number or numeric text) of any JSON object.
pub fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

/// Seconds from `a` to `b`.
pub fn seconds(a: DateTime<FixedOffset>, b: DateTime<FixedOffset>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}
