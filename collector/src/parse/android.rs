//! Android Company Portal OMADM log (the device side of an Android SCEP enrollment).
//!
//! One record per line, fields separated by runs of spaces or tabs:
//!
//! ```text
//! 2018-02-27T05:16:08.2500000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  18327    10  Sending GetCACaps(ca) to https://...
//! time                         level kind   component (Java class)                          pid     tid  message
//! ```
//!
//! Times have seven fractional digits and no zone: they are the device's local time, shifted by
//! [`SourceContext::utc_offset_secs`]. The `Event` column is optional. Messages come from the
//! Company Portal certificate manager and from jscep, the SCEP client library it uses; each
//! recognised message becomes one [`AndroidScep`] event ([`AndroidStep`] says which). Other
//! lines, including the continuation lines of stack traces, are counted as ignored.
//!
//! A `Received '<status>' when sending ...` line is always a `RECEIVED` step carrying the
//! status; when the status is not 2xx its `error` is set too, so it is the failure signal and
//! no second event is made for the same line.

use scepwatch_proto::time::{parse_iso8601, US_PER_SEC};
use scepwatch_proto::v1::{event::Payload, AndroidScep, AndroidStep, ScepOperation};

use super::{Emit, LineParser, ParseStats, SourceContext};

/// Longest URL kept in an event: PKIOperation GETs carry kilobytes of base64 in the query.
pub const MAX_URL: usize = 512;

/// Exceptions that say the device could not talk to the SCEP server at all.
const NETWORK_EXCEPTIONS: [&str; 6] = [
    "java.net.UnknownHostException",
    "java.net.SocketTimeoutException",
    "java.net.ConnectException",
    "javax.net.ssl.SSLHandshakeException",
    "javax.net.ssl.SSLPeerUnverifiedException",
    "org.jscep.transport.TransportException",
];

/// Parser of the Android Company Portal OMADM log. Stateless: every line stands alone.
#[derive(Debug, Default)]
pub struct AndroidParser {}

/// The fixed columns of one OMADM log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OmadmLine<'a> {
    /// Local time, as microseconds since the epoch read as if it were UTC.
    pub local_us: i64,
    /// Zone written in the timestamp, if any (the Company Portal writes none).
    pub zone_secs: Option<i32>,
    pub level: &'a str,
    pub component: &'a str,
    pub pid: u32,
    pub tid: u32,
    pub message: &'a str,
}

/// Why a line that starts like a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// The first column is not a timestamp.
    BadTime,
    /// A column after the time is missing or malformed.
    BadColumns,
}

/// Splits `line` into the OMADM columns.
pub(crate) fn split_line(line: &str) -> Result<OmadmLine<'_>, LineError> {
    let (time, rest) = next_field(line).ok_or(LineError::BadTime)?;
    // The Company Portal always writes a fraction; requiring it keeps other ISO-timestamped
    // logs from passing for this one.
    if !time.contains('.') {
        return Err(LineError::BadTime);
    }
    let (local_us, zone_secs) = parse_iso8601(time).ok_or(LineError::BadTime)?;
    let (level, rest) = next_field(rest).ok_or(LineError::BadColumns)?;
    if !level.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(LineError::BadColumns);
    }
    let (mut component, mut rest) = next_field(rest).ok_or(LineError::BadColumns)?;
    // The optional kind column ("Event") is a bare word; components are dotted class names.
    if !component.contains('.') {
        (component, rest) = next_field(rest).ok_or(LineError::BadColumns)?;
    }
    let (pid, rest) = next_field(rest).ok_or(LineError::BadColumns)?;
    let (tid, rest) = next_field(rest).ok_or(LineError::BadColumns)?;
    let pid = pid.parse().map_err(|_| LineError::BadColumns)?;
    let tid = tid.parse().map_err(|_| LineError::BadColumns)?;
    Ok(OmadmLine {
        local_us,
        zone_secs,
        level,
        component,
        pid,
        tid,
        message: rest.trim_matches([' ', '\t']),
    })
}

/// The next run of non-blank characters of `s` and what follows it.
pub(crate) fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() {
        return None;
    }
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    Some(s.split_at(end))
}

