//! IIS W3C extended log (`%SystemDrive%\inetpub\logs\LogFiles\W3SVC1\u_exYYMMDD.log`).
//!
//! The columns of a data line are named by the last `#Fields:` directive. IIS writes a fresh
//! header block (`#Software`, `#Version`, `#Date`, `#Fields`) whenever the service restarts or
//! the logging configuration changes, so one file can hold several layouts; [`IisParser`] keeps
//! the current one and switches when a new `#Fields:` line arrives. Before any `#Fields:` line it
//! assumes IIS's default field set ([`DEFAULT_FIELDS`]).
//!
//! Parsing is split in two so the hot part allocates nothing:
//! - [`IisParser::parse_record`] splits a line with `memchr` and returns an [`IisRecord`] that
//!   borrows the line: byte-slice fields, parsed numbers, the event time in microseconds, the
//!   [`IisTarget`] and the SCEP [`ScepOperation`]. No UTF-8 validation, no allocation.
//! - [`IisRecord::to_event`] builds the owned `scepwatch.v1` [`Event`], decoding the SCEP
//!   message of a `GET ... operation=PKIOperation&message=...` request.
//!
//! Times in W3C logs are UTC. `-` means an empty field. IIS writes spaces inside the user agent
//! as `+`; [`IisRecord::to_event`] turns them back into spaces.

use scepwatch_proto::v1::{event::Payload, Event, IisRequest, IisTarget, ScepOperation};

use super::{Emit, LineParser, ParseStats, SourceContext};

/// The field set IIS logs when its configuration has not been changed, assumed until the first
/// `#Fields:` directive.
pub const DEFAULT_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port \
cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

/// Longest query string kept in [`IisRequest::uri_query`], in bytes. SCEP PKIOperation GETs
/// carry kilobytes of base64; the decoded message goes to `scep` instead.
pub const MAX_QUERY: usize = 512;

/// Directive that names the columns.
const FIELDS_DIRECTIVE: &[u8] = b"#Fields:";
/// Directive whose date applies to lines that log a `time` but no `date` column.
const DATE_DIRECTIVE: &[u8] = b"#Date:";

/// Most columns whose positions one line records. IIS has 22 standard fields (custom ones
/// come after them); columns past this many are still counted, not read.
const MAX_COLUMNS: usize = 32;

/// A column of the IIS W3C log that scepwatch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Field {
    Date,
    Time,
    SiteName,
    ComputerName,
    ServerIp,
    Method,
    UriStem,
    UriQuery,
    ServerPort,
    Username,
    ClientIp,
    Version,
    UserAgent,
    Cookie,
    Referer,
    Host,
    Status,
    Substatus,
    Win32Status,
    BytesSent,
    BytesReceived,
    TimeTaken,
    /// Any column scepwatch does not use; still counted so positions line up.
    Other,
}

/// Number of fields [`Layout`] locates (all but [`Field::Other`]).
const FIELD_KINDS: usize = Field::Other as usize;

impl Field {
    /// The IIS column this W3C field name denotes (names compare case-insensitively).
    fn from_iis_name(name: &[u8]) -> Field {
        const NAMES: [(&[u8], Field); 22] = [
            (b"date", Field::Date),
            (b"time", Field::Time),
            (b"s-sitename", Field::SiteName),
            (b"s-computername", Field::ComputerName),
            (b"s-ip", Field::ServerIp),
            (b"cs-method", Field::Method),
            (b"cs-uri-stem", Field::UriStem),
            (b"cs-uri-query", Field::UriQuery),
            (b"s-port", Field::ServerPort),
            (b"cs-username", Field::Username),
            (b"c-ip", Field::ClientIp),
            (b"cs-version", Field::Version),
            (b"cs(user-agent)", Field::UserAgent),
            (b"cs(cookie)", Field::Cookie),
            (b"cs(referer)", Field::Referer),
            (b"cs-host", Field::Host),
            (b"sc-status", Field::Status),
            (b"sc-substatus", Field::Substatus),
            (b"sc-win32-status", Field::Win32Status),
            (b"sc-bytes", Field::BytesSent),
            (b"cs-bytes", Field::BytesReceived),
            (b"time-taken", Field::TimeTaken),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Field::Other, |&(_, f)| f)
    }
}

/// The column layout named by one `#Fields:` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    /// Number of columns a line must have.
    len: usize,
    /// Column of each field (indexed by `Field as usize`), `None` when not logged (or past
    /// [`MAX_COLUMNS`]). A field named twice is read from its first column.
    column: [Option<u8>; FIELD_KINDS],
}

impl Layout {
    /// The layout of a `#Fields:` directive's value (the names after the colon).
    fn parse(names: &[u8]) -> Layout {
        let mut layout = Layout {
            len: 0,
            column: [None; FIELD_KINDS],
        };
        let names = names
            .split(|b| b.is_ascii_whitespace())
            .filter(|n| !n.is_empty());
        for (i, name) in names.enumerate() {
            layout.len += 1;
            let field = Field::from_iis_name(name);
            if let (Some(slot), true) = (layout.column.get_mut(field as usize), i < MAX_COLUMNS) {
                if slot.is_none() {
                    *slot = u8::try_from(i).ok();
                }
            }
        }
        layout
    }

    /// The value of `field` in `line` whose columns end at `ends`; empty when the layout has
    /// no such column or the line logged `-`.
    #[inline(always)]
    fn field<'a>(&self, line: &'a [u8], ends: &[usize; MAX_COLUMNS], field: Field) -> &'a [u8] {
        let Some(Some(k)) = self.column.get(field as usize) else {
            return &[];
        };
        let k = usize::from(*k);
        let Some(&end) = ends.get(k) else {
            return &[];
        };
        let start = match k.checked_sub(1) {
            Some(prev) => ends.get(prev).map_or(0, |&e| e + 1),
            None => 0,
        };
        dash(line.get(start..end).unwrap_or_default())
    }

    fn has(&self, field: Field) -> bool {
        self.column.get(field as usize).is_some_and(Option::is_some)
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::parse(DEFAULT_FIELDS.as_bytes())
    }
}

/// Streaming parser of an IIS W3C extended log. Holds the current `#Fields:` layout and the
/// date of the last `#Date:` directive; feed it lines in file order.
#[derive(Debug, Clone, Default)]
pub struct IisParser {
    layout: Layout,
    /// Midnight (µs) of the last `#Date:` directive, for layouts with `time` but no `date`.
    directive_day_us: Option<i64>,
    /// The last `date` column seen and its midnight in µs: consecutive lines almost always
    /// share a date, so the calendar arithmetic runs once per day of log.
    day_cache: Option<([u8; 10], i64)>,
}

/// One IIS request line, borrowing the bytes of the line. Absent fields (`-`, or not in the
/// current `#Fields:` layout) are empty slices or 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IisRecord<'a> {
    /// Event time, microseconds since the epoch (UTC, as IIS logs it).
    pub time_us: i64,
    /// `s-sitename`, e.g. `W3SVC1`.
    pub site: &'a [u8],
    /// `s-computername`.
    pub computer_name: &'a [u8],
    /// `s-ip`.
    pub server_ip: &'a [u8],
    /// `cs-method`.
    pub method: &'a [u8],
    /// `cs-uri-stem`: the path.
    pub uri_stem: &'a [u8],
    /// `cs-uri-query`, whole (it can be kilobytes long on PKIOperation GETs).
    pub uri_query: &'a [u8],
    /// `s-port`.
    pub server_port: u32,
    /// `cs-username`.
    pub username: &'a [u8],
    /// `c-ip`; IPv6 link-local addresses keep their zone (`fe80::...%13`).
    pub client_ip: &'a [u8],
    /// `cs-version`, e.g. `HTTP/1.1`.
    pub version: &'a [u8],
    /// `cs(User-Agent)` as logged, with `+` where the agent had spaces.
    pub user_agent: &'a [u8],
    /// `cs(Cookie)`.
    pub cookie: &'a [u8],
    /// `cs(Referer)`.
    pub referer: &'a [u8],
    /// `cs-host`: the Host header.
    pub host: &'a [u8],
    /// `sc-status`.
    pub status: u32,
    /// `sc-substatus`.
    pub substatus: u32,
    /// `sc-win32-status`, e.g. 1346 (ERROR_BAD_IMPERSONATION_LEVEL) on the guide's 500.
    pub win32_status: u32,
    /// `sc-bytes`.
    pub bytes_sent: u64,
    /// `cs-bytes`.
    pub bytes_received: u64,
    /// `time-taken`, milliseconds.
    pub time_taken_ms: u32,
    /// What the path targets on an NDES server.
    pub target: IisTarget,
    /// The `operation=` of the query; `Unspecified` when there is none.
    pub operation: ScepOperation,
}

