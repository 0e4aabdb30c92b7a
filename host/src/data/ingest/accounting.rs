//! The run's accounting: rows read = rows accepted + rows quarantined, per file
//! and in total, with counts per reason. Printed and stored as JSON under
//! `processed/_ingest/<table>/<ingest id>.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileAccount {
    pub file: String,
    pub format: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    /// Unknown columns kept aside in `<table>_extra_columns`.
    pub extra_columns: Vec<String>,
    /// Optional contract columns the file lacks, loaded as missing.
    pub absent_columns: Vec<String>,
    /// The snapshot dates the file's accepted rows belong to (YYYY-MM-DD).
    #[serde(default)]
    pub snapshots: BTreeSet<String>,
    /// Lines a quarantined row took in after its own: a quote left open runs on over them (see
    /// [`IngestReport::quarantined_fraction`]).
    #[serde(default)]
    pub lines_taken_in: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    pub ingest_id: String,
    pub database: String,
    pub table: String,
    pub files: Vec<FileAccount>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    pub max_bad_fraction: f64,
    /// How many rejected rows broke a rule on each column ("field count" for a row of the wrong width).
    pub reasons_by_column: BTreeMap<String, u64>,
    /// The first few rejected rows (in file order): where they are and why.
    #[serde(default)]
    pub first_rejected: Vec<RejectedRow>,
    /// Accepted rows per snapshot date (YYYY-MM-DD).
    pub snapshots: BTreeMap<String, u64>,
    /// Snapshots that existed before and were replaced by this ingest.
    pub replaced_snapshots: Vec<String>,
    /// The data files written, `bucket/key`.
    pub written: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
    /// Lines quarantined rows took in after their own (a quote left open), over every file.
    #[serde(default)]
    pub lines_taken_in: u64,
    /// Files taken in earlier that this ingest read again (see [`super::Companion`]), as read.
    #[serde(skip)]
    pub companions_read: Vec<std::path::PathBuf>,
}

/// How many rejected rows a report keeps as examples.
const FIRST_REJECTED: usize = 5;

/// A rejected row: its file, its place there ("line 12" of a CSV file, "row 12"
/// of a Parquet file, the quarantine table's `line_number`) and every reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RejectedRow {
    pub file: String,
    pub place: String,
    pub reasons: Vec<String>,
}

impl IngestReport {
    /// The share of the input quarantined, for the ceiling. The lines a quarantined row took in count as
    /// quarantined too: one quote left open can swallow most of a file into a single bad row.
    pub fn quarantined_fraction(&self) -> f64 {
        let read = self.rows_read + self.lines_taken_in;
        if read == 0 { 0.0 } else { (self.rows_quarantined + self.lines_taken_in) as f64 / read as f64 }
    }

    /// The invariant every run must hold.
    pub fn balances(&self) -> bool {
        self.rows_read == self.rows_accepted + self.rows_quarantined
            && self.files.iter().all(|f| f.rows_read == f.rows_accepted + f.rows_quarantined)
            && self.files.iter().map(|f| f.rows_read).sum::<u64>() == self.rows_read
            && self.snapshots.values().sum::<u64>() == self.rows_accepted
    }

    /// Counts a rejected row's reasons under the column each one names, and
    /// keeps the row's place and reasons if it is among the first few.
    pub fn count_rejected(&mut self, file: &str, place: impl FnOnce() -> String, reasons: &[String]) {
        if self.first_rejected.len() < FIRST_REJECTED {
            self.add_first_rejected(vec![RejectedRow { file: file.to_string(), place: place(), reasons: reasons.to_vec() }]);
        }
        self.count_reasons(reasons);
    }

    /// Takes rejected rows that come after those already kept, as far as there is room.
    pub fn add_first_rejected(&mut self, rows: Vec<RejectedRow>) {
        self.first_rejected.extend(rows);
        self.first_rejected.truncate(FIRST_REJECTED);
    }

    /// The first rejected rows, each on a new line after `indent`, for messages.
    /// The first rejected rows (file, place, reasons), each after `separator`.
    pub fn first_rejected_text(&self, separator: &str) -> String {
        let mut text = String::new();
        for row in &self.first_rejected {
            text.push_str(&format!("{separator}{} {}: {}", row.file, row.place, row.reasons.join("; ")));
        }
        if self.rows_quarantined > self.first_rejected.len() as u64 && !self.first_rejected.is_empty() {
            text.push_str(&format!("{separator}… and {} more", self.rows_quarantined - self.first_rejected.len() as u64));
        }
        text
    }

    /// Counts a rejected row's reasons under the column each one names.
    fn count_reasons(&mut self, reasons: &[String]) {
        for reason in reasons {
            let column = match reason.split_once(": ") {
                Some((column, _)) if !column.contains(' ') => column,
                _ => "field count",
            };
            *self.reasons_by_column.entry(column.to_string()).or_default() += 1;
        }
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ingest {} into {}.{}: read {} = accepted {} + quarantined {} ({:.2}%, ceiling {:.2}%) in {:.1}s",
            self.ingest_id,
            self.database,
            self.table,
            self.rows_read,
            self.rows_accepted,
            self.rows_quarantined,
            100.0 * self.quarantined_fraction(),
            100.0 * self.max_bad_fraction,
            self.seconds
        )?;
        for file in &self.files {
            writeln!(
                f,
                "  {} ({}): read {} = accepted {} + quarantined {}",
                file.file, file.format, file.rows_read, file.rows_accepted, file.rows_quarantined
            )?;
        }
        for (date, rows) in &self.snapshots {
            let replaced = if self.replaced_snapshots.contains(date) { " (replaced the previous load)" } else { "" };
            writeln!(f, "  snapshot_date={date}: {rows} rows{replaced}")?;
        }
        if !self.reasons_by_column.is_empty() {
            let reasons: Vec<String> = self.reasons_by_column.iter().map(|(c, n)| format!("{c} {n}")).collect();
            writeln!(f, "  quarantine reasons by column: {}", reasons.join(", "))?;
            writeln!(f, "  first rejected rows:{}", self.first_rejected_text("\n    "))?;
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        Ok(())
    }
}
