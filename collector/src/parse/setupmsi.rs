//! `SetupMsi.log`: the verbose Windows Installer log of the Intune Certificate Connector's
//! setup.
//!
//! ```text
//! === Verbose logging started: 11/20/2026  16:12:58  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\Windows\system32\msiexec.exe ===
//! MSI (c) (28:54) [16:13:11:905]: Product: Microsoft Intune Connector -- Installation completed successfully.
//! MSI (c) (28:54) [16:13:11:999]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.1711.4.0. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 0.
//! ```
//!
//! One [`ConnectorInstall`] is emitted per `Installation success or error status: N` line,
//! carrying the product, whether `Installation completed successfully` came before it, and the
//! error lines seen since the previous summary (`Error 1920. ...`, `Return value 3.`,
//! `CustomAction ... returned actual error code 1603`), at most [`MAX_ERRORS`]. A log that ends
//! after errors but without a summary (the installer was killed, the machine rebooted) gets one
//! event with status -1 at the end (counted as one more record: the end of the log).
//!
//! Line times (`[HH:MM:SS:mmm]`) are local and carry no date: the date comes from the
//! `=== ... logging started: M/d/yyyy ===` header, else the source's date hint; a summary
//! without either is counted as `setupmsi.no_date` and skipped. A time that jumps back by more
//! than twelve hours is taken as the next day.

use memchr::memmem;
use scepwatch_proto::time::{civil_from_days, civil_to_us, days_from_civil, US_PER_SEC};
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::ConnectorInstall;

use super::{Emit, LineParser, ParseStats, SourceContext};

/// Most error lines one event carries; the first ones are kept, as they name the cause.
pub const MAX_ERRORS: usize = 20;

/// Longest error line kept.
const MAX_ERROR_LEN: usize = 512;

/// Parser of `SetupMsi.log`.
#[derive(Debug, Default)]
pub struct SetupMsiParser {
    /// Days since the epoch of the current log section (header date, then rollovers).
    day: Option<i64>,
    /// Seconds since midnight of the last time read, for midnight rollover.
    last_second: Option<u32>,
    /// Local microseconds since the epoch (as if UTC) of the last line with a time.
    last_time: Option<i64>,
    completed: bool,
    errors: Vec<String>,
    /// Offset and time of the first error since the last summary.
    first_error: Option<(u64, Option<i64>)>,
    /// The first error line, as the excerpt of a status -1 event.
    first_error_line: Vec<u8>,
}

/// `[16:13:11:905]` → seconds since midnight and milliseconds.
fn bracket_time(line: &[u8]) -> Option<(u32, u32)> {
    let open = memchr::memchr(b'[', line)?;
    let t = line.get(open + 1..open + 14)?;
    if t.get(12) != Some(&b']') || t[2] != b':' || t[5] != b':' || t[8] != b':' {
        return None;
    }
    let h = num(&t[0..2])?;
    let m = num(&t[3..5])?;
    let s = num(&t[6..8])?;
    let ms = num(&t[9..12])?;
    (h < 24 && m < 60 && s < 60).then_some((h * 3600 + m * 60 + s, ms))
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The date of `=== Verbose logging started: 11/20/2026  16:12:58 ... ===` (also `Logging
/// started`), as days since the epoch. Accepts M/d/yyyy and yyyy-MM-dd.
fn header_day(line: &str) -> Option<i64> {
    let rest = line.trim_start().strip_prefix("===")?;
    let i = rest.find("ogging started:")?;
    let date = rest[i + "ogging started:".len()..]
        .split_whitespace()
        .next()?;
    let (y, m, d) = if date.contains('/') {
        let mut p = date.split('/');
        let m: u32 = p.next()?.parse().ok()?;
        let d: u32 = p.next()?.parse().ok()?;
        let y: i64 = p.next()?.parse().ok()?;
        (y, m, d)
    } else {
        let mut p = date.split('-');
        let y: i64 = p.next()?.parse().ok()?;
        let m: u32 = p.next()?.parse().ok()?;
        let d: u32 = p.next()?.parse().ok()?;
        (y, m, d)
    };
    civil_to_us(y, m, d, 0, 0, 0, 0)?;
    Some(days_from_civil(y, m, d))
}

/// `... Label: value. Next: ...` → `value` (up to the next `. ` or the end).
fn field<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let i = line.find(label)?;
    let rest = &line[i + label.len()..];
    let end = rest.find(". ").unwrap_or(rest.len());
    Some(rest[..end].trim().trim_end_matches('.'))
}

