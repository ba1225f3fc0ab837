//! Rows 9, 10 and 12: the Intune Certificate Connector on the NDES server.
//!
//! - Row 9: the prober sees the NDES general page instead of 403; the connector's SetupMsi.log
//!   status on the endpoint's servers, when collected, says whether it installed.
//! - Row 10: SetupMsi.log ends with a status other than 0 (or without one).
//! - Row 12: CertificateRegistrationSvc answers 403 to the connector's NDES plugin; a policy
//!   certificate without the Client Authentication EKU in the health facts names the cause (and
//!   is reported on its own, before any 403, as the same code).

use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::{CertRole, CertificateFact, ConnectorInstall};

use super::catalog;
use super::{when, AttemptView, Finding, SymptomSummary};
use crate::engine::context::HostContext;
use crate::model::Evidence;

/// OID of the Client Authentication extended key usage.
pub const CLIENT_AUTH_EKU: &str = "1.3.6.1.5.5.7.3.2";

/// True when a policy certificate lists EKUs and Client Authentication is not among them (a
/// certificate with no EKU extension at all is valid for every purpose).
pub fn lacks_client_auth(c: &CertificateFact) -> bool {
    !c.enhanced_key_usage.is_empty()
        && !c
            .enhanced_key_usage
            .iter()
            .any(|e| e.trim() == CLIENT_AUTH_EKU)
}

/// What a SetupMsi.log summary says, when it is a failure.
pub fn install_failure(i: &ConnectorInstall) -> Option<String> {
    if i.status == 0 {
        return None;
    }
    let product = if i.product_name.is_empty() {
        "the connector".to_string()
    } else if i.product_version.is_empty() {
        i.product_name.clone()
    } else {
        format!("{} {}", i.product_name, i.product_version)
    };
    let mut s = if i.status < 0 {
        format!("SetupMsi.log of {product} ends without an installation status")
    } else {
        format!(
            "SetupMsi.log of {product} reports installation status {}",
            i.status
        )
    };
    if !i.errors.is_empty() {
        let errs: Vec<&str> = i.errors.iter().take(3).map(|e| e.as_str()).collect();
        s.push_str(&format!(" (errors: {})", errs.join("; ")));
    }
    Some(s)
}

/// Row 10: one failed installation on `host`.
pub fn install_failed(host: &str, i: &ConnectorInstall) -> Option<String> {
    install_failure(i).map(|s| format!("On {host}, {s}."))
}

/// The latest installation status of the connector on each of `contexts`, described.
fn install_status(contexts: &[&HostContext]) -> (String, Vec<Evidence>) {
    let mut parts = Vec::new();
    let mut ev = Vec::new();
    for ctx in contexts {
        if let Some(r) = ctx.installs.values().next_back() {
            let text = match install_failure(&r.data) {
                Some(f) => format!("on {}, {}", ctx.host, f),
                None => format!(
                    "on {}, SetupMsi.log reports status 0 (installed) at {}, so run `iisreset` \
                     and browse again",
                    ctx.host,
                    when(r.time_us)
                ),
            };
            ev.push(r.evidence_with(text.clone()));
            parts.push(text);
        }
    }
    if parts.is_empty() {
        (
            " No SetupMsi.log of the endpoint's servers was collected.".to_string(),
            ev,
        )
    } else {
        (format!(" Installation: {}.", parts.join("; ")), ev)
    }
}

/// Row 9 from the prober.
pub fn probe_general_page(s: &SymptomSummary, contexts: &[&HostContext]) -> Finding {
    let (install, mut ev) = install_status(contexts);
    let seen = format!(
        "Browsing the SCEP URL showed the NDES general message page instead of HTTP 403 ({} \
         time(s) between {} and {}).{}",
        s.count,
        when(s.first_us),
        when(s.last_us),
        install
    );
    ev.extend(s.evidence.iter().cloned());
    Finding::new(catalog::CONNECTOR_NOT_INSTALLED, seen)
        .with_evidence(ev)
        .with_occurrences(s.count, s.first_us, s.last_us)
}

fn policy_support(ctx: &HostContext, at_us: i64) -> Option<(String, Evidence)> {
    let r = ctx.nearest_health(
        at_us,
        |f| matches!(&f.fact, Some(Fact::Certificate(c)) if c.role() == CertRole::NdesPolicy),
    )?;
    let Some(Fact::Certificate(c)) = &r.data.fact else {
        return None;
    };
    if !lacks_client_auth(c) {
        return None;
    }
    let text = format!(
        "the NDES policy certificate {} (thumbprint {}) on {} has EKUs {} without Client \
         Authentication",
        c.subject,
        c.thumbprint,
        ctx.host,
        c.enhanced_key_usage.join(", ")
    );
    Some((text.clone(), r.evidence_with(text)))
}

