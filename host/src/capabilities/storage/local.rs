//! Storage as a directory tree: `<root>/<bucket>/<key>`. Writes go to a temporary
//! file under `<root>/.engage-tmp/` (same file system, never inside a bucket) and are
//! renamed into place, so a reader sees the whole old object or the whole new one.
//! What a killed writer left there is removed when storage is next opened
//! ([`temp_files::remove_orphans`]).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{ListPage, ObjectInfo, ObjectStore, ObjectWriter};
use crate::capabilities::{CapResult, CapabilityError};
use crate::temp_files;

const TMP_DIR: &str = ".engage-tmp";

#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        // Absolute, so the local paths it hands out (the SQL engine reads files by them) do not depend on the working directory.
        let root = std::path::absolute(root.into())?;
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp)?;
        temp_files::remove_orphans(&tmp, "");
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    fn temp_path(&self) -> PathBuf {
        self.root.join(TMP_DIR).join(temp_files::unique_name())
    }

    fn commit(&self, temp: &Path, bucket: &str, key: &str) -> CapResult<()> {
        let target = self.path(bucket, key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| io_error(e, bucket, key))?;
        }
        if target.is_dir() {
            return Err(CapabilityError::invalid(format!(
                "cannot write {bucket}/{key}: objects already exist under the prefix '{key}/'"
            )));
        }
        fs::rename(temp, &target).map_err(|e| io_error(e, bucket, key))
    }
}

fn io_error(error: io::Error, bucket: &str, key: &str) -> CapabilityError {
    match error.kind() {
        io::ErrorKind::NotFound => CapabilityError::not_found(format!("no object {bucket}/{key}")),
        io::ErrorKind::NotADirectory => CapabilityError::invalid(format!(
            "cannot use {bucket}/{key}: a parent of this key is itself an object"
        )),
        _ => CapabilityError::internal(format!("storage {bucket}/{key}: {error}")),
    }
}

impl ObjectStore for LocalStorage {
    fn get(&self, bucket: &str, key: &str) -> CapResult<Vec<u8>> {
        let path = self.path(bucket, key);
        if path.is_dir() {
            return Err(CapabilityError::not_found(format!("no object {bucket}/{key} (it is a prefix)")));
        }
        fs::read(path).map_err(|e| io_error(e, bucket, key))
    }

    fn get_range(&self, bucket: &str, key: &str, offset: u64, length: u64) -> CapResult<Vec<u8>> {
        let mut file = File::open(self.path(bucket, key)).map_err(|e| io_error(e, bucket, key))?;
        let size = file.metadata().map_err(|e| io_error(e, bucket, key))?.len();
        let start = offset.min(size);
        let take = length.min(size - start);
        file.seek(SeekFrom::Start(start)).map_err(|e| io_error(e, bucket, key))?;
        let mut buf = Vec::with_capacity(take as usize);
        file.take(take).read_to_end(&mut buf).map_err(|e| io_error(e, bucket, key))?;
        Ok(buf)
    }

    fn head(&self, bucket: &str, key: &str) -> CapResult<ObjectInfo> {
        let meta = fs::metadata(self.path(bucket, key)).map_err(|e| io_error(e, bucket, key))?;
        if !meta.is_file() {
            return Err(CapabilityError::not_found(format!("no object {bucket}/{key}")));
        }
        Ok(ObjectInfo { key: key.to_string(), size: meta.len() })
    }

    fn put(&self, bucket: &str, key: &str, data: &[u8]) -> CapResult<()> {
        let mut writer = self.open_writer(bucket, key)?;
        writer.write(data)?;
        writer.finish().map(|_| ())
    }

    fn open_writer(&self, bucket: &str, key: &str) -> CapResult<Box<dyn ObjectWriter>> {
        let temp = self.temp_path();
        let file = File::create(&temp).map_err(|e| io_error(e, bucket, key))?;
        Ok(Box::new(LocalWriter {
            store: self.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            temp,
            file: Some(file),
            size: 0,
        }))
    }

    fn list(&self, bucket: &str, prefix: &str, continuation: Option<&str>, max_keys: usize) -> CapResult<ListPage> {
        let bucket_dir = self.root.join(bucket);
        // Walk only the deepest directory the prefix names, not the whole bucket.
        let dir_part = prefix.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
        let start = if dir_part.is_empty() { bucket_dir.clone() } else { bucket_dir.join(dir_part) };
        let mut keys = Vec::new();
        if start.is_dir() {
            collect_files(&bucket_dir, &start, &mut keys).map_err(|e| io_error(e, bucket, prefix))?;
        }
        keys.retain(|(key, _)| key.starts_with(prefix) && continuation.is_none_or(|after| key.as_str() > after));
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let max_keys = max_keys.max(1);
        let truncated = keys.len() > max_keys;
        keys.truncate(max_keys);
        let next_token = truncated.then(|| keys.last().map(|(k, _)| k.clone())).flatten();
        Ok(ListPage { objects: keys.into_iter().map(|(key, size)| ObjectInfo { key, size }).collect(), next_token })
    }

    fn delete(&self, bucket: &str, key: &str) -> CapResult<()> {
        let path = self.path(bucket, key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(e, bucket, key)),
        }
        // Prune directories the delete emptied so prefixes behave like S3's.
        let bucket_dir = self.root.join(bucket);
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == bucket_dir || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn local_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        Some(self.path(bucket, key))
    }
}

fn collect_files(bucket_dir: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        let path = entry.path();
        if file_type.is_dir() {
            collect_files(bucket_dir, &path, out)?;
        } else if file_type.is_file() {
            let rel = path.strip_prefix(bucket_dir).expect("walk stays inside the bucket");
            let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
            out.push((key, entry.metadata()?.len()));
        }
    }
    Ok(())
}

struct LocalWriter {
    store: LocalStorage,
    bucket: String,
    key: String,
    temp: PathBuf,
    file: Option<File>,
    size: u64,
}

impl ObjectWriter for LocalWriter {
    fn write(&mut self, chunk: &[u8]) -> CapResult<()> {
        let file = self.file.as_mut().expect("writer is open until finish");
        file.write_all(chunk).map_err(|e| io_error(e, &self.bucket, &self.key))?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> CapResult<ObjectInfo> {
        let file = self.file.take().expect("finish runs once");
        file.sync_all().map_err(|e| io_error(e, &self.bucket, &self.key))?;
        drop(file);
        self.store.commit(&self.temp, &self.bucket, &self.key)?;
        Ok(ObjectInfo { key: self.key.clone(), size: self.size })
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // Unfinished (or failed) writes leave nothing behind.
        if self.temp.exists() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}
