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
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scepwatch_proto::v1::{EndpointEvents, Event, SourceKind};
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

/// The ID and copies of a delivered line.
#[derive(Clone, Copy)]
struct Delivered {
    id: [u8; 16],
    copies: u32,
}

/// The comparison, fed record by record.
struct Comparison<'a> {
    expected: &'a Expected,
    seen: Vec<Vec<Option<Delivered>>>,
    /// The source identity of each file's events.
    sources: Vec<Option<SourceKey>>,
    /// The file of each source identity.
    bound: HashMap<SourceKey, u32>,
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
            sources: vec![None; expected.files.len()],
            bound: HashMap::new(),
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

    fn record(&mut self, record: &EndpointEvents) {
        self.records += 1;
        for e in &record.events {
            self.event(e);
        }
    }

    fn event(&mut self, e: &Event) {
        self.events += 1;
        let Some(source) = &e.source else {
            self.problem(format!("event at {} has no source", e.position));
            return;
        };
        if source.kind != SourceKind::Iis as i32 {
            self.problem(format!("event of {} is not of kind IIS", source.path));
            return;
        }
        let key = SourceKey::of(source);
        let file = match self.bound.get(&key) {
            Some(&f) => f,
            None => {
                let Some(candidates) = self.expected.by_path.get(&source.path) else {
                    self.problem(format!(
                        "event from {} (position {}): no file had that name",
                        source.path, e.position
                    ));
                    return;
                };
                let text = digest(e.excerpt.as_bytes());
                let found = candidates.iter().copied().find(|&f| {
                    let lines = &self.expected.files[f as usize].lines;
                    lines
                        .binary_search_by_key(&e.position, |&(o, _)| o)
                        .is_ok_and(|i| lines[i].1 == text)
                });
                let Some(f) = found else {
                    self.problem(format!(
                        "event at {}:{}: no file that had that name has this line there: {:?}",
                        source.path, e.position, e.excerpt
                    ));
                    return;
                };
                self.bound.insert(key, f);
                if let Some(other) = self.sources[f as usize] {
                    if other != key {
                        let names = self.expected.files[f as usize].names.join(" → ");
                        self.problem(format!(
                            "file {names}: events under two source identities (the second: \
                             path {}, stream {})",
                            source.path, source.stream
                        ));
                    }
                } else {
                    self.sources[f as usize] = Some(key);
                }
                f
            }
        };
        if e.id.as_slice() != key.event_id(e.position).as_slice() {
            self.problem(format!(
                "event at {}:{} has an ID that is not event_id(source, position)",
                source.path, e.position
            ));
            return;
        }
        let lines = &self.expected.files[file as usize].lines;
        let Ok(index) = lines.binary_search_by_key(&e.position, |&(o, _)| o) else {
            self.problem(format!(
                "event at {}:{}: no request line starts there",
                source.path, e.position
            ));
            return;
        };
        if lines[index].1 != digest(e.excerpt.as_bytes()) {
            self.problem(format!(
                "event at {}:{}: its excerpt is not the line written there: {:?}",
                source.path, e.position, e.excerpt
            ));
            return;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&e.id);
        match &mut self.seen[file as usize][index] {
            slot @ None => {
                *slot = Some(Delivered { id, copies: 1 });
                self.delivered += 1;
            }
            Some(d) if d.id == id => d.copies += 1,
            Some(_) => {
                self.problem(format!(
                    "line at {}:{} arrived under two different IDs",
                    source.path, e.position
                ));
            }
        }
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

/// Reads `topic` from its start, again and again, until every expected line has arrived (then
/// once more after a second, for resends still on their way) or `timeout` has passed, and
/// reports. A report with missing lines is returned, not an error: errors are for a topic that
/// cannot be read.
pub fn await_delivery(
    bootstrap: &str,
    topic: &str,
    expected: &Expected,
    timeout: Duration,
) -> Result<Report, Error> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut reader = TopicReader::new(bootstrap, topic)?;
    let mut cmp = Comparison::new(expected);
    loop {
        reader.read_to_end(|r| cmp.record(r))?;
        if cmp.complete() {
            std::thread::sleep(Duration::from_secs(1));
            reader.read_to_end(|r| cmp.record(r))?;
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(cmp.report(started.elapsed()))
}

/// A reader of every partition of a topic from its start.
pub struct TopicReader {
    consumer: BaseConsumer,
    topic: String,
    /// Next offset to read, per partition.
    next: Vec<i64>,
}

impl TopicReader {
    /// Assigns every partition of `topic` (which must exist) from the beginning.
    pub fn new(bootstrap: &str, topic: &str) -> Result<TopicReader, Error> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("{topic}-check"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()?;
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let partitions = md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if partitions == 0 {
            return Err(Error::Process(format!("topic {topic} does not exist")));
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        Ok(TopicReader {
            consumer,
            topic: topic.to_owned(),
            next: vec![0; partitions],
        })
    }

    /// Reads every record up to the high watermarks of the moment, giving each to `each`;
    /// returns how many were read. An error when the broker does not deliver them within a
    /// minute.
    pub fn read_to_end(&mut self, mut each: impl FnMut(&EndpointEvents)) -> Result<u64, Error> {
        let mut high = Vec::with_capacity(self.next.len());
        for p in 0..self.next.len() as i32 {
            let (_, h) = self
                .consumer
                .fetch_watermarks(&self.topic, p, Duration::from_secs(10))?;
            high.push(h);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut read = 0;
        while self.next.iter().zip(&high).any(|(n, h)| n < h) {
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "topic {} not read to its end within 60 s (at {:?}, end {:?})",
                    self.topic, self.next, high
                )));
            }
            let Some(m) = self.consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = m?;
            let value = EndpointEvents::decode(m.payload().unwrap_or_default()).map_err(|e| {
                Error::Decode {
                    partition: m.partition(),
                    offset: m.offset(),
                    source: e,
                }
            })?;
            if let Some(n) = self.next.get_mut(m.partition() as usize) {
                *n = (*n).max(m.offset() + 1);
            }
            each(&value);
            read += 1;
        }
        Ok(read)
    }
}
