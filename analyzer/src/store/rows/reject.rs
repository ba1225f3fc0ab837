//! The `rejects` row: a Kafka record, or one event of it, that the analyzer could not use.

use clickhouse::Row;
use prost::Message;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use scepwatch_proto::v1::Event;

use super::column::{clamp_secs, clamp_time, hex};
use super::EventRejected;

/// Why a record or an event went to `rejects`: the stable code of `rejects.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The record's value is not a `scepwatch.v1.EndpointEvents`.
    Decode,
    /// The event carries a payload this analyzer does not know (a newer collector's).
    PayloadUnknown,
    /// The event's time is outside what `DateTime` holds (1970-01-01 00:00:00 to
    /// 2106-02-07 06:28:15 UTC).
    TimeOutOfRange,
}

impl RejectReason {
    /// The code stored in `rejects.reason`.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Decode => "decode",
            RejectReason::PayloadUnknown => "payload_unknown",
            RejectReason::TimeOutOfRange => "time_out_of_range",
        }
    }
}

/// Where a Kafka record was read, and its key: what every reject of that record shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaRecord<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The record's timestamp in microseconds since the epoch (Kafka's milliseconds × 1000; 0
    /// when the record has none).
    pub timestamp_us: i64,
    /// The record key (the endpoint ID), as text.
    pub key: &'a str,
}

/// What was rejected and why: the part of a reject that is not the record's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Position of the event in `EndpointEvents.events`; -1 for the whole record.
    pub event_index: i32,
    /// The reason code.
    pub reason: RejectReason,
    /// The error in words.
    pub detail: String,
    /// `EndpointEvents.collector` when the record decoded, else empty.
    pub collector: String,
    /// `EndpointEvents.batch_sequence` when the record decoded, else 0.
    pub batch_sequence: u64,
    /// The event's ID bytes (stored as hex) when an event is rejected, else empty.
    pub event_id: Vec<u8>,
    /// The raw bytes: the record's value, or the rejected event encoded alone.
    pub payload: Vec<u8>,
}

impl Rejected {
    /// A whole record whose value does not decode (`decode`, event index -1).
    pub fn record(detail: impl Into<String>, value: &[u8]) -> Self {
        Rejected {
            event_index: -1,
            reason: RejectReason::Decode,
            detail: detail.into(),
            collector: String::new(),
            batch_sequence: 0,
            event_id: Vec::new(),
            payload: value.to_vec(),
        }
    }

    /// The event at `event_index` of a decoded record, refused by
    /// [`super::EventRow::from_event`] with `why`; the payload is the event encoded alone.
    pub fn event(
        event_index: i32,
        event: &Event,
        why: &EventRejected,
        collector: &str,
        batch_sequence: u64,
    ) -> Self {
        Rejected {
            event_index,
            reason: why.reason(),
            detail: why.to_string(),
            collector: collector.to_string(),
            batch_sequence,
            event_id: event.id.clone(),
            payload: event.encode_to_vec(),
        }
    }
}

/// A row of `rejects` (analyzer/schema/0002_events.sql), keyed by where the record was read, so
/// a replay rejects into the same row.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name (analyzer/schema/0002_events.sql).
pub struct RejectRow {
    pub topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub event_index: i32,
    pub version: u64,
    pub record_time: u32,
    pub record_time_micros: u32,
    pub rejected_at: u32,
    pub reason: String,
    pub detail: String,
    pub record_key: String,
    pub collector: String,
    pub batch_sequence: u64,
    pub event_id: String,
    #[serde(serialize_with = "bytes_out", deserialize_with = "bytes_in")]
    pub payload: Vec<u8>,
}

impl RejectRow {
    /// The table.
    pub const TABLE: &'static str = "rejects";

    /// The row of `rejected`, from `record`; `version` is the write time in microseconds,
    /// which is also when it was rejected (`rejected_at`). The record's timestamp is clamped
    /// into the `DateTime` range (a reject is never refused).
    pub fn new(record: &KafkaRecord<'_>, rejected: Rejected, version: u64) -> Self {
        let (record_time, record_time_micros) = clamp_time(record.timestamp_us);
        RejectRow {
            topic: record.topic.to_string(),
            kafka_partition: record.partition,
            kafka_offset: record.offset,
            event_index: rejected.event_index,
            version,
            record_time,
            record_time_micros,
            rejected_at: clamp_secs(i64::try_from(version).unwrap_or(i64::MAX)),
            reason: rejected.reason.code().to_string(),
            detail: rejected.detail,
            record_key: record.key.to_string(),
            collector: rejected.collector,
            batch_sequence: rejected.batch_sequence,
            event_id: hex(&rejected.event_id),
            payload: rejected.payload,
        }
    }
}

/// Raw bytes into a `String` column (length, then the bytes; no UTF-8 check).
fn bytes_out<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

/// A `String` column read back as raw bytes.
fn bytes_in<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> serde::de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    d.deserialize_byte_buf(Bytes)
}
