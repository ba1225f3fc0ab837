//! The [`Tailer`]: follows the files of every source and reads what is appended to them.
//!
//! # One round ([`Tailer::poll`])
//!
//! 1. **Scan.** Each source's root is walked with its patterns. Every path that is new, or
//!    whose size or modification time changed, is opened and identified by content
//!    ([`super::identity`]): a fingerprint, "not ready" (only `#` directives so far), or
//!    "document". The handle used to identify a file is the one its stream then reads from,
//!    so no rename between the check and the read can swap the file underneath.
//! 2. **Bind.** A stream whose path no longer holds it (gone, another fingerprint, shorter than
//!    what was read) is detached from it. Each identified path is then bound to its stream:
//!    the one with its fingerprint in a folder of the same name (found again at another path:
//!    a rename, or the copy of copytruncate), a stream resumed from a checkpoint, or a new
//!    stream read from its start. A path holding a stream that is already bound elsewhere (in
//!    its folder) is a duplicate and not read; the same fingerprint in another site's folder is
//!    another stream (see [`super::identity`]).
//! 3. **Read.** Round-robin over the line streams, each gets at most `read_chunk` bytes:
//!    complete lines are parsed, a partial last line waits for its newline (or for
//!    `partial_line_timeout` without change), a line longer than
//!    [`crate::parse::MAX_LINE`] is skipped and counted. Each stream that moved yields one
//!    [`Chunk`]. Then at most one settled document is read whole ([`super::document`]).
//!    Streams whose file is there but that handed out nothing for `refresh` hand out their
//!    watermark again (an empty chunk), so their checkpoints stay fresh.
//! 4. **Tidy.** Handles idle for `idle_close` are closed, and so are the least recently read
//!    beyond `max_open`. Streams whose file is gone stay in memory (a rename back, a late
//!    copy) until [`Tailer::forget_older_than`].
//!
//! # Rotation and friends
//!
//! - **New file per period** (`u_ex261127.log`, then `u_ex261128.log`): two streams. The old
//!   one is read to its end, the new one from its start.
//! - **Rename rotation**: the renamed file has the stream's fingerprint, so the stream follows
//!   it and continues at its position, with the `SourceId.path` where it was first seen (event
//!   IDs do not change). The new file at the old name is a new stream.
//! - **Copytruncate**: the copy has the stream's fingerprint; when the original is truncated
//!   the stream continues in the copy, at its position. The truncated original becomes a new
//!   stream once it has a first data line. When the copy's name does *not* match the patterns,
//!   what the writer appended between the last round and the truncation is lost (the original
//!   handle then sees the file shorter than its position: a counted truncation).
//! - **Truncation in place** (the file got shorter than what was read): counted; the old stream
//!   ends, and the new content is a new stream from 0 (its first line differs).
//! - **Deleted while open**: the open handle is read to its end (Windows keeps a
//!   delete-pending file readable; the handle was opened with delete sharing), then closed.
//!   Likewise a file renamed to a name outside the patterns.
//! - **Deleted while the collector was down**: its checkpoint stays until the agent forgets it
//!   ([`super::Checkpoints::forget_older_than`]). Files that still exist keep theirs fresh:
//!   idle ones hand out their watermark every `refresh`, and [`Tailer::mark_seen`] marks them
//!   directly.
//!
//! A checkpoint is matched to a file by source kind, fingerprint and the name of the folder of
//! the path it records (path for documents), not by source name: watermarks, which is what
//! comes back from the spool and the ingestor, carry the `SourceId` only.
//!
//! # Resuming mid-file
//!
//! The IIS and HTTP.sys parsers need the `#Fields:` (and `#Date:`) directives that precede a
//! checkpoint. A stream resumed at a position past 0 (or whose consumer refused a chunk) first
//! replays the `#` lines of the bytes before its position through a fresh parser, events
//! discarded; the other tailed formats keep no state between lines. Events after a restart are
//! therefore the events an uninterrupted read gives, IDs included.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memchr::memchr;
use scepwatch_proto::v1::{Event, SourceId, Watermark};

use super::checkpoint::{CheckpointKey, Checkpoints};
use super::document;
use super::identity::{folder_key, identify, is_document_format, Fingerprint, Identity};
use super::open::open_shared;
use super::pattern::{self, Found, Pattern};
use super::{
    Chunk, FileAction, FileProblem, PollReport, SourceSpec, TailError, TailOptions, TailStats,
};
use crate::parse::{
    android::AndroidParser, health::HealthParser, httperr::HttpErrParser, iis::IisParser, lines,
    probe::ProbeParser, Format, LineParser, ParseStats, SourceContext, MAX_LINE,
};

/// UTF-8 byte order mark, skipped at the start of a stream as the parsers' line splitter does.
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Bytes read at a time while a line longer than `read_chunk` is assembled.
const LONG_LINE_STEP: usize = 64 * 1024;

/// Files the folder listing says were modified this recently have their size and time asked
/// of the file itself (see [`pattern::walk`]); older ones are taken from the listing.
const HOT_WINDOW: Duration = Duration::from_secs(2 * 86_400);

