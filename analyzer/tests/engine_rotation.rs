//! Logs of several days: IIS writes one file per day (`u_exYYMMDD.log`), and every file is its
//! own source. The engine must join the device attempts of every day whatever order the files
//! arrive in, as long as the watermarks are truthful, and must not hold the attempts around
//! midnight until the end. TransactionIDs are compared as printed.
//!
//! The feeding mimics `scepwatch diagnose`: every file is announced first (a watermark with
//! `read_up_to_us` before `read_from_us`), device logs are pushed, then the IIS files one after
//! another, `advance` every few events and a watermark at the end of each file.

mod support;

use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_analyzer::model::{JoinMethod, Platform};
use scepwatch_proto::time::civil_to_us;
use scepwatch_proto::v1::{Event, IosScep, IosStep, ScepMessageInfo, ScepOperation, SourceKind};
use support::*;

const DAYS: [u32; 3] = [18, 19, 20];
const HOSTS: [&str; 2] = ["ndes01", "ndes02"];

/// 2026-11-`d` h:m:s UTC.
fn at(d: u32, h: u32, m: u32, s: u32) -> i64 {
    civil_to_us(2026, 11, d, h, m, s, 0).unwrap()
}

/// iOS transactionIDs are base64 text: case matters.
fn ios_tx(d: u32) -> String {
    format!("XjaFh2o8yzoNFnXQapl/Ozn4u{d}=")
}

