//! `engage model train|predict|eval|explain`: gradient boosting on any table
//! or data file. Parsing and printing only; the work is in `crate::model`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::model::evaluate::{Evaluation, evaluate};
use crate::model::explain::{contributions, importance, reasons_column, reasons_text};
use crate::model::fit::{Split, TrainOptions, parse_params, train};
use crate::model::{ModelBundle, load};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Train a gradient-boosted model (and a logistic baseline) on a table or a .parquet/.csv file.
    Train(TrainArgs),
    /// Score a table or file: probability, confidence and the top reasons per row.
    Predict(PredictArgs),
    /// AUC, log loss, average precision, calibration and lift by decile against the baseline, plus an HTML page.
    Eval(EvalArgs),
    /// Global importance by mean |SHAP|; with --user, one row's contributions.
    Explain(ExplainArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// A catalog table (db.table) or a .parquet / .csv / .csv.gz file.
    pub data: String,
    /// The 0/1 label column.
    #[arg(long)]
    pub label: String,
    /// Feature columns, comma-separated (default: every numeric or text column but the label, id and split column).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Id column: never a feature, keys the validation split and `explain --user` (default user_id when present).
    #[arg(long)]
    pub id: Option<String>,
    /// Share of rows (by id hash) that validate.
    #[arg(long, default_value_t = 0.2, conflicts_with = "time_split")]
    pub valid_frac: f64,
    /// column:value — rows below the value train, the rest validate (e.g. snapshot_date:2026-10-04).
    #[arg(long)]
    pub time_split: Option<String>,
    /// Boosting parameters, e.g. rounds=200,depth=6,eta=0.1 (see docs/models.md).
    #[arg(long)]
    pub params: Option<String>,
    /// Where to write the model (XGBoost JSON).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct PredictArgs {
    pub model: PathBuf,
    pub data: String,
    /// Output file: .parquet or .csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Reasons per row (0 for none).
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
}

