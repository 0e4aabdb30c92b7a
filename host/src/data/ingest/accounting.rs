//! The run's accounting: rows read = rows accepted + rows quarantined, per file
//! and in total, with counts per reason. Printed and stored as JSON under
//! `processed/_ingest/<table>/<ingest id>.json`.

use std::collections::BTreeMap;
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
    /// How many rejected rows broke a rule on each column ("row" for field count).
    pub reasons_by_column: BTreeMap<String, u64>,
    /// Accepted rows per snapshot date (YYYY-MM-DD).
    pub snapshots: BTreeMap<String, u64>,
    /// Snapshots that existed before and were replaced by this ingest.
    pub replaced_snapshots: Vec<String>,
    /// The data files written, `bucket/key`.
    pub written: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

impl IngestReport {
    pub fn quarantined_fraction(&self) -> f64 {
        if self.rows_read == 0 { 0.0 } else { self.rows_quarantined as f64 / self.rows_read as f64 }
    }

    /// The invariant every run must hold.
    pub fn balances(&self) -> bool {
        self.rows_read == self.rows_accepted + self.rows_quarantined
            && self.files.iter().all(|f| f.rows_read == f.rows_accepted + f.rows_quarantined)
            && self.files.iter().map(|f| f.rows_read).sum::<u64>() == self.rows_read
            && self.snapshots.values().sum::<u64>() == self.rows_accepted
    }

    /// Counts a rejected row's reasons under the column each one names.
    pub fn count_reasons(&mut self, reasons: &[String]) {
        for reason in reasons {
            let column = match reason.split_once(": ") {
                Some((column, _)) if !column.contains(' ') => column,
                _ => "row",
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
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        Ok(())
    }
}
