//! Counted, buffered output files and allocation-free formatting into a reusable line buffer.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Iis,
    HttpErr,
    EventXml,
    Health,
    Probe,
    Android,
    Ios,
    EventText,
}

pub(crate) const KINDS: [Kind; 8] = [
    Kind::Iis,
    Kind::HttpErr,
    Kind::EventXml,
    Kind::Health,
    Kind::Probe,
    Kind::Android,
    Kind::Ios,
    Kind::EventText,
];

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Iis => "iis",
            Kind::HttpErr => "httperr",
            Kind::EventXml => "event-xml",
            Kind::Health => "health",
            Kind::Probe => "probe",
            Kind::Android => "android-omadm",
            Kind::Ios => "ios-console",
            Kind::EventText => "event-text",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
}

/// A file being written: buffered, counting what goes in.
pub(crate) struct Out {
    pub(crate) w: BufWriter<File>,
    pub(crate) kind: Kind,
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
    pub(crate) crlf: bool,
}

impl Out {
    pub(crate) fn create(path: &Path, kind: Kind, crlf: bool) -> io::Result<Out> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = File::create(path).map_err(|e| with_path(e, path))?;
        Ok(Out {
            w: BufWriter::with_capacity(1 << 20, file),
            kind,
            bytes: 0,
            lines: 0,
            crlf,
        })
    }

    /// Writes `line` and the file's line ending.
    pub(crate) fn line(&mut self, line: &[u8]) -> io::Result<()> {
        self.w.write_all(line)?;
        let eol: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        self.w.write_all(eol)?;
        self.bytes += (line.len() + eol.len()) as u64;
        self.lines += 1;
        Ok(())
    }

    /// Writes bytes that are not a line of their own (document headers and footers).
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    pub(crate) fn finish(mut self, totals: &mut [Tally; 8]) -> io::Result<u64> {
        self.w.flush()?;
        if let Some(t) = totals.get_mut(self.kind.index()) {
            t.files += 1;
            t.bytes += self.bytes;
            t.lines += self.lines;
        }
        Ok(self.bytes)
    }
}

pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

// Formatting into a reusable buffer, without allocation.

pub(crate) fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

pub(crate) fn push_2(buf: &mut Vec<u8>, n: u32) {
    buf.push(b'0' + (n / 10 % 10) as u8);
    buf.push(b'0' + (n % 10) as u8);
}

pub(crate) fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut v = n;
    for slot in digits.iter_mut().rev().take(width.min(20)) {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf.extend_from_slice(&digits[20 - width.min(20)..]);
}

pub(crate) fn push_ip(buf: &mut Vec<u8>, ip: [u8; 4]) {
    for (i, octet) in ip.iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u64(buf, u64::from(*octet));
    }
}

/// `HH:MM:SS` of a time of day given in microseconds since midnight.
pub(crate) fn push_hms(buf: &mut Vec<u8>, us_of_day: i64) {
    let secs = (us_of_day / US_PER_SEC).clamp(0, 86_399) as u32;
    push_2(buf, secs / 3600);
    buf.push(b':');
    push_2(buf, secs / 60 % 60);
    buf.push(b':');
    push_2(buf, secs % 60);
}

/// `YYYY-MM-DD` of a time in microseconds since the epoch.
pub(crate) fn push_date(buf: &mut Vec<u8>, us: i64) {
    let (y, m, d) = civil_from_days(us.div_euclid(86_400 * US_PER_SEC));
    push_padded(buf, y.max(0) as u64, 4);
    buf.push(b'-');
    push_2(buf, m);
    buf.push(b'-');
    push_2(buf, d);
}

pub(crate) fn us_of_day(us: i64) -> i64 {
    us.rem_euclid(86_400 * US_PER_SEC)
}

pub(crate) fn push_hex_upper(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in bytes {
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 15)]);
    }
}
