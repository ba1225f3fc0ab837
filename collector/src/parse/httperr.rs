//! HTTP.sys error log (`%SystemRoot%\System32\LogFiles\HTTPERR\httperr*.log`).
//!
//! HTTP.sys writes here what never reached IIS: requests it refused itself (`URL_Length`,
//! `Request_Length` and `FieldLength` for SCEP GETs longer than `MaxFieldLength` /
//! `MaxRequestBytes`, `BadRequest`), requests it could not hand to an application pool
//! (`AppOffline`, `QueueFull`, `ServiceUnavailable`, `AppPoolTimer`), and connections it closed
//! (`Timer_ConnectionIdle`, `Connection_Dropped`, `Connection_Abandoned_By_ReqQueue`).
//!
//! The format is W3C extended, like IIS's, with its own fixed field set announced by
//! `#Fields:` (`date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid
//! sc-status s-siteid s-reason s-queuename`; Windows versions before HTTP/2 support have no
//! `streamid`). The parser follows whatever `#Fields:` says; before the first one it takes
//! either documented set by the number of columns. Every data line becomes one event with an
//! [`HttpErrRecord`]; fields HTTP.sys did not know (`-`, e.g. the status of a connection timer
//! line) are empty or 0.

use memchr::memchr;
use scepwatch_proto::v1::{event::Payload, HttpErrRecord, IisTarget};

use super::iis::{
    classify_target, dash, date_us, num_u32, strip_prefix_ci, time_of_day_us, trim_end, Fields,
    LineText,
};
use super::{Emit, LineParser, ParseStats, SourceContext};

/// Longest `cs-uri` kept in [`HttpErrRecord::url`], in bytes.
pub const MAX_URL: usize = 512;

/// The field set of HTTP.sys on Windows Server 2016 and later.
pub const FIELDS_WITH_STREAM_ID: &str = "date time c-ip c-port s-ip s-port cs-version cs-method \
cs-uri streamid sc-status s-siteid s-reason s-queuename";

/// The field set of HTTP.sys before HTTP/2 support (no `streamid`).
pub const FIELDS_WITHOUT_STREAM_ID: &str = "date time c-ip c-port s-ip s-port cs-version \
cs-method cs-uri sc-status s-siteid s-reason s-queuename";

/// A column of an HTTPERR log that scepwatch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Date,
    Time,
    ClientIp,
    ClientPort,
    ServerIp,
    ServerPort,
    Version,
    Method,
    Uri,
    Status,
    SiteId,
    Reason,
    QueueName,
    /// `streamid` and anything else: counted, not kept.
    Other,
}

impl Field {
    fn from_name(name: &[u8]) -> Field {
        const NAMES: [(&[u8], Field); 13] = [
            (b"date", Field::Date),
            (b"time", Field::Time),
            (b"c-ip", Field::ClientIp),
            (b"c-port", Field::ClientPort),
            (b"s-ip", Field::ServerIp),
            (b"s-port", Field::ServerPort),
            (b"cs-version", Field::Version),
            (b"cs-method", Field::Method),
            (b"cs-uri", Field::Uri),
            (b"sc-status", Field::Status),
            (b"s-siteid", Field::SiteId),
            (b"s-reason", Field::Reason),
            (b"s-queuename", Field::QueueName),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Field::Other, |&(_, f)| f)
    }
}

fn layout_of(names: &[u8]) -> Vec<Field> {
    names
        .split(|b| b.is_ascii_whitespace())
        .filter(|n| !n.is_empty())
        .map(Field::from_name)
        .collect()
}

/// Streaming parser of an HTTPERR log; feed it lines in file order.
#[derive(Debug, Clone)]
pub struct HttpErrParser {
    /// Columns of the last `#Fields:` directive; `None` until one is seen.
    layout: Option<Vec<Field>>,
    with_stream_id: Vec<Field>,
    without_stream_id: Vec<Field>,
    /// Midnight (µs) of the last `#Date:` directive, for layouts without a `date` column.
    directive_day_us: Option<i64>,
}

impl Default for HttpErrParser {
    fn default() -> Self {
        HttpErrParser {
            layout: None,
            with_stream_id: layout_of(FIELDS_WITH_STREAM_ID.as_bytes()),
            without_stream_id: layout_of(FIELDS_WITHOUT_STREAM_ID.as_bytes()),
            directive_day_us: None,
        }
    }
}

