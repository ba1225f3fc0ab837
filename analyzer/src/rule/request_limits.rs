//! Row 7: the SCEP request is longer than IIS request filtering or HTTP.sys accept.
//!
//! Evidence: IIS 404.14 (URL too long) / 404.15 (query string too long) or 414 on mscep.dll,
//! HTTP.sys 414 or reasons `URL_Length` / `FieldLength` / `Request_Length`, a 414 the device got,
//! and, as supporting evidence, the server's request-limit health fact when it is below 65534.

use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::RequestLimitsFact;

use super::catalog;
use super::device::http_answers;
use super::{classify_httperr, when, AttemptView, Finding, Symptom, SymptomSummary};
use crate::engine::context::HostContext;
use crate::model::Evidence;

/// The value SCEP needs for every limit.
pub const REQUIRED_LIMIT: u32 = 65_534;

/// HTTP.sys's default for MaxFieldLength / MaxRequestBytes when the registry value is absent.
pub const HTTP_SYS_DEFAULT: u32 = 16_384;

/// The limits below [`REQUIRED_LIMIT`], described ("maxQueryString 2048", "MaxFieldLength not set
/// (HTTP.sys default 16384)"). Request filtering values of 0 mean "not reported" and are skipped.
pub fn low_limits(l: &RequestLimitsFact) -> Vec<String> {
    let mut out = Vec::new();
    for (name, v) in [
        ("maxUrl", l.max_url),
        ("maxQueryString", l.max_query_string),
    ] {
        if v != 0 && v < REQUIRED_LIMIT {
            out.push(format!("{name} {v}"));
        }
    }
    for (name, v) in [
        ("MaxFieldLength", l.max_field_length),
        ("MaxRequestBytes", l.max_request_bytes),
    ] {
        if v == 0 {
            out.push(format!(
                "{name} not set (HTTP.sys default {HTTP_SYS_DEFAULT})"
            ));
        } else if v < REQUIRED_LIMIT {
            out.push(format!("{name} {v}"));
        }
    }
    out
}

/// The server's limits nearest `at_us`, when some are too low.
fn limits_support(ctx: &HostContext, at_us: i64) -> Option<(String, Evidence)> {
    let r = ctx.nearest_health(at_us, |f| matches!(f.fact, Some(Fact::RequestLimits(_))))?;
    let Some(Fact::RequestLimits(l)) = &r.data.fact else {
        return None;
    };
    let low = low_limits(l);
    if low.is_empty() {
        return None;
    }
    let text = format!("{} has {}", ctx.host, low.join(", "));
    Some((text.clone(), r.evidence_with(text)))
}

fn conclude(
    head: String,
    count: u64,
    first: i64,
    last: i64,
    evidence: Vec<Evidence>,
    contexts: &[&HostContext],
) -> Finding {
    let mut support = Vec::new();
    let mut ev = Vec::new();
    for ctx in contexts {
        if let Some((t, e)) = limits_support(ctx, first) {
            support.push(t);
            ev.push(e);
        }
    }
    let seen = if support.is_empty() {
        head
    } else {
        format!(
            "{head} The server's limits are below 65534: {}.",
            support.join("; ")
        )
    };
    ev.extend(evidence);
    Finding::new(catalog::REQUEST_TOO_LONG, seen)
        .with_evidence(ev)
        .with_occurrences(count, first, last)
}

