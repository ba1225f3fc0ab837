//! Multi-day logs through the whole `diagnose` pipeline: a corpus of three days written by the
//! project's generator (`scepwatch-corpus`, which keeps device and server logs consistent: every
//! device request is in the IIS log of a server at the same second, iOS messages share their
//! transactionIDs with the IIS GET PKIOperation lines) must join every device attempt, whichever
//! day it is on (regression: the server logs of later days, announced before any was read, made
//! the earlier days look read, so their device attempts were decided before their IIS files and
//! came out `device_only`). 64 devices, because the driver first lets the engine decide after
//! that many files: the old engine then decided the earlier days' device attempts before their
//! server logs were read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The generator binary of the collector package, built when missing.
fn corpus_tool() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let tool = profile_dir.join(format!("scepwatch-corpus{}", std::env::consts::EXE_SUFFIX));
    if !tool.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "scepwatch-collector",
            "--bin",
            "scepwatch-corpus",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building scepwatch-corpus failed");
    }
    tool
}

#[test]
fn multi_day_corpus_joins_every_device_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let status = Command::new(corpus_tool())
        .args([
            "--size",
            "6MiB",
            "--days",
            "3",
            "--devices",
            "64",
            "--quiet",
            "--out",
        ])
        .arg(&corpus)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_scepwatch"))
        .args([
            "diagnose",
            "--max-attempts",
            "100000",
            "--format",
            "json",
            "-q",
        ])
        .arg(&corpus)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    // (start date, join) of every attempt with a device side.
    let mut by_day: BTreeMap<(String, String), u64> = BTreeMap::new();
    for a in v["attempts"].as_array().unwrap() {
        if a["device"].is_null() {
            continue;
        }
        let day = a["start"].as_str().unwrap().get(..10).unwrap().to_string();
        let join = a["join"].as_str().unwrap().to_string();
        *by_day.entry((day, join)).or_insert(0) += 1;
    }
    let days: std::collections::BTreeSet<&String> = by_day.keys().map(|k| &k.0).collect();
    assert_eq!(days.len(), 3, "{by_day:?}");
    let device_only: u64 = by_day
        .iter()
        .filter(|(k, _)| k.1 == "device_only")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(device_only, 0, "device attempts left alone: {by_day:?}");
    // Every day has joined attempts; joins by transactionID (iOS GET PKIOperation) and by time
    // both occur.
    for day in days {
        assert!(
            by_day.keys().any(|k| &k.0 == day && k.1 != "device_only"),
            "{day}: nothing joined: {by_day:?}"
        );
    }
    for join in ["transaction_id", "fallback"] {
        assert!(
            by_day.keys().any(|k| k.1 == join),
            "no {join} join: {by_day:?}"
        );
    }
    assert_eq!(v["summary"]["engine"]["late_events"], 0);

    // The engine takes the files of different servers as they come: the report must not
    // depend on how many parsers run (nor on their timing).
    for threads in ["1", "3"] {
        let again = Command::new(env!("CARGO_BIN_EXE_scepwatch"))
            .args([
                "diagnose",
                "--max-attempts",
                "100000",
                "--format",
                "json",
                "-q",
            ])
            .args(["--threads", threads])
            .arg(&corpus)
            .output()
            .unwrap();
        assert!(
            again.stdout == out.stdout,
            "--threads {threads} gave another report"
        );
    }
}
