//! Format detection over the fixtures of every format this crate's tests ship.

use std::path::PathBuf;

use proptest::prelude::*;
use scepwatch_collector::parse::detect::{detect, detect_with_reason, HEAD_LEN};
use scepwatch_collector::parse::Format;

fn fixture(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every recognisable fixture and the format it is.
const RECOGNISED: [(&str, Format); 18] = [
    ("android/omadm_success.log", Format::AndroidOmadm),
    ("android/omadm_gateway_timeout.log", Format::AndroidOmadm),
    ("android/omadm_network_failures.log", Format::AndroidOmadm),
    ("ios/profiled_guide.log", Format::IosConsole),
    ("ios/console_copy_post_500.log", Format::IosConsole),
    ("ios/log_show_failures.log", Format::IosConsole),
    ("probe/probe_results.jsonl", Format::Probe),
    ("health/facts.jsonl", Format::Health),
    ("detect/event_text_utf16le.txt", Format::EventText),
    ("detect/event_text_utf16be.txt", Format::EventText),
    ("detect/event36_text.txt", Format::EventText),
    ("detect/wevtutil_events.xml", Format::EventXml),
    ("detect/get_winevent_objects.xml", Format::EventXml),
    ("detect/iis_header.log", Format::Iis),
    ("detect/iis_headerless.log", Format::Iis),
    ("detect/httperr.log", Format::HttpErr),
    ("detect/setupmsi.log", Format::SetupMsi),
    ("detect/evtx_head.bin", Format::Evtx),
];

#[test]
fn fixtures_are_recognised() {
    for (path, format) in RECOGNISED {
        assert_eq!(detect_with_reason(&fixture(path)), Ok(format), "{path}");
    }
}

#[test]
fn non_logs_say_why() {
    assert_eq!(
        detect_with_reason(&fixture("detect/unrecognised.txt")),
        Err("unrecognised text")
    );
    assert_eq!(
        detect_with_reason(&fixture("detect/other.jsonl")),
        Err("unrecognised text")
    );
    assert_eq!(
        detect_with_reason(&fixture("detect/binary.bin")),
        Err("binary data")
    );
    assert_eq!(
        detect_with_reason(&fixture("detect/empty.txt")),
        Err("empty")
    );
    for readme in ["android", "ios", "probe", "health", "detect"] {
        assert_eq!(
            detect(&fixture(&format!("{readme}/README.md"))),
            None,
            "{readme}/README.md"
        );
    }
}

#[test]
fn only_the_head_is_read() {
    let mut big = vec![b'x'; HEAD_LEN];
    big.extend_from_slice(b"\n#Software: Microsoft Internet Information Services 10.0\n");
    assert_eq!(detect(&big), None);
    let mut log = fixture("android/omadm_success.log");
    while log.len() < 3 * HEAD_LEN {
        log.extend_from_slice(&fixture("android/omadm_success.log"));
    }
    assert_eq!(detect(&log), Some(Format::AndroidOmadm));
}

proptest! {
    #[test]
    fn any_bytes_never_panic(head in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let _ = detect_with_reason(&head);
    }

    /// What follows a recognised head never changes the answer.
    #[test]
    fn stable_under_appended_garbage(which in 0usize..RECOGNISED.len(), garbage in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (path, format) = RECOGNISED[which];
        let mut data = fixture(path);
        data.extend_from_slice(&garbage);
        prop_assert_eq!(detect(&data), Some(format));
    }

    /// Detection of a cut head either finds the right format or nothing.
    #[test]
    fn cut_heads_never_lie(which in 0usize..RECOGNISED.len(), cut in 0usize..3000) {
        let (path, format) = RECOGNISED[which];
        let data = fixture(path);
        let found = detect(&data[..cut.min(data.len())]);
        prop_assert!(found.is_none() || found == Some(format), "{path} cut at {cut}: {found:?}");
    }
}
