//! `.evtx` files written by the test writer (tests/support/evtx_writer.rs, from the published
//! format description), read back by `parse::eventlog::evtx::parse`.

#[path = "support/evtx_writer.rs"]
mod evtx_writer;

use std::io::Cursor;

use evtx_writer::{el, event, file, text_el, Node, Record, CHUNK_SIZE, FILE_HEADER_SIZE};
use scepwatch_collector::parse::eventlog::evtx;
use scepwatch_collector::parse::{ParseStats, SourceContext};
use scepwatch_proto::time::{civil_to_us, to_rfc3339};
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{Capi2Kind, Event, SourceId, SourceKind};

fn ctx() -> SourceContext {
    SourceContext::new(
        SourceId {
            collector: "test".into(),
            host: "ndes01".into(),
            kind: SourceKind::EventLog as i32,
            path: "Application.evtx".into(),
            stream: String::new(),
        },
        0,
    )
}

fn run(bytes: Vec<u8>) -> (Vec<Event>, ParseStats) {
    let mut out = Vec::new();
    let stats = evtx::parse(&ctx(), Cursor::new(bytes), &mut |e| out.push(e)).unwrap();
    (out, stats)
}

fn at(h: u32, m: u32, s: u32) -> i64 {
    civil_to_us(2026, 11, 20, h, m, s, 0).unwrap()
}

/// Application Error 1000 with positional data, as older systems write it.
fn crash(id: u64) -> Record {
    let data: Vec<Node> = [
        "w3wp.exe",
        "8.5.9600.16384",
        "5215df96",
        "ntdll.dll",
        "6.3.9600.18821",
        "59ba86db",
        "c0000005",
        "0x00000000000a4f2f",
        "0x1a2c",
    ]
    .iter()
    .map(|v| text_el("Data", &[], v))
    .collect();
    Record {
        id,
        written_us: at(9, 15, 2),
        event: event(
            "Application Error",
            1000,
            2,
            "2026-11-20T09:15:02.1234567Z",
            id,
            "Application",
            el("EventData", &[], data),
        ),
    }
}

/// DeviceManagement event 36 with named data.
fn scep36(id: u64) -> Record {
    Record {
        id,
        written_us: at(9, 20, 0),
        event: event(
            "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider",
            36,
            4,
            "2026-11-20T09:20:00.0000000Z",
            id,
            "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin",
            el(
                "EventData",
                &[],
                vec![
                    text_el("Data", &[("Name", "EnhancedKeyUsage")], "1.3.6.1.5.5.7.3.2"),
                    text_el(
                        "Data",
                        &[("Name", "NdesUrl")],
                        "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe",
                    ),
                    el("Data", &[("Name", "ContainerName")], vec![]),
                    text_el("Data", &[("Name", "KspSetting")], "0x2"),
                    text_el("Data", &[("Name", "StoreLocation")], "0x1"),
                ],
            ),
        ),
    }
}

/// CAPI2 chain building that ran into an expired certificate.
fn capi2(id: u64) -> Record {
    Record {
        id,
        written_us: at(9, 15, 1),
        event: event(
            "Microsoft-Windows-CAPI2",
            11,
            2,
            "2026-11-20T09:15:01.0000000Z",
            id,
            "Microsoft-Windows-CAPI2/Operational",
            el(
                "UserData",
                &[],
                vec![el(
                    "CertGetCertificateChain",
                    &[],
                    vec![
                        el(
                            "Certificate",
                            &[
                                ("fileRef", "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567.cer"),
                                ("subjectName", "NDES01.contoso.com"),
                            ],
                            vec![],
                        ),
                        el(
                            "CertificateChain",
                            &[("chainRef", "{00000000-0000-0000-0000-000000000001}")],
                            vec![el(
                                "TrustStatus",
                                &[],
                                vec![el(
                                    "ErrorStatus",
                                    &[
                                        ("value", "1"),
                                        ("CERT_TRUST_IS_NOT_TIME_VALID", "true"),
                                    ],
                                    vec![],
                                )],
                            )],
                        ),
                        text_el(
                            "Result",
                            &[("value", "800B0101")],
                            "A required certificate is not within its validity period when verifying against the current system clock or the timestamp in the signed file.",
                        ),
                    ],
                )],
            ),
        ),
    }
}

/// Something else in the Application log.
fn other(id: u64) -> Record {
    Record {
        id,
        written_us: at(9, 0, 0),
        event: event(
            "MSSQLSERVER",
            17137,
            4,
            "2026-11-20T09:00:00.0000000Z",
            id,
            "Application",
            el("EventData", &[], vec![text_el("Data", &[], "master")]),
        ),
    }
}

#[test]
fn the_evtx_crate_reads_the_written_file_with_checksums() {
    let bytes = file(&[vec![crash(1), scep36(2)]]);
    let settings = ::evtx::ParserSettings::new().validate_checksums(true);
    let mut parser = ::evtx::EvtxParser::from_buffer(bytes)
        .unwrap()
        .with_configuration(settings);
    assert!(parser.header().validate_checksum());
    let records: Vec<_> = parser.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].event_record_id, 1);
    assert!(
        records[0].data.contains("<Data>w3wp.exe</Data>"),
        "{}",
        records[0].data
    );
    assert!(records[1].data.contains("Name=\"NdesUrl\""));
}

