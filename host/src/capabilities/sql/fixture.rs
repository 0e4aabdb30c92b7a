//! SQL faked from a plugin's fixtures (`engage plugin test`): `<dir>/<name>.sql`
//! holds a statement, `<name>.csv` (or `.parquet`) its answer. Statements match
//! in a normalised form (whitespace collapsed, case folded, trailing `;` dropped).
//! `execute` answers the rows of its answer file (0 without one). A statement no
//! fixture matches is an error naming it and the fixture folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{BatchStream, QueryResult, SqlEngine};
use crate::capabilities::{CapResult, CapabilityError};

struct Answer {
    statement: String,
    /// The answer file; `None` for a statement that only `execute`s.
    answer: Option<PathBuf>,
}

pub struct FixtureSql {
    dir: PathBuf,
    answers: Vec<Answer>,
}

/// The form statements are compared in.
pub fn normalise(statement: &str) -> String {
    let flat = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.trim_end_matches(';').trim_end().to_lowercase()
}

impl FixtureSql {
    /// Reads every `<dir>/*.sql`; a missing folder means no answers.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut answers = Vec::new();
        if dir.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("listing {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .collect();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let answer = ["csv", "parquet", "csv.gz"].iter().map(|ext| file.with_extension(ext)).find(|p| p.exists());
                answers.push(Answer { statement: normalise(&text), answer });
            }
        }
        Ok(Self { dir: dir.to_path_buf(), answers })
    }

    fn find(&self, statement: &str) -> CapResult<&Answer> {
        let wanted = normalise(statement);
        self.answers.iter().find(|a| a.statement == wanted).ok_or_else(|| {
            let shown = statement.split_whitespace().collect::<Vec<_>>().join(" ");
            CapabilityError::not_found(format!(
                "no SQL fixture answers `{shown}`: add <name>.sql holding it and <name>.csv with its answer to {}",
                self.dir.display()
            ))
        })
    }

    fn read(&self, statement: &str) -> CapResult<QueryResult> {
        let answer = self.find(statement)?;
        let Some(path) = &answer.answer else {
            return Err(CapabilityError::not_found(format!(
                "the SQL fixture for `{}` has no answer file (<name>.csv or <name>.parquet beside it in {})",
                answer.statement,
                self.dir.display()
            )));
        };
        let (schema, batches) = crate::files::read_batches(path, 1 << 16).map_err(|e| CapabilityError::invalid(format!("{e:#}")))?;
        let batches = batches.collect::<Result<Vec<_>>>().map_err(|e| CapabilityError::invalid(format!("{e:#}")))?;
        Ok(QueryResult { schema, batches })
    }
}

impl SqlEngine for FixtureSql {
    fn query(&self, statement: &str) -> CapResult<QueryResult> {
        self.read(statement)
    }

    fn query_stream(&self, statement: &str) -> CapResult<Box<dyn BatchStream>> {
        let result = self.read(statement)?;
        Ok(Box::new(Batches { schema: result.schema, batches: result.batches.into_iter() }))
    }

    fn execute(&self, statement: &str) -> CapResult<u64> {
        match self.find(statement)?.answer {
            Some(_) => Ok(self.read(statement)?.num_rows() as u64),
            None => Ok(0),
        }
    }

    /// Fixture answers come from files beside the plugin: no storage is reached.
    fn catalog(&self) -> Option<std::sync::Arc<dyn crate::catalog::Catalog>> {
        None
    }
}

struct Batches {
    schema: arrow::datatypes::SchemaRef,
    batches: std::vec::IntoIter<arrow::array::RecordBatch>,
}

impl BatchStream for Batches {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> CapResult<Option<arrow::array::RecordBatch>> {
        Ok(self.batches.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_match_in_normalised_form_and_misses_name_the_query() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plans.sql"), "SELECT plan, count(*) AS users\n  FROM engage.users GROUP BY plan;\n").unwrap();
        std::fs::write(dir.path().join("plans.csv"), "plan,users\nbasic,2\npro,1\n").unwrap();
        std::fs::write(dir.path().join("drop.sql"), "DROP TABLE IF EXISTS x").unwrap();
        let sql = FixtureSql::load(dir.path()).unwrap();
        let result = sql.query("select plan, count(*) as users from engage.users group by plan").unwrap();
        assert_eq!(result.num_rows(), 2);
        assert_eq!(sql.execute("drop table if exists x;").unwrap(), 0);
        let e = sql.query("SELECT 1").unwrap_err();
        assert!(e.message.contains("`SELECT 1`") && e.message.contains(&dir.path().display().to_string()), "{e}");
    }
}
