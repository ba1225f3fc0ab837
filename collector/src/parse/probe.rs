//! Results of the active prober of a SCEP URL, as JSON lines.
//!
//! One object per line, as the prober writes it:
//!
//! ```json
//! {"time":"2026-11-20T09:00:00Z","url":"https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll","check":"browse","status":403,"substatus":0,"body":"<first 4 KiB of the response body>","error":null,"elapsed_ms":41}
//! ```
//!
//! `time`, `url` and `check` are required; a missing or zero `status` means no HTTP answer came
//! back (`error` says why). Unknown fields are ignored so the prober may add some. The page the
//! probe saw is named by [`classify`], which follows the guide's "test the SCEP server URL"
//! section: 403 is the healthy answer, the NDES general message page means the connector is not
//! installed correctly, and so on.

use scepwatch_proto::v1::{event::Payload, ProbePage, ProbeResult};
use serde::Deserialize;

use super::{Emit, LineParser, ParseStats, SourceContext};

/// Parser of probe result lines. Stateless.
#[derive(Debug, Default)]
pub struct ProbeParser {}

/// One probe result line.
#[derive(Debug, Deserialize)]
struct ProbeLine<'a> {
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    url: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    check: std::borrow::Cow<'a, str>,
    #[serde(default)]
    status: Option<u32>,
    #[serde(default)]
    substatus: Option<u32>,
    #[serde(default, borrow)]
    body: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    elapsed_ms: Option<u64>,
}

/// Names the page a probe saw from its HTTP status, IIS substatus (0 when unknown), the start
/// of the response body, and the transport error (set when no answer came back).
///
/// Application proxy answers are recognised by their text before the status is looked at,
/// since the proxy's error pages come with various statuses.
pub fn classify(status: u32, substatus: u32, body: &str, error: Option<&str>) -> ProbePage {
    // Status 0 is how the prober writes "no answer"; a status outside HTTP's range together
    // with a transport error is no answer either.
    if status == 0 || (error.is_some() && !(100..600).contains(&status)) {
        return ProbePage::NoResponse;
    }
    let has = |needle: &str| contains_ignore_case(body, needle);
    if has("This page can't be displayed")
        || has("This page can\u{2019}t be displayed")
        || has("This corporate app can't be accessed")
        || has("This corporate app can\u{2019}t be accessed")
    {
        return ProbePage::AppProxyCannotDisplay;
    }
    if status == 504 || has("GatewayTimeout") || has("Gateway Timeout") {
        return ProbePage::GatewayTimeout;
    }
    match (status, substatus) {
        // mscep.dll answers a bare browse with 403.0 ("403 - Forbidden: Access is denied.").
        (403, 0) => ProbePage::MscepForbidden,
        (403, _) if has("403 - Forbidden: Access is denied") => ProbePage::MscepForbidden,
        (200, _) if has("Network Device Enrollment Service") => ProbePage::NdesGeneralMessage,
        (503, _) => ProbePage::ServiceUnavailable,
        (500, _) => ProbePage::InternalServerError,
        (414, _) | (404, 14 | 15) => ProbePage::UriTooLong,
        // IIS's detailed error page names the request-filtering substatus even when the probe
        // could not read it from the response.
        (404, _) if has("404.14") || has("404.15") => ProbePage::UriTooLong,
        _ => ProbePage::Other,
    }
}

/// ASCII-case-insensitive substring search.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

