//! The rows of one flush, by table, and their insertion.
//!
//! Rows are built as records are read and results concluded, each with its version (write time,
//! never below a previous one); a flush inserts every table's rows, each table in one INSERT,
//! retried until ClickHouse takes it. The raw tables (events, watermarks, rejects, health facts)
//! are inserted together, then the results (attempts, diagnoses, incidents) together: a reader
//! never sees a diagnosis whose evidence events are not stored yet.
//!
//! A flush [`Outbox::take`]s the rows ([`Rows`]) and stores them on a task of their own while
//! the loop reads on into the emptied outbox.

use std::future::Future;
use std::time::Instant;

use clickhouse::Row;
use scepwatch_proto::v1::{EndpointEvents, Event, Watermark};
use serde::Serialize;
use tokio::sync::watch;
use tracing::debug;

use super::metrics::{Metrics, TableLabel};
use crate::model::{Attempt, Diagnosis};
use crate::spike::Incident;
use crate::store::rows::{
    AttemptRow, DiagnosisRow, EventRow, HealthFactRow, IncidentRow, KafkaRecord, ReadAt,
    RejectReason, RejectRow, Rejected, WatermarkRow,
};
use crate::store::{StoreError, Versions, Writer};

/// Where a record was read.
#[derive(Debug, Clone)]
pub struct RecordPlace {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Kafka timestamp, ms (0 when the record had none).
    pub timestamp_ms: i64,
    /// Key, as text.
    pub key: String,
}

/// Event rows a spare keeps room for in any case (see [`Outbox::take`]).
const SPARE_FLOOR: usize = 4096;

/// Where rows are built: the rows waiting for the next flush.
pub struct Outbox {
    topic: String,
    versions: Versions,
    rows: Rows,
    /// A stored flush's rows, emptied, to be filled again: their memory is already the
    /// process's (a fresh allocation of a few hundred MB costs its page faults again).
    spare: Option<Rows>,
}

/// One flush's rows, by table.
#[derive(Default)]
pub struct Rows {
    events: Vec<EventRow>,
    watermarks: Vec<WatermarkRow>,
    rejects: Vec<RejectRow>,
    health: Vec<HealthFactRow>,
    attempts: Vec<AttemptRow>,
    diagnoses: Vec<DiagnosisRow>,
    incidents: Vec<IncidentRow>,
}

impl Outbox {
    /// An empty outbox for records of `topic`.
    pub fn new(topic: String) -> Self {
        Outbox {
            topic,
            versions: Versions::new(),
            rows: Rows::default(),
            spare: None,
        }
    }

    /// Event rows waiting.
    pub fn events(&self) -> usize {
        self.rows.events()
    }

    /// Rows waiting, all tables.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// The rows waiting, to be stored; the outbox is empty afterwards.
    pub fn take(&mut self) -> Rows {
        // The next flush is likely as large: growing its event rows by doubling again moved
        // gigabytes per million events (each row is a few KB).
        let len = self.rows.events.len();
        // A spare much larger than this flush is let go: the load dropped.
        let mut next = self
            .spare
            .take()
            .filter(|s| s.events.capacity() <= 4 * len.max(SPARE_FLOOR))
            .unwrap_or_default();
        next.events.reserve(len);
        next.watermarks.reserve(self.rows.watermarks.len());
        std::mem::replace(&mut self.rows, next)
    }

    /// Takes back the rows of a flush once stored, for a later [`Outbox::take`] to fill again.
    pub fn recycle(&mut self, rows: Rows) {
        if rows.is_empty() {
            self.spare = Some(rows);
        }
    }

    /// Lets the spare rows' memory go (nothing to flush: the topic is quiet).
    pub fn release_spare(&mut self) {
        self.spare = None;
    }

    fn record<'a>(&'a self, place: &'a RecordPlace) -> KafkaRecord<'a> {
        KafkaRecord {
            topic: &self.topic,
            partition: place.partition,
            offset: place.offset,
            timestamp_us: place.timestamp_ms.saturating_mul(1000),
            key: &place.key,
        }
    }