impl IisParser {
    /// Parse one line (without its terminator). Returns `Ok(None)` for directives (`#...`) and
    /// blank lines, `Ok(Some(record))` for a request line, or `Err(reason)` with a stable
    /// counter name (`iis.field_count`, `iis.bad_time`, `iis.no_time`, `iis.bad_number`) for a
    /// malformed one. Never panics, whatever the bytes.
    pub fn parse_record<'a>(
        &mut self,
        line: &'a [u8],
    ) -> Result<Option<IisRecord<'a>>, &'static str> {
        let line = trim_end(line);
        match line.first() {
            None => return Ok(None),
            Some(b'#') => {
                self.directive(line);
                return Ok(None);
            }
            Some(_) => {}
        }
        let layout = &self.layout;
        if !layout.has(Field::Time) {
            return Err("iis.no_time");
        }

        // Where each column ends. One pass records the positions; the fields are then read by
        // the layout's column numbers, which costs less per column than dispatching on each
        // column's kind as it goes by.
        let mut ends = [0usize; MAX_COLUMNS];
        let mut count = 0usize;
        for at in Spaces::new(line) {
            if let Some(end) = ends.get_mut(count) {
                *end = at;
            }
            count += 1;
        }
        if let Some(end) = ends.get_mut(count) {
            *end = line.len();
        }
        count += 1;
        if count != layout.len {
            return Err("iis.field_count");
        }
        let field = |f: Field| layout.field(line, &ends, f);
        // Numbers are checked after the field count: a wrong count shifts the columns, which
        // explains any bad number, and is the more useful error to report.
        let mut bad_number = false;
        let mut u32_field = |f: Field| {
            num_u32(field(f)).unwrap_or_else(|| {
                bad_number = true;
                0
            })
        };
        let server_port = u32_field(Field::ServerPort);
        let status = u32_field(Field::Status);
        let substatus = u32_field(Field::Substatus);
        let win32_status = u32_field(Field::Win32Status);
        let time_taken_ms = u32_field(Field::TimeTaken);
        let bytes_sent = num_u64(field(Field::BytesSent));
        let bytes_received = num_u64(field(Field::BytesReceived));
        let (Some(bytes_sent), Some(bytes_received), false) =
            (bytes_sent, bytes_received, bad_number)
        else {
            return Err("iis.bad_number");
        };
        let mut rec = IisRecord {
            time_us: 0,
            site: field(Field::SiteName),
            computer_name: field(Field::ComputerName),
            server_ip: field(Field::ServerIp),
            method: field(Field::Method),
            uri_stem: field(Field::UriStem),
            uri_query: field(Field::UriQuery),
            server_port,
            username: field(Field::Username),
            client_ip: field(Field::ClientIp),
            version: field(Field::Version),
            user_agent: field(Field::UserAgent),
            cookie: field(Field::Cookie),
            referer: field(Field::Referer),
            host: field(Field::Host),
            status,
            substatus,
            win32_status,
            bytes_sent,
            bytes_received,
            time_taken_ms,
            target: IisTarget::Unspecified,
            operation: ScepOperation::Unspecified,
        };
        let (date, time) = (field(Field::Date), field(Field::Time));
        let has_date = layout.has(Field::Date);

        let day_us = if has_date {
            self.day_us(date).ok_or("iis.bad_time")?
        } else {
            self.directive_day_us.ok_or("iis.no_time")?
        };
        rec.time_us = day_us + time_of_day_us(time).ok_or("iis.bad_time")?;
        rec.target = classify_target(rec.uri_stem);
        rec.operation = operation_of(rec.uri_query);
        Ok(Some(rec))
    }

    /// Midnight of a `date` column, through the one-entry cache.
    fn day_us(&mut self, date: &[u8]) -> Option<i64> {
        let key: [u8; 10] = date.try_into().ok()?;
        if let Some((cached, us)) = self.day_cache {
            if cached == key {
                return Some(us);
            }
        }
        let us = date_us(date)?;
        self.day_cache = Some((key, us));
        Some(us)
    }

    /// Take in a `#...` line: `#Fields:` switches the layout, `#Date:` sets the date for
    /// date-less layouts; the others (`#Software`, `#Version`, `#Remark`) change nothing.
    fn directive(&mut self, line: &[u8]) {
        if let Some(names) = strip_prefix_ci(line, FIELDS_DIRECTIVE) {
            self.layout = Layout::parse(names);
        } else if let Some(value) = strip_prefix_ci(line, DATE_DIRECTIVE) {
            let value = value.trim_ascii_start();
            self.directive_day_us = value.get(..10).and_then(date_us);
        }
    }
}

impl IisRecord<'_> {
    /// The raw `message=` value when this is a SCEP PKIOperation sent by GET (the message rides
    /// in the URL); `None` otherwise, including POSTs, whose message is in the body.
    pub fn scep_message(&self) -> Option<&[u8]> {
        if self.operation == ScepOperation::PkiOperation && self.method.eq_ignore_ascii_case(b"GET")
        {
            crate::scep::message_param(self.uri_query)
        } else {
            None
        }
    }

    /// The `scepwatch.v1` event of this record, read at `offset` from the line `line` (kept as
    /// the excerpt). The endpoint is the context's: an IIS line names no host of its own.
    pub fn to_event(&self, ctx: &SourceContext, offset: u64, line: &[u8]) -> Event {
        let mut event = Event {
            payload: Some(Payload::Iis(IisRequest::default())),
            ..Event::default()
        };
        self.write_event(ctx, offset, line, &mut event);
        event
    }

    /// Make `event` the event [`IisRecord::to_event`] returns, reusing the memory of the
    /// strings it already holds. Whatever `event` held before, it ends equal to
    /// `to_event(ctx, offset, line)`; a driver that recycles consumed events this way builds
    /// each new one without allocating (an IIS event owns a dozen strings).
    pub fn write_event(&self, ctx: &SourceContext, offset: u64, line: &[u8], event: &mut Event) {
        let text = LineText::new(line);
        ctx.write_envelope(event, offset, self.time_us);
        text.write_excerpt(&mut event.excerpt);
        if !matches!(event.payload, Some(Payload::Iis(_))) {
            event.payload = Some(Payload::Iis(IisRequest::default()));
        }
        let Some(Payload::Iis(iis)) = &mut event.payload else {
            return;
        };
        text.write(&mut iis.server_ip, self.server_ip);
        iis.server_port = self.server_port;
        text.write(&mut iis.client_ip, self.client_ip);
        text.write(&mut iis.method, self.method);
        text.write(&mut iis.uri_stem, self.uri_stem);
        text.write_cut(&mut iis.uri_query, self.uri_query, MAX_QUERY);
        text.write_plus_to_space(&mut iis.user_agent, self.user_agent);
        text.write(&mut iis.username, self.username);
        iis.status = self.status;
        iis.substatus = self.substatus;
        iis.win32_status = self.win32_status;
        iis.time_taken_ms = self.time_taken_ms;
        text.write(&mut iis.site, self.site);
        text.write(&mut iis.computer_name, self.computer_name);
        iis.bytes_sent = self.bytes_sent;
        iis.bytes_received = self.bytes_received;
        iis.target = self.target as i32;
        iis.operation = self.operation as i32;
        iis.query_length = u32::try_from(self.uri_query.len()).unwrap_or(u32::MAX);
        iis.scep = self.scep_message().map(crate::scep::decode_url_param);
        text.write(&mut iis.host_header, self.host);
    }
}

