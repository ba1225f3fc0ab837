//! One Kafka partition's share of the work: its engine, its spike detector and its offsets.
//!
//! Endpoints are the topic's keys, so one endpoint's servers and devices are all in one
//! partition and a partition's engine sees everything a join needs.

use std::time::{Duration, Instant};

use prost::Message as _;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{EndpointEvents, Event, SourceKind};

use super::metrics::{CodeLabel, Metrics, PartitionLabel, ReasonLabel};
use super::offsets::OffsetTracker;
use super::outbox::{Outbox, RecordPlace};
use crate::engine::{Engine, EngineConfig, Sink};
use crate::model::{Attempt, Diagnosis};
use crate::spike::{Incident, SpikeConfig, SpikeDetector};

/// Kafka header naming the schema of a record's value (set by the ingestor).
pub const SCHEMA_HEADER: &str = "scepwatch.schema";
/// The only value of [`SCHEMA_HEADER`] this analyzer reads.
pub const SCHEMA: &str = "scepwatch.v1.EndpointEvents";

/// Events dated more than this after their record was written to Kafka are rejected
/// (`time_out_of_range`): a clock years ahead would otherwise carry its source's progress
/// with it and conclude every open attempt of the endpoint at once. The record's timestamp is
/// fixed for its offset, so a replay rejects the same events.
pub const MAX_FUTURE_US: i64 = 24 * 3600 * 1_000_000;

/// Event time after which the spike detector is advanced within a flush (see
/// `Partition::keep_spike_detector_up`); well below its `max_ahead_minutes` less its allowed
/// lateness (30 and 5 minutes by default).
pub const SPIKE_STEP_US: i64 = 10 * 60 * 1_000_000;

/// How often a partition's gauges (open attempts, state bytes, held seconds) are refreshed, as
/// the lag gauges are.
pub const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// A Kafka record as the loop hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Key (the endpoint ID).
    pub key: &'a [u8],
    /// Value (`v1::EndpointEvents`).
    pub value: &'a [u8],
    /// The [`SCHEMA_HEADER`] value, when the record has one.
    pub schema: Option<&'a str>,
}

/// What one record held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events (rejected ones included).
    pub events: u64,
    /// Watermarks.
    pub watermarks: u64,
    /// Rows written to `rejects`.
    pub rejects: u64,
}

/// The state of one assigned partition.
pub struct Partition {
    partition: i32,
    engine: Engine,
    spike: SpikeDetector,
    offsets: OffsetTracker,
    last_input: Instant,
    /// Input arrived since the last `advance`.
    dirty: bool,
    /// Something is held that `finish` would emit.
    holding: bool,
    /// Read to its end (Kafka's partition EOF) since the last record.
    at_end: bool,
    /// Newest server (IIS, HTTP.sys) event time: the spike detector's progress.
    server_progress: Option<i64>,
    /// Newest event time of any kind.
    newest: Option<i64>,
    late_seen: u64,
    /// How far past the newest server time the spike detector is advanced when an idle
    /// partition is concluded: its allowed lateness, then enough quiet minutes to close.
    spike_tail_us: i64,
    /// Server progress the spike detector was last advanced to.
    spike_advanced: Option<i64>,
    /// When the gauges were last set ([`Partition::export_gauges`]).
    gauges_at: Option<Instant>,
    /// The last record's events, decoded: the next record is decoded into its memory.
    batch: EndpointEvents,
}