/// A source and its compiled patterns.
#[derive(Debug)]
struct Source {
    spec: SourceSpec,
    patterns: Vec<Pattern>,
    /// Whether the root was missing at the last scan (reported once when it goes missing).
    root_missing: bool,
}

/// What identifies a stream within its source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum StreamId {
    /// A tailed stream, by content within its folder: the fingerprint, and the folder's
    /// [`folder_key`] (of the path where the stream was first seen; a stream never leaves its
    /// folder).
    Content(Fingerprint, Arc<str>),
    /// A document, by path.
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct StreamKey {
    source: usize,
    id: StreamId,
}

/// A matching file as the last scan saw it.
#[derive(Debug)]
struct PathState {
    len: u64,
    modified: Option<SystemTime>,
    /// `None` when it could not be opened or read: retried every round.
    identity: Option<Identity>,
    /// Its folder's [`folder_key`], part of the identity of the stream it holds.
    folder: Arc<str>,
    /// Opening it was refused (access denied): on Windows before the POSIX delete semantics
    /// of Windows 10 1809, what a deleted file that someone still holds open answers.
    denied: bool,
    /// When its size or modification time last changed (first sight: its modification time).
    changed_at: SystemTime,
    seen_round: u64,
}

/// A checkpoint not yet claimed by a stream.
#[derive(Debug, Clone)]
struct Resume {
    path: String,
    position: u64,
    read_from_us: i64,
    read_up_to_us: i64,
    last_seen: SystemTime,
}

/// The parser of a tailed stream (the `Send` ones of the line formats).
#[derive(Debug)]
enum LineState {
    Iis(IisParser),
    HttpErr(HttpErrParser),
    Android(AndroidParser),
    Probe(ProbeParser),
    Health(HealthParser),
}

impl LineState {
    fn new(format: Format) -> Option<LineState> {
        Some(match format {
            Format::Iis => LineState::Iis(IisParser::default()),
            Format::HttpErr => LineState::HttpErr(HttpErrParser::default()),
            Format::AndroidOmadm => LineState::Android(AndroidParser::default()),
            Format::Probe => LineState::Probe(ProbeParser::default()),
            Format::Health => LineState::Health(HealthParser::default()),
            _ => return None,
        })
    }

    fn parser(&mut self) -> &mut dyn LineParser {
        match self {
            LineState::Iis(p) => p,
            LineState::HttpErr(p) => p,
            LineState::Android(p) => p,
            LineState::Probe(p) => p,
            LineState::Health(p) => p,
        }
    }

    /// Whether the parser's state comes from `#` directives earlier in the file.
    fn keeps_directives(&self) -> bool {
        matches!(self, LineState::Iis(_) | LineState::HttpErr(_))
    }
}

/// One stream being followed.
#[derive(Debug)]
struct Stream {
    /// Context of its events (`ctx.source` is the stream's `SourceId`).
    ctx: SourceContext,
    /// The path it is read at now; `None` when no matching path holds it.
    path: Option<PathBuf>,
    /// The path it was last bound to (to count moves).
    last_path: Option<PathBuf>,
    file: Option<File>,
    /// Byte offset read up to (documents: one past the highest position taken).
    position: u64,
    read_from_us: i64,
    read_up_to_us: i64,
    /// `None` until the next read builds it (replaying directives before `position`).
    parser: Option<LineState>,
    /// Inside a line longer than `MAX_LINE`, skipping to its newline.
    skipping: bool,
    /// Length of the open file when last looked at, and when that changed.
    known_len: u64,
    grew_at: SystemTime,
    /// Last read (or open).
    active_at: SystemTime,
    /// Since when no matching path holds it.
    gone_since: Option<SystemTime>,
    /// The open handle must be checked against the fingerprint before reading (the stream was
    /// detached from its path).
    verify: bool,
    /// Documents: the (size, modification time) last read whole.
    read_version: Option<(u64, Option<SystemTime>)>,
    /// When a chunk (or a refreshed watermark) of it was last handed out.
    emitted_at: SystemTime,
}

/// Running counts (the gauges of [`TailStats`] are computed on demand).
#[derive(Debug, Default)]
struct Counters {
    bytes_read: u64,
    events: u64,
    rotations: u64,
    truncations: u64,
    moves: u64,
    partial_lines: u64,
    documents_read: u64,
    problems: u64,
    duplicate_paths: usize,
    behind_paths: usize,
}

/// Follows the files of a set of sources; see the [module documentation](self).
#[derive(Debug)]
pub struct Tailer {
    sources: Vec<Source>,
    opts: TailOptions,
    paths: BTreeMap<(usize, PathBuf), PathState>,
    streams: BTreeMap<StreamKey, Stream>,
    /// Checkpoints not claimed by a stream yet, by source kind and stream identity.
    resume: HashMap<(i32, StreamId), Resume>,
    /// The read buffer, reused by every stream and round.
    buf: Vec<u8>,
    round: u64,
    /// Round-robin starting points.
    line_cursor: usize,
    doc_cursor: usize,
    counters: Counters,
    parse: ParseStats,
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Append up to `n` bytes of `file` from `offset` to `buf`; returns how many were read.
fn read_at(file: &mut File, offset: u64, n: u64, buf: &mut Vec<u8>) -> io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    file.take(n).read_to_end(buf)
}

