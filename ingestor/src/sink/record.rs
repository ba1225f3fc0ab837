//! A collector batch as Kafka records: one `v1::EndpointEvents` per SCEP endpoint of the batch,
//! keyed by the endpoint ID, so one endpoint's events stay in one partition and in order.
//!
//! An endpoint whose events exceed `max_record_bytes` is split into several records, in order;
//! its watermarks ride in the last of them, so a consumer that sees a watermark has already
//! seen every event of the batch it covers. An endpoint with watermarks but no events (a source
//! read without news) still gets a record: watermarks must travel.
//!
//! Why a record per endpoint and not per event: brokers pay per record (the test broker about
//! 64,000 records/s), and a batch rarely holds more than a few endpoints. docs/kafka.md has the
//! measurements.

use std::collections::HashMap;

use prost::encoding::{encoded_len_varint, key_len};
use prost::Message;
use scepwatch_proto::v1::{Batch, EndpointEvents, Event, Watermark};

/// Header naming the schema of the record value.
pub const SCHEMA_HEADER: &str = "scepwatch.schema";
/// Its value.
pub const SCHEMA: &str = "scepwatch.v1.EndpointEvents";

/// One Kafka record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record key: the endpoint ID (may be empty: events that name no endpoint).
    pub key: String,
    /// Encoded `v1::EndpointEvents`.
    pub value: Vec<u8>,
    /// Events in it.
    pub events: usize,
}

/// Field numbers of `EndpointEvents.events` and `.watermarks`.
const EVENTS_TAG: u32 = 4;
const WATERMARKS_TAG: u32 = 5;