impl HttpErrParser {
    /// Parse one line (without terminator) into its event time and record. `Ok(None)` for
    /// directives and blank lines; `Err(reason)` names a counter (`httperr.field_count`,
    /// `httperr.bad_time`, `httperr.no_time`, `httperr.bad_number`). Never panics.
    pub fn parse_record(
        &mut self,
        line: &[u8],
    ) -> Result<Option<(i64, HttpErrRecord)>, &'static str> {
        let line = trim_end(line);
        match line.first() {
            None => return Ok(None),
            Some(b'#') => {
                self.directive(line);
                return Ok(None);
            }
            Some(_) => {}
        }
        let columns: &[Field] = match &self.layout {
            Some(l) => l,
            // No header (a file cut from its top): the column count says which set it is.
            None if Fields::new(line).count() == self.with_stream_id.len() => &self.with_stream_id,
            None => &self.without_stream_id,
        };
        if !columns.contains(&Field::Time) {
            return Err("httperr.no_time");
        }

        // Validated once; each text field is then a copy of a slice of it.
        let text = LineText::new(line);
        let mut rec = HttpErrRecord::default();
        let (mut date, mut time, mut uri): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
        let mut numbers_ok = true;
        let mut u32_of = |v: &[u8]| {
            num_u32(v).unwrap_or_else(|| {
                numbers_ok = false;
                0
            })
        };
        let mut count = 0usize;
        for value in Fields::new(line) {
            let value = dash(value);
            let Some(&field) = columns.get(count) else {
                return Err("httperr.field_count");
            };
            count += 1;
            match field {
                Field::Date => date = value,
                Field::Time => time = value,
                Field::ClientIp => rec.client_ip = text.text(value),
                Field::ClientPort => rec.client_port = u32_of(value),
                Field::ServerIp => rec.server_ip = text.text(value),
                Field::ServerPort => rec.server_port = u32_of(value),
                Field::Version => rec.protocol_version = text.text(value),
                Field::Method => rec.method = text.text(value),
                Field::Uri => uri = value,
                Field::Status => rec.status = u32_of(value),
                Field::SiteId => rec.site_id = text.text(value),
                Field::Reason => rec.reason = text.text(value),
                Field::QueueName => rec.queue_name = text.text(value),
                Field::Other => {}
            }
        }
        // A wrong count shifts every column, which also explains any bad number.
        if count != columns.len() {
            return Err("httperr.field_count");
        }
        if !numbers_ok {
            return Err("httperr.bad_number");
        }
        let day_us = if columns.contains(&Field::Date) {
            date_us(date).ok_or("httperr.bad_time")?
        } else {
            self.directive_day_us.ok_or("httperr.no_time")?
        };
        let time_us = day_us + time_of_day_us(time).ok_or("httperr.bad_time")?;

        rec.url = text.text_cut(uri, MAX_URL);
        rec.url_length = u32::try_from(uri.len()).unwrap_or(u32::MAX);
        rec.target = if uri.is_empty() {
            IisTarget::Unspecified
        } else {
            classify_target(path_of(uri))
        } as i32;
        Ok(Some((time_us, rec)))
    }

    fn directive(&mut self, line: &[u8]) {
        if let Some(names) = strip_prefix_ci(line, b"#Fields:") {
            self.layout = Some(layout_of(names));
        } else if let Some(value) = strip_prefix_ci(line, b"#Date:") {
            let value = value.trim_ascii_start();
            self.directive_day_us = value.get(..10).and_then(date_us);
        }
    }
}

impl LineParser for HttpErrParser {
    fn line(
        &mut self,
        ctx: &SourceContext,
        line: &[u8],
        offset: u64,
        stats: &mut ParseStats,
        emit: &mut Emit<'_>,
    ) {
        stats.records += 1;
        match self.parse_record(line) {
            Ok(Some((time_us, record))) => {
                let mut event = ctx.envelope(offset, time_us, line);
                event.payload = Some(Payload::Httperr(record));
                stats.saw_event(time_us);
                emit(event);
            }
            Ok(None) => stats.ignored += 1,
            Err(reason) => stats.error(reason),
        }
    }
}

