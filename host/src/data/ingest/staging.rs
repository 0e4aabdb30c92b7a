//! Raw files on an object store this machine cannot read as files (S3): each
//! one the table has not taken in yet is copied, in ranged reads, into a
//! temporary folder, then ingested as a local file is. Files the table already
//! took in are skipped before any byte is copied. On a store a file is known by
//! its name and size (a copy's modification time is fixed), so a re-landed file
//! of the same name and size counts as unchanged.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use super::Companion;
use super::landed::{LandedFile, is_new, snapshots_of};
use crate::capabilities::storage::{ObjectInfo, ObjectStore};

/// Bytes per ranged read while copying.
const CHUNK_BYTES: u64 = 8 << 20;

pub struct Staged {
    /// Removed with everything in it when dropped.
    pub dir: TempDir,
    /// The copies to ingest, sorted by name.
    pub files: Vec<PathBuf>,
    /// Files the table already took in, not copied.
    pub skipped: Vec<String>,
    /// The objects of `skipped`, to copy if an ingest needs them again.
    skipped_objects: Vec<ObjectInfo>,
    /// The folder the files came from, `s3://bucket/prefix`.
    pub origin: String,
}

/// The raw files at `bucket/prefix` (a folder's files, not its subfolders, or one
/// object), copied unless `only_new` finds the table took them in already.
pub fn stage(store: &dyn ObjectStore, table: &str, bucket: &str, prefix: &str, only_new: bool) -> Result<Staged> {
    let shown = format!("s3://{bucket}/{prefix}");
    let folder = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    let listed = store.list_all(bucket, &folder).map_err(anyhow::Error::msg).with_context(|| format!("{shown}: cannot list"))?;
    let mut objects: Vec<ObjectInfo> = listed
        .into_iter()
        .filter(|o| {
            let name = &o.key[folder.len()..];
            !name.contains('/') && !name.starts_with('.') && !name.starts_with('_')
        })
        .collect();
    if objects.is_empty() && !prefix.is_empty() && !prefix.ends_with('/') {
        // A single object rather than a folder.
        if let Ok(object) = store.head(bucket, prefix) {
            objects.push(object);
        }
    }
    if objects.is_empty() {
        bail!("{shown}: the location holds no files to ingest");
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    let objects_folder = objects[0].key.rsplit_once('/').map_or(String::new(), |(folder, _)| folder.to_string());

    let dir = tempfile::Builder::new().prefix("engage-ingest-").tempdir().context("creating a folder for the copies")?;
    let (mut files, mut skipped, mut skipped_objects) = (Vec::new(), Vec::new(), Vec::new());
    for object in objects {
        let name = object.key.rsplit('/').next().unwrap_or(&object.key).to_string();
        let landed = LandedFile { name: name.clone(), size: object.size, modified_unix_ms: 0 };
        if only_new && !is_new(store, table, &landed)? {
            skipped.push(name);
            skipped_objects.push(object);
            continue;
        }
        let path = dir.path().join(&name);
        copy(store, bucket, &object, &path).with_context(|| format!("copying s3://{bucket}/{}", object.key))?;
        files.push(path);
    }
    let folder = objects_folder.trim_end_matches('/');
    let origin = if folder.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{folder}") };
    Ok(Staged { dir, files, skipped, skipped_objects, origin })
}

impl Staged {
    /// The files skipped as taken in, as companions of this ingest: each copied only if it is read again.
    pub fn companions(&self, store: &Arc<dyn ObjectStore>, table: &str, bucket: &str) -> Result<Vec<Companion>> {
        let mut out = Vec::new();
        for (name, object) in self.skipped.iter().zip(&self.skipped_objects) {
            let landed = LandedFile { name: name.clone(), size: object.size, modified_unix_ms: 0 };
            let snapshots = snapshots_of(store.as_ref(), table, &landed)?;
            let (store, bucket, object, path) = (store.clone(), bucket.to_string(), object.clone(), self.dir.path().join(name));
            let shown = format!("s3://{bucket}/{}", object.key);
            let fetch = move || {
                copy(store.as_ref(), &bucket, &object, &path).with_context(|| format!("copying s3://{bucket}/{}", object.key))?;
                Ok(path.clone())
            };
            out.push(Companion { name: shown, snapshots, fetch: Arc::new(fetch) });
        }
        Ok(out)
    }
}

fn copy(store: &dyn ObjectStore, bucket: &str, object: &ObjectInfo, path: &std::path::Path) -> Result<()> {
    let mut file = std::fs::File::create(path)?;
    let mut offset = 0;
    while offset < object.size {
        let chunk = store.get_range(bucket, &object.key, offset, CHUNK_BYTES.min(object.size - offset)).map_err(anyhow::Error::msg)?;
        if chunk.is_empty() {
            bail!("the object ended at byte {offset} of {}", object.size);
        }
        file.write_all(&chunk)?;
        offset += chunk.len() as u64;
    }
    // The copy's identity for `landed` is its name and size: a fixed time keeps it the same every week.
    file.set_modified(SystemTime::UNIX_EPOCH)?;
    Ok(())
}
