//! The JSON report: documented shape (docs/report-schema.md) and deterministic output.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const IIS: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-20 18:30:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n\
2026-11-20 18:30:10 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACaps&message=default 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 200 0 0 15\r\n\
2026-11-20 18:30:11 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACert&message=default 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 200 0 0 15\r\n\
2026-11-20 18:31:00 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message=MIIB 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 503 0 0 15\r\n";

fn input(dir: &Path) -> Vec<std::path::PathBuf> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples");
    fs::create_dir_all(dir.join("ndes01")).unwrap();
    fs::write(dir.join("ndes01/u_ex261120.log"), IIS).unwrap();
    fs::write(
        dir.join("ndes01/junk.bin"),
        [0u8, 1, 2, 3, 0, 0, 0xff, 0xfe, 7, 0],
    )
    .unwrap();
    let mut v = vec![dir.to_path_buf()];
    if samples.exists() {
        v.push(samples);
    }
    v
}

fn json_report(inputs: &[std::path::PathBuf], extra: &[&str]) -> (Vec<u8>, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_scepwatch"))
        .args(["diagnose", "--format", "json", "-q"])
        .args(extra)
        .args(inputs)
        .output()
        .unwrap();
    (out.stdout, out.status.code())
}

#[test]
fn same_input_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = input(dir.path());
    let (a, _) = json_report(&inputs, &[]);
    let (b, _) = json_report(&inputs, &["--threads", "1"]);
    let (c, _) = json_report(&inputs, &["--threads", "4"]);
    assert!(!a.is_empty());
    assert_eq!(a, b, "output depends on the thread count");
    assert_eq!(a, c);
}

#[test]
fn shape_matches_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (out, code) = json_report(&input(dir.path()), &[]);
    assert!(matches!(code, Some(0 | 1)));
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["schema_version"],
        scepwatch_analyzer::model::REPORT_SCHEMA_VERSION
    );
    assert_eq!(v["generated_by"]["tool"], "scepwatch");
    assert!(
        v["generated_by"].get("timestamp").is_none(),
        "no wall clock unless --timestamp"
    );
    assert!(v["inputs"].is_array());
    for k in ["severity", "problems", "headline"] {
        assert!(v["verdict"].get(k).is_some(), "verdict.{k}");
    }
    let s = &v["summary"];
    for k in [
        "totals",
        "files",
        "parsers",
        "errors",
        "mapping",
        "attempts",
        "diagnoses",
        "engine",
    ] {
        assert!(s.get(k).is_some(), "summary.{k}");
    }
    for k in [
        "files",
        "parsed",
        "partial",
        "skipped",
        "bytes",
        "records",
        "events",
        "ignored",
        "parse_errors",
    ] {
        assert!(s["totals"][k].is_u64(), "summary.totals.{k}");
    }
    let files = s["files"].as_array().unwrap();
    let junk = files
        .iter()
        .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("junk.bin")))
        .unwrap();
    assert_eq!(junk["status"], "skipped");
    assert_eq!(junk["reason"], "format.binary");
    let iis = files
        .iter()
        .find(|f| f["path"] == "ndes01/u_ex261120.log")
        .unwrap();
    assert_eq!(iis["status"], "parsed");
    assert_eq!(iis["format"], "iis");
    assert_eq!(iis["host"], "ndes01");
    for k in [
        "input",
        "role",
        "bytes",
        "records",
        "events",
        "ignored",
        "errors",
        "first_event",
        "last_event",
        "endpoint",
        "detail",
    ] {
        assert!(iis.get(k).is_some(), "file.{k}");
    }
    assert!(s["parsers"]["iis"]["records"].as_u64().unwrap() >= 3);
    assert!(s["errors"]["files"]["format.binary"].as_u64() >= Some(1));
    assert!(s["mapping"]["note"].is_string() && s["mapping"]["hosts"].is_array());
    for k in ["total", "listed", "by_join", "by_platform", "by_severity"] {
        assert!(s["attempts"].get(k).is_some(), "summary.attempts.{k}");
    }
    for k in ["total", "listed", "by_severity", "by_code"] {
        assert!(s["diagnoses"].get(k).is_some(), "summary.diagnoses.{k}");
    }
    for a in v["attempts"].as_array().unwrap() {
        for k in [
            "id",
            "endpoint",
            "start",
            "end",
            "join",
            "confidence",
            "platform",
            "servers",
            "steps",
            "severity",
        ] {
            assert!(a.get(k).is_some(), "attempt.{k}");
        }
    }
    for d in v["diagnoses"].as_array().unwrap() {
        for k in [
            "id",
            "code",
            "catalog_row",
            "severity",
            "title",
            "explanation",
            "fix",
            "scope",
            "endpoint",
            "first_seen",
            "last_seen",
            "occurrences",
            "evidence",
        ] {
            assert!(d.get(k).is_some(), "diagnosis.{k}");
        }
    }
}

#[test]
fn timestamp_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = json_report(&input(dir.path()), &["--timestamp"]);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(v["generated_by"]["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}
