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
//!   catalog switched to them, the old files deleted (see [`commit`]).
//!
//! Memory is bounded by batches (64K rows per snapshot writer) plus one 16-byte
//! hash per accepted user id for duplicate detection.

pub mod accounting;
pub mod commit;
pub mod landed;
pub mod partition;
pub mod quarantine;
pub mod source;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;

pub use self::accounting::{FileAccount, IngestReport};
use self::commit::{PROCESSED_BUCKET, PartitionUpdate, delete_location, register, snapshot_columns};
use self::partition::PartitionWriter;
use self::quarantine::{ExtraColumnsWriter, QuarantineWriter, extra_columns, quarantine_columns};
use self::source::Source;
use self::validate::{Layout, SeenIds, ValidRow, Validator};
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
}

impl IngestOptions {
    pub fn new(table: impl Into<String>) -> Self {
        Self { table: table.into(), database: DEFAULT_DATABASE.to_string(), max_bad_fraction: DEFAULT_MAX_BAD_FRACTION }
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
    let report = ingest_files(store, catalog, &files, options)?;
    // A weekly run pointed at the same files then knows they are in.
    landed::mark_ingested(store, &options.table, &files, &report.ingest_id)?;
    Ok(report)
}

/// Everything a run has open until it commits or is dropped (which discards it).
struct Outputs {
    partitions: BTreeMap<i32, PartitionWriter>,
    quarantine: QuarantineWriter,
    extras: ExtraColumnsWriter,
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
        Layout::from_header(&path.display().to_string(), source.header())?;
    }

    let table = options.table.as_str();
    let ingest_id = new_ingest_id();
    let mut report = IngestReport {
        ingest_id: ingest_id.clone(),
        database: options.database.clone(),
        table: table.to_string(),
        max_bad_fraction: options.max_bad_fraction,
        ..IngestReport::default()
    };
    let mut outputs = Outputs {
        partitions: BTreeMap::new(),
        quarantine: QuarantineWriter::new(PROCESSED_BUCKET, format!("{}/ingest={ingest_id}/part-00000.parquet", quarantine_table(table))),
        extras: ExtraColumnsWriter::new(PROCESSED_BUCKET, format!("{}/ingest={ingest_id}/part-00000.parquet", extra_columns_table(table))),
    };
    let mut seen = SeenIds::default();
    for path in files {
        let account = read_file(store, path, table, &ingest_id, &mut outputs, &mut seen, &mut report)?;
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
        report.files.push(account);
    }
    for (date, writer) in &outputs.partitions {
        report.snapshots.insert(date_text(*date), writer.rows);
    }
    report.seconds = started.elapsed().as_secs_f64();

