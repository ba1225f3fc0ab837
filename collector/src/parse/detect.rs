//! Recognising a log's format from its first bytes (never from its name: device logs arrive
//! as `log.txt`, `export (3).log`, or inside zips).
//!
//! [`detect`] looks at up to [`HEAD_LEN`] bytes. UTF-8 (with or without BOM) and UTF-16 (with a
//! BOM, or without one when the text starts with two ASCII characters, as PowerShell's and
//! Event Viewer's exports do) are decoded first. Lines are then read in order and the first line
//! that carries a format's signature decides, so text appended after a recognised head never
//! changes the answer:
//!
//! | format | signature |
//! |---|---|
//! | evtx | the `ElfFile\0` file magic |
//! | probe / health | first non-empty line a JSON object with `check` and `url` / with `fact` |
//! | event XML | `<Event xmlns=".../win/2004/08/events/event"`, `<Events>`, or `<Objects>` with `EventLogRecord` |
//! | IIS | `#Software: Microsoft Internet Information Services`, a `#Fields:` with `cs-uri-stem`, or a headerless `date time s-ip METHOD /path` line |
//! | HTTPERR | `#Software: Microsoft HTTP API`, a `#Fields:` with `s-reason`, or a headerless `date time c-ip c-port s-ip s-port HTTP/x METHOD` line |
//! | SetupMsi | `=== Verbose logging started` / `=== Logging started`, or lines starting `MSI (c)` / `MSI (s)` |
//! | event text | `Log Name:` or `Event ID:` followed by a `Description:` line |
//! | Android | the OMADM line shape: ISO time with a fraction, level, `Event`, Java class, pid, tid |
//! | iOS | a console line shape (level, time, zone, process; or `log show`'s), or `log show`'s header |

use std::borrow::Cow;

use super::{android, ios, Format};

/// Bytes of a file's start that [`detect`] looks at.
pub const HEAD_LEN: usize = 64 * 1024;

/// Lines after `Log Name:` / `Event ID:` within which `Description:` must follow.
const EVENT_TEXT_LOOKAHEAD: usize = 40;

/// The format of a file from its first bytes, or `None` when nothing matches.
pub fn detect(head: &[u8]) -> Option<Format> {
    detect_with_reason(head).ok()
}

/// Like [`detect`], with the reason nothing matched (for reports): `"empty"`, `"binary data"`
/// or `"unrecognised text"`.
pub fn detect_with_reason(head: &[u8]) -> Result<Format, &'static str> {
    let head = head.get(..HEAD_LEN).unwrap_or(head);
    if head.starts_with(b"ElfFile\0") {
        return Ok(Format::Evtx);
    }
    let text = decode(head);
    if let Some(format) = detect_text(&text) {
        return Ok(format);
    }
    if text.trim().is_empty() {
        Err("empty")
    } else if looks_binary(&text) {
        Err("binary data")
    } else {
        Err("unrecognised text")
    }
}

/// The head as text: UTF-16 (BOM, or two leading ASCII characters) or UTF-8, invalid
/// sequences replaced.
fn decode(head: &[u8]) -> Cow<'_, str> {
    let (utf16, big_endian, body) = match head {
        [0xFF, 0xFE, rest @ ..] => (true, false, rest),
        [0xFE, 0xFF, rest @ ..] => (true, true, rest),
        [0xEF, 0xBB, 0xBF, rest @ ..] => (false, false, rest),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 && a.is_ascii() && b.is_ascii() => {
            (true, false, head)
        }
        [0, a, 0, b, ..] if *a != 0 && *b != 0 && a.is_ascii() && b.is_ascii() => {
            (true, true, head)
        }
        _ => (false, false, head),
    };
    if !utf16 {
        return String::from_utf8_lossy(body);
    }
    let units = body.chunks_exact(2).map(|pair| match pair {
        [a, b] if big_endian => u16::from_be_bytes([*a, *b]),
        [a, b] => u16::from_le_bytes([*a, *b]),
        _ => 0xFFFD,
    });
    Cow::Owned(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
    )
}

/// The format whose signature the first deciding line carries.
fn detect_text(text: &str) -> Option<Format> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut seen_content = false;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !seen_content {
            seen_content = true;
            if trimmed.starts_with('{') {
                let keys = top_level_keys(trimmed);
                if keys.contains(&"fact") {
                    return Some(Format::Health);
                }
                if keys.contains(&"check") && keys.contains(&"url") {
                    return Some(Format::Probe);
                }
            }
        }
        let later = lines.get(i + 1..).unwrap_or(&[]);
        if let Some(format) = line_signature(line, trimmed, later) {
            return Some(format);
        }
    }
    None
}

