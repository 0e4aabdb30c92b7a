//! Which landed files a table has already taken in, so a weekly run that points
//! at the whole landing zone ingests only what is new or changed. A file is
//! known by its name, size and modification time (as rsync and make judge
//! change); its marker is written only after its ingest committed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::commit::PROCESSED_BUCKET;
use super::{Companion, IngestReport};
use crate::capabilities::ErrorCode;
use crate::capabilities::storage::ObjectStore;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandedFile {
    pub name: String,
    pub size: u64,
    pub modified_unix_ms: u128,
}

impl LandedFile {
    pub fn of(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read file metadata", path.display()))?;
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { name, size: meta.len(), modified_unix_ms: modified })
    }

    fn marker_key(&self, table: &str) -> String {
        let digest = Sha256::digest(format!("{}\n{}\n{}", self.name, self.size, self.modified_unix_ms));
        format!("_landed/{table}/{}.json", hex::encode(&digest[..16]))
    }
}

/// Splits `files` into those still to ingest and those `table` already took in unchanged.
pub fn split_new(store: &dyn ObjectStore, table: &str, files: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut new, mut seen) = (Vec::new(), Vec::new());
    for path in files {
        if is_new(store, table, &LandedFile::of(path)?)? {
            new.push(path.clone());
        } else {
            seen.push(path.clone());
        }
    }
    Ok((new, seen))
}

/// Whether `table` has not taken in this file yet.
pub fn is_new(store: &dyn ObjectStore, table: &str, file: &LandedFile) -> Result<bool> {
    match store.head(PROCESSED_BUCKET, &file.marker_key(table)) {
        Ok(_) => Ok(false),
        Err(e) if e.code == ErrorCode::NotFound => Ok(true),
        Err(e) => Err(anyhow::Error::msg(e)).context("checking which landed files are new"),
    }
}

/// Records that `files` were ingested into `table` (call after the ingest committed), with the
/// snapshots each held. `report.files` accounts for `files` in the same order.
pub fn mark_ingested(store: &dyn ObjectStore, table: &str, files: &[PathBuf], report: &IngestReport) -> Result<()> {
    let accounted = report.files.len() == files.len();
    for (i, path) in files.iter().enumerate() {
        let landed = LandedFile::of(path)?;
        let snapshots = if accounted { report.files[i].snapshots.clone() } else { BTreeSet::new() };
        let body = serde_json::json!({ "file": landed, "ingest_id": report.ingest_id, "snapshots": snapshots });
        store
            .put(PROCESSED_BUCKET, &landed.marker_key(table), body.to_string().as_bytes())
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("recording that {} was ingested", path.display()))?;
    }
    Ok(())
}

/// The snapshots `table` took in from `file`, as its marker recorded them (none for a marker written
/// before markers held them, or for a file not taken in).
pub fn snapshots_of(store: &dyn ObjectStore, table: &str, file: &LandedFile) -> Result<BTreeSet<String>> {
    let body = match store.get(PROCESSED_BUCKET, &file.marker_key(table)) {
        Ok(body) => body,
        Err(e) if e.code == ErrorCode::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(anyhow::Error::msg(e)).context("reading which snapshots a landed file held"),
    };
    Ok(marker_snapshots(&serde_json::from_slice(&body).unwrap_or_default()))
}

/// The snapshots a marker records (none in a marker written before markers held them).
fn marker_snapshots(marker: &serde_json::Value) -> BTreeSet<String> {
    marker["snapshots"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// The files `table` took in earlier that held one of `snapshots`, by name, leaving out `now` (the files
/// of the ingest asking): what a replacement of those snapshots by `now` alone leaves out.
pub fn earlier_files_of(store: &dyn ObjectStore, table: &str, snapshots: &BTreeSet<String>, now: &[PathBuf]) -> Result<Vec<String>> {
    let now: Vec<LandedFile> = now.iter().map(|p| LandedFile::of(p)).collect::<Result<_>>()?;
    let markers = store.list_all(PROCESSED_BUCKET, &format!("_landed/{table}/")).map_err(anyhow::Error::msg)?;
    let mut names = Vec::new();
    for marker in markers {
        let Ok(body) = store.get(PROCESSED_BUCKET, &marker.key) else { continue };
        let marker: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let Ok(file) = serde_json::from_value::<LandedFile>(marker["file"].clone()) else { continue };
        let held = !marker_snapshots(&marker).is_disjoint(snapshots);
        if held && !now.iter().any(|n| n.name == file.name) && !names.contains(&file.name) {
            names.push(file.name);
        }
    }
    Ok(names)
}

/// Landed files `table` took in earlier, as companions an ingest reads again when it replaces one of
/// their snapshots (see [`Companion`]).
pub fn companions(store: &dyn ObjectStore, table: &str, seen: &[PathBuf]) -> Result<Vec<Companion>> {
    let mut out = Vec::new();
    for path in seen {
        let snapshots = snapshots_of(store, table, &LandedFile::of(path)?)?;
        let at = path.clone();
        out.push(Companion { name: path.display().to_string(), snapshots, fetch: Arc::new(move || Ok(at.clone())) });
    }
    Ok(out)
}
