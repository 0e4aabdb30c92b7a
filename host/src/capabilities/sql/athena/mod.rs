//! Athena's SQL dialect on DataFusion: read the statement (`statement`), answer
//! catalog statements against the Catalog (`ddl`), write CTAS/INSERT results
//! (`write`), rewrite queries to Trino semantics (`rewrite`) with Trino-named
//! functions (`functions`), read catalog tables (`catalog_table`), and show
//! values as Athena does (`render`), compare rows field by field (`row_values`). `types` maps Athena type names to Arrow.

pub mod catalog_table;
pub mod ddl;
pub mod functions;
pub mod render;
pub mod rewrite;
pub mod row_values;
pub mod statement;
pub mod text_table;
pub mod types;
pub mod write;
