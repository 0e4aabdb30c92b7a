//! The pipeline file (docs/pipeline.md): parsed with spans, checked as a whole
//! before anything runs, and turned into a [`Pipeline`] the executor trusts.
//! Every mistake is reported with `file:line:`, all of them at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::step::ErrorKind;
use super::vars::{self, BUILTINS};
use crate::capabilities::StorageGrant;
use crate::plugins::registry::{PluginRef, Registry, Release};

/// `max_parallel` when the file does not say.
pub const DEFAULT_MAX_PARALLEL: usize = 2;

// ---- the validated model -------------------------------------------------

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: String,
    /// The file as the user named it, for messages and the run record.
    pub file: String,
    pub max_parallel: usize,
    /// `[vars]` with `--set` overrides applied.
    pub vars: BTreeMap<String, String>,
    /// In file order.
    pub stages: Vec<StageSpec>,
    /// Published catalog name (database `engage`) → run table template (`${run_db}.x`).
    pub publish: Vec<(String, String)>,
}

impl Pipeline {
    pub fn stage(&self, name: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runs {
    Plugin(String),
    Native(String),
}

impl Runs {
    /// `plugin:<name>` or `native:<name>`, as the run record shows it.
    pub fn label(&self) -> String {
        match self {
            Runs::Plugin(name) => format!("plugin:{name}"),
            Runs::Native(name) => format!("native:{name}"),
        }
    }
}

/// Grants as written: storage entries still hold `${...}`, resolved per attempt.
#[derive(Debug, Clone, Default)]
pub struct GrantTemplate {
    pub storage: Vec<String>,
    pub sql: bool,
    pub llm: bool,
}

#[derive(Debug, Clone)]
pub struct StageSpec {
    pub name: String,
    pub runs: Runs,
    pub after: Vec<String>,
    pub grants: GrantTemplate,
    /// As written (JSON), `${...}` resolved per attempt.
    pub params: serde_json::Value,
    pub timeout: Duration,
    pub memory: u64,
    pub output: u64,
    pub retry: RetryPolicy,
    pub catch: Option<CatchPolicy>,
    pub map: Option<MapSpec>,
    pub fallback_only: bool,
}

/// Which error kinds a retry or catch applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kinds {
    All,
    Only(Vec<ErrorKind>),
}

impl Kinds {
    pub fn matches(&self, kind: ErrorKind) -> bool {
        match self {
            Kinds::All => true,
            Kinds::Only(kinds) => kinds.contains(&kind),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    /// A uniformly random delay between zero and the computed one (AWS "full jitter").
    Full,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Counts the first try; 1 means no retry.
    pub max_attempts: u32,
    pub interval: Duration,
    pub backoff_rate: f64,
    pub max_interval: Option<Duration>,
    pub jitter: Jitter,
    pub on: Kinds,
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            interval: Duration::from_secs(1),
            backoff_rate: 2.0,
            max_interval: None,
            jitter: Jitter::None,
            on: Kinds::All,
        }
    }

