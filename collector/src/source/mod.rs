//! File sources: the folders of logs a collector watches, read as streams of events.
//!
//! A [`SourceSpec`] names a folder, `include` patterns and a [`Format`]. A [`Tailer`] follows
//! every matching file: it finds new ones, follows rotations, reads what was appended since the
//! last round, parses complete records and hands them out as [`Chunk`]s (the events of one
//! stream, in order, with a [`Watermark`] saying how far that stream has been read).
//! [`Checkpoints`] record those watermarks once the events are safe downstream, and a new
//! [`Tailer`] resumes from them.
//!
//! - [`identity`]: what makes a file the same stream (a content fingerprint past the IIS
//!   header lines, within the folder holding the file; never the file name or the inode) and
//!   which files are read whole instead of tailed;
//! - [`tail`]: the [`Tailer`] and how it handles rotation, copytruncate, truncation, deletion,
//!   partial lines, resumption mid-file and fairness across files;
//! - [`document`]: how files read whole (event log exports, UTF-16 logs) are read;
//! - [`checkpoint`]: the per-stream read positions and their file;
//! - [`pattern`]: the `include` patterns and the folder walk;
//! - [`open`]: opening files so that IIS can still rename and delete them (the Windows seam).
//!
//! Everything here is synchronous `std` code, the same on Windows and elsewhere; the agent runs
//! a [`Tailer`] on a thread of its own. `docs/collector.md` describes the behaviour for
//! operators.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use scepwatch_proto::v1::{Event, Watermark};

use crate::parse::Format;

pub mod checkpoint;
pub mod document;
pub mod identity;
pub mod open;
pub mod pattern;
pub mod tail;

pub use checkpoint::{CheckpointError, CheckpointKey, Checkpoints, StreamCheckpoint};
pub use identity::Fingerprint;
pub use pattern::{Pattern, PatternError};
pub use tail::Tailer;

/// One configured source: a folder, the files in it to read, and their format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// The source's configured name, e.g. `iis`; part of every checkpoint key.
    pub name: String,
    /// Format of every file of the source.
    pub format: Format,
    /// Folder the patterns are relative to.
    pub root: PathBuf,
    /// Patterns of the files to read, relative to `root` (see [`pattern`]):
    /// `W3SVC*/u_ex*.log`, `httperr*.log`, `*.evtx`.
    pub include: Vec<String>,
    /// `SourceId.host` of the events: the machine whose logs these are.
    pub host: String,
    /// Endpoint ID of events whose record names no SCEP URL (the endpoint this server serves).
    pub endpoint_id: String,
    /// Offset of local time from UTC, for formats whose times carry no zone.
    pub utc_offset_secs: i32,
}

/// Why a [`SourceSpec`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The name is empty.
    #[error("source has no name")]
    NoName,
    /// No `include` pattern.
    #[error("source {0:?} has no include pattern")]
    NoPatterns(String),
    /// A pattern does not compile.
    #[error("source {source_name:?}: {error}")]
    Pattern {
        /// The source's name.
        source_name: String,
        /// What is wrong with the pattern.
        error: PatternError,
    },
}

impl SourceSpec {
    /// Check the name and the patterns. A [`Tailer`] given an invalid spec reads nothing of
    /// the patterns that do not compile.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.name.is_empty() {
            return Err(SpecError::NoName);
        }
        if self.include.is_empty() {
            return Err(SpecError::NoPatterns(self.name.clone()));
        }
        for p in &self.include {
            Pattern::parse(p).map_err(|error| SpecError::Pattern {
                source_name: self.name.clone(),
                error,
            })?;
        }
        Ok(())
    }
}

/// How a [`Tailer`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailOptions {
    /// `SourceId.collector` of the events: this collector's name.
    pub collector: String,
    /// Most bytes read from one file in one round, so one busy file cannot starve the others.
    /// A single line longer than this is still read whole (up to
    /// [`crate::parse::MAX_LINE`]).
    pub read_chunk: usize,
    /// Handles of files that have not grown for this long are closed (reopened, after a
    /// fingerprint check, when the file grows).
    pub idle_close: Duration,
    /// Documents (`.evtx`, event XML, UTF-16 logs, ...) are read once unchanged for this long.
    pub settle: Duration,
    /// A last line without its newline is taken once the file has not changed for this long.
    pub partial_line_timeout: Duration,
    /// Most file handles kept open; the least recently read are closed beyond it.
    pub max_open: usize,
    /// A stream whose file is still there but has had nothing new for this long hands out an
    /// empty chunk with its watermark, so checkpoints of idle files that still exist stay fresh
    /// (and are not forgotten as if the file were gone).
    pub refresh: Duration,
}

