//! Rows 4 and 5: the SCEP application pool is not serving (503), and when w3wp.exe crashes near
//! those 503s, why.
//!
//! A 503 with no w3wp.exe crash within `crash_window_us` on that server is row 4
//! (`iis.app_pool_unavailable`: the pool is stopped). With a crash it is row 5, which supersedes
//! row 4 (its fix includes starting the pool). Row 5 is reported with **sub-codes**, one per
//! cause the evidence shows, so dashboards can count causes:
//!
//! | code | cause | evidence |
//! |---|---|---|
//! | `iis.app_pool_crashing.root_intermediate` | (a) intermediates in LocalMachine\Root | health certificate role `ROOT_STORE_INTERMEDIATE` |
//! | `iis.app_pool_crashing.crl_unreachable` | (b) CRLs unreachable | CAPI2 revocation / retrieval errors within the crash window |
//! | `iis.app_pool_crashing.windows_auth` | (c) Windows auth on CertificateRegistrationSvc | nearest IIS authentication fact of that path |
//! | `iis.app_pool_crashing.policy_cert_expired` | (d) NDES policy cert expired | policy cert fact with `not_after` before the crash, or CAPI2 time-validity errors |
//!
//! With no cause evidenced, the base code `iis.app_pool_crashing` lists the four candidates and
//! says which data would have decided it.

use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::{Capi2Kind, CertRole};

use super::catalog;
use super::device::http_answers;
use super::{classify_httperr, contains_ci, when, AttemptView, Finding, Symptom, SymptomSummary};
use crate::engine::context::HostContext;
use crate::engine::EngineConfig;
use crate::model::Evidence;

/// The 503s of one attempt or bucket, folded.
struct Unavailable {
    count: u64,
    first_us: i64,
    last_us: i64,
    hosts: Vec<String>,
    evidence: Vec<Evidence>,
    /// Only the device saw them (no server record).
    device_only: bool,
}

/// One row-5 cause with its evidence.
struct Cause {
    code: &'static str,
    text: String,
    evidence: Vec<Evidence>,
}

fn minutes(us: i64) -> i64 {
    us / 60_000_000
}

/// Row 4 / 5 for one attempt.
pub fn attempt(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    let mut u = Unavailable {
        count: 0,
        first_us: i64::MAX,
        last_us: i64::MIN,
        hosts: Vec::new(),
        evidence: Vec::new(),
        device_only: true,
    };
    let add = |u: &mut Unavailable, host: Option<&str>, first: i64, last: i64, n: u64, ev| {
        u.count += n;
        u.first_us = u.first_us.min(first);
        u.last_us = u.last_us.max(last);
        if let Some(h) = host {
            u.device_only = false;
            if !u.hosts.iter().any(|x| x == h) {
                u.hosts.push(h.to_string());
            }
        }
        if let Some(e) = ev {
            u.evidence.push(e);
        }
    };
    for (s, r) in view.requests().filter(|(_, r)| r.status == 503) {
        let ev = r.evidence(format!("{} on {}", r.label(), s.host));
        add(&mut u, Some(&s.host), r.first_us, r.last_us, r.count, ev);
    }
    for (ctx, r) in view.httperr_in_window() {
        if classify_httperr(&r.data) == Some(Symptom::Unavailable) {
            let note = format!("HTTP.sys 503 {} on {}", r.data.reason, ctx.host);
            add(
                &mut u,
                Some(&ctx.host),
                r.time_us,
                r.time_us,
                1,
                Some(r.evidence_with(note)),
            );
        }
    }
    if u.count == 0 {
        for a in http_answers(view).into_iter().filter(|a| a.status == 503) {
            let mut ev = a.event.evidence.clone();
            ev.note = "device: HTTP 503".into();
            add(&mut u, None, a.event.time_us, a.event.time_us, 1, Some(ev));
        }
    }
    if u.count == 0 {
        return;
    }
    // Crashes on the servers that answered 503, or on every server of the endpoint when only the
    // device saw the 503.
    let contexts: Vec<&HostContext> = view
        .hosts
        .iter()
        .copied()
        .filter(|c| u.device_only || u.hosts.contains(&c.host))
        .collect();
    out.extend(conclude(&u, &contexts, view.config));
}

/// Row 4 / 5 at server scope: the 503s of one server in one bucket.
pub fn server(s: &SymptomSummary, ctx: &HostContext, config: &EngineConfig) -> Vec<Finding> {
    let u = Unavailable {
        count: s.count,
        first_us: s.first_us,
        last_us: s.last_us,
        hosts: vec![s.host.clone()],
        evidence: s.evidence.clone(),
        device_only: false,
    };
    conclude(&u, &[ctx], config)
}

