//! The Bedrock Runtime stand-in (tests/support/bedrock_standin.py) on a free
//! 127.0.0.1 port, for tests of the Bedrock llm backend. It checks the SigV4
//! signature and the Converse/InvokeModel bodies and answers in Bedrock's shapes;
//! a test scripts throttling, errors and bad replies through its control endpoints.
//! Python comes from `$ENGAGE_PYTHON` (else `python3`); the server is killed when the handle drops.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use engage::aws::{AwsContext, AwsSettings};
use serde_json::Value;

pub const ACCESS_KEY: &str = "AKIDBEDROCKSTANDIN01";
pub const SECRET_KEY: &str = "standin-secret-key-never-printed";
pub const REGION: &str = "us-east-1";

pub struct Bedrock {
    child: Child,
    pub port: u16,
}

impl Bedrock {
    pub fn start() -> Bedrock {
        let python = std::env::var("ENGAGE_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/bedrock_standin.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .args([ACCESS_KEY, SECRET_KEY, REGION])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the Bedrock stand-in with {python}: {e} (install Python 3 or set ENGAGE_PYTHON)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the Bedrock stand-in printed '{line}' instead of its port"));
        Bedrock { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK context for the stand-in with its credentials and `max_attempts` per call.
    pub fn context(&self, max_attempts: u32) -> Arc<AwsContext> {
        let settings = AwsSettings {
            region: Some(REGION.into()),
            endpoint_url: Some(self.endpoint()),
            max_attempts: Some(max_attempts),
            attempt_timeout: Some("20s".into()),
        };
        Arc::new(AwsContext::with_credentials(&settings, ACCESS_KEY, SECRET_KEY).unwrap())
    }

    /// What the next Converse / InvokeModel calls do: "throttle", "validation", "cite-unsent", "unbacked-number", ...
    pub fn plan(&self, converse: &[&str], invoke: &[&str]) {
        let body = serde_json::json!({ "converse": converse, "invoke": invoke }).to_string();
        self.http("POST", "/_standin/plan", &body);
    }

    /// What the next RetrieveAndGenerate calls do: "throttle", "dont-know", "unbacked-number", "no-citation", ...
    pub fn plan_retrieve(&self, steps: &[&str]) {
        self.http("POST", "/_standin/plan", &serde_json::json!({ "retrieve": steps }).to_string());
    }

    /// Loads knowledge base `id` with `documents` (uri, markdown); returns how many passages the stand-in made of them.
    pub fn load_knowledge_base(&self, id: &str, documents: &[(String, String)]) -> u64 {
        let documents: Vec<Value> = documents.iter().map(|(uri, text)| serde_json::json!({ "uri": uri, "text": text })).collect();
        let reply = self.http("POST", &format!("/_standin/knowledge-bases/{id}"), &serde_json::json!({ "documents": documents }).to_string());
        serde_json::from_str::<Value>(&reply).unwrap()["passages"].as_u64().unwrap()
    }

    /// Every call the stand-in saw: `operation`, `model`, `status`, `step`.
    pub fn requests(&self) -> Vec<Value> {
        serde_json::from_str(&self.http("GET", "/_standin/requests", "")).unwrap()
    }

    /// The calls of one operation ("Converse", "InvokeModel", "RetrieveAndGenerate", "rejected").
    pub fn calls(&self, operation: &str) -> Vec<Value> {
        self.requests().into_iter().filter(|r| r["operation"] == operation).collect()
    }

    fn http(&self, method: &str, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "the stand-in's {path} answered {head}");
        body.to_string()
    }
}

impl Drop for Bedrock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
