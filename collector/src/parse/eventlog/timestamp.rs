//! The time formats event-log exports print.
//!
//! - `System/TimeCreated/@SystemTime` of event XML and `.evtx`: ISO 8601 in UTC,
//!   `2026-11-20T09:15:02.1234567Z` (seven fractional digits or fewer, `Z` or `+00:00`).
//! - `Get-WinEvent | ConvertTo-Xml` and Event Viewer text: the exporting machine's local time in
//!   its culture, `11/20/2026 9:15:02 AM` for en-US.
//!
//! Local times come back as [`RecordTime::Local`] and are turned into UTC with the source's
//! configured offset ([`RecordTime::to_utc`]), since the export says nothing about its zone.

use scepwatch_proto::time::{civil_to_us, parse_iso8601, US_PER_SEC};

/// When a record happened, as the export says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTime {
    /// Microseconds since the epoch, UTC.
    Utc(i64),
    /// A wall-clock time without a zone, as microseconds since the epoch as if it were UTC.
    Local(i64),
}

impl RecordTime {
    /// UTC microseconds, taking a local time to be `utc_offset_secs` ahead of UTC.
    pub fn to_utc(self, utc_offset_secs: i32) -> i64 {
        match self {
            RecordTime::Utc(us) => us,
            RecordTime::Local(us) => {
                us.saturating_sub(i64::from(utc_offset_secs).saturating_mul(US_PER_SEC))
            }
        }
    }
}

/// An ISO 8601 date-time: `2026-11-20T09:15:02.1234567Z`, `2026-11-20 09:15:02`,
/// `2026-11-20T10:15:02+01:00`, `2026-11-20 09:15:02.123 UTC`. With a zone the result is UTC;
/// without one it is `Local`. Fractions beyond microseconds are cut, not rounded.
pub fn parse_iso(s: &str) -> Option<RecordTime> {
    let s = s.trim();
    let (text, utc_suffix) = match s.strip_suffix("UTC") {
        Some(t) => (t.trim_end(), true),
        None => (s, false),
    };
    let (us, offset) = parse_iso8601(text)?;
    match (offset, utc_suffix) {
        (Some(o), false) => Some(RecordTime::Utc(us - i64::from(o) * US_PER_SEC)),
        (None, true) => Some(RecordTime::Utc(us)),
        (None, false) => Some(RecordTime::Local(us)),
        (Some(_), true) => None,
    }
}

/// A local date-time as Windows prints it in the exporting culture: `11/20/2026 9:15:02 AM`
/// (en-US), `11/20/2026 16:15:02`, `20/11/2026 16:15:02` (day first when the first number
/// cannot be a month), `20.11.2026 16:15:02`, or any [`parse_iso`] form.
pub fn parse_local(s: &str) -> Option<RecordTime> {
    let s = s.trim();
    if let Some(t) = parse_iso(s) {
        return Some(t);
    }
    // Event Viewer may put invisible direction marks around date parts in some cultures.
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}'))
        .collect();
    let mut parts = cleaned.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let meridiem = parts.next();
    let (sep, day_first_default) = if date.contains('/') {
        ('/', false)
    } else if date.contains('.') {
        ('.', true)
    } else if date.contains('-') {
        ('-', true)
    } else {
        return None;
    };
    let mut nums = date.split(sep);
    let a: u32 = nums.next()?.parse().ok()?;
    let b: u32 = nums.next()?.parse().ok()?;
    let year: i64 = nums.next()?.parse().ok()?;
    if nums.next().is_some() || year < 1000 {
        return None;
    }
    let day_first = day_first_default || (a > 12 && b <= 12);
    let (month, day) = if day_first { (b, a) } else { (a, b) };
    let (mut hour, minute, second, micros, rest) = parse_clock(time.as_bytes())?;
    if !rest.is_empty() {
        return None;
    }
    match meridiem.map(str::to_ascii_uppercase).as_deref() {
        None => {}
        Some("AM") => {
            if hour == 0 || hour > 12 {
                return None;
            }
            if hour == 12 {
                hour = 0;
            }
        }
        Some("PM") => {
            if hour == 0 || hour > 12 {
                return None;
            }
            if hour != 12 {
                hour += 12;
            }
        }
        Some(_) => return None,
    }
    if parts.next().is_some() {
        return None;
    }
    civil_to_us(year, month, day, hour, minute, second.min(59), micros).map(RecordTime::Local)
}