impl Partition {
    /// Fresh state for `partition`: a replay from the committed offset rebuilds the rest.
    /// `note` is the metadata committed with that offset ([`Partition::commit_note`]), which
    /// tells the spike detector where the replay starts.
    pub fn new(partition: i32, engine: &EngineConfig, spike: &SpikeConfig, note: &str) -> Self {
        let note = Note::parse(note);
        let mut e = Engine::new(engine.clone());
        if let Some(point) = note.engine_since {
            e.replay_from(point);
        }
        let spike_tail = spike
            .allowed_lateness_us
            .saturating_add((i64::from(spike.quiet_minutes) + 1) * crate::spike::MINUTE_US);
        let spike = match note.spike_since {
            Some(since) => SpikeDetector::resume(spike.clone(), since),
            None => SpikeDetector::new(spike.clone()),
        };
        if note.engine_since.is_some() || note.spike_since.is_some() {
            tracing::info!(
                partition,
                engine_since = ?note.engine_since,
                spike_since = ?note.spike_since,
                "replaying from the committed offset"
            );
        }
        Partition {
            partition,
            engine: e,
            spike,
            offsets: OffsetTracker::new(None),
            last_input: Instant::now(),
            dirty: false,
            holding: false,
            at_end: false,
            server_progress: None,
            newest: None,
            late_seen: 0,
            gauges_at: None,
            spike_tail_us: spike_tail,
            spike_advanced: None,
            batch: EndpointEvents::default(),
        }
    }

