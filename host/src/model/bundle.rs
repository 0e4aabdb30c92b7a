//! The model file: an XGBoost JSON model (Python `xgboost` loads it and
//! predicts the same) whose learner `attributes`, string-valued as XGBoost
//! requires, also carry what Engage needs around the trees:
//!
//! | attribute | holds |
//! |---|---|
//! | `engage_label` | the label column |
//! | `engage_id_column` | the id column (`--user` looks rows up in it), if any |
//! | `engage_encoding` | JSON: feature columns and text categories (see [`Encoding`]) |
//! | `engage_baseline` | JSON: the logistic baseline fitted on the same rows |
//! | `engage_reference` | JSON: per feature, evenly spaced training quantiles ("low"/"high" in reasons) |
//!
//! A plain XGBoost model without them loads too: its features are numeric
//! columns named as the model's features.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use engage_boost::baseline::LogisticBaseline;
use engage_boost::{FeatureReference, Model};
use serde_json::Value;

use super::encoding::Encoding;

/// Quantiles kept per feature for the reference.
const REFERENCE_QUANTILES: usize = 255;

pub struct ModelBundle {
    pub model: Model,
    pub encoding: Encoding,
    pub label: Option<String>,
    pub id_column: Option<String>,
    pub baseline: Option<LogisticBaseline>,
    /// Per model feature: reference quantiles (empty when unknown).
    pub reference_values: Vec<Vec<f32>>,
}

/// Evenly spaced order statistics of the non-missing values of each column.
pub fn reference_quantiles(cols: &[&[f32]]) -> Vec<Vec<f32>> {
    cols.iter()
        .map(|c| {
            let mut v: Vec<f32> = c.iter().copied().filter(|x| !x.is_nan()).collect();
            v.sort_unstable_by(|a, b| a.total_cmp(b));
            if v.len() <= REFERENCE_QUANTILES {
                return v;
            }
            let n = v.len();
            (0..REFERENCE_QUANTILES).map(|i| v[(2 * i + 1) * n / (2 * REFERENCE_QUANTILES)]).collect()
        })
        .collect()
}

/// Writes reference quantiles into a model's JSON (`engage_reference`).
pub fn set_reference(model_json: &mut Value, names: &[String], quantiles: &[Vec<f32>]) {
    let map: BTreeMap<&str, &Vec<f32>> = names.iter().map(String::as_str).zip(quantiles).collect();
    set_attribute(model_json, "engage_reference", serde_json::to_string(&map).expect("numbers serialize"));
}

/// The reference of a model JSON: its `engage_reference` quantiles, else the model's own split thresholds.
pub fn reference_of(model_json: &Value, model: &Model) -> FeatureReference {
    build_reference(&reference_values(model_json, model), model)
}

fn build_reference(values: &[Vec<f32>], model: &Model) -> FeatureReference {
    if values.iter().all(Vec::is_empty) {
        return FeatureReference::from_model(model);
    }
    let refs: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
    FeatureReference::from_columns(&refs)
}

fn reference_values(model_json: &Value, model: &Model) -> Vec<Vec<f32>> {
    let map: BTreeMap<String, Vec<f32>> = attribute(model_json, "engage_reference").and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    model.feature_names().iter().map(|f| map.get(f).cloned().unwrap_or_default()).collect()
}

fn attribute<'a>(model_json: &'a Value, key: &str) -> Option<&'a str> {
    model_json.pointer("/learner/attributes")?.get(key)?.as_str()
}

fn set_attribute(model_json: &mut Value, key: &str, value: String) {
    if let Some(attrs) = model_json.pointer_mut("/learner/attributes").and_then(Value::as_object_mut) {
        attrs.insert(key.to_string(), Value::String(value));
    }
}

impl ModelBundle {
    pub fn reference(&self) -> FeatureReference {
        build_reference(&self.reference_values, &self.model)
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.model.to_xgboost_json();
        if let Some(label) = &self.label {
            set_attribute(&mut v, "engage_label", label.clone());
        }
        if let Some(id) = &self.id_column {
            set_attribute(&mut v, "engage_id_column", id.clone());
        }
        set_attribute(&mut v, "engage_encoding", serde_json::to_string(&self.encoding).expect("serializes"));
        if let Some(b) = &self.baseline {
            set_attribute(&mut v, "engage_baseline", serde_json::to_string(b).expect("serializes"));
        }
        set_reference(&mut v, self.model.feature_names(), &self.reference_values);
        v
    }

    pub fn from_json(v: &Value) -> Result<Self> {
        let model = Model::from_xgboost_json(v)?;
        let encoding = match attribute(v, "engage_encoding") {
            Some(t) => serde_json::from_str(t).context("attribute engage_encoding is not valid")?,
            None => Encoding { features: model.feature_names().to_vec(), categories: BTreeMap::new() },
        };
        if encoding.features != model.feature_names() {
            bail!("attribute engage_encoding lists other features than the model's trees");
        }
        let baseline = attribute(v, "engage_baseline").map(serde_json::from_str).transpose().context("attribute engage_baseline is not valid")?;
        Ok(ModelBundle {
            reference_values: reference_values(v, &model),
            label: attribute(v, "engage_label").map(str::to_string),
            id_column: attribute(v, "engage_id_column").map(str::to_string),
            encoding,
            baseline,
            model,
        })
    }

    /// Writes the model file whole or not at all ([`PartialFile`](crate::files::PartialFile)).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(&self.to_json())?;
        let (partial, mut file) = crate::files::PartialFile::create(path)?;
        std::io::Write::write_all(&mut file, &bytes).with_context(|| format!("{}: cannot write", path.display()))?;
        partial.commit(file)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the model", path.display()))?;
        let v: Value = serde_json::from_slice(&bytes).with_context(|| format!("{}: not a JSON model", path.display()))?;
        Self::from_json(&v).with_context(|| format!("{}", path.display()))
    }
}
