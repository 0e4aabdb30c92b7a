//! What a guest prints on stdout and stderr, kept for error reports and the run
//! record: the last [`KEPT_BYTES`] of it, with a count of what was dropped.
//!
//! A guest may print as much as it likes. A capture that filled up and closed
//! the stream instead (wasmtime's `MemoryOutputPipe`) would fail the guest's next
//! write, which makes Rust's `println!` panic, and would lose the one line that
//! matters most: the panic message, which comes last.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much of the newest output is kept.
pub const KEPT_BYTES: usize = 1 << 20;

/// The most a guest may write in one call; it is always ready for more.
const WRITE_PERMIT: usize = 64 << 10;

/// A shared sink for a guest's stdout and stderr (clones write to the same tail).
#[derive(Clone)]
pub struct GuestOutput {
    tail: Arc<Mutex<Tail>>,
    kept: usize,
}

#[derive(Default)]
struct Tail {
    /// The newest bytes; trimmed back to the kept size once it holds twice that.
    bytes: Vec<u8>,
    /// Bytes dropped from the front so far.
    dropped: u64,
}

impl GuestOutput {
    pub fn new() -> Self {
        Self::keeping(KEPT_BYTES)
    }

    /// A capture that keeps the newest `kept` bytes.
    pub fn keeping(kept: usize) -> Self {
        Self { tail: Arc::new(Mutex::new(Tail::default())), kept }
    }

    fn append(&self, bytes: &[u8]) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.bytes.extend_from_slice(bytes);
        if tail.bytes.len() > 2 * self.kept {
            let excess = tail.bytes.len() - self.kept;
            tail.bytes.drain(..excess);
            tail.dropped += excess as u64;
        }
    }

    /// The kept output as text. When earlier output was dropped, it starts with a
    /// line saying how much, and at the first whole line of what is kept.
    pub fn text(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let start = tail.bytes.len().saturating_sub(self.kept);
        let dropped = tail.dropped + start as u64;
        if dropped == 0 {
            return String::from_utf8_lossy(&tail.bytes).into_owned();
        }
        let kept = &tail.bytes[start..];
        let first_line = kept.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        let dropped = dropped + first_line as u64;
        let kept = String::from_utf8_lossy(&kept[first_line..]);
        format!("[{dropped} bytes of earlier output not kept]\n{kept}")
    }
}

impl Default for GuestOutput {
    fn default() -> Self {
        Self::new()
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let output = GuestOutput::keeping(100);
        output.append(b"hello\n");
        output.append(b"world\n");
        assert_eq!(output.text(), "hello\nworld\n");
    }

    #[test]
    fn long_output_keeps_its_newest_whole_lines_and_says_how_much_went() {
        let output = GuestOutput::keeping(100);
        let mut written = 0;
        for i in 0..1000 {
            let line = format!("line {i}\n");
            written += line.len();
            output.append(line.as_bytes());
        }
        let last = "panicked at src/lib.rs:3:5: the last words\n";
        output.append(last.as_bytes());
        written += last.len();
        let text = output.text();
        let (note, kept) = text.split_once('\n').unwrap();
        assert!(kept.ends_with(last), "{text}");
        assert!(kept.starts_with("line "), "the kept part starts at a whole line: {text}");
        assert!(kept.len() <= 100, "{}", kept.len());
        let dropped: usize = note.trim_start_matches('[').split(' ').next().unwrap().parse().unwrap();
        assert_eq!(dropped + kept.len(), written, "{note}");
    }
}
