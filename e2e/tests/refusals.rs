//! Strangers, with the real programs: a collector with a wrong token, a collector the ingestor
//! does not know, and a plain-text collector at a TLS port are refused with a clear answer,
//! counted in the ingestor's metrics, and nothing of theirs is published. The collector with the
//! wrong token and the one speaking plain text then get the right configuration, and everything
//! they had read arrives, since nothing they sent was acknowledged; the unknown collector's
//! batches are answered REJECTED, which the collector keeps in its `rejected` folder with the
//! reason. (The ingestor's own tests cover raw clients: garbage protobuf, oversized batches,
//! missing and malformed tokens.)

mod support;

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use scepwatch_e2e::collector::{Collector, CollectorOptions};
use scepwatch_e2e::iis::{AppendPlan, Appender, Ledger};
use scepwatch_e2e::{broker, wait_until};
use support::Rig;

const LINES: u64 = 2_000;

/// Waits until the ingestor's metric `series` reaches `at_least`.
fn counted(rig: &Rig, series: &str, at_least: f64) {
    wait_until(
        &format!("{series} >= {at_least}"),
        Duration::from_secs(20),
        || {
            rig.ingestor
                .metrics()
                .is_ok_and(|m| m.get(series) >= at_least)
        },
    )
    .unwrap();
}

/// After the refusal: nothing of the collector acknowledged, nothing in the topic.
fn nothing_published(rig: &Rig) {
    // Long enough for several reconnects (the test collector's backoff is 50 ms to 1 s).
    std::thread::sleep(Duration::from_secs(3));
    let m = rig.collector.metrics().unwrap();
    assert_eq!(m.get("scepwatch_collector_acked_events_total"), 0.0);
    assert!(m.get("scepwatch_collector_spooled_events_total") >= LINES as f64);
    assert_eq!(broker::records_in(&rig.bootstrap, &rig.topic).unwrap(), 0);
    assert_eq!(
        rig.ingestor
            .metrics()
            .unwrap()
            .sum("scepwatch_ingestor_published_events_total"),
        0.0
    );
}

/// Restarts the collector (same state and spool) with `options` and checks that every line
/// arrives once.
fn fixed_and_delivered(rig: &mut Rig, options: CollectorOptions, ledger: &Ledger) {
    rig.collector.stop().unwrap();
    rig.collector = Collector::start(&rig.dir.path().join("collector"), &options).unwrap();
    let report = rig.deliver(ledger, Duration::from_secs(60), "refused, then fixed");
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.duplicates, 0, "{report}");
}

fn write_lines(rig: &Rig) -> Ledger {
    Appender::spawn(&rig.logs(), AppendPlan::steady(LINES, 0))
        .join()
        .unwrap()
}

#[test]
fn a_collector_with_a_wrong_token_is_refused_counted_and_publishes_nothing() {
    let Some(mut rig) = Rig::start(
        "refused-token",
        |_| {},
        |c| c.token = "Wx4Rt8Yp2Lk6Hs0Dg3Fb7Nm1Qc5Vz9Ja2Ue6Io8Pl4Mk0".to_owned(),
    ) else {
        return;
    };
    let ledger = write_lines(&rig);
    counted(
        &rig,
        "scepwatch_ingestor_refused_streams_total{reason=\"unknown_token\"}",
        2.0,
    );
    nothing_published(&rig);
    assert!(rig
        .collector
        .process()
        .log_text()
        .contains("the ingestor refuses this collector's token"));

    let right = CollectorOptions::new(&rig.ingestor.url(), &rig.logs());
    fixed_and_delivered(&mut rig, right, &ledger);
    rig.stop();
}

#[test]
fn a_collector_the_ingestor_does_not_know_is_rejected_counted_and_publishes_nothing() {
    // ndes01's token in the hands of a collector calling itself ndes99.
    let Some(rig) = Rig::start("refused-name", |_| {}, |c| c.name = "ndes99".to_owned()) else {
        return;
    };
    write_lines(&rig);
    counted(
        &rig,
        "scepwatch_ingestor_rejected_batches_total{collector=\"ndes01\",reason=\"collector_mismatch\"}",
        1.0,
    );
    wait_until("every batch answered", Duration::from_secs(20), || {
        rig.collector.metrics().is_ok_and(|m| {
            m.get("scepwatch_collector_rejected_batches_total")
                == m.get("scepwatch_collector_spooled_batches_total")
        })
    })
    .unwrap();
    assert_eq!(broker::records_in(&rig.bootstrap, &rig.topic).unwrap(), 0);
    let m = rig.collector.metrics().unwrap();
    assert_eq!(m.get("scepwatch_collector_acked_events_total"), 0.0);
    // Rejected batches are kept, with the reason, not dropped.
    let reasons: Vec<String> = std::fs::read_dir(rig.collector.dir().join("state/rejected"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".reason.txt"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(!reasons.is_empty());
    assert!(reasons.iter().all(|r| r.contains("ndes01")), "{reasons:?}");
    rig.stop();
}

/// A CA and a certificate for `localhost` and 127.0.0.1 signed by it, as PEM files in `dir`:
/// (ca, cert, key).
fn pki(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "scepwatch e2e CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("ingestor.crt"),
        dir.join("ingestor.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[test]
fn a_plain_text_collector_at_a_tls_port_is_refused_counted_and_publishes_nothing() {
    let pki_dir = scepwatch_e2e::TestDir::new("refused-plaintext-pki").unwrap();
    let (ca, cert, key) = pki(pki_dir.path());
    let Some(mut rig) = Rig::start(
        "refused-plaintext",
        |i| i.tls = Some((cert.clone(), key.clone())),
        |c| c.ingestor_url = c.ingestor_url.replace("https://", "http://"),
    ) else {
        return;
    };
    assert!(rig.ingestor.url().starts_with("https://"));
    let ledger = write_lines(&rig);
    counted(
        &rig,
        "scepwatch_ingestor_refused_streams_total{reason=\"tls_handshake\"}",
        2.0,
    );
    nothing_published(&rig);

    let mut right = CollectorOptions::new(&rig.ingestor.url(), &rig.logs());
    right.ca_file = Some(ca);
    fixed_and_delivered(&mut rig, right, &ledger);
    rig.stop();
}