    /// Reads one record: rows for its events and watermarks, the events into the engine and
    /// the spike detector.
    pub fn take(&mut self, rec: &Incoming<'_>, out: &mut Outbox, m: &Metrics) -> Counts {
        let mut counts = Counts::default();
        m.records.inc();
        self.last_input = Instant::now();
        if self.at_end {
            self.at_end = false;
            m.at_end.get_or_create(&self.label()).set(0);
        }
        let place = RecordPlace {
            partition: rec.partition,
            offset: rec.offset,
            timestamp_ms: rec.timestamp_ms.unwrap_or(0),
            key: String::from_utf8_lossy(rec.key).into_owned(),
        };
        if let Some(schema) = rec.schema.filter(|s| *s != SCHEMA) {
            out.reject_record(
                &place,
                "payload_unknown",
                format!("record schema {schema:?}; this analyzer reads {SCHEMA}"),
                rec.value,
            );
            count_reject(m, "payload_unknown", &mut counts);
            self.offsets.record(rec.offset, None);
            return counts;
        }
        // Decoded into the last record's batch: its event list keeps its memory (a fresh one
        // grew page by page for every record).
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        if let Err(e) = batch.merge(rec.value) {
            out.reject_record(&place, "decode", format!("not a {SCHEMA}: {e}"), rec.value);
            count_reject(m, "decode", &mut counts);
            self.offsets.record(rec.offset, None);
            return counts;
        }
        let limit_us = rec
            .timestamp_ms
            .filter(|t| *t > 0)
            .map(|t| t.saturating_mul(1000).saturating_add(MAX_FUTURE_US));
        let mut latest: Option<i64> = None;
        for (i, event) in batch.events.iter().enumerate() {
            counts.events += 1;
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            if event.payload.is_none() {
                out.reject_event(
                    &place,
                    &batch,
                    index,
                    event,
                    "payload_unknown",
                    "the event's payload is of a kind this analyzer does not know (or absent)"
                        .into(),
                );
                count_reject(m, "payload_unknown", &mut counts);
                continue;
            }
            if let Some(limit) = limit_us.filter(|l| event.event_time_us > *l) {
                out.reject_event(
                    &place,
                    &batch,
                    index,
                    event,
                    "time_out_of_range",
                    format!(
                        "event time {} µs is more than a day after its Kafka record ({} µs)",
                        event.event_time_us,
                        limit - MAX_FUTURE_US
                    ),
                );
                count_reject(m, "time_out_of_range", &mut counts);
                continue;
            }
            let endpoint = self.endpoint_of(event);
            if let Err(reason) = out.event(&place, &batch, index, event, &endpoint) {
                count_reject(m, reason, &mut counts);
                continue;
            }
            if let Some(Payload::Health(fact)) = &event.payload {
                let host = event.source.as_ref().map_or("", |s| s.host.as_str());
                let codes = crate::rule::health::check(
                    host,
                    fact,
                    event.event_time_us,
                    self.engine.config(),
                )
                .into_iter()
                .map(|i| i.code.to_string())
                .collect();
                out.health_fact(event, &endpoint, codes);
            }
            self.observe_server(event, &endpoint);
            self.keep_spike_detector_up(out, m);
            self.engine.push(event);
            latest = Some(latest.map_or(event.event_time_us, |l| l.max(event.event_time_us)));
        }
        for wm in &batch.watermarks {
            counts.watermarks += 1;
            self.engine.watermark(wm);
            out.watermark(&batch, wm);
            if wm.read_up_to_us >= wm.read_from_us {
                latest = Some(latest.map_or(wm.read_up_to_us, |l| l.max(wm.read_up_to_us)));
            }
        }
        m.events.inc_by(counts.events);
        m.watermarks.inc_by(counts.watermarks);
        if let Some(t) = latest {
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        self.offsets.record(rec.offset, latest);
        self.batch = batch;
        self.dirty = true;
        if !self.holding {
            self.holding = true;
            m.concluded.get_or_create(&self.label()).set(0);
        }
        counts
    }

    /// The endpoint the engine assigns an event to: its own, else its host's mapping, else
    /// `host:<host>`.
    fn endpoint_of(&self, event: &Event) -> String {
        if !event.endpoint_id.is_empty() {
            return event.endpoint_id.clone();
        }
        let host = event
            .source
            .as_ref()
            .map_or(String::new(), |s| s.host.to_ascii_lowercase());
        match self.engine.config().server_endpoints.get(&host) {
            Some(ep) => ep.clone(),
            None => format!("host:{host}"),
        }
    }

    fn observe_server(&mut self, event: &Event, endpoint: &str) {
        let status = match &event.payload {
            Some(Payload::Iis(r)) => r.status,
            Some(Payload::Httperr(r)) if r.status > 0 => r.status,
            _ => return,
        };
        let Some(source) = &event.source else {
            return;
        };
        if !matches!(
            SourceKind::try_from(source.kind),
            Ok(SourceKind::Iis | SourceKind::Httperr)
        ) {
            return;
        }
        let host = source.host.to_ascii_lowercase();
        let id = scepwatch_proto::event_id_hex(&event.id);
        self.spike.observe(
            &host,
            endpoint,
            event.event_time_us,
            u16::try_from(status).unwrap_or(u16::MAX),
            &id,
        );
        let t = event.event_time_us;
        self.server_progress = Some(self.server_progress.map_or(t, |p| p.max(t)));
    }

    /// Advances the spike detector within a record when the servers' logs moved on by
    /// [`SPIKE_STEP_US`] since it last was: one flush can hold hours of event time (a replay, a
    /// backlog after an outage), and the detector drops responses more than its
    /// `max_ahead_minutes` ahead of its first minute not judged yet.
    fn keep_spike_detector_up(&mut self, out: &mut Outbox, m: &Metrics) {
        let Some(p) = self.server_progress else {
            return;
        };
        if self
            .spike_advanced
            .is_some_and(|a| p.saturating_sub(a) < SPIKE_STEP_US)
        {
            return;
        }
        let mut incidents = Vec::new();
        self.spike.advance(p, &mut incidents);
        self.spike_advanced = Some(p);
        self.incidents(incidents, out, m);
    }

    /// Concludes what the progress read so far allows.
    pub fn advance(&mut self, out: &mut Outbox, m: &Metrics) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let mut incidents = Vec::new();
        {
            let mut sink = ToOutbox {
                out,
                m,
                spike: &mut self.spike,
                incidents: &mut incidents,
            };
            self.engine.advance(&mut sink);
        }
        if let Some(p) = self.server_progress {
            self.spike.advance(p, &mut incidents);
            self.spike_advanced = Some(p);
        }
        self.incidents(incidents, out, m);
        self.count_late(m);
    }

    /// Notes that the partition has been read to its end.
    pub fn reached_end(&mut self, m: &Metrics) {
        self.at_end = true;
        m.at_end.get_or_create(&self.label()).set(1);
        if !self.holding {
            m.concluded.get_or_create(&self.label()).set(1);
        }
    }

    fn label(&self) -> PartitionLabel {
        PartitionLabel {
            partition: self.partition,
        }
    }

    /// Notes that the loop read nothing for `waited` because a flush waited for ClickHouse:
    /// the idle clock of [`Partition::finish_if_idle`] does not run meanwhile. Records that
    /// arrived in Kafka during an outage are not read yet, and the end of the partition seen
    /// before it is stale: without this, the first flush after ClickHouse returns would
    /// conclude every attempt held as if the sources had gone quiet.
    pub fn paused(&mut self, waited: Duration) {
        if let Some(t) = self.last_input.checked_add(waited) {
            self.last_input = t;
        }
    }

