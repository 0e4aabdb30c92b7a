//! Object storage faked from a plugin's fixtures (`engage plugin test`): reads see
//! the folder tree `<dir>/<bucket>/<key>`; writes and deletes land in memory over
//! it, so the fixtures never change and the test can compare what the stage wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{ListPage, ObjectInfo, ObjectStore, ObjectWriter};
use crate::capabilities::{CapResult, CapabilityError};

/// What a stage did to one object during the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Written(Vec<u8>),
    Deleted,
}

type Changes = Arc<Mutex<BTreeMap<(String, String), Change>>>;

pub struct FixtureStorage {
    /// `<dir>/<bucket>/<key>`; it need not exist (no objects to read).
    dir: PathBuf,
    changes: Changes,
}

impl FixtureStorage {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), changes: Arc::default() }
    }

    /// Every object written or deleted, by (bucket, key), in key order.
    pub fn changes(&self) -> BTreeMap<(String, String), Change> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn file(&self, bucket: &str, key: &str) -> PathBuf {
        self.dir.join(bucket).join(key)
    }

    fn change(&self, bucket: &str, key: &str) -> Option<Change> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).get(&(bucket.to_string(), key.to_string())).cloned()
    }

    fn set(&self, bucket: &str, key: &str, change: Change) {
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).insert((bucket.to_string(), key.to_string()), change);
    }

    /// The fixture files of a bucket as keys with sizes.
    fn fixture_objects(&self, bucket: &str) -> BTreeMap<String, u64> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else if let (Ok(rel), Ok(meta)) = (path.strip_prefix(root), entry.metadata()) {
                    let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    out.insert(key, meta.len());
                }
            }
        }
        let mut out = BTreeMap::new();
        let root = self.dir.join(bucket);
        walk(&root, &root, &mut out);
        out
    }

    fn read(&self, bucket: &str, key: &str) -> CapResult<Vec<u8>> {
        match self.change(bucket, key) {
            Some(Change::Written(data)) => Ok(data),
            Some(Change::Deleted) => Err(CapabilityError::not_found(format!("{bucket}/{key}: deleted earlier in this test"))),
            None => std::fs::read(self.file(bucket, key)).map_err(|_| {
                CapabilityError::not_found(format!("{bucket}/{key}: no such object (fixtures: {})", self.file(bucket, key).display()))
            }),
        }
    }
}

impl ObjectStore for FixtureStorage {
    fn get(&self, bucket: &str, key: &str) -> CapResult<Vec<u8>> {
        self.read(bucket, key)
    }

    fn get_range(&self, bucket: &str, key: &str, offset: u64, length: u64) -> CapResult<Vec<u8>> {
        let data = self.read(bucket, key)?;
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(length as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn head(&self, bucket: &str, key: &str) -> CapResult<ObjectInfo> {
        Ok(ObjectInfo { key: key.to_string(), size: self.read(bucket, key)?.len() as u64 })
    }

    fn put(&self, bucket: &str, key: &str, data: &[u8]) -> CapResult<()> {
        self.set(bucket, key, Change::Written(data.to_vec()));
        Ok(())
    }

    fn open_writer(&self, bucket: &str, key: &str) -> CapResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(FixtureWriter { changes: self.changes.clone(), bucket: bucket.into(), key: key.into(), data: Vec::new() }))
    }

    fn list(&self, bucket: &str, prefix: &str, continuation: Option<&str>, max_keys: usize) -> CapResult<ListPage> {
        let mut objects = self.fixture_objects(bucket);
        for ((b, key), change) in self.changes() {
            if b == bucket {
                match change {
                    Change::Written(data) => objects.insert(key, data.len() as u64),
                    Change::Deleted => objects.remove(&key),
                };
            }
        }
        let mut matching = objects
            .into_iter()
            .filter(|(key, _)| key.starts_with(prefix) && continuation.is_none_or(|after| key.as_str() > after))
            .map(|(key, size)| ObjectInfo { key, size });
        let page: Vec<ObjectInfo> = matching.by_ref().take(max_keys).collect();
        let next_token = if matching.next().is_some() { page.last().map(|o| o.key.clone()) } else { None };
        Ok(ListPage { objects: page, next_token })
    }

    fn delete(&self, bucket: &str, key: &str) -> CapResult<()> {
        self.set(bucket, key, Change::Deleted);
        Ok(())
    }

    fn local_path(&self, _: &str, _: &str) -> Option<PathBuf> {
        None
    }
}

struct FixtureWriter {
    changes: Changes,
    bucket: String,
    key: String,
    data: Vec<u8>,
}

impl ObjectWriter for FixtureWriter {
    fn write(&mut self, chunk: &[u8]) -> CapResult<()> {
        self.data.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(self: Box<Self>) -> CapResult<ObjectInfo> {
        let info = ObjectInfo { key: self.key.clone(), size: self.data.len() as u64 };
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).insert((self.bucket, self.key), Change::Written(self.data));
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_come_from_the_folder_and_writes_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("raw/users")).unwrap();
        std::fs::write(dir.path().join("raw/users/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("raw/users/b.csv"), "x\n2\n").unwrap();
        let store = FixtureStorage::new(dir.path());
        assert_eq!(store.get("raw", "users/a.csv").unwrap(), b"x\n1\n");
        store.put("raw", "users/c.csv", b"new").unwrap();
        store.delete("raw", "users/a.csv").unwrap();
        let keys: Vec<String> = store.list_all("raw", "users/").unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["users/b.csv", "users/c.csv"]);
        let first = store.list("raw", "users/", None, 1).unwrap();
        assert_eq!(first.next_token.as_deref(), Some("users/b.csv"));
        assert!(store.get("raw", "users/a.csv").unwrap_err().message.contains("deleted"));
        assert!(dir.path().join("raw/users/a.csv").exists(), "fixtures are never changed");
        assert_eq!(store.changes().len(), 2);
    }
}
