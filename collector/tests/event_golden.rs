//! The exact events the IIS and HTTPERR parsers build from their fixture files, compared with
//! the expectations stored in `tests/golden/`. They pin every field of every event (IDs,
//! excerpts, cut query strings, replaced invalid UTF-8), so a change to how events are built,
//! such as a faster way to build the same strings, can prove it changes nothing.
//!
//! After an intended change of the events, rewrite the expectations with
//! `SCEPWATCH_BLESS=1 cargo test -p scepwatch-collector --test event_golden` and review the diff.

use std::fmt::Write as _;
use std::path::PathBuf;

use scepwatch_collector::parse::{parse_stream, Format, SourceContext};
use scepwatch_proto::v1::{SourceId, SourceKind};

/// The events of one fixture, one `Debug` line each, then the stream's counts.
fn render(format: Format, dir: &str, name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("testdata").join(dir).join(name)).unwrap();
    // A fixed identity, not the checkout's path, so the IDs are the same on every machine.
    let mut ctx = SourceContext::new(
        SourceId {
            collector: "golden".into(),
            host: "ndes01".into(),
            kind: format.source_kind() as i32,
            path: format!(r"C:\logs\{name}"),
            stream: String::new(),
        },
        1_795_132_800_000_000,
    );
    ctx.endpoint_id = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll".into();
    let mut out = String::new();
    let stats = parse_stream(format, &ctx, bytes.as_slice(), &mut |e| {
        writeln!(out, "{e:?}").unwrap();
    })
    .unwrap();
    writeln!(out, "{stats:?}").unwrap();
    out
}

fn check(format: Format, dir: &str, name: &str) {
    let got = render(format, dir, name);
    let expected_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{dir}_{name}.events"));
    if std::env::var_os("SCEPWATCH_BLESS").is_some() {
        std::fs::write(&expected_path, &got).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        assert_eq!(g, e, "{name}: line {} differs", i + 1);
    }
    assert_eq!(got.lines().count(), expected.lines().count(), "{name}");
    assert_eq!(got, expected, "{name}");
}

#[test]
fn iis_ndes_day() {
    check(Format::Iis, "iis", "u_ex261120.log");
}

#[test]
fn iis_guide_examples() {
    check(Format::Iis, "iis", "guide_examples.log");
}

#[test]
fn iis_edge_cases() {
    check(Format::Iis, "iis", "edge_cases.log");
}

#[test]
fn httperr_2016() {
    check(Format::HttpErr, "httperr", "httperr1.log");
}

#[test]
fn httperr_2012r2() {
    check(Format::HttpErr, "httperr", "httperr_2012r2.log");
}

#[test]
fn source_kind_is_the_format_s() {
    assert_eq!(Format::Iis.source_kind(), SourceKind::Iis);
}