    /// Emits everything the engine holds once the partition has been read to its end and
    /// nothing has arrived for `idle`: the last attempts of servers that went quiet. The
    /// engine starts over empty, as after a restart at this point (its held state is then
    /// stored and nothing before is needed).
    pub fn finish_if_idle(&mut self, now: Instant, idle: Duration, out: &mut Outbox, m: &Metrics) {
        if !self.holding || !self.at_end || now.duration_since(self.last_input) < idle {
            return;
        }
        self.holding = false;
        let config = self.engine.config().clone();
        let engine = std::mem::replace(&mut self.engine, Engine::new(config));
        let late_before = engine.late_events();
        let mut incidents = Vec::new();
        {
            let mut sink = ToOutbox {
                out,
                m,
                spike: &mut self.spike,
                incidents: &mut incidents,
            };
            engine.finish(&mut sink);
        }
        // The servers went quiet too: their last minutes are judged and open incidents close,
        // as the engine's held attempts are concluded.
        if let Some(p) = self.server_progress {
            self.spike
                .advance(p.saturating_add(self.spike_tail_us), &mut incidents);
        }
        self.incidents(incidents, out, m);
        m.late_events
            .inc_by(late_before.saturating_sub(self.late_seen));
        self.late_seen = 0;
        m.concluded.get_or_create(&self.label()).set(1);
        tracing::info!(
            partition = self.partition,
            "idle: concluded everything held"
        );
    }

    fn incidents(&mut self, incidents: Vec<Incident>, out: &mut Outbox, m: &Metrics) {
        m.incidents.inc_by(incidents.len() as u64);
        for i in incidents {
            out.incident(&i);
        }
    }

    fn count_late(&mut self, m: &Metrics) {
        let late = self.engine.late_events();
        m.late_events.inc_by(late.saturating_sub(self.late_seen));
        self.late_seen = late;
    }

    /// The earliest event time still needed by the engine or the spike detector.
    pub fn held_since(&self) -> Option<i64> {
        match (self.engine.held_since(), self.spike.held_since()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The offset to commit once the rows produced so far are stored.
    pub fn commit_point(&mut self) -> Option<i64> {
        let held = self.held_since();
        self.offsets.commit_point(held)
    }

    /// The metadata to commit with an offset: the points the engine and the spike detector
    /// hold state from, which a replay from that offset starts from (`Engine::replay_from`,
    /// `SpikeDetector::resume`).
    pub fn commit_note(&self) -> String {
        Note {
            engine_since: self.engine.held_since(),
            spike_since: self.spike.held_since(),
        }
        .to_string()
    }

    /// Notes a successful commit.
    pub fn committed(&mut self, offset: i64) {
        self.offsets.committed(offset);
    }

    /// Sets the per-partition gauges, at most once every [`GAUGE_INTERVAL`]: the engine's
    /// statistics walk all its held state, which every flush paid for before (a third of the
    /// loop's CPU time with thousands of devices held, `analyzer-bench`).
    pub fn export_gauges(&mut self, m: &Metrics) {
        let now = Instant::now();
        if self
            .gauges_at
            .is_some_and(|at| now.duration_since(at) < GAUGE_INTERVAL)
        {
            return;
        }
        self.gauges_at = Some(now);
        let l = PartitionLabel {
            partition: self.partition,
        };
        let s = self.engine.stats();
        let spike = self.spike.stats();
        m.open_attempts
            .get_or_create(&l)
            .set((s.open_sessions + s.pending_sessions + s.open_device_attempts) as i64);
        m.state_bytes
            .get_or_create(&l)
            .set((s.state_bytes + spike.state_bytes + self.offsets.steps() * 16) as i64);
        let held = match (self.newest, self.held_since()) {
            (Some(n), Some(h)) => n.saturating_sub(h).max(0) as f64 / 1e6,
            _ => 0.0,
        };
        m.held_seconds.get_or_create(&l).set(held);
    }
}

/// The metadata committed with an offset: `scepwatch/1 engine_since=<µs> spike_since=<µs>`
/// (either left out when nothing is held). Unknown words are ignored, and a note of another
/// format is taken as none: the replay then starts with fresh state, as a new partition does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Note {
    engine_since: Option<i64>,
    spike_since: Option<i64>,
}

const NOTE_FORMAT: &str = "scepwatch/1";

impl Note {
    fn parse(text: &str) -> Note {
        let mut words = text.split_ascii_whitespace();
        let mut note = Note::default();
        if words.next() != Some(NOTE_FORMAT) {
            return note;
        }
        for w in words {
            match w.split_once('=') {
                Some(("engine_since", v)) => note.engine_since = v.parse().ok(),
                Some(("spike_since", v)) => note.spike_since = v.parse().ok(),
                _ => {}
            }
        }
        note
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOTE_FORMAT)?;
        if let Some(t) = self.engine_since {
            write!(f, " engine_since={t}")?;
        }
        if let Some(t) = self.spike_since {
            write!(f, " spike_since={t}")?;
        }
        Ok(())
    }
}