impl LineParser for AndroidParser {
    fn line(
        &mut self,
        ctx: &SourceContext,
        line: &[u8],
        offset: u64,
        stats: &mut ParseStats,
        emit: &mut Emit<'_>,
    ) {
        stats.records += 1;
        let text = String::from_utf8_lossy(line);
        // Only lines that start with a digit claim to be records; anything else is the tail
        // of a multi-line message (stack trace "at ..." lines, wrapped text).
        if !text.starts_with(|c: char| c.is_ascii_digit()) {
            stats.ignored += 1;
            return;
        }
        let record = match split_line(&text) {
            Ok(r) => r,
            Err(LineError::BadTime) => return stats.error("android.bad_time"),
            Err(LineError::BadColumns) => return stats.error("android.bad_line"),
        };
        let Some(scep) = read_message(&record) else {
            stats.ignored += 1;
            return;
        };
        let offset_secs = record.zone_secs.unwrap_or(ctx.utc_offset_secs);
        let event_time_us = record.local_us - i64::from(offset_secs) * US_PER_SEC;
        let mut event = ctx.envelope(offset, event_time_us, line);
        if let Some(endpoint) = scepwatch_proto::endpoint::normalize(&scep.url) {
            event.endpoint_id = endpoint;
        }
        event.payload = Some(Payload::Android(scep));
        stats.saw_event(event_time_us);
        emit(event);
    }
}

/// The SCEP step a record's message shows, or `None` for messages of no interest.
fn read_message(record: &OmadmLine<'_>) -> Option<AndroidScep> {
    let msg = record.message;
    let mut scep = AndroidScep {
        component: record.component.to_string(),
        process_id: record.pid,
        thread_id: record.tid,
        ..AndroidScep::default()
    };
    if let Some(count) = requests_pending(msg) {
        scep.step = AndroidStep::RequestsPending as i32;
        scep.request_count = count;
    } else if let Some(rest) = msg.strip_prefix("Trying to enroll certificate request:") {
        scep.step = AndroidStep::EnrollStart as i32;
        scep.model_name = between(rest, "ModelName=", ";")
            .unwrap_or("")
            .trim()
            .to_string();
    } else if let Some(rest) = msg.strip_prefix("Received '") {
        let (status, rest) = rest.split_once('\'')?;
        let code = leading_status_code(status);
        scep.step = AndroidStep::Received as i32;
        scep.http_status = status.to_string();
        scep.http_status_code = code.unwrap_or(0);
        let request = rest
            .trim_start()
            .strip_prefix("when sending ")
            .unwrap_or(rest);
        set_request(&mut scep, request);
        if !code.is_some_and(|c| (200..300).contains(&c)) {
            scep.error = format!("HTTP {status}");
        }
    } else if let Some(rest) = msg.strip_prefix("Sending ") {
        if rest.contains("CMSSignedData") {
            scep.step = AndroidStep::SendingPkiMessage as i32;
        } else if rest.contains(" to ") {
            scep.step = AndroidStep::Sending as i32;
            set_request(&mut scep, rest);
        } else {
            return None;
        }
    } else if let Some(rest) = msg.strip_prefix("Encoding message:") {
        scep.step = AndroidStep::Encoding as i32;
        scep.message_type = between(rest, "messageType=", ",").unwrap_or("").to_string();
        scep.sender_nonce = between(rest, "senderNonce=Nonce [", "]")
            .unwrap_or("")
            .to_string();
        scep.transaction_id = rest
            .split_once("transId=")
            .map(|(_, t)| t.split([',', ']']).next().unwrap_or(""))
            .unwrap_or("")
            .trim()
            .to_string();
    } else if let Some(rest) = msg.strip_prefix("Signing pkiMessage using key belonging to") {
        scep.step = AndroidStep::Signing as i32;
        let dn = rest.trim().strip_prefix("[dn=").unwrap_or("");
        let dn = match dn.rfind("; serial=") {
            Some(i) => dn.get(..i).unwrap_or(dn),
            None => dn.strip_suffix(']').unwrap_or(dn),
        };
        scep.signer_dn = dn.to_string();
    } else if is_failure(record) {
        scep.step = AndroidStep::Error as i32;
        scep.error = msg.to_string();
        if let Some(url) = find_url(msg) {
            scep.url = cut(url, MAX_URL).to_string();
            scep.operation = operation_of_url(url) as i32;
        }
        scep.http_status_code = exception_status(msg).unwrap_or(0);
    } else {
        return None;
    }
    Some(scep)
}