    /// A whole record that cannot be read.
    pub fn reject_record(
        &mut self,
        place: &RecordPlace,
        reason: &'static str,
        detail: String,
        value: &[u8],
    ) {
        let mut r = Rejected::record(detail, value);
        r.reason = match reason {
            "payload_unknown" => RejectReason::PayloadUnknown,
            "time_out_of_range" => RejectReason::TimeOutOfRange,
            _ => RejectReason::Decode,
        };
        let row = RejectRow::new(&self.record(place), r, self.versions.next());
        self.rows.rejects.push(row);
    }

    /// One event of a record that cannot be used (the reason is one of `rejects.reason`).
    pub fn reject_event(
        &mut self,
        place: &RecordPlace,
        batch: &EndpointEvents,
        index: i32,
        event: &Event,
        reason: &'static str,
        detail: String,
    ) {
        let r = Rejected {
            event_index: index,
            reason: match reason {
                "payload_unknown" => RejectReason::PayloadUnknown,
                "decode" => RejectReason::Decode,
                _ => RejectReason::TimeOutOfRange,
            },
            detail,
            collector: batch.collector.clone(),
            batch_sequence: batch.batch_sequence,
            event_id: event.id.clone(),
            payload: prost::Message::encode_to_vec(event),
        };
        let row = RejectRow::new(&self.record(place), r, self.versions.next());
        self.rows.rejects.push(row);
    }

    /// An event's row; when it cannot be stored its `rejects` row instead, and the reason.
    pub fn event(
        &mut self,
        place: &RecordPlace,
        batch: &EndpointEvents,
        index: i32,
        event: &Event,
        endpoint: &str,
    ) -> Result<(), &'static str> {
        let read = ReadAt {
            partition: place.partition,
            offset: place.offset,
            batch_sequence: batch.batch_sequence,
        };
        match EventRow::from_event(event, &read, endpoint, self.versions.next()) {
            Ok(row) => {
                self.rows.events.push(row);
                Ok(())
            }
            Err(why) => {
                let code = why.reason().code();
                let r = Rejected::event(index, event, &why, &batch.collector, batch.batch_sequence);
                let row = RejectRow::new(&self.record(place), r, self.versions.next());
                self.rows.rejects.push(row);
                Err(code)
            }
        }
    }

    /// A watermark's row.
    pub fn watermark(&mut self, batch: &EndpointEvents, wm: &Watermark) {
        let endpoint = if wm.endpoint_id.is_empty() {
            batch.endpoint_id.as_str()
        } else {
            wm.endpoint_id.as_str()
        };
        let now = i64::try_from(self.versions.next()).unwrap_or(i64::MAX);
        self.rows
            .watermarks
            .push(WatermarkRow::from_watermark(wm, endpoint, now));
    }

    /// A health fact's current-state row.
    pub fn health_fact(&mut self, event: &Event, endpoint: &str, issue_codes: Vec<String>) {
        if let Some(row) = HealthFactRow::from_event(event, endpoint, issue_codes) {
            self.rows.health.push(row);
        }
    }

    /// A concluded attempt.
    pub fn attempt(&mut self, a: &Attempt) {
        let v = self.versions.next();
        self.rows
            .attempts
            .push(AttemptRow::from_attempt(a, v, false));
    }

    /// A diagnosis.
    pub fn diagnosis(&mut self, d: &Diagnosis) {
        let v = self.versions.next();
        self.rows
            .diagnoses
            .push(DiagnosisRow::from_diagnosis(d, v, false));
    }

    /// An incident revision.
    pub fn incident(&mut self, i: &Incident) {
        let v = self.versions.next();
        self.rows.incidents.push(IncidentRow::from_incident(i, v));
    }
}

impl Rows {
    /// Event rows.
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// Rows, all tables.
    pub fn len(&self) -> usize {
        self.events.len()
            + self.watermarks.len()
            + self.rejects.len()
            + self.health.len()
            + self.attempts.len()
            + self.diagnoses.len()
            + self.incidents.len()
    }

