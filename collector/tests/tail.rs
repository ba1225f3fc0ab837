//! The file tailer over folders shaped like an NDES server's: IIS `W3SVC*\u_ex*.log`, HTTPERR,
//! a UTF-16 `SetupMsi.log`, exported `.evtx` files. Each test is one way a log file lives
//! (rotation, copytruncate, truncation, deletion, restarts, partial lines) and checks that
//! every line comes out once, with the event IDs an uninterrupted read gives.
//!
//! Time is driven by the test (`Harness::now`); nothing here sleeps.

#[path = "support/evtx_writer.rs"]
mod evtx_writer;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use scepwatch_collector::parse::{self, Format, SourceContext, MAX_LINE};
use scepwatch_collector::source::identity::fingerprint_of;
use scepwatch_collector::source::{
    CheckpointError, CheckpointKey, Checkpoints, Chunk, PollReport, SourceSpec, TailOptions, Tailer,
};
use scepwatch_proto::v1::{Event, SourceId, Watermark};

const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";

const IIS_HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-27 00:00:00\r\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

/// The header IIS writes after a logging change: more fields, in another order.
const IIS_HEADER_FULL: &str = "#Software: Microsoft Internet Information Services 10.0\r\n\
#Version: 1.0\r\n\
#Date: 2026-11-27 12:00:00\r\n\
#Fields: date time s-sitename s-computername s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs-version cs(User-Agent) cs(Cookie) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken\r\n";

/// Request number `n` of the day, as IIS logs it with its default fields: Android devices
/// asking the NDES server for its capabilities and certificates, then enrolling.
fn iis_line(n: u32) -> String {
    let (method, query) = match n % 3 {
        0 => ("GET", "operation=GetCACaps&message=default"),
        1 => ("GET", "operation=GetCACert&message=default"),
        _ => ("POST", "operation=PKIOperation"),
    };
    let status = if n % 7 == 6 { "500 0 1346" } else { "200 0 0" };
    format!(
        "2026-11-27 {:02}:{:02}:{:02} 10.20.0.15 {method} /certsrv/mscep/mscep.dll {query} 443 - 10.1.{}.{} \
Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-G991B+Build/TP1A.220624.014) - {status} {}\r\n",
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60,
        (n / 250) % 250,
        n % 250 + 1,
        15 + n % 400
    )
}

/// The same request logged with [`IIS_HEADER_FULL`]'s fields.
fn iis_line_full(n: u32) -> String {
    format!(
        "2026-11-27 12:{:02}:{:02} W3SVC1 NDES01 10.20.0.15 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=default 443 - 10.1.7.{} HTTP/1.1 \
Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-G991B+Build/TP1A.220624.014) - - ndes-contoso.msappproxy.net 200 0 0 3909 312 {}\r\n",
        (n / 60) % 60,
        n % 60,
        n % 250 + 1,
        20 + n % 100
    )
}

fn lines(range: std::ops::Range<u32>) -> String {
    range.map(iis_line).collect()
}

/// The line as an event's excerpt shows it.
fn excerpt(line: &str) -> String {
    line.trim_end_matches(['\r', '\n']).to_string()
}

/// A folder of logs, a tailer over it, and the checkpoints a collector would keep.
struct Harness {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    specs: Vec<SourceSpec>,
    opts: TailOptions,
    checkpoints: Checkpoints,
    tailer: Tailer,
    now: SystemTime,
    /// Every event handed out, `observed_time_us` cleared.
    events: Vec<Event>,
    /// Every watermark handed out.
    watermarks: Vec<Watermark>,
}

fn spec(root: &std::path::Path, name: &str, format: Format, include: &[&str]) -> SourceSpec {
    SourceSpec {
        name: name.to_string(),
        format,
        root: root.to_path_buf(),
        include: include.iter().map(|s| s.to_string()).collect(),
        host: "NDES01".to_string(),
        endpoint_id: ENDPOINT.to_string(),
        utc_offset_secs: 3600,
    }
}

fn options() -> TailOptions {
    TailOptions {
        read_chunk: 64 * 1024,
        idle_close: Duration::from_secs(3600),
        settle: Duration::from_secs(10),
        partial_line_timeout: Duration::from_secs(60),
        ..TailOptions::new("ndes01")
    }
}

impl Harness {
    /// IIS logs under `logs/`, pattern `W3SVC*/u_ex*.log`.
    fn iis() -> Harness {
        Harness::new(
            |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log"])],
            options(),
        )
    }

    fn new(specs: impl FnOnce(&std::path::Path) -> Vec<SourceSpec>, opts: TailOptions) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("logs");
        fs::create_dir_all(&root).unwrap();
        let state = dir.path().join("checkpoints.json");
        let specs = specs(&root);
        let checkpoints = Checkpoints::new();
        let tailer = Tailer::new(specs.clone(), opts.clone(), &checkpoints);
        Harness {
            _dir: dir,
            root,
            state,
            specs,
            opts,
            checkpoints,
            tailer,
            now: SystemTime::now(),
            events: Vec::new(),
            watermarks: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.root.clone(), |p, c| p.join(c))
    }

    /// What `SourceId.path` says for `rel`.
    fn id_path(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    fn append(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(bytes.as_ref()).unwrap();
    }

    fn truncate(&self, rel: &str) {
        let f = OpenOptions::new().write(true).open(self.path(rel)).unwrap();
        f.set_len(0).unwrap();
    }

    fn tick(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    /// One round; what comes out is delivered and checkpointed.
    fn poll(&mut self) -> PollReport {
        self.poll_with(true)
    }

    fn poll_with(&mut self, checkpoint: bool) -> PollReport {
        self.tick(1);
        let mut chunks: Vec<Chunk> = Vec::new();
        let report = self
            .tailer
            .poll(self.now, &mut |c| {
                chunks.push(c);
                Ok::<(), ()>(())
            })
            .unwrap();
        for c in chunks {
            if checkpoint {
                self.checkpoints.advance_at(&c.watermark, self.now);
            }
            self.watermarks.push(c.watermark);
            self.events.extend(c.events.into_iter().map(|mut e| {
                e.observed_time_us = 0;
                e
            }));
        }
        report
    }

    /// Poll until nothing is left to read; the events of those rounds.
    fn drain(&mut self) -> Vec<Event> {
        let before = self.events.len();
        for _ in 0..10_000 {
            let r = self.poll();
            if !r.more && r.chunks == 0 {
                return self.events[before..].to_vec();
            }
        }
        panic!("the tailer did not settle");
    }

    /// Save the checkpoints, drop the tailer, and start a new one from the saved file.
    fn restart(&mut self) {
        self.checkpoints.save(&self.state).unwrap();
        self.checkpoints = Checkpoints::load(&self.state).unwrap();
        self.tailer = Tailer::new(self.specs.clone(), self.opts.clone(), &self.checkpoints);
    }

    /// The events an uninterrupted parse of `content` gives for a stream first seen at `rel`.
    fn expected(&self, format: Format, rel: &str, content: &[u8]) -> Vec<Event> {
        let stream = fingerprint_of(content)
            .map(|f| f.to_hex())
            .unwrap_or_default();
        self.expected_as(format, rel, &stream, content)
    }

    fn expected_as(&self, format: Format, rel: &str, stream: &str, content: &[u8]) -> Vec<Event> {
        let source = SourceId {
            collector: "ndes01".into(),
            host: "NDES01".into(),
            kind: format.source_kind() as i32,
            path: self.id_path(rel),
            stream: stream.to_string(),
        };
        let mut ctx = SourceContext::new(source, 0);
        ctx.endpoint_id = ENDPOINT.into();
        ctx.utc_offset_secs = 3600;
        let mut out = Vec::new();
        parse::parse_stream(format, &ctx, content, &mut |e| out.push(e)).unwrap();
        out
    }
}

fn excerpts(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.excerpt.clone()).collect()
}

