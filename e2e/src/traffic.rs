//! Fleet traffic as the events topic carries it, without running collectors: a seeded,
//! deterministic generator of `v1::EndpointEvents` records, a writer that puts them on a topic
//! as the ingestor does, a reader that counts what a topic holds, and records the analyzer must
//! reject.
//!
//! # The fleet
//!
//! [`TrafficPlan::endpoints`] SCEP endpoints (one in four published through the application
//! proxy, where IIS sees the connector's address instead of the device's), each with 1 to 3 NDES
//! servers and [`TrafficPlan::devices_per_endpoint`] devices (Android, iOS and Windows, each with
//! its own address and user agent; a share of them with their device log collected).
//!
//! Each server is one collector (`ndes-003-1`) reading three sources: its IIS log (a file a day,
//! `u_exYYMMDD.log`, positions are byte offsets after the W3C header), its Application event log
//! (w3wp.exe crashes, positions are record numbers) and its health facts. Device logs (Android
//! OMADM, iOS console) are read by one collector, `device-logs`, each device's log a source of
//! its own.
//!
//! # Attempts
//!
//! Attempts start at random moments and look like the real ones, a few seconds long:
//! - Android (`Dalvik/2.1.0 ...`): GetCACaps, GetCACert, then PKIOperation as a GET whose
//!   `message=` the collector decoded (`IisRequest.scep` with the transactionID; one in ten
//!   cut short, without it), and, when the device's log is collected, the OMADM steps from
//!   "There are 1 requests" to sending the signed request, with the same transId.
//! - iOS (`profiled/1.0 CFNetwork/... Darwin/...`): GetCACert, GetCACaps, then PKIOperation
//!   as a POST (no message in the log) or, one in three, a GET with a base64 transactionID;
//!   the profiled steps when the log is collected.
//! - Windows (`Mozilla/4.0 (compatible; Win32; NDES client)`): GetCACaps, GetCACert, POST
//!   PKIOperation; no device log.
//!
//! A share [`TrafficPlan::failure_share`] of them fail, spread over: 403 from
//! CertificateRegistrationSvc (the policy module's call, from `::1`, after a 200 PKIOperation),
//! 500 on PKIOperation (Win32 status 1346 or 0), 503 on the first request (half of them with a
//! w3wp.exe crash on that server at the same moment), 414 on a PKIOperation GET too long (its
//! message cut: no transactionID). Devices whose log is collected log the failure too.
//! [`Spike`]s make most attempts on one server fail with 500 or 503 for a while, a 503 spike
//! with w3wp.exe crashes every 45 s and, when asked, an intermediate CA certificate in the
//! server's Root store (the health fact that explains such crashes).
//!
//! Around the attempts: a load balancer probes each server's `/` every 30 s, and each server
//! reports its health facts (RA certificates, request limits, the SCEP application pool, the
//! service account) every [`TrafficPlan::health_interval_us`].
//!
//! # Time and records
//!
//! Event time starts at [`TrafficPlan::start_time_us`] and advances with the records:
//! [`TrafficPlan::events_per_second`] events happen per second of event time, so a run of N
//! events spans N / rate seconds (1,000,000 events at 1,000/s: 16.7 minutes, long enough for
//! attempts to close behind a 300 s gap while the run goes on). Every
//! [`TrafficPlan::batch_interval_us`] of event time, each collector ships what happened since as
//! one batch, made into records as the ingestor makes them (`ingestor/src/sink/record.rs`): one
//! `EndpointEvents` per endpoint of the batch, keyed by the endpoint ID, split above
//! [`TrafficPlan::max_record_bytes`], with a watermark per source read in the batch
//! (`read_from_us` its first event time, `read_up_to_us` its latest, `position` read up to) in
//! the endpoint's last record. Every source's events come in time order with increasing
//! positions; every event's ID is `SourceKey::event_id(position)`. Exactly
//! [`TrafficPlan::events`] events are produced.
//!
//! Records are the broker's unit of cost (the test broker gets slower with every record it
//! holds: `ingestor::IngestorOptions::new`): a longer batch interval or a higher rate makes
//! fewer, larger records.
//!
//! # On a topic
//!
//! [`fill_topic`] creates a topic and produces the records as fast as the broker takes them,
//! with the ingestor's producer settings plus lz4; [`fill_topic_at_rate`] paces them at a
//! number of events per second of wall time (latency runs). [`read_topic`] counts what a topic
//! holds; [`bad_records`] are the records the analyzer must count and reject.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use prost::Message as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use scepwatch_proto::time::civil_from_days;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::service_state_fact::Kind as ServiceKind;
use scepwatch_proto::v1::{
    AndroidScep, AndroidStep, AppCrash, CertRole, CertificateFact, EndpointEvents, Event,
    HealthFact, IisRequest, IisTarget, IosScep, IosStep, RequestLimitsFact, ScepMessageInfo,
    ScepMessageType, ScepOperation, ServiceAccountFact, ServiceStateFact, SourceId, SourceKind,
    Watermark,
};
use scepwatch_proto::SourceKey;

use crate::Error;

/// Header naming the schema of a record's value (as the ingestor sets it).
pub const SCHEMA_HEADER: &str = "scepwatch.schema";
/// Its value on every record of the topic.
pub const SCHEMA: &str = "scepwatch.v1.EndpointEvents";
/// The collector that reads the device logs.
pub const DEVICE_COLLECTOR: &str = "device-logs";

const S: i64 = 1_000_000;
const MS: i64 = 1_000;
const DAY_US: i64 = 86_400 * S;
/// From a device's attempt to its next.
const DEVICE_PAUSE_US: i64 = 10 * 60 * S;
/// 2026-11-20 08:00:00 UTC.
const DEFAULT_START_US: i64 = 1_795_161_600 * S;

/// A burst of failures on one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    /// Index of the endpoint (`0..endpoints`).
    pub endpoint: u32,
    /// Index of the server within the endpoint (taken modulo its server count).
    pub server: u32,
    /// 500 or 503.
    pub status: u32,
    /// Start, from [`TrafficPlan::start_time_us`], in event time.
    pub at_us: i64,
    /// Length, in event time.
    pub duration_us: i64,
    /// Share of the server's attempts that fail meanwhile (0..=1).
    pub failing_share: f64,
    /// A 503 spike comes with w3wp.exe crashes; with this, also with an intermediate CA
    /// certificate in the server's Root store (reported at the spike's start).
    pub root_intermediate: bool,
}

impl Spike {
    /// A spike of `status` on server `server` of endpoint `endpoint`, `at_us` after the start
    /// for `duration_us`, failing 90 % of the attempts; a 503 spike with its cause in the Root
    /// store.
    pub fn new(endpoint: u32, server: u32, status: u32, at_us: i64, duration_us: i64) -> Spike {
        Spike {
            endpoint,
            server,
            status,
            at_us,
            duration_us,
            failing_share: 0.9,
            root_intermediate: status == 503,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficPlan {
    /// Seed: the same plan gives the same records, byte for byte.
    pub seed: u64,
    /// SCEP endpoints.
    pub endpoints: u32,
    /// NDES servers of each endpoint (drawn per endpoint).
    pub servers_per_endpoint: RangeInclusive<u32>,
    /// Devices of each endpoint at the start. A device enrolls at most once every ten minutes
    /// of event time (its attempts stay apart by more than the analyzer's 300 s gap); when the
    /// rate needs more, more devices join.
    pub devices_per_endpoint: u32,
    /// Events to produce, exactly.
    pub events: u64,
    /// Event time of the start, µs since the epoch.
    pub start_time_us: i64,
    /// Events per second of event time over the whole fleet.
    pub events_per_second: f64,
    /// How often each collector ships a batch, in event time.
    pub batch_interval_us: i64,
    /// Largest record value; a larger endpoint group is split as the ingestor splits it.
    pub max_record_bytes: usize,
    /// Share of attempts that fail outside spikes (0..=1).
    pub failure_share: f64,
    /// Share of devices whose log is collected (0..=1).
    pub device_log_share: f64,
    /// How often each server reports its health facts, in event time.
    pub health_interval_us: i64,
    /// Failure spikes.
    pub spikes: Vec<Spike>,
}

impl TrafficPlan {
    /// `endpoints` endpoints of 1 to 3 servers and 1,000 devices each, `events` events at 1,000
    /// per second of event time from 2026-11-20 08:00 UTC, batches every 5 s, 3 % of attempts
    /// failing, a fifth of the devices with their log, health facts every 15 minutes, no spike.
    pub fn new(seed: u64, endpoints: u32, events: u64) -> TrafficPlan {
        TrafficPlan {
            seed,
            endpoints,
            servers_per_endpoint: 1..=3,
            devices_per_endpoint: 1000,
            events,
            start_time_us: DEFAULT_START_US,
            events_per_second: 1000.0,
            batch_interval_us: 5 * S,
            max_record_bytes: 900 * 1024,
            failure_share: 0.03,
            device_log_share: 0.2,
            health_interval_us: 15 * 60 * S,
            spikes: Vec::new(),
        }
    }
}

/// One endpoint of the fleet, as the records name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The endpoint ID (normalised URL), also the records' key.
    pub id: String,
    /// Published through the application proxy.
    pub app_proxy: bool,
    /// Its NDES servers' host names.
    pub servers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Android,
    Ios,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    /// CertificateRegistrationSvc answers the policy module 403.
    Forbidden,
    /// PKIOperation 500 with this Win32 status.
    Internal(u32),
    /// 503 on the first request; with a w3wp.exe crash or not.
    Unavailable(bool),
    /// 414 on a PKIOperation GET.
    TooLong,
}

/// Which log of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerLog {
    Iis,
    Application,
    Health,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Server(usize, ServerLog),
    Device(usize),
}

/// An event before its source gives it a position.
#[derive(Debug, Clone)]
enum Draft {
    Iis(Box<IisRequest>),
    Crash,
    Health(Fact, String),
    Android(AndroidScep, &'static str, String),
    Ios(IosScep, String),
}

struct Pending {
    time_us: i64,
    seq: u64,
    origin: Origin,
    draft: Draft,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Reversed: the heap pops the earliest first, ties in scheduling order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time_us, other.seq).cmp(&(self.time_us, self.seq))
    }
}

