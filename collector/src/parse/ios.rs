//! iOS / iPadOS / macOS console logs of `profiled` (the device side of an Apple SCEP
//! enrollment).
//!
//! Three line shapes are read, fields separated by runs of spaces or tabs:
//!
//! ```text
//! debug    18:30:53.691033 -0500    profiled    Performing synchronous URL request: https://...     (the guide; no date)
//! default<TAB>18:30:55.483977-0500<TAB>profiled<TAB>Attempting to retrieve issued certificate...   (Console.app copy; no date)
//! 2026-11-20 18:30:53.691033-0500  0x1a2b3c  Debug  0x0  312  0    profiled: [com.apple.ManagedClient:SCEP] Performing ...   (`log show`)
//! ```
//!
//! `log show --style compact` lines (`2026-11-20 18:30:53.691 Df profiled[312:1a2b] ...`) are read
//! too. Lines without a date take it from [`SourceContext::date_hint`] and move to the next day
//! when the clock goes back by more than twelve hours (a log that runs past midnight); without a
//! hint they cannot be placed in time and are counted as `ios.no_date`. Copies from web pages
//! end lines in a stray `\` and blanks: both are dropped.
//!
//! Only lines of the processes that enroll (`profiled`, `mdmclient`, `ManagedClient`, `dmd`)
//! count; each recognised message becomes one [`IosScep`] event. On PKIOperation requests the
//! `message=` parameter is handed to the SCEP decoder, which reports what a cut line lacks.

use scepwatch_proto::time::{days_from_civil, parse_iso8601, US_PER_SEC};
use scepwatch_proto::v1::{event::Payload, IosScep, IosStep, ScepOperation};

use super::android::{cut, find_url, next_field, operation_of_url, query_param, MAX_URL};
use super::{Emit, LineParser, ParseStats, SourceContext};

/// Seconds in a day.
const DAY_SECS: i64 = 86_400;

/// Message types of the unified log that start a Console line. (`log show` also prints
/// `Activity`, but only in its dated shape; its summary line starts with that word.)
const LEVELS: [&str; 6] = ["default", "debug", "info", "error", "fault", "notice"];

/// Parser of iOS/macOS console text. Keeps the last dateless time seen, to follow a log across
/// midnight.
#[derive(Debug, Default)]
pub struct IosParser {
    /// Seconds of day of the last dateless record.
    last_secs: Option<i64>,
    /// Days added to the date hint so far.
    day_shift: i64,
}

/// The columns of one console line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsoleLine<'a> {
    /// Days since the epoch, when the line carries a date.
    pub days: Option<i64>,
    /// Local seconds of the day and microseconds.
    pub secs: i64,
    pub micros: u32,
    /// Zone offset written on the line, in seconds.
    pub zone_secs: Option<i32>,
    pub level: &'a str,
    pub process: &'a str,
    pub message: &'a str,
}

/// Why a line that starts like a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Neither a level word nor a date starts the line: not a record (a continuation line, the
    /// `log show` header or summary).
    NotRecord,
    /// The time column is malformed.
    BadTime,
    /// A column after the time is missing.
    BadColumns,
}

/// Splits a console line into its columns.
pub(crate) fn split_line(line: &str) -> Result<ConsoleLine<'_>, LineError> {
    let (first, rest) = next_field(line).ok_or(LineError::NotRecord)?;
    if looks_like_date(first) {
        return split_log_show(first, rest);
    }
    if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(first)) {
        return Err(LineError::NotRecord);
    }
    let (mut time, mut rest) = next_field(rest).ok_or(LineError::BadTime)?;
    let mut days = None;
    if looks_like_date(time) {
        days = Some(date_days(time).ok_or(LineError::BadTime)?);
        (time, rest) = next_field(rest).ok_or(LineError::BadTime)?;
    }
    let (secs, micros, mut zone_secs) = parse_time(time).ok_or(LineError::BadTime)?;
    let (mut process, mut rest2) = next_field(rest).ok_or(LineError::BadColumns)?;
    if zone_secs.is_none() {
        if let Some(z) = parse_zone(process) {
            zone_secs = Some(z);
            (process, rest2) = next_field(rest2).ok_or(LineError::BadColumns)?;
        }
    }
    Ok(ConsoleLine {
        days,
        secs,
        micros,
        zone_secs,
        level: first,
        process: process_name(process),
        message: clean_message(rest2),
    })
}