    /// The wait before the retry that follows failed try `n` (1-based), before jitter:
    /// `interval × backoff_rate^(n-1)`, capped by `max_interval`.
    pub fn delay(&self, n: u32) -> Duration {
        let secs = self.interval.as_secs_f64() * self.backoff_rate.powi(n.saturating_sub(1) as i32);
        let cap = self.max_interval.map(|d| d.as_secs_f64()).unwrap_or(f64::MAX).min(86_400.0);
        Duration::from_secs_f64(secs.min(cap))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatchAction {
    /// Run this (fallback-only) stage in place of the failed one.
    Next(String),
    FailRun,
}

#[derive(Debug, Clone)]
pub struct CatchPolicy {
    pub on: Kinds,
    pub action: CatchAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSpec {
    pub shards: u32,
    pub max_concurrency: u32,
}

// ---- errors --------------------------------------------------------------

/// Every mistake found in a pipeline file, one `file:line: ...` line each.
#[derive(Debug, Clone)]
pub struct SpecErrors(pub Vec<String>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for SpecErrors {}

/// What validation checks the file against.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// `--set name=value`: override or add `[vars]` entries.
    pub overrides: BTreeMap<String, String>,
    /// Names of the native steps this host has.
    pub native_steps: BTreeSet<String>,
    /// Where `<plugin>.wasm` files must exist; `None` skips the check.
    pub plugin_dir: Option<PathBuf>,
    /// The store holding published plugins: a `name@version` must match a release of the right
    /// kind before anything runs. `None` leaves that to the stage.
    pub published: Option<std::sync::Arc<dyn crate::capabilities::storage::ObjectStore>>,
}

impl LoadOptions {
    /// Checks published plugin references against `store` as well.
    pub fn with_published(mut self, store: std::sync::Arc<dyn crate::capabilities::storage::ObjectStore>) -> Self {
        self.published = Some(store);
        self
    }

    /// The release a published `reference` resolves to, which must be a `kind` plugin ("stage" or
    /// "transform"); `Ok(None)` when there is no store to check against.
    fn published(&self, reference: &str, kind: &str) -> Result<Option<(Registry, Release)>, String> {
        let parsed = PluginRef::parse(reference)?;
        let Some(store) = self.published.clone() else { return Ok(None) };
        let registry = Registry::new(store);
        let release = registry.find(&parsed).map_err(|e| format!("{e:#}"))?;
        if release.kind != kind {
            return Err(format!("'{reference}' resolves to {} {}, a {} plugin, not a {kind} plugin", release.name, release.version, release.kind));
        }
        Ok(Some((registry, release)))
    }
}

/// The file a plugin stage loads: cargo names wasm outputs with `_` for `-`.
pub fn plugin_file(plugin_dir: &Path, plugin: &str) -> PathBuf {
    plugin_dir.join(format!("{}.wasm", plugin.replace('-', "_")))
}

pub fn load(path: &Path, options: &LoadOptions) -> Result<Pipeline, SpecErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecErrors(vec![format!("{}: cannot read the pipeline file: {e}", path.display())]))?;
    parse(&text, &path.display().to_string(), options)
}

// ---- the raw file --------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTop {
    name: Option<String>,
    #[serde(default)]
    description: String,
    max_parallel: Option<Spanned<i64>>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    publish: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    output: Option<Spanned<String>>,
    retry: Option<Spanned<RawRetry>>,
    catch: Option<Spanned<RawCatch>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: Spanned<String>,
    plugin: Option<Spanned<String>>,
    native: Option<Spanned<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    grants: Option<RawGrants>,
    params: Option<Spanned<toml::Table>>,
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    output: Option<Spanned<String>>,
    retry: Option<Spanned<RawRetry>>,
    catch: Option<Spanned<RawCatch>>,
    map: Option<Spanned<RawMap>>,
    #[serde(default)]
    fallback_only: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    storage: Vec<Spanned<String>>,
    #[serde(default)]
    sql: bool,
    #[serde(default)]
    llm: bool,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<i64>,
    interval: Option<Spanned<String>>,
    backoff_rate: Option<f64>,
    max_interval: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    on: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawCatch {
    on: Option<Vec<Spanned<String>>>,
    next: Option<Spanned<String>>,
    fail_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    shards: i64,
    max_concurrency: Option<i64>,
}

// ---- parsing and validation ----------------------------------------------

/// Collects errors with their line numbers.
struct Report<'a> {
    text: &'a str,
    file: &'a str,
    errors: Vec<(usize, String)>,
}

impl Report<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].matches('\n').count() + 1
    }

    /// Where `"value"` (quoted as written) first appears inside `within`, else `within` itself.
    fn quoted(&self, within: &Range<usize>, value: &str) -> Range<usize> {
        let end = within.end.min(self.text.len());
        let start = within.start.min(end);
        ["\"", "'"]
            .iter()
            .find_map(|q| self.text[start..end].find(&format!("{q}{value}{q}")))
            .map_or_else(|| within.clone(), |at| start + at..start + at + value.len() + 2)
    }

    fn at(&mut self, span: &Range<usize>, stage: Option<&str>, message: impl fmt::Display) {
        let line = self.line(span);
        let message = match stage {
            Some(stage) => format!("{}:{line}: stage '{stage}': {message}", self.file),
            None => format!("{}:{line}: {message}", self.file),
        };
        self.errors.push((line, message));
    }

    fn toml(&mut self, error: &toml::de::Error, fallback: &Range<usize>, stage: Option<&str>) {
        let span = error.span().unwrap_or_else(|| fallback.clone());
        self.at(&span, stage, error.message().trim());
    }
}

