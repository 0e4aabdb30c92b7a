//! The report's charts, each drawn from the run record into a [`Panel`]:
//! score histogram, ROC curve, calibration, feature importance, segment sizes
//! and the stage timeline. A chart whose data is missing becomes a panel that
//! says why, never an error.

use std::collections::BTreeSet;

use serde_json::Value;

use super::format::{count, duration, metric, number, percent};
use super::model_charts::{DecileSeries, feature_bars, gain as model_gain, lift as model_lift};
use super::svg::{Frame, Svg, nice_ceiling, nice_ticks, short_count};
use super::view::{Run, number as num_field, parse_time, seconds, text};

/// One chart (or the reason it is missing) with what a reader needs around it.
pub struct Panel {
    /// Anchor id on the page: `chart-<name>`.
    pub id: &'static str,
    pub title: &'static str,
    /// One line saying how to read the chart.
    pub how_to_read: &'static str,
    /// The SVG, or why the chart is not available.
    pub body: Result<String, String>,
    /// A short line under the chart (numbers the chart does not show).
    pub note: Option<String>,
}

/// The documented segment thresholds (docs/pipeline.md), used when the predict
/// summary does not say.
const HIGH: f64 = 0.6;
const MEDIUM: f64 = 0.3;

pub fn all(run: &Run) -> Vec<Panel> {
    vec![
        histogram(run),
        roc(run),
        calibration(run),
        importance(run),
        lift(run),
        gain(run),
        shap_summary(run),
        drift(run),
        segments(run),
        timeline(run),
    ]
}

/// The train summary's deciles (`deciles.model`, `deciles.baseline`) as chart series.
fn decile_series(run: &Run) -> Result<Vec<DecileSeries>, String> {
    let d = run.summary_key("train", "deciles")?;
    let series = |key: &str, name: &str| -> Option<DecileSeries> {
        let items = d.get(key)?.as_array()?;
        let lift = items.iter().filter_map(|x| num_field(x, "lift")).collect::<Vec<_>>();
        let gain = items.iter().filter_map(|x| num_field(x, "cumulative_gain")).collect::<Vec<_>>();
        (!lift.is_empty() && lift.len() == gain.len()).then(|| DecileSeries { name: name.into(), lift, gain })
    };
    let all: Vec<DecileSeries> = [series("model", "model"), series("baseline", "logistic baseline")].into_iter().flatten().collect();
    if all.is_empty() { Err("the train deciles hold no rows".into()) } else { Ok(all) }
}

pub fn lift(run: &Run) -> Panel {
    Panel {
        id: "chart-lift",
        title: "Lift by decile",
        how_to_read: "Validation users split into ten equal groups by score, highest first: each bar is the group's engagement rate divided by the overall rate. Above the dashed line at 1 the model beats random picking.",
        body: decile_series(run).map(|s| model_lift(&s)),
        note: None,
    }
}

pub fn gain(run: &Run) -> Panel {
    Panel {
        id: "chart-gain",
        title: "Cumulative gain",
        how_to_read: "Contacting the highest-scored share of validation users (right) reaches this share of all who engaged (up). The diagonal is random picking.",
        body: decile_series(run).map(|s| model_gain(&s)),
        note: None,
    }
}

/// Mean |SHAP| per feature over this week's scored users (predict), else the validation users (train).
fn shap_means(run: &Run) -> Result<(Vec<(String, f64)>, &'static str), String> {
    if let Ok(shap) = run.summary_key("predict", "shap") {
        let rows = num_field(shap, "rows").unwrap_or(0.0);
        if let Some(sums) = shap.get("abs_sum_micro").and_then(Value::as_object).filter(|_| rows > 0.0) {
            let mut features: Vec<(String, f64)> = sums.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()? * 1e-6 / rows))).collect();
            features.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            return Ok((features, "users scored this week"));
        }
    }
    let items = run.summary_key("train", "shap_importance")?.as_array().ok_or("the train shap_importance is not a list")?;
    let features: Vec<(String, f64)> = items.iter().filter_map(|f| Some((text(f, "feature")?.to_string(), num_field(f, "mean_abs")?))).collect();
    if features.is_empty() { Err("no SHAP importance was reported".into()) } else { Ok((features, "validation users")) }
}