impl TailOptions {
    /// Defaults for collector `collector`: 256 KiB per file per round, handles closed after
    /// 60 s idle, documents read 10 s after their last change, partial lines taken after 60 s,
    /// at most 256 open files, watermarks of idle files refreshed every 6 hours.
    pub fn new(collector: impl Into<String>) -> TailOptions {
        TailOptions {
            collector: collector.into(),
            read_chunk: 256 * 1024,
            idle_close: Duration::from_secs(60),
            settle: Duration::from_secs(10),
            partial_line_timeout: Duration::from_secs(60),
            max_open: 256,
            refresh: Duration::from_secs(6 * 3600),
        }
    }
}

impl Default for TailOptions {
    /// [`TailOptions::new`] with an empty collector name.
    fn default() -> TailOptions {
        TailOptions::new("")
    }
}

/// Events of one stream, in order, and how far that stream has been read after them.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Configured name of the source (`SourceSpec::name`), for logs and metrics.
    pub source_name: String,
    /// The events, in stream order. May be empty when only directives or ignored records were
    /// read: the watermark still moves.
    pub events: Vec<Event>,
    /// `source` is the stream's `SourceId`; `position` is the byte offset read up to (for
    /// documents one past the highest record number or offset taken); `read_from_us` and
    /// `read_up_to_us` the earliest and latest event time of the stream so far.
    pub watermark: Watermark,
}

/// What went wrong with one file in a round; the round goes on with the others.
#[derive(Debug)]
pub struct FileProblem {
    /// Configured name of the source.
    pub source_name: String,
    /// The file or folder.
    pub path: PathBuf,
    /// What was being done.
    pub action: FileAction,
    /// The error.
    pub error: std::io::Error,
}

/// The operation a [`FileProblem`] happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Listing a folder (a missing root is reported once, when it goes missing).
    List,
    /// Opening a file.
    Open,
    /// Reading a file.
    Read,
}

/// What one [`Tailer::poll`] did.
#[derive(Debug, Default)]
pub struct PollReport {
    /// Chunks handed out.
    pub chunks: usize,
    /// Events handed out.
    pub events: u64,
    /// Bytes consumed.
    pub bytes_read: u64,
    /// Some stream still has data to read (or a rotation to finish): poll again without
    /// waiting.
    pub more: bool,
    /// Files that could not be listed, opened or read.
    pub problems: Vec<FileProblem>,
}

/// Counters and gauges of a [`Tailer`], for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailStats {
    /// Files matching the patterns now.
    pub files_known: usize,
    /// File handles open now.
    pub files_open: usize,
    /// Streams held in memory (including ones whose file is gone, until forgotten).
    pub streams: usize,
    /// Paths whose content is a stream already read at another path (copies), now.
    pub duplicate_paths: usize,
    /// Paths holding a known stream but shorter than its checkpoint (a copy being written, or
    /// a file truncated and rewritten with the same first line), now.
    pub behind_paths: usize,
    /// Bytes consumed.
    pub bytes_read: u64,
    /// Records (lines, XML or evtx records) parsed.
    pub records: u64,
    /// Events handed out.
    pub events: u64,
    /// Malformed records by reason (`iis.field_count`, `line_too_long`, ...).
    pub parse_errors: BTreeMap<&'static str, u64>,
    /// A path that held a stream now holds another one, or nothing readable.
    pub rotations: u64,
    /// A stream's file got shorter than what had been read of it.
    pub truncations: u64,
    /// A stream was found again at another path (rename, or its copy after copytruncate).
    pub moves: u64,
    /// Last lines taken without their newline (after `partial_line_timeout`, or when the file
    /// went away).
    pub partial_lines: u64,
    /// Documents read (whole).
    pub documents_read: u64,
    /// File problems (listing, opening, reading).
    pub problems: u64,
}

/// Why [`Tailer::poll`] stopped.
#[derive(Debug)]
pub enum TailError<E> {
    /// The consumer of the chunks failed; the chunk it refused will be read again.
    Output(E),
}

impl<E: std::fmt::Display> std::fmt::Display for TailError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TailError::Output(e) => write!(f, "the consumer of tailed events failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TailError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TailError::Output(e) => Some(e),
        }
    }
}
