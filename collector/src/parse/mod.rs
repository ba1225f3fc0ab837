//! Parsers: pure functions from bytes to `scepwatch.v1` events.
//!
//! Every parser is
//! - **streaming**: it sees one record at a time through a bounded buffer, so a multi-GB file
//!   costs kilobytes of memory;
//! - **total**: any byte sequence yields events or counted errors in [`ParseStats`], never a
//!   panic;
//! - **deterministic**: an event's ID is derived from its source and byte offset
//!   ([`SourceContext::event_id`]), so parsing the same bytes twice gives the same events.
//!
//! Line-oriented formats implement [`LineParser`] and are driven by [`lines::for_each_line`];
//! document formats (event-log XML, `.evtx`) have their own entry points. [`parse_stream`] picks
//! the right one for a [`Format`], and [`detect::detect`] finds the format from content.

use std::collections::BTreeMap;
use std::io::BufRead;

use scepwatch_proto::v1::{Event, SourceId};
use scepwatch_proto::SourceKey;

pub mod android;
pub mod detect;
pub mod eventlog;
pub mod health;
pub mod httperr;
pub mod iis;
pub mod ios;
pub mod lines;
pub mod probe;
pub mod setupmsi;

/// Longest line any parser accepts; longer lines are skipped and counted as `line_too_long`.
pub const MAX_LINE: usize = 1 << 20;

/// What a parser knows about the source it reads, fixed for the whole stream.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// Identity of the source; copied into every event.
    pub source: SourceId,
    /// Digest of `source`, computed once.
    pub key: SourceKey,
    /// Endpoint ID for events whose record names no SCEP URL (server logs). May be empty.
    pub endpoint_id: String,
    /// When the collector read the stream (microseconds since the epoch).
    pub observed_time_us: i64,
    /// Calendar date (year, month, day) for formats whose lines carry a time but no date
    /// (the iOS console shape of the guide): normally the file's modification date.
    pub date_hint: Option<(i64, u32, u32)>,
    /// Offset of local time from UTC, in seconds, for formats whose times carry no zone
    /// (Android OMADM logs, SetupMsi.log). Zero means the times are taken as UTC.
    pub utc_offset_secs: i32,
}

impl SourceContext {
    /// A context for `source` with no endpoint, no date hint and UTC times.
    pub fn new(source: SourceId, observed_time_us: i64) -> Self {
        let key = SourceKey::of(&source);
        SourceContext {
            source,
            key,
            endpoint_id: String::new(),
            observed_time_us,
            date_hint: None,
            utc_offset_secs: 0,
        }
    }

    /// The deterministic ID of the record at `position`.
    pub fn event_id(&self, position: u64) -> Vec<u8> {
        self.key.event_id(position).to_vec()
    }

    /// An event envelope for the record at `position` with the given time and raw bytes; the
    /// caller sets `payload` (and `endpoint_id` when the record names a SCEP URL).
    pub fn envelope(&self, position: u64, event_time_us: i64, raw: &[u8]) -> Event {
        Event {
            id: self.event_id(position),
            source: Some(self.source.clone()),
            position,
            event_time_us,
            observed_time_us: self.observed_time_us,
            endpoint_id: self.endpoint_id.clone(),
            excerpt: scepwatch_proto::excerpt(raw),
            payload: None,
        }
    }

    /// Set the envelope fields of `event` (all but `excerpt` and `payload`) to those of
    /// [`SourceContext::envelope`], reusing the memory its strings already hold.
    #[inline]
    pub(crate) fn write_envelope(&self, event: &mut Event, position: u64, event_time_us: i64) {
        let id = self.key.event_id(position);
        if event.id.capacity() >= id.len() {
            event.id.clear();
            event.id.extend_from_slice(&id);
        } else {
            event.id = id.to_vec();
        }
        // Field by field: the generated `clone_from` of a message clones it whole.
        let src = &self.source;
        match &mut event.source {
            Some(dst) => {
                iis::assign(&mut dst.collector, &src.collector);
                iis::assign(&mut dst.host, &src.host);
                dst.kind = src.kind;
                iis::assign(&mut dst.path, &src.path);
                iis::assign(&mut dst.stream, &src.stream);
            }
            None => event.source = Some(src.clone()),
        }
        event.position = position;
        event.event_time_us = event_time_us;
        event.observed_time_us = self.observed_time_us;
        iis::assign(&mut event.endpoint_id, &self.endpoint_id);
    }
}

/// Counts of what one stream held. Errors are keyed by a short stable reason
/// (`"iis.bad_time"`, `"line_too_long"`, ...) so reports and metrics can show them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Bytes consumed.
    pub bytes: u64,
    /// Records (lines, or XML/evtx records) seen.
    pub records: u64,
    /// Events emitted.
    pub events: u64,
    /// Well-formed records that carry nothing of interest (comments, headers, other apps' events).
    pub ignored: u64,
    /// Malformed records by reason.
    pub errors: BTreeMap<&'static str, u64>,
    /// Earliest and latest event time emitted.
    pub first_event_us: Option<i64>,
    /// Latest event time emitted.
    pub last_event_us: Option<i64>,
}

