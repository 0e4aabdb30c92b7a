//! `engage ingest`: raw CSV/Parquet snapshots in, validated and typed Parquet
//! out, in the processed zone (`processed/<table>/snapshot_date=D/ingest=<id>/`),
//! registered in the catalog.
//!
//! - File-level problems (unreadable, empty, no header, a required column
//!   missing, not CSV/Parquet) stop the run before anything is written.
//! - Row-level problems send the row, verbatim, to `<table>_quarantine` with its
//!   line and every reason; the rest goes on.
//! - Unknown extra columns are kept aside in `<table>_extra_columns` (a JSON
//!   object per accepted row) with a warning.
//! - Above the quarantine ceiling the run fails and nothing becomes visible:
//!   every output is an uncommitted object write until the end.
//! - Re-ingesting a snapshot replaces it: new files under a fresh prefix, the
//!   catalog switched to them, the old files deleted (see [`commit`]). Its side
//!   rows go with it: an earlier load's quarantine and extra-column file, one per
//!   input file, is retired once every snapshot that input loaded is loaded again.
//! - Ingest writes only tables it made (a table property records which of the
//!   three kinds): a same-named table from SQL or another ingest is refused
//!   before any row is read. Catalog updates hold the catalog's update lock, so
//!   ingests of different snapshots into one table may run at once.
//!
//! Files are read in segments (Parquet: runs of row groups of about 2M rows;
//! CSV: whole files), one per core at a time, each into part files of its own.
//! Memory is bounded by batches (64K rows per snapshot writer and segment) plus
//! one 16-byte hash per accepted user id for duplicate detection.

pub mod accounting;
pub mod commit;
pub mod landed;
pub mod partition;
pub mod quarantine;
pub mod source;
pub mod staging;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};

pub use self::accounting::{FileAccount, IngestReport};
use self::commit::{
    PROCESSED_BUCKET, PartitionUpdate, TableKind, check_owner, delete_location, register, retire_superseded_parts, snapshot_columns,
};
use self::partition::PartitionWriter;
use self::quarantine::{ExtraColumnsWriter, QuarantineWriter, extra_columns, quarantine_columns};
use self::source::Source;
use self::validate::{Layout, SeenIds, ValidRow, Validator};
use super::progress::RowProgress;
use crate::capabilities::storage::ObjectStore;
use crate::catalog::{Catalog, Column, DEFAULT_DATABASE};

/// Default ceiling on the quarantined fraction of rows read.
pub const DEFAULT_MAX_BAD_FRACTION: f64 = 0.05;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub table: String,
    pub database: String,
    /// Above this fraction of quarantined rows the run fails and writes nothing.
    pub max_bad_fraction: f64,
    /// Files in this folder are copies: errors and the quarantine name them by this location instead.
    pub copied_from: Option<(PathBuf, String)>,
    /// Told the rows read as reading goes (a rare re-read of every file, for
    /// a user id repeated across files, counts them again).
    pub progress: RowProgress,
    /// Files the table took in earlier, read again when this ingest replaces a snapshot they hold.
    pub companions: Vec<Companion>,
    /// Today (UTC): a snapshot dated after this week's Sunday is refused. Tests fix it.
    pub today: NaiveDate,
}

/// A file the table took in earlier, with the snapshots it held. A snapshot delivered in several files
/// and replaced through one of them (a corrected file landed again) would otherwise lose the others'
/// rows: the ingest reads the companions holding a snapshot it replaces, and commits them all at once.
#[derive(Clone)]
pub struct Companion {
    pub name: String,
    pub snapshots: BTreeSet<String>,
    /// Where the file can be read (a landed path, or a fresh copy of a stored object).
    pub fetch: std::sync::Arc<dyn Fn() -> Result<PathBuf> + Send + Sync>,
}

impl std::fmt::Debug for Companion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Companion").field("name", &self.name).field("snapshots", &self.snapshots).finish()
    }
}

/// The companions to read with an ingest that writes `snapshots`: those holding one of them, and
/// then those holding a snapshot a picked companion brings in.
fn companions_needed<'a>(companions: &'a [Companion], snapshots: &BTreeSet<String>) -> Vec<&'a Companion> {
    let mut wanted = snapshots.clone();
    let mut picked: Vec<&Companion> = Vec::new();
    while let Some(next) = companions.iter().find(|c| !picked.iter().any(|p| std::ptr::eq(*p, *c)) && !c.snapshots.is_disjoint(&wanted)) {
        wanted.extend(next.snapshots.iter().cloned());
        picked.push(next);
    }
    picked
}