/// `log show` default style (`date time+zone thread type activity pid ttl process: msg`) or
/// compact style (`date time type process[pid:tid] msg`).
fn split_log_show<'a>(date: &str, rest: &'a str) -> Result<ConsoleLine<'a>, LineError> {
    let days = date_days(date).ok_or(LineError::BadTime)?;
    let (time, rest) = next_field(rest).ok_or(LineError::BadTime)?;
    let (secs, micros, zone_secs) = parse_time(time).ok_or(LineError::BadTime)?;
    let (second, after) = next_field(rest).ok_or(LineError::BadColumns)?;
    let (level, process, message) = if second.starts_with("0x") {
        let (level, after) = next_field(after).ok_or(LineError::BadColumns)?;
        let (_activity, after) = next_field(after).ok_or(LineError::BadColumns)?;
        let (_pid, after) = next_field(after).ok_or(LineError::BadColumns)?;
        let (_ttl, after) = next_field(after).ok_or(LineError::BadColumns)?;
        let after = after.trim_start_matches([' ', '\t']);
        let (process, message) = after.split_once(':').ok_or(LineError::BadColumns)?;
        (level, process, message)
    } else {
        let (process, message) = next_field(after).ok_or(LineError::BadColumns)?;
        // Compact style always writes `process[pid:tid]`; requiring it keeps other
        // date-time-prefixed logs (IIS without its header) from passing for this one.
        if !(process.contains('[') && process.ends_with(']')) {
            return Err(LineError::BadColumns);
        }
        (second, process, message)
    };
    Ok(ConsoleLine {
        days: Some(days),
        secs,
        micros,
        zone_secs,
        level,
        process: process_name(process),
        message: clean_message(strip_subsystem(message)),
    })
}

fn looks_like_date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') && s.as_bytes().get(7) == Some(&b'-')
}

/// Days since the epoch of `YYYY-MM-DD`.
fn date_days(s: &str) -> Option<i64> {
    let (us, _) = parse_iso8601(&format!("{s}T00:00:00"))?;
    Some(us.div_euclid(DAY_SECS * US_PER_SEC))
}

/// `HH:MM:SS[.ffffff][±HHMM]` → (seconds of day, microseconds, zone).
fn parse_time(s: &str) -> Option<(i64, u32, Option<i32>)> {
    let zone_at = s.find(['+', '-']).unwrap_or(s.len());
    let (clock, zone) = s.split_at(zone_at);
    let zone_secs = if zone.is_empty() {
        None
    } else {
        Some(parse_zone(zone)?)
    };
    let (us, _) = parse_iso8601(&format!("1970-01-01T{clock}"))?;
    let secs = us.div_euclid(US_PER_SEC);
    // A leap second would roll into tomorrow; the day is fixed by the date column instead.
    if secs >= DAY_SECS {
        return None;
    }
    Some((
        secs,
        u32::try_from(us.rem_euclid(US_PER_SEC)).ok()?,
        zone_secs,
    ))
}

/// `-0500` / `+05:30` → seconds east of UTC.
fn parse_zone(s: &str) -> Option<i32> {
    let (_, zone) = parse_iso8601(&format!("1970-01-01T00:00:00{s}"))?;
    zone
}

/// `profiled`, `profiled[312:1a2b]`, `profiled:` → `profiled`.
fn process_name(token: &str) -> &str {
    let token = token.trim_end_matches(':');
    token.split('[').next().unwrap_or(token)
}

/// Drops the `(Library)` and `[subsystem:category]` prefixes `log show` puts before a message.
fn strip_subsystem(message: &str) -> &str {
    let mut m = message.trim_start_matches([' ', '\t']);
    for (open, close) in [('(', ')'), ('[', ']')] {
        if m.starts_with(open) {
            if let Some(end) = m.find(close) {
                m = m
                    .get(end + 1..)
                    .unwrap_or("")
                    .trim_start_matches([' ', '\t']);
            }
        }
    }
    m
}

/// Trims blanks and the stray `\` that copies from web pages leave at line ends.
fn clean_message(message: &str) -> &str {
    message
        .trim_matches([' ', '\t'])
        .trim_end_matches('\\')
        .trim_end_matches([' ', '\t'])
}

