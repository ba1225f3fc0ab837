//! The IIS parser over the fixture files of `testdata/iis` (see its README for where each
//! shape comes from).

use scepwatch_collector::parse::{parse_stream, Format, ParseStats, SourceContext};
use scepwatch_proto::v1::{event::Payload, Event, IisRequest, IisTarget, ScepOperation};
use scepwatch_proto::v1::{SourceId, SourceKind};

fn parse(name: &str) -> (Vec<Event>, ParseStats) {
    let path = format!("{}/testdata/iis/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    let mut ctx = SourceContext::new(
        SourceId {
            collector: "test".into(),
            host: "ndes01".into(),
            kind: SourceKind::Iis as i32,
            path,
            stream: String::new(),
        },
        0,
    );
    ctx.endpoint_id = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll".into();
    let mut events = Vec::new();
    let stats = parse_stream(Format::Iis, &ctx, bytes.as_slice(), &mut |e| events.push(e)).unwrap();
    (events, stats)
}

fn iis(e: &Event) -> &IisRequest {
    match &e.payload {
        Some(Payload::Iis(r)) => r,
        other => panic!("not an IIS payload: {other:?}"),
    }
}

fn time(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
    scepwatch_proto::time::civil_to_us(
        i64::from(n(0..4)),
        n(5..7),
        n(8..10),
        n(11..13),
        n(14..16),
        n(17..19),
        0,
    )
    .unwrap()
}

#[test]
fn ndes_day_with_two_header_blocks() {
    let (events, stats) = parse("u_ex261120.log");
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(stats.ignored, 8, "two header blocks of four directives");
    assert_eq!(events.len(), 13);
    assert_eq!(stats.first_event_us, Some(time("2026-11-20 08:00:03")));
    assert_eq!(stats.last_event_us, Some(time("2026-11-20 09:13:02")));
    // Every event keeps the configured endpoint: an IIS line names no public URL.
    assert!(events
        .iter()
        .all(|e| e.endpoint_id == "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"));

    let first = iis(&events[0]);
    assert_eq!(first.target, IisTarget::Mscep as i32);
    assert_eq!(first.operation, ScepOperation::GetCaCaps as i32);
    assert_eq!(
        first.user_agent,
        "Dalvik/2.1.0 (Linux; U; Android 5.0; P01M Build/LRX21V)"
    );
    assert_eq!(events[0].excerpt.chars().next(), Some('2'), "BOM dropped");
    assert!(!events[0].excerpt.ends_with('\r'), "CRLF dropped");

    let post = iis(&events[2]);
    assert_eq!(
        (post.method.as_str(), post.operation),
        ("POST", ScepOperation::PkiOperation as i32)
    );
    assert_eq!(post.scep, None);

    let windows = iis(&events[3]);
    assert_eq!(windows.client_ip, "fe80::f53d:89b8:c3e8:5fec%13");
    assert_eq!(windows.server_port, 80);
    assert_eq!(windows.uri_stem, "/certsrv/mscep/mscep.dll/pkiclient.exe");
    assert_eq!(windows.target, IisTarget::Mscep as i32);

    // The guide's 500: impersonation right missing, win32 status 1346.
    let guide_500: Vec<_> = events
        .iter()
        .map(iis)
        .filter(|r| r.status == 500 && r.win32_status == 1346)
        .collect();
    assert_eq!(guide_500.len(), 3);
    let get_pki = guide_500[2];
    assert_eq!(get_pki.operation, ScepOperation::PkiOperation as i32);
    assert!(
        get_pki.scep.is_some(),
        "GET PKIOperation message is decoded"
    );
    assert!(get_pki.query_length > 512);
    assert_eq!(get_pki.uri_query.len(), 512);

    let admin = iis(&events[8]);
    assert_eq!(admin.target, IisTarget::MscepAdmin as i32);
    assert_eq!(admin.username, r"CONTOSO\ndesadmin");
    let plugin = iis(&events[9]);
    assert_eq!(plugin.target, IisTarget::CertRegistrationSvc as i32);
    assert_eq!((plugin.status, plugin.user_agent.as_str()), (403, ""));

    // Second header block: the optional fields.
    let after = iis(&events[10]);
    assert_eq!(after.site, "W3SVC1");
    assert_eq!(after.computer_name, "NDES01");
    assert_eq!(after.host_header, "ndes-contoso.msappproxy.net");
    assert_eq!(
        (after.status, after.bytes_sent, after.bytes_received),
        (503, 326, 412)
    );
    assert_eq!(
        iis(&events[11]).operation,
        ScepOperation::GetNextCaCert as i32
    );
    let other = iis(&events[12]);
    assert_eq!(other.target, IisTarget::Other as i32);
    assert_eq!(other.operation, ScepOperation::Unspecified as i32);
}

#[test]
fn guide_examples_without_date_are_counted_not_dropped_silently() {
    let (events, stats) = parse("guide_examples.log");
    assert_eq!(stats.records, 5);
    assert_eq!(stats.errors.get("iis.field_count"), Some(&4));
    assert_eq!(events.len(), 1);
    let r = iis(&events[0]);
    assert_eq!(events[0].event_time_us, time("2017-08-08 20:22:16"));
    assert_eq!((r.status, r.substatus, r.win32_status), (500, 0, 1346));
    assert_eq!(r.user_agent, "profiled/1.0 CFNetwork/811.5.4 Darwin/16.6.0");
}

/// IIS rewrites its header block when the service restarts or the logging configuration
/// changes; a reader that fixes the layout at the top of the file (or fingerprints the file by
/// its header) misreads every line after the change.
#[test]
fn regression_iis_header_rewrite_mid_file_changes_the_layout() {
    let (events, _) = parse("u_ex261120.log");
    let before = iis(&events[9]);
    let after = iis(&events[10]);
    // sc-status moves from the 12th column to the 17th, c-ip from the 9th to the 11th.
    assert_eq!(before.status, 403);
    assert_eq!(after.status, 503);
    assert_eq!(after.client_ip, "10.20.30.42");
}

#[test]
fn offsets_and_ids_are_stable_across_reads() {
    let (a, _) = parse("u_ex261120.log");
    let (b, _) = parse("u_ex261120.log");
    assert_eq!(a, b);
    let bytes = std::fs::read(format!(
        "{}/testdata/iis/u_ex261120.log",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for e in &a {
        let at = e.position as usize;
        assert!(bytes[at..].starts_with(e.excerpt.as_bytes()));
    }
}
