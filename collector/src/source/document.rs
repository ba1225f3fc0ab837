//! Reading a document: a file parsed whole once it has settled.
//!
//! `.evtx` files, event XML and Event Viewer text exports, `SetupMsi.log`, iOS console logs,
//! and UTF-16 text of any format are not appended to line by line in a way worth tailing: an
//! export is written once (and replaced by the next export), an installer log is written during
//! one install, and UTF-16 text cannot be cut at a byte offset without transcoding what comes
//! before. Such a file is read when it has not changed for `settle`, from its start, by the
//! same parser `diagnose` uses; events at a position below the stream's checkpoint (record
//! number for event logs, byte offset otherwise) were taken before and are skipped. A changed
//! or re-exported file is read again the same way, so only records past the checkpoint come out.
//!
//! Memory is what the parser needs plus one batch of events: events are handed out in batches
//! of [`BATCH_EVENTS`] as the parser produces them.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};

use scepwatch_proto::v1::Event;

use crate::parse::{eventlog, parse_stream, Format, ParseStats, SourceContext};

/// Events per batch handed out while a document is parsed.
pub const BATCH_EVENTS: usize = 1024;

/// Parse `file` whole as `format`, calling `deliver(events, next_position)` for each batch of
/// events at positions `>= from`, where `next_position` is one past the highest position in
/// the batch. When `deliver` returns false, no further batch is delivered (the parse still runs
/// to its end). Returns the parser's counts.
pub(crate) fn read(
    file: &mut File,
    format: Format,
    ctx: &SourceContext,
    from: u64,
    deliver: &mut dyn FnMut(Vec<Event>, u64) -> bool,
) -> io::Result<ParseStats> {
    file.seek(SeekFrom::Start(0))?;
    let mut batch: Vec<Event> = Vec::new();
    let mut next = from;
    let mut open = true;
    let mut emit = |e: Event| {
        if !open || e.position < from {
            return;
        }
        next = next.max(e.position.saturating_add(1));
        batch.push(e);
        if batch.len() >= BATCH_EVENTS {
            open = deliver(std::mem::take(&mut batch), next);
        }
    };
    let reader = BufReader::with_capacity(64 * 1024, file);
    let stats = match format {
        Format::Evtx => eventlog::evtx::parse(ctx, reader, &mut emit)?,
        _ => parse_stream(format, ctx, reader, &mut emit)?,
    };
    if open && !batch.is_empty() {
        deliver(batch, next);
    }
    Ok(stats)
}