/// `H:MM:SS[.fffffff]` at the start of `b`; returns the fields and what follows.
fn parse_clock(b: &[u8]) -> Option<(u32, u32, u32, u32, &[u8])> {
    let colon = b.iter().position(|&c| c == b':')?;
    if colon == 0 || colon > 2 {
        return None;
    }
    let hour = digits(b, 0, colon)?;
    let minute = digits(b, colon + 1, 2)?;
    if b.get(colon + 3) != Some(&b':') {
        return None;
    }
    let second = digits(b, colon + 4, 2)?;
    let mut pos = colon + 6;
    let mut micros = 0u32;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            if pos - start < 6 {
                micros = micros * 10 + u32::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    Some((hour, minute, second, micros, b.get(pos..).unwrap_or(&[])))
}

/// The decimal number in `b[start..start + len]`, all digits.
fn digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    let s = b.get(start..start.checked_add(len)?)?;
    if s.is_empty() || len > 9 {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
        civil_to_us(y, mo, d, h, mi, s, us).unwrap()
    }

    #[test]
    fn system_time_with_seven_digits_and_zones() {
        assert_eq!(
            parse_iso("2026-11-20T09:15:02.1234567Z"),
            Some(RecordTime::Utc(utc(2026, 11, 20, 9, 15, 2, 123_456)))
        );
        assert_eq!(
            parse_iso("2026-11-20T09:15:02.12Z"),
            Some(RecordTime::Utc(utc(2026, 11, 20, 9, 15, 2, 120_000)))
        );
        assert_eq!(
            parse_iso("2026-11-20T09:15:02+00:00"),
            Some(RecordTime::Utc(utc(2026, 11, 20, 9, 15, 2, 0)))
        );
        assert_eq!(
            parse_iso("2026-11-20T10:15:02.5+01:00"),
            Some(RecordTime::Utc(utc(2026, 11, 20, 9, 15, 2, 500_000)))
        );
        assert_eq!(
            parse_iso("2026-11-20 09:15:02"),
            Some(RecordTime::Local(utc(2026, 11, 20, 9, 15, 2, 0)))
        );
    }

    #[test]
    fn rejects_broken_iso() {
        for s in [
            "",
            "2026-11-20",
            "2026-13-20T09:15:02Z",
            "2026-11-20T9:15Z",
            "2026-11-20T09:15:02.Z",
            "2026-11-20T09:15:02+25:00",
            "2026-11-20T09:15:02 garbage",
            "２０２６-11-20T09:15:02Z",
        ] {
            assert_eq!(parse_iso(s), None, "{s}");
        }
    }

    #[test]
    fn en_us_local_times() {
        assert_eq!(
            parse_local("11/20/2026 9:15:02 AM"),
            Some(RecordTime::Local(utc(2026, 11, 20, 9, 15, 2, 0)))
        );
        assert_eq!(
            parse_local("11/20/2026 12:05:00 AM"),
            Some(RecordTime::Local(utc(2026, 11, 20, 0, 5, 0, 0)))
        );
        assert_eq!(
            parse_local("11/20/2026 12:05:00 PM"),
            Some(RecordTime::Local(utc(2026, 11, 20, 12, 5, 0, 0)))
        );
        assert_eq!(
            parse_local("1/2/2026 4:15:02 pm"),
            Some(RecordTime::Local(utc(2026, 1, 2, 16, 15, 2, 0)))
        );
        assert_eq!(
            parse_local("11/20/2026 16:15:02"),
            Some(RecordTime::Local(utc(2026, 11, 20, 16, 15, 2, 0)))
        );
    }

    #[test]
    fn day_first_cultures() {
        assert_eq!(
            parse_local("20/11/2026 16:15:02"),
            Some(RecordTime::Local(utc(2026, 11, 20, 16, 15, 2, 0)))
        );
        assert_eq!(
            parse_local("05.11.2026 16:15:02"),
            Some(RecordTime::Local(utc(2026, 11, 5, 16, 15, 2, 0)))
        );
    }

    #[test]
    fn rejects_broken_local() {
        for s in [
            "11/20/2026",
            "11/20/26 9:15:02 AM",
            "13/13/2026 9:15:02",
            "11/20/2026 13:15:02 PM",
            "11/20/2026 9:15:02 XM",
            "11/20/2026 9:15:02 AM extra",
            "yesterday",
        ] {
            assert_eq!(parse_local(s), None, "{s}");
        }
    }

    #[test]
    fn local_times_take_the_source_offset() {
        let t = parse_local("11/20/2026 10:15:02 AM").unwrap();
        assert_eq!(t.to_utc(3600), utc(2026, 11, 20, 9, 15, 2, 0));
        assert_eq!(
            RecordTime::Utc(5).to_utc(3600),
            5,
            "UTC times ignore the offset"
        );
    }

    proptest! {
        #[test]
        fn any_text_no_panic(s in "\\PC{0,40}") {
            let _ = parse_iso(&s);
            let _ = parse_local(&s);
        }

        #[test]
        fn iso_round_trips(secs in 0i64..4_000_000_000, frac in 0u32..10_000_000) {
            let us = secs * US_PER_SEC + i64::from(frac / 10);
            let text = scepwatch_proto::time::to_rfc3339(secs * US_PER_SEC);
            let text = format!("{}.{frac:07}Z", text.trim_end_matches('Z'));
            prop_assert_eq!(parse_iso(&text), Some(RecordTime::Utc(us)));
        }
    }
}