pub fn shap_summary(run: &Run) -> Panel {
    let means = shap_means(run);
    Panel {
        id: "chart-shap",
        title: "SHAP summary",
        how_to_read: "Mean absolute TreeSHAP contribution of each feature to a user's log-odds: how far, on average, the feature moves a score up or down. The top 3 per user are the reasons in the results table.",
        note: means.as_ref().ok().map(|(_, over)| format!("Averaged over the {over}.")),
        body: means.map(|(f, _)| feature_bars("shap", "Mean |SHAP| per feature", &f, "mean |SHAP| (log-odds)", None)),
    }
}

pub fn drift(run: &Run) -> Panel {
    let body = run.summary("drift").and_then(|d| {
        if d.get("previous_run").is_none_or(Value::is_null) {
            return Err("this is the first run: there is no previous run to compare with".to_string());
        }
        let items = d.get("features").and_then(Value::as_array).ok_or("the drift summary lists no features")?;
        // A feature missing in every row of a run has no PSI (null): no bar, named in the note instead.
        let features: Vec<(String, f64)> = items.iter().filter_map(|f| Some((text(f, "name")?.to_string(), num_field(f, "psi")?))).collect();
        let threshold = d.pointer("/thresholds/psi").and_then(Value::as_f64);
        Ok(feature_bars("drift", "Population stability index per feature", &features, "PSI against the previous run", threshold))
    });
    let note = run.summary("drift").ok().map(|d| {
        let warnings: Vec<&str> = d.get("warnings").and_then(Value::as_array).map(|w| w.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let auc = d.get("realized_auc").and_then(Value::as_f64).map(|a| format!("Realized AUC of last week's model: {}. ", metric(a))).unwrap_or_default();
        let no_psi: Vec<&str> = d
            .get("features")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter(|f| f.get("psi").is_some_and(Value::is_null)).filter_map(|f| text(f, "name")).collect())
            .unwrap_or_default();
        let no_psi = if no_psi.is_empty() { String::new() } else { format!("PSI n/a (all missing): {}. ", no_psi.join(", ")) };
        if warnings.is_empty() { format!("{auc}{no_psi}No drift warnings.") } else { format!("{auc}{no_psi}Warnings: {}", warnings.join("; ")) }
    });
    Panel {
        id: "chart-drift",
        title: "Drift since the previous run",
        how_to_read: "Population stability index of each feature between the previous run's scoring set and this one (0 = same distribution; above 0.1 a moderate shift, above 0.2 a large one). Red bars are past the warning threshold, the dashed line.",
        body,
        note,
    }
}

/// Segment thresholds `(high, medium)` from the predict summary, else the documented ones.
fn thresholds(run: &Run) -> (f64, f64) {
    let t = run.summary_key("predict", "thresholds").ok();
    let high = t.and_then(|t| num_field(t, "high")).unwrap_or(HIGH);
    let medium = t.and_then(|t| num_field(t, "medium")).unwrap_or(MEDIUM);
    (high, medium)
}

fn segment_of(p: f64, (high, medium): (f64, f64)) -> &'static str {
    if p >= high {
        "high"
    } else if p >= medium {
        "medium"
    } else {
        "low"
    }
}

fn numbers(v: &Value, what: &str) -> Result<Vec<f64>, String> {
    let items = v.as_array().ok_or_else(|| format!("{what} is not a list"))?;
    items.iter().map(|x| x.as_f64().ok_or_else(|| format!("{what} holds a non-number: {x}"))).collect()
}