/// Open `path` and keep the handle only if it holds the stream `fingerprint`.
fn open_verified(
    path: &std::path::Path,
    format: Format,
    fingerprint: Fingerprint,
) -> io::Result<Option<File>> {
    let mut file = open_shared(path)?;
    Ok(match identify(&mut file, format)? {
        Identity::Lines(f) if f == fingerprint => Some(file),
        _ => None,
    })
}

/// Feed the `#` directive lines of the first `upto` bytes of `file` to `state`, events
/// discarded: the parser is then where an uninterrupted read would have left it.
fn replay_directives(
    file: &mut File,
    upto: u64,
    state: &mut LineState,
    ctx: &SourceContext,
) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    let reader = BufReader::with_capacity(64 * 1024, file.take(upto));
    let mut stats = ParseStats::default();
    let parser = state.parser();
    lines::for_each_line(reader, MAX_LINE, &mut stats, |line, offset, stats| {
        if line.first() == Some(&b'#') {
            parser.line(ctx, line, offset, stats, &mut |_| {});
        }
    })
}

impl Tailer {
    /// A tailer of `specs`, resuming each stream that has an entry in `resume` at its
    /// checkpoint.
    pub fn new(specs: Vec<SourceSpec>, opts: TailOptions, resume: &Checkpoints) -> Tailer {
        let sources: Vec<Source> = specs
            .into_iter()
            .map(|spec| Source {
                patterns: spec
                    .include
                    .iter()
                    .filter_map(|p| Pattern::parse(p).ok())
                    .collect(),
                spec,
                root_missing: false,
            })
            .collect();
        let mut pending = HashMap::new();
        for (key, entry) in resume.iter() {
            let id = if entry.stream.is_empty() {
                StreamId::Path(PathBuf::from(&entry.path))
            } else {
                match Fingerprint::from_hex(&entry.stream) {
                    Some(f) => StreamId::Content(f, Arc::from(key.folder.as_str())),
                    None => continue,
                }
            };
            pending.insert(
                (key.kind, id),
                Resume {
                    path: entry.path.clone(),
                    position: entry.position,
                    read_from_us: entry.read_from_us,
                    read_up_to_us: entry.read_up_to_us,
                    last_seen: entry.last_seen,
                },
            );
        }
        Tailer {
            sources,
            opts,
            paths: BTreeMap::new(),
            streams: BTreeMap::new(),
            resume: pending,
            buf: Vec::new(),
            round: 0,
            line_cursor: 0,
            doc_cursor: 0,
            counters: Counters::default(),
            parse: ParseStats::default(),
        }
    }

    /// One round: find files (new, rotated, deleted), read at most `read_chunk` bytes of each
    /// file with new data and at most one settled document, and hand each stream's new events
    /// to `out` as one [`Chunk`]. `out` may block (backpressure); when it fails the round
    /// stops, the refused chunk will be read again, and the error is returned. File problems
    /// do not stop the round: they are in the report.
    pub fn poll<E>(
        &mut self,
        now: SystemTime,
        out: &mut dyn FnMut(Chunk) -> Result<(), E>,
    ) -> Result<PollReport, TailError<E>> {
        self.round += 1;
        let mut report = PollReport::default();
        let mut fresh: HashMap<(usize, PathBuf), File> = HashMap::new();
        self.scan(now, &mut fresh, &mut report);
        self.bind(now, &mut fresh, &mut report);
        drop(fresh);
        self.read_lines(now, out, &mut report)?;
        self.read_document(now, out, &mut report)?;
        self.refresh(now, out, &mut report)?;
        self.tidy(now);
        self.counters.problems += report.problems.len() as u64;
        Ok(report)
    }

    /// Counters and gauges.
    pub fn stats(&self) -> TailStats {
        TailStats {
            files_known: self.paths.len(),
            files_open: self.streams.values().filter(|s| s.file.is_some()).count(),
            streams: self.streams.len(),
            duplicate_paths: self.counters.duplicate_paths,
            behind_paths: self.counters.behind_paths,
            bytes_read: self.counters.bytes_read,
            records: self.parse.records,
            events: self.counters.events,
            parse_errors: self.parse.errors.clone(),
            rotations: self.counters.rotations,
            truncations: self.counters.truncations,
            moves: self.counters.moves,
            partial_lines: self.counters.partial_lines,
            documents_read: self.counters.documents_read,
            problems: self.counters.problems,
        }
    }