#[test]
fn crash_scep36_and_capi2_from_evtx() {
    let (events, stats) = run(file(&[vec![crash(1), other(2), scep36(3), capi2(4)]]));
    assert_eq!(stats.records, 4);
    assert_eq!(stats.ignored, 1);
    assert_eq!(stats.error_count(), 0, "{stats:?}");
    assert_eq!(events.len(), 3);
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 3, 4], "record IDs are positions");

    let Some(Payload::AppCrash(c)) = &events[0].payload else {
        panic!("{:?}", events[0])
    };
    assert_eq!(c.application, "w3wp.exe");
    assert_eq!(c.module, "ntdll.dll");
    assert_eq!(c.exception_code, "0xc0000005");
    assert_eq!(c.process_id, 0x1a2c);
    assert_eq!(
        to_rfc3339(events[0].event_time_us),
        "2026-11-20T09:15:02.123456Z"
    );

    let Some(Payload::WindowsScep(w)) = &events[1].payload else {
        panic!()
    };
    assert_eq!(w.enhanced_key_usage, "1.3.6.1.5.5.7.3.2");
    assert_eq!(w.container_name, "");
    assert_eq!(w.store_location, "0x1");
    assert_eq!(
        events[1].endpoint_id,
        "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
    );

    let Some(Payload::Capi2(c)) = &events[2].payload else {
        panic!()
    };
    assert_eq!(c.kind, Capi2Kind::TimeValidity as i32);
    assert_eq!(c.error_code, "800B0101");
    assert_eq!(c.thumbprint, "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567");
    assert_eq!(c.subject, "NDES01.contoso.com");
}

#[test]
fn a_damaged_record_is_counted_and_the_rest_read() {
    let mut bytes = file(&[vec![crash(1), crash(2), crash(3)]]);
    // Break the BinXML of the second record: find its record magic and scribble a bad token
    // over its first element.
    let chunk = FILE_HEADER_SIZE;
    let magics: Vec<usize> = (chunk + 512..chunk + CHUNK_SIZE - 4)
        .filter(|&i| &bytes[i..i + 4] == b"**\0\0")
        .collect();
    assert_eq!(magics.len(), 3);
    bytes[magics[1] + 24 + 4] = 0xEE;
    let (events, stats) = run(bytes);
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 3]);
    assert_eq!(stats.error_count(), 1, "{stats:?}");
}

#[test]
fn a_damaged_chunk_is_counted_and_the_next_chunk_read() {
    let mut bytes = file(&[vec![crash(1)], vec![crash(2)]]);
    // Wreck the first chunk's magic.
    bytes[FILE_HEADER_SIZE..FILE_HEADER_SIZE + 8].copy_from_slice(b"NotAChnk");
    let (events, stats) = run(bytes);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].position, 2);
    assert_eq!(stats.errors.get("evtx.bad_chunk"), Some(&1), "{stats:?}");
}

#[test]
fn a_truncated_file_reads_what_is_whole() {
    let bytes = file(&[vec![crash(1)], vec![crash(2)]]);
    let cut = FILE_HEADER_SIZE + CHUNK_SIZE + 1000;
    let (events, _) = run(bytes[..cut].to_vec());
    assert_eq!(events.len(), 1);
    for cut in [0, 10, 4095, 4096, 5000] {
        let (events, _) = run(bytes[..cut].to_vec());
        assert!(events.is_empty());
    }
}

#[test]
fn header_time_stands_in_when_time_created_is_missing() {
    let mut rec = crash(7);
    if let Node::Element { children, .. } = &mut rec.event {
        if let Some(Node::Element {
            children: system, ..
        }) = children.first_mut()
        {
            system.retain(|n| !matches!(n, Node::Element { name, .. } if name == "TimeCreated"));
        }
    }
    let (events, stats) = run(file(&[vec![rec]]));
    assert_eq!(stats.error_count(), 0);
    assert_eq!(to_rfc3339(events[0].event_time_us), "2026-11-20T09:15:02Z");
}

/// Another DeviceManagement event (an MDM session), which is not ours.
fn mdm_session(id: u64) -> Record {
    Record {
        id,
        written_us: at(9, 19, 0),
        event: event(
            "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider",
            209,
            4,
            "2026-11-20T09:19:00.0000000Z",
            id,
            "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin",
            el(
                "EventData",
                &[],
                vec![text_el("Data", &[("Name", "Message1")], "0x0")],
            ),
        ),
    }
}

/// The `.evtx` fixtures of testdata/eventlog, as the writer makes them. They are committed so
/// that other tests (format detection, `diagnose` over folders and zips) can use real files;
/// `SCEPWATCH_WRITE_FIXTURES=1 cargo test --test eventlog_evtx` rewrites them.
fn evtx_fixtures() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "ndes_application.evtx",
            file(&[vec![other(88409), crash(88410), crash(88412)]]),
        ),
        (
            "device_admin.evtx",
            file(&[vec![mdm_session(5119), scep36(5120)]]),
        ),
    ]
}

#[test]
fn committed_evtx_fixtures_match_the_writer_and_parse() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/eventlog");
    for (name, bytes) in evtx_fixtures() {
        let path = dir.join(name);
        if std::env::var_os("SCEPWATCH_WRITE_FIXTURES").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            on_disk == bytes,
            "{name} differs from what the writer makes"
        );
        let f = std::fs::File::open(&path).unwrap();
        let mut events = Vec::new();
        let stats = evtx::parse(&ctx(), f, &mut |e| events.push(e)).unwrap();
        assert_eq!(stats.error_count(), 0, "{name}");
        assert_eq!(stats.ignored, 1, "{name}");
        assert_eq!(stats.bytes, on_disk.len() as u64);
        assert!(!events.is_empty());
    }
}
