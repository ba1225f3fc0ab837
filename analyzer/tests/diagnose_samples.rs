//! `diagnose` over the sample incident in testdata/samples (see its README): only what is
//! stable is asserted: it runs, finds problems, and every diagnosis carries evidence and a fix.

use std::path::Path;
use std::process::Command;

#[test]
fn samples_are_diagnosed_with_evidence_and_fixes() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples");
    assert!(samples.exists(), "testdata/samples is missing");
    let out = Command::new(env!("CARGO_BIN_EXE_scepwatch"))
        .args(["diagnose", "--format", "json", "-q"])
        .arg(&samples)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnoses = v["diagnoses"].as_array().unwrap();
    assert!(!diagnoses.is_empty());
    for d in diagnoses {
        let code = d["code"].as_str().unwrap();
        assert!(
            !d["evidence"].as_array().unwrap().is_empty(),
            "{code}: no evidence"
        );
        assert!(
            !d["fix"].as_str().unwrap().trim().is_empty(),
            "{code}: no fix"
        );
        assert!(
            !d["explanation"].as_str().unwrap().trim().is_empty(),
            "{code}: no explanation"
        );
    }
    // Server logs carry no SCEP URL: they are mapped to the endpoint the devices used.
    assert!(v["summary"]["mapping"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["host"] == "ndes01" && !m["endpoint"].as_str().unwrap().is_empty()));
    // The text report runs too, with the same exit code.
    let text = Command::new(env!("CARGO_BIN_EXE_scepwatch"))
        .args(["diagnose", "-q"])
        .arg(&samples)
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text.stdout).contains("Diagnoses"));
}
