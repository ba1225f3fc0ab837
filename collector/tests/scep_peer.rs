//! The decoder against real messages of an independent SCEP implementation (Debian's `scep`
//! 2.1.0: scepclient and scepserver, captured on 127.0.0.1; testdata/scep/README.md), in every
//! transport form a log carries them, and against the guide's cut iOS message.

mod scep_fixtures;

use scep_fixtures::{base64_form, load, reencode_indefinite, transaction_id_end, url_form};
use scepwatch_collector::scep::{decode_base64, decode_der, decode_url_param, message_param};
use scepwatch_proto::v1::{ScepMessageInfo, ScepMessageType, ScepPkiStatus};

/// 2026-11-26T22:24:16Z, when the client made its signer certificate and the CA issued.
const T_CLIENT: i64 = 1_795_731_856_000_000;
/// 2026-11-26T22:24:07Z, when `scepserver ca -init` made the CA certificate.
const T_CA: i64 = 1_795_731_847_000_000;
const HOUR: i64 = 3_600_000_000;

const CA: &str = "OU=SCEP CA,O=scepwatch test CA,C=US";
const SELF_SIGNED: &str = "CN=SCEP SIGNER,O=scep-client";
const DEVICE_A: &str = "CN=device-a,OU=MDM,O=scep-client,C=US";

struct Expected {
    file: &'static str,
    transaction_id: &'static str,
    message_type: ScepMessageType,
    pki_status: ScepPkiStatus,
    fail_info: i32,
    sender_nonce: &'static str,
    recipient_nonce: &'static str,
    signer: (&'static str, &'static str, i64, i64),
}

