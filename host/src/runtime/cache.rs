//! Compiled components, cached in memory and on disk. The key is the component's
//! content hash plus the engine's compatibility hash, so a new wasmtime version
//! or different engine settings never load a stale artifact.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How an artifact being written is named until it is renamed into place.
const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled with Cranelift.
    pub compiled: u64,
    /// Components loaded from a precompiled artifact on disk.
    pub disk_hits: u64,
    /// Components reused from this process's memory.
    pub memory_hits: u64,
}

pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
    memory: Mutex<HashMap<String, Component>>,
    compiled: AtomicU64,
    disk_hits: AtomicU64,
    memory_hits: AtomicU64,
}

/// The sha256 of a component's bytes, hex encoded: its identity in caches and run records.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ComponentCache {
    /// `dir = None` keeps compiled components in memory only.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Result<Self> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating component cache {}", dir.display()))?;
            crate::temp_files::remove_orphans(dir, TEMP_PREFIX);
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        Ok(Self {
            dir,
            engine_key,
            memory: Mutex::new(HashMap::new()),
            compiled: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
        })
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
        }
    }

    /// Returns the compiled component for `bytes`, compiling only on a miss.
    pub fn get_or_compile(&self, engine: &Engine, bytes: &[u8], hash: &str, name: &str) -> Result<Component> {
        let key = format!("{hash}-{}", self.engine_key);
        if let Some(component) = self.memory.lock().unwrap().get(&key) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(component.clone());
        }
        let artifact = self.dir.as_ref().map(|dir| dir.join(format!("{key}.cwasm")));
        let component = match artifact.as_deref().and_then(|path| load_artifact(engine, path)) {
            Some(component) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                component
            }
            None => {
                check_header(bytes, name)?;
                // One line, as every error: the parser's message can span lines (a dump of the bytes it expected).
                let component = Component::new(engine, bytes)
                    .map_err(|e| anyhow::anyhow!("{}", format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ")))
                    .with_context(|| format!("{name} is not a valid WebAssembly component"))?;
                self.compiled.fetch_add(1, Ordering::Relaxed);
                if let Some(path) = &artifact {
                    // A cache we cannot write only costs time on the next run.
                    if let Err(e) = store_artifact(&component, path) {
                        tracing::warn!("could not cache compiled {name} at {}: {e:#}", path.display());
                    }
                }
                component
            }
        };
        self.memory.lock().unwrap().insert(key, component.clone());
        Ok(component)
    }
}

fn load_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the artifact was produced by `Component::serialize` of this same engine
    // configuration (the file name carries the engine's compatibility hash) and is
    // only ever written atomically by `store_artifact`. A corrupt file fails to
    // deserialize and is recompiled.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!("ignoring unusable cached component {}: {e}", path.display());
            None
        }
    }
}

fn store_artifact(component: &Component, path: &Path) -> Result<()> {
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let dir = path.parent().context("a cache artifact lives in a folder")?;
    let temp = dir.join(format!("{TEMP_PREFIX}{}", crate::temp_files::unique_name()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

/// A file that is no WebAssembly at all, or a core module rather than a component, told apart
/// before the parser's error, with what to do.
fn check_header(bytes: &[u8], name: &str) -> Result<()> {
    if !bytes.starts_with(b"\0asm") {
        anyhow::bail!("{name} is not a WebAssembly file (it does not start with \\0asm): build the plugin with `engage plugin build`");
    }
    // Bytes 4..8: version 1 and layer 0 for a core module, layer 1 for a component.
    if bytes.get(6..8) == Some(&[0, 0]) {
        anyhow::bail!(
            "{name} is a core WebAssembly module, not a component: build it for the wasm32-wasip2 target (`engage plugin build`), which emits a component"
        );
    }
    Ok(())
}
