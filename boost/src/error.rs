//! One error type for the crate; every message names what was wrong and where.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BoostError {
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("column `{0}` not found in the record batch")]
    MissingColumn(String),
    #[error("column `{column}` has type {dtype}; only numeric and boolean columns can be features or labels")]
    UnsupportedType { column: String, dtype: String },
    #[error("label column `{column}`: {reason}")]
    BadLabel { column: String, reason: String },
    #[error("no data: {0}")]
    Empty(String),
    #[error("feature count mismatch: {0}")]
    Shape(String),
    #[error("model {path}: {reason}")]
    ModelFormat { path: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("logistic baseline: {0}")]
    Baseline(String),
    #[error("thread pool: {0}")]
    ThreadPool(String),
}

pub type Result<T> = std::result::Result<T, BoostError>;
