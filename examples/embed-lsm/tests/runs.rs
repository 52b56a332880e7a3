//! The example is exercised by the test suite so it never rots.

#[test]
fn the_embed_lsm_example_runs_and_every_check_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_embed-lsm"))
        .arg(dir.path().join("db"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("all of them are there after reopening"),
        "{stdout}"
    );
}