/// One stream of one host, and how far it has been read.
struct Source {
    id: SourceId,
    key: SourceKey,
    position: u64,
    first_us: Option<i64>,
    last_us: i64,
    /// Read in the batch being cut.
    touched: bool,
}

impl Source {
    fn new(collector: &str, host: &str, kind: SourceKind, path: String, position: u64) -> Source {
        let id = SourceId {
            collector: collector.to_owned(),
            host: host.to_owned(),
            kind: kind as i32,
            path,
            stream: String::new(),
        };
        Source {
            key: SourceKey::of(&id),
            id,
            position,
            first_us: None,
            last_us: 0,
            touched: false,
        }
    }

    fn watermark(&self, endpoint: &str) -> Watermark {
        Watermark {
            source: Some(self.id.clone()),
            endpoint_id: endpoint.to_owned(),
            read_from_us: self.first_us.unwrap_or(self.last_us),
            read_up_to_us: self.last_us,
            position: self.position,
        }
    }
}

struct Server {
    endpoint: usize,
    host: String,
    collector: String,
    ip: String,
    iis_day: i64,
    iis: Source,
    application: Source,
    health: Source,
    next_probe_us: i64,
    next_health_us: i64,
    w3wp_pid: u32,
    sequence: u64,
    /// Watermarks of IIS files rotated away within the batch being cut.
    rotated: Vec<Watermark>,
}

struct Device {
    endpoint: usize,
    platform: Platform,
    user_agent: String,
    ip: String,
    log: Option<Source>,
    free_at_us: i64,
    pid: u32,
}

struct Endpoint {
    info: EndpointInfo,
    servers: Vec<usize>,
    devices: Vec<usize>,
    /// The address IIS sees for devices behind the application proxy (the connector's).
    connector_ip: Option<String>,
}

/// Android phones and their builds (the Dalvik user agent names them).
const ANDROID_MODELS: [(&str, &str); 6] = [
    ("14", "Pixel 7 Build/UQ1A.240205.004"),
    ("13", "SM-G991B Build/TP1A.220624.014"),
    ("14", "SM-S918B Build/UP1A.231005.007"),
    ("12", "moto g(60) Build/S2RI32.32-20-9"),
    ("13", "Pixel 6a Build/TQ3A.230805.001"),
    ("11", "CPH2159 Build/RP1A.200720.011"),
];
/// iOS builds as `profiled` reports them: CFNetwork and Darwin versions.
const IOS_BUILDS: [(&str, &str); 4] = [
    ("1410.0.3", "22.6.0"),
    ("1492.0.1", "23.4.0"),
    ("1568.100.1", "24.0.0"),
    ("811.5.4", "16.6.0"),
];
const UA_WINDOWS: &str = "Mozilla/4.0 (compatible; Win32; NDES client)";
const STEM: &str = "/certsrv/mscep/mscep.dll";
/// Length of the W3C header IIS writes at the top of each daily file.
const IIS_HEADER_BYTES: u64 = 261;

/// A device's request to mscep.dll, as IIS logs it.
struct Call {
    method: &'static str,
    op: ScepOperation,
    query: String,
    status: u32,
    win32: u32,
    scep: Option<ScepMessageInfo>,
}

impl Call {
    /// A GET answered 200.
    fn get(op: ScepOperation, query: impl Into<String>) -> Call {
        Call {
            method: "GET",
            op,
            query: query.into(),
            status: 200,
            win32: 0,
            scep: None,
        }
    }

    /// A PKIOperation POST (its message in the body, not in the log) answered 200.
    fn post_pki() -> Call {
        Call {
            method: "POST",
            ..Call::get(ScepOperation::PkiOperation, "operation=PKIOperation")
        }
    }

    fn answered(self, status: u32, win32: u32) -> Call {
        Call {
            status,
            win32,
            ..self
        }
    }

    fn with_scep(self, scep: ScepMessageInfo) -> Call {
        Call {
            scep: Some(scep),
            ..self
        }
    }
}

/// The generator: an iterator of `(key, record)`, key the endpoint ID.
pub struct Traffic {
    plan: TrafficPlan,
    rng: ChaCha8Rng,
    endpoints: Vec<Endpoint>,
    servers: Vec<Server>,
    devices: Vec<Device>,
    device_sequence: u64,
    messages: Vec<String>,
    heap: BinaryHeap<Pending>,
    next_seq: u64,
    now_us: i64,
    budget: f64,
    scheduled: u64,
    emitted: u64,
    spikes_started: Vec<bool>,
    ready: VecDeque<(String, EndpointEvents)>,
}

impl Traffic {
    /// The fleet of `plan` and its first moment; records come from iterating.
    pub fn new(plan: TrafficPlan) -> Traffic {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let mut endpoints = Vec::new();
        let mut servers = Vec::new();
        let mut devices = Vec::new();
        let (lo, hi) = (
            *plan.servers_per_endpoint.start(),
            *plan.servers_per_endpoint.end(),
        );
        let (lo, hi) = (lo.max(1), hi.max(lo.max(1)));
        for e in 0..plan.endpoints as usize {
            let app_proxy = e % 4 == 3;
            let id = if app_proxy {
                format!("https://ndes-{e:03}-contoso.msappproxy.net{STEM}")
            } else {
                format!("https://ndes{e:03}.contoso.com{STEM}")
            };
            let count = rng.random_range(lo..=hi);
            let mut hosts = Vec::new();
            let mut ids = Vec::new();
            for s in 1..=count {
                let host = format!("NDES-{e:03}-{s}");
                let collector = host.to_ascii_lowercase();
                let start = plan.start_time_us;
                let application_base = rng.random_range(10_000..900_000);
                servers.push(Server {
                    endpoint: e,
                    iis_day: start.div_euclid(DAY_US),
                    iis: Source::new(
                        &collector,
                        &host,
                        SourceKind::Iis,
                        iis_path(start),
                        IIS_HEADER_BYTES,
                    ),
                    application: Source::new(
                        &collector,
                        &host,
                        SourceKind::EventLog,
                        "Application".to_owned(),
                        application_base,
                    ),
                    health: Source::new(
                        &collector,
                        &host,
                        SourceKind::Health,
                        "health".to_owned(),
                        0,
                    ),
                    ip: format!("10.{}.{}.{}", 1 + e / 250, e % 250, 10 + s),
                    host: host.clone(),
                    collector,
                    next_probe_us: start + rng.random_range(0..30 * S),
                    next_health_us: start + rng.random_range(0..plan.health_interval_us.max(S)),
                    w3wp_pid: rng.random_range(1000..9000),
                    sequence: 0,
                    rotated: Vec::new(),
                });
                hosts.push(host);
                ids.push(servers.len() - 1);
            }
            let mut devs = Vec::new();
            for d in 0..plan.devices_per_endpoint as usize {
                devices.push(new_device(&mut rng, plan.device_log_share, e, d));
                devs.push(devices.len() - 1);
            }
            endpoints.push(Endpoint {
                info: EndpointInfo {
                    id,
                    app_proxy,
                    servers: hosts,
                },
                servers: ids,
                devices: devs,
                connector_ip: app_proxy.then(|| format!("10.{}.250.{}", 200 + e % 50, 5)),
            });
        }
        let messages = (0..16).map(|_| pki_message(&mut rng)).collect();
        let spikes_started = vec![false; plan.spikes.len()];
        Traffic {
            now_us: plan.start_time_us,
            plan,
            rng,
            endpoints,
            servers,
            devices,
            device_sequence: 0,
            messages,
            heap: BinaryHeap::new(),
            next_seq: 0,
            budget: 0.0,
            scheduled: 0,
            emitted: 0,
            spikes_started,
            ready: VecDeque::new(),
        }
    }

