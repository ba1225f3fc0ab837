//! Event-log XML fixtures (testdata/eventlog) through `parse::parse_stream`, as the collector
//! and `diagnose` run them.

use std::path::PathBuf;

use proptest::prelude::*;
use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{Capi2Event, Capi2Kind, Event, SourceId};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/eventlog")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ctx(utc_offset_secs: i32) -> SourceContext {
    let source = SourceId {
        collector: "diagnose".into(),
        host: "NDES01".into(),
        kind: Format::EventXml.source_kind() as i32,
        path: "events.xml".into(),
        stream: String::new(),
    };
    let mut c = SourceContext::new(source, 1);
    c.utc_offset_secs = utc_offset_secs;
    c
}

fn run(bytes: &[u8], offset: i32) -> (Vec<Event>, ParseStats) {
    let mut events = Vec::new();
    let stats = parse::parse_stream(Format::EventXml, &ctx(offset), bytes, &mut |e| {
        events.push(e)
    })
    .unwrap();
    (events, stats)
}

fn capi2(e: &Event) -> &Capi2Event {
    match &e.payload {
        Some(Payload::Capi2(c)) => c,
        other => panic!("not a CAPI2 event: {other:?}"),
    }
}

#[test]
fn wevtutil_application_log_crashes() {
    let bytes = fixture("wevtutil_application.xml");
    let (events, stats) = run(&bytes, 0);
    assert_eq!(stats.records, 4);
    assert_eq!(stats.ignored, 1, "the WAS event is not ours");
    assert_eq!(stats.error_count(), 0);
    assert_eq!(stats.bytes, bytes.len() as u64);
    let apps: Vec<(u64, String, u32)> = events
        .iter()
        .map(|e| match &e.payload {
            Some(Payload::AppCrash(c)) => (e.position, c.application.clone(), c.process_id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        apps,
        vec![
            (88410, "w3wp.exe".to_string(), 0x1a2c),
            (88412, "w3wp.exe".to_string(), 0x1b08),
            (88413, "notepad.exe".to_string(), 0x2f0),
        ]
    );
    assert_eq!(stats.first_event_us, Some(events[0].event_time_us));
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-20T09:15:02.123456Z"
    );
}

#[test]
fn rendered_xml_crash_and_capi2_kinds() {
    let (events, stats) = run(&fixture("wevtutil_rendered.xml"), 0);
    assert_eq!(stats.records, 5);
    assert_eq!(stats.ignored, 1, "event 90 is information");
    assert_eq!(stats.error_count(), 0);
    let Some(Payload::AppCrash(c)) = &events[0].payload else {
        panic!()
    };
    assert_eq!(c.module_version, "10.0.20348.2031");
    assert_eq!(
        c.fault_offset, "0x000000000004f2f8",
        "spelt as the message spells it"
    );
    assert_eq!(c.process_id, 0x20dc);

    let chain = capi2(&events[1]);
    assert_eq!(chain.event_id, 11);
    assert_eq!(chain.kind, Capi2Kind::Revocation as i32);
    assert_eq!(chain.error_code, "80092013");
    assert_eq!(chain.subject, "NDES02.contoso.com");
    assert_eq!(chain.thumbprint, "3A7F19C2B84D0E56A1F2C3B4D5E6F708192A3B4C");

    let fetch = capi2(&events[2]);
    assert_eq!(fetch.kind, Capi2Kind::Retrieval as i32);
    assert_eq!(fetch.task, "CryptRetrieveObjectByUrlWire");
    assert_eq!(
        fetch.url,
        "http://pki.contoso.com/CertEnroll/Contoso%20Issuing%20CA.crl"
    );
    assert_eq!(
        fetch.result,
        "The server name or address could not be resolved"
    );

    let policy = capi2(&events[3]);
    assert_eq!(policy.kind, Capi2Kind::TimeValidity as i32);
    assert_eq!(policy.error_code, "800B0101");
}

#[test]
fn convert_to_xml_local_times_and_event36() {
    // Exported on a machine one hour ahead of UTC.
    let (events, stats) = run(&fixture("convertto_xml.xml"), 3600);
    assert_eq!(stats.records, 3);
    assert_eq!(stats.ignored, 1);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].position, 88410);
    assert_eq!(to_rfc3339(events[0].event_time_us), "2026-11-20T09:15:02Z");
    let Some(Payload::AppCrash(c)) = &events[0].payload else {
        panic!()
    };
    assert_eq!(c.application, "w3wp.exe");
    assert_eq!(c.exception_code, "0xc0000005");
    let Some(Payload::WindowsScep(w)) = &events[1].payload else {
        panic!()
    };
    assert_eq!(w.enhanced_key_usage, "1.3.6.1.5.5.7.3.2");
    assert_eq!(
        events[1].endpoint_id,
        "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
    );
}

#[test]
fn utf16_export_reads_the_same() {
    let utf8 = fixture("wevtutil_application.xml");
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        String::from_utf8(utf8.clone())
            .unwrap()
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let (a, _) = run(&utf8, 0);
    let (b, _) = run(&utf16, 0);
    assert_eq!(a, b, "same events, same IDs");
}

#[test]
fn parsing_twice_gives_the_same_ids() {
    let bytes = fixture("wevtutil_rendered.xml");
    let (a, _) = run(&bytes, 0);
    let (b, _) = run(&bytes, 0);
    assert_eq!(a, b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Any prefix of a real export: no panic, never more events than the whole file.
    #[test]
    fn any_prefix_of_a_fixture(cut in 0usize..9000) {
        let bytes = fixture("wevtutil_rendered.xml");
        let cut = cut.min(bytes.len());
        let (events, stats) = run(&bytes[..cut], 0);
        prop_assert!(events.len() <= 4);
        prop_assert_eq!(stats.bytes, cut as u64);
    }
}
