//! What a batch must satisfy before anything of it is published: it comes from the
//! authenticated collector, its events carry the IDs their source and position give, and every
//! size is within [`Limits`]. A batch that fails is REJECTED as a whole, with the reason; the
//! stream goes on.

use prost::Message;
use scepwatch_proto::v1::{Batch, SourceId};
use scepwatch_proto::{SourceKey, EVENT_ID_LEN};

use crate::config::Limits;

/// Why a batch was rejected (the `reason` label of the rejection metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `Batch.collector`, a source's or a watermark's collector is not the authenticated one.
    CollectorMismatch,
    /// More events than `limits.max_events_per_batch`.
    TooManyEvents,
    /// An event or watermark without a source.
    MissingSource,
    /// An event ID that is not 16 bytes.
    EventIdLength,
    /// An event ID that is not `event_id(source, position)`: corruption or a foreign producer.
    EventIdMismatch,
    /// A string field over `limits.max_field_bytes`.
    FieldTooLarge,
    /// An event over `limits.max_event_bytes`.
    EventTooLarge,
}

impl Reason {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::CollectorMismatch => "collector_mismatch",
            Reason::TooManyEvents => "too_many_events",
            Reason::MissingSource => "missing_source",
            Reason::EventIdLength => "event_id_length",
            Reason::EventIdMismatch => "event_id_mismatch",
            Reason::FieldTooLarge => "field_too_large",
            Reason::EventTooLarge => "event_too_large",
        }
    }
}

/// A refused batch: the reason and a message for the collector's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: Reason,
    /// What, naming the event or watermark at fault.
    pub message: String,
}

impl Rejection {
    fn new(reason: Reason, message: String) -> Self {
        Rejection { reason, message }
    }
}

/// Checks `batch` sent by the authenticated `collector`.
pub fn check_batch(batch: &Batch, collector: &str, limits: &Limits) -> Result<(), Rejection> {
    if batch.collector != collector {
        return Err(Rejection::new(
            Reason::CollectorMismatch,
            format!(
                "batch names collector `{}` but the stream is authenticated as `{collector}`",
                cut(&batch.collector)
            ),
        ));
    }
    if batch.events.len() > limits.max_events_per_batch {
        return Err(Rejection::new(
            Reason::TooManyEvents,
            format!(
                "{} events in one batch; the limit is {} (limits.max_events_per_batch)",
                batch.events.len(),
                limits.max_events_per_batch
            ),
        ));
    }
    let max_field = limits.max_field_bytes;
    let mut last: Option<(&SourceId, SourceKey)> = None;
    for (i, event) in batch.events.iter().enumerate() {
        let what = || format!("event {i} (position {})", event.position);
        let Some(source) = &event.source else {
            return Err(Rejection::new(
                Reason::MissingSource,
                format!("{} has no source", what()),
            ));
        };
        check_source(source, collector, max_field, &what)?;
        check_field("endpoint_id", &event.endpoint_id, max_field, &what)?;
        check_field("excerpt", &event.excerpt, max_field, &what)?;
        let size = event.encoded_len();
        if size > limits.max_event_bytes {
            return Err(Rejection::new(
                Reason::EventTooLarge,
                format!(
                    "{} is {size} bytes encoded; the limit is {} (limits.max_event_bytes)",
                    what(),
                    limits.max_event_bytes
                ),
            ));
        }
        if event.id.len() != EVENT_ID_LEN {
            return Err(Rejection::new(
                Reason::EventIdLength,
                format!(
                    "{} has an ID of {} bytes; event IDs are {EVENT_ID_LEN} bytes",
                    what(),
                    event.id.len()
                ),
            ));
        }
        // Batches hold long runs of one source: digest its identity once per run.
        let key = match last {
            Some((s, k)) if s == source => k,
            _ => {
                let k = SourceKey::of(source);
                last = Some((source, k));
                k
            }
        };
        if key.event_id(event.position) != event.id.as_slice() {
            return Err(Rejection::new(
                Reason::EventIdMismatch,
                format!(
                    "{} of {} has ID {}, not the one its source and position give: the event \
                     was altered or not made by a scepwatch collector",
                    what(),
                    cut(&source.path),
                    scepwatch_proto::event_id_hex(&event.id)
                ),
            ));
        }
    }
    for (i, w) in batch.watermarks.iter().enumerate() {
        let what = || format!("watermark {i}");
        let Some(source) = &w.source else {
            return Err(Rejection::new(
                Reason::MissingSource,
                format!("{} has no source", what()),
            ));
        };
        check_source(source, collector, max_field, &what)?;
        check_field("endpoint_id", &w.endpoint_id, max_field, &what)?;
    }
    Ok(())
}

fn check_source(
    source: &SourceId,
    collector: &str,
    max_field: usize,
    what: &dyn Fn() -> String,
) -> Result<(), Rejection> {
    if source.collector != collector {
        return Err(Rejection::new(
            Reason::CollectorMismatch,
            format!(
                "{}: source collector `{}` is not the authenticated `{collector}`",
                what(),
                cut(&source.collector)
            ),
        ));
    }
    check_field("source.host", &source.host, max_field, what)?;
    check_field("source.path", &source.path, max_field, what)?;
    check_field("source.stream", &source.stream, max_field, what)
}

