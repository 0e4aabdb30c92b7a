//! `engage runs list` and `engage runs show <id>`: the execution history kept in
//! the `runs` bucket.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::drift::{DriftReport, Labels, RunTables, SEGMENTS, Thresholds, compare};
use crate::config::{Backends, HostConfig};
use crate::pipeline::record::{RunRecord, RunStatus, RunStore};
use crate::pipeline::summary::{seconds, thousands};

#[derive(Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
    /// The runtime config naming where runs are kept (config/hosted.toml: the runs zone on S3,
    /// Athena for `compare`); the local storage root when left out.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

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
    /// Compare run B with an earlier run A: feature PSI and missing rates, score shift,
    /// segment migration, realized AUC of A's model on the labels that arrived since.
    Compare {
        /// The earlier run.
        a: String,
        /// The later run.
        b: String,
        /// Print drift.json's shape instead of tables.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: RunsArgs, root: &Path) -> Result<()> {
    let backends = Backends::open(&HostConfig::load_or_default(args.config.as_deref())?, root)?;
    let store = RunStore::new(backends.storage.clone());
    match args.command {
        RunsCommand::Report { run_id } => {
            let written = crate::report::write_report(backends.storage.as_ref(), backends.local_root.as_deref(), &run_id)?;
            outln!("{}", written.path.as_ref().map_or(written.uri.clone(), |p| p.display().to_string()));
            Ok(())
        }
        RunsCommand::Compare { a, b, json } => {
            let (previous, current) = (store.load(&a)?, store.load(&b)?);
            comparable(&previous, &current)?;
            let source = current.vars.get("source_table").map_or("users", String::as_str);
            let labels = Labels { table: format!("engage.{source}"), label: crate::data::schema::LABEL.into() };
            let report = compare(backends.sql.as_ref(), &RunTables::of(&previous), &RunTables::of(&current), &labels, &Thresholds::default())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print_drift(&report);
            }
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
                outln!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if runs.is_empty() {
                match &backends.local_root {
                    Some(root) => outln!("no runs yet in {}", root.display()),
                    None => outln!("no runs yet in the runs zone"),
                }
                return Ok(());
            }
            let latest = store.latest()?;
            outln!("{:<20}  {:<24}  {:<11}  {:<24}  {:>8}", "run", "pipeline", "status", "started", "duration");
            for r in &runs {
                let mark = if latest.as_deref() == Some(r.run_id.as_str()) { "  (latest)" } else { "" };
                outln!(
                    "{:<20}  {:<24}  {:<11}  {:<24}  {:>8}{mark}",
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
                outln!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                out!("{}", describe(&record));
            }
            Ok(())
        }
    }
}

/// Whether `runs compare A B` can compare these runs: A no later than B, and both with predictions.
fn comparable(a: &RunRecord, b: &RunRecord) -> Result<()> {
    if a.started > b.started {
        anyhow::bail!(
            "run {} (started {}) is later than run {} (started {}): compare takes the earlier run first: engage runs compare {} {}",
            a.run_id,
            a.started,
            b.run_id,
            b.started,
            b.run_id,
            a.run_id
        );
    }
    let has_predictions = |r: &RunRecord| r.stage("predict").is_some_and(|s| s.output.is_some());
    for r in [a, b] {
        if r.status == RunStatus::Failed && !has_predictions(r) {
            let stage = r.error.as_ref().map_or("?".to_string(), |e| e.stage.clone());
            anyhow::bail!("run {} failed at stage '{stage}'; it has no predictions to compare", r.run_id);
        }
    }
    for r in [a, b] {
        if !has_predictions(r) {
            anyhow::bail!("run {} ({}) has no predictions to compare: its predict stage did not run", r.run_id, r.status.name());
        }
    }
    Ok(())
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
            for detail in a.error.iter().filter_map(|e| e.detail.as_deref()).flat_map(str::lines) {
                line(&mut out, format!("      {detail}"));
            }
        }
    }
    let used = plugins_used(r);
    if !used.is_empty() {
        line(&mut out, String::new());
        line(&mut out, "plugins (exactly what ran)".into());
        for (stage, u) in used {
            let version = match &u.version {
                Some(v) if u.requested != format!("{}@{v}", u.name) => format!("{} -> {} {v}", u.requested, u.name),
                Some(v) => format!("{} {v}", u.name),
                None => format!("{} (plugin folder, unpublished)", u.requested),
            };
            line(&mut out, format!("  {stage:<16} {version:<44} sha256:{}", u.hash));
        }
    }
    out
}

/// The plugins each stage recorded in its summary, in stage order.
fn plugins_used(r: &RunRecord) -> Vec<(String, crate::plugins::resolve::PluginUse)> {
    let mut used = Vec::new();
    for s in &r.stages {
        let Some(list) = s.output.as_ref().and_then(|o| o.summary.get("plugins")).and_then(|p| p.as_array()) else { continue };
        for entry in list {
            if let Ok(u) = serde_json::from_value(entry.clone()) {
                used.push((s.name.clone(), u));
            }
        }
    }
    used
}

fn print_drift(r: &DriftReport) {
    outln!("run {} against {}", r.current_run, r.previous_run.as_deref().unwrap_or("-"));
    outln!("\n{:<32} {:>8} {:>14} {:>14}  ", "feature", "PSI", "missing before", "missing now");
    for f in &r.features {
        let flag = if f.warning { "  WARNING" } else { "" };
        let psi = f.psi.map_or("n/a (all missing)".to_string(), |p| format!("{p:.4}"));
        outln!("{:<32} {:>8} {:>13.1}% {:>13.1}%{flag}", f.name, psi, f.missing_rate_previous * 100.0, f.missing_rate_current * 100.0);
    }
    if let Some(s) = &r.score_shift {
        outln!("\nscores: mean {:.4} -> {:.4}, PSI {:.4}{}", s.mean_previous, s.mean_current, s.psi, if s.warning { "  WARNING" } else { "" });
    }
    outln!("\nsegment migration (rows: before, columns: now; users scored in both runs)");
    outln!("{:<8} {}", "", SEGMENTS.iter().map(|s| format!("{s:>9}")).collect::<String>());
    for from in SEGMENTS {
        let row = r.segment_migration.get(from);
        let cells: String = SEGMENTS.iter().map(|to| format!("{:>9}", row.and_then(|m| m.get(*to)).copied().unwrap_or(0))).collect();
        outln!("{from:<8} {cells}");
    }
    match r.realized_auc {
        Some(auc) => outln!(
            "\nrealized AUC of {}'s model: {auc:.4} on {} users whose labels arrived (validation AUC {})",
            r.previous_run.as_deref().unwrap_or("-"),
            r.realized_auc_rows,
            r.validation_auc_previous.map_or("-".into(), |v| format!("{v:.4}"))
        ),
        None => outln!("\nrealized AUC: not yet (no labels for the earlier run's scoring week)"),
    }
    if r.warnings.is_empty() {
        outln!("no warnings");
    }
    for w in &r.warnings {
        outln!("warning: {w}");
    }
}