    /// The endpoints, their IDs and their servers' host names.
    pub fn fleet(&self) -> Vec<EndpointInfo> {
        self.endpoints.iter().map(|e| e.info.clone()).collect()
    }

    /// Events produced so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Event time reached: every event produced so far happened before it.
    pub fn now_us(&self) -> i64 {
        self.now_us
    }

    fn schedule(&mut self, time_us: i64, origin: Origin, draft: Draft) {
        self.heap.push(Pending {
            time_us,
            seq: self.next_seq,
            origin,
            draft,
        });
        self.next_seq += 1;
        self.scheduled += 1;
        self.budget -= 1.0;
    }

    /// One batch interval: schedule what starts in it, then cut every collector's batch.
    fn tick(&mut self) {
        let t0 = self.now_us;
        let dt = self.plan.batch_interval_us.max(MS);
        let t1 = t0 + dt;
        if self.scheduled < self.plan.events {
            self.budget += self.plan.events_per_second.max(0.001) * dt as f64 / S as f64;
            self.background(t0, t1);
            self.start_spikes(t0, t1);
            let mut stalls = 0;
            while self.budget > 0.0 && self.scheduled < self.plan.events && stalls < 64 {
                if !self.attempt(t0, dt) {
                    stalls += 1;
                }
            }
        }
        let mut batches: BTreeMap<usize, Vec<(usize, Event)>> = BTreeMap::new();
        let device_collector = self.servers.len();
        while self.emitted < self.plan.events {
            match self.heap.peek() {
                Some(p) if p.time_us < t1 => {}
                _ => break,
            }
            let Some(p) = self.heap.pop() else { break };
            let (collector, endpoint, event) = self.materialize(p);
            batches
                .entry(collector)
                .or_default()
                .push((endpoint, event));
            self.emitted += 1;
        }
        for (collector, events) in batches {
            if collector == device_collector {
                self.device_sequence += 1;
                let seq = self.device_sequence;
                let mut by_endpoint: BTreeMap<usize, Vec<Event>> = BTreeMap::new();
                for (e, ev) in events {
                    by_endpoint.entry(e).or_default().push(ev);
                }
                for (e, evs) in by_endpoint {
                    let mut wms = Vec::new();
                    for &d in &self.endpoints[e].devices {
                        if let Some(log) = self.devices[d].log.as_mut() {
                            if log.touched {
                                log.touched = false;
                                wms.push(log.watermark(&self.endpoints[e].info.id));
                            }
                        }
                    }
                    self.push_records(e, DEVICE_COLLECTOR.to_owned(), seq, evs, wms);
                }
            } else {
                let server = &mut self.servers[collector];
                server.sequence += 1;
                let e = server.endpoint;
                let endpoint = &self.endpoints[e].info.id;
                let mut wms = std::mem::take(&mut server.rotated);
                for src in [&mut server.iis, &mut server.application, &mut server.health] {
                    if src.touched {
                        src.touched = false;
                        wms.push(src.watermark(endpoint));
                    }
                }
                let (name, seq) = (server.collector.clone(), server.sequence);
                let evs = events.into_iter().map(|(_, ev)| ev).collect();
                self.push_records(e, name, seq, evs, wms);
            }
        }
        self.now_us = t1;
    }

    /// Records of one endpoint's share of a batch, split like the ingestor's.
    fn push_records(
        &mut self,
        endpoint: usize,
        collector: String,
        sequence: u64,
        events: Vec<Event>,
        watermarks: Vec<Watermark>,
    ) {
        let head = EndpointEvents {
            endpoint_id: self.endpoints[endpoint].info.id.clone(),
            collector,
            batch_sequence: sequence,
            events: Vec::new(),
            watermarks: Vec::new(),
        };
        let base = head.encoded_len();
        let mut cur = head.clone();
        let mut size = base;
        for ev in events {
            let len = ev.encoded_len() + 4;
            if size + len > self.plan.max_record_bytes && size > base {
                let full = std::mem::replace(&mut cur, head.clone());
                self.ready.push_back((full.endpoint_id.clone(), full));
                size = base;
            }
            size += len;
            cur.events.push(ev);
        }
        for w in watermarks {
            let len = w.encoded_len() + 4;
            if size + len > self.plan.max_record_bytes && size > base {
                let full = std::mem::replace(&mut cur, head.clone());
                self.ready.push_back((full.endpoint_id.clone(), full));
                size = base;
            }
            size += len;
            cur.watermarks.push(w);
        }
        if size > base {
            self.ready.push_back((cur.endpoint_id.clone(), cur));
        }
    }

    /// Load-balancer probes and health reports due in `t0..t1`.
    fn background(&mut self, t0: i64, t1: i64) {
        for s in 0..self.servers.len() {
            while self.servers[s].next_probe_us < t1 {
                let at = self.servers[s].next_probe_us.max(t0);
                self.servers[s].next_probe_us = at + 30 * S;
                let lb = format!("10.{}.0.2", 1 + self.servers[s].endpoint / 250);
                let req = IisRequest {
                    method: "GET".into(),
                    uri_stem: "/".into(),
                    client_ip: lb,
                    user_agent: String::new(),
                    status: 200,
                    time_taken_ms: 1,
                    target: IisTarget::Other as i32,
                    ..Default::default()
                };
                self.schedule(
                    at,
                    Origin::Server(s, ServerLog::Iis),
                    Draft::Iis(Box::new(req)),
                );
            }
            while self.servers[s].next_health_us < t1 {
                let at = self.servers[s].next_health_us.max(t0);
                self.servers[s].next_health_us = at + self.plan.health_interval_us.max(S);
                for (k, (fact, text)) in health_facts(&self.servers[s].host, at)
                    .into_iter()
                    .enumerate()
                {
                    self.schedule(
                        at + k as i64 * MS,
                        Origin::Server(s, ServerLog::Health),
                        Draft::Health(fact, text),
                    );
                }
            }
        }
    }

    fn server_of(&self, spike: &Spike) -> Option<usize> {
        let e = self.endpoints.get(spike.endpoint as usize)?;
        let n = e.servers.len();
        (n > 0).then(|| e.servers[spike.server as usize % n])
    }

    /// Crashes and the Root-store fact of 503 spikes that begin before `t1`.
    fn start_spikes(&mut self, t0: i64, t1: i64) {
        for k in 0..self.plan.spikes.len() {
            let spike = self.plan.spikes[k].clone();
            let start = self.plan.start_time_us + spike.at_us;
            if self.spikes_started[k] || start >= t1 {
                continue;
            }
            self.spikes_started[k] = true;
            let Some(s) = self.server_of(&spike) else {
                continue;
            };
            if spike.status != 503 {
                continue;
            }
            let begin = start.max(t0);
            if spike.root_intermediate {
                let host = self.servers[s].host.clone();
                let (fact, text) = root_intermediate_fact(&host, begin);
                self.schedule(
                    begin,
                    Origin::Server(s, ServerLog::Health),
                    Draft::Health(fact, text),
                );
            }
            let mut at = begin + 5 * S;
            while at < start + spike.duration_us {
                self.schedule(at, Origin::Server(s, ServerLog::Application), Draft::Crash);
                at += 45 * S;
            }
        }
    }

    fn spike_status(&mut self, server: usize, at: i64) -> Option<u32> {
        for k in 0..self.plan.spikes.len() {
            let spike = &self.plan.spikes[k];
            let start = self.plan.start_time_us + spike.at_us;
            let (share, status) = (spike.failing_share, spike.status);
            if at >= start
                && at < start + spike.duration_us
                && self.server_of(spike) == Some(server)
                && self.rng.random::<f64>() < share
            {
                return Some(status);
            }
        }
        None
    }