/// Row 4 / 5 for 503s the prober saw on an endpoint whose servers are `contexts`.
pub fn probe(s: &SymptomSummary, contexts: &[&HostContext], config: &EngineConfig) -> Vec<Finding> {
    let u = Unavailable {
        count: s.count,
        first_us: s.first_us,
        last_us: s.last_us,
        hosts: Vec::new(),
        evidence: s.evidence.clone(),
        device_only: true,
    };
    conclude(&u, contexts, config)
}

fn conclude(u: &Unavailable, contexts: &[&HostContext], config: &EngineConfig) -> Vec<Finding> {
    let cw = config.crash_window_us;
    let where_ = if u.hosts.is_empty() {
        "the SCEP URL".to_string()
    } else {
        format!("IIS / HTTP.sys on {}", u.hosts.join(", "))
    };
    let base = format!(
        "{} answered {} request(s) with 503 between {} and {}.",
        where_,
        u.count,
        when(u.first_us),
        when(u.last_us)
    );
    // w3wp.exe crashes within the crash window of the 503s.
    let mut crashes = Vec::new();
    for ctx in contexts {
        for c in ctx.w3wp_crashes(u.first_us.saturating_sub(cw), u.last_us.saturating_add(cw)) {
            // Inside a long 503 span, require a 503 near this very crash when the server's 503
            // minutes are known (server records); the device's or prober's 503s have no such map.
            let near = u.device_only
                || ctx.unavailable_minutes.is_empty()
                || ctx.unavailable_near(c.time_us, cw)
                || minutes(c.time_us) == minutes(u.first_us);
            if near {
                crashes.push((*ctx, c));
            }
        }
    }
    if crashes.is_empty() {
        let event_logs = contexts.iter().any(|c| !c.crashes.is_empty());
        let seen = format!(
            "{base} No w3wp.exe crash was found within {} minutes of them{}, so the pool looks \
             stopped rather than crashing.",
            cw / 60_000_000,
            if event_logs {
                ""
            } else {
                " (no Application log of these servers was collected)"
            }
        );
        return vec![Finding::new(catalog::APP_POOL_UNAVAILABLE, seen)
            .with_evidence(u.evidence.clone())
            .with_occurrences(u.count, u.first_us, u.last_us)];
    }
    let crash_text: Vec<String> = crashes
        .iter()
        .take(3)
        .map(|(ctx, c)| {
            format!(
                "{} at {} (module {}, exception {})",
                ctx.host,
                when(c.time_us),
                if c.data.module.is_empty() {
                    "?"
                } else {
                    &c.data.module
                },
                if c.data.exception_code.is_empty() {
                    "?"
                } else {
                    &c.data.exception_code
                }
            )
        })
        .collect();
    let crash_ev: Vec<Evidence> = crashes
        .iter()
        .take(2)
        .map(|(_, c)| c.evidence_with(format!("w3wp.exe crash, module {}", c.data.module)))
        .collect();
    let head = format!(
        "{base} w3wp.exe crashed {} time(s) near them: {}.",
        crashes.len(),
        crash_text.join("; ")
    );
    let mut causes: Vec<Cause> = Vec::new();
    for (ctx, c) in &crashes {
        for cause in causes_at(ctx, c.time_us, cw) {
            if !causes.iter().any(|x| x.code == cause.code) {
                causes.push(cause);
            }
        }
    }
    let first = u.first_us.min(
        crashes
            .iter()
            .map(|(_, c)| c.time_us)
            .min()
            .unwrap_or(u.first_us),
    );
    let last = u.last_us.max(
        crashes
            .iter()
            .map(|(_, c)| c.time_us)
            .max()
            .unwrap_or(u.last_us),
    );
    if causes.is_empty() {
        let seen = format!(
            "{head} None of the four known causes is evidenced in the collected data{}.",
            missing_data(contexts)
        );
        let mut ev = crash_ev;
        ev.extend(u.evidence.iter().cloned());
        return vec![Finding::new(catalog::APP_POOL_CRASHING, seen)
            .with_evidence(ev)
            .with_occurrences(u.count, first, last)];
    }
    causes
        .into_iter()
        .map(|cause| {
            let seen = format!("{head} Cause: {}.", cause.text);
            let mut ev = cause.evidence;
            ev.extend(crash_ev.iter().cloned());
            ev.extend(u.evidence.iter().cloned());
            Finding::new(cause.code, seen)
                .with_evidence(ev)
                .with_occurrences(u.count, first, last)
        })
        .collect()
}

fn missing_data(contexts: &[&HostContext]) -> String {
    let mut missing = Vec::new();
    if contexts.iter().all(|c| c.health.is_empty()) {
        missing.push("health facts (Root store, IIS authentication, policy certificate)");
    }
    if contexts.iter().all(|c| c.capi2.is_empty()) {
        missing.push("the CAPI2 Operational log");
    }
    if missing.is_empty() {
        String::new()
    } else {
        format!("; not collected: {}", missing.join(", "))
    }
}

