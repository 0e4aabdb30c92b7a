//! A catalog kept in object storage: `catalog/<database>/<table>.json`, one
//! object per table so each update is a single atomic put.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::{Catalog, TableDef};
use crate::capabilities::storage::{ObjectStore, validate_key};
use crate::capabilities::{CapResult, CapabilityError};

pub const CATALOG_BUCKET: &str = "catalog";
const DATABASE_MARKER: &str = "_database.json";
/// Held (an OS file lock) while a table is read, changed and put back.
const UPDATE_LOCK: &str = "_update.lock";

pub struct StorageCatalog {
    store: Arc<dyn ObjectStore>,
}

impl StorageCatalog {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }
}

fn check_name(kind: &str, name: &str) -> CapResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CapabilityError::invalid(format!(
            "invalid {kind} name '{name}': use lowercase letters, digits and '_'"
        )))
    }
}

impl Catalog for StorageCatalog {
    fn databases(&self) -> CapResult<Vec<String>> {
        let mut names: Vec<String> = self
            .store
            .list_all(CATALOG_BUCKET, "")?
            .into_iter()
            .filter_map(|o| o.key.strip_suffix(&format!("/{DATABASE_MARKER}")).map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    fn create_database(&self, name: &str) -> CapResult<()> {
        check_name("database", name)?;
        let key = format!("{name}/{DATABASE_MARKER}");
        if self.store.head(CATALOG_BUCKET, &key).is_ok() {
            return Ok(());
        }
        self.store.put(CATALOG_BUCKET, &key, br#"{}"#)
    }

    fn tables(&self, database: &str) -> CapResult<Vec<String>> {
        check_name("database", database)?;
        let prefix = format!("{database}/");
        let mut names: Vec<String> = self
            .store
            .list_all(CATALOG_BUCKET, &prefix)?
            .into_iter()
            .filter_map(|o| {
                let name = o.key.strip_prefix(&prefix)?.strip_suffix(".json")?;
                (!name.contains('/') && format!("{name}.json") != DATABASE_MARKER).then(|| name.to_string())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    fn table(&self, database: &str, name: &str) -> CapResult<Option<TableDef>> {
        check_name("database", database)?;
        check_name("table", name)?;
        match self.store.get(CATALOG_BUCKET, &format!("{database}/{name}.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                CapabilityError::internal(format!("catalog entry {database}.{name} is unreadable: {e}"))
            }),
            Err(e) if e.code == crate::capabilities::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put_table(&self, table: &TableDef) -> CapResult<()> {
        check_name("database", &table.database)?;
        check_name("table", &table.name)?;
        super::parse_location(&table.location).map_err(CapabilityError::invalid)?;
        self.create_database(&table.database)?;
        let key = format!("{}/{}.json", table.database, table.name);
        validate_key(&key).map_err(CapabilityError::invalid)?;
        let bytes = serde_json::to_vec_pretty(table).expect("table definitions serialize");
        self.store.put(CATALOG_BUCKET, &key, &bytes)
    }

    /// Serialised across processes with a lock file when the store is a local folder;
    /// the lock goes with the process, so a crashed update never blocks the next.
    fn update_table(
        &self,
        database: &str,
        name: &str,
        change: &mut dyn FnMut(Option<TableDef>) -> anyhow::Result<TableDef>,
    ) -> anyhow::Result<TableDef> {
        let _lock = match self.store.local_path(CATALOG_BUCKET, UPDATE_LOCK) {
            Some(path) => Some(lock_file(&path)?),
            None => None,
        };
        super::read_change_put(self, database, name, change)
    }

    fn drop_table(&self, database: &str, name: &str) -> CapResult<bool> {
        let existed = self.table(database, name)?.is_some();
        self.store.delete(CATALOG_BUCKET, &format!("{database}/{name}.json"))?;
        Ok(existed)
    }
}

/// Opens (creating it if needed) and exclusively locks `path`; unlocked when the file is dropped.
fn lock_file(path: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).with_context(|| format!("{}: cannot create the catalog folder", folder.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("{}: cannot open the catalog's update lock", path.display()))?;
    file.lock().with_context(|| format!("{}: cannot lock the catalog for an update", path.display()))?;
    Ok(file)
}
