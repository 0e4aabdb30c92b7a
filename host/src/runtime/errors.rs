//! Why a guest stopped, in words a person can act on. Errors from wasmtime are
//! walked to their root cause and classified; the guest's own output (a Rust
//! panic message, a Python traceback) and its wasm backtrace come along.

use std::fmt;
use std::time::Duration;

use crate::capabilities::grants::Denied;
use crate::capabilities::CapabilityError;
use crate::plugins::schema_check::NonFinite;
use crate::runtime::limits::{GuestLimits, format_bytes};

/// An error a capability hands the guest, or a reason to stop it.
pub enum HostError {
    Capability(CapabilityError),
    Trap(wasmtime::Error),
}

impl From<CapabilityError> for HostError {
    fn from(e: CapabilityError) -> Self {
        HostError::Capability(e)
    }
}

impl From<Denied> for HostError {
    fn from(e: Denied) -> Self {
        HostError::Trap(wasmtime::Error::new(e))
    }
}

/// The guest grew its memory past the limit (raised by our resource limiter).
#[derive(Debug, Clone, thiserror::Error)]
#[error("memory limit of {} exceeded (the guest asked for {})", distinct_bytes(*limit, *requested).0, distinct_bytes(*limit, *requested).1)]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub requested: usize,
}

/// Two byte counts as people read them, with the exact counts added when they would
/// read the same (`1.0 GiB (1073741824 bytes)` beside `1.0 GiB (1073807360 bytes)`).
fn distinct_bytes(a: usize, b: usize) -> (String, String) {
    let (short_a, short_b) = (format_bytes(a as u64), format_bytes(b as u64));
    if short_a == short_b && a != b { (format!("{short_a} ({a} bytes)"), format!("{short_b} ({b} bytes)")) } else { (short_a, short_b) }
}

/// A capability call would have moved more bytes than the output limit allows.
#[derive(Debug, Clone, thiserror::Error)]
#[error("output limit of {} exceeded: {what} is {}", format_bytes(*limit as u64), format_bytes(*size as u64))]
pub struct OutputLimitExceeded {
    pub what: String,
    pub size: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Grew linear memory past `limits.memory_bytes`.
    MemoryLimit,
    /// Ran past its deadline.
    Timeout,
    /// Returned or wrote more than `limits.output_bytes`.
    OutputLimit,
    /// Used a capability or resource outside its grants.
    Denied,
    /// Trapped: a panic, an unreachable, an out-of-bounds access.
    Trap,
    /// Returned an error of its own.
    PluginError,
    /// Returned something that breaks the contract (wrong schema, row count, bad IPC).
    BadOutput,
    /// Could not be loaded or instantiated.
    Load,
}

/// A guest failure: which stage and plugin, what happened, and what the guest printed.
#[derive(Debug, Clone)]
pub struct GuestError {
    pub stage: String,
    pub plugin: String,
    pub kind: FailureKind,
    pub message: String,
    /// The tail of what the guest wrote to stdout/stderr (panic messages land here).
    pub guest_output: String,
    /// Wasm frames, innermost first, when the guest trapped.
    pub backtrace: Vec<String>,
    /// A transform returned NaN or infinity: where, so a caller that knows where the batch
    /// sits in its input can name the input row ([`GuestError::locate_rows`]).
    pub non_finite: Option<NonFinite>,
}

impl std::error::Error for GuestError {}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `engage plugin test` and `publish` run a plugin outside any pipeline: no stage to name.
        if self.stage.is_empty() {
            write!(f, "plugin {}: {}", self.plugin, self.message)?;
        } else {
            write!(f, "stage '{}' (plugin {}): {}", self.stage, self.plugin, self.message)?;
        }
        if let Some(panic) = panic_message(&self.guest_output) {
            write!(f, "; guest said: {panic}")?;
        }
        Ok(())
    }
}

