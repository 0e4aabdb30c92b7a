//! Columns to model inputs: which columns are features, text columns as
//! categories, and the 0/1 label.
//!
//! Categorical encoding (docs/models.md): a text column's categories are
//! numbered by their training label rate, smoothed toward the overall rate
//! (`(positives + M · overall) / (rows + M)`, M = [`SMOOTHING_ROWS`]), lowest
//! first, ties by name. Trees then split "categories with a rate below x"
//! from the rest, which is what a one-hot encoding buys in far fewer splits.
//! Null and categories unseen in training are missing values (they follow
//! each split's default direction). A text column with more than
//! [`MAX_CATEGORIES`] distinct values is an identifier, not a category: it is
//! left out when features are picked automatically and an error when named.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Result, bail};
use arrow::array::{Array, ArrayRef, AsArray, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use serde::{Deserialize, Serialize};

/// Pseudo-rows pulling a category's rate toward the overall rate.
pub const SMOOTHING_ROWS: f64 = 10.0;
/// Most distinct values a text column may have and still be a category.
pub const MAX_CATEGORIES: usize = 1000;

/// How the model's inputs come from a table's columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    /// Feature columns, in model order.
    pub features: Vec<String>,
    /// Text features: their categories in code order (code = position).
    pub categories: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Numeric,
    Text,
}

/// How a column of this type becomes a feature, if it can.
pub fn kind(data_type: &DataType) -> Option<Kind> {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => Some(Kind::Text),
        t if t.is_numeric() => Some(Kind::Numeric),
        DataType::Boolean | DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => Some(Kind::Numeric),
        _ => None,
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str, source: &str) -> Result<&'a ArrayRef> {
    match batch.column_by_name(name) {
        Some(c) => Ok(c),
        None => {
            let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
            bail!("{source}: column '{name}' is missing (columns: {})", names.join(", "))
        }
    }
}

fn text(col: &ArrayRef) -> Result<arrow::array::StringArray> {
    Ok(arrow::compute::cast(col, &DataType::Utf8)?.as_string::<i32>().clone())
}

/// Numeric values as f32; null is NaN. Dates count days (or the timestamp's unit).
fn numeric(col: &ArrayRef) -> Result<Vec<f32>> {
    let col = match col.data_type() {
        DataType::Date32 => arrow::compute::cast(col, &DataType::Int32)?,
        DataType::Date64 | DataType::Timestamp(_, _) => arrow::compute::cast(col, &DataType::Int64)?,
        _ => col.clone(),
    };
    let cast = arrow::compute::cast(&col, &DataType::Float32)?;
    let values = cast.as_primitive::<Float32Type>();
    Ok((0..values.len()).map(|i| if values.is_valid(i) { values.value(i) } else { f32::NAN }).collect())
}

fn distinct_text(col: &ArrayRef) -> Result<usize> {
    let t = text(col)?;
    let mut seen = std::collections::HashSet::new();
    for v in t.iter().flatten() {
        seen.insert(v);
        if seen.len() > MAX_CATEGORIES {
            break;
        }
    }
    Ok(seen.len())
}

/// The label as 0/1 floats: it must be a numeric (or boolean) column whose
/// every value is 0 or 1, with both classes present.
pub fn labels(batch: &RecordBatch, label: &str, source: &str) -> Result<Vec<f32>> {
    let col = column(batch, label, source)?;
    if kind(col.data_type()) != Some(Kind::Numeric) || matches!(col.data_type(), DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)) {
        let sample: Vec<String> = match text(col) {
            Ok(t) => {
                let mut values: Vec<String> = t.iter().flatten().map(|s| format!("'{s}'")).collect();
                values.sort();
                values.dedup();
                values.truncate(3);
                values
            }
            Err(_) => Vec::new(),
        };
        bail!(
            "{source}: label '{label}' must be 0/1, but it is {} ({}); map it to 0/1 first",
            col.data_type(),
            if sample.is_empty() { "no values".to_string() } else { format!("values like {}", sample.join(", ")) }
        );
    }
    let values = numeric(col)?;
    if let Some(row) = values.iter().position(|v| v.is_nan()) {
        bail!("{source}: label '{label}' is missing in data row {}", row + 1);
    }
    if let Some(row) = values.iter().position(|&v| v != 0.0 && v != 1.0) {
        bail!("{source}: label '{label}' must be 0 or 1, but row {} holds {}", row + 1, values[row]);
    }
    let positives = values.iter().filter(|&&v| v == 1.0).count();
    if positives == 0 || positives == values.len() {
        bail!(
            "{source}: label '{label}' is {} in all {} rows; a model needs rows of both classes",
            if positives == 0 { 0 } else { 1 },
            values.len()
        );
    }
    Ok(values)
}