impl LineParser for IisParser {
    fn line(
        &mut self,
        ctx: &SourceContext,
        line: &[u8],
        offset: u64,
        stats: &mut ParseStats,
        emit: &mut Emit<'_>,
    ) {
        stats.records += 1;
        match self.parse_record(line) {
            Ok(Some(record)) => {
                let event = record.to_event(ctx, offset, line);
                stats.saw_event(event.event_time_us);
                emit(event);
            }
            Ok(None) => stats.ignored += 1,
            Err(reason) => stats.error(reason),
        }
    }
}

/// What a request path targets on an NDES server (case-insensitive, as IIS paths are):
/// `/certsrv/mscep/mscep.dll` and `.../mscep.dll/pkiclient.exe` are the SCEP endpoint,
/// `/certsrv/mscep_admin/...` the NDES admin page, `/CertificateRegistrationSvc/...` the Intune
/// connector's NDES plugin service. Anything else is `Other`; an empty path is `Unspecified`.
pub fn classify_target(path: &[u8]) -> IisTarget {
    if path.is_empty() {
        return IisTarget::Unspecified;
    }
    const MSCEP: FoldKey<24> = FoldKey::new(b"/certsrv/mscep/mscep.dll");
    const PKICLIENT: FoldKey<14> = FoldKey::new(b"/pkiclient.exe");
    const MSCEP_ADMIN: FoldKey<20> = FoldKey::new(b"/certsrv/mscep_admin");
    const CERT_REGISTRATION: FoldKey<27> = FoldKey::new(b"/certificateregistrationsvc");
    if let Some(rest) = MSCEP.strip(path) {
        let rest = rest.strip_suffix(b"/").unwrap_or(rest);
        return if rest.is_empty() || PKICLIENT.is(rest) {
            IisTarget::Mscep
        } else {
            IisTarget::Other
        };
    }
    if MSCEP_ADMIN.strip(path).is_some_and(ends_segment) {
        return IisTarget::MscepAdmin;
    }
    if CERT_REGISTRATION.strip(path).is_some_and(ends_segment) {
        return IisTarget::CertRegistrationSvc;
    }
    IisTarget::Other
}

/// The SCEP operation named by the first `operation=` parameter of a query string
/// (case-insensitive); `Unspecified` when the query has none, `Other` for unknown values.
pub fn operation_of(query: &[u8]) -> ScepOperation {
    // Every request line pays this, and `operation=` is nearly always the first parameter:
    // compare the key at a fixed length, and scan (short) parameters byte by byte rather than
    // with a vectorised search that pays its setup per call.
    const OPERATION: FoldKey<10> = FoldKey::new(b"operation=");
    let mut rest = query;
    loop {
        if let Some(value) = OPERATION.strip(rest) {
            let end = value.iter().position(|&b| b == b'&').unwrap_or(value.len());
            return operation_named(value.get(..end).unwrap_or_default());
        }
        match rest.iter().position(|&b| b == b'&') {
            Some(amp) => rest = rest.get(amp + 1..).unwrap_or_default(),
            None => return ScepOperation::Unspecified,
        }
    }
}

/// The operation a SCEP `operation=` value names.
fn operation_named(value: &[u8]) -> ScepOperation {
    const GET_CA_CAPS: FoldKey<9> = FoldKey::new(b"getcacaps");
    const GET_CA_CERT: FoldKey<9> = FoldKey::new(b"getcacert");
    const PKI_OPERATION: FoldKey<12> = FoldKey::new(b"pkioperation");
    const GET_NEXT_CA_CERT: FoldKey<13> = FoldKey::new(b"getnextcacert");
    if GET_CA_CAPS.is(value) {
        ScepOperation::GetCaCaps
    } else if GET_CA_CERT.is(value) {
        ScepOperation::GetCaCert
    } else if PKI_OPERATION.is(value) {
        ScepOperation::PkiOperation
    } else if GET_NEXT_CA_CERT.is(value) {
        ScepOperation::GetNextCaCert
    } else {
        ScepOperation::Other
    }
}

/// True when a path prefix ended at a segment boundary.
fn ends_segment(rest: &[u8]) -> bool {
    rest.is_empty() || rest.first() == Some(&b'/')
}

/// Positions of the spaces of a line, in order.
///
/// Finds them 64 bytes at a time as a bit mask, then hands out one position per set bit.
/// W3C fields average a dozen bytes: too short for a vectorised search per field to pay its
/// setup, while this costs a few vector instructions per block and two bit operations per
/// field.
pub(crate) struct Spaces<'a> {
    line: &'a [u8],
    /// Offset of the block `spaces` describes.
    block: usize,
    /// Spaces of that block not yet handed out: bit `i` for byte `block + i`.
    spaces: u64,
}

/// Bytes per block of [`Spaces`]: one bit each in a `u64`.
const BLOCK: usize = 64;

impl<'a> Spaces<'a> {
    /// The spaces of `line`.
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Spaces {
            line,
            block: 0,
            spaces: space_mask(line, 0),
        }
    }
}

impl Iterator for Spaces<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.spaces == 0 {
            if self.block >= self.line.len().saturating_sub(BLOCK) {
                return None;
            }
            self.block += BLOCK;
            self.spaces = space_mask(self.line, self.block);
        }
        let at = self.block + self.spaces.trailing_zeros() as usize;
        self.spaces &= self.spaces - 1;
        Some(at)
    }
}

/// The space-separated fields of a W3C line, empty ones included (`a  b` has three).
pub(crate) struct Fields<'a> {
    line: &'a [u8],
    spaces: Spaces<'a>,
    /// Start of the next field; `None` once the last field was handed out.
    start: Option<usize>,
}

impl<'a> Fields<'a> {
    /// The fields of `line`.
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Fields {
            line,
            spaces: Spaces::new(line),
            start: Some(0),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.start?;
        let end = self.spaces.next();
        self.start = end.map(|at| at + 1);
        Some(
            self.line
                .get(start..end.unwrap_or(self.line.len()))
                .unwrap_or_default(),
        )
    }
}

/// Bit `i` set where byte `at + i` of `line` is a space; bytes past the end count as not.
#[inline]
fn space_mask(line: &[u8], at: usize) -> u64 {
    let mut mask = 0u64;
    for k in 0..BLOCK / 16 {
        let from = at + 16 * k;
        let chunk_mask = if let Some(full) = line.get(from..).and_then(<[u8]>::first_chunk) {
            spaces16(*full)
        } else if from >= line.len() {
            break;
        } else if let Some(last) = line.last_chunk::<16>() {
            // Fewer than 16 bytes left: test the line's last 16 (overlapping bytes already
            // seen) and shift the bits of those already seen out.
            spaces16(*last) >> (16 - (line.len() - from))
        } else {
            let mut short = [0u8; 16];
            for (d, s) in short.iter_mut().zip(line.get(from..).unwrap_or_default()) {
                *d = *s;
            }
            spaces16(short)
        };
        mask |= u64::from(chunk_mask) << (16 * k);
    }
    mask
}

/// Bit `i` set where `chunk[i]` is a space.
#[cfg(target_arch = "x86_64")]
#[inline]
fn spaces16(chunk: [u8; 16]) -> u16 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x};
    let x = u128::from_le_bytes(chunk);
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics exist on every CPU this
    // code can run on; they take and return plain values (no memory access).
    unsafe {
        let v = _mm_set_epi64x((x >> 64) as i64, x as i64);
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8))) as u16
    }
}

