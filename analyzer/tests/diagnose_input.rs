//! The input side of `diagnose`: folders, nested and hostile zips, unreadable and non-log
//! files. Every case must end up in the report with a reason, never as a crash, and the rest
//! of the input must still be read.
//!
//! The IIS lines follow the W3C extended format as IIS writes it (the `#Fields:` header of the
//! troubleshooting guide's example); the archives are built here with the `zip` crate.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use scepwatch_analyzer::diagnose::archive::{Budget, Limits};
use scepwatch_analyzer::diagnose::input::{walk, Location};
use scepwatch_analyzer::diagnose::run::{run_with, Correlator, Options};
use scepwatch_analyzer::diagnose::summary::{Collector, FileReport, FileStatus};
use scepwatch_analyzer::diagnose::RunReport;
use scepwatch_proto::v1::{Event, Watermark};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

const IIS_HEAD: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-20 18:30:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

fn iis_line(sec: u32, status: u32) -> String {
    format!(
        "2026-11-20 18:30:{:02} 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACaps&message=default 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - {status} 0 0 15\r\n",
        sec % 60
    )
}

fn iis_log(lines: u32) -> String {
    let mut s = IIS_HEAD.to_string();
    for i in 0..lines {
        s.push_str(&iis_line(i, 200));
    }
    s
}

fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(false);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// Counts what the pipeline hands to the engine.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    watermarks: Vec<Watermark>,
}

struct Shared(std::sync::Arc<std::sync::Mutex<Recorder>>);

impl Correlator for Shared {
    fn push(&mut self, e: &Event) {
        self.0.lock().unwrap().events.push(e.clone());
    }
    fn watermark(&mut self, w: &Watermark) {
        self.0.lock().unwrap().watermarks.push(w.clone());
    }
    fn advance(&mut self, _out: &mut Collector) {}
    fn finish(self: Box<Self>, _out: &mut Collector) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

fn run_opts(opts: &Options) -> (RunReport, Recorder) {
    let rec = std::sync::Arc::new(std::sync::Mutex::new(Recorder::default()));
    let r2 = rec.clone();
    let report = run_with(opts, &mut |_| {}, Box::new(move |_| Box::new(Shared(r2)))).unwrap();
    let rec = std::mem::take(&mut *rec.lock().unwrap());
    (report, rec)
}

fn run(inputs: &[PathBuf]) -> (RunReport, Recorder) {
    run_opts(&Options {
        inputs: inputs.to_vec(),
        ..Options::default()
    })
}

fn file<'a>(r: &'a RunReport, suffix: &str) -> &'a FileReport {
    r.files
        .iter()
        .find(|f| f.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("no file {suffix} in {:#?}", r.files))
}

#[test]
fn nested_zips_are_read_with_host_from_the_outer_path() {
    let dir = tempfile::tempdir().unwrap();
    let inner = zip_bytes(&[(
        "inetpub/logs/LogFiles/W3SVC1/u_ex261120.log",
        iis_log(3).as_bytes(),
    )]);
    let outer = zip_bytes(&[
        ("ndes01/logs.zip", &inner),
        ("ndes02/u_ex261120.log", iis_log(2).as_bytes()),
    ]);
    write(&dir.path().join("bundle.zip"), &outer);
    let (report, rec) = run(&[dir.path().join("bundle.zip")]);
    let f = file(
        &report,
        "bundle.zip!/ndes01/logs.zip!/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log",
    );
    assert_eq!(f.host, "ndes01");
    assert_eq!(f.status, FileStatus::Parsed);
    assert_eq!(f.format.as_deref(), Some("iis"));
    let g = file(&report, "bundle.zip!/ndes02/u_ex261120.log");
    assert_eq!(g.host, "ndes02");
    // Source paths are relative to the input, archive entries as a.zip!/b.
    assert!(rec.events.iter().all(|e| e
        .source
        .as_ref()
        .is_some_and(|s| s.path.starts_with("bundle.zip!/") && s.collector == "diagnose")));
}

#[test]
fn archives_nested_too_deep_are_reported_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut z = zip_bytes(&[("u_ex.log", iis_log(1).as_bytes())]);
    for _ in 0..3 {
        z = zip_bytes(&[("deeper.zip", &z)]);
    }
    write(&dir.path().join("ndes01/d.zip"), &z);
    let (report, _) = run(&[dir.path().to_path_buf()]);
    let f = file(&report, "d.zip!/deeper.zip!/deeper.zip!/deeper.zip");
    assert_eq!(f.reason.as_deref(), Some("zip.too_deep"));
    assert_eq!(f.status, FileStatus::Skipped);
}

