//! Chart primitives as inline SVG text: a frame that maps data to pixels, axes
//! with ticks and labels, lines, polylines, bars, points and text. Styling is
//! by CSS class (the page's stylesheet), so charts follow the page's theme and
//! print the same way.

use std::fmt::Write;

use super::format::{escape, number};

/// A chart's canvas: its size, the margins around the plot area and the data
/// ranges the plot area spans.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Frame {
    /// A frame with room for tick labels and axis titles on the left and bottom.
    pub fn new(width: f64, height: f64, x: (f64, f64), y: (f64, f64)) -> Self {
        Frame { width, height, left: 64.0, right: 16.0, top: 16.0, bottom: 48.0, x, y }
    }

    pub fn plot_left(&self) -> f64 {
        self.left
    }
    pub fn plot_right(&self) -> f64 {
        self.width - self.right
    }
    pub fn plot_top(&self) -> f64 {
        self.top
    }
    pub fn plot_bottom(&self) -> f64 {
        self.height - self.bottom
    }
    pub fn plot_width(&self) -> f64 {
        self.plot_right() - self.plot_left()
    }
    pub fn plot_height(&self) -> f64 {
        self.plot_bottom() - self.plot_top()
    }

    /// Data x → pixel x.
    pub fn px(&self, x: f64) -> f64 {
        let (lo, hi) = self.x;
        let span = if hi > lo { hi - lo } else { 1.0 };
        self.plot_left() + (x - lo) / span * self.plot_width()
    }

    /// Data y → pixel y (up is larger).
    pub fn py(&self, y: f64) -> f64 {
        let (lo, hi) = self.y;
        let span = if hi > lo { hi - lo } else { 1.0 };
        self.plot_bottom() - (y - lo) / span * self.plot_height()
    }
}

/// An SVG document being written.
pub struct Svg {
    pub frame: Frame,
    out: String,
}

