//! `engage plugin build <folder>`: compiles a plugin folder into
//! `<folder>/build/<name>.wasm` with the toolchain its manifest's language needs:
//! cargo for Rust (target wasm32-wasip2), componentize-py for Python.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::manifest::{Kind, Language, MANIFEST_FILE, Manifest};

/// The Engage source tree the SDKs and WIT come from: `$ENGAGE_REPO`, else the
/// tree this binary was built from.
pub fn repo_dir() -> PathBuf {
    std::env::var_os("ENGAGE_REPO").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

pub fn wit_dir() -> PathBuf {
    repo_dir().join("wit")
}

pub fn python_sdk_dir() -> PathBuf {
    repo_dir().join("plugins").join("python-sdk")
}

pub fn rust_sdk_dir() -> PathBuf {
    repo_dir().join("plugins").join("sdk")
}

/// Where `plugin build` puts a folder's component.
pub fn component_path(dir: &Path, manifest: &Manifest) -> PathBuf {
    dir.join("build").join(format!("{}.wasm", manifest.name))
}

pub fn load_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        bail!("{} has no {MANIFEST_FILE}: is it a plugin folder? (`engage plugin new` makes one)", dir.display());
    }
    Manifest::load(&path)
}

/// Builds the plugin in `dir` and returns the component's path.
pub fn build(dir: &Path) -> Result<PathBuf> {
    let manifest = load_manifest(dir)?;
    let out = component_path(dir, &manifest);
    std::fs::create_dir_all(out.parent().expect("build/ has a parent"))
        .with_context(|| format!("creating {}", dir.join("build").display()))?;
    match manifest.language {
        Some(Language::Python) => build_python(dir, &manifest, &out)?,
        Some(Language::Rust) | None if dir.join("Cargo.toml").exists() => build_rust(dir, &out)?,
        _ => bail!("{}: set language = \"rust\" or \"python\" in {MANIFEST_FILE}", dir.display()),
    }
    Ok(out)
}

fn build_rust(dir: &Path, out: &Path) -> Result<()> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
        .current_dir(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo (is the Rust toolchain installed? `rustup target add wasm32-wasip2`)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("cargo build failed in {} (the compiler's messages are above)", dir.display());
    }
    // The artifact of the folder's own package: the last .wasm cargo reports.
    let wasm = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["filenames"].as_array().cloned())
        .flatten()
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .filter(|f| f.extension().is_some_and(|e| e == "wasm"))
        .last()
        .with_context(|| format!("cargo built no .wasm in {}: is crate-type = [\"cdylib\"] set?", dir.display()))?;
    std::fs::copy(&wasm, out).with_context(|| format!("copying {} to {}", wasm.display(), out.display()))?;
    Ok(())
}

/// componentize-py: `$ENGAGE_COMPONENTIZE_PY`, else beside `$ENGAGE_PYTHON`, else on the PATH.
fn componentize_py() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ENGAGE_COMPONENTIZE_PY") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Some(python) = std::env::var_os("ENGAGE_PYTHON") {
        candidates.push(Path::new(&python).with_file_name("componentize-py"));
    }
    candidates.push(repo_dir().join(".venv/bin/componentize-py"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("componentize-py")));
    }
    candidates.into_iter().find(|p| p.is_file()).context(
        "componentize-py not found: install it with `pip install componentize-py==0.25.1` \
         (scripts/test.sh puts it in .venv) or set ENGAGE_COMPONENTIZE_PY",
    )
}

fn build_python(dir: &Path, manifest: &Manifest, out: &Path) -> Result<()> {
    if manifest.kind != Kind::Transform {
        bail!("{}: Python plugins are transforms (kind = \"transform\")", dir.display());
    }
    if !dir.join("app.py").exists() {
        bail!("{}: a Python plugin's code is app.py, which is missing", dir.display());
    }
    let tool = componentize_py()?;
    let output = Command::new(&tool)
        .arg("-d")
        .arg(wit_dir())
        .args(["-w", manifest.world_name(), "componentize", "app", "--stub-wasi", "-p", "."])
        .arg("-p")
        .arg(python_sdk_dir())
        .arg("-o")
        .arg(out)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {}", tool.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("componentize-py failed in {}:\n{}", dir.display(), stderr.trim_end());
    }
    Ok(())
}
