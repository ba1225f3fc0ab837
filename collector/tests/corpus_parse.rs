//! The generated corpus and the bundled sample incident parse with zero parser errors.
//!
//! Every file is recognised by content ([`detect`]) and run through its parser; zips are opened
//! and each entry is treated the same way. A format whose parser is still a placeholder (it
//! yields no event from a known-good line) is reported and not asserted on, so these tests keep
//! passing while parsers are being written and start guarding them as soon as they are real.

use std::fs;
use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use scepwatch_collector::parse::{self, detect, Format, ParseStats, SourceContext};
use scepwatch_proto::v1::SourceId;

/// One line of each line-oriented format that a real parser turns into an event.
fn known_good(format: Format) -> Option<&'static str> {
    Some(match format {
        Format::Iis => "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n2026-11-20 14:05:04 10.20.30.11 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.20.30.11 Dalvik/2.1.0 - 200 0 0 31\n",
        Format::HttpErr => "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid s-reason s-queuename\n2026-11-20 10:06:02 10.20.30.11 50811 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll - 503 1 AppOffline SCEP\n",
        Format::AndroidOmadm => "2026-11-20T14:05:03.4260000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  24117    12  Sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca\n",
        Format::IosConsole => "2026-11-20 10:30:55.484000-0500  0x1a2b3c   Default     0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Attempting to retrieve issued certificate...\n",
        Format::SetupMsi => "=== Verbose logging started: 11/20/2026  7:10:02  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\\Windows\\system32\\msiexec.exe ===\nMSI (s) (A4:3C) [07:12:40:102]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.2301.1.0. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 0.\n",
        Format::Probe => "{\"time\":\"2026-11-20T08:05:00Z\",\"url\":\"https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll\",\"check\":\"browse\",\"status\":403,\"substatus\":0,\"body\":\"\",\"error\":null,\"elapsed_ms\":41}\n",
        Format::Health => "{\"time\":\"2026-11-20T10:10:00Z\",\"fact\":\"service\",\"kind\":\"app_pool\",\"name\":\"SCEP\",\"display_name\":\"SCEP\",\"state\":\"Stopped\",\"start_type\":\"Automatic\"}\n",
        Format::EventText => "Log Name:      Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin\nSource:        Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider\nDate:          11/20/2026 1:20:05 PM\nEvent ID:      36\nLevel:         Information\nComputer:      WIN-LAPTOP-42.contoso.com\nDescription:\nSCEP: Certificate request generated successfully. Enhanced Key Usage: (1.3.6.1.5.5.7.3.2), NDES URL: (https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).\n",
        Format::EventXml => "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Application Error'/><EventID Qualifiers='0'>1000</EventID><Level>2</Level><TimeCreated SystemTime='2026-11-20T10:01:58.4120000Z'/><EventRecordID>48215</EventRecordID><Channel>Application</Channel><Computer>ndes02.contoso.com</Computer></System><EventData><Data Name='AppName'>w3wp.exe</Data><Data Name='ModuleName'>ntdll.dll</Data><Data Name='ExceptionCode'>c0000005</Data></EventData></Event>\n",
        Format::Evtx => return None,
    })
}

fn ctx(host: &str, path: &str, format: Format) -> SourceContext {
    let source = SourceId {
        collector: "test".into(),
        host: host.into(),
        kind: format.source_kind() as i32,
        path: path.into(),
        stream: String::new(),
    };
    let mut c = SourceContext::new(source, 0);
    // Dateless formats (console copies) take the sample's day; every shape we write has a date.
    c.date_hint = Some((2026, 11, 20));
    c
}

fn parse_bytes(format: Format, host: &str, path: &str, bytes: &[u8]) -> ParseStats {
    let mut emit = |_e: scepwatch_proto::v1::Event| {};
    if format == Format::Evtx {
        return parse::eventlog::evtx::parse(
            &ctx(host, path, format),
            Cursor::new(bytes),
            &mut emit,
        )
        .unwrap_or_default();
    }
    parse::parse_stream(
        format,
        &ctx(host, path, format),
        BufReader::new(bytes),
        &mut emit,
    )
    .unwrap_or_else(|e| panic!("{path}: read error {e}"))
}

