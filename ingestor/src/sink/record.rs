//! A collector batch as Kafka records: one `v1::EndpointEvents` per SCEP endpoint of the batch,
//! keyed by the endpoint ID, so one endpoint's events stay in one partition and in order.
//!
//! An endpoint whose events exceed `max_record_bytes` is split into several records, in order;
//! its watermarks ride in the last of them, so a consumer that sees a watermark has already
//! seen every event of the batch it covers. An endpoint with watermarks but no events (a source
//! read without news) still gets a record: watermarks must travel.
//!
//! An event that names no endpoint (a device log line without the SCEP URL, such as Android's
//! "Trying to enroll") travels with its source: of the same source's events of the batch that
//! name one, it takes the endpoint of the last before it or the first after it, whichever is
//! closer in event time (the one before on a tie), and keeps the empty key only when no event
//! of its source in the batch names one. The event
//! is not changed. The analyzer cuts a device log's attempts from all its records, so they must
//! reach the partition of the endpoint its other records name; on the empty key they would
//! land in another partition, and both partitions would cut different attempts than `diagnose`,
//! which reads the whole log in one engine.
//!
//! Why a record per endpoint and not per event: brokers pay per record (the test broker about
//! 64,000 records/s), and a batch rarely holds more than a few endpoints. docs/kafka.md has the
//! measurements.

use std::collections::HashMap;

use prost::encoding::{encoded_len_varint, key_len};
use prost::Message;
use scepwatch_proto::v1::{Batch, EndpointEvents, Event, Watermark};
use scepwatch_proto::SourceKey;

/// Header naming the schema of the record value.
pub const SCHEMA_HEADER: &str = "scepwatch.schema";
/// Its value.
pub const SCHEMA: &str = "scepwatch.v1.EndpointEvents";

/// One Kafka record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record key: the endpoint ID (empty for events that name no endpoint when no event of
    /// their source in the batch names one).
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

