//! Charts of model quality and drift from plain numbers, shared by the run
//! report and the `engage model eval` page: lift and cumulative gain by score
//! decile, mean |SHAP| per feature, PSI per feature against its threshold.

use super::format::{metric, number, percent};
use super::svg::{Frame, Svg, nice_ceiling, nice_ticks};

/// One model's deciles (best scores first): lift and cumulative gain.
pub struct DecileSeries {
    pub name: String,
    pub lift: Vec<f64>,
    pub gain: Vec<f64>,
}

/// Lift per decile as grouped bars, one colour per model, with the "no lift" line at 1.
pub fn lift(series: &[DecileSeries]) -> String {
    let deciles = series.iter().map(|s| s.lift.len()).max().unwrap_or(0).max(1);
    let top = nice_ceiling(series.iter().flat_map(|s| s.lift.iter().copied()).fold(1.0, f64::max));
    let mut frame = Frame::new(520.0, 320.0, (0.0, deciles as f64), (0.0, top));
    frame.top = 40.0;
    let mut svg = Svg::new(frame, "lift", "Lift by score decile");
    svg.plot_area();
    svg.y_axis(&nice_ticks(0.0, top, 5), |t| format!("{}×", number(t)), "lift (rate ÷ overall rate)");
    let group = frame.plot_width() / deciles as f64;
    let width = (group - 8.0) / series.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        for (d, &l) in s.lift.iter().enumerate() {
            let x = frame.px(d as f64) + 4.0 + k as f64 * width;
            let y = frame.py(l);
            let title = format!("{}, decile {}: lift {}", s.name, d + 1, metric(l));
            svg.rect(x, y, width - 1.0, frame.plot_bottom() - y, &format!("bar series-{k}"), &title);
        }
    }
    svg.data_line((0.0, 1.0), (deciles as f64, 1.0), "threshold");
    let ticks: Vec<f64> = (0..deciles).map(|d| d as f64 + 0.5).collect();
    svg.x_axis(&ticks, |t| format!("{}", t as usize + 1), "score decile (1 = highest scores)");
    let legend: Vec<(String, String)> = series.iter().enumerate().map(|(k, s)| (format!("series-{k}"), s.name.clone())).collect();
    let entries: Vec<(&str, String)> = legend.iter().map(|(c, n)| (c.as_str(), n.clone())).collect();
    svg.legend(frame.plot_left(), 22.0, &entries);
    svg.finish()
}

/// Cumulative gain curves from (0, 0), against the random diagonal.
pub fn gain(series: &[DecileSeries]) -> String {
    let mut frame = Frame::new(420.0, 400.0, (0.0, 1.0), (0.0, 1.0));
    frame.top = 40.0;
    let mut svg = Svg::new(frame, "gain", "Cumulative gain by share of users contacted");
    svg.plot_area();
    let ticks = nice_ticks(0.0, 1.0, 5);
    svg.y_axis(&ticks, percent, "share of all positives found");
    svg.x_axis(&ticks, percent, "share of users, highest scores first");
    svg.data_line((0.0, 0.0), (1.0, 1.0), "diagonal");
    for (k, s) in series.iter().enumerate() {
        let n = s.gain.len().max(1) as f64;
        let points: Vec<(f64, f64)> = std::iter::once((0.0, 0.0)).chain(s.gain.iter().enumerate().map(|(d, &g)| ((d + 1) as f64 / n, g))).collect();
        svg.polyline(&points, &format!("curve curve-{k}"));
    }
    let mut entries: Vec<(String, String)> = series.iter().enumerate().map(|(k, s)| (format!("line curve curve-{k}"), s.name.clone())).collect();
    entries.push(("line diagonal".into(), "random".into()));
    let entries: Vec<(&str, String)> = entries.iter().map(|(c, n)| (c.as_str(), n.clone())).collect();
    svg.legend(frame.plot_left(), 22.0, &entries);
    svg.finish()
}

/// Horizontal bars, one per feature, longest first; `marker` draws a dashed
/// threshold line and colours bars beyond it as warnings.
pub fn feature_bars(class: &str, label: &str, features: &[(String, f64)], axis: &str, marker: Option<f64>) -> String {
    let longest = features.iter().map(|f| f.0.chars().count()).max().unwrap_or(8).min(30);
    let top = nice_ceiling(features.iter().map(|f| f.1).chain(marker).fold(0.0, f64::max).max(1e-9));
    let row = 22.0;
    let mut frame = Frame::new(640.0, 0.0, (0.0, top), (0.0, features.len() as f64));
    frame.left = 16.0 + longest as f64 * 7.0;
    frame.right = 64.0;
    frame.height = frame.top + features.len() as f64 * row + frame.bottom;
    let mut svg = Svg::new(frame, class, label);
    svg.plot_area();
    for (i, (name, v)) in features.iter().enumerate() {
        let y = frame.plot_top() + i as f64 * row;
        let x1 = frame.px(*v);
        let warn = marker.is_some_and(|m| *v > m);
        let bar = if warn { "bar warn-bar" } else { "bar importance-bar" };
        svg.rect(frame.plot_left(), y + 3.0, x1 - frame.plot_left(), row - 6.0, bar, &format!("{name}: {}", number(*v)));
        let shown: String = name.chars().take(30).collect();
        svg.text(frame.plot_left() - 6.0, y + row / 2.0 + 4.0, "end", "bar-label", &shown);
        svg.text(x1 + 4.0, y + row / 2.0 + 4.0, "start", "value-label", &number(*v));
    }
    if let Some(m) = marker {
        svg.data_line((m, 0.0), (m, features.len() as f64), "threshold");
    }
    svg.x_axis(&nice_ticks(0.0, top, 5), number, axis);
    svg.finish()
}
