//! What makes a tailed file "the same stream": a fingerprint of its content, within the folder
//! that holds it; not its file name and not its inode.
//!
//! # The choice
//!
//! A stream of a line format is identified by two things:
//!
//! - the xxh3-64 of its first bytes **up to the end of its first data line** (its
//!   [`Fingerprint`]): the `#` directive lines IIS and HTTP.sys write at the top (`#Software`,
//!   `#Version`, `#Date`, `#Fields`), blank lines, and the first line that is not a directive.
//!   At most [`MAX_HEADER`] bytes of directives and [`MAX_DATA`] bytes of the data line are
//!   taken, so a fingerprint costs one small read;
//! - the name of the folder holding the file, ASCII lower-cased ([`folder_key`]): `w3svc1`,
//!   `w3svc2`, `httperr`. The name, not the whole path, so that a tree of logs moved elsewhere
//!   (a new drive, a new `root`) keeps its streams and checkpoints.
//!
//! Why past the header: IIS writes byte-identical header blocks at the top of many files (every
//! site's daily file starts with the same `#Software`/`#Version`/`#Fields` lines, and `#Date`
//! has a one-second resolution, so hourly files and several sites created in the same second
//! share it too). A fingerprint of the first line, or of the first N bytes when N falls inside
//! the header, makes those files collide. The first request line carries the request's time,
//! client, URL, status and time taken, which the other files of a site do not repeat.
//!
//! Why the folder: the first request lines of *different sites* can be byte-identical. IIS's
//! default fields log neither the site (`s-sitename`) nor the host name (`cs-host`), sites told
//! apart by host name share `s-ip` and `s-port`, and a load balancer's health probe reaches
//! every site at the same second, from the same address, for the same URL, with the same
//! status and a time taken of 0: when it is the first request of the day, every site's file
//! starts with the same bytes. Each site logs to a folder of its own (`W3SVC<site ID>`), and IIS
//! never moves a file from one site's folder to another's, so the folder tells those files
//! apart where the content cannot.
//!
//! Consequences, all deliberate:
//! - A file holding only directives so far has no identity and is not read yet. It yields no
//!   events anyway; it is read from its start once its first data line is complete.
//! - Identity never uses the inode or file ID: a new file that recycles a deleted file's inode
//!   is a new stream because its content differs, and the code is the same on every platform.
//! - A file renamed within its folder keeps its identity, so rename rotation and copies
//!   (copytruncate) are recognised whatever their new name, as long as it matches the source's
//!   patterns. Files with the same fingerprint in folders of different names are different
//!   streams, each read from its start, even when both exist at once.
//! - A file moved or copied to a folder of another name is a new stream there: read again from
//!   its start, with new event IDs (duplicates downstream, never a loss). No IIS rotation does
//!   this. Checkpoints of earlier versions, keyed by the fingerprint alone, load unchanged (the
//!   file format is the same): an entry's folder is that of the path it records, so the only
//!   stream they do not resume is one that had moved to a folder of another name.
//! - The residual risk is two different files *in one folder* (or in two folders of the same
//!   name, such as the `W3SVC1` of two roots) whose directive block *and* first request line
//!   are byte-identical.
//!   They are taken for one stream (the second path counts as a duplicate and is not read while
//!   the first is there). The files of one IIS site are of different periods, and each starts
//!   with its period's first request.
//! - A file truncated and rewritten with the same first line is still that stream. It is not
//!   read while shorter than the checkpoint; past it, reading resumes at the checkpoint.
//!
//! Document formats (`.evtx`, event XML, Event Viewer text, `SetupMsi.log`, iOS console logs)
//! and UTF-16 text of any format (which Windows tools write with a BOM) are not tailed: they are
//! read whole once settled (see [`super::document`]), and identified by their path, because a
//! re-export replaces the whole content while continuing the same record numbering.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use memchr::memchr;
use xxhash_rust::xxh3::xxh3_64;

use crate::parse::Format;

/// Most bytes of directive lines taken into a fingerprint; a file whose directives run longer
/// is fingerprinted by its first `MAX_HEADER` bytes.
pub const MAX_HEADER: usize = 64 * 1024;

/// Most bytes of the first data line taken into a fingerprint; a longer line counts by its
/// first `MAX_DATA` bytes (which must be there).
pub const MAX_DATA: usize = 4096;

/// Bytes read at a time while looking for the end of the first data line.
const HEAD_STEP: usize = 4096;

/// A content fingerprint (xxh3-64 of the bytes up to the end of the first data line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// Sixteen lower-case hex digits: `SourceId.stream` and the checkpoint key.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// The fingerprint written by [`Fingerprint::to_hex`].
    pub fn from_hex(s: &str) -> Option<Fingerprint> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(Fingerprint)
    }
}

/// How a file is read, as far as its content says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Empty, only directives, or the first data line is not complete yet: not read yet.
    NotReady,
    /// A line stream with this fingerprint.
    Lines(Fingerprint),
    /// Read whole once settled, identified by path.
    Document,
}

/// Formats read whole once settled rather than tailed: binary or record-structured exports,
/// and text whose records span lines and end only at the end of the file.
pub fn is_document_format(format: Format) -> bool {
    match format {
        Format::Evtx
        | Format::EventXml
        | Format::EventText
        | Format::SetupMsi
        | Format::IosConsole => true,
        Format::Iis | Format::HttpErr | Format::AndroidOmadm | Format::Probe | Format::Health => {
            false
        }
    }
}