/// The feature columns: `explicit` (each must exist and be usable), else
/// every numeric or text column except `exclude`, leaving out identifier-like
/// text columns. Returns the features and what was left out, and why.
pub fn pick_features(batch: &RecordBatch, explicit: Option<&[String]>, exclude: &[&str], source: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut skipped = Vec::new();
    if let Some(list) = explicit {
        for name in list {
            let col = column(batch, name, source)?;
            if exclude.contains(&name.as_str()) {
                bail!("{source}: column '{name}' is the label, the id or the time-split column and cannot be a feature");
            }
            match kind(col.data_type()) {
                // An all-empty CSV column: every value missing (the model learns nothing from it).
                None if col.data_type() == &DataType::Null => {}
                None => bail!("{source}: column '{name}' has type {}, which is neither numeric nor text", col.data_type()),
                Some(Kind::Text) if distinct_text(col)? > MAX_CATEGORIES => {
                    bail!("{source}: column '{name}' has more than {MAX_CATEGORIES} distinct values: an identifier, not a category")
                }
                _ => {}
            }
        }
        return Ok((list.to_vec(), skipped));
    }
    let mut features = Vec::new();
    for field in batch.schema_ref().fields() {
        let name = field.name();
        if exclude.contains(&name.as_str()) {
            continue;
        }
        match kind(field.data_type()) {
            None => skipped.push(format!("{name} (type {})", field.data_type())),
            Some(Kind::Text) if distinct_text(column(batch, name, source)?)? > MAX_CATEGORIES => {
                skipped.push(format!("{name} (more than {MAX_CATEGORIES} distinct values)"))
            }
            Some(_) => features.push(name.clone()),
        }
    }
    if features.is_empty() {
        bail!("{source}: no column can be a feature (left out: {})", if skipped.is_empty() { "none".into() } else { skipped.join(", ") });
    }
    Ok((features, skipped))
}

impl Encoding {
    /// Numbers the categories of every text feature by their smoothed label
    /// rate over the rows where `train[r]` is true.
    pub fn fit(batch: &RecordBatch, features: &[String], labels: &[f32], train: &[bool]) -> Result<Self> {
        let (pos, n) = train.iter().zip(labels).filter(|(t, _)| **t).fold((0.0, 0.0), |(p, n), (_, &y)| (p + y as f64, n + 1.0));
        let overall = if n > 0.0 { pos / n } else { 0.0 };
        let mut categories = BTreeMap::new();
        for name in features {
            let col = batch.column_by_name(name).expect("features were checked");
            if kind(col.data_type()) != Some(Kind::Text) {
                continue;
            }
            let mut stats: HashMap<&str, (f64, f64)> = HashMap::new();
            let values = text(col)?;
            for (r, v) in values.iter().enumerate() {
                if let Some(v) = v.filter(|_| train[r]) {
                    let s = stats.entry(v).or_default();
                    s.0 += labels[r] as f64;
                    s.1 += 1.0;
                }
            }
            let mut ranked: Vec<(f64, &str)> =
                stats.into_iter().map(|(v, (p, c))| ((p + SMOOTHING_ROWS * overall) / (c + SMOOTHING_ROWS), v)).collect();
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            categories.insert(name.clone(), ranked.into_iter().map(|(_, v)| v.to_string()).collect());
        }
        Ok(Encoding { features: features.to_vec(), categories })
    }

