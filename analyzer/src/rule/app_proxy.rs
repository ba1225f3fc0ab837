//! Rows 6 and 8: Microsoft Entra application proxy in front of NDES.
//!
//! - 504 GatewayTimeout (the device's HTTP status or error text, or the prober's page): no
//!   connector forwarded the request (row 6); a stopped connector service in the health facts
//!   names the host.
//! - "This page can't be displayed" (device error text or prober page): wrong external URL in the
//!   publication (row 8).

use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::ServiceStateFact;

use super::catalog;
use super::device::{error_text, http_status};
use super::{contains_ci, when, AttemptView, Finding, SymptomSummary};
use crate::engine::context::HostContext;
use crate::model::Evidence;

/// True when a service fact is the application proxy connector (WAPCSvc, "Microsoft Entra
/// application proxy connector", "Microsoft Entra private network connector").
pub fn is_connector_service(s: &ServiceStateFact) -> bool {
    s.name.eq_ignore_ascii_case("WAPCSvc")
        || contains_ci(&s.display_name, "Application Proxy Connector")
        || contains_ci(&s.display_name, "private network connector")
}

/// True when a service or pool state means "not running".
pub fn is_stopped(state: &str) -> bool {
    let s = state.trim();
    !(s.eq_ignore_ascii_case("running")
        || s.eq_ignore_ascii_case("started")
        || s.eq_ignore_ascii_case("starting")
        || s.eq_ignore_ascii_case("start pending")
        || s.is_empty())
}

/// Connector services seen stopped on `contexts`, nearest to `at_us`.
pub fn stopped_connectors(contexts: &[&HostContext], at_us: i64) -> Vec<(String, Evidence)> {
    let mut out = Vec::new();
    for ctx in contexts {
        let r = ctx.nearest_health(
            at_us,
            |f| matches!(&f.fact, Some(Fact::Service(s)) if is_connector_service(s)),
        );
        if let Some(r) = r {
            if let Some(Fact::Service(s)) = &r.data.fact {
                if is_stopped(&s.state) {
                    let text = format!(
                        "the connector service {} on {} was {} (startup type {}) at {}",
                        s.name,
                        ctx.host,
                        s.state,
                        if s.start_type.is_empty() {
                            "unknown"
                        } else {
                            &s.start_type
                        },
                        when(r.time_us)
                    );
                    out.push((text.clone(), r.evidence_with(text)));
                }
            }
        }
    }
    out
}

fn is_gateway_timeout(status: u32, text: Option<&str>) -> bool {
    status == 504
        || text
            .is_some_and(|t| contains_ci(t, "GatewayTimeout") || contains_ci(t, "Gateway Timeout"))
}

/// True when the text is the application proxy's "This page can't be displayed" (any apostrophe).
pub fn is_cannot_display(text: &str) -> bool {
    contains_ci(text, "can't be displayed")
        || contains_ci(text, "can\u{2019}t be displayed")
        || contains_ci(text, "cannot be displayed")
}

/// Rows 6 and 8 from the device's log.
pub fn attempt(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    let gateway: Vec<_> = view
        .device_events
        .iter()
        .filter(|e| is_gateway_timeout(http_status(e), error_text(e)))
        .collect();
    if let Some(first) = gateway.first() {
        let last = gateway.last().map(|e| e.time_us).unwrap_or(first.time_us);
        let connectors = stopped_connectors(&view.hosts, first.time_us);
        let mut seen = format!(
            "The device got 504 GatewayTimeout from the application proxy {} time(s) between {} \
             and {}.",
            gateway.len(),
            when(first.time_us),
            when(last)
        );
        if !connectors.is_empty() {
            let t: Vec<&str> = connectors.iter().map(|(t, _)| t.as_str()).collect();
            seen.push_str(&format!(" Health facts confirm it: {}.", t.join("; ")));
        }
        let mut ev: Vec<Evidence> = connectors.into_iter().map(|(_, e)| e).collect();
        ev.extend(gateway.iter().map(|e| {
            let mut x = e.evidence.clone();
            x.note = "device: 504 GatewayTimeout".into();
            x
        }));
        out.push(
            Finding::new(catalog::CONNECTOR_DOWN, seen)
                .with_evidence(ev)
                .with_occurrences(gateway.len() as u64, first.time_us, last),
        );
    }
    let cannot: Vec<_> = view
        .device_events
        .iter()
        .filter(|e| error_text(e).is_some_and(is_cannot_display))
        .collect();
    if let Some(first) = cannot.first() {
        let last = cannot.last().map(|e| e.time_us).unwrap_or(first.time_us);
        let seen = format!(
            "The device got \"This page can't be displayed\" from the application proxy at {}.",
            when(first.time_us)
        );
        let ev = cannot
            .iter()
            .map(|e| {
                let mut x = e.evidence.clone();
                x.note = "device: This page can't be displayed".into();
                x
            })
            .collect();
        out.push(
            Finding::new(catalog::WRONG_EXTERNAL_URL, seen)
                .with_evidence(ev)
                .with_occurrences(cannot.len() as u64, first.time_us, last),
        );
    }
}