    /// Schedules one attempt starting in `t0..t0+dt`; false when the endpoint has no server.
    fn attempt(&mut self, t0: i64, dt: i64) -> bool {
        if self.endpoints.is_empty() {
            return false;
        }
        let e = self.rng.random_range(0..self.endpoints.len());
        if self.endpoints[e].servers.is_empty() {
            return false;
        }
        let start = t0 + self.rng.random_range(0..dt);
        let mut device = None;
        for _ in 0..8 {
            if self.endpoints[e].devices.is_empty() {
                break;
            }
            let k = self.rng.random_range(0..self.endpoints[e].devices.len());
            let d = self.endpoints[e].devices[k];
            if self.devices[d].free_at_us <= start {
                device = Some(d);
                break;
            }
        }
        let d = match device {
            Some(d) => d,
            None => {
                // Every device drawn is still enrolling or pausing: one more device joins the
                // endpoint, so the plan's rate holds whatever the device count.
                let n = self.endpoints[e].devices.len();
                let share = self.plan.device_log_share;
                self.devices.push(new_device(&mut self.rng, share, e, n));
                self.endpoints[e].devices.push(self.devices.len() - 1);
                self.devices.len() - 1
            }
        };
        self.devices[d].free_at_us = start + DEVICE_PAUSE_US;
        let k = self.rng.random_range(0..self.endpoints[e].servers.len());
        let s = self.endpoints[e].servers[k];
        let outcome = match self.spike_status(s, start) {
            Some(503) => Outcome::Unavailable(false),
            Some(_) => Outcome::Internal(0),
            None if self.rng.random::<f64>() < self.plan.failure_share => {
                match self.rng.random_range(0..8) {
                    0 | 1 => Outcome::Unavailable(self.rng.random_bool(0.5)),
                    2 => Outcome::Internal(1346),
                    3 | 4 => Outcome::Internal(0),
                    5 | 6 => Outcome::Forbidden,
                    _ => Outcome::TooLong,
                }
            }
            None => Outcome::Success,
        };
        match self.devices[d].platform {
            Platform::Android => self.android(e, s, d, start, outcome),
            Platform::Ios => self.ios(e, s, d, start, outcome),
            Platform::Windows => self.windows(s, d, start, outcome),
        }
        true
    }

    /// The address IIS logs for device `d`.
    fn client_ip(&self, d: usize) -> String {
        let dev = &self.devices[d];
        match &self.endpoints[dev.endpoint].connector_ip {
            Some(ip) => ip.clone(),
            None => dev.ip.clone(),
        }
    }

    /// Schedules a request of device `d` to mscep.dll on server `s`.
    fn mscep(&mut self, s: usize, d: usize, at: i64, call: Call) {
        let query_length = call.query.len() as u32;
        let req = IisRequest {
            method: call.method.into(),
            uri_stem: STEM.into(),
            uri_query: call.query,
            client_ip: self.client_ip(d),
            user_agent: self.devices[d].user_agent.clone(),
            status: call.status,
            win32_status: call.win32,
            time_taken_ms: self.rng.random_range(3..400),
            target: IisTarget::Mscep as i32,
            operation: call.op as i32,
            query_length,
            scep: call.scep,
            ..Default::default()
        };
        self.schedule(
            at,
            Origin::Server(s, ServerLog::Iis),
            Draft::Iis(Box::new(req)),
        );
    }

    /// What a failing outcome adds on the server besides the failing request.
    fn server_extras(&mut self, s: usize, at: i64, outcome: Outcome) {
        match outcome {
            Outcome::Forbidden => {
                let req = IisRequest {
                    method: "POST".into(),
                    uri_stem: "/CertificateRegistrationSvc/Certificate/VerifyRequest".into(),
                    client_ip: "::1".into(),
                    status: 403,
                    time_taken_ms: 15,
                    target: IisTarget::CertRegistrationSvc as i32,
                    ..Default::default()
                };
                self.schedule(
                    at + 300 * MS,
                    Origin::Server(s, ServerLog::Iis),
                    Draft::Iis(Box::new(req)),
                );
            }
            Outcome::Unavailable(true) => {
                self.schedule(
                    at + 200 * MS,
                    Origin::Server(s, ServerLog::Application),
                    Draft::Crash,
                );
            }
            _ => {}
        }
    }

    fn pki_get(&mut self, tx: Option<&str>, base64_tx: bool) -> (String, ScepMessageInfo) {
        let k = self.rng.random_range(0..self.messages.len());
        let query = format!("operation=PKIOperation&message={}", self.messages[k]);
        let info = match tx {
            Some(tx) => ScepMessageInfo {
                transaction_id: tx.to_owned(),
                message_type: ScepMessageType::PkcsReq as i32,
                sender_nonce: (0..16).map(|_| self.rng.random::<u8>()).collect(),
                fail_info: -1,
                signer_subject: "CN=user".into(),
                signer_issuer: "CN=user".into(),
                digest_algorithm: if base64_tx { "sha256" } else { "sha1" }.into(),
                signature_algorithm: "rsaEncryption".into(),
                complete: true,
                bytes_available: 2734,
                bytes_declared: 2734,
                ..Default::default()
            },
            None => ScepMessageInfo {
                fail_info: -1,
                bytes_available: 1850,
                bytes_declared: 2734,
                missing: vec!["transactionID".into(), "messageType".into()],
                problem: "truncated after 1,850 of 2,734 bytes; transactionID not present".into(),
                ..Default::default()
            },
        };
        (query, info)
    }

    fn android(&mut self, e: usize, s: usize, d: usize, t: i64, outcome: Outcome) {
        let tx = hex_id(&mut self.rng);
        let url = format!(
            "{}?operation=GetCACaps&message=ca",
            self.endpoints[e].info.id
        );
        let caps = || "operation=GetCACaps&message=ca".to_owned();
        let logged = self.devices[d].log.is_some();
        let dev = Origin::Device(d);
        if logged {
            let a = AndroidScep {
                step: AndroidStep::RequestsPending as i32,
                request_count: 1,
                ..Default::default()
            };
            self.schedule(
                t,
                dev,
                Draft::Android(a, CERTMGR, "There are 1 requests".into()),
            );
            let a = AndroidScep {
                step: AndroidStep::Sending as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: url.clone(),
                ..Default::default()
            };
            self.schedule(
                t + S,
                dev,
                Draft::Android(a, GET_TRANSPORT, format!("Sending GetCACaps(ca) to {url}")),
            );
        }
        if let Outcome::Unavailable(_) = outcome {
            self.mscep(
                s,
                d,
                t + 2 * S,
                Call::get(ScepOperation::GetCaCaps, caps()).answered(503, 0),
            );
            self.server_extras(s, t + 2 * S, outcome);
            if logged {
                let status = "503 Service Unavailable";
                let a = AndroidScep {
                    step: AndroidStep::Received as i32,
                    operation: ScepOperation::GetCaCaps as i32,
                    url: url.clone(),
                    http_status: status.into(),
                    http_status_code: 503,
                    error: status.into(),
                    ..Default::default()
                };
                self.schedule(
                    t + 3 * S,
                    dev,
                    Draft::Android(
                        a,
                        GET_TRANSPORT,
                        format!("Received '{status}' when sending GetCACaps(ca) to {url}"),
                    ),
                );
            }
            return;
        }
        self.mscep(s, d, t + 2 * S, Call::get(ScepOperation::GetCaCaps, caps()));
        self.mscep(
            s,
            d,
            t + 8 * S,
            Call::get(ScepOperation::GetCaCert, "operation=GetCACert&message=ca"),
        );
        let cut = self.rng.random_bool(0.1) || outcome == Outcome::TooLong;
        let (query, info) = self.pki_get((!cut).then_some(tx.as_str()), false);
        let (status, win32) = match outcome {
            Outcome::Internal(w) => (500, w),
            Outcome::TooLong => (414, 0),
            _ => (200, 0),
        };
        self.mscep(
            s,
            d,
            t + 16 * S,
            Call::get(ScepOperation::PkiOperation, query)
                .answered(status, win32)
                .with_scep(info),
        );
        self.server_extras(s, t + 16 * S, outcome);
        if !logged {
            return;
        }
        let a = AndroidScep {
            step: AndroidStep::Received as i32,
            operation: ScepOperation::GetCaCaps as i32,
            url: url.clone(),
            http_status: "200 OK".into(),
            http_status_code: 200,
            ..Default::default()
        };
        self.schedule(
            t + 6 * S,
            dev,
            Draft::Android(
                a,
                GET_TRANSPORT,
                format!("Received '200 OK' when sending GetCACaps(ca) to {url}"),
            ),
        );
        let nonce = hex_nonce(&mut self.rng);
        let a = AndroidScep {
            step: AndroidStep::Encoding as i32,
            transaction_id: tx.clone(),
            sender_nonce: nonce.clone(),
            message_type: "PKCS_REQ".into(),
            ..Default::default()
        };
        self.schedule(
            t + 13 * S,
            dev,
            Draft::Android(
                a,
                "org.jscep.message.PkiMessageEncoder",
                format!(
                    "Encoding message: org.jscep.message.PkcsReq@2b06f45f[messageData=org.bouncycastle.pkcs.PKCS10CertificationRequest@699b3cd,messageType=PKCS_REQ,senderNonce=Nonce [{nonce}],transId={tx}]"
                ),
            ),
        );
        let a = AndroidScep {
            step: AndroidStep::Signing as i32,
            signer_dn: "CN=user".into(),
            ..Default::default()
        };
        self.schedule(
            t + 14 * S,
            dev,
            Draft::Android(
                a,
                "org.jscep.message.PkiMessageEncoder",
                "Signing pkiMessage using key belonging to [dn=CN=user; serial=1]".into(),
            ),
        );
        let a = AndroidScep {
            step: AndroidStep::SendingPkiMessage as i32,
            ..Default::default()
        };
        self.schedule(
            t + 15 * S,
            dev,
            Draft::Android(
                a,
                GET_TRANSPORT,
                "Sending org.bouncycastle.cms.CMSSignedData@ad57775".into(),
            ),
        );
        let failure = match outcome {
            Outcome::Internal(_) => Some((500, "500 Internal Server Error")),
            Outcome::TooLong => Some((414, "414 Request-URI Too Long")),
            _ => None,
        };
        if let Some((code, status)) = failure {
            let pki_url = format!("{}?operation=PKIOperation", self.endpoints[e].info.id);
            let a = AndroidScep {
                step: AndroidStep::Received as i32,
                operation: ScepOperation::PkiOperation as i32,
                url: pki_url.clone(),
                http_status: status.into(),
                http_status_code: code,
                error: status.into(),
                ..Default::default()
            };
            self.schedule(
                t + 17 * S,
                dev,
                Draft::Android(
                    a,
                    GET_TRANSPORT,
                    format!("Received '{status}' when sending PKIOperation to {pki_url}"),
                ),
            );
        }
    }