    /// Mark the checkpoint entries of every stream whose file exists now as seen at `now`, so
    /// [`Checkpoints::forget_older_than`] only forgets streams whose files are gone.
    pub fn mark_seen(&self, checkpoints: &mut Checkpoints, now: SystemTime) {
        for s in self.streams.values() {
            if s.path.is_some() {
                checkpoints.touch(&CheckpointKey::of(&s.ctx.source), now);
            }
        }
        // Checkpoints not claimed yet whose file is there (behind its checkpoint, say).
        let present: std::collections::HashSet<(i32, StreamId)> = self
            .paths
            .iter()
            .filter_map(|((source, path), ps)| {
                let id = match ps.identity? {
                    Identity::Lines(f) => StreamId::Content(f, ps.folder.clone()),
                    Identity::Document => StreamId::Path(path.clone()),
                    Identity::NotReady => return None,
                };
                Some((self.kind(*source), id))
            })
            .collect();
        for (key, r) in &self.resume {
            if !present.contains(key) {
                continue;
            }
            let id = SourceId {
                kind: key.0,
                path: r.path.clone(),
                stream: match &key.1 {
                    StreamId::Content(f, _) => f.to_hex(),
                    StreamId::Path(_) => String::new(),
                },
                ..SourceId::default()
            };
            checkpoints.touch(&CheckpointKey::of(&id), now);
        }
    }

    /// Forget streams whose file has been gone since before `t` (and checkpoints handed to
    /// [`Tailer::new`] that no file claimed, last seen before `t`): a file that shows up again
    /// afterwards is a new stream.
    pub fn forget_older_than(&mut self, t: SystemTime) {
        self.streams.retain(|_, s| {
            s.file.is_some() || s.path.is_some() || s.gone_since.is_none_or(|g| g >= t)
        });
        self.resume.retain(|_, r| r.last_seen >= t);
    }

    /// `SourceId.kind` of the events of source `source`.
    fn kind(&self, source: usize) -> i32 {
        self.sources[source].spec.format.source_kind() as i32
    }

    // -----------------------------------------------------------------------------------------
    // 1. Scan
    // -----------------------------------------------------------------------------------------

    fn scan(
        &mut self,
        now: SystemTime,
        fresh: &mut HashMap<(usize, PathBuf), File>,
        report: &mut PollReport,
    ) {
        for index in 0..self.sources.len() {
            let source = &mut self.sources[index];
            let mut errors = Vec::new();
            let hot_since = now.checked_sub(HOT_WINDOW);
            let found =
                match pattern::walk(&source.spec.root, &source.patterns, hot_since, &mut errors) {
                    Ok(found) => {
                        source.root_missing = false;
                        found
                    }
                    Err(error) => {
                        if !source.root_missing {
                            report.problems.push(FileProblem {
                                source_name: source.spec.name.clone(),
                                path: source.spec.root.clone(),
                                action: FileAction::List,
                                error,
                            });
                        }
                        source.root_missing = true;
                        Vec::new()
                    }
                };
            for (path, error) in errors {
                report.problems.push(FileProblem {
                    source_name: source.spec.name.clone(),
                    path,
                    action: FileAction::List,
                    error,
                });
            }
            for f in found {
                self.observe(index, f, now, fresh, report);
            }
        }
        let round = self.round;
        self.paths.retain(|_, ps| ps.seen_round == round);
    }

