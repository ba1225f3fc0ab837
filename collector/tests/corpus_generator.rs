//! `scepwatch-corpus`: deterministic for a seed, argument checking, and the shape of what it
//! writes (shares, line lengths, sorted files, device and server logs that join).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scepwatch-corpus"))
        .args(args)
        .output()
        .expect("run scepwatch-corpus")
}

/// A fresh, absent directory under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scepwatch-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn generate(dir: &Path, seed: &str) {
    generate_with(dir, seed, "40");
}

fn generate_with(dir: &Path, seed: &str, devices: &str) {
    let out = corpus(&[
        "--out",
        dir.to_str().expect("utf-8 temp path"),
        "--size",
        "4MiB",
        "--servers",
        "3",
        "--devices",
        devices,
        "--days",
        "3",
        "--seed",
        seed,
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file of a tree by relative path.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// FNV-1a over every path and content, in path order.
fn digest(files: &BTreeMap<String, Vec<u8>>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (path, bytes) in files {
        for b in path.bytes().chain([0]).chain(bytes.iter().copied()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (scratch("det-a"), scratch("det-b"), scratch("det-c"));
    generate(&a, "1");
    generate(&b, "1");
    generate(&c, "2");
    let (ta, tb, tc) = (tree(&a), tree(&b), tree(&c));
    for dir in [&a, &b, &c] {
        let _ = fs::remove_dir_all(dir);
    }
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    assert_eq!(digest(&ta), digest(&tb), "same seed, different bytes");
    assert_ne!(digest(&ta), digest(&tc), "another seed gave the same bytes");
}

#[test]
fn more_devices_only_add_lines() {
    // Each device and each server-day draws from its own stream, and tracked attempts are left
    // out of the pacing: asking for more devices keeps every line of the smaller corpus.
    let (small, large) = (scratch("dev-10"), scratch("dev-30"));
    generate_with(&small, "1", "10");
    generate_with(&large, "1", "30");
    let (a, b) = (tree(&small), tree(&large));
    for dir in [&small, &large] {
        let _ = fs::remove_dir_all(dir);
    }
    for (path, bytes) in a.iter().filter(|(p, _)| p.contains("W3SVC1")) {
        let mut larger: BTreeMap<&[u8], usize> = BTreeMap::new();
        for line in b[path].split(|&c| c == b'\n') {
            *larger.entry(line).or_default() += 1;
        }
        for line in bytes.split(|&c| c == b'\n') {
            let n = larger.get_mut(line).filter(|n| **n > 0);
            assert!(
                n.is_some(),
                "{path}: a line of the 10-device corpus is missing with 30"
            );
            if let Some(n) = n {
                *n -= 1;
            }
        }
    }
}

#[test]
fn shape_of_the_corpus() {
    let dir = scratch("shape");
    generate(&dir, "1");
    let files = tree(&dir);
    let _ = fs::remove_dir_all(&dir);

    let total: usize = files.values().map(Vec::len).sum();
    let size = 4 << 20;
    assert!(
        total > size * 9 / 10 && total < size * 11 / 10,
        "total {total} bytes for a 4 MiB request"
    );

    let iis: Vec<(&String, &Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.contains("W3SVC1/u_ex"))
        .collect();
    assert_eq!(iis.len(), 3 * 3, "one IIS file per server and day");
    let iis_bytes: usize = iis.iter().map(|(_, b)| b.len()).sum();
    let share = iis_bytes as f64 / total as f64;
    assert!((0.80..0.95).contains(&share), "IIS share {share}");

    let mut lines = 0usize;
    let mut iis_messages = BTreeSet::new();
    for (path, bytes) in &iis {
        let text = std::str::from_utf8(bytes).expect("IIS logs are ASCII");
        let mut previous = "";
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            lines += 1;
            let stamp = line.get(..19).unwrap_or("");
            assert!(stamp >= previous, "{path}: {stamp} after {previous}");
            previous = stamp;
            if let Some(m) = message_of(line) {
                iis_messages.insert(m.to_string());
            }
        }
        // The file's day is in its name and in every line.
        let yymmdd = &path[path.len() - 10..path.len() - 4];
        let day = format!("20{}-{}-{}", &yymmdd[..2], &yymmdd[2..4], &yymmdd[4..]);
        assert!(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .all(|l| l.starts_with(&day)),
            "{path}"
        );
    }
    let avg = (iis_bytes as f64) / (lines as f64);
    assert!(
        (150.0..210.0).contains(&avg),
        "average IIS line {avg} bytes"
    );
    assert!(
        !iis_messages.is_empty(),
        "no GET PKIOperation in the IIS logs"
    );

    // Every PKIOperation message an iPhone logged is in a server's IIS log: exact joins.
    let mut device_messages = 0;
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with("profiled.log")) {
        for line in std::str::from_utf8(bytes).expect("ASCII").lines() {
            if let Some(m) = message_of(line) {
                device_messages += 1;
                assert!(
                    iis_messages.contains(m),
                    "{path}: message not on any server"
                );
            }
        }
    }
    assert!(
        device_messages > 0,
        "no iOS PKIOperation in the device logs"
    );

    for kind in [
        "omadmlog.log",
        "profiled.log",
        "Admin.txt",
        "httperr1.log",
        "Application.xml",
        "health.jsonl",
        "probe.jsonl",
    ] {
        assert!(files.keys().any(|p| p.ends_with(kind)), "no {kind}");
    }
}

/// The `message=` value of a PKIOperation request in a log line.
fn message_of(line: &str) -> Option<&str> {
    let at = line.find("operation=PKIOperation&message=")?;
    let rest = &line[at + "operation=PKIOperation&message=".len()..];
    Some(rest.split([' ', '&']).next().unwrap_or(rest))
}

#[test]
fn help_and_argument_errors() {
    let help = corpus(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--out",
        "--size",
        "--servers",
        "--devices",
        "--days",
        "--start",
        "--seed",
        "--force",
    ] {
        assert!(text.contains(flag), "--help does not mention {flag}");
    }

    for args in [
        &["--size", "1GiB"][..],
        &["--out", "x", "--size", "lots"],
        &["--out", "x", "--size", "5PB"],
        &["--out", "x", "--servers", "0"],
        &["--out", "x", "--days", "400"],
        &["--out", "x", "--start", "2026-02-30"],
        &["--out", "x", "--what"],
        // Hourly probes of 99 servers over a year do not fit in a megabyte.
        &[
            "--out",
            "x",
            "--size",
            "1MiB",
            "--servers",
            "99",
            "--days",
            "366",
        ],
    ] {
        let out = corpus(args);
        assert_eq!(out.status.code(), Some(2), "{args:?} was accepted");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }

    // A non-empty output folder is refused unless --force.
    let dir = scratch("nonempty");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("keep.txt"), "precious").expect("write");
    let out = corpus(&[
        "--out",
        dir.to_str().expect("utf-8"),
        "--size",
        "64KiB",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let forced = corpus(&[
        "--out",
        dir.to_str().expect("utf-8"),
        "--size",
        "64KiB",
        "--servers",
        "1",
        "--days",
        "1",
        "--devices",
        "0",
        "--quiet",
        "--force",
    ]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(dir.join("keep.txt").exists());
    let _ = fs::remove_dir_all(&dir);
}
