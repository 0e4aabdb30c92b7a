//! `engage sql "<statement>"`: one Athena statement against the local storage
//! root, its result printed as a table, CSV or JSON lines.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::capabilities::sql::athena::render;
use crate::capabilities::sql::QueryResult;
use crate::config::{Backends, HostConfig};

#[derive(Args)]
pub struct SqlArgs {
    /// The statement, in Athena's dialect (SELECT, CREATE EXTERNAL TABLE, CTAS, INSERT, MSCK, SHOW, DESCRIBE, ...).
    pub statement: String,
    /// The runtime config choosing the sql backend; local when left out.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// How the result is printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    /// One JSON object per row.
    Json,
}

pub fn run(args: SqlArgs, root: &Path) -> Result<()> {
    let engine = Backends::open(&HostConfig::load_or_default(args.config.as_deref())?, root)?.sql;
    let result = engine.query(&args.statement).map_err(anyhow::Error::msg).context("sql")?;
    let text = match args.format {
        OutputFormat::Table => table(&result),
        OutputFormat::Csv => csv(&result)?,
        OutputFormat::Json => json(&result),
    };
    out!("{text}");
    Ok(())
}

fn headers(result: &QueryResult) -> Vec<String> {
    result.schema.fields().iter().map(|f| f.name().clone()).collect()
}

fn table(result: &QueryResult) -> String {
    let headers = headers(result);
    if headers.is_empty() {
        return "OK\n".into();
    }
    let rows: Vec<Vec<String>> = render::rows(&result.batches)
        .into_iter()
        .map(|r| r.into_iter().map(|c| c.unwrap_or_else(|| "NULL".into())).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule = format!("+{}+\n", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    let mut out = rule.clone() + &line(&headers) + &rule;
    for row in &rows {
        out += &line(row);
    }
    out += &rule;
    out += &format!("{} row{}\n", rows.len(), if rows.len() == 1 { "" } else { "s" });
    out
}

fn csv(result: &QueryResult) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(headers(result))?;
    for row in render::rows(&result.batches) {
        writer.write_record(row.into_iter().map(|c| c.unwrap_or_default()))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// One object per row, its keys in the columns' order (a JSON map would sort them).
fn json(result: &QueryResult) -> String {
    let keys: Vec<String> = headers(result).iter().map(|h| serde_json::Value::from(h.as_str()).to_string()).collect();
    let mut out = String::new();
    for row in render::rows(&result.batches) {
        let fields: Vec<String> =
            keys.iter().zip(row).map(|(key, cell)| format!("{key}:{}", cell.map_or(serde_json::Value::Null, serde_json::Value::String))).collect();
        out += &format!("{{{}}}\n", fields.join(","));
    }
    out
}
