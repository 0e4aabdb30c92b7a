//! `engage model train`: split the rows, encode, boost with early stopping on
//! the validation rows, fit the logistic baseline on the same training rows.

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use engage_boost::baseline::LogisticBaseline;
use engage_boost::{Params, train_batches_with_features};

use super::bundle::{ModelBundle, reference_quantiles};
use super::encoding::{Encoding, labels, pick_features};
use super::evaluate::{Evaluation, evaluate};

/// Seed of the row hash that picks validation rows.
const SPLIT_SEED: u64 = 0x6d6f_6465_6c5f_7370;

/// Which rows validate.
#[derive(Clone, Debug, PartialEq)]
pub enum Split {
    /// This share of the rows, picked by a hash of the id (or of the row number without one).
    Fraction(f64),
    /// Rows whose `column` is below `value` train, the rest validate.
    Time { column: String, value: String },
}

impl Split {
    /// `column:value`, as `--time-split` takes it.
    pub fn parse_time(text: &str) -> Result<Self> {
        match text.split_once(':') {
            Some((c, v)) if !c.is_empty() && !v.is_empty() => Ok(Split::Time { column: c.into(), value: v.into() }),
            _ => bail!("--time-split '{text}' must be column:value (for example snapshot_date:2026-10-04)"),
        }
    }
}

/// `rounds=200,depth=6,eta=0.1` over Engage's defaults (300 rounds, depth 6, eta 0.1, early stopping after 20).
pub fn parse_params(text: Option<&str>) -> Result<Params> {
    let mut p = Params { n_rounds: 300, eta: 0.1, max_depth: 6, early_stopping_rounds: Some(20), ..Params::default() };
    let mut given = Vec::new();
    for pair in text.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = pair.split_once('=').with_context(|| format!("--params: '{pair}' must be name=value"))?;
        p.set(name.trim(), value).with_context(|| format!("--params: '{pair}'"))?;
        given.push(name.trim());
    }
    p.validate_as_given(&given).context("--params")?;
    Ok(p)
}

pub struct TrainOptions {
    pub label: String,
    pub features: Option<Vec<String>>,
    /// The id column (default `user_id` when present): never a feature; keys the split and `--user`.
    pub id_column: Option<String>,
    pub split: Split,
    pub params: Params,
}

pub struct TrainOutcome {
    pub bundle: ModelBundle,
    pub training_rows: usize,
    pub validation_rows: usize,
    /// Columns not used as features, and why.
    pub skipped: Vec<String>,
    /// Features that carry no information in the training rows: all missing, or one value throughout.
    pub uninformative: Vec<String>,
    pub trees: usize,
    pub best_round: Option<usize>,
    pub model: Evaluation,
    pub baseline: Evaluation,
}

/// Which rows train (true) and which validate.
fn split_rows(batch: &RecordBatch, split: &Split, id: Option<&str>, source: &str) -> Result<Vec<bool>> {
    let n = batch.num_rows();
    match split {
        Split::Fraction(f) => {
            if !(*f > 0.0 && *f < 1.0) {
                bail!("--valid-frac {f} must be between 0 and 1");
            }
            let cut = (f * u64::MAX as f64) as u64;
            let ids = id.map(|c| arrow::compute::cast(batch.column_by_name(c).expect("checked"), &DataType::Utf8)).transpose()?;
            let ids = ids.as_ref().map(|a| a.as_string::<i32>());
            Ok((0..n)
                .map(|r| {
                    let key = match ids {
                        Some(ids) if ids.is_valid(r) => ids.value(r).to_string(),
                        _ => format!("#{r}"),
                    };
                    twox_hash::XxHash64::oneshot(SPLIT_SEED, key.as_bytes()) >= cut
                })
                .collect())
        }
        Split::Time { column, value } => {
            let col = batch.column_by_name(column).with_context(|| format!("{source}: --time-split column '{column}' is missing"))?;
            if col.data_type().is_numeric() {
                let v: f64 = value.parse().with_context(|| format!("--time-split: '{value}' is not a number, and column '{column}' is numeric"))?;
                let c = arrow::compute::cast(col, &DataType::Float64)?;
                let c = c.as_primitive::<Float64Type>();
                Ok((0..n).map(|r| c.is_valid(r) && c.value(r) < v).collect())
            } else {
                // Dates and text compare as text: ISO dates sort in time order.
                let c = arrow::compute::cast(col, &DataType::Utf8)?;
                let c = c.as_string::<i32>();
                Ok((0..n).map(|r| c.is_valid(r) && c.value(r) < value.as_str()).collect())
            }
        }
    }
}