/// An error-ish line worth keeping: the part from the error on.
fn error_text(line: &str) -> Option<&str> {
    if let Some(i) = line.find("Error ") {
        let after = &line[i + "Error ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after.as_bytes().get(digits) == Some(&b'.') {
            return Some(&line[i..]);
        }
    }
    if let Some(i) = line.find("Return value ") {
        let v = &line[i + "Return value ".len()..];
        if v.starts_with('3') || v.starts_with('2') {
            return Some(message_of(line));
        }
    }
    if line.contains("returned actual error code") {
        return Some(message_of(line));
    }
    if line.contains("-- Installation operation failed") {
        return Some(message_of(line));
    }
    None
}

/// The text after `MSI (c) (28:54) [16:13:11:905]: `, or the whole line.
fn message_of(line: &str) -> &str {
    if line.starts_with("MSI (") {
        if let Some(i) = line.find("]: ") {
            return &line[i + 3..];
        }
    }
    line
}

impl SetupMsiParser {
    /// The local time (as if UTC) of a line, tracking midnight rollover.
    fn line_time(&mut self, ctx: &SourceContext, line: &[u8]) -> Option<i64> {
        let (second, ms) = bracket_time(line)?;
        if self.day.is_none() {
            self.day = ctx.date_hint.and_then(|(y, m, d)| {
                civil_to_us(y, m, d, 0, 0, 0, 0).map(|_| days_from_civil(y, m, d))
            });
        }
        if let (Some(day), Some(last)) = (self.day.as_mut(), self.last_second) {
            if second + 12 * 3600 < last {
                *day += 1;
            }
        }
        self.last_second = Some(second);
        let day = self.day?;
        let (y, m, d) = civil_from_days(day);
        let t = civil_to_us(y, m, d, 0, 0, 0, 0)?
            + i64::from(second) * US_PER_SEC
            + i64::from(ms) * 1000;
        self.last_time = Some(t);
        Some(t)
    }

    fn reset(&mut self) {
        self.completed = false;
        self.errors.clear();
        self.first_error = None;
        self.first_error_line.clear();
    }
}

/// Emit one install summary at `local_time` (local, as if UTC).
fn emit_install(
    ctx: &SourceContext,
    install: ConnectorInstall,
    position: u64,
    local_time: i64,
    raw: &[u8],
    stats: &mut ParseStats,
    emit: &mut Emit<'_>,
) {
    let utc = local_time - i64::from(ctx.utc_offset_secs) * US_PER_SEC;
    let mut event = ctx.envelope(position, utc, raw);
    event.payload = Some(Payload::ConnectorInstall(install));
    stats.saw_event(utc);
    emit(event);
}

