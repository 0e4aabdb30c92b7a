//! The page: header, the run's error when it failed, headline numbers, the
//! chart panels and the tables, with the stylesheet inline so the file opens
//! from disk with no network. Every string from the record is escaped here or
//! in the SVG writer.

use std::fmt::Write;

use serde_json::Value;

use super::charts::{self, Panel};
use super::format::{count, duration, escape, metric, number, percent, signed, value};
use super::view::{Run, Stage, number as num_field, seconds, text};

pub fn page(run: &Run) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let pipeline = run.text("pipeline").unwrap_or("pipeline");
    let run_id = run.text("run_id").unwrap_or("unknown run");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light\">\n<title>{} · run {}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n",
        escape(pipeline),
        escape(run_id),
        STYLE
    );
    header(&mut out, run, pipeline, run_id);
    contents(&mut out);
    problems(&mut out, run);
    headline(&mut out, run);
    model_table(&mut out, run);
    out.push_str("<section class=\"charts\">\n");
    for panel in charts::all(run) {
        chart_panel(&mut out, &panel);
    }
    out.push_str("</section>\n");
    stages_table(&mut out, run);
    checks_table(&mut out, run);
    statistics(&mut out, run);
    let _ = write!(
        out,
        "<footer>Rendered by Engage from <code>runs/{}/run.json</code>. Re-render with <code>engage runs report {}</code>.</footer>\n</main>\n</body>\n</html>\n",
        escape(run_id),
        escape(run_id)
    );
    out
}

fn header(out: &mut String, run: &Run, pipeline: &str, run_id: &str) {
    let status = run.status();
    let started = run.text("started").map(readable_time).unwrap_or_else(|| "—".into());
    let took = match (run.started(), run.ended()) {
        (Some(a), Some(b)) if run.text("ended").is_some() => duration(seconds(a, b)),
        (Some(a), Some(b)) => format!("{} so far", duration(seconds(a, b))),
        _ => "—".to_string(),
    };
    let _ = write!(
        out,
        "<header>\n<p class=\"kicker\">Engage run report</p>\n<h1>{}</h1>\n<dl class=\"meta\">\n<div><dt>Run</dt><dd><code>{}</code></dd></div>\n<div><dt>Status</dt><dd><span class=\"status status-{}\">{}</span></dd></div>\n<div><dt>Started</dt><dd>{}</dd></div>\n<div><dt>Duration</dt><dd>{}</dd></div>\n",
        escape(pipeline),
        escape(run_id),
        escape(&status_class(status)),
        escape(status),
        escape(&started),
        escape(&took)
    );
    if let Some(file) = run.text("pipeline_file") {
        let _ = writeln!(out, "<div><dt>Pipeline file</dt><dd><code>{}</code></dd></div>", escape(file));
    }
    if let Some(db) = run.text("run_db") {
        let _ = writeln!(out, "<div><dt>Run database</dt><dd><code>{}</code></dd></div>", escape(db));
    }
    if let Some(vars) = run.record.get("vars").and_then(Value::as_object).filter(|v| !v.is_empty()) {
        let shown: Vec<String> = vars.iter().map(|(k, v)| format!("<code>{}={}</code>", escape(k), escape(&value(v)))).collect();
        let _ = writeln!(out, "<div class=\"wide\"><dt>Variables</dt><dd>{}</dd></div>", shown.join(" "));
    }
    out.push_str("</dl>\n</header>\n");
}

/// Links to the sections, for a long page on screen (hidden in print).
fn contents(out: &mut String) {
    let links = [
        ("model", "Model quality"),
        ("chart-histogram", "Scores"),
        ("chart-roc", "ROC"),
        ("chart-calibration", "Calibration"),
        ("chart-importance", "Features"),
        ("chart-lift", "Lift"),
        ("chart-shap", "SHAP"),
        ("chart-drift", "Drift"),
        ("chart-segments", "Segments"),
        ("chart-timeline", "Timeline"),
        ("stages", "Stages"),
        ("checks", "Checks"),
    ];
    let shown: Vec<String> = links.iter().map(|(id, label)| format!("<a href=\"#{id}\">{label}</a>")).collect();
    let _ = writeln!(out, "<nav class=\"contents\">{}</nav>", shown.join(" "));
}

fn status_class(status: &str) -> String {
    match status {
        "succeeded" | "committed" => "ok".into(),
        "failed" => "bad".into(),
        "running" | "pending" => "running".into(),
        _ => "other".into(),
    }
}