pub fn histogram(run: &Run) -> Panel {
    let body = run.summary_key("predict", "histogram").and_then(|h| numbers(h, "the predict histogram")).and_then(|counts| {
        if counts.is_empty() {
            return Err("the predict histogram is empty".to_string());
        }
        Ok(draw_histogram(&counts, thresholds(run)))
    });
    Panel {
        id: "chart-histogram",
        title: "Score distribution",
        how_to_read: "How many users got each predicted probability of engaging next week, in bins of equal width; bars are coloured by the segment they fall in and the dashed lines are the segment thresholds.",
        body,
        note: None,
    }
}

fn draw_histogram(counts: &[f64], cuts: (f64, f64)) -> String {
    let total: f64 = counts.iter().sum();
    let top = nice_ceiling(counts.iter().cloned().fold(0.0, f64::max));
    let mut frame = Frame::new(640.0, 300.0, (0.0, 1.0), (0.0, top));
    frame.top = 40.0;
    let mut svg = Svg::new(frame, "histogram", "Histogram of predicted probabilities");
    svg.plot_area();
    svg.y_axis(&nice_ticks(0.0, top, 5), short_count, "users");
    let width = 1.0 / counts.len() as f64;
    for (i, &n) in counts.iter().enumerate() {
        let (lo, hi) = (i as f64 * width, (i + 1) as f64 * width);
        let segment = segment_of((lo + hi) / 2.0, cuts);
        let (x0, x1) = (frame.px(lo), frame.px(hi));
        let y = frame.py(n);
        let share = if total > 0.0 { percent(n / total) } else { "0%".into() };
        let title = format!("{lo:.2}–{hi:.2}: {} users ({share}), {segment} segment", count(n as u64));
        svg.rect(x0 + 1.0, y, x1 - x0 - 2.0, frame.plot_bottom() - y, &format!("bar seg-{segment}"), &title);
    }
    let (high, medium) = cuts;
    for (cut, label) in [(medium, format!("medium ≥ {}", number(medium))), (high, format!("high ≥ {}", number(high)))] {
        if (0.0..=1.0).contains(&cut) {
            svg.data_line((cut, 0.0), (cut, top), "threshold");
            svg.text(frame.px(cut) + 4.0, frame.plot_top() + 12.0, "start", "threshold-label", &label);
        }
    }
    svg.x_axis(&nice_ticks(0.0, 1.0, 10), |t| format!("{t:.1}"), "predicted probability of engaging");
    svg.legend(frame.plot_left(), 22.0, &[
        ("seg-high", "high".to_string()),
        ("seg-medium", "medium".to_string()),
        ("seg-low", "low".to_string()),
    ]);
    svg.finish()
}

pub fn roc(run: &Run) -> Panel {
    let auc = run.summary_key("train", "metrics").ok().and_then(|m| num_field(m, "auc"));
    let baseline = run.summary_key("train", "baseline").ok().and_then(|m| num_field(m, "auc"));
    let body = run.summary_key("train", "roc").and_then(|roc| {
        let items = roc.as_array().ok_or("the train roc is not a list")?;
        let mut points: Vec<(f64, f64)> = items
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
            .map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
            .collect();
        if points.is_empty() {
            return Err("the train roc has no points".to_string());
        }
        // Every ROC curve runs from "flag nobody" (0,0) to "flag everybody" (1,1);
        // a summary that left out either end still draws whole.
        if points.first() != Some(&(0.0, 0.0)) {
            points.insert(0, (0.0, 0.0));
        }
        if points.last() != Some(&(1.0, 1.0)) {
            points.push((1.0, 1.0));
        }
        Ok(draw_roc(&points, auc))
    });
    let note = match (auc, baseline) {
        (Some(a), Some(b)) => Some(format!(
            "Validation AUC {} against {} for the baseline model ({}).",
            metric(a),
            metric(b),
            super::format::signed(a - b)
        )),
        (Some(a), None) => Some(format!("Validation AUC {}; no baseline was reported.", metric(a))),
        _ => None,
    };
    Panel {
        id: "chart-roc",
        title: "ROC curve",
        how_to_read: "Each point is a score cut-off: the share of engaged users it catches (up) against the share of non-engaged users it wrongly flags (right). Further up and left is better; the diagonal is guessing.",
        body,
        note,
    }
}