/// True for the processes that take part in SCEP enrollment.
pub(crate) fn is_enrollment_process(name: &str) -> bool {
    ["profiled", "mdmclient", "dmd"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
        || name.to_ascii_lowercase().starts_with("managedclient")
}

impl IosParser {
    /// Event time of a record, or `None` when it has no date and the context gives none.
    fn event_time(&mut self, ctx: &SourceContext, rec: &ConsoleLine<'_>) -> Option<i64> {
        let days = match rec.days {
            Some(d) => d,
            None => {
                let (y, m, d) = ctx.date_hint?;
                if let Some(last) = self.last_secs {
                    if rec.secs + DAY_SECS / 2 < last {
                        self.day_shift += 1;
                    }
                }
                self.last_secs = Some(rec.secs);
                // Validates the hint's fields as well.
                scepwatch_proto::time::civil_to_us(y, m, d, 0, 0, 0, 0)?;
                days_from_civil(y, m, d) + self.day_shift
            }
        };
        let zone = rec.zone_secs.unwrap_or(ctx.utc_offset_secs);
        let local = (days * DAY_SECS + rec.secs) * US_PER_SEC + i64::from(rec.micros);
        Some(local - i64::from(zone) * US_PER_SEC)
    }
}

impl LineParser for IosParser {
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
        let rec = match split_line(&text) {
            Ok(r) => r,
            Err(LineError::NotRecord) => {
                stats.ignored += 1;
                return;
            }
            Err(LineError::BadTime) => return stats.error("ios.bad_time"),
            Err(LineError::BadColumns) => return stats.error("ios.bad_line"),
        };
        if !is_enrollment_process(rec.process) {
            stats.ignored += 1;
            return;
        }
        let Some(scep) = read_message(&rec) else {
            stats.ignored += 1;
            return;
        };
        let Some(event_time_us) = self.event_time(ctx, &rec) else {
            return stats.error("ios.no_date");
        };
        let mut event = ctx.envelope(offset, event_time_us, line);
        if let Some(endpoint) = scepwatch_proto::endpoint::normalize(&scep.url) {
            event.endpoint_id = endpoint;
        }
        event.payload = Some(Payload::Ios(scep));
        stats.saw_event(event_time_us);
        emit(event);
    }
}

/// The SCEP step a message shows, or `None` for messages of no interest.
fn read_message(rec: &ConsoleLine<'_>) -> Option<IosScep> {
    let msg = rec.message;
    let mut scep = IosScep {
        process: rec.process.to_string(),
        ..IosScep::default()
    };
    if let Some((_, after)) = msg
        .split_once("URL request:")
        .filter(|_| msg.contains("Performing"))
    {
        let url = find_url(after).unwrap_or("");
        scep.step = IosStep::UrlRequest as i32;
        set_url(&mut scep, url);
        if scep.operation == ScepOperation::PkiOperation as i32 {
            if let Some(message) = query_param(url, "message").filter(|m| !m.is_empty()) {
                scep.scep = Some(crate::scep::decode_url_param(message.as_bytes()));
            }
        }
    } else if msg.starts_with("Attempting to retrieve issued certificate") {
        scep.step = IosStep::RetrieveIssued as i32;
    } else if msg.starts_with("Sending CSR via GET") {
        scep.step = IosStep::SendingCsrGet as i32;
    } else if msg.starts_with("Sending CSR via POST") {
        scep.step = IosStep::SendingCsrPost as i32;
    } else if is_failure(rec) {
        scep.step = IosStep::Error as i32;
        scep.error = msg.to_string();
        scep.http_status_code = http_status(msg).unwrap_or(0);
        if let Some(url) = find_url(msg) {
            set_url(&mut scep, url);
        }
    } else {
        return None;
    }
    Some(scep)
}

fn set_url(scep: &mut IosScep, url: &str) {
    scep.url = cut(url, MAX_URL).to_string();
    scep.operation = operation_of_url(url) as i32;
}

