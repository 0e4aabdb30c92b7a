//! Object storage: the trait every backend implements, key and bucket rules,
//! and the WIT host implementation in `host.rs`.

pub mod fixture;
pub mod host;
pub mod local;
pub mod s3;


use std::path::PathBuf;

use super::{CapResult, CapabilityError};

pub use local::LocalStorage;
pub use s3::{S3Location, S3Storage, ZoneMap};

/// Longest key accepted, as on S3.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest path segment: most file systems stop at 255 bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// When a conditional write ([`ObjectStore::put_if`]) may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition<'a> {
    /// Only if no object has the key.
    Absent,
    /// Only if the object is still the version with this tag.
    Matches(&'a str),
}

/// An object store. Keys are validated by the caller with [`validate_key`];
/// backends may assume valid keys and buckets.
pub trait ObjectStore: Send + Sync {
    fn get(&self, bucket: &str, key: &str) -> CapResult<Vec<u8>>;
    fn get_range(&self, bucket: &str, key: &str, offset: u64, length: u64) -> CapResult<Vec<u8>>;
    fn head(&self, bucket: &str, key: &str) -> CapResult<ObjectInfo>;
    /// Atomic: readers see the old object or the new one.
    fn put(&self, bucket: &str, key: &str, data: &[u8]) -> CapResult<()>;
    /// A streamed atomic write; nothing is visible before `finish`.
    fn open_writer(&self, bucket: &str, key: &str) -> CapResult<Box<dyn ObjectWriter>>;
    /// Keys under `prefix` in byte order, at most `max_keys` of them, after `continuation`.
    fn list(&self, bucket: &str, prefix: &str, continuation: Option<&str>, max_keys: usize) -> CapResult<ListPage>;
    /// Deleting a missing object is not an error.
    fn delete(&self, bucket: &str, key: &str) -> CapResult<()>;
    /// Where the object lives on this machine's file system, for engines that read
    /// files directly (DataFusion). `None` for remote backends.
    fn local_path(&self, bucket: &str, key: &str) -> Option<PathBuf>;

    /// Whether [`ObjectStore::put_if`] and its companions work here.
    fn conditional_writes(&self) -> bool {
        false
    }
    /// Conditional writes, for leases on shared storage (the run lock on S3, where no file lock
    /// exists). `Ok(Some(tag))` gives the new version's tag, `Ok(None)` says the condition did
    /// not hold. Backends that need no leases (a local folder has file locks) don't offer them.
    fn put_if(&self, _bucket: &str, _key: &str, _data: &[u8], _condition: WriteCondition) -> CapResult<Option<String>> {
        Err(CapabilityError::unavailable("this storage backend has no conditional writes"))
    }
    /// The object and its version tag, for a later [`ObjectStore::put_if`] or [`ObjectStore::delete_if`].
    fn get_tagged(&self, _bucket: &str, _key: &str) -> CapResult<(Vec<u8>, String)> {
        Err(CapabilityError::unavailable("this storage backend has no conditional writes"))
    }
    /// Deletes the object only if it is still the version `tag`; `Ok(false)` when it is not (or is gone).
    fn delete_if(&self, _bucket: &str, _key: &str, _tag: &str) -> CapResult<bool> {
        Err(CapabilityError::unavailable("this storage backend has no conditional writes"))
    }

    /// Every key under a prefix, following pagination.
    fn list_all(&self, bucket: &str, prefix: &str) -> CapResult<Vec<ObjectInfo>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let page = self.list(bucket, prefix, token.as_deref(), 1000)?;
            all.extend(page.objects);
            match page.next_token {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }
}

/// A write in progress. Dropping it without `finish` discards everything written.
pub trait ObjectWriter: Send {
    fn write(&mut self, chunk: &[u8]) -> CapResult<()>;
    fn finish(self: Box<Self>) -> CapResult<ObjectInfo>;
}

/// S3's bucket naming rules, which are also safe directory names.
pub fn validate_bucket(bucket: &str) -> Result<(), String> {
    let ok_len = (3..=63).contains(&bucket.len());
    let ok_chars = bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ok_ends = bucket.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_ends && !bucket.contains("..") {
        // S3's reserved forms: an IP address, and the prefixes and suffixes it keeps for its own names.
        let ip = bucket.split('.').count() == 4 && bucket.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let reserved_prefix = ["xn--", "sthree-", "amzn-s3-demo-"].iter().find(|p| bucket.starts_with(*p));
        let reserved_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].iter().find(|s| bucket.ends_with(*s));
        match (ip, reserved_prefix, reserved_suffix) {
            (true, _, _) => Err(format!("invalid bucket name '{bucket}': S3 bucket names are not IP addresses")),
            (_, Some(prefix), _) => Err(format!("invalid bucket name '{bucket}': S3 reserves the prefix '{prefix}'")),
            (_, _, Some(suffix)) => Err(format!("invalid bucket name '{bucket}': S3 reserves the suffix '{suffix}'")),
            _ => Ok(()),
        }
    } else {
        Err(format!(
            "invalid bucket name '{}': use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit",
            bucket.escape_debug()
        ))
    }
}

/// Keys are relative `/`-separated paths: no absolute paths, no `.`/`..` or empty
/// segments, no NUL, control characters or backslashes, and not overlong.
pub fn validate_key(key: &str) -> Result<(), String> {
    let shown = || key.chars().take(80).collect::<String>().escape_debug().to_string();
    if key.is_empty() {
        return Err("invalid key: it is empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!("invalid key '{}…': {} bytes, the limit is {MAX_KEY_BYTES}", shown(), key.len()));
    }
    if key.starts_with('/') {
        return Err(format!("invalid key '{}': keys are relative, not absolute paths", shown()));
    }
    if key.chars().any(|c| c == '\0' || c == '\\' || c.is_control()) {
        return Err(format!("invalid key '{}': NUL, control characters and backslashes are not allowed", shown()));
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(format!("invalid key '{}': empty path segment ('//' or a trailing '/')", shown())),
            "." | ".." => return Err(format!("invalid key '{}': '.' and '..' segments are not allowed", shown())),
            s if s.len() > MAX_SEGMENT_BYTES => {
                return Err(format!("invalid key '{}': a segment is longer than {MAX_SEGMENT_BYTES} bytes", shown()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A list prefix is either empty or a key prefix: the same rules, but it may end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        trimmed => validate_key(trimmed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_or_confuse_are_rejected() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a/", "a\0b", "a\\b", "a\nb"] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(validate_key(&format!("a/{}", "s".repeat(MAX_SEGMENT_BYTES + 1))).is_err());
        for good in ["a", "run=1/part-0.parquet", "snapshot_date=2026-11-22/x.csv.gz", "é/ü"] {
            assert!(validate_key(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for bad in ["", "ab", "Raw", "-raw", "raw-", "r_w", "../x", "a..b", "192.168.1.1", "xn--engage", "sthree-x", "engage-s3alias", "x--ol-s3", "x.mrap"] {
            assert!(validate_bucket(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["raw", "processed", "engage-results.v1"] {
            assert!(validate_bucket(good).is_ok(), "{good:?} should be accepted");
        }
    }
}
