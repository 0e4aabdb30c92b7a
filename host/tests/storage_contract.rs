//! One storage contract, run against every backend: the local directory and S3
//! (moto in server mode on 127.0.0.1, started and stopped here). Ranged reads,
//! streamed multipart writes and their abort, pagination past 1,000 keys, grants
//! and bad keys through the guest-facing host, and S3's faults (503 SlowDown,
//! connections reset mid-upload) retried without leaving a partial object.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;

use std::sync::Arc;

use engage::aws::AwsContext;
use engage::capabilities::storage::host::StorageHost;
use engage::capabilities::storage::{LocalStorage, ObjectStore, S3Location, S3Storage, ZoneMap};
use engage::capabilities::{ErrorCode, Grants, StorageGrant};
use engage::runtime::HostError;
use engage::runtime::bindings::storage::Host as _;
use fault_proxy::{Counter, Fault, FaultProxy};
use moto::Moto;

const MIB: usize = 1 << 20;
const PART: u64 = 5 << 20;

/// Bytes that differ at every offset, so a misplaced range or part shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed).collect()
}

fn contract(store: Arc<dyn ObjectStore>) {
    objects_round_trip(&*store);
    ranged_reads(&*store);
    streamed_multipart_writes(&*store);
    unfinished_writes_leave_nothing(&*store);
    pagination_past_a_thousand_keys(&*store);
    grants_and_bad_keys(store.clone());
}

fn objects_round_trip(store: &dyn ObjectStore) {
    store.put("zone", "a/one.txt", b"first").unwrap();
    store.put("zone", "a/one.txt", b"second version").unwrap();
    assert_eq!(store.get("zone", "a/one.txt").unwrap(), b"second version");
    assert_eq!(store.head("zone", "a/one.txt").unwrap().size, 14);
    store.put("zone", "a/empty", b"").unwrap();
    assert_eq!(store.get("zone", "a/empty").unwrap(), b"");
    assert_eq!(store.get("zone", "a/missing").unwrap_err().code, ErrorCode::NotFound);
    assert_eq!(store.head("zone", "a/missing").unwrap_err().code, ErrorCode::NotFound);
    store.delete("zone", "a/one.txt").unwrap();
    store.delete("zone", "a/one.txt").unwrap();
    assert_eq!(store.get("zone", "a/one.txt").unwrap_err().code, ErrorCode::NotFound);
    // Zones are separate namespaces.
    store.put("other", "a/x", b"other zone").unwrap();
    assert!(store.list_all("zone", "a/").unwrap().iter().all(|o| o.key != "a/x"));
}

fn ranged_reads(store: &dyn ObjectStore) {
    let data = pattern(3 * MIB + 17, 1);
    store.put("zone", "ranged.bin", &data).unwrap();
    assert_eq!(store.get_range("zone", "ranged.bin", 0, 10).unwrap(), &data[..10]);
    assert_eq!(store.get_range("zone", "ranged.bin", 2 * MIB as u64 + 5, 1000).unwrap(), &data[2 * MIB + 5..2 * MIB + 1005]);
    // A range running past the end stops at the end; one starting past it is empty.
    assert_eq!(store.get_range("zone", "ranged.bin", data.len() as u64 - 7, 100).unwrap(), &data[data.len() - 7..]);
    assert!(store.get_range("zone", "ranged.bin", data.len() as u64 + 10, 100).unwrap().is_empty());
    assert!(store.get_range("zone", "ranged.bin", 5, 0).unwrap().is_empty());
    assert_eq!(store.get_range("zone", "missing.bin", 0, 10).unwrap_err().code, ErrorCode::NotFound);
}

fn streamed_multipart_writes(store: &dyn ObjectStore) {
    // 12 MiB + a tail in uneven chunks: three parts of 5 MiB, 5 MiB and the rest.
    let data = pattern(12 * MIB + 12_345, 2);
    let mut writer = store.open_writer("zone", "big/parts.bin").unwrap();
    for chunk in data.chunks(777_777) {
        writer.write(chunk).unwrap();
    }
    assert_eq!(store.head("zone", "big/parts.bin").unwrap_err().code, ErrorCode::NotFound, "nothing visible before finish");
    let info = writer.finish().unwrap();
    assert_eq!((info.key.as_str(), info.size), ("big/parts.bin", data.len() as u64));
    assert_eq!(store.head("zone", "big/parts.bin").unwrap().size, data.len() as u64);
    let back = store.get("zone", "big/parts.bin").unwrap();
    assert!(back == data, "the object read back differs from what was written");
    let across_parts = store.get_range("zone", "big/parts.bin", PART - 3, 6).unwrap();
    assert_eq!(across_parts, &data[PART as usize - 3..PART as usize + 3]);
}