    /// The model's inputs for `batch`: one Float32 column per feature, named
    /// as the feature. A feature column that is absent is an error.
    pub fn apply(&self, batch: &RecordBatch, source: &str) -> Result<RecordBatch> {
        let mut fields = Vec::with_capacity(self.features.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.features.len());
        for name in &self.features {
            let col = column(batch, name, source)?;
            let values = match self.categories.get(name) {
                Some(cats) => {
                    let codes: HashMap<&str, f32> = cats.iter().enumerate().map(|(i, c)| (c.as_str(), i as f32)).collect();
                    text(col)?.iter().map(|v| v.and_then(|v| codes.get(v).copied()).unwrap_or(f32::NAN)).collect()
                }
                None if kind(col.data_type()) == Some(Kind::Numeric) => numeric(col)?,
                // An all-empty CSV column infers as Null: every value missing, as a typed all-null column would be.
                None if col.data_type() == &DataType::Null => {
                    eprintln!("warning: {source}: column '{name}' is empty (type Null); every value is missing");
                    vec![f32::NAN; col.len()]
                }
                None => bail!("{source}: column '{name}' must be numeric for this model, but it is {}", col.data_type()),
            };
            fields.push(Field::new(name, DataType::Float32, true));
            arrays.push(Arc::new(Float32Array::from(values)));
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }

    /// How a feature value reads to a person: a category's name for text features.
    pub fn show_value(&self, feature: &str, value: f32) -> String {
        if value.is_nan() {
            return "missing".into();
        }
        match self.categories.get(feature) {
            Some(cats) => cats.get(value as usize).cloned().unwrap_or_else(|| "unseen".into()),
            None => format!("{value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn batch() -> RecordBatch {
        let plan: ArrayRef = Arc::new(StringArray::from(vec!["pro", "free", "pro", "basic", "free", "pro"]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4), Some(5), Some(6)]));
        let y: ArrayRef = Arc::new(Int64Array::from(vec![1, 0, 1, 0, 0, 1]));
        RecordBatch::try_from_iter([("plan", plan), ("n", n), ("y", y)]).unwrap()
    }

    #[test]
    fn categories_are_numbered_by_smoothed_label_rate() {
        let b = batch();
        let y = labels(&b, "y", "t").unwrap();
        let enc = Encoding::fit(&b, &["plan".into(), "n".into()], &y, &[true; 6]).unwrap();
        // free: 0 of 2, basic: 0 of 1 (pulled harder toward the mean), pro: 3 of 3.
        assert_eq!(enc.categories["plan"], ["free", "basic", "pro"]);
        let x = enc.apply(&b, "t").unwrap();
        let plan = x.column(0).as_primitive::<Float32Type>();
        assert_eq!(plan.values().to_vec(), vec![2.0, 0.0, 2.0, 1.0, 0.0, 2.0]);
        assert!(x.column(1).as_primitive::<Float32Type>().value(1).is_nan());
        assert_eq!(enc.show_value("plan", 1.0), "basic");
    }

    #[test]
    fn an_all_null_column_is_all_missing() {
        let b = batch();
        let y = labels(&b, "y", "t").unwrap();
        let enc = Encoding::fit(&b, &["n".into()], &y, &[true; 6]).unwrap();
        let empty: ArrayRef = Arc::new(arrow::array::NullArray::new(6));
        let nulls = RecordBatch::try_from_iter([("n", empty)]).unwrap();
        let x = enc.apply(&nulls, "t").unwrap();
        assert_eq!(x.column(0).data_type(), &DataType::Float32);
        assert!(x.column(0).as_primitive::<Float32Type>().values().iter().all(|v| v.is_nan()));
    }

    #[test]
    fn unseen_categories_are_missing() {
        let b = batch();
        let y = labels(&b, "y", "t").unwrap();
        let train = [true, true, true, false, true, true];
        let enc = Encoding::fit(&b, &["plan".into()], &y, &train).unwrap();
        let x = enc.apply(&b, "t").unwrap();
        assert!(x.column(0).as_primitive::<Float32Type>().value(3).is_nan(), "basic was never seen in training");
    }
}