pub fn parse(text: &str, file: &str, options: &LoadOptions) -> Result<Pipeline, SpecErrors> {
    let mut report = Report { text, file, errors: Vec::new() };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            report.toml(&e, &(0..0), None);
            return Err(finish(report));
        }
    };
    let root_span = root.span();
    let mut table = root.into_inner();

    // `[[stage]]` entries are read one by one so a mistake in one does not hide the others.
    let stage_values: Vec<Spanned<DeValue>> = match table.remove("stage") {
        Some(value) => {
            let span = value.span();
            match value.into_inner() {
                DeValue::Array(items) => items.iter().cloned().collect(),
                _ => {
                    report.at(&span, None, "'stage' must be an array of tables ([[stage]])");
                    Vec::new()
                }
            }
        }
        None => Vec::new(),
    };
    let top = match RawTop::deserialize(ValueDeserializer::from(Spanned::new(root_span.clone(), DeValue::Table(table))))
    {
        Ok(top) => Some(top),
        Err(e) => {
            report.toml(&e, &root_span, None);
            None
        }
    };
    let mut raw_stages = Vec::new();
    // Stages named in the file but unreadable: references to them are not reported again as unknown.
    let mut unreadable = Vec::new();
    for value in stage_values {
        let span = value.span();
        let name = stage_name(value.get_ref());
        match RawStage::deserialize(ValueDeserializer::from(value)) {
            Ok(stage) => raw_stages.push(stage),
            Err(e) => {
                report.toml(&e, &span, name.as_deref());
                unreadable.extend(name);
            }
        }
    }
    if raw_stages.is_empty() && report.errors.is_empty() {
        report.at(&root_span, None, "the pipeline has no [[stage]]");
    }
    // With the top level unreadable, still check the stages, but not their variables.
    let lenient = top.is_none();
    let top = top.unwrap_or_default();

    let name = top.name.clone().unwrap_or_else(|| {
        Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into())
    });
    let max_parallel = match &top.max_parallel {
        None => DEFAULT_MAX_PARALLEL,
        Some(n) if *n.get_ref() >= 1 => *n.get_ref() as usize,
        Some(n) => {
            report.at(&n.span(), None, format!("max_parallel must be at least 1, not {}", n.get_ref()));
            DEFAULT_MAX_PARALLEL
        }
    };

    let mut vars = BTreeMap::new();
    for (key, value) in &top.vars {
        if BUILTINS.contains(&key.as_str()) {
            report.at(&value.span(), None, format!("[vars] '{key}' is a built-in variable and cannot be set"));
            continue;
        }
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                report.at(&value.span(), None, format!("[vars] '{key}' must be a string, number or bool, not {}", other.type_str()));
                continue;
            }
        };
        vars.insert(key.clone(), text);
    }
    for (key, value) in &options.overrides {
        if BUILTINS.contains(&key.as_str()) {
            // Not from the file, so no line to point at.
            report.errors.push((0, format!("--set {key}: '{key}' is a built-in variable and cannot be set")));
        } else {
            vars.insert(key.clone(), value.clone());
        }
    }

    // A var's value may use `${...}` too: every name must be known, and no var may lead back to itself. A bad
    // var is reported once, at its own line (or --set); where it is used it stands in as a plain sample value.
    let mut sample_vars = vars.clone();
    for key in vars.keys() {
        let Some(problem) = vars::check_var(key, &vars) else { continue };
        match top.vars.get(key).filter(|_| !options.overrides.contains_key(key)) {
            Some(value) => report.at(&value.span(), None, format!("[vars] '{key}': {problem}")),
            None => report.errors.push((0, format!("--set {key}: {problem}"))),
        }
        sample_vars.insert(key.clone(), "x".to_string());
    }

    let defaults = Defaults::read(&top.defaults, &mut report);
    let mut stages = Vec::new();
    for raw in &raw_stages {
        if let Some(stage) = read_stage(raw, &defaults, &sample_vars, lenient, options, &mut report) {
            stages.push(stage);
        }
    }
    check_graph(&raw_stages, &unreadable, &mut report);

    let mut publish = Vec::new();
    for (published, target) in &top.publish {
        let span = target.span();
        if !valid_table_name(published) {
            report.at(&span, None, format!("[publish] '{published}' is not a valid table name"));
        }
        match sample_substitute(target.get_ref(), "publish", &sample_vars) {
            Ok(resolved) if resolved.split_once('.').is_some_and(|(d, t)| !d.is_empty() && valid_table_name(t)) => {}
            Ok(_) => report.at(&span, None, format!("[publish] '{published}' must name a run table as 'database.table', not '{}'", target.get_ref())),
            Err(e) => report.at(&span, None, format!("[publish] '{published}': {e}")),
        }
        publish.push((published.clone(), target.get_ref().clone()));
    }

    if !report.errors.is_empty() {
        return Err(finish(report));
    }
    Ok(Pipeline { name, description: top.description, file: file.to_string(), max_parallel, vars, stages, publish })
}

