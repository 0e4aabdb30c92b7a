//! The end-of-run summary `engage run` prints (and `--json` emits): status, time
//! per stage, and the headline numbers read from the native steps' summaries
//! (docs/pipeline.md keys), each shown only when its stage reported it.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::record::{RunError, RunRecord};

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub status: String,
    pub seconds: Option<f64>,
    pub error: Option<RunError>,
    pub stages: Vec<StageLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestNumbers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelNumbers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<SegmentNumbers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub published: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageLine {
    pub name: String,
    pub kind: String,
    pub status: String,
    pub attempts: usize,
    pub rows_in: Option<u64>,
    pub rows_out: Option<u64>,
    pub seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestNumbers {
    pub rows_read: Option<u64>,
    pub rows_accepted: Option<u64>,
    pub rows_quarantined: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelNumbers {
    pub auc: Option<f64>,
    pub baseline_auc: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentNumbers {
    pub users_scored: Option<u64>,
    pub high: Option<u64>,
    pub medium: Option<u64>,
    pub low: Option<u64>,
}

impl RunSummary {
    pub fn of(record: &RunRecord) -> Self {
        // The committed output of the stage that runs native step `step`.
        let summary_of = |step: &str| -> Option<&Value> {
            let kind = format!("native:{step}");
            record.stages.iter().filter(|s| s.kind == kind).find_map(|s| s.output.as_ref().map(|o| &o.summary))
        };
        let ingest = summary_of("ingest").map(|s| IngestNumbers {
            rows_read: s.get("rows_read").and_then(Value::as_u64),
            rows_accepted: s.get("rows_accepted").and_then(Value::as_u64),
            rows_quarantined: s.get("rows_quarantined").and_then(Value::as_u64),
        });
        let model = summary_of("train").map(|s| ModelNumbers {
            auc: s.pointer("/metrics/auc").and_then(Value::as_f64),
            baseline_auc: s.pointer("/baseline/auc").and_then(Value::as_f64),
        });
        let segments = summary_of("predict").map(|s| SegmentNumbers {
            users_scored: s.get("users_scored").and_then(Value::as_u64),
            high: s.pointer("/segments/high").and_then(Value::as_u64),
            medium: s.pointer("/segments/medium").and_then(Value::as_u64),
            low: s.pointer("/segments/low").and_then(Value::as_u64),
        });
        let report = summary_of("report")
            .and_then(|s| s.get("path").or_else(|| s.get("report_uri")))
            .and_then(Value::as_str)
            .map(str::to_string);
        RunSummary {
            run_id: record.run_id.clone(),
            pipeline: record.pipeline.clone(),
            status: record.status.name().to_string(),
            seconds: record.elapsed_secs(),
            error: record.error.clone(),
            stages: record
                .stages
                .iter()
                .map(|s| StageLine {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    status: s.status.name().to_string(),
                    attempts: s.attempts.len(),
                    rows_in: s.output.as_ref().map(|o| o.rows_in),
                    rows_out: s.output.as_ref().map(|o| o.rows_out),
                    seconds: s.elapsed_secs(),
                })
                .collect(),
            ingest,
            model,
            segments,
            report,
            published: record.published.clone(),
            superseded: record.superseded.clone(),
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn seconds(s: Option<f64>) -> String {
    match s {
        Some(s) if s >= 60.0 => format!("{}m{:04.1}s", (s / 60.0) as u64, s % 60.0),
        Some(s) => format!("{s:.1}s"),
        None => "-".into(),
    }
}

fn count(n: Option<u64>) -> String {
    n.map(thousands).unwrap_or_else(|| "-".into())
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "run {}  {}  {} in {}", self.run_id, self.pipeline, self.status, seconds(self.seconds))?;
        let width = self.stages.iter().map(|s| s.name.len()).max().unwrap_or(5).max(5);
        writeln!(f, "  {:<width$}  {:<9}  {:>8}  {:>12}  {:>12}  {:>8}", "stage", "status", "attempts", "rows in", "rows out", "time")?;
        for s in &self.stages {
            writeln!(
                f,
                "  {:<width$}  {:<9}  {:>8}  {:>12}  {:>12}  {:>8}",
                s.name,
                s.status,
                s.attempts,
                count(s.rows_in),
                count(s.rows_out),
                seconds(s.seconds)
            )?;
        }
        if let Some(i) = &self.ingest {
            writeln!(
                f,
                "rows      {} read, {} accepted, {} quarantined",
                count(i.rows_read),
                count(i.rows_accepted),
                count(i.rows_quarantined)
            )?;
        }
        if let Some(m) = &self.model {
            let auc = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
            writeln!(f, "model     AUC {} vs baseline {}", auc(m.auc), auc(m.baseline_auc))?;
        }
        if let Some(s) = &self.segments {
            writeln!(
                f,
                "segments  high {}, medium {}, low {} ({} users scored)",
                count(s.high),
                count(s.medium),
                count(s.low),
                count(s.users_scored)
            )?;
        }
        if let Some(report) = &self.report {
            writeln!(f, "report    {report}")?;
        }
        if !self.published.is_empty() {
            writeln!(f, "published {}", self.published.join(", "))?;
        }
        if !self.superseded.is_empty() {
            writeln!(f, "not published (a newer run's results stay): {}", self.superseded.join(", "))?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "failed    stage '{}': {}: {}", e.stage, e.kind, e.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(seconds(Some(75.25)), "1m15.2s");
    }
}
