//! Data in: the raw-input contract (`schema`), the synthetic data generator
//! (`generate`) and ingest into the processed zone (`ingest`).

pub mod dictionary;
pub mod generate;
pub mod ingest;
pub mod parquet;
pub mod progress;
pub mod schema;

pub use generate::{GenerateOptions, GenerateSummary, OutputFormat, generate};
pub use ingest::{IngestOptions, IngestReport, ingest, ingest_files};
pub use progress::RowProgress;