impl ParseStats {
    /// Count one malformed record.
    pub fn error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_insert(0) += 1;
    }

    /// Total malformed records.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Account for an emitted event with this event time.
    pub fn saw_event(&mut self, event_time_us: i64) {
        self.events += 1;
        self.first_event_us = Some(
            self.first_event_us
                .map_or(event_time_us, |t| t.min(event_time_us)),
        );
        self.last_event_us = Some(
            self.last_event_us
                .map_or(event_time_us, |t| t.max(event_time_us)),
        );
    }

    /// Fold another stream's counts into these.
    pub fn merge(&mut self, other: &ParseStats) {
        self.bytes += other.bytes;
        self.records += other.records;
        self.events += other.events;
        self.ignored += other.ignored;
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        for t in [other.first_event_us, other.last_event_us]
            .into_iter()
            .flatten()
        {
            self.first_event_us = Some(self.first_event_us.map_or(t, |x| x.min(t)));
            self.last_event_us = Some(self.last_event_us.map_or(t, |x| x.max(t)));
        }
    }
}

/// Where parsed events go.
pub type Emit<'a> = dyn FnMut(Event) + 'a;

/// A parser of a line-oriented format. State (IIS `#Fields:` headers, multi-line records) lives
/// in the parser; each call sees one line without its terminator (`\n` or `\r\n`).
pub trait LineParser {
    /// Parse one line that starts at byte `offset` of the stream. Emit zero or more events;
    /// count the line in `stats` (records, ignored, or an error reason).
    fn line(
        &mut self,
        ctx: &SourceContext,
        line: &[u8],
        offset: u64,
        stats: &mut ParseStats,
        emit: &mut Emit<'_>,
    );

    /// End of stream: flush any record still being assembled.
    fn finish(&mut self, _ctx: &SourceContext, _stats: &mut ParseStats, _emit: &mut Emit<'_>) {}
}

/// The formats scepwatch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// IIS W3C extended log.
    Iis,
    /// HTTP.sys error log.
    HttpErr,
    /// Binary Windows event log (`.evtx`).
    Evtx,
    /// Event-log XML: `wevtutil qe /f:xml`, or `Get-WinEvent | ConvertTo-Xml`.
    EventXml,
    /// Event Viewer text ("Log Name: ... Event ID: ... Description: ...").
    EventText,
    /// Intune Certificate Connector `SetupMsi.log`.
    SetupMsi,
    /// Android Company Portal OMADM log.
    AndroidOmadm,
    /// iOS / macOS console or `profiled` debug log.
    IosConsole,
    /// Probe results, JSON lines.
    Probe,
    /// Server health facts, JSON lines.
    Health,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 10] = [
        Format::Iis,
        Format::HttpErr,
        Format::Evtx,
        Format::EventXml,
        Format::EventText,
        Format::SetupMsi,
        Format::AndroidOmadm,
        Format::IosConsole,
        Format::Probe,
        Format::Health,
    ];

    /// Short stable name, used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Iis => "iis",
            Format::HttpErr => "httperr",
            Format::Evtx => "evtx",
            Format::EventXml => "event-xml",
            Format::EventText => "event-text",
            Format::SetupMsi => "setupmsi",
            Format::AndroidOmadm => "android-omadm",
            Format::IosConsole => "ios-console",
            Format::Probe => "probe",
            Format::Health => "health",
        }
    }

    /// The format with this [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The source kind its events carry.
    pub fn source_kind(self) -> scepwatch_proto::v1::SourceKind {
        use scepwatch_proto::v1::SourceKind as K;
        match self {
            Format::Iis => K::Iis,
            Format::HttpErr => K::Httperr,
            Format::Evtx | Format::EventXml | Format::EventText => K::EventLog,
            Format::SetupMsi => K::SetupMsi,
            Format::AndroidOmadm => K::AndroidOmadm,
            Format::IosConsole => K::IosConsole,
            Format::Probe => K::Probe,
            Format::Health => K::Health,
        }
    }
}

/// A line parser for a line-oriented format; `None` for document formats.
pub fn line_parser(format: Format) -> Option<Box<dyn LineParser>> {
    Some(match format {
        Format::Iis => Box::new(iis::IisParser::default()),
        Format::HttpErr => Box::new(httperr::HttpErrParser::default()),
        Format::EventText => Box::new(eventlog::text::EventTextParser::default()),
        Format::SetupMsi => Box::new(setupmsi::SetupMsiParser::default()),
        Format::AndroidOmadm => Box::new(android::AndroidParser::default()),
        Format::IosConsole => Box::new(ios::IosParser::default()),
        Format::Probe => Box::new(probe::ProbeParser::default()),
        Format::Health => Box::new(health::HealthParser::default()),
        Format::Evtx | Format::EventXml => return None,
    })
}

/// Parse a whole stream of a text format (every format but [`Format::Evtx`], which needs
/// `Seek`: use [`eventlog::evtx::parse`]). UTF-16 input (with a BOM) is transcoded first.
pub fn parse_stream<R: BufRead>(
    format: Format,
    ctx: &SourceContext,
    reader: R,
    emit: &mut Emit<'_>,
) -> std::io::Result<ParseStats> {
    match format {
        Format::EventXml => eventlog::xml::parse(ctx, reader, emit),
        Format::Evtx => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "evtx needs a seekable reader: use parse::eventlog::evtx::parse",
        )),
        _ => {
            let mut stats = ParseStats::default();
            if let Some(mut parser) = line_parser(format) {
                lines::for_each_line(reader, MAX_LINE, &mut stats, |line, offset, stats| {
                    parser.line(ctx, line, offset, stats, emit)
                })?;
                parser.finish(ctx, &mut stats, emit);
            }
            Ok(stats)
        }
    }
}