/// `2026-11-25T10:15:00.123Z` → `2026-11-25 10:15:00 UTC`.
fn readable_time(t: &str) -> String {
    match super::view::parse_time(t) {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => t.to_string(),
    }
}

/// The run's error first, where nobody can miss it; a note when the run was
/// still going when the page was written.
fn problems(out: &mut String, run: &Run) {
    if let Some(error) = run.error() {
        let stage = text(error, "stage").unwrap_or("?");
        let kind = text(error, "kind").unwrap_or("error");
        let message = text(error, "message").unwrap_or("");
        let _ = write!(
            out,
            "<section class=\"alert alert-error\" role=\"alert\">\n<h2>This run failed at stage <code>{}</code> ({})</h2>\n<pre class=\"error-message\">{}</pre>\n<p>Charts that need this stage or later ones are marked not available. Fix the cause and redrive from this stage with <code>engage run {} --resume {}</code>.</p>\n</section>\n",
            escape(stage),
            escape(kind),
            escape(message),
            escape(run.text("pipeline_file").unwrap_or("<pipeline.toml>")),
            escape(run.text("run_id").unwrap_or("<id>"))
        );
    } else if run.status() == "failed" {
        out.push_str("<section class=\"alert alert-error\" role=\"alert\">\n<h2>This run failed</h2>\n<p>The record does not say why; see the stages table below.</p>\n</section>\n");
    } else if run.status() == "running" {
        in_progress(out, run);
    }
}

/// Which stages had not finished when the page was written. The usual case is
/// the run's own `report` stage, the last one: then only publishing is left.
fn in_progress(out: &mut String, run: &Run) {
    let run_id = run.text("run_id").unwrap_or("<id>");
    let stages = run.stages();
    let is_me = |s: &Stage| s.kind() == Some("native:report") && s.status() == "running";
    let writing_itself = stages.iter().any(is_me);
    let open: Vec<String> = stages
        .iter()
        .filter(|s| !matches!(s.status(), "committed" | "skipped"))
        .filter(|s| !is_me(s))
        .map(|s| format!("<code>{}</code> ({})", escape(s.name()), escape(s.status())))
        .collect();
    let state = if open.is_empty() && writing_itself {
        "Every stage before this report committed; the run's own report stage wrote this page just before the run was marked done and its tables published.".to_string()
    } else if open.is_empty() {
        "This report was written while the run was still in progress.".to_string()
    } else {
        format!("This report was written while the run was still in progress; not finished: {}.", open.join(", "))
    };
    let _ = writeln!(
        out,
        "<section class=\"alert alert-info\">\n<p>{state} Re-render it from the final record with <code>engage runs report {}</code>.</p>\n</section>",
        escape(run_id)
    );
}

/// A headline number: value and a line of context, or "n/a" and why.
struct Card {
    label: &'static str,
    value: Result<String, String>,
    detail: String,
}

