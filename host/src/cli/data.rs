//! `engage data ...`

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Subcommand, ValueEnum};

use crate::data::generate::{GenerateOptions, OutputFormat, generate};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Writes deterministic synthetic weekly snapshots (the 72 columns of docs/data.md plus
    /// user_id, snapshot_date, engaged_next_7d), one file per week.
    Generate {
        /// Users per week; the same users appear every week.
        #[arg(long)]
        users: u64,
        /// Weekly snapshots; all but the newest carry the label.
        #[arg(long, default_value_t = 4)]
        weeks: u32,
        /// Random seed: the same seed gives the same bytes.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = Format::Parquet)]
        format: Format,
        /// The newest snapshot's date (a Sunday).
        #[arg(long, default_value = "2026-11-22")]
        last_date: String,
        /// Output folder: <out>/users_YYYY-MM-DD.<format>.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Generate { users, weeks, seed, format, last_date, out } => {
            let last_snapshot = NaiveDate::parse_from_str(&last_date, "%Y-%m-%d")
                .with_context(|| format!("--last-date '{last_date}' is not a date (YYYY-MM-DD)"))?;
            let mut options = GenerateOptions::new(users, out);
            options.weeks = weeks;
            options.seed = seed;
            options.last_snapshot = last_snapshot;
            options.format = match format {
                Format::Csv => OutputFormat::Csv,
                Format::Parquet => OutputFormat::Parquet,
            };
            let bar = super::progress::rows_bar("generating", Some(users.saturating_mul(weeks.into())));
            options.progress = super::progress::reporter(&bar);
            let summary = generate(&options);
            bar.finish_and_clear();
            let summary = summary?;
            for file in &summary.files {
                outln!("{}", file.display());
            }
            outln!(
                "generated {} rows ({} users x {} weeks) in {:.2}s: {:.0} rows/s",
                summary.rows,
                users,
                weeks,
                summary.seconds,
                summary.rows as f64 / summary.seconds.max(1e-9)
            );
            Ok(())
        }
    }
}