impl IngestOptions {
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            database: DEFAULT_DATABASE.to_string(),
            max_bad_fraction: DEFAULT_MAX_BAD_FRACTION,
            copied_from: None,
            progress: RowProgress::default(),
            companions: Vec::new(),
            today: chrono::Utc::now().date_naive(),
        }
    }

    /// The newest snapshot date accepted: the Sunday that ends the current week (today, on a Sunday),
    /// so a week's snapshot can be landed under its date from the Monday before on, and no later one.
    pub fn latest_snapshot(&self) -> NaiveDate {
        self.today + chrono::Duration::days(6 - self.today.weekday().num_days_from_monday() as i64)
    }

    /// How a file is named to people: its path, or where its copy came from.
    pub fn shown(&self, path: &Path) -> String {
        match &self.copied_from {
            Some((folder, origin)) if path.starts_with(folder) => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{}/{name}", origin.trim_end_matches('/'))
            }
            _ => path.display().to_string(),
        }
    }
}

pub fn quarantine_table(table: &str) -> String {
    format!("{table}_quarantine")
}

pub fn extra_columns_table(table: &str) -> String {
    format!("{table}_extra_columns")
}

/// A sortable, unique id: UTC time to the millisecond plus random bits.
pub fn new_ingest_id() -> String {
    format!("{}-{:06x}", chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"), rand::random::<u32>() & 0xff_ffff)
}

fn check_table_name(table: &str) -> Result<()> {
    let ok = !table.is_empty()
        && table.len() <= 200
        && table.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !table.starts_with('_');
    if !ok {
        bail!("invalid table name '{table}': use lowercase letters, digits and '_', not starting with '_'");
    }
    Ok(())
}

fn date_text(days: i32) -> String {
    (NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(days as i64)).to_string()
}

/// Ingests a file, or every file of a folder, into `options.table`.
pub fn ingest(store: &dyn ObjectStore, catalog: &dyn Catalog, input: &Path, options: &IngestOptions) -> Result<IngestReport> {
    let files = source::input_files(input)?;
    let mut report = ingest_files(store, catalog, &files, options)?;
    // Files given by hand have no landing zone to find a snapshot's other files in: say what was left out.
    let replaced: BTreeSet<String> = report.replaced_snapshots.iter().cloned().collect();
    let left_out = if replaced.is_empty() { Vec::new() } else { landed::earlier_files_of(store, &options.table, &replaced, &files)? };
    if !left_out.is_empty() {
        report.warnings.push(format!(
            "snapshot {} was loaded before from {} as well; this ingest replaced it without {}: ingest all of the snapshot's files together to keep their rows",
            report.replaced_snapshots.join(", "),
            left_out.join(", "),
            if left_out.len() == 1 { "it" } else { "them" }
        ));
    }
    // A weekly run pointed at the same files then knows they are in.
    landed::mark_ingested(store, &options.table, &files, &report)?;
    Ok(report)
}

/// Everything one unit of work has open until it commits or is dropped (which discards it).
struct Outputs {
    partitions: BTreeMap<i32, PartitionWriter>,
    quarantine: QuarantineWriter,
    extras: ExtraColumnsWriter,
}

/// Rows per unit of work when a Parquet file is split by row groups.
const UNIT_ROWS: u64 = 2_000_000;

/// A part of an input file: the whole file, or a run of a Parquet file's row groups.
#[derive(Clone)]
struct Segment {
    file: usize,
    path: PathBuf,
    /// The file as errors and the quarantine name it.
    shown: String,
    row_groups: Option<Range<usize>>,
}

/// What one unit of work read: its open outputs, the ids it accepted per
/// snapshot date, and its accounting per input file.
struct UnitOutput {
    outputs: Outputs,
    seen: SeenIds,
    accounts: Vec<(usize, FileAccount)>,
    reasons: IngestReport,
}

/// Splits the files into segments that can be read at once: Parquet files by
/// runs of row groups of about [`UNIT_ROWS`] rows, CSV files whole.
fn plan_segments(files: &[PathBuf], options: &IngestOptions) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    for (file, path) in files.iter().enumerate() {
        let shown = options.shown(path);
        let Some(groups) = source::parquet_row_groups(path)? else {
            segments.push(Segment { file, path: path.clone(), shown, row_groups: None });
            continue;
        };
        let (mut start, mut rows) = (0, 0);
        for (i, n) in groups.iter().enumerate() {
            rows += n;
            if rows >= UNIT_ROWS || i + 1 == groups.len() {
                segments.push(Segment { file, path: path.clone(), shown: shown.clone(), row_groups: Some(start..i + 1) });
                (start, rows) = (i + 1, 0);
            }
        }
        if groups.is_empty() {
            segments.push(Segment { file, path: path.clone(), shown, row_groups: None });
        }
    }
    Ok(segments)
}

