//! What a stage may touch, like an IAM policy per task. Grants are resolved and
//! validated before the first guest runs; every capability call is checked
//! against them and a call outside them stops the guest.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    /// Write implies read.
    Write,
}

/// Access to the keys of one bucket under one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageGrant {
    pub bucket: String,
    /// Empty for the whole bucket, otherwise ends with `/` so that `run=1/`
    /// never grants `run=10/`.
    pub prefix: String,
    pub access: Access,
}

impl StorageGrant {
    /// Parses `read:bucket/prefix/` or `write:bucket/prefix/` (`write:bucket` for a whole bucket).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (access, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("storage grant '{text}' must look like read:bucket/prefix/ or write:bucket/prefix/"))?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            other => return Err(format!("storage grant '{text}': access must be 'read' or 'write', not '{other}'")),
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        crate::capabilities::storage::validate_bucket(bucket).map_err(|e| format!("storage grant '{text}': {e}"))?;
        if !prefix.is_empty() {
            if !prefix.ends_with('/') {
                return Err(format!("storage grant '{text}': a prefix must end with '/'"));
            }
            crate::capabilities::storage::validate_key(prefix.trim_end_matches('/'))
                .map_err(|e| format!("storage grant '{text}': {e}"))?;
        }
        Ok(Self { bucket: bucket.to_string(), prefix: prefix.to_string(), access })
    }

    /// Does this grant give at least what `other` does?
    pub fn includes(&self, other: &StorageGrant) -> bool {
        self.covers(&other.bucket, &other.prefix, other.access == Access::Write)
    }

    fn covers(&self, bucket: &str, key_or_prefix: &str, write: bool) -> bool {
        self.bucket == bucket
            && key_or_prefix.starts_with(&self.prefix)
            && (!write || self.access == Access::Write)
    }
}

impl fmt::Display for StorageGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            Access::Read => "read",
            Access::Write => "write",
        };
        write!(f, "{access}:{}/{}", self.bucket, self.prefix)
    }
}

/// Everything one stage is granted. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    #[serde(default)]
    pub storage: Vec<StorageGrant>,
    #[serde(default)]
    pub sql: bool,
    #[serde(default)]
    pub llm: bool,
    /// The one catalog database the stage's SQL may create, change or drop tables in: its
    /// run's. `None` allows none; shared databases (`engage`) change only by publishing.
    #[serde(default)]
    pub sql_database: Option<String>,
}

/// A guest asked for something outside its grants. The message names the stage,
/// the capability and the resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stage '{stage}' was denied {capability}: {detail}")]
pub struct Denied {
    pub stage: String,
    pub capability: &'static str,
    pub detail: String,
}

impl Grants {
    pub fn check_storage(&self, stage: &str, bucket: &str, key_or_prefix: &str, write: bool) -> Result<(), Denied> {
        if self.storage.iter().any(|g| g.covers(bucket, key_or_prefix, write)) {
            return Ok(());
        }
        let verb = if write { "write" } else { "read" };
        let granted = self.storage_list();
        Err(Denied {
            stage: stage.to_string(),
            capability: "storage",
            detail: format!("{verb} of bucket '{bucket}' key '{key_or_prefix}' is outside its grants (granted: {granted})"),
        })
    }

    /// A SQL statement reads (or writes) the storage under `bucket/prefix`, a table's or a
    /// partition's location, for `what` it does (`reading table engage.users`). SQL reaches
    /// storage only as far as the storage grants reach.
    pub fn check_sql_location(&self, stage: &str, what: &str, bucket: &str, prefix: &str, write: bool) -> Result<(), Denied> {
        if self.storage.iter().any(|g| g.covers(bucket, prefix, write)) {
            return Ok(());
        }
        let verb = if write { "write" } else { "read" };
        Err(Denied {
            stage: stage.to_string(),
            capability: "sql",
            detail: format!("{what} needs {verb}:{bucket}/{prefix}, outside its storage grants (granted: {})", self.storage_list()),
        })
    }

    /// A SQL statement of `kind` creates, changes or drops `table` (or a database) in `database`.
    pub fn check_sql_database(&self, stage: &str, kind: &str, table: &str, database: &str) -> Result<(), Denied> {
        if self.sql_database.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(database)) {
            return Ok(());
        }
        let allowed = match &self.sql_database {
            Some(own) => format!("only in its run's database {own}"),
            None => "in no database (it has no run database)".to_string(),
        };
        Err(Denied {
            stage: stage.to_string(),
            capability: "sql",
            detail: format!("{kind} of {table} is outside its run's database: a stage may create, change or drop tables {allowed}"),
        })
    }

    fn storage_list(&self) -> String {
        if self.storage.is_empty() {
            "none".to_string()
        } else {
            self.storage.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(", ")
        }
    }

    pub fn check_sql(&self, stage: &str) -> Result<(), Denied> {
        if self.sql {
            Ok(())
        } else {
            Err(Denied { stage: stage.to_string(), capability: "sql", detail: "the stage is not granted sql".into() })
        }
    }

    pub fn check_llm(&self, stage: &str) -> Result<(), Denied> {
        if self.llm {
            Ok(())
        } else {
            Err(Denied { stage: stage.to_string(), capability: "llm", detail: "the stage is not granted llm".into() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_grant_does_not_leak_to_sibling_prefixes() {
        let grants = Grants { storage: vec![StorageGrant::parse("write:scratch/run=1/").unwrap()], ..Default::default() };
        assert!(grants.check_storage("s", "scratch", "run=1/a.parquet", true).is_ok());
        assert!(grants.check_storage("s", "scratch", "run=10/a.parquet", false).is_err());
        assert!(grants.check_storage("s", "raw", "run=1/a.parquet", false).is_err());
    }

    #[test]
    fn read_grant_does_not_allow_writes() {
        let grants = Grants { storage: vec![StorageGrant::parse("read:raw").unwrap()], ..Default::default() };
        assert!(grants.check_storage("s", "raw", "any/key", false).is_ok());
        let denied = grants.check_storage("prepare", "raw", "any/key", true).unwrap_err();
        assert!(denied.to_string().contains("stage 'prepare'"), "{denied}");
        assert!(denied.to_string().contains("write of bucket 'raw'"), "{denied}");
    }

    #[test]
    fn malformed_grants_are_rejected() {
        assert!(StorageGrant::parse("raw/x/").is_err());
        assert!(StorageGrant::parse("admin:raw").is_err());
        assert!(StorageGrant::parse("read:raw/x").is_err());
        assert!(StorageGrant::parse("read:../etc/").is_err());
    }
}
