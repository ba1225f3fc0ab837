//! Bounded line splitting over any `BufRead`.
//!
//! Lines are handed out as byte slices borrowed from the reader's buffer or from one reusable
//! buffer, never allocated per line. A line longer than the limit is skipped up to its newline
//! and counted as `line_too_long`; the rest of the stream is still read. A UTF-8 BOM is
//! dropped; UTF-16 (LE or BE, with a BOM: Windows tools write logs that way) is transcoded to
//! UTF-8 first, and offsets then count bytes of the transcoded stream.

use std::io::{BufRead, BufReader, Read};

use memchr::memchr;

use super::ParseStats;

/// Calls `f(line, offset, stats)` for each line of `reader`, without the `\n` / `\r\n`
/// terminator. `offset` is the byte position of the line's first byte. A last line without a
/// terminator is still delivered. Returns on the first I/O error.
pub fn for_each_line<R, F>(
    mut reader: R,
    max_len: usize,
    stats: &mut ParseStats,
    mut f: F,
) -> std::io::Result<()>
where
    R: BufRead,
    F: FnMut(&[u8], u64, &mut ParseStats),
{
    let head = reader.fill_buf()?;
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .bom_sniffing(true)
            .build(reader);
        return split(
            BufReader::with_capacity(64 * 1024, decoded),
            max_len,
            stats,
            &mut f,
        );
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
        stats.bytes += 3;
        return split_from(reader, max_len, stats, &mut f, 3);
    }
    split(reader, max_len, stats, &mut f)
}

fn split<R, F>(reader: R, max_len: usize, stats: &mut ParseStats, f: &mut F) -> std::io::Result<()>
where
    R: BufRead,
    F: FnMut(&[u8], u64, &mut ParseStats),
{
    split_from(reader, max_len, stats, f, 0)
}

fn split_from<R, F>(
    mut reader: R,
    max_len: usize,
    stats: &mut ParseStats,
    f: &mut F,
    start: u64,
) -> std::io::Result<()>
where
    R: BufRead,
    F: FnMut(&[u8], u64, &mut ParseStats),
{
    let mut offset = start;
    // Holds a line that straddles buffer refills.
    let mut carry: Vec<u8> = Vec::new();
    // True while skipping the rest of an over-long line.
    let mut skipping = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            if !carry.is_empty() && !skipping {
                let line_start = offset - carry.len() as u64;
                deliver(&carry, line_start, stats, f);
            }
            return Ok(());
        }
        let len = buf.len();
        let mut pos = 0;
        while pos < len {
            match memchr(b'\n', &buf[pos..]) {
                Some(i) => {
                    let end = pos + i;
                    if skipping {
                        skipping = false;
                    } else if carry.is_empty() {
                        deliver(&buf[pos..end], offset + pos as u64, stats, f);
                    } else if carry.len() + (end - pos) > max_len {
                        stats.records += 1;
                        stats.error("line_too_long");
                    } else {
                        carry.extend_from_slice(&buf[pos..end]);
                        let line_start = offset + pos as u64 - (carry.len() - (end - pos)) as u64;
                        deliver(&carry, line_start, stats, f);
                    }
                    carry.clear();
                    pos = end + 1;
                }
                None => {
                    if !skipping {
                        if carry.len() + (len - pos) > max_len {
                            stats.records += 1;
                            stats.error("line_too_long");
                            carry.clear();
                            skipping = true;
                        } else {
                            carry.extend_from_slice(&buf[pos..]);
                        }
                    }
                    pos = len;
                }
            }
        }
        offset += len as u64;
        stats.bytes += len as u64;
        reader.consume(len);
    }
}

fn deliver<F>(line: &[u8], offset: u64, stats: &mut ParseStats, f: &mut F)
where
    F: FnMut(&[u8], u64, &mut ParseStats),
{
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    f(line, offset, stats);
}

/// Reads at most `limit` bytes of `reader` into a vector (for formats that must see a whole
/// small document). Returns the bytes and whether the stream was longer.
pub fn read_bounded<R: Read>(reader: R, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    let n = reader.take(limit + 1).read_to_end(&mut buf)?;
    let over = n as u64 > limit;
    buf.truncate(limit.min(n as u64) as usize);
    Ok((buf, over))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(input: &[u8], cap: usize, max: usize) -> (Vec<(Vec<u8>, u64)>, ParseStats) {
        let mut out = Vec::new();
        let mut stats = ParseStats::default();
        let r = BufReader::with_capacity(cap, input);
        for_each_line(r, max, &mut stats, |l, o, _| out.push((l.to_vec(), o))).unwrap();
        (out, stats)
    }

    #[test]
    fn splits_crlf_and_keeps_offsets() {
        let (lines, stats) = collect(b"ab\r\ncd\nlast", 3, 100);
        assert_eq!(
            lines,
            vec![
                (b"ab".to_vec(), 0),
                (b"cd".to_vec(), 4),
                (b"last".to_vec(), 7)
            ]
        );
        assert_eq!(stats.bytes, 11);
    }

    #[test]
    fn skips_over_long_lines_and_goes_on() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        let (lines, stats) = collect(&input, 8, 10);
        assert_eq!(lines, vec![(b"ok".to_vec(), 51)]);
        assert_eq!(stats.errors.get("line_too_long"), Some(&1));
    }

    #[test]
    fn drops_utf8_bom_and_transcodes_utf16() {
        let (lines, _) = collect(b"\xEF\xBB\xBFhi\n", 64, 100);
        assert_eq!(lines, vec![(b"hi".to_vec(), 3)]);
        let utf16: Vec<u8> = [0xFFu8, 0xFE]
            .into_iter()
            .chain("a\r\nb".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        let (lines, _) = collect(&utf16, 64, 100);
        let texts: Vec<_> = lines.into_iter().map(|(l, _)| l).collect();
        assert_eq!(texts, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    proptest! {
        /// Any bytes, any buffer size: the delivered lines plus their terminators rebuild the
        /// input exactly, at the offsets claimed.
        #[test]
        fn lines_reassemble_input(input in proptest::collection::vec(any::<u8>(), 0..400), cap in 1usize..40) {
            prop_assume!(!input.starts_with(&[0xFF, 0xFE]) && !input.starts_with(&[0xFE, 0xFF]) && !input.starts_with(&[0xEF, 0xBB, 0xBF]));
            let (lines, stats) = collect(&input, cap, 1 << 20);
            prop_assert_eq!(stats.bytes, input.len() as u64);
            for (line, off) in &lines {
                let off = *off as usize;
                prop_assert!(input[off..].starts_with(line));
            }
            let total: usize = lines.iter().map(|(l, _)| l.len()).sum();
            prop_assert!(total <= input.len());
        }
    }
}
