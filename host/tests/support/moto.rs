//! moto in server mode on a free 127.0.0.1 port, for tests of the AWS backends.
//! Python comes from `$ENGAGE_PYTHON` (scripts/test.sh makes a venv with
//! tests/requirements.txt); the server is killed when the handle drops.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engage::aws::{AwsContext, AwsSettings};

pub const REGION: &str = "us-east-1";

pub struct Moto {
    child: Child,
    pub port: u16,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    pub fn start() -> Moto {
        let python = std::env::var("ENGAGE_PYTHON").unwrap_or_else(|_| {
            panic!("set ENGAGE_PYTHON to a Python with moto[server] (pip install -r tests/requirements.txt; scripts/test.sh does both)")
        });
        let port = free_port();
        let child = Command::new(&python)
            .args(["-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting moto with {python}: {e} (pip install -r tests/requirements.txt)"));
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited ({status}) before listening: is moto[server] installed in {python}? (pip install -r tests/requirements.txt)");
            }
            assert!(Instant::now() < deadline, "moto did not listen on 127.0.0.1:{port} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK context pointed at `endpoint` with moto's dummy credentials.
    pub fn context_for(endpoint: &str, max_attempts: u32) -> Arc<AwsContext> {
        let settings = AwsSettings {
            region: Some(REGION.into()),
            endpoint_url: Some(endpoint.to_string()),
            max_attempts: Some(max_attempts),
            attempt_timeout: Some("20s".into()),
        };
        Arc::new(AwsContext::with_credentials(&settings, "AKIDMOTOTESTING", "moto-secret-key").unwrap())
    }

    pub fn context(&self) -> Arc<AwsContext> {
        Self::context_for(&self.endpoint(), 3)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
