//! The `SourceId` `diagnose` gives a file's events is the one the collector gives them: for a
//! log the collector tails, `stream` is the hex of its content fingerprint (computed here with
//! the collector's own `identify` on the file); for documents it is empty. Then a collector
//! named `diagnose` with the same host and path produces the same event IDs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use scepwatch_analyzer::diagnose::run::{run_with, Correlator, Options};
use scepwatch_analyzer::diagnose::summary::Collector;
use scepwatch_collector::parse::Format;
use scepwatch_collector::source::identity::{identify, Identity};
use scepwatch_proto::v1::{Event, SourceId, Watermark};

const IIS_HEAD: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-20 18:30:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

fn iis_line(sec: u32) -> String {
    format!(
        "2026-11-20 18:30:{sec:02} 10.20.30.11 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=default 443 - 10.20.30.5 Dalvik/2.1.0+(Linux;+U;+Android+14) - 200 0 0 15\r\n"
    )
}

const HTTPERR: &str = "#Software: Microsoft HTTP API 2.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-20 10:02:00\r\n\
#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid s-reason s-queuename\r\n\
2026-11-20 10:05:13 10.20.30.11 50412 10.20.30.12 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACaps - 503 1 QueueFull SCEP\r\n";

const SETUPMSI: &str = "=== Verbose logging started: 11/20/2026  07:41:02  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\\Windows\\system32\\msiexec.exe ===\r\n\
MSI (c) (A4:B8) [07:41:02:101]: Resetting cached policy values\r\n\
MSI (c) (A4:B8) [07:41:40:412]: Product: Microsoft Intune Connector -- Installation failed.\r\n\
MSI (c) (A4:B8) [07:41:40:413]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.2406.0.1001. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 1603.\r\n";

/// Keeps the events the run hands to the engine.
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Correlator for Recorder {
    fn push(&mut self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
    fn watermark(&mut self, _: &Watermark) {}
    fn advance(&mut self, _: &mut Collector) {}
    fn finish(self: Box<Self>, _: &mut Collector) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// The sources of the events `diagnose` reads from `dir`, by path.
fn sources(dir: &Path) -> BTreeMap<String, SourceId> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let keep = events.clone();
    let opts = Options {
        inputs: vec![dir.to_path_buf()],
        threads: 2,
        ..Options::default()
    };
    run_with(
        &opts,
        &mut |_| {},
        Box::new(move |_| Box::new(Recorder(keep)) as Box<dyn Correlator>),
    )
    .unwrap();
    let events = events.lock().unwrap();
    let mut out = BTreeMap::new();
    for e in events.iter() {
        let s = e.source.clone().unwrap();
        assert_eq!(e.id, scepwatch_proto::event_id(&s, e.position).to_vec());
        out.insert(s.path.clone(), s);
    }
    out
}

fn collector_stream(path: &Path, format: Format) -> String {
    let mut f = fs::File::open(path).unwrap();
    match identify(&mut f, format).unwrap() {
        Identity::Lines(fp) => fp.to_hex(),
        Identity::Document => String::new(),
        Identity::NotReady => panic!("{} has no identity yet", path.display()),
    }
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

#[test]
fn tailed_logs_are_named_by_their_fingerprint_and_documents_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ndes01");
    let iis = root.join("inetpub/logs/LogFiles/W3SVC1/u_ex261120.log");
    let mut text = IIS_HEAD.to_string();
    for s in 0..5 {
        text.push_str(&iis_line(s));
    }
    write(&iis, text.as_bytes());
    // A file whose directives run past the 64 KiB diagnose looks at to recognise it.
    let long = root.join("inetpub/logs/LogFiles/W3SVC2/u_ex261120.log");
    let mut text = IIS_HEAD.to_string();
    while text.len() < 64 * 1024 - 100 {
        text.push_str(IIS_HEAD);
    }
    text.push_str(&iis_line(7));
    write(&long, text.as_bytes());
    let httperr = root.join("Windows/System32/LogFiles/HTTPERR/httperr1.log");
    write(&httperr, HTTPERR.as_bytes());
    let setup = root.join("IntuneConnector/SetupMsi.log");
    write(&setup, SETUPMSI.as_bytes());

    let got = sources(dir.path());
    let expect = [
        (
            "ndes01/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log",
            &iis,
            Format::Iis,
        ),
        (
            "ndes01/inetpub/logs/LogFiles/W3SVC2/u_ex261120.log",
            &long,
            Format::Iis,
        ),
        (
            "ndes01/Windows/System32/LogFiles/HTTPERR/httperr1.log",
            &httperr,
            Format::HttpErr,
        ),
        (
            "ndes01/IntuneConnector/SetupMsi.log",
            &setup,
            Format::SetupMsi,
        ),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (path, file, format) in expect {
        let s = got
            .get(path)
            .unwrap_or_else(|| panic!("no events of {path}: {got:#?}"));
        assert_eq!(s.collector, "diagnose");
        assert_eq!(s.host, "ndes01");
        assert_eq!(s.stream, collector_stream(file, format), "{path}");
        assert_eq!(s.stream.is_empty(), format == Format::SetupMsi, "{path}");
    }
}

#[test]
fn the_same_file_given_twice_still_gets_two_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = IIS_HEAD.to_string();
    text.push_str(&iis_line(1));
    for input in ["a", "b"] {
        write(
            &dir.path().join(input).join("ndes01/W3SVC1/u_ex261120.log"),
            text.as_bytes(),
        );
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let keep = events.clone();
    let opts = Options {
        inputs: vec![dir.path().join("a"), dir.path().join("b")],
        threads: 1,
        ..Options::default()
    };
    run_with(
        &opts,
        &mut |_| {},
        Box::new(move |_| Box::new(Recorder(keep)) as Box<dyn Correlator>),
    )
    .unwrap();
    let events = events.lock().unwrap();
    let streams: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| e.source.as_ref().unwrap().stream.clone())
        .collect();
    let fingerprint = collector_stream(
        &dir.path().join("a/ndes01/W3SVC1/u_ex261120.log"),
        Format::Iis,
    );
    let want: std::collections::BTreeSet<String> =
        [fingerprint.clone(), format!("{fingerprint}/input2-2")].into();
    assert_eq!(streams, want);
}