fn headline(out: &mut String, run: &Run) {
    let ingest = |key: &str| run.summary_key("ingest", key).and_then(|v| v.as_f64().ok_or_else(|| format!("'{key}' is not a number")));
    let read = ingest("rows_read");
    let quarantined = ingest("rows_quarantined");
    let auc = run.summary_key("train", "metrics").and_then(|m| num_field(m, "auc").ok_or_else(|| "the train metrics have no auc".to_string()));
    let baseline = run.summary_key("train", "baseline").ok().and_then(|m| num_field(m, "auc"));
    let scored = run.summary_key("predict", "users_scored").and_then(|v| v.as_f64().ok_or_else(|| "'users_scored' is not a number".to_string()));
    let label_rate = run.summary_key("prepare", "label_rate").and_then(|v| v.as_f64().ok_or_else(|| "'label_rate' is not a number".to_string()));
    let training_rows = run.summary_key("prepare", "training_rows").ok().and_then(Value::as_f64);

    let cards = [
        Card {
            label: "Users scored",
            value: scored.clone().map(|n| count(n as u64)),
            detail: "probability, confidence and segment for each".into(),
        },
        Card {
            label: "AUC (validation)",
            value: auc.clone().map(metric),
            detail: match (&auc, baseline) {
                (Ok(a), Some(b)) => format!("baseline {} · {}", metric(b), signed(a - b)),
                _ => "no baseline reported".into(),
            },
        },
        Card {
            label: "Rows read",
            value: read.clone().map(|n| count(n as u64)),
            detail: "raw rows ingested this run".into(),
        },
        Card {
            label: "Rows accepted",
            value: ingest("rows_accepted").map(|n| count(n as u64)),
            detail: match (&read, ingest("rows_accepted")) {
                (Ok(r), Ok(a)) if *r > 0.0 => format!("{} of rows read", percent(a / r)),
                _ => "passed validation".into(),
            },
        },
        Card {
            label: "Rows quarantined",
            value: quarantined.clone().map(|n| count(n as u64)),
            detail: match (&read, &quarantined) {
                (Ok(r), Ok(q)) if *r > 0.0 => format!("{} of rows read, kept with reasons", percent(q / r)),
                _ => "rejected rows, kept with reasons".into(),
            },
        },
        Card {
            label: "Label rate",
            value: label_rate.map(percent),
            detail: match training_rows {
                Some(n) => format!("engaged share of {} training rows", count(n as u64)),
                None => "engaged share of the training set".into(),
            },
        },
    ];
    out.push_str("<section class=\"cards\">\n");
    for card in &cards {
        match &card.value {
            Ok(v) => {
                let _ = writeln!(
                    out,
                    "<div class=\"card\"><div class=\"card-label\">{}</div><div class=\"card-value\">{}</div><div class=\"card-detail\">{}</div></div>",
                    escape(card.label),
                    escape(v),
                    escape(&card.detail)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "<div class=\"card card-missing\"><div class=\"card-label\">{}</div><div class=\"card-value\">n/a</div><div class=\"card-detail\">not available: {}</div></div>",
                    escape(card.label),
                    escape(why)
                );
            }
        }
    }
    out.push_str("</section>\n");
}