fn draw_roc(points: &[(f64, f64)], auc: Option<f64>) -> String {
    let mut frame = Frame::new(420.0, 400.0, (0.0, 1.0), (0.0, 1.0));
    frame.top = 40.0;
    let mut svg = Svg::new(frame, "roc", "ROC curve of the model on the validation set");
    svg.plot_area();
    let ticks = nice_ticks(0.0, 1.0, 5);
    svg.y_axis(&ticks, |t| format!("{t:.1}"), "true positive rate");
    svg.x_axis(&ticks, |t| format!("{t:.1}"), "false positive rate");
    svg.data_line((0.0, 0.0), (1.0, 1.0), "diagonal");
    svg.polyline(points, "curve roc-curve");
    let model = match auc {
        Some(a) => format!("model (AUC {})", metric(a)),
        None => "model".to_string(),
    };
    svg.legend(frame.plot_left(), 22.0, &[("line curve", model), ("line diagonal", "chance (AUC 0.5)".to_string())]);
    svg.finish()
}

pub fn calibration(run: &Run) -> Panel {
    let body = run.summary_key("train", "calibration").and_then(|bins| {
        let items = bins.as_array().ok_or("the train calibration is not a list")?;
        let points: Vec<(f64, f64, f64)> = items
            .iter()
            .filter_map(|b| Some((num_field(b, "predicted")?, num_field(b, "observed")?, num_field(b, "count").unwrap_or(0.0))))
            .filter(|&(_, _, n)| n > 0.0)
            .collect();
        if points.is_empty() {
            return Err("the calibration bins hold no users".to_string());
        }
        Ok(draw_calibration(&points))
    });
    Panel {
        id: "chart-calibration",
        title: "Calibration",
        how_to_read: "Validation users grouped by predicted probability: each point is a group's average prediction (right) against the share that actually engaged (up), its size and label the number of users. Points on the diagonal mean the probabilities can be taken at face value.",
        body,
        note: None,
    }
}

pub(super) fn draw_calibration(points: &[(f64, f64, f64)]) -> String {
    let mut frame = Frame::new(420.0, 400.0, (0.0, 1.0), (0.0, 1.0));
    frame.top = 40.0;
    let mut svg = Svg::new(frame, "calibration", "Calibration: predicted against observed engagement rate");
    svg.plot_area();
    let ticks = nice_ticks(0.0, 1.0, 5);
    svg.y_axis(&ticks, |t| format!("{t:.1}"), "observed engagement rate");
    svg.x_axis(&ticks, |t| format!("{t:.1}"), "mean predicted probability");
    svg.data_line((0.0, 0.0), (1.0, 1.0), "diagonal");
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let line: Vec<(f64, f64)> = sorted.iter().map(|&(x, y, _)| (x, y)).collect();
    svg.polyline(&line, "curve calibration-curve");
    let most = sorted.iter().map(|p| p.2).fold(1.0, f64::max);
    for &(x, y, n) in &sorted {
        // Area, not radius, grows with the count, so big bins do not look bigger than they are.
        let radius = 3.0 + 7.0 * (n / most).sqrt();
        let title = format!("{} users: predicted {}, observed {}", count(n as u64), percent(x), percent(y));
        svg.point((x, y), radius, "dot", &title);
        svg.text(frame.px(x) + radius + 3.0, frame.py(y) + 12.0, "start", "point-label", &short_count(n));
    }
    svg.legend(frame.plot_left(), 22.0, &[
        ("line curve", "model (label: users)".to_string()),
        ("line diagonal", "perfectly calibrated".to_string()),
    ]);
    svg.finish()
}