fn finish(mut report: Report) -> SpecErrors {
    report.errors.sort_by_key(|(line, _)| *line);
    SpecErrors(report.errors.into_iter().map(|(_, m)| m).collect())
}

fn stage_name(value: &DeValue) -> Option<String> {
    value.as_table()?.get("name")?.get_ref().as_str().map(str::to_string)
}

fn valid_table_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Stage-level settings `[defaults]` supplies.
struct Defaults {
    timeout: Duration,
    memory: u64,
    output: u64,
    retry: Option<Spanned<RawRetry>>,
    catch: Option<Spanned<RawCatch>>,
}

impl Defaults {
    fn read(raw: &RawDefaults, report: &mut Report) -> Self {
        let builtin = crate::runtime::GuestLimits::default();
        let timeout = duration_or(raw.timeout.as_ref(), builtin.timeout, None, "timeout", report);
        let memory = size_or(raw.memory.as_ref(), builtin.memory_bytes as u64, None, "memory", report);
        let output = size_or(raw.output.as_ref(), builtin.output_bytes as u64, None, "output", report);
        // Check them once here; stages that inherit them do not repeat the errors.
        if let Some(retry) = &raw.retry {
            read_retry(retry, None, report);
        }
        if let Some(catch) = &raw.catch {
            if catch.get_ref().next.is_some() {
                report.at(&catch.span(), None, "[defaults] catch cannot name a 'next' stage; set it per stage");
            }
            read_catch(catch, None, report);
        }
        Defaults { timeout, memory, output, retry: raw.retry.clone(), catch: raw.catch.clone() }
    }
}