fn count_reject(m: &Metrics, reason: &'static str, counts: &mut Counts) {
    m.rejects.get_or_create(&ReasonLabel { reason }).inc();
    counts.rejects += 1;
}

/// The engine's sink: rows into the outbox, diagnoses also to the spike detector.
struct ToOutbox<'a> {
    out: &'a mut Outbox,
    m: &'a Metrics,
    spike: &'a mut SpikeDetector,
    incidents: &'a mut Vec<Incident>,
}

impl Sink for ToOutbox<'_> {
    fn attempt(&mut self, a: Attempt) {
        self.m.attempts.inc();
        self.out.attempt(&a);
    }

    fn diagnosis(&mut self, d: Diagnosis) {
        self.m
            .diagnoses
            .get_or_create(&CodeLabel {
                code: d.code.to_string(),
            })
            .inc();
        self.spike.explain(&d, self.incidents);
        self.out.diagnosis(&d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_clock_stops_while_a_flush_waits_for_clickhouse() {
        let idle = Duration::from_secs(10);
        let m = Metrics::new();
        let mut out = Outbox::new("t".into(), std::sync::Arc::from(Vec::new()));
        let t0 = Instant::now();
        // Something held, read to its end at `t0`.
        let held = || {
            let mut p = Partition::new(0, &EngineConfig::default(), &SpikeConfig::default(), "");
            p.holding = true;
            p.at_end = true;
            p.last_input = t0;
            p
        };

        // Nothing has arrived for a minute: the sources went quiet, concluded.
        let mut quiet = held();
        quiet.finish_if_idle(t0 + Duration::from_secs(60), idle, &mut out, &m);
        assert!(!quiet.holding);

        // The loop read nothing for a minute because ClickHouse was down: records may wait in
        // Kafka, nothing is concluded until the loop has read again and stayed idle.
        let mut paused = held();
        paused.paused(Duration::from_secs(59));
        paused.finish_if_idle(t0 + Duration::from_secs(60), idle, &mut out, &m);
        assert!(paused.holding);
        paused.finish_if_idle(t0 + Duration::from_secs(70), idle, &mut out, &m);
        assert!(
            !paused.holding,
            "idle once the wait is over and nothing came"
        );
    }

    #[test]
    fn notes_round_trip_and_foreign_ones_are_none() {
        for n in [
            Note::default(),
            Note {
                engine_since: Some(-5),
                spike_since: None,
            },
            Note {
                engine_since: Some(1_763_632_800_000_000),
                spike_since: Some(1_763_629_200_000_000),
            },
        ] {
            assert_eq!(Note::parse(&n.to_string()), n);
        }
        assert_eq!(Note::parse(""), Note::default());
        assert_eq!(Note::parse("other/2 engine_since=5"), Note::default());
        assert_eq!(
            Note::parse("scepwatch/1 future=1 spike_since=7"),
            Note {
                engine_since: None,
                spike_since: Some(7)
            }
        );
    }
}