/// The format one line proves, looking ahead in `later` where a signature spans lines.
fn line_signature(line: &str, trimmed: &str, later: &[&str]) -> Option<Format> {
    if trimmed.contains("<Event xmlns=")
        && trimmed.contains("schemas.microsoft.com/win/2004/08/events/event")
        || trimmed.contains("<Events>")
        || trimmed.contains("<Objects>") && later.iter().any(|l| l.contains("EventLogRecord"))
    {
        return Some(Format::EventXml);
    }
    if let Some(directive) = trimmed.strip_prefix('#') {
        return directive_signature(directive);
    }
    if trimmed.starts_with("=== Verbose logging started")
        || trimmed.starts_with("=== Logging started")
        || trimmed.starts_with("MSI (c)")
        || trimmed.starts_with("MSI (s)")
    {
        return Some(Format::SetupMsi);
    }
    if (trimmed.starts_with("Log Name:") || trimmed.starts_with("Event ID:"))
        && later
            .iter()
            .take(EVENT_TEXT_LOOKAHEAD)
            .any(|l| l.trim_start().starts_with("Description:"))
    {
        return Some(Format::EventText);
    }
    if is_log_show_header(trimmed) {
        return Some(Format::IosConsole);
    }
    if line.contains('T') && android::split_line(line).is_ok() {
        return Some(Format::AndroidOmadm);
    }
    if let Some(format) = headerless_w3c(trimmed) {
        return Some(format);
    }
    ios::split_line(line).is_ok().then_some(Format::IosConsole)
}

/// IIS and HTTP.sys `#Software:` and `#Fields:` directives.
fn directive_signature(directive: &str) -> Option<Format> {
    if let Some(software) = directive.strip_prefix("Software:") {
        let software = software.trim_start();
        if software.starts_with("Microsoft Internet Information Services") {
            return Some(Format::Iis);
        }
        if software.starts_with("Microsoft HTTP API") {
            return Some(Format::HttpErr);
        }
    }
    if let Some(fields) = directive.strip_prefix("Fields:") {
        let mut names = fields.split_whitespace();
        if names.clone().any(|f| f == "s-reason") {
            return Some(Format::HttpErr);
        }
        if names.any(|f| f == "cs-uri-stem") {
            return Some(Format::Iis);
        }
    }
    None
}

/// `Timestamp  Thread  Type  Activity  PID  TTL`, the first line of `log show`.
fn is_log_show_header(trimmed: &str) -> bool {
    let mut words = trimmed.split_whitespace();
    words.next() == Some("Timestamp")
        && ["Thread", "Type", "Activity", "PID"]
            .iter()
            .all(|w| words.clone().any(|x| x == *w))
}

/// Default-layout IIS or HTTPERR lines of a log whose header was cut off.
fn headerless_w3c(trimmed: &str) -> Option<Format> {
    let f: Vec<&str> = trimmed.split(' ').take(8).collect();
    let is_date = |s: &str| {
        s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    let is_time = |s: &str| {
        s.len() == 8
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 2 || i == 5 {
                    b == b':'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    let is_method =
        |s: &str| (3..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase());
    let is_addr = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'%'))
    };
    let is_port = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    match f.as_slice() {
        [d, t, ip, m, path, ..]
            if is_date(d) && is_time(t) && is_addr(ip) && is_method(m) && path.starts_with('/') =>
        {
            Some(Format::Iis)
        }
        [d, t, cip, cport, sip, sport, version, m]
            if is_date(d)
                && is_time(t)
                && is_addr(cip)
                && is_port(cport)
                && is_addr(sip)
                && is_port(sport)
                && version.starts_with("HTTP/")
                && (is_method(m) || *m == "-") =>
        {
            Some(Format::HttpErr)
        }
        _ => None,
    }
}

