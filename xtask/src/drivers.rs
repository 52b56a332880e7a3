//! The Node.js and Go real-client suites (`tests/compat/node`, `tests/compat/go`): what each
//! needs is installed when missing, never skipped, then each runs against real `ilion`
//! processes within its time budget.
//!
//! - Node.js: the machine's `node` and `npm` (Debian's `nodejs` and `npm` when absent), and the
//!   `cassandra-driver` version pinned in `tests/compat/node/package-lock.json`, installed by
//!   `npm ci` into `tests/compat/node/node_modules`.
//! - Go: Debian's `golang-go` and gocql from Debian's `golang-github-gocql-gocql-dev`, both
//!   pinned below. The suite builds offline in GOPATH mode against the packaged sources under
//!   `/usr/share/gocode` (the Go module proxy is never asked).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

/// Each suite must finish in this time (issue #29); the run is stopped and fails past it.
const BUDGET: Duration = Duration::from_secs(180);

/// Debian packages and the exact versions the Go suite is written against.
const GO_PACKAGES: &[(&str, &str)] = &[
    ("golang-go", "2:1.19~1"),
    ("golang-github-gocql-gocql-dev", "1.3.2-1"),
];

/// Where Debian's Go packages put their sources: the GOPATH of the Go suite.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// A driver suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suite {
    Node,
    Go,
}

impl Suite {
    pub(crate) const ALL: [Suite; 2] = [Suite::Node, Suite::Go];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Suite::Node => "node",
            Suite::Go => "go",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Suite> {
        Suite::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .with_context(|| format!("no driver suite `{name}`; known: node, go"))
    }
}

/// Installs what `suite` needs, then runs it against `binary`; returns its wall time.
pub(crate) fn run_suite(suite: Suite, binary: &Path) -> Result<Duration> {
    let dir = root().join("tests/compat").join(suite.name());
    let mut cmd = match suite {
        Suite::Node => {
            install_node(&dir)?;
            let mut c = Command::new("node");
            // One file at a time: the cluster file runs three nodes on a 2-core machine. Force
            // exit once a file's tests are done: the driver can leave a reconnection timer
            // behind after `shutdown()`, which would keep the process alive (the nodes are
            // killed by the exit handler either way).
            c.args([
                "--test",
                "--test-concurrency=1",
                "--test-force-exit",
                "node.test.js",
                "cluster.test.js",
            ]);
            c
        }
        Suite::Go => {
            install_go()?;
            let mut c = Command::new("go");
            c.args(["test", "-count=1", "-v", "-timeout", "170s", "."])
                .env("GO111MODULE", "off")
                .env("GOPATH", DEBIAN_GOPATH)
                .env("GOPROXY", "off")
                .env("GOFLAGS", "")
                .env("GOCACHE", crate::target_dir().join("go-build"));
            c
        }
    };
    cmd.current_dir(&dir).env("ILION_BIN", binary);
    eprintln!("xtask: running the {} driver suite: {cmd:?}", suite.name());
    let started = Instant::now();
    run_within(&mut cmd, BUDGET)?;
    let took = started.elapsed();
    eprintln!(
        "xtask: {} driver suite passed in {:.1} s",
        suite.name(),
        took.as_secs_f64()
    );
    Ok(took)
}

/// Runs `cmd` in a process group of its own, killing the group and failing if it runs longer
/// than `budget`.
fn run_within(cmd: &mut Command, budget: Duration) -> Result<()> {
    use std::os::unix::process::CommandExt;

    let shown = format!("{cmd:?}");
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let deadline = Instant::now() + budget;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("{shown} failed with {status}");
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            // The test processes and the nodes they started (each in a group of its own, which
            // the suites kill when they exit on SIGTERM).
            let group = child.id().to_string();
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{group}")])
                .status();
            std::thread::sleep(Duration::from_secs(5));
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            let _ = child.wait();
            bail!(
                "{shown} ran longer than its budget of {} s",
                budget.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The installed version of a Debian package, if it is installed.
fn debian_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status} ${Version}", package])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.strip_prefix("installed ")?;
    Some(version.trim().to_owned())
}

/// `apt-get update` then `apt-get install -y` of `packages` (each `name` or `name=version`),
/// through sudo when not root.
fn apt_install(packages: &[String]) -> Result<()> {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| -> Command {
        let mut c = if root_user {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    crate::run(&mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(packages);
    crate::run(&mut install)
}

/// Node.js and npm when missing, then `npm ci` when `package-lock.json` changed since the last
/// install (or nothing is installed).
fn install_node(dir: &Path) -> Result<()> {
    if !succeeds("node", &["--version"]) || !succeeds("npm", &["--version"]) {
        apt_install(&["nodejs".to_owned(), "npm".to_owned()])?;
    }
    let lock = dir.join("package-lock.json");
    let wanted = std::fs::read_to_string(&lock)
        .with_context(|| format!("cannot read {}", lock.display()))?;
    let stamp: PathBuf = dir.join("node_modules/.ilion-installed-lock.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(dir);
    let shown = format!("{npm:?}");
    eprintln!("xtask: running {shown}");
    if !npm
        .status()
        .with_context(|| format!("cannot start {shown}"))?
        .success()
    {
        bail!("{shown} failed");
    }
    std::fs::write(&stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))
}

/// Debian's Go and gocql at the pinned versions, installed when missing or different.
fn install_go() -> Result<()> {
    let missing: Vec<String> = GO_PACKAGES
        .iter()
        .filter(|(name, version)| debian_version(name).as_deref() != Some(*version))
        .map(|(name, version)| format!("{name}={version}"))
        .collect();
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    if !succeeds("go", &["version"]) {
        bail!("`go` is not on PATH after installing {GO_PACKAGES:?}");
    }
    let gocql = Path::new(DEBIAN_GOPATH).join("src/github.com/gocql/gocql");
    if !gocql.is_dir() {
        bail!("gocql's sources are not at {}", gocql.display());
    }
    Ok(())
}