fn stream_of(e: &Event) -> &SourceId {
    e.source.as_ref().unwrap()
}

// ---------------------------------------------------------------------------------------------
// IIS rotation shapes
// ---------------------------------------------------------------------------------------------

/// IIS starts a new file each day (or hour): the old one is read to its end, the new one from
/// its start, as two streams.
#[test]
fn iis_new_file_per_day_old_drained_new_from_start() {
    let mut h = Harness::iis();
    let day1 = format!("{IIS_HEADER}{}", lines(0..3));
    h.write("W3SVC1/u_ex261127.log", &day1);
    assert_eq!(h.drain().len(), 3);

    let day1_rest = lines(3..5);
    h.append("W3SVC1/u_ex261127.log", &day1_rest);
    let day2 = format!("{IIS_HEADER}{}", lines(100..102));
    h.write("W3SVC1/u_ex261128.log", &day2);
    let new = h.drain();
    assert_eq!(new.len(), 4);

    let full1 = format!("{day1}{day1_rest}");
    let mut want = h.expected(Format::Iis, "W3SVC1/u_ex261127.log", full1.as_bytes());
    want.extend(h.expected(Format::Iis, "W3SVC1/u_ex261128.log", day2.as_bytes()));
    let mut got = h.events.clone();
    got.sort_by_key(|e| (stream_of(e).path.clone(), e.position));
    assert_eq!(
        got, want,
        "same events, IDs and positions as reading each file whole"
    );
    // The new day's first event sits right after its header.
    let day2_first = got
        .iter()
        .find(|e| stream_of(e).path.ends_with("u_ex261128.log"))
        .unwrap();
    assert_eq!(day2_first.position, IIS_HEADER.len() as u64);
}

/// Rename rotation: the renamed file goes on at its checkpoint with the IDs it had; the new
/// file at the old name is a new stream. Also when the collector was down during the rename.
#[test]
fn rename_rotation_keeps_stream_and_event_ids() {
    for restart in [false, true] {
        let mut h = Harness::new(
            |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log*"])],
            options(),
        );
        let first = format!("{IIS_HEADER}{}", lines(0..3));
        h.write("W3SVC1/u_ex261127.log", &first);
        assert_eq!(h.drain().len(), 3);
        let unread = lines(3..6);
        h.append("W3SVC1/u_ex261127.log", &unread);
        fs::rename(
            h.path("W3SVC1/u_ex261127.log"),
            h.path("W3SVC1/u_ex261127.log.1"),
        )
        .unwrap();
        let fresh = format!("{IIS_HEADER}{}", lines(6..8));
        h.write("W3SVC1/u_ex261127.log", &fresh);
        if restart {
            h.restart();
        }
        let new = h.drain();
        assert_eq!(new.len(), 5, "restart={restart}");

        let whole = format!("{first}{unread}");
        let mut want = h.expected(Format::Iis, "W3SVC1/u_ex261127.log", whole.as_bytes());
        want.extend(h.expected(Format::Iis, "W3SVC1/u_ex261127.log", fresh.as_bytes()));
        let mut got = h.events.clone();
        got.sort_by_key(|e| (stream_of(e).stream.clone(), e.position));
        want.sort_by_key(|e| (stream_of(e).stream.clone(), e.position));
        assert_eq!(got, want, "restart={restart}");
        let streams: BTreeSet<_> = h
            .events
            .iter()
            .map(|e| stream_of(e).stream.clone())
            .collect();
        assert_eq!(streams.len(), 2);
        if !restart {
            assert_eq!(h.tailer.stats().moves, 1);
        }
    }
}

/// copytruncate: the copy is the same stream (same fingerprint) and is read on from the
/// checkpoint; the truncated original becomes a new stream once it has a line.
#[test]
fn copytruncate_copy_continues_the_stream() {
    for restart in [false, true] {
        let mut h = Harness::new(
            |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log*"])],
            options(),
        );
        let first = format!("{IIS_HEADER}{}", lines(0..4));
        h.write("W3SVC1/u_ex261127.log", &first);
        assert_eq!(h.drain().len(), 4);
        let unread = lines(4..7);
        h.append("W3SVC1/u_ex261127.log", &unread);
        fs::copy(
            h.path("W3SVC1/u_ex261127.log"),
            h.path("W3SVC1/u_ex261127.log.1"),
        )
        .unwrap();
        h.truncate("W3SVC1/u_ex261127.log");
        if restart {
            h.restart();
        }
        let new = h.drain();
        assert_eq!(
            excerpts(&new),
            (4..7).map(|n| excerpt(&iis_line(n))).collect::<Vec<_>>()
        );
        let whole = format!("{first}{unread}");
        let want = h.expected(Format::Iis, "W3SVC1/u_ex261127.log", whole.as_bytes());
        assert_eq!(
            h.events, want,
            "restart={restart}: the copy keeps the stream's IDs"
        );

        // The truncated original gets new lines: a new stream from its start.
        let after = format!("{IIS_HEADER}{}", lines(7..9));
        h.append("W3SVC1/u_ex261127.log", &after);
        let new = h.drain();
        let want = h.expected(Format::Iis, "W3SVC1/u_ex261127.log", after.as_bytes());
        assert_eq!(new, want);
        assert_ne!(stream_of(&new[0]).stream, stream_of(&h.events[0]).stream);
    }
}

/// copytruncate to a name outside the patterns: the lines appended after the last round and
/// before the truncation are in the copy only, and are lost. This is the documented limit.
#[test]
fn copytruncate_to_an_unwatched_name_loses_the_unread_tail() {
    let mut h = Harness::iis();
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(0..3)),
    );
    assert_eq!(h.drain().len(), 3);
    h.append("W3SVC1/u_ex261127.log", lines(3..5));
    fs::copy(
        h.path("W3SVC1/u_ex261127.log"),
        h.path("W3SVC1/archive-u_ex261127.bak"),
    )
    .unwrap();
    h.truncate("W3SVC1/u_ex261127.log");
    assert!(
        h.drain().is_empty(),
        "lines 3 and 4 are only in the unwatched copy"
    );
    h.append(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(5..6)),
    );
    assert_eq!(excerpts(&h.drain()), vec![excerpt(&iis_line(5))]);
}

/// Truncated in place (shorter than what was read): counted, and the new content is a new
/// stream read from its start, whether it is still shorter or has already grown past the old
/// position by the next round.
#[test]
fn truncation_in_place_starts_a_new_stream_and_is_counted() {
    for regrown in [false, true] {
        let mut h = Harness::iis();
        h.write(
            "W3SVC1/u_ex261127.log",
            format!("{IIS_HEADER}{}", lines(0..5)),
        );
        assert_eq!(h.drain().len(), 5);
        let new_content = if regrown {
            format!("{IIS_HEADER}{}", lines(10..30))
        } else {
            format!("{IIS_HEADER}{}", lines(10..12))
        };
        h.write("W3SVC1/u_ex261127.log", &new_content);
        let new = h.drain();
        let want = h.expected(Format::Iis, "W3SVC1/u_ex261127.log", new_content.as_bytes());
        assert_eq!(new, want, "regrown={regrown}");
        assert_eq!(new[0].position, IIS_HEADER.len() as u64);
        assert!(h.tailer.stats().rotations + h.tailer.stats().truncations >= 1);
    }
}