/// `N` of "There are N requests" / "There is 1 request".
fn requests_pending(msg: &str) -> Option<u32> {
    let rest = msg
        .strip_prefix("There are ")
        .or_else(|| msg.strip_prefix("There is "))?;
    let (n, word) = rest.split_once(' ')?;
    word.starts_with("request").then(|| n.parse().ok())?
}

/// Fills url and operation from `GetCACaps(ca) to https://...`.
fn set_request(scep: &mut AndroidScep, request: &str) {
    let (name, url) = match request.split_once(" to ") {
        Some((name, url)) => (name, url.split_whitespace().next().unwrap_or("")),
        None => (request, ""),
    };
    let mut operation = operation_of_url(url);
    if operation == ScepOperation::Unspecified {
        // jscep names the request object: "GetCACaps(ca)", "PkcsReq@1f2e...".
        let name = name.split(['(', '@', ' ']).next().unwrap_or("");
        operation = match scep_operation(name) {
            ScepOperation::Other if name.starts_with("PkcsReq") => ScepOperation::PkiOperation,
            op => op,
        };
    }
    scep.operation = operation as i32;
    scep.url = cut(url, MAX_URL).to_string();
}

/// A WARN/ERROR line of the SCEP stack, or any line of it naming an exception; or a line of
/// another component naming a network exception about the SCEP server.
fn is_failure(record: &OmadmLine<'_>) -> bool {
    let scep_component = record.component.starts_with("org.jscep")
        || record.component.contains(".certmgr.")
        || record.component.to_ascii_lowercase().contains("scep");
    let severe = ["ERROR", "WARN", "WARNING", "SEVERE", "FATAL"]
        .iter()
        .any(|l| record.level.eq_ignore_ascii_case(l));
    let msg = record.message;
    if scep_component {
        return severe || msg.contains("Exception");
    }
    NETWORK_EXCEPTIONS.iter().any(|e| msg.contains(e)) && {
        let lower = msg.to_ascii_lowercase();
        lower.contains("mscep") || lower.contains("scep")
    }
}

/// The HTTP status at the start of an exception text: jscep throws
/// `TransportException: 500 Internal Server Error` for a non-200 answer.
fn exception_status(msg: &str) -> Option<u32> {
    let (_, after) = msg.split_once("Exception: ")?;
    leading_status_code(after)
}

/// `200` of `200 OK`: three digits in 100..=599 followed by the end or a space.
fn leading_status_code(text: &str) -> Option<u32> {
    let digits = text.get(..3)?;
    let rest = text.get(3..)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    digits.parse().ok().filter(|c| (100..600).contains(c))
}

/// The text between `start` and the next `end` after it (or the end of `s`).
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, after) = s.split_once(start)?;
    Some(after.split_once(end).map_or(after, |(v, _)| v))
}

/// The first http(s) URL in `text`, without trailing punctuation.
pub(crate) fn find_url(text: &str) -> Option<&str> {
    let start = text.find("https://").or_else(|| text.find("http://"))?;
    let url = text.get(start..)?;
    let end = url
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
        .unwrap_or(url.len());
    Some(
        url.get(..end)?
            .trim_end_matches(['.', ',', ';', ')', ']', '}', '\\']),
    )
}

/// The value of query parameter `name` (case-insensitive) of `url`.
pub(crate) fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// The SCEP operation named by a URL's `operation=` parameter; `Unspecified` without one.
pub(crate) fn operation_of_url(url: &str) -> ScepOperation {
    query_param(url, "operation").map_or(ScepOperation::Unspecified, scep_operation)
}