fn unfinished_writes_leave_nothing(store: &dyn ObjectStore) {
    // Dropped after two parts went up: the upload is aborted.
    let mut writer = store.open_writer("zone", "big/abandoned.bin").unwrap();
    writer.write(&pattern(11 * MIB, 3)).unwrap();
    drop(writer);
    assert_eq!(store.head("zone", "big/abandoned.bin").unwrap_err().code, ErrorCode::NotFound);
    // Dropped before the first part filled.
    let mut writer = store.open_writer("zone", "big/small-abandoned.bin").unwrap();
    writer.write(b"a little").unwrap();
    drop(writer);
    assert_eq!(store.head("zone", "big/small-abandoned.bin").unwrap_err().code, ErrorCode::NotFound);
    // An older object stays whole while a replacement is abandoned.
    store.put("zone", "big/kept.bin", b"old").unwrap();
    let mut writer = store.open_writer("zone", "big/kept.bin").unwrap();
    writer.write(&pattern(6 * MIB, 4)).unwrap();
    drop(writer);
    assert_eq!(store.get("zone", "big/kept.bin").unwrap(), b"old");
}

fn pagination_past_a_thousand_keys(store: &dyn ObjectStore) {
    let keys: Vec<String> = (0..1203).map(|i| format!("many/k{i:05}")).collect();
    std::thread::scope(|scope| {
        for chunk in keys.chunks(150) {
            scope.spawn(move || chunk.iter().for_each(|k| store.put("zone", k, k.as_bytes()).unwrap()));
        }
    });
    store.put("zone", "manyother/k0", b"not under the prefix").unwrap();
    let first = store.list("zone", "many/", None, 1000).unwrap();
    assert_eq!(first.objects.len(), 1000);
    let token = first.next_token.clone().expect("a second page");
    let second = store.list("zone", "many/", Some(&token), 1000).unwrap();
    assert_eq!(second.objects.len(), 203);
    assert_eq!(second.next_token, None);
    let listed: Vec<String> = first.objects.iter().chain(&second.objects).map(|o| o.key.clone()).collect();
    assert_eq!(listed, keys, "every key once, in byte order");
    assert_eq!(first.objects[0].size, 11);
    let small: Vec<String> = {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let page = store.list("zone", "many/k0000", token.as_deref(), 3).unwrap();
            all.extend(page.objects.into_iter().map(|o| o.key));
            match page.next_token {
                Some(next) => token = Some(next),
                None => break all,
            }
        }
    };
    assert_eq!(small, keys[..10].to_vec());
    assert_eq!(store.list_all("zone", "many/").unwrap().len(), 1203);
    assert!(store.list("zone", "nothing-here/", None, 10).unwrap().objects.is_empty());
}

fn message(error: HostError) -> String {
    match error {
        HostError::Capability(e) => e.message,
        HostError::Trap(e) => format!("{e:#}"),
    }
}

fn grants_and_bad_keys(store: Arc<dyn ObjectStore>) {
    let grants = Grants {
        storage: vec![StorageGrant::parse("write:zone/run=1/").unwrap(), StorageGrant::parse("read:other/").unwrap()],
        ..Grants::default()
    };
    let mut host = StorageHost::new("prepare", Arc::new(grants), store.clone(), 64 * MIB);
    host.put("zone".into(), "run=1/out.txt".into(), b"granted".to_vec()).map_err(message).unwrap();
    assert_eq!(store.get("zone", "run=1/out.txt").unwrap(), b"granted");
    assert_eq!(host.get("other".into(), "a/x".into()).map_err(message).unwrap(), b"other zone");

    let denied = message(host.put("zone".into(), "run=10/out.txt".into(), b"x".to_vec()).unwrap_err());
    assert!(denied.contains("prepare") && denied.contains("run=10/out.txt"), "{denied}");
    let denied = message(host.put("other".into(), "a/y".into(), b"x".to_vec()).unwrap_err());
    assert!(denied.contains("write"), "{denied}");
    let denied = message(host.list("zone".into(), "".into(), None, 10).unwrap_err());
    assert!(denied.contains("prepare"), "{denied}");
    for bad in ["run=1/../escape", "/run=1/abs", "run=1//x", "run=1/a\0b", "run=1/a\\b"] {
        let error = message(host.put("zone".into(), bad.into(), b"x".to_vec()).unwrap_err());
        assert!(error.contains("invalid key"), "{bad:?}: {error}");
    }
    let error = message(host.get("Bad_Bucket".into(), "run=1/out.txt".into()).unwrap_err());
    assert!(error.contains("invalid bucket name"), "{error}");
    assert!(store.list_all("zone", "run=1/").unwrap().iter().all(|o| o.key == "run=1/out.txt"), "nothing denied was written");
}

#[test]
fn local_directory_backend_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(Arc::new(LocalStorage::new(dir.path()).unwrap()));
}

/// Zones `zone` and `other` under prefixes of one bucket, as a shared storage.bucket maps them.
fn s3_store(aws: Arc<AwsContext>, bucket: &str) -> Arc<S3Storage> {
    let zones = ZoneMap { shared: Some(S3Location::parse(&format!("{bucket}/engage")).unwrap()), zones: Default::default() };
    Arc::new(S3Storage::new(aws, zones, PART))
}

