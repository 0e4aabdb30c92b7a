//! `engage data generate`: deterministic synthetic weekly snapshots following
//! DATA.md, one file per week (`users_YYYY-MM-DD.csv|parquet`).
//!
//! Users are simulated in chunks: each user of a chunk is walked through every
//! week with its own random stream, rows go to the week files, then the chunk is
//! dropped. Memory is bounded by the chunk, not by the number of users, and the
//! output does not depend on the chunk size. The engagement process behind the
//! label is documented in [`process`].

pub mod process;
mod rng;
mod sink;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate, Weekday};

use self::process::User;
use self::rng::Rng;
use self::sink::{CsvWeek, ParquetWeek, WeekSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Parquet,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        }
    }
}

/// The newest snapshot when none is given: a fixed Sunday, so a seed alone fixes the bytes.
pub const DEFAULT_LAST_SNAPSHOT: (i32, u32, u32) = (2026, 11, 22);

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub users: u64,
    /// Weekly snapshots; all but the newest carry the label.
    pub weeks: u32,
    pub seed: u64,
    pub format: OutputFormat,
    pub out_dir: PathBuf,
    /// The newest snapshot's Sunday.
    pub last_snapshot: NaiveDate,
}

impl GenerateOptions {
    pub fn new(users: u64, out_dir: impl Into<PathBuf>) -> Self {
        let (y, m, d) = DEFAULT_LAST_SNAPSHOT;
        Self {
            users,
            weeks: 4,
            seed: 42,
            format: OutputFormat::Parquet,
            out_dir: out_dir.into(),
            last_snapshot: NaiveDate::from_ymd_opt(y, m, d).expect("a valid date"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateSummary {
    pub files: Vec<PathBuf>,
    pub snapshot_dates: Vec<NaiveDate>,
    pub rows: u64,
    pub seconds: f64,
}

/// Users per chunk: enough for efficient batches, few enough that all weeks'
/// buffered rows (chunk × weeks) stay around half a million.
fn chunk_users(weeks: u32) -> usize {
    (524_288 / weeks.max(1) as usize).clamp(1024, 65_536)
}

pub fn snapshot_file_name(date: NaiveDate, format: OutputFormat) -> String {
    format!("users_{date}.{}", format.extension())
}

/// Formats user ids as `u000000001`: fixed width so they sort in user order.
fn write_user_id(buf: &mut String, index: u64) {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "u{index:09}");
}

pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary> {
    let started = Instant::now();
    if options.users == 0 {
        bail!("--users must be at least 1");
    }
    if options.weeks == 0 {
        bail!("--weeks must be at least 1");
    }
    if options.last_snapshot.weekday() != Weekday::Sun {
        bail!("the last snapshot date {} is a {}, not a Sunday", options.last_snapshot, options.last_snapshot.weekday());
    }
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("{}: cannot create the output folder", options.out_dir.display()))?;

    let weeks = options.weeks as usize;
    let dates: Vec<NaiveDate> = (0..weeks)
        .map(|w| options.last_snapshot - chrono::Duration::weeks((weeks - 1 - w) as i64))
        .collect();
    let chunk = chunk_users(options.weeks);
    let files: Vec<PathBuf> = dates.iter().map(|d| options.out_dir.join(snapshot_file_name(*d, options.format))).collect();
    let mut sinks: Vec<Box<dyn WeekSink>> = Vec::with_capacity(weeks);
    for (date, path) in dates.iter().zip(&files) {
        sinks.push(match options.format {
            OutputFormat::Csv => Box::new(CsvWeek::create(path, date.to_string())?),
            OutputFormat::Parquet => Box::new(ParquetWeek::create(path, days_since_epoch(*date), chunk)?),
        });
    }

    let mut user_id = String::with_capacity(16);
    let mut start = 0u64;
    while start < options.users {
        let end = (start + chunk as u64).min(options.users);
        for index in start..end {
            let mut rng = Rng::for_stream(options.seed, index);
            let mut user = User::new(&mut rng);
            write_user_id(&mut user_id, index);
            let mut engaged_last_week = None;
            for (week, sink) in sinks.iter_mut().enumerate() {
                let row = user.step(&mut rng, engaged_last_week);
                // Drawn every week (also the newest) so the process is the same;
                // the newest week's outcome lies in the future and is not written.
                let engaged = user.engaged_next_week(&mut rng, &row);
                let label = (week + 1 < weeks).then_some(engaged as i64);
                sink.push(&user_id, &row, label)?;
                engaged_last_week = Some(engaged);
            }
        }
        for sink in &mut sinks {
            sink.flush_chunk()?;
        }
        start = end;
    }
    for sink in sinks {
        sink.finish()?;
    }
    Ok(GenerateSummary {
        files,
        snapshot_dates: dates,
        rows: options.users * weeks as u64,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Arrow's Date32: days since 1970-01-01.
pub fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Where a generated week lands, for callers that only know the folder.
pub fn snapshot_path(out_dir: &Path, date: NaiveDate, format: OutputFormat) -> PathBuf {
    out_dir.join(snapshot_file_name(date, format))
}

#[cfg(test)]
mod tests {
    use super::process::ROW_COLUMNS;
    use crate::data::schema::FEATURES;

    #[test]
    fn generated_row_follows_the_contract_order() {
        let names: Vec<&str> = FEATURES.iter().map(|c| c.name).collect();
        assert_eq!(ROW_COLUMNS, names.as_slice());
    }
}
