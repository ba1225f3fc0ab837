//! Did every line reach Kafka? Reads a topic back and compares it with the log files on disk.
//!
//! # How lines and events are matched
//!
//! The expectation is computed from the files alone, without the collector's code: every line
//! of every file an [`Appender`](crate::iis::Appender) wrote that is not a `#` directive is one
//! request, known by (file, byte offset of its first byte) and its text. An event matches a line
//! when:
//!
//! - its `source.path` is one of the names that file had (the collector names a stream by the
//!   path where it first saw it, so a renamed file keeps its old name in its events);
//! - its `position` is the offset of that line, and its `excerpt` is the line's text (without
//!   the CRLF);
//! - its ID is `event_id(source, position)`, recomputed here;
//! - sources and files correspond one to one: every event of a file carries the same
//!   `SourceId`, and every event of a `SourceId` matches lines of the same file. After a rename
//!   rotation two files had the same name (the renamed one, and the new one created at its old
//!   name); the first event of a `SourceId` binds it to the file whose line at that position
//!   has that text, and every later event of it must match that file.
//!
//! A line is delivered when at least one event matches it. A line matched by several events is
//! resent, which is allowed only when every copy has the same ID; two different IDs for one line
//! (a duplicate a consumer could not recognise) is a problem, as is any event that matches no
//! line. So "nothing lost, duplicates only as resends" is: no problem, and the count of
//! delivered lines equals the count of lines written.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scepwatch_proto::v1::{EndpointEvents, SourceId, SourceKind};
use scepwatch_proto::SourceKey;

use crate::iis::Ledger;
use crate::Error;

/// Most problems listed in a report (the count covers all of them).
const LISTED_PROBLEMS: usize = 20;

/// The request lines of the files written, by file and offset.
pub struct Expected {
    files: Vec<ExpectedFile>,
    /// The files that had each name (a rename rotation gives the old name to a new file).
    by_path: HashMap<String, Vec<u32>>,
    lines: u64,
}

struct ExpectedFile {
    names: Vec<String>,
    /// Offsets of its request lines, ascending, and a digest of each line's text.
    lines: Vec<(u64, u64)>,
}