#[test]
fn truncated_zip_is_skipped_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let z = zip_bytes(&[("u_ex.log", iis_log(50).as_bytes())]);
    write(&dir.path().join("ndes01/cut.zip"), &z[..z.len() / 2]);
    write(
        &dir.path().join("ndes01/u_ex261120.log"),
        iis_log(2).as_bytes(),
    );
    let (report, rec) = run(&[dir.path().to_path_buf()]);
    let f = file(&report, "ndes01/cut.zip");
    assert_eq!(f.reason.as_deref(), Some("zip.corrupt"));
    assert_eq!(file(&report, "u_ex261120.log").status, FileStatus::Parsed);
    assert!(!rec.events.is_empty());
    assert_eq!(report.problems.get("zip.corrupt"), Some(&1));
}

/// An upload cut short keeps its complete entries: they are recovered from their local
/// headers and diagnosed; the archive is reported as truncated.
#[test]
fn entries_before_the_cut_of_a_truncated_zip_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let big: String = (0..3000).map(|i| iis_line(i, 200)).collect();
    let z = zip_bytes(&[
        ("ndes01/u_ex261119.log", iis_log(4).as_bytes()),
        (
            "ndes01/u_ex261120.log",
            format!("{IIS_HEAD}{big}").as_bytes(),
        ),
    ]);
    write(&dir.path().join("upload.zip"), &z[..z.len() - 2000]);
    let (report, rec) = run(&[dir.path().join("upload.zip")]);
    let archive = file(&report, "upload.zip");
    assert_eq!(
        archive.reason.as_deref(),
        Some("zip.truncated"),
        "{archive:?}"
    );
    let first = file(&report, "upload.zip!/ndes01/u_ex261119.log");
    assert_eq!(first.status, FileStatus::Parsed);
    assert_eq!(first.host, "ndes01");
    assert_eq!(first.events, 4);
    assert!(!report
        .files
        .iter()
        .any(|f| f.path.ends_with("u_ex261120.log") && f.status == FileStatus::Parsed));
    assert_eq!(rec.events.len(), 4);
}

#[test]
fn zip_bomb_is_stopped_by_the_ratio_limit() {
    let dir = tempfile::tempdir().unwrap();
    // A valid IIS head, then 24 MiB of one repeated byte: deflate shrinks it ~1000:1.
    let mut bomb = IIS_HEAD.as_bytes().to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 24 << 20));
    let z = zip_bytes(&[("u_ex261120.log", &bomb)]);
    assert!(z.len() < 200 << 10, "compressed to {} bytes", z.len());
    write(&dir.path().join("ndes01/bomb.zip"), &z);
    let (report, _) = run(&[dir.path().to_path_buf()]);
    let f = file(&report, "bomb.zip!/u_ex261120.log");
    assert_eq!(f.status, FileStatus::Partial);
    assert_eq!(f.reason.as_deref(), Some("zip.ratio_exceeded"));
}

#[test]
fn total_budget_and_entry_count_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let log = iis_log(200);
    let names: Vec<String> = (0..30)
        .map(|i| format!("ndes01/u_ex2611{i:02}.log"))
        .collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), log.as_bytes())).collect();
    write(&dir.path().join("many.zip"), &zip_bytes(&entries));
    let (report, _) = run_opts(&Options {
        inputs: vec![dir.path().join("many.zip")],
        limits: Limits {
            max_entries: 10,
            max_total_bytes: 5 * log.len() as u64,
            ..Limits::default()
        },
        ..Options::default()
    });
    assert_eq!(report.problems.get("zip.too_many_entries"), Some(&1));
    assert!(report
        .problems
        .get("zip.budget_exceeded")
        .is_some_and(|n| *n >= 1));
    assert!(
        report
            .files
            .iter()
            .filter(|f| f.status == FileStatus::Parsed)
            .count()
            >= 3
    );
}

#[test]
fn missing_empty_binary_and_unknown_files_are_reported_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("ndes01/empty")).unwrap();
    write(
        &dir.path().join("ndes01/garbage.bin"),
        &(0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    );
    write(
        &dir.path().join("ndes01/notes.txt"),
        b"Dear admin,\nthe server is slow.\n",
    );
    write(&dir.path().join("ndes01/zero.log"), b"");
    write(
        &dir.path().join("ndes01/u_ex261120.log"),
        iis_log(2).as_bytes(),
    );
    let missing = dir.path().join("no-such-folder");
    let (report, rec) = run(&[dir.path().to_path_buf(), missing.clone()]);
    let reason = |suffix: &str| file(&report, suffix).reason.clone();
    assert_eq!(reason("ndes01/empty").as_deref(), Some("empty_folder"));
    assert_eq!(reason("garbage.bin").as_deref(), Some("format.binary"));
    assert_eq!(reason("notes.txt").as_deref(), Some("format.unknown"));
    assert_eq!(reason("zero.log").as_deref(), Some("empty_file"));
    let m = report
        .files
        .iter()
        .find(|f| f.reason.as_deref() == Some("missing"))
        .unwrap();
    assert_eq!(m.path, missing.to_string_lossy());
    assert_eq!(file(&report, "u_ex261120.log").status, FileStatus::Parsed);
    assert_eq!(rec.events.len(), 2);
}

