//! The page `engage model eval` writes: metrics beside the logistic baseline,
//! lift and gain charts, the calibration plot and the SHAP summary, in the
//! run report's style (one self-contained file, no scripts).

use std::fmt::Write;

use engage_boost::ShapImportance;

use super::charts::{Panel, draw_calibration};
use super::format::{count, escape, metric, percent};
use super::html::{STYLE, chart_panel};
use super::model_charts::{DecileSeries, feature_bars, gain, lift};
use crate::model::evaluate::Evaluation;

pub struct EvalPage<'a> {
    pub model_file: &'a str,
    pub data: &'a str,
    pub label: &'a str,
    pub model: &'a Evaluation,
    pub baseline: Option<&'a Evaluation>,
    pub shap: &'a [ShapImportance],
}

fn series(name: &str, e: &Evaluation) -> DecileSeries {
    DecileSeries { name: name.into(), lift: e.deciles.iter().map(|d| d.lift).collect(), gain: e.deciles.iter().map(|d| d.cumulative_gain).collect() }
}

pub fn eval_page(p: &EvalPage) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Model evaluation · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header>\n<p class=\"kicker\">Engage model evaluation</p>\n<h1>{}</h1>\n<p class=\"how\">on <code>{}</code>, label <code>{}</code>: {} rows, {} positive ({})</p>\n</header>\n",
        escape(p.model_file),
        escape(p.model_file),
        escape(p.data),
        escape(p.label),
        count(p.model.rows as u64),
        count(p.model.positives as u64),
        percent(p.model.positives as f64 / p.model.rows.max(1) as f64)
    );
    metrics_table(&mut out, p);
    let mut all = vec![series("model", p.model)];
    if let Some(b) = p.baseline {
        all.push(series("logistic baseline", b));
    }
    let calibration: Vec<(f64, f64, f64)> =
        p.model.calibration.iter().filter(|b| b.count > 0).map(|b| (b.mean_predicted, b.observed_rate, b.count as f64)).collect();
    let shap: Vec<(String, f64)> = p.shap.iter().map(|s| (s.feature.clone(), s.mean_abs)).collect();
    let panels = [
        Panel { id: "chart-lift", title: "Lift by decile", how_to_read: "Rows split into ten equal groups by score, highest first: each bar is the group's positive rate divided by the overall rate. Above the dashed line at 1 the model beats random picking.", body: Ok(lift(&all)), note: None },
        Panel { id: "chart-gain", title: "Cumulative gain", how_to_read: "Contacting the highest-scored share of rows (right) finds this share of all positives (up). The diagonal is random picking; higher and earlier is better.", body: Ok(gain(&all)), note: None },
        Panel {
            id: "chart-calibration",
            title: "Calibration",
            how_to_read: "Rows grouped by predicted probability: each point is a group's average prediction (right) against its observed positive rate (up). On the diagonal, probabilities can be taken at face value.",
            body: if calibration.is_empty() { Err("no rows".into()) } else { Ok(draw_calibration(&calibration)) },
            note: None,
        },
        Panel {
            id: "chart-shap",
            title: "SHAP summary",
            how_to_read: "Mean absolute TreeSHAP contribution of each feature to the log-odds over these rows: how far, on average, the feature moves a row's score.",
            body: if shap.is_empty() { Err("no contributions".into()) } else { Ok(feature_bars("shap", "Mean |SHAP| per feature", &shap, "mean |SHAP| (log-odds)", None)) },
            note: None,
        },
    ];
    out.push_str("<section class=\"charts\">\n");
    for panel in &panels {
        chart_panel(&mut out, panel);
    }
    out.push_str("</section>\n");
    deciles_table(&mut out, p.model);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn metrics_table(out: &mut String, p: &EvalPage) {
    out.push_str("<section class=\"panel\" id=\"model\">\n<h2>Model against the logistic baseline</h2>\n<table>\n<thead><tr><th>metric</th><th class=\"num\">model</th><th class=\"num\">baseline</th></tr></thead>\n<tbody>\n");
    let show = |v: Option<f64>| v.map(metric).unwrap_or_else(|| "—".into());
    let base = p.baseline.map(Evaluation::headline);
    for (i, (name, value)) in p.model.headline().into_iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            show(value),
            show(base.and_then(|b| b[i].1))
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn deciles_table(out: &mut String, e: &Evaluation) {
    out.push_str("<section class=\"panel\" id=\"deciles\">\n<h2>Lift by decile (model)</h2>\n<table>\n<thead><tr><th>decile</th><th class=\"num\">rows</th><th class=\"num\">positives</th><th class=\"num\">rate</th><th class=\"num\">lift</th><th class=\"num\">cumulative gain</th><th class=\"num\">scores</th></tr></thead>\n<tbody>\n");
    for d in &e.deciles {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}–{}</td></tr>",
            d.decile,
            count(d.rows as u64),
            count(d.positives as u64),
            percent(d.rate),
            metric(d.lift),
            percent(d.cumulative_gain),
            metric(d.min_score),
            metric(d.max_score)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}