fn item_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// The records of `batch`, sent by `collector`. Each record's value is at most
/// `max_record_bytes`, unless a single event with the record's own fields is larger (the
/// ingestor's config bounds events so that this cannot happen).
pub fn records_of(batch: Batch, max_record_bytes: usize) -> Vec<Record> {
    struct Group {
        endpoint: String,
        events: Vec<Event>,
        watermarks: Vec<Watermark>,
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of = |endpoint: &str, groups: &mut Vec<Group>| -> usize {
        if let Some(&i) = index.get(endpoint) {
            return i;
        }
        groups.push(Group {
            endpoint: endpoint.to_owned(),
            events: Vec::new(),
            watermarks: Vec::new(),
        });
        index.insert(endpoint.to_owned(), groups.len() - 1);
        groups.len() - 1
    };
    for e in batch.events {
        let i = group_of(&e.endpoint_id, &mut groups);
        groups[i].events.push(e);
    }
    for w in batch.watermarks {
        let i = group_of(&w.endpoint_id, &mut groups);
        groups[i].watermarks.push(w);
    }

    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let head = EndpointEvents {
            endpoint_id: g.endpoint,
            collector: batch.collector.clone(),
            batch_sequence: batch.sequence,
            events: Vec::new(),
            watermarks: Vec::new(),
        };
        let base = head.encoded_len();
        let mut cur = head.clone();
        let mut size = base;
        let flush = |cur: &mut EndpointEvents, size: &mut usize, out: &mut Vec<Record>| {
            let full = std::mem::replace(cur, head.clone());
            out.push(Record {
                key: full.endpoint_id.clone(),
                events: full.events.len(),
                value: full.encode_to_vec(),
            });
            *size = base;
        };
        for e in g.events {
            let len = item_len(EVENTS_TAG, e.encoded_len());
            if size + len > max_record_bytes && size > base {
                flush(&mut cur, &mut size, &mut out);
            }
            size += len;
            cur.events.push(e);
        }
        for w in g.watermarks {
            let len = item_len(WATERMARKS_TAG, w.encoded_len());
            if size + len > max_record_bytes && size > base {
                flush(&mut cur, &mut size, &mut out);
            }
            size += len;
            cur.watermarks.push(w);
        }
        if size > base {
            flush(&mut cur, &mut size, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scepwatch_proto::v1::{SourceId, SourceKind};

    fn source(n: u8) -> SourceId {
        SourceId {
            collector: "ndes01".into(),
            host: "NDES01".into(),
            kind: SourceKind::Iis as i32,
            path: format!(r"C:\inetpub\logs\LogFiles\W3SVC{n}\u_ex251120.log"),
            stream: String::new(),
        }
    }

    fn endpoint(n: u8) -> String {
        if n == 0 {
            String::new()
        } else {
            format!("https://ndes{n}.contoso.com/certsrv/mscep/mscep.dll")
        }
    }

    fn event(ep: u8, position: u64, excerpt_len: usize) -> Event {
        let s = source(ep);
        Event {
            id: scepwatch_proto::event_id(&s, position).to_vec(),
            source: Some(s),
            position,
            event_time_us: 1_763_600_000_000_000 + position as i64,
            observed_time_us: 1_763_600_001_000_000,
            endpoint_id: endpoint(ep),
            excerpt: "x".repeat(excerpt_len),
            payload: None,
        }
    }

    fn watermark(ep: u8, up_to: i64) -> Watermark {
        Watermark {
            source: Some(source(ep)),
            endpoint_id: endpoint(ep),
            read_from_us: 1,
            read_up_to_us: up_to,
            position: 10,
        }
    }

    fn decode(r: &Record) -> EndpointEvents {
        EndpointEvents::decode(r.value.as_slice()).unwrap()
    }

    #[test]
    fn one_record_per_endpoint_in_batch_order() {
        let batch = Batch {
            collector: "ndes01".into(),
            sequence: 7,
            events: vec![event(1, 0, 100), event(2, 0, 100), event(1, 200, 100)],
            watermarks: vec![watermark(2, 5), watermark(3, 9)],
        };
        let records = records_of(batch, 1 << 20);
        let keys: Vec<_> = records.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys, [endpoint(1), endpoint(2), endpoint(3)]);
        let first = decode(&records[0]);
        assert_eq!(first.collector, "ndes01");
        assert_eq!(first.batch_sequence, 7);
        assert_eq!(
            first.events.iter().map(|e| e.position).collect::<Vec<_>>(),
            [0, 200]
        );
        assert!(first.watermarks.is_empty());
        assert_eq!(decode(&records[1]).watermarks.len(), 1);
        // A watermark-only endpoint still gets its record.
        let third = decode(&records[2]);
        assert!(third.events.is_empty());
        assert_eq!(third.watermarks[0].read_up_to_us, 9);
        assert_eq!(records[2].events, 0);
    }

    #[test]
    fn empty_batch_has_no_records() {
        let batch = Batch {
            collector: "ndes01".into(),
            sequence: 1,
            events: vec![],
            watermarks: vec![],
        };
        assert!(records_of(batch, 1 << 20).is_empty());
    }

    proptest! {
        /// Splitting keeps every event once, in order per endpoint, puts watermarks after the
        /// endpoint's last event, and keeps every record within the cap.
        #[test]
        fn split_records_reassemble_the_batch(
            items in proptest::collection::vec((0u8..4, 0usize..3000), 0..120),
            wms in proptest::collection::vec(0u8..4, 0..6),
            cap in 4096usize..40_000,
        ) {
            let events: Vec<Event> = items
                .iter()
                .enumerate()
                .map(|(i, &(ep, len))| event(ep, i as u64 * 10, len))
                .collect();
            let watermarks: Vec<Watermark> =
                wms.iter().enumerate().map(|(i, &ep)| watermark(ep, i as i64)).collect();
            let batch = Batch {
                collector: "ndes01".into(),
                sequence: 3,
                events: events.clone(),
                watermarks: watermarks.clone(),
            };
            let records = records_of(batch, cap);
            let mut by_endpoint: HashMap<String, (Vec<u64>, Vec<i64>, bool)> = HashMap::new();
            for r in &records {
                prop_assert!(r.value.len() <= cap, "record of {} > cap {}", r.value.len(), cap);
                let v = decode(r);
                prop_assert_eq!(&v.endpoint_id, &r.key);
                prop_assert_eq!(v.events.len(), r.events);
                let entry = by_endpoint.entry(r.key.clone()).or_default();
                if !v.events.is_empty() {
                    prop_assert!(!entry.2, "events after the endpoint's watermarks");
                }
                entry.0.extend(v.events.iter().map(|e| e.position));
                if !v.watermarks.is_empty() {
                    entry.2 = true;
                }
                entry.1.extend(v.watermarks.iter().map(|w| w.read_up_to_us));
            }
            for ep in 0..4u8 {
                let want: Vec<u64> = events
                    .iter()
                    .filter(|e| e.endpoint_id == endpoint(ep))
                    .map(|e| e.position)
                    .collect();
                let want_w: Vec<i64> = watermarks
                    .iter()
                    .filter(|w| w.endpoint_id == endpoint(ep))
                    .map(|w| w.read_up_to_us)
                    .collect();
                let got = by_endpoint.remove(&endpoint(ep)).unwrap_or_default();
                prop_assert_eq!(got.0, want);
                prop_assert_eq!(got.1, want_w);
            }
        }
    }
}