    fn ios(&mut self, e: usize, s: usize, d: usize, t: i64, outcome: Outcome) {
        let endpoint = self.endpoints[e].info.id.clone();
        let logged = self.devices[d].log.is_some();
        let dev = Origin::Device(d);
        let cacert = "operation=GetCACert&message=SCEP%20Authority".to_owned();
        let request = |op: ScepOperation, query: &str| {
            let url = format!("{endpoint}?{query}");
            let i = IosScep {
                step: IosStep::UrlRequest as i32,
                process: "profiled".into(),
                url: url.clone(),
                operation: op as i32,
                ..Default::default()
            };
            Draft::Ios(i, format!("Performing synchronous URL request: {url}"))
        };
        if logged {
            self.schedule(t, dev, request(ScepOperation::GetCaCert, &cacert));
        }
        let first_status = match outcome {
            Outcome::Unavailable(_) => Some((503, 0)),
            Outcome::Internal(1346) => Some((500, 1346)),
            _ => None,
        };
        if let Some((status, win32)) = first_status {
            self.mscep(
                s,
                d,
                t + S,
                Call::get(ScepOperation::GetCaCert, cacert).answered(status, win32),
            );
            self.server_extras(s, t + S, outcome);
            if logged {
                let i = IosScep {
                    step: IosStep::Error as i32,
                    process: "profiled".into(),
                    http_status_code: status,
                    error: format!("SCEP server returned HTTP status {status}"),
                    ..Default::default()
                };
                let text = format!("SCEP server returned HTTP status {status}");
                self.schedule(t + 2 * S, dev, Draft::Ios(i, text));
            }
            return;
        }
        self.mscep(s, d, t + S, Call::get(ScepOperation::GetCaCert, cacert));
        let caps = "operation=GetCACaps&message=SCEP%20Authority".to_owned();
        if logged {
            self.schedule(t + 1900 * MS, dev, request(ScepOperation::GetCaCaps, &caps));
        }
        self.mscep(s, d, t + 2 * S, Call::get(ScepOperation::GetCaCaps, caps));
        let get = outcome == Outcome::TooLong || self.rng.random_bool(1.0 / 3.0);
        let (status, win32) = match outcome {
            Outcome::Internal(w) => (500, w),
            Outcome::TooLong => (414, 0),
            _ => (200, 0),
        };
        if get {
            let tx = base64_id(&mut self.rng);
            let cut = outcome == Outcome::TooLong;
            let (query, info) = self.pki_get((!cut).then_some(tx.as_str()), true);
            if logged {
                let i = IosScep {
                    step: IosStep::SendingCsrGet as i32,
                    process: "profiled".into(),
                    ..Default::default()
                };
                self.schedule(
                    t + 3900 * MS,
                    dev,
                    Draft::Ios(i, "Sending CSR via GET.".into()),
                );
                let url = format!("{endpoint}?{}", &query[..query.len().min(480)]);
                let i = IosScep {
                    step: IosStep::UrlRequest as i32,
                    process: "profiled".into(),
                    url: url.clone(),
                    operation: ScepOperation::PkiOperation as i32,
                    scep: Some(info.clone()),
                    ..Default::default()
                };
                self.schedule(
                    t + 3950 * MS,
                    dev,
                    Draft::Ios(i, format!("Performing synchronous URL request: {url}")),
                );
            }
            self.mscep(
                s,
                d,
                t + 4 * S,
                Call::get(ScepOperation::PkiOperation, query)
                    .answered(status, win32)
                    .with_scep(info),
            );
        } else {
            if logged {
                let i = IosScep {
                    step: IosStep::SendingCsrPost as i32,
                    process: "profiled".into(),
                    ..Default::default()
                };
                self.schedule(
                    t + 3900 * MS,
                    dev,
                    Draft::Ios(i, "Sending CSR via POST.".into()),
                );
            }
            self.mscep(s, d, t + 4 * S, Call::post_pki().answered(status, win32));
        }
        self.server_extras(s, t + 4 * S, outcome);
        if !logged {
            return;
        }
        let (step, text, code) = match (status, outcome) {
            (200, Outcome::Forbidden) => (
                IosStep::Error,
                "Profile installation failed: The SCEP server returned an invalid response."
                    .to_owned(),
                0,
            ),
            (200, _) => (
                IosStep::RetrieveIssued,
                "Attempting to retrieve issued certificate...".to_owned(),
                0,
            ),
            _ => (
                IosStep::Error,
                format!("SCEP server returned HTTP status {status}"),
                status,
            ),
        };
        let i = IosScep {
            step: step as i32,
            process: "profiled".into(),
            http_status_code: code,
            error: if step == IosStep::Error {
                text.clone()
            } else {
                String::new()
            },
            ..Default::default()
        };
        self.schedule(t + 5 * S, dev, Draft::Ios(i, text));
    }

    fn windows(&mut self, s: usize, d: usize, t: i64, outcome: Outcome) {
        if let Outcome::Unavailable(_) = outcome {
            self.mscep(
                s,
                d,
                t,
                Call::get(
                    ScepOperation::GetCaCaps,
                    "operation=GetCACaps&message=default",
                )
                .answered(503, 0),
            );
            self.server_extras(s, t, outcome);
            return;
        }
        self.mscep(
            s,
            d,
            t,
            Call::get(
                ScepOperation::GetCaCaps,
                "operation=GetCACaps&message=default",
            ),
        );
        self.mscep(
            s,
            d,
            t + 300 * MS,
            Call::get(
                ScepOperation::GetCaCert,
                "operation=GetCACert&message=default",
            ),
        );
        let (status, win32) = match outcome {
            Outcome::Internal(w) => (500, w),
            Outcome::TooLong => (414, 0),
            _ => (200, 0),
        };
        if outcome == Outcome::TooLong {
            let (query, info) = self.pki_get(None, false);
            self.mscep(
                s,
                d,
                t + 900 * MS,
                Call::get(ScepOperation::PkiOperation, query)
                    .answered(status, win32)
                    .with_scep(info),
            );
        } else {
            self.mscep(s, d, t + 900 * MS, Call::post_pki().answered(status, win32));
        }
        self.server_extras(s, t + 900 * MS, outcome);
    }

