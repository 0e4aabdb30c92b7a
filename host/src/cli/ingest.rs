//! `engage ingest <file or folder> --table <name>`

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::data::ingest::{DEFAULT_MAX_BAD_FRACTION, IngestOptions, ingest};
use crate::config::{Backends, HostConfig};

#[derive(Args)]
pub struct IngestArgs {
    /// A CSV (.csv, .csv.gz) or Parquet file, or a folder of them.
    pub input: PathBuf,
    /// The table to load into (database `engage`).
    #[arg(long)]
    pub table: String,
    /// Fail, writing nothing, when more than this fraction of rows is quarantined (the lines a quote left
    /// open takes into a bad row count as quarantined rows too).
    #[arg(long, default_value_t = DEFAULT_MAX_BAD_FRACTION)]
    pub max_bad_fraction: f64,
    /// The runtime config choosing the storage and catalog backends; local when left out.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the accounting as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: IngestArgs, root: &Path) -> Result<()> {
    let host = Backends::open(&HostConfig::load_or_default(args.config.as_deref())?, root)?;
    let mut options = IngestOptions::new(args.table);
    options.max_bad_fraction = args.max_bad_fraction;
    let bar = super::progress::rows_bar("ingesting", None);
    options.progress = super::progress::reporter(&bar);
    let report = ingest(host.storage.as_ref(), host.catalog.as_ref(), &args.input, &options);
    bar.finish_and_clear();
    let report = report?;
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{report}");
    }
    Ok(())
}
