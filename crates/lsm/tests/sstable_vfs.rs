//! The test file systems: `MemVfs` (power loss) and `FaultyVfs` (injected failures).

use std::path::Path;

use ilion_lsm::vfs::{FaultyVfs, MemVfs, StdVfs, Vfs};

fn p(s: &str) -> &Path {
    Path::new(s)
}

#[test]
fn a_crash_keeps_synced_bytes_and_drops_the_rest() {
    let vfs = MemVfs::new();
    vfs.create_dir_all(p("/db")).unwrap();
    let mut f = vfs.create(p("/db/log")).unwrap();
    f.append(b"durable").unwrap();
    f.sync().unwrap();
    f.append(b" lost").unwrap();
    assert_eq!(
        vfs.open_read(p("/db/log")).unwrap().bytes(),
        b"durable lost"
    );
    vfs.crash();
    assert_eq!(vfs.open_read(p("/db/log")).unwrap().bytes(), b"durable");
    // The old handle is cut off from the file system.
    f.append(b"zombie").unwrap();
    f.sync().unwrap();
    assert_eq!(vfs.contents(p("/db/log")).unwrap(), b"durable");
}

#[test]
fn a_file_never_synced_is_empty_after_a_crash() {
    let vfs = MemVfs::new();
    let mut f = vfs.create(p("f")).unwrap();
    f.append(b"abc").unwrap();
    drop(f);
    vfs.crash();
    assert!(vfs.exists(p("f")));
    assert_eq!(vfs.file_size(p("f")).unwrap(), 0);
}

#[test]
fn in_strict_mode_a_rename_needs_sync_dir_to_survive_a_crash() {
    let vfs = MemVfs::strict();
    vfs.create_dir_all(p("/d")).unwrap();
    let mut f = vfs.create(p("/d/MANIFEST.tmp")).unwrap();
    f.append(b"v1").unwrap();
    f.sync().unwrap();
    vfs.sync_dir(p("/d")).unwrap();
    vfs.rename(p("/d/MANIFEST.tmp"), p("/d/MANIFEST")).unwrap();
    let clone = vfs.clone();
    clone.crash();
    assert_eq!(
        vfs.list_dir(p("/d")).unwrap(),
        vec!["MANIFEST.tmp".to_string()]
    );

    vfs.rename(p("/d/MANIFEST.tmp"), p("/d/MANIFEST")).unwrap();
    vfs.sync_dir(p("/d")).unwrap();
    vfs.crash();
    assert_eq!(vfs.list_dir(p("/d")).unwrap(), vec!["MANIFEST".to_string()]);
    assert_eq!(vfs.open_read(p("/d/MANIFEST")).unwrap().bytes(), b"v1");
}

#[test]
fn mem_vfs_behaves_like_the_real_file_system_for_ordinary_calls() {
    let dir = tempfile::tempdir().unwrap();
    let real = StdVfs;
    let mem = MemVfs::new();
    let root = dir.path().to_path_buf();
    for vfs in [&real as &dyn Vfs, &mem as &dyn Vfs] {
        vfs.create_dir_all(&root.join("sub")).unwrap();
        let mut f = vfs.create(&root.join("a")).unwrap();
        f.append(b"hello").unwrap();
        f.sync().unwrap();
        drop(f);
        let mut f = vfs.open_append(&root.join("a")).unwrap();
        assert_eq!(f.len(), 5);
        f.append(b" world").unwrap();
        f.sync().unwrap();
        drop(f);
        assert_eq!(vfs.file_size(&root.join("a")).unwrap(), 11);
        vfs.hard_link(&root.join("a"), &root.join("b")).unwrap();
        vfs.rename(&root.join("a"), &root.join("c")).unwrap();
        assert!(!vfs.exists(&root.join("a")));
        assert_eq!(
            vfs.open_read(&root.join("b")).unwrap().bytes(),
            b"hello world"
        );
        vfs.truncate(&root.join("c"), 4).unwrap();
        assert_eq!(vfs.open_read(&root.join("c")).unwrap().bytes(), b"hell");
        assert_eq!(
            vfs.list_dir(&root).unwrap(),
            vec!["b".to_string(), "c".to_string(), "sub".to_string()]
        );
        vfs.remove_file(&root.join("c")).unwrap();
        assert!(vfs.remove_file(&root.join("c")).is_err());
        assert!(vfs.open_read(&root.join("nope")).is_err());
        assert!(vfs.create(&root.join("missing-dir/x")).is_err());
        vfs.sync_dir(&root).unwrap();
        vfs.remove_file(&root.join("b")).unwrap();
    }
}

#[test]
fn the_nth_write_fails_and_later_ones_succeed() {
    let vfs = FaultyVfs::new(MemVfs::new());
    vfs.fail_nth_write(2);
    let mut f = vfs.create(p("f")).unwrap();
    assert!(f.append(b"1").is_ok());
    assert!(f.append(b"2").is_err());
    assert!(f.append(b"3").is_ok());
    let c = vfs.counts();
    assert_eq!((c.writes, c.failed_writes, c.bytes_written), (3, 1, 2));
    assert_eq!(vfs.inner().open_read(p("f")).unwrap().bytes(), b"13");
}

#[test]
fn writes_fail_from_the_chosen_point_until_healed() {
    let vfs = FaultyVfs::new(MemVfs::new());
    let mut f = vfs.create(p("f")).unwrap();
    vfs.fail_writes_after(2);
    assert!(f.append(b"a").is_ok());
    assert!(f.append(b"b").is_ok());
    assert!(f.append(b"c").is_err());
    assert!(f.append(b"d").is_err());
    vfs.heal();
    assert!(f.append(b"e").is_ok());
    assert_eq!(vfs.counts().failed_writes, 2);
}

#[test]
fn syncs_and_dir_syncs_fail_when_scheduled() {
    let vfs = FaultyVfs::new(MemVfs::new());
    vfs.create_dir_all(p("/d")).unwrap();
    let mut f = vfs.create(p("/d/f")).unwrap();
    vfs.fail_nth_sync(2);
    assert!(f.sync().is_ok());
    assert!(vfs.sync_dir(p("/d")).is_err());
    assert!(f.sync().is_ok());
    assert_eq!(vfs.counts().failed_syncs, 1);
}

#[test]
fn a_torn_write_leaves_a_strict_prefix_of_the_buffer() {
    let mem = MemVfs::new();
    let vfs = FaultyVfs::new(mem.clone());
    vfs.torn_writes(true);
    let mut f = vfs.create(p("f")).unwrap();
    f.append(b"ok|").unwrap();
    for seed in 1..20 {
        vfs.random_failures(seed, 1); // every write fails
        let before = mem.contents(p("f")).unwrap().len();
        assert!(f.append(b"0123456789").is_err());
        let after = mem.contents(p("f")).unwrap();
        assert!(after.len() < before + 10);
        assert_eq!(&after[before..], &b"0123456789"[..after.len() - before]);
    }
}

#[test]
fn random_failures_are_replayable_from_the_seed() {
    let run = |seed| {
        let vfs = FaultyVfs::new(MemVfs::new());
        vfs.random_failures(seed, 4);
        let mut f = vfs.create(p("f")).unwrap();
        (0..200)
            .map(|_| f.append(b"x").is_ok())
            .collect::<Vec<bool>>()
    };
    let a = run(42);
    assert_eq!(a, run(42));
    let failures = a.iter().filter(|ok| !**ok).count();
    assert!((20..90).contains(&failures), "{failures} of 200 at 1 in 4");
    assert_ne!(a, run(43));
}
