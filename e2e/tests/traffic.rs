//! The fleet traffic generator: deterministic, unique IDs, every source in time order with
//! watermarks that follow their events, the shapes the analyzer's tests need, and a topic
//! filled with it reads back record for record.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use prost::Message as _;
use scepwatch_e2e::traffic::{
    bad_records, fill_topic, read_topic, BadKind, Spike, TopicWriter, Traffic, TrafficPlan,
    DEVICE_COLLECTOR, SCHEMA,
};
use scepwatch_e2e::{announce, broker};
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{EndpointEvents, ScepOperation};
use scepwatch_proto::SourceKey;

const S: i64 = 1_000_000;

fn encoded(plan: TrafficPlan) -> Vec<(String, Vec<u8>)> {
    Traffic::new(plan)
        .map(|(k, r)| (k, r.encode_to_vec()))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_records_byte_for_byte() {
    let plan = TrafficPlan::new(7, 6, 20_000);
    let a = encoded(plan.clone());
    assert_eq!(a, encoded(plan.clone()));
    let mut other = plan;
    other.seed = 8;
    assert_ne!(a, encoded(other));
}

/// Five minutes before midnight, so every IIS log rotates to its next day's file mid-run.
fn plan_across_midnight() -> TrafficPlan {
    let mut plan = TrafficPlan::new(42, 8, 60_000);
    // 2026-11-20 23:55:00 UTC.
    plan.start_time_us = 1_795_218_900 * S;
    plan.events_per_second = 100.0;
    plan.batch_interval_us = 2 * S;
    plan.failure_share = 0.2;
    // Fewer than the rate needs: more join as the run goes.
    plan.devices_per_endpoint = 100;
    plan.spikes = vec![Spike::new(1, 0, 503, 60 * S, 120 * S)];
    plan
}

#[test]
fn ids_are_unique_and_every_source_is_in_order_with_its_watermarks_behind_its_events() {
    let plan = plan_across_midnight();
    let traffic = Traffic::new(plan.clone());
    let fleet = traffic.fleet();
    let keys: HashSet<String> = fleet.iter().map(|e| e.id.clone()).collect();
    assert_eq!(keys.len(), 8);
    assert!(fleet.iter().all(|e| (1..=3).contains(&e.servers.len())));

    let mut ids = HashSet::new();
    // Per source: (last time, next position).
    let mut sources: HashMap<SourceKey, (i64, u64)> = HashMap::new();
    let mut paths = HashSet::new();
    let (mut events, mut records, mut watermarks) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut sequences: HashMap<String, u64> = HashMap::new();
    for (key, r) in traffic {
        records += 1;
        assert_eq!(key, r.endpoint_id);
        assert!(keys.contains(&key), "unknown endpoint {key}");
        assert!(r.encoded_len() <= plan.max_record_bytes);
        assert!(!r.events.is_empty() || !r.watermarks.is_empty());
        // A collector's batches are numbered in order (an endpoint's records of one batch
        // share the number).
        let seq = sequences.entry(r.collector.clone()).or_default();
        assert!(r.batch_sequence >= *seq);
        *seq = r.batch_sequence;
        for e in &r.events {
            events += 1;
            assert_eq!(e.endpoint_id, key);
            assert!(ids.insert(e.id.clone()), "duplicate ID");
            let source = e.source.as_ref().unwrap();
            assert_eq!(source.collector, r.collector);
            let sk = SourceKey::of(source);
            assert_eq!(e.id, sk.event_id(e.position).to_vec());
            let entry = sources.entry(sk).or_insert((i64::MIN, 0));
            assert!(e.event_time_us >= entry.0, "time went back in {source:?}");
            assert!(e.position >= entry.1, "position went back in {source:?}");
            *entry = (e.event_time_us, e.position + 1);
            paths.insert(source.path.clone());
            first = first.min(e.event_time_us);
            last = last.max(e.event_time_us);
            assert!(e.payload.is_some());
            assert!(!e.excerpt.is_empty() && e.excerpt.len() <= 2048);
        }
        for w in &r.watermarks {
            watermarks += 1;
            assert_eq!(w.endpoint_id, key);
            let sk = SourceKey::of(w.source.as_ref().unwrap());
            let (time, next) = sources[&sk];
            // A watermark comes after the events it covers, in the same record.
            assert_eq!(w.read_up_to_us, time);
            assert!(w.position >= next);
            assert!(w.read_from_us <= w.read_up_to_us);
        }
    }
    assert_eq!(events, plan.events, "exactly the planned events");
    assert!(watermarks > 0 && records > 0);
    // IIS wrote two daily files per server.
    assert!(paths.contains("C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log"));
    assert!(paths.contains("C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261121.log"));
    // Event time spans events / rate, give or take a batch.
    let span = (last - first) as f64 / S as f64;
    let want = plan.events as f64 / plan.events_per_second;
    assert!(
        (span - want).abs() < want * 0.05,
        "span {span} s, want {want} s"
    );
    announce(&format!(
        "traffic: {events} events in {records} records ({:.0} events/record), {watermarks} \
         watermarks, {} sources, {span:.0} s of event time",
        events as f64 / records as f64,
        sources.len()
    ));
}

#[derive(Default, Debug)]
struct Shapes {
    statuses: HashMap<u32, u64>,
    crashes: u64,
    android: u64,
    ios: u64,
    health: u64,
    pki_get_with_tx: u64,
    pki_get_without_tx: u64,
    pki_post: u64,
    cert_registration_403: u64,
    device_records: u64,
}

fn shapes(records: impl Iterator<Item = (String, EndpointEvents)>) -> Shapes {
    let mut s = Shapes::default();
    for (_, r) in records {
        if r.collector == DEVICE_COLLECTOR {
            s.device_records += 1;
        }
        for e in r.events {
            match e.payload.unwrap() {
                Payload::Iis(i) => {
                    *s.statuses.entry(i.status).or_default() += 1;
                    if i.uri_stem.starts_with("/CertificateRegistrationSvc") && i.status == 403 {
                        s.cert_registration_403 += 1;
                    }
                    if i.operation == ScepOperation::PkiOperation as i32 {
                        match (&*i.method, i.scep.as_ref()) {
                            ("POST", _) => s.pki_post += 1,
                            (_, Some(m)) if !m.transaction_id.is_empty() => s.pki_get_with_tx += 1,
                            _ => s.pki_get_without_tx += 1,
                        }
                        assert!(i.uri_query.len() <= 512);
                    }
                }
                Payload::AppCrash(c) => {
                    assert_eq!(c.application, "w3wp.exe");
                    s.crashes += 1;
                }
                Payload::Android(_) => s.android += 1,
                Payload::Ios(_) => s.ios += 1,
                Payload::Health(_) => s.health += 1,
                other => panic!("unexpected payload {other:?}"),
            }
        }
    }
    s
}

#[test]
fn attempts_take_the_real_shapes_and_fail_in_every_way() {
    let s = shapes(Traffic::new(plan_across_midnight()));
    for status in [200, 403, 414, 500, 503] {
        assert!(s.statuses.get(&status).copied().unwrap_or(0) > 0, "{s:?}");
    }
    assert!(
        s.crashes > 0 && s.android > 0 && s.ios > 0 && s.health > 0,
        "{s:?}"
    );
    assert!(
        s.pki_get_with_tx > 0 && s.pki_get_without_tx > 0 && s.pki_post > 0,
        "{s:?}"
    );
    assert!(s.cert_registration_403 > 0 && s.device_records > 0, "{s:?}");
}

#[test]
fn a_spike_fails_most_attempts_on_its_server_and_crashes_w3wp() {
    let mut plan = TrafficPlan::new(3, 2, 40_000);
    plan.servers_per_endpoint = 2..=2;
    plan.events_per_second = 200.0;
    // No failures but the spike's: every crash is the spike's.
    plan.failure_share = 0.0;
    let spike = Spike::new(0, 1, 503, 60 * S, 60 * S);
    plan.spikes = vec![spike.clone()];
    let traffic = Traffic::new(plan.clone());
    let host = traffic.fleet()[0].servers[1].clone();
    let (from, to) = (
        plan.start_time_us + spike.at_us,
        plan.start_time_us + spike.at_us + spike.duration_us,
    );
    // (mscep requests, 503s) inside the spike and outside, on the spike's server.
    let (mut inside, mut outside, mut crashes) = ((0, 0), (0, 0), 0);
    for (_, r) in traffic {
        for e in r.events {
            if e.source.as_ref().unwrap().host != host {
                continue;
            }
            let during = (from..to).contains(&e.event_time_us);
            match e.payload.unwrap() {
                Payload::Iis(i) if i.uri_stem == "/certsrv/mscep/mscep.dll" => {
                    let c = if during { &mut inside } else { &mut outside };
                    c.0 += 1;
                    c.1 += u32::from(i.status == 503);
                }
                Payload::AppCrash(_) => {
                    assert!(during, "a crash outside the spike");
                    crashes += 1;
                }
                _ => {}
            }
        }
    }
    assert!(inside.0 > 50, "{inside:?}");
    // A failing attempt stops at its first request, a successful one makes three: with 90 % of
    // the attempts failing, three requests in four are 503s.
    assert!(inside.1 * 2 > inside.0, "inside {inside:?}");
    assert!(outside.1 * 20 < outside.0, "outside {outside:?}");
    assert!(crashes >= 2, "{crashes} crashes");
}

#[test]
fn a_filled_topic_reads_back_record_for_record() {
    let Some(bootstrap) = broker::bootstrap() else {
        return;
    };
    let topic = broker::fresh_topic("traffic");
    let plan = TrafficPlan::new(11, 12, 50_000);
    let expected: Vec<(String, Vec<u8>)> = encoded(plan.clone());
    let report = fill_topic(&bootstrap, &topic, 6, Traffic::new(plan)).unwrap();
    announce(&format!("fill: {report}"));
    assert_eq!(report.records, expected.len() as u64);
    assert_eq!(report.events, 50_000);

    let mut got: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut partition_of: HashMap<String, i32> = HashMap::new();
    let counts = read_topic(
        &bootstrap,
        &topic,
        Duration::from_secs(120),
        |p, _, key, r| {
            // One endpoint, one partition.
            assert_eq!(*partition_of.entry(key.to_owned()).or_insert(p), p);
            *got.entry(r.encode_to_vec()).or_default() += 1;
        },
    )
    .unwrap();
    assert_eq!(counts.records, report.records);
    assert_eq!(counts.events, report.events);
    assert_eq!((counts.undecodable, counts.other_schema), (0, 0));
    for (_, value) in &expected {
        let n = got.get_mut(value).expect("a record missing from the topic");
        *n -= 1;
    }
    assert!(got.values().all(|&n| n == 0), "records read twice");
    assert!(partition_of.len() > 1);
}

#[test]
fn bad_records_reach_the_topic_as_they_are() {
    let Some(bootstrap) = broker::bootstrap() else {
        return;
    };
    let topic = broker::fresh_topic("traffic-bad");
    scepwatch_e2e::traffic::create_topic(&bootstrap, &topic, 2).unwrap();
    let endpoint = "https://ndes000.contoso.com/certsrv/mscep/mscep.dll";
    let bad = bad_records(endpoint, 1_795_161_600 * S);
    let mut w = TopicWriter::new(&bootstrap, &topic).unwrap();
    for r in &bad {
        let events = (r.bad_events + r.good_events) as u64;
        w.send_raw(&r.key, &r.value, &r.schema, events).unwrap();
    }
    w.finish().unwrap();
    let counts = read_topic(&bootstrap, &topic, Duration::from_secs(60), |_, _, _, _| {}).unwrap();
    let undecodable = bad
        .iter()
        .filter(|r| r.kind == BadKind::Undecodable)
        .count();
    assert_eq!(counts.records, bad.len() as u64);
    assert_eq!(counts.undecodable, undecodable as u64);
    assert_eq!(
        counts.other_schema,
        bad.iter().filter(|r| r.schema != SCHEMA).count() as u64
    );
}