/// Bit `i` set where `chunk[i]` is a space.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn spaces16(chunk: [u8; 16]) -> u16 {
    let mut mask = 0u16;
    for (i, &b) in chunk.iter().enumerate() {
        mask |= u16::from(b == b' ') << i;
    }
    mask
}

/// A constant ASCII string matched with letters in either case, at a fixed length.
///
/// Every request line is classified, so these compares are on the hot path: the fixed length
/// and the precomputed case mask let the compiler compare whole vectors instead of looping
/// through the general `eq_ignore_ascii_case`. Setting bit 0x20 folds a byte onto a lower-case
/// letter only if it is that letter in either case, so the match is exact.
struct FoldKey<const N: usize> {
    /// The string, lower-case.
    key: [u8; N],
    /// 0x20 where `key` has a letter, 0 elsewhere.
    fold: [u8; N],
}

impl<const N: usize> FoldKey<N> {
    /// The key for `key`, which must be lower-case.
    const fn new(key: &[u8; N]) -> Self {
        let mut fold = [0u8; N];
        let mut i = 0;
        while i < N {
            if key[i].is_ascii_lowercase() {
                fold[i] = 0x20;
            }
            i += 1;
        }
        FoldKey { key: *key, fold }
    }

    /// `s` without this key at its start, if it starts with it.
    #[inline]
    fn strip<'a>(&self, s: &'a [u8]) -> Option<&'a [u8]> {
        let (head, rest) = s.split_first_chunk::<N>()?;
        // Eight bytes at a time, then the remainder byte by byte.
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        let (h, f, k) = (
            head.chunks_exact(8),
            self.fold.chunks_exact(8),
            self.key.chunks_exact(8),
        );
        let tail = h
            .remainder()
            .iter()
            .zip(f.remainder())
            .zip(k.remainder())
            .fold(0u8, |diff, ((&b, &fold), &k)| diff | ((b | fold) ^ k));
        let diff = h
            .zip(f)
            .zip(k)
            .fold(u64::from(tail), |diff, ((b, fold), k)| {
                diff | ((word(b) | word(fold)) ^ word(k))
            });
        (diff == 0).then_some(rest)
    }

    /// True when `s` is this key.
    #[inline]
    fn is(&self, s: &[u8]) -> bool {
        self.strip(s).is_some_and(<[u8]>::is_empty)
    }
}

/// `s` without `prefix`, compared ASCII case-insensitively.
pub(crate) fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// A W3C field value, with `-` (absent) as empty.
#[inline]
pub(crate) fn dash(v: &[u8]) -> &[u8] {
    match v {
        [b'-'] => &[],
        _ => v,
    }
}

/// `line` without trailing spaces, tabs and carriage returns.
pub(crate) fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = line {
        line = rest;
    }
    line
}

/// Value of one ASCII digit, or `None`.
#[inline]
fn digit(b: u8) -> Option<u32> {
    let d = b.wrapping_sub(b'0');
    (d <= 9).then_some(u32::from(d))
}

#[inline]
fn two_digits(a: u8, b: u8) -> Option<u32> {
    Some(digit(a)? * 10 + digit(b)?)
}

/// A decimal count; empty (an absent `-`) is 0. `None` on anything but digits or overflow.
#[inline]
pub(crate) fn num_u32(v: &[u8]) -> Option<u32> {
    if v.len() <= 9 {
        // Nine digits cannot overflow: skip the checks on the common short counts.
        return v.iter().try_fold(0u32, |n, &b| Some(n * 10 + digit(b)?));
    }
    let mut n: u32 = 0;
    for &b in v {
        n = n.checked_mul(10)?.checked_add(digit(b)?)?;
    }
    Some(n)
}

/// [`num_u32`] for 64-bit byte counts.
#[inline]
pub(crate) fn num_u64(v: &[u8]) -> Option<u64> {
    if v.len() <= 19 {
        return v
            .iter()
            .try_fold(0u64, |n, &b| Some(n * 10 + u64::from(digit(b)?)));
    }
    let mut n: u64 = 0;
    for &b in v {
        n = n.checked_mul(10)?.checked_add(u64::from(digit(b)?))?;
    }
    Some(n)
}

/// Midnight UTC, in µs since the epoch, of a W3C `date` (`2017-08-08`).
pub(crate) fn date_us(date: &[u8]) -> Option<i64> {
    let &[y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = date else {
        return None;
    };
    let year = two_digits(y1, y2)? * 100 + two_digits(y3, y4)?;
    scepwatch_proto::time::civil_to_us(
        i64::from(year),
        two_digits(m1, m2)?,
        two_digits(d1, d2)?,
        0,
        0,
        0,
        0,
    )
}

/// Microseconds since midnight of a W3C `time` (`20:22:16`, optionally with a fraction
/// `20:22:16.123` as some log modules write).
pub(crate) fn time_of_day_us(time: &[u8]) -> Option<i64> {
    let [h1, h2, b':', m1, m2, b':', s1, s2, frac @ ..] = time else {
        return None;
    };
    let (h, m, s) = (
        two_digits(*h1, *h2)?,
        two_digits(*m1, *m2)?,
        two_digits(*s1, *s2)?,
    );
    // 60 admits a leap second, as civil_to_us does.
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let micros = match frac {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let mut us = 0u32;
            for (i, &b) in digits.iter().enumerate() {
                let d = digit(b)?;
                if i < 6 {
                    us = us * 10 + d;
                }
            }
            // Scale e.g. ".123" (ms) up to µs.
            for _ in digits.len()..6 {
                us *= 10;
            }
            us
        }
        _ => return None,
    };
    Some((i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * 1_000_000 + i64::from(micros))
}

/// Owned text of a field; invalid UTF-8 replaced.
pub(crate) fn text(v: &[u8]) -> String {
    // `from_utf8` validates faster than the lossy path; logs are nearly always valid.
    match std::str::from_utf8(v) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(v).into_owned(),
    }
}