/// For each event of `events` that names no endpoint, the endpoint of its source's last event
/// before it or first event after it that names one, whichever is closer in event time (the
/// one before on a tie); `None` for the others and when its source has no such event.
fn routes(events: &[Event]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = vec![None; events.len()];
    if events.iter().all(|e| !e.endpoint_id.is_empty()) {
        return out;
    }
    let key = |e: &Event| e.source.as_ref().map(SourceKey::of);
    // The nearest naming event before each one, then after it: (time, endpoint).
    let mut before: Vec<Option<(i64, &str)>> = vec![None; events.len()];
    let mut last: HashMap<Option<SourceKey>, (i64, &str)> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if e.endpoint_id.is_empty() {
            before[i] = last.get(&key(e)).copied();
        } else {
            last.insert(key(e), (e.event_time_us, e.endpoint_id.as_str()));
        }
    }
    let mut next: HashMap<Option<SourceKey>, (i64, &str)> = HashMap::new();
    for (i, e) in events.iter().enumerate().rev() {
        if !e.endpoint_id.is_empty() {
            next.insert(key(e), (e.event_time_us, e.endpoint_id.as_str()));
            continue;
        }
        let t = e.event_time_us;
        let distance = |(at, _): &(i64, &str)| t.abs_diff(*at);
        out[i] = match (before[i], next.get(&key(e)).copied()) {
            (Some(b), Some(a)) if distance(&a) < distance(&b) => Some(a.1.to_owned()),
            (Some(b), _) => Some(b.1.to_owned()),
            (None, a) => a.map(|a| a.1.to_owned()),
        };
    }
    out
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
    let routes = routes(&batch.events);
    for (e, route) in batch.events.into_iter().zip(routes) {
        let i = group_of(route.as_deref().unwrap_or(&e.endpoint_id), &mut groups);
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

    /// A line of an Android device log (a document handed in): `url` names the endpoint when
    /// the line carries the SCEP URL.
    fn device_line(log: &str, position: u64, second: i64, url: Option<&str>) -> Event {
        let s = SourceId {
            collector: "uploads".into(),
            host: "android-pixel7".into(),
            kind: SourceKind::AndroidOmadm as i32,
            path: log.into(),
            stream: String::new(),
        };
        Event {
            id: scepwatch_proto::event_id(&s, position).to_vec(),
            source: Some(s),
            position,
            event_time_us: 1_763_638_863_000_000 + second * 1_000_000,
            observed_time_us: 1_763_700_000_000_000,
            endpoint_id: url.map(str::to_owned).unwrap_or_default(),
            excerpt: format!("line at {position}"),
            payload: None,
        }
    }

    fn positions_by_key(records: &[Record]) -> Vec<(String, Vec<u64>)> {
        records
            .iter()
            .map(|r| {
                let v = decode(r);
                (r.key.clone(), v.events.iter().map(|e| e.position).collect())
            })
            .collect()
    }

    #[test]
    fn a_line_without_url_travels_with_the_nearest_line_of_its_log_that_names_one() {
        let (a, b) = (endpoint(1), endpoint(2));
        let log = "android-pixel7/omadmlog.log";
        let other = "android-pixel7/omadmlog.1.log";
        let batch = Batch {
            collector: "uploads".into(),
            sequence: 4,
            events: vec![
                // "There are 1 requests", "Trying to enroll": before the first URL line.
                device_line(log, 0, 0, None),
                device_line(log, 152, 0, None),
                device_line(log, 438, 1, Some(&a)),
                device_line(log, 656, 31, Some(&a)),
                // "Failed to enroll", just after the last line naming `a`.
                device_line(log, 910, 31, None),
                // Hours later, a new attempt against `b`: its first lines go with `b`.
                device_line(log, 1132, 8640, None),
                device_line(log, 1570, 8641, Some(&b)),
                // Halfway between the two: the earlier one.
                device_line(log, 1800, 8642, None),
                device_line(log, 2000, 8643, Some(&a)),
                // A log of which no line of the batch names an endpoint.
                device_line(other, 0, 5, None),
            ],
            watermarks: vec![],
        };
        let sent = batch.events.clone();
        let records = records_of(batch, 1 << 20);
        assert_eq!(
            positions_by_key(&records),
            [
                (a.clone(), vec![0, 152, 438, 656, 910, 2000]),
                (b.clone(), vec![1132, 1570, 1800]),
                (String::new(), vec![0]),
            ]
        );
        // The events themselves are not changed: a line without URL names no endpoint.
        let mut got: Vec<Event> = records.iter().flat_map(|r| decode(r).events).collect();
        got.sort_by_key(|e| (e.source.as_ref().unwrap().path.clone(), e.position));
        let mut want = sent;
        want.sort_by_key(|e| (e.source.as_ref().unwrap().path.clone(), e.position));
        assert_eq!(got, want);
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
        /// Every event travels once, in batch order, under its own endpoint, or, naming none,
        /// under the endpoint of its source's closer naming neighbour in the batch (by event
        /// time, the one before on a tie), or the empty key when its source has none.
        #[test]
        fn events_without_endpoint_travel_with_their_source(
            items in proptest::collection::vec((0u8..3, 0u8..3, 0i64..50), 0..60),
        ) {
            let events: Vec<Event> = items
                .iter()
                .enumerate()
                .map(|(i, &(src, ep, t))| {
                    let mut e = event(src, i as u64, 10);
                    e.endpoint_id = endpoint(ep);
                    e.event_time_us = t;
                    e
                })
                .collect();
            let want_key = |i: usize| -> String {
                let e = &events[i];
                if !e.endpoint_id.is_empty() {
                    return e.endpoint_id.clone();
                }
                let naming = |j: &usize| {
                    events[*j].source == e.source && !events[*j].endpoint_id.is_empty()
                };
                let before = (0..i).rev().find(naming);
                let after = (i + 1..events.len()).find(naming);
                let d = |j: usize| events[j].event_time_us.abs_diff(e.event_time_us);
                match (before, after) {
                    (Some(b), Some(a)) if d(a) < d(b) => events[a].endpoint_id.clone(),
                    (Some(b), _) => events[b].endpoint_id.clone(),
                    (None, Some(a)) => events[a].endpoint_id.clone(),
                    (None, None) => String::new(),
                }
            };
            let batch = Batch {
                collector: "ndes01".into(),
                sequence: 1,
                events: events.clone(),
                watermarks: vec![],
            };
            let mut seen: Vec<Option<String>> = vec![None; events.len()];
            let mut last: HashMap<String, u64> = HashMap::new();
            for r in records_of(batch, 1 << 20) {
                for e in decode(&r).events {
                    let i = e.position as usize;
                    prop_assert_eq!(&e, &events[i], "the event is unchanged");
                    prop_assert!(seen[i].is_none(), "event {} sent twice", i);
                    if let Some(&p) = last.get(&r.key) {
                        prop_assert!(p < e.position, "out of batch order under {}", r.key);
                    }
                    last.insert(r.key.clone(), e.position);
                    seen[i] = Some(r.key.clone());
                }
            }
            for (i, key) in seen.into_iter().enumerate() {
                prop_assert_eq!(key, Some(want_key(i)), "event {}", i);
            }
        }

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