/// Pixel coordinates with one decimal: exact enough, and short.
fn c(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

impl Svg {
    /// Starts a chart; `label` is what screen readers say for it.
    pub fn new(frame: Frame, class: &str, label: &str) -> Self {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="chart {}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">"#,
            escape(class),
            c(frame.width),
            c(frame.height),
            c(frame.width),
            c(frame.height),
            escape(label)
        );
        out.push('\n');
        Svg { frame, out }
    }

    /// The plot area's outline; tests and readers locate data coordinates by it.
    pub fn plot_area(&mut self) {
        let f = self.frame;
        let _ = writeln!(
            self.out,
            r#"<rect class="plot-area" x="{}" y="{}" width="{}" height="{}"/>"#,
            c(f.plot_left()),
            c(f.plot_top()),
            c(f.plot_width()),
            c(f.plot_height())
        );
    }

    /// The x axis: ticks at `ticks` (data values, labelled by `label_of`) and a title.
    pub fn x_axis(&mut self, ticks: &[f64], label_of: impl Fn(f64) -> String, title: &str) {
        let f = self.frame;
        let y = f.plot_bottom();
        let _ = writeln!(self.out, r#"<g class="axis x-axis">"#);
        let _ = writeln!(self.out, r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/>"#, c(f.plot_left()), c(y), c(f.plot_right()), c(y));
        for &t in ticks {
            let x = f.px(t);
            let _ = writeln!(
                self.out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                c(x),
                c(y),
                c(x),
                c(y + 5.0),
                c(x),
                c(y + 18.0),
                escape(&label_of(t))
            );
        }
        let _ = writeln!(
            self.out,
            r#"<text class="axis-title" x="{}" y="{}" text-anchor="middle">{}</text></g>"#,
            c(f.plot_left() + f.plot_width() / 2.0),
            c(f.height - 8.0),
            escape(title)
        );
    }

    /// The y axis with light grid lines across the plot at each tick.
    pub fn y_axis(&mut self, ticks: &[f64], label_of: impl Fn(f64) -> String, title: &str) {
        let f = self.frame;
        let x = f.plot_left();
        let _ = writeln!(self.out, r#"<g class="axis y-axis">"#);
        for &t in ticks {
            let y = f.py(t);
            let _ = writeln!(
                self.out,
                r#"<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/><line x1="{}" y1="{}" x2="{}" y2="{}"/><text x="{}" y="{}" text-anchor="end">{}</text>"#,
                c(x),
                c(y),
                c(f.plot_right()),
                c(y),
                c(x - 5.0),
                c(y),
                c(x),
                c(y),
                c(x - 8.0),
                c(y + 4.0),
                escape(&label_of(t))
            );
        }
        let _ = writeln!(self.out, r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/>"#, c(x), c(f.plot_top()), c(x), c(f.plot_bottom()));
        let cy = f.plot_top() + f.plot_height() / 2.0;
        let _ = writeln!(
            self.out,
            r#"<text class="axis-title" x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text></g>"#,
            c(cy),
            c(cy),
            escape(title)
        );
    }

    /// A line between two data points.
    pub fn data_line(&mut self, from: (f64, f64), to: (f64, f64), class: &str) {
        let f = self.frame;
        self.line((f.px(from.0), f.py(from.1)), (f.px(to.0), f.py(to.1)), class);
    }

    /// A line between two pixel points.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), class: &str) {
        let _ = writeln!(
            self.out,
            r#"<line class="{}" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
            escape(class),
            c(from.0),
            c(from.1),
            c(to.0),
            c(to.1)
        );
    }

    /// A polyline through data points.
    pub fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        let f = self.frame;
        let coords: Vec<String> = points.iter().map(|&(x, y)| format!("{},{}", c(f.px(x)), c(f.py(y)))).collect();
        let _ = writeln!(self.out, r#"<polyline class="{}" points="{}"/>"#, escape(class), coords.join(" "));
    }

    /// A rectangle in pixels with a hover title.
    pub fn rect(&mut self, x: f64, y: f64, width: f64, height: f64, class: &str, title: &str) {
        let _ = writeln!(
            self.out,
            r#"<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
            escape(class),
            c(x),
            c(y),
            c(width.max(0.0)),
            c(height.max(0.0)),
            escape(title)
        );
    }

    /// A point at data coordinates, radius in pixels, with a hover title.
    pub fn point(&mut self, at: (f64, f64), radius: f64, class: &str, title: &str) {
        let f = self.frame;
        let _ = writeln!(
            self.out,
            r#"<circle class="{}" cx="{}" cy="{}" r="{}"><title>{}</title></circle>"#,
            escape(class),
            c(f.px(at.0)),
            c(f.py(at.1)),
            c(radius),
            escape(title)
        );
    }

    /// Text at pixel coordinates; `anchor` is start, middle or end.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, content: &str) {
        let _ = writeln!(
            self.out,
            r#"<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>"#,
            escape(class),
            c(x),
            c(y),
            escape(anchor),
            escape(content)
        );
    }

    /// A legend in one row (swatch, label, swatch, label…) starting at (x, y);
    /// a class `line <class>` draws a line swatch. Charts keep a band above the
    /// plot for it, so it never covers data.
    pub fn legend(&mut self, x: f64, y: f64, entries: &[(&str, String)]) {
        let _ = writeln!(self.out, r#"<g class="legend">"#);
        let mut at = x;
        for (class, label) in entries {
            // Lines are keyed by a stroke in their own style, areas by a box.
            if let Some(line) = class.strip_prefix("line ") {
                let _ = write!(
                    self.out,
                    r#"<line class="{}" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
                    escape(line),
                    c(at),
                    c(y - 4.0),
                    c(at + 14.0),
                    c(y - 4.0)
                );
            } else {
                let _ = write!(
                    self.out,
                    r#"<rect class="swatch {}" x="{}" y="{}" width="14" height="10"/>"#,
                    escape(class),
                    c(at),
                    c(y - 9.0)
                );
            }
            let _ = writeln!(self.out, r#"<text x="{}" y="{}">{}</text>"#, c(at + 19.0), c(y), escape(label));
            // About 6.5 px per character at the legend's font size.
            at += 19.0 + label.chars().count() as f64 * 6.5 + 18.0;
        }
        let _ = writeln!(self.out, "</g>");
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// About `approx` round tick values (steps of 1, 2 or 5 × 10ⁿ) covering [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, approx: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / approx.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Rounded so 3 × 0.2 prints as 0.6.
    (first..=last).map(|i| (i as f64 * step * 1e9).round() / 1e9).collect()
}

/// The smallest nice round number at or above `v` (the top of a count axis).
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= v).unwrap_or(v)
}

/// Tick labels for counts: `1,200`, `15k`, `2.5M`.
pub fn short_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", number(v / 1e6))
    } else if v >= 1e4 {
        format!("{}k", number(v / 1e3))
    } else {
        number(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(0.0, 347.0, 5), vec![0.0, 100.0, 200.0, 300.0]);
        assert_eq!(nice_ceiling(347.0), 400.0);
        assert_eq!(nice_ceiling(1688.0), 2000.0);
        assert_eq!(short_count(15000.0), "15k");
    }

    #[test]
    fn frame_maps_corners_of_the_data_to_corners_of_the_plot() {
        let f = Frame::new(400.0, 300.0, (0.0, 1.0), (0.0, 1.0));
        assert_eq!((f.px(0.0), f.py(0.0)), (f.plot_left(), f.plot_bottom()));
        assert_eq!((f.px(1.0), f.py(1.0)), (f.plot_right(), f.plot_top()));
    }
}
