//! The HTML report is one self-contained page: no external asset, nothing fetched, and every
//! string from a log escaped. Checked on the page text, and (when Chromium is installed) on the
//! DOM a real browser builds from it.

use std::fs;
use std::path::Path;
use std::process::Command;

const IIS_HEAD: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-20 18:30:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

fn scepwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scepwatch"))
}

/// A server folder whose IIS log carries a hostile query string on failing PKIOperation
/// requests (500 with win32 status 1346, the guide's row 3), and a non-log file whose *name*
/// is markup.
fn hostile_input(dir: &Path) {
    let logs = dir.join("ndes01/inetpub/logs/LogFiles/W3SVC1");
    fs::create_dir_all(&logs).unwrap();
    let mut log = IIS_HEAD.to_string();
    for i in 0..5 {
        log.push_str(&format!(
            "2026-11-20 18:30:{:02} 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message=<script>alert(1)</script> 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 500 0 1346 15\r\n",
            10 + i
        ));
    }
    fs::write(logs.join("u_ex261120.log"), log).unwrap();
    fs::write(dir.join("ndes01/<script>alert(2)<!--.txt"), "just a note\n").unwrap();
}

fn render(dir: &Path) -> String {
    let out = dir.join("report.html");
    let st = scepwatch()
        .args(["diagnose", "--format", "html", "-q", "-o"])
        .arg(&out)
        .arg(dir.join("ndes01"))
        .status()
        .unwrap();
    assert!(st.code().is_some_and(|c| c <= 1), "exit {st:?}");
    fs::read_to_string(out).unwrap()
}

/// True when byte `pos` of `page` sits inside a tag (between a `<` and its `>`).
fn inside_tag(page: &str, pos: usize) -> bool {
    let before = &page[..pos];
    match (before.rfind('<'), before.rfind('>')) {
        (Some(lt), Some(gt)) => lt > gt,
        (Some(_), None) => true,
        _ => false,
    }
}

#[test]
fn page_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    hostile_input(dir.path());
    let page = render(dir.path());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<link"), "no stylesheet links");
    assert!(!page.contains("<script src"), "no external scripts");
    assert!(!page.contains("<iframe") && !page.contains("<img") && !page.contains("@import"));
    assert!(!page.contains("fetch(") && !page.contains("XMLHttpRequest"));
    for scheme in ["http://", "https://", "//"] {
        for (pos, _) in page.match_indices(scheme) {
            assert!(
                !inside_tag(&page, pos) || scheme == "//" && page[..pos].ends_with(':'),
                "{scheme} inside a tag at {pos}: {}",
                &page[pos.saturating_sub(60)..(pos + 40).min(page.len())]
            );
        }
    }
    for (pos, _) in page.match_indices("href=\"") {
        assert_eq!(page.as_bytes()[pos + 6], b'#', "only in-page links");
    }
    assert!(!page.contains("src="));
}

#[test]
fn log_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    hostile_input(dir.path());
    let page = render(dir.path());
    // One script element: the inline one that opens collapsed sections for printing.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<!--"));
    assert!(
        page.contains("&lt;script&gt;alert(2)&lt;!--.txt"),
        "file name shown as text"
    );
    if page.contains("alert(1)") {
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}

/// Renders the page in headless Chromium and checks the DOM it built. Without Chromium the
/// test only says so, unless CI=true, where a missing browser is a failure.
#[test]
fn chromium_renders_the_diagnoses() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("/usr/bin/chromium is missing on CI: install the chromium package");
        }
        eprintln!("notice: /usr/bin/chromium not found; HTML rendering test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples");
    let input = if samples.exists() {
        samples
    } else {
        hostile_input(dir.path());
        dir.path().join("ndes01")
    };
    let html = dir.path().join("report.html");
    let json = scepwatch()
        .args(["diagnose", "--format", "json", "-q"])
        .arg(&input)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    scepwatch()
        .args(["diagnose", "--format", "html", "-q", "-o"])
        .arg(&html)
        .arg(&input)
        .status()
        .unwrap();
    let profile = dir.path().join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("scepwatch diagnosis"),
        "no DOM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    for d in report["diagnoses"].as_array().unwrap() {
        let title = d["title"].as_str().unwrap();
        assert!(dom.contains(&escape(title)), "title {title:?} not rendered");
    }
    assert!(dom.contains(&escape(report["verdict"]["headline"].as_str().unwrap())));
}