/// True when the format's parser turns a known-good record into an event.
fn parser_is_real(format: Format) -> bool {
    known_good(format)
        .is_some_and(|line| parse_bytes(format, "probe", "known-good", line.as_bytes()).events > 0)
}

/// Per file: (relative path, format, stats).
fn parse_tree(root: &Path) -> Vec<(String, Format, ParseStats)> {
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let host = rel.split('/').next().unwrap_or("").to_string();
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        if rel.ends_with(".zip") {
            let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).expect("zip entry");
                let name = format!("{rel}/{}", entry.name().expect("zip entry name"));
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("zip read");
                if let Some(format) = detect::detect(&data) {
                    out.push((
                        name.clone(),
                        format,
                        parse_bytes(format, &host, &name, &data),
                    ));
                }
            }
            continue;
        }
        // Files we keep next to the logs (scripts, messages, docs, git attributes) are not logs.
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        let is_log_named_txt = rel.contains("Admin.txt");
        let tooling = [".py", ".sh", ".md", ".txt", ".der"]
            .iter()
            .any(|ext| rel.ends_with(ext));
        if name.starts_with('.') || (tooling && !is_log_named_txt) {
            continue;
        }
        let format =
            detect::detect(&bytes).unwrap_or_else(|| panic!("{rel}: format not recognised"));
        out.push((
            rel.clone(),
            format,
            parse_bytes(format, &host, &rel, &bytes),
        ));
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Asserts zero errors for every file whose parser is real; returns how many were checked.
fn assert_clean(results: &[(String, Format, ParseStats)]) -> usize {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, format, stats) in results {
        if !parser_is_real(*format) {
            eprintln!(
                "skipped {path}: the {} parser is not real yet",
                format.name()
            );
            continue;
        }
        checked += 1;
        if stats.error_count() > 0 {
            failures.push(format!("{path} ({}): {:?}", format.name(), stats.errors));
        }
    }
    assert!(
        failures.is_empty(),
        "parser errors:\n{}",
        failures.join("\n")
    );
    checked
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples")
}

#[test]
fn samples_parse_with_zero_errors() {
    let results = parse_tree(&samples_dir());
    let expect = [
        ("ndes01/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log", Format::Iis),
        ("ndes02/Windows/System32/LogFiles/HTTPERR/httperr1.log", Format::HttpErr),
        ("ndes02/eventlogs/Application.xml", Format::EventXml),
        ("ndes02/eventlogs/CAPI2-Operational.xml", Format::EventXml),
        ("ndes02/IntuneConnector/SetupMsi.log", Format::SetupMsi),
        ("ndes02/health.jsonl", Format::Health),
        ("ndes01/probe.jsonl", Format::Probe),
        ("android-pixel7/omadmlog.log", Format::AndroidOmadm),
        ("iphone-anna/profiled.log", Format::IosConsole),
        (
            "win-laptop-42/MDMDiagReport.zip/DeviceManagement-Enterprise-Diagnostics-Provider-Admin.txt",
            Format::EventText,
        ),
    ];
    for (path, format) in expect {
        let found = results.iter().find(|(p, _, _)| p == path);
        assert_eq!(found.map(|(_, f, _)| *f), Some(format), "{path}");
    }
    let checked = assert_clean(&results);
    eprintln!("{checked} of {} sample files checked", results.len());
}

#[test]
fn small_corpus_parses_with_zero_errors() {
    let out = std::env::temp_dir().join(format!("scepwatch-corpus-parse-{}", std::process::id()));
    let _ = fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_scepwatch-corpus"))
        .args([
            "--size",
            "3MiB",
            "--servers",
            "3",
            "--devices",
            "30",
            "--days",
            "2",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("run scepwatch-corpus");
    assert!(status.success());
    let results = parse_tree(&out);
    let _ = fs::remove_dir_all(&out);
    for format in [
        Format::Iis,
        Format::HttpErr,
        Format::EventXml,
        Format::Health,
        Format::Probe,
        Format::AndroidOmadm,
        Format::IosConsole,
        Format::EventText,
    ] {
        assert!(
            results.iter().any(|(_, f, _)| *f == format),
            "no {} file in the corpus",
            format.name()
        );
    }
    let checked = assert_clean(&results);
    eprintln!("{checked} of {} corpus files checked", results.len());
}
