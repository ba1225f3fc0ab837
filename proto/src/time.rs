//! Timestamps of the schema: signed microseconds since 1970-01-01T00:00:00Z.
//!
//! Pure arithmetic (Howard Hinnant's civil-date algorithms), so the hot parsers can build
//! timestamps without a calendar library.

/// Microseconds in one second.
pub const US_PER_SEC: i64 = 1_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Microseconds since the epoch of a UTC calendar time, or `None` if any field is out of range.
/// Years are limited to 1601..=9999 (the range of Windows FILETIME and of four-digit logs).
pub fn civil_to_us(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
) -> Option<i64> {
    if !(1601..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
        || micros > 999_999
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Some(secs * US_PER_SEC + i64::from(micros))
}

/// RFC 3339 text (`2026-11-20T18:30:53.691033Z`) of a timestamp; whole seconds omit the fraction.
pub fn to_rfc3339(us: i64) -> String {
    let secs = us.div_euclid(US_PER_SEC);
    let frac = us.rem_euclid(US_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:06}Z")
    }
}

/// Parses ISO 8601 / RFC 3339 date-time text: `YYYY-MM-DD` then `T` (or one space), `HH:MM:SS`,
/// an optional fraction of 1 to 9 digits (cut to microseconds) and an optional zone (`Z`,
/// `±HH:MM` or `±HHMM`).
///
/// Returns the time as microseconds since the epoch *as if the clock were UTC*, and the zone's
/// offset from UTC in seconds when one was written: subtract `offset * US_PER_SEC` to get UTC.
/// `None` when the text is not of that shape or a field is out of range.
pub fn parse_iso8601(text: &str) -> Option<(i64, Option<i32>)> {
    let b = text.as_bytes();
    let sep = *b.get(10)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(sep, b'T' | b't' | b' ')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let year = ascii_number(b.get(0..4)?)?;
    let month = ascii_number(b.get(5..7)?)?;
    let day = ascii_number(b.get(8..10)?)?;
    let hour = ascii_number(b.get(11..13)?)?;
    let minute = ascii_number(b.get(14..16)?)?;
    let second = ascii_number(b.get(17..19)?)?;
    let mut rest = b.get(19..)?;
    let mut micros = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for i in 0..6 {
            let d = frac
                .get(i)
                .filter(|_| i < n)
                .map_or(0, |c| u32::from(c - b'0'));
            micros = micros * 10 + d;
        }
        rest = frac.get(n..)?;
    }
    let offset = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (hh, mm) = match zone {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
                _ => return None,
            };
            let (hh, mm) = (ascii_number(&hh)?, ascii_number(&mm)?);
            if hh > 23 || mm > 59 {
                return None;
            }
            let secs = (hh * 3600 + mm * 60) as i32;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    let us = civil_to_us(i64::from(year), month, day, hour, minute, second, micros)?;
    Some((us, offset))
}

/// Parses RFC 3339 text that carries a zone (`2026-11-20T09:00:00Z`,
/// `2026-11-20T10:00:00.5+01:00`) into microseconds since the epoch, UTC. Text without a zone
/// is rejected: its instant is unknown.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let (us, offset) = parse_iso8601(text)?;
    Some(us - i64::from(offset?) * US_PER_SEC)
}

/// The value of a run of ASCII digits (at most 9), `None` if any byte is not a digit.
fn ascii_number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        let us = civil_to_us(2017, 8, 8, 20, 22, 16, 0).unwrap();
        assert_eq!(us, 1_502_223_736 * US_PER_SEC);
        assert_eq!(to_rfc3339(us), "2017-08-08T20:22:16Z");
        assert_eq!(to_rfc3339(us + 691_033), "2017-08-08T20:22:16.691033Z");
        for d in [-200_000i64, -1, 0, 59, 60, 365, 11_016, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn rejects_out_of_range_fields() {
        assert!(civil_to_us(2026, 2, 29, 0, 0, 0, 0).is_none());
        assert!(civil_to_us(2024, 2, 29, 0, 0, 0, 0).is_some());
        assert!(civil_to_us(2026, 13, 1, 0, 0, 0, 0).is_none());
        assert!(civil_to_us(2026, 1, 1, 24, 0, 0, 0).is_none());
        assert!(civil_to_us(99_999, 1, 1, 0, 0, 0, 0).is_none());
    }
    #[test]
    fn parses_iso8601_and_rfc3339() {
        let base = civil_to_us(2026, 11, 20, 9, 0, 0, 0).unwrap();
        assert_eq!(parse_rfc3339("2026-11-20T09:00:00Z"), Some(base));
        assert_eq!(
            parse_rfc3339("2026-11-20T10:00:00.5+01:00"),
            Some(base + 500_000)
        );
        assert_eq!(parse_rfc3339("2026-11-20T04:00:00-0500"), Some(base));
        assert_eq!(
            parse_iso8601("2018-02-27T05:16:08.2500000"),
            Some((civil_to_us(2018, 2, 27, 5, 16, 8, 250_000).unwrap(), None))
        );
        assert_eq!(parse_rfc3339("2018-02-27T05:16:08.2500000"), None);
        for bad in [
            "",
            "2026-11-20",
            "2026-11-20T09:00:00.Z",
            "2026-02-30T00:00:00Z",
            "2026-11-20T09:00:00+1",
            "2026-11-20T09:00:00ZZ",
            "2026-11-20T09:00:00.1234567890Z",
            "２０２６-11-20T09:00:00Z",
        ] {
            assert_eq!(
                parse_iso8601(bad).map(|_| ()).and(parse_rfc3339(bad)),
                None,
                "{bad}"
            );
        }
    }
}