/// Row 7 for one attempt.
pub fn attempt(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    let mut count = 0;
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut evidence = Vec::new();
    let mut hosts: Vec<&str> = Vec::new();
    let mut longest = 0u32;
    for (s, r) in view.requests() {
        if matches!((r.status, r.substatus), (404, 14 | 15) | (414, _)) {
            count += r.count;
            first = first.min(r.first_us);
            last = last.max(r.last_us);
            longest = longest.max(r.max_query_length);
            hosts.push(&s.host);
            evidence.extend(r.evidence(format!("{} on {}", r.label(), s.host)));
        }
    }
    for (ctx, r) in view.httperr_in_window() {
        if classify_httperr(&r.data) == Some(Symptom::TooLong) {
            count += 1;
            first = first.min(r.time_us);
            last = last.max(r.time_us);
            longest = longest.max(r.data.url_length);
            hosts.push(&ctx.host);
            evidence.push(r.evidence_with(format!(
                "HTTP.sys {} {} on {}",
                r.data.status, r.data.reason, ctx.host
            )));
        }
    }
    if count == 0 {
        for a in http_answers(view).into_iter().filter(|a| a.status == 414) {
            count += 1;
            first = first.min(a.event.time_us);
            last = last.max(a.event.time_us);
            let mut ev = a.event.evidence.clone();
            ev.note = "device: HTTP 414".into();
            evidence.push(ev);
        }
    }
    if count == 0 {
        return;
    }
    hosts.sort_unstable();
    hosts.dedup();
    let head = format!(
        "{} rejected {} request(s) as too long between {} and {}{}.",
        if hosts.is_empty() {
            "The SCEP URL".to_string()
        } else {
            hosts.join(", ")
        },
        count,
        when(first),
        when(last),
        if longest > 0 {
            format!(" (longest query or URL: {longest} bytes)")
        } else {
            String::new()
        }
    );
    let contexts: Vec<&HostContext> = view
        .hosts
        .iter()
        .copied()
        .filter(|c| hosts.is_empty() || hosts.contains(&c.host.as_str()))
        .collect();
    out.push(conclude(head, count, first, last, evidence, &contexts));
}

/// Row 7 at server scope.
pub fn server(s: &SymptomSummary, ctx: &HostContext) -> Finding {
    let head = format!(
        "{} rejected {} SCEP request(s) as too long (404.14/404.15/414 or HTTP.sys length limits) \
         between {} and {}.",
        s.host,
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    conclude(
        head,
        s.count,
        s.first_us,
        s.last_us,
        s.evidence.clone(),
        &[ctx],
    )
}

/// Row 7 from the prober's long-query check.
pub fn probe(s: &SymptomSummary, contexts: &[&HostContext]) -> Finding {
    let head = format!(
        "The prober's long request to the SCEP URL was refused as too long {} time(s) between {} \
         and {}.",
        s.count,
        when(s.first_us),
        when(s.last_us)
    );
    conclude(
        head,
        s.count,
        s.first_us,
        s.last_us,
        s.evidence.clone(),
        contexts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;
    use scepwatch_proto::v1::ScepOperation::*;

    #[test]
    fn iis_404_14_is_row_7_with_low_limits_named() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "ios",
            vec![class(PkiOperation, 404, 14, 0, 1, at(10, 0, 0))],
        )]);
        case.contexts[0].add_health(
            (at(9, 0, 0), [1; 16]),
            health_record(at(9, 0, 0), limits(4096, 2048, 0, 65534)),
        );
        let got = case.run();
        let f = only(&got, catalog::REQUEST_TOO_LONG);
        assert!(f.seen.contains("maxQueryString 2048"), "{}", f.seen);
        assert!(f.seen.contains("MaxFieldLength not set"), "{}", f.seen);
        assert!(!f.seen.contains("MaxRequestBytes"), "{}", f.seen);
    }

    #[test]
    fn httperr_url_length_is_row_7() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "ios",
            vec![class(GetCaCert, 200, 0, 0, 1, at(10, 0, 0))],
        )]);
        add_httperr(
            &mut case.contexts[0],
            at(10, 0, 5),
            "10.0.0.5",
            400,
            "URL_Length",
        );
        only(&case.run(), catalog::REQUEST_TOO_LONG);
    }

    #[test]
    fn plain_404_is_not_row_7() {
        let case = Case::server_only(vec![server_part(
            "ndes01",
            "ios",
            vec![class(PkiOperation, 404, 0, 2, 1, at(10, 0, 0))],
        )]);
        assert!(none_of(&case.run(), catalog::REQUEST_TOO_LONG));
    }

    #[test]
    fn limits_at_65534_are_not_low() {
        assert!(low_limits(&RequestLimitsFact {
            max_url: 65534,
            max_query_string: 65534,
            max_field_length: 65534,
            max_request_bytes: 65534,
        })
        .is_empty());
    }
}
