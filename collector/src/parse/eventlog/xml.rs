//! Event-log XML: what `wevtutil qe <log> /f:xml` (or `/f:RenderedXml`) prints, and what
//! `Get-WinEvent | ConvertTo-Xml` writes.
//!
//! Both are a run of records, with or without a wrapper (`<Events>`, `<Objects>`), on one line
//! or many:
//!
//! - `<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">` with `System`,
//!   `EventData` or `UserData`, and with `/f:RenderedXml` a `RenderingInfo` holding the message;
//! - `<Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">` with one
//!   `<Property Name="...">` per record property (`Id`, `ProviderName`, `LogName`,
//!   `TimeCreated` in the exporting machine's local time and culture, `RecordId`, `Message`).
//!
//! [`parse`] cuts the stream into records itself (a byte scan for the record's start and end
//! tags) and hands each one to quick-xml: memory stays bounded by one record ([`MAX_EVENT`]),
//! and a broken record costs that record only. [`parse_event_xml`] reads one record; the
//! `.evtx` reader and the Event Viewer text reader use it too.

use std::io::{BufRead, BufReader};

use memchr::memchr_iter;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::Reader;

use super::record::{self, cut, DataItem, EventRecord, Mapped, RecordProblem, UserNode};
use super::timestamp::{parse_iso, parse_local, RecordTime};
use crate::parse::{Emit, ParseStats, SourceContext};

/// Largest record read; a bigger one is skipped and counted as `eventxml.too_large`.
pub const MAX_EVENT: usize = 1 << 20;

/// Deepest element nesting accepted inside one record.
const MAX_DEPTH: usize = 128;

/// Most bytes taken from the reader at a time, whatever its buffer size.
const READ_CHUNK: usize = 64 * 1024;

/// Why one record's XML could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordXmlError {
    /// quick-xml rejected the markup.
    #[error("malformed event XML: {0}")]
    Malformed(String),
    /// The document ended inside an element.
    #[error("event XML ends inside an element")]
    Truncated,
    /// The first element is neither `<Event>` nor `<Object>`.
    #[error("event XML has no <Event> or <Object> element")]
    NoRecord,
    /// Elements nest deeper than any event does.
    #[error("event XML nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
}

/// Read every record of an event-log XML stream and emit the events of interest. UTF-16 input
/// with a BOM (what PowerShell's `>` writes) is transcoded first; offsets then count bytes of
/// the UTF-8 text.
pub fn parse<R: BufRead>(
    ctx: &SourceContext,
    mut reader: R,
    emit: &mut Emit<'_>,
) -> std::io::Result<ParseStats> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .bom_sniffing(true)
            .build(reader);
        return parse_utf8(ctx, BufReader::with_capacity(READ_CHUNK, decoded), 0, emit);
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
        return parse_utf8(ctx, reader, 3, emit);
    }
    parse_utf8(ctx, reader, 0, emit)
}

fn parse_utf8<R: BufRead>(
    ctx: &SourceContext,
    reader: R,
    start: u64,
    emit: &mut Emit<'_>,
) -> std::io::Result<ParseStats> {
    let mut stats = ParseStats::default();
    let mut framer = Framer::new(reader, start);
    while let Some(frame) = framer.next_frame()? {
        stats.records += 1;
        match frame.kind {
            FrameKind::TooLarge => stats.error("eventxml.too_large"),
            FrameKind::Truncated => stats.error("eventxml.truncated"),
            FrameKind::Complete { root, len } => {
                let bytes = framer.current(len);
                match parse_event_xml(bytes) {
                    Err(_) => stats.error("eventxml.malformed"),
                    // Objects of other types than event records: nothing to read.
                    Ok(r) if r.event_id.is_none() && root == Root::Object => stats.ignored += 1,
                    Ok(r) => match record::to_event(ctx, &r, frame.offset, bytes, None) {
                        Mapped::Event(e) => {
                            stats.saw_event(e.event_time_us);
                            emit(*e);
                        }
                        Mapped::Ignored => stats.ignored += 1,
                        Mapped::Failed(RecordProblem::NoTime) => stats.error("eventxml.no_time"),
                        Mapped::Failed(RecordProblem::NoEventId) => {
                            stats.error("eventxml.no_event_id")
                        }
                    },
                }
                framer.advance(len);
            }
        }
    }
    stats.bytes = framer.consumed;
    Ok(stats)
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/// The element a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    /// `<Event>` of wevtutil and `.evtx`.
    Event,
    /// `<Object>` of `ConvertTo-Xml`.
    Object,
}

impl Root {
    fn name(self) -> &'static [u8] {
        match self {
            Root::Event => b"Event",
            Root::Object => b"Object",
        }
    }
}

#[derive(Debug)]
enum FrameKind {
    /// A whole record: the `len` bytes at the framer's current position.
    Complete { root: Root, len: usize },
    /// A record longer than [`MAX_EVENT`], skipped.
    TooLarge,
    /// A record cut short by the end of the stream or by the start of the next one.
    Truncated,
}