/// Row 12 for one attempt: 403s of CertificateRegistrationSvc on the attempt's servers while it
/// ran.
pub fn attempt(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    let (from, to) = view.window();
    let to = to.saturating_add(view.config.crash_window_us);
    let mut hits = Vec::new();
    for ctx in &view.hosts {
        let joined = view.servers.iter().any(|s| s.host == ctx.host);
        if !view.servers.is_empty() && !joined {
            continue;
        }
        for r in ctx.cert_registration_between(from, to) {
            if r.data.status == 403 {
                hits.push((*ctx, r));
            }
        }
    }
    if hits.is_empty() {
        return;
    }
    let first = hits.iter().map(|(_, r)| r.time_us).min().unwrap_or(from);
    let last = hits.iter().map(|(_, r)| r.time_us).max().unwrap_or(to);
    let mut support = Vec::new();
    let mut ev = Vec::new();
    let mut hosts: Vec<&str> = hits.iter().map(|(c, _)| c.host.as_str()).collect();
    hosts.dedup();
    for (ctx, _) in &hits {
        if let Some((t, e)) = policy_support(ctx, first) {
            if !support.contains(&t) {
                support.push(t);
                ev.push(e);
            }
        }
    }
    ev.extend(
        hits.iter().take(3).map(|(c, r)| {
            r.evidence_with(format!("CertificateRegistrationSvc → 403 on {}", c.host))
        }),
    );
    let mut seen = format!(
        "CertificateRegistrationSvc on {} answered the NDES plugin with 403 {} time(s) during the \
         attempt.",
        hosts.join(", "),
        hits.len()
    );
    if !support.is_empty() {
        seen.push_str(&format!(" Cause confirmed: {}.", support.join("; ")));
    }
    out.push(
        Finding::new(catalog::POLICY_CERT_NO_CLIENT_AUTH, seen)
            .with_evidence(ev)
            .with_occurrences(hits.len() as u64, first, last),
    );
}

/// Row 12 at server scope.
pub fn cert_registration_server(s: &SymptomSummary, ctx: &HostContext) -> Finding {
    let mut seen = format!(
        "CertificateRegistrationSvc on {} answered {} request(s) with 403 between {} and {}.",
        s.host,
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    let mut ev = Vec::new();
    if let Some((t, e)) = policy_support(ctx, s.first_us) {
        seen.push_str(&format!(" Cause confirmed: {t}."));
        ev.push(e);
    } else {
        seen.push_str(
            " Check the Enhanced Key Usage of the certificate named by NDESCertThumbprint.",
        );
    }
    ev.extend(s.evidence.iter().cloned());
    Finding::new(catalog::POLICY_CERT_NO_CLIENT_AUTH, seen)
        .with_evidence(ev)
        .with_occurrences(s.count, s.first_us, s.last_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;
    use scepwatch_proto::v1::ScepOperation::*;

    #[test]
    fn install_status_zero_is_not_a_failure() {
        let ok = ConnectorInstall {
            status: 0,
            product_name: "Microsoft Intune Connector".into(),
            completed: true,
            ..Default::default()
        };
        assert_eq!(install_failure(&ok), None);
        let bad = ConnectorInstall {
            status: 1603,
            product_name: "Microsoft Intune Connector".into(),
            product_version: "6.1711.4.0".into(),
            errors: vec!["Error 1603".into()],
            ..Default::default()
        };
        let s = install_failure(&bad).unwrap_or_default();
        assert!(s.contains("status 1603") && s.contains("Error 1603"), "{s}");
        let cut = ConnectorInstall {
            status: -1,
            ..Default::default()
        };
        assert!(install_failure(&cut)
            .unwrap_or_default()
            .contains("without an installation status"));
    }

    #[test]
    fn eku_check() {
        let mut c = CertificateFact {
            enhanced_key_usage: vec!["1.3.6.1.5.5.7.3.1".into()],
            ..Default::default()
        };
        assert!(lacks_client_auth(&c));
        c.enhanced_key_usage.push(CLIENT_AUTH_EKU.into());
        assert!(!lacks_client_auth(&c));
        c.enhanced_key_usage.clear();
        assert!(!lacks_client_auth(&c));
    }

    #[test]
    fn cert_registration_403_during_attempt_is_row_12() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(PkiOperation, 200, 0, 0, 1, at(10, 0, 0))],
        )]);
        add_cert_registration(&mut case.contexts[0], at(10, 0, 1), 403);
        case.contexts[0].add_health(
            (at(9, 0, 0), [9; 16]),
            health_record(
                at(9, 0, 0),
                cert(
                    CertRole::NdesPolicy,
                    "CN=ndes01",
                    at(23, 0, 0),
                    &["1.3.6.1.5.5.7.3.1"],
                ),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::POLICY_CERT_NO_CLIENT_AUTH);
        assert!(
            f.seen.contains("without Client Authentication"),
            "{}",
            f.seen
        );
    }

    #[test]
    fn cert_registration_200_is_not_row_12() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "android",
            vec![class(PkiOperation, 200, 0, 0, 1, at(10, 0, 0))],
        )]);
        add_cert_registration(&mut case.contexts[0], at(10, 0, 1), 500);
        assert!(none_of(&case.run(), catalog::POLICY_CERT_NO_CLIENT_AUTH));
    }
}