/// The tailer holds the file open when it is truncated: the shrink is seen through the handle.
#[test]
fn truncation_under_an_open_handle_is_counted() {
    let mut h = Harness::iis();
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(0..5)),
    );
    h.drain();
    assert_eq!(h.tailer.stats().files_open, 1);
    h.truncate("W3SVC1/u_ex261127.log");
    h.drain();
    let s = h.tailer.stats();
    assert_eq!(s.truncations + s.rotations, 2, "{s:?}");
    h.append(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(40..41)),
    );
    assert_eq!(h.drain().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Files coming and going
// ---------------------------------------------------------------------------------------------

/// A site added later gets a new W3SVC folder; a root that does not exist yet is reported once
/// and read when it appears.
#[test]
fn files_that_appear_later_are_read_from_their_start() {
    let mut h = Harness::iis();
    fs::remove_dir_all(&h.root).unwrap();
    let r = h.poll();
    assert_eq!(r.problems.len(), 1, "a missing root is reported");
    assert_eq!(h.poll().problems.len(), 0, "once");

    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(0..2)),
    );
    assert_eq!(h.drain().len(), 2);
    let site2 = format!("{IIS_HEADER}{}", lines(50..53));
    h.write("W3SVC2/u_ex261127.log", &site2);
    let new = h.drain();
    assert_eq!(
        new,
        h.expected(Format::Iis, "W3SVC2/u_ex261127.log", site2.as_bytes())
    );
}

/// Files deleted while the collector was down: their checkpoints stay until the retention
/// passes, the entries of files still there are kept fresh by `mark_seen`.
#[test]
fn files_deleted_while_down_are_forgotten_after_retention() {
    let mut h = Harness::iis();
    h.write(
        "W3SVC1/u_ex261126.log",
        format!("{IIS_HEADER}{}", lines(0..2)),
    );
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(2..4)),
    );
    h.drain();
    assert_eq!(h.checkpoints.len(), 2);
    h.checkpoints.save(&h.state).unwrap();
    fs::remove_file(h.path("W3SVC1/u_ex261126.log")).unwrap();
    h.restart();
    assert!(h.drain().is_empty());

    // Eight days later. The file still there has had nothing new, but its watermark is handed
    // out again (an empty chunk) and keeps its checkpoint fresh through the normal path.
    let retention = Duration::from_secs(7 * 86_400);
    h.tick(8 * 86_400);
    let before = h.watermarks.len();
    let r = h.poll();
    assert_eq!((r.chunks, r.events), (1, 0));
    assert_eq!(
        h.watermarks[before].source.as_ref().unwrap().path,
        h.id_path("W3SVC1/u_ex261127.log")
    );
    assert_eq!(h.checkpoints.forget_older_than(h.now - retention), 1);
    let left: Vec<_> = h.checkpoints.iter().map(|(_, c)| c.path.clone()).collect();
    assert_eq!(left, vec![h.id_path("W3SVC1/u_ex261127.log")]);
    // `mark_seen` does the same directly.
    h.tick(8 * 86_400);
    h.tailer.mark_seen(&mut h.checkpoints, h.now);
    assert_eq!(h.checkpoints.forget_older_than(h.now - retention), 0);
    // The tailer's memory follows the same retention.
    h.tailer.forget_older_than(h.now - retention);
    assert_eq!(h.tailer.stats().streams, 1);
}

/// Deleted while open (IIS cleanup, or an admin): what the open handle still reads comes out,
/// then the handle is closed, so a delete-pending file does not linger on Windows.
///
/// Where the name goes away at once (Unix, Windows 10 1809 and later) or opening it is refused
/// (older Windows: delete pending), the handle is closed as soon as it is drained. Where the
/// name stays and still opens (Wine), the file looks alive until its handle is closed for
/// idleness, which lets the deletion complete.
#[test]
fn file_deleted_while_open_is_drained_then_closed() {
    let mut h = Harness::iis();
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(0..3)),
    );
    assert_eq!(h.drain().len(), 3);
    assert_eq!(h.tailer.stats().files_open, 1);
    h.append("W3SVC1/u_ex261127.log", lines(3..5));
    fs::remove_file(h.path("W3SVC1/u_ex261127.log")).unwrap();
    let new = h.drain();
    assert_eq!(
        excerpts(&new),
        (3..5).map(|n| excerpt(&iis_line(n))).collect::<Vec<_>>()
    );
    h.tick(h.opts.idle_close.as_secs() + 1);
    h.poll();
    h.poll();
    let s = h.tailer.stats();
    assert_eq!((s.files_open, s.files_known), (0, 0), "{s:?}");
}

/// Peers' classic: hourly files and several sites start with byte-identical header blocks
/// (same `#Date` second). A first-line (or first-N-bytes) fingerprint makes them one stream;
/// ours looks past the header.
#[test]
fn identical_iis_headers_do_not_collide() {
    let mut h = Harness::iis();
    let mut want = Vec::new();
    let mut n = 0;
    for site in 1..=3 {
        for hour in ["00", "01"] {
            let rel = format!("W3SVC{site}/u_ex261127{hour}.log");
            let content = format!("{IIS_HEADER}{}", lines(n..n + 2));
            n += 2;
            h.write(&rel, &content);
            want.extend(h.expected(Format::Iis, &rel, content.as_bytes()));
        }
    }
    let got = h.drain();
    assert_eq!(got.len(), 12);
    let streams: BTreeSet<_> = got.iter().map(|e| stream_of(e).stream.clone()).collect();
    assert_eq!(
        streams.len(),
        6,
        "six files, six streams, though all headers are equal"
    );
    let key = |e: &Event| (stream_of(e).path.clone(), e.position);
    let mut got = got;
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    assert_eq!(h.tailer.stats().duplicate_paths, 0);
}

/// The first request of the day as a load balancer's health probe leaves it in every site it
/// checks. IIS's default fields log neither the site nor the host name, so sites bound to the
/// same address and port (told apart by host name) log byte-identical lines when the probe
/// reaches them in the same second, under byte-identical headers (`#Date` is that second).
fn probe_line(second: u32) -> String {
    format!(
        "2026-11-27 00:00:{second:02} 10.20.0.15 GET /certsrv/mscep/mscep.dll - 443 - 10.20.0.2 - - 200 0 0 0\r\n"
    )
}

/// The events an uninterrupted read of each file (its final content) gives, in (path,
/// position) order, against what came out in the same order.
fn assert_each_file_read_once(h: &Harness, files: &BTreeMap<String, String>, what: &str) {
    let key = |e: &Event| (stream_of(e).path.clone(), e.position);
    let mut want = Vec::new();
    for (rel, content) in files {
        want.extend(h.expected(Format::Iis, rel, content.as_bytes()));
    }
    want.sort_by_key(key);
    let mut got = h.events.clone();
    got.sort_by_key(key);
    assert_eq!(
        excerpts(&got),
        excerpts(&want),
        "{what}: every line of every file, once"
    );
    assert_eq!(
        got, want,
        "{what}: the events and IDs of an uninterrupted read"
    );
}