fn causes_at(ctx: &HostContext, at_us: i64, cw: i64) -> Vec<Cause> {
    let mut out = Vec::new();
    // (a) Intermediates in the Root store: the collector reports each one as a fact.
    let inter: Vec<Evidence> = ctx
        .health_facts(|f| {
            matches!(&f.fact, Some(Fact::Certificate(c)) if c.role() == CertRole::RootStoreIntermediate)
        })
        .take(2)
        .map(|r| {
            let subject = match &r.data.fact {
                Some(Fact::Certificate(c)) => c.subject.clone(),
                _ => String::new(),
            };
            r.evidence_with(format!("intermediate in LocalMachine\\Root: {subject}"))
        })
        .collect();
    if !inter.is_empty() {
        out.push(Cause {
            code: catalog::CRASH_ROOT_INTERMEDIATE,
            text: format!(
                "{} has non-self-signed certificates in its Trusted Root store ({})",
                ctx.host,
                inter
                    .iter()
                    .map(|e| e
                        .note
                        .trim_start_matches("intermediate in LocalMachine\\Root: "))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            evidence: inter,
        });
    }
    // (b) Revocation / retrieval failures around the crash.
    let crl: Vec<Evidence> = ctx
        .capi2_between(at_us.saturating_sub(cw), at_us.saturating_add(cw))
        .filter(|r| matches!(r.data.kind(), Capi2Kind::Revocation | Capi2Kind::Retrieval))
        .take(2)
        .map(|r| {
            let url = if r.data.url.is_empty() {
                "(no URL)"
            } else {
                &r.data.url
            };
            r.evidence_with(format!("CAPI2 {} {}", r.data.task, url))
        })
        .collect();
    if !crl.is_empty() {
        out.push(Cause {
            code: catalog::CRASH_CRL_UNREACHABLE,
            text: format!(
                "the CAPI2 log of {} shows revocation / CRL retrieval failures around the crash ({})",
                ctx.host,
                crl.iter().map(|e| e.note.as_str()).collect::<Vec<_>>().join("; ")
            ),
            evidence: crl,
        });
    }
    // (c) Windows authentication on CertificateRegistrationSvc at the time.
    if let Some(r) = ctx.nearest_health(at_us, |f| {
        matches!(&f.fact, Some(Fact::IisAuthentication(a)) if contains_ci(&a.path, "CertificateRegistrationSvc"))
    }) {
        if let Some(Fact::IisAuthentication(a)) = &r.data.fact {
            if a.windows_enabled {
                let text = format!(
                    "IIS on {} has Windows authentication enabled on {}{}",
                    ctx.host,
                    a.path,
                    if a.anonymous_enabled { "" } else { " and anonymous authentication disabled" }
                );
                out.push(Cause {
                    code: catalog::CRASH_WINDOWS_AUTH,
                    evidence: vec![r.evidence_with(text.clone())],
                    text,
                });
            }
        }
    }
    // (d) NDES policy certificate expired at the time of the crash.
    let mut policy_ev = Vec::new();
    let mut policy_text = None;
    if let Some(r) = ctx.nearest_health(
        at_us,
        |f| matches!(&f.fact, Some(Fact::Certificate(c)) if c.role() == CertRole::NdesPolicy),
    ) {
        if let Some(Fact::Certificate(c)) = &r.data.fact {
            if c.not_after_us != 0 && c.not_after_us < at_us {
                let text = format!(
                    "the NDES policy module certificate {} (thumbprint {}) expired on {}",
                    c.subject,
                    c.thumbprint,
                    when(c.not_after_us)
                );
                policy_ev.push(r.evidence_with(text.clone()));
                policy_text = Some(text);
            }
        }
    }
    let validity: Vec<Evidence> = ctx
        .capi2_between(at_us.saturating_sub(cw), at_us.saturating_add(cw))
        .filter(|r| r.data.kind() == Capi2Kind::TimeValidity)
        .take(2)
        .map(|r| r.evidence_with(format!("CAPI2 time validity: {}", r.data.subject)))
        .collect();
    if policy_text.is_none() && !validity.is_empty() {
        policy_text = Some(format!(
            "the CAPI2 log of {} shows a certificate outside its validity period around the crash \
             (check it is the one named by NDESCertThumbprint)",
            ctx.host
        ));
    }
    policy_ev.extend(validity);
    if let Some(text) = policy_text {
        out.push(Cause {
            code: catalog::CRASH_POLICY_CERT_EXPIRED,
            text,
            evidence: policy_ev,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;
    use scepwatch_proto::v1::ScepOperation::*;

    fn unavailable_case() -> Case {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(GetCaCaps, 503, 0, 0, 4, at(10, 0, 0))],
        )]);
        case.contexts[0].mark_unavailable(at(10, 0, 0));
        case
    }

    #[test]
    fn quiet_503_without_crash_is_row_4_not_5() {
        let got = unavailable_case().run();
        let f = only(&got, catalog::APP_POOL_UNAVAILABLE);
        assert!(f.seen.contains("looks stopped"), "{}", f.seen);
        assert!(got
            .iter()
            .all(|f| !f.code.starts_with(catalog::APP_POOL_CRASHING)));
    }

    #[test]
    fn crash_far_from_any_503_is_not_row_5() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(13, 0, 0));
        let got = case.run();
        assert!(got
            .iter()
            .all(|f| !f.code.starts_with(catalog::APP_POOL_CRASHING)));
        only(&got, catalog::APP_POOL_UNAVAILABLE);
    }

    #[test]
    fn crash_near_503_without_cause_lists_candidates() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(9, 58, 0));
        let got = case.run();
        let f = only(&got, catalog::APP_POOL_CRASHING);
        assert!(f.seen.contains("ntdll.dll"), "{}", f.seen);
        assert!(f.seen.contains("not collected"), "{}", f.seen);
        assert!(none_of(&got, catalog::APP_POOL_UNAVAILABLE));
    }

    #[test]
    fn crash_with_root_intermediate_names_cause_a() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(9, 58, 0));
        case.contexts[0].add_health(
            (at(8, 0, 0), [3; 16]),
            health_record(
                at(8, 0, 0),
                cert(
                    CertRole::RootStoreIntermediate,
                    "CN=Contoso Issuing CA",
                    at(23, 0, 0),
                    &[],
                ),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::CRASH_ROOT_INTERMEDIATE);
        assert!(f.seen.contains("Contoso Issuing CA"), "{}", f.seen);
        assert!(none_of(&got, catalog::APP_POOL_CRASHING));
    }

    #[test]
    fn crash_with_crl_failures_names_cause_b() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(9, 58, 0));
        add_capi2(
            &mut case.contexts[0],
            at(9, 57, 0),
            Capi2Kind::Retrieval,
            "http://crl.contoso.com/ca.crl",
        );
        let got = case.run();
        let f = only(&got, catalog::CRASH_CRL_UNREACHABLE);
        assert!(
            f.seen.contains("http://crl.contoso.com/ca.crl"),
            "{}",
            f.seen
        );
    }

    #[test]
    fn crash_with_windows_auth_names_cause_c() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(9, 58, 0));
        case.contexts[0].add_health(
            (at(9, 0, 0), [4; 16]),
            health_record(
                at(9, 0, 0),
                iis_auth("Default Web Site/CertificateRegistrationSvc", true, true),
            ),
        );
        only(&case.run(), catalog::CRASH_WINDOWS_AUTH);
    }

    #[test]
    fn windows_auth_fixed_before_the_crash_is_not_cause_c() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(9, 58, 0));
        case.contexts[0].add_health(
            (at(1, 0, 0), [4; 16]),
            health_record(
                at(1, 0, 0),
                iis_auth("Default Web Site/CertificateRegistrationSvc", true, true),
            ),
        );
        case.contexts[0].add_health(
            (at(9, 50, 0), [5; 16]),
            health_record(
                at(9, 50, 0),
                iis_auth("Default Web Site/CertificateRegistrationSvc", true, false),
            ),
        );
        assert!(none_of(&case.run(), catalog::CRASH_WINDOWS_AUTH));
    }

    #[test]
    fn crash_with_expired_policy_cert_names_cause_d() {
        let mut case = unavailable_case();
        add_crash(&mut case.contexts[0], at(9, 58, 0));
        case.contexts[0].add_health(
            (at(9, 0, 0), [6; 16]),
            health_record(
                at(9, 0, 0),
                cert(
                    CertRole::NdesPolicy,
                    "CN=ndes01.contoso.com",
                    at(2, 0, 0),
                    &["1.3.6.1.5.5.7.3.2"],
                ),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::CRASH_POLICY_CERT_EXPIRED);
        assert!(f.seen.contains("expired on"), "{}", f.seen);
    }

    #[test]
    fn httperr_503_counts_for_a_joined_attempt() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(GetCaCaps, 200, 0, 0, 1, at(10, 0, 0))],
        )]);
        add_httperr(
            &mut case.contexts[0],
            at(10, 0, 30),
            "10.0.0.5",
            503,
            "AppOffline",
        );
        let got = case.run();
        let f = only(&got, catalog::APP_POOL_UNAVAILABLE);
        assert!(f.seen.contains("HTTP.sys"), "{}", f.seen);
    }
}