#[test]
fn invalid_utf8_and_overlong_lines_are_counted_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = iis_log(2).into_bytes();
    log.extend_from_slice(b"2026-11-20 18:31:00 10.20.30.11 GET /certsrv/mscep/mscep.dll \xff\xfe\xfd 443 - 10.20.30.5 x - 200 0 0 1\r\n");
    log.extend(std::iter::repeat_n(b'x', 2 << 20));
    log.extend_from_slice(b"\r\n");
    log.extend_from_slice(iis_line(5, 200).as_bytes());
    write(&dir.path().join("ndes01/u_ex261120.log"), &log);
    let (report, rec) = run(&[dir.path().to_path_buf()]);
    let f = file(&report, "u_ex261120.log");
    assert_eq!(f.status, FileStatus::Parsed);
    assert_eq!(f.errors.get("line_too_long"), Some(&1));
    assert_eq!(
        f.errors.get("invalid_utf8"),
        Some(&3),
        "three invalid bytes"
    );
    // The lines around the bad ones are still events.
    assert!(rec.events.len() >= 3, "{} events", rec.events.len());
    assert!(report
        .parsers
        .get("iis")
        .is_some_and(|p| p.errors.contains_key("line_too_long")));
}

#[test]
fn walker_lists_folders_in_name_order_and_infers_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ndes07");
    write(
        &root.join("inetpub/logs/LogFiles/W3SVC1/u_ex261121.log"),
        b"x",
    );
    write(
        &root.join("inetpub/logs/LogFiles/W3SVC1/u_ex261120.log"),
        b"x",
    );
    let w = walk(
        std::slice::from_ref(&root),
        Limits::default(),
        &Budget::default(),
        &[],
    );
    let paths: Vec<&str> = w.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "inetpub/logs/LogFiles/W3SVC1/u_ex261120.log",
            "inetpub/logs/LogFiles/W3SVC1/u_ex261121.log"
        ]
    );
    // The first folder below the input is a layout folder: the input names the host.
    assert!(w.files.iter().all(|f| f.host == "ndes07"));
    assert!(matches!(w.files[0].location, Location::Disk(_)));
    // A file given directly belongs to its folder, or the nearest one that is not a standard
    // log folder.
    let w = walk(
        &[root.join("inetpub/logs/LogFiles/W3SVC1/u_ex261120.log")],
        Limits::default(),
        &Budget::default(),
        &[],
    );
    assert_eq!(w.files[0].host, "ndes07");
    assert_eq!(w.files[0].path, "u_ex261120.log");
}

#[test]
fn the_same_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("ndes01/u_ex261120.log"),
        iis_log(2).as_bytes(),
    );
    let (report, rec) = run(&[dir.path().to_path_buf(), dir.path().to_path_buf()]);
    assert_eq!(rec.events.len(), 2);
    assert_eq!(report.problems.get("duplicate"), Some(&1));
}

/// Android Company Portal OMADM lines, in the shape the troubleshooting guide shows.
fn omadm_log(url: &str) -> String {
    format!(
        "2026-11-20T18:29:58.1140000  VERB  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  23980    10  There are 1 requests\n\
         2026-11-20T18:29:59.4260000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  23980    10  Sending GetCACaps(ca) to {url}?operation=GetCACaps&message=ca\n\
         2026-11-20T18:30:00.5390000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  23980    10  Received '200 OK' when sending GetCACaps(ca) to {url}?operation=GetCACaps&message=ca\n"
    )
}