pub fn ingest_files(store: &dyn ObjectStore, catalog: &dyn Catalog, files: &[PathBuf], options: &IngestOptions) -> Result<IngestReport> {
    let started = Instant::now();
    check_table_name(&options.table)?;
    if !(0.0..=1.0).contains(&options.max_bad_fraction) {
        bail!("--max-bad-fraction must be between 0 and 1, not {}", options.max_bad_fraction);
    }
    // Every file's header is checked before any row is read, so a file-level
    // problem in the last file costs nothing.
    for path in files {
        let source = Source::open(path)?;
        Layout::from_header(&options.shown(path), source.header())?;
    }

    let table = options.table.as_str();
    // Found before any row is read: a table of that name that ingest did not make.
    for (name, kind, columns) in target_tables(table) {
        let existing = catalog.table(&options.database, &name).with_context(|| format!("reading catalog entry {}.{name}", options.database))?;
        check_owner(existing.as_ref(), kind, &columns)?;
    }
    let ingest_id = new_ingest_id();
    let mut report = IngestReport {
        ingest_id: ingest_id.clone(),
        database: options.database.clone(),
        table: table.to_string(),
        max_bad_fraction: options.max_bad_fraction,
        ..IngestReport::default()
    };
    // Segments are read side by side, each with outputs of its own. A user id
    // repeated within a snapshot date is quarantined where it comes second; when
    // a repeat spans two segments that order is only known reading them in turn,
    // so the ingest reads everything again as one unit (a rare, broken input).
    let read_files = |files: &[PathBuf]| -> Result<Vec<UnitOutput>> {
        let segments = plan_segments(files, options)?;
        let read = |units| read_units(store, table, &ingest_id, units, options);
        let units = read(segments.iter().map(|s| vec![s.clone()]).collect())?;
        if units.len() > 1 && repeats_across(&units) {
            drop(units);
            return read(vec![segments]);
        }
        Ok(units)
    };
    let mut units = read_files(files)?;
    let written: BTreeSet<String> = units.iter().flat_map(|u| u.outputs.partitions.keys().map(|d| date_text(*d))).collect();
    let companions = companions_needed(&options.companions, &written);
    let mut files = files.to_vec();
    if !companions.is_empty() {
        // Read everything again as one set, so the snapshot is replaced by all of its files at once.
        drop(units);
        for companion in &companions {
            let path = (companion.fetch)().with_context(|| format!("reading {} again", companion.name))?;
            report.warnings.push(format!(
                "{} holds snapshot {} too (taken in earlier): read again so that the snapshot keeps its rows",
                companion.name,
                companion.snapshots.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            report.companions_read.push(path.clone());
            files.push(path);
        }
        units = read_files(&files)?;
    }

    let mut accounts: BTreeMap<usize, FileAccount> = BTreeMap::new();
    let mut outputs = Vec::with_capacity(units.len());
    for unit in units {
        let snapshots: BTreeSet<String> = unit.outputs.partitions.keys().map(|d| date_text(*d)).collect();
        for (file, account) in unit.accounts {
            let total = accounts.entry(file).or_insert_with(|| FileAccount { rows_read: 0, rows_accepted: 0, rows_quarantined: 0, lines_taken_in: 0, ..account.clone() });
            total.rows_read += account.rows_read;
            total.rows_accepted += account.rows_accepted;
            total.rows_quarantined += account.rows_quarantined;
            total.lines_taken_in += account.lines_taken_in;
            total.snapshots.extend(snapshots.iter().cloned());
        }
        for (column, n) in unit.reasons.reasons_by_column {
            *report.reasons_by_column.entry(column).or_default() += n;
        }
        report.add_first_rejected(unit.reasons.first_rejected);
        outputs.push(unit.outputs);
    }
    for account in accounts.into_values() {
        if !account.extra_columns.is_empty() {
            report.warnings.push(format!(
                "{}: unknown column{} kept aside in {}: {}",
                account.file,
                if account.extra_columns.len() > 1 { "s" } else { "" },
                extra_columns_table(table),
                account.extra_columns.join(", ")
            ));
        }
        if !account.absent_columns.is_empty() {
            report.warnings.push(format!("{}: columns absent, loaded as missing: {}", account.file, account.absent_columns.join(", ")));
        }
        report.rows_read += account.rows_read;
        report.rows_accepted += account.rows_accepted;
        report.rows_quarantined += account.rows_quarantined;
        report.lines_taken_in += account.lines_taken_in;
        report.files.push(account);
    }
    for unit in &outputs {
        for (date, writer) in &unit.partitions {
            *report.snapshots.entry(date_text(*date)).or_default() += writer.rows;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();

    if report.rows_read == 0 {
        bail!("{}: no data rows after the header; nothing was written", files.iter().map(|f| options.shown(f)).collect::<Vec<_>>().join(", "));
    }
    if report.quarantined_fraction() > options.max_bad_fraction {
        // Dropping `outputs` discards every uncommitted write.
        bail!(
            "ingest into {table} failed: {} of {} rows{} ({:.2}%) were quarantined, above the ceiling of {:.2}% (--max-bad-fraction); nothing was written. Reasons by column: {}. The first rejected rows:{}",
            report.rows_quarantined,
            report.rows_read,
            match report.lines_taken_in {
                0 => String::new(),
                n => format!(", and {n} more lines taken in by quotes left open,"),
            },
            100.0 * report.quarantined_fraction(),
            100.0 * options.max_bad_fraction,
            report.reasons_by_column.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", "),
            // One line, as every error: the rows follow each other after " | ".
            report.first_rejected_text(" | ")
        );
    }
    commit_outputs(store, catalog, outputs, &mut report)?;
    report.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_vec_pretty(&report).expect("reports serialize");
    store
        .put(PROCESSED_BUCKET, &format!("_ingest/{table}/{ingest_id}.json"), &json)
        .with_context(|| format!("storing the accounting of ingest {ingest_id}"))?;
    Ok(report)
}

/// The tables an ingest into `table` writes: the snapshots and the two side tables.
fn target_tables(table: &str) -> [(String, TableKind, Vec<Column>); 3] {
    [
        (table.to_string(), TableKind::Snapshots, snapshot_columns()),
        (quarantine_table(table), TableKind::Quarantine, quarantine_columns()),
        (extra_columns_table(table), TableKind::ExtraColumns, extra_columns()),
    ]
}

/// Reads the units on up to one thread per core; the first error (in unit order) wins
/// and every unit's outputs are then dropped, that is discarded.
fn read_units(
    store: &dyn ObjectStore,
    table: &str,
    ingest_id: &str,
    units: Vec<Vec<Segment>>,
    options: &IngestOptions,
) -> Result<Vec<UnitOutput>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(units.len()).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<UnitOutput>>>> = Mutex::new((0..units.len()).map(|_| None).collect());
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= units.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = read_unit(store, table, ingest_id, index, &units[index], options);
                    failed.fetch_or(result.is_err(), Ordering::Relaxed);
                    results.lock().expect("no reader panics holding the lock")[index] = Some(result);
                }
            });
        }
    });
    let mut done = Vec::with_capacity(units.len());
    for result in results.into_inner().expect("readers finished") {
        match result {
            Some(Ok(unit)) => done.push(unit),
            Some(Err(error)) => return Err(error),
            // Not started because another unit failed: that failure comes first or later in the list.
            None => {}
        }
    }
    Ok(done)
}

