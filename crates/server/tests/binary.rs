//! The `ilion` binary as an operator runs it: start, say where it is, stop cleanly on a signal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ilion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ilion"))
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts a node, waits for its "running" line, sends `sig`, and returns everything it printed.
fn run_until_signal(sig: &str, native_port: u16) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ilion()
        .args(["--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--native-port", &native_port.to_string()])
        .args(["--storage-port", &free_port().to_string()])
        .args(["--admin-port", &free_port().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "exited early: {printed}"
        );
        printed.push_str(&line);
        if line.starts_with("running") {
            break;
        }
        assert!(Instant::now() < deadline, "no running line: {printed}");
    }
    signal(child.id(), sig);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    while out.read_line(&mut rest).unwrap() > 0 {}
    printed.push_str(&rest);
    (status, printed)
}

#[test]
fn node_says_where_it_listens_for_clients_and_for_other_nodes() {
    let port = free_port();
    let (status, printed) = run_until_signal("-INT", port);
    assert!(status.success(), "{printed}");
    assert!(
        printed.contains(&format!(
            "CQL native protocol listening on 127.0.0.1:{port}"
        )),
        "{printed}"
    );
    assert!(
        printed.contains("node-to-node gRPC listening on 127.0.0.1"),
        "{printed}"
    );
    assert!(printed.contains("stopped cleanly"), "{printed}");
}

#[test]
fn node_stops_cleanly_on_sigterm() {
    let (status, printed) = run_until_signal("-TERM", free_port());
    assert!(status.success(), "{printed}");
    assert!(printed.contains("stopped cleanly"), "{printed}");
}

#[test]
fn bad_config_file_stops_the_node_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ilion.yaml");
    std::fs::write(&cfg, "num_tokens: 0\n").unwrap();
    let out = ilion().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("num_tokens"), "{err}");

    std::fs::write(&cfg, "no_such_setting: 1\n").unwrap();
    let out = ilion().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_setting"), "{err}");
}
