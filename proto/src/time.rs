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
}
