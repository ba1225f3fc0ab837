//! Rows 1, 3, 11 and 17: what the status codes of the IIS log say about mscep.dll.
//!
//! - 200 on GetCACaps / GetCACert / PKIOperation: the device reached NDES (row 1); a 200 on
//!   PKIOperation means the request was handed on to the connector's policy module (row 17).
//! - 500 with Win32 status 1346: IIS_IUSRS lacks the impersonation right (row 3).
//! - any other 500: NDES failed internally (row 11); the service account and the MSCEP-RA
//!   certificates are checked in the health facts and named when they explain it.

use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::{AndroidStep, CertRole, ScepOperation};

use super::catalog;
use super::device::http_answers;
use super::{
    counted, when, AttemptView, DevicePayload, Finding, RequestClass, ServerPart, SymptomSummary,
};
use crate::engine::context::HostContext;
use crate::model::Evidence;

/// Win32 status IIS logs when the worker cannot impersonate the caller.
pub const WIN32_BAD_IMPERSONATION_LEVEL: u32 = 1346;

fn hosts_of<'a>(items: impl Iterator<Item = &'a ServerPart>) -> String {
    let mut hosts: Vec<&str> = items.map(|s| s.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    hosts.join(", ")
}

fn fold<'a>(
    items: &[(&'a ServerPart, &'a RequestClass)],
) -> (u64, i64, i64, Vec<String>, Vec<Evidence>) {
    let count = items.iter().map(|(_, r)| r.count).sum();
    let first = items.iter().map(|(_, r)| r.first_us).min().unwrap_or(0);
    let last = items.iter().map(|(_, r)| r.last_us).max().unwrap_or(0);
    let labels = items
        .iter()
        .map(|(_, r)| counted(r.count, &r.label()))
        .collect();
    let evidence = items
        .iter()
        .filter_map(|(s, r)| r.evidence(format!("{} on {}", r.label(), s.host)))
        .collect();
    (count, first, last, labels, evidence)
}

/// Row 1: IIS answered the attempt's SCEP requests with 200. Only for attempts with a device
/// side (the question "did this device get through?"); successful server-only traffic is folded
/// per server and hour instead ([`reached_server`]).
pub fn reached(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    if view.device_events.is_empty() {
        return;
    }
    let ok: Vec<_> = view.requests().filter(|(_, r)| r.status == 200).collect();
    if ok.is_empty() {
        return;
    }
    let (count, first, last, labels, evidence) = fold(&ok);
    let seen = format!(
        "IIS on {} logged {} between {} and {}.",
        hosts_of(ok.iter().map(|(s, _)| *s)),
        labels.join(", "),
        when(first),
        when(last)
    );
    out.push(
        Finding::new(catalog::NDES_REACHED, seen)
            .with_evidence(evidence)
            .with_occurrences(count, first, last),
    );
}

/// Row 17: PKIOperation answered 200 by NDES (server log), or the device logged a 200 for it.
/// Like row 1, only for attempts with a device side ([`submitted_server`] folds the rest).
pub fn submitted(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    if view.device_events.is_empty() {
        return;
    }
    let ok: Vec<_> = view
        .requests()
        .filter(|(_, r)| r.status == 200 && r.operation == ScepOperation::PkiOperation)
        .collect();
    if !ok.is_empty() {
        let (count, first, last, _, evidence) = fold(&ok);
        let seen = format!(
            "NDES on {} answered the PKIOperation with 200 at {}.",
            hosts_of(ok.iter().map(|(s, _)| *s)),
            when(first)
        );
        out.push(
            Finding::new(catalog::REQUEST_SUBMITTED, seen)
                .with_evidence(evidence)
                .with_occurrences(count, first, last),
        );
        return;
    }
    let device_ok = http_answers(view).into_iter().find(|a| {
        a.status == 200
            && matches!(&a.event.payload, DevicePayload::Android(x)
                if x.step() == AndroidStep::Received && x.operation() == ScepOperation::PkiOperation)
    });
    if let Some(a) = device_ok {
        let mut ev = a.event.evidence.clone();
        ev.note = "device: PKIOperation answered 200".into();
        let seen = format!(
            "The device logged a 200 answer to its PKIOperation at {} (no server log of it was \
             joined).",
            when(a.event.time_us)
        );
        out.push(Finding::new(catalog::REQUEST_SUBMITTED, seen).with_evidence(vec![ev]));
    }
}

