//! The progress bar of a long data command (`data generate`, `ingest`), on
//! stderr. indicatif draws nothing when stderr is not a terminal, so output
//! piped or captured stays as it was.

use std::fmt;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::data::RowProgress;
use crate::pipeline::summary::thousands;

/// A bar counting rows toward `total`, or a counter with a rate when the total is unknown.
pub fn rows_bar(what: &str, total: Option<u64>) -> ProgressBar {
    let template = match total {
        Some(_) => "{spinner} {prefix} [{bar:30}] {human_pos}/{human_len} rows  {rate}  eta {eta}",
        None => "{spinner} {prefix} {human_pos} rows  {rate}  {elapsed}",
    };
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    // indicatif's own `{per_sec}` prints four decimals.
    let rate = |state: &ProgressState, out: &mut dyn fmt::Write| {
        let _ = write!(out, "{}/s", thousands(state.per_sec() as u64));
    };
    bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Reports rows done to `bar`.
pub fn reporter(bar: &ProgressBar) -> RowProgress {
    let bar = bar.clone();
    RowProgress::new(move |rows| bar.inc(rows))
}