/// Two sites whose files start with the same header block *and* the same first request (the
/// probe's) are two streams: both are read, each line once, each under its own path, also
/// across a restart from checkpoints taken while both were being read.
#[test]
fn twin_first_requests_in_two_site_folders_are_two_streams() {
    for restart in [false, true] {
        let mut h = Harness::iis();
        let start = format!("{IIS_HEADER}{}", probe_line(3));
        let mut files = BTreeMap::new();
        for (site, first) in [("W3SVC1", 0), ("W3SVC2", 100)] {
            let rel = format!("{site}/u_ex261127.log");
            let content = format!("{start}{}", lines(first..first + 3));
            h.write(&rel, &content);
            files.insert(rel, content);
        }
        let paths: Vec<_> = files.keys().cloned().collect();
        assert_eq!(
            fingerprint_of(files[&paths[0]].as_bytes()),
            fingerprint_of(files[&paths[1]].as_bytes()),
            "the two files carry the same fingerprint"
        );
        h.drain();
        if restart {
            h.restart();
        }
        for (rel, first) in paths.iter().zip([3, 103]) {
            let more = lines(first..first + 3);
            h.append(rel, &more);
            files.get_mut(rel).unwrap().push_str(&more);
        }
        h.drain();
        assert_each_file_read_once(&h, &files, &format!("restart={restart}"));
        assert_eq!(
            h.checkpoints.len(),
            2,
            "restart={restart}: one entry per file"
        );
        assert_eq!(h.tailer.stats().duplicate_paths, 0, "restart={restart}");
    }
}

/// The twin of a site's file appears while the collector is down: the checkpoint of the first
/// site's stream is not taken for it (it is read from its start, under its own path), and the
/// first site's file goes on from its checkpoint. `W3SVC10` sorts before `W3SVC2`, so it is
/// the first of the two files a restarted collector looks at.
#[test]
fn twin_file_appearing_while_down_is_read_from_its_start() {
    let mut h = Harness::iis();
    let start = format!("{IIS_HEADER}{}", probe_line(3));
    let mut files = BTreeMap::new();
    let first = format!("{start}{}", lines(0..3));
    h.write("W3SVC2/u_ex261127.log", &first);
    assert_eq!(h.drain().len(), 4);

    // Down: the first site goes on, the new site's file appears.
    h.checkpoints.save(&h.state).unwrap();
    let more = lines(3..6);
    h.append("W3SVC2/u_ex261127.log", &more);
    files.insert(
        "W3SVC2/u_ex261127.log".to_string(),
        format!("{first}{more}"),
    );
    let twin = format!("{start}{}", lines(100..104));
    h.write("W3SVC10/u_ex261127.log", &twin);
    files.insert("W3SVC10/u_ex261127.log".to_string(), twin);
    h.restart();
    h.drain();
    assert_each_file_read_once(&h, &files, "after the restart");

    // And both go on.
    for (rel, first) in [
        ("W3SVC2/u_ex261127.log", 6),
        ("W3SVC10/u_ex261127.log", 104),
    ] {
        let more = lines(first..first + 2);
        h.append(rel, &more);
        files.get_mut(rel).unwrap().push_str(&more);
    }
    h.drain();
    assert_each_file_read_once(&h, &files, "afterwards");
}

/// Within one folder a second file with the same start is taken for a copy of the first (the
/// copy of copytruncate, or both names of a rename seen at once): it is counted as a duplicate
/// path and not read while the first is there. IIS never writes two such files in one site
/// folder: its files there are of different periods, and each starts with its period's first
/// request.
#[test]
fn twin_start_in_one_folder_is_taken_for_a_copy() {
    let mut h = Harness::iis();
    let start = format!("{IIS_HEADER}{}", probe_line(3));
    let first = format!("{start}{}", lines(0..2));
    h.write("W3SVC1/u_ex261127.log", &first);
    h.write(
        "W3SVC1/u_ex261127_x.log",
        format!("{start}{}", lines(50..52)),
    );
    let got = h.drain();
    assert_eq!(
        got,
        h.expected(Format::Iis, "W3SVC1/u_ex261127.log", first.as_bytes())
    );
    assert_eq!(h.tailer.stats().duplicate_paths, 1);
}

/// A checkpoint file of an earlier version (the same format: one entry per stream, keyed then
/// by fingerprint alone) loads as it is. Its entry resumes the file of the folder it names; the
/// twin in the other site folder, which that version took for a duplicate and never read, is
/// read from its start.
#[test]
fn earlier_checkpoints_resume_and_the_twin_they_skipped_is_read() {
    let mut h = Harness::iis();
    let start = format!("{IIS_HEADER}{}", probe_line(3));
    let site1 = format!("{start}{}", lines(0..3));
    let site2 = format!("{start}{}", lines(100..103));
    h.write("W3SVC1/u_ex261127.log", &site1);
    h.write("W3SVC2/u_ex261127.log", &site2);
    let read = h.expected(Format::Iis, "W3SVC1/u_ex261127.log", site1.as_bytes());
    let earlier = serde_json::json!({
        "format": "scepwatch-collector-checkpoints",
        "version": 1,
        "streams": [{
            "kind": Format::Iis.source_kind() as i32,
            "stream": fingerprint_of(site1.as_bytes()).unwrap().to_hex(),
            "path": h.id_path("W3SVC1/u_ex261127.log"),
            "position": site1.len(),
            "read_from_us": read.iter().map(|e| e.event_time_us).min().unwrap(),
            "read_up_to_us": read.iter().map(|e| e.event_time_us).max().unwrap(),
            "last_seen_ms": 1_795_740_000_000u64,
        }],
    });
    fs::write(&h.state, serde_json::to_vec_pretty(&earlier).unwrap()).unwrap();
    h.checkpoints = Checkpoints::load(&h.state).unwrap();
    h.tailer = Tailer::new(h.specs.clone(), h.opts.clone(), &h.checkpoints);

    let more1 = lines(3..5);
    h.append("W3SVC1/u_ex261127.log", &more1);
    let got = h.drain();
    let whole1 = format!("{site1}{more1}");
    let mut want: Vec<Event> = h
        .expected(Format::Iis, "W3SVC1/u_ex261127.log", whole1.as_bytes())
        .into_iter()
        .filter(|e| e.position >= site1.len() as u64)
        .collect();
    want.extend(h.expected(Format::Iis, "W3SVC2/u_ex261127.log", site2.as_bytes()));
    let key = |e: &Event| (stream_of(e).path.clone(), e.position);
    let mut got = got;
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    assert_eq!(h.checkpoints.len(), 2);
}

/// A new file at a deleted file's path (and, on file systems that recycle them, with its
/// inode) is a new stream: identity is content, not inode.
#[test]
fn recycled_path_and_inode_is_a_new_stream() {
    let mut h = Harness::iis();
    let old = format!("{IIS_HEADER}{}", lines(0..4));
    h.write("W3SVC1/u_ex261127.log", &old);
    h.drain();
    fs::remove_file(h.path("W3SVC1/u_ex261127.log")).unwrap();
    h.poll();
    let new_content = format!("{IIS_HEADER}{}", lines(200..206));
    h.write("W3SVC1/u_ex261127.log", &new_content);
    let new = h.drain();
    assert_eq!(
        new,
        h.expected(Format::Iis, "W3SVC1/u_ex261127.log", new_content.as_bytes())
    );
    assert_ne!(
        fingerprint_of(old.as_bytes()),
        fingerprint_of(new_content.as_bytes())
    );
}

