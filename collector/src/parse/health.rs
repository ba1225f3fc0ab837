//! Server health facts, as JSON lines: what the Windows-side health collector found on an NDES
//! server (certificates and their expiry, intermediates in the Root store, request-filtering
//! limits, app pool and service state, the NDES service account, IIS authentication).
//!
//! One object per line with `time` (RFC 3339, with a zone) and `fact` naming the kind; the other
//! fields follow the `scepwatch.v1` fact messages. The format is a contract with the health
//! collector and is documented in `collector/testdata/health/README.md`. Fields are checked
//! strictly (an unknown field is an error, so a renamed field is caught rather than read as
//! absent); an unknown `fact` is counted as `health.unknown_fact` and skipped, so older
//! collectors survive newer fact kinds.

use std::borrow::Cow;

use scepwatch_proto::time::parse_rfc3339;
use scepwatch_proto::v1::{
    event::Payload, health_fact::Fact, service_state_fact::Kind, CertRole, CertificateFact,
    HealthFact, IisAuthenticationFact, RequestLimitsFact, ServiceAccountFact, ServiceStateFact,
};
use serde::Deserialize;

use super::{Emit, LineParser, ParseStats, SourceContext};

/// The `fact` names this parser knows.
pub const FACT_KINDS: [&str; 5] = [
    "certificate",
    "request_limits",
    "service",
    "service_account",
    "iis_authentication",
];

/// Parser of health fact lines. Stateless.
#[derive(Debug, Default)]
pub struct HealthParser {}