/// Whether a user id accepted for a snapshot date in one unit was accepted for it in another too.
fn repeats_across(units: &[UnitOutput]) -> bool {
    let mut by_date: BTreeMap<i32, Vec<&std::collections::HashSet<u128>>> = BTreeMap::new();
    for unit in units {
        for (date, ids) in &unit.seen.0 {
            by_date.entry(*date).or_default().push(ids);
        }
    }
    by_date.values().any(|sets| (1..sets.len()).any(|i| sets[i].iter().any(|id| sets[..i].iter().any(|earlier| earlier.contains(id)))))
}

fn read_unit(
    store: &dyn ObjectStore,
    table: &str,
    ingest_id: &str,
    unit: usize,
    segments: &[Segment],
    options: &IngestOptions,
) -> Result<UnitOutput> {
    let part = format!("part-{unit:05}.parquet");
    let mut done = UnitOutput {
        outputs: Outputs {
            partitions: BTreeMap::new(),
            quarantine: QuarantineWriter::new(PROCESSED_BUCKET, format!("{}/ingest={ingest_id}/{part}", quarantine_table(table))),
            extras: ExtraColumnsWriter::new(PROCESSED_BUCKET, format!("{}/ingest={ingest_id}/{part}", extra_columns_table(table))),
        },
        seen: SeenIds::default(),
        accounts: Vec::new(),
        reasons: IngestReport::default(),
    };
    for segment in segments {
        let account = read_segment(store, segment, table, ingest_id, &part, &mut done, options)?;
        done.accounts.push((segment.file, account));
    }
    Ok(done)
}