/// Row 6 from the prober.
pub fn probe_gateway_timeout(s: &SymptomSummary, contexts: &[&HostContext]) -> Finding {
    let connectors = stopped_connectors(contexts, s.first_us);
    let mut seen = format!(
        "The prober got 504 GatewayTimeout from the application proxy {} time(s) between {} and \
         {}.",
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    if !connectors.is_empty() {
        let t: Vec<&str> = connectors.iter().map(|(t, _)| t.as_str()).collect();
        seen.push_str(&format!(" Health facts confirm it: {}.", t.join("; ")));
    }
    let mut ev: Vec<Evidence> = connectors.into_iter().map(|(_, e)| e).collect();
    ev.extend(s.evidence.iter().cloned());
    Finding::new(catalog::CONNECTOR_DOWN, seen)
        .with_evidence(ev)
        .with_occurrences(s.count, s.first_us, s.last_us)
}

/// Row 8 from the prober.
pub fn probe_cannot_display(s: &SymptomSummary) -> Finding {
    let seen = format!(
        "The prober got \"This page can't be displayed\" from the application proxy {} time(s) \
         between {} and {}.",
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    Finding::new(catalog::WRONG_EXTERNAL_URL, seen)
        .with_evidence(s.evidence.clone())
        .with_occurrences(s.count, s.first_us, s.last_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;
    use scepwatch_proto::v1::ScepOperation;

    #[test]
    fn android_504_is_connector_down_not_network_blocked() {
        let mut case = Case::android(vec![
            android_sending(at(5, 16, 9), ScepOperation::GetCaCaps),
            android_received(
                at(5, 16, 39),
                ScepOperation::GetCaCaps,
                "504 Gateway Timeout",
                504,
            ),
        ]);
        case.coverage = covered("ndes01", &case);
        case.contexts[0].add_health(
            (at(5, 0, 0), [2; 16]),
            health_record(
                at(5, 0, 0),
                service(
                    "WAPCSvc",
                    "Microsoft Entra application proxy connector",
                    "Stopped",
                ),
            ),
        );
        let got = case.run();
        let f = only(&got, catalog::CONNECTOR_DOWN);
        assert!(
            f.seen.contains("WAPCSvc on ndes01 was Stopped"),
            "{}",
            f.seen
        );
        assert!(none_of(&got, catalog::NETWORK_BLOCKED));
    }

    #[test]
    fn ios_error_text_gateway_timeout() {
        let case = Case::ios(vec![ios_error(
            at(1, 0, 0),
            "The server returned GatewayTimeout",
            0,
        )]);
        only(&case.run(), catalog::CONNECTOR_DOWN);
    }

    #[test]
    fn cannot_display_is_wrong_external_url() {
        let case = Case::android(vec![android_error(
            at(1, 0, 0),
            "This page can\u{2019}t be displayed",
        )]);
        let got = case.run();
        only(&got, catalog::WRONG_EXTERNAL_URL);
        assert!(none_of(&got, catalog::CONNECTOR_DOWN));
    }

    #[test]
    fn a_running_connector_is_not_named() {
        let mut case = Case::android(vec![android_received(
            at(5, 16, 39),
            ScepOperation::GetCaCaps,
            "504 Gateway Timeout",
            504,
        )]);
        case.contexts[0].add_health(
            (at(5, 0, 0), [2; 16]),
            health_record(at(5, 0, 0), service("WAPCSvc", "", "Running")),
        );
        let got = case.run();
        let f = only(&got, catalog::CONNECTOR_DOWN);
        assert!(!f.seen.contains("Health facts confirm"), "{}", f.seen);
    }

    #[test]
    fn service_names_and_states() {
        assert!(is_connector_service(&ServiceStateFact {
            name: "x".into(),
            display_name: "Microsoft Entra private network connector".into(),
            ..Default::default()
        }));
        assert!(is_stopped("Stopped"));
        assert!(is_stopped("Paused"));
        assert!(!is_stopped("Running"));
        assert!(!is_stopped("Started"));
    }
}
