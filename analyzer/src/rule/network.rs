//! Row 2: the device called the SCEP URL and no server logged it.
//!
//! Only said when it can be known. For a device attempt with no joined server session whose log
//! shows it calling the SCEP URL:
//! - if the device got an HTTP answer (a status, a proxy error page), the request crossed the
//!   network to *something*: rows 4/6/7/8/11 explain known answers; any other answer no server of
//!   the endpoint logged is `attempt.server_not_observed` (another server, or a wrong mapping);
//! - if HTTP.sys on the endpoint's servers logged SCEP rejections in the window, the request did
//!   arrive (rows 4 and 7 report them);
//! - if the IIS logs of **every** server of the endpoint cover the window (start − join window ..
//!   end + join window), and no server-only attempt of the same user-agent family falls in it:
//!   `network.blocked_before_ndes`;
//! - otherwise `attempt.server_not_observed`, naming the hosts and spans whose logs are missing.

use super::catalog;
use super::device::{first_contact, got_http_answer, http_answers, step_label};
use super::{classify_httperr, when, AttemptView, Finding};
use crate::model::JoinMethod;

/// Row 2 for one attempt.
pub fn attempt(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    if view.join != JoinMethod::DeviceOnly {
        return;
    }
    let Some(contact) = first_contact(view) else {
        return;
    };
    let mut ev = contact.evidence.clone();
    ev.note = format!("device: {}", step_label(contact));
    let (from, to) = view.coverage.window;
    if got_http_answer(view) {
        let explained = http_answers(view)
            .iter()
            .any(|a| matches!(a.status, 414 | 500 | 503 | 504))
            || !view.httperr_in_window().is_empty();
        let other_answers = http_answers(view)
            .iter()
            .any(|a| !matches!(a.status, 414 | 500 | 503 | 504));
        if explained || !other_answers || !view.coverage.traffic_reported_elsewhere.is_empty() {
            return;
        }
        let seen = format!(
            "The device got HTTP answers from {} between {} and {}, but no IIS log of this \
             endpoint's servers ({}) has its requests: another server answers for this URL, or \
             its logs are not collected, or the servers are mapped to another endpoint.",
            if view.endpoint.is_empty() {
                "the SCEP URL"
            } else {
                &view.endpoint
            },
            when(from),
            when(to),
            server_list(view)
        );
        out.push(Finding::new(catalog::SERVER_NOT_OBSERVED, seen).with_evidence(vec![ev]));
        return;
    }
    if view
        .httperr_in_window()
        .iter()
        .any(|(_, r)| classify_httperr(&r.data).is_some())
    {
        return;
    }
    if !view.coverage.traffic_reported_elsewhere.is_empty() {
        return;
    }
    if view.coverage.complete() {
        let seen =
            format!(
            "The device called {} at {}, and the IIS logs of {} were read for {} – {} without any \
             request from it.",
            if view.endpoint.is_empty() { "the SCEP URL" } else { &view.endpoint },
            when(contact.time_us),
            server_list(view),
            when(from),
            when(to)
        );
        out.push(Finding::new(catalog::NETWORK_BLOCKED, seen).with_evidence(vec![ev]));
    } else {
        let seen =
            format!(
            "The device called {} at {}, but the server logs needed to tell whether it arrived \
             are missing for {} – {}: {}.",
            if view.endpoint.is_empty() { "the SCEP URL" } else { &view.endpoint },
            when(contact.time_us),
            when(from),
            when(to),
            view.coverage.describe_missing()
        );
        out.push(Finding::new(catalog::SERVER_NOT_OBSERVED, seen).with_evidence(vec![ev]));
    }
}

fn server_list(view: &AttemptView<'_>) -> String {
    if view.coverage.hosts.is_empty() {
        return "no known server".to_string();
    }
    view.coverage
        .hosts
        .iter()
        .map(|h| h.host.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;
    use crate::rule::{Coverage, HostCoverage};
    use scepwatch_proto::v1::ScepOperation;

    fn device_case() -> Case {
        Case::android(vec![
            android_requests(at(5, 16, 8), 1),
            android_sending(at(5, 16, 9), ScepOperation::GetCaCaps),
        ])
    }

    #[test]
    fn covered_window_without_iis_record_is_blocked() {
        let mut case = device_case();
        case.coverage = covered("ndes01", &case);
        let got = case.run();
        let f = only(&got, catalog::NETWORK_BLOCKED);
        assert!(f.seen.contains("ndes01"), "{}", f.seen);
        assert!(none_of(&got, catalog::SERVER_NOT_OBSERVED));
    }

    #[test]
    fn uncovered_window_says_which_window_is_missing() {
        let mut case = device_case();
        let (from, to) = case.view().window();
        case.coverage = Coverage {
            window: (from, to),
            hosts: vec![
                HostCoverage {
                    host: "ndes01".into(),
                    missing: vec![],
                },
                HostCoverage {
                    host: "ndes02".into(),
                    missing: vec![(from, to)],
                },
            ],
            traffic_reported_elsewhere: vec![],
        };
        let got = case.run();
        let f = only(&got, catalog::SERVER_NOT_OBSERVED);
        assert!(f.seen.contains("ndes02 ("), "{}", f.seen);
        assert!(none_of(&got, catalog::NETWORK_BLOCKED));
    }

    #[test]
    fn no_known_server_is_not_observed() {
        let case = device_case();
        let got = case.run();
        let f = only(&got, catalog::SERVER_NOT_OBSERVED);
        assert!(f.seen.contains("no IIS log of any server"), "{}", f.seen);
    }

    #[test]
    fn joined_attempt_is_never_row_2() {
        let mut case = device_case();
        case.join = JoinMethod::Fallback;
        case.servers = vec![server_part(
            "ndes01",
            "android",
            vec![class(ScepOperation::GetCaCaps, 200, 0, 0, 1, at(5, 16, 10))],
        )];
        assert!(none_of(&case.run(), catalog::NETWORK_BLOCKED));
        assert!(none_of(&case.run(), catalog::SERVER_NOT_OBSERVED));
    }

    #[test]
    fn device_without_contact_is_not_row_2() {
        let mut case = Case::android(vec![android_requests(at(5, 16, 8), 1)]);
        case.coverage = covered("ndes01", &case);
        assert!(none_of(&case.run(), catalog::NETWORK_BLOCKED));
    }

    #[test]
    fn traffic_reported_elsewhere_is_not_blocked() {
        let mut case = device_case();
        case.coverage = covered("ndes01", &case);
        case.coverage.traffic_reported_elsewhere = vec!["abc".into()];
        assert!(none_of(&case.run(), catalog::NETWORK_BLOCKED));
    }

    #[test]
    fn unexplained_200_answer_is_not_observed() {
        let mut case = Case::android(vec![
            android_sending(at(5, 16, 9), ScepOperation::GetCaCaps),
            android_received(at(5, 16, 10), ScepOperation::GetCaCaps, "200 OK", 200),
        ]);
        case.coverage = covered("ndes01", &case);
        let got = case.run();
        let f = only(&got, catalog::SERVER_NOT_OBSERVED);
        assert!(f.seen.contains("another server answers"), "{}", f.seen);
        assert!(none_of(&got, catalog::NETWORK_BLOCKED));
    }
}