#[derive(Debug)]
struct Frame {
    /// Stream offset of the record's `<`.
    offset: u64,
    kind: FrameKind,
}

/// Is `rest` (the bytes after a `<`) the tag `name` followed by a delimiter? `None` when it is
/// too short to tell.
fn tag_is(rest: &[u8], name: &[u8]) -> Option<bool> {
    let n = name.len();
    match rest.get(..n) {
        Some(head) if head == name => rest
            .get(n)
            .map(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')),
        Some(_) => Some(false),
        None => (rest == &name[..rest.len()])
            .then_some(false)
            .map_or(Some(false), |_| None),
    }
}

/// Cuts a byte stream into records, holding at most one record (plus one read) in memory.
struct Framer<R> {
    reader: R,
    /// Bytes read and not yet handed out; `win[pos..]` is what is left.
    win: Vec<u8>,
    pos: usize,
    /// Stream offset of `win[0]`.
    win_offset: u64,
    /// Bytes read from the reader so far, plus the starting offset.
    consumed: u64,
    eof: bool,
}

impl<R: BufRead> Framer<R> {
    fn new(reader: R, start: u64) -> Self {
        Framer {
            reader,
            win: Vec::new(),
            pos: 0,
            win_offset: start,
            consumed: start,
            eof: false,
        }
    }

    /// Append the next piece of the stream to the window; false at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > READ_CHUNK {
            self.win.drain(..self.pos);
            self.win_offset += self.pos as u64;
            self.pos = 0;
        }
        loop {
            match self.reader.fill_buf() {
                Ok([]) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(buf) => {
                    let n = buf.len().min(READ_CHUNK);
                    self.win.extend_from_slice(&buf[..n]);
                    self.reader.consume(n);
                    self.consumed += n as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The `len` bytes of the current record.
    fn current(&self, len: usize) -> &[u8] {
        self.win.get(self.pos..self.pos + len).unwrap_or(&[])
    }

    /// Move past `len` bytes.
    fn advance(&mut self, len: usize) {
        self.pos = (self.pos + len).min(self.win.len());
    }

    fn offset_of(&self, i: usize) -> u64 {
        self.win_offset + i as u64
    }

    /// Drop everything before `i` (an index into `win`).
    fn skip_to(&mut self, i: usize) {
        self.pos = i.min(self.win.len());
    }

    /// The next record, or `None` at the end of the stream.
    fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        let (start, root) = loop {
            match self.find_start() {
                Ok(found) => break found,
                Err(keep_from) => {
                    self.skip_to(keep_from);
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        };
        self.skip_to(start);
        let offset = self.offset_of(self.pos);
        self.scan_record(root, offset).map(Some)
    }

    /// Index of the next record start tag in the window, or `Err(i)`: none before `i`, and
    /// more bytes are needed to tell about what follows.
    fn find_start(&self) -> Result<(usize, Root), usize> {
        let hay = &self.win[self.pos..];
        for i in memchr_iter(b'<', hay) {
            let rest = &hay[i + 1..];
            let mut undecided = false;
            for root in [Root::Event, Root::Object] {
                match tag_is(rest, root.name()) {
                    Some(true) => return Ok((self.pos + i, root)),
                    Some(false) => {}
                    None => undecided = true,
                }
            }
            if undecided && !self.eof {
                return Err(self.pos + i);
            }
        }
        Err(self.win.len())
    }

    /// Index in the window of stream offset `off` (at or after the window's start).
    fn index_of(&self, off: u64) -> usize {
        usize::try_from(off.saturating_sub(self.win_offset)).unwrap_or(usize::MAX)
    }

    /// A frame that ends the record starting at `offset` without a usable body.
    fn broken(offset: u64, oversize: bool) -> Frame {
        Frame {
            offset,
            kind: if oversize {
                FrameKind::TooLarge
            } else {
                FrameKind::Truncated
            },
        }
    }

    /// Find the end of the record that starts at `self.pos` (stream offset `offset`).
    /// Positions are kept as stream offsets: `fill` may move the window's bytes.
    fn scan_record(&mut self, root: Root, offset: u64) -> std::io::Result<Frame> {
        let name = root.name();
        let mut oversize = false;
        // A self-closing record, `<Event/>`, has no end tag: find where the start tag ends.
        let mut scan = offset + 1;
        loop {
            let from = self.index_of(scan).min(self.win.len());
            match memchr::memchr(b'>', &self.win[from..]) {
                Some(i) => {
                    let gt = from + i;
                    if self.win.get(gt.wrapping_sub(1)) == Some(&b'/') {
                        let len = self.offset_of(gt + 1) - offset;
                        return Ok(Frame {
                            offset,
                            kind: FrameKind::Complete {
                                root,
                                len: usize::try_from(len).unwrap_or(0),
                            },
                        });
                    }
                    scan = self.offset_of(gt + 1);
                    break;
                }
                None => {
                    scan = self.offset_of(self.win.len());
                    if self.win.len() - self.pos > MAX_EVENT {
                        oversize = true;
                        break;
                    }
                    if !self.fill()? {
                        self.skip_to(self.win.len());
                        return Ok(Self::broken(offset, false));
                    }
                }
            }
        }
        loop {
            let from = self.index_of(scan).min(self.win.len());
            let hay = &self.win[from..];
            let mut need_more_at = None;
            for i in memchr_iter(b'<', hay) {
                let at = from + i;
                let rest = &hay[i + 1..];
                if let Some(after_slash) = rest.strip_prefix(b"/") {
                    match tag_is(after_slash, name) {
                        Some(true) => {
                            // The end tag: `</Event`, white space, `>`.
                            let tail = after_slash.get(name.len()..).unwrap_or(&[]);
                            match tail.iter().position(|c| !c.is_ascii_whitespace()) {
                                Some(j) if tail.get(j) == Some(&b'>') => {
                                    let end = at + 2 + name.len() + j + 1;
                                    if oversize || end - self.pos > MAX_EVENT {
                                        self.skip_to(end);
                                        return Ok(Self::broken(offset, true));
                                    }
                                    let len = self.offset_of(end) - offset;
                                    return Ok(Frame {
                                        offset,
                                        kind: FrameKind::Complete {
                                            root,
                                            len: usize::try_from(len).unwrap_or(0),
                                        },
                                    });
                                }
                                Some(_) => {}
                                None => {
                                    need_more_at = Some(at);
                                    break;
                                }
                            }
                        }
                        Some(false) => {}
                        None => {
                            need_more_at = Some(at);
                            break;
                        }
                    }
                } else {
                    // Records never nest: a new start means this one was cut short.
                    match tag_is(rest, name) {
                        Some(true) => {
                            self.skip_to(at);
                            return Ok(Self::broken(offset, oversize));
                        }
                        Some(false) => {}
                        None => {
                            need_more_at = Some(at);
                            break;
                        }
                    }
                }
            }
            let resume = need_more_at.unwrap_or(self.win.len());
            if resume - self.pos > MAX_EVENT {
                oversize = true;
            }
            if oversize {
                // Keep only what the search for the end tag still needs.
                self.skip_to(resume);
            }
            scan = self.offset_of(resume);
            if !self.fill()? {
                self.skip_to(self.win.len());
                return Ok(Self::broken(offset, oversize));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One record
// ---------------------------------------------------------------------------------------------

/// Where the text being read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    EventId,
    RecordId,
    Level,
    Channel,
    Computer,
    Data(usize),
    User(usize),
    Message,
    Task,
    LevelName,
    Property(Prop),
    PropertyValue(usize),
}

/// `ConvertTo-Xml` properties scepwatch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prop {
    Id,
    Provider,
    LogName,
    Time,
    RecordId,
    Level,
    LevelName,
    Task,
    Message,
    Machine,
    Other,
}

impl Prop {
    fn of(name: &str) -> Prop {
        match name.to_ascii_lowercase().as_str() {
            "id" | "eventid" => Prop::Id,
            "providername" | "source" => Prop::Provider,
            "logname" => Prop::LogName,
            "timecreated" | "timegenerated" => Prop::Time,
            "recordid" | "index" => Prop::RecordId,
            "level" => Prop::Level,
            "leveldisplayname" | "entrytype" => Prop::LevelName,
            "taskdisplayname" | "category" => Prop::Task,
            "message" => Prop::Message,
            "machinename" => Prop::Machine,
            _ => Prop::Other,
        }
    }
}

/// Type name `ConvertTo-Xml` prints for an event property it does not expand.
const UNEXPANDED_PROPERTY: &str = "System.Diagnostics.Eventing.Reader.";

/// Read one record: an `<Event>` (wevtutil, `.evtx`) or an `<Object>` (`ConvertTo-Xml`).
pub fn parse_event_xml(xml: &[u8]) -> Result<EventRecord, RecordXmlError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().check_end_names = true;
    let mut builder = Builder::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| RecordXmlError::Malformed(e.to_string()))?;
        match event {
            XmlEvent::Start(e) => builder.start(&e)?,
            XmlEvent::Empty(e) => {
                builder.start(&e)?;
                builder.end();
            }
            XmlEvent::End(_) => {
                builder.end();
                if builder.stack.is_empty() && builder.root.is_some() {
                    break;
                }
            }
            XmlEvent::Text(t) => builder.text(&String::from_utf8_lossy(&t)),
            XmlEvent::CData(t) => builder.text(&String::from_utf8_lossy(&t)),
            XmlEvent::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r);
                match resolve_entity(&name) {
                    Some(c) => builder.text(c.encode_utf8(&mut [0; 4])),
                    None => builder.text(&format!("&{name};")),
                }
            }
            XmlEvent::Eof => {
                if !builder.stack.is_empty() {
                    return Err(RecordXmlError::Truncated);
                }
                break;
            }
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) | XmlEvent::Comment(_) => {}
        }
    }
    builder.finish()
}

