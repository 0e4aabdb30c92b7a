//! `engage runs list` and `engage runs show <id>`: the execution history kept in
//! the `runs` bucket.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

use crate::local_host::LocalHost;
use crate::pipeline::record::{RunRecord, RunStore};
use crate::pipeline::summary::{seconds, thousands};

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Every run, oldest first: id, pipeline, status, start, duration.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One run: its stages with status, attempts, errors, rows and time.
    Show {
        run_id: String,
        /// Print the whole run record (runs/<id>/run.json).
        #[arg(long)]
        json: bool,
    },
    /// Render a run's HTML report again from its record and print where it is.
    Report { run_id: String },
}

pub fn run(command: RunsCommand, root: &Path) -> Result<()> {
    let host = LocalHost::open(root)?;
    let store = RunStore::new(host.object_store());
    match command {
        RunsCommand::Report { run_id } => {
            let written = crate::report::write_report(host.storage.as_ref(), Some(&host.root), &run_id)?;
            println!("{}", written.path.as_ref().map_or(written.uri.clone(), |p| p.display().to_string()));
            Ok(())
        }
        RunsCommand::List { json } => {
            let runs = store.list()?;
            if json {
                let rows: Vec<_> = runs
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "run_id": r.run_id, "pipeline": r.pipeline, "status": r.status,
                            "started": r.started, "seconds": r.elapsed_secs(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if runs.is_empty() {
                println!("no runs yet in {}", root.display());
                return Ok(());
            }
            let latest = store.latest()?;
            println!("{:<20}  {:<24}  {:<9}  {:<24}  {:>8}", "run", "pipeline", "status", "started", "duration");
            for r in &runs {
                let mark = if latest.as_deref() == Some(r.run_id.as_str()) { "  (latest)" } else { "" };
                println!(
                    "{:<20}  {:<24}  {:<9}  {:<24}  {:>8}{mark}",
                    r.run_id,
                    r.pipeline,
                    r.status.name(),
                    r.started,
                    seconds(r.elapsed_secs())
                );
            }
            Ok(())
        }
        RunsCommand::Show { run_id, json } => {
            let record = store.load(&run_id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", describe(&record));
            }
            Ok(())
        }
    }
}

fn describe(r: &RunRecord) -> String {
    let mut out = String::new();
    let line = |out: &mut String, text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(&mut out, format!("run       {}", r.run_id));
    line(&mut out, format!("pipeline  {} ({})", r.pipeline, r.pipeline_file));
    line(&mut out, format!("status    {}", r.status.name()));
    line(&mut out, format!("started   {}  ({})", r.started, seconds(r.elapsed_secs())));
    line(&mut out, format!("database  {}", r.run_db));
    if !r.vars.is_empty() {
        let vars: Vec<String> = r.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line(&mut out, format!("vars      {}", vars.join(" ")));
    }
    if let Some(e) = &r.error {
        line(&mut out, format!("error     stage '{}': {}: {}", e.stage, e.kind, e.message));
    }
    if !r.published.is_empty() {
        line(&mut out, format!("published {}", r.published.join(", ")));
    }
    if !r.superseded.is_empty() {
        line(&mut out, format!("not published (a newer run's results stay): {}", r.superseded.join(", ")));
    }
    line(&mut out, String::new());
    for s in &r.stages {
        let rows = s
            .output
            .as_ref()
            .map(|o| format!("{} in, {} out", thousands(o.rows_in), thousands(o.rows_out)))
            .unwrap_or_else(|| "-".into());
        let routed = match (&s.replaced_by, &s.replaces) {
            (Some(f), _) => format!("  -> {f}"),
            (_, Some(orig)) => format!("  (in place of {orig})"),
            _ => String::new(),
        };
        line(
            &mut out,
            format!(
                "{:<16} {:<9} {:>2} attempt{}  {:>8}  rows {rows}  {}{routed}",
                s.name,
                s.status.name(),
                s.attempts.len(),
                if s.attempts.len() == 1 { " " } else { "s" },
                seconds(s.elapsed_secs()),
                s.kind,
            ),
        );
        for a in &s.attempts {
            let shard = a.shard.map(|i| format!(" shard {i}")).unwrap_or_default();
            let took = a.ended.as_deref().map(|e| seconds(Some(crate::pipeline::record::seconds_between(&a.started, e))));
            let outcome = match (&a.error, &a.ended) {
                (Some(e), _) => format!("{}: {}", e.kind, e.message),
                (None, Some(_)) => "ok".to_string(),
                (None, None) => "did not finish".to_string(),
            };
            line(&mut out, format!("    attempt {}{shard}  {}  {outcome}", a.attempt, took.unwrap_or_else(|| "-".into())));
        }
    }
    out
}