impl Expected {
    /// Reads every file of `ledger` where it is now and takes its request lines.
    pub fn scan(ledger: &Ledger) -> Result<Expected, Error> {
        let mut files = Vec::with_capacity(ledger.files.len());
        let mut by_path = HashMap::new();
        let mut lines = 0u64;
        for (i, f) in ledger.files.iter().enumerate() {
            let bytes = std::fs::read(f.path())
                .map_err(|e| Error::io(format!("reading {}", f.path().display()), e))?;
            let mut file_lines = Vec::new();
            let mut offset = 0usize;
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                let text = strip_eol(line);
                if !text.is_empty() && !text.starts_with(b"#") {
                    file_lines.push((offset as u64, digest(text)));
                }
                offset += line.len();
            }
            if file_lines.len() as u64 != f.lines {
                return Err(Error::Process(format!(
                    "{} holds {} request lines, the appender wrote {}",
                    f.path().display(),
                    file_lines.len(),
                    f.lines
                )));
            }
            lines += file_lines.len() as u64;
            let names: Vec<String> = f
                .names
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            for n in &names {
                by_path
                    .entry(n.clone())
                    .or_insert_with(Vec::new)
                    .push(i as u32);
            }
            files.push(ExpectedFile {
                names,
                lines: file_lines,
            });
        }
        Ok(Expected {
            files,
            by_path,
            lines,
        })
    }

    /// Request lines in all.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Files in all.
    pub fn files(&self) -> usize {
        self.files.len()
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn digest(text: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// What arrived, compared with what was written.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Request lines written.
    pub lines: u64,
    /// Lines with at least one matching event.
    pub delivered: u64,
    /// Events read from the topic.
    pub events: u64,
    /// Events beyond the first of their line: resends, all with the line's one ID.
    pub duplicates: u64,
    /// Records read from the topic.
    pub records: u64,
    /// Lines not delivered.
    pub missing: u64,
    /// Everything wrong: the first problems in full, then a count.
    pub problems: Vec<String>,
    /// Time spent waiting for and reading the topic.
    pub elapsed: Duration,
}

impl Report {
    /// Duplicates per line written.
    pub fn duplicate_ratio(&self) -> f64 {
        if self.lines == 0 {
            0.0
        } else {
            self.duplicates as f64 / self.lines as f64
        }
    }

    /// True when every line was delivered and nothing is wrong.
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty() && self.missing == 0 && self.delivered == self.lines
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lines written, {} delivered, {} missing; {} events in {} records, {} duplicates \
             ({:.4}%); read in {:.1} s",
            self.lines,
            self.delivered,
            self.missing,
            self.events,
            self.records,
            self.duplicates,
            self.duplicate_ratio() * 100.0,
            self.elapsed.as_secs_f64()
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// One event as the follower keeps it: its source (an index into the follower's sources), its
/// position and ID, and a digest of its excerpt.
#[derive(Clone, Copy)]
struct Received {
    source: u32,
    position: u64,
    id: [u8; 16],
    text: u64,
}

/// What the follower thread has read and not handed out yet.
#[derive(Default)]
struct Inbox {
    /// Every distinct source seen, with its key; `Received::source` indexes it.
    sources: Vec<(SourceId, SourceKey)>,
    events: Vec<Received>,
    /// Events without a source, or with an ID of the wrong length.
    malformed: Vec<String>,
    records: u64,
    /// Events read (all, including those handed out).
    events_read: u64,
    /// Next offset to read, per partition.
    next: Vec<i64>,
    /// A record that is not an `EndpointEvents`: the topic cannot be checked.
    fatal: Option<Error>,
}

/// A thread that follows a topic from its start, as a consumer would, and keeps what each
/// event says about its line.
///
/// Start it as soon as the topic exists and let it read while the pipeline runs. The test
/// broker answers each fetch by reading the partition from the fetch offset to its end (and
/// returns what fits in the fetch), so a reader that starts at offset 0 of a partition holding a
/// million events spends minutes; one that keeps up reads little more than each record once.
pub struct TopicFollower {
    inbox: Arc<Mutex<Inbox>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    bootstrap: String,
    topic: String,
}

impl TopicFollower {
    /// Assigns every partition of `topic` (which must exist) from the beginning and starts
    /// reading.
    pub fn start(bootstrap: &str, topic: &str) -> Result<TopicFollower, Error> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("{topic}-check"))
            .set("enable.auto.commit", "false")
            // The test broker sleeps half of the fetch wait after every fetch, data or not:
            // with the default 500 ms a reader gets one fetch every 250 ms.
            .set("fetch.wait.max.ms", "20")
            // Several records per fetch, so a reader that fell behind catches up quickly.
            .set("fetch.message.max.bytes", "16777216")
            .set("fetch.max.bytes", "33554432")
            .set("receive.message.max.bytes", "34603008")
            .create()?;
        let partitions = crate::broker::partitions_of(&consumer, topic)?;
        if partitions == 0 {
            return Err(Error::Process(format!("topic {topic} does not exist")));
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let inbox = Arc::new(Mutex::new(Inbox {
            next: vec![0; partitions as usize],
            ..Inbox::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (inbox, stop) = (inbox.clone(), stop.clone());
            std::thread::Builder::new()
                .name("topic-follower".to_owned())
                .spawn(move || follow(consumer, &inbox, &stop))
                .map_err(|e| Error::io("starting the topic follower", e))?
        };
        Ok(TopicFollower {
            inbox,
            stop,
            thread: Some(thread),
            bootstrap: bootstrap.to_owned(),
            topic: topic.to_owned(),
        })
    }

    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.inbox().records
    }

    /// Events read so far.
    pub fn events(&self) -> u64 {
        self.inbox().events_read
    }

    /// Waits until it has read every record up to the partitions' high watermarks of now.
    fn catch_up(&self, timeout: Duration) -> Result<(), Error> {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?;
        let partitions = self.inbox().next.len();
        let mut high = Vec::with_capacity(partitions);
        for p in 0..partitions as i32 {
            high.push(
                client
                    .fetch_watermarks(&self.topic, p, Duration::from_secs(10))?
                    .1,
            );
        }
        let deadline = Instant::now() + timeout;
        loop {
            let next = self.inbox().next.clone();
            if next.iter().zip(&high).all(|(n, h)| n >= h) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "topic {} not read to its end within {timeout:?} (at {next:?}, end {high:?})",
                    self.topic
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TopicFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn follow(consumer: BaseConsumer, inbox: &Mutex<Inbox>, stop: &AtomicBool) {
    let mut keys: HashMap<SourceKey, u32> = HashMap::new();
    // Consecutive events nearly always share their source: compare before hashing.
    let mut last: Option<(SourceId, u32)> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            // Broker down or restarting (the outage test): librdkafka reconnects by itself.
            Err(KafkaError::MessageConsumption(_)) => continue,
            Err(e) => {
                lock(inbox).fatal.get_or_insert(Error::Kafka(e));
                return;
            }
        };
        let record = match EndpointEvents::decode(m.payload().unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => {
                lock(inbox).fatal.get_or_insert(Error::Decode {
                    partition: m.partition(),
                    offset: m.offset(),
                    source: e,
                });
                return;
            }
        };
        let mut received = Vec::with_capacity(record.events.len());
        let mut malformed = Vec::new();
        let mut new_sources = Vec::new();
        for e in &record.events {
            let Some(source) = &e.source else {
                malformed.push(format!("event at {} has no source", e.position));
                continue;
            };
            let Ok(id) = <[u8; 16]>::try_from(e.id.as_slice()) else {
                malformed.push(format!(
                    "event at {}:{} has an ID of {} bytes",
                    source.path,
                    e.position,
                    e.id.len()
                ));
                continue;
            };
            let index = match &last {
                Some((s, i)) if s == source => *i,
                _ => {
                    let key = SourceKey::of(source);
                    let next = (keys.len()) as u32;
                    let i = *keys.entry(key).or_insert_with(|| {
                        new_sources.push((source.clone(), key));
                        next
                    });
                    last = Some((source.clone(), i));
                    i
                }
            };
            received.push(Received {
                source: index,
                position: e.position,
                id,
                text: digest(e.excerpt.as_bytes()),
            });
        }
        let mut inbox = lock(inbox);
        inbox.sources.extend(new_sources);
        inbox.events.extend(received);
        inbox.malformed.extend(malformed);
        inbox.records += 1;
        inbox.events_read += record.events.len() as u64;
        if let Some(n) = inbox.next.get_mut(m.partition() as usize) {
            *n = (*n).max(m.offset() + 1);
        }
    }
}

fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ID and copies of a delivered line.
#[derive(Clone, Copy)]
struct Delivered {
    id: [u8; 16],
    copies: u32,
}

/// The comparison, fed with what the follower read.
struct Comparison<'a> {
    expected: &'a Expected,
    seen: Vec<Vec<Option<Delivered>>>,
    /// The follower's sources, and the file each was bound to.
    sources: Vec<(SourceId, SourceKey, Option<u32>)>,
    /// The source of each file's events.
    file_source: Vec<Option<u32>>,
    delivered: u64,
    events: u64,
    records: u64,
    problems: Vec<String>,
    problem_count: u64,
}

impl<'a> Comparison<'a> {
    fn new(expected: &'a Expected) -> Comparison<'a> {
        Comparison {
            expected,
            seen: expected
                .files
                .iter()
                .map(|f| vec![None; f.lines.len()])
                .collect(),
            sources: Vec::new(),
            file_source: vec![None; expected.files.len()],
            delivered: 0,
            events: 0,
            records: 0,
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < LISTED_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// Takes what the follower read since the last call.
    fn take(&mut self, follower: &TopicFollower) -> Result<(), Error> {
        let (sources, events, malformed, records) = {
            let mut inbox = follower.inbox();
            if let Some(e) = inbox.fatal.take() {
                return Err(e);
            }
            let sources: Vec<_> = inbox.sources[self.sources.len()..].to_vec();
            (
                sources,
                std::mem::take(&mut inbox.events),
                std::mem::take(&mut inbox.malformed),
                inbox.records,
            )
        };
        self.records = records;
        self.sources
            .extend(sources.into_iter().map(|(s, k)| (s, k, None)));
        self.events += malformed.len() as u64;
        for m in malformed {
            self.problem(m);
        }
        for r in events {
            self.event(r);
        }
        Ok(())
    }

    fn event(&mut self, r: Received) {
        self.events += 1;
        let (kind, key, bound) = {
            let (s, k, b) = &self.sources[r.source as usize];
            (s.kind, *k, *b)
        };
        if kind != SourceKind::Iis as i32 {
            let p = format!("event of {} is not of kind IIS", self.path_of(r.source));
            self.problem(p);
            return;
        }
        let file = match bound {
            Some(f) => f,
            None => match self.bind(r) {
                Some(f) => f,
                None => return,
            },
        };
        if r.id != key.event_id(r.position) {
            let p = format!(
                "event at {}:{} has an ID that is not event_id(source, position)",
                self.path_of(r.source),
                r.position
            );
            self.problem(p);
            return;
        }
        let lines = &self.expected.files[file as usize].lines;
        let Ok(index) = lines.binary_search_by_key(&r.position, |&(o, _)| o) else {
            let p = format!(
                "event at {}:{}: no request line starts there",
                self.path_of(r.source),
                r.position
            );
            self.problem(p);
            return;
        };
        if lines[index].1 != r.text {
            let p = format!(
                "event at {}:{}: its excerpt is not the line written there",
                self.path_of(r.source),
                r.position
            );
            self.problem(p);
            return;
        }
        match &mut self.seen[file as usize][index] {
            slot @ None => {
                *slot = Some(Delivered {
                    id: r.id,
                    copies: 1,
                });
                self.delivered += 1;
            }
            Some(d) if d.id == r.id => d.copies += 1,
            Some(_) => {
                let p = format!(
                    "line at {}:{} arrived under two different IDs",
                    self.path_of(r.source),
                    r.position
                );
                self.problem(p);
            }
        }
    }

    fn path_of(&self, source: u32) -> String {
        self.sources[source as usize].0.path.clone()
    }

    /// Binds the source of `r` (its first event) to the file that had its path and has its
    /// line at its position.
    fn bind(&mut self, r: Received) -> Option<u32> {
        let source = self.sources[r.source as usize].0.clone();
        let Some(candidates) = self.expected.by_path.get(&source.path) else {
            self.problem(format!(
                "event from {} (position {}): no file had that name",
                source.path, r.position
            ));
            return None;
        };
        let found = candidates.iter().copied().find(|&f| {
            let lines = &self.expected.files[f as usize].lines;
            lines
                .binary_search_by_key(&r.position, |&(o, _)| o)
                .is_ok_and(|i| lines[i].1 == r.text)
        });
        let Some(f) = found else {
            self.problem(format!(
                "event at {}:{}: no file that had that name has this line there",
                source.path, r.position
            ));
            return None;
        };
        self.sources[r.source as usize].2 = Some(f);
        match self.file_source[f as usize] {
            None => self.file_source[f as usize] = Some(r.source),
            Some(_) => {
                let names = self.expected.files[f as usize].names.join(" → ");
                self.problem(format!(
                    "file {names}: events under two source identities (the second: path {}, \
                     stream {})",
                    source.path, source.stream
                ));
            }
        }
        Some(f)
    }

    fn complete(&self) -> bool {
        self.delivered == self.expected.lines
    }

    fn report(mut self, elapsed: Duration) -> Report {
        let mut missing = 0u64;
        let mut listed = Vec::new();
        for (f, seen) in self.seen.iter().enumerate() {
            let file = &self.expected.files[f];
            let mut run: Option<(u64, u64, u64)> = None; // first offset, last offset, count
            for (i, s) in seen.iter().enumerate() {
                if s.is_some() {
                    continue;
                }
                missing += 1;
                let offset = file.lines[i].0;
                run = match run {
                    Some((first, _, n)) => Some((first, offset, n + 1)),
                    None => Some((offset, offset, 1)),
                };
            }
            if let Some((first, last, n)) = run {
                listed.push(format!(
                    "{}: {n} lines missing, between offsets {first} and {last}",
                    file.names.join(" → ")
                ));
            }
        }
        for l in listed {
            self.problem(l);
        }
        if self.problem_count > self.problems.len() as u64 {
            let more = self.problem_count - self.problems.len() as u64;
            self.problems.push(format!("… and {more} more problems"));
        }
        let duplicates = self
            .seen
            .iter()
            .flatten()
            .flatten()
            .map(|d| u64::from(d.copies - 1))
            .sum();
        Report {
            lines: self.expected.lines,
            delivered: self.delivered,
            events: self.events,
            duplicates,
            records: self.records,
            missing,
            problems: self.problems,
            elapsed,
        }
    }
}

/// Compares what `follower` read with `expected` until every line has arrived (then reads the
/// topic to its end once more, for resends still on their way) or `timeout` has passed, and
/// reports. A report with missing lines is returned, not an error: errors are for a topic that
/// cannot be read.
pub fn await_delivery(
    follower: &TopicFollower,
    expected: &Expected,
    timeout: Duration,
) -> Result<Report, Error> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut cmp = Comparison::new(expected);
    loop {
        cmp.take(follower)?;
        if cmp.complete() {
            std::thread::sleep(Duration::from_secs(1));
            follower.catch_up(Duration::from_secs(60))?;
            cmp.take(follower)?;
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(cmp.report(started.elapsed()))
}