#[derive(Debug, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
enum FactLine {
    Certificate(CertificateLine),
    RequestLimits(RequestLimitsLine),
    Service(ServiceLine),
    ServiceAccount(ServiceAccountLine),
    IisAuthentication(IisAuthenticationLine),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RoleName {
    RaEncryption,
    RaSigning,
    NdesPolicy,
    RootStoreIntermediate,
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateLine {
    time: String,
    role: RoleName,
    #[serde(default)]
    store: String,
    thumbprint: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    not_before: Option<String>,
    not_after: String,
    #[serde(default)]
    eku: Vec<String>,
    #[serde(default)]
    dns_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestLimitsLine {
    time: String,
    max_url: u32,
    max_query_string: u32,
    #[serde(default)]
    max_field_length: u32,
    #[serde(default)]
    max_request_bytes: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ServiceKind {
    AppPool,
    WindowsService,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceLine {
    time: String,
    kind: ServiceKind,
    name: String,
    #[serde(default)]
    display_name: String,
    state: String,
    #[serde(default)]
    start_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceAccountLine {
    time: String,
    account: String,
    #[serde(default)]
    locked_out: bool,
    #[serde(default)]
    password_expired: bool,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    password_expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IisAuthenticationLine {
    time: String,
    path: String,
    anonymous_enabled: bool,
    windows_enabled: bool,
}

/// Only the tag, read when a line fails, to tell an unknown kind from a malformed known one.
#[derive(Debug, Deserialize)]
struct FactTag<'a> {
    #[serde(default, borrow)]
    fact: Option<Cow<'a, str>>,
}

/// A line that could not become a fact, with its counted reason.
type Rejected = &'static str;

/// The event time and fact of one line.
fn read_fact(line: &[u8]) -> Result<(i64, Fact), Rejected> {
    let parsed: FactLine = serde_json::from_slice(line).map_err(|e| reject_reason(line, &e))?;
    let time = |t: &str| parse_rfc3339(t).ok_or("health.bad_time");
    Ok(match parsed {
        FactLine::Certificate(c) => {
            let not_before_us = match c.not_before.as_deref() {
                Some(t) => time(t)?,
                None => 0,
            };
            let fact = CertificateFact {
                role: match c.role {
                    RoleName::RaEncryption => CertRole::RaEncryption,
                    RoleName::RaSigning => CertRole::RaSigning,
                    RoleName::NdesPolicy => CertRole::NdesPolicy,
                    RoleName::RootStoreIntermediate => CertRole::RootStoreIntermediate,
                    RoleName::Other => CertRole::Other,
                } as i32,
                store: c.store,
                thumbprint: normalize_thumbprint(&c.thumbprint),
                subject: c.subject,
                issuer: c.issuer,
                not_before_us,
                not_after_us: time(&c.not_after)?,
                enhanced_key_usage: c.eku,
                dns_names: c.dns_names,
            };
            (time(&c.time)?, Fact::Certificate(fact))
        }
        FactLine::RequestLimits(r) => (
            time(&r.time)?,
            Fact::RequestLimits(RequestLimitsFact {
                max_url: r.max_url,
                max_query_string: r.max_query_string,
                max_field_length: r.max_field_length,
                max_request_bytes: r.max_request_bytes,
            }),
        ),
        FactLine::Service(s) => (
            time(&s.time)?,
            Fact::Service(ServiceStateFact {
                kind: match s.kind {
                    ServiceKind::AppPool => Kind::AppPool,
                    ServiceKind::WindowsService => Kind::WindowsService,
                } as i32,
                name: s.name,
                display_name: s.display_name,
                state: s.state,
                start_type: s.start_type,
            }),
        ),
        FactLine::ServiceAccount(a) => (
            time(&a.time)?,
            Fact::ServiceAccount(ServiceAccountFact {
                account: a.account,
                locked_out: a.locked_out,
                password_expired: a.password_expired,
                password_expires_us: match a.password_expires.as_deref() {
                    Some(t) => time(t)?,
                    None => 0,
                },
                disabled: a.disabled,
            }),
        ),
        FactLine::IisAuthentication(i) => (
            time(&i.time)?,
            Fact::IisAuthentication(IisAuthenticationFact {
                path: i.path,
                anonymous_enabled: i.anonymous_enabled,
                windows_enabled: i.windows_enabled,
            }),
        ),
    })
}

/// Why serde rejected a line, as a stable counted reason.
fn reject_reason(line: &[u8], err: &serde_json::Error) -> Rejected {
    if !err.is_data() {
        return "health.bad_json";
    }
    if line.trim_ascii_start().first() != Some(&b'{') {
        return "health.not_object";
    }
    match serde_json::from_slice::<FactTag<'_>>(line) {
        Ok(FactTag { fact: None }) => "health.missing_fact",
        Ok(FactTag { fact: Some(kind) }) if !FACT_KINDS.contains(&kind.as_ref()) => {
            "health.unknown_fact"
        }
        // serde_json words this error as "unknown field `x`, expected one of ...".
        _ if err.to_string().starts_with("unknown field") => "health.unknown_field",
        _ => "health.bad_field",
    }
}

/// Upper-case hex without blanks: certlm.msc shows thumbprints spaced, the registry and
/// PowerShell do not, and they must compare equal.
fn normalize_thumbprint(t: &str) -> String {
    t.chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl LineParser for HealthParser {
    fn line(
        &mut self,
        ctx: &SourceContext,
        line: &[u8],
        offset: u64,
        stats: &mut ParseStats,
        emit: &mut Emit<'_>,
    ) {
        stats.records += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            stats.ignored += 1;
            return;
        }
        let (event_time_us, fact) = match read_fact(line) {
            Ok(f) => f,
            Err(reason) => return stats.error(reason),
        };
        let mut event = ctx.envelope(offset, event_time_us, line);
        event.payload = Some(Payload::Health(HealthFact { fact: Some(fact) }));
        stats.saw_event(event_time_us);
        emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fact(line: &str) -> Result<Fact, Rejected> {
        read_fact(line.as_bytes()).map(|(_, f)| f)
    }

    #[test]
    fn reads_every_kind() {
        let cert = fact(r#"{"time":"2026-11-20T09:00:00Z","fact":"certificate","role":"ndes_policy","store":"LocalMachine\\My","thumbprint":"ab 12 cd","subject":"CN=ndes01.contoso.com","issuer":"CN=Contoso Issuing CA","not_before":"2025-11-20T00:00:00Z","not_after":"2026-12-01T00:00:00Z","eku":["1.3.6.1.5.5.7.3.2"],"dns_names":["ndes01.contoso.com"]}"#).unwrap();
        let Fact::Certificate(c) = cert else { panic!() };
        assert_eq!(c.role, CertRole::NdesPolicy as i32);
        assert_eq!(c.thumbprint, "AB12CD");
        assert_eq!(c.store, "LocalMachine\\My");
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(c.not_after_us),
            "2026-12-01T00:00:00Z"
        );
        assert!(matches!(
            fact(
                r#"{"time":"2026-11-20T09:00:00Z","fact":"request_limits","max_url":4096,"max_query_string":2048}"#
            ),
            Ok(Fact::RequestLimits(RequestLimitsFact {
                max_url: 4096,
                max_query_string: 2048,
                max_field_length: 0,
                ..
            }))
        ));
        let Ok(Fact::Service(s)) = fact(
            r#"{"time":"2026-11-20T09:00:00Z","fact":"service","kind":"app_pool","name":"SCEP","state":"Stopped"}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            (s.kind, s.state.as_str()),
            (Kind::AppPool as i32, "Stopped")
        );
        let Ok(Fact::ServiceAccount(a)) = fact(
            r#"{"time":"2026-11-20T09:00:00Z","fact":"service_account","account":"CONTOSO\\svc-ndes","locked_out":true,"password_expired":false,"disabled":false,"password_expires":null}"#,
        ) else {
            panic!()
        };
        assert!(a.locked_out);
        assert_eq!(a.password_expires_us, 0);
        assert!(matches!(
            fact(
                r#"{"fact":"iis_authentication","time":"2026-11-20T09:00:00+01:00","path":"Default Web Site/CertificateRegistrationSvc","anonymous_enabled":false,"windows_enabled":true}"#
            ),
            Ok(Fact::IisAuthentication(IisAuthenticationFact {
                windows_enabled: true,
                ..
            }))
        ));
    }

    #[test]
    fn rejects_with_stable_reasons() {
        let t = r#""time":"2026-11-20T09:00:00Z""#;
        assert_eq!(
            fact(&format!(r#"{{{t},"fact":"disk_space","free":1}}"#)).err(),
            Some("health.unknown_fact")
        );
        assert_eq!(
            fact(&format!(r#"{{{t},"max_url":1}}"#)).err(),
            Some("health.missing_fact")
        );
        assert_eq!(
            fact(&format!(
                r#"{{{t},"fact":"request_limits","max_url":1,"max_query_string":2,"maxUrl":3}}"#
            ))
            .err(),
            Some("health.unknown_field")
        );
        assert_eq!(
            fact(&format!(
                r#"{{{t},"fact":"request_limits","max_url":-1,"max_query_string":2}}"#
            ))
            .err(),
            Some("health.bad_field")
        );
        assert_eq!(
            fact(&format!(
                r#"{{{t},"fact":"service","kind":"driver","name":"x","state":"Running"}}"#
            ))
            .err(),
            Some("health.bad_field")
        );
        assert_eq!(
            fact(
                r#"{"time":"yesterday","fact":"request_limits","max_url":1,"max_query_string":2}"#
            )
            .err(),
            Some("health.bad_time")
        );
        assert_eq!(fact("{\"time\":").err(), Some("health.bad_json"));
        assert_eq!(fact("[]").err(), Some("health.not_object"));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = read_fact(&line);
        }

        #[test]
        fn mangled_facts_never_panic(key in "[a-z_]{0,12}", value in "(null|true|-?[0-9]{1,12}|\"[^\"]{0,10}\"|\\[\\])") {
            let line = format!(r#"{{"time":"2026-11-20T09:00:00Z","fact":"certificate","role":"other","thumbprint":"x","not_after":"2026-11-20T09:00:00Z","{key}":{value}}}"#);
            let _ = read_fact(line.as_bytes());
        }
    }
}