fn check_field(
    name: &str,
    value: &str,
    max: usize,
    what: &dyn Fn() -> String,
) -> Result<(), Rejection> {
    if value.len() > max {
        return Err(Rejection::new(
            Reason::FieldTooLarge,
            format!(
                "{}: {name} is {} bytes; the limit is {max} (limits.max_field_bytes)",
                what(),
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Text from the network is cut before it goes into a message.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use scepwatch_proto::v1::{Event, SourceKind, Watermark};

    fn source(path: &str) -> SourceId {
        SourceId {
            collector: "ndes01".into(),
            host: "NDES01".into(),
            kind: SourceKind::Iis as i32,
            path: path.into(),
            stream: String::new(),
        }
    }

    fn event(path: &str, position: u64) -> Event {
        let s = source(path);
        Event {
            id: scepwatch_proto::event_id(&s, position).to_vec(),
            source: Some(s),
            position,
            event_time_us: 1_763_600_000_000_000,
            observed_time_us: 1_763_600_000_500_000,
            endpoint_id: "https://ndes.contoso.com/certsrv/mscep/mscep.dll".into(),
            excerpt: "2025-11-20 01:02:03 10.0.0.5 GET /certsrv/mscep/mscep.dll \
                      operation=GetCACaps&message=default 443 - 10.1.2.3 Dalvik/2.1.0 - 200 0 0 15"
                .into(),
            payload: None,
        }
    }

    fn batch(events: Vec<Event>) -> Batch {
        Batch {
            collector: "ndes01".into(),
            sequence: 1,
            events,
            watermarks: vec![Watermark {
                source: Some(source(r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex251120.log")),
                endpoint_id: "https://ndes.contoso.com/certsrv/mscep/mscep.dll".into(),
                read_from_us: 1,
                read_up_to_us: 2,
                position: 3,
            }],
        }
    }

    const PATH: &str = r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex251120.log";

    fn rejected(b: &Batch) -> Reason {
        check_batch(b, "ndes01", &Limits::default())
            .unwrap_err()
            .reason
    }

    #[test]
    fn a_valid_batch_passes() {
        let b = batch((0..100).map(|i| event(PATH, i * 180)).collect());
        assert_eq!(check_batch(&b, "ndes01", &Limits::default()), Ok(()));
    }

    #[test]
    fn altered_event_id_is_rejected_as_corruption() {
        let mut b = batch(vec![event(PATH, 0), event(PATH, 180)]);
        b.events[1].position = 181;
        let r = check_batch(&b, "ndes01", &Limits::default()).unwrap_err();
        assert_eq!(r.reason, Reason::EventIdMismatch);
        assert!(
            r.message.contains("event 1 (position 181)"),
            "{}",
            r.message
        );
        let mut b = batch(vec![event(PATH, 0)]);
        b.events[0].id.truncate(8);
        assert_eq!(rejected(&b), Reason::EventIdLength);
    }

    #[test]
    fn another_collectors_data_is_rejected() {
        let mut b = batch(vec![event(PATH, 0)]);
        b.collector = "ndes02".into();
        assert_eq!(rejected(&b), Reason::CollectorMismatch);
        // An event whose source names another collector, with an ID consistent with it.
        let mut b = batch(vec![event(PATH, 0)]);
        let mut s = source(PATH);
        s.collector = "ndes02".into();
        b.events[0].id = scepwatch_proto::event_id(&s, 0).to_vec();
        b.events[0].source = Some(s);
        assert_eq!(rejected(&b), Reason::CollectorMismatch);
        let mut b = batch(vec![event(PATH, 0)]);
        b.watermarks[0].source.as_mut().unwrap().collector = "ndes02".into();
        assert_eq!(rejected(&b), Reason::CollectorMismatch);
    }

    #[test]
    fn sizes_are_bounded() {
        let limits = Limits {
            max_events_per_batch: 3,
            ..Limits::default()
        };
        let b = batch((0..4).map(|i| event(PATH, i)).collect());
        let r = check_batch(&b, "ndes01", &limits).unwrap_err();
        assert_eq!(r.reason, Reason::TooManyEvents);
        assert!(r.message.contains("4 events"));

        let mut b = batch(vec![event(PATH, 0)]);
        b.events[0].excerpt = "x".repeat(5000);
        assert_eq!(rejected(&b), Reason::FieldTooLarge);

        let long_path = "p".repeat(5000);
        let b = batch(vec![event(&long_path, 0)]);
        assert_eq!(rejected(&b), Reason::FieldTooLarge);

        let limits = Limits {
            max_event_bytes: 1024,
            ..Limits::default()
        };
        let mut b = batch(vec![event(PATH, 0)]);
        b.events[0].excerpt = "x".repeat(2000);
        let r = check_batch(&b, "ndes01", &limits).unwrap_err();
        assert_eq!(r.reason, Reason::EventTooLarge);
    }

    #[test]
    fn events_and_watermarks_need_a_source() {
        let mut b = batch(vec![event(PATH, 0)]);
        b.events[0].source = None;
        assert_eq!(rejected(&b), Reason::MissingSource);
        let mut b = batch(vec![]);
        b.watermarks[0].source = None;
        assert_eq!(rejected(&b), Reason::MissingSource);
    }
}
