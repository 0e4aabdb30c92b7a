//! Storage throughput: the S3 backend against an S3 server on 127.0.0.1 (moto) next
//! to the local directory backend, one object of SIZE_MB written as a streamed
//! multipart upload (8 MiB writes, 16 MiB parts) and read back whole. Prints a
//! side-by-side table and the ratios; bench/aws/run.sh starts the server.
//!
//!   s3-bench <endpoint> [size_mb]

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use engage::aws::{AwsContext, AwsSettings};
use engage::capabilities::storage::{LocalStorage, ObjectStore, S3Location, S3Storage, ZoneMap};

const CHUNK: usize = 8 << 20;

struct Figures {
    put_mbps: f64,
    get_mbps: f64,
}

fn measure(store: &dyn ObjectStore, size: usize) -> Result<Figures> {
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect();
    let mb = size as f64 / 1e6;
    let started = Instant::now();
    let mut writer = store.open_writer("bench", "throughput/object.bin").map_err(anyhow::Error::msg)?;
    let mut left = size;
    while left > 0 {
        let take = left.min(CHUNK);
        writer.write(&chunk[..take]).map_err(anyhow::Error::msg)?;
        left -= take;
    }
    let info = writer.finish().map_err(anyhow::Error::msg)?;
    let put = started.elapsed().as_secs_f64();
    anyhow::ensure!(info.size as usize == size, "wrote {} bytes, expected {size}", info.size);
    let started = Instant::now();
    let back = store.get("bench", "throughput/object.bin").map_err(anyhow::Error::msg)?;
    let get = started.elapsed().as_secs_f64();
    anyhow::ensure!(back.len() == size && back[..CHUNK.min(size)] == chunk[..CHUNK.min(size)], "read back differs");
    store.delete("bench", "throughput/object.bin").map_err(anyhow::Error::msg)?;
    Ok(Figures { put_mbps: mb / put, get_mbps: mb / get })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args.get(1).context("usage: s3-bench <endpoint> [size_mb]")?;
    let size_mb: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let size = size_mb << 20;

    let dir = tempfile::tempdir()?;
    let local = measure(&LocalStorage::new(dir.path())?, size)?;

    let settings = AwsSettings { region: Some("us-east-1".into()), endpoint_url: Some(endpoint.clone()), max_attempts: Some(3), attempt_timeout: Some("5m".into()) };
    let aws = Arc::new(AwsContext::with_credentials(&settings, "AKIDBENCH", "bench-secret")?);
    let zones = ZoneMap { shared: Some(S3Location::parse("engage-bench").map_err(anyhow::Error::msg)?), zones: Default::default() };
    let s3 = S3Storage::new(aws.clone(), zones, 16 << 20);
    let request = s3.client().create_bucket().bucket("engage-bench");
    aws.block_on(async move { request.send().await }).context("creating the bench bucket")?;
    let remote = measure(&s3, size)?;

    println!("storage throughput, one {size_mb} MiB object (8 MiB writes; S3: 16 MiB parts, 4 in flight)");
    println!("| backend | put MB/s | get MB/s |");
    println!("|---|---|---|");
    println!("| local directory | {:.0} | {:.0} |", local.put_mbps, local.get_mbps);
    println!("| S3 (moto on 127.0.0.1) | {:.0} | {:.0} |", remote.put_mbps, remote.get_mbps);
    println!("| S3 / local | {:.2}x | {:.2}x |", remote.put_mbps / local.put_mbps, remote.get_mbps / local.get_mbps);
    Ok(())
}
