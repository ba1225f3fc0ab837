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
//!
//! Event rows, by far the most, are encoded into Native blocks as they are built
//! ([`crate::store::native::Encoder`]): until their INSERT each takes its encoded size (about
//! 1 KB) rather than its struct's (3.5 KB), so a flush can gather more of them.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use clickhouse::Row;
use scepwatch_proto::v1::{EndpointEvents, Event, Watermark};
use serde::Serialize;
use tokio::sync::watch;
use tracing::debug;

use super::metrics::{Metrics, TableLabel};
use crate::model::{Attempt, Diagnosis};
use crate::spike::Incident;
use crate::store::native::{ColumnType, Encoded, Encoder, NativeError};
use crate::store::rows::{
    AttemptRow, DiagnosisRow, EventRow, HealthFactRow, IncidentRow, KafkaRecord, ReadAt,
    RejectReason, RejectRow, Rejected, WatermarkRow,
};
use crate::store::{InsertReport, StoreError, Versions, Writer};

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

/// Where rows are built: the rows waiting for the next flush.
pub struct Outbox {
    topic: String,
    versions: Versions,
    rows: Rows,
    events: Encoder,
    /// The first event row the encoder refused (its fields do not fit the table's columns):
    /// the next [`Outbox::take`] fails with it.
    refused: Option<NativeError>,
}

/// One flush's rows, by table.
#[derive(Default)]
pub struct Rows {
    events: Encoded,
    /// The event blocks once stored, for the encoder to reuse ([`Outbox::recycle`]).
    stored_events: Vec<bytes::Bytes>,
    watermarks: Vec<WatermarkRow>,
    rejects: Vec<RejectRow>,
    health: Vec<HealthFactRow>,
    attempts: Vec<AttemptRow>,
    diagnoses: Vec<DiagnosisRow>,
    incidents: Vec<IncidentRow>,
}

impl Outbox {
    /// An empty outbox for records of `topic`, whose event rows are encoded in `event_types`
    /// (the `events` columns, [`Writer::column_types`] of [`EventRow`]).
    pub fn new(topic: String, event_types: Arc<[ColumnType]>) -> Self {
        Outbox {
            topic,
            versions: Versions::new(),
            rows: Rows::default(),
            events: Encoder::new(event_types),
            refused: None,
        }
    }

    /// Event rows waiting.
    pub fn events(&self) -> usize {
        self.events.rows()
    }

    /// Rows waiting, all tables.
    pub fn rows(&self) -> usize {
        self.rows.len() + self.events.rows()
    }

    /// The rows waiting, to be stored; the outbox is empty afterwards. Fails when an event row
    /// did not fit the `events` columns (a schema this analyzer was not built for).
    pub fn take(&mut self) -> Result<Rows, StoreError> {
        if let Some(source) = self.refused.take() {
            // The encoder holds part of the refused row: what it holds is not sent.
            self.events.clear();
            return Err(StoreError::Encode {
                table: EventRow::TABLE.to_owned(),
                source,
            });
        }
        let mut rows = std::mem::take(&mut self.rows);
        rows.events = self.events.take();
        // The next flush is likely as large.
        self.rows.watermarks.reserve(rows.watermarks.len());
        Ok(rows)
    }

    /// Takes back the memory of rows once stored (their event blocks), for the next rows.
    pub fn recycle(&mut self, rows: &mut Rows) {
        self.events.recycle(std::mem::take(&mut rows.stored_events));
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
                if let Err(e) = self.events.push(&row) {
                    self.refused.get_or_insert(e);
                }
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
        self.events.rows
    }

    /// Rows, all tables.
    pub fn len(&self) -> usize {
        self.events.rows
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
            insert_events(
                w,
                m,
                &mut self.events,
                &mut self.stored_events,
                stopped(stop)
            ),
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
    WatermarkRow,
    RejectRow,
    HealthFactRow,
    AttemptRow,
    DiagnosisRow,
    IncidentRow
);

async fn insert_events<G>(
    w: &Writer,
    m: &Metrics,
    events: &mut Encoded,
    stored: &mut Vec<bytes::Bytes>,
    give_up: G,
) -> Result<u32, StoreError>
where
    G: Future<Output = ()>,
{
    if events.is_empty() {
        return Ok(0);
    }
    let report = w
        .insert_encoded_with_retry::<EventRow, _>(EventRow::TABLE, events, give_up)
        .await?;
    let retries = count_stored(m, EventRow::TABLE, events.rows, &report);
    stored.append(&mut events.blocks);
    events.clear();
    Ok(retries)
}

/// Counts a stored table's rows and retried attempts in the metrics; returns the retries.
fn count_stored(m: &Metrics, table: &'static str, rows: usize, report: &InsertReport) -> u32 {
    let retries = report.attempts.saturating_sub(1);
    m.insert_retries.inc_by(retries.into());
    m.rows_stored
        .get_or_create(&TableLabel { table })
        .inc_by(rows as u64);
    retries
}

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
            let retries = count_stored(m, <T as Table>::TABLE_NAME, rows.len(), &report);
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
    use scepwatch_proto::v1::{event::Payload, IisRequest, SourceId};

    fn event() -> Event {
        Event {
            id: vec![7; 16],
            event_time_us: 1_795_161_600_000_000,
            source: Some(SourceId {
                collector: "c".into(),
                host: "ndes01".into(),
                kind: 1,
                path: "u_ex261120.log".into(),
                stream: String::new(),
            }),
            payload: Some(Payload::Iis(IisRequest::default())),
            ..Default::default()
        }
    }

    fn place() -> RecordPlace {
        RecordPlace {
            partition: 0,
            offset: 5,
            timestamp_ms: 1_795_161_600_000,
            key: "ep".into(),
        }
    }

    #[test]
    fn an_event_row_that_does_not_fit_the_columns_fails_the_next_take() {
        // A table of one column: the row's first field is not it.
        let types: Arc<[ColumnType]> = Arc::from(vec![ColumnType::new("x", "String").unwrap()]);
        let mut out = Outbox::new("events".into(), types);
        let batch = EndpointEvents::default();
        assert_eq!(out.event(&place(), &batch, 0, &event(), "ep"), Ok(()));
        match out.take() {
            Err(StoreError::Encode { table, .. }) => assert_eq!(table, "events"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("the refused row was taken"),
        }
        // Nothing of what the encoder held is taken afterwards (the service has stopped).
        assert_eq!(out.events(), 0);
        assert_eq!(out.take().map(|r| r.events()).ok(), Some(0));
    }
}