impl LineParser for SetupMsiParser {
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
        let text = text.trim_end_matches(['\r', '\0']);
        if text.trim_start().starts_with("===") {
            if let Some(day) = header_day(text) {
                self.day = Some(day);
                self.last_second = None;
            }
            stats.ignored += 1;
            return;
        }
        let time = self.line_time(ctx, line);
        if memmem::find(line, b"Installation success or error status:").is_some() {
            let status = field(text, "Installation success or error status:")
                .and_then(|s| s.parse::<i32>().ok());
            let Some(status) = status else {
                stats.error("setupmsi.bad_status");
                return;
            };
            let Some(local) = time.or(self.last_time).filter(|_| self.day.is_some()) else {
                stats.error("setupmsi.no_date");
                self.reset();
                return;
            };
            let install = ConnectorInstall {
                status,
                product_name: field(text, "Product Name:").unwrap_or_default().to_string(),
                product_version: field(text, "Product Version:")
                    .unwrap_or_default()
                    .to_string(),
                completed: self.completed,
                errors: std::mem::take(&mut self.errors),
            };
            emit_install(ctx, install, offset, local, line, stats, emit);
            self.reset();
            return;
        }
        stats.ignored += 1;
        if text.contains("completed successfully.") && text.contains("-- ") {
            self.completed = true;
        }
        if let Some(err) = error_text(text) {
            let err = crate::parse::eventlog::record::cut(err.trim().to_string(), MAX_ERROR_LEN);
            if self.first_error.is_none() {
                self.first_error = Some((offset, time.or(self.last_time)));
                self.first_error_line = line.to_vec();
            }
            if self.errors.len() < MAX_ERRORS && !self.errors.contains(&err) {
                self.errors.push(err);
            }
        }
    }

    fn finish(&mut self, ctx: &SourceContext, stats: &mut ParseStats, emit: &mut Emit<'_>) {
        let Some((offset, time)) = self.first_error else {
            return;
        };
        // The end of the log is the record this event stands for.
        stats.records += 1;
        let Some(local) = time.or(self.last_time).filter(|_| self.day.is_some()) else {
            stats.error("setupmsi.no_date");
            self.reset();
            return;
        };
        let install = ConnectorInstall {
            status: -1,
            product_name: String::new(),
            product_version: String::new(),
            completed: self.completed,
            errors: std::mem::take(&mut self.errors),
        };
        let raw = std::mem::take(&mut self.first_error_line);
        emit_install(ctx, install, offset, local, &raw, stats, emit);
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_stream, Format};
    use proptest::prelude::*;
    use scepwatch_proto::time::to_rfc3339;
    use scepwatch_proto::v1::{Event, SourceId, SourceKind};

    fn ctx() -> SourceContext {
        SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "ndes01".into(),
                kind: SourceKind::SetupMsi as i32,
                path: "SetupMsi.log".into(),
                stream: String::new(),
            },
            0,
        )
    }

    fn run_with(ctx: &SourceContext, input: &str) -> (Vec<Event>, ParseStats) {
        let mut out = Vec::new();
        let stats = parse_stream(Format::SetupMsi, ctx, input.as_bytes(), &mut |e| {
            out.push(e)
        })
        .unwrap();
        (out, stats)
    }

    fn install(e: &Event) -> &ConnectorInstall {
        match &e.payload {
            Some(Payload::ConnectorInstall(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    const HEADER: &str = "=== Verbose logging started: 11/20/2026  16:12:58  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\\Windows\\system32\\msiexec.exe ===\n";
    const SUCCESS: &str = "MSI (c) (28:54) [16:13:11:905]: Product: Microsoft Intune Connector -- Installation completed successfully.\n\nMSI (c) (28:54) [16:13:11:999]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.1711.4.0. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 0.\n";

    #[test]
    fn guide_success() {
        let mut c = ctx();
        c.utc_offset_secs = 3600;
        let input = format!("{HEADER}{SUCCESS}");
        let (events, stats) = run_with(&c, &input);
        assert_eq!(events.len(), 1);
        let i = install(&events[0]);
        assert_eq!(i.status, 0);
        assert_eq!(i.product_name, "Microsoft Intune Connector");
        assert_eq!(i.product_version, "6.1711.4.0");
        assert!(i.completed);
        assert!(i.errors.is_empty());
        assert_eq!(
            to_rfc3339(events[0].event_time_us),
            "2026-11-20T15:13:11.999000Z"
        );
        assert_eq!(
            events[0].position,
            input.find("MSI (c) (28:54) [16:13:11:999]").unwrap() as u64
        );
        assert_eq!(stats.records, 4);
        assert_eq!(stats.error_count(), 0);
    }

    #[test]
    fn failure_collects_errors() {
        let input = format!(
            "{HEADER}\
MSI (s) (A4:B8) [16:13:05:120]: Product: Microsoft Intune Connector -- Error 1920. Service 'Microsoft Intune Connector Service' (PFXCertificateConnectorSvc) failed to start.  Verify that you have sufficient privileges to start system services.\n\
Error 1920. Service 'Microsoft Intune Connector Service' (PFXCertificateConnectorSvc) failed to start.  Verify that you have sufficient privileges to start system services.\n\
MSI (s) (A4:C0) [16:13:06:001]: CustomAction ConfigureConnector returned actual error code 1603 (note this may not be 100% accurate if translation happened inside sandbox)\n\
Action ended 16:13:06: InstallFinalize. Return value 3.\n\
Action ended 16:13:06: INSTALL. Return value 1.\n\
MSI (c) (28:54) [16:13:07:500]: Product: Microsoft Intune Connector -- Installation operation failed.\n\
MSI (c) (28:54) [16:13:07:510]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.1711.4.0. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 1603.\n"
        );
        let (events, _) = run_with(&ctx(), &input);
        assert_eq!(events.len(), 1);
        let i = install(&events[0]);
        assert_eq!(i.status, 1603);
        assert!(!i.completed);
        assert_eq!(
            i.errors,
            vec![
                "Error 1920. Service 'Microsoft Intune Connector Service' (PFXCertificateConnectorSvc) failed to start.  Verify that you have sufficient privileges to start system services.".to_string(),
                "CustomAction ConfigureConnector returned actual error code 1603 (note this may not be 100% accurate if translation happened inside sandbox)".to_string(),
                "Action ended 16:13:06: InstallFinalize. Return value 3.".to_string(),
                "Product: Microsoft Intune Connector -- Installation operation failed.".to_string(),
            ]
        );
    }

    #[test]
    fn two_installs_in_one_log_and_errors_reset() {
        let failing = "MSI (s) (A4:B8) [16:13:05:120]: Note: 1: 1708\nError 1603. Fatal error during installation.\nMSI (c) (28:54) [16:13:07:510]: Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.1711.4.0. Product Language: 1033. Manufacturer: Microsoft Corporation. Installation success or error status: 1603.\n";
        let second_header = HEADER.replace("11/20/2026", "11/21/2026");
        let input = format!("{HEADER}{failing}{second_header}{SUCCESS}");
        let (events, _) = run_with(&ctx(), &input);
        assert_eq!(events.len(), 2);
        assert_eq!(install(&events[0]).errors.len(), 1);
        assert!(install(&events[1]).errors.is_empty());
        assert_eq!(
            to_rfc3339(events[1].event_time_us),
            "2026-11-21T16:13:11.999000Z"
        );
    }

    #[test]
    fn log_ending_after_errors_emits_status_minus_one() {
        let input = format!("{HEADER}MSI (s) (A4:B8) [16:13:05:120]: Product: X -- Error 1920. Service failed to start.\nMSI (s) (A4:B8) [16:13:09:000]: Doing something\n");
        let (events, _) = run_with(&ctx(), &input);
        assert_eq!(events.len(), 1);
        let i = install(&events[0]);
        assert_eq!(i.status, -1);
        assert_eq!(
            i.errors,
            vec!["Error 1920. Service failed to start.".to_string()]
        );
        assert_eq!(events[0].position, HEADER.len() as u64);
        assert_eq!(
            to_rfc3339(events[0].event_time_us),
            "2026-11-20T16:13:05.120000Z"
        );
    }

    #[test]
    fn no_date_is_an_error_unless_hinted() {
        let (events, stats) = run_with(&ctx(), SUCCESS);
        assert!(events.is_empty());
        assert_eq!(stats.errors.get("setupmsi.no_date"), Some(&1));
        let mut c = ctx();
        c.date_hint = Some((2026, 11, 20));
        let (events, _) = run_with(&c, SUCCESS);
        assert_eq!(
            to_rfc3339(events[0].event_time_us),
            "2026-11-20T16:13:11.999000Z"
        );
    }

    #[test]
    fn midnight_rollover() {
        let input = format!("{}MSI (c) (28:54) [23:59:59:000]: x\nMSI (c) (28:54) [00:00:01:000]: Windows Installer installed the product. Product Name: P. Product Version: 1.0. Installation success or error status: 0.\n", HEADER);
        let (events, _) = run_with(&ctx(), &input);
        assert_eq!(to_rfc3339(events[0].event_time_us), "2026-11-21T00:00:01Z");
    }

    #[test]
    fn errors_are_bounded_and_deduplicated() {
        let mut input = HEADER.to_string();
        for i in 0..50 {
            input.push_str(&format!(
                "Error {}. Something failed.\nError {}. Something failed.\n",
                1000 + i,
                1000 + i
            ));
        }
        input.push_str(
            "MSI (c) (28:54) [16:13:07:510]: Installation success or error status: 1603.\n",
        );
        let (events, _) = run_with(&ctx(), &input);
        let i = install(&events[0]);
        assert_eq!(i.errors.len(), MAX_ERRORS);
        assert_eq!(i.errors[1], "Error 1001. Something failed.");
    }

    #[test]
    fn bad_status_is_counted() {
        let input = format!(
            "{HEADER}MSI (c) (28:54) [16:13:07:510]: Installation success or error status: lots.\n"
        );
        let (events, stats) = run_with(&ctx(), &input);
        assert!(events.is_empty());
        assert_eq!(stats.errors.get("setupmsi.bad_status"), Some(&1));
    }

    #[test]
    fn utf16_log() {
        let text = format!("{HEADER}{SUCCESS}");
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut out = Vec::new();
        parse_stream(Format::SetupMsi, &ctx(), &bytes[..], &mut |e| out.push(e)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(install(&out[0]).product_version, "6.1711.4.0");
    }

    #[test]
    fn time_and_header_helpers() {
        assert_eq!(
            bracket_time(b"MSI (c) (28:54) [16:13:11:905]: x"),
            Some((58391, 905))
        );
        assert_eq!(bracket_time(b"[16:13:11]"), None);
        assert_eq!(bracket_time(b"[24:00:00:000]"), None);
        assert_eq!(bracket_time(b"["), None);
        assert!(header_day("=== Logging started: 2026-11-20  16:12:58 ===").is_some());
        assert!(header_day("=== Verbose logging started: 13/40/2026  16:12:58 ===").is_none());
        assert!(header_day("=== Verbose logging stopped: 11/20/2026  16:12:58 ===").is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_no_panic(input in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut n = 0;
            let stats = parse_stream(Format::SetupMsi, &ctx(), &input[..], &mut |_| n += 1).unwrap();
            prop_assert_eq!(stats.events, n);
            prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
        }

        #[test]
        fn structured_lines_no_panic(lines in proptest::collection::vec(prop_oneof![
            Just(HEADER.trim_end().to_string()),
            Just("Error 1920. Service failed.".to_string()),
            Just("MSI (c) (28:54) [23:13:11:905]: Product: P -- Installation completed successfully.".to_string()),
            Just("MSI (c) (28:54) [01:13:11:999]: Installation success or error status: 0.".to_string()),
            "MSI \\(c\\) \\([0-9A-F]{2}:[0-9A-F]{2}\\) \\[[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{3}\\]: \\PC{0,40}",
            "\\PC{0,40}",
        ], 0..40)) {
            let input = lines.join("\n");
            let (events, stats) = run_with(&ctx(), &input);
            prop_assert_eq!(stats.events, events.len() as u64);
            prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
        }
    }
}