fn read_stage(
    raw: &RawStage,
    defaults: &Defaults,
    vars: &BTreeMap<String, String>,
    lenient: bool,
    options: &LoadOptions,
    report: &mut Report,
) -> Option<StageSpec> {
    let name = raw.name.get_ref().as_str();
    let at = Some(name);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        report.at(&raw.name.span(), at, "a stage name must be lowercase letters, digits and '-'");
    }
    // The release a published stage plugin resolves to, for the check of its grants below.
    let mut published_stage = None;
    let runs = match (&raw.plugin, &raw.native) {
        (Some(plugin), None) => {
            if crate::plugins::registry::is_reference(plugin.get_ref()) {
                // Published plugins resolve from the registry when the stage runs; checked here too, so a
                // missing or wrong-kind release fails before any stage runs.
                match options.published(plugin.get_ref(), "stage") {
                    Ok(found) => published_stage = found,
                    Err(problem) => report.at(&plugin.span(), at, format!("plugin {problem}")),
                }
            } else if let Some(dir) = &options.plugin_dir
                && let Err(e) = crate::plugins::resolve::find_plugin_file(dir, plugin.get_ref())
            {
                report.at(&plugin.span(), at, e);
            }
            Some(Runs::Plugin(plugin.get_ref().clone()))
        }
        (None, Some(native)) => {
            if !options.native_steps.contains(native.get_ref()) {
                let known = options.native_steps.iter().cloned().collect::<Vec<_>>().join(", ");
                let known = if known.is_empty() { "none".to_string() } else { known };
                report.at(&native.span(), at, format!("unknown native step '{}' (this host has: {known})", native.get_ref()));
            }
            Some(Runs::Native(native.get_ref().clone()))
        }
        (Some(plugin), Some(native)) => {
            let second = if plugin.span().start > native.span().start { plugin.span() } else { native.span() };
            report.at(&second, at, "set either 'plugin' or 'native', not both");
            None
        }
        (None, None) => {
            report.at(&raw.name.span(), at, "missing 'plugin' or 'native': what does this stage run?");
            None
        }
    };

    let timeout = duration_or(raw.timeout.as_ref(), defaults.timeout, at, "timeout", report);
    let memory = size_or(raw.memory.as_ref(), defaults.memory, at, "memory", report);
    let output = size_or(raw.output.as_ref(), defaults.output, at, "output", report);
    let retry = match (&raw.retry, &defaults.retry) {
        (Some(retry), _) => read_retry(retry, at, report),
        // Already reported in [defaults]; read quietly.
        (None, Some(retry)) => read_retry(retry, None, &mut quiet(report)),
        (None, None) => RetryPolicy::none(),
    };
    let catch = match (&raw.catch, &defaults.catch) {
        (Some(catch), _) => Some(read_catch(catch, at, report)),
        (None, Some(catch)) => Some(read_catch(catch, None, &mut quiet(report))),
        (None, None) => None,
    };
    let map = raw.map.as_ref().map(|map| {
        let m = map.get_ref();
        let shards = if (1..=10_000).contains(&m.shards) {
            m.shards as u32
        } else {
            report.at(&map.span(), at, format!("map.shards must be between 1 and 10000, not {}", m.shards));
            1
        };
        let max_concurrency = match m.max_concurrency {
            None => shards,
            Some(n) if n >= 1 => n.min(shards as i64) as u32,
            Some(n) => {
                report.at(&map.span(), at, format!("map.max_concurrency must be at least 1, not {n}"));
                1
            }
        };
        MapSpec { shards, max_concurrency }
    });

    let lookup = |n: &str| sample_lookup(n, name, vars).or_else(|| lenient.then(|| "x".to_string()));
    let sample = |text: &str| vars::substitute(text, &lookup);
    let mut grants = GrantTemplate::default();
    if let Some(raw_grants) = &raw.grants {
        for entry in &raw_grants.storage {
            // Checked with sample values for its variables, but quoted as written: the sample run id is no one's.
            let written = entry.get_ref();
            match sample(written).and_then(|resolved| StorageGrant::parse(&resolved).map_err(|e| e.replace(&resolved, written))) {
                Ok(_) => grants.storage.push(written.clone()),
                Err(e) => report.at(&entry.span(), at, format!("bad grant: {e}")),
            }
        }
        grants.sql = raw_grants.sql;
        grants.llm = raw_grants.llm;
    }
    // A published stage plugin's manifest says what it needs: an entry that grants less fails here, not
    // with a denial halfway through the run.
    if let (Some((registry, release)), Some(plugin)) = (&published_stage, &raw.plugin)
        && let Ok(manifest) = registry.manifest(release)
    {
        let granted: Vec<StorageGrant> = grants.storage.iter().filter_map(|g| sample(g).ok()).filter_map(|g| StorageGrant::parse(&g).ok()).collect();
        let mut lacking: Vec<String> = Vec::new();
        if manifest.grants.sql && !grants.sql {
            lacking.push("sql".into());
        }
        if manifest.grants.llm && !grants.llm {
            lacking.push("llm".into());
        }
        for wanted in &manifest.grants.storage {
            let covered = sample(wanted).ok().and_then(|w| StorageGrant::parse(&w).ok()).is_none_or(|w| granted.iter().any(|g| g.includes(&w)));
            if !covered {
                lacking.push(wanted.clone());
            }
        }
        if !lacking.is_empty() {
            report.at(
                &plugin.span(),
                at,
                format!(
                    "{} {} declares grants this entry does not give: {} (add them to its grants, or the stage is denied them when it runs)",
                    manifest.name,
                    manifest.version,
                    lacking.join(", ")
                ),
            );
        }
    }
    // A native step's `transforms` (the features step) are plugins too: each is checked here, at its
    // own line, as a stage's `plugin` is, not when the stage gets to run.
    if raw.native.is_some()
        && let Some(params) = &raw.params
        && let Some(toml::Value::Array(names)) = params.get_ref().get("transforms")
    {
        // Which published transform writes each column: two writing one column fail here, not when the
        // step runs after everything before it (a local file's columns are known only once it loads).
        let mut writers: BTreeMap<String, String> = BTreeMap::new();
        for written in names.iter().filter_map(|n| n.as_str()) {
            // A name using vars (`activity@${activity_version}`) is checked as the run will resolve it.
            let resolved = match written.contains("${") {
                false => written.to_string(),
                true if !lenient && let Ok(resolved) = sample(written) => resolved,
                true => continue,
            };
            let name = resolved.as_str();
            let span = report.quoted(&params.span(), written);
            if crate::plugins::registry::is_reference(name) {
                match options.published(name, "transform") {
                    Err(problem) => report.at(&span, at, format!("transform {problem}")),
                    Ok(Some((registry, release))) => {
                        let resolved = format!("{}@{}", release.name, release.version);
                        let label = if resolved == name { format!("'{name}'") } else { format!("'{name}' ({resolved})") };
                        // Reported once per earlier transform, however many columns the two share.
                        let mut clashes: BTreeMap<String, Vec<String>> = BTreeMap::new();
                        for column in registry.manifest(&release).map(|m| m.outputs).unwrap_or_default() {
                            match writers.get(&column.name) {
                                Some(other) => clashes.entry(other.clone()).or_default().push(format!("'{}'", column.name)),
                                None => {
                                    writers.insert(column.name, label.clone());
                                }
                            }
                        }
                        for (other, columns) in clashes {
                            let columns = format!("column{} {}", if columns.len() == 1 { "" } else { "s" }, columns.join(", "));
                            let message = format!(
                                "transform {label} writes {columns}, as does transform {other}: a column has one writer; keep one of the two, or rename the outputs"
                            );
                            report.at(&span, at, message);
                        }
                    }
                    Ok(None) => {}
                }
            } else if let Some(dir) = &options.plugin_dir
                && let Err(e) = crate::plugins::resolve::find_plugin_file(dir, name)
            {
                report.at(&span, at, format!("transform {}", e.trim_start_matches("plugin ")));
            }
        }
    }
    let params = match &raw.params {
        None => serde_json::Value::Object(Default::default()),
        Some(params) => {
            let json = serde_json::to_value(params.get_ref()).unwrap_or_default();
            if let Err(e) = vars::substitute_json(&json, &lookup) {
                report.at(&params.span(), at, format!("params: {e}"));
            }
            json
        }
    };

    Some(StageSpec {
        name: name.to_string(),
        runs: runs?,
        after: raw.after.iter().map(|a| a.get_ref().clone()).collect(),
        grants,
        params,
        timeout,
        memory,
        output,
        retry,
        catch,
        map,
        fallback_only: raw.fallback_only,
    })
}

