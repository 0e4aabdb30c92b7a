//! The ECS stand-in (tests/support/ecs_standin.py) on a free 127.0.0.1 port: it
//! checks SigV4 and the request bodies and runs each task's container command as a
//! local `engage` process. Python comes from `$ENGAGE_PYTHON`; the server is
//! killed when the handle drops.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::moto::{REGION, free_port};

pub const ACCESS_KEY: &str = "AKIDECSSTANDIN";
pub const SECRET_KEY: &str = "ecs-standin-secret";
pub const CLUSTER: &str = "engage-weekly";
pub const CONTAINER: &str = "engage";

pub struct EcsStandIn {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl EcsStandIn {
    /// `extra`: `--throttle-once`, `--fail-first-task-of-shard N`. Tasks run `engage` with `env` added.
    pub fn start(log_dir: &Path, extra: &[&str], env: &[(&str, &Path)]) -> EcsStandIn {
        let python = std::env::var("ENGAGE_PYTHON").unwrap_or_else(|_| {
            panic!("set ENGAGE_PYTHON to a Python 3 (scripts/test.sh makes .venv; the ECS stand-in needs only the standard library)")
        });
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/ecs_standin.py");
        let port = free_port();
        let log = log_dir.join(format!("ecs-tasks-{port}.jsonl"));
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args(["--port", &port.to_string(), "--engage", env!("CARGO_BIN_EXE_engage"), "--log"])
            .arg(&log)
            .args([
                "--cluster",
                CLUSTER,
                "--container",
                CONTAINER,
                "--region",
                REGION,
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting the ECS stand-in with {python}: {e}"));
        let mut standin = EcsStandIn { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = standin.child.try_wait() {
                panic!("the ECS stand-in exited ({status}) before listening: run {} by hand to see why", script.display());
            }
            assert!(Instant::now() < deadline, "the ECS stand-in did not listen on 127.0.0.1:{port} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        standin
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A runtime config that fans shards out to this stand-in (storage local).
    pub fn config(&self) -> String {
        format!(
            "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\nmax_attempts = 3\n\n[shards]\nexecutor = \"ecs\"\ncluster = \"{CLUSTER}\"\n\
             task_definition = \"engage-weekly:3\"\ncontainer = \"{CONTAINER}\"\nsubnets = [\"subnet-0a1b\"]\nsecurity_groups = [\"sg-0c2d\"]\n",
            self.endpoint()
        )
    }

    /// Every RunTask the stand-in saw, in order (throttled ones as `{"throttled": ...}`).
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    }
}

impl Drop for EcsStandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