/// The character of `&name;`: the five XML entities and character references.
fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')
        }
    }
}

/// Attribute value with entities resolved.
fn unescape(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if !s.contains('&') {
        return s.into_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest: &str = &s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(';') {
            Some(j) if j <= 10 => match resolve_entity(&after[..j]) {
                Some(c) => {
                    out.push(c);
                    rest = &after[j + 1..];
                }
                None => {
                    out.push('&');
                    rest = after;
                }
            },
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Local name (`e:Event` → `Event`).
fn local(name: &[u8]) -> &[u8] {
    match memchr::memchr(b':', name) {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn attributes(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .map(|a| {
            (
                String::from_utf8_lossy(local(a.key.as_ref())).into_owned(),
                unescape(&a.value),
            )
        })
        .collect()
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| local(a.key.as_ref()).eq_ignore_ascii_case(name))
        .map(|a| unescape(&a.value))
}

#[derive(Default)]
struct Builder {
    root: Option<Root>,
    /// Local names of the open elements.
    stack: Vec<Vec<u8>>,
    record: EventRecord,
    /// Where text goes, and the depth of the element that set it.
    target: Option<(usize, Target)>,
    text: String,
    /// Depth of the open `<Property Name="Properties">` of a `ConvertTo-Xml` record.
    properties_depth: Option<usize>,
}

impl Builder {
    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), RecordXmlError> {
        let name = local(e.name().as_ref()).to_vec();
        if self.root.is_none() {
            self.root = Some(match name.as_slice() {
                b"Event" => Root::Event,
                b"Object" => Root::Object,
                _ => return Err(RecordXmlError::NoRecord),
            });
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(RecordXmlError::TooDeep);
        }
        // Text of a parent before this child is all the parent gets.
        self.commit();
        self.stack.push(name);
        let depth = self.stack.len();
        let target = match self.root {
            Some(Root::Event) => self.event_element(e, depth),
            Some(Root::Object) => self.object_element(e, depth),
            None => None,
        };
        if let Some(t) = target {
            self.target = Some((depth, t));
            self.text.clear();
        }
        Ok(())
    }

    fn event_element(&mut self, e: &BytesStart<'_>, depth: usize) -> Option<Target> {
        let part = |i: usize| self.stack.get(i).map_or(&b""[..], Vec::as_slice);
        let (section, name) = (part(1), part(depth.saturating_sub(1)));
        let r = &mut self.record;
        match (depth, section, name) {
            (3, b"System", b"Provider") => {
                for key in [&b"Name"[..], b"EventSourceName"] {
                    if r.provider.is_empty() {
                        if let Some(v) = attribute(e, key) {
                            r.provider = v;
                        }
                    }
                }
                None
            }
            (3, b"System", b"TimeCreated") => {
                r.time = attribute(e, b"SystemTime")
                    .and_then(|v| parse_iso(&v))
                    // SystemTime is UTC even when it does not say so.
                    .map(|t| match t {
                        RecordTime::Local(us) => RecordTime::Utc(us),
                        utc => utc,
                    });
                None
            }
            (3, b"System", b"EventID") => Some(Target::EventId),
            (3, b"System", b"EventRecordID") => Some(Target::RecordId),
            (3, b"System", b"Level") => Some(Target::Level),
            (3, b"System", b"Channel") => Some(Target::Channel),
            (3, b"System", b"Computer") => Some(Target::Computer),
            (3, b"EventData", b"Data") if r.data.len() < record::MAX_ITEMS => {
                r.data.push(DataItem {
                    name: attribute(e, b"Name"),
                    value: String::new(),
                });
                Some(Target::Data(r.data.len() - 1))
            }
            (3.., b"UserData", _) if r.user_data.len() < record::MAX_ITEMS => {
                r.user_data.push(UserNode {
                    depth: u16::try_from(depth - 2).unwrap_or(u16::MAX),
                    name: String::from_utf8_lossy(name).into_owned(),
                    attributes: attributes(e),
                    text: String::new(),
                });
                Some(Target::User(r.user_data.len() - 1))
            }
            (3, b"RenderingInfo", b"Message") => Some(Target::Message),
            (3, b"RenderingInfo", b"Task") => Some(Target::Task),
            (3, b"RenderingInfo", b"Level") => Some(Target::LevelName),
            _ => None,
        }
    }

    fn object_element(&mut self, e: &BytesStart<'_>, depth: usize) -> Option<Target> {
        let is_property = self.stack.last().is_some_and(|n| n == b"Property");
        if !is_property {
            return None;
        }
        let name = attribute(e, b"Name");
        match (depth, self.properties_depth) {
            (2, _) => {
                let name = name.unwrap_or_default();
                if name.eq_ignore_ascii_case("Properties") {
                    self.properties_depth = Some(depth);
                    return None;
                }
                Some(Target::Property(Prop::of(&name)))
            }
            // An item of `Properties`: its text, or the `Value` property inside it.
            (3, Some(2)) if self.record.data.len() < record::MAX_ITEMS => {
                self.record.data.push(DataItem::default());
                Some(Target::PropertyValue(self.record.data.len() - 1))
            }
            (4, Some(2)) if name.is_some_and(|n| n.eq_ignore_ascii_case("Value")) => {
                let i = self.record.data.len().checked_sub(1)?;
                Some(Target::PropertyValue(i))
            }
            _ => None,
        }
    }

    fn text(&mut self, t: &str) {
        if self.target.is_some() && self.text.len() < record::MAX_TEXT {
            self.text.push_str(t);
        }
    }

    fn end(&mut self) {
        let depth = self.stack.len();
        if self.target.is_some_and(|(d, _)| d == depth) {
            self.commit();
            self.target = None;
        }
        if self.properties_depth == Some(depth) {
            self.properties_depth = None;
        }
        self.stack.pop();
    }

    /// Hand the text read so far to its target.
    fn commit(&mut self) {
        let Some((_, target)) = self.target else {
            return;
        };
        let text = cut(std::mem::take(&mut self.text), record::MAX_TEXT);
        let r = &mut self.record;
        let trimmed = text.trim();
        match target {
            Target::EventId => r.event_id = r.event_id.or(trimmed.parse().ok()),
            Target::RecordId => r.record_id = r.record_id.or(trimmed.parse().ok()),
            Target::Level => r.level = r.level.or(trimmed.parse().ok()),
            Target::Channel => set_if_empty(&mut r.channel, trimmed),
            Target::Computer => set_if_empty(&mut r.computer, trimmed),
            Target::Data(i) => append(r.data.get_mut(i).map(|d| &mut d.value), &text),
            Target::User(i) => append(r.user_data.get_mut(i).map(|n| &mut n.text), &text),
            Target::Message => append(Some(&mut r.message), &text),
            Target::Task => set_if_empty(&mut r.task, trimmed),
            Target::LevelName => {
                r.level = r.level.or(EventRecord::level_from_name(trimmed));
            }
            Target::PropertyValue(i) => {
                if let Some(d) = r.data.get_mut(i) {
                    if !trimmed.is_empty() {
                        d.value = trimmed.to_string();
                    }
                }
            }
            Target::Property(prop) => match prop {
                Prop::Id => r.event_id = r.event_id.or(trimmed.parse().ok()),
                Prop::Provider => set_if_empty(&mut r.provider, trimmed),
                Prop::LogName => set_if_empty(&mut r.channel, trimmed),
                Prop::Time => r.time = r.time.or(parse_local(trimmed)),
                Prop::RecordId => r.record_id = r.record_id.or(trimmed.parse().ok()),
                Prop::Level => r.level = r.level.or(trimmed.parse().ok()),
                Prop::LevelName => {
                    r.level = r.level.or(EventRecord::level_from_name(trimmed));
                }
                Prop::Task => set_if_empty(&mut r.task, trimmed),
                Prop::Message => append(Some(&mut r.message), &text),
                Prop::Machine => set_if_empty(&mut r.computer, trimmed),
                Prop::Other => {}
            },
        }
    }

    fn finish(mut self) -> Result<EventRecord, RecordXmlError> {
        if self.root.is_none() {
            return Err(RecordXmlError::NoRecord);
        }
        let r = &mut self.record;
        for d in &mut r.data {
            let t = d.value.trim();
            if t.len() != d.value.len() {
                d.value = t.to_string();
            }
        }
        for n in &mut r.user_data {
            let t = n.text.trim();
            if t.len() != n.text.len() {
                n.text = t.to_string();
            }
        }
        if self.root == Some(Root::Object)
            && r.data
                .iter()
                .any(|d| d.value.starts_with(UNEXPANDED_PROPERTY))
        {
            // `ConvertTo-Xml` at depth 1 names each value's type instead of the value.
            r.data.clear();
        }
        r.message = r.message.trim().to_string();
        Ok(self.record)
    }
}

fn set_if_empty(slot: &mut String, value: &str) {
    if slot.is_empty() {
        *slot = value.to_string();
    }
}

fn append(slot: Option<&mut String>, text: &str) {
    if let Some(s) = slot {
        if s.len() < record::MAX_TEXT {
            s.push_str(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::v1::event::Payload;
    use scepwatch_proto::v1::{Capi2Kind, Event, SourceId, SourceKind};

    fn ctx() -> SourceContext {
        SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "ndes01".into(),
                kind: SourceKind::EventLog as i32,
                path: "events.xml".into(),
                stream: String::new(),
            },
            0,
        )
    }

    fn run(input: &[u8]) -> (Vec<Event>, ParseStats) {
        run_with(&ctx(), input, 8 * 1024)
    }

    fn run_with(ctx: &SourceContext, input: &[u8], cap: usize) -> (Vec<Event>, ParseStats) {
        let mut out = Vec::new();
        let stats = parse(ctx, BufReader::with_capacity(cap, input), &mut |e| {
            out.push(e)
        })
        .expect("in-memory reads do not fail");
        (out, stats)
    }

    const NS: &str = r#"xmlns="http://schemas.microsoft.com/win/2004/08/events/event""#;

    fn crash_unnamed(record_id: u64) -> String {
        format!(
            r#"<Event {NS}><System><Provider Name="Application Error"/><EventID Qualifiers="0">1000</EventID><Version>0</Version><Level>2</Level><Task>100</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords><TimeCreated SystemTime="2026-11-20T09:15:02.1234567Z"/><EventRecordID>{record_id}</EventRecordID><Correlation/><Execution ProcessID="0" ThreadID="0"/><Channel>Application</Channel><Computer>NDES01.contoso.com</Computer><Security/></System><EventData><Data>w3wp.exe</Data><Data>8.5.9600.16384</Data><Data>5215df96</Data><Data>ntdll.dll</Data><Data>6.3.9600.18821</Data><Data>59ba86db</Data><Data>c0000005</Data><Data>0x00000000000a4f2f</Data><Data>0x1a2c</Data><Data>01d35f2a7a6b7c3e</Data><Data>c:\windows\system32\inetsrv\w3wp.exe</Data><Data>C:\Windows\SYSTEM32\ntdll.dll</Data><Data>6f1e2d3c-0000-4000-8000-000000000001</Data><Data></Data><Data></Data></EventData></Event>"#
        )
    }

    #[test]
    fn wevtutil_concatenation_without_wrapper() {
        let input = format!("{}\n{}", crash_unnamed(1), crash_unnamed(2));
        let (events, stats) = run(input.as_bytes());
        assert_eq!(events.len(), 2);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.bytes, input.len() as u64);
        assert_eq!(events[0].position, 1);
        assert_eq!(events[1].position, 2);
        let Some(Payload::AppCrash(c)) = &events[0].payload else {
            panic!()
        };
        assert_eq!(c.application, "w3wp.exe");
        assert_eq!(c.exception_code, "0xc0000005");
        assert_eq!(c.process_id, 0x1a2c);
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[0].event_time_us),
            "2026-11-20T09:15:02.123456Z"
        );
        assert!(events[0].excerpt.starts_with("<Event xmlns="));
    }

    #[test]
    fn records_split_across_tiny_reads() {
        let input = format!(
            "<?xml version=\"1.0\"?><Events>{}{}</Events>",
            crash_unnamed(1),
            crash_unnamed(2)
        );
        for cap in [1, 2, 3, 7, 64] {
            let (events, stats) = run_with(&ctx(), input.as_bytes(), cap);
            assert_eq!(events.len(), 2, "cap {cap}");
            assert_eq!(stats.error_count(), 0, "cap {cap}");
        }
    }

    #[test]
    fn rendered_xml_named_data_and_message() {
        let input = format!(
            r#"<Events>
<Event {NS}>
  <System>
    <Provider Name="Application Error" Guid="{{a0e9b465-b939-57d7-b27d-95d8e925ff57}}"/>
    <EventID>1000</EventID>
    <Level>2</Level>
    <TimeCreated SystemTime="2026-11-20T09:15:02.5+00:00"/>
    <EventRecordID>77</EventRecordID>
    <Channel>Application</Channel>
  </System>
  <EventData>
    <Data Name="AppName">w3wp.exe</Data>
    <Data Name="AppVersion">10.0.17763.1</Data>
    <Data Name="ModuleName">KERNELBASE.dll</Data>
    <Data Name="ExceptionCode">e0434352</Data>
  </EventData>
  <RenderingInfo Culture="en-US">
    <Message>Faulting application name: w3wp.exe, version: 10.0.17763.1, time stamp: 0x1234abcd&#xD;
Faulting module name: KERNELBASE.dll, version: 10.0.17763.5830, time stamp: 0x5a5b5c5d&#xD;
Exception code: 0xe0434352&#xD;
Fault offset: 0x0000000000039329&#xD;
Faulting process id: 0x9f0&#xD;</Message>
    <Level>Error</Level>
    <Task>Application Crashing Events</Task>
  </RenderingInfo>
</Event>
</Events>"#
        );
        let (events, stats) = run(input.as_bytes());
        assert_eq!(stats.error_count(), 0, "{stats:?}");
        let Some(Payload::AppCrash(c)) = &events[0].payload else {
            panic!()
        };
        assert_eq!(c.application_version, "10.0.17763.1");
        assert_eq!(c.module, "KERNELBASE.dll");
        assert_eq!(
            c.module_version, "10.0.17763.5830",
            "filled from the message"
        );
        assert_eq!(c.exception_code, "0xe0434352");
        assert_eq!(c.fault_offset, "0x0000000000039329");
        assert_eq!(c.process_id, 0x9f0);
    }

    #[test]
    fn capi2_user_data() {
        let input = format!(
            r#"<Event {NS}><System><Provider Name="Microsoft-Windows-CAPI2" Guid="{{5bbca4a8-b209-48dc-a8c7-b23d3e5216fb}}"/><EventID>11</EventID><Level>2</Level><TimeCreated SystemTime="2026-11-20T09:15:01.0000000Z"/><EventRecordID>501</EventRecordID><Channel>Microsoft-Windows-CAPI2/Operational</Channel></System><UserData><CertGetCertificateChain><Certificate fileRef="A1B2C3D4E5F60718293A4B5C6D7E8F9012345678.cer" subjectName="NDES01.contoso.com"/><CertificateChain chainRef="{{1}}"><TrustStatus><ErrorStatus value="1000040" CERT_TRUST_REVOCATION_STATUS_UNKNOWN="true" CERT_TRUST_IS_OFFLINE_REVOCATION="true"/></TrustStatus></CertificateChain><EventAuxInfo ProcessName="w3wp.exe"/><Result value="80092013">The revocation function was unable to check revocation because the revocation server was offline.</Result></CertGetCertificateChain></UserData></Event>"#
        );
        let (events, _) = run(input.as_bytes());
        let Some(Payload::Capi2(c)) = &events[0].payload else {
            panic!("{events:?}")
        };
        assert_eq!(c.kind, Capi2Kind::Revocation as i32);
        assert_eq!(c.error_code, "80092013");
        assert_eq!(c.subject, "NDES01.contoso.com");
        assert_eq!(c.thumbprint, "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678");
        assert_eq!(c.task, "CertGetCertificateChain");
    }

    #[test]
    fn convert_to_xml_objects() {
        let input = r#"<?xml version="1.0" encoding="utf-8"?>
<Objects>
  <Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">
    <Property Name="Id" Type="System.Int32">1000</Property>
    <Property Name="Level" Type="System.Byte">2</Property>
    <Property Name="RecordId" Type="System.Nullable`1[[System.Int64]]">9001</Property>
    <Property Name="ProviderName" Type="System.String">Application Error</Property>
    <Property Name="LogName" Type="System.String">Application</Property>
    <Property Name="TimeCreated" Type="System.Nullable`1[[System.DateTime]]">11/20/2026 9:15:02 AM</Property>
    <Property Name="KeywordsDisplayNames" Type="System.Collections.ObjectModel.ReadOnlyCollection`1[[System.String]]">
      <Property Type="System.String">Classic</Property>
    </Property>
    <Property Name="Properties" Type="System.Collections.Generic.List`1[[System.Diagnostics.Eventing.Reader.EventProperty]]">
      <Property Type="System.Diagnostics.Eventing.Reader.EventProperty">System.Diagnostics.Eventing.Reader.EventProperty</Property>
    </Property>
    <Property Name="Message" Type="System.String">Faulting application name: w3wp.exe, version: 8.5.9600.16384, time stamp: 0x5215df96
Faulting module name: ntdll.dll, version: 6.3.9600.18821, time stamp: 0x59ba86db
Exception code: 0xc0000005</Property>
  </Object>
  <Object Type="System.String">unrelated</Object>
</Objects>"#;
        let mut c = ctx();
        c.utc_offset_secs = 3600;
        let (events, stats) = run_with(&c, input.as_bytes(), 8192);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.ignored, 1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].position, 9001);
        assert_eq!(
            scepwatch_proto::time::to_rfc3339(events[0].event_time_us),
            "2026-11-20T08:15:02Z",
            "local time minus the source offset"
        );
        let Some(Payload::AppCrash(c)) = &events[0].payload else {
            panic!()
        };
        assert_eq!(c.module, "ntdll.dll");
        assert_eq!(c.exception_code, "0xc0000005");
    }

    #[test]
    fn convert_to_xml_expanded_properties_are_positional_data() {
        let input = r#"<Objects><Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord"><Property Name="Id">36</Property><Property Name="ProviderName">Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider</Property><Property Name="TimeCreated">2026-11-20T09:15:02</Property><Property Name="Properties"><Property Type="System.Diagnostics.Eventing.Reader.EventProperty"><Property Name="Value" Type="System.String">1.3.6.1.5.5.7.3.2</Property></Property><Property><Property Name="Value">https://ndes.contoso.com/certsrv/mscep/mscep.dll</Property></Property><Property><Property Name="Value"></Property></Property><Property><Property Name="Value">0x2</Property></Property><Property><Property Name="Value">0x1</Property></Property></Property></Object></Objects>"#;
        let (events, stats) = run(input.as_bytes());
        assert_eq!(stats.error_count(), 0);
        let Some(Payload::WindowsScep(w)) = &events[0].payload else {
            panic!("{events:?}")
        };
        assert_eq!(
            w.ndes_url,
            "https://ndes.contoso.com/certsrv/mscep/mscep.dll"
        );
        assert_eq!(w.store_location, "0x1");
        assert_eq!(
            events[0].endpoint_id,
            "https://ndes.contoso.com/certsrv/mscep/mscep.dll"
        );
    }

    #[test]
    fn utf16_with_bom() {
        let text = crash_unnamed(5);
        let mut input = vec![0xFF, 0xFE];
        input.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let (events, _) = run(&input);
        assert_eq!(events.len(), 1);
        let mut bom8 = b"\xEF\xBB\xBF".to_vec();
        bom8.extend_from_slice(text.as_bytes());
        let (events, stats) = run(&bom8);
        assert_eq!(events.len(), 1);
        assert_eq!(stats.bytes, bom8.len() as u64);
    }

    #[test]
    fn broken_records_are_counted_and_the_rest_read() {
        let input = format!(
            "{}<Event {NS}><System><EventID>1000</Event>{}<Event {NS}><System><EventID>1000</EventID></System><Event {NS}/>{}<Event {NS}><System><Provider Name=\"Application Error\"/><EventID>1000</EventID></System></Event><Event {NS}><System><Provider Name=\"Other\"/><EventID>7</EventID><TimeCreated SystemTime=\"2026-11-20T09:15:02Z\"/></System></Event><Event {NS}><System></System></Event>{}<Event {NS}><System>",
            crash_unnamed(1),
            crash_unnamed(2),
            crash_unnamed(3),
            crash_unnamed(4),
        );
        let (events, stats) = run(input.as_bytes());
        let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![1, 2, 3, 4]);
        assert_eq!(stats.errors.get("eventxml.malformed"), Some(&1));
        assert_eq!(stats.errors.get("eventxml.truncated"), Some(&2));
        assert_eq!(stats.errors.get("eventxml.no_time"), Some(&1));
        assert_eq!(
            stats.errors.get("eventxml.no_event_id"),
            Some(&2),
            "{stats:?}"
        );
        assert_eq!(stats.ignored, 1);
    }

    #[test]
    fn oversized_record_is_skipped() {
        let big = format!(
            "<Event {NS}><System><EventID>1000</EventID></System><EventData><Data>{}</Data></EventData></Event>",
            "x".repeat(MAX_EVENT + 10)
        );
        let input = format!("{big}{}", crash_unnamed(9));
        let (events, stats) = run(input.as_bytes());
        assert_eq!(stats.errors.get("eventxml.too_large"), Some(&1));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].position, 9);
        assert_eq!(stats.bytes, input.len() as u64);
    }

    #[test]
    fn similar_tag_names_are_not_records() {
        let input = format!(
            "<Events><EventData/><Objects></Objects>{}</Events>",
            crash_unnamed(1)
        );
        let (events, stats) = run(input.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn entities_in_values_and_attributes() {
        let r = parse_event_xml(
            br#"<Event><System><Provider Name="A &amp; B"/><EventID>1</EventID></System><RenderingInfo><Message>x &lt; y &#x41;&#66; &bogus;</Message></RenderingInfo></Event>"#,
        )
        .unwrap();
        assert_eq!(r.provider, "A & B");
        assert_eq!(r.message, "x < y AB &bogus;");
        assert_eq!(unescape(b"&#0;&amp"), "&#0;&amp");
    }

    #[test]
    fn record_errors() {
        assert_eq!(parse_event_xml(b"<Foo/>"), Err(RecordXmlError::NoRecord));
        assert_eq!(parse_event_xml(b""), Err(RecordXmlError::NoRecord));
        assert_eq!(
            parse_event_xml(b"<Event><System>"),
            Err(RecordXmlError::Truncated)
        );
        let deep = format!("<Event>{}", "<a>".repeat(200));
        assert_eq!(
            parse_event_xml(deep.as_bytes()),
            Err(RecordXmlError::TooDeep)
        );
    }

    #[test]
    fn tag_is_needs_enough_bytes() {
        assert_eq!(tag_is(b"Event ", b"Event"), Some(true));
        assert_eq!(tag_is(b"Events", b"Event"), Some(false));
        assert_eq!(tag_is(b"Eve", b"Event"), None);
        assert_eq!(tag_is(b"Event", b"Event"), None);
        assert_eq!(tag_is(b"Ex", b"Event"), Some(false));
        assert_eq!(tag_is(b"", b"Event"), None);
    }

    proptest! {
        #[test]
        fn any_bytes_no_panic(input in proptest::collection::vec(any::<u8>(), 0..600), cap in 1usize..64) {
            let (_, stats) = run_with(&ctx(), &input, cap);
            prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
            prop_assert_eq!(stats.bytes, input.len() as u64);
        }

        #[test]
        fn mutated_records_no_panic(cut_at in 0usize..1200, byte in any::<u8>(), cap in 1usize..64) {
            let mut input = format!("<Events>{}{}</Events>", crash_unnamed(1), crash_unnamed(2)).into_bytes();
            let i = cut_at % input.len();
            input[i] = byte;
            let (events, stats) = run_with(&ctx(), &input, cap);
            prop_assert!(events.len() <= 2);
            prop_assert_eq!(stats.bytes, input.len() as u64);
        }

        #[test]
        fn any_record_text_no_panic(s in "<Event>(<[A-Za-z]{1,8}( [a-z]+=\"[^\"<]{0,8}\")?>[^<]{0,12}(</[A-Za-z]{1,8}>)?){0,8}</Event>") {
            let _ = parse_event_xml(s.as_bytes());
        }
    }
}