/// A file holding only its header block has no identity yet and is not read; once its first
/// request line is there it is read from the start (the header's `#Fields` included).
#[test]
fn header_only_file_waits_for_its_first_request() {
    let mut h = Harness::iis();
    h.write("W3SVC1/u_ex261127.log", IIS_HEADER_FULL);
    assert!(h.drain().is_empty());
    assert_eq!(h.tailer.stats().streams, 0);
    h.append("W3SVC1/u_ex261127.log", iis_line_full(1));
    let got = h.drain();
    let whole = format!("{IIS_HEADER_FULL}{}", iis_line_full(1));
    assert_eq!(
        got,
        h.expected(Format::Iis, "W3SVC1/u_ex261127.log", whole.as_bytes())
    );
    assert_eq!(
        h.tailer.stats().parse_errors.len(),
        0,
        "read with the file's own #Fields"
    );
}

// ---------------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------------

/// A last line without its newline waits for it...
#[test]
fn partial_last_line_waits_for_its_newline() {
    let mut h = Harness::iis();
    let line = iis_line(1);
    let (a, b) = line.split_at(40);
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}{a}", iis_line(0)),
    );
    assert_eq!(h.drain().len(), 1);
    h.tick(30);
    assert!(h.drain().is_empty());
    h.append("W3SVC1/u_ex261127.log", b);
    assert_eq!(excerpts(&h.drain()), vec![excerpt(&line)]);
    assert_eq!(h.tailer.stats().partial_lines, 0);
}

/// ...or for `partial_line_timeout` without any change to the file.
#[test]
fn partial_last_line_is_taken_after_the_timeout() {
    let mut h = Harness::iis();
    let line = iis_line(1);
    let unterminated = line.trim_end();
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}{unterminated}", iis_line(0)),
    );
    assert_eq!(h.drain().len(), 1);
    h.tick(61);
    assert_eq!(excerpts(&h.drain()), vec![excerpt(&line)]);
    assert_eq!(h.tailer.stats().partial_lines, 1);
}

/// A line longer than `parse::MAX_LINE` is skipped and counted, as the parsers do, whether it
/// arrives at once or over several rounds; the lines after it are read.
#[test]
fn over_long_line_is_skipped_and_counted() {
    let mut opts = options();
    opts.read_chunk = 4096;
    let mut h = Harness::new(
        |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log"])],
        opts,
    );
    let long = format!(
        "2026-11-27 00:00:00 10.20.0.15 GET /x {} 443",
        "a".repeat(MAX_LINE + 10)
    );
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}{long}\r\n{}", iis_line(0), iis_line(1)),
    );
    let got = h.drain();
    assert_eq!(
        excerpts(&got),
        vec![excerpt(&iis_line(0)), excerpt(&iis_line(1))]
    );
    assert_eq!(h.tailer.stats().parse_errors.get("line_too_long"), Some(&1));

    // The same line written in pieces, each round seeing a part of it.
    let (a, b) = long.split_at(MAX_LINE / 2);
    h.append("W3SVC1/u_ex261127.log", a);
    h.poll();
    h.append("W3SVC1/u_ex261127.log", b);
    h.poll();
    h.append("W3SVC1/u_ex261127.log", format!("\r\n{}", iis_line(2)));
    assert_eq!(excerpts(&h.drain()), vec![excerpt(&iis_line(2))]);
    assert_eq!(h.tailer.stats().parse_errors.get("line_too_long"), Some(&2));
}

/// Fairness: one huge file does not hold up a small one; the small file's new line comes out
/// in the first round.
#[test]
fn busy_file_does_not_starve_a_small_one() {
    let mut h = Harness::iis();
    let big: String = format!("{IIS_HEADER}{}", lines(0..30_000));
    h.write("W3SVC1/u_ex261127.log", &big);
    h.write(
        "W3SVC2/u_ex261127.log",
        format!("{IIS_HEADER}{}", iis_line(77_000)),
    );
    let r = h.poll();
    assert!(r.more, "the big file is not read in one round");
    assert!(r.bytes_read <= 2 * 64 * 1024);
    let small: Vec<_> = h
        .events
        .iter()
        .filter(|e| stream_of(e).path.contains("W3SVC2"))
        .collect();
    assert_eq!(small.len(), 1);
    // And the big one is read in full over the next rounds.
    h.drain();
    assert_eq!(h.events.len(), 30_001);
}

/// Handles of files that stopped growing are closed after `idle_close` and reopened (after a
/// fingerprint check) when the file grows.
#[test]
fn idle_handles_are_closed_and_reopened() {
    let mut opts = options();
    opts.idle_close = Duration::from_secs(10);
    let mut h = Harness::new(
        |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log"])],
        opts,
    );
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(0..2)),
    );
    h.drain();
    assert_eq!(h.tailer.stats().files_open, 1);
    h.tick(11);
    h.poll();
    assert_eq!(h.tailer.stats().files_open, 0);
    h.append("W3SVC1/u_ex261127.log", lines(2..3));
    assert_eq!(excerpts(&h.drain()), vec![excerpt(&iis_line(2))]);
    assert_eq!(h.tailer.stats().files_open, 1);
}

/// A consumer that refuses a chunk (spool closed) gets the same events again next time.
#[test]
fn refused_chunk_is_read_again() {
    let mut h = Harness::iis();
    h.write(
        "W3SVC1/u_ex261127.log",
        format!("{IIS_HEADER}{}", lines(0..2)),
    );
    h.drain();
    // A header block in the middle of the refused bytes: the parser must not keep its layout.
    let rest = format!("{IIS_HEADER_FULL}{}{}", iis_line_full(5), iis_line_full(6));
    h.append("W3SVC1/u_ex261127.log", &rest);
    let err = h
        .tailer
        .poll(h.now, &mut |_c| Err::<(), _>("spool closed"))
        .unwrap_err();
    assert!(err.to_string().contains("spool closed"));
    let got = h.drain();
    assert_eq!(
        excerpts(&got),
        vec![excerpt(&iis_line_full(5)), excerpt(&iis_line_full(6))]
    );
    let whole = format!("{IIS_HEADER}{}{rest}", lines(0..2));
    assert_eq!(
        h.events,
        h.expected(Format::Iis, "W3SVC1/u_ex261127.log", whole.as_bytes())
    );
}

// ---------------------------------------------------------------------------------------------
// Resuming mid-file
// ---------------------------------------------------------------------------------------------