fn create_bucket(aws: &AwsContext, store: &S3Storage, bucket: &str) {
    let request = store.client().create_bucket().bucket(bucket);
    aws.block_on(async move { request.send().await }).unwrap();
}

/// Multipart uploads S3 still holds for `bucket` (parts nobody will complete).
fn open_uploads(aws: &AwsContext, store: &S3Storage, bucket: &str) -> usize {
    let request = store.client().list_multipart_uploads().bucket(bucket);
    let output = aws.block_on(async move { request.send().await }).unwrap();
    output.uploads().len()
}

#[test]
fn s3_backend_keeps_the_contract() {
    let moto = Moto::start();
    let aws = moto.context();
    let store = s3_store(aws.clone(), "engage-contract");
    create_bucket(&aws, &store, "engage-contract");
    contract(store.clone());
    assert_eq!(open_uploads(&aws, &store, "engage-contract"), 0, "aborted uploads leave no parts behind");

    // The zones really are prefixes of the one bucket.
    let raw = ZoneMap { shared: None, zones: [("raw".to_string(), S3Location::parse("engage-contract").unwrap())].into() };
    let raw = S3Storage::new(aws.clone(), raw, PART);
    assert_eq!(raw.get("raw", "engage/zone/big/kept.bin").unwrap(), b"old");
    let unmapped = raw.get("work", "x").unwrap_err();
    assert!(unmapped.message.contains("storage.buckets.work"), "{unmapped}");
    let missing_bucket = s3_store(aws.clone(), "no-such-bucket").get("zone", "x").unwrap_err();
    assert_eq!(missing_bucket.code, ErrorCode::NotFound);
    assert!(missing_bucket.message.contains("s3 GetObject s3://no-such-bucket/engage/zone/x"), "{missing_bucket}");
}

#[test]
fn s3_faults_are_retried_and_never_leave_a_partial_object() {
    let moto = Moto::start();
    let setup = moto.context();
    let direct = s3_store(setup.clone(), "engage-faults");
    create_bucket(&setup, &direct, "engage-faults");

    // Part 2 is throttled once, part 3's connection is reset mid-body once, and the first small PUT is throttled.
    let (parts_2, parts_3, puts) = (Counter::new(), Counter::new(), Counter::new());
    let proxy = FaultProxy::start(
        moto.port,
        Box::new(move |request| {
            let (method, target) = (request.method.as_str(), request.target.as_str());
            let is_put = method == "PUT";
            if is_put && target.contains("partNumber=2&") || is_put && target.ends_with("partNumber=2") {
                return if parts_2.next() == 1 { Fault::SlowDown } else { Fault::Pass };
            }
            if is_put && target.contains("partNumber=3") {
                return if parts_3.next() == 1 { Fault::Reset } else { Fault::Pass };
            }
            if is_put && target.contains("small.txt") {
                return if puts.next() == 1 { Fault::SlowDown } else { Fault::Pass };
            }
            Fault::Pass
        }),
    );
    let flaky = s3_store(Moto::context_for(&proxy.endpoint(), 4), "engage-faults");
    let data = pattern(13 * MIB, 5);
    let mut writer = flaky.open_writer("zone", "retried.bin").unwrap();
    writer.write(&data).unwrap();
    writer.finish().unwrap();
    flaky.put("zone", "small.txt", b"after a throttle").unwrap();
    assert_eq!(proxy.count(Fault::SlowDown), 2, "{:?}", proxy.injected.lock().unwrap());
    assert_eq!(proxy.count(Fault::Reset), 1, "{:?}", proxy.injected.lock().unwrap());
    assert!(direct.get("zone", "retried.bin").unwrap() == data, "the retried upload is whole");
    assert_eq!(direct.get("zone", "small.txt").unwrap(), b"after a throttle");

    // A part that fails on every attempt: the write fails naming S3's reason, and nothing is left.
    let always = FaultProxy::start(
        moto.port,
        Box::new(|r| if r.method == "PUT" && r.target.contains("partNumber=2") { Fault::SlowDown } else { Fault::Pass }),
    );
    let doomed = s3_store(Moto::context_for(&always.endpoint(), 2), "engage-faults");
    let mut writer = doomed.open_writer("zone", "doomed.bin").unwrap();
    let failed = writer.write(&data).and_then(|()| writer.finish().map(|_| ()));
    let error = failed.unwrap_err();
    assert_eq!(error.code, ErrorCode::Unavailable, "{error}");
    assert!(error.message.contains("UploadPart 2") && error.message.contains("SlowDown"), "{error}");
    assert_eq!(always.count(Fault::SlowDown), 2, "two attempts, as configured");
    assert_eq!(direct.head("zone", "doomed.bin").unwrap_err().code, ErrorCode::NotFound);
    assert_eq!(open_uploads(&setup, &direct, "engage-faults"), 0, "the failed upload was aborted");
}
