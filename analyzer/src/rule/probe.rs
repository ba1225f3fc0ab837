//! The active prober's view of the SCEP URL: what each browse result means.
//!
//! | page / status | code | row |
//! |---|---|---|
//! | 403.0 from mscep.dll | `ndes.mscep_answering` | 13 |
//! | NDES general message page | `connector.not_installed` | 9 |
//! | "This page can't be displayed" | `app_proxy.wrong_external_url` | 8 |
//! | 504 GatewayTimeout | `app_proxy.connector_down` | 6 |
//! | 503 | `iis.app_pool_unavailable` (or row 5 with a crash) | 4 |
//! | 500 | `ndes.internal_error` | 11 |
//! | 414 / 404.14 / 404.15 | `iis.request_too_long` | 7 |
//! | no HTTP answer | `probe.no_response` | 2 |
//!
//! Probe results are folded per endpoint, code and time bucket (an endpoint-scope diagnosis).

use scepwatch_proto::v1::{ProbePage, ProbeResult};

use super::catalog;
use super::{
    app_pool, app_proxy, connector, iis_status, request_limits, when, Finding, SymptomSummary,
};
use crate::engine::context::HostContext;
use crate::engine::EngineConfig;
use crate::model::Evidence;

/// The catalog code a probe result shows, if any.
pub fn classify(p: &ProbeResult) -> Option<&'static str> {
    match p.page() {
        ProbePage::MscepForbidden => return Some(catalog::MSCEP_ANSWERING),
        ProbePage::NdesGeneralMessage => return Some(catalog::CONNECTOR_NOT_INSTALLED),
        ProbePage::AppProxyCannotDisplay => return Some(catalog::WRONG_EXTERNAL_URL),
        ProbePage::GatewayTimeout => return Some(catalog::CONNECTOR_DOWN),
        ProbePage::ServiceUnavailable => return Some(catalog::APP_POOL_UNAVAILABLE),
        ProbePage::InternalServerError => return Some(catalog::INTERNAL_ERROR),
        ProbePage::UriTooLong => return Some(catalog::REQUEST_TOO_LONG),
        ProbePage::NoResponse => return Some(catalog::PROBE_NO_RESPONSE),
        ProbePage::Other | ProbePage::Unspecified => {}
    }
    match (p.status, p.substatus) {
        (403, 0) if p.check.is_empty() || p.check.eq_ignore_ascii_case("browse") => {
            Some(catalog::MSCEP_ANSWERING)
        }
        (504, _) => Some(catalog::CONNECTOR_DOWN),
        (503, _) => Some(catalog::APP_POOL_UNAVAILABLE),
        (500, _) => Some(catalog::INTERNAL_ERROR),
        (414, _) | (404, 14 | 15) => Some(catalog::REQUEST_TOO_LONG),
        _ => None,
    }
}

/// One line describing a probe result, for evidence notes.
pub fn describe(p: &ProbeResult) -> String {
    let mut s = format!(
        "probe {} {} → {}",
        if p.check.is_empty() {
            "browse"
        } else {
            &p.check
        },
        p.url,
        if p.status == 0 {
            "no answer".to_string()
        } else if p.substatus != 0 {
            format!("{}.{}", p.status, p.substatus)
        } else {
            p.status.to_string()
        }
    );
    if !p.error.is_empty() {
        s.push_str(&format!(" ({})", p.error));
    }
    s
}