pub fn train(batch: &RecordBatch, source: &str, opts: &TrainOptions) -> Result<TrainOutcome> {
    let y = labels(batch, &opts.label, source)?;
    let id = match &opts.id_column {
        Some(c) if batch.column_by_name(c).is_none() => bail!("{source}: id column '{c}' is missing"),
        Some(c) => Some(c.clone()),
        None => batch.column_by_name("user_id").map(|_| "user_id".to_string()),
    };
    let mut exclude: Vec<&str> = vec![opts.label.as_str(), "snapshot_date"];
    exclude.extend(id.as_deref());
    if let Split::Time { column, .. } = &opts.split {
        exclude.push(column);
    }
    let (features, skipped) = pick_features(batch, opts.features.as_deref(), &exclude, source)?;
    let is_train = split_rows(batch, &opts.split, id.as_deref(), source)?;
    let training_rows = is_train.iter().filter(|&&t| t).count();
    let validation_rows = is_train.len() - training_rows;
    if training_rows == 0 || validation_rows == 0 {
        bail!("{source}: the split leaves {training_rows} training and {validation_rows} validation rows; both need rows");
    }
    let encoding = Encoding::fit(batch, &features, &y, &is_train)?;
    let inputs = with_label(&encoding.apply(batch, source)?, &opts.label, &y)?;
    let (train_rows, valid_rows) = (take(&inputs, &is_train, true)?, take(&inputs, &is_train, false)?);
    for (part, what) in [(&train_rows, "training"), (&valid_rows, "validation")] {
        let pos = engage_boost::train::read_labels(std::slice::from_ref(part), &opts.label)?.iter().filter(|&&v| v > 0.5).count();
        if pos == 0 || pos == part.num_rows() {
            bail!("{source}: the {what} rows hold only one class of '{}'; pick another split", opts.label);
        }
    }

    let trained = train_batches_with_features(std::slice::from_ref(&train_rows), &opts.label, &features, Some(std::slice::from_ref(&valid_rows)), &opts.params)
        .context("training")?;
    let baseline = LogisticBaseline::fit(std::slice::from_ref(&train_rows), &opts.label, &features).context("fitting the logistic baseline")?;

    let valid_y = engage_boost::train::read_labels(std::slice::from_ref(&valid_rows), &opts.label)?;
    let model_probs = trained.model.predict_batch(&valid_rows)?.probability;
    let baseline_probs = baseline.predict_batch(&valid_rows)?;

    let train_cols: Vec<Vec<f32>> = (0..features.len()).map(|f| column_values(&train_rows, f)).collect();
    let refs: Vec<&[f32]> = train_cols.iter().map(Vec::as_slice).collect();
    let uninformative = features
        .iter()
        .zip(&train_cols)
        .filter_map(|(name, col)| {
            let mut present = col.iter().filter(|v| !v.is_nan());
            match present.next() {
                None => Some(format!("{name} (all missing)")),
                Some(first) => present.all(|v| v == first).then(|| format!("{name} (always {first})")),
            }
        })
        .collect();
    let bundle = ModelBundle {
        reference_values: reference_quantiles(&refs),
        label: Some(opts.label.clone()),
        id_column: id,
        encoding,
        baseline: Some(baseline),
        model: trained.model,
    };
    Ok(TrainOutcome {
        training_rows,
        validation_rows,
        skipped,
        uninformative,
        trees: bundle.model.n_trees(),
        best_round: trained.best_round,
        model: evaluate(&valid_y, &model_probs),
        baseline: evaluate(&valid_y, &baseline_probs),
        bundle,
    })
}

fn column_values(batch: &RecordBatch, f: usize) -> Vec<f32> {
    batch.column(f).as_primitive::<arrow::datatypes::Float32Type>().values().to_vec()
}

/// The feature batch with the label appended (as Float32).
pub fn with_label(inputs: &RecordBatch, label: &str, y: &[f32]) -> Result<RecordBatch> {
    use std::sync::Arc;
    let mut fields: Vec<_> = inputs.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(arrow::datatypes::Field::new(label, DataType::Float32, false)));
    let mut cols = inputs.columns().to_vec();
    cols.push(Arc::new(arrow::array::Float32Array::from(y.to_vec())));
    Ok(RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)?)
}

fn take(batch: &RecordBatch, mask: &[bool], side: bool) -> Result<RecordBatch> {
    let keep: arrow::array::BooleanArray = mask.iter().map(|&m| Some(m == side)).collect();
    Ok(arrow::compute::filter_record_batch(batch, &keep)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_take_short_and_xgboost_names() {
        let p = parse_params(Some("rounds=50, depth=4,eta=0.2,learning_rate=0.3")).unwrap();
        assert_eq!((p.n_rounds, p.max_depth, p.eta), (50, 4, 0.3));
        let e = parse_params(Some("trees=5")).unwrap_err();
        assert!(format!("{e:#}").contains("unknown parameter 'trees'"), "{e:#}");
        assert!(parse_params(Some("eta=fast")).is_err());
        // A failed check names the parameter as typed, not boost's field name.
        let e = format!("{:#}", parse_params(Some("rounds=0")).unwrap_err());
        assert!(e.contains("invalid parameter `rounds`: must be at least 1") && !e.contains("n_rounds"), "{e}");
        let e = format!("{:#}", parse_params(Some("depth=40")).unwrap_err());
        assert!(e.contains("invalid parameter `depth`: 40 is above 30"), "{e}");
    }

    #[test]
    fn time_split_needs_a_column_and_a_value() {
        assert_eq!(Split::parse_time("d:2026-01-04").unwrap(), Split::Time { column: "d".into(), value: "2026-01-04".into() });
        assert!(Split::parse_time("2026-01-04").is_err());
    }
}
