//! `ingest`: raw CSV/Parquet snapshots into the processed zone and
//! `engage.<table>`, through the ingest library (validation, quarantine,
//! accounting). Params: `source` (a local path, or `s3://bucket/prefix/`, which
//! the local host resolves inside its storage root and a host on S3 copies in
//! file by file, only those not taken in yet), `table` (default `users`),
//! `max_bad_fraction` (default 0.05), `only_new` (default true: files the table
//! already took in unchanged are skipped, so a weekly run can point at the whole
//! landing zone; a file is marked only after its ingest committed).

use std::path::PathBuf;

use serde_json::json;

use super::{config, param_f64, param_str};
use serde_json::Value;
use crate::catalog::{DEFAULT_DATABASE, parse_location};
use crate::data::ingest::landed::{companions, mark_ingested, split_new};
use crate::data::ingest::source::input_files;
use crate::data::ingest::staging::stage;
use crate::data::RowProgress;
use crate::data::ingest::{DEFAULT_MAX_BAD_FRACTION, IngestOptions, ingest_files};
use crate::pipeline::step::{Step, StepContext, StepError, StepOutput};

pub struct Ingest;

/// Where the raw files are.
enum Source {
    /// On this machine: a file or folder (an `s3://` location inside the local storage root).
    Path(PathBuf),
    /// On a remote store: copied in before ingest (`staging`).
    Store { bucket: String, prefix: String },
}

fn resolve_source(ctx: &StepContext, source: &str) -> Result<Source, StepError> {
    if !source.starts_with("s3://") {
        return Ok(Source::Path(PathBuf::from(source)));
    }
    let (bucket, prefix) = parse_location(source).map_err(|e| config(ctx, format!("param 'source': {e}")))?;
    crate::capabilities::storage::validate_bucket(&bucket).map_err(|e| config(ctx, format!("param 'source': {e}")))?;
    if !prefix.is_empty() {
        crate::capabilities::storage::validate_prefix(&prefix).map_err(|e| config(ctx, format!("param 'source': {e}")))?;
    }
    Ok(match ctx.services.local_root.as_ref() {
        Some(root) => Source::Path(root.join(bucket).join(prefix.trim_end_matches('/'))),
        None => Source::Store { bucket, prefix },
    })
}

impl Step for Ingest {
    fn run(&self, ctx: &StepContext) -> Result<StepOutput, StepError> {
        let source = param_str(ctx, "source")?.ok_or_else(|| config(ctx, "param 'source' is required (a path or s3://bucket/prefix/)"))?;
        let source_at = resolve_source(ctx, &source)?;
        let mut options = IngestOptions::new(param_str(ctx, "table")?.unwrap_or_else(|| "users".into()));
        options.database = param_str(ctx, "database")?.unwrap_or_else(|| DEFAULT_DATABASE.into());
        options.max_bad_fraction = param_f64(ctx, "max_bad_fraction")?.unwrap_or(DEFAULT_MAX_BAD_FRACTION);
        if !(0.0..=1.0).contains(&options.max_bad_fraction) {
            return Err(config(ctx, format!("param 'max_bad_fraction' must be in [0, 1], not {}", options.max_bad_fraction)));
        }
        let only_new = match ctx.params.get("only_new") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(other) => return Err(config(ctx, format!("param 'only_new' must be true or false, not {other}"))),
        };
        // A table dropped since (or never made) has taken in nothing, whatever the markers say.
        let table_exists = ctx.services.catalog.table(&options.database, &options.table).map_err(|e| {
            StepError::failed(format!("stage '{}': reading catalog entry {}.{}: {e}", ctx.stage, options.database, options.table))
        })?;
        let only_new = only_new && table_exists.is_some();
        let progress = ctx.progress.clone();
        options.progress = RowProgress::new(move |rows| progress.add_rows(rows));
        ctx.check_cancelled()?;
        let store = ctx.services.storage.as_ref();
        let failed = |e: anyhow::Error| {
            let message = format!("stage '{}': ingest of {source}: {e:#}", ctx.stage);
            // Too many bad rows fails the same way on every retry.
            if message.contains("were quarantined, above the ceiling") {
                StepError::data_quality(message)
            } else {
                StepError::failed(message)
            }
        };
        // Copies of remote files live as long as `_staged`.
        let (files, skipped, _staged) = match source_at {
            Source::Path(path) => {
                let files = input_files(&path).map_err(failed)?;
                let (files, skipped) = if only_new { split_new(store, &options.table, &files).map_err(failed)? } else { (files, Vec::new()) };
                options.companions = companions(store, &options.table, &skipped).map_err(failed)?;
                (files, skipped.len(), None)
            }
            Source::Store { bucket, prefix } => {
                let staged = stage(store, &options.table, &bucket, &prefix, only_new).map_err(failed)?;
                options.copied_from = Some((staged.dir.path().to_path_buf(), staged.origin.clone()));
                options.companions = staged.companions(&ctx.services.storage, &options.table, &bucket).map_err(failed)?;
                (staged.files.clone(), staged.skipped.len(), Some(staged))
            }
        };
        let table = format!("{}.{}", options.database, options.table);
        if files.is_empty() && skipped > 0 {
            return Ok(StepOutput {
                rows_in: 0,
                rows_out: 0,
                outputs: vec![table.clone()],
                summary: json!({
                    "table": table, "rows_read": 0, "rows_accepted": 0, "rows_quarantined": 0,
                    "files": 0, "skipped_files": skipped, "snapshots": {},
                }),
            });
        }
        let report = ingest_files(store, ctx.services.catalog.as_ref(), &files, &options).map_err(failed)?;
        let read: Vec<PathBuf> = files.iter().chain(&report.companions_read).cloned().collect();
        mark_ingested(store, &options.table, &read, &report).map_err(failed)?;
        Ok(StepOutput {
            rows_in: report.rows_read,
            rows_out: report.rows_accepted,
            outputs: vec![table.clone()],
            summary: json!({
                "table": table,
                "ingest_id": report.ingest_id,
                "rows_read": report.rows_read,
                "rows_accepted": report.rows_accepted,
                "rows_quarantined": report.rows_quarantined,
                "files": report.files.len(),
                "skipped_files": skipped,
                "snapshots": report.snapshots,
                "warnings": report.warnings,
                "reasons_by_column": report.reasons_by_column,
                "first_rejected": report.first_rejected,
            }),
        })
    }
}