/// Read one file in one go, and again with the collector restarted after every single line
/// (`read_chunk` of 1 byte: one line per round): the event lists are identical, IDs included.
/// The IIS file changes its `#Fields` halfway; the resumed parser replays the directives
/// before its checkpoint.
#[test]
fn resume_at_every_line_boundary_gives_identical_events() {
    let iis_mixed = format!(
        "{IIS_HEADER}{}{IIS_HEADER_FULL}{}{}",
        lines(0..4),
        iis_line_full(4),
        iis_line_full(5)
    );
    let fixture = |dir: &str, name: &str| {
        fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("testdata")
                .join(dir)
                .join(name),
        )
        .unwrap()
    };
    let cases: Vec<(Format, &str, &str, Vec<u8>)> = vec![
        (
            Format::Iis,
            "W3SVC*/u_ex*.log",
            "W3SVC1/u_ex261127.log",
            iis_mixed.into_bytes(),
        ),
        // The project's IIS fixture: a UTF-8 BOM and two header blocks.
        (
            Format::Iis,
            "W3SVC*/u_ex*.log",
            "W3SVC1/u_ex261120.log",
            fixture("iis", "u_ex261120.log"),
        ),
        (
            Format::HttpErr,
            "httperr*.log",
            "httperr1.log",
            fixture("httperr", "httperr1.log"),
        ),
    ];
    for (format, pattern, rel, content) in cases {
        let make = |chunk: usize| {
            let mut opts = options();
            opts.read_chunk = chunk;
            Harness::new(|root| vec![spec(root, "s", format, &[pattern])], opts)
        };
        let mut whole = make(1 << 20);
        whole.write(rel, &content);
        let once = whole.drain();
        assert_eq!(
            once,
            whole.expected(format, rel, &content),
            "{rel}: one go = parse_stream"
        );
        assert!(!once.is_empty());

        let mut stepped = make(1);
        stepped.write(rel, &content);
        let mut rounds = 0;
        loop {
            let r = stepped.poll();
            stepped.restart();
            rounds += 1;
            if r.chunks == 0 && !r.more {
                break;
            }
        }
        assert!(
            rounds > content.iter().filter(|&&b| b == b'\n').count() / 2,
            "{rel}"
        );
        let same_place = |events: Vec<Event>| {
            // Both harnesses have their own folder: compare paths relative to it.
            events
                .into_iter()
                .map(|mut e| {
                    e.id.clear();
                    e.source.as_mut().unwrap().path.clear();
                    e
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            same_place(stepped.events.clone()),
            same_place(once.clone()),
            "{rel}"
        );
        assert_eq!(
            stepped.events,
            stepped.expected(format, rel, &content),
            "{rel}: IDs too"
        );
    }
}

/// Written line by line with a restart after each write (the file starts as a header only).
#[test]
fn resume_while_the_file_is_being_written() {
    let mut h = Harness::iis();
    let mut content = String::from(IIS_HEADER);
    h.write("W3SVC1/u_ex261127.log", &content);
    for n in 0..6 {
        let line = if n < 3 { iis_line(n) } else { iis_line_full(n) };
        if n == 3 {
            content.push_str(IIS_HEADER_FULL);
            h.append("W3SVC1/u_ex261127.log", IIS_HEADER_FULL);
        }
        content.push_str(&line);
        h.append("W3SVC1/u_ex261127.log", &line);
        h.drain();
        h.restart();
    }
    assert_eq!(
        h.events,
        h.expected(Format::Iis, "W3SVC1/u_ex261127.log", content.as_bytes())
    );
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

/// `SetupMsi.log` is often UTF-16 with a BOM: it is read whole once settled, and when the
/// installer appends another run only the new events come out.
#[test]
fn utf16_setupmsi_is_read_once_settled() {
    let mut h = Harness::new(
        |root| {
            vec![spec(
                root,
                "connector-install",
                Format::SetupMsi,
                &["SetupMsi*.log"],
            )]
        },
        options(),
    );
    let utf16 = |text: &str, bom: bool| -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/setupmsi");
    let failure = fs::read_to_string(dir.join("failure_1920.log")).unwrap();
    let success = fs::read_to_string(dir.join("success.log")).unwrap();
    let first = utf16(&failure, true);
    h.write("SetupMsi.log", &first);
    // A freshly written file is not read until it has settled.
    h.now = SystemTime::now();
    assert!(h.drain().is_empty());
    h.tick(11);
    let got = h.drain();
    assert!(!got.is_empty());
    // The same events as `diagnose` gets from the file (the log carries its own date).
    assert_eq!(
        got,
        h.expected_as(Format::SetupMsi, "SetupMsi.log", "", &first)
    );
    assert_eq!(h.tailer.stats().documents_read, 1);
    // Unchanged: not read again.
    h.tick(30);
    assert!(h.drain().is_empty());
    assert_eq!(h.tailer.stats().documents_read, 1);

    // The next install appends to the log: read again once settled, only the new events.
    let mut both = first.clone();
    both.extend(utf16(&success, false));
    h.write("SetupMsi.log", &both);
    assert!(h.drain().is_empty());
    h.tick(11);
    let new = h.drain();
    let all = h.expected_as(Format::SetupMsi, "SetupMsi.log", "", &both);
    assert_eq!(all.len(), got.len() + 2);
    assert_eq!(
        new,
        all[got.len()..].to_vec(),
        "only the events past the checkpoint"
    );
}

fn crash_record(id: u64) -> evtx_writer::Record {
    use evtx_writer::{el, event, text_el};
    let data = [
        "w3wp.exe",
        "10.0.17763.1",
        "cfe0c1b0",
        "KERNELBASE.dll",
        "10.0.17763.5329",
        "6b2d5a4e",
        "e0434352",
        "0x0000000000040cd9",
        "0x1a2c",
    ]
    .iter()
    .map(|v| text_el("Data", &[], v))
    .collect();
    evtx_writer::Record {
        id,
        written_us: scepwatch_proto::time::civil_to_us(2026, 11, 27, 9, 15, id as u32 % 60, 0)
            .unwrap(),
        event: event(
            "Application Error",
            1000,
            2,
            &format!("2026-11-27T09:15:{:02}.1234567Z", id % 60),
            id,
            "Application",
            el("EventData", &[], data),
        ),
    }
}

/// An `.evtx` export is read when it has settled; position is the record number; a
/// re-export with more records gives only the records past the checkpoint.
#[test]
fn evtx_reexport_skips_records_already_taken() {
    let mut h = Harness::new(
        |root| vec![spec(root, "eventlogs", Format::Evtx, &["*.evtx"])],
        options(),
    );
    let first = evtx_writer::file(&[(1..=3).map(crash_record).collect()]);
    h.write("Application.evtx", &first);
    h.now = SystemTime::now();
    assert!(h.drain().is_empty(), "not settled yet");
    h.tick(11);
    let got = h.drain();
    assert_eq!(
        got.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(h.watermarks.last().unwrap().position, 4);
    assert_eq!(
        stream_of(&got[0]).stream,
        "",
        "documents are identified by path"
    );

    // Restart, then a re-export with two more records.
    h.restart();
    let second = evtx_writer::file(&[(1..=5).map(crash_record).collect()]);
    h.write("Application.evtx", &second);
    h.now = SystemTime::now();
    assert!(h.drain().is_empty(), "not settled yet");
    h.tick(11);
    let new = h.drain();
    assert_eq!(
        new.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![4, 5]
    );
    // Same IDs as the first export would have given those records.
    let all: Vec<Event> = {
        let source = stream_of(&got[0]).clone();
        let ctx = {
            let mut c = SourceContext::new(source, 0);
            c.endpoint_id = ENDPOINT.into();
            c.utc_offset_secs = 3600;
            c
        };
        let mut out = Vec::new();
        parse::eventlog::evtx::parse(&ctx, std::io::Cursor::new(second), &mut |e| out.push(e))
            .unwrap();
        out
    };
    assert_eq!(new, all[3..].to_vec());
}

/// A `wevtutil qe Application /f:xml` export: one w3wp.exe crash per record ID.
fn wevtutil_export(record_ids: std::ops::RangeInclusive<u32>) -> String {
    let mut xml = String::from("<Events>");
    for id in record_ids {
        xml.push_str(&format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='Application Error'/><EventID Qualifiers='0'>1000</EventID><Level>2</Level>\
<TimeCreated SystemTime='2026-11-27T09:41:{:02}.1234567Z'/><EventRecordID>{id}</EventRecordID>\
<Channel>Application</Channel><Computer>NDES01.contoso.com</Computer></System><EventData>\
<Data>w3wp.exe</Data><Data>10.0.20348.1</Data><Data>5215df96</Data><Data>ntdll.dll</Data>\
</EventData></Event>\r\n",
            id % 60
        ));
    }
    xml.push_str("</Events>\r\n");
    xml
}

/// A scheduled `wevtutil qe /f:xml` overwrites its export: each new export is read once
/// settled, and only records past the checkpoint come out.
#[test]
fn event_xml_reexport_gives_only_new_records() {
    let mut h = Harness::new(
        |root| vec![spec(root, "eventlogs-xml", Format::EventXml, &["*.xml"])],
        options(),
    );
    h.write("Application.xml", wevtutil_export(88_410..=88_412));
    h.now = SystemTime::now();
    h.poll();
    h.tick(11);
    let got = h.drain();
    assert_eq!(
        got.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![88_410, 88_411, 88_412]
    );
    // The next export holds the last records of the log: some old, some new.
    let next = wevtutil_export(88_411..=88_415);
    h.write("Application.xml", &next);
    h.poll();
    h.tick(11);
    let new = h.drain();
    assert_eq!(
        new.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![88_413, 88_414, 88_415]
    );
    let all = h.expected_as(Format::EventXml, "Application.xml", "", next.as_bytes());
    assert_eq!(
        new,
        all[2..].to_vec(),
        "same IDs as any read of that export"
    );
}

// ---------------------------------------------------------------------------------------------
// Checkpoint file
// ---------------------------------------------------------------------------------------------

#[test]
fn checkpoint_file_missing_is_empty_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints.json");
    assert!(Checkpoints::load(&path).unwrap().is_empty());
    let mut c = Checkpoints::new();
    let wm = Watermark {
        source: Some(SourceId {
            collector: "ndes01".into(),
            host: "NDES01".into(),
            kind: Format::Iis.source_kind() as i32,
            path: r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex261127.log".into(),
            stream: "0123456789abcdef".into(),
        }),
        endpoint_id: ENDPOINT.into(),
        read_from_us: 1_795_737_600_000_000,
        read_up_to_us: 1_795_741_200_000_000,
        position: 123_456,
    };
    c.advance(&wm);
    c.save(&path).unwrap();
    let back = Checkpoints::load(&path).unwrap();
    assert_eq!(back.len(), 1);
    let key = CheckpointKey::of(wm.source.as_ref().unwrap());
    let e = back.get(&key).unwrap();
    assert_eq!(
        (e.position, e.read_up_to_us),
        (123_456, 1_795_741_200_000_000)
    );
    assert_eq!(e.path, r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex261127.log");
    // Saved again over the existing file.
    c.save(&path).unwrap();
}

/// A corrupt checkpoint file is an error naming the file, never a silent fresh start (which
/// would send every log on the server again).
#[test]
fn corrupt_checkpoint_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints.json");
    fs::write(
        &path,
        b"{\"format\":\"scepwatch-collector-checkpoints\",\"version\":1,\"streams\":[{\"kin",
    )
    .unwrap();
    let err = Checkpoints::load(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("checkpoints.json"), "{err}");
    fs::write(
        &path,
        b"{\"format\":\"scepwatch-collector-checkpoints\",\"version\":9,\"streams\":[]}",
    )
    .unwrap();
    let err = Checkpoints::load(&path).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");
}

#[test]
fn tailer_can_move_to_its_own_thread() {
    fn send<T: Send>() {}
    send::<Tailer>();
    send::<Checkpoints>();
}

// ---------------------------------------------------------------------------------------------
// Property: every appended line exactly once (at least once across crashes)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Append this many request lines to the live file (with a header block if it is new).
    Append(u8),
    /// Append one line in two writes with a round in between.
    AppendSplit,
    /// Append lines to the last rotated file (a writer still holding it after the rename).
    AppendToRotated(u8),
    /// Append lines to another site's file.
    AppendOtherSite(u8),
    /// Rename the live file to a rotated name; the next append starts a new one.
    RenameRotate,
    /// Copy the live file to a rotated name, then truncate it.
    CopyTruncate,
    /// Read everything, then truncate the live file in place.
    TruncateAfterDrain,
    /// Read everything, then delete the rotated files.
    DeleteRotatedAfterDrain,
    Poll,
    /// Let a minute pass (idle handles close).
    Idle,
    /// Stop and start the collector from its saved checkpoints.
    Restart,
    /// A round whose chunks are handed out but never checkpointed, then a restart and a round
    /// (a collector comes back within seconds; IIS rotates daily). A stream born in the lost
    /// round and renamed before the restart would get its IDs from the new path: no
    /// checkpoint remembers where it was first seen (docs/collector.md).
    CrashRestart,
}