/// Findings for the probe results of one endpoint, code and bucket; `contexts` are the endpoint's
/// servers.
pub fn endpoint_findings(
    code: &'static str,
    s: &SymptomSummary,
    contexts: &[&HostContext],
    config: &EngineConfig,
) -> Vec<Finding> {
    match code {
        catalog::MSCEP_ANSWERING => vec![simple(
            code,
            format!(
                "Browsing the SCEP URL answered HTTP 403.0 {} time(s) between {} and {}.",
                s.count,
                when(s.first_us),
                when(s.last_us)
            ),
            s,
        )],
        catalog::CONNECTOR_NOT_INSTALLED => vec![connector::probe_general_page(s, contexts)],
        catalog::WRONG_EXTERNAL_URL => vec![app_proxy::probe_cannot_display(s)],
        catalog::CONNECTOR_DOWN => vec![app_proxy::probe_gateway_timeout(s, contexts)],
        catalog::APP_POOL_UNAVAILABLE => app_pool::probe(s, contexts, config),
        catalog::REQUEST_TOO_LONG => vec![request_limits::probe(s, contexts)],
        catalog::INTERNAL_ERROR => {
            let mut causes: Vec<(String, Evidence)> = Vec::new();
            for ctx in contexts {
                for c in iis_status::internal_error_causes(ctx, s.first_us) {
                    if !causes.iter().any(|(t, _)| *t == c.0) {
                        causes.push(c);
                    }
                }
            }
            let mut seen = format!(
                "The prober got HTTP 500 from the SCEP URL {} time(s) between {} and {}.",
                s.count,
                when(s.first_us),
                when(s.last_us)
            );
            if !causes.is_empty() {
                let t: Vec<&str> = causes.iter().map(|(t, _)| t.as_str()).collect();
                seen.push_str(&format!(" Cause found: {}.", t.join("; ")));
            }
            let mut ev: Vec<Evidence> = causes.into_iter().map(|(_, e)| e).collect();
            ev.extend(s.evidence.iter().cloned());
            vec![Finding::new(code, seen)
                .with_evidence(ev)
                .with_occurrences(s.count, s.first_us, s.last_us)]
        }
        catalog::PROBE_NO_RESPONSE => vec![simple(
            code,
            format!(
                "The prober got no HTTP answer from the SCEP URL {} time(s) between {} and {}{}.",
                s.count,
                when(s.first_us),
                when(s.last_us),
                s.evidence
                    .first()
                    .map(|e| format!(" ({})", e.note))
                    .unwrap_or_default()
            ),
            s,
        )],
        _ => Vec::new(),
    }
}

fn simple(code: &'static str, seen: String, s: &SymptomSummary) -> Finding {
    Finding::new(code, seen)
        .with_evidence(s.evidence.clone())
        .with_occurrences(s.count, s.first_us, s.last_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;

    fn probe(page: ProbePage, status: u32) -> ProbeResult {
        ProbeResult {
            url: "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll".into(),
            check: "browse".into(),
            status,
            page: page as i32,
            via_app_proxy: true,
            ..Default::default()
        }
    }

    #[test]
    fn pages_map_to_catalog_rows() {
        let cases = [
            (ProbePage::MscepForbidden, 403, catalog::MSCEP_ANSWERING),
            (
                ProbePage::NdesGeneralMessage,
                200,
                catalog::CONNECTOR_NOT_INSTALLED,
            ),
            (
                ProbePage::AppProxyCannotDisplay,
                200,
                catalog::WRONG_EXTERNAL_URL,
            ),
            (ProbePage::GatewayTimeout, 504, catalog::CONNECTOR_DOWN),
            (
                ProbePage::ServiceUnavailable,
                503,
                catalog::APP_POOL_UNAVAILABLE,
            ),
            (ProbePage::InternalServerError, 500, catalog::INTERNAL_ERROR),
            (ProbePage::UriTooLong, 414, catalog::REQUEST_TOO_LONG),
            (ProbePage::NoResponse, 0, catalog::PROBE_NO_RESPONSE),
        ];
        for (page, status, code) in cases {
            assert_eq!(classify(&probe(page, status)), Some(code), "{page:?}");
        }
        assert_eq!(classify(&probe(ProbePage::Other, 200)), None);
        assert_eq!(
            classify(&probe(ProbePage::Unspecified, 504)),
            Some(catalog::CONNECTOR_DOWN)
        );
    }

    #[test]
    fn general_page_mentions_setupmsi_status() {
        let mut ctx = scepwatch_ctx("ndes01");
        add_install(&mut ctx, at(1, 0, 0), 1603);
        let s = summary("probe01", 2, at(2, 0, 0));
        let got = endpoint_findings(catalog::CONNECTOR_NOT_INSTALLED, &s, &[&ctx], &config());
        let f = only(&got, catalog::CONNECTOR_NOT_INSTALLED);
        assert!(f.seen.contains("installation status 1603"), "{}", f.seen);
        let ok = scepwatch_ctx("ndes01");
        let got = endpoint_findings(catalog::CONNECTOR_NOT_INSTALLED, &s, &[&ok], &config());
        assert!(only(&got, catalog::CONNECTOR_NOT_INSTALLED)
            .seen
            .contains("No SetupMsi.log"));
    }

    #[test]
    fn probe_503_with_nearby_crash_is_row_5() {
        let mut ctx = scepwatch_ctx("ndes01");
        add_crash(&mut ctx, at(2, 1, 0));
        let s = summary("probe01", 1, at(2, 0, 0));
        let got = endpoint_findings(catalog::APP_POOL_UNAVAILABLE, &s, &[&ctx], &config());
        only(&got, catalog::APP_POOL_CRASHING);
        let quiet = scepwatch_ctx("ndes01");
        let got = endpoint_findings(catalog::APP_POOL_UNAVAILABLE, &s, &[&quiet], &config());
        only(&got, catalog::APP_POOL_UNAVAILABLE);
    }
}