#[test]
fn device_logs_go_first_and_name_the_endpoint_of_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://NDES.contoso.com/certsrv/mscep/mscep.dll";
    // Names chosen so that name order would put the server first.
    write(
        &dir.path().join("a-ndes01/u_ex261120.log"),
        iis_log(3).as_bytes(),
    );
    write(
        &dir.path().join("z-phone/omadm.log"),
        omadm_log(url).as_bytes(),
    );
    let (report, rec) = run(&[dir.path().to_path_buf()]);
    let kind = |e: &Event| {
        e.source
            .as_ref()
            .map(|s| s.host.clone())
            .unwrap_or_default()
    };
    let first_server = rec
        .events
        .iter()
        .position(|e| kind(e) == "a-ndes01")
        .unwrap();
    let last_device = rec
        .events
        .iter()
        .rposition(|e| kind(e) == "z-phone")
        .unwrap();
    assert!(
        last_device < first_server,
        "device events must precede server events"
    );
    let m = report
        .mapping
        .iter()
        .find(|m| m.host == "a-ndes01")
        .unwrap();
    assert_eq!(
        m.endpoint,
        "https://ndes.contoso.com/certsrv/mscep/mscep.dll"
    );
    assert_eq!(format!("{:?}", m.source), "DeviceLogs");
    // Server events carry the mapped endpoint; a watermark follows each file.
    assert!(rec.events[first_server..]
        .iter()
        .all(|e| e.endpoint_id == m.endpoint));
    let covered: Vec<&Watermark> = rec
        .watermarks
        .iter()
        .filter(|w| w.read_up_to_us >= w.read_from_us)
        .collect();
    assert_eq!(covered.len(), 2);
    assert!(covered
        .iter()
        .any(|w| w.endpoint_id == m.endpoint
            && w.source.as_ref().is_some_and(|s| s.host == "a-ndes01")));

    // --endpoint wins over the inference.
    let (report, _) = run_opts(&Options {
        inputs: vec![dir.path().to_path_buf()],
        endpoints: vec![scepwatch_analyzer::diagnose::EndpointFlag {
            url: "https://other.contoso.com/certsrv/mscep/mscep.dll".into(),
            hosts: vec!["a-ndes01".into()],
        }],
        ..Options::default()
    });
    let m = report
        .mapping
        .iter()
        .find(|m| m.host == "a-ndes01")
        .unwrap();
    assert_eq!(
        m.endpoint,
        "https://other.contoso.com/certsrv/mscep/mscep.dll"
    );
    assert!(report.mapping_note.contains("--endpoint"));
}

mod any_bytes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever an archive holds (garbage, a cut real archive, a real one with noise),
        /// the run ends with a report, never a panic.
        #[test]
        fn any_archive_bytes_give_a_report(
            noise in proptest::collection::vec(any::<u8>(), 0..2048),
            cut in 0usize..4096,
            real in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let bytes = if real {
                let mut z = zip_bytes(&[("ndes01/u_ex.log", iis_log(20).as_bytes()), ("x.zip", &noise)]);
                z.truncate(cut.max(1).min(z.len()));
                z.extend_from_slice(&noise[..noise.len().min(64)]);
                z
            } else {
                let mut z = b"PK\x03\x04".to_vec();
                z.extend_from_slice(&noise);
                z
            };
            write(&dir.path().join("in.zip"), &bytes);
            let (report, _) = run(&[dir.path().join("in.zip")]);
            prop_assert!(!report.files.is_empty());
        }
    }
}

#[test]
fn host_of_overrides_the_inferred_host() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("dump/logs/u_ex261120.log"),
        iis_log(1).as_bytes(),
    );
    let w = walk(
        &[dir.path().join("dump")],
        Limits::default(),
        &Budget::default(),
        &[scepwatch_analyzer::diagnose::input::HostOverride {
            prefix: "logs/".into(),
            host: "NDES-07".into(),
        }],
    );
    assert_eq!(w.files[0].host, "NDES-07");
}

/// An engine that fails on its 5000th event.
struct Failing(u64);

impl Correlator for Failing {
    fn push(&mut self, _e: &Event) {
        self.0 += 1;
        assert!(self.0 < 5000, "engine failure");
    }
    fn watermark(&mut self, _w: &Watermark) {}
    fn advance(&mut self, _out: &mut Collector) {}
    fn finish(self: Box<Self>, _out: &mut Collector) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// A failing engine ends the run with a panic (exit code 3 in the binary), never a hang of
/// workers blocked on full channels or on the run-ahead budget.
#[test]
fn engine_failure_ends_the_run_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let log = iis_log(20_000);
    for i in 0..6 {
        write(
            &dir.path().join(format!("ndes0{i}/u_ex261120.log")),
            log.as_bytes(),
        );
    }
    let opts = Options {
        inputs: vec![dir.path().to_path_buf()],
        threads: 3,
        buffer_bytes: 1 << 20,
        ..Options::default()
    };
    let result = std::panic::catch_unwind(|| {
        run_with(&opts, &mut |_| {}, Box::new(|_| Box::new(Failing(0))))
    });
    assert!(result.is_err());
}
