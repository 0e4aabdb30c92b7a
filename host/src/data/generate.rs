//! `engage data generate`: deterministic synthetic weekly snapshots following
//! DATA.md, one file per week (`users_YYYY-MM-DD.csv|parquet`).
//!
//! Users are simulated in fixed chunks of [`CHUNK_USERS`]: a chunk's users are
//! created, then walked through the weeks one week at a time (each user with its
//! own random stream), and each week's rows are encoded as one piece of that
//! week's file (a Parquet row group, or a run of CSV lines). Memory is bounded by
//! the chunk, not by the number of users. Chunks are independent, so several
//! threads simulate and encode them while the files receive them in user
//! order: the bytes depend on the seed only, never on the thread count. The
//! engagement process behind the label is documented in [`process`].

mod columns;
mod encodings;
mod parquet_chunk;
pub mod process;
pub mod rng;
mod sink;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Datelike, NaiveDate, Weekday};

use self::process::User;
use self::rng::Rng;
use self::sink::{ChunkEncoder, Encoded, EncoderSpec, WeekFile};
use super::progress::RowProgress;

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

/// Users per chunk, and so rows per Parquet row group. Part of the output's
/// shape: changing it changes the Parquet bytes (not the rows).
pub const CHUNK_USERS: usize = 65_536;

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
    /// Worker threads; 0 = as many cores as this process may use. The output
    /// is the same for any value.
    pub threads: usize,
    /// Told the rows of each chunk once its week's file has them.
    pub progress: RowProgress,
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
            threads: 0,
            progress: RowProgress::default(),
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

pub fn snapshot_file_name(date: NaiveDate, format: OutputFormat) -> String {
    format!("users_{date}.{}", format.extension())
}

/// A simulated user between weeks.
struct Simulated {
    rng: Rng,
    user: User,
    engaged_last_week: Option<bool>,
}

/// Simulates and encodes whole chunks; one per thread.
struct ChunkWorker<'a> {
    options: &'a GenerateOptions,
    dates: &'a [NaiveDate],
    users: Vec<Simulated>,
    encoder: ChunkEncoder,
}

impl<'a> ChunkWorker<'a> {
    fn new(options: &'a GenerateOptions, dates: &'a [NaiveDate], spec: &EncoderSpec) -> Result<Self> {
        let rows = CHUNK_USERS.min(options.users as usize);
        Ok(Self { options, dates, users: Vec::with_capacity(rows), encoder: ChunkEncoder::new(spec, rows)? })
    }

    /// Simulates chunk `chunk` through every week, handing each week's encoded rows to `emit`.
    fn run(&mut self, chunk: usize, mut emit: impl FnMut(usize, Encoded) -> Result<()>) -> Result<()> {
        let start = (chunk * CHUNK_USERS) as u64;
        let end = start + chunk_rows(self.options.users, chunk);
        self.users.clear();
        self.users.extend((start..end).map(|index| {
            let mut rng = Rng::for_stream(self.options.seed, index);
            let user = User::new(&mut rng);
            Simulated { rng, user, engaged_last_week: None }
        }));
        let weeks = self.dates.len();
        for (week, date) in self.dates.iter().enumerate() {
            self.encoder.start_week(*date);
            let labelled = week + 1 < weeks;
            for (index, sim) in (start..).zip(self.users.iter_mut()) {
                // The row is simulated straight into the encoder's buffer.
                let row = self.encoder.next_row();
                sim.user.step_into(&mut sim.rng, sim.engaged_last_week, row);
                // Drawn every week (also the newest) so the process is the same;
                // the newest week's outcome lies in the future and is not written.
                let engaged = sim.user.engaged_next_week(&mut sim.rng, row);
                self.encoder.push_next_row(index, labelled.then_some(engaged as i64));
                sim.engaged_last_week = Some(engaged);
            }
            emit(week, self.encoder.finish()?)?;
        }
        Ok(())
    }
}

fn worker_threads(requested: usize, chunks: usize) -> usize {
    let available = if requested == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { requested };
    available.clamp(1, 16).min(chunks.max(1))
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
    let paths: Vec<PathBuf> = dates.iter().map(|d| options.out_dir.join(snapshot_file_name(*d, options.format))).collect();
    // Found now rather than after every row is simulated.
    if let Some(folder) = paths.iter().find(|p| p.is_dir()) {
        bail!("{}: is a folder, so the week's file cannot be written there", folder.display());
    }
    let mut files = Vec::with_capacity(weeks);
    let mut spec = EncoderSpec::Csv;
    for path in &paths {
        files.push(match options.format {
            OutputFormat::Csv => WeekFile::csv(path)?,
            OutputFormat::Parquet => {
                let (file, file_spec) = WeekFile::parquet(path)?;
                // Every week has the same schema and settings: one factory serves all.
                spec = file_spec;
                file
            }
        });
    }

    let chunks = options.users.div_ceil(CHUNK_USERS as u64) as usize;
    let threads = worker_threads(options.threads, chunks);
    if threads == 1 {
        let mut worker = ChunkWorker::new(options, &dates, &spec)?;
        for chunk in 0..chunks {
            worker.run(chunk, |week, encoded| {
                files[week].append(encoded)?;
                options.progress.add(chunk_rows(options.users, chunk));
                Ok(())
            })?;
        }
    } else {
        std::thread::scope(|scope| -> Result<()> {
            // Worker `t` takes chunks t, t + threads, ...; the files take them
            // back in chunk order. One encoded week may wait per worker.
            let mut queues = Vec::with_capacity(threads);
            for first in 0..threads {
                let (send, receive) = mpsc::sync_channel::<Result<Encoded>>(1);
                let (options, dates, spec) = (options, &dates, &spec);
                scope.spawn(move || {
                    let sent = ChunkWorker::new(options, dates, spec).and_then(|mut worker| {
                        for chunk in (first..chunks).step_by(threads) {
                            worker.run(chunk, |_, encoded| send.send(Ok(encoded)).map_err(|_| anyhow!("the writer stopped")))?;
                        }
                        Ok(())
                    });
                    if let Err(error) = sent {
                        let _ = send.send(Err(error));
                    }
                });
                queues.push(receive);
            }
            for chunk in 0..chunks {
                for file in files.iter_mut() {
                    let encoded = queues[chunk % threads].recv().map_err(|_| anyhow!("a generator thread stopped"))??;
                    file.append(encoded)?;
                    options.progress.add(chunk_rows(options.users, chunk));
                }
            }
            Ok(())
        })?;
    }
    for file in files {
        file.finish()?;
    }
    Ok(GenerateSummary {
        files: paths,
        snapshot_dates: dates,
        rows: options.users * weeks as u64,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Users (rows per week) in `chunk`.
fn chunk_rows(users: u64, chunk: usize) -> u64 {
    (users - (chunk * CHUNK_USERS) as u64).min(CHUNK_USERS as u64)
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
