//! A tiny HTTP/1.1 proxy in front of a stand-in server that injects faults: a 503
//! SlowDown answer, a connection dropped halfway through the request body, or an
//! answer of the rule's own making (a stand-in for what the server can't do). A
//! rule sees each request and picks what happens to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Answer `503 SlowDown` without forwarding.
    SlowDown,
    /// Read half the body, then close the connection.
    Reset,
    /// Answer with this status and JSON body without forwarding.
    Answer(u16, String),
}

/// What a rule sees of a request.
pub struct Request {
    pub method: String,
    pub target: String,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    /// Uploads (PUT) are judged on their head, so a rule can reset them mid-body: their body is empty here.
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub type Rule = dyn Fn(&Request) -> Fault + Send + Sync;

pub struct FaultProxy {
    pub port: u16,
    pub injected: Arc<Mutex<Vec<(Fault, String)>>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(upstream: u16, rule: Box<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let injected = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rule: Arc<Rule> = Arc::from(rule);
        {
            let (injected, stop) = (injected.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (rule, injected) = (rule.clone(), injected.clone());
                    std::thread::spawn(move || {
                        let _ = serve(client, upstream, &*rule, &injected);
                    });
                }
            });
        }
        FaultProxy { port, injected, stop }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn count(&self, fault: Fault) -> usize {
        self.injected.lock().unwrap().iter().filter(|(f, _)| *f == fault).count()
    }

    pub fn answered(&self) -> usize {
        self.injected.lock().unwrap().iter().filter(|(f, _)| matches!(f, Fault::Answer(..))).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A request or response head: the first line and the headers, lowercased names.
struct Head {
    first: String,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut first = String::new();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(line.as_bytes());
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            if first.is_empty() {
                continue;
            }
            return Ok(Some(Head { first, headers, raw }));
        }
        if first.is_empty() {
            first = trimmed.to_string();
        } else if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
}

fn serve(client: TcpStream, upstream: u16, rule: &Rule, injected: &Mutex<Vec<(Fault, String)>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    while let Some(head) = read_head(&mut reader)? {
        let mut parts = head.first.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        assert!(head.header("transfer-encoding").is_none(), "the proxy handles Content-Length bodies only: {}", head.first);
        let length = head.content_length().unwrap_or(0);
        let mut request = Request { method: method.clone(), target: target.clone(), headers: head.headers.clone(), body: Vec::new() };
        let judged_on_head = method == "PUT";
        let early = if judged_on_head { Some(rule(&request)) } else { None };
        if early == Some(Fault::Reset) {
            let mut half = vec![0u8; length / 2];
            reader.read_exact(&mut half)?;
            injected.lock().unwrap().push((Fault::Reset, format!("{method} {target}")));
            writer.shutdown(Shutdown::Both)?;
            return Ok(());
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        request.body = body.clone();
        let fault = match early {
            Some(fault) => fault,
            None => rule(&request),
        };
        if let Fault::Answer(status, json) = &fault {
            injected.lock().unwrap().push((fault.clone(), format!("{method} {target}")));
            write!(writer, "HTTP/1.1 {status} Stand-in\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{json}", json.len())?;
            writer.flush()?;
            continue;
        }
        if fault == Fault::SlowDown {
            injected.lock().unwrap().push((fault, format!("{method} {target}")));
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            write!(writer, "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())?;
            writer.flush()?;
            continue;
        }
        // Forward on a fresh upstream connection that closes after one answer.
        let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
        let mut request = format!("{}\r\n", head.first);
        for (name, value) in head.headers.iter().filter(|(n, _)| n != "connection") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("connection: close\r\n\r\n");
        up.write_all(request.as_bytes())?;
        up.write_all(&body)?;
        let mut up_reader = BufReader::new(up);
        let answer = read_head(&mut up_reader)?.ok_or_else(|| std::io::Error::other("upstream closed"))?;
        let status: u16 = answer.first.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let bodyless = method == "HEAD" || status == 204 || status == 304;
        let mut answer_body = Vec::new();
        if !bodyless {
            match answer.content_length() {
                Some(n) => {
                    answer_body.resize(n, 0);
                    up_reader.read_exact(&mut answer_body)?;
                }
                None => {
                    up_reader.read_to_end(&mut answer_body)?;
                }
            }
        }
        let mut out = answer.raw.clone();
        if answer.content_length().is_none() && !bodyless {
            // Re-frame a close-delimited body so the client can keep its connection.
            let text = String::from_utf8_lossy(&out).trim_end().to_string();
            out = format!("{text}\r\nContent-Length: {}\r\n\r\n", answer_body.len()).into_bytes();
        }
        writer.write_all(&out)?;
        writer.write_all(&answer_body)?;
        writer.flush()?;
    }
    Ok(())
}

/// Counts calls matching a predicate, so a rule can fault only the n-th one.
pub struct Counter(pub AtomicUsize);

impl Counter {
    pub fn new() -> Self {
        Counter(AtomicUsize::new(0))
    }
    /// 1 for the first call, 2 for the second, ...
    pub fn next(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}
