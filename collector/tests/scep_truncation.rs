//! Log lines cut a pkiMessage anywhere. Every prefix of every peer message, in DER, in BER with
//! indefinite lengths and as a URL parameter, must decode without panic, be `complete` only
//! when whole, and report the transactionID exactly when its bytes are present. Arbitrary and
//! mutated input must never panic either.

mod scep_fixtures;

use proptest::prelude::*;
use scep_fixtures::{load, reencode_indefinite, transaction_id_end, url_form, PEER_MESSAGES};
use scepwatch_collector::scep::{decode_base64, decode_der, decode_url_param};
use scepwatch_proto::v1::ScepMessageInfo;

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Checks one prefix of `full` (a message whose transactionID attribute ends at `tx_end`).
fn check_prefix(full: &[u8], cut: usize, tx_end: usize, tx: &str, definite: bool) {
    let info = decode_der(&full[..cut]);
    let ctx = format!("cut at {cut} of {}: {}", full.len(), info.problem);
    assert_eq!(info.bytes_available as usize, cut, "{ctx}");
    assert_eq!(info.complete, cut == full.len(), "{ctx}");
    if cut >= tx_end {
        assert_eq!(info.transaction_id, tx, "{ctx}");
        assert!(!info.missing.iter().any(|m| m == "transactionID"), "{ctx}");
    } else {
        assert_eq!(info.transaction_id, "", "{ctx}");
        // An empty input is not a message at all: nothing is listed as missing from it.
        assert_eq!(
            info.missing.iter().any(|m| m == "transactionID"),
            cut > 0,
            "{ctx}"
        );
    }
    if cut == 0 {
        assert_eq!(info.problem, "empty message");
    } else if cut < full.len() {
        // The outer header is 2 bytes (BER, 30 80) or 4 (DER, 30 82 hh ll); before it is
        // whole, the length is unknown.
        let head = if !definite && cut >= 2 {
            format!(
                "truncated after {} bytes of an indefinite-length message; ",
                thousands(cut)
            )
        } else if definite && cut >= 4 {
            format!(
                "truncated after {} of {} bytes; ",
                thousands(cut),
                thousands(full.len())
            )
        } else if cut == 1 {
            "truncated after 1 byte; ".to_owned()
        } else {
            format!("truncated after {} bytes; ", thousands(cut))
        };
        assert!(info.problem.starts_with(&head), "{ctx}");
        if definite && cut >= 4 {
            assert_eq!(info.bytes_declared as usize, full.len(), "{ctx}");
        }
    } else {
        assert_eq!(info.problem, "", "{ctx}");
    }
    if !definite {
        assert_eq!(info.bytes_declared, 0, "{ctx}");
    }
}

#[test]
fn every_prefix_of_every_der_peer_message() {
    for name in PEER_MESSAGES {
        let der = load(name);
        let full = decode_der(&der);
        let tx_end = transaction_id_end(&der);
        for cut in 0..=der.len() {
            check_prefix(&der, cut, tx_end, &full.transaction_id, true);
        }
    }
}

#[test]
fn every_prefix_of_every_ber_peer_message() {
    for name in PEER_MESSAGES {
        let ber = reencode_indefinite(&load(name), Some(10));
        let full = decode_der(&ber);
        assert!(full.complete, "{name}: {}", full.problem);
        let tx_end = transaction_id_end(&ber);
        for cut in 0..=ber.len() {
            check_prefix(&ber, cut, tx_end, &full.transaction_id, false);
        }
    }
}