/// Row 1 at server scope: the requests one server answered with 200 in a bucket, with counts
/// per operation (`by_operation` indexed by the `ScepOperation` value).
pub fn reached_server(s: &SymptomSummary, by_operation: &[u64]) -> Finding {
    let parts: Vec<String> = by_operation
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| {
            let op = ScepOperation::try_from(i as i32).unwrap_or(ScepOperation::Unspecified);
            format!("{} {n}", super::operation_name(op))
        })
        .collect();
    let seen = format!(
        "IIS on {} answered {} mscep.dll request(s) with 200 between {} and {} ({}).",
        s.host,
        s.count,
        when(s.first_us),
        when(s.last_us),
        parts.join(", ")
    );
    Finding::new(catalog::NDES_REACHED, seen)
        .with_evidence(s.evidence.clone())
        .with_occurrences(s.count, s.first_us, s.last_us)
}

/// Row 17 at server scope: the PKIOperations one server accepted in a bucket.
pub fn submitted_server(s: &SymptomSummary) -> Finding {
    let seen = format!(
        "NDES on {} answered {} PKIOperation request(s) with 200 between {} and {}.",
        s.host,
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    Finding::new(catalog::REQUEST_SUBMITTED, seen)
        .with_evidence(s.evidence.clone())
        .with_occurrences(s.count, s.first_us, s.last_us)
}

/// Row 3: 500 with Win32 status 1346 on mscep.dll.
pub fn impersonation(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    let bad: Vec<_> = view
        .requests()
        .filter(|(_, r)| r.status == 500 && r.win32_status == WIN32_BAD_IMPERSONATION_LEVEL)
        .collect();
    if bad.is_empty() {
        return;
    }
    let (count, first, last, labels, evidence) = fold(&bad);
    let seen = format!(
        "IIS on {} answered {} between {} and {}.",
        hosts_of(bad.iter().map(|(s, _)| *s)),
        labels.join(", "),
        when(first),
        when(last)
    );
    out.push(
        Finding::new(catalog::IMPERSONATION, seen)
            .with_evidence(evidence)
            .with_occurrences(count, first, last),
    );
}

/// Row 3 at server scope: every 500/1346 of one server in a time bucket.
pub fn impersonation_server(s: &SymptomSummary) -> Finding {
    let seen = format!(
        "IIS on {} answered {} mscep.dll request(s) with 500 and Win32 status 1346 between {} and \
         {}.",
        s.host,
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    Finding::new(catalog::IMPERSONATION, seen)
        .with_evidence(s.evidence.clone())
        .with_occurrences(s.count, s.first_us, s.last_us)
}

/// Known causes of a 500 on `ctx`'s server at `at_us`, each with its evidence: the NDES service
/// account (locked out, disabled, password expired) and expired MSCEP-RA certificates.
pub fn internal_error_causes(ctx: &HostContext, at_us: i64) -> Vec<(String, Evidence)> {
    let mut out = Vec::new();
    if let Some(r) = ctx.nearest_health(at_us, |f| matches!(f.fact, Some(Fact::ServiceAccount(_))))
    {
        if let Some(Fact::ServiceAccount(a)) = &r.data.fact {
            let mut why = Vec::new();
            if a.locked_out {
                why.push("locked out".to_string());
            }
            if a.disabled {
                why.push("disabled".to_string());
            }
            if a.password_expired || (a.password_expires_us != 0 && a.password_expires_us <= at_us)
            {
                why.push("its password expired".to_string());
            }
            if !why.is_empty() {
                let text = format!(
                    "the NDES service account {} is {} (health fact of {})",
                    a.account,
                    why.join(", "),
                    when(r.time_us)
                );
                out.push((text.clone(), r.evidence_with(text)));
            }
        }
    }
    let mut thumbprints: Vec<&str> = ctx
        .health_facts(is_ra_cert)
        .filter_map(|r| match &r.data.fact {
            Some(Fact::Certificate(c)) => Some(c.thumbprint.as_str()),
            _ => None,
        })
        .collect();
    thumbprints.sort_unstable();
    thumbprints.dedup();
    for tp in thumbprints {
        let nearest = ctx.nearest_health(at_us, |f| {
            is_ra_cert(f) && matches!(&f.fact, Some(Fact::Certificate(c)) if c.thumbprint == tp)
        });
        if let Some(r) = nearest {
            if let Some(Fact::Certificate(c)) = &r.data.fact {
                if c.not_after_us != 0 && c.not_after_us < at_us {
                    let text = format!(
                        "the MSCEP-RA certificate {} ({}) expired on {}",
                        if c.subject.is_empty() {
                            &c.thumbprint
                        } else {
                            &c.subject
                        },
                        ra_role_name(c.role()),
                        when(c.not_after_us)
                    );
                    out.push((text.clone(), r.evidence_with(text)));
                }
            }
        }
    }
    out
}

fn is_ra_cert(f: &scepwatch_proto::v1::HealthFact) -> bool {
    matches!(&f.fact, Some(Fact::Certificate(c))
        if matches!(c.role(), CertRole::RaEncryption | CertRole::RaSigning))
}

/// "CEP Encryption" / "Exchange Enrollment Agent (Offline request)".
pub fn ra_role_name(role: CertRole) -> &'static str {
    match role {
        CertRole::RaEncryption => "CEP Encryption",
        CertRole::RaSigning => "Exchange Enrollment Agent (Offline request)",
        CertRole::NdesPolicy => "NDES policy module",
        CertRole::RootStoreIntermediate => "Root store intermediate",
        _ => "certificate",
    }
}

fn has_health(ctx: &HostContext) -> bool {
    ctx.health_facts(|f| matches!(f.fact, Some(Fact::ServiceAccount(_))) || is_ra_cert(f))
        .next()
        .is_some()
}

fn cause_sentence(causes: &[(String, Evidence)], checked: bool) -> String {
    if !causes.is_empty() {
        let list: Vec<&str> = causes.iter().map(|(t, _)| t.as_str()).collect();
        format!(" Cause found: {}.", list.join("; "))
    } else if checked {
        " The collected health facts show the service account usable and the MSCEP-RA \
         certificates valid at that time, so look at the Application log for mscep errors."
            .to_string()
    } else {
        " No health facts of the service account or the MSCEP-RA certificates were collected, so \
         check both."
            .to_string()
    }
}

/// Row 11: 500 that is not row 3 (server log), or a 500 the device got without a server record.
pub fn internal_error(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    let bad: Vec<_> = view
        .requests()
        .filter(|(_, r)| r.status == 500 && r.win32_status != WIN32_BAD_IMPERSONATION_LEVEL)
        .collect();
    if !bad.is_empty() {
        let (count, first, last, labels, mut evidence) = fold(&bad);
        let mut causes = Vec::new();
        let mut checked = false;
        for (s, _) in &bad {
            if let Some(ctx) = view.context(&s.host) {
                checked |= has_health(ctx);
                for c in internal_error_causes(ctx, first) {
                    if !causes.iter().any(|(t, _): &(String, Evidence)| *t == c.0) {
                        causes.push(c);
                    }
                }
            }
        }
        let seen = format!(
            "IIS on {} answered {} between {} and {}.{}",
            hosts_of(bad.iter().map(|(s, _)| *s)),
            labels.join(", "),
            when(first),
            when(last),
            cause_sentence(&causes, checked)
        );
        let mut ev: Vec<Evidence> = causes.into_iter().map(|(_, e)| e).collect();
        ev.append(&mut evidence);
        out.push(
            Finding::new(catalog::INTERNAL_ERROR, seen)
                .with_evidence(ev)
                .with_occurrences(count, first, last),
        );
        return;
    }
    // A 500 the device saw while no joined server session explains it (a 500/1346 would have
    // been joined and reported as row 3).
    if view.requests().any(|(_, r)| r.status == 500) {
        return;
    }
    if let Some(a) = http_answers(view).into_iter().find(|a| a.status == 500) {
        let mut ev = a.event.evidence.clone();
        ev.note = "device: HTTP 500".into();
        let seen = format!(
            "The device got HTTP 500 at {} and no IIS record of it was joined; the IIS log's \
             Win32 status would tell row 3 (1346) from this one.",
            when(a.event.time_us)
        );
        out.push(Finding::new(catalog::INTERNAL_ERROR, seen).with_evidence(vec![ev]));
    }
}

/// Row 11 at server scope.
pub fn internal_error_server(s: &SymptomSummary, ctx: &HostContext) -> Finding {
    let causes = internal_error_causes(ctx, s.first_us);
    let seen = format!(
        "IIS on {} answered {} mscep.dll request(s) with 500 (Win32 status other than 1346) \
         between {} and {}.{}",
        s.host,
        s.count,
        when(s.first_us),
        when(s.last_us),
        cause_sentence(&causes, has_health(ctx))
    );
    let mut ev: Vec<Evidence> = causes.into_iter().map(|(_, e)| e).collect();
    ev.extend(s.evidence.iter().cloned());
    Finding::new(catalog::INTERNAL_ERROR, seen)
        .with_evidence(ev)
        .with_occurrences(s.count, s.first_us, s.last_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;
    use scepwatch_proto::v1::ScepOperation::*;

    #[test]
    fn status_200_means_reached_and_pki_200_means_submitted() {
        let mut case = Case::android(vec![android_sending(at(5, 16, 9), GetCaCaps)]);
        case.join = crate::model::JoinMethod::Fallback;
        case.servers = vec![server_part(
            "ndes01",
            "android",
            vec![
                class(GetCaCaps, 200, 0, 0, 2, at(5, 16, 14)),
                class(GetCaCert, 200, 0, 0, 1, at(5, 16, 15)),
                class(PkiOperation, 200, 0, 0, 1, at(5, 16, 22)),
            ],
        )];
        let got = case.run();
        let f = only(&got, catalog::NDES_REACHED);
        assert!(f.seen.contains("2 × GetCACaps → 200"), "{}", f.seen);
        assert_eq!(f.occurrences, 4);
        let s = only(&got, catalog::REQUEST_SUBMITTED);
        assert!(s.seen.contains("PKIOperation with 200"));
    }

    #[test]
    fn successful_server_only_traffic_is_left_to_the_server_scope() {
        let case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(PkiOperation, 200, 0, 0, 1, at(5, 16, 22))],
        )]);
        assert!(case.run().is_empty());
        let s = summary("ndes01", 7, at(5, 0, 0));
        let f = reached_server(&s, &[0, 4, 2, 1, 0, 0]);
        assert!(
            f.seen.contains("GetCACaps 4, GetCACert 2, PKIOperation 1"),
            "{}",
            f.seen
        );
        assert_eq!(submitted_server(&s).code, catalog::REQUEST_SUBMITTED);
    }

    #[test]
    fn no_pki_operation_no_submission() {
        let case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(GetCaCaps, 200, 0, 0, 1, at(5, 16, 14))],
        )]);
        assert!(none_of(&case.run(), catalog::REQUEST_SUBMITTED));
    }

    #[test]
    fn status_500_with_1346_is_row_3_not_11() {
        let case = Case::server_only(vec![server_part(
            "ndes01",
            "ios",
            vec![class(GetCaCert, 500, 0, 1346, 3, at(20, 22, 16))],
        )]);
        let got = case.run();
        let f = only(&got, catalog::IMPERSONATION);
        assert_eq!(f.occurrences, 3);
        assert!(f.seen.contains("(win32 1346)"));
        assert!(none_of(&got, catalog::INTERNAL_ERROR));
        assert!(none_of(&got, catalog::NDES_REACHED));
    }

    #[test]
    fn status_500_other_is_row_11_and_names_a_locked_account() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(PkiOperation, 500, 0, 0, 1, at(10, 0, 0))],
        )]);
        case.contexts[0].add_health(
            (at(9, 0, 0), [7; 16]),
            health_record(
                at(9, 0, 0),
                service_account("CONTOSO\\svc-ndes", true, false, 0),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::INTERNAL_ERROR);
        assert!(f.seen.contains("svc-ndes is locked out"), "{}", f.seen);
        assert!(none_of(&got, catalog::IMPERSONATION));
    }

    #[test]
    fn status_500_names_an_expired_ra_certificate() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(PkiOperation, 500, 0, 0, 1, at(10, 0, 0))],
        )]);
        case.contexts[0].add_health(
            (at(9, 0, 0), [8; 16]),
            health_record(
                at(9, 0, 0),
                cert(CertRole::RaSigning, "CN=NDES01-MSCEP-RA", at(8, 0, 0), &[]),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::INTERNAL_ERROR);
        assert!(
            f.seen
                .contains("Exchange Enrollment Agent (Offline request)"),
            "{}",
            f.seen
        );
        assert!(f.seen.contains("expired on"));
    }

    #[test]
    fn valid_ra_certificate_is_not_named() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(PkiOperation, 500, 0, 0, 1, at(10, 0, 0))],
        )]);
        case.contexts[0].add_health(
            (at(9, 0, 0), [8; 16]),
            health_record(
                at(9, 0, 0),
                cert(CertRole::RaSigning, "CN=RA", at(23, 0, 0), &[]),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::INTERNAL_ERROR);
        assert!(!f.seen.contains("Cause found"), "{}", f.seen);
        assert!(f.seen.contains("show the service account usable"));
    }
}