    /// Take note of one matching file; identify it when it is new or changed.
    fn observe(
        &mut self,
        source: usize,
        f: Found,
        now: SystemTime,
        fresh: &mut HashMap<(usize, PathBuf), File>,
        report: &mut PollReport,
    ) {
        let key = (source, f.path);
        let round = self.round;
        // A file that could not be opened is tried again every round, but its problem is
        // reported again only when the file changes (a delete-pending file on Windows stays
        // listed and refuses to open until the last handle on it closes).
        let (changed_at, quiet) = match self.paths.get_mut(&key) {
            Some(ps) if ps.len == f.len && ps.modified == f.modified => {
                if ps.identity.is_some() {
                    ps.seen_round = round;
                    return;
                }
                (ps.changed_at, true)
            }
            Some(_) => (now, false),
            None => (f.modified.map_or(now, |m| m.min(now)), false),
        };
        let format = self.sources[source].spec.format;
        let mut denied = false;
        let identity = if is_document_format(format) {
            Some(Identity::Document)
        } else {
            match open_shared(&key.1) {
                Ok(mut file) => match identify(&mut file, format) {
                    Ok(id) => {
                        if matches!(id, Identity::Lines(_)) && fresh.len() < self.opts.max_open {
                            fresh.insert(key.clone(), file);
                        }
                        Some(id)
                    }
                    Err(error) => {
                        if !quiet {
                            report.problems.push(self.problem(
                                source,
                                &key.1,
                                FileAction::Read,
                                error,
                            ));
                        }
                        None
                    }
                },
                // Gone between the listing and the open.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(error) => {
                    denied = error.kind() == io::ErrorKind::PermissionDenied;
                    if !quiet {
                        report
                            .problems
                            .push(self.problem(source, &key.1, FileAction::Open, error));
                    }
                    None
                }
            }
        };
        let folder = Arc::from(folder_key(&key.1));
        self.paths.insert(
            key,
            PathState {
                len: f.len,
                modified: f.modified,
                identity,
                folder,
                denied,
                changed_at,
                seen_round: self.round,
            },
        );
    }

    fn problem(
        &self,
        source: usize,
        path: &std::path::Path,
        action: FileAction,
        error: io::Error,
    ) -> FileProblem {
        FileProblem {
            source_name: self.sources[source].spec.name.clone(),
            path: path.to_path_buf(),
            action,
            error,
        }
    }

    // -----------------------------------------------------------------------------------------
    // 2. Bind
    // -----------------------------------------------------------------------------------------

    fn bind(
        &mut self,
        now: SystemTime,
        fresh: &mut HashMap<(usize, PathBuf), File>,
        report: &mut PollReport,
    ) {
        // Streams whose path does not hold them any more.
        for (key, s) in self.streams.iter_mut() {
            let Some(path) = &s.path else { continue };
            let holds = match self.paths.get(&(key.source, path.clone())) {
                None => false,
                Some(ps) => match (&key.id, ps.identity) {
                    // Refused: deleted while held open (delete pending). Drain the handle and
                    // close it, so the deletion completes.
                    (_, None) if ps.denied => false,
                    // Could not be read this round: keep things as they are.
                    (_, None) => true,
                    (StreamId::Content(f, _), Some(Identity::Lines(g))) => {
                        *f == g && ps.len >= s.position
                    }
                    (StreamId::Content(..), Some(_)) => false,
                    (StreamId::Path(_), Some(id)) => id == Identity::Document,
                },
            };
            if !holds {
                if self.paths.contains_key(&(key.source, path.clone())) {
                    self.counters.rotations += 1;
                }
                s.path = None;
                s.gone_since = Some(now);
                s.verify = s.file.is_some();
            }
        }

        let mut duplicates = 0;
        let mut behind = 0;
        let path_keys: Vec<(usize, PathBuf)> = self.paths.keys().cloned().collect();
        for pk in path_keys {
            let Some(ps) = self.paths.get(&pk) else {
                continue;
            };
            let (len, id) = match ps.identity {
                Some(Identity::Lines(f)) => (ps.len, StreamId::Content(f, ps.folder.clone())),
                Some(Identity::Document) => (ps.len, StreamId::Path(pk.1.clone())),
                _ => continue,
            };
            let format = self.sources[pk.0].spec.format;
            let skey = StreamKey { source: pk.0, id };
            if let Some(s) = self.streams.get_mut(&skey) {
                if s.path.as_ref() == Some(&pk.1) {
                    // Same stream, same place: read through the handle that identified it.
                    if let Some(file) = fresh.remove(&pk) {
                        s.file = Some(file);
                        s.verify = false;
                    }
                    continue;
                }
                if s.path.is_some() {
                    duplicates += 1;
                    continue;
                }
                let StreamId::Content(f, _) = skey.id else {
                    // A document comes back at its path.
                    s.path = Some(pk.1.clone());
                    s.gone_since = None;
                    continue;
                };
                if len < s.position {
                    behind += 1;
                    continue;
                }
                // Found again elsewhere (renamed, or the copy of copytruncate): read on from the
                // new path, through a handle on it.
                let file = match fresh.remove(&pk) {
                    Some(file) => file,
                    None => match open_verified(&pk.1, format, f) {
                        Ok(Some(file)) => file,
                        Ok(None) => continue,
                        Err(error) => {
                            report.problems.push(FileProblem {
                                source_name: self.sources[pk.0].spec.name.clone(),
                                path: pk.1.clone(),
                                action: FileAction::Open,
                                error,
                            });
                            continue;
                        }
                    },
                };
                if s.last_path.as_ref() != Some(&pk.1) {
                    self.counters.moves += 1;
                }
                s.path = Some(pk.1.clone());
                s.last_path = Some(pk.1.clone());
                s.gone_since = None;
                s.file = Some(file);
                s.verify = false;
                s.active_at = now;
                continue;
            }
            // A stream not in memory: resumed from its checkpoint, or new.
            let resume_key = (self.kind(pk.0), skey.id.clone());
            let resume = self.resume.get(&resume_key);
            if let (StreamId::Content(..), Some(r)) = (&skey.id, resume) {
                if len < r.position {
                    behind += 1;
                    continue;
                }
            }
            let resume = self.resume.remove(&resume_key);
            let file = fresh.remove(&pk);
            let stream = self.new_stream(&skey, &pk.1, resume, file, now);
            self.streams.insert(skey, stream);
        }
        self.counters.duplicate_paths = duplicates;
        self.counters.behind_paths = behind;
    }

    fn new_stream(
        &self,
        key: &StreamKey,
        path: &std::path::Path,
        resume: Option<Resume>,
        file: Option<File>,
        now: SystemTime,
    ) -> Stream {
        let spec = &self.sources[key.source].spec;
        let first_path = resume
            .as_ref()
            .map_or_else(|| path.to_string_lossy().into_owned(), |r| r.path.clone());
        let source = SourceId {
            collector: self.opts.collector.clone(),
            host: spec.host.clone(),
            kind: spec.format.source_kind() as i32,
            path: first_path,
            stream: match &key.id {
                StreamId::Content(f, _) => f.to_hex(),
                StreamId::Path(_) => String::new(),
            },
        };
        let mut ctx = SourceContext::new(source, micros(now));
        ctx.endpoint_id = spec.endpoint_id.clone();
        ctx.utc_offset_secs = spec.utc_offset_secs;
        Stream {
            ctx,
            path: Some(path.to_path_buf()),
            last_path: Some(path.to_path_buf()),
            file,
            position: resume.as_ref().map_or(0, |r| r.position),
            read_from_us: resume.as_ref().map_or(0, |r| r.read_from_us),
            read_up_to_us: resume.as_ref().map_or(0, |r| r.read_up_to_us),
            parser: None,
            skipping: false,
            known_len: 0,
            grew_at: now,
            active_at: now,
            gone_since: None,
            verify: false,
            read_version: None,
            // A resumed stream's watermark was last handed out when its checkpoint was seen.
            emitted_at: resume.as_ref().map_or(now, |r| r.last_seen.min(now)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // 3. Read
    // -----------------------------------------------------------------------------------------

    fn read_lines<E>(
        &mut self,
        now: SystemTime,
        out: &mut dyn FnMut(Chunk) -> Result<(), E>,
        report: &mut PollReport,
    ) -> Result<(), TailError<E>> {
        let keys: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(k, s)| {
                matches!(k.id, StreamId::Content(..)) && (s.file.is_some() || s.path.is_some())
            })
            .map(|(k, _)| k.clone())
            .collect();
        let n = keys.len();
        let start = self.line_cursor;
        self.line_cursor = self.line_cursor.wrapping_add(1);
        for i in 0..n {
            let key = &keys[(start + i) % n];
            self.read_stream(key, now, out, report)?;
        }
        Ok(())
    }

    /// Read the next bytes of one line stream and hand out their events.
    fn read_stream<E>(
        &mut self,
        key: &StreamKey,
        now: SystemTime,
        out: &mut dyn FnMut(Chunk) -> Result<(), E>,
        report: &mut PollReport,
    ) -> Result<(), TailError<E>> {
        let StreamId::Content(fingerprint, _) = key.id else {
            return Ok(());
        };
        let source = &self.sources[key.source];
        let format = source.spec.format;
        let Some(s) = self.streams.get_mut(key) else {
            return Ok(());
        };
        let problem = |path: Option<&PathBuf>, action, error| FileProblem {
            source_name: source.spec.name.clone(),
            path: path.cloned().unwrap_or_default(),
            action,
            error,
        };

        // A handle: the one the scan opened, or reopen a file that was closed while idle.
        if s.file.is_none() {
            let Some(path) = s.path.clone() else {
                return Ok(());
            };
            let grown = self
                .paths
                .get(&(key.source, path.clone()))
                .is_some_and(|ps| ps.len > s.position);
            if !grown {
                return Ok(());
            }
            match open_verified(&path, format, fingerprint) {
                Ok(Some(file)) => {
                    s.file = Some(file);
                    s.active_at = now;
                }
                // The path holds something else now: the next scan sorts it out.
                Ok(None) => return Ok(()),
                Err(error) => {
                    report
                        .problems
                        .push(problem(Some(&path), FileAction::Open, error));
                    return Ok(());
                }
            }
        }
        let path_for_problems = s.path.clone().or_else(|| s.last_path.clone());
        let Some(file) = s.file.as_mut() else {
            return Ok(());
        };

        // Detached from its path: the handle still holds the stream only if the file was
        // renamed or deleted, not rewritten in place.
        if s.verify {
            match identify(file, format) {
                Ok(Identity::Lines(f)) if f == fingerprint => s.verify = false,
                Ok(_) => {
                    self.counters.truncations += 1;
                    s.file = None;
                    return Ok(());
                }
                Err(error) => {
                    report.problems.push(problem(
                        path_for_problems.as_ref(),
                        FileAction::Read,
                        error,
                    ));
                    s.file = None;
                    return Ok(());
                }
            }
        }

        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(error) => {
                report
                    .problems
                    .push(problem(path_for_problems.as_ref(), FileAction::Read, error));
                s.file = None;
                return Ok(());
            }
        };
        if len != s.known_len {
            s.known_len = len;
            s.grew_at = now;
        }
        if len < s.position {
            // Truncated under the handle. A copy (copytruncate) may hold the rest: the next
            // round binds the stream to it.
            self.counters.truncations += 1;
            s.file = None;
            if s.path.take().is_some() {
                s.gone_since = Some(now);
            }
            report.more = true;
            return Ok(());
        }
        if len == s.position {
            if s.path.is_none() {
                // Drained after a delete or a rename out of the patterns.
                s.file = None;
            }
            return Ok(());
        }

        if s.parser.is_none() {
            let Some(mut state) = LineState::new(format) else {
                return Ok(());
            };
            if s.position > 0 && state.keeps_directives() {
                if let Err(error) = replay_directives(file, s.position, &mut state, &s.ctx) {
                    report.problems.push(problem(
                        path_for_problems.as_ref(),
                        FileAction::Read,
                        error,
                    ));
                    s.file = None;
                    return Ok(());
                }
            }
            s.parser = Some(state);
        }

        // Read at most `read_chunk` bytes (more only to complete one long line).
        let pos0 = s.position;
        let buf = &mut self.buf;
        buf.clear();
        // At least a byte order mark's worth, so the first read can tell whether there is one.
        let chunk = self.opts.read_chunk.max(UTF8_BOM.len()) as u64;
        if let Err(error) = read_at(file, pos0, (len - pos0).min(chunk), buf) {
            report
                .problems
                .push(problem(path_for_problems.as_ref(), FileAction::Read, error));
            s.file = None;
            return Ok(());
        }
        let detached = s.path.is_none();
        let partial_due = detached || elapsed(s.grew_at, now) >= self.opts.partial_line_timeout;

        let mut events: Vec<Event> = Vec::new();
        let mut stats = ParseStats::default();
        let mut skipping = s.skipping;
        let mut partial_taken = false;
        s.ctx.observed_time_us = micros(now);
        let ctx = &s.ctx;
        let Some(state) = s.parser.as_mut() else {
            return Ok(());
        };
        let parser = state.parser();
        let mut feed = |line: &[u8], offset: u64, stats: &mut ParseStats| {
            parser.line(ctx, strip_cr(line), offset, stats, &mut |e| events.push(e));
        };

        let mut start = if pos0 == 0 && buf.starts_with(UTF8_BOM) {
            UTF8_BOM.len()
        } else {
            0
        };
        // Bytes from `scanned` on have not been searched for a newline yet.
        let mut scanned = start;
        loop {
            let newline = memchr(b'\n', &buf[scanned..]).map(|i| scanned + i);
            if skipping {
                match newline {
                    Some(end) => {
                        skipping = false;
                        start = end + 1;
                        scanned = start;
                        continue;
                    }
                    None => {
                        start = buf.len();
                        break;
                    }
                }
            }
            if let Some(end) = newline {
                let line = &buf[start..end];
                if line.len() > MAX_LINE {
                    stats.records += 1;
                    stats.error("line_too_long");
                } else {
                    feed(line, pos0 + start as u64, &mut stats);
                }
                start = end + 1;
                scanned = start;
                if start as u64 >= chunk {
                    // The budget was stretched to complete one long line: that is all for now.
                    break;
                }
                continue;
            }
            // No newline after `start`.
            let tail = buf.len() - start;
            if tail > MAX_LINE {
                stats.records += 1;
                stats.error("line_too_long");
                skipping = true;
                start = buf.len();
                break;
            }
            let read_all = pos0 + buf.len() as u64 >= len;
            if read_all {
                if tail > 0 && partial_due {
                    feed(&buf[start..], pos0 + start as u64, &mut stats);
                    start = buf.len();
                    partial_taken = true;
                }
                break;
            }
            if start > 0 {
                // Whole lines taken; the rest waits for the next round.
                break;
            }
            // Not one complete line in what was read: a line longer than `read_chunk`.
            scanned = buf.len();
            let at = pos0 + buf.len() as u64;
            let step = (len - at).min(LONG_LINE_STEP.max(self.opts.read_chunk) as u64);
            match read_at(file, at, step, buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    report.problems.push(problem(
                        path_for_problems.as_ref(),
                        FileAction::Read,
                        error,
                    ));
                    s.file = None;
                    s.parser = None;
                    return Ok(());
                }
            }
        }

        let new_pos = pos0 + start as u64;
        if new_pos == pos0 && skipping == s.skipping {
            return Ok(());
        }
        let mut read_from = s.read_from_us;
        let mut read_up_to = s.read_up_to_us;
        for e in &events {
            if read_from == 0 || e.event_time_us < read_from {
                read_from = e.event_time_us;
            }
            read_up_to = read_up_to.max(e.event_time_us);
        }
        let n_events = events.len() as u64;
        let chunk = Chunk {
            source_name: source.spec.name.clone(),
            events,
            watermark: Watermark {
                source: Some(s.ctx.source.clone()),
                endpoint_id: source.spec.endpoint_id.clone(),
                read_from_us: read_from,
                read_up_to_us: read_up_to,
                position: new_pos,
            },
        };
        if let Err(e) = out(chunk) {
            // Not taken: read again, with a parser rebuilt as of `pos0`.
            s.parser = None;
            return Err(TailError::Output(e));
        }
        s.position = new_pos;
        s.skipping = skipping;
        s.read_from_us = read_from;
        s.read_up_to_us = read_up_to;
        s.active_at = now;
        s.emitted_at = now;
        let consumed = new_pos - pos0;
        self.counters.bytes_read += consumed;
        self.counters.events += n_events;
        if partial_taken {
            self.counters.partial_lines += 1;
        }
        self.parse.merge(&stats);
        report.chunks += 1;
        report.events += n_events;
        report.bytes_read += consumed;
        if new_pos < len {
            report.more = true;
        }
        Ok(())
    }

    /// Read at most one settled, changed document whole.
    fn read_document<E>(
        &mut self,
        now: SystemTime,
        out: &mut dyn FnMut(Chunk) -> Result<(), E>,
        report: &mut PollReport,
    ) -> Result<(), TailError<E>> {
        let settle = self.opts.settle;
        let candidates: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(k, s)| {
                let StreamId::Path(path) = &k.id else {
                    return false;
                };
                if s.path.is_none() {
                    return false;
                }
                self.paths.get(&(k.source, path.clone())).is_some_and(|ps| {
                    elapsed(ps.changed_at, now) >= settle
                        && s.read_version != Some((ps.len, ps.modified))
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let key = &candidates[self.doc_cursor % candidates.len()];
        self.doc_cursor = self.doc_cursor.wrapping_add(1);
        if candidates.len() > 1 {
            report.more = true;
        }
        let StreamId::Path(path) = &key.id else {
            return Ok(());
        };
        let source = &self.sources[key.source];
        let Some(ps) = self.paths.get(&(key.source, path.clone())) else {
            return Ok(());
        };
        let version = (ps.len, ps.modified);
        let Some(s) = self.streams.get_mut(key) else {
            return Ok(());
        };
        let mut file = match open_shared(path) {
            Ok(f) => f,
            Err(error) => {
                report.problems.push(FileProblem {
                    source_name: source.spec.name.clone(),
                    path: path.clone(),
                    action: FileAction::Open,
                    error,
                });
                return Ok(());
            }
        };
        let mut ctx = s.ctx.clone();
        ctx.observed_time_us = micros(now);
        ctx.date_hint = ps.modified.map(|m| {
            let local = micros(m).saturating_add(i64::from(ctx.utc_offset_secs) * 1_000_000);
            scepwatch_proto::time::civil_from_days(local.div_euclid(86_400_000_000))
        });
        let mut failed: Option<E> = None;
        let mut chunks = 0usize;
        let mut n_events = 0u64;
        let from = s.position;
        let mut deliver = |events: Vec<Event>, next: u64| {
            let mut read_from = s.read_from_us;
            let mut read_up_to = s.read_up_to_us;
            for e in &events {
                if read_from == 0 || e.event_time_us < read_from {
                    read_from = e.event_time_us;
                }
                read_up_to = read_up_to.max(e.event_time_us);
            }
            let count = events.len() as u64;
            let position = s.position.max(next);
            let chunk = Chunk {
                source_name: source.spec.name.clone(),
                events,
                watermark: Watermark {
                    source: Some(s.ctx.source.clone()),
                    endpoint_id: source.spec.endpoint_id.clone(),
                    read_from_us: read_from,
                    read_up_to_us: read_up_to,
                    position,
                },
            };
            match out(chunk) {
                Ok(()) => {
                    s.position = position;
                    s.read_from_us = read_from;
                    s.read_up_to_us = read_up_to;
                    s.emitted_at = now;
                    chunks += 1;
                    n_events += count;
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        };
        let result = document::read(&mut file, source.spec.format, &ctx, from, &mut deliver);
        report.chunks += chunks;
        report.events += n_events;
        self.counters.events += n_events;
        if let Some(e) = failed {
            return Err(TailError::Output(e));
        }
        match result {
            Ok(stats) => {
                s.read_version = Some(version);
                self.counters.documents_read += 1;
                self.counters.bytes_read += version.0;
                report.bytes_read += version.0;
                self.parse.merge(&stats);
            }
            Err(error) => report.problems.push(FileProblem {
                source_name: source.spec.name.clone(),
                path: path.clone(),
                action: FileAction::Read,
                error,
            }),
        }
        Ok(())
    }

    /// Hand out the watermark of each stream whose file is there but that has handed out
    /// nothing for `refresh`: its checkpoint then says the file still exists.
    fn refresh<E>(
        &mut self,
        now: SystemTime,
        out: &mut dyn FnMut(Chunk) -> Result<(), E>,
        report: &mut PollReport,
    ) -> Result<(), TailError<E>> {
        for (key, s) in self.streams.iter_mut() {
            // A document not read yet has no position worth recording.
            let unread_document = matches!(key.id, StreamId::Path(_)) && s.position == 0;
            if s.path.is_none() || unread_document || elapsed(s.emitted_at, now) < self.opts.refresh
            {
                continue;
            }
            let spec = &self.sources[key.source].spec;
            let chunk = Chunk {
                source_name: spec.name.clone(),
                events: Vec::new(),
                watermark: Watermark {
                    source: Some(s.ctx.source.clone()),
                    endpoint_id: spec.endpoint_id.clone(),
                    read_from_us: s.read_from_us,
                    read_up_to_us: s.read_up_to_us,
                    position: s.position,
                },
            };
            out(chunk).map_err(TailError::Output)?;
            s.emitted_at = now;
            report.chunks += 1;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // 4. Tidy
    // -----------------------------------------------------------------------------------------

    /// Close handles idle for `idle_close`, then the least recently read beyond `max_open`.
    fn tidy(&mut self, now: SystemTime) {
        let idle_close = self.opts.idle_close;
        let mut open: Vec<(SystemTime, StreamKey)> = Vec::new();
        for (key, s) in self.streams.iter_mut() {
            if s.file.is_none() || s.path.is_none() {
                continue;
            }
            if s.position >= s.known_len && elapsed(s.active_at, now) >= idle_close {
                s.file = None;
            } else {
                open.push((s.active_at, key.clone()));
            }
        }
        if open.len() > self.opts.max_open {
            open.sort();
            let excess = open.len() - self.opts.max_open;
            for (_, key) in open.into_iter().take(excess) {
                if let Some(s) = self.streams.get_mut(&key) {
                    s.file = None;
                }
            }
        }
    }
}