/// Model against baseline on every metric both report, plus how training went.
fn model_table(out: &mut String, run: &Run) {
    let Ok(train) = run.summary("train") else { return };
    let model = train.get("metrics").and_then(Value::as_object);
    let baseline = train.get("baseline").and_then(Value::as_object);
    let Some(model) = model else { return };
    out.push_str("<section class=\"panel\" id=\"model\">\n<h2>Model quality</h2>\n<p class=\"how\">Measured on the validation users (held out from training). Higher is better for AUC and accuracy; lower is better for log loss and Brier score.</p>\n<div class=\"split\">\n<table>\n<thead><tr><th>metric</th><th class=\"num\">model</th><th class=\"num\">baseline</th><th class=\"num\">difference</th></tr></thead>\n<tbody>\n");
    for key in ["auc", "logloss", "accuracy", "brier", "precision", "recall"] {
        let Some(m) = model.get(key).and_then(Value::as_f64) else { continue };
        let b = baseline.and_then(|b| b.get(key)).and_then(Value::as_f64);
        let better = match (key, b) {
            (_, None) => "",
            ("logloss" | "brier", Some(b)) if m <= b => "better",
            ("logloss" | "brier", Some(_)) => "worse",
            (_, Some(b)) if m >= b => "better",
            _ => "worse",
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num {}\">{}</td></tr>",
            escape(key),
            metric(m),
            b.map(metric).unwrap_or_else(|| "—".into()),
            better,
            b.map(|b| signed(m - b)).unwrap_or_else(|| "—".into())
        );
    }
    out.push_str("</tbody>\n</table>\n<table class=\"kv\">\n<tbody>\n");
    let facts = [
        ("baseline model", "baseline_kind"),
        ("training rows", "training_rows"),
        ("validation rows", "validation_rows"),
        ("boosting rounds", "rounds"),
        ("best iteration", "best_iteration"),
        ("trees kept", "trees"),
        ("stopped early", "stopped_early"),
        ("model", "model_uri"),
    ];
    for (label, key) in facts {
        if let Some(v) = train.get(key).filter(|v| !v.is_null()) {
            let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(label), escape(&value(v)));
        }
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

pub(super) fn chart_panel(out: &mut String, panel: &Panel) {
    match &panel.body {
        Ok(svg) => {
            let _ = write!(
                out,
                "<figure class=\"panel chart-panel\" id=\"{}\">\n<h2>{}</h2>\n<p class=\"how\">{}</p>\n{}\n",
                panel.id,
                escape(panel.title),
                escape(panel.how_to_read),
                svg
            );
            if let Some(note) = &panel.note {
                let _ = writeln!(out, "<figcaption>{}</figcaption>", escape(note));
            }
            out.push_str("</figure>\n");
        }
        Err(why) => {
            let _ = write!(
                out,
                "<figure class=\"panel chart-panel missing\" id=\"{}\">\n<h2>{}</h2>\n<p class=\"not-available\">not available: {}</p>\n</figure>\n",
                panel.id,
                escape(panel.title),
                escape(why)
            );
        }
    }
}

fn stage_time(stage: &Stage) -> String {
    match (stage.started(), stage.ended()) {
        (Some(a), Some(b)) => duration(seconds(a, b)),
        (Some(_), None) => "running".into(),
        _ => "—".into(),
    }
}

fn stages_table(out: &mut String, run: &Run) {
    let stages = run.stages();
    out.push_str("<section class=\"panel\" id=\"stages\">\n<h2>Stages</h2>\n");
    if stages.is_empty() {
        out.push_str("<p class=\"not-available\">not available: the run record lists no stages</p>\n</section>\n");
        return;
    }
    out.push_str("<p class=\"how\">In pipeline order. Attempts count every try of every shard; rows are the committed output's.</p>\n<table>\n<thead><tr><th>stage</th><th>runs</th><th>status</th><th class=\"num\">attempts</th><th class=\"num\">rows in</th><th class=\"num\">rows out</th><th class=\"num\">time</th><th>last error</th></tr></thead>\n<tbody>\n");
    for stage in &stages {
        let attempts = stage.attempts();
        let failed = attempts.iter().filter(|a| a.get("error").is_some_and(Value::is_object)).count();
        let tries = if failed > 0 { format!("{} ({failed} failed)", attempts.len()) } else { attempts.len().to_string() };
        let (rows_in, rows_out) = stage.rows();
        let show = |n: Option<u64>| n.map(count).unwrap_or_else(|| "—".into());
        let mut note = stage.last_error().unwrap_or_default();
        if let Some(by) = text(stage.entry, "replaced_by") {
            note = format!("{note} → fallback '{by}' ran instead");
        }
        if let Some(of) = text(stage.entry, "replaces") {
            note = format!("ran in place of '{of}'. {note}");
        }
        let _ = writeln!(
            out,
            "<tr class=\"row-{}\"><td><code>{}</code></td><td>{}</td><td><span class=\"status status-{}\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"error-cell\">{}</td></tr>",
            escape(&status_class(stage.status())),
            escape(stage.name()),
            escape(stage.kind().unwrap_or("—")),
            escape(&status_class(stage.status())),
            escape(stage.status()),
            escape(&tries),
            show(rows_in),
            show(rows_out),
            escape(&stage_time(stage)),
            escape(note.trim())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Every stage that reports `checks` (`[{name, value, limit, ok}]`), prepare's first.
fn checks_table(out: &mut String, run: &Run) {
    out.push_str("<section class=\"panel\" id=\"checks\">\n<h2>Data-quality checks</h2>\n");
    let mut rows = Vec::new();
    for stage in run.stages() {
        let Some(checks) = stage.summary().and_then(|s| s.get("checks")).and_then(Value::as_array) else { continue };
        for check in checks {
            rows.push((stage.name(), check));
        }
    }
    if rows.is_empty() {
        let why = match run.summary("prepare") {
            Err(why) => why,
            Ok(_) => "no stage reported checks".to_string(),
        };
        let _ = write!(out, "<p class=\"not-available\">not available: {}</p>\n</section>\n", escape(&why));
        return;
    }
    let failed = rows.iter().filter(|(_, c)| c.get("ok").and_then(Value::as_bool) == Some(false)).count();
    let _ = write!(
        out,
        "<p class=\"how\">Each check's measured value against its limit. {} of {} passed.</p>\n<table>\n<thead><tr><th>stage</th><th>check</th><th class=\"num\">value</th><th>limit</th><th>result</th></tr></thead>\n<tbody>\n",
        rows.len() - failed,
        rows.len()
    );
    for (stage, check) in rows {
        let ok = check.get("ok").and_then(Value::as_bool);
        let (class, verdict) = match ok {
            Some(true) => ("ok", "pass"),
            Some(false) => ("bad", "FAIL"),
            None => ("other", "?"),
        };
        let _ = writeln!(
            out,
            "<tr class=\"row-{class}\"><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td><span class=\"status status-{class}\">{verdict}</span></td></tr>",
            escape(stage),
            escape(text(check, "name").unwrap_or("?")),
            escape(&check.get("value").map(value).unwrap_or_default()),
            escape(&check.get("limit").map(value).unwrap_or_default()),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// "first 10 of 147 rows" when a stage's `statistics` are part of a larger table: its total is
/// `statistics_rows`, else the row count of the one `*_summary` table in `tables`.
fn statistics_caption(summary: &Value, shown: usize) -> Option<String> {
    let total = summary.get("statistics_rows").and_then(Value::as_u64).or_else(|| {
        let tables = summary.get("tables")?.as_object()?;
        let mut summaries = tables.iter().filter(|(name, _)| name.ends_with("_summary"));
        match (summaries.next(), summaries.next()) {
            (Some((_, n)), None) => n.as_u64(),
            _ => None,
        }
    })?;
    if total <= shown as u64 {
        return None;
    }
    let how = summary.get("statistics_note").and_then(Value::as_str).map(|n| format!(" ({n})")).unwrap_or_default();
    Some(format!("first {shown} of {total} rows{how}"))
}

/// Summary statistics when a stage reports them as `statistics` (rows of
/// objects, e.g. by segment, plan, country), and the tables the run built.
fn statistics(out: &mut String, run: &Run) {
    let mut tables: Vec<(String, Vec<&serde_json::Map<String, Value>>, Option<String>)> = Vec::new();
    let mut built: Vec<(String, String, u64)> = Vec::new();
    for stage in run.stages() {
        let Some(summary) = stage.summary() else { continue };
        if let Some(rows) = summary.get("statistics").and_then(Value::as_array) {
            let rows: Vec<_> = rows.iter().filter_map(Value::as_object).collect();
            if !rows.is_empty() {
                let caption = statistics_caption(summary, rows.len());
                tables.push((stage.name().to_string(), rows, caption));
            }
        }
        if let Some(made) = summary.get("tables").and_then(Value::as_object) {
            for (name, n) in made {
                if let Some(n) = n.as_u64() {
                    built.push((stage.name().to_string(), name.clone(), n));
                }
            }
        }
    }
    if tables.is_empty() && built.is_empty() {
        return;
    }
    out.push_str("<section class=\"panel\" id=\"statistics\">\n<h2>Summary statistics</h2>\n");
    for (stage, rows, caption) in tables {
        let mut columns: Vec<&String> = Vec::new();
        for row in &rows {
            for key in row.keys() {
                if !columns.contains(&key) {
                    columns.push(key);
                }
            }
        }
        let _ = write!(out, "<h3>From stage <code>{}</code></h3>\n", escape(&stage));
        if let Some(caption) = caption {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&caption));
        }
        out.push_str("<table>\n<thead><tr>");
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", escape(c));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            out.push_str("<tr>");
            for c in &columns {
                let cell = row.get(*c);
                let numeric = cell.is_some_and(Value::is_number);
                let shown = match cell {
                    Some(Value::Number(n)) => n.as_f64().map(number).unwrap_or_default(),
                    Some(v) => value(v),
                    None => String::new(),
                };
                let _ = write!(out, "<td{}>{}</td>", if numeric { " class=\"num\"" } else { "" }, escape(&shown));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    if !built.is_empty() {
        out.push_str("<h3>Tables built</h3>\n<table>\n<thead><tr><th>stage</th><th>table</th><th class=\"num\">rows</th></tr></thead>\n<tbody>\n");
        for (stage, table, rows) in built {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
                escape(&stage),
                escape(&table),
                count(rows)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}

/// Light theme, readable on screen and on paper; chart colours come from the
/// Okabe–Ito palette (distinguishable with colour-vision deficiencies).
pub(super) const STYLE: &str = r#"
:root { --ink: #1d2430; --muted: #5b6573; --line: #d8dde3; --bg: #f6f7f9; --panel: #fff;
  --high: #0072b2; --medium: #e69f00; --low: #9aa5b1; --ok: #009e73; --bad: #d55e00; --run: #56b4e9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 26px; margin: 2px 0 12px; }
h2 { font-size: 17px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
code { font: 12.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.kicker { margin: 0; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; font-size: 12px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0; }
.meta div { min-width: 120px; } .meta .wide { flex-basis: 100%; }
.meta dt { color: var(--muted); font-size: 12px; } .meta dd { margin: 0; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid; }
.status-ok { color: #006b4f; border-color: #7fcfb9; background: #e8f7f2; }
.status-bad { color: #a33f00; border-color: #f0a77a; background: #fdf0e8; }
.status-running { color: #1f6f9c; border-color: #9fd3f0; background: #edf7fd; }
.status-other { color: var(--muted); border-color: var(--line); background: #f1f3f5; }
.alert { border-radius: 8px; padding: 12px 16px; margin: 18px 0; border: 1px solid; }
.alert-error { background: #fdf0e8; border-color: var(--bad); border-left-width: 6px; }
.alert-error h2 { color: #a33f00; }
.alert-info { background: #edf7fd; border-color: #9fd3f0; }
.error-message { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid #f0c4a8; padding: 8px 10px; border-radius: 6px; margin: 8px 0; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin: 20px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card-label { color: var(--muted); font-size: 12px; }
.card-value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card-detail { color: var(--muted); font-size: 12px; }
.card-missing .card-value { color: var(--muted); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 0 0 16px; break-inside: avoid; page-break-inside: avoid; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; margin-bottom: 16px; }
.charts .panel { margin: 0; }
#chart-timeline { grid-column: 1 / -1; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.how { color: var(--muted); margin: 0 0 10px; font-size: 13px; }
.not-available { color: #6b4b00; background: #fff8e6; border: 1px dashed #e6c36a; border-radius: 6px; padding: 18px 14px; margin: 8px 0 0; }
.split { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; width: 100%; }
.split table { width: auto; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid #eceff2; vertical-align: top; }
thead th { color: var(--muted); font-weight: 600; font-size: 12px; border-bottom: 1px solid var(--line); }
.kv th { color: var(--muted); font-weight: 500; }
.num { text-align: right; }
td.better { color: #006b4f; } td.worse { color: #a33f00; }
tr.row-bad td { background: #fdf4ee; }
.error-cell { max-width: 360px; word-break: break-word; font-size: 12.5px; color: #8a3500; }
.contents { margin: 14px 0 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 13px; }
.contents a { color: #1f6f9c; text-decoration: none; } .contents a:hover { text-decoration: underline; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
svg.chart { display: block; max-width: 100%; height: auto; font-size: 11px; fill: var(--ink); }
svg .plot-area { fill: #fff; stroke: var(--line); }
svg .axis line { stroke: #8b95a1; } svg .axis line.grid { stroke: #eef0f3; }
svg .axis text { fill: var(--muted); } svg .axis-title { fill: var(--ink); font-size: 12px; }
svg .legend text { fill: var(--ink); font-size: 11.5px; }
svg .seg-high { fill: var(--high); } svg .seg-medium { fill: var(--medium); } svg .seg-low { fill: var(--low); }
svg .threshold { stroke: #333; stroke-width: 1.2; stroke-dasharray: 5 4; }
svg .threshold-label { fill: #333; font-size: 11px; }
svg .diagonal { stroke: #8b95a1; stroke-width: 1.2; stroke-dasharray: 4 4; }
svg .curve { fill: none; stroke: var(--high); stroke-width: 2.5; stroke-linejoin: round; }
svg .dot { fill: var(--high); fill-opacity: .75; stroke: #fff; stroke-width: 1; }
svg .point-label { fill: var(--muted); font-size: 10.5px; }
svg .importance-bar { fill: var(--high); } svg .warn-bar { fill: var(--bad); }
svg .series-0 { fill: var(--high); } svg .series-1 { fill: var(--medium); }
svg .curve-1 { stroke: var(--medium); }
svg .bar-label { fill: var(--ink); font-size: 12px; } svg .sub-label { fill: var(--muted); font-size: 10.5px; }
svg .value-label { fill: var(--ink); font-size: 11.5px; font-variant-numeric: tabular-nums; }
svg .status-bad { fill: #a33f00; font-weight: 600; }
svg .attempt.ok { fill: var(--ok); } svg .attempt.failed { fill: var(--bad); } svg .attempt.running { fill: var(--run); }
svg .bar-inner-label { fill: #fff; font-size: 9.5px; font-weight: 700; }
svg .row-rule { stroke: #f0f2f4; }
svg .stage-span { fill: #e9edf1; } svg .swatch.stage-span { stroke: #cfd6dd; }
svg .status-running { fill: #1f6f9c; font-weight: 600; }
@media print {
  body { background: #fff; font-size: 12px; }
  main { max-width: none; padding: 0; }
  .panel, .card { border-color: #bbb; }
  .charts { display: block; } .charts .panel { margin-bottom: 12px; }
  .contents { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;