    /// Gives a scheduled event its source, position and ID.
    fn materialize(&mut self, p: Pending) -> (usize, usize, Event) {
        let t = p.time_us;
        match p.origin {
            Origin::Server(s, log) => {
                let server = &mut self.servers[s];
                let e = server.endpoint;
                let endpoint = self.endpoints[e].info.id.clone();
                if log == ServerLog::Iis && t.div_euclid(DAY_US) != server.iis_day {
                    // IIS starts a new file at midnight UTC.
                    server.iis_day = t.div_euclid(DAY_US);
                    let next = Source::new(
                        &server.collector,
                        &server.host,
                        SourceKind::Iis,
                        iis_path(t),
                        IIS_HEADER_BYTES,
                    );
                    let old = std::mem::replace(&mut server.iis, next);
                    if old.touched {
                        server.rotated.push(old.watermark(&endpoint));
                    }
                }
                let (payload, excerpt, step) = match p.draft {
                    Draft::Iis(mut req) => {
                        req.server_ip = server.ip.clone();
                        req.server_port = 443;
                        let line = iis_line(t, &req);
                        req.uri_query = cut(&req.uri_query, 512).to_owned();
                        let step = line.len() as u64 + 2;
                        (
                            Payload::Iis(*req),
                            cut(&line, scepwatch_proto::MAX_EXCERPT).to_owned(),
                            step,
                        )
                    }
                    Draft::Crash => {
                        let pid = server.w3wp_pid;
                        server.w3wp_pid += 4;
                        let c = AppCrash {
                            application: "w3wp.exe".into(),
                            application_version: "10.0.17763.1".into(),
                            module: "ntdll.dll".into(),
                            module_version: "10.0.17763.5830".into(),
                            exception_code: "0xc0000005".into(),
                            fault_offset: "0x000000000009d2a4".into(),
                            process_id: pid,
                        };
                        let text = format!(
                            "Faulting application name: w3wp.exe, version: 10.0.17763.1, time stamp: 0x5b9c9c8e Faulting module name: ntdll.dll, version: 10.0.17763.5830, time stamp: 0x8d1f2c3a Exception code: 0xc0000005 Fault offset: 0x000000000009d2a4 Faulting process id: {pid:#x}"
                        );
                        (Payload::AppCrash(c), text, 1)
                    }
                    Draft::Health(fact, text) => {
                        (Payload::Health(HealthFact { fact: Some(fact) }), text, 1)
                    }
                    Draft::Android(..) | Draft::Ios(..) => {
                        unreachable!("device drafts have device origins")
                    }
                };
                let src = match log {
                    ServerLog::Iis => &mut server.iis,
                    ServerLog::Application => &mut server.application,
                    ServerLog::Health => &mut server.health,
                };
                let event = take(src, t, endpoint, excerpt, payload, step);
                (s, e, event)
            }
            Origin::Device(d) => {
                let dev = &mut self.devices[d];
                let e = dev.endpoint;
                let endpoint = self.endpoints[e].info.id.clone();
                let (payload, line) = match p.draft {
                    Draft::Android(a, component, message) => {
                        let line = format!(
                            "{}  VERB  Event  {component}  {}    10  {message}",
                            android_time(t),
                            dev.pid
                        );
                        (Payload::Android(a), line)
                    }
                    Draft::Ios(i, message) => {
                        let line = format!(
                            "{}+0000  0x1a2b3c   Debug       0x0                  {}    0    profiled: [com.apple.ManagedClient:SCEP] {message}",
                            ios_time(t),
                            dev.pid
                        );
                        (Payload::Ios(i), line)
                    }
                    _ => unreachable!("server drafts have server origins"),
                };
                let step = line.len() as u64 + 1;
                let excerpt = cut(&line, scepwatch_proto::MAX_EXCERPT).to_owned();
                let Some(src) = dev.log.as_mut() else {
                    unreachable!("only devices with a log get device events")
                };
                let event = take(src, t, endpoint, excerpt, payload, step);
                (self.servers.len(), e, event)
            }
        }
    }
}

/// Device `d` of endpoint `e`: its platform, user agent, address and whether its log is
/// collected.
fn new_device(rng: &mut ChaCha8Rng, log_share: f64, e: usize, d: usize) -> Device {
    let roll = rng.random::<f64>();
    let platform = if roll < 0.5 {
        Platform::Android
    } else if roll < 0.85 {
        Platform::Ios
    } else {
        Platform::Windows
    };
    let user_agent = match platform {
        Platform::Android => {
            let (v, m) = ANDROID_MODELS[rng.random_range(0..ANDROID_MODELS.len())];
            format!("Dalvik/2.1.0 (Linux; U; Android {v}; {m})")
        }
        Platform::Ios => {
            let (cf, darwin) = IOS_BUILDS[rng.random_range(0..IOS_BUILDS.len())];
            format!("profiled/1.0 CFNetwork/{cf} Darwin/{darwin}")
        }
        Platform::Windows => UA_WINDOWS.to_owned(),
    };
    let host = match platform {
        Platform::Android => format!("android-{e:03}-{d:05}"),
        Platform::Ios => format!("iphone-{e:03}-{d:05}"),
        Platform::Windows => format!("win-{e:03}-{d:05}"),
    };
    let logged = platform != Platform::Windows && rng.random::<f64>() < log_share;
    let log = logged.then(|| match platform {
        Platform::Ios => Source::new(
            DEVICE_COLLECTOR,
            &host,
            SourceKind::IosConsole,
            "profiled.log".to_owned(),
            0,
        ),
        _ => Source::new(
            DEVICE_COLLECTOR,
            &host,
            SourceKind::AndroidOmadm,
            "omadmlog.log".to_owned(),
            0,
        ),
    });
    Device {
        endpoint: e,
        platform,
        user_agent,
        ip: format!(
            "172.{}.{}.{}",
            16 + (e % 16),
            rng.random_range(0..=255),
            rng.random_range(1..=254)
        ),
        log,
        free_at_us: i64::MIN,
        pid: rng.random_range(2000..30000),
    }
}

/// The next event of `src`: its ID from the source's position, then the position moves on.
fn take(
    src: &mut Source,
    time_us: i64,
    endpoint_id: String,
    excerpt: String,
    payload: Payload,
    step: u64,
) -> Event {
    let position = src.position;
    src.position += step;
    src.first_us.get_or_insert(time_us);
    src.last_us = src.last_us.max(time_us);
    src.touched = true;
    Event {
        id: src.key.event_id(position).to_vec(),
        source: Some(src.id.clone()),
        position,
        event_time_us: time_us,
        // Collectors read a line about a second after it is written.
        observed_time_us: time_us + 900 * MS,
        endpoint_id,
        excerpt,
        payload: Some(payload),
    }
}

impl Iterator for Traffic {
    type Item = (String, EndpointEvents);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            if self.emitted >= self.plan.events {
                return None;
            }
            self.tick();
        }
    }
}

/// The Android OMADM components of the lines.
const CERTMGR: &str = "com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager";
const GET_TRANSPORT: &str = "org.jscep.transport.UrlConnectionGetTransport";

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Calendar fields of a timestamp: (year, month, day, hour, minute, second, micros).
fn civil(us: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = us.div_euclid(DAY_US);
    let rest = us.rem_euclid(DAY_US);
    let (y, m, d) = civil_from_days(days);
    let secs = rest / S;
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
        (rest % S) as u32,
    )
}

fn iis_path(us: i64) -> String {
    let (y, m, d, ..) = civil(us);
    format!(
        "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex{:02}{m:02}{d:02}.log",
        y % 100
    )
}

/// An IIS W3C line with the default fields, as IIS writes it (spaces in the user agent as `+`).
fn iis_line(t: i64, r: &IisRequest) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    let dash = |v: &str| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.replace(' ', "+")
        }
    };
    format!(
        "{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} {} {} {} {} {} - {} {} - {} {} {} {}",
        r.server_ip,
        r.method,
        r.uri_stem,
        dash(&r.uri_query),
        r.server_port,
        r.client_ip,
        dash(&r.user_agent),
        r.status,
        r.substatus,
        r.win32_status,
        r.time_taken_ms
    )
}

fn android_time(t: i64) -> String {
    let (y, mo, d, h, mi, s, us) = civil(t);
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}0")
}

fn ios_time(t: i64) -> String {
    let (y, mo, d, h, mi, s, us) = civil(t);
    format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
}

/// A jscep transaction ID: 40 upper-case hex digits.
fn hex_id(rng: &mut ChaCha8Rng) -> String {
    (0..20)
        .map(|_| format!("{:02X}", rng.random::<u8>()))
        .collect()
}