impl GuestError {
    pub fn new(stage: &str, plugin: &str, kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            stage: stage.to_string(),
            plugin: plugin.to_string(),
            kind,
            message: message.into(),
            guest_output: String::new(),
            backtrace: Vec::new(),
            non_finite: None,
        }
    }

    /// The failing batch started at row `offset` of the input: a NaN/infinity error names the
    /// input row rather than the batch's. Other errors are left as they are.
    pub fn locate_rows(mut self, offset: usize) -> Self {
        if let Some(bad) = &mut self.non_finite {
            bad.locate(offset);
            self.message = bad.to_string();
        }
        self
    }

    /// Everything we know, for logs and `--verbose` output.
    pub fn report(&self) -> String {
        match self.detail() {
            Some(detail) => format!("{self}\n{detail}"),
            None => self.to_string(),
        }
    }

    /// The guest's output and wasm backtrace under their headings, when there are any.
    pub fn detail(&self) -> Option<String> {
        let mut text = String::new();
        if !self.guest_output.trim().is_empty() {
            text.push_str("\n--- guest output ---\n");
            text.push_str(self.guest_output.trim_end());
        }
        if !self.backtrace.is_empty() {
            text.push_str("\n--- wasm backtrace ---\n");
            text.push_str(&self.backtrace.join("\n"));
        }
        (!text.is_empty()).then(|| text.trim_start().to_string())
    }

    /// Classifies an error that came out of a call into a guest.
    pub fn from_wasmtime(stage: &str, plugin: &str, error: &wasmtime::Error, limits: &GuestLimits, guest_output: String) -> Self {
        let backtrace: Vec<String> = error
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|bt| {
                bt.frames()
                    .iter()
                    .map(|frame| {
                        // Rust symbols demangled without their hash: `std::panicking::panic_with_hook`.
                        let name = format!("{:#}", rustc_demangle::demangle(frame.func_name().unwrap_or("<unnamed>")));
                        match frame.symbols().first().and_then(|s| Some((s.file()?, s.line()?))) {
                            Some((file, line)) => format!("  {name} at {file}:{line}"),
                            None => format!("  {name}"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (kind, message) = match classify(error, limits.timeout) {
            (FailureKind::Trap, message) if message.contains(HOSTCALL_FUEL_EXHAUSTED) => {
                (FailureKind::OutputLimit, hostcall_fuel_message(limits, backtrace.first().map(|f| f.trim())))
            }
            other => other,
        };
        Self { stage: stage.to_string(), plugin: plugin.to_string(), kind, message, guest_output, backtrace, non_finite: None }
    }
}

/// Wasmtime's words when one call moved more than the store's hostcall fuel (its error type is private).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// What to tell the author when one call between guest and host carried more than
/// [`crate::runtime::hostcall_fuel`] allows: a limit, not a trap worth retrying.
fn hostcall_fuel_message(limits: &GuestLimits, frame: Option<&str>) -> String {
    let call = frame.map(|f| format!(" (in {})", f.split(" at ").next().unwrap_or(f))).unwrap_or_default();
    format!(
        "output limit of {} exceeded: one call between the guest and the host{call} carried more than the {} a call may move; \
         write large objects in parts with storage.open-writer, or raise the stage's limits",
        format_bytes(limits.output_bytes as u64),
        format_bytes(crate::runtime::hostcall_fuel(limits) as u64)
    )
}

fn classify(error: &wasmtime::Error, timeout: Duration) -> (FailureKind, String) {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<MemoryLimitExceeded>() {
            return (FailureKind::MemoryLimit, e.to_string());
        }
        if let Some(e) = cause.downcast_ref::<OutputLimitExceeded>() {
            return (FailureKind::OutputLimit, e.to_string());
        }
        if let Some(e) = cause.downcast_ref::<Denied>() {
            return (FailureKind::Denied, format!("denied {}: {}", e.capability, e.detail));
        }
        if let Some(e) = cause.downcast_ref::<CapabilityError>() {
            return (FailureKind::PluginError, e.message.clone());
        }
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        // WASI's exit carries only success or failure: any non-zero code arrives as 1.
        let how = if exit.0 == 0 { "with success" } else { "with failure" };
        return (FailureKind::Trap, format!("the guest exited ({how}, status {}) instead of returning a result", exit.0));
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => {
                (FailureKind::Timeout, format!("time limit of {:.1} s exceeded", timeout.as_secs_f64()))
            }
            wasmtime::Trap::UnreachableCodeReached => (FailureKind::Trap, "the guest trapped (panic or unreachable)".into()),
            other => (FailureKind::Trap, format!("the guest trapped: {other}")),
        };
    }
    let root = error.root_cause().to_string();
    (FailureKind::Trap, root)
}

/// The panic line of a Rust guest (`panicked at src/lib.rs:3:5:\nmessage`), or a
/// Python exception's last line, if the guest printed one.
fn panic_message(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let location = lines[i].split("panicked at").nth(1).unwrap_or("").trim().trim_end_matches(':');
        let message = lines.get(i + 1).copied().unwrap_or("").trim();
        return Some(format!("panicked at {location}: {message}"));
    }
    if lines.iter().any(|l| l.starts_with("Traceback")) {
        return lines.iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_error_shows_the_asked_amount_apart_from_the_limit() {
        let e = MemoryLimitExceeded { limit: 1 << 30, requested: (1 << 30) + (64 << 10) };
        assert_eq!(
            e.to_string(),
            "memory limit of 1.0 GiB (1073741824 bytes) exceeded (the guest asked for 1.0 GiB (1073807360 bytes))"
        );
        let e = MemoryLimitExceeded { limit: 64 << 20, requested: 96 << 20 };
        assert_eq!(e.to_string(), "memory limit of 64.0 MiB exceeded (the guest asked for 96.0 MiB)");
    }

    #[test]
    fn exhausted_hostcall_fuel_is_an_output_limit_not_a_trap() {
        let limits = GuestLimits { memory_bytes: 64 << 20, output_bytes: 1 << 20, ..GuestLimits::default() };
        let trap = wasmtime::Error::msg(
            "too much data is being copied between the host and the guest: fuel allocated for hostcalls has been exhausted",
        );
        let e = GuestError::from_wasmtime("save", "writer", &trap, &limits, String::new());
        assert_eq!(e.kind, FailureKind::OutputLimit);
        let text = e.to_string();
        assert!(text.starts_with("stage 'save' (plugin writer): output limit of 1.0 MiB exceeded: one call"), "{text}");
        assert!(text.contains("storage.open-writer"), "{text}");
    }
}
