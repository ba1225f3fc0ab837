//! Exit codes of `scepwatch diagnose`, as documented in `--help` and docs/diagnose.md:
//! 0 no problem, 1 problems, 2 usage error or nothing readable, 3 internal error.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn scepwatch(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scepwatch"))
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

const IIS_HEAD: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-20 18:30:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

#[test]
fn usage_errors_exit_2() {
    assert_eq!(scepwatch(&["diagnose"], &[]).status.code(), Some(2));
    assert_eq!(
        scepwatch(&["diagnose", "--format", "pdf", "x"], &[])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        scepwatch(&["diagnose", "--endpoint", "no-hosts-here", "x"], &[])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        scepwatch(&["diagnose", "--utc-offset", "+25:00", "x"], &[])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn nothing_readable_exits_2_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("garbage.bin"),
        [0u8, 159, 146, 150, 0, 0, 1, 2],
    )
    .unwrap();
    let missing = dir.path().join("missing");
    let out = scepwatch(&["diagnose", "--format", "json"], &[dir.path(), &missing]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["errors"]["files"]["missing"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing readable"));
}

#[test]
fn healthy_log_exits_0_and_failures_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok/ndes01");
    fs::create_dir_all(&ok).unwrap();
    let mut log = IIS_HEAD.to_string();
    for (i, op) in ["GetCACaps", "GetCACert"].iter().enumerate() {
        log.push_str(&format!(
            "2026-11-20 18:30:1{i} 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation={op}&message=default 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 200 0 0 15\r\n"
        ));
    }
    fs::write(ok.join("u_ex261120.log"), &log).unwrap();
    let out = scepwatch(&["diagnose", "--format", "json"], &[&ok]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let worst = v["verdict"]["severity"].as_str().unwrap().to_string();
    let expect = if matches!(worst.as_str(), "none" | "info") {
        0
    } else {
        1
    };
    assert_eq!(out.status.code(), Some(expect), "worst {worst}");

    let bad = dir.path().join("bad/ndes01");
    fs::create_dir_all(&bad).unwrap();
    let mut log = IIS_HEAD.to_string();
    for i in 0..20 {
        log.push_str(&format!(
            "2026-11-20 18:31:{i:02} 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message=MIIB 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 500 0 1346 15\r\n"
        ));
    }
    fs::write(bad.join("u_ex261120.log"), &log).unwrap();
    let out = scepwatch(&["diagnose", "--format", "json"], &[&bad]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let has_problem = v["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["severity"] != "info");
    assert_eq!(out.status.code(), Some(if has_problem { 1 } else { 0 }));
}

#[test]
fn help_documents_exit_codes_and_examples() {
    let out = scepwatch(&["diagnose", "--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Exit codes:",
        "scepwatch diagnose testdata/samples",
        "scepwatch diagnose logs.zip --format html -o report.html",
        "--endpoint https://ndes.contoso.com/certsrv/mscep/mscep.dll=ndes01",
        "first folder below the input",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}");
    }
}

#[test]
fn formats_and_parse_subcommands() {
    let out = scepwatch(&["formats"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "iis",
        "httperr",
        "evtx",
        "android-omadm",
        "ios-console",
        "setupmsi",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("u_ex261120.log");
    fs::write(
        &f,
        format!("{IIS_HEAD}2026-11-20 18:30:10 10.20.30.11 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=x 443 - 10.20.30.5 x - 200 0 0 15\r\n"),
    )
    .unwrap();
    let out = scepwatch(&["parse"], &[&f]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["stats"]["format"], "iis");
    assert_eq!(
        last["stats"]["events"].as_u64(),
        Some(lines.len() as u64 - 1)
    );
    let garbage = dir.path().join("g.bin");
    fs::write(&garbage, [0u8, 0, 0, 1, 2, 3]).unwrap();
    assert_eq!(scepwatch(&["parse"], &[&garbage]).status.code(), Some(2));
}