/// A report that swallows errors (for inherited defaults already checked once).
fn quiet<'a>(report: &Report<'a>) -> Report<'a> {
    Report { text: report.text, file: report.file, errors: Vec::new() }
}

/// Values builtins take while validating, so templates can be checked for shape.
fn sample_lookup(name: &str, stage: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let sample = vars::AttemptVars {
        run_id: "20260101-000000-0000",
        run_db: "run_20260101_000000_0000",
        run_started: "2026-01-01T00:00:00.000Z",
        stage,
        attempt: 1,
        scratch: "run=20260101-000000-0000/stage/attempt=1/",
        vars,
    };
    sample.get(name)
}

fn sample_substitute(text: &str, stage: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    vars::substitute(text, &|n| sample_lookup(n, stage, vars))
}

fn read_retry(retry: &Spanned<RawRetry>, at: Option<&str>, report: &mut Report) -> RetryPolicy {
    let raw = retry.get_ref();
    let span = retry.span();
    let mut policy = RetryPolicy::none();
    policy.max_attempts = match raw.max_attempts {
        None => 1,
        Some(n) if (1..=100).contains(&n) => n as u32,
        Some(n) => {
            report.at(&span, at, format!("retry.max_attempts must be between 1 and 100, not {n}"));
            1
        }
    };
    policy.interval = duration_or(raw.interval.as_ref(), policy.interval, at, "retry.interval", report);
    if let Some(rate) = raw.backoff_rate {
        if rate.is_finite() && rate >= 1.0 {
            policy.backoff_rate = rate;
        } else {
            report.at(&span, at, format!("retry.backoff_rate must be at least 1.0, not {rate}"));
        }
    }
    policy.max_interval = raw.max_interval.as_ref().map(|d| duration_or(Some(d), Duration::ZERO, at, "retry.max_interval", report));
    policy.jitter = match raw.jitter.as_ref().map(|j| (j.get_ref().as_str(), j.span())) {
        None | Some(("none", _)) => Jitter::None,
        Some(("full", _)) => Jitter::Full,
        Some((other, span)) => {
            report.at(&span, at, format!("retry.jitter must be 'none' or 'full', not '{other}'"));
            Jitter::None
        }
    };
    policy.on = match &raw.on {
        Some(on) => read_kinds(on, &span, at, "retry.on", report),
        // A data check or bad configuration fails the same way every time.
        None => Kinds::Only(
            ErrorKind::ALL.into_iter().filter(|k| !matches!(k, ErrorKind::DataQuality | ErrorKind::Config)).collect(),
        ),
    };
    policy
}

