//! Criterion benchmarks of the pkiMessage decoder on a real peer message (Debian scep 2.1.0's
//! PKCSReq, testdata/scep/pkcsreq.der): as a POST body, as the `message=` value of a GET, as BER
//! with indefinite lengths, and the guide's cut iOS message.
//!
//! The `prefix_*` cases decode the same message cut before its certificates (the tolerant walk
//! alone), cut after them (walk + bcder on the certificate) and whole (+ bcder on each signed
//! attribute), so the cost of each stage can be read off as a difference.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scepwatch_collector::scep::{decode_der, decode_url_param, message_param};

#[path = "../tests/scep_fixtures/mod.rs"]
mod scep_fixtures;

fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/scep")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench(c: &mut Criterion) {
    let der = testdata("pkcsreq.der");
    let url = scep_fixtures::url_form(&der);
    let ber = scep_fixtures::reencode_indefinite(&der, Some(1000));
    let ios_line = String::from_utf8(testdata("ios-pkioperation-cut.log")).expect("UTF-8");
    let ios_query = ios_line
        .trim_end()
        .split_once('?')
        .expect("query")
        .1
        .to_owned();
    let ios = message_param(ios_query.as_bytes())
        .expect("message=")
        .to_vec();

    // Offsets of pkcsreq.der (openssl asn1parse): certificates [0] at 1,158, signerInfos at 1,957.
    let before_certificates = &der[..1158];
    let after_certificates = &der[..1957];
    assert!(decode_der(after_certificates)
        .problem
        .contains("cut inside signerInfos"));

    let mut g = c.benchmark_group("scep_decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_der/pkcsreq_2512B", |b| {
        b.iter(|| decode_der(black_box(&der)))
    });
    g.bench_function("decode_url_param/pkcsreq_url", |b| {
        b.iter(|| decode_url_param(black_box(url.as_bytes())))
    });
    g.bench_function("decode_der/pkcsreq_ber_indefinite", |b| {
        b.iter(|| decode_der(black_box(&ber)))
    });
    g.bench_function("decode_url_param/ios_guide_cut", |b| {
        b.iter(|| decode_url_param(black_box(&ios)))
    });
    g.bench_function("prefix/walk_only_1158B", |b| {
        b.iter(|| decode_der(black_box(before_certificates)))
    });
    g.bench_function("prefix/walk_and_certificate_1957B", |b| {
        b.iter(|| decode_der(black_box(after_certificates)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