fn ios_step(dev: &mut Src, time: i64, op: ScepOperation, name: &str, tx: &str) -> Event {
    let url = format!("{ENDPOINT}?operation={name}&message=SCEP%20Authority");
    dev.ios_step(
        time,
        IosScep {
            step: IosStep::UrlRequest as i32,
            process: "profiled".into(),
            url: url.clone(),
            operation: op as i32,
            scep: (!tx.is_empty()).then(|| ScepMessageInfo {
                transaction_id: tx.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &format!("Performing synchronous URL request: {url}"),
    )
}

/// One day's IIS file of one server.
struct File {
    src: Src,
    events: Vec<Event>,
}

impl File {
    fn first(&self) -> i64 {
        self.events.iter().map(|e| e.event_time_us).min().unwrap()
    }
    fn last(&self) -> i64 {
        self.events.iter().map(|e| e.event_time_us).max().unwrap()
    }
}

struct Corpus {
    devices: Vec<(Src, Vec<Event>)>,
    files: Vec<File>,
    /// Device attempts in the corpus.
    device_attempts: usize,
}

/// Three days, two servers: every day an iOS enrollment (joined by its base64 transactionID)
/// and an Android one (joined by time) on alternate servers, an Android enrollment across
/// midnight, and a Windows client polling both servers all day, so each file spans its day.
fn corpus() -> Corpus {
    let mut iphone = Src::ios("iphone-12");
    let mut android = Src::android("pixel-7");
    let mut ios_events = Vec::new();
    let mut android_events = Vec::new();
    let mut files: Vec<File> = Vec::new();
    for &d in &DAYS {
        for h in HOSTS {
            let path = format!("C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex2611{d}.log");
            let mut src = Src::new(h, SourceKind::Iis, &path);
            let mut events = Vec::new();
            let mut time = at(d, 0, 0, 30);
            while time < at(d, 23, 59, 59) {
                events.push(src.mscep(
                    time,
                    ScepOperation::GetCaCaps,
                    200,
                    0,
                    0,
                    "10.9.0.7",
                    UA_WINDOWS,
                ));
                time += 20 * MIN;
            }
            events.push(src.mscep(
                at(d, 23, 59, 50),
                ScepOperation::GetCaCaps,
                200,
                0,
                0,
                "10.9.0.7",
                UA_WINDOWS,
            ));
            files.push(File { src, events });
        }
    }
    let file = |files: &mut Vec<File>, d: u32, host: &str| -> usize {
        files
            .iter()
            .position(|f| f.src.id.host == host && f.src.id.path.ends_with(&format!("{d}.log")))
            .unwrap()
    };
    for (i, &d) in DAYS.iter().enumerate() {
        let (ios_host, android_host) = (HOSTS[i % 2], HOSTS[(i + 1) % 2]);
        // iOS at 09:00: GetCACert, GetCACaps, GET PKIOperation carrying the transactionID.
        let start = at(d, 9, 0, 0);
        let tx = ios_tx(d);
        ios_events.push(ios_step(
            &mut iphone,
            start,
            ScepOperation::GetCaCert,
            "GetCACert",
            "",
        ));
        ios_events.push(ios_step(
            &mut iphone,
            start + S,
            ScepOperation::GetCaCaps,
            "GetCACaps",
            "",
        ));
        ios_events.push(ios_step(
            &mut iphone,
            start + 3 * S,
            ScepOperation::PkiOperation,
            "PKIOperation",
            &tx,
        ));
        let f = file(&mut files, d, ios_host);
        let src = &mut files[f].src;
        let mut server = vec![
            src.mscep(
                start,
                ScepOperation::GetCaCert,
                200,
                0,
                0,
                "10.1.1.5",
                UA_IOS,
            ),
            src.mscep(
                start + S,
                ScepOperation::GetCaCaps,
                200,
                0,
                0,
                "10.1.1.5",
                UA_IOS,
            ),
            src.mscep_tx(
                start + 3 * S,
                ScepOperation::PkiOperation,
                200,
                0,
                0,
                "10.1.1.5",
                UA_IOS,
                &tx,
            ),
        ];
        files[f].events.append(&mut server);
        // Android at 15:00, no transactionID in the server log (POST): joined by time.
        let start = at(d, 15, 0, 0);
        android_events.extend(android_enrollment(&mut android, start, ""));
        let f = file(&mut files, d, android_host);
        let mut server = iis_enrollment(&mut files[f].src, start, "10.1.1.6", UA_ANDROID, "");
        files[f].events.append(&mut server);
    }
    // Across midnight: the device starts at 23:59:50 on the 18th; ndes01 logs the first
    // requests in its file of the 18th and the last in that of the 19th.
    let start = at(18, 23, 59, 50);
    android_events.extend(android_enrollment(&mut android, start, ""));
    for (offset, op) in [
        (2, ScepOperation::GetCaCaps),
        (8, ScepOperation::GetCaCert),
        (16, ScepOperation::PkiOperation),
    ] {
        let time = start + offset * S;
        let day = if time < at(19, 0, 0, 0) { 18 } else { 19 };
        let f = file(&mut files, day, "ndes01");
        let ev = files[f]
            .src
            .mscep(time, op, 200, 0, 0, "10.1.1.8", UA_ANDROID);
        files[f].events.push(ev);
    }
    for f in &mut files {
        f.events.sort_by_key(|e| (e.event_time_us, e.position));
    }
    Corpus {
        devices: vec![(iphone, ios_events), (android, android_events)],
        files,
        device_attempts: 2 * DAYS.len() + 1,
    }
}

/// Feeds `c` like the driver does, the IIS files in `order`, `advance` every `every` events.
/// Returns the sink and the start times of the device attempts decided before `finish`.
fn play(c: &Corpus, order: &[usize], implicit: bool, every: usize) -> (CollectSink, Vec<i64>) {
    let mut e = Engine::new(EngineConfig {
        implicit_watermarks: implicit,
        ..config_for(&HOSTS)
    });
    let mut sink = CollectSink::default();
    for f in &c.files {
        e.watermark(&f.src.watermark(f.first(), f.first() - 1));
    }
    for (src, events) in &c.devices {
        for ev in events {
            e.push(ev);
        }
        let first = events.iter().map(|e| e.event_time_us).min().unwrap();
        let last = events.iter().map(|e| e.event_time_us).max().unwrap();
        e.watermark(&src.watermark(first, last));
    }
    e.advance(&mut sink);
    for &i in order {
        let f = &c.files[i];
        for (n, ev) in f.events.iter().enumerate() {
            e.push(ev);
            if n % every == every - 1 {
                e.advance(&mut sink);
            }
        }
        e.watermark(&f.src.watermark(f.first(), f.last()));
        e.advance(&mut sink);
    }
    let before_finish = sink
        .attempts
        .iter()
        .filter(|a| a.device.is_some())
        .map(|a| a.start_us)
        .collect();
    e.finish(&mut sink);
    (sink, before_finish)
}

/// Everything pushed before anything is decided.
fn reference(c: &Corpus) -> CollectSink {
    let mut events: Vec<Event> = c.devices.iter().flat_map(|d| d.1.clone()).collect();
    events.extend(c.files.iter().flat_map(|f| f.events.clone()));
    run(config_for(&HOSTS), &events, &[])
}

/// What must not depend on the order: every attempt (ID, join, servers, transactionIDs,
/// diagnoses) and every diagnosis ID.
fn outcome(s: &CollectSink) -> (Vec<String>, Vec<String>) {
    let mut a: Vec<String> = s
        .attempts
        .iter()
        .map(|a| {
            format!(
                "{} {:?} {:?} {:?} {:?} {:?}",
                a.id,
                a.join,
                a.servers,
                a.transaction_ids,
                a.diagnoses,
                a.steps.len()
            )
        })
        .collect();
    a.sort();
    let mut d: Vec<String> = s.diagnoses.iter().map(|d| d.id.clone()).collect();
    d.sort();
    (a, d)
}

/// The entries only one side has (the first few).
fn diff(got: &(Vec<String>, Vec<String>), want: &(Vec<String>, Vec<String>)) -> String {
    let mut out = Vec::new();
    for (g, w) in [(&got.0, &want.0), (&got.1, &want.1)] {
        out.extend(
            g.iter()
                .filter(|x| !w.contains(x))
                .map(|x| format!("+ {x}")),
        );
        out.extend(
            w.iter()
                .filter(|x| !g.contains(x))
                .map(|x| format!("- {x}")),
        );
    }
    out.truncate(12);
    out.join("\n")
}

fn file_order(c: &Corpus, key: impl Fn(u32, &str) -> (u32, u32)) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..c.files.len()).collect();
    idx.sort_by_key(|&i| {
        let id = &c.files[i].src.id;
        let day: u32 = id.path[id.path.len() - 6..id.path.len() - 4]
            .parse()
            .unwrap();
        key(day, &id.host)
    });
    idx
}

#[test]
fn multi_day_logs_still_join_device_attempts() {
    let c = corpus();
    // Day by day, server by server, as the driver orders files by their first event.
    let order = file_order(&c, |d, h| (d, u32::from(h == "ndes02")));
    let (sink, _) = play(&c, &order, true, 7);
    let device: Vec<_> = sink
        .attempts
        .iter()
        .filter(|a| a.device.is_some())
        .collect();
    assert_eq!(device.len(), c.device_attempts, "{device:#?}");
    for a in &device {
        assert_ne!(a.join, JoinMethod::DeviceOnly, "{a:#?}");
        match a.platform {
            Platform::Ios => {
                assert_eq!(a.join, JoinMethod::TransactionId);
                let day: u32 = a.start[8..10].parse().unwrap();
                assert_eq!(a.transaction_ids, vec![ios_tx(day)], "kept as printed");
            }
            _ => assert_eq!(a.join, JoinMethod::Fallback, "{a:#?}"),
        }
    }
    let (got, want) = (outcome(&sink), outcome(&reference(&c)));
    assert!(got == want, "{}", diff(&got, &want));
}

#[test]
fn results_do_not_depend_on_the_order_files_arrive_in() {
    let c = corpus();
    let want = outcome(&reference(&c));
    let orders = [
        file_order(&c, |d, h| (d, u32::from(h == "ndes02"))),
        // Newest day first.
        file_order(&c, |d, h| (100 - d, u32::from(h == "ndes02"))),
        // One server's days, then the other's.
        file_order(&c, |d, h| (u32::from(h == "ndes02"), d)),
        // Middle day first, then the others backwards.
        file_order(&c, |d, h| ((d + 2) % 3, 100 - u32::from(h == "ndes02"))),
    ];
    for order in &orders {
        for implicit in [true, false] {
            for every in [1, 13, 1000] {
                let (sink, _) = play(&c, order, implicit, every);
                let got = outcome(&sink);
                assert!(
                    got == want,
                    "order {order:?}, implicit {implicit}, advance every {every}:\n{}",
                    diff(&got, &want)
                );
            }
        }
    }
}

#[test]
fn a_day_boundary_does_not_hold_attempts_until_the_end() {
    let c = corpus();
    let order = file_order(&c, |d, h| (d, u32::from(h == "ndes02")));
    for implicit in [true, false] {
        let (_, decided) = play(&c, &order, implicit, 50);
        assert!(
            decided.contains(&at(18, 23, 59, 50)),
            "implicit {implicit}: the attempt across midnight waited for the end: {decided:?}"
        );
        // All but the last attempt of each device log (a log that may still grow).
        assert_eq!(
            decided.len(),
            c.device_attempts - c.devices.len(),
            "implicit {implicit}: {decided:?}"
        );
    }
}

#[test]
fn transaction_ids_are_compared_as_printed() {
    // base64 (iOS): another case is another transactionID.
    let mut dev = Src::ios("iphone-12");
    let mut iis = Src::iis("ndes01");
    let start = t(10, 0, 0);
    let tx = "XjaFh2o8yzoNFnXQapl/Ozn4uTI=";
    let device = vec![ios_step(
        &mut dev,
        start,
        ScepOperation::PkiOperation,
        "PKIOperation",
        tx,
    )];
    let server = |iis: &mut Src, tx: &str| {
        iis.mscep_tx(
            start,
            ScepOperation::PkiOperation,
            200,
            0,
            0,
            "10.0.0.5",
            UA_IOS,
            tx,
        )
    };
    let mut events = device.clone();
    events.push(server(&mut iis, &tx.to_ascii_uppercase()));
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let a = sink.attempts.iter().find(|a| a.device.is_some()).unwrap();
    assert_eq!(a.join, JoinMethod::DeviceOnly, "{a:#?}");
    let mut events = device;
    events.push(server(&mut iis, tx));
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let a = sink.attempts.iter().find(|a| a.device.is_some()).unwrap();
    assert_eq!(a.join, JoinMethod::TransactionId);
    assert_eq!(a.transaction_ids, vec![tx.to_string()]);

    // jscep (Android): the hex transId the log prints is the text the message carries.
    for hex in [TX, "251e592a777c82996c7cf96f3aaadcf996fc31ff"] {
        let mut dev = Src::android("pixel-7");
        let mut iis = Src::iis("ndes01");
        let mut events = android_enrollment(&mut dev, start, hex);
        events.extend(iis_enrollment(&mut iis, start, "10.0.0.5", UA_ANDROID, hex));
        let sink = run(config_for(&["ndes01"]), &events, &[]);
        assert_eq!(sink.attempts.len(), 1);
        assert_eq!(sink.attempts[0].join, JoinMethod::TransactionId);
        assert_eq!(sink.attempts[0].transaction_ids, vec![hex.to_string()]);
    }
}
