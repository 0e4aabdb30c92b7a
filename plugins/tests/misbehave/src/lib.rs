//! A stage that misbehaves on purpose so the host's limits and grants can be
//! tested. `{"mode": "..."}` picks how; `"ok"` behaves.

use engage_plugin_sdk::stage::*;

struct Misbehave;

impl Stage for Misbehave {
    fn run(ctx: &Context) -> Result<serde_json::Value, String> {
        let mode = ctx.params.get("mode").and_then(|m| m.as_str()).unwrap_or("ok").to_string();
        match mode.as_str() {
            "ok" => {
                storage::put("scratch", "granted/ok.txt", b"fine").map_err(|e| e.to_string())?;
                Ok(serde_json::json!({ "mode": "ok" }))
            }
            "alloc" => {
                // Grow in 16 MiB chunks: a single huge Vec would hit wasm32's capacity check first.
                let mut chunks: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 16 << 20];
                    chunk[0] = 1;
                    chunks.push(chunk);
                    if chunks.len() > 1_000_000 {
                        break Ok(serde_json::json!({ "chunks": chunks.len() }));
                    }
                }
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "panic" => panic!("misbehave was told to panic"),
            "escape-key" => write("scratch", "../outside.txt"),
            "other-bucket" => write("models", "granted/x.txt"),
            "ungranted-prefix" => write("scratch", "other/x.txt"),
            "big-write" => {
                let data = vec![7u8; 2 << 20];
                storage::put("scratch", "granted/big.bin", &data).map_err(|e| e.to_string())?;
                Ok(serde_json::json!({}))
            }
            "put-bytes" => {
                // One put of `bytes` bytes: over wasmtime's default hostcall budget (128 MiB) when asked.
                let bytes = ctx.params.get("bytes").and_then(|b| b.as_u64()).ok_or("put-bytes needs 'bytes'")? as usize;
                let data = vec![7u8; bytes];
                storage::put("scratch", "granted/put.bin", &data).map_err(|e| e.to_string())?;
                Ok(serde_json::json!({ "put": bytes }))
            }
            "big-summary" => Ok(serde_json::json!({ "padding": "x".repeat(2 << 20) })),
            "sql" => {
                let batches = query("SELECT 1 AS one").map_err(|e| e.to_string())?;
                Ok(serde_json::json!({ "batches": batches.len() }))
            }
            "llm" => {
                let options = llm::CompletionOptions { system: None, max_tokens: 10, temperature: 0.0, stop: vec![] };
                let text = llm::complete("hello", &options).map_err(|e| e.to_string())?;
                Ok(serde_json::json!({ "text": text }))
            }
            "fail" => Err("misbehave was told to fail".into()),
            "chatty" => Ok(serde_json::json!({ "printed": chatter() })),
            "chatty-panic" => {
                chatter();
                panic!("misbehave panicked after printing a lot")
            }
            "reach-out" => Ok(reach_out(&ctx.params)),
            "exit" => std::process::exit(3),
            "flaky" => flaky(&ctx.params),
            "hang-once" => hang_once(&ctx.params),
            other => Err(format!("unknown mode '{other}'")),
        }
    }
}

/// Prints about 3 MiB of numbered lines, alternately to stdout and stderr;
/// returns the bytes printed.
fn chatter() -> usize {
    let mut printed = 0;
    for i in 0..40_000 {
        let line = format!("chatter line {i:06} {}\n", "-".repeat(60));
        if i % 2 == 0 {
            print!("{line}");
        } else {
            eprint!("{line}");
        }
        printed += line.len();
    }
    printed
}

/// Tries to reach past the sandbox (the environment, the arguments, the file
/// system, the address in `params.connect`) and tells what each attempt gave.
fn reach_out(params: &serde_json::Value) -> serde_json::Value {
    let env: Vec<String> = std::env::vars().map(|(name, _)| name).collect();
    let root = std::fs::read_dir("/").map(|entries| entries.count()).map_err(|e| e.to_string());
    let file = std::fs::read("/etc/passwd").map(|bytes| bytes.len()).map_err(|e| e.to_string());
    let address = params.get("connect").and_then(|a| a.as_str()).unwrap_or("127.0.0.1:9");
    let connect = std::net::TcpStream::connect(address).map(|_| "connected").map_err(|e| e.to_string());
    serde_json::json!({
        "env": env,
        "args": std::env::args().count(),
        "read_dir": format!("{root:?}"),
        "read_file": format!("{file:?}"),
        "connect": format!("{connect:?}"),
    })
}

/// Fails until the call counter at `bucket`/`counter` reaches `succeed_on`. Every
/// attempt is a fresh instance, so the count lives in storage.
fn flaky(params: &serde_json::Value) -> Result<serde_json::Value, String> {
    let text = |key: &str| params.get(key).and_then(|v| v.as_str()).ok_or_else(|| format!("flaky needs a '{key}' string"));
    let (bucket, counter) = (text("bucket")?, text("counter")?);
    let succeed_on = params.get("succeed_on").and_then(|v| v.as_u64()).ok_or("flaky needs 'succeed_on'")?;
    let seen = match storage::get(bucket, counter) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().parse::<u64>().map_err(|e| format!("counter: {e}"))?,
        Err(e) if e.code == types::ErrorCode::NotFound => 0,
        Err(e) => return Err(e.to_string()),
    };
    let call = seen + 1;
    storage::put(bucket, counter, call.to_string().as_bytes()).map_err(|e| e.to_string())?;
    if call < succeed_on {
        return Err(format!("flaky: call {call} fails, call {succeed_on} will succeed"));
    }
    Ok(serde_json::json!({ "calls": call, "rows_out": 7 }))
}

/// The first call marks `bucket`/`marker` and spins until killed; later calls
/// succeed. For killing a run mid-stage and resuming it.
fn hang_once(params: &serde_json::Value) -> Result<serde_json::Value, String> {
    let text = |key: &str| params.get(key).and_then(|v| v.as_str()).ok_or_else(|| format!("hang-once needs a '{key}' string"));
    let (bucket, marker) = (text("bucket")?, text("marker")?);
    match storage::get(bucket, marker) {
        Ok(_) => Ok(serde_json::json!({ "hung_before": true })),
        Err(e) if e.code == types::ErrorCode::NotFound => {
            storage::put(bucket, marker, b"hanging").map_err(|e| e.to_string())?;
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

fn write(bucket: &str, key: &str) -> Result<serde_json::Value, String> {
    storage::put(bucket, key, b"should not land").map_err(|e| e.to_string())?;
    Ok(serde_json::json!({ "wrote": key }))
}

engage_plugin_sdk::export_stage!(Misbehave);