pub fn importance(run: &Run) -> Panel {
    let body = run.summary_key("train", "importance").and_then(|items| {
        let items = items.as_array().ok_or("the train importance is not a list")?;
        let mut features: Vec<(String, f64)> = items
            .iter()
            .filter_map(|f| Some((text(f, "feature")?.to_string(), num_field(f, "gain")?)))
            .filter(|(_, g)| g.is_finite() && *g >= 0.0)
            .collect();
        if features.is_empty() {
            return Err("the train importance lists no features".to_string());
        }
        features.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(draw_importance(&features))
    });
    Panel {
        id: "chart-importance",
        title: "Feature importance",
        how_to_read: "Each feature's share of the model's total gain (the loss reduction from its splits), largest first: the features the model leans on most are at the top. Importance is not direction: a high-share feature may raise or lower scores.",
        body,
        note: None,
    }
}

/// Longest feature name shown in full; longer ones are cut (the hover title has it whole).
const NAME_CHARS: usize = 30;

fn short_name(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS { name.to_string() } else { format!("{}…", name.chars().take(NAME_CHARS - 1).collect::<String>()) }
}

fn draw_importance(features: &[(String, f64)]) -> String {
    let total: f64 = features.iter().map(|f| f.1).sum();
    let share = |g: f64| if total > 0.0 { g / total } else { 0.0 };
    let top = nice_ceiling(share(features[0].1) * 100.0).min(100.0);
    let longest = features.iter().map(|f| short_name(&f.0).chars().count()).max().unwrap_or(8);
    let row = 22.0;
    let mut frame = Frame::new(640.0, 0.0, (0.0, top), (0.0, features.len() as f64));
    frame.left = 16.0 + longest as f64 * 7.0;
    frame.right = 56.0;
    frame.height = frame.top + features.len() as f64 * row + frame.bottom;
    let mut svg = Svg::new(frame, "importance", "Feature importance by share of total gain");
    svg.plot_area();
    for (i, (name, gain)) in features.iter().enumerate() {
        let y = frame.plot_top() + i as f64 * row;
        let pct = share(*gain) * 100.0;
        let x1 = frame.px(pct);
        let title = format!("{name}: gain {} ({:.1}% of total)", number(*gain), pct);
        svg.rect(frame.plot_left(), y + 3.0, x1 - frame.plot_left(), row - 6.0, "bar importance-bar", &title);
        svg.text(frame.plot_left() - 6.0, y + row / 2.0 + 4.0, "end", "bar-label", &short_name(name));
        svg.text(x1 + 4.0, y + row / 2.0 + 4.0, "start", "value-label", &format!("{pct:.1}%"));
    }
    svg.x_axis(&nice_ticks(0.0, top, 5), |t| format!("{}%", number(t)), "share of total gain");
    svg.finish()
}

pub fn segments(run: &Run) -> Panel {
    let cuts = thresholds(run);
    let body = run.summary_key("predict", "segments").and_then(|s| {
        let rows: Vec<(&str, f64)> = ["high", "medium", "low"].iter().map(|&k| (k, num_field(s, k).unwrap_or(0.0))).collect();
        if rows.iter().all(|r| r.1 <= 0.0) {
            return Err("the predict stage put no users in any segment".to_string());
        }
        Ok(draw_segments(&rows, cuts))
    });
    Panel {
        id: "chart-segments",
        title: "Segment sizes",
        how_to_read: "Users scored this week in each engagement segment, with their share of all scored users. The segment follows from the predicted probability and the thresholds shown.",
        body,
        note: None,
    }
}