fn hex_nonce(rng: &mut ChaCha8Rng) -> String {
    (0..16)
        .map(|_| format!("{:02X}", rng.random::<u8>()))
        .collect()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// An iOS transaction ID: base64 text of 32 bytes.
fn base64_id(rng: &mut ChaCha8Rng) -> String {
    let mut s: String = (0..43)
        .map(|_| BASE64[rng.random_range(0..64)] as char)
        .collect();
    s.push('=');
    s
}

/// The percent-encoded base64 of a PKCS#7 SignedData as a PKIOperation GET carries it (about
/// 3.6 KB; IIS logs it whole, the event keeps 512 bytes of the query and 2 KiB of the line).
fn pki_message(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::from("MIIKSgYJKoZIhvcNAQcCoIIKOzCCCjcCAQExDzANBglghkgBZQMEAgEFADCCA");
    while s.len() < 3600 {
        match BASE64[rng.random_range(0..64)] {
            b'+' => s.push_str("%2B"),
            b'/' => s.push_str("%2F"),
            c => s.push(c as char),
        }
    }
    s.push_str("%3D");
    s
}

/// What a server's health report holds: its two RA certificates, request limits, the SCEP
/// application pool and the service account, all healthy.
fn health_facts(host: &str, at: i64) -> Vec<(Fact, String)> {
    let year = 365 * DAY_US;
    let thumb = |n: u8| {
        let digest = xxhash_of(host, n);
        format!("{digest:032X}{:08X}", n as u32 * 0x1111)
    };
    let cert = |role: CertRole, n: u8, subject: &str, eku: &[&str]| CertificateFact {
        role: role as i32,
        store: "LocalMachine\\My".into(),
        thumbprint: thumb(n),
        subject: subject.into(),
        issuer: "CN=Contoso Issuing CA, DC=contoso, DC=com".into(),
        not_before_us: at - year,
        not_after_us: at + year,
        enhanced_key_usage: eku.iter().map(|s| s.to_string()).collect(),
        dns_names: vec![],
    };
    vec![
        (
            Fact::Certificate(cert(
                CertRole::RaEncryption,
                1,
                &format!("CN={host}-MSCEP-RA, O=Contoso, C=US"),
                &["1.3.6.1.4.1.311.20.2.1"],
            )),
            format!("certificate MSCEP-RA (CEP Encryption) of {host}"),
        ),
        (
            Fact::Certificate(cert(
                CertRole::RaSigning,
                2,
                &format!("CN={host}-MSCEP-RA, O=Contoso, C=US"),
                &["1.3.6.1.4.1.311.20.2.1"],
            )),
            format!("certificate MSCEP-RA (Exchange Enrollment Agent) of {host}"),
        ),
        (
            Fact::RequestLimits(RequestLimitsFact {
                max_url: 65534,
                max_query_string: 65534,
                max_field_length: 65534,
                max_request_bytes: 65534,
            }),
            "requestLimits maxUrl=65534 maxQueryString=65534; HTTP MaxFieldLength=65534 MaxRequestBytes=65534".into(),
        ),
        (
            Fact::Service(ServiceStateFact {
                kind: ServiceKind::AppPool as i32,
                name: "SCEP".into(),
                display_name: "SCEP".into(),
                state: "Started".into(),
                start_type: String::new(),
            }),
            "application pool SCEP: Started".into(),
        ),
        (
            Fact::ServiceAccount(ServiceAccountFact {
                account: "CONTOSO\\svc-ndes".into(),
                password_expires_us: at + year,
                ..Default::default()
            }),
            "service account CONTOSO\\svc-ndes".into(),
        ),
    ]
}

/// The fact that explains a 503 spike's crashes: an intermediate CA in LocalMachine\Root.
fn root_intermediate_fact(host: &str, at: i64) -> (Fact, String) {
    let fact = CertificateFact {
        role: CertRole::RootStoreIntermediate as i32,
        store: "LocalMachine\\Root".into(),
        thumbprint: format!("{:032X}ABCDEF01", xxhash_of(host, 9)),
        subject: "CN=Contoso Issuing CA, DC=contoso, DC=com".into(),
        issuer: "CN=Contoso Root CA, DC=contoso, DC=com".into(),
        not_before_us: at - 365 * DAY_US,
        not_after_us: at + 5 * 365 * DAY_US,
        enhanced_key_usage: vec![],
        dns_names: vec![],
    };
    (
        Fact::Certificate(fact),
        "certificate CN=Contoso Issuing CA in LocalMachine\\Root (not self-signed)".into(),
    )
}

/// A stable 128-bit number for thumbprints (the event-ID digest of a made-up source).
fn xxhash_of(host: &str, n: u8) -> u128 {
    let id = SourceId {
        host: host.to_owned(),
        path: "thumbprint".into(),
        ..Default::default()
    };
    u128::from_le_bytes(SourceKey::of(&id).event_id(u64::from(n)))
}

// ---------------------------------------------------------------------------------------------
// Records the analyzer must reject
// ---------------------------------------------------------------------------------------------

/// Why a [`BadRecord`] is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    /// The value is not a decodable `EndpointEvents` (garbage, or a record cut short).
    Undecodable,
    /// A valid `EndpointEvents` under a schema header the analyzer does not know
    /// (`scepwatch.v2.EndpointEvents`).
    UnknownSchema,
    /// Events whose time ClickHouse's `DateTime` cannot hold: year 1900, year 2200, the far
    /// future (`i64::MAX` µs); with one good event beside them.
    AbsurdTime,
    /// An event without a payload (an unknown payload version reads as none); with one good
    /// event beside it.
    NoPayload,
}

/// One record to put on the topic for the rejects test.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRecord {
    /// What is wrong with it.
    pub kind: BadKind,
    /// Its key (an endpoint ID).
    pub key: String,
    /// Its value.
    pub value: Vec<u8>,
    /// Its `scepwatch.schema` header.
    pub schema: String,
    /// Events in it that must be rejected one by one (0 when the whole record is rejected).
    pub bad_events: usize,
    /// Events in it that are fine.
    pub good_events: usize,
}

/// Records the analyzer must count and reject (and go on): two undecodable values, a record
/// under an unknown schema, one with absurd event times and one with an event without a
/// payload, all keyed by `endpoint`, their good events at `time_us`.
pub fn bad_records(endpoint: &str, time_us: i64) -> Vec<BadRecord> {
    let mut src = Source::new(
        "ndes-bad",
        "NDES-BAD",
        SourceKind::Iis,
        iis_path(time_us),
        IIS_HEADER_BYTES,
    );
    let good = |src: &mut Source, t: i64| {
        let req = IisRequest {
            server_ip: "10.9.9.9".into(),
            server_port: 443,
            method: "GET".into(),
            uri_stem: STEM.into(),
            uri_query: "operation=GetCACaps&message=ca".into(),
            client_ip: "172.16.9.9".into(),
            user_agent: "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/UQ1A.240205.004)".into(),
            status: 200,
            time_taken_ms: 12,
            target: IisTarget::Mscep as i32,
            operation: ScepOperation::GetCaCaps as i32,
            query_length: 30,
            ..Default::default()
        };
        let line = iis_line(t, &req);
        let step = line.len() as u64 + 2;
        take(src, t, endpoint.to_owned(), line, Payload::Iis(req), step)
    };
    let record = |events: Vec<Event>| EndpointEvents {
        endpoint_id: endpoint.to_owned(),
        collector: "ndes-bad".into(),
        batch_sequence: 1,
        events,
        watermarks: vec![],
    };
    let bad_record = |kind, value, schema: &str, bad_events, good_events| BadRecord {
        kind,
        key: endpoint.to_owned(),
        value,
        schema: schema.to_owned(),
        bad_events,
        good_events,
    };

    let valid = record(vec![good(&mut src, time_us), good(&mut src, time_us + S)]).encode_to_vec();
    let mut out = vec![
        // Field 1 (endpoint_id) announcing 4 GiB of text in a six-byte value.
        bad_record(
            BadKind::Undecodable,
            vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
            SCHEMA,
            0,
            0,
        ),
        // A real record cut in the middle of its first event.
        bad_record(
            BadKind::Undecodable,
            valid[..valid.len() / 2].to_vec(),
            SCHEMA,
            0,
            0,
        ),
    ];
    let v2 = record(vec![good(&mut src, time_us + 2 * S)]).encode_to_vec();
    out.push(bad_record(
        BadKind::UnknownSchema,
        v2,
        "scepwatch.v2.EndpointEvents",
        0,
        1,
    ));

    let y1900 = -2_208_988_800 * S;
    let y2200 = 7_258_118_400 * S;
    let mut absurd = Vec::new();
    for t in [y1900, y2200, i64::MAX] {
        let mut e = good(&mut src, time_us + 3 * S);
        e.event_time_us = t;
        absurd.push(e);
    }
    absurd.push(good(&mut src, time_us + 4 * S));
    out.push(bad_record(
        BadKind::AbsurdTime,
        record(absurd).encode_to_vec(),
        SCHEMA,
        3,
        1,
    ));

    let mut bare = good(&mut src, time_us + 5 * S);
    bare.payload = None;
    let fine = good(&mut src, time_us + 6 * S);
    out.push(bad_record(
        BadKind::NoPayload,
        record(vec![bare, fine]).encode_to_vec(),
        SCHEMA,
        1,
        1,
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// On a topic
// ---------------------------------------------------------------------------------------------

/// What a fill put on the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct FillReport {
    /// The topic.
    pub topic: String,
    /// Records delivered.
    pub records: u64,
    /// Events in them.
    pub events: u64,
    /// Bytes of the record values (before compression).
    pub bytes: u64,
    /// From the first send to the last delivery report.
    pub elapsed: Duration,
}

impl FillReport {
    /// Events per second of wall time.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for FillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} records, {} events, {:.1} MB in {:.2} s ({:.0} events/s, {:.0} records/s)",
            self.topic,
            self.records,
            self.events,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.events_per_second(),
            self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
        )
    }
}

