//! Where the pipeline's programs are.
//!
//! They are the ones cargo built for the profile of the running test or benchmark:
//! `target/<profile>/scepwatch-{collector,ingestor}`, found from the running executable
//! (`target/<profile>/deps/<test>-<hash>`). `cargo test --workspace --all-targets` builds them
//! along with everything else. When one is missing, or older than a source file of the
//! collector, the ingestor or the proto crate (a `cargo test -p scepwatch-e2e` after an edit),
//! they are built once per process with `cargo build -p scepwatch-collector -p
//! scepwatch-ingestor` (`--release` for the release folder), so a test never runs yesterday's
//! code. `SCEPWATCH_BIN_DIR` names another folder, used as it is (never built).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::{workspace_root, Error};

/// One of the pipeline's programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `scepwatch-collector`.
    Collector,
    /// `scepwatch-ingestor`.
    Ingestor,
}

impl Program {
    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Collector => "scepwatch-collector",
            Program::Ingestor => "scepwatch-ingestor",
        }
    }

    /// The path of the program, built first when needed (see the module documentation).
    pub fn path(self) -> Result<PathBuf, Error> {
        if let Some(dir) = std::env::var_os("SCEPWATCH_BIN_DIR") {
            let path = PathBuf::from(dir).join(self.name());
            if !path.is_file() {
                return Err(Error::Build(format!(
                    "{} does not exist (SCEPWATCH_BIN_DIR)",
                    path.display()
                )));
            }
            return Ok(path);
        }
        let dir = profile_dir()?;
        ensure_built(&dir)?;
        Ok(dir.join(self.name()))
    }
}

/// `target/<profile>` of the running executable.
fn profile_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locating the test executable", e))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::Build(format!("{} has no folder", exe.display())))?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    Ok(dir.to_path_buf())
}

/// The outcome of the one build attempt of this process.
static BUILT: Mutex<Option<Result<(), String>>> = Mutex::new(None);

fn ensure_built(dir: &Path) -> Result<(), Error> {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(outcome) = built.as_ref() {
        return outcome.clone().map_err(Error::Build);
    }
    let programs = [Program::Collector, Program::Ingestor];
    let sources = newest_source();
    let stale = programs.iter().any(|p| {
        let modified = std::fs::metadata(dir.join(p.name())).and_then(|m| m.modified());
        match (modified, sources) {
            (Err(_), _) => true,
            (Ok(built), Some(source)) => built < source,
            (Ok(_), None) => false,
        }
    });
    let outcome = if stale { build(dir) } else { Ok(()) };
    *built = Some(outcome.clone());
    outcome.map_err(Error::Build)
}

fn build(dir: &Path) -> Result<(), String> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root).args([
        "build",
        "-p",
        "scepwatch-collector",
        "-p",
        "scepwatch-ingestor",
    ]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    eprintln!(
        "building scepwatch-collector and scepwatch-ingestor into {} (missing or older than their sources)",
        dir.display()
    );
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!("`cargo build` of the programs failed ({status})"));
    }
    for p in [Program::Collector, Program::Ingestor] {
        if !dir.join(p.name()).is_file() {
            return Err(format!(
                "`cargo build` did not produce {}",
                dir.join(p.name()).display()
            ));
        }
    }
    Ok(())
}

/// The newest modification time of the programs' sources (their crates and the proto crate).
fn newest_source() -> Option<SystemTime> {
    let root = workspace_root();
    let mut newest = None;
    for krate in ["collector", "ingestor", "proto"] {
        let base = root.join(krate);
        for sub in ["src", "proto", "build.rs", "Cargo.toml"] {
            walk(&base.join(sub), &mut newest);
        }
    }
    newest
}

fn walk(path: &Path, newest: &mut Option<SystemTime>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for e in entries.flatten() {
            walk(&e.path(), newest);
        }
    } else if let Ok(m) = meta.modified() {
        if newest.is_none_or(|n| m > n) {
            *newest = Some(m);
        }
    }
}
