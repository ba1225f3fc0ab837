//! A tolerant BER header walker: the spine of the decoder.
//!
//! It reads identifier and length octets only, never copies content, and knows the difference
//! between the input running out (the log line was cut: [`Stop::Truncated`]) and an encoding that
//! contradicts itself ([`Stop::Malformed`]). Indefinite-length values are delimited by walking
//! their children to the end-of-contents octets, recursively, at most [`MAX_DEPTH`] levels deep;
//! every step consumes at least two bytes, so the work is bounded by the input length times the
//! (fixed) depth of the path the CMS walk descends.

use bcder::decode::{Constructed, Content, DecodeError, Source};

/// Deepest nesting of constructed values the walker follows.
pub(crate) const MAX_DEPTH: usize = 32;

/// Universal SEQUENCE, constructed.
pub(crate) const SEQUENCE: u8 = 0x30;
/// Universal SET, constructed.
pub(crate) const SET: u8 = 0x31;
/// Universal INTEGER.
pub(crate) const INTEGER: u8 = 0x02;
/// Universal OBJECT IDENTIFIER.
pub(crate) const OID: u8 = 0x06;
/// `[0]` constructed, context-specific.
pub(crate) const CTX0: u8 = 0xA0;
/// `[1]` constructed, context-specific.
pub(crate) const CTX1: u8 = 0xA1;

/// Why a walk stopped before the end of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The input ended inside the value.
    Truncated,
    /// The encoding is invalid at byte offset `at`.
    Malformed {
        /// Offset in the message of the offending header.
        at: usize,
        /// What is wrong, in a few words.
        what: &'static str,
    },
}

/// One value's header and where its content lies in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv {
    /// First identifier octet (class, constructed bit, low tag number or 0x1f).
    pub id: u8,
    /// Offset of the identifier octet.
    pub start: usize,
    /// Offset of the first content octet.
    pub content_start: usize,
    /// Offset just past the content: the declared end for definite lengths (may lie beyond the
    /// input), the end-of-contents octets for complete indefinite values, the end of the input
    /// for cut indefinite ones.
    pub content_end: usize,
    /// Offset just past the whole encoding, end-of-contents octets included.
    pub end: usize,
    /// Whether the length was indefinite.
    pub indefinite: bool,
    /// Whether the whole encoding is present in the input.
    pub complete: bool,
}

impl Tlv {
    /// The content octets that are present.
    pub fn content<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let end = self.content_end.min(data.len());
        data.get(self.content_start..end).unwrap_or_default()
    }

    /// The whole encoding, if it is present.
    pub fn raw<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        if self.complete {
            data.get(self.start..self.end)
        } else {
            None
        }
    }

    /// A reader over this value's children.
    pub fn children(&self) -> Reader {
        Reader {
            pos: self.content_start,
            // A cut indefinite value holds no end-of-contents octets at its own level (the
            // delimiting walk would have found them), so its reader runs into the input's end.
            end: if self.indefinite && !self.complete {
                None
            } else {
                Some(self.content_end)
            },
        }
    }
}

/// A cursor over the children of one constructed value (or over the top level).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader {
    pos: usize,
    /// Declared end of the enclosing content; `None` while looking for end-of-contents octets.
    end: Option<usize>,
}

impl Reader {
    /// A reader over the top level of a message: exactly one value is expected there.
    pub fn top() -> Self {
        Reader {
            pos: 0,
            end: Some(usize::MAX),
        }
    }

