//! The WIT `log` interface: every guest may log; nothing here can fail.

use wasmtime::component::HasData;

use crate::capabilities::trace::{self, Size, Tracer};
use crate::runtime::bindings::log::{self, Level};

/// Guests can't flood the host's log: lines past this many per call are counted, not printed.
const MAX_LINES: usize = 10_000;
const MAX_LINE_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

pub struct LogHost {
    run_id: String,
    stage: String,
    plugin: String,
    lines: usize,
    pub metrics: Vec<Metric>,
    tracer: Option<Tracer>,
}

pub struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut LogHost;
}

impl LogHost {
    pub fn new(run_id: &str, stage: &str, plugin: &str) -> Self {
        Self { run_id: run_id.into(), stage: stage.into(), plugin: plugin.into(), lines: 0, metrics: Vec::new(), tracer: None }
    }

    /// Reports every call to `tracer` (`--trace`).
    pub fn traced(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// Lines that were dropped because the guest logged too much.
    pub fn suppressed_lines(&self) -> usize {
        self.lines.saturating_sub(MAX_LINES)
    }
}

impl log::Host for LogHost {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "log.log", Size::bytes(message.len()), || self.write_line(level, message).map(|()| ((), Size::default())))
    }

    fn metric(&mut self, name: String, value: f64, unit: String) -> wasmtime::Result<()> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "log.metric", Size::bytes(name.len() + 8 + unit.len()), || {
            self.keep_metric(name, value, unit).map(|()| ((), Size::default()))
        })
    }
}

impl LogHost {
    fn write_line(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.lines += 1;
        if self.lines > MAX_LINES {
            return Ok(());
        }
        let mut message = message;
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let (run_id, stage, plugin) = (&self.run_id, &self.stage, &self.plugin);
        match level {
            Level::Trace => tracing::trace!(target: "engage::guest", run_id, stage, plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "engage::guest", run_id, stage, plugin, "{message}"),
            Level::Info => tracing::info!(target: "engage::guest", run_id, stage, plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "engage::guest", run_id, stage, plugin, "{message}"),
            Level::Error => tracing::error!(target: "engage::guest", run_id, stage, plugin, "{message}"),
        }
        Ok(())
    }

    fn keep_metric(&mut self, name: String, value: f64, unit: String) -> wasmtime::Result<()> {
        let (run_id, stage, plugin) = (&self.run_id, &self.stage, &self.plugin);
        tracing::info!(target: "engage::metric", run_id, stage, plugin, metric = %name, value, unit = %unit);
        if self.metrics.len() < MAX_LINES {
            self.metrics.push(Metric { name, value, unit });
        }
        Ok(())
    }
}