impl LineParser for ProbeParser {
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
        let probe: ProbeLine<'_> = match serde_json::from_slice(line) {
            Ok(p) => p,
            Err(e) if e.is_data() => return stats.error("probe.bad_field"),
            Err(_) => return stats.error("probe.bad_json"),
        };
        let Some(event_time_us) = scepwatch_proto::time::parse_rfc3339(&probe.time) else {
            return stats.error("probe.bad_time");
        };
        let Some(endpoint) = scepwatch_proto::endpoint::normalize(&probe.url) else {
            return stats.error("probe.bad_url");
        };
        let status = probe.status.unwrap_or(0);
        let substatus = probe.substatus.unwrap_or(0);
        let error = probe.error.as_deref();
        let page = classify(
            status,
            substatus,
            probe.body.as_deref().unwrap_or(""),
            error,
        );
        let result = ProbeResult {
            via_app_proxy: scepwatch_proto::endpoint::is_app_proxy(&probe.url),
            url: probe.url.into_owned(),
            check: probe.check.into_owned(),
            status,
            substatus,
            page: page as i32,
            error: error.unwrap_or("").to_string(),
            elapsed_ms: u32::try_from(probe.elapsed_ms.unwrap_or(0)).unwrap_or(u32::MAX),
        };
        let mut event = ctx.envelope(offset, event_time_us, line);
        event.endpoint_id = endpoint;
        event.payload = Some(Payload::Probe(result));
        stats.saw_event(event_time_us);
        emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::v1::{Event, SourceId, SourceKind};

    fn parse(line: &str) -> (Vec<Event>, ParseStats) {
        parse_bytes(line.as_bytes())
    }

    fn parse_bytes(line: &[u8]) -> (Vec<Event>, ParseStats) {
        let source = SourceId {
            collector: "ndes01".into(),
            host: "ndes01".into(),
            kind: SourceKind::Probe as i32,
            path: "probe".into(),
            stream: String::new(),
        };
        let ctx = SourceContext::new(source, 0);
        let mut out = Vec::new();
        let mut stats = ParseStats::default();
        ProbeParser::default().line(&ctx, line, 0, &mut stats, &mut |e| out.push(e));
        (out, stats)
    }

    #[test]
    fn classifies_the_guides_pages() {
        use ProbePage as P;
        let general = "<html><body>Network Device Enrollment Service allows you to obtain certificates for routers or other network devices using the Simple Certificate Enrollment Protocol (SCEP).</body></html>";
        assert_eq!(
            classify(403, 0, "403 - Forbidden: Access is denied.", None),
            P::MscepForbidden
        );
        assert_eq!(classify(403, 4, "", None), P::Other);
        assert_eq!(classify(200, 0, general, None), P::NdesGeneralMessage);
        assert_eq!(classify(200, 0, "<html>hello</html>", None), P::Other);
        assert_eq!(
            classify(
                404,
                0,
                "<title>This page can\u{2019}t be displayed</title>",
                None
            ),
            P::AppProxyCannotDisplay
        );
        assert_eq!(
            classify(403, 0, "This corporate app can't be accessed", None),
            P::AppProxyCannotDisplay
        );
        assert_eq!(classify(504, 0, "", None), P::GatewayTimeout);
        assert_eq!(
            classify(502, 0, "{\"code\":\"GatewayTimeout\"}", None),
            P::GatewayTimeout
        );
        assert_eq!(
            classify(503, 0, "Service Unavailable", None),
            P::ServiceUnavailable
        );
        assert_eq!(classify(500, 0, "", None), P::InternalServerError);
        assert_eq!(classify(414, 0, "", None), P::UriTooLong);
        assert_eq!(classify(404, 15, "", None), P::UriTooLong);
        assert_eq!(
            classify(404, 0, "HTTP Error 404.15 - Not Found", None),
            P::UriTooLong
        );
        assert_eq!(classify(0, 0, "", Some("dns error")), P::NoResponse);
        assert_eq!(classify(302, 0, "", None), P::Other);
    }

    #[test]
    fn parses_a_line() {
        let (events, stats) = parse(
            r#"{"time":"2026-11-20T09:00:00Z","url":"https://NDES-contoso.msappproxy.net/certsrv/mscep/mscep.dll","check":"browse","status":403,"substatus":0,"body":"403 - Forbidden: Access is denied.","error":null,"elapsed_ms":41}"#,
        );
        assert_eq!(stats.events, 1);
        let e = &events[0];
        assert_eq!(
            e.endpoint_id,
            "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
        );
        let Some(Payload::Probe(p)) = &e.payload else {
            panic!()
        };
        assert_eq!(p.page, ProbePage::MscepForbidden as i32);
        assert!(p.via_app_proxy);
        assert_eq!((p.status, p.elapsed_ms), (403, 41));
    }

    #[test]
    fn counts_bad_lines() {
        assert_eq!(parse("{").1.errors.get("probe.bad_json"), Some(&1));
        assert_eq!(
            parse(r#"{"time":"2026-11-20T09:00:00Z","check":"browse"}"#)
                .1
                .errors
                .get("probe.bad_field"),
            Some(&1)
        );
        assert_eq!(
            parse(r#"{"time":"2026-11-20T09:00:00","url":"https://a/x","check":"browse"}"#)
                .1
                .errors
                .get("probe.bad_time"),
            Some(&1)
        );
        assert_eq!(
            parse(r#"{"time":"2026-11-20T09:00:00Z","url":"","check":"browse"}"#)
                .1
                .errors
                .get("probe.bad_url"),
            Some(&1)
        );
        assert_eq!(parse("   ").1.ignored, 1);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (_, stats) = parse_bytes(&line);
            prop_assert_eq!(stats.records, 1);
        }

        #[test]
        fn classify_is_total(status in any::<u32>(), sub in any::<u32>(), body in ".{0,100}") {
            let _ = classify(status, sub, &body, None);
        }
    }
}