/// The part of a line stream's identity its path gives: the name of the folder holding the
/// file, ASCII lower-cased (names compare ASCII case-insensitively, as in the patterns); empty
/// for a file in no named folder. Files with the same [`Fingerprint`] in folders of different
/// names (`W3SVC1`, `W3SVC2`) are different streams.
pub fn folder_key(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// UTF-16 with a byte order mark.
pub fn is_utf16(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF])
}

/// The identity of the file open as `file` (read from its start; the file position moves).
pub fn identify(file: &mut File, format: Format) -> io::Result<Identity> {
    if is_document_format(format) {
        return Ok(Identity::Document);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD_STEP);
    loop {
        let before = head.len();
        file.by_ref()
            .take(HEAD_STEP as u64)
            .read_to_end(&mut head)?;
        let at_end = head.len() - before < HEAD_STEP;
        if is_utf16(&head) {
            return Ok(Identity::Document);
        }
        if let Some(end) = fingerprint_span(&head) {
            return Ok(Identity::Lines(Fingerprint(xxh3_64(&head[..end]))));
        }
        if at_end || head.len() >= MAX_HEADER + MAX_DATA {
            return Ok(Identity::NotReady);
        }
    }
}

/// The fingerprint of an in-memory head (the first bytes of a file), or `None` when it does
/// not reach the end of the first data line.
pub fn fingerprint_of(head: &[u8]) -> Option<Fingerprint> {
    fingerprint_span(head).map(|end| Fingerprint(xxh3_64(&head[..end])))
}

/// How many bytes of `head` the fingerprint covers, once it can be taken.
fn fingerprint_span(head: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    loop {
        if pos >= MAX_HEADER {
            return Some(MAX_HEADER);
        }
        let rest = head.get(pos..)?;
        let line_end = memchr(b'\n', rest);
        let line = match line_end {
            Some(i) => &rest[..i],
            None => rest,
        };
        let text = if pos == 0 {
            line.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(line)
        } else {
            line
        };
        let directive = text.first() == Some(&b'#') || text == b"\r" || text.is_empty();
        match line_end {
            Some(i) if directive => pos += i + 1,
            Some(i) => return Some(pos + (i + 1).min(MAX_DATA)),
            None if directive => {
                return (head.len() >= MAX_HEADER).then_some(MAX_HEADER);
            }
            None => return (rest.len() >= MAX_DATA).then_some(pos + MAX_DATA),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n#Date: 2026-11-27 00:00:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

    #[test]
    fn header_only_is_not_ready() {
        assert_eq!(fingerprint_of(HEADER.as_bytes()), None);
        assert_eq!(fingerprint_of(b""), None);
        let partial = format!("{HEADER}2026-11-27 00:00:01 10.0.0.5 GET /certsrv/mscep/mscep.dll");
        assert_eq!(fingerprint_of(partial.as_bytes()), None);
    }

    #[test]
    fn same_header_different_first_request_differ() {
        let a = format!("{HEADER}2026-11-27 00:00:01 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=GetCACaps 443 - 10.1.0.7 Dalvik/2.1.0 - 200 0 0 15\r\n");
        let b = format!("{HEADER}2026-11-27 00:00:01 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=GetCACert 443 - 10.1.0.7 Dalvik/2.1.0 - 200 0 0 15\r\n");
        let fa = fingerprint_of(a.as_bytes()).unwrap();
        assert_ne!(fa, fingerprint_of(b.as_bytes()).unwrap());
        // What follows the first data line does not matter.
        let a2 =
            format!("{a}2026-11-27 00:00:02 10.0.0.5 GET / - 443 - 10.1.0.8 - - 200 0 0 1\r\n");
        assert_eq!(fingerprint_of(a2.as_bytes()), Some(fa));
    }

    #[test]
    fn long_first_line_counts_by_its_first_bytes() {
        let mut a = HEADER.as_bytes().to_vec();
        a.extend(std::iter::repeat_n(b'x', MAX_DATA - 1));
        assert_eq!(fingerprint_of(&a), None);
        a.push(b'x');
        let f = fingerprint_of(&a).unwrap();
        a.extend_from_slice(b"yyy\n");
        assert_eq!(fingerprint_of(&a), Some(f));
    }

    #[test]
    fn folder_key_is_the_lower_cased_folder_name() {
        let root = Path::new("inetpub").join("logs").join("LogFiles");
        assert_eq!(
            folder_key(&root.join("W3SVC1").join("u_ex261127.log")),
            "w3svc1"
        );
        assert_eq!(
            folder_key(&root.join("w3svc1").join("u_ex261128.log")),
            "w3svc1"
        );
        assert_eq!(
            folder_key(&root.join("W3SVC2").join("u_ex261127.log")),
            "w3svc2"
        );
        assert_eq!(folder_key(Path::new("httperr1.log")), "");
    }

    #[test]
    fn hex_round_trips() {
        let f = Fingerprint(0x0123_4567_89ab_cdef);
        assert_eq!(f.to_hex(), "0123456789abcdef");
        assert_eq!(Fingerprint::from_hex(&f.to_hex()), Some(f));
        assert_eq!(Fingerprint::from_hex("xyz"), None);
    }
}