/// Rows read between two progress reports.
const PROGRESS_ROWS: u64 = 65_536;

fn read_segment(
    store: &dyn ObjectStore,
    segment: &Segment,
    table: &str,
    ingest_id: &str,
    part: &str,
    unit: &mut UnitOutput,
    options: &IngestOptions,
) -> Result<FileAccount> {
    let progress = &options.progress;
    let latest = options.latest_snapshot();
    let latest_day = crate::data::generate::days_since_epoch(latest);
    let shown = segment.shown.clone();
    let mut source = Source::open_rows(&segment.path, segment.row_groups.clone())?;
    let validator = Validator::new(Layout::from_header(&shown, source.header())?);
    let layout = validator.layout().clone();
    let mut account = FileAccount {
        file: shown.clone(),
        format: source.format_name().to_string(),
        extra_columns: layout.extras.iter().map(|(_, name)| name.clone()).collect(),
        absent_columns: layout.absent.iter().map(|s| s.to_string()).collect(),
        ..FileAccount::default()
    };
    let numbered = if account.format == "parquet" { "row" } else { "line" };
    let outputs = &mut unit.outputs;
    let mut row = ValidRow::default();
    let mut reasons = Vec::new();
    while let Some(record) = source.next_record()? {
        account.rows_read += 1;
        if account.rows_read.is_multiple_of(PROGRESS_ROWS) {
            progress.add(PROGRESS_ROWS);
        }
        if validator.check(record.fields, &mut row, &mut reasons, &mut unit.seen) {
            // A snapshot from the future is a wrong date for the whole file, not a bad row: the newest
            // week would be scored in its place. Refused before anything of the ingest is committed.
            if row.snapshot_date > latest_day {
                bail!(
                    "{shown}: {} {} ({numbered} {}) is after today, {} (UTC); the newest snapshot accepted is this week's Sunday, \
                     {latest}. Nothing was written: correct the file's snapshot dates and ingest it again",
                    crate::data::schema::SNAPSHOT_DATE,
                    date_text(row.snapshot_date),
                    record.line,
                    options.today
                );
            }
            let writer = match outputs.partitions.entry(row.snapshot_date) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let key = format!("{table}/snapshot_date={}/ingest={ingest_id}/{part}", date_text(row.snapshot_date));
                    e.insert(PartitionWriter::create(store, PROCESSED_BUCKET, key)?)
                }
            };
            writer.append(&layout, record.fields, &row)?;
            if !layout.extras.is_empty() {
                outputs.extras.push(store, &shown, record.line, &layout, record.fields, row.snapshot_date)?;
            }
            account.rows_accepted += 1;
        } else {
            if record.fields.len() != layout.field_count {
                account.lines_taken_in += record.fields.iter().map(validate::lines_taken_in).sum::<u64>();
            }
            outputs.quarantine.push(store, &shown, record.line, &record.raw()?, &reasons)?;
            unit.reasons.count_rejected(&shown, || format!("{numbered} {}", record.line), &reasons);
            account.rows_quarantined += 1;
        }
    }
    progress.add(account.rows_read % PROGRESS_ROWS);
    Ok(account)
}

