//! Where the pipeline's programs are.
//!
//! The release builds, `target/release/scepwatch-{collector,ingestor,analyzer}` (the target
//! folder is found from the running executable, `target/<profile>/deps/<test>-<hash>`), whatever
//! profile the test itself was built with: they are what users run, their memory figures mean
//! something, and they carry a million lines through the pipeline in about 11 s on the
//! development machine where the debug builds need about 50 s (10× the CPU), which would put
//! each fault test over its three-minute budget once the machine is busy.
//!
//! When one is missing, or older than a source file of the crates they are built from, all three
//! are built, once per process, by one `cargo build --release` of the collector, the ingestor
//! and the analyzer service (`--features scepwatch-analyzer/service`; the analyzer's schema
//! files count as sources: the service embeds them). So a test never runs yesterday's code (the
//! first run on a clean checkout pays for the release build).
//!
//! `SCEPWATCH_E2E_PROFILE=debug` uses (and builds) `target/debug` instead;
//! `SCEPWATCH_BIN_DIR` names a folder that is used as it is, never built.

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
    /// `scepwatch-analyzer` (the analyzer service, feature `service`).
    Analyzer,
}

impl Program {
    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Collector => "scepwatch-collector",
            Program::Ingestor => "scepwatch-ingestor",
            Program::Analyzer => "scepwatch-analyzer",
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
        build_if_stale(&dir)?;
        Ok(dir.join(self.name()))
    }
}

/// `target/release` (or `target/<SCEPWATCH_E2E_PROFILE>`) of the running executable's target
/// folder.
fn profile_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locating the test executable", e))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::Build(format!("{} has no folder", exe.display())))?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    // Now target/<profile>; its parent is the target folder.
    let target = dir.parent().unwrap_or(dir);
    let profile = std::env::var("SCEPWATCH_E2E_PROFILE").unwrap_or_else(|_| "release".to_owned());
    if profile != "release" && profile != "debug" {
        return Err(Error::Build(format!(
            "SCEPWATCH_E2E_PROFILE must be release or debug, not {profile:?}"
        )));
    }
    Ok(target.join(profile))
}

/// The programs, built together.
const PROGRAMS: [Program; 3] = [Program::Collector, Program::Ingestor, Program::Analyzer];

/// The arguments of the one `cargo build` that makes [`PROGRAMS`]: one invocation, so the
/// dependencies are compiled once with their features unified (two, one for the transport and
/// one for the analyzer, compiled most of them twice: 6 min 54 s of a CI run against 4 min
/// 42 s).
const CARGO_ARGS: &[&str] = &[
    "-p",
    "scepwatch-collector",
    "-p",
    "scepwatch-ingestor",
    "-p",
    "scepwatch-analyzer",
    "--features",
    "scepwatch-analyzer/service",
    "--bin",
    "scepwatch-collector",
    "--bin",
    "scepwatch-ingestor",
    "--bin",
    "scepwatch-analyzer",
];

/// The crates whose sources the programs are built from.
const CRATES: &[&str] = &["analyzer", "collector", "ingestor", "proto"];

/// The outcome of the one build attempt of this process.
static BUILT: Mutex<Option<Result<(), String>>> = Mutex::new(None);

fn build_if_stale(dir: &Path) -> Result<(), Error> {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(outcome) = built.as_ref() {
        return outcome.clone().map_err(Error::Build);
    }
    let sources = newest_source(CRATES);
    let stale = PROGRAMS.iter().any(|p| {
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
    cmd.current_dir(&root).arg("build").args(CARGO_ARGS);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let names: Vec<&str> = PROGRAMS.iter().map(|p| p.name()).collect();
    eprintln!(
        "building {} into {} (missing or older than their sources)",
        names.join(", "),
        dir.display()
    );
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!(
            "`cargo build` of {} failed ({status})",
            names.join(", ")
        ));
    }
    for p in PROGRAMS {
        if !dir.join(p.name()).is_file() {
            return Err(format!(
                "`cargo build` did not produce {}",
                dir.join(p.name()).display()
            ));
        }
    }
    Ok(())
}

/// The newest modification time of the sources of `crates` (and of the analyzer's schema).
fn newest_source(crates: &[&str]) -> Option<SystemTime> {
    let root = workspace_root();
    let mut newest = None;
    for krate in crates {
        let base = root.join(krate);
        for sub in ["src", "proto", "schema", "build.rs", "Cargo.toml"] {
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

/// Locates (and builds when needed) the collector and the ingestor now, so that the first
/// start of a program in a test is not also a build: call it before timing anything.
pub fn ensure_built() -> Result<(), Error> {
    Program::Collector.path()?;
    Program::Ingestor.path()?;
    Ok(())
}

/// [`ensure_built`] for the analyzer service.
pub fn ensure_analyzer_built() -> Result<(), Error> {
    Program::Analyzer.path().map(|_| ())
}
