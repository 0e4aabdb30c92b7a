//! The web app's HTML, rendered on the server: one layout, a page per view,
//! no external assets (the pages work without a network).

use std::fmt::Write as _;

use crate::assistant::answer::{Answer, Citation, Status};
use crate::assistant::chunks::Chunk;
use crate::pipeline::record::{RunRecord, RunStatus};

use super::results::{COLUMNS, FilterParams, PAGE_ROWS};

/// Escapes text for HTML content and quoted attributes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330}header{background:#1d3557;color:#fff;padding:.6em 1.2em}header a{color:#fff;margin-right:1.2em;text-decoration:none}\
main{padding:1em 1.5em}table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccd;padding:.25em .6em;font-size:.92em;text-align:left}th{background:#eef1f6}\
form{margin:.6em 0}input,select,button{font-size:1em;margin-right:.4em}.answer{background:#f4f7fb;border-left:4px solid #457b9d;padding:.6em 1em;margin:.8em 0}\
.declined{border-color:#c77d00}.refused{border-color:#b00020}.error{color:#b00020}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}.chunk{border-top:1px solid #ddd;padding:.4em 0}.chunk:target{background:#fff6d5}";

/// The little script there is: a filter choice applies at once.
const SCRIPT: &str = "document.querySelectorAll('#filters select').forEach(s=>s.addEventListener('change',()=>s.form.submit()));";

/// A whole page: the header with the ask box, then `body`.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · Engage</title><style>{STYLE}</style></head><body>\
         <header><a href=\"/\">Runs</a><a href=\"/users\">User lookup</a><a href=\"/ask\">Ask</a></header><main><h1>{t}</h1>{body}</main><script>{SCRIPT}</script></body></html>",
        t = escape(title)
    )
}

pub fn error(message: &str) -> String {
    layout("Error", &format!("<p class=\"error\" id=\"error\">{}</p>", escape(message)))
}

/// A 404: what is missing, and the way back.
pub fn not_found(message: &str) -> String {
    layout("Not found", &format!("<p class=\"error\" id=\"error\">{}</p><p><a href=\"/\">Back to the runs</a></p>", escape(message)))
}

fn ask_form(run_id: &str, question: &str) -> String {
    format!(
        "<form action=\"/ask\" method=\"get\" id=\"ask-form\"><input type=\"hidden\" name=\"run\" value=\"{}\">\
         <input name=\"q\" id=\"q\" size=\"70\" placeholder=\"How many users are likely to disengage next week?\" value=\"{}\"><button type=\"submit\">Ask</button></form>",
        escape(run_id),
        escape(question)
    )
}

pub fn runs(records: &[RunRecord], latest: Option<&str>) -> String {
    let mut b = String::new();
    b += &ask_form(latest.unwrap_or(""), "");
    b += "<table id=\"runs\"><tr><th>run</th><th>pipeline</th><th>status</th><th>started</th><th>seconds</th><th></th></tr>";
    for r in records.iter().rev() {
        let id = escape(&r.run_id);
        let _ = write!(
            b,
            "<tr class=\"run\"><td><a href=\"/runs/{id}\">{id}</a>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if latest == Some(r.run_id.as_str()) { " (latest)" } else { "" },
            escape(&r.pipeline),
            r.status.name(),
            escape(&r.started),
            r.elapsed_secs().map_or("-".into(), |s| format!("{s:.1}")),
            // Only a run that succeeded has results and a knowledge base to link to.
            match (&r.status, &r.error) {
                (RunStatus::Succeeded, _) => format!("<a href=\"/runs/{id}/results\">results</a> · <a href=\"/runs/{id}/knowledge\">knowledge base</a>"),
                (RunStatus::Failed, Some(e)) => format!("failed at stage {}: no results", escape(&e.stage)),
                (RunStatus::Failed, None) => "failed: no results".into(),
                (RunStatus::Running, _) => "running".into(),
                (RunStatus::Interrupted, _) => "interrupted: resume it with engage run --resume".into(),
            }
        );
    }
    b += "</table>";
    if records.is_empty() {
        b += "<p>No runs yet: run the pipeline first (<code>engage run pipelines/weekly-engagement.toml</code>).</p>";
    }
    layout("Runs", &b)
}

fn select(name: &str, current: &str, options: &[&str]) -> String {
    let mut s = format!("<select name=\"{name}\" id=\"{name}\"><option value=\"\">any {name}</option>");
    for o in options {
        let _ = write!(s, "<option value=\"{o}\"{}>{o}</option>", if *o == current { " selected" } else { "" });
    }
    s + "</select>"
}

pub fn results(run_id: &str, params: &FilterParams, total: u64, rows: &[Vec<String>]) -> String {
    let id = escape(run_id);
    let mut b = format!(
        "<form method=\"get\" id=\"filters\">{}{}<input name=\"country\" id=\"country\" size=\"4\" placeholder=\"country\" value=\"{}\">\
         score <input name=\"min\" id=\"min\" size=\"4\" placeholder=\"0\" value=\"{}\"> to <input name=\"max\" id=\"max\" size=\"4\" placeholder=\"1\" value=\"{}\">\
         <button type=\"submit\">Filter</button></form>",
        select("segment", &params.segment, &["high", "medium", "low"]),
        select("plan", &params.plan, crate::data::schema::PLANS),
        escape(&params.country),
        escape(&params.min),
        escape(&params.max)
    );
    let _ = write!(
        b,
        "<p><span id=\"total\">{total}</span> users match; showing the first {} by score. <a id=\"csv\" href=\"/runs/{id}/results.csv?{}\">Download CSV</a></p>",
        rows.len().min(PAGE_ROWS),
        params.query_string()
    );
    b += "<table id=\"results\"><tr>";
    for c in COLUMNS {
        let _ = write!(b, "<th>{c}</th>");
    }
    b += "</tr>";
    for r in rows {
        b += "<tr class=\"row\">";
        for (i, cell) in r.iter().enumerate() {
            if i == 0 {
                let _ = write!(b, "<td><a href=\"/users?run={id}&id={0}\">{0}</a></td>", escape(cell));
            } else {
                let _ = write!(b, "<td>{}</td>", escape(cell));
            }
        }
        b += "</tr>";
    }
    b += "</table>";
    layout(&format!("Results of run {run_id}"), &b)
}

pub fn user(run_id: &str, user_id: &str, row: Option<&[String]>) -> String {
    let mut b = format!(
        "<form method=\"get\" action=\"/users\" id=\"user-form\"><input type=\"hidden\" name=\"run\" value=\"{}\"><input name=\"id\" id=\"user-id\" placeholder=\"u000000042\" value=\"{}\"><button type=\"submit\">Look up</button></form>",
        escape(run_id),
        escape(user_id)
    );
    match row {
        Some(r) => {
            b += "<table id=\"user\">";
            for (c, v) in COLUMNS.iter().zip(r) {
                let _ = write!(b, "<tr><th>{c}</th><td>{}</td></tr>", escape(v));
            }
            b += "</table>";
        }
        None if !user_id.is_empty() => {
            let _ = write!(b, "<p id=\"not-found\">No user {} in run {}.</p>", escape(user_id), escape(run_id));
        }
        None => {}
    }
    layout("User lookup", &b)
}

pub fn answer(a: &Answer) -> String {
    let class = match a.status {
        Status::Answered => "answer",
        Status::Declined => "answer declined",
        Status::Refused => "answer refused",
    };
    let run = escape(&a.run_id);
    let mut b = ask_form(&a.run_id, &a.question);
    let _ = write!(b, "<div class=\"{class}\" id=\"answer\"><p id=\"answer-text\">{}</p>", escape(&a.text));
    if !a.citations.is_empty() {
        b += "<ol id=\"citations\">";
        for c in &a.citations {
            match c {
                Citation::Chunk { id, heading, .. } => {
                    let _ = write!(
                        b,
                        "<li class=\"citation\"><a href=\"/runs/{run}/knowledge#{0}\">{0}</a>: {1}</li>",
                        escape(id),
                        escape(heading)
                    );
                }
                Citation::Query { table, sql } => {
                    let _ = write!(
                        b,
                        "<li class=\"citation\"><a href=\"/runs/{run}/results\">{}</a><details><summary>query</summary><pre>{}</pre></details></li>",
                        escape(table),
                        escape(sql)
                    );
                }
            }
        }
        b += "</ol>";
    }
    let _ = write!(b, "</div><p>Run {run}; answered in {:.1} ms.</p>", a.millis);
    layout("Ask", &b)
}

pub fn ask_empty(run_id: &str) -> String {
    layout(
        "Ask",
        &(ask_form(run_id, "")
            + "<p>Ask about a run in plain language: counts, shares, a user's score, the model's quality, what a column means.</p>"),
    )
}

pub fn knowledge(run_id: &str, chunks: &[Chunk]) -> String {
    let mut b = String::new();
    for c in chunks {
        let _ = write!(
            b,
            "<div class=\"chunk\" id=\"{}\"><p><b>{}</b> · {} · <code>{}</code></p><pre>{}</pre></div>",
            escape(&c.id),
            escape(&c.heading),
            escape(&c.title),
            escape(&c.id),
            escape(&c.text)
        );
    }
    layout(&format!("Knowledge base of run {run_id}"), &b)
}