fn draw_segments(rows: &[(&str, f64)], (high, medium): (f64, f64)) -> String {
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let top = nice_ceiling(rows.iter().map(|r| r.1).fold(0.0, f64::max));
    let row = 40.0;
    let mut frame = Frame::new(640.0, 0.0, (0.0, top), (0.0, rows.len() as f64));
    frame.left = 150.0;
    frame.right = 130.0;
    frame.height = frame.top + rows.len() as f64 * row + frame.bottom;
    let mut svg = Svg::new(frame, "segments", "Users per engagement segment");
    svg.plot_area();
    for (i, &(name, n)) in rows.iter().enumerate() {
        let y = frame.plot_top() + i as f64 * row;
        let rule = match name {
            "high" => format!("p ≥ {}", number(high)),
            "medium" => format!("{} ≤ p < {}", number(medium), number(high)),
            _ => format!("p < {}", number(medium)),
        };
        let share = if total > 0.0 { percent(n / total) } else { "0%".to_string() };
        let x1 = frame.px(n);
        svg.rect(frame.plot_left(), y + 6.0, x1 - frame.plot_left(), row - 12.0, &format!("bar seg-{name}"), &format!("{name}: {} users ({share})", count(n as u64)));
        svg.text(frame.plot_left() - 8.0, y + row / 2.0 - 1.0, "end", "bar-label", name);
        svg.text(frame.plot_left() - 8.0, y + row / 2.0 + 12.0, "end", "sub-label", &rule);
        svg.text(x1 + 6.0, y + row / 2.0 + 4.0, "start", "value-label", &format!("{} · {share}", count(n as u64)));
    }
    svg.x_axis(&nice_ticks(0.0, top, 5), short_count, "users");
    svg.finish()
}

pub fn timeline(run: &Run) -> Panel {
    let body = draw_timeline(run);
    Panel {
        id: "chart-timeline",
        title: "Stage timeline",
        how_to_read: "When each stage ran, from the start of the run: one bar per attempt (one lane per shard in a mapped stage) over a pale band from the stage\u{2019}s start to its end, so time spent loading, waiting or backing off shows. Red bars are failed attempts; a red bar followed by another on the same lane is a retry.",
        body,
        note: None,
    }
}

/// A stage's row on the timeline.
struct Row {
    name: String,
    status: String,
    lanes: usize,
    /// Stage start to end (or to the horizon while it runs), in seconds.
    span: Option<(f64, f64)>,
    bars: Vec<Bar>,
}

/// An attempt placed on the timeline.
struct Bar {
    lane: usize,
    start: f64,
    end: f64,
    class: &'static str,
    label: Option<String>,
    title: String,
}