    /// Offset of the next header.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next child, `Ok(None)` at the end of the enclosing content.
    ///
    /// `depth` is the nesting level of the children read; delimiting an indefinite child walks
    /// its descendants below that level.
    pub fn next(&mut self, data: &[u8], depth: usize) -> Result<Option<Tlv>, Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Malformed {
                at: self.pos,
                what: "nesting deeper than 32 levels",
            });
        }
        let limit = self.end.unwrap_or(usize::MAX);
        if self.pos >= limit {
            return Ok(None);
        }
        let rest = data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(Stop::Truncated);
        }
        if self.end.is_none() && rest.first() == Some(&0) {
            return match rest.get(1) {
                Some(0) => {
                    self.pos += 2;
                    self.end = Some(self.pos);
                    Ok(None)
                }
                Some(_) => Err(self.malformed("end-of-contents octets with a length")),
                None => Err(Stop::Truncated),
            };
        }
        let header = parse_header(rest).map_err(|e| match e {
            HeaderError::Short => Stop::Truncated,
            HeaderError::Bad(what) => self.malformed(what),
        })?;
        let content_start = self.pos + header.len;
        if content_start > limit {
            return Err(self.malformed("header overruns enclosing value"));
        }
        let tlv = match header.length {
            Some(n) => {
                let content_end = content_start
                    .checked_add(n)
                    .filter(|&e| e <= limit)
                    .ok_or_else(|| self.malformed("length overruns enclosing value"))?;
                Tlv {
                    id: header.id,
                    start: self.pos,
                    content_start,
                    content_end,
                    end: content_end,
                    indefinite: false,
                    complete: content_end <= data.len(),
                }
            }
            None => {
                if header.id & 0x20 == 0 {
                    return Err(self.malformed("indefinite length on a primitive value"));
                }
                let mut inner = Reader {
                    pos: content_start,
                    end: None,
                };
                match inner.skip_all(data, depth + 1) {
                    Ok(()) => Tlv {
                        id: header.id,
                        start: self.pos,
                        content_start,
                        content_end: inner.pos - 2,
                        end: inner.pos,
                        indefinite: true,
                        complete: true,
                    },
                    Err(Stop::Truncated) => Tlv {
                        id: header.id,
                        start: self.pos,
                        content_start,
                        content_end: data.len(),
                        end: data.len(),
                        indefinite: true,
                        complete: false,
                    },
                    Err(e) => return Err(e),
                }
            }
        };
        if tlv.end > limit {
            return Err(self.malformed("length overruns enclosing value"));
        }
        self.pos = tlv.end;
        Ok(Some(tlv))
    }

    /// Walks past every remaining child.
    pub fn skip_all(&mut self, data: &[u8], depth: usize) -> Result<(), Stop> {
        while let Some(t) = self.next(data, depth)? {
            if !t.complete {
                return Err(Stop::Truncated);
            }
        }
        Ok(())
    }

    fn malformed(&self, what: &'static str) -> Stop {
        Stop::Malformed { at: self.pos, what }
    }
}

/// Skips the values left in a bcder `Constructed`.
///
/// bcder 0.7.7's own `Constructed::skip_all` fails on indefinite-length content: `skip_one`
/// cannot tell it is at the end, and `skip` then takes the end-of-contents octets for a missing
/// value ("missing further values"). `skip_opt` handles them, and walks nested values with an
/// explicit stack rather than recursion, so any nesting depth is safe.
pub(crate) fn skip_rest<S: Source>(cons: &mut Constructed<S>) -> Result<(), DecodeError<S::Error>> {
    while cons.skip_opt(|_, _, _| Ok(()))?.is_some() {}
    Ok(())
}

/// Skips one value's content (see [`skip_rest`]).
pub(crate) fn skip_content<S: Source>(
    content: &mut Content<S>,
) -> Result<(), DecodeError<S::Error>> {
    match content {
        Content::Primitive(p) => p.skip_all(),
        Content::Constructed(c) => skip_rest(c),
    }
}

struct Header {
    id: u8,
    len: usize,
    length: Option<usize>,
}

