//! The local host's backends, opened from a storage root: directory storage, the
//! catalog kept in it. Commands and tests start here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::capabilities::storage::{LocalStorage, ObjectStore};
use crate::catalog::{Catalog, StorageCatalog};

pub struct LocalHost {
    pub root: PathBuf,
    pub storage: Arc<LocalStorage>,
    pub catalog: Arc<StorageCatalog>,
}

impl LocalHost {
    pub fn open(root: &Path) -> Result<Self> {
        let storage = Arc::new(
            LocalStorage::new(root).with_context(|| format!("opening the storage root {}", root.display()))?,
        );
        let catalog = Arc::new(StorageCatalog::new(storage.clone() as Arc<dyn ObjectStore>));
        Ok(Self { root: root.to_path_buf(), storage, catalog })
    }

    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.storage.clone()
    }

    pub fn catalog(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    /// The local SQL engine (DataFusion, Athena dialect) over this root's storage and catalog.
    pub fn sql(&self) -> Result<Arc<crate::capabilities::sql::local::LocalSql>> {
        let engine = crate::capabilities::sql::local::LocalSql::new(self.object_store(), self.catalog())
            .map_err(anyhow::Error::msg)
            .context("starting the local SQL engine")?;
        Ok(Arc::new(engine))
    }
}
