//! `executor = "processes"`: each shard attempt is a child `engage` process on this
//! machine, with the same storage root, plugins and runtime config as this one.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Exit, ShardBackend, ShardTask, TIMED_OUT};
use crate::pipeline::step::StepError;

pub struct Processes {
    engage: PathBuf,
    root: Option<PathBuf>,
    plugin_dir: PathBuf,
}

impl Processes {
    pub fn new(root: Option<PathBuf>, plugin_dir: PathBuf) -> Result<Self> {
        let engage = std::env::current_exe().context("locating the engage executable for shard processes")?;
        Ok(Self { engage, root, plugin_dir })
    }
}

impl ShardBackend for Processes {
    fn run(&self, task: &ShardTask, args: &[String], deadline: Duration) -> Result<Exit, StepError> {
        let mut command = Command::new(&self.engage);
        command.args(args).env("ENGAGE_PLUGIN_DIR", &self.plugin_dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        if let Some(root) = &self.root {
            command.env("ENGAGE_ROOT", root);
        }
        let child = command
            .spawn()
            .map_err(|e| StepError::io(format!("stage '{}' shard {}: starting {}: {e}", task.stage, task.shard, self.engage.display())))?;
        Ok(wait_for(child, deadline))
    }

    fn allowance(&self) -> Duration {
        Duration::from_secs(30)
    }
}

/// Waits for `child` until `deadline` (then kills it); the detail ends with the last line it wrote to stderr.
pub(super) fn wait_for(mut child: Child, deadline: Duration) -> Exit {
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break child.wait().ok(),
        }
    };
    let last_line = stderr.and_then(|t| t.join().ok()).and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string));
    let mut detail = match status {
        Some(status) => describe(status),
        None => format!("{TIMED_OUT} {}s", deadline.as_secs()),
    };
    if let Some(line) = last_line {
        detail.push_str(": ");
        detail.push_str(line.trim());
    }
    Exit { success: status.is_some_and(|s| s.success()), detail }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}
