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

/// The `engage` binary on the storage root `root`, with the test plugins and the
/// component cache `engage-test-<cache>-cache` (shared by the tests that name it).
pub fn engage_command(root: &Path, cache: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_engage"));
    command
        .arg("--root")
        .arg(root)
        .env("ENGAGE_PLUGIN_DIR", plugin_dir())
        // The source tree `plugin new`/`plugin build` take the SDKs and WIT from: the test binary's own.
        .env("ENGAGE_REPO", PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("ENGAGE_CACHE_DIR", std::env::temp_dir().join(format!("engage-test-{cache}-cache")));
    command
}

/// A stand-in's credentials, reaching the AWS SDK through its default chain, and
/// nothing of this machine's own AWS set-up (profile, files, endpoint, metadata).
pub fn stand_in_credentials<'a>(command: &'a mut Command, access_key: &str, secret_key: &str) -> &'a mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret_key)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("ENGAGE_CONFIG")
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