    if report.rows_read == 0 {
        bail!("{}: no data rows after the header; nothing was written", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    if report.quarantined_fraction() > options.max_bad_fraction {
        // Dropping `outputs` discards every uncommitted write.
        bail!(
            "ingest into {table} failed: {} of {} rows ({:.2}%) were quarantined, above the ceiling of {:.2}% (--max-bad-fraction); nothing was written. Reasons by column: {}",
            report.rows_quarantined,
            report.rows_read,
            100.0 * report.quarantined_fraction(),
            100.0 * options.max_bad_fraction,
            report.reasons_by_column.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
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

fn read_file(
    store: &dyn ObjectStore,
    path: &Path,
    table: &str,
    ingest_id: &str,
    outputs: &mut Outputs,
    seen: &mut SeenIds,
    report: &mut IngestReport,
) -> Result<FileAccount> {
    let shown = path.display().to_string();
    let mut source = Source::open(path)?;
    let validator = Validator::new(Layout::from_header(&shown, source.header())?);
    let layout = validator.layout().clone();
    let mut account = FileAccount {
        file: shown.clone(),
        format: source.format_name().to_string(),
        extra_columns: layout.extras.iter().map(|(_, name)| name.clone()).collect(),
        absent_columns: layout.absent.iter().map(|s| s.to_string()).collect(),
        ..FileAccount::default()
    };
    let mut row = ValidRow::default();
    let mut reasons = Vec::new();
    while let Some(record) = source.next_record()? {
        account.rows_read += 1;
        if validator.check(record.fields, &mut row, &mut reasons, seen) {
            let writer = match outputs.partitions.entry(row.snapshot_date) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let key = format!("{table}/snapshot_date={}/ingest={ingest_id}/part-00000.parquet", date_text(row.snapshot_date));
                    e.insert(PartitionWriter::create(store, PROCESSED_BUCKET, key)?)
                }
            };
            writer.append(&layout, record.fields, &row)?;
            if !layout.extras.is_empty() {
                outputs.extras.push(store, &shown, record.line, &layout, record.fields, row.snapshot_date)?;
            }
            account.rows_accepted += 1;
        } else {
            outputs.quarantine.push(store, &shown, record.line, record.raw, &reasons)?;
            report.count_reasons(&reasons);
            account.rows_quarantined += 1;
        }
    }
    Ok(account)
}

/// Commits files, then the catalog (the switch), then deletes replaced files.
/// If a file fails to commit, the files already committed are removed again.
fn commit_outputs(store: &dyn ObjectStore, catalog: &dyn Catalog, outputs: Outputs, report: &mut IngestReport) -> Result<()> {
    let table = report.table.clone();
    let database = report.database.clone();
    let ingest_id = report.ingest_id.clone();
    let mut committed: Vec<String> = Vec::new();
    let result = (|| -> Result<_> {
        let mut partitions = Vec::new();
        for (date, writer) in outputs.partitions {
            let (key, rows) = (writer.key.clone(), writer.rows);
            writer.commit()?;
            committed.push(key.clone());
            let prefix = key.rsplit_once('/').map_or(key.as_str(), |(dir, _)| dir);
            partitions.push((date_text(date), format!("s3://{PROCESSED_BUCKET}/{prefix}/"), rows));
        }
        let quarantine = outputs.quarantine.commit(store)?;
        if let Some((key, ..)) = &quarantine {
            committed.push(key.clone());
        }
        let extras = outputs.extras.commit(store)?;
        if let Some((key, ..)) = &extras {
            committed.push(key.clone());
        }
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
    let side_table = |name: String, columns: Vec<Column>, committed: Option<(String, u64, _)>, comment: &str| {
        committed.map(|(key, rows, _): (String, u64, _)| {
            let prefix = key.rsplit_once('/').map_or(key.clone(), |(dir, _)| dir.to_string());
            PartitionUpdate {
                table: name,
                columns,
                key: Column { name: "ingest".into(), data_type: "string".into(), comment: Some("the ingest id".into()) },
                partitions: vec![(ingest_id.clone(), format!("s3://{PROCESSED_BUCKET}/{prefix}/"), rows)],
                comment: comment.to_string(),
            }
        })
    };
    let side_tables = [
        side_table(quarantine_table(&table), quarantine_columns(), quarantine, "rows rejected by ingest, verbatim, with every reason"),
        side_table(extra_columns_table(&table), extra_columns(), extras, "values of columns the contract does not know"),
    ];
    for update in side_tables.into_iter().flatten() {
        register(catalog, &database, &ingest_id, update)?;
    }
    let replaced = register(
        catalog,
        &database,
        &ingest_id,
        PartitionUpdate {
            table: table.clone(),
            columns: snapshot_columns(),
            key: Column { name: "snapshot_date".into(), data_type: "date".into(), comment: Some("the Sunday of the snapshot".into()) },
            partitions,
            comment: "weekly user snapshots (DATA.md), validated by engage ingest".into(),
        },
    )?;
    for (date, location) in replaced {
        delete_location(store, &location).with_context(|| format!("removing the replaced snapshot {date} at {location}"))?;
        report.replaced_snapshots.push(date);
    }
    report.written = committed.into_iter().map(|key| format!("{PROCESSED_BUCKET}/{key}")).collect();
    Ok(())
}