#[test]
fn every_prefix_of_a_url_parameter() {
    let der = load("pkcsreq.der");
    let url = url_form(&der);
    let tx_end = transaction_id_end(&der);
    let whole = decode_der(&der);
    for cut in 0..=url.len() {
        let info = decode_url_param(&url.as_bytes()[..cut]);
        let ctx = format!("URL cut at {cut}: {}", info.problem);
        let available = info.bytes_available as usize;
        assert!(available <= der.len(), "{ctx}");
        // Cutting only the padding (%3D) loses no byte: that message is whole.
        assert_eq!(info.complete, available == der.len(), "{ctx}");
        assert_eq!(info.transaction_id.is_empty(), available < tx_end, "{ctx}");
        if cut == url.len() {
            assert_eq!(info, whole);
        }
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend_from_slice(&[0x30, 0x80]);
    }
    let info = decode_der(&deep);
    assert!(!info.complete);
    assert!(
        info.problem.contains("nesting deeper than 32 levels"),
        "{}",
        info.problem
    );

    // A "certificate" of 5,000 nested definite SEQUENCEs inside an otherwise valid message:
    // it is not a certificate, it is skipped without recursion and the real one still decodes.
    let mut cert = Vec::new();
    for _ in 0..5_000 {
        let len = cert.len();
        let mut wrapped = vec![0x30, 0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        wrapped.extend_from_slice(&cert);
        cert = wrapped;
    }
    let der = load("pkcsreq.der");
    let ber = reencode_indefinite(&der, None);
    // Put it in front of the real certificate: find the certificates field [0] of SignedData
    // (the first A0 80 30 80 30 80 after encapContentInfo).
    let certs = ber
        .windows(6)
        .enumerate()
        .skip(20)
        .find(|(_, w)| *w == [0xa0, 0x80, 0x30, 0x80, 0x30, 0x80])
        .map(|(i, _)| i)
        .expect("certificates field");
    let mut evil = ber[..certs + 2].to_vec();
    evil.extend_from_slice(&cert);
    evil.extend_from_slice(&ber[certs + 2..]);
    let info = decode_der(&evil);
    assert!(info.complete, "{}", info.problem);
    assert_eq!(info.transaction_id, "mviXwO5N5ZIWlKd31rBmDbWatLM=");
    assert_eq!(info.signer_subject, "CN=SCEP SIGNER,O=scep-client");
}

fn fixture_bytes() -> Vec<Vec<u8>> {
    PEER_MESSAGES
        .iter()
        .flat_map(|n| {
            let der = load(n);
            let ber = reencode_indefinite(&der, Some(7));
            [der, ber]
        })
        .collect()
}

/// A complete message has no problem beyond absent attributes; an incomplete one says why.
fn sane(info: &ScepMessageInfo) {
    if info.complete {
        assert!(
            info.problem.is_empty()
                || info.problem.starts_with("signed attributes lack")
                || info.problem == "no signed attributes",
            "{}",
            info.problem
        );
    } else {
        assert!(!info.problem.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        sane(&decode_der(&bytes));
        sane(&decode_base64(&bytes));
        sane(&decode_url_param(&bytes));
    }

    /// Bytes drawn mostly from the headers CMS uses (SEQUENCE, SET, [0], OCTET STRING, OID,
    /// indefinite and long lengths, end-of-contents) after a real ContentInfo prefix.
    #[test]
    fn any_message_like_bytes_never_panic(
        body in proptest::collection::vec((0usize..12, any::<u8>()), 0..384)
    ) {
        const HEADERS: [u8; 9] = [0x30, 0x80, 0x00, 0xa0, 0x31, 0x04, 0x24, 0x06, 0x82];
        let mut msg = vec![0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
                           0x07, 0x02, 0xa0, 0x80, 0x30, 0x80];
        msg.extend(body.iter().map(|&(pick, raw)| HEADERS.get(pick).copied().unwrap_or(raw)));
        sane(&decode_der(&msg));
    }

    #[test]
    fn mutated_peer_messages_never_panic(
        which in 0usize..12,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut msg = fixture_bytes().swap_remove(which);
        for (at, byte) in edits {
            let i = at.index(msg.len());
            msg[i] = byte;
        }
        let cut = cut.index(msg.len() + 1);
        sane(&decode_der(&msg[..cut]));
        sane(&decode_url_param(url_form(&msg[..cut]).as_bytes()));
    }

    #[test]
    fn any_split_and_cut_finds_the_transaction_id_once_present(
        which in 0usize..6,
        chunk in 1usize..40,
        cut in any::<prop::sample::Index>(),
    ) {
        let ber = reencode_indefinite(&load(PEER_MESSAGES[which]), Some(chunk));
        let full = decode_der(&ber);
        prop_assert!(full.complete);
        let cut = cut.index(ber.len() + 1);
        check_prefix(&ber, cut, transaction_id_end(&ber), &full.transaction_id, false);
    }
}
