//! Where the pipeline's programs are.
//!
//! The release builds, `target/release/scepwatch-{collector,ingestor,analyzer}` (the target
//! folder is found from the running executable, `target/<profile>/deps/<test>-<hash>`), whatever
//! profile the test itself was built with: they are what users run, their memory figures mean
//! something, and they carry a million lines through the pipeline in about 11 s on the
//! development machine where the debug builds need about 50 s (10× the CPU), which would put
//! each fault test over its three-minute budget once the machine is busy.
//!
//! When one is missing, or older than a source file of the crates it is built from, it is built
//! once per process: the collector and the ingestor together with `cargo build --release -p
//! scepwatch-collector -p scepwatch-ingestor`, the analyzer service with `cargo build --release
//! -p scepwatch-analyzer --features service --bin scepwatch-analyzer` (its schema files
//! count as sources: the service embeds them). So a test never runs yesterday's code (the
//! first run on a clean checkout pays for the release builds).
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

    fn build(self) -> Build {
        match self {
            Program::Collector | Program::Ingestor => Build::Transport,
            Program::Analyzer => Build::Analyzer,
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
        build_if_stale(&dir, self.build())?;
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

/// One `cargo build` invocation and what it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    /// The collector and the ingestor.
    Transport,
    /// The analyzer service.
    Analyzer,
}

impl Build {
    fn index(self) -> usize {
        match self {
            Build::Transport => 0,
            Build::Analyzer => 1,
        }
    }

    fn programs(self) -> &'static [Program] {
        match self {
            Build::Transport => &[Program::Collector, Program::Ingestor],
            Build::Analyzer => &[Program::Analyzer],
        }
    }

    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Build::Transport => &["-p", "scepwatch-collector", "-p", "scepwatch-ingestor"],
            Build::Analyzer => &[
                "-p",
                "scepwatch-analyzer",
                "--features",
                "service",
                "--bin",
                "scepwatch-analyzer",
            ],
        }
    }

    /// The crates whose sources the programs are built from.
    fn crates(self) -> &'static [&'static str] {
        match self {
            Build::Transport => &["collector", "ingestor", "proto"],
            Build::Analyzer => &["analyzer", "collector", "proto"],
        }
    }
}

/// The outcome of the one build attempt of this process, per [`Build`].
static BUILT: Mutex<[Option<Result<(), String>>; 2]> = Mutex::new([None, None]);

fn build_if_stale(dir: &Path, what: Build) -> Result<(), Error> {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let slot = &mut built[what.index()];
    if let Some(outcome) = slot.as_ref() {
        return outcome.clone().map_err(Error::Build);
    }
    let sources = newest_source(what.crates());
    let stale = what.programs().iter().any(|p| {
        let modified = std::fs::metadata(dir.join(p.name())).and_then(|m| m.modified());
        match (modified, sources) {
            (Err(_), _) => true,
            (Ok(built), Some(source)) => built < source,
            (Ok(_), None) => false,
        }
    });
    let outcome = if stale { build(dir, what) } else { Ok(()) };
    *slot = Some(outcome.clone());
    outcome.map_err(Error::Build)
}

fn build(dir: &Path, what: Build) -> Result<(), String> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root).arg("build").args(what.cargo_args());
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let names: Vec<&str> = what.programs().iter().map(|p| p.name()).collect();
    eprintln!(
        "building {} into {} (missing or older than their sources)",
        names.join(" and "),
        dir.display()
    );
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!(
            "`cargo build` of {} failed ({status})",
            names.join(" and ")
        ));
    }
    for p in what.programs() {
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
