//! The test kit: runs a transform over a plugin folder's `fixtures/input.csv` and
//! compares what it writes with `fixtures/expected.csv`, column by column and row
//! by row, floats within a tolerance. Every difference names the column and the row.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};

use super::manifest::KEY_COLUMNS;
use crate::files::read_batches;
use crate::runtime::transform::TransformInstance;

/// Floats match when |found - expected| <= ABS + REL * |expected|.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub absolute: f64,
    pub relative: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self { absolute: 1e-9, relative: 1e-9 }
    }
}

/// One mismatch, as a person reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub column: String,
    /// 0-based data row (the CSV line is row + 2), None for a whole-column problem.
    pub row: Option<usize>,
    pub key: Option<String>,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row {
            Some(row) => {
                let key = self.key.as_ref().map(|k| format!(", user_id {k}")).unwrap_or_default();
                write!(f, "column '{}' row {row} (line {}{key}): expected {}, found {}", self.column, row + 2, self.expected, self.found)
            }
            None => write!(f, "column '{}': expected {}, found {}", self.column, self.expected, self.found),
        }
    }
}

pub struct FixturePaths {
    pub input: PathBuf,
    pub expected: PathBuf,
}

/// `fixtures/input.(csv|parquet)` and `fixtures/expected.(csv|parquet)` of a plugin folder.
pub fn fixture_paths(dir: &Path) -> Result<FixturePaths> {
    let find =
        |stem: &str| ["csv", "parquet", "csv.gz"].iter().map(|ext| dir.join("fixtures").join(format!("{stem}.{ext}"))).find(|p| p.exists());
    let input = find("input").with_context(|| format!("{}: no fixtures/input.csv", dir.display()))?;
    let expected = find("expected").with_context(|| format!("{}: no fixtures/expected.csv", dir.display()))?;
    Ok(FixturePaths { input, expected })
}

/// The refusal of a transform writing `column`, the name of a column of its input (as `engage run` words it).
pub fn writes_an_input_column(plugin: &str, column: &str) -> String {
    format!(
        "transform '{plugin}' writes '{column}', the name of an input column: the feature and the raw column would be confused \
         in the results and their explanations; rename the output"
    )
}

/// Runs the transform over a whole file: the input's key columns, then the plugin's outputs.
pub fn run_file(instance: &mut TransformInstance, input: &Path, batch_rows: usize) -> Result<RecordBatch> {
    let mut out = Vec::new();
    let (schema, _) = stream_file(instance, input, batch_rows, |batch| {
        out.push(batch.clone());
        Ok(())
    })?;
    Ok(arrow::compute::concat_batches(&schema, &out)?)
}

