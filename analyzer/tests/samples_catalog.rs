//! The bundled sample incident (testdata/samples, see its README) holds every row of the
//! diagnosis catalog: `diagnose` must report exactly the codes listed in
//! testdata/samples/expected-codes.txt, cover catalog rows 1 to 17, and join the iPhone's
//! PKIOperation with ndes01's IIS record on the SCEP transactionID.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples")
}

fn report() -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_scepwatch"))
        .args([
            "diagnose",
            "--format",
            "json",
            "-q",
            "--max-attempts",
            "10000",
        ])
        .arg(samples())
        .output()
        .expect("run scepwatch");
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

#[test]
fn samples_report_exactly_the_expected_codes() {
    let expected: BTreeSet<String> = std::fs::read_to_string(samples().join("expected-codes.txt"))
        .expect("expected-codes.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let r = report();
    let found: BTreeSet<String> = r["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .map(|d| d["code"].as_str().expect("code").to_string())
        .collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
}

#[test]
fn samples_cover_every_catalog_row() {
    let r = report();
    let rows: BTreeSet<u64> = r["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .map(|d| d["catalog_row"].as_u64().expect("catalog_row"))
        .collect();
    for row in 1..=17u64 {
        assert!(
            rows.contains(&row),
            "catalog row {row} is not diagnosed in the samples"
        );
    }
}

#[test]
fn iphone_pkioperation_joins_on_transaction_id() {
    let r = report();
    let joined = r["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .find(|a| {
            a["device"] == "iphone-anna"
                && a["join"] == "transaction_id"
                && a["servers"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|h| h == "ndes01"))
        })
        .expect("an iPhone attempt joined with ndes01 by transactionID");
    assert!(!joined["transaction_ids"].as_array().expect("tx").is_empty());
    let codes: Vec<&str> = joined["diagnoses"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(codes.contains(&"ndes.request_submitted"), "{codes:?}");
}

#[test]
fn windows_laptop_blocked_attempt_is_concluded_only_with_server_logs_read() {
    let r = report();
    let blocked = r["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .find(|d| d["code"] == "network.blocked_before_ndes")
        .expect("row 2 diagnosis");
    assert!(blocked["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .any(|e| e["host"] == "win-laptop-42"));
}