fn draw_timeline(run: &Run) -> Result<String, String> {
    let stages = run.stages();
    if stages.is_empty() {
        return Err("the run record lists no stages".to_string());
    }
    let first_attempt = stages
        .iter()
        .flat_map(|s| s.attempts())
        .filter_map(|a| text(a, "started").and_then(parse_time))
        .min();
    let Some(origin) = run.started().or(first_attempt) else {
        return Err("no stage has started yet".to_string());
    };
    // Attempts still going (or cut off by a kill) run to the last moment the record knows.
    let horizon = run.ended().map(|e| seconds(origin, e)).unwrap_or(0.0);

    let mut rows: Vec<Row> = Vec::new();
    let mut end_max = horizon;
    for stage in &stages {
        let attempts = stage.attempts();
        let shards: BTreeSet<Option<u64>> = attempts.iter().map(|a| a.get("shard").and_then(Value::as_u64)).collect();
        let lanes: Vec<Option<u64>> = shards.into_iter().collect();
        let mut bars = Vec::new();
        for a in &attempts {
            let Some(start) = text(a, "started").and_then(parse_time) else { continue };
            let ended = text(a, "ended").and_then(parse_time);
            let start = seconds(origin, start);
            let end = ended.map(|e| seconds(origin, e)).unwrap_or(horizon.max(start));
            end_max = end_max.max(end);
            let shard = a.get("shard").and_then(Value::as_u64);
            let lane = lanes.iter().position(|l| *l == shard).unwrap_or(0);
            let number = a.get("attempt").and_then(Value::as_u64).unwrap_or(1);
            let error = a.get("error").filter(|e| e.is_object());
            let class = match (error, ended) {
                (Some(_), _) => "attempt failed",
                (None, None) => "attempt running",
                (None, Some(_)) => "attempt ok",
            };
            let mut title = stage.name().to_string();
            if let Some(s) = shard {
                title.push_str(&format!(" shard {s}"));
            }
            title.push_str(&format!(", attempt {number}: {}", duration(end - start)));
            match (error, ended) {
                (Some(e), _) => title.push_str(&format!(", failed ({}: {})", text(e, "kind").unwrap_or("error"), text(e, "message").unwrap_or(""))),
                (None, None) => title.push_str(", not finished"),
                _ => {}
            }
            bars.push(Bar { lane, start, end, class, label: (number > 1).then(|| format!("#{number}")), title });
        }
        // The stage's own span shows time spent outside attempts: loading a
        // plugin, waiting for a map slot, backing off between retries.
        let span = stage.started().map(|s| {
            let start = seconds(origin, s);
            let end = stage.ended().map(|e| seconds(origin, e)).unwrap_or(horizon.max(start));
            end_max = end_max.max(end);
            (start, end)
        });
        rows.push(Row { name: stage.name().to_string(), status: stage.status().to_string(), lanes: lanes.len().max(1), span, bars });
    }

    let span = nice_ceiling(end_max.max(0.001));
    let lane_height = 12.0;
    let row_gap = 12.0;
    let heights: Vec<f64> = rows.iter().map(|r| r.lanes as f64 * lane_height + row_gap).collect();
    let longest = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(6).min(NAME_CHARS);
    let mut frame = Frame::new(720.0, 0.0, (0.0, span), (0.0, 1.0));
    frame.top = 40.0;
    frame.left = 16.0 + longest as f64 * 7.0;
    frame.right = 90.0;
    frame.height = frame.top + heights.iter().sum::<f64>() + frame.bottom;
    let mut svg = Svg::new(frame, "timeline", "Stage timeline: attempts over the run's time");
    svg.plot_area();
    let mut y = frame.plot_top();
    for (row, h) in rows.iter().zip(&heights) {
        let middle = y + h / 2.0 + 4.0;
        svg.text(frame.plot_left() - 6.0, middle, "end", "bar-label", &short_name(&row.name));
        if let Some((start, end)) = row.span {
            let x0 = frame.px(start);
            let title = format!("{}: {} from start to {}", row.name, duration(end - start), row.status);
            svg.rect(x0, y + 3.0, (frame.px(end) - x0).max(2.0), h - 6.0, "stage-span", &title);
        }
        if row.bars.is_empty() {
            svg.text(frame.plot_left() + 6.0, middle, "start", "sub-label", &format!("did not run ({})", row.status));
        } else {
            let last = row.bars.iter().map(|b| b.end).chain(row.span.map(|s| s.1)).fold(0.0, f64::max);
            let class = match row.status.as_str() {
                "committed" => "sub-label",
                "running" | "pending" => "sub-label status-running",
                _ => "sub-label status-bad",
            };
            svg.text(frame.px(last) + 6.0, middle, "start", class, &row.status);
        }
        for bar in &row.bars {
            let x0 = frame.px(bar.start);
            // Very short attempts still get a visible sliver.
            let width = (frame.px(bar.end) - x0).max(2.0);
            let top = y + row_gap / 2.0 + bar.lane as f64 * lane_height;
            svg.rect(x0, top + 1.0, width, lane_height - 2.0, bar.class, &bar.title);
            if let Some(label) = &bar.label
                && width > 22.0 {
                    svg.text(x0 + 3.0, top + lane_height - 3.0, "start", "bar-inner-label", label);
                }
        }
        y += h;
        svg.line((frame.plot_left(), y), (frame.plot_right(), y), "row-rule");
    }
    svg.x_axis(&nice_ticks(0.0, span, 6), |t| time_tick(t, span), "time since the run started");
    svg.legend(frame.plot_left(), 22.0, &[
        ("attempt ok", "attempt succeeded".to_string()),
        ("attempt failed", "attempt failed".to_string()),
        ("attempt running", "not finished".to_string()),
        ("stage-span", "stage, start to end".to_string()),
    ]);
    Ok(svg.finish())
}

/// Axis labels in one unit across the axis: `250 ms`, `4 s`, `2.5 min`.
fn time_tick(t: f64, span: f64) -> String {
    if span < 2.0 {
        format!("{} ms", number((t * 1000.0).round()))
    } else if span < 180.0 {
        format!("{} s", number(t))
    } else {
        format!("{} min", number(t / 60.0))
    }
}