fn read_catch(catch: &Spanned<RawCatch>, at: Option<&str>, report: &mut Report) -> CatchPolicy {
    let raw = catch.get_ref();
    let span = catch.span();
    let on = match &raw.on {
        Some(on) => read_kinds(on, &span, at, "catch.on", report),
        None => Kinds::All,
    };
    let action = match (&raw.next, raw.fail_run) {
        (Some(next), Some(true)) => {
            report.at(&next.span(), at, "catch takes either 'next' or 'fail_run = true', not both");
            CatchAction::FailRun
        }
        (Some(next), _) => CatchAction::Next(next.get_ref().clone()),
        (None, Some(false)) => {
            report.at(&span, at, "catch with 'fail_run = false' needs a 'next' stage");
            CatchAction::FailRun
        }
        (None, _) => CatchAction::FailRun,
    };
    CatchPolicy { on, action }
}

fn read_kinds(names: &[Spanned<String>], span: &Range<usize>, at: Option<&str>, key: &str, report: &mut Report) -> Kinds {
    if names.is_empty() {
        report.at(span, at, format!("{key} is empty: name error kinds or \"all\""));
    }
    let mut kinds = Vec::new();
    for name in names {
        match name.get_ref().as_str() {
            "all" => return Kinds::All,
            other => match ErrorKind::parse(other) {
                Some(kind) => kinds.push(kind),
                None => {
                    let known = ErrorKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
                    report.at(&name.span(), at, format!("{key}: unknown error kind '{other}' (known: {known}, all)"));
                }
            },
        }
    }
    Kinds::Only(kinds)
}

fn duration_or(value: Option<&Spanned<String>>, default: Duration, at: Option<&str>, key: &str, report: &mut Report) -> Duration {
    let Some(value) = value else { return default };
    match parse_duration(value.get_ref()) {
        Ok(d) => d,
        Err(e) => {
            report.at(&value.span(), at, format!("{key}: {e}"));
            default
        }
    }
}

fn size_or(value: Option<&Spanned<String>>, default: u64, at: Option<&str>, key: &str, report: &mut Report) -> u64 {
    let Some(value) = value else { return default };
    match parse_size(value.get_ref()) {
        Ok(n) => n,
        Err(e) => {
            report.at(&value.span(), at, format!("{key}: {e}"));
            default
        }
    }
}

fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let number: f64 = text[..end].parse().ok()?;
    Some((number, text[end..].trim()))
}

/// `500ms`, `30s`, `10m`, `1h` (decimals allowed: `1.5s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration '{text}': use a number and ms, s, m or h, e.g. 30s");
    let (number, unit) = split_number(text).ok_or_else(bad)?;
    let secs = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// `512MiB`, `2GiB`, `64KiB`, `1000B` (also decimal `MB`, `GB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("bad size '{text}': use a number and B, KiB, MiB or GiB, e.g. 512MiB");
    let (number, unit) = split_number(text).ok_or_else(bad)?;
    let scale: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if bytes < 1.0 || bytes > (1u64 << 40) as f64 {
        return Err(format!("size '{text}' is out of range (1 B to 1 TiB)"));
    }
    Ok(bytes as u64)
}