    /// No rows at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts every table's rows, the raw tables together first, then the results together,
    /// each table retried until ClickHouse takes it or `stop` turns true; the tables stored
    /// are emptied. On an error the rows not stored stay (a table stored before the error
    /// is dropped: storing it again would be harmless, but pointless).
    pub async fn store(
        &mut self,
        w: &Writer,
        m: &Metrics,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let (a, b, c, d) = tokio::try_join!(
            insert(w, m, &mut self.events, stopped(stop)),
            insert(w, m, &mut self.watermarks, stopped(stop)),
            insert(w, m, &mut self.rejects, stopped(stop)),
            insert(w, m, &mut self.health, stopped(stop)),
        )?;
        let (e, f, g) = tokio::try_join!(
            insert(w, m, &mut self.attempts, stopped(stop)),
            insert(w, m, &mut self.diagnoses, stopped(stop)),
            insert(w, m, &mut self.incidents, stopped(stop)),
        )?;
        let retries = a + b + c + d + e + f + g;
        m.insert_seconds.observe(started.elapsed().as_secs_f64());
        debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            retries, "flush stored"
        );
        Ok(())
    }
}

/// Completes once `stop` is true.
fn stopped(stop: &watch::Receiver<bool>) -> impl Future<Output = ()> {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|s| *s).await;
    }
}

/// A table's rows: the table's name.
pub trait Table {
    /// The ClickHouse table.
    const TABLE_NAME: &'static str;
}

macro_rules! table {
    ($($t:ty),*) => {$(impl Table for $t { const TABLE_NAME: &'static str = <$t>::TABLE; })*};
}
table!(
    EventRow,
    WatermarkRow,
    RejectRow,
    HealthFactRow,
    AttemptRow,
    DiagnosisRow,
    IncidentRow
);

async fn insert<T, G>(
    w: &Writer,
    m: &Metrics,
    rows: &mut Vec<T>,
    give_up: G,
) -> Result<u32, StoreError>
where
    T: Row + Serialize + Sync + Table,
    G: Future<Output = ()>,
{
    if rows.is_empty() {
        return Ok(0);
    }
    let result = w
        .insert_with_retry(<T as Table>::TABLE_NAME, rows, give_up)
        .await;
    match result {
        Ok(report) => {
            let retries = report.attempts.saturating_sub(1);
            m.insert_retries.inc_by(retries.into());
            m.rows_stored
                .get_or_create(&TableLabel {
                    table: <T as Table>::TABLE_NAME,
                })
                .inc_by(rows.len() as u64);
            rows.clear();
            if rows.capacity() > 1 << 20 {
                rows.shrink_to(1 << 16);
            }
            Ok(retries)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_flush_s_rows_are_filled_again() {
        let mut out = Outbox::new("events".into());
        out.rows.events.resize(1000, EventRow::default());
        let mut stored = out.take();
        assert_eq!(stored.events(), 1000);
        // The rows being built meanwhile have room for as many.
        assert!(out.rows.events.capacity() >= 1000);
        let before = stored.events.as_ptr();
        stored.events.clear();
        out.recycle(stored);
        out.rows.events.push(EventRow::default());
        let next = out.take();
        assert_eq!(next.events(), 1);
        // The next rows are built in the stored flush's memory.
        assert_eq!(out.rows.events.as_ptr(), before);
        // A spare far larger than the flush is let go, and so is one on a quiet tick.
        let mut small = out.take();
        small.events.clear();
        out.recycle(small);
        assert!(out.spare.is_some());
        out.release_spare();
        assert!(out.spare.is_none());
        let mut big = Rows::default();
        big.events.reserve(100 * SPARE_FLOOR);
        out.recycle(big);
        out.rows.events.push(EventRow::default());
        let _ = out.take();
        assert!(out.rows.events.capacity() < 100 * SPARE_FLOOR);
        // Rows not stored are never taken back.
        let mut left = Rows::default();
        left.events.push(EventRow::default());
        out.recycle(left);
        assert!(out.spare.is_none());
    }
}