/// Keys of the outermost JSON object that starts `text`, as written (escapes kept). Reads
/// until the text ends or the object closes, so a line cut short still shows its first keys.
fn top_level_keys(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while let Some(&c) = bytes.get(j) {
                    match c {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                let after = bytes.get(j + 1..).unwrap_or(&[]);
                let is_key = after.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b':');
                if depth == 1 && is_key {
                    if let Some(key) = text.get(start..j) {
                        keys.push(key);
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    keys
}

/// Text with NULs or many control characters or replaced bytes is not a log.
fn looks_binary(text: &str) -> bool {
    let mut total = 0usize;
    let mut odd = 0usize;
    for c in text.chars() {
        total += 1;
        if c == '\0' {
            return true;
        }
        if (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
            || c == char::REPLACEMENT_CHARACTER
        {
            odd += 1;
        }
    }
    odd * 20 > total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utf16le_bom(s: &str) -> Vec<u8> {
        [0xFF, 0xFE]
            .into_iter()
            .chain(s.encode_utf16().flat_map(u16::to_le_bytes))
            .collect()
    }

    #[test]
    fn recognises_each_signature() {
        let cases: &[(&str, Format)] = &[
            ("#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n", Format::Iis),
            ("#Version: 1.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query\n", Format::Iis),
            ("2017-08-08 20:22:16 10.5.14.21 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=SCEP%20Authority 443 - 10.5.14.22 profiled/1.0 - 500 0 1346 31\n", Format::Iis),
            ("#Software: Microsoft HTTP API 2.0\n", Format::HttpErr),
            ("#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid s-reason s-queuename\n", Format::HttpErr),
            ("2026-11-20 09:00:01 10.0.0.5 51234 10.0.0.10 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll 414 - URL_Length -\n", Format::HttpErr),
            ("<?xml version=\"1.0\"?>\n<Events>\n<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>", Format::EventXml),
            ("<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>", Format::EventXml),
            ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Objects>\n  <Object Type=\"System.Diagnostics.Eventing.Reader.EventLogRecord\">\n", Format::EventXml),
            ("Log Name:      Application\nSource:        Application Error\nEvent ID:      1000\nDescription:\nFaulting application name: w3wp.exe\n", Format::EventText),
            ("Event ID:      36\nTask Category: None\nDescription:\nSCEP: Certificate request generated successfully.\n", Format::EventText),
            ("=== Verbose logging started: 20/11/2026  16:13:02  Build type: SHIP UNICODE 5.00.10011.00 ===\n", Format::SetupMsi),
            ("MSI (c) (28:54) [16:13:11:905]: Product: Microsoft Intune Connector -- Installation completed successfully.\n", Format::SetupMsi),
            ("2018-02-27T05:16:08.2500000  VERB  Event  com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager  18327    10  There are 1 requests\n", Format::AndroidOmadm),
            ("debug    18:30:53.691033 -0500    profiled    Performing synchronous URL request: https://x/certsrv/mscep/mscep.dll?operation=GetCACert\\ \n", Format::IosConsole),
            ("Timestamp                       Thread     Type        Activity             PID    TTL  \n", Format::IosConsole),
            ("2026-11-20 18:30:53.691033-0500  0x1a2b3c   Debug       0x0                  312    0    profiled: Sending CSR via GET.\n", Format::IosConsole),
            ("{\"time\":\"2026-11-20T09:00:00Z\",\"url\":\"https://x/certsrv/mscep/mscep.dll\",\"check\":\"browse\",\"status\":403}\n", Format::Probe),
            ("\n{\"time\":\"2026-11-20T09:00:00Z\",\"fact\":\"service\",\"kind\":\"app_pool\"", Format::Health),
        ];
        for (text, format) in cases {
            assert_eq!(detect(text.as_bytes()), Some(*format), "{text}");
        }
    }

    #[test]
    fn decodes_boms() {
        let text = "Log Name:      Application\r\nEvent ID:      1000\r\nDescription:\r\n";
        assert_eq!(detect(&utf16le_bom(text)), Some(Format::EventText));
        let le_no_bom: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(detect(&le_no_bom), Some(Format::EventText));
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(detect(&be), Some(Format::EventText));
        assert_eq!(
            detect(b"\xEF\xBB\xBF#Software: Microsoft HTTP API 2.0\n"),
            Some(Format::HttpErr)
        );
        assert_eq!(detect(b"ElfFile\0\0\0\0\0"), Some(Format::Evtx));
    }

    #[test]
    fn says_why_nothing_matched() {
        assert_eq!(detect_with_reason(b""), Err("empty"));
        assert_eq!(detect_with_reason(b" \r\n\n"), Err("empty"));
        assert_eq!(
            detect_with_reason(b"PK\x03\x04\x14\0\0\0\x08\0"),
            Err("binary data")
        );
        assert_eq!(
            detect_with_reason(b"Dear admin,\nthe NDES server is down.\n"),
            Err("unrecognised text")
        );
        // A JSON line of another kind, and an event-text start with no description.
        assert_eq!(detect(b"{\"level\":\"info\",\"url\":\"x\"}\n"), None);
        assert_eq!(detect(b"Log Name: Application\n"), None);
        assert_eq!(detect(b"<Objects>\n<Object>1</Object>\n"), None);
    }

    #[test]
    fn json_keys_of_a_cut_line() {
        assert_eq!(
            top_level_keys(r#"{"a":{"b":1},"c":"x\"y","d":[{"e":2}],"f"#),
            ["a", "c", "d"]
        );
        assert_eq!(
            top_level_keys(r#"{"body":"\"fact\":1","check":"browse","url":"u"}"#),
            ["body", "check", "url"]
        );
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(head in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = detect_with_reason(&head);
        }

        #[test]
        fn recognised_heads_stay_recognised(garbage in proptest::collection::vec(any::<u8>(), 0..300)) {
            let head = b"#Software: Microsoft Internet Information Services 10.0\r\n".to_vec();
            let mut data = head.clone();
            data.extend_from_slice(&garbage);
            prop_assert_eq!(detect(&data), detect(&head));
            let head16 = utf16le_bom("Event ID: 36\r\nDescription:\r\n");
            let mut data16 = head16.clone();
            data16.extend_from_slice(&garbage);
            prop_assert_eq!(detect(&data16), detect(&head16));
        }
    }
}