/// The SCEP operation of an RFC 8894 operation name (case-insensitive); `Other` for an unknown
/// name, `Unspecified` for an empty one.
pub fn scep_operation(name: &str) -> ScepOperation {
    const KNOWN: [(&str, ScepOperation); 4] = [
        ("GetCACaps", ScepOperation::GetCaCaps),
        ("GetCACert", ScepOperation::GetCaCert),
        ("PKIOperation", ScepOperation::PkiOperation),
        ("GetNextCACert", ScepOperation::GetNextCaCert),
    ];
    if name.is_empty() {
        return ScepOperation::Unspecified;
    }
    KNOWN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(ScepOperation::Other, |(_, op)| *op)
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::v1::{Event, SourceId, SourceKind};

    const GUIDE: &str = "2018-02-27T05:16:08.2500000  VERB  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  18327    10  There are 1 requests";

    fn ctx() -> SourceContext {
        let source = SourceId {
            collector: "diagnose".into(),
            host: "pixel".into(),
            kind: SourceKind::AndroidOmadm as i32,
            path: "omadmlog.log".into(),
            stream: String::new(),
        };
        SourceContext::new(source, 0)
    }

    fn parse(line: &str) -> (Vec<Event>, ParseStats) {
        let mut out = Vec::new();
        let mut stats = ParseStats::default();
        AndroidParser::default().line(&ctx(), line.as_bytes(), 7, &mut stats, &mut |e| out.push(e));
        (out, stats)
    }

    fn scep(line: &str) -> AndroidScep {
        match parse(line).0.pop().and_then(|e| e.payload) {
            Some(Payload::Android(a)) => a,
            other => panic!("no android event for {line}: {other:?}"),
        }
    }

    #[test]
    fn splits_the_guide_line() {
        let r = split_line(GUIDE).unwrap();
        assert_eq!(r.level, "VERB");
        assert_eq!(
            r.component,
            "com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager"
        );
        assert_eq!((r.pid, r.tid), (18327, 10));
        assert_eq!(r.message, "There are 1 requests");
        assert_eq!(r.zone_secs, None);
    }

    #[test]
    fn requests_pending_and_time() {
        let (events, stats) = parse(GUIDE);
        let e = &events[0];
        assert_eq!(e.event_time_us, 1_519_708_568_250_000);
        assert_eq!(e.position, 7);
        assert_eq!(stats.events, 1);
        let a = scep(GUIDE);
        assert_eq!(a.step, AndroidStep::RequestsPending as i32);
        assert_eq!(a.request_count, 1);
    }

    #[test]
    fn local_time_is_shifted_by_the_context_offset() {
        let mut c = ctx();
        c.utc_offset_secs = -5 * 3600;
        let mut out = Vec::new();
        let mut stats = ParseStats::default();
        AndroidParser::default().line(&c, GUIDE.as_bytes(), 0, &mut stats, &mut |e| out.push(e));
        assert_eq!(
            out[0].event_time_us,
            1_519_708_568_250_000 + 5 * 3600 * US_PER_SEC
        );
    }

    #[test]
    fn received_non_2xx_carries_status_and_error() {
        let a = scep("2026-11-20T09:00:04.1000000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  4242    57  Received '504 Gateway Timeout' when sending GetCACaps(ca) to https://NDES-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca");
        assert_eq!(a.step, AndroidStep::Received as i32);
        assert_eq!(a.http_status, "504 Gateway Timeout");
        assert_eq!(a.http_status_code, 504);
        assert_eq!(a.operation, ScepOperation::GetCaCaps as i32);
        assert_eq!(a.error, "HTTP 504 Gateway Timeout");
        let ok = scep("2026-11-20T09:00:04.1000000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  4242    57  Received '200 OK' when sending GetCACert(ca) to https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation=GetCACert&message=ca");
        assert_eq!(ok.error, "");
        assert_eq!(ok.operation, ScepOperation::GetCaCert as i32);
    }

    #[test]
    fn url_steps_set_the_endpoint() {
        let (events, _) = parse("2018-02-27T05:16:09.5530000  VERB  Event  org.jscep.transport.UrlConnectionGetTransport  18327    10  Sending GetCACaps(ca) to https://NDES-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca");
        assert_eq!(
            events[0].endpoint_id,
            "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
        );
    }

    #[test]
    fn encoding_single_space_before_message() {
        let a = scep("2018-02-27T05:16:21.8220000  VERB  Event  org.jscep.message.PkiMessageEncoder  18327     10 Encoding message: org.jscep.message.PkcsReq@2b06f45f[messageData=org.x.pkcs.PKCS10CertificationRequest@699b3cd,messageType=PKCS_REQ,senderNonce=Nonce [D447AE9955E624A56A09D64E2B3AE76E],transId=251E592A777C82996C7CF96F3AAADCF996FC31FF]");
        assert_eq!(a.step, AndroidStep::Encoding as i32);
        assert_eq!(a.message_type, "PKCS_REQ");
        assert_eq!(a.sender_nonce, "D447AE9955E624A56A09D64E2B3AE76E");
        assert_eq!(a.transaction_id, "251E592A777C82996C7CF96F3AAADCF996FC31FF");
    }

    #[test]
    fn signing_and_pki_message() {
        let a = scep("2018-02-27T05:16:21.8790000  VERB  Event  org.jscep.message.PkiMessageEncoder  18327     10  Signing pkiMessage using key belonging to [dn=CN=alice; serial=1]");
        assert_eq!(a.signer_dn, "CN=alice");
        let b = scep("2018-02-27T05:16:21.9580000  VERB  Event  org.jscep.transaction.EnrollmentTransaction  18327     10  Sending org.spongycastle.cms.CMSSignedData@ad57775");
        assert_eq!(b.step, AndroidStep::SendingPkiMessage as i32);
    }

    #[test]
    fn exceptions_become_errors_with_status() {
        let a = scep("2026-11-20T09:00:04.2000000  ERROR  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  4242    57  Certificate enrollment failed: org.jscep.transport.TransportException: 500 Internal Server Error");
        assert_eq!(a.step, AndroidStep::Error as i32);
        assert_eq!(a.http_status_code, 500);
        let dns = scep("2026-11-20T09:00:04.2000000  WARN  Event  com.microsoft.omadm.network.Http  4242    57  java.net.UnknownHostException: Unable to resolve host for https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca");
        assert_eq!(dns.step, AndroidStep::Error as i32);
        assert_eq!(dns.operation, ScepOperation::GetCaCaps as i32);
        // The same exception about something else is not SCEP's business.
        let (events, stats) = parse("2026-11-20T09:00:04.2000000  WARN  Event  com.microsoft.omadm.network.Http  4242    57  java.net.UnknownHostException: Unable to resolve host \"telemetry.example\"");
        assert!(events.is_empty());
        assert_eq!(stats.ignored, 1);
    }

    #[test]
    fn stack_traces_and_other_lines_are_ignored() {
        for line in [
            "\tat org.jscep.transport.UrlConnectionGetTransport.sendRequest(UrlConnectionGetTransport.java:81)",
            "Caused by: java.net.SocketTimeoutException: timeout",
            "",
            "2018-02-27T05:16:08.2500000  INFO  Event  com.microsoft.omadm.Foo  1  2  Checking in",
        ] {
            let (events, stats) = parse(line);
            assert!(events.is_empty());
            assert_eq!((stats.ignored, stats.error_count()), (1, 0), "{line}");
        }
        assert_eq!(
            parse("2018-13-27T05:16:08.25  VERB")
                .1
                .errors
                .get("android.bad_time"),
            Some(&1)
        );
        assert_eq!(
            parse("2018-02-27T05:16:08.25  VERB  x.Y  pid  2  m")
                .1
                .errors
                .get("android.bad_line"),
            Some(&1)
        );
    }

    #[test]
    fn operation_names() {
        assert_eq!(scep_operation("getcacert"), ScepOperation::GetCaCert);
        assert_eq!(scep_operation("Frob"), ScepOperation::Other);
        assert_eq!(scep_operation(""), ScepOperation::Unspecified);
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(find_url("x https://a/b?c=d. y"), Some("https://a/b?c=d"));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut stats = ParseStats::default();
            AndroidParser::default().line(&ctx(), &line, 0, &mut stats, &mut |_| {});
            prop_assert_eq!(stats.records, 1);
        }

        #[test]
        fn mutated_records_never_panic(msg in ".{0,200}", level in "[A-Z]{0,6}", cut_at in 0usize..400) {
            let line = format!("2018-02-27T05:16:08.2500000  {level}  Event  org.jscep.transport.UrlConnectionGetTransport  1  2  {msg}");
            let line = line.as_bytes();
            let line = &line[..cut_at.min(line.len())];
            let mut stats = ParseStats::default();
            AndroidParser::default().line(&ctx(), line, 0, &mut stats, &mut |_| {});
            prop_assert_eq!(stats.records, 1);
        }
    }
}