/// Runs a future on this thread (delivery reports and admin answers arrive from librdkafka's
/// own threads).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Creates `topic` with `partitions` (replication 1); a topic that exists already is left as
/// it is.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = block_on(admin.create_topics([&new], &opts))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::Process(format!("creating topic {name}: {code}")));
            }
        }
    }
    Ok(())
}

/// A producer configured as the ingestor's (idempotent, `acks=all`, `murmur2_random`, 50 ms
/// linger), with lz4, that counts what it sends and waits for every delivery at the end.
pub struct TopicWriter {
    producer: FutureProducer,
    topic: String,
    pending: Vec<DeliveryFuture>,
    records: u64,
    events: u64,
    bytes: u64,
    started: Option<Instant>,
}

impl TopicWriter {
    /// A writer to `topic` (which should exist: see [`create_topic`]).
    pub fn new(bootstrap: &str, topic: &str) -> Result<TopicWriter, Error> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("compression.type", "lz4")
            .set("linger.ms", "50")
            .set("message.max.bytes", "16777216")
            .set("delivery.timeout.ms", "120000")
            .create()?;
        Ok(TopicWriter {
            producer,
            topic: topic.to_owned(),
            pending: Vec::new(),
            records: 0,
            events: 0,
            bytes: 0,
            started: None,
        })
    }

    /// Enqueues one record; waits while librdkafka's queue is full.
    pub fn send_raw(
        &mut self,
        key: &str,
        value: &[u8],
        schema: &str,
        events: u64,
    ) -> Result<(), Error> {
        self.started.get_or_insert_with(Instant::now);
        let headers = OwnedHeaders::new().insert(Header {
            key: SCHEMA_HEADER,
            value: Some(schema),
        });
        let mut record = FutureRecord::to(&self.topic)
            .key(key)
            .payload(value)
            .headers(headers);
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        self.records += 1;
        self.events += events;
        self.bytes += value.len() as u64;
        Ok(())
    }

    /// Enqueues one `EndpointEvents` under the schema header.
    pub fn send(&mut self, key: &str, record: &EndpointEvents) -> Result<(), Error> {
        self.send_raw(
            key,
            &record.encode_to_vec(),
            SCHEMA,
            record.events.len() as u64,
        )
    }

    /// Events enqueued so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Waits for every delivery report; an error when any record was not delivered.
    pub fn finish(self) -> Result<FillReport, Error> {
        let mut failed = 0u64;
        let mut first = None;
        for d in self.pending {
            match block_on(d) {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    failed += 1;
                    first.get_or_insert_with(|| e.to_string());
                }
                Err(_) => {
                    failed += 1;
                    first.get_or_insert_with(|| "delivery report lost".to_owned());
                }
            }
        }
        if failed > 0 {
            return Err(Error::Process(format!(
                "{failed} of {} records not delivered to {}; first: {}",
                self.records,
                self.topic,
                first.unwrap_or_default()
            )));
        }
        Ok(FillReport {
            topic: self.topic,
            records: self.records,
            events: self.events,
            bytes: self.bytes,
            elapsed: self.started.map_or(Duration::ZERO, |s| s.elapsed()),
        })
    }
}

/// Creates `topic` with `partitions` and produces every record of `traffic` as fast as the
/// broker takes them; returns once all are delivered.
pub fn fill_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    traffic: impl IntoIterator<Item = (String, EndpointEvents)>,
) -> Result<FillReport, Error> {
    create_topic(bootstrap, topic, partitions)?;
    let mut w = TopicWriter::new(bootstrap, topic)?;
    for (key, record) in traffic {
        w.send(&key, &record)?;
    }
    w.finish()
}

/// As [`fill_topic`], paced at `events_per_second` of wall time (a record is sent when the
/// events before it are due), for latency runs.
pub fn fill_topic_at_rate(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    events_per_second: f64,
    traffic: impl IntoIterator<Item = (String, EndpointEvents)>,
) -> Result<FillReport, Error> {
    create_topic(bootstrap, topic, partitions)?;
    let mut w = TopicWriter::new(bootstrap, topic)?;
    let start = Instant::now();
    let rate = events_per_second.max(1e-3);
    for (key, record) in traffic {
        let due = start + Duration::from_secs_f64(w.events() as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        w.send(&key, &record)?;
    }
    w.finish()
}

/// What a topic holds, counted record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicCounts {
    /// Records.
    pub records: u64,
    /// Events in the records that decode.
    pub events: u64,
    /// Watermarks in them.
    pub watermarks: u64,
    /// Records whose value does not decode as `EndpointEvents`.
    pub undecodable: u64,
    /// Records whose schema header is not [`SCHEMA`] (or absent).
    pub other_schema: u64,
}

/// Reads `topic` from its start to the partitions' ends of now and counts what it holds;
/// `visit` sees every record that decodes (partition, offset, key, value).
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    mut visit: impl FnMut(i32, i64, &str, &EndpointEvents),
) -> Result<TopicCounts, Error> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-read"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .set("fetch.message.max.bytes", "16777216")
        .set("fetch.max.bytes", "33554432")
        .set("receive.message.max.bytes", "34603008")
        .create()?;
    let partitions = crate::broker::partitions_of(&consumer, topic)?;
    if partitions == 0 {
        return Err(Error::Process(format!("topic {topic} does not exist")));
    }
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        ends.push(high);
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut next = vec![0i64; partitions as usize];
    let mut counts = TopicCounts::default();
    let deadline = Instant::now() + timeout;
    while next.iter().zip(&ends).any(|(n, e)| n < e) {
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!(
                "topic {topic} not read to its end within {timeout:?} (at {next:?}, end {ends:?})"
            )));
        }
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        let p = m.partition();
        if let Some(n) = next.get_mut(p as usize) {
            *n = (*n).max(m.offset() + 1);
        }
        counts.records += 1;
        let schema = m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == SCHEMA_HEADER)
                .and_then(|h| h.value)
                .map(|v| v.to_vec())
        });
        if schema.as_deref() != Some(SCHEMA.as_bytes()) {
            counts.other_schema += 1;
        }
        match EndpointEvents::decode(m.payload().unwrap_or_default()) {
            Ok(r) => {
                counts.events += r.events.len() as u64;
                counts.watermarks += r.watermarks.len() as u64;
                let key = m
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                visit(p, m.offset(), &key, &r);
            }
            Err(_) => counts.undecodable += 1,
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields_and_iis_file_names() {
        // 2026-11-20 08:00:00 UTC.
        assert_eq!(civil(DEFAULT_START_US), (2026, 11, 20, 8, 0, 0, 0));
        assert!(iis_path(DEFAULT_START_US).ends_with("\\u_ex261120.log"));
        assert_eq!(
            android_time(DEFAULT_START_US + 250 * MS),
            "2026-11-20T08:00:00.2500000"
        );
        assert_eq!(
            civil(-2_208_988_800 * S).0,
            1900,
            "the year-1900 reject is in 1900"
        );
        assert_eq!(civil(7_258_118_400 * S).0, 2200);
    }

    #[test]
    fn the_w3c_header_is_as_long_as_the_first_position() {
        let header = "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2026-11-20 00:00:00\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";
        assert_eq!(header.len() as u64, IIS_HEADER_BYTES);
    }

    #[test]
    fn bad_records_are_bad_in_the_way_they_say() {
        let recs = bad_records(
            "https://ndes000.contoso.com/certsrv/mscep/mscep.dll",
            DEFAULT_START_US,
        );
        for r in &recs {
            let decoded = EndpointEvents::decode(r.value.as_slice());
            match r.kind {
                BadKind::Undecodable => assert!(decoded.is_err(), "{r:?}"),
                BadKind::UnknownSchema => {
                    assert_ne!(r.schema, SCHEMA);
                    assert!(decoded.is_ok());
                }
                BadKind::AbsurdTime => {
                    let d = decoded.unwrap();
                    let bad = d
                        .events
                        .iter()
                        .filter(|e| {
                            // ClickHouse DateTime: 1970-01-01 .. 2106-02-07 06:28:15.
                            e.event_time_us < 0 || e.event_time_us > 4_294_967_295 * S
                        })
                        .count();
                    assert_eq!((bad, d.events.len() - bad), (r.bad_events, r.good_events));
                }
                BadKind::NoPayload => {
                    let d = decoded.unwrap();
                    let bare = d.events.iter().filter(|e| e.payload.is_none()).count();
                    assert_eq!((bare, d.events.len() - bare), (r.bad_events, r.good_events));
                }
            }
        }
        assert_eq!(recs.len(), 5);
    }
}