/// Runs the transform over a file batch by batch, handing `sink` each batch's key
/// columns followed by the plugin's outputs, so that no more than a batch is held.
/// Returns the output schema and the time spent in the plugin's calls (reading aside).
pub fn stream_file(
    instance: &mut TransformInstance,
    input: &Path,
    batch_rows: usize,
    mut sink: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<(SchemaRef, std::time::Duration)> {
    let mut in_plugin = std::time::Duration::ZERO;
    let (schema, batches) = read_batches(input, batch_rows)?;
    // `engage run` refuses this before any row; said here too, so the test does not pass a plugin the run refuses.
    if let Some(clash) = instance.output_schema().fields().iter().find(|f| schema.field_with_name(f.name()).is_ok()) {
        bail!("{}", writes_an_input_column(&instance.info().name, clash.name()));
    }
    let keys: Vec<usize> = KEY_COLUMNS.iter().filter_map(|k| schema.index_of(k).ok()).collect();
    let out_schema = Arc::new(Schema::new(
        keys.iter()
            .map(|&i| schema.field(i).clone())
            .chain(instance.output_schema().fields().iter().map(|f| f.as_ref().clone()))
            .collect::<Vec<Field>>(),
    ));
    let mut offset = 0;
    for batch in batches {
        let batch = empty_columns_as_numbers(batch?)?;
        let started = std::time::Instant::now();
        // A NaN/infinity error names the file's row, not the batch's.
        let features = instance.transform(&batch).map_err(|e| e.locate_rows(offset))?;
        in_plugin += started.elapsed();
        offset += batch.num_rows();
        let columns = keys.iter().map(|&i| batch.column(i).clone()).chain(features.columns().iter().cloned());
        sink(&RecordBatch::try_new(out_schema.clone(), columns.collect())?)?;
    }
    Ok((out_schema, in_plugin))
}

/// A CSV column with no value at all reads as type Null; in a run the same column is a number column
/// whose values are all missing, so the transform gets it as float64 nulls.
fn empty_columns_as_numbers(batch: RecordBatch) -> Result<RecordBatch> {
    // Key columns pass through as read: the output repeats them with the input's schema.
    let empty = |f: &Field| f.data_type() == &DataType::Null && !KEY_COLUMNS.contains(&f.name().as_str());
    if !batch.schema().fields().iter().any(|f| empty(f)) {
        return Ok(batch);
    }
    let fields: Vec<Field> =
        batch.schema().fields().iter().map(|f| if empty(f) { Field::new(f.name(), DataType::Float64, true) } else { f.as_ref().clone() }).collect();
    let columns = batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(c, f)| if empty(f) { arrow::compute::cast(c, &DataType::Float64) } else { Ok(c.clone()) })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// Compares `found` with the expected file: every expected column must be there with equal rows.
pub fn compare(found: &RecordBatch, expected_path: &Path, tolerance: Tolerance) -> Result<Vec<Difference>> {
    let (_, batches) = read_batches(expected_path, 1 << 16)?;
    let batches: Vec<RecordBatch> = batches.collect::<Result<_>>()?;
    let Some(first) = batches.first() else { bail!("{}: no rows", expected_path.display()) };
    let expected = arrow::compute::concat_batches(&first.schema(), &batches)?;
    Ok(diff(found, &expected, tolerance))
}

pub fn diff(found: &RecordBatch, expected: &RecordBatch, tolerance: Tolerance) -> Vec<Difference> {
    let mut out = Vec::new();
    let keys = found.column_by_name("user_id").map(|c| text(c.as_ref()));
    if found.num_rows() != expected.num_rows() {
        out.push(Difference {
            column: "(rows)".into(),
            row: None,
            key: None,
            expected: format!("{} rows", expected.num_rows()),
            found: format!("{} rows", found.num_rows()),
        });
    }
    for field in expected.schema().fields() {
        let name = field.name();
        let want = expected.column_by_name(name).expect("own field");
        let Some(got) = found.column_by_name(name) else {
            out.push(Difference {
                column: name.clone(),
                row: None,
                key: None,
                expected: "the column".into(),
                found: "no such output".into(),
            });
            continue;
        };
        let rows = want.len().min(got.len());
        let numeric = is_number(want.data_type()) && is_number(got.data_type());
        let (want_text, got_text) = (text(want.as_ref()), text(got.as_ref()));
        let (want_num, got_num) = if numeric { (floats(want), floats(got)) } else { (Vec::new(), Vec::new()) };
        for row in 0..rows {
            let same = if numeric {
                match (want_num[row], got_num[row]) {
                    (None, None) => true,
                    (Some(w), Some(g)) => {
                        (w.is_nan() && g.is_nan()) || w == g || (g - w).abs() <= tolerance.absolute + tolerance.relative * w.abs()
                    }
                    _ => false,
                }
            } else {
                want_text[row] == got_text[row]
            };
            if !same {
                // Numbers as Rust prints them (1, 0.25), whatever type each side has.
                let show = |text: &Option<String>, number: Option<&Option<f64>>| match (number, text) {
                    (Some(Some(v)), _) => v.to_string(),
                    (_, Some(t)) => t.clone(),
                    _ => "null".into(),
                };
                out.push(Difference {
                    column: name.clone(),
                    row: Some(row),
                    key: keys.as_ref().and_then(|k| k[row].clone()),
                    expected: show(&want_text[row], want_num.get(row)),
                    found: show(&got_text[row], got_num.get(row)),
                });
            }
        }
    }
    for field in found.schema().fields() {
        if expected.column_by_name(field.name()).is_none() && !KEY_COLUMNS.contains(&field.name().as_str()) {
            out.push(Difference {
                column: field.name().clone(),
                row: None,
                key: None,
                expected: "no such column".into(),
                found: "an output column".into(),
            });
        }
    }
    out
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric() || *t == DataType::Boolean || *t == DataType::Null
}

fn floats(array: &ArrayRef) -> Vec<Option<f64>> {
    match arrow::compute::cast(array, &DataType::Float64) {
        Ok(cast) => cast.as_primitive::<Float64Type>().iter().collect(),
        Err(_) => vec![None; array.len()],
    }
}

fn text(array: &dyn Array) -> Vec<Option<String>> {
    let formatter = arrow::util::display::ArrayFormatter::try_new(array, &Default::default()).ok();
    (0..array.len()).map(|i| if array.is_null(i) { None } else { formatter.as_ref().map(|f| f.value(i).to_string()) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn differences_name_column_row_and_user() {
        let found = batch(vec![
            ("user_id", Arc::new(StringArray::from(vec!["u1", "u2", "u3"])) as ArrayRef),
            ("rate", Arc::new(Float64Array::from(vec![Some(0.5), Some(0.2500000000001), None]))),
        ]);
        let expected = batch(vec![
            ("user_id", Arc::new(StringArray::from(vec!["u1", "u2", "u3"])) as ArrayRef),
            ("rate", Arc::new(Float64Array::from(vec![Some(0.5), Some(0.25), Some(1.0)]))),
        ]);
        let d = diff(&found, &expected, Tolerance::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].to_string(), "column 'rate' row 2 (line 4, user_id u3): expected 1, found null");
        let strict = diff(&found, &expected, Tolerance { absolute: 0.0, relative: 0.0 });
        assert_eq!(strict.len(), 2);
    }

    #[test]
    fn integers_compare_with_floats_and_missing_columns_are_named() {
        let found = batch(vec![("n", Arc::new(Float64Array::from(vec![2.0, 0.0])) as ArrayRef)]);
        let expected =
            batch(vec![("n", Arc::new(Int64Array::from(vec![2, 0])) as ArrayRef), ("m", Arc::new(Int64Array::from(vec![1, 1])))]);
        let d = diff(&found, &expected, Tolerance::default());
        assert_eq!(d.iter().map(|d| d.to_string()).collect::<Vec<_>>(), vec!["column 'm': expected the column, found no such output"]);
    }
}
