//! The HTTPERR parser over the fixture files of `testdata/httperr` (see its README).

use scepwatch_collector::parse::{parse_stream, Format, ParseStats, SourceContext};
use scepwatch_proto::v1::{event::Payload, Event, HttpErrRecord, IisTarget};
use scepwatch_proto::v1::{SourceId, SourceKind};

fn parse(name: &str) -> (Vec<Event>, ParseStats) {
    let path = format!("{}/testdata/httperr/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    let ctx = SourceContext::new(
        SourceId {
            collector: "test".into(),
            host: "ndes01".into(),
            kind: SourceKind::Httperr as i32,
            path,
            stream: String::new(),
        },
        0,
    );
    let mut events = Vec::new();
    let stats = parse_stream(Format::HttpErr, &ctx, bytes.as_slice(), &mut |e| {
        events.push(e)
    })
    .unwrap();
    (events, stats)
}

fn rec(e: &Event) -> &HttpErrRecord {
    match &e.payload {
        Some(Payload::Httperr(r)) => r,
        other => panic!("not an HTTPERR payload: {other:?}"),
    }
}

#[test]
fn every_reason_of_an_ndes_httperr_log() {
    let (events, stats) = parse("httperr1.log");
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(stats.ignored, 8);
    let got: Vec<(&str, u32)> = events
        .iter()
        .map(|e| (rec(e).reason.as_str(), rec(e).status))
        .collect();
    assert_eq!(
        got,
        [
            ("URL_Length", 414),
            ("FieldLength", 400),
            ("Request_Length", 400),
            ("AppOffline", 503),
            ("QueueFull", 503),
            ("ServiceUnavailable", 503),
            ("AppPoolTimer", 0),
            ("Connection_Abandoned_By_ReqQueue", 0),
            ("Timer_ConnectionIdle", 0),
            ("Connection_Dropped", 0),
            ("BadRequest", 400),
            ("AppOffline", 503),
        ]
    );

    let long = rec(&events[0]);
    assert_eq!(long.target, IisTarget::Mscep as i32);
    assert_eq!(long.url.len(), 512);
    assert!(long.url_length > 16_000, "{}", long.url_length);
    assert!(long
        .url
        .starts_with("/certsrv/mscep/mscep.dll?operation=PKIOperation&message=MIAG"));

    let queue_full = rec(&events[4]);
    assert_eq!(queue_full.protocol_version, "HTTP/2.0");
    assert_eq!(
        (queue_full.site_id.as_str(), queue_full.queue_name.as_str()),
        ("1", "SCEP")
    );

    let idle = rec(&events[8]);
    assert_eq!(idle.client_ip, "fe80::f53d:89b8:c3e8:5fec%13");
    assert_eq!((idle.method.as_str(), idle.url.as_str()), ("", ""));
    assert_eq!(idle.target, IisTarget::Unspecified as i32);

    let absolute = rec(&events[10]);
    assert_eq!(absolute.target, IisTarget::CertRegistrationSvc as i32);
}

#[test]
fn older_field_set_without_streamid() {
    let (events, stats) = parse("httperr_2012r2.log");
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(events.len(), 3);
    assert_eq!(rec(&events[0]).reason, "AppOffline");
    assert_eq!(rec(&events[1]).status, 414);
    assert_eq!(rec(&events[1]).target, IisTarget::Mscep as i32);
    assert_eq!(rec(&events[2]).reason, "Timer_ConnectionIdle");
}