/// Owned text of at most `max` bytes of `v`, cut on a character boundary.
pub(crate) fn text_cut(v: &[u8], max: usize) -> String {
    if v.len() <= max {
        return text(v);
    }
    let mut end = max;
    // Step back over UTF-8 continuation bytes so the cut does not split a character.
    while end > 0 && v.get(end).is_some_and(|&b| b & 0xC0 == 0x80) && max - end < 3 {
        end -= 1;
    }
    let mut s = text(v.get(..end).unwrap_or_default());
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The user agent with IIS's `+` turned back into spaces.
fn plus_to_space(v: &[u8]) -> String {
    let bytes: Vec<u8> = v
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Set `dst` to `s`, in the memory `dst` holds when it is large enough; otherwise one exact
/// allocation (growing an empty string would take the slower reallocation path).
#[inline]
pub(crate) fn assign(dst: &mut String, s: &str) {
    if dst.capacity() >= s.len() {
        dst.clear();
        dst.push_str(s);
    } else {
        *dst = s.to_owned();
    }
}

/// One log line whose fields become the strings of an event.
///
/// Validating UTF-8 field by field costs a call and its setup per field; the line is
/// validated once instead, and when it is valid (nearly always) every field is a slice of the
/// line's `&str`, copied without a second check. Fields of an invalid line, or slices that
/// are not part of the line, take the per-field path ([`text`], [`text_cut`]), which replaces
/// what is invalid. The `write` methods overwrite a string in place, keeping its memory.
pub(crate) struct LineText<'a> {
    line: &'a [u8],
    /// `line` as text, when it is valid UTF-8.
    text: Option<&'a str>,
}

impl<'a> LineText<'a> {
    /// `line`, validated once.
    pub(crate) fn new(line: &'a [u8]) -> Self {
        LineText {
            line,
            text: std::str::from_utf8(line).ok(),
        }
    }

    /// `field` as a `&str` of the line, when the line is valid UTF-8 and `field` lies within it.
    #[inline(always)]
    fn str_of(&self, field: &[u8]) -> Option<&'a str> {
        let text = self.text?;
        // Where the field starts in the line, from the addresses: the record's fields borrow
        // the line they were parsed from. `str::get` then checks the bounds and that both ends
        // fall on character boundaries, so any other slice simply yields `None`.
        let start = (field.as_ptr() as usize).checked_sub(self.line.as_ptr() as usize)?;
        text.get(start..start.checked_add(field.len())?)
    }

    /// [`text`] of `field`.
    pub(crate) fn text(&self, field: &[u8]) -> String {
        let mut s = String::new();
        self.write(&mut s, field);
        s
    }

    /// [`text_cut`] of `field`.
    pub(crate) fn text_cut(&self, field: &[u8], max: usize) -> String {
        let mut s = String::new();
        self.write_cut(&mut s, field, max);
        s
    }

    /// Set `dst` to [`text`] of `field`.
    #[inline(always)]
    pub(crate) fn write(&self, dst: &mut String, field: &[u8]) {
        if field.is_empty() {
            dst.clear();
            return;
        }
        match self.str_of(field) {
            Some(s) => assign(dst, s),
            None => *dst = text(field),
        }
    }

    /// Set `dst` to [`text_cut`] of `field`.
    pub(crate) fn write_cut(&self, dst: &mut String, field: &[u8], max: usize) {
        match self.str_of(field) {
            // On valid UTF-8, `text_cut` steps back to the start of the character that holds
            // byte `max`: the floor boundary.
            Some(s) => {
                let mut end = max.min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                assign(dst, s.get(..end).unwrap_or(s));
            }
            None => *dst = text_cut(field, max),
        }
    }

    /// Set `dst` to [`plus_to_space`] of `field`.
    fn write_plus_to_space(&self, dst: &mut String, field: &[u8]) {
        let Some(s) = self.str_of(field) else {
            *dst = plus_to_space(field);
            return;
        };
        let mut bytes = std::mem::take(dst).into_bytes();
        if bytes.capacity() >= s.len() {
            bytes.clear();
            bytes.extend_from_slice(s.as_bytes());
        } else {
            bytes = s.as_bytes().to_vec();
        }
        // Branch-free, so it compiles to vector compares and blends.
        for b in &mut bytes {
            *b = if *b == b'+' { b' ' } else { *b };
        }
        // Swapping one ASCII byte for another keeps UTF-8 valid, so this never falls back;
        // the check is one fast pass over the few dozen bytes of a user agent.
        *dst = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }

    /// Set `dst` to the event excerpt of the whole line, [`scepwatch_proto::excerpt`].
    pub(crate) fn write_excerpt(&self, dst: &mut String) {
        match self.text {
            Some(s) if s.len() <= scepwatch_proto::MAX_EXCERPT => assign(dst, s),
            _ => *dst = scepwatch_proto::excerpt(self.line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::time::civil_to_us;
    use scepwatch_proto::v1::{SourceId, SourceKind};

    /// The guide's 500 line: impersonation right missing, win32 status 1346.
    const GUIDE_500: &[u8] = b"2017-08-08 20:22:16 IP_address GET /certsrv/mscep/mscep.dll operation=GetCACert&message=SCEP%20Authority 443 - 10.5.14.22 profiled/1.0+CFNetwork/811.5.4+Darwin/16.6.0 - 500 0 1346 31";

    fn ctx() -> SourceContext {
        let mut c = SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "ndes01".into(),
                kind: SourceKind::Iis as i32,
                path: r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex170808.log".into(),
                stream: String::new(),
            },
            0,
        );
        c.endpoint_id = "https://ndes.contoso.com/certsrv/mscep/mscep.dll".into();
        c
    }

    fn run(input: &[u8]) -> (Vec<Event>, ParseStats) {
        let mut events = Vec::new();
        let stats =
            super::super::parse_stream(super::super::Format::Iis, &ctx(), input, &mut |e| {
                events.push(e)
            })
            .unwrap();
        (events, stats)
    }

    fn iis(e: &Event) -> &IisRequest {
        match &e.payload {
            Some(Payload::Iis(r)) => r,
            other => panic!("not an IIS payload: {other:?}"),
        }
    }

    #[test]
    fn guide_500_line_with_default_fields() {
        let mut p = IisParser::default();
        let r = p.parse_record(GUIDE_500).unwrap().unwrap();
        assert_eq!(r.time_us, civil_to_us(2017, 8, 8, 20, 22, 16, 0).unwrap());
        assert_eq!(r.server_ip, b"IP_address");
        assert_eq!(r.method, b"GET");
        assert_eq!(r.uri_stem, b"/certsrv/mscep/mscep.dll");
        assert_eq!(r.server_port, 443);
        assert_eq!(r.username, b"");
        assert_eq!(r.client_ip, b"10.5.14.22");
        assert_eq!(r.referer, b"");
        assert_eq!(
            (r.status, r.substatus, r.win32_status, r.time_taken_ms),
            (500, 0, 1346, 31)
        );
        assert_eq!(r.target, IisTarget::Mscep);
        assert_eq!(r.operation, ScepOperation::GetCaCert);
        assert_eq!(r.scep_message(), None);

        let e = r.to_event(&ctx(), 7, GUIDE_500);
        let q = iis(&e);
        assert_eq!(q.user_agent, "profiled/1.0 CFNetwork/811.5.4 Darwin/16.6.0");
        assert_eq!(q.uri_query, "operation=GetCACert&message=SCEP%20Authority");
        assert_eq!(q.query_length, 44);
        assert_eq!(q.scep, None);
        assert_eq!(e.endpoint_id, ctx().endpoint_id);
        assert_eq!(e.position, 7);
        assert_eq!(e.id, ctx().event_id(7));
        assert_eq!(e.excerpt.as_bytes(), GUIDE_500);
    }

    #[test]
    fn guide_lines_without_date_are_counted_errors() {
        // The guide prints these without the leading date and time; against the default field
        // set they are one field short.
        let input = b"fe80::f53d:89b8:c3e8:5fec%13 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACaps&message=default 80 - fe80::f53d:89b8:c3e8:5fec%13 Mozilla/4.0+(compatible;+Win32;+NDES+client) - 200 0 0 186 0\n";
        let (events, stats) = run(input);
        assert!(events.is_empty());
        assert_eq!(stats.errors.get("iis.field_count"), Some(&1));
    }

    #[test]
    fn fields_without_time_error_no_time() {
        let input = b"#Fields: s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n\
fe80::f53d:89b8:c3e8:5fec%13 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=ca 443 - fe80::f53d:89b8:c3e8:5fec%13 Dalvik/2.1.0+(Linux;+U;+Android+5.0;+P01M+Build/LRX21V) - 200 0 0 3909 0\n";
        let (events, stats) = run(input);
        assert!(events.is_empty());
        assert_eq!(stats.ignored, 1);
        assert_eq!(stats.errors.get("iis.no_time"), Some(&1));
    }

    #[test]
    fn time_only_layout_takes_the_date_directive() {
        let input = b"#Date: 2018-02-27 05:00:00\n#Fields: time c-ip cs-method cs-uri-stem sc-status\n05:16:09 fe80::1%13 GET /certsrv/mscep/mscep.dll 200\n";
        let (events, stats) = run(input);
        assert_eq!(stats.error_count(), 0);
        assert_eq!(
            events[0].event_time_us,
            civil_to_us(2018, 2, 27, 5, 16, 9, 0).unwrap()
        );
    }

    #[test]
    fn fields_change_mid_file() {
        let input = b"#Software: Microsoft Internet Information Services 10.0\n\
#Version: 1.0\n\
#Date: 2026-11-20 00:00:00\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n\
2026-11-20 08:00:01 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - 10.1.2.3 Dalvik/2.1.0+(Linux;+U;+Android+13) - 200 0 0 15\n\
#Software: Microsoft Internet Information Services 10.0\n\
#Version: 1.0\n\
#Date: 2026-11-20 09:00:00\n\
#Fields: date time s-sitename s-computername s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs-version cs(User-Agent) cs(Cookie) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken\n\
2026-11-20 09:00:02 W3SVC1 NDES01 10.0.0.5 POST /certsrv/mscep/mscep.dll operation=PKIOperation 443 - 10.1.2.3 HTTP/1.1 Dalvik/2.1.0+(Linux;+U;+Android+13) - - ndes.contoso.com 503 0 0 326 2734 4\n";
        let (events, stats) = run(input);
        assert_eq!(stats.error_count(), 0, "{stats:?}");
        assert_eq!(stats.ignored, 8);
        assert_eq!(events.len(), 2);
        let a = iis(&events[0]);
        assert_eq!((a.status, a.site.as_str(), a.bytes_sent), (200, "", 0));
        let b = iis(&events[1]);
        assert_eq!(b.site, "W3SVC1");
        assert_eq!(b.computer_name, "NDES01");
        assert_eq!(b.host_header, "ndes.contoso.com");
        assert_eq!(b.method, "POST");
        assert_eq!(b.operation, ScepOperation::PkiOperation as i32);
        assert_eq!((b.status, b.bytes_sent, b.bytes_received), (503, 326, 2734));
        assert_eq!(b.scep, None, "a POST carries its message in the body");
    }

    #[test]
    fn get_pkioperation_decodes_message_and_cuts_query() {
        let message = "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgMFADCABgkqhkiG9w0BBwGggCSABIIZfzCABgkqhkiG9w0BBwOggDCAAgEAMYIBgjCCAX4CAQAwZjBPMRUwEwYKCZImiZPyLGQBGRYFbG9jYWwxHDAaBgoJkiaJk%2FIsZAEZFgxmb3VydGhjb2ZmZWUxGDAWBgNVBAMTD0ZvdXJ0aENvZmZlZSBDQQITaAAAAAmaneVjEPlcTwAAAAAACTANBgkqhkiG9w0BAQEFAASCAQCqfsOYpuBToerQLkw%2Ftl4tH9E%2B97TBTjGQN9NCjSgb78fF6edY0pNDU%2BPH4RB356wv3rfZi5IiNrVu5Od4k6uK4w0582ZM2n8NJFRY7KWSNHsmTIWlo%2FVcr4laAtq5rw%2BCygaYcefptcaamkjdLj07e%2FUk4KsetGo7ztPVjSEFwfRIfKv474dLDmPqp0ZwEWRQGZwmPoqFMbX3g85CJT8khPaqFW05yGDTPSX9YpuEE0Bmtht9EwOpOZe6O7sd77IhfFZVmHmwy5mIYN7K6mpx";
        let line = format!("2026-11-20 08:00:01 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message={message} 443 - 10.1.2.3 profiled/1.0+CFNetwork/1410.0.3+Darwin/22.6.0 - 414 0 0 1");
        let mut p = IisParser::default();
        let r = p.parse_record(line.as_bytes()).unwrap().unwrap();
        assert_eq!(r.target, IisTarget::Mscep);
        assert_eq!(r.scep_message(), Some(message.as_bytes()));
        let e = r.to_event(&ctx(), 0, line.as_bytes());
        let q = iis(&e);
        assert!(q.scep.is_some());
        assert_eq!(
            q.query_length as usize,
            "operation=PKIOperation&message=".len() + message.len()
        );
        assert_eq!(q.uri_query.len(), MAX_QUERY);
        assert!(q
            .uri_query
            .starts_with("operation=PKIOperation&message=MIAG"));
    }

    #[test]
    fn ipv6_zone_ids_and_android_agents() {
        let line = b"2018-02-27 05:16:14 fe80::f53d:89b8:c3e8:5fec%13 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=ca 443 - fe80::f53d:89b8:c3e8:5fec%13 Dalvik/2.1.0+(Linux;+U;+Android+5.0;+P01M+Build/LRX21V) - 200 0 0 421";
        let mut p = IisParser::default();
        let r = p.parse_record(line).unwrap().unwrap();
        assert_eq!(r.client_ip, b"fe80::f53d:89b8:c3e8:5fec%13");
        assert_eq!(r.server_ip, b"fe80::f53d:89b8:c3e8:5fec%13");
        assert_eq!(r.operation, ScepOperation::GetCaCaps);
        let e = r.to_event(&ctx(), 0, line);
        assert_eq!(
            iis(&e).user_agent,
            "Dalvik/2.1.0 (Linux; U; Android 5.0; P01M Build/LRX21V)"
        );
    }

    #[test]
    fn counted_errors_for_bad_lines() {
        let input = b"2017-08-08 25:22:16 s GET /x - 443 - c ua - 200 0 0 1\n\
2017-02-30 20:22:16 s GET /x - 443 - c ua - 200 0 0 1\n\
2017-08-08 20:22:16 s GET /x - 443 - c ua - 2OO 0 0 1\n\
2017-08-08 20:22:16 s GET /x - 443 - c ua - 200 0 0 1 extra\n\
2017-08-08 20:22:16 s GET /x - 443 - c ua - 200 0 0 99999999999\n\
\n\
2017-08-08 20:22:16 s GET /x - 443 - c ua - 200 0 0 1   \r\n";
        let (events, stats) = run(input);
        assert_eq!(events.len(), 1, "trailing blanks are tolerated");
        assert_eq!(stats.errors.get("iis.bad_time"), Some(&2));
        assert_eq!(stats.errors.get("iis.bad_number"), Some(&2));
        assert_eq!(stats.errors.get("iis.field_count"), Some(&1));
        assert_eq!(stats.ignored, 1);
        assert_eq!(stats.records, 7);
    }

    #[test]
    fn targets() {
        use IisTarget as T;
        for (path, want) in [
            ("/certsrv/mscep/mscep.dll", T::Mscep),
            ("/CertSrv/MSCEP/MSCEP.DLL", T::Mscep),
            ("/certsrv/mscep/mscep.dll/pkiclient.exe", T::Mscep),
            ("/certsrv/mscep/mscep.dll/PKIClient.exe/", T::Mscep),
            ("/certsrv/mscep/mscep.dll/other", T::Other),
            ("/certsrv/mscep/mscep.dllx", T::Other),
            ("/certsrv/mscep_admin", T::MscepAdmin),
            ("/certsrv/mscep_admin/", T::MscepAdmin),
            ("/CertSrv/mscep_admin/default.asp", T::MscepAdmin),
            ("/certsrv/mscep_administrator", T::Other),
            (
                "/CertificateRegistrationSvc/Certificate.svc",
                T::CertRegistrationSvc,
            ),
            ("/certificateregistrationsvc", T::CertRegistrationSvc),
            ("/", T::Other),
            ("", T::Unspecified),
        ] {
            assert_eq!(classify_target(path.as_bytes()), want, "{path}");
        }
    }

    #[test]
    fn operations() {
        use ScepOperation as O;
        for (q, want) in [
            ("operation=GetCACaps&message=ca", O::GetCaCaps),
            ("message=ca&OPERATION=getcacert", O::GetCaCert),
            ("operation=PKIOperation", O::PkiOperation),
            ("operation=GetNextCACert&message=x", O::GetNextCaCert),
            ("operation=GetCRL", O::Other),
            ("operation=", O::Other),
            ("xoperation=GetCACaps", O::Unspecified),
            ("", O::Unspecified),
            ("&&", O::Unspecified),
        ] {
            assert_eq!(operation_of(q.as_bytes()), want, "{q}");
        }
    }

    #[test]
    fn fields_split_like_std() {
        for line in [
            &b""[..],
            b" ",
            b"a",
            b"a b",
            b"a  b ",
            b"12345678 1234567 123456789",
            b"0123456789012345678901234567890123456789012345678901234567890123 5",
            b"012345678901234567890123456789012345678901234567890123456789012 4",
            b"        ",
            b"x\x20\xa0\xff y",
        ] {
            let want: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            assert_eq!(Fields::new(line).collect::<Vec<_>>(), want, "{line:?}");
        }
    }

    #[test]
    fn fractional_time() {
        assert_eq!(time_of_day_us(b"00:00:01.5"), Some(1_500_000));
        assert_eq!(time_of_day_us(b"00:00:01.1234567"), Some(1_123_456));
        assert_eq!(time_of_day_us(b"00:00:01."), None);
        assert_eq!(time_of_day_us(b"00:60:01"), None);
        assert_eq!(time_of_day_us(b"0:00:01"), None);
    }

    #[test]
    fn text_cut_keeps_char_boundaries() {
        assert_eq!(text_cut("abcé".as_bytes(), 4), "abc");
        assert_eq!(text_cut("abcé".as_bytes(), 5), "abcé");
        assert!(text_cut(&[0xff; 20], 10).len() <= 10);
    }

    /// Generated request fields, written the way IIS writes them.
    #[derive(Debug, Clone)]
    struct Gen {
        secs: i64,
        stem: &'static str,
        op: Option<&'static str>,
        ua_words: Vec<String>,
        status: u32,
        win32: u32,
        port: u32,
    }

    fn gen() -> impl Strategy<Value = Gen> {
        (
            0i64..(100 * 365 * 86_400),
            prop::sample::select(vec![
                "/certsrv/mscep/mscep.dll",
                "/certsrv/mscep/mscep.dll/pkiclient.exe",
                "/CERTSRV/MSCEP_ADMIN/",
                "/CertificateRegistrationSvc/Certificate.svc",
                "/favicon.ico",
            ]),
            prop::option::of(prop::sample::select(vec![
                "GetCACaps",
                "getcacert",
                "PKIOperation",
                "GetNextCACert",
                "Foo",
            ])),
            prop::collection::vec("[A-Za-z][A-Za-z0-9/.;()_-]{0,11}", 1..5),
            100u32..600,
            any::<u32>(),
            any::<u16>(),
        )
            .prop_map(|(secs, stem, op, ua_words, status, win32, port)| Gen {
                secs,
                stem,
                op,
                ua_words,
                status,
                win32,
                port: u32::from(port),
            })
    }

    fn line_of(g: &Gen) -> (String, i64) {
        let us = (1_000_000_000 + g.secs) * 1_000_000;
        let t = scepwatch_proto::time::to_rfc3339(us);
        // "2001-09-09T01:46:40Z" -> "2001-09-09 01:46:40"
        let date = &t[..10];
        let time = &t[11..19];
        let query =
            g.op.map_or("-".to_string(), |o| format!("operation={o}&message=ca"));
        let line = format!(
            "{date} {time} 10.0.0.1 GET {} {query} {} - 10.0.0.2 {} - {} 0 {} 12",
            g.stem,
            g.port,
            g.ua_words.join("+"),
            g.status,
            g.win32
        );
        (line, us)
    }

    /// The event as `to_event` built it before it validated lines once: every text field
    /// converted on its own, the excerpt through the lossy conversion. Kept to prove the
    /// faster build gives the same events.
    fn reference_event(r: &IisRecord<'_>, ctx: &SourceContext, offset: u64, line: &[u8]) -> Event {
        fn excerpt(bytes: &[u8]) -> String {
            let cut = &bytes[..bytes.len().min(scepwatch_proto::MAX_EXCERPT)];
            let mut s = String::from_utf8_lossy(cut).into_owned();
            if s.len() > scepwatch_proto::MAX_EXCERPT {
                let mut end = scepwatch_proto::MAX_EXCERPT;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
            s
        }
        Event {
            id: ctx.event_id(offset),
            source: Some(ctx.source.clone()),
            position: offset,
            event_time_us: r.time_us,
            observed_time_us: ctx.observed_time_us,
            endpoint_id: ctx.endpoint_id.clone(),
            excerpt: excerpt(line),
            payload: Some(Payload::Iis(IisRequest {
                server_ip: text(r.server_ip),
                server_port: r.server_port,
                client_ip: text(r.client_ip),
                method: text(r.method),
                uri_stem: text(r.uri_stem),
                uri_query: text_cut(r.uri_query, MAX_QUERY),
                user_agent: plus_to_space(r.user_agent),
                username: text(r.username),
                status: r.status,
                substatus: r.substatus,
                win32_status: r.win32_status,
                time_taken_ms: r.time_taken_ms,
                site: text(r.site),
                computer_name: text(r.computer_name),
                bytes_sent: r.bytes_sent,
                bytes_received: r.bytes_received,
                target: r.target as i32,
                operation: r.operation as i32,
                query_length: u32::try_from(r.uri_query.len()).unwrap_or(u32::MAX),
                scep: r.scep_message().map(crate::scep::decode_url_param),
                host_header: text(r.host),
            })),
        }
    }

    /// A line of the full optional field set whose text fields are `parts` (bytes of any
    /// kind, spaces taken out). `near_cut.0` places the query's text that many bytes before
    /// the [`MAX_QUERY`] cut, `near_cut.1` the user agent's text that many bytes before the
    /// excerpt's [`scepwatch_proto::MAX_EXCERPT`] cut, so multi-byte and invalid sequences
    /// straddle both.
    fn full_layout_line(parts: &[Vec<u8>], near_cut: (Option<usize>, Option<usize>)) -> Vec<u8> {
        let field = |i: usize| -> Vec<u8> {
            let v: Vec<u8> = parts
                .get(i)
                .map(|p| {
                    p.iter()
                        .copied()
                        .filter(|&b| b != b' ' && b != b'\r')
                        .collect()
                })
                .unwrap_or_default();
            if v.is_empty() {
                b"-".to_vec()
            } else {
                v
            }
        };
        let mut query = b"operation=PKIOperation&message=".to_vec();
        if let Some(k) = near_cut.0 {
            query.resize(MAX_QUERY.saturating_sub(k).max(query.len()), b'Q');
        }
        query.extend(field(4));
        let mut line = b"2026-11-20 08:00:03 ".to_vec();
        for (i, f) in [
            field(0),
            field(1),
            field(2),
            b"GET".to_vec(),
            b"/certsrv/mscep/mscep.dll".to_vec(),
            query,
            b"443".to_vec(),
            field(3),
            field(5),
            b"HTTP/1.1".to_vec(),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                line.push(b' ');
            }
            line.extend(f);
        }
        line.push(b' ');
        if let Some(k) = near_cut.1 {
            let pad = scepwatch_proto::MAX_EXCERPT
                .saturating_sub(k)
                .saturating_sub(line.len());
            line.extend((0..pad).map(|i| if i % 5 == 0 { b'+' } else { b'U' }));
        }
        line.extend(field(6));
        for f in [field(7), field(8), field(9)] {
            line.push(b' ');
            line.extend(f);
        }
        line.extend_from_slice(b" 200 0 0 10 20 30");
        line
    }

    const FULL_FIELDS: &[u8] = b"#Fields: date time s-sitename s-computername s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs-version cs(User-Agent) cs(Cookie) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken";

    /// Text that makes UTF-8 edge cases likely: ASCII, `+`, two-, three- and four-byte
    /// characters and, unless `valid`, bytes that are not UTF-8 (a lone `0xFF`, a cut
    /// sequence). A valid line takes the validate-once path, an invalid one the other.
    fn text_bytes(valid: bool) -> impl Strategy<Value = Vec<u8>> {
        let mut units: Vec<&'static [u8]> = vec![
            b"a",
            b"+",
            b"%2B",
            "é".as_bytes(),
            "€".as_bytes(),
            "🔒".as_bytes(),
        ];
        if !valid {
            units.extend([&b"\xff"[..], b"\xe2\x82", b"\xc3"]);
        }
        prop::collection::vec(prop::sample::select(units), 0..8).prop_map(|u| u.concat())
    }

    /// The ten text parts of [`full_layout_line`], all valid UTF-8 half of the time.
    fn line_parts() -> impl Strategy<Value = Vec<Vec<u8>>> {
        any::<bool>().prop_flat_map(|valid| prop::collection::vec(text_bytes(valid), 10))
    }

    #[test]
    fn write_event_over_any_event_equals_to_event() {
        let c = ctx();
        let mut p = IisParser::default();
        let _ = p.parse_record(FULL_FIELDS);
        let long = full_layout_line(
            &[b"W3SVC1".to_vec(), "NDES-Ü".as_bytes().to_vec()],
            (Some(2), Some(1)),
        );
        let short = full_layout_line(&[b"W3SVC2".to_vec()], (None, None));
        let (long_r, short_r) = (
            p.parse_record(&long).unwrap().unwrap(),
            p.parse_record(&short).unwrap().unwrap(),
        );
        let mut other = ctx().envelope(1, 2, b"x");
        other.payload = Some(Payload::Httperr(Default::default()));
        for mut event in [Event::default(), other, long_r.to_event(&c, 9, &long)] {
            short_r.write_event(&c, 5, &short, &mut event);
            assert_eq!(event, short_r.to_event(&c, 5, &short));
            long_r.write_event(&c, 9, &long, &mut event);
            assert_eq!(event, long_r.to_event(&c, 9, &long));
        }
        // A message decoded on one line is not left on the next, which has none.
        let mut event = long_r.to_event(&c, 9, &long);
        assert!(matches!(&event.payload, Some(Payload::Iis(r)) if r.scep.is_some()));
        let post = b"2026-11-20 08:00:03 W3SVC1 NDES01 10.0.0.5 POST /certsrv/mscep/mscep.dll operation=PKIOperation 443 - 10.1.1.1 HTTP/1.1 a - - h 200 0 0 1 1 1";
        let post_r = p.parse_record(post).unwrap().unwrap();
        post_r.write_event(&c, 3, post, &mut event);
        assert_eq!(event, post_r.to_event(&c, 3, post));
    }

    #[test]
    fn fields_from_elsewhere_than_the_line_are_still_converted() {
        let line = "GET /a b+c".as_bytes();
        let text = LineText::new(line);
        let other = "é+x".as_bytes().to_vec();
        assert_eq!(text.text(&other), "é+x");
        assert_eq!(text.text(&line[4..6]), "/a");
        let mut s = String::from("old");
        text.write_plus_to_space(&mut s, &other);
        assert_eq!(s, "é x");
        text.write_plus_to_space(&mut s, &line[7..]);
        assert_eq!(s, "b c");
        // A slice of the line that splits a character takes the replacing path.
        let accented = "aé b".as_bytes();
        let text = LineText::new(accented);
        assert_eq!(text.text(&accented[..2]), "a\u{fffd}");
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..8)) {
            let mut p = IisParser::default();
            let mut stats = ParseStats::default();
            let mut n = 0;
            for l in &lines {
                p.line(&ctx(), l, 0, &mut stats, &mut |_| n += 1);
            }
            prop_assert_eq!(stats.records, lines.len() as u64);
            prop_assert_eq!(stats.events + stats.ignored + stats.error_count(), stats.records);
        }

        #[test]
        fn to_event_equals_reference_on_any_text(
            parts in line_parts(),
            near_query_cut in prop::option::of(0usize..8),
            near_excerpt_cut in prop::option::of(0usize..8),
            trailing in prop::sample::select(vec![&b""[..], b"  ", b"\t"]),
        ) {
            let c = ctx();
            let mut p = IisParser::default();
            let _ = p.parse_record(FULL_FIELDS);
            let mut line = full_layout_line(&parts, (near_query_cut, near_excerpt_cut));
            line.extend_from_slice(trailing);
            let r = p.parse_record(&line).unwrap().unwrap();
            let want = reference_event(&r, &c, 42, &line);
            prop_assert_eq!(&r.to_event(&c, 42, &line), &want);
            let mut reused = Event::default();
            r.write_event(&c, 42, &line, &mut reused);
            prop_assert_eq!(reused, want);
        }

        #[test]
        fn to_event_equals_reference_on_default_layout_bytes(line in prop::collection::vec(prop_oneof![Just(b' '), any::<u8>()], 0..300)) {
            let c = ctx();
            let mut p = IisParser::default();
            if let Ok(Some(r)) = p.parse_record(&line) {
                prop_assert_eq!(r.to_event(&c, 1, &line), reference_event(&r, &c, 1, &line));
            }
        }

        #[test]
        fn fields_match_std_split(line in prop::collection::vec(prop::sample::select(vec![b' ', b'a', 0x20 | 0x80, 0, 0xff, b'-']), 0..200)) {
            let want: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            prop_assert_eq!(Fields::new(&line).collect::<Vec<_>>(), want);
        }

        #[test]
        fn mangled_valid_lines_never_panic(g in gen(), cut in 0usize..200, byte in any::<u8>(), at in 0usize..200) {
            let (line, _) = line_of(&g);
            let mut bytes = line.into_bytes();
            if let Some(b) = bytes.get_mut(at) { *b = byte; }
            bytes.truncate(cut.max(1));
            let mut p = IisParser::default();
            let _ = p.parse_record(&bytes);
        }

        #[test]
        fn generated_lines_round_trip(g in gen()) {
            let (line, us) = line_of(&g);
            let mut p = IisParser::default();
            let r = p.parse_record(line.as_bytes()).unwrap().unwrap();
            prop_assert_eq!(r.time_us, us);
            prop_assert_eq!(r.status, g.status);
            prop_assert_eq!(r.win32_status, g.win32);
            prop_assert_eq!(r.server_port, g.port);
            prop_assert_eq!(r.target, classify_target(g.stem.as_bytes()));
            let want_op = match g.op.map(str::to_ascii_lowercase).as_deref() {
                None => ScepOperation::Unspecified,
                Some("getcacaps") => ScepOperation::GetCaCaps,
                Some("getcacert") => ScepOperation::GetCaCert,
                Some("pkioperation") => ScepOperation::PkiOperation,
                Some("getnextcacert") => ScepOperation::GetNextCaCert,
                Some(_) => ScepOperation::Other,
            };
            prop_assert_eq!(r.operation, want_op);
            let e = r.to_event(&ctx(), 0, line.as_bytes());
            prop_assert_eq!(&iis(&e).user_agent, &g.ua_words.join(" "));
        }

        #[test]
        fn fields_change_mid_stream_is_honoured(a in gen(), b in gen()) {
            // Second layout: status moved to the front, extra columns, no referer.
            let (la, _) = line_of(&a);
            let (_, us_b) = line_of(&b);
            let tb = scepwatch_proto::time::to_rfc3339(us_b);
            let lb = format!("{} W3SVC1 {} {} {} 77", b.status, &tb[..10], &tb[11..19], b.stem);
            let input = format!("{la}\n#Fields: sc-status s-sitename date time cs-uri-stem sc-bytes\n{lb}\n{la}\n");
            let (events, stats) = run(input.as_bytes());
            prop_assert_eq!(stats.events, 1 + 1);
            prop_assert_eq!(stats.errors.get("iis.field_count"), Some(&1));
            let second = iis(&events[1]);
            prop_assert_eq!(second.status, b.status);
            prop_assert_eq!(second.bytes_sent, 77);
            prop_assert_eq!(&second.site, "W3SVC1");
            prop_assert_eq!(events[1].event_time_us, us_b);
        }
    }
}
