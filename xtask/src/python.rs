//! The Python venv under `target/py` with the pinned real clients, and the tests that use it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{root, run};

/// Creates `target/py` and installs `tests/compat/requirements.txt` when it changed since the
/// last install. Returns the venv's python.
pub(crate) fn venv() -> Result<PathBuf> {
    let root = root();
    let dir = root.join("target/py");
    let python = dir.join("bin/python");
    let requirements = root.join("tests/compat/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    let stamp = dir.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(python)
}

/// Runs the pytest suites under `tests/compat` against real `ilion` processes.
pub(crate) fn compat_tests() -> Result<()> {
    let python = venv()?;
    let dir = root().join("tests/compat");
    let has_tests = std::fs::read_dir(&dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("test_") && name.ends_with(".py")
            })
        })
        .unwrap_or(false);
    if !has_tests {
        eprintln!("xtask: no real-client tests in tests/compat yet");
        return Ok(());
    }
    let binary = crate::ilion_bin()?;
    run(Command::new(python)
        .args(["-m", "pytest", "-q", "-x", "tests/compat"])
        .env("ILION_BIN", binary))
}
