//! `--trace`: every capability call a guest makes, one line on stderr per call
//! (interface.function, what went in, what came back, time), and a total per
//! capability at the end. The WIT host impls wrap each function in [`call`], so
//! no backend and no guest knows it is traced.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::runtime::HostError;
use crate::runtime::limits::format_bytes;

/// What crossed the boundary one way: bytes, and rows when it was a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size {
    pub bytes: u64,
    pub rows: Option<u64>,
}

impl Size {
    pub fn bytes(bytes: usize) -> Self {
        Self { bytes: bytes as u64, rows: None }
    }

    pub fn table(rows: usize, bytes: usize) -> Self {
        Self { bytes: bytes as u64, rows: Some(rows as u64) }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rows {
            Some(rows) => write!(f, "{rows} rows, {}", format_bytes(self.bytes)),
            None => f.write_str(&format_bytes(self.bytes)),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Total {
    calls: u64,
    failed: u64,
    bytes_in: u64,
    bytes_out: u64,
    rows_out: u64,
    time: Duration,
}

/// The trace of one process: its lines go to a sink (stderr unless a test gives one), its totals are kept.
pub struct CallTrace {
    sink: Mutex<Box<dyn Write + Send>>,
    totals: Mutex<BTreeMap<String, Total>>,
}

impl CallTrace {
    pub fn to_stderr() -> Arc<Self> {
        Self::to(Box::new(std::io::stderr()))
    }

    pub fn to(sink: Box<dyn Write + Send>) -> Arc<Self> {
        Arc::new(Self { sink: Mutex::new(sink), totals: Mutex::new(BTreeMap::new()) })
    }

    fn record(&self, stage: &str, function: &str, args: Size, outcome: &Result<Size, String>, elapsed: Duration) {
        let capability = function.split('.').next().unwrap_or(function).to_string();
        {
            let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            let total = totals.entry(capability).or_default();
            total.calls += 1;
            total.bytes_in += args.bytes;
            total.time += elapsed;
            match outcome {
                Ok(size) => {
                    total.bytes_out += size.bytes;
                    total.rows_out += size.rows.unwrap_or(0);
                }
                Err(_) => total.failed += 1,
            }
        }
        let result = match outcome {
            Ok(size) => size.to_string(),
            Err(e) => e.clone(),
        };
        let line =
            format!("trace {stage}: {function:<20} in {:<16} out {result:<24} {:>9.3} ms", args.to_string(), elapsed.as_secs_f64() * 1e3);
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(sink, "{}", line.trim_end());
    }

    /// One line per capability: calls, failures, bytes each way, rows returned, time.
    pub fn total_lines(&self) -> Vec<String> {
        let totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        totals
            .iter()
            .map(|(capability, t)| {
                let rows = if t.rows_out > 0 { format!(" ({} rows)", t.rows_out) } else { String::new() };
                format!(
                    "trace total {capability}: {} calls ({} failed), in {}, out {}{rows}, {:.3} ms",
                    t.calls,
                    t.failed,
                    format_bytes(t.bytes_in),
                    format_bytes(t.bytes_out),
                    t.time.as_secs_f64() * 1e3
                )
            })
            .collect()
    }

    /// Writes the totals to the sink (nothing when no guest called anything).
    pub fn finish(&self) {
        let lines = self.total_lines();
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if lines.is_empty() {
            let _ = writeln!(sink, "trace total: no capability calls");
        }
        for line in lines {
            let _ = writeln!(sink, "{line}");
        }
        let _ = sink.flush();
    }
}

/// The trace as one guest's host impls see it: the shared trace and the stage it runs as.
#[derive(Clone)]
pub struct Tracer {
    pub trace: Arc<CallTrace>,
    pub stage: String,
}

/// How a failed call reads in the trace.
pub trait Failure {
    fn describe(&self) -> String;
}

impl Failure for HostError {
    fn describe(&self) -> String {
        match self {
            HostError::Capability(e) => format!("error {:?}: {}", e.code, one_line(&e.message)),
            HostError::Trap(e) => format!("stopped: {}", one_line(&e.to_string())),
        }
    }
}

impl Failure for wasmtime::Error {
    fn describe(&self) -> String {
        format!("stopped: {}", one_line(&self.to_string()))
    }
}

fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 200 { flat } else { flat.chars().take(200).collect::<String>() + " ..." }
}

/// Runs one capability function; when traced, records it. `body` returns the result and its size.
pub fn call<T, E: Failure>(
    tracer: Option<&Tracer>,
    function: &str,
    args: Size,
    body: impl FnOnce() -> Result<(T, Size), E>,
) -> Result<T, E> {
    let Some(tracer) = tracer else { return body().map(|(value, _)| value) };
    let started = Instant::now();
    let result = body();
    let elapsed = started.elapsed();
    let outcome = match &result {
        Ok((_, size)) => Ok(*size),
        Err(e) => Err(e.describe()),
    };
    tracer.trace.record(&tracer.stage, function, args, &outcome, elapsed);
    result.map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_per_call_and_a_total_per_capability() {
        let out = Shared::default();
        let tracer = Tracer { trace: CallTrace::to(Box::new(out.clone())), stage: "prepare".into() };
        let rows: Result<u64, HostError> = call(Some(&tracer), "sql.query", Size::bytes(30), || Ok((7, Size::table(7, 2048))));
        assert_eq!(rows.ok(), Some(7));
        let denied: Result<(), HostError> = call(Some(&tracer), "storage.put", Size::bytes(100), || {
            Err(crate::capabilities::CapabilityError::not_found("no such bucket").into())
        });
        assert!(denied.is_err());
        tracer.trace.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("trace prepare: sql.query") && lines[0].contains("in 30 B") && lines[0].contains("out 7 rows, 2.0 KiB"),
            "{text}"
        );
        assert!(lines[1].contains("storage.put") && lines[1].contains("error NotFound: no such bucket"), "{text}");
        assert!(text.contains("trace total sql: 1 calls (0 failed), in 30 B, out 2.0 KiB (7 rows)"), "{text}");
        assert!(text.contains("trace total storage: 1 calls (1 failed), in 100 B, out 0 B"), "{text}");
    }
}