/// Names, `after` edges, cycles and `catch.next` targets, across stages. A name in `unreadable` (a stage
/// whose own error is reported already) is not reported again as unknown, nor checked further.
fn check_graph(stages: &[RawStage], unreadable: &[String], report: &mut Report) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, stage) in stages.iter().enumerate() {
        if let Some(&first) = seen.get(stage.name.get_ref().as_str()) {
            let line = report.line(&stages[first].name.span());
            report.at(&stage.name.span(), Some(stage.name.get_ref()), format!("duplicate stage name (first defined on line {line})"));
        } else {
            seen.insert(stage.name.get_ref(), i);
        }
    }
    let index = |name: &str| seen.get(name).copied();
    let mut routed_from: BTreeMap<&str, &str> = BTreeMap::new();
    for stage in stages {
        let at = Some(stage.name.get_ref().as_str());
        if stage.fallback_only && !stage.after.is_empty() {
            // It runs in the slot of the stage that routes to it, after that stage's `after`.
            report.at(&stage.after[0].span(), at, "a fallback_only stage cannot have 'after': it runs in place of the stage that fails");
            continue;
        }
        for after in &stage.after {
            match index(after.get_ref()) {
                None if unreadable.contains(after.get_ref()) => {}
                None => report.at(&after.span(), at, format!("after names unknown stage '{}'", after.get_ref())),
                Some(j) if stages[j].fallback_only => report.at(
                    &after.span(),
                    at,
                    format!("after names '{}', a fallback_only stage that may never run", after.get_ref()),
                ),
                Some(_) if after.get_ref() == stage.name.get_ref() => report.at(&after.span(), at, "a stage cannot come after itself"),
                Some(_) => {}
            }
        }
        if let Some(next) = stage.catch.as_ref().and_then(|c| c.get_ref().next.as_ref()) {
            match index(next.get_ref()) {
                None if unreadable.contains(next.get_ref()) => {}
                None => report.at(&next.span(), at, format!("catch.next names unknown stage '{}'", next.get_ref())),
                Some(j) if !stages[j].fallback_only => report.at(
                    &next.span(),
                    at,
                    format!("catch.next names '{}', which is not marked fallback_only = true", next.get_ref()),
                ),
                Some(_) if next.get_ref() == stage.name.get_ref() => report.at(&next.span(), at, "catch.next cannot name the stage itself"),
                Some(_) => {
                    // One fallback stands in for one stage, so its commit means one thing.
                    if let Some(other) = routed_from.insert(next.get_ref(), stage.name.get_ref()) {
                        report.at(&next.span(), at, format!("catch.next names '{}', which stage '{other}' already routes to", next.get_ref()));
                    }
                }
            }
        }
    }

    // Depth-first search; each cycle is reported once, at the stage that closes it.
    let edges: Vec<Vec<usize>> = stages.iter().map(|s| s.after.iter().filter_map(|a| index(a.get_ref())).collect()).collect();
    let mut state = vec![0u8; stages.len()]; // 0 new, 1 on the path, 2 done
    let mut path = Vec::new();
    fn visit(i: usize, edges: &[Vec<usize>], state: &mut [u8], path: &mut Vec<usize>, cycles: &mut Vec<Vec<usize>>) {
        state[i] = 1;
        path.push(i);
        for &j in &edges[i] {
            if state[j] == 1 && i != j {
                let from = path.iter().position(|&p| p == j).unwrap_or(0);
                cycles.push(path[from..].to_vec());
            } else if state[j] == 0 {
                visit(j, edges, state, path, cycles);
            }
        }
        path.pop();
        state[i] = 2;
    }
    let mut cycles = Vec::new();
    for i in 0..stages.len() {
        if state[i] == 0 {
            visit(i, &edges, &mut state, &mut path, &mut cycles);
        }
    }
    for cycle in cycles {
        let first = cycle[0];
        let mut names: Vec<&str> = cycle.iter().map(|&i| stages[i].name.get_ref().as_str()).collect();
        names.push(names[0]);
        report.at(
            &stages[first].name.span(),
            Some(stages[first].name.get_ref()),
            format!("'after' forms a cycle: {} (each waits for the next)", names.join(" -> ")),
        );
    }
}
