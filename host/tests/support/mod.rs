//! Shared helpers for the host's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use engage::runtime::{Plugin, Runtime, RuntimeConfig};

/// Where the plugin components were built: `$ENGAGE_PLUGIN_DIR`, else the plugins workspace's target.
pub fn plugin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ENGAGE_PLUGIN_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release")
}

pub fn plugin_path(name: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cd plugins && cargo build --release --target wasm32-wasip2` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// One runtime for the whole test binary: engines are meant to be shared.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache = std::env::temp_dir().join(format!("engage-test-cache-{}", std::process::id()));
        Runtime::new(RuntimeConfig { cache_dir: Some(cache), pooling: true }).expect("runtime starts")
    })
}

pub fn load(name: &str) -> Arc<Plugin> {
    runtime().load_file(&plugin_path(name)).expect("plugin loads")
}

/// podman's global arguments on a machine like this one: vfs storage, runc with cgroupfs
/// (`ENGAGE_PODMAN_ARGS`, whitespace-separated, overrides them).
pub fn podman_args() -> Vec<String> {
    std::env::var("ENGAGE_PODMAN_ARGS")
        .unwrap_or_else(|_| "--storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend file".into())
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Points podman (run by `command` or a process it starts) at tests/support/containers.conf, which
/// drops the default ulimits runc may not raise inside a sandbox, unless CONTAINERS_CONF names one.
pub fn use_containers_conf(command: &mut Command) {
    if std::env::var_os("CONTAINERS_CONF").is_none() {
        command.env("CONTAINERS_CONF", Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/containers.conf"));
    }
}