/// The path of a `cs-uri`: HTTP.sys logs the request target as sent, which is usually
/// `/path?query` but may be an absolute URL (`https://host/path?query`).
fn path_of(uri: &[u8]) -> &[u8] {
    let after_scheme =
        strip_prefix_ci(uri, b"https://").or_else(|| strip_prefix_ci(uri, b"http://"));
    let path = match after_scheme {
        Some(rest) => match memchr(b'/', rest) {
            Some(i) => rest.get(i..).unwrap_or_default(),
            None => b"/",
        },
        None => uri,
    };
    match memchr(b'?', path) {
        Some(i) => path.get(..i).unwrap_or_default(),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::time::civil_to_us;
    use scepwatch_proto::v1::{Event, SourceId, SourceKind};

    fn ctx() -> SourceContext {
        SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "ndes01".into(),
                kind: SourceKind::Httperr as i32,
                path: r"C:\Windows\System32\LogFiles\HTTPERR\httperr1.log".into(),
                stream: String::new(),
            },
            0,
        )
    }

    fn run(input: &[u8]) -> (Vec<Event>, ParseStats) {
        let mut events = Vec::new();
        let stats =
            super::super::parse_stream(super::super::Format::HttpErr, &ctx(), input, &mut |e| {
                events.push(e)
            })
            .unwrap();
        (events, stats)
    }

    fn rec(e: &Event) -> &HttpErrRecord {
        match &e.payload {
            Some(Payload::Httperr(r)) => r,
            other => panic!("not an HTTPERR payload: {other:?}"),
        }
    }

    const HEADER: &str = "#Software: Microsoft HTTP API 2.0\n#Version: 1.0\n#Date: 2026-11-20 08:00:00\n#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid s-reason s-queuename\n";

    #[test]
    fn url_length_on_long_scep_get() {
        let message = "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgMFADCABgkqhkiG9w0BBwGggCSABIIZfzCABgkqhkiG9w0BBwOggDCAAgEAMYIBgjCCAX4CAQAwZjBP".repeat(20);
        let input = format!("{HEADER}2026-11-20 08:15:42 203.0.113.17 51234 10.0.0.5 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll/pkiclient.exe?operation=PKIOperation&message={message} - 414 - URL_Length -\n");
        let (events, stats) = run(input.as_bytes());
        assert_eq!(stats.ignored, 4);
        assert_eq!(stats.error_count(), 0);
        let r = rec(&events[0]);
        assert_eq!(
            events[0].event_time_us,
            civil_to_us(2026, 11, 20, 8, 15, 42, 0).unwrap()
        );
        assert_eq!(r.status, 414);
        assert_eq!(r.reason, "URL_Length");
        assert_eq!(r.client_ip, "203.0.113.17");
        assert_eq!((r.client_port, r.server_port), (51234, 443));
        assert_eq!(r.protocol_version, "HTTP/1.1");
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, IisTarget::Mscep as i32);
        assert_eq!(r.url.len(), MAX_URL);
        assert_eq!(
            r.url_length as usize,
            "/certsrv/mscep/mscep.dll/pkiclient.exe?operation=PKIOperation&message=".len()
                + message.len()
        );
        assert_eq!((r.site_id.as_str(), r.queue_name.as_str()), ("", ""));
    }

    #[test]
    fn connection_timer_lines_have_no_request() {
        let input = format!("{HEADER}2026-11-20 08:16:00 fe80::f53d:89b8:c3e8:5fec%13 50110 fe80::1%13 443 - - - - - - Timer_ConnectionIdle -\n");
        let (events, _) = run(input.as_bytes());
        let r = rec(&events[0]);
        assert_eq!(r.status, 0);
        assert_eq!(r.reason, "Timer_ConnectionIdle");
        assert_eq!(r.client_ip, "fe80::f53d:89b8:c3e8:5fec%13");
        assert_eq!(r.target, IisTarget::Unspecified as i32);
        assert_eq!((r.url.as_str(), r.url_length), ("", 0));
    }

    #[test]
    fn app_pool_down_is_503_with_queue_name() {
        let input = format!("{HEADER}2026-11-20 08:17:00 10.1.2.3 50111 10.0.0.5 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca - 503 1 AppOffline SCEP\n\
2026-11-20 08:17:01 10.1.2.3 50112 10.0.0.5 443 HTTP/2.0 GET /certsrv/mscep/mscep.dll?operation=GetCACert&message=ca 3 503 1 QueueFull SCEP\n\
2026-11-20 08:17:02 10.1.2.3 50113 10.0.0.5 443 HTTP/1.1 POST /CertificateRegistrationSvc/Certificate.svc - 503 1 ServiceUnavailable CertificateRegistrationSvc\n");
        let (events, stats) = run(input.as_bytes());
        assert_eq!(stats.events, 3);
        let reasons: Vec<_> = events.iter().map(|e| rec(e).reason.as_str()).collect();
        assert_eq!(reasons, ["AppOffline", "QueueFull", "ServiceUnavailable"]);
        assert!(events.iter().all(|e| rec(e).status == 503));
        assert_eq!(rec(&events[0]).queue_name, "SCEP");
        assert_eq!(rec(&events[0]).site_id, "1");
        assert_eq!(
            rec(&events[2]).target,
            IisTarget::CertRegistrationSvc as i32
        );
    }

    #[test]
    fn older_files_without_streamid_follow_their_fields() {
        let input = b"#Software: Microsoft HTTP API 2.0\n#Version: 1.0\n#Date: 2018-02-27 05:16:00\n#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri sc-status s-siteid s-reason s-queuename\n\
2018-02-27 05:16:21 10.1.2.3 50114 10.0.0.5 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=PKIOperation&message=MIAG 400 - FieldLength -\n\
2018-02-27 05:16:22 10.1.2.3 50115 10.0.0.5 443 HTTP/1.1 GET https://ndes.contoso.com/certsrv/mscep_admin/ 400 - BadRequest -\n";
        let (events, stats) = run(input);
        assert_eq!(stats.error_count(), 0, "{stats:?}");
        assert_eq!(rec(&events[0]).reason, "FieldLength");
        assert_eq!(rec(&events[0]).status, 400);
        assert_eq!(rec(&events[1]).target, IisTarget::MscepAdmin as i32);
    }

    #[test]
    fn headerless_lines_pick_the_set_by_column_count() {
        let input = b"2026-11-20 08:17:00 10.1.2.3 50111 10.0.0.5 443 HTTP/1.1 GET /x - 400 - BadRequest -\n\
2026-11-20 08:17:00 10.1.2.3 50111 10.0.0.5 443 HTTP/1.1 GET /x 400 - Request_Length -\n\
2026-11-20 08:17:00 10.1.2.3 50111 10.0.0.5 443 HTTP/1.1 GET /x 400 Request_Length -\n";
        let (events, stats) = run(input);
        assert_eq!(events.len(), 2);
        assert_eq!(rec(&events[1]).reason, "Request_Length");
        assert_eq!(stats.errors.get("httperr.field_count"), Some(&1));
    }

    #[test]
    fn counted_errors() {
        let input = format!("{HEADER}2026-13-20 08:17:00 10.1.2.3 50111 10.0.0.5 443 HTTP/1.1 GET /x - 400 - BadRequest -\n\
2026-11-20 08:17:00 10.1.2.3 port 10.0.0.5 443 HTTP/1.1 GET /x - 400 - BadRequest -\n\
2026-11-20 08:17:00 10.1.2.3 1 10.0.0.5 443 HTTP/1.1 GET /x - 400 - BadRequest - extra\n\
#Fields: c-ip s-reason\n\
10.1.2.3 Connection_Dropped\n");
        let (events, stats) = run(input.as_bytes());
        assert!(events.is_empty());
        assert_eq!(stats.errors.get("httperr.bad_time"), Some(&1));
        assert_eq!(stats.errors.get("httperr.bad_number"), Some(&1));
        assert_eq!(stats.errors.get("httperr.field_count"), Some(&1));
        assert_eq!(stats.errors.get("httperr.no_time"), Some(&1));
    }

    #[test]
    fn paths() {
        assert_eq!(path_of(b"/a/b?c=d"), b"/a/b");
        assert_eq!(path_of(b"HTTPS://h:443/a?x"), b"/a");
        assert_eq!(path_of(b"http://h"), b"/");
        assert_eq!(path_of(b"*"), b"*");
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..8)) {
            let mut p = HttpErrParser::default();
            let mut stats = ParseStats::default();
            for l in &lines {
                p.line(&ctx(), l, 0, &mut stats, &mut |_| {});
            }
            prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
        }

        #[test]
        fn generated_lines_round_trip(
            status in prop::option::of(100u32..600),
            reason in prop::sample::select(vec!["URL_Length", "Request_Length", "FieldLength", "AppOffline", "QueueFull", "AppPoolTimer", "Connection_Abandoned_By_ReqQueue", "Connection_Dropped", "Timer_ConnectionIdle", "ServiceUnavailable", "BadRequest"]),
            path in prop::sample::select(vec!["/certsrv/mscep/mscep.dll", "/certsrv/mscep_admin/", "/CertificateRegistrationSvc/Certificate.svc", "/"]),
            query_len in 0usize..3000,
            port in any::<u16>(),
        ) {
            let uri = if query_len == 0 { path.to_string() } else { format!("{path}?operation=PKIOperation&message={}", "A".repeat(query_len)) };
            let st = status.map_or("-".to_string(), |s| s.to_string());
            let line = format!("2026-11-20 08:17:00 10.1.2.3 {port} 10.0.0.5 443 HTTP/1.1 GET {uri} - {st} 1 {reason} SCEP");
            let mut p = HttpErrParser::default();
            let (_, r) = p.parse_record(line.as_bytes()).unwrap().unwrap();
            prop_assert_eq!(r.status, status.unwrap_or(0));
            prop_assert_eq!(r.reason.as_str(), reason);
            prop_assert_eq!(r.client_port, u32::from(port));
            prop_assert_eq!(r.url_length as usize, uri.len());
            prop_assert!(r.url.len() <= MAX_URL);
            prop_assert_eq!(r.target, classify_target(path.as_bytes()) as i32);
        }
    }
}