#[derive(Args)]
pub struct EvalArgs {
    pub model: PathBuf,
    pub data: String,
    /// The 0/1 label column (default: the one the model was trained on).
    #[arg(long)]
    pub label: Option<String>,
    /// Where to write the HTML page (default: <model>.eval.html).
    #[arg(long)]
    pub html: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExplainArgs {
    pub model: PathBuf,
    pub data: String,
    /// Show this row's contributions (looked up in the model's id column, else user_id).
    #[arg(long)]
    pub user: Option<String>,
    /// With --user: keep only rows where column = value (e.g. snapshot_date=2026-11-22), when the id has several rows.
    #[arg(long = "where", value_name = "COLUMN=VALUE", requires = "user")]
    pub filter: Option<String>,
}

pub fn run(command: ModelCommand, root: &Path) -> Result<()> {
    match command {
        ModelCommand::Train(args) => train_cmd(args, root),
        ModelCommand::Predict(args) => predict_cmd(args, root),
        ModelCommand::Eval(args) => eval_cmd(args, root),
        ModelCommand::Explain(args) => explain_cmd(args, root),
    }
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn rows_bar(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {human_pos}/{human_len} rows {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

fn load_with_spinner(data: &str, root: &Path) -> Result<RecordBatch> {
    let bar = spinner(format!("reading {data}"));
    let batch = load(data, root);
    bar.finish_and_clear();
    batch
}

fn train_cmd(args: TrainArgs, root: &Path) -> Result<()> {
    let params = parse_params(args.params.as_deref())?;
    let split = match &args.time_split {
        Some(t) => Split::parse_time(t)?,
        None => Split::Fraction(args.valid_frac),
    };
    let batch = load_with_spinner(&args.data, root)?;
    let opts = TrainOptions { label: args.label.clone(), features: args.features.clone(), id_column: args.id.clone(), split, params };
    let bar = spinner(format!("training on {} rows of {}", batch.num_rows(), args.data));
    let outcome = train(&batch, &args.data, &opts);
    bar.finish_and_clear();
    let outcome = outcome?;
    outcome.bundle.save(&args.out)?;
    let enc = &outcome.bundle.encoding;
    outln!("model        {}", args.out.display());
    outln!("rows         {} training, {} validation", outcome.training_rows, outcome.validation_rows);
    outln!("features     {} ({} categorical: {})", enc.features.len(), enc.categories.len(), enc.categories.keys().cloned().collect::<Vec<_>>().join(", "));
    if !outcome.skipped.is_empty() {
        outln!("left out     {}", outcome.skipped.join(", "));
    }
    if !outcome.uninformative.is_empty() {
        let list = outcome.uninformative.join(", ");
        if outcome.uninformative.len() == enc.features.len() {
            eprintln!("warning: no feature carries information in the training rows ({list}); the model gives every row the same score");
        } else {
            eprintln!("warning: features that carry no information in the training rows: {list}");
        }
    }
    outln!("trees        {} (best round {})", outcome.trees, outcome.best_round.map_or("-".into(), |r| r.to_string()));
    outln!();
    print_metrics(&outcome.model, Some(&outcome.baseline), "validation");
    Ok(())
}

fn show(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

fn print_metrics(model: &Evaluation, baseline: Option<&Evaluation>, on: &str) {
    outln!("{:<20} {:>10} {:>10}   ({on}: {} rows, {} positive)", "metric", "model", "baseline", model.rows, model.positives);
    let base = baseline.map(Evaluation::headline);
    for (i, (name, value)) in model.headline().into_iter().enumerate() {
        outln!("{name:<20} {:>10} {:>10}", show(value), show(base.and_then(|b| b[i].1)));
    }
}

/// Reads `data` and encodes it for the model.
fn inputs(bundle: &ModelBundle, data: &str, root: &Path) -> Result<(RecordBatch, RecordBatch)> {
    let batch = load_with_spinner(data, root)?;
    let encoded = bundle.encoding.apply(&batch, data)?;
    Ok((batch, encoded))
}

/// The id column of `batch` for this model: the model's own, else `user_id` when the data has it
/// (a model that names none, such as a plain XGBoost model, still keys its rows back to users).
fn id_column<'a>(bundle: &'a ModelBundle, batch: &RecordBatch) -> Option<&'a str> {
    match bundle.id_column.as_deref() {
        Some(id) => Some(id),
        None => batch.column_by_name(crate::data::schema::USER_ID).map(|_| crate::data::schema::USER_ID),
    }
}

fn predict_cmd(args: PredictArgs, root: &Path) -> Result<()> {
    let bundle = ModelBundle::load(&args.model)?;
    let (batch, x) = inputs(&bundle, &args.data, root)?;
    let predictions = bundle.model.predict_batch(&x)?;
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    if let Some(id) = id_column(&bundle, &batch).and_then(|c| batch.column_by_name(c).map(|a| (c, a))) {
        fields.push(Field::new(id.0, DataType::Utf8, true));
        cols.push(arrow::compute::cast(id.1, &DataType::Utf8)?);
    }
    fields.push(Field::new("probability", DataType::Float64, false));
    cols.push(Arc::new(Float64Array::from_iter_values(predictions.probability.iter().map(|&p| p as f64))));
    fields.push(Field::new("confidence", DataType::Float64, false));
    cols.push(Arc::new(Float64Array::from_iter_values(predictions.confidence.iter().map(|&p| p as f64))));
    if args.reasons > 0 {
        let bar = rows_bar(x.num_rows(), "reasons");
        let c = contributions(&bundle.model, &x, |n| bar.inc(n as u64))?;
        bar.finish_and_clear();
        let reference = bundle.reference();
        let values: Vec<Option<&[f32]>> = x.columns().iter().map(|a| Some(a.as_primitive::<Float32Type>().values().as_ref())).collect();
        let reasons = reasons_column(&c, &values, args.reasons, &reference);
        fields.push(Field::new("reasons", DataType::Utf8, false));
        cols.push(Arc::new(reasons));
    }
    let out = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
    write_table(&args.out, &out)?;
    outln!("{} rows scored into {}", out.num_rows(), args.out.display());
    Ok(())
}

/// Writes a batch to .parquet or .csv by the file name.
fn write_table(path: &Path, batch: &RecordBatch) -> Result<()> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".parquet") {
        let mut w = crate::files::ParquetFileWriter::create(path, batch.schema())?;
        w.write(batch)?;
        w.finish()
    } else if name.ends_with(".csv") {
        let (partial, file) = crate::files::PartialFile::create(path)?;
        let mut writer = arrow::csv::Writer::new(file);
        writer.write(batch).with_context(|| format!("{}: writing CSV", path.display()))?;
        partial.commit(writer.into_inner())
    } else {
        bail!("--out {}: name it .parquet or .csv", path.display())
    }
}

fn eval_cmd(args: EvalArgs, root: &Path) -> Result<()> {
    let bundle = ModelBundle::load(&args.model)?;
    let Some(label) = args.label.clone().or_else(|| bundle.label.clone()) else {
        bail!("{}: the model does not name its label; pass --label", args.model.display());
    };
    let (batch, x) = inputs(&bundle, &args.data, root)?;
    let y = crate::model::encoding::labels(&batch, &label, &args.data)?;
    let probs = bundle.model.predict_batch(&x)?.probability;
    let model = evaluate(&y, &probs);
    let baseline = match &bundle.baseline {
        Some(b) => Some(evaluate(&y, &b.predict_batch(&x)?)),
        None => None,
    };
    print_metrics(&model, baseline.as_ref(), &args.data);
    outln!("\ncalibration");
    outln!("{:<12} {:>9} {:>11} {:>10}", "predicted", "rows", "mean score", "observed");
    for b in model.calibration.iter().filter(|b| b.count > 0) {
        outln!("{:<12} {:>9} {:>11.4} {:>10.4}", format!("{:.1}-{:.1}", b.lower, b.upper), b.count, b.mean_predicted, b.observed_rate);
    }
    outln!("\nlift by decile (1 = highest scores)");
    outln!("{:<7} {:>9} {:>10} {:>8} {:>7} {:>9} {:>14}", "decile", "rows", "positives", "rate", "lift", "gain", "baseline lift");
    for (i, d) in model.deciles.iter().enumerate() {
        let base = baseline.as_ref().and_then(|b| b.deciles.get(i)).map(|b| format!("{:.2}", b.lift)).unwrap_or("-".into());
        outln!("{:<7} {:>9} {:>10} {:>8.4} {:>7.2} {:>8.1}% {:>14}", d.decile, d.rows, d.positives, d.rate, d.lift, d.cumulative_gain * 100.0, base);
    }
    let bar = rows_bar(x.num_rows(), "SHAP summary");
    let shap = importance(&bundle.model, &x, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let html = args.html.clone().unwrap_or_else(|| args.model.with_extension("eval.html"));
    let page = crate::report::eval_page(&crate::report::EvalPage {
        model_file: &args.model.display().to_string(),
        data: &args.data,
        label: &label,
        model: &model,
        baseline: baseline.as_ref(),
        shap: &shap,
    });
    std::fs::write(&html, page).with_context(|| format!("{}: cannot write", html.display()))?;
    outln!("\nreport       {}", html.display());
    Ok(())
}

/// A feature value as a person reads it: categories by name, dates and times as such (not their day count).
fn show_value(bundle: &ModelBundle, batch: &RecordBatch, row: usize, name: &str, value: f32) -> String {
    if !value.is_nan()
        && let Some(col) = batch.column_by_name(name)
        && matches!(col.data_type(), DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _))
        && let Ok(text) = arrow::compute::cast(&col.slice(row, 1), &DataType::Utf8)
    {
        return text.as_string::<i32>().value(0).to_string();
    }
    bundle.encoding.show_value(name, value)
}

fn explain_cmd(args: ExplainArgs, root: &Path) -> Result<()> {
    let bundle = ModelBundle::load(&args.model)?;
    let (batch, x) = inputs(&bundle, &args.data, root)?;
    match &args.user {
        None => {
            let bar = rows_bar(x.num_rows(), "TreeSHAP");
            let started = std::time::Instant::now();
            let shap = importance(&bundle.model, &x, |n| bar.inc(n as u64))?;
            let seconds = started.elapsed().as_secs_f64();
            bar.finish_and_clear();
            let top = shap.first().map_or(0.0, |s| s.mean_abs).max(1e-12);
            outln!(
                "global importance: mean |SHAP| over {} rows (log-odds); TreeSHAP took {seconds:.2} s, {:.0} rows/s",
                x.num_rows(),
                x.num_rows() as f64 / seconds.max(1e-9)
            );
            for s in &shap {
                outln!("{:<32} {:>9.4}  {}", s.feature, s.mean_abs, "#".repeat((s.mean_abs / top * 40.0).round() as usize));
            }
        }
        Some(user) => {
            let Some(id) = id_column(&bundle, &batch) else {
                bail!("{}: the model has no id column to look '{user}' up in, and {} has no user_id column (train with --id)", args.model.display(), args.data);
            };
            let ids = arrow::compute::cast(batch.column_by_name(id).with_context(|| format!("{}: id column '{id}' is missing", args.data))?, &DataType::Utf8)?;
            let ids = ids.as_string::<i32>();
            let mut rows: Vec<usize> = (0..ids.len()).filter(|&r| ids.is_valid(r) && ids.value(r) == user).collect();
            let mut looked_up = format!("{id} = '{user}'");
            if let Some(filter) = &args.filter {
                let Some((column, value)) = filter.split_once('=') else {
                    bail!("--where {filter}: write it as column=value");
                };
                let (column, value) = (column.trim(), value.trim());
                let col = batch.column_by_name(column).with_context(|| format!("{}: --where column '{column}' is missing", args.data))?;
                let text = arrow::compute::cast(col, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                rows.retain(|&r| text.is_valid(r) && text.value(r) == value);
                looked_up += &format!(" and {column} = '{value}'");
            }
            let r = match rows.as_slice() {
                [] => bail!("{}: no row with {looked_up}", args.data),
                [r] => *r,
                _ => {
                    let dates = batch
                        .column_by_name(crate::data::schema::SNAPSHOT_DATE)
                        .and_then(|c| arrow::compute::cast(c, &DataType::Utf8).ok())
                        .map(|c| {
                            let mut d: Vec<String> = rows.iter().map(|&r| c.as_string::<i32>().value(r).to_string()).collect();
                            d.sort();
                            d
                        });
                    let hint = match &dates {
                        Some(d) => format!(" (snapshot_date {}); pick one with --where snapshot_date={}", d.join(", "), d.last().expect("several rows")),
                        None => "; pick one with --where column=value".to_string(),
                    };
                    bail!(
                        "{}: {} rows have {looked_up}{hint}, or explain a table with one row per user (e.g. a CREATE TABLE ... AS SELECT ... WHERE in engage sql)",
                        args.data,
                        rows.len()
                    )
                }
            };
            let row = x.slice(r, 1);
            let c = bundle.model.contributions(&row)?;
            let values: Vec<f32> = row.columns().iter().map(|a| a.as_primitive::<Float32Type>().value(0)).collect();
            let margin = c.margin(0);
            outln!("{id} {user}: probability {:.4} (log-odds {margin:.4} = bias {:.4} + contributions)", 1.0 / (1.0 + (-margin).exp()), c.bias(0));
            outln!("reasons: {}", reasons_text(&c, 0, 3, &values, &bundle.reference()));
            outln!("{:<32} {:>16} {:>12}", "feature", "value", "contribution");
            let mut order: Vec<usize> = (0..c.n_features).collect();
            order.sort_by(|&a, &b| c.row(0)[b].abs().total_cmp(&c.row(0)[a].abs()));
            for f in order {
                let name = &c.feature_names[f];
                outln!("{:<32} {:>16} {:>+12.4}", name, show_value(&bundle, &batch, r, name, values[f]), c.row(0)[f]);
            }
        }
    }
    Ok(())
}