/// Commits files, then the catalog (the switch), then deletes replaced files.
/// If a file fails to commit, the files already committed are removed again.
fn commit_outputs(store: &dyn ObjectStore, catalog: &dyn Catalog, units: Vec<Outputs>, report: &mut IngestReport) -> Result<()> {
    let table = report.table.clone();
    let database = report.database.clone();
    let ingest_id = report.ingest_id.clone();
    let mut committed: Vec<String> = Vec::new();
    // One catalog partition per snapshot date (or side table), however many part files it has.
    let folder = |key: &str| key.rsplit_once('/').map_or(key.to_string(), |(dir, _)| dir.to_string());
    // Each unit's side-table part files, with its rows and the snapshots its input loaded.
    let (mut quarantine_parts, mut extra_parts) = (Vec::new(), Vec::new());
    let result = (|| -> Result<_> {
        let mut partitions: BTreeMap<i32, (String, u64)> = BTreeMap::new();
        let (mut quarantine, mut extras): (Option<(String, u64)>, Option<(String, u64)>) = (None, None);
        let add = |total: &mut Option<(String, u64)>, key: &str, rows: u64| {
            total.get_or_insert_with(|| (folder(key), 0)).1 += rows;
        };
        for outputs in units {
            let snapshots: Vec<String> = outputs.partitions.keys().map(|d| date_text(*d)).collect();
            for (date, writer) in outputs.partitions {
                let (key, rows) = (writer.key.clone(), writer.rows);
                writer.commit()?;
                committed.push(key.clone());
                partitions.entry(date).or_insert_with(|| (folder(&key), 0)).1 += rows;
            }
            if let Some((key, rows, _)) = outputs.quarantine.commit(store)? {
                committed.push(key.clone());
                add(&mut quarantine, &key, rows);
                quarantine_parts.push((key, rows, snapshots.clone()));
            }
            if let Some((key, rows, _)) = outputs.extras.commit(store)? {
                committed.push(key.clone());
                add(&mut extras, &key, rows);
                extra_parts.push((key, rows, snapshots.clone()));
            }
        }
        let partitions: Vec<_> =
            partitions.into_iter().map(|(date, (prefix, rows))| (date_text(date), format!("s3://{PROCESSED_BUCKET}/{prefix}/"), rows)).collect();
        Ok((partitions, quarantine, extras))
    })();
    let (partitions, quarantine, extras) = match result {
        Ok(done) => done,
        Err(error) => {
            for key in &committed {
                let _ = store.delete(PROCESSED_BUCKET, key);
            }
            return Err(error);
        }
    };
    let snapshots: BTreeSet<String> = partitions.iter().map(|(date, _, _)| date.clone()).collect();
    let side_table = |name: String, kind, columns, committed: Option<(String, u64)>, parts, comment: &str| {
        committed.map(|(prefix, rows)| PartitionUpdate {
            table: name,
            kind,
            columns,
            key: Column { name: "ingest".into(), data_type: "string".into(), comment: Some("the ingest id".into()) },
            partitions: vec![(ingest_id.clone(), format!("s3://{PROCESSED_BUCKET}/{prefix}/"), rows)],
            parts,
            comment: comment.to_string(),
        })
    };
    let quarantine_comment = "rows rejected by ingest, verbatim, with every reason";
    let side_tables = [
        side_table(quarantine_table(&table), TableKind::Quarantine, quarantine_columns(), quarantine, quarantine_parts, quarantine_comment),
        side_table(extra_columns_table(&table), TableKind::ExtraColumns, extra_columns(), extras, extra_parts, "values of columns the contract does not know"),
    ];
    let main = PartitionUpdate {
        table: table.clone(),
        kind: TableKind::Snapshots,
        columns: snapshot_columns(),
        key: Column { name: "snapshot_date".into(), data_type: "date".into(), comment: Some("the Sunday of the snapshot".into()) },
        partitions,
        parts: Vec::new(),
        comment: "weekly user snapshots (DATA.md), validated by engage ingest".into(),
    };
    let registered = (|| -> Result<_> {
        for update in side_tables.into_iter().flatten() {
            register(catalog, &database, &ingest_id, update)?;
        }
        register(catalog, &database, &ingest_id, main)
    })();
    let replaced = match registered {
        Ok(replaced) => replaced,
        Err(error) => {
            // Not in the catalog (a side table may be, pointing at its files): nothing may stay behind.
            for key in &committed {
                let _ = store.delete(PROCESSED_BUCKET, key);
            }
            return Err(error);
        }
    };
    // The snapshots are switched: side rows that earlier loads of them left go too.
    for side in [quarantine_table(&table), extra_columns_table(&table)] {
        retire_superseded_parts(catalog, store, &database, &side, &ingest_id, &snapshots)
            .with_context(|| format!("removing {side} rows of the snapshots this ingest replaced"))?;
    }
    for (date, location) in replaced {
        delete_location(store, &location).with_context(|| format!("removing the replaced snapshot {date} at {location}"))?;
        report.replaced_snapshots.push(date);
    }
    report.written = committed.into_iter().map(|key| format!("{PROCESSED_BUCKET}/{key}")).collect();
    Ok(())
}