enum HeaderError {
    Short,
    Bad(&'static str),
}

fn parse_header(b: &[u8]) -> Result<Header, HeaderError> {
    let id = *b.first().ok_or(HeaderError::Short)?;
    let mut i = 1;
    if id & 0x1f == 0x1f {
        // High tag number: base-128 octets; four are far more than any CMS tag needs.
        loop {
            let o = *b.get(i).ok_or(HeaderError::Short)?;
            i += 1;
            if o & 0x80 == 0 {
                break;
            }
            if i > 5 {
                return Err(HeaderError::Bad("tag number too long"));
            }
        }
    }
    let first = *b.get(i).ok_or(HeaderError::Short)?;
    i += 1;
    let length = match first {
        0..=0x7f => Some(usize::from(first)),
        0x80 => None,
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let bytes = b.get(i..i + n).ok_or(HeaderError::Short)?;
            i += n;
            Some(
                bytes
                    .iter()
                    .fold(0usize, |acc, &x| (acc << 8) | usize::from(x)),
            )
        }
        _ => return Err(HeaderError::Bad("length of more than four octets")),
    };
    Ok(Header { id, len: i, length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8]) -> Result<Vec<Tlv>, Stop> {
        let mut r = Reader::top();
        let mut out = Vec::new();
        while let Some(t) = r.next(data, 0)? {
            let done = !t.complete || t.end >= data.len();
            out.push(t);
            if done {
                break;
            }
        }
        Ok(out)
    }

    #[test]
    fn definite_value_is_delimited() {
        let data = [0x30, 0x03, 0x02, 0x01, 0x05];
        let t = all(&data).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t[0].complete && !t[0].indefinite);
        assert_eq!(t[0].content(&data), &[0x02, 0x01, 0x05]);
    }

    #[test]
    fn indefinite_value_ends_at_end_of_contents() {
        let data = [
            0x30, 0x80, 0x02, 0x01, 0x05, 0x24, 0x80, 0x04, 0x01, 0xAA, 0, 0, 0, 0,
        ];
        let t = all(&data).unwrap();
        assert!(t[0].complete && t[0].indefinite);
        assert_eq!(t[0].end, data.len());
        assert_eq!(t[0].content_end, data.len() - 2);
        let mut r = t[0].children();
        let a = r.next(&data, 1).unwrap().unwrap();
        assert_eq!(a.id, INTEGER);
        let b = r.next(&data, 1).unwrap().unwrap();
        assert_eq!((b.id, b.indefinite, b.end), (0x24, true, 12));
        assert_eq!(r.next(&data, 1).unwrap(), None);
    }

    #[test]
    fn cut_values_are_truncated_not_malformed() {
        let data = [0x30, 0x82, 0x01, 0x00, 0x02, 0x01];
        let t = all(&data).unwrap();
        assert!(!t[0].complete);
        assert_eq!(t[0].content_end, 0x104);
        let mut r = t[0].children();
        assert!(r.next(&data, 1).unwrap().is_some_and(|c| !c.complete));
        let cut_indef = [0x30, 0x80, 0x30, 0x80, 0x02];
        let t = all(&cut_indef).unwrap();
        assert!(!t[0].complete && t[0].indefinite);
        assert_eq!(Reader::top().next(&[0x30], 0), Err(Stop::Truncated));
        assert_eq!(
            Reader::top().next(&[0x30, 0x82, 0x01], 0),
            Err(Stop::Truncated)
        );
    }

    #[test]
    fn child_overrunning_a_complete_parent_is_malformed() {
        let data = [0x30, 0x03, 0x04, 0x05, 0x00];
        let t = all(&data).unwrap();
        let mut r = t[0].children();
        assert!(matches!(
            r.next(&data, 1),
            Err(Stop::Malformed { at: 2, .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut data = Vec::new();
        for _ in 0..40 {
            data.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..40 {
            data.extend_from_slice(&[0, 0]);
        }
        assert!(matches!(
            Reader::top().next(&data, 0),
            Err(Stop::Malformed {
                what: "nesting deeper than 32 levels",
                ..
            })
        ));
        let primitive_indefinite = [0x04, 0x80, 0x00, 0x00];
        assert!(matches!(
            Reader::top().next(&primitive_indefinite, 0),
            Err(Stop::Malformed { .. })
        ));
    }

    #[test]
    fn high_tag_numbers_and_long_lengths() {
        let data = [0x1f, 0x81, 0x01, 0x01, 0x00];
        let t = Reader::top().next(&data, 0).unwrap().unwrap();
        assert_eq!(t.content_start, 4);
        let long = [0x04, 0x85, 1, 1, 1, 1, 1];
        assert!(matches!(
            Reader::top().next(&long, 0),
            Err(Stop::Malformed { .. })
        ));
    }
}
