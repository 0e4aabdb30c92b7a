//! The stage's params, their defaults, and the checks on names spliced into SQL.

use std::collections::BTreeMap;

use engage_plugin_sdk::stage::{Context, column_name, database_name, location, table_name};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    source: String,
    database: String,
    location: String,
    #[serde(default = "default_training_weeks")]
    training_weeks: usize,
    #[serde(default = "default_label")]
    label: String,
    #[serde(default = "default_min_training_rows")]
    min_training_rows: u64,
    #[serde(default = "default_min_scoring_rows")]
    min_scoring_rows: u64,
    #[serde(default = "default_label_rate_min")]
    label_rate_min: f64,
    #[serde(default = "default_label_rate_max")]
    label_rate_max: f64,
    #[serde(default)]
    max_null_rate: Option<NullLimit>,
    #[serde(default)]
    null_rate_columns: Option<Vec<String>>,
    #[serde(default)]
    max_training_rows: Option<Count>,
}

/// A count written as a number, or as text (what a pipeline `${var}` gives).
#[derive(Deserialize)]
#[serde(untagged)]
enum Count {
    Number(u64),
    Text(String),
}

impl Count {
    fn value(&self, name: &str) -> Result<u64, String> {
        match self {
            Count::Number(n) => Ok(*n),
            Count::Text(t) => t.trim().parse().map_err(|_| format!("param '{name}' must be a whole number, got '{t}'")),
        }
    }
}

fn default_training_weeks() -> usize {
    3
}
fn default_label() -> String {
    "engaged_next_7d".into()
}
fn default_min_training_rows() -> u64 {
    1000
}
fn default_min_scoring_rows() -> u64 {
    100
}
fn default_label_rate_min() -> f64 {
    0.01
}
fn default_label_rate_max() -> f64 {
    0.99
}

/// Columns every model input depends on; DATA.md requires plan and tenure_days.
const DEFAULT_NULL_RATE_COLUMNS: [&str; 5] = ["user_id", "plan", "tenure_days", "country", "sessions_7d"];
const DEFAULT_MAX_NULL_RATE: f64 = 0.2;

/// One limit for every checked column, or one per column (`{"plan": 0, "age": 0.3}`):
/// the object's keys are then the columns checked unless `null_rate_columns` says otherwise.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub enum NullLimit {
    All(f64),
    PerColumn(BTreeMap<String, f64>),
}

impl NullLimit {
    pub fn for_column(&self, column: &str) -> f64 {
        match self {
            NullLimit::All(limit) => *limit,
            NullLimit::PerColumn(limits) => limits.get(column).copied().unwrap_or(DEFAULT_MAX_NULL_RATE),
        }
    }
}

pub struct Params {
    pub source: String,
    pub database: String,
    /// The attempt's scratch prefix, ending in `/`.
    pub location: String,
    pub training_weeks: usize,
    pub label: String,
    pub min_training_rows: u64,
    pub min_scoring_rows: u64,
    pub label_rate_min: f64,
    pub label_rate_max: f64,
    pub max_null_rate: NullLimit,
    pub null_rate_columns: Vec<String>,
    /// Above this many labelled rows the training set keeps a hash sample of users.
    pub max_training_rows: Option<u64>,
}

impl Params {
    pub fn read(ctx: &Context) -> Result<Self, String> {
        let raw: Raw = ctx.params()?;
        let bad = |what: String| format!("stage '{}': {what}", ctx.stage);
        if raw.training_weeks == 0 {
            return Err(bad("param 'training_weeks' must be at least 1".into()));
        }
        let max_training_rows = raw.max_training_rows.as_ref().map(|c| c.value("max_training_rows")).transpose().map_err(bad)?;
        if max_training_rows == Some(0) {
            return Err(bad("param 'max_training_rows' must be at least 1".into()));
        }
        if raw.label_rate_min.is_nan() || raw.label_rate_max.is_nan() || raw.label_rate_min > raw.label_rate_max {
            return Err(bad(format!(
                "params 'label_rate_min' ({}) must not exceed 'label_rate_max' ({})",
                raw.label_rate_min, raw.label_rate_max
            )));
        }
        let max_null_rate = raw.max_null_rate.unwrap_or(NullLimit::All(DEFAULT_MAX_NULL_RATE));
        let null_rate_columns = match (&raw.null_rate_columns, &max_null_rate) {
            (Some(columns), _) => columns.clone(),
            (None, NullLimit::PerColumn(limits)) => limits.keys().cloned().collect(),
            (None, NullLimit::All(_)) => DEFAULT_NULL_RATE_COLUMNS.iter().map(|c| c.to_string()).collect(),
        };
        for column in &null_rate_columns {
            column_name("null_rate_columns", column).map_err(bad)?;
        }
        Ok(Self {
            source: table_name("source", &raw.source).map_err(bad)?,
            database: database_name("database", &raw.database).map_err(bad)?,
            location: location("location", &raw.location).map_err(bad)?,
            training_weeks: raw.training_weeks,
            label: column_name("label", &raw.label).map_err(bad)?,
            min_training_rows: raw.min_training_rows,
            min_scoring_rows: raw.min_scoring_rows,
            label_rate_min: raw.label_rate_min,
            label_rate_max: raw.label_rate_max,
            max_null_rate,
            null_rate_columns,
            max_training_rows,
        })
    }
}
