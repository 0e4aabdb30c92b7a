//! `engage plugin build <folder>`: compiles a plugin folder into
//! `<folder>/build/<name>.wasm` with the toolchain its manifest's language needs:
//! cargo for Rust (target wasm32-wasip2), componentize-py for Python.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::manifest::{Kind, Language, MANIFEST_FILE, Manifest};

/// Where the Rust plugin SDK's manifest sits in the Engage source tree.
const SDK_MANIFEST: &str = "plugins/sdk/Cargo.toml";

/// `dir/Cargo.toml` is the Engage plugin SDK's.
pub fn is_rust_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "name = \"engage-plugin-sdk\""))
}

fn is_engage_repo(dir: &Path) -> bool {
    is_rust_sdk(&dir.join("plugins/sdk"))
}

const POINT_AT_IT: &str = "point at it with `engage plugin new <name> --lang rust --sdk <engage checkout>/plugins/sdk`, \
     or set ENGAGE_REPO=<engage checkout> (the folder holding plugins/sdk and wit)";

/// How a Python plugin's build is pointed at the Engage source tree (`plugin new --sdk` is for Rust).
const POINT_AT_IT_PYTHON: &str = "set ENGAGE_REPO=<engage checkout> (the folder holding plugins/python-sdk and wit), \
     or run `engage plugin build` (--lang python plugins) from inside an Engage checkout";

/// The Engage source tree the SDKs and WIT come from: `env` (`$ENGAGE_REPO`) when set, else the
/// first folder at or above one of `starts` holding plugins/sdk/Cargo.toml of the Engage plugin SDK.
/// Found at run time, so a binary works wherever the source tree is; the error names where it looked.
pub fn find_repo_from(env: Option<PathBuf>, starts: &[PathBuf]) -> Result<PathBuf> {
    find_repo_for(env, starts, Language::Rust)
}

/// [`find_repo_from`] for a plugin in `language`: the error's advice is the one that language's build takes.
pub fn find_repo_for(env: Option<PathBuf>, starts: &[PathBuf], language: Language) -> Result<PathBuf> {
    let (advice, sdk) = match language {
        Language::Rust => (POINT_AT_IT, "the Engage plugin SDK (plugins/sdk/Cargo.toml of an Engage checkout)"),
        Language::Python => (POINT_AT_IT_PYTHON, "the Engage Python SDK and WIT (plugins/python-sdk and wit/ of an Engage checkout)"),
    };
    if let Some(repo) = env {
        if is_engage_repo(&repo) {
            return Ok(repo);
        }
        bail!(
            "ENGAGE_REPO is {} but it is not an Engage checkout ({} is not the Engage plugin SDK's manifest): {advice}",
            repo.display(),
            repo.join(SDK_MANIFEST).display()
        );
    }
    for start in starts {
        if let Some(found) = start.ancestors().find(|d| is_engage_repo(d)) {
            return Ok(found.to_path_buf());
        }
    }
    let looked: Vec<String> = starts.iter().map(|s| format!("{} and the folders above it", s.display())).collect();
    bail!(
        "{sdk} was not found: ENGAGE_REPO is not set, and it is in none of {}; {advice}",
        if looked.is_empty() { "(no folder to look in)".to_string() } else { looked.join(", ") }
    )
}

/// The Engage source tree: `$ENGAGE_REPO`, else looked for above the current folder, then above this executable.
pub fn repo_dir() -> Result<PathBuf> {
    repo_dir_for(Language::Rust)
}

/// [`repo_dir`], its error advising what a `language` plugin's build needs.
fn repo_dir_for(language: Language) -> Result<PathBuf> {
    let mut starts = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.canonicalize().unwrap_or(exe).parent()
    {
        starts.push(dir.to_path_buf());
    }
    find_repo_for(std::env::var_os("ENGAGE_REPO").filter(|v| !v.is_empty()).map(PathBuf::from), &starts, language)
}

pub fn wit_dir() -> Result<PathBuf> {
    Ok(repo_dir()?.join("wit"))
}

pub fn python_sdk_dir() -> Result<PathBuf> {
    Ok(repo_dir_for(Language::Python)?.join("plugins").join("python-sdk"))
}

/// The Rust plugin SDK (plugins/sdk): `sdk` when given (it must be the SDK's folder), else in the Engage source tree.
pub fn rust_sdk_dir(sdk: Option<&Path>) -> Result<PathBuf> {
    let dir = match sdk {
        Some(sdk) => {
            if !is_rust_sdk(sdk) {
                bail!("--sdk {}: {} is not the Engage plugin SDK's manifest (name = \"engage-plugin-sdk\"); {POINT_AT_IT}", sdk.display(), sdk.join("Cargo.toml").display());
            }
            sdk.to_path_buf()
        }
        None => repo_dir()?.join("plugins").join("sdk"),
    };
    Ok(dir.canonicalize().unwrap_or(dir))
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
    if let Ok(repo) = repo_dir() {
        candidates.push(repo.join(".venv/bin/componentize-py"));
    }
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
    let repo = repo_dir_for(Language::Python)?;
    let output = Command::new(&tool)
        .arg("-d")
        .arg(repo.join("wit"))
        .args(["-w", manifest.world_name(), "componentize", "app", "--stub-wasi", "-p", "."])
        .arg("-p")
        .arg(repo.join("plugins").join("python-sdk"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_build_without_the_sdk_is_not_told_to_use_lang_rust() {
        let nowhere = tempfile::tempdir().unwrap();
        let e = find_repo_for(None, &[nowhere.path().to_path_buf()], Language::Python).unwrap_err().to_string();
        assert!(e.contains("ENGAGE_REPO=<engage checkout> (the folder holding plugins/python-sdk and wit)"), "{e}");
        assert!(!e.contains("--lang rust") && !e.contains("plugins/sdk/Cargo.toml"), "{e}");
        assert!(e.starts_with("the Engage Python SDK and WIT (plugins/python-sdk and wit/ of an Engage checkout) was not found"), "{e}");
        let e = find_repo_for(None, &[nowhere.path().to_path_buf()], Language::Rust).unwrap_err().to_string();
        assert!(e.contains("--lang rust --sdk"), "{e}");
    }
}
