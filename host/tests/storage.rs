//! The local storage backend: atomic writes, pagination, streamed writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engage::capabilities::ErrorCode;
use engage::capabilities::storage::{LocalStorage, ObjectStore};

fn store() -> (tempfile::TempDir, Arc<LocalStorage>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStorage::new(dir.path()).unwrap());
    (dir, store)
}

#[test]
fn a_reader_never_sees_a_partial_object() {
    let (_dir, store) = store();
    let size = 4 << 20;
    store.put("zone", "big.bin", &vec![0u8; size]).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 10 {
                let data = store.get("zone", "big.bin").unwrap();
                assert_eq!(data.len(), size, "a read saw a partial object");
                let first = data[0];
                assert!(data.iter().all(|&b| b == first), "a read mixed two versions");
                reads += 1;
            }
            reads
        })
    };
    for version in 1..=40u8 {
        store.put("zone", "big.bin", &vec![version; size]).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 10);
    assert_eq!(store.get("zone", "big.bin").unwrap()[0], 40);
}

#[test]
fn an_unfinished_streamed_write_leaves_nothing() {
    let (dir, store) = store();
    let mut writer = store.open_writer("zone", "part.bin").unwrap();
    writer.write(b"half").unwrap();
    drop(writer);
    assert_eq!(store.head("zone", "part.bin").unwrap_err().code, ErrorCode::NotFound);
    let leftovers = std::fs::read_dir(dir.path().join(".engage-tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "the temporary file is removed");

    let mut writer = store.open_writer("zone", "part.bin").unwrap();
    writer.write(b"whole ").unwrap();
    writer.write(b"object").unwrap();
    let info = writer.finish().unwrap();
    assert_eq!(info.size, 12);
    assert_eq!(store.get("zone", "part.bin").unwrap(), b"whole object");
}

#[test]
fn what_a_killed_writer_left_is_removed_when_storage_is_next_opened() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join(".engage-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // A writer that was killed an hour and more ago (no process has this id), and one still at work.
    let hours_ago = std::time::SystemTime::now() - engage::temp_files::ORPHAN_AFTER - std::time::Duration::from_secs(60);
    let orphan = std::fs::File::create(tmp.join("999999999-0-5eed")).unwrap();
    orphan.set_modified(hours_ago).unwrap();
    std::fs::write(tmp.join("999999999-1-5eed"), b"still being written").unwrap();
    let store = LocalStorage::new(dir.path()).unwrap();
    assert!(!tmp.join("999999999-0-5eed").exists(), "the orphan is removed");
    assert!(tmp.join("999999999-1-5eed").exists(), "a file still changing is left alone");
    store.put("zone", "a.bin", b"x").unwrap();
    assert_eq!(store.get("zone", "a.bin").unwrap(), b"x");
}

#[test]
fn listing_pages_through_every_key_once_in_order() {
    let (_dir, store) = store();
    let mut expected = Vec::new();
    for i in 0..2500 {
        let key = format!("t/d={}/f{i:05}.parquet", i % 3);
        store.put("zone", &key, b"x").unwrap();
        expected.push(key);
    }
    store.put("zone", "other/x", b"x").unwrap();
    expected.sort();

    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = store.list("zone", "t/", token.as_deref(), 1000).unwrap();
        assert!(page.objects.len() <= 1000);
        seen.extend(page.objects.into_iter().map(|o| o.key));
        pages += 1;
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    assert_eq!(store.list_all("zone", "t/d=1/").unwrap().len(), 833);
    assert!(store.list("zone", "nothing/", None, 10).unwrap().objects.is_empty());
}

#[test]
fn ranged_reads_and_deletes_behave_like_s3() {
    let (dir, store) = store();
    store.put("zone", "a/b/c.txt", b"0123456789").unwrap();
    assert_eq!(store.get_range("zone", "a/b/c.txt", 3, 4).unwrap(), b"3456");
    assert_eq!(store.get_range("zone", "a/b/c.txt", 8, 100).unwrap(), b"89");
    assert_eq!(store.get_range("zone", "a/b/c.txt", 50, 5).unwrap(), b"");
    store.delete("zone", "a/b/c.txt").unwrap();
    store.delete("zone", "a/b/c.txt").unwrap();
    assert!(!dir.path().join("zone/a").exists(), "empty prefixes are pruned");
    assert_eq!(store.get("zone", "a/b/c.txt").unwrap_err().code, ErrorCode::NotFound);
}