/// A failure reported about SCEP or the certificate request.
fn is_failure(rec: &ConsoleLine<'_>) -> bool {
    const FAILURE_WORDS: [&str; 12] = [
        "error",
        "fail",
        "invalid",
        "could not",
        "couldn't",
        "unable",
        "returned http status",
        "timed out",
        "denied",
        "rejected",
        "cannot",
        "can't",
    ];
    let lower = rec.message.to_ascii_lowercase();
    let about_scep = lower.contains("scep") || lower.contains("certificate");
    let network = lower.contains("nsurlerrordomain")
        && (rec.process.eq_ignore_ascii_case("profiled") || lower.contains("mscep"));
    let severe = ["error", "fault"]
        .iter()
        .any(|l| rec.level.eq_ignore_ascii_case(l));
    network || (about_scep && (severe || FAILURE_WORDS.iter().any(|w| lower.contains(w))))
}

/// The HTTP status a failure message names: `HTTP status 500`, `status code: 503`, `HTTP 414`.
fn http_status(msg: &str) -> Option<u32> {
    let lower = msg.to_ascii_lowercase();
    for keyword in ["status", "http"] {
        for (at, _) in lower.match_indices(keyword) {
            let after = lower.get(at + keyword.len()..).unwrap_or("");
            let gap = after
                .find(|c: char| !(c.is_ascii_alphabetic() || matches!(c, ' ' | ':' | '=')))
                .unwrap_or(after.len());
            // Only short connecting words ("code", ":") between keyword and number.
            if gap > 8 {
                continue;
            }
            let digits = after.get(gap..).unwrap_or("");
            let n = digits.bytes().take_while(u8::is_ascii_digit).count();
            if n == 3 {
                if let Some(code) = digits.get(..3).and_then(|d| d.parse::<u32>().ok()) {
                    if (100..600).contains(&code) {
                        return Some(code);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::v1::{Event, SourceId, SourceKind};

    const GUIDE_CACERT: &str = "debug    18:30:53.691033 -0500    profiled    Performing synchronous URL request: https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACert&message=SCEP%20Authority\\ ";

    fn ctx(hint: Option<(i64, u32, u32)>) -> SourceContext {
        let source = SourceId {
            collector: "diagnose".into(),
            host: "iphone".into(),
            kind: SourceKind::IosConsole as i32,
            path: "profiled.log".into(),
            stream: String::new(),
        };
        let mut c = SourceContext::new(source, 0);
        c.date_hint = hint;
        c
    }

    fn parse_all(lines: &[&str], hint: Option<(i64, u32, u32)>) -> (Vec<Event>, ParseStats) {
        let c = ctx(hint);
        let mut p = IosParser::default();
        let mut out = Vec::new();
        let mut stats = ParseStats::default();
        for (i, l) in lines.iter().enumerate() {
            p.line(&c, l.as_bytes(), i as u64, &mut stats, &mut |e| out.push(e));
        }
        (out, stats)
    }

    fn ios(e: &Event) -> &IosScep {
        match &e.payload {
            Some(Payload::Ios(i)) => i,
            other => panic!("not ios: {other:?}"),
        }
    }

    #[test]
    fn guide_line_with_date_hint() {
        let (events, stats) = parse_all(&[GUIDE_CACERT], Some((2026, 11, 20)));
        assert_eq!(stats.events, 1);
        let e = &events[0];
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(e.event_time_us),
            "2026-11-20T23:30:53.691033Z"
        );
        assert_eq!(
            e.endpoint_id,
            "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
        );
        let i = ios(e);
        assert_eq!(i.step, IosStep::UrlRequest as i32);
        assert_eq!(i.operation, ScepOperation::GetCaCert as i32);
        assert!(i.url.ends_with("message=SCEP%20Authority"), "{}", i.url);
        assert!(i.scep.is_none());
    }

    #[test]
    fn no_date_is_counted() {
        let (events, stats) = parse_all(&[GUIDE_CACERT], None);
        assert!(events.is_empty());
        assert_eq!(stats.errors.get("ios.no_date"), Some(&1));
    }

    #[test]
    fn console_copy_and_log_show_shapes() {
        let (events, stats) = parse_all(
            &[
                "default\t18:30:55.483977-0500\tprofiled\tAttempting to retrieve issued certificate...",
                "2026-11-20 18:30:55.487798-0500  0x1a2b3c   Debug       0x0                  312    0    profiled: [com.apple.ManagedClient:SCEP] Sending CSR via POST.",
                "2026-11-20 18:30:55.487 Df profiled[312:1a2b] (ManagedClient) [com.apple.ManagedClient:SCEP] Sending CSR via GET.",
                "Timestamp                       Thread     Type        Activity             PID    TTL  ",
            ],
            Some((2026, 11, 20)),
        );
        assert_eq!(stats.events, 3, "{stats:?}");
        assert_eq!(stats.ignored, 1);
        let steps: Vec<i32> = events.iter().map(|e| ios(e).step).collect();
        assert_eq!(
            steps,
            [
                IosStep::RetrieveIssued as i32,
                IosStep::SendingCsrPost as i32,
                IosStep::SendingCsrGet as i32
            ]
        );
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[1].event_time_us),
            "2026-11-20T23:30:55.487798Z"
        );
        // Compact style has no zone: the context's offset (UTC here) applies.
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[2].event_time_us),
            "2026-11-20T18:30:55.487000Z"
        );
    }

    #[test]
    fn pki_operation_goes_to_the_decoder() {
        let line = "debug    18:30:55.487908 -0500    profiled    Performing synchronous URL request: https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=PKIOperation&message=MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgMFADCABgkqhkiG9w0BBwGggCSABIIZfzCABgkqhkiG9w0BBwOggDCAAgEAMYIBgjCCAX4CAQAwZjBPMRUwEwYKCZImiZPyLGQBGRYFbG9jYWwx";
        let (events, _) = parse_all(&[line], Some((2026, 11, 20)));
        let i = ios(&events[0]);
        assert_eq!(i.operation, ScepOperation::PkiOperation as i32);
        assert!(i.scep.is_some());
        assert!(i.url.len() <= MAX_URL);
    }

    #[test]
    fn failures_with_and_without_status() {
        let (events, stats) = parse_all(
            &[
                "error    18:31:02.100000 -0500    profiled    SCEP server returned HTTP status 500",
                "default    18:31:02.200000 -0500    profiled    Profile installation failed: The SCEP server returned an invalid response.",
                "error    18:31:02.300000 -0500    profiled    Could not retrieve certificate: Error Domain=NSURLErrorDomain Code=-1001 \"The request timed out.\"",
                "error    18:31:02.400000 -0500    SpringBoard    SCEP server returned HTTP status 500",
                "default    18:31:02.500000 -0500    profiled    Installed certificate payload.",
            ],
            Some((2026, 11, 20)),
        );
        assert_eq!(events.len(), 3);
        assert_eq!(stats.ignored, 2);
        assert_eq!(ios(&events[0]).http_status_code, 500);
        assert_eq!(ios(&events[1]).http_status_code, 0);
        assert!(ios(&events[2]).error.contains("-1001"));
        assert!(events.iter().all(|e| ios(e).step == IosStep::Error as i32));
    }

    #[test]
    fn follows_a_log_past_midnight() {
        let (events, _) = parse_all(
            &[
                "debug    23:59:59.000000 -0500    profiled    Sending CSR via GET.",
                "debug    00:00:01.000000 -0500    profiled    Sending CSR via GET.",
            ],
            Some((2026, 11, 20)),
        );
        assert_eq!(
            events[1].event_time_us - events[0].event_time_us,
            2 * US_PER_SEC
        );
    }

    #[test]
    fn status_extraction() {
        assert_eq!(
            http_status("HTTP status code: 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(http_status("returned HTTP 414"), Some(414));
        assert_eq!(http_status("status 5000"), None);
        assert_eq!(http_status("Code=-1004"), None);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..5)) {
            let c = ctx(Some((2026, 11, 20)));
            let mut p = IosParser::default();
            let mut stats = ParseStats::default();
            for l in &lines {
                p.line(&c, l, 0, &mut stats, &mut |_| {});
            }
            prop_assert_eq!(stats.records, lines.len() as u64);
        }

        #[test]
        fn shaped_lines_never_panic(level in "(debug|default|error|[a-z]{0,5})", time in "[0-9:.+-]{0,20}", msg in ".{0,120}", hint in proptest::option::of((1500i64..10000, 0u32..14, 0u32..33))) {
            let line = format!("{level}  {time}  profiled  {msg}");
            let c = ctx(hint);
            let mut stats = ParseStats::default();
            IosParser::default().line(&c, line.as_bytes(), 0, &mut stats, &mut |_| {});
            prop_assert_eq!(stats.records, 1);
        }
    }
}