fn op(with_crashes: bool) -> impl Strategy<Value = Op> {
    let mut choices = vec![
        (6, (1u8..6).prop_map(Op::Append).boxed()),
        (1, Just(Op::AppendSplit).boxed()),
        (1, (1u8..4).prop_map(Op::AppendToRotated).boxed()),
        (2, (1u8..4).prop_map(Op::AppendOtherSite).boxed()),
        (2, Just(Op::RenameRotate).boxed()),
        (2, Just(Op::CopyTruncate).boxed()),
        (1, Just(Op::TruncateAfterDrain).boxed()),
        (1, Just(Op::DeleteRotatedAfterDrain).boxed()),
        (4, Just(Op::Poll).boxed()),
        (1, Just(Op::Idle).boxed()),
        (2, Just(Op::Restart).boxed()),
    ];
    if with_crashes {
        choices.push((2, Just(Op::CrashRestart).boxed()));
    }
    proptest::strategy::Union::new_weighted(choices)
}

/// Runs `ops`; returns the lines appended and the harness.
fn run_ops(ops: &[Op], read_chunk: usize) -> (Vec<String>, Harness) {
    let mut opts = options();
    opts.read_chunk = read_chunk;
    opts.idle_close = Duration::from_secs(30);
    opts.partial_line_timeout = Duration::from_secs(86_400);
    let mut h = Harness::new(
        |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log"])],
        opts,
    );
    let live = "W3SVC1/u_ex261127.log";
    let mut rotated: Vec<String> = Vec::new();
    // Rotated files not deleted yet. (On Windows a deleted file the tailer still holds can stay
    // visible; a writer does not reopen it.)
    let mut rotated_alive: Vec<String> = Vec::new();
    let mut appended: Vec<String> = Vec::new();
    let mut seq = 0u32;
    let live_len = |h: &Harness| fs::metadata(h.path(live)).map_or(0, |m| m.len());
    for op in ops {
        match op {
            Op::Append(k) => {
                let mut text = String::new();
                if live_len(&h) == 0 {
                    text.push_str(IIS_HEADER);
                }
                for _ in 0..*k {
                    let line = iis_line(seq);
                    seq += 1;
                    appended.push(excerpt(&line));
                    text.push_str(&line);
                }
                h.append(live, text);
            }
            Op::AppendToRotated(k) | Op::AppendOtherSite(k) => {
                let target = match op {
                    Op::AppendOtherSite(_) => "W3SVC2/u_ex261127.log".to_string(),
                    _ => match rotated_alive.last() {
                        Some(r) => r.clone(),
                        None => continue,
                    },
                };
                let mut text = String::new();
                if fs::metadata(h.path(&target)).map_or(0, |m| m.len()) == 0 {
                    text.push_str(IIS_HEADER);
                }
                for _ in 0..*k {
                    let line = iis_line(seq);
                    seq += 1;
                    appended.push(excerpt(&line));
                    text.push_str(&line);
                }
                h.append(&target, text);
            }
            Op::AppendSplit => {
                if live_len(&h) == 0 {
                    h.append(live, IIS_HEADER);
                }
                let line = iis_line(seq);
                seq += 1;
                appended.push(excerpt(&line));
                let (a, b) = line.split_at(line.len() / 2);
                h.append(live, a);
                h.poll();
                h.append(live, b);
            }
            Op::RenameRotate => {
                if h.path(live).exists() {
                    let to = format!("W3SVC1/u_ex261127_r{}.log", rotated.len());
                    fs::rename(h.path(live), h.path(&to)).unwrap();
                    rotated.push(to.clone());
                    rotated_alive.push(to);
                }
            }
            Op::CopyTruncate => {
                if h.path(live).exists() {
                    let to = format!("W3SVC1/u_ex261127_r{}.log", rotated.len());
                    fs::copy(h.path(live), h.path(&to)).unwrap();
                    h.truncate(live);
                    rotated.push(to.clone());
                    rotated_alive.push(to);
                }
            }
            Op::TruncateAfterDrain => {
                h.drain();
                if h.path(live).exists() {
                    h.truncate(live);
                }
            }
            Op::DeleteRotatedAfterDrain => {
                h.drain();
                for r in rotated_alive.drain(..) {
                    fs::remove_file(h.path(&r)).unwrap();
                }
            }
            Op::Poll => {
                h.poll();
            }
            Op::Idle => h.tick(60),
            Op::Restart => h.restart(),
            Op::CrashRestart => {
                h.poll_with(false);
                h.restart();
                h.poll();
            }
        }
    }
    h.drain();
    (appended, h)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Appends, rename rotations, copytruncates, truncations, idle closes and restarts in any
    /// order: with checkpoints taken after every round, every appended line comes out exactly
    /// once, and no two events share an ID.
    #[test]
    fn every_line_exactly_once(
        ops in proptest::collection::vec(op(false), 1..40),
        read_chunk in 1usize..2000,
    ) {
        let (appended, h) = run_ops(&ops, read_chunk);
        let mut got = excerpts(&h.events);
        got.sort();
        let mut want = appended.clone();
        want.sort();
        prop_assert_eq!(got, want);
        let ids: BTreeSet<_> = h.events.iter().map(|e| e.id.clone()).collect();
        prop_assert_eq!(ids.len(), h.events.len());
    }

    /// The same with crashes that lose the last round's checkpoints: every line at least
    /// once, and a line that comes out twice has the same event ID both times.
    #[test]
    fn every_line_at_least_once_across_crashes(
        ops in proptest::collection::vec(op(true), 1..40),
        read_chunk in 1usize..2000,
    ) {
        let (appended, h) = run_ops(&ops, read_chunk);
        let got: BTreeSet<String> = excerpts(&h.events).into_iter().collect();
        let want: BTreeSet<String> = appended.iter().cloned().collect();
        prop_assert_eq!(got, want);
        let mut id_of: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut line_of: BTreeMap<Vec<u8>, String> = BTreeMap::new();
        for e in &h.events {
            let id = id_of.entry(e.excerpt.clone()).or_insert_with(|| e.id.clone());
            prop_assert_eq!(&*id, &e.id, "a resent line has another ID");
            let line = line_of.entry(e.id.clone()).or_insert_with(|| e.excerpt.clone());
            prop_assert_eq!(&*line, &e.excerpt);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property: site folders whose files start alike are read as separate streams
// ---------------------------------------------------------------------------------------------

const TWIN_SITES: [&str; 3] = ["W3SVC1", "W3SVC2", "W3SVC10"];

#[derive(Debug, Clone)]
enum TwinOp {
    /// Append this many request lines to a site's live file. A new file starts with the header
    /// block and the probe line of its generation, the same in every site: the k-th file of
    /// each site has the same fingerprint.
    Append(usize, u8),
    /// Rename a site's live file to a rotated name in its folder.
    RenameRotate(usize),
    /// Copy a site's live file to a rotated name in its folder, then truncate it.
    CopyTruncate(usize),
    Poll,
    /// Let a minute pass (idle handles close).
    Idle,
    /// Stop and start the collector from its saved checkpoints.
    Restart,
}

fn twin_op() -> impl Strategy<Value = TwinOp> {
    let site = 0..TWIN_SITES.len();
    prop_oneof![
        6 => (site.clone(), 1u8..5).prop_map(|(s, k)| TwinOp::Append(s, k)),
        2 => site.clone().prop_map(TwinOp::RenameRotate),
        1 => site.prop_map(TwinOp::CopyTruncate),
        3 => Just(TwinOp::Poll),
        1 => Just(TwinOp::Idle),
        2 => Just(TwinOp::Restart),
    ]
}

/// The site folder of an event's stream.
fn site_of(e: &Event) -> String {
    std::path::Path::new(&stream_of(e).path)
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Three site folders whose k-th files start with the same header block and first request
    /// (a probe reaching every site in the same second), with appends, rename rotations,
    /// copytruncates, idle closes and restarts in any order: every line of every site comes
    /// out exactly once, from a stream of that site, and no two events share an ID.
    #[test]
    fn twin_sites_every_line_exactly_once(
        ops in proptest::collection::vec(twin_op(), 1..40),
        read_chunk in 1usize..2000,
    ) {
        let mut opts = options();
        opts.read_chunk = read_chunk;
        opts.idle_close = Duration::from_secs(30);
        opts.partial_line_timeout = Duration::from_secs(86_400);
        let mut h = Harness::new(
            |root| vec![spec(root, "iis", Format::Iis, &["W3SVC*/u_ex*.log"])],
            opts,
        );
        let mut appended: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut generation = [0u32; TWIN_SITES.len()];
        let mut rotated = [0u32; TWIN_SITES.len()];
        let mut seq = 0u32;
        for op in &ops {
            match *op {
                TwinOp::Append(s, k) => {
                    let live = format!("{}/u_ex261127.log", TWIN_SITES[s]);
                    let out = appended.entry(TWIN_SITES[s].to_string()).or_default();
                    let mut text = String::new();
                    if fs::metadata(h.path(&live)).map_or(0, |m| m.len()) == 0 {
                        let probe = probe_line(generation[s]);
                        generation[s] += 1;
                        out.push(excerpt(&probe));
                        text.push_str(IIS_HEADER);
                        text.push_str(&probe);
                    }
                    for _ in 0..k {
                        let line = iis_line(seq);
                        seq += 1;
                        out.push(excerpt(&line));
                        text.push_str(&line);
                    }
                    h.append(&live, text);
                }
                TwinOp::RenameRotate(s) | TwinOp::CopyTruncate(s) => {
                    let live = format!("{}/u_ex261127.log", TWIN_SITES[s]);
                    if !h.path(&live).exists() {
                        continue;
                    }
                    let to = format!("{}/u_ex261127_r{}.log", TWIN_SITES[s], rotated[s]);
                    rotated[s] += 1;
                    if matches!(op, TwinOp::RenameRotate(_)) {
                        fs::rename(h.path(&live), h.path(&to)).unwrap();
                    } else {
                        fs::copy(h.path(&live), h.path(&to)).unwrap();
                        h.truncate(&live);
                    }
                }
                TwinOp::Poll => {
                    h.poll();
                }
                TwinOp::Idle => h.tick(60),
                TwinOp::Restart => h.restart(),
            }
        }
        h.drain();
        let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &h.events {
            got.entry(site_of(e)).or_default().push(e.excerpt.clone());
        }
        for lines in got.values_mut().chain(appended.values_mut()) {
            lines.sort();
        }
        appended.retain(|_, l| !l.is_empty());
        prop_assert_eq!(got, appended);
        let ids: BTreeSet<_> = h.events.iter().map(|e| e.id.clone()).collect();
        prop_assert_eq!(ids.len(), h.events.len());
    }
}
