//! The health fact fixture through `parse::parse_stream`.

use std::path::PathBuf;

use proptest::prelude::*;
use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::{event::Payload, health_fact::Fact, CertRole, Event, SourceId};

fn run(bytes: &[u8]) -> (Vec<Event>, ParseStats) {
    let source = SourceId {
        collector: "ndes01".into(),
        host: "ndes01".into(),
        kind: Format::Health.source_kind() as i32,
        path: "health".into(),
        stream: String::new(),
    };
    let mut ctx = SourceContext::new(source, 1);
    ctx.endpoint_id = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll".into();
    let mut events = Vec::new();
    let stats = parse::parse_stream(Format::Health, &ctx, bytes, &mut |e| events.push(e)).unwrap();
    (events, stats)
}

fn fact(e: &Event) -> &Fact {
    match &e.payload {
        Some(Payload::Health(h)) => h.fact.as_ref().unwrap(),
        other => panic!("not a health event: {other:?}"),
    }
}

#[test]
fn one_servers_facts() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/health/facts.jsonl");
    let (events, stats) = run(&std::fs::read(path).unwrap());
    assert_eq!(events.len(), 10);
    assert_eq!(stats.ignored, 1);
    assert_eq!(stats.errors.get("health.unknown_fact"), Some(&1));
    assert_eq!(stats.errors.get("health.unknown_field"), Some(&1));
    assert_eq!(stats.errors.get("health.bad_time"), Some(&1));
    assert!(events.iter().all(|e| e.endpoint_id.ends_with("/mscep.dll")));

    let certs: Vec<_> = events
        .iter()
        .filter_map(|e| match fact(e) {
            Fact::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let roles: Vec<i32> = certs.iter().map(|c| c.role).collect();
    assert_eq!(
        roles,
        [
            CertRole::RaEncryption,
            CertRole::RaSigning,
            CertRole::NdesPolicy,
            CertRole::RootStoreIntermediate
        ]
        .map(|r| r as i32)
    );
    assert_eq!(to_rfc3339(certs[1].not_after_us), "2026-11-15T10:13:02Z");
    assert_eq!(
        certs[2].thumbprint,
        "A75D0E914C2B88F3160A9E47D2C1B35F60E8249D"
    );
    assert_eq!(certs[2].enhanced_key_usage, ["1.3.6.1.5.5.7.3.1"]);

    let Fact::RequestLimits(limits) = fact(&events[4]) else {
        panic!()
    };
    assert_eq!((limits.max_url, limits.max_query_string), (4096, 2048));
    let Fact::Service(pool) = fact(&events[5]) else {
        panic!()
    };
    assert_eq!(
        (pool.name.as_str(), pool.state.as_str()),
        ("SCEP", "Stopped")
    );
    let Fact::ServiceAccount(account) = fact(&events[8]) else {
        panic!()
    };
    assert!(account.locked_out);
    assert_eq!(
        to_rfc3339(account.password_expires_us),
        "2026-12-03T08:15:00Z"
    );
    let Fact::IisAuthentication(auth) = fact(&events[9]) else {
        panic!()
    };
    assert!(auth.windows_enabled && !auth.anonymous_enabled);
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (_, stats) = run(&bytes);
        prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
    }

    #[test]
    fn request_limits_round_trip(url in any::<u32>(), qs in any::<u32>(), field in any::<u32>(), bytes in any::<u32>()) {
        let line = format!(r#"{{"time":"2026-11-20T06:00:00Z","fact":"request_limits","max_url":{url},"max_query_string":{qs},"max_field_length":{field},"max_request_bytes":{bytes}}}"#);
        let (events, _) = run(line.as_bytes());
        let Fact::RequestLimits(l) = fact(&events[0]) else { panic!() };
        prop_assert_eq!((l.max_url, l.max_query_string, l.max_field_length, l.max_request_bytes), (url, qs, field, bytes));
    }
}
