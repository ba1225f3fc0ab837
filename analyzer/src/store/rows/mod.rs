//! One Rust type per table of the schema, and the conversions that fill them from the engine's
//! input (`scepwatch.v1` events and watermarks) and output (attempts, diagnoses).
//!
//! Rows are inserted as Native blocks ([`super::native`]): each struct lists exactly the columns
//! of its table, in the table's order, each with the Rust type the block takes for the column's
//! type (and that reads it back, through the `clickhouse` crate, in tests):
//!
//! | column type | Rust type |
//! |---|---|
//! | `String`, `LowCardinality(String)` | `String` |
//! | `DateTime('UTC')` | `u32` (seconds), beside a `<name>_micros` `u32` where the schema has one |
//! | `Nullable(DateTime('UTC'))` | `Option<u32>` |
//! | `Enum8` | `i8`: the protobuf number, or the analyzer enum's number from 1 |
//! | `UInt8` flags | `u8` |
//! | `Array(String)` | `Vec<String>` |
//! | `Nested(a T, ...)` | one `Vec<T>` per member, named `nested.a` (serde `rename`) |
//!
//! The conversions follow the schema's conventions (`docs/clickhouse.md`, "Conventions"): an
//! event whose own time does not fit `DateTime` is refused ([`EventRejected`]) and goes to
//! `rejects` ([`RejectRow`]) instead of `events`; other times are clamped into the range; an
//! enum number the schema does not list is written as 0.

mod column;
mod event;
mod health;
mod incident;
mod reject;
mod result;
mod watermark;

pub use event::EventRow;
pub use health::HealthFactRow;
pub use incident::IncidentRow;
pub use reject::{KafkaRecord, RejectReason, RejectRow, Rejected};
pub use result::{AttemptRow, DiagnosisRow};
pub use watermark::WatermarkRow;

/// Where the analyzer read an event: its Kafka record and the collector batch it came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAt {
    /// Kafka partition.
    pub partition: i32,
    /// Offset of the record in the partition.
    pub offset: i64,
    /// `EndpointEvents.batch_sequence` of the record.
    pub batch_sequence: u64,
}

/// Why an event cannot be stored in `events`; it goes to `rejects` with [`Self::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventRejected {
    /// The event time does not fit `DateTime('UTC')`.
    #[error(
        "event time {event_time_us} µs is outside 1970-01-01 00:00:00 to 2106-02-07 06:28:15 UTC"
    )]
    TimeOutOfRange {
        /// The event's `event_time_us`.
        event_time_us: i64,
    },
    /// The event has no payload this analyzer knows (a newer collector's payload kind decodes
    /// as none).
    #[error("the event carries no payload this analyzer knows")]
    PayloadUnknown,
}

impl EventRejected {
    /// The reason code of its `rejects` row.
    pub fn reason(&self) -> RejectReason {
        match self {
            EventRejected::TimeOutOfRange { .. } => RejectReason::TimeOutOfRange,
            EventRejected::PayloadUnknown => RejectReason::PayloadUnknown,
        }
    }
}

#[cfg(test)]
mod tests;