/// Values the peer logged (transactionID, message type, pkiStatus, failInfo) and `openssl cms
/// -print` showed (nonces, signer certificate).
const EXPECTED: &[Expected] = &[
    Expected {
        file: "pkcsreq.der",
        transaction_id: "mviXwO5N5ZIWlKd31rBmDbWatLM=",
        message_type: ScepMessageType::PkcsReq,
        pki_status: ScepPkiStatus::Unspecified,
        fail_info: -1,
        sender_nonce: "372ddcfc2dfe62885aedd3f20b84d27a",
        recipient_nonce: "",
        signer: (SELF_SIGNED, SELF_SIGNED, T_CLIENT, T_CLIENT + HOUR),
    },
    Expected {
        file: "certrep-success.der",
        transaction_id: "mviXwO5N5ZIWlKd31rBmDbWatLM=",
        message_type: ScepMessageType::CertRep,
        pki_status: ScepPkiStatus::Success,
        fail_info: -1,
        sender_nonce: "372ddcfc2dfe62885aedd3f20b84d27a",
        recipient_nonce: "372ddcfc2dfe62885aedd3f20b84d27a",
        // The message carries the issued certificate first; the sid names the CA.
        signer: (CA, CA, T_CA, T_CA + 3_653 * 24 * HOUR),
    },
    Expected {
        file: "pkcsreq-bad-challenge.der",
        transaction_id: "NedCB7jKzLBtpQxv9uuuhEIVRok=",
        message_type: ScepMessageType::PkcsReq,
        pki_status: ScepPkiStatus::Unspecified,
        fail_info: -1,
        sender_nonce: "2da057a0b5a8810a97a3fcfeb1ea41d4",
        recipient_nonce: "",
        signer: (SELF_SIGNED, SELF_SIGNED, T_CLIENT, T_CLIENT + HOUR),
    },
    Expected {
        file: "certrep-failure.der",
        transaction_id: "NedCB7jKzLBtpQxv9uuuhEIVRok=",
        message_type: ScepMessageType::CertRep,
        pki_status: ScepPkiStatus::Failure,
        fail_info: 2,
        sender_nonce: "2da057a0b5a8810a97a3fcfeb1ea41d4",
        recipient_nonce: "2da057a0b5a8810a97a3fcfeb1ea41d4",
        signer: (CA, CA, T_CA, T_CA + 3_653 * 24 * HOUR),
    },
    Expected {
        file: "renewalreq.der",
        transaction_id: "mviXwO5N5ZIWlKd31rBmDbWatLM=",
        message_type: ScepMessageType::RenewalReq,
        pki_status: ScepPkiStatus::Unspecified,
        fail_info: -1,
        sender_nonce: "def9074def5b9bf0853c415b845e3987",
        recipient_nonce: "",
        signer: (DEVICE_A, CA, T_CLIENT, T_CLIENT + 365 * 24 * HOUR),
    },
    Expected {
        file: "certrep-renewal-failure.der",
        transaction_id: "mviXwO5N5ZIWlKd31rBmDbWatLM=",
        message_type: ScepMessageType::CertRep,
        pki_status: ScepPkiStatus::Failure,
        fail_info: 2,
        sender_nonce: "def9074def5b9bf0853c415b845e3987",
        recipient_nonce: "def9074def5b9bf0853c415b845e3987",
        signer: (CA, CA, T_CA, T_CA + 3_653 * 24 * HOUR),
    },
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Asserts the SCEP content of `info` (not the byte counts, which depend on the encoding).
fn assert_content(e: &Expected, info: &ScepMessageInfo, form: &str) {
    let ctx = format!("{} as {form}", e.file);
    assert_eq!(info.transaction_id, e.transaction_id, "{ctx}");
    assert_eq!(info.message_type, e.message_type as i32, "{ctx}");
    assert_eq!(info.pki_status, e.pki_status as i32, "{ctx}");
    assert_eq!(info.fail_info, e.fail_info, "{ctx}");
    assert_eq!(hex(&info.sender_nonce), e.sender_nonce, "{ctx}");
    assert_eq!(hex(&info.recipient_nonce), e.recipient_nonce, "{ctx}");
    let signer = (
        info.signer_subject.as_str(),
        info.signer_issuer.as_str(),
        info.signer_not_before_us,
        info.signer_not_after_us,
    );
    assert_eq!(signer, e.signer, "{ctx}");
    assert_eq!(info.digest_algorithm, "sha1", "{ctx}");
    assert_eq!(info.signature_algorithm, "sha1WithRSAEncryption", "{ctx}");
    assert!(info.complete, "{ctx}: {}", info.problem);
    assert!(info.missing.is_empty(), "{ctx}: {:?}", info.missing);
    assert_eq!(info.problem, "", "{ctx}");
}

#[test]
fn peer_messages_decode_as_the_peer_logged_them() {
    for e in EXPECTED {
        let der = load(e.file);
        let info = decode_der(&der);
        assert_content(e, &info, "DER");
        assert_eq!(info.bytes_available as usize, der.len());
        assert_eq!(info.bytes_declared as usize, der.len());
    }
}

#[test]
fn url_and_base64_forms_decode_the_same() {
    for e in EXPECTED {
        let der = load(e.file);
        let url = url_form(&der);
        let query = format!("operation=PKIOperation&message={url}");
        let value = message_param(query.as_bytes()).expect("message parameter");
        let from_url = decode_url_param(value);
        assert_content(e, &from_url, "URL parameter");
        assert_eq!(from_url, decode_der(&der));

        // As an iOS log shows it: plain base64 with a literal '+', wrapped like PEM.
        let b64 = base64_form(&der);
        let wrapped: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let from_text = decode_base64(wrapped.join("\r\n").as_bytes());
        assert_eq!(from_text, decode_der(&der), "{}", e.file);
        // A bare '+' in a query value is base64's own (IIS logs the query as sent).
        assert_eq!(decode_url_param(b64.as_bytes()), decode_der(&der));
    }
}

#[test]
fn ber_with_indefinite_lengths_decodes_the_same() {
    for e in EXPECTED {
        let der = load(e.file);
        for split in [None, Some(10), Some(1000)] {
            let ber = reencode_indefinite(&der, split);
            assert_eq!(
                &ber[..4],
                &[0x30, 0x80, 0x06, 0x09],
                "starts like iOS's MIAGCSqG"
            );
            let info = decode_der(&ber);
            assert_content(e, &info, &format!("BER split {split:?}"));
            assert_eq!(info.bytes_available as usize, ber.len());
            assert_eq!(info.bytes_declared, 0);
        }
    }
}

#[test]
fn responses_answer_their_requests() {
    for pair in EXPECTED.chunks(2) {
        let request = decode_der(&load(pair[0].file));
        let response = decode_der(&load(pair[1].file));
        assert_eq!(response.transaction_id, request.transaction_id);
        assert_eq!(response.recipient_nonce, request.sender_nonce);
    }
}

#[test]
fn guide_ios_message_is_cut_inside_the_envelope() {
    let line = String::from_utf8(load("ios-pkioperation-cut.log")).unwrap();
    assert!(line.contains("profiled    Performing synchronous URL request:"));
    let query = line.trim_end().split_once('?').expect("URL with a query").1;
    let value = message_param(query.as_bytes()).expect("message parameter");
    assert!(value.starts_with(b"MIAGCSqGSIb3DQEHAqCAMIACAQEx"));
    assert_eq!(value.len(), 829);

    let info = decode_url_param(value);
    assert!(!info.complete);
    // 829 base64 characters: 207 quanta and one lone character, 621 bytes.
    assert_eq!(info.bytes_available, 621);
    assert_eq!(info.bytes_declared, 0, "outer length is indefinite");
    // SignedData recognised: its digestAlgorithms SET names SHA-512.
    assert_eq!(info.digest_algorithm, "sha512");
    assert_eq!(info.transaction_id, "");
    assert_eq!(
        info.missing,
        ["transactionID", "messageType", "senderNonce"]
    );
    assert_eq!(
        info.problem,
        "truncated after 621 bytes of an indefinite-length message; \
         signer attributes not reached (cut inside encapContentInfo)"
    );
    assert_eq!(decode_base64(value), info);
}

#[test]
fn cut_der_says_what_is_missing() {
    let der = load("pkcsreq.der");
    let info = decode_der(&der[..1850]);
    assert_eq!(
        info.problem,
        "truncated after 1,850 of 2,512 bytes; signer attributes not reached (cut inside certificates)"
    );
    assert_eq!((info.bytes_available, info.bytes_declared), (1850, 2512));

    // Cut inside the signed attributes, one byte before the transactionID is complete: the
    // attributes before it (messageType, senderNonce) are reported.
    let end = transaction_id_end(&der);
    let info = decode_der(&der[..end - 1]);
    assert_eq!(info.missing, ["transactionID"]);
    assert_eq!(info.message_type, ScepMessageType::PkcsReq as i32);
    assert_eq!(hex(&info.sender_nonce), "372ddcfc2dfe62885aedd3f20b84d27a");
    assert_eq!(
        info.problem,
        format!(
            "truncated after 2,{:03} of 2,512 bytes; transactionID not present",
            end - 1 - 2000
        )
    );
    // The signer certificate precedes the cut, so it is known.
    assert_eq!(info.signer_subject, SELF_SIGNED);

    let info = decode_der(&der[..end]);
    assert_eq!(info.transaction_id, "mviXwO5N5ZIWlKd31rBmDbWatLM=");
    assert!(info.missing.is_empty() && !info.complete);
    assert!(info
        .problem
        .ends_with("SCEP attributes present (cut inside signatureAlgorithm)"));
}

#[test]
fn cut_certrep_expects_its_status() {
    // The Go server writes messageType first and pkiStatus second: cut between them.
    let der = load("certrep-failure.der");
    let status_oid = [
        0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x45, 0x01, 0x09, 0x03,
    ];
    let at = der.windows(12).position(|w| w == status_oid).unwrap();
    let info = decode_der(&der[..at]);
    assert_eq!(info.message_type, ScepMessageType::CertRep as i32);
    assert_eq!(
        info.missing,
        [
            "transactionID",
            "senderNonce",
            "pkiStatus",
            "recipientNonce"
        ]
    );
    assert_eq!(info.fail_info, -1);
}

#[test]
fn not_pki_messages_are_named() {
    assert_eq!(decode_url_param(b"").problem, "empty message");
    assert_eq!(decode_url_param(b"%3C%3E").problem, "not base64");
    let html = decode_base64(b"<html><body>Bad Request</body></html>");
    assert_eq!(html.problem, "not base64");
    // GetCACert's reply: a bare X.509 certificate (the CA's, 823 bytes).
    let info = decode_der(&load("getcacert-reply.der"));
    assert_eq!(
        info.problem,
        "not a CMS SignedData (the SEQUENCE does not start with a content type)"
    );
    assert_eq!(info.bytes_declared, 823);
    let info = decode_der(b"\x30\x03\x02\x01\x01");
    assert_eq!(
        info.problem,
        "not a CMS SignedData (the SEQUENCE does not start with a content type)"
    );
    // Text that happens to be base64 but not DER.
    let info = decode_base64(b"aGVsbG8gd29ybGQ=");
    assert_eq!(
        info.problem,
        "not a CMS SignedData (starts with 0x68, not a SEQUENCE)"
    );
}

#[test]
fn certs_only_signed_data_is_not_a_pki_message() {
    // ContentInfo { signedData, [0] SignedData { 1, {}, { data }, signerInfos {} } }.
    let der = [
        0x30, 0x1e, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x11,
        0x30, 0x0f, 0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
        0xf7, 0x0d, 0x01, 0x07, 0x01, 0x31, 0x00,
    ];
    let mut der = der.to_vec();
    der[1] = (der.len() - 2) as u8;
    der[14] = (der.len() - 15) as u8;
    der[16] = (der.len() - 17) as u8;
    let info = decode_der(&der);
    assert!(!info.complete);
    assert_eq!(
        info.problem,
        "malformed BER at byte 37 inside SignerInfo: no SignerInfo (a certs-only SignedData, not a pkiMessage)"
    );
}
