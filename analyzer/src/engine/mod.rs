//! The diagnosis engine: correlates events into enrollment attempts and applies the catalog.
//!
//! One [`Engine`] serves both drivers: `scepwatch diagnose` over files and the analyzer service
//! over Kafka. Events are [`Engine::push`]ed in any order, source progress is reported with
//! [`Engine::watermark`], and [`Engine::advance`] emits to a [`Sink`] every attempt and diagnosis
//! the progress allows; [`Engine::finish`] emits the rest.
//!
//! # How attempts are formed
//!
//! Everything is **per SCEP endpoint**. A device event names its endpoint through the SCEP URL
//! it logs. A server event with an empty `endpoint_id` gets the endpoint of its host from
//! [`EngineConfig::server_endpoints`], or `host:<host>` when the host is not mapped.
//!
//! - **Device side.** The SCEP records of one device log (one source: host + path) are cut into
//!   device attempts: a gap longer than [`EngineConfig::attempt_gap_us`] starts a new one, and so
//!   do Android's "There are N requests" and a second "Trying to enroll", an iOS GetCACert /
//!   GetCACaps after a PKIOperation, and every Windows event 36. The platform comes from the
//!   payload; transactionIDs from `android.transaction_id` and `ios.scep.transaction_id`,
//!   compared as printed (iOS sends base64 text, where case matters).
//! - **Server side.** IIS requests to mscep.dll form server sessions keyed by endpoint, server
//!   host, client address and user agent (its family: Dalvik/Android → android;
//!   profiled/CFNetwork/Darwin/iPhone/iPad → ios; NDES client/Win32/Windows → windows; else
//!   other; and, to keep devices apart behind a proxy, the exact string). A gap longer than the
//!   attempt gap starts a new session. Sessions fold their requests (see [`session`]'s doc), keep
//!   transactionIDs decoded from PKIOperation messages, and keep no request text except one
//!   sample per operation and status.
//! - **Join** ([`correlate`]): a device attempt takes the sessions of its endpoint sharing a
//!   transactionID (`TransactionId`, `High`); otherwise the sessions of its user-agent family
//!   whose span overlaps its own widened by [`EngineConfig::join_window_us`] (`Fallback`:
//!   `Medium` with one candidate, `Low` with several, the closest taken). Client addresses are not
//!   compared: a device log does not know its public address and behind the application proxy
//!   IIS sees the connector's. Device attempts left alone are `DeviceOnly`, sessions left alone
//!   become `ServerOnly` attempts.
//!   Joins by transactionID are made before any fallback, and a fallback join waits for the
//!   device attempts it competes with (see "When things are emitted" below), so the joins do
//!   not depend on which attempts happen to be ready together.
//!
//! # When things are emitted
//!
//! A source's *progress* is its watermark's `read_up_to_us` (or, with
//! [`EngineConfig::implicit_watermarks`], the latest event time seen from it). Servers rotate
//! their IIS and HTTP.sys logs (a file a day), and every file is a source: a file may still
//! deliver the events after its progress and before the start of the next file of its folder,
//! or after its progress at all for the newest; nothing once a newer file of its folder started
//! to be delivered after it (files of one log are read one after another). A server host has
//! *delivered* a span of event time when none of its files may still deliver anything in it. So
//! a file announced but not read yet holds back its own days only, and the days of a server can
//! be read in any order.
//!
//! - A session closes when its server has delivered its span widened by the attempt gap.
//! - A device attempt is finalized when it cannot grow (a later record of its log exists, or its
//!   log's progress passed its end + gap), no open session could still join it, and every server
//!   of its endpoint (those seen and those configured) has delivered its span widened by the
//!   larger of the join and crash windows (and the gap before it), context logs included (a
//!   context log that delivered something and is more than [`EngineConfig::idle_source_us`]
//!   behind its host's newest IIS progress is idle and does not hold anything back). An endpoint
//!   with no known server holds its device attempts until [`Engine::finish`] (or the stall
//!   timeout).
//! - Ready device attempts are concluded in two passes: those joining by transactionID, then
//!   the rest by start. In the second, a fallback join waits while a device attempt of its
//!   endpoint and user-agent family whose join window meets its own is not concluded, when
//!   that one starts no later or may still join by transactionID (it has one, or its log may
//!   still grow).
//! - A closed session is released as a server-only attempt when no unfinalized device attempt of
//!   its endpoint could still take it and its server has delivered it ± the crash window.
//! - A bucket of folded server or endpoint diagnoses is emitted when its scope's sources have
//!   delivered the bucket ± crash window.
//! - With [`EngineConfig::stall_timeout_us`], anything held longer than that behind the newest
//!   server progress is emitted anyway (for a service where some collector went silent), the
//!   last attempt of a device log that went quiet included.
//!
//! Finalized attempts are emitted and dropped; a server's context older than two days behind
//! both its IIS log and anything still held is pruned.
//! Successful mscep.dll requests are also folded per server and bucket (rows 1 and 17 at server
//! scope); attempts only carry those two info diagnoses when a device log is part of them.
//!
//! Restarts: [`Engine::held_since`] is the event time before which a partition's records are no
//! longer needed, and [`Engine::replay_from`] makes a fresh engine fed the records from there on
//! emit only what it has seen whole (the contract with the service is in
//! [`Engine::held_since`]'s documentation).
//!
//! # Determinism
//!
//! IDs are digests of content: an attempt's of its endpoint and first event ID, a diagnosis's of
//! its code, scope and sorted evidence IDs. Every fold (sessions, buckets, evidence kept) is
//! commutative, device attempts are cut from sorted records, and ties are broken by names and
//! event IDs, never by arrival order. So the same events give the same attempts and diagnoses:
//! in any order when [`Engine::advance`] is only called once everything is pushed; and with
//! `advance` called anywhere as long as the progress reported is true (a watermark follows the
//! events it covers, or, with implicit watermarks, each source arrives in time order), the files
//! of one rotated log are delivered one after another (in any order: a file delivered after a
//! newer one holds back the span up to the newer one's start until [`Engine::finish`]), host
//! context is pushed before the IIS windows it relates to are read past (a context log read
//! after its host's IIS log, more than `idle_source_us` behind it, would count as finished while
//! still being read), a device log's records are pushed before its endpoint's IIS logs are read
//! more than the crash window less twice the join window (6 minutes by default) past them (the
//! attempts competing with it for a session may then be concluded without waiting for it), and
//! sources are known before their windows close (a watermark with `read_up_to_us` before
//! `read_from_us` announces a source without covering anything). Events arriving more than a gap
//! behind their own file's progress are counted in [`EngineStats::late_events`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use attempt::time_text as to_rfc3339;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{
    Event, IisRequest, IisTarget, ScepOperation, SourceId, SourceKind, Watermark,
};
use scepwatch_proto::{endpoint, event_id_hex, SourceKey};

use crate::model::{
    Attempt, Diagnosis, Evidence, JoinMethod, Platform, Scope, Severity, Side, Step,
};
use crate::rule::{self, catalog, Coverage, DeviceEvent, DevicePayload, Finding, HostCoverage};

mod aggregate;
mod attempt;
pub mod context;
mod correlate;
mod device;
mod intern;
mod session;
mod span_index;
pub mod user_agent;
mod watermark;

use aggregate::{bucket_of, Agg, AggKey, AggKind, AggScope};
use context::{HostContext, Record};
use device::{DeviceRecord, DeviceSource, Segment};
use intern::{FastMap, Interner, Sym, SymMap};
use session::{EventKey, Session, SessionKey};
use span_index::SpanIndex;
use user_agent::UaFamily;
use watermark::{chain_folder, initial_role, kind_name, uncovered, Role, SourceIdx, SourceState};

const MINUTE_US: i64 = 60_000_000;

/// Host context older than this behind the newest server progress is dropped.
pub const CONTEXT_RETENTION_US: i64 = 2 * 24 * 60 * MINUTE_US;

/// Server-only attempts are remembered (span and family only) this long, so a device log arriving
/// later is not mistaken for blocked traffic.
pub const RELEASED_RETENTION_US: i64 = 24 * 60 * MINUTE_US;

/// Most (client address, user agent) pairs remembered (the cache starts over beyond).
const MAX_CLIENTS: usize = 262_144;

/// Most server-only attempts remembered per endpoint.
pub const RELEASED_MAX: usize = 100_000;

/// Tolerances and mappings of the engine. Build with `EngineConfig { field: .., ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// A side's events further apart than this start a new attempt / session (default 5 min).
    pub attempt_gap_us: i64,
    /// Device/server clock skew plus latency tolerated by the fallback join (default 2 min).
    pub join_window_us: i64,
    /// How close a w3wp.exe crash must be to a 503 to explain it (default 10 min).
    pub crash_window_us: i64,
    /// Proactive checks warn about certificates and passwords expiring within this (default
    /// 30 days).
    pub expiry_warning_us: i64,
    /// Most evidence records per diagnosis (default 5).
    pub evidence_per_diagnosis: usize,
    /// Host name (lower case) → endpoint ID, for server events with an empty `endpoint_id`.
    /// Mapped hosts are also expected servers of their endpoint before any of their logs arrive.
    pub server_endpoints: BTreeMap<String, String>,
    /// Take the latest event time seen from a source as its progress when it sends no (or an
    /// older) watermark (default true: right for drivers reading each source in time order).
    pub implicit_watermarks: bool,
    /// Width of the time buckets of server- and endpoint-scope diagnoses (default 1 hour).
    pub aggregate_window_us: i64,
    /// A context source this far behind its host's newest source is idle: it holds nothing back
    /// (default 1 hour; one-shot logs such as SetupMsi.log).
    pub idle_source_us: i64,
    /// Emit anything held longer than this behind the newest server progress (default `None`:
    /// wait for the sources or for [`Engine::finish`]).
    pub stall_timeout_us: Option<i64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            attempt_gap_us: 5 * MINUTE_US,
            join_window_us: 2 * MINUTE_US,
            crash_window_us: 10 * MINUTE_US,
            expiry_warning_us: 30 * 24 * 60 * MINUTE_US,
            evidence_per_diagnosis: 5,
            server_endpoints: BTreeMap::new(),
            implicit_watermarks: true,
            aggregate_window_us: 60 * MINUTE_US,
            idle_source_us: 60 * MINUTE_US,
            stall_timeout_us: None,
        }
    }
}

/// What a [`Sink`] learns of an attempt before it is built in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptSummary<'a> {
    /// The attempt's ID.
    pub id: &'a str,
    /// Its endpoint.
    pub endpoint: &'a str,
    /// How it was joined.
    pub join: JoinMethod,
    /// Confidence of the join.
    pub confidence: crate::model::Confidence,
    /// Device platform.
    pub platform: Platform,
    /// Worst severity of its diagnoses.
    pub severity: Severity,
    /// First event time, microseconds.
    pub start_us: i64,
    /// Last event time, microseconds.
    pub end_us: i64,
}

/// Where the engine's results go.
///
/// Every attempt is offered first as an [`AttemptSummary`]: a sink that keeps only some
/// attempts in full (a report of the worst hundred out of hundreds of thousands) answers
/// [`Sink::wants_attempt`] `false` for the others, and the engine then skips building their
/// timelines and texts and hands over the summary alone ([`Sink::attempt_summary`]). An
/// attempt's diagnoses are emitted either way.
pub trait Sink {
    /// A finalized attempt.
    fn attempt(&mut self, a: Attempt);
    /// A diagnosis (attempt-, server- or endpoint-scope).
    fn diagnosis(&mut self, d: Diagnosis);
    /// Whether the attempt `s` summarises should come in full through [`Sink::attempt`]
    /// (default: always).
    fn wants_attempt(&mut self, s: &AttemptSummary<'_>) -> bool {
        let _ = s;
        true
    }
    /// An attempt this sink did not want in full (see [`Sink::wants_attempt`]).
    fn attempt_summary(&mut self, s: &AttemptSummary<'_>) {
        let _ = s;
    }
}

/// A sink that keeps everything (tests, small runs).
#[derive(Debug, Default, Clone)]
pub struct CollectSink {
    /// Attempts in emission order.
    pub attempts: Vec<Attempt>,
    /// Diagnoses in emission order.
    pub diagnoses: Vec<Diagnosis>,
}

impl Sink for CollectSink {
    fn attempt(&mut self, a: Attempt) {
        self.attempts.push(a);
    }
    fn diagnosis(&mut self, d: Diagnosis) {
        self.diagnoses.push(d);
    }
}

/// What the engine holds and has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events pushed.
    pub events: u64,
    /// Events pushed by payload kind (`iis`, `httperr`, `app_crash`, ..., `none`).
    pub events_by_kind: BTreeMap<&'static str, u64>,
    /// Watermarks received.
    pub watermarks: u64,
    /// Events that arrived after the window they belong to was closed.
    pub late_events: u64,
    /// Sources known.
    pub sources: usize,
    /// Server hosts known.
    pub hosts: usize,
    /// Endpoints known.
    pub endpoints: usize,
    /// Server sessions still receiving requests.
    pub open_sessions: usize,
    /// Closed sessions waiting for a device attempt or their release.
    pub pending_sessions: usize,
    /// Device attempts not finalized yet.
    pub open_device_attempts: usize,
    /// Device records held.
    pub device_records: usize,
    /// Server/endpoint buckets not emitted yet.
    pub open_aggregates: usize,
    /// Host context records held.
    pub context_records: usize,
    /// Attempts emitted.
    pub attempts_emitted: u64,
    /// Diagnoses emitted.
    pub diagnoses_emitted: u64,
    /// Attempts and buckets a replay did not emit (see [`Engine::replay_from`]).
    pub replay_suppressed: u64,
    /// Estimate of the heap held by the engine's state, bytes (the restart point's bookkeeping
    /// is a few integers and adds none).
    pub state_bytes: usize,
}

#[derive(Debug)]
struct HostState {
    /// The host is a server of some endpoint, so it must have an IIS log to be read.
    expects_iis: bool,
    iis_sources: Vec<SourceIdx>,
    other_sources: Vec<SourceIdx>,
    default_endpoint: Sym,
    /// Newest progress of an IIS source that delivered something (announcements excluded).
    iis_read: Option<i64>,
    /// Spans of event time the host's IIS logs may still deliver (see [`watermark`]'s pending
    /// spans), as `(progress, next file's start)`, refreshed at each [`Engine::advance`].
    iis_hold: Vec<(i64, i64)>,
    /// The same with the host's context logs that are not idle.
    hold: Vec<(i64, i64)>,
    context: HostContext,
}

#[derive(Debug)]
struct Released {
    start: i64,
    end: i64,
    family: UaFamily,
    id: String,
}

#[derive(Debug, Default)]
struct EndpointState {
    iis_hosts: BTreeSet<Sym>,
    probe_sources: Vec<SourceIdx>,
    pending: Vec<Session>,
    released: VecDeque<Released>,
}

/// A device attempt not finalized yet, as seen by the session release check.
struct Waiting {
    endpoint: Sym,
    family: UaFamily,
    start: i64,
    end: i64,
    tx: Vec<Box<str>>,
}

impl Waiting {
    fn of(endpoint: Sym, family: UaFamily, seg: &Segment) -> Self {
        Waiting {
            endpoint,
            family,
            start: seg.start,
            end: seg.end,
            tx: seg.tx.clone(),
        }
    }
}

/// Device attempts not ready in one [`Engine::run`] that a ready attempt's fallback join must
/// wait for: per endpoint and user-agent family, each one's join window, its log, its start,
/// and whether it only counts when it starts no later than the ready attempt (closed, without
/// transactionID: it would join by fallback after the ready one when both are ready together)
/// or whenever the windows meet (it may still join by transactionID: a session the ready one
/// would take may be its own).
#[derive(Debug, Default)]
struct Rivals {
    by_scope: FastMap<(Sym, UaFamily), RivalSpans>,
}

#[derive(Debug, Default)]
struct RivalSpans {
    /// `(from, to, source, start, only_before)`, sorted by `from`.
    spans: Vec<(i64, i64, SourceIdx, i64, bool)>,
    /// Running maximum of `to`.
    reach: Vec<i64>,
}

impl Rivals {
    fn add(
        &mut self,
        ep: Sym,
        family: UaFamily,
        src: SourceIdx,
        seg: &Segment,
        jw: i64,
        only_before: bool,
    ) {
        self.by_scope.entry((ep, family)).or_default().spans.push((
            seg.start.saturating_sub(jw),
            seg.end.saturating_add(jw),
            src,
            seg.start,
            only_before,
        ));
    }

    fn seal(&mut self) {
        for r in self.by_scope.values_mut() {
            r.spans.sort_unstable();
            let mut reach = i64::MIN;
            r.reach = r
                .spans
                .iter()
                .map(|s| {
                    reach = reach.max(s.1);
                    reach
                })
                .collect();
        }
    }

    /// True when an attempt of another log at `ep` and `family` whose window meets `seg`'s must
    /// be finalized first.
    fn meet(&self, ep: Sym, family: UaFamily, src: SourceIdx, seg: &Segment, jw: i64) -> bool {
        let Some(r) = self.by_scope.get(&(ep, family)) else {
            return false;
        };
        let (from, to) = (seg.start.saturating_sub(jw), seg.end.saturating_add(jw));
        let end = r.spans.partition_point(|s| s.0 <= to);
        (0..end)
            .rev()
            .take_while(|&i| r.reach.get(i).is_some_and(|&x| x >= from))
            .filter_map(|i| r.spans.get(i))
            .any(|s| s.1 >= from && s.2 != src && (!s.4 || s.3 <= seg.start))
    }
}

/// The correlation and diagnosis engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    names: Interner,
    sources: Vec<SourceState>,
    source_index: FastMap<u128, SourceIdx>,
    last_source: Option<(SourceId, SourceIdx)>,
    hosts: SymMap<HostState>,
    endpoints: SymMap<EndpointState>,
    open: FastMap<SessionKey, Vec<Session>>,
    devices: BTreeMap<SourceIdx, DeviceSource>,
    aggs: FastMap<AggKey, Agg>,
    /// Digest of (client address, user agent) → the user agent's family and the address's
    /// symbol: one lookup per request instead of classifying and interning.
    clients: FastMap<u64, (UaFamily, Sym)>,
    global_progress: Option<i64>,
    /// Sources that started to deliver so far (orders [`SourceState::delivery`]).
    deliveries: u64,
    pruned_at: i64,
    events_by_kind: [u64; 11],
    events: u64,
    watermarks: u64,
    late_events: u64,
    attempts_emitted: u64,
    diagnoses_emitted: u64,
    /// Earliest event time the state left by the last [`Engine::run`] depends on (see
    /// [`Engine::held_since`]), before the replay margin; `None`: nothing held.
    hold_point: Option<i64>,
    /// Earliest event time (or watermark progress) taken since the last [`Engine::run`].
    taken_since_run: i64,
    /// Set by [`Engine::replay_from`]: the point given.
    replay_point: Option<i64>,
    /// Set by [`Engine::replay_from`]: results starting before this are not emitted.
    replay_quiet: Option<i64>,
    /// Results not emitted because of [`Engine::replay_from`].
    replay_suppressed: u64,
}

const KIND_NAMES: [&str; 11] = [
    "none",
    "iis",
    "httperr",
    "app_crash",
    "capi2",
    "windows_scep",
    "connector_install",
    "android",
    "ios",
    "probe",
    "health",
];

fn payload_index(p: Option<&Payload>) -> usize {
    match p {
        None => 0,
        Some(Payload::Iis(_)) => 1,
        Some(Payload::Httperr(_)) => 2,
        Some(Payload::AppCrash(_)) => 3,
        Some(Payload::Capi2(_)) => 4,
        Some(Payload::WindowsScep(_)) => 5,
        Some(Payload::ConnectorInstall(_)) => 6,
        Some(Payload::Android(_)) => 7,
        Some(Payload::Ios(_)) => 8,
        Some(Payload::Probe(_)) => 9,
        Some(Payload::Health(_)) => 10,
    }
}

fn id16(event: &Event) -> [u8; 16] {
    let mut out = [0u8; 16];
    match event.id.get(..16) {
        Some(head) => out.copy_from_slice(head),
        None if event.id.is_empty() => {
            if let Some(s) = &event.source {
                out = scepwatch_proto::event_id(s, event.position);
            }
        }
        None => {
            let n = event.id.len().min(16);
            if let (Some(dst), Some(src)) = (out.get_mut(..n), event.id.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
    }
    out
}

fn make_evidence(
    names: &Interner,
    src: &SourceState,
    event: &Event,
    id: &[u8; 16],
    note: String,
) -> Evidence {
    Evidence {
        event_id: event_id_hex(id),
        time: to_rfc3339(event.event_time_us),
        time_us: event.event_time_us,
        host: names.name(src.host).to_string(),
        source: names.name(src.path).to_string(),
        kind: src.kind_name.to_string(),
        excerpt: event.excerpt.clone(),
        note,
    }
}

fn iis_note(r: &IisRequest) -> String {
    let mut s = format!(
        "{} {} → {}",
        if r.method.is_empty() {
            "GET"
        } else {
            &r.method
        },
        rule::operation_name(r.operation()),
        r.status
    );
    if r.substatus != 0 {
        s.push_str(&format!(".{}", r.substatus));
    }
    if r.win32_status != 0 {
        s.push_str(&format!(" (win32 {})", r.win32_status));
    }
    if !r.client_ip.is_empty() {
        s.push_str(&format!(" from {}", r.client_ip));
    }
    s
}

/// Digest of a client address and user agent (distinguishes sessions: see [`SessionKey`]).
fn client_digest(ip: &str, ua: &str) -> u64 {
    use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};
    xxh3_64_with_seed(ua.as_bytes(), xxh3_64(ip.as_bytes()))
}

impl Engine {
    /// An engine with `config`. Hosts named in `server_endpoints` become expected servers of
    /// their endpoints at once.
    pub fn new(config: EngineConfig) -> Self {
        let mut e = Engine {
            config,
            names: Interner::default(),
            sources: Vec::new(),
            source_index: FastMap::default(),
            last_source: None,
            hosts: SymMap::default(),
            endpoints: SymMap::default(),
            open: FastMap::default(),
            devices: BTreeMap::new(),
            aggs: FastMap::default(),
            clients: FastMap::default(),
            global_progress: None,
            deliveries: 0,
            pruned_at: i64::MIN,
            events_by_kind: [0; 11],
            events: 0,
            watermarks: 0,
            late_events: 0,
            attempts_emitted: 0,
            diagnoses_emitted: 0,
            hold_point: None,
            taken_since_run: i64::MAX,
            replay_point: None,
            replay_quiet: None,
            replay_suppressed: 0,
        };
        let mapping: Vec<(String, String)> = e
            .config
            .server_endpoints
            .iter()
            .map(|(h, ep)| (h.to_ascii_lowercase(), ep.clone()))
            .collect();
        for (host, ep) in mapping {
            let h = e.names.intern(&host);
            e.host_state(h).expects_iis = true;
            let eps = e.names.intern(&ep);
            e.endpoints.entry(eps).or_default().iis_hosts.insert(h);
        }
        e
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn host_state(&mut self, host: Sym) -> &mut HostState {
        let default_endpoint = if self.hosts.contains_key(&host) {
            0
        } else {
            let name = self.names.name(host).to_string();
            let ep = self
                .config
                .server_endpoints
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(&name))
                .map(|(_, ep)| ep.clone())
                .unwrap_or_else(|| format!("host:{name}"));
            self.names.intern(&ep)
        };
        let names = &self.names;
        self.hosts.entry(host).or_insert_with(|| HostState {
            expects_iis: false,
            iis_sources: Vec::new(),
            other_sources: Vec::new(),
            default_endpoint,
            iis_read: None,
            iis_hold: Vec::new(),
            hold: Vec::new(),
            context: HostContext::new(names.name(host)),
        })
    }

    fn source_of(&mut self, source: Option<&SourceId>) -> SourceIdx {
        static EMPTY: SourceId = SourceId {
            collector: String::new(),
            host: String::new(),
            kind: 0,
            path: String::new(),
            stream: String::new(),
        };
        let source = source.unwrap_or(&EMPTY);
        if let Some((last, idx)) = &self.last_source {
            if last == source {
                return *idx;
            }
        }
        let key = SourceKey::of(source).0;
        let idx = match self.source_index.get(&key) {
            Some(&i) => i,
            None => self.new_source(source, key),
        };
        self.last_source = Some((source.clone(), idx));
        idx
    }

    fn new_source(&mut self, source: &SourceId, key: u128) -> SourceIdx {
        let kind = SourceKind::try_from(source.kind).unwrap_or(SourceKind::Unspecified);
        let host = self.names.intern(&source.host.to_ascii_lowercase());
        let path = self.names.intern(&source.path);
        let role = initial_role(kind, &source.path);
        let idx = SourceIdx::try_from(self.sources.len()).unwrap_or(SourceIdx::MAX);
        let mut state = SourceState::new(host, path, kind_name(kind), role);
        state.chain = chain_folder(kind, &source.path).map(|f| self.names.intern(f));
        self.sources.push(state);
        self.source_index.insert(key, idx);
        match role {
            Role::Iis => self.host_state(host).iis_sources.push(idx),
            Role::ServerContext => self.host_state(host).other_sources.push(idx),
            Role::Device | Role::Probe => {}
        }
        idx
    }

    fn server_role(role: Role) -> bool {
        matches!(role, Role::Iis | Role::ServerContext | Role::Probe)
    }

    /// Updates progress bookkeeping after source `idx` changed.
    fn bump_progress(&mut self, idx: SourceIdx) {
        let Some(src) = self.sources.get(idx as usize) else {
            return;
        };
        // An announcement says where a source starts, not how far reading has got.
        let Some(p) = src.delivered_progress(self.config.implicit_watermarks) else {
            return;
        };
        if Self::server_role(src.role) {
            self.global_progress = Some(self.global_progress.map_or(p, |g| g.max(p)));
        }
        if src.role == Role::Iis {
            let host = src.host;
            if let Some(h) = self.hosts.get_mut(&host) {
                h.iis_read = Some(h.iis_read.map_or(p, |x| x.max(p)));
            }
        }
    }

    /// Takes one event, in any order.
    pub fn push(&mut self, event: &Event) {
        let idx = self.source_of(event.source.as_ref());
        self.push_at(idx, event);
    }

    /// Takes events all read from `source`, in any order. Their own `source` is not looked at:
    /// a driver reading one file knows where its events come from, and comparing that text per
    /// event is a good part of the cost of [`Engine::push`].
    pub fn push_from(&mut self, source: &SourceId, events: &[Event]) {
        let idx = self.source_of(Some(source));
        for event in events {
            self.push_at(idx, event);
        }
    }

    fn push_at(&mut self, idx: SourceIdx, event: &Event) {
        let t = event.event_time_us;
        self.taken_since_run = self.taken_since_run.min(t);
        let kind = payload_index(event.payload.as_ref());
        self.events += 1;
        if let Some(n) = self.events_by_kind.get_mut(kind) {
            *n += 1;
        }
        let id = id16(event);
        match &event.payload {
            Some(Payload::Iis(r)) => self.push_iis(idx, event, r, id),
            Some(Payload::Httperr(r)) => self.push_httperr(idx, event, r, id),
            Some(Payload::AppCrash(c)) => self.push_context(idx, event, id, |ctx, key, rec| {
                ctx.add_crash(key, rec.with(c.clone()))
            }),
            Some(Payload::Capi2(c)) => self.push_context(idx, event, id, |ctx, key, rec| {
                ctx.add_capi2(key, rec.with(c.clone()))
            }),
            Some(Payload::ConnectorInstall(i)) => self.push_install(idx, event, i, id),
            Some(Payload::Health(h)) => self.push_health(idx, event, h, id),
            Some(Payload::Probe(p)) => self.push_probe(idx, event, p, id),
            Some(Payload::Android(a)) => self.push_device(
                idx,
                event,
                id,
                Platform::Android,
                DevicePayload::Android(a.clone()),
            ),
            Some(Payload::Ios(i)) => {
                self.push_device(idx, event, id, Platform::Ios, DevicePayload::Ios(i.clone()))
            }
            Some(Payload::WindowsScep(w)) => self.push_device(
                idx,
                event,
                id,
                Platform::Windows,
                DevicePayload::Windows(w.clone()),
            ),
            None => {
                if let Some(s) = self.sources.get_mut(idx as usize) {
                    s.observe(t);
                    if s.delivery == 0 {
                        self.deliveries += 1;
                        s.delivery = self.deliveries;
                    }
                }
                self.bump_progress(idx);
            }
        }
    }

    fn observe(&mut self, idx: SourceIdx, t: i64) {
        let Some(src) = self.sources.get_mut(idx as usize) else {
            return;
        };
        src.observe(t);
        if src.delivery == 0 {
            self.deliveries += 1;
            src.delivery = self.deliveries;
        }
        if !self.config.implicit_watermarks {
            return;
        }
        if Self::server_role(src.role) {
            self.global_progress = Some(self.global_progress.map_or(t, |g| g.max(t)));
        }
        if src.role == Role::Iis {
            let host = src.host;
            if let Some(h) = self.hosts.get_mut(&host) {
                h.iis_read = Some(h.iis_read.map_or(t, |x| x.max(t)));
            }
        }
    }

    fn bucket(&self, t: i64) -> i64 {
        bucket_of(t, self.config.aggregate_window_us)
    }

    fn push_iis(&mut self, idx: SourceIdx, event: &Event, r: &IisRequest, id: [u8; 16]) {
        let t = event.event_time_us;
        let gap = self.config.attempt_gap_us;
        let implicit = self.config.implicit_watermarks;
        let Some(src) = self.sources.get_mut(idx as usize) else {
            return;
        };
        let host = src.host;
        // Late: older than its own file's progress by more than a gap (its session may be gone).
        // Another file's progress says nothing: rotated files may be read in any order.
        if src
            .progress(implicit)
            .is_some_and(|p| t < p.saturating_sub(gap))
        {
            self.late_events += 1;
        }
        src.observe(t);
        if src.delivery == 0 {
            self.deliveries += 1;
            src.delivery = self.deliveries;
        }
        // One host lookup for the implicit progress and the default endpoint.
        let Some(h) = self.hosts.get_mut(&host) else {
            return;
        };
        if implicit {
            h.iis_read = Some(h.iis_read.map_or(t, |x| x.max(t)));
            self.global_progress = Some(self.global_progress.map_or(t, |g| g.max(t)));
        }
        let default_endpoint = h.default_endpoint;
        let target = r.target();
        let symptom = rule::classify_iis(r);
        if let Some(sym) = symptom {
            let key = AggKey {
                scope: AggScope::Server(host),
                kind: AggKind::Symptom(sym),
                bucket: self.bucket(t),
            };
            let cap = self.config.evidence_per_diagnosis;
            let (names, sources) = (&self.names, &self.sources);
            if let Some(src) = sources.get(idx as usize) {
                self.aggs.entry(key).or_default().offer((t, id), cap, || {
                    make_evidence(names, src, event, &id, iis_note(r))
                });
            }
        }
        match target {
            IisTarget::Mscep => {}
            IisTarget::CertRegistrationSvc => {
                if r.status != 200 {
                    let ev = self.evidence(idx, event, &id, iis_note(r));
                    let data = r.clone();
                    let h = self.host_state(host);
                    h.context.add_cert_registration(
                        (t, id),
                        Record {
                            time_us: t,
                            evidence: ev,
                            data,
                        },
                    );
                }
                return;
            }
            _ => return,
        }
        if r.status == 503 {
            self.host_state(host).context.mark_unavailable(t);
        }
        if r.status == 200 {
            self.count_ok(idx, host, event, r, id);
        }
        let endpoint = self.server_endpoint(idx, host, default_endpoint, &event.endpoint_id);
        let (family, ua, client) = self.client(&r.client_ip, &r.user_agent);
        let key = SessionKey {
            endpoint,
            host,
            client,
            family,
            ua,
        };
        // Most keys ever hold one session: do not reserve room for four.
        let list = self
            .open
            .entry(key)
            .or_insert_with(|| Vec::with_capacity(1));
        let mut hit: Option<usize> = None;
        let mut extra: Vec<usize> = Vec::new();
        for (i, s) in list.iter().enumerate() {
            if s.accepts(t, gap) {
                if hit.is_none() {
                    hit = Some(i);
                } else {
                    extra.push(i);
                }
            }
        }
        match hit {
            None => {
                let mut s = Session::new(key, t, id);
                s.add(t, id, idx, r, &event.excerpt);
                list.push(s);
            }
            Some(i) => {
                // A request bridging two sessions merges them (out-of-order arrival).
                for j in extra.into_iter().rev() {
                    let other = list.swap_remove(j);
                    if let Some(s) = list.get_mut(i) {
                        s.merge(other);
                    }
                }
                if let Some(s) = list.get_mut(i) {
                    s.add(t, id, idx, r, &event.excerpt);
                }
            }
        }
    }

    /// Folds a 200 on mscep.dll into its server's row-1 (and, for PKIOperation, row-17) bucket.
    fn count_ok(&mut self, idx: SourceIdx, host: Sym, event: &Event, r: &IisRequest, id: [u8; 16]) {
        let t = event.event_time_us;
        let bucket = self.bucket(t);
        let cap = self.config.evidence_per_diagnosis;
        let op = usize::try_from(r.operation).unwrap_or(0).min(5);
        let pki = r.operation() == ScepOperation::PkiOperation;
        let (names, sources) = (&self.names, &self.sources);
        let Some(src) = sources.get(idx as usize) else {
            return;
        };
        for kind in [AggKind::Reached, AggKind::Submitted] {
            if kind == AggKind::Submitted && !pki {
                continue;
            }
            let agg = self
                .aggs
                .entry(AggKey {
                    scope: AggScope::Server(host),
                    kind,
                    bucket,
                })
                .or_default();
            if let Some(n) = agg.by_operation.get_mut(op) {
                *n += 1;
            }
            agg.offer((t, id), cap, || {
                make_evidence(names, src, event, &id, iis_note(r))
            });
        }
    }

    fn server_endpoint(
        &mut self,
        idx: SourceIdx,
        host: Sym,
        default_endpoint: Sym,
        endpoint_id: &str,
    ) -> Sym {
        let ep = if endpoint_id.is_empty() {
            default_endpoint
        } else {
            let cached = self
                .sources
                .get(idx as usize)
                .and_then(|s| s.endpoint_cache.as_ref())
                .filter(|(e, _)| &**e == endpoint_id)
                .map(|(_, sym)| *sym);
            match cached {
                Some(sym) => sym,
                None => {
                    let sym = self.names.intern(endpoint_id);
                    if let Some(s) = self.sources.get_mut(idx as usize) {
                        s.endpoint_cache = Some((endpoint_id.into(), sym));
                    }
                    sym
                }
            }
        };
        let registered = self.sources.get(idx as usize).and_then(|s| s.endpoint_hint);
        if registered != Some(ep) {
            self.endpoints.entry(ep).or_default().iis_hosts.insert(host);
            if let Some(s) = self.sources.get_mut(idx as usize) {
                s.endpoint_hint = Some(ep);
            }
        }
        ep
    }

    /// The user-agent family, the session-key digest and the client address's symbol of a
    /// request.
    fn client(&mut self, ip: &str, ua: &str) -> (UaFamily, u64, Sym) {
        let dig = client_digest(ip, ua);
        if let Some(&(f, c)) = self.clients.get(&dig) {
            return (f, dig, c);
        }
        if self.clients.len() >= MAX_CLIENTS {
            self.clients.clear();
        }
        let fam = user_agent::family(ua);
        let client = self.names.intern(ip);
        self.clients.insert(dig, (fam, client));
        (fam, dig, client)
    }

    fn evidence(&self, idx: SourceIdx, event: &Event, id: &[u8; 16], note: String) -> Evidence {
        match self.sources.get(idx as usize) {
            Some(src) => make_evidence(&self.names, src, event, id, note),
            None => Evidence {
                event_id: event_id_hex(id),
                time: to_rfc3339(event.event_time_us),
                time_us: event.event_time_us,
                host: String::new(),
                source: String::new(),
                kind: String::new(),
                excerpt: event.excerpt.clone(),
                note,
            },
        }
    }

    fn push_httperr(
        &mut self,
        idx: SourceIdx,
        event: &Event,
        r: &scepwatch_proto::v1::HttpErrRecord,
        id: [u8; 16],
    ) {
        let t = event.event_time_us;
        self.observe(idx, t);
        if !rule::httperr_relevant(r) {
            return;
        }
        let Some(host) = self.sources.get(idx as usize).map(|s| s.host) else {
            return;
        };
        let note = format!("HTTP.sys {} {} {}", r.status, r.reason, r.url);
        if let Some(sym) = rule::classify_httperr(r) {
            let key = AggKey {
                scope: AggScope::Server(host),
                kind: AggKind::Symptom(sym),
                bucket: self.bucket(t),
            };
            let cap = self.config.evidence_per_diagnosis;
            let (names, sources) = (&self.names, &self.sources);
            if let Some(src) = sources.get(idx as usize) {
                let n = note.clone();
                self.aggs
                    .entry(key)
                    .or_default()
                    .offer((t, id), cap, || make_evidence(names, src, event, &id, n));
            }
            if sym == rule::Symptom::Unavailable {
                self.host_state(host).context.mark_unavailable(t);
            }
        }
        let ev = self.evidence(idx, event, &id, note);
        self.host_state(host).context.add_httperr(
            (t, id),
            Record {
                time_us: t,
                evidence: ev,
                data: r.clone(),
            },
        );
    }

    fn push_context(
        &mut self,
        idx: SourceIdx,
        event: &Event,
        id: [u8; 16],
        add: impl FnOnce(&mut HostContext, (i64, [u8; 16]), PartialRecord),
    ) {
        let t = event.event_time_us;
        self.observe(idx, t);
        let Some(host) = self.sources.get(idx as usize).map(|s| s.host) else {
            return;
        };
        let ev = self.evidence(idx, event, &id, String::new());
        add(
            &mut self.host_state(host).context,
            (t, id),
            PartialRecord {
                time_us: t,
                evidence: ev,
            },
        );
    }

    fn push_install(
        &mut self,
        idx: SourceIdx,
        event: &Event,
        i: &scepwatch_proto::v1::ConnectorInstall,
        id: [u8; 16],
    ) {
        let t = event.event_time_us;
        let data = i.clone();
        self.push_context(idx, event, id, |ctx, key, rec| {
            ctx.add_install(key, rec.with(data))
        });
        let Some(host) = self.sources.get(idx as usize).map(|s| s.host) else {
            return;
        };
        let host_name = self.names.name(host).to_string();
        if let Some(text) = rule::connector::install_failed(&host_name, i) {
            let key = AggKey {
                scope: AggScope::Server(host),
                kind: AggKind::Install,
                bucket: self.bucket(t),
            };
            let ev = self.evidence(idx, event, &id, text.clone());
            let cap = self.config.evidence_per_diagnosis;
            let agg = self.aggs.entry(key).or_default();
            agg.offer((t, id), cap, || ev);
            agg.offer_text((t, id), || text);
        }
    }

    fn push_health(
        &mut self,
        idx: SourceIdx,
        event: &Event,
        h: &scepwatch_proto::v1::HealthFact,
        id: [u8; 16],
    ) {
        let t = event.event_time_us;
        let data = h.clone();
        self.push_context(idx, event, id, |ctx, key, rec| {
            ctx.add_health(key, rec.with(data))
        });
        let Some(host) = self.sources.get(idx as usize).map(|s| s.host) else {
            return;
        };
        let host_name = self.names.name(host).to_string();
        for issue in rule::health::check(&host_name, h, t, &self.config) {
            let key = AggKey {
                scope: AggScope::Server(host),
                kind: AggKind::Health(issue.code, issue.key.clone()),
                bucket: self.bucket(t),
            };
            let ev = self.evidence(idx, event, &id, issue.seen.clone());
            let cap = self.config.evidence_per_diagnosis;
            let agg = self.aggs.entry(key).or_default();
            agg.offer((t, id), cap, || ev);
            agg.offer_text((t, id), || issue.seen);
        }
    }

    fn push_probe(
        &mut self,
        idx: SourceIdx,
        event: &Event,
        p: &scepwatch_proto::v1::ProbeResult,
        id: [u8; 16],
    ) {
        let t = event.event_time_us;
        self.observe(idx, t);
        let ep_name = if !event.endpoint_id.is_empty() {
            event.endpoint_id.clone()
        } else {
            endpoint::normalize(&p.url).unwrap_or_else(|| format!("probe:{}", p.url))
        };
        let ep = self.names.intern(&ep_name);
        let st = self.endpoints.entry(ep).or_default();
        if !st.probe_sources.contains(&idx) {
            st.probe_sources.push(idx);
        }
        if let Some(code) = rule::probe::classify(p) {
            let key = AggKey {
                scope: AggScope::Endpoint(ep),
                kind: AggKind::Probe(code),
                bucket: self.bucket(t),
            };
            let ev = self.evidence(idx, event, &id, rule::probe::describe(p));
            let cap = self.config.evidence_per_diagnosis;
            self.aggs.entry(key).or_default().offer((t, id), cap, || ev);
        }
    }

    fn push_device(
        &mut self,
        idx: SourceIdx,
        event: &Event,
        id: [u8; 16],
        platform: Platform,
        payload: DevicePayload,
    ) {
        let t = event.event_time_us;
        // An event-log source carrying event 36 is a device's log, not a server's.
        if let Some(src) = self.sources.get_mut(idx as usize) {
            if src.role == Role::ServerContext {
                src.role = Role::Device;
                let host = src.host;
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.other_sources.retain(|&s| s != idx);
                }
            }
        }
        self.observe(idx, t);
        let ep_name = if !event.endpoint_id.is_empty() {
            Some(event.endpoint_id.clone())
        } else {
            let url = device::url(&payload);
            if url.is_empty() {
                None
            } else {
                endpoint::normalize(url)
            }
        };
        let endpoint = ep_name.map(|e| self.names.intern(&e));
        let evidence = self.evidence(idx, event, &id, String::new());
        let rec = DeviceRecord {
            endpoint,
            platform,
            marker: device::marker(&payload),
            tx: device::transaction_id(&payload),
            event: DeviceEvent {
                time_us: t,
                evidence,
                payload,
            },
        };
        let dev = self.devices.entry(idx).or_default();
        if dev.finalized_up_to.is_some_and(|f| t <= f) {
            self.late_events += 1;
        }
        dev.records.insert((t, event.position, id), rec);
    }

    /// Takes the coverage of one source: `[read_from_us, read_up_to_us]` has been read. A
    /// watermark with `read_up_to_us < read_from_us` announces the source without covering
    /// anything. A non-empty `endpoint_id` makes an IIS source's host an expected server of that
    /// endpoint.
    pub fn watermark(&mut self, wm: &Watermark) {
        self.watermarks += 1;
        self.taken_since_run = self.taken_since_run.min(wm.read_up_to_us);
        let idx = self.source_of(wm.source.as_ref());
        let Some(src) = self.sources.get_mut(idx as usize) else {
            return;
        };
        src.watermark(wm.read_from_us, wm.read_up_to_us);
        let covers = wm.read_from_us == 0 || wm.read_up_to_us >= wm.read_from_us;
        if covers && src.delivery == 0 {
            self.deliveries += 1;
            src.delivery = self.deliveries;
        }
        let (role, host) = (src.role, src.host);
        match role {
            Role::Iis => {
                let ep = if wm.endpoint_id.is_empty() {
                    self.host_state(host).default_endpoint
                } else {
                    self.names.intern(&wm.endpoint_id)
                };
                self.endpoints.entry(ep).or_default().iis_hosts.insert(host);
            }
            Role::Probe if !wm.endpoint_id.is_empty() => {
                let ep = self.names.intern(&wm.endpoint_id);
                let st = self.endpoints.entry(ep).or_default();
                if !st.probe_sources.contains(&idx) {
                    st.probe_sources.push(idx);
                }
            }
            Role::ServerContext => {
                self.host_state(host);
            }
            _ => {}
        }
        self.bump_progress(idx);
    }

    /// Emits whatever the progress reported so far allows.
    pub fn advance(&mut self, out: &mut dyn Sink) {
        self.run(out, false);
    }

    /// End of input: emits everything still held.
    pub fn finish(mut self, out: &mut dyn Sink) {
        self.run(out, true);
    }

    fn progress_of(&self, idx: SourceIdx) -> Option<i64> {
        self.sources
            .get(idx as usize)
            .and_then(|s| s.progress(self.config.implicit_watermarks))
    }

    fn stalled(&self, t: i64) -> bool {
        match (self.config.stall_timeout_us, self.global_progress) {
            (Some(st), Some(g)) => g >= t.saturating_add(st),
            _ => false,
        }
    }

    /// Recomputes every host's pending spans from its sources (once per [`Engine::run`]: the
    /// sources do not change while it runs).
    ///
    /// A host's IIS logs hold back the spans their files may still deliver (see [`watermark`]):
    /// a host expecting an IIS log with none known holds back everything. Its context logs hold
    /// back theirs too, unless idle: delivered, and more than `idle_source_us` behind the newest
    /// IIS progress (e.g. a one-shot SetupMsi.log). A host without IIS log is measured by its
    /// newest context source.
    fn refresh_holds(&mut self) {
        let implicit = self.config.implicit_watermarks;
        let idle = self.config.idle_source_us;
        let sources = &self.sources;
        for h in self.hosts.values_mut() {
            h.iis_hold.clear();
            h.hold.clear();
            let measured_by_context = h.iis_sources.is_empty() && !h.expects_iis;
            if h.iis_sources.is_empty() {
                if h.expects_iis {
                    h.iis_hold.push((i64::MIN, i64::MAX));
                }
            } else {
                pending_spans(sources, &h.iis_sources, implicit, None, &mut h.iis_hold);
            }
            h.hold.extend_from_slice(&h.iis_hold);
            let reference = if measured_by_context {
                let newest = h
                    .other_sources
                    .iter()
                    .filter_map(|&i| sources.get(i as usize))
                    .filter_map(|s| s.delivered_progress(implicit))
                    .max();
                h.hold.push((newest.unwrap_or(i64::MIN), i64::MAX));
                newest
            } else {
                h.iis_read
            };
            let idle_before = reference.map(|r| r.saturating_sub(idle));
            pending_spans(
                sources,
                &h.other_sources,
                implicit,
                idle_before,
                &mut h.hold,
            );
        }
    }

    /// True when `host` has delivered everything of `[from, to]`: its IIS logs and every context
    /// log that is not idle (see [`Engine::refresh_holds`]).
    fn host_ready(&self, host: Sym, from: i64, to: i64) -> bool {
        self.hosts
            .get(&host)
            .is_some_and(|h| !overlaps(&h.hold, from, to))
    }

    fn segment_ready(&self, seg: &Segment, open: &SpanIndex<'_>) -> bool {
        let Some(ep) = seg.endpoint else { return true };
        let hold = self.config.join_window_us.max(self.config.crash_window_us);
        let t = seg.end.saturating_add(hold);
        if self.stalled(t) {
            return true;
        }
        let Some(st) = self.endpoints.get(&ep) else {
            return false;
        };
        // Back to where a session that could join it may start (a request within the gap).
        let from = seg
            .start
            .saturating_sub(hold)
            .saturating_sub(self.config.attempt_gap_us);
        if st.iis_hosts.is_empty() || !st.iis_hosts.iter().all(|&h| self.host_ready(h, from, t)) {
            return false;
        }
        let family = UaFamily::of_platform(seg.platform);
        let (from, to) = (
            seg.start.saturating_sub(self.config.join_window_us),
            seg.end.saturating_add(self.config.join_window_us),
        );
        // An open session that could still join it holds it back.
        !open.meets(ep, family, from, to, seg.tx.iter().map(|t| &**t))
    }

    fn run(&mut self, out: &mut dyn Sink, force: bool) {
        let gap = self.config.attempt_gap_us;
        let jw = self.config.join_window_us;
        let cw = self.config.crash_window_us;
        self.refresh_holds();

        // 1. Close sessions whose server's IIS logs have delivered every request that could still
        // join them.
        let (hosts, endpoints) = (&self.hosts, &mut self.endpoints);
        self.open.retain(|k, list| {
            let hold = hosts.get(&k.host).map(|h| &h.iis_hold);
            let mut i = 0;
            while let Some(s) = list.get(i) {
                let (from, to) = (s.start.saturating_sub(gap), s.end.saturating_add(gap));
                if force || hold.is_some_and(|h| !overlaps(h, from, to)) {
                    let s = list.swap_remove(i);
                    endpoints.entry(k.endpoint).or_default().pending.push(s);
                } else {
                    i += 1;
                }
            }
            !list.is_empty()
        });

        // 2. Finalize device attempts.
        let mut open_index = SpanIndex::default();
        for (k, list) in &self.open {
            for s in list {
                open_index.add(
                    k.endpoint,
                    k.family,
                    s.start,
                    s.end,
                    s.tx.iter().map(|t| &**t),
                );
            }
        }
        open_index.seal();
        let mut ready: Vec<(SourceIdx, Segment)> = Vec::new();
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut rivals = Rivals::default();
        for (&src, dev) in &self.devices {
            let progress = self.progress_of(src);
            let mut blocked = false;
            for seg in dev.segments(gap) {
                // A later record closes a segment only when sources arrive in time order. The
                // last one of a log that went quiet closes with the stall timeout.
                let closed = force
                    || (seg.followed && self.config.implicit_watermarks)
                    || dev.finalized_up_to.is_some_and(|f| f > seg.end)
                    || progress.is_some_and(|p| p > seg.end.saturating_add(gap))
                    || self.stalled(seg.end.saturating_add(gap));
                if !blocked && closed && (force || self.segment_ready(&seg, &open_index)) {
                    ready.push((src, seg));
                } else {
                    blocked = true;
                    if let Some(ep) = seg.endpoint {
                        let family = UaFamily::of_platform(seg.platform);
                        // One still growing may yet log a transactionID.
                        rivals.add(ep, family, src, &seg, jw, closed && seg.tx.is_empty());
                        waiting.push(Waiting::of(ep, family, &seg));
                    }
                }
            }
        }
        drop(open_index);
        rivals.seal();
        ready.sort_by(|a, b| {
            (a.1.start, a.1.end, a.1.keys.first()).cmp(&(b.1.start, b.1.end, b.1.keys.first()))
        });
        // Joins by transactionID first: they take only sessions carrying the device's own
        // transactionIDs, which a fallback join would otherwise take (or count as a candidate)
        // when it comes first.
        let mut later: Vec<(SourceIdx, Segment)> = Vec::with_capacity(ready.len());
        for (src, seg) in ready {
            if self.joins_by_transaction(&seg) {
                self.finalize_ready(src, &seg, out);
            } else {
                later.push((src, seg));
            }
        }
        // Then the rest in time order. A fallback join waits while a device attempt that could
        // take one of its sessions is not finalized: one that comes before it in this order, or
        // may still join by transactionID (see `Rivals`). Which attempts are ready together
        // depends on when `advance` runs; the joins then do not.
        let mut held_sources: BTreeSet<SourceIdx> = BTreeSet::new();
        let mut held_reach: FastMap<(Sym, UaFamily), i64> = FastMap::default();
        let hold = jw.max(cw);
        for (src, seg) in later {
            let family = UaFamily::of_platform(seg.platform);
            let held = match seg.endpoint {
                Some(ep) if !force && !self.stalled(seg.end.saturating_add(hold)) => {
                    let from = seg.start.saturating_sub(jw);
                    held_sources.contains(&src)
                        || ((held_reach.get(&(ep, family)).is_some_and(|&r| r >= from)
                            || rivals.meet(ep, family, src, &seg, jw))
                            && self.joins_by_fallback(&seg))
                }
                _ => false,
            };
            if !held {
                self.finalize_ready(src, &seg, out);
                continue;
            }
            held_sources.insert(src);
            if let Some(ep) = seg.endpoint {
                let reach = held_reach.entry((ep, family)).or_insert(i64::MIN);
                *reach = (*reach).max(seg.end.saturating_add(jw));
                waiting.push(Waiting::of(ep, family, &seg));
            }
        }

        // 3. Release sessions nothing can join any more.
        let mut waiting_index = SpanIndex::default();
        for w in &waiting {
            waiting_index.add(
                w.endpoint,
                w.family,
                w.start.saturating_sub(jw),
                w.end.saturating_add(jw),
                w.tx.iter().map(|t| &**t),
            );
        }
        waiting_index.seal();
        let stall = self.config.stall_timeout_us.zip(self.global_progress);
        let (hosts, endpoints) = (&self.hosts, &mut self.endpoints);
        let mut release: Vec<(Sym, Session)> = Vec::new();
        for (&ep, st) in endpoints.iter_mut() {
            // In place: while a server's context is still to be read, most sessions stay.
            let mut i = 0;
            while let Some(s) = st.pending.get(i) {
                let t = s.end.saturating_add(jw.max(cw));
                let free = force
                    || stall.is_some_and(|(timeout, g)| g >= t.saturating_add(timeout))
                    || (hosts.get(&s.key.host).is_some_and(|h| {
                        !overlaps(
                            &h.hold,
                            s.start.saturating_sub(cw),
                            s.end.saturating_add(cw),
                        )
                    }) && !waiting_index.meets(
                        ep,
                        s.key.family,
                        s.start,
                        s.end,
                        s.tx.iter().map(|t| &**t),
                    ));
                if free {
                    release.push((ep, st.pending.swap_remove(i)));
                } else {
                    i += 1;
                }
            }
        }
        // Symbols depend on arrival order: endpoints are taken by name.
        let mut by_name: Vec<Sym> = release.iter().map(|r| r.0).collect();
        by_name.sort_unstable();
        by_name.dedup();
        by_name.sort_by(|a, b| self.names.name(*a).cmp(self.names.name(*b)));
        let rank = |ep: Sym| by_name.iter().position(|&e| e == ep).unwrap_or(usize::MAX);
        release.sort_by_cached_key(|(ep, s)| (rank(*ep), s.start, s.first));
        for (ep, s) in release {
            self.finalize_server_only(ep, s, out);
        }

        // 4. Emit buckets whose scope has been read past.
        let window = self.config.aggregate_window_us.max(1);
        let mut due: Vec<AggKey> = self
            .aggs
            .keys()
            .filter(|k| {
                let t = k.bucket.saturating_add(window).saturating_add(cw);
                force
                    || self.stalled(t)
                    || match k.scope {
                        AggScope::Server(h) => self.host_ready(h, k.bucket.saturating_sub(cw), t),
                        AggScope::Endpoint(ep) => {
                            self.endpoint_ready(ep, k.bucket.saturating_sub(cw), t)
                        }
                    }
            })
            .cloned()
            .collect();
        due.sort_unstable();
        for k in due {
            if let Some(agg) = self.aggs.remove(&k) {
                self.emit_aggregate(&k, agg, out);
            }
        }

        // 5. Forget old context.
        if !force {
            self.prune();
            self.hold_point = self.hold_point();
        }
        self.taken_since_run = i64::MAX;
    }

    /// How far before the earliest event time a result may still depend on the restart point
    /// lies (see [`Engine::held_since`]): an attempt gap (a session or device attempt that starts
    /// later than this after the point cannot have lost an earlier event) plus twice the larger
    /// of the join and crash windows and a minute (the host context, server-only attempts and
    /// unavailable minutes a result consults around its own time).
    pub fn replay_margin_us(&self) -> i64 {
        let c = &self.config;
        c.attempt_gap_us
            .saturating_add(c.join_window_us.max(c.crash_window_us).saturating_mul(2))
            .saturating_add(MINUTE_US)
    }

    /// The restart point of a partition: the earliest event time (µs) the results this engine
    /// may still emit depend on, less [`Engine::replay_margin_us`]; `None` when it holds nothing
    /// and no source may deliver anything.
    ///
    /// # The contract with the service
    ///
    /// Records of a partition are pushed in offset order and [`Engine::advance`] is called after
    /// each poll; the sink's results are stored, then the service commits the offset of the first
    /// record (in offset order) whose *latest time* (the largest `event_time_us` of its events
    /// and `read_up_to_us` of its watermarks) is at or after this point, or the next offset when
    /// there is none, and keeps the point with the offset (the commit's metadata). After a crash
    /// or a rebalance the new engine is given the point with [`Engine::replay_from`] and fed the
    /// records from the committed offset on: the results stored before, with the replay's
    /// upserted by their IDs, are those of an uninterrupted run. Every record before the
    /// committed one holds only events and progress before the point; the replaying engine sees
    /// every event at or after it, and emits nothing that starts less than
    /// [`Engine::replay_margin_us`] after it (results it cannot have seen whole; the engine that
    /// ran before emitted them).
    ///
    /// # What holds the point back
    ///
    /// Each piece of state, and whether a replay must rebuild it:
    /// - **Open and pending sessions**: rebuilt. Their start.
    /// - **Device records not finalized**: rebuilt. The earliest record of each device log.
    /// - **Buckets not emitted** (server and endpoint diagnoses): rebuilt. The bucket's start
    ///   (fixed buckets: a replay must see the whole bucket).
    /// - **Source progress**: the sources that may still deliver (a host's pending spans: IIS
    ///   files not finished, context logs not idle; probes). Events they deliver later start
    ///   sessions and buckets the replay must not take for partial ones: the progress, less the
    ///   attempt gap and the larger of the join and crash windows (a device log in the contract
    ///   relates to windows not read past), taken to its bucket's start. A host that expects an
    ///   IIS log none of which is known holds everything. Progress itself is not rebuilt from
    ///   the records before the point: the collectors' watermarks carry each source's
    ///   `read_from_us` and progress, so the first replayed record of a source restores its
    ///   coverage (row 2 is concluded from it).
    /// - **Server-only attempts remembered** (span, family, ID: a device-only attempt names the
    ///   ones of its window): rebuilt where a held or future device attempt may still consult
    ///   them, i.e. those ending after the earliest of the above less the join window. Their
    ///   start.
    /// - **Host context by time window** (crashes, CAPI2, HTTP.sys, CertificateRegistrationSvc,
    ///   503 minutes): a result consults it around its own time only, which the margin covers:
    ///   nothing more to hold.
    /// - **Health facts and installation summaries**: rules consult them regardless of time (the
    ///   nearest fact, the first Root store intermediates, the latest install), so every one the
    ///   engine holds within the context retention ([`CONTEXT_RETENTION_US`] behind its host's
    ///   IIS progress) holds the point back. Older ones, which a running engine keeps as the
    ///   newest fact of their kind (state that stays true until observed otherwise), are **not**
    ///   rebuilt: holding them would hold the point for ever. A replay differs from the
    ///   uninterrupted run only when a result consults such a fact, not re-reported for the
    ///   whole retention.
    /// - **Interned names, the client cache, counters**: not results' inputs (names are compared
    ///   as text, the cache only saves work): nothing to hold.
    ///
    /// # The cost of the host context
    ///
    /// On a server with a health collector the facts hold the point up to the context retention
    /// (two days) behind, where sessions, device attempts, hourly buckets and context logs not
    /// yet idle alone hold it an hour or two behind. Measured on a generated three-day partition
    /// (`tests/engine_replay.rs`): without health facts the point sits 82 minutes behind the
    /// newest record (median; 157 at the 99th percentile) and a restart replays about 80
    /// records; with facts reported every six hours, 47 hours and about 2,300 records, two
    /// days of the partition (bounded, idempotent, but long). Past the retention the running
    /// engine also keeps, per fact identity, the newest fact older than its last prune, and
    /// when that prune ran depends on when `advance` was called: results consulting health
    /// facts after two days may differ from a replay's (and between two uninterrupted runs
    /// advanced differently). The alternative, not built: keep the long-lived state (health
    /// facts, installs, remembered server-only attempts) in a compacted store of its own,
    /// written as it changes and read back before [`Engine::replay_from`], and have the rules
    /// consult facts within a fixed window of their own time; the point then follows the
    /// attempts and buckets only.
    ///
    /// Computed at each [`Engine::advance`] (one pass over the state it walks anyway); events
    /// and watermarks taken since are accounted for by their times, so the call itself costs a
    /// few comparisons. An engine told [`Engine::replay_from`] never answers less than that
    /// point (a chain of restarts keeps moving forward).
    pub fn held_since(&self) -> Option<i64> {
        let held = match (self.hold_point, self.taken_since_run) {
            (h, i64::MAX) => h?,
            (Some(h), t) => h.min(t),
            (None, t) => t,
        };
        let point = held.saturating_sub(self.replay_margin_us());
        // A replay needs nothing before its own point: what it holds from before was emitted by
        // the engine before it (and the records before that point are not fed again).
        Some(self.replay_point.map_or(point, |p| point.max(p)))
    }

    /// Declares this engine a replay of a partition from `point`, the [`Engine::held_since`] of
    /// the engine that ran before (kept with the committed offset): attempts and buckets that
    /// start less than [`Engine::replay_margin_us`] after it, and device-only attempts naming a
    /// server-only attempt that does, are not emitted (the replay may not have seen all their
    /// events; the engine before emitted them). Call before pushing anything.
    pub fn replay_from(&mut self, point: i64) {
        self.replay_point = Some(point);
        self.replay_quiet = Some(point.saturating_add(self.replay_margin_us()));
    }

    /// The earliest event time the state depends on (see [`Engine::held_since`]), margin not
    /// subtracted.
    fn hold_point(&self) -> Option<i64> {
        let gap = self.config.attempt_gap_us;
        let jw = self.config.join_window_us;
        let cw = self.config.crash_window_us;
        let lead = jw.max(cw).saturating_add(gap);
        let mut m = i64::MAX;
        for s in self.open.values().flatten() {
            m = m.min(s.start);
        }
        for st in self.endpoints.values() {
            for s in &st.pending {
                m = m.min(s.start);
            }
            for &p in &st.probe_sources {
                if let Some(p) = self.progress_of(p) {
                    m = m.min(self.bucket(p.saturating_sub(gap)));
                }
            }
        }
        for d in self.devices.values() {
            if let Some(k) = d.records.keys().next() {
                m = m.min(k.0);
            }
        }
        for k in self.aggs.keys() {
            m = m.min(k.bucket);
        }
        for h in self.hosts.values() {
            for &(after, _) in &h.hold {
                m = m.min(self.bucket(after.saturating_sub(lead)));
            }
            let kept_from = h.iis_read.map_or(i64::MIN, |p| {
                p.saturating_sub(CONTEXT_RETENTION_US).saturating_sub(cw)
            });
            let c = &h.context;
            let from = (kept_from, [0u8; 16])..;
            for t in [
                c.health.range(from.clone()).next().map(|(k, _)| k.0),
                c.installs.range(from).next().map(|(k, _)| k.0),
            ]
            .into_iter()
            .flatten()
            {
                m = m.min(t);
            }
        }
        // Server-only attempts a device attempt still to come may name.
        let consulted_from = m.saturating_sub(jw);
        let mut r = m;
        for st in self.endpoints.values() {
            for x in &st.released {
                if x.end >= consulted_from {
                    r = r.min(x.start);
                }
            }
        }
        (r != i64::MAX).then_some(r)
    }

    fn endpoint_ready(&self, ep: Sym, from: i64, t: i64) -> bool {
        let Some(st) = self.endpoints.get(&ep) else {
            return false;
        };
        let probes: Vec<i64> = st
            .probe_sources
            .iter()
            .filter_map(|&s| self.progress_of(s))
            .collect();
        if probes.is_empty() || probes.iter().any(|&p| p < t) {
            return false;
        }
        st.iis_hosts.iter().all(|&h| {
            self.host_ready(h, from, t)
                || self
                    .hosts
                    .get(&h)
                    .is_none_or(|x| x.iis_sources.is_empty() && x.other_sources.is_empty())
        })
    }

    fn prune(&mut self) {
        let Some(g) = self.global_progress else {
            return;
        };
        if g.saturating_sub(self.pruned_at) < 60 * MINUTE_US {
            return;
        }
        self.pruned_at = g;
        // Never drop context something still held may consult: a device log or another server
        // read later than this one (files read one after another) keeps old windows open.
        let oldest_held: i64 = self
            .devices
            .values()
            .filter_map(|d| d.records.keys().next().map(|k| k.0))
            .chain(self.open.values().flatten().map(|s| s.start))
            .chain(
                self.endpoints
                    .values()
                    .flat_map(|e| e.pending.iter().map(|s| s.start)),
            )
            .chain(self.aggs.keys().map(|k| k.bucket))
            .min()
            .unwrap_or(g);
        let margin = self
            .config
            .crash_window_us
            .saturating_add(CONTEXT_RETENTION_US);
        for h in self.hosts.values_mut() {
            // A host is measured by its own IIS log: another host's log read earlier says nothing
            // about how far this one's requests have been read.
            if let Some(p) = h.iis_read {
                h.context.prune(p.min(oldest_held).saturating_sub(margin));
            }
        }
        // A device attempt still held (a device log or a server file read later) may yet cite
        // the server-only attempts of its time.
        let released_before = g.min(oldest_held).saturating_sub(RELEASED_RETENTION_US);
        for st in self.endpoints.values_mut() {
            st.released.retain(|r| r.end >= released_before);
        }
    }

    /// The rules' view of a session; samples of successful requests are only built when
    /// `ok_samples` (an attempt with a device side, where rows 1 and 17 cite them).
    fn server_part(&self, s: &Session, ok_samples: bool) -> rule::ServerPart {
        let mut classes: Vec<&session::Class> = s.classes.iter().collect();
        classes.sort_by_key(|c| c.first);
        let requests = classes
            .into_iter()
            .map(|c| {
                let wanted = ok_samples || c.status != 200;
                let sample = self
                    .sources
                    .get(c.sample.source as usize)
                    .filter(|_| wanted)
                    .map(|src| Evidence {
                        event_id: event_id_hex(&c.sample.key.1),
                        time: to_rfc3339(c.sample.key.0),
                        time_us: c.sample.key.0,
                        host: self.names.name(src.host).to_string(),
                        source: self.names.name(src.path).to_string(),
                        kind: src.kind_name.to_string(),
                        excerpt: c.sample.excerpt.to_string(),
                        note: String::new(),
                    });
                rule::RequestClass {
                    operation: ScepOperation::try_from(c.operation)
                        .unwrap_or(ScepOperation::Unspecified),
                    status: c.status,
                    substatus: c.substatus,
                    win32_status: c.win32,
                    count: c.count,
                    first_us: c.first.0,
                    last_us: c.last.0,
                    max_query_length: c.max_query,
                    first_event: c.first.1,
                    sample,
                }
            })
            .collect();
        rule::ServerPart {
            host: self.names.name(s.key.host).to_string(),
            client_ip: self.names.name(s.key.client).to_string(),
            user_agent_family: s.key.family.name(),
            start_us: s.start,
            end_us: s.end,
            requests,
            transaction_ids: s.tx.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn coverage(&self, ep: Sym, start: i64, end: i64, family: UaFamily) -> Coverage {
        let jw = self.config.join_window_us;
        let (from, to) = (start.saturating_sub(jw), end.saturating_add(jw));
        let Some(st) = self.endpoints.get(&ep) else {
            return Coverage {
                window: (from, to),
                ..Default::default()
            };
        };
        let mut hosts: Vec<HostCoverage> = st
            .iis_hosts
            .iter()
            .map(|&h| {
                let intervals: Vec<(i64, i64)> = self
                    .hosts
                    .get(&h)
                    .map(|hs| {
                        hs.iis_sources
                            .iter()
                            .filter_map(|&s| self.sources.get(s as usize))
                            .filter_map(|s| s.coverage(self.config.implicit_watermarks))
                            .collect()
                    })
                    .unwrap_or_default();
                HostCoverage {
                    host: self.names.name(h).to_string(),
                    missing: uncovered(intervals, from, to),
                }
            })
            .collect();
        hosts.sort_by(|a, b| a.host.cmp(&b.host));
        let mut elsewhere: Vec<String> = st
            .released
            .iter()
            .filter(|r| r.family == family && r.start <= to && r.end >= from)
            .map(|r| r.id.clone())
            .collect();
        elsewhere.sort();
        elsewhere.dedup();
        Coverage {
            window: (from, to),
            hosts,
            traffic_reported_elsewhere: elsewhere,
        }
    }

    fn finalize_device(
        &mut self,
        src: SourceIdx,
        seg: &Segment,
        records: Vec<DeviceRecord>,
        out: &mut dyn Sink,
    ) {
        let jw = self.config.join_window_us;
        let (join, sessions) = match seg.endpoint {
            Some(ep) => {
                let names = &self.names;
                match self.endpoints.get_mut(&ep) {
                    Some(st) => {
                        let j = correlate::join(seg, &st.pending, names, jw);
                        let mut idx = j.sessions.clone();
                        idx.sort_unstable();
                        let mut taken: Vec<Session> = Vec::new();
                        for i in idx.into_iter().rev() {
                            if i < st.pending.len() {
                                taken.push(st.pending.swap_remove(i));
                            }
                        }
                        ((j.method, j.confidence), taken)
                    }
                    None => (
                        (JoinMethod::DeviceOnly, crate::model::Confidence::High),
                        Vec::new(),
                    ),
                }
            }
            None => (
                (JoinMethod::DeviceOnly, crate::model::Confidence::High),
                Vec::new(),
            ),
        };
        let device_host = self
            .sources
            .get(src as usize)
            .map(|s| self.names.name(s.host).to_string());
        self.emit_attempt(
            seg.endpoint,
            Some((device_host, seg.platform, records)),
            sessions,
            join,
            out,
        );
    }

    /// Finalizes a ready device attempt: takes its records and joins it.
    fn finalize_ready(&mut self, src: SourceIdx, seg: &Segment, out: &mut dyn Sink) {
        let records = match self.devices.get_mut(&src) {
            Some(d) => d.take(seg),
            None => return,
        };
        self.finalize_device(src, seg, records, out);
    }

    /// Whether `seg` would join a closed session of its endpoint by transactionID now.
    fn joins_by_transaction(&self, seg: &Segment) -> bool {
        !seg.tx.is_empty()
            && seg
                .endpoint
                .and_then(|ep| self.endpoints.get(&ep))
                .is_some_and(|st| correlate::shares_transaction(seg, &st.pending))
    }

    /// Whether `seg` would join a closed session of its endpoint by the time-window fallback
    /// now.
    fn joins_by_fallback(&self, seg: &Segment) -> bool {
        seg.endpoint
            .and_then(|ep| self.endpoints.get(&ep))
            .is_some_and(|st| {
                correlate::join(seg, &st.pending, &self.names, self.config.join_window_us).method
                    == JoinMethod::Fallback
            })
    }

    fn finalize_server_only(&mut self, ep: Sym, s: Session, out: &mut dyn Sink) {
        let family = s.key.family;
        let (start, end) = (s.start, s.end);
        let id = self.emit_attempt(
            Some(ep),
            None,
            vec![s],
            (JoinMethod::ServerOnly, crate::model::Confidence::High),
            out,
        );
        if let Some(st) = self.endpoints.get_mut(&ep) {
            if st.released.len() >= RELEASED_MAX {
                st.released.pop_front();
            }
            st.released.push_back(Released {
                start,
                end,
                family,
                id,
            });
        }
    }

    /// Builds, diagnoses and emits one attempt; returns its ID.
    fn emit_attempt(
        &mut self,
        ep: Option<Sym>,
        device: Option<(Option<String>, Platform, Vec<DeviceRecord>)>,
        mut sessions: Vec<Session>,
        join: (JoinMethod, crate::model::Confidence),
        out: &mut dyn Sink,
    ) -> String {
        let endpoint_name = ep
            .map(|e| self.names.name(e).to_string())
            .unwrap_or_default();
        sessions.sort_by(|a, b| {
            (self.names.name(a.key.host), a.start, a.first).cmp(&(
                self.names.name(b.key.host),
                b.start,
                b.first,
            ))
        });
        let (device_host, platform, records) = match device {
            Some((h, p, r)) => (h, p, r),
            None => (None, Platform::Unknown, Vec::new()),
        };
        let device_events: Vec<DeviceEvent> = records.into_iter().map(|r| r.event).collect();
        let mut first: Option<EventKey> = sessions.iter().map(|s| s.first).min();
        let mut start = sessions.iter().map(|s| s.start).min().unwrap_or(i64::MAX);
        let mut end = sessions.iter().map(|s| s.end).max().unwrap_or(i64::MIN);
        for e in &device_events {
            start = start.min(e.time_us);
            end = end.max(e.time_us);
            let mut id = [0u8; 16];
            decode_hex_id(&e.evidence.event_id, &mut id);
            let k = (e.time_us, id);
            if first.is_none_or(|f| k < f) {
                first = Some(k);
            }
        }
        if start > end {
            start = 0;
            end = 0;
        }
        let first_id = first.map(|f| f.1).unwrap_or([0; 16]);
        let attempt_id = attempt::attempt_id(&endpoint_name, &first_id);
        let family = match sessions.first() {
            Some(s) => s.key.family,
            None => UaFamily::of_platform(platform),
        };
        let with_device = !device_events.is_empty();
        let servers: Vec<rule::ServerPart> = sessions
            .iter()
            .map(|s| self.server_part(s, with_device))
            .collect();
        let coverage = match (join.0, ep) {
            (JoinMethod::DeviceOnly, Some(ep)) => self.coverage(ep, start, end, family),
            _ => Coverage::default(),
        };
        let quiet = self.replay_quiet.is_some_and(|q| {
            start < q
                || (join.0 == JoinMethod::DeviceOnly
                    && ep.is_some_and(|ep| self.names_early_release(ep, start, end, family, q)))
        });
        let mut host_syms: BTreeSet<Sym> = sessions.iter().map(|s| s.key.host).collect();
        if let Some(st) = ep.and_then(|e| self.endpoints.get(&e)) {
            host_syms.extend(st.iis_hosts.iter().copied());
        }
        let mut contexts: Vec<&HostContext> = host_syms
            .iter()
            .filter_map(|h| self.hosts.get(h).map(|x| &x.context))
            .collect();
        contexts.sort_by(|a, b| a.host.cmp(&b.host));
        let view = rule::AttemptView {
            attempt_id: attempt_id.clone(),
            endpoint: endpoint_name.clone(),
            start_us: start,
            end_us: end,
            platform,
            join: join.0,
            device_host: device_host.clone(),
            device_events,
            servers,
            hosts: contexts,
            coverage,
            config: &self.config,
        };
        let findings = rule::attempt_findings(&view);
        if quiet {
            drop(view);
            self.replay_suppressed += 1;
            return attempt_id;
        }
        let mut codes: Vec<String> = Vec::new();
        let mut severity = Severity::Info;
        let mut diagnoses = Vec::new();
        for f in findings {
            let d = attempt::to_diagnosis(
                f,
                Scope::Attempt(attempt_id.clone()),
                &endpoint_name,
                self.config.evidence_per_diagnosis,
            );
            severity = severity.max(d.severity);
            if !codes.contains(&d.code) {
                codes.push(d.code.clone());
            }
            diagnoses.push(d);
        }
        let summary = AttemptSummary {
            id: &attempt_id,
            endpoint: &endpoint_name,
            join: join.0,
            confidence: join.1,
            platform,
            severity,
            start_us: start,
            end_us: end,
        };
        // The timeline and the texts only for an attempt the sink keeps in full.
        let full = out.wants_attempt(&summary).then(|| {
            let mut tx: BTreeSet<String> = sessions
                .iter()
                .flat_map(|s| s.tx.iter().map(|t| t.to_string()))
                .collect();
            tx.extend(
                view.device_events
                    .iter()
                    .filter_map(|e| device::transaction_id(&e.payload))
                    .map(String::from),
            );
            let mut server_names: Vec<String> =
                view.servers.iter().map(|s| s.host.clone()).collect();
            server_names.sort();
            server_names.dedup();
            Attempt {
                id: attempt_id.clone(),
                endpoint: endpoint_name.clone(),
                start: to_rfc3339(start),
                end: to_rfc3339(end),
                start_us: start,
                end_us: end,
                join: join.0,
                confidence: join.1,
                platform,
                device: device_host.clone(),
                servers: server_names,
                client_ip: view.servers.first().map(|s| s.client_ip.clone()),
                user_agent_family: Some(family.name().to_string()),
                transaction_ids: tx.into_iter().collect(),
                steps: steps(&view),
                diagnoses: codes,
                severity,
            }
        });
        drop(view);
        for d in diagnoses {
            self.diagnoses_emitted += 1;
            out.diagnosis(d);
        }
        self.attempts_emitted += 1;
        match full {
            Some(a) => out.attempt(a),
            None => out.attempt_summary(&summary),
        }
        attempt_id
    }

    /// True when a device-only attempt of `ep` over `[start, end]` names a server-only attempt
    /// that starts before `quiet` (a replay may not have seen it whole, so not know its ID).
    fn names_early_release(
        &self,
        ep: Sym,
        start: i64,
        end: i64,
        family: UaFamily,
        quiet: i64,
    ) -> bool {
        let jw = self.config.join_window_us;
        let (from, to) = (start.saturating_sub(jw), end.saturating_add(jw));
        self.endpoints.get(&ep).is_some_and(|st| {
            st.released
                .iter()
                .any(|r| r.family == family && r.start < quiet && r.start <= to && r.end >= from)
        })
    }

    fn emit_aggregate(&mut self, k: &AggKey, agg: Agg, out: &mut dyn Sink) {
        if self.replay_quiet.is_some_and(|q| k.bucket < q) {
            self.replay_suppressed += 1;
            return;
        }
        let cap = self.config.evidence_per_diagnosis;
        let summary_host = match k.scope {
            AggScope::Server(h) => self.names.name(h).to_string(),
            AggScope::Endpoint(ep) => self.names.name(ep).to_string(),
        };
        let summary = rule::SymptomSummary {
            host: summary_host.clone(),
            count: agg.count,
            first_us: agg.first_us,
            last_us: agg.last_us,
            evidence: agg.evidence.iter().map(|(_, e)| e.clone()).collect(),
        };
        let empty = HostContext::new(&summary_host);
        let (scope, endpoint_name, findings): (Scope, String, Vec<Finding>) = match k.scope {
            AggScope::Server(h) => {
                let hs = self.hosts.get(&h);
                let ctx = hs.map(|x| &x.context).unwrap_or(&empty);
                let ep = hs
                    .map(|x| self.names.name(x.default_endpoint).to_string())
                    .unwrap_or_default();
                let findings = match &k.kind {
                    AggKind::Symptom(sym) => {
                        rule::server_findings(*sym, &summary, ctx, &self.config)
                    }
                    AggKind::Health(code, _) | AggKind::Probe(code) => {
                        let text = agg
                            .text
                            .as_ref()
                            .map(|(_, t)| t.clone())
                            .unwrap_or_default();
                        vec![
                            Finding::new(code, format!("{text} {}", agg.span_sentence()))
                                .with_evidence(summary.evidence.clone())
                                .with_occurrences(agg.count, agg.first_us, agg.last_us),
                        ]
                    }
                    AggKind::Reached => vec![rule::iis_status::reached_server(
                        &summary,
                        &agg.by_operation,
                    )],
                    AggKind::Submitted => vec![rule::iis_status::submitted_server(&summary)],
                    AggKind::Install => {
                        let text = agg
                            .text
                            .as_ref()
                            .map(|(_, t)| t.clone())
                            .unwrap_or_default();
                        vec![Finding::new(catalog::CONNECTOR_INSTALL_FAILED, text)
                            .with_evidence(summary.evidence.clone())
                            .with_occurrences(agg.count, agg.first_us, agg.last_us)]
                    }
                };
                (Scope::Server(summary_host.clone()), ep, findings)
            }
            AggScope::Endpoint(ep) => {
                let mut contexts: Vec<&HostContext> = self
                    .endpoints
                    .get(&ep)
                    .map(|st| {
                        st.iis_hosts
                            .iter()
                            .filter_map(|h| self.hosts.get(h).map(|x| &x.context))
                            .collect()
                    })
                    .unwrap_or_default();
                contexts.sort_by(|a, b| a.host.cmp(&b.host));
                let findings = match &k.kind {
                    AggKind::Probe(code) => {
                        rule::probe::endpoint_findings(code, &summary, &contexts, &self.config)
                    }
                    _ => Vec::new(),
                };
                (
                    Scope::Endpoint(summary_host.clone()),
                    summary_host.clone(),
                    findings,
                )
            }
        };
        for f in findings {
            let d = attempt::to_diagnosis(f, scope.clone(), &endpoint_name, cap);
            self.diagnoses_emitted += 1;
            out.diagnosis(d);
        }
    }

    /// Events that arrived after the window they belong to was closed, so far: what
    /// [`EngineStats::late_events`] says, without walking the held state.
    pub fn late_events(&self) -> u64 {
        self.late_events
    }

    /// Counters and sizes of the engine's state. Walks all held state: callers on a hot path
    /// read the counters they need by their own accessors ([`Engine::late_events`]).
    pub fn stats(&self) -> EngineStats {
        let mut by_kind = BTreeMap::new();
        for (i, n) in self.events_by_kind.iter().enumerate() {
            if *n > 0 {
                if let Some(name) = KIND_NAMES.get(i) {
                    by_kind.insert(*name, *n);
                }
            }
        }
        let open_sessions: usize = self.open.values().map(Vec::len).sum();
        let pending_sessions: usize = self.endpoints.values().map(|e| e.pending.len()).sum();
        let device_records: usize = self.devices.values().map(|d| d.records.len()).sum();
        let gap = self.config.attempt_gap_us;
        let open_device_attempts: usize =
            self.devices.values().map(|d| d.segments(gap).len()).sum();
        let context_records: usize = self
            .hosts
            .values()
            .map(|h| {
                let c = &h.context;
                c.crashes.len()
                    + c.capi2.len()
                    + c.installs.len()
                    + c.health.len()
                    + c.httperr.len()
                    + c.cert_registration.len()
            })
            .sum();
        let mut bytes = self.names.approx_bytes();
        bytes += self.sources.len() * (std::mem::size_of::<SourceState>() + 64);
        bytes += self
            .open
            .values()
            .flat_map(|l| l.iter())
            .chain(self.endpoints.values().flat_map(|e| e.pending.iter()))
            .map(Session::approx_bytes)
            .sum::<usize>();
        bytes += self.open.len() * 64;
        bytes += self
            .devices
            .values()
            .map(DeviceSource::approx_bytes)
            .sum::<usize>();
        bytes += self.aggs.values().map(Agg::approx_bytes).sum::<usize>();
        bytes += self
            .hosts
            .values()
            .map(|h| h.context.approx_bytes() + 256)
            .sum::<usize>();
        bytes += self
            .endpoints
            .values()
            .map(|e| 128 + e.released.len() * (std::mem::size_of::<Released>() + 40))
            .sum::<usize>();
        EngineStats {
            events: self.events,
            events_by_kind: by_kind,
            watermarks: self.watermarks,
            late_events: self.late_events,
            sources: self.sources.len(),
            hosts: self.hosts.len(),
            endpoints: self.endpoints.len(),
            open_sessions,
            pending_sessions,
            open_device_attempts,
            device_records,
            open_aggregates: self.aggs.len(),
            context_records,
            attempts_emitted: self.attempts_emitted,
            diagnoses_emitted: self.diagnoses_emitted,
            replay_suppressed: self.replay_suppressed,
            state_bytes: bytes,
        }
    }
}

/// True when one of `spans` (`(after, before)`: event times strictly between) meets
/// `[from, to]`.
fn overlaps(spans: &[(i64, i64)], from: i64, to: i64) -> bool {
    spans
        .iter()
        .any(|&(after, before)| after < to && before > from)
}

/// Appends the pending spans of `list` (sources of one host and role) to `out`: for each source,
/// `(progress, start of the next file of its chain)`, none for a file finished (a newer file of
/// its chain started to be delivered after it) or, with `idle_before`, for a delivered source
/// whose progress is older than that.
fn pending_spans(
    sources: &[SourceState],
    list: &[SourceIdx],
    implicit: bool,
    idle_before: Option<i64>,
    out: &mut Vec<(i64, i64)>,
) {
    /// What the pending span of one file depends on.
    struct File {
        chain: Option<Sym>,
        from: Option<i64>,
        delivery: u64,
        progress: Option<i64>,
        idle: bool,
    }
    let mut files: Vec<File> = list
        .iter()
        .filter_map(|&i| sources.get(i as usize))
        .map(|s| {
            let progress = s.progress(implicit);
            File {
                chain: s.chain,
                from: s.from(),
                delivery: s.delivery,
                progress,
                idle: s.delivered() && idle_before.is_some_and(|b| progress.is_some_and(|p| p < b)),
            }
        })
        .collect();
    files.sort_unstable_by_key(|f| (f.chain, f.from));
    for chain in files.chunk_by(|a, b| a.chain == b.chain) {
        // Walking back: the start of the nearest later file and the latest delivery among the
        // later files. Files sharing a start (one file given twice) are not each other's
        // successors.
        let (mut next, mut later_delivery) = (i64::MAX, 0u64);
        for group in chain.chunk_by(|a, b| a.from == b.from).rev() {
            for f in group.iter().filter(|f| !f.idle) {
                let after = f.progress.unwrap_or(i64::MIN);
                if f.chain.is_none() || f.from.is_none() {
                    // Not a rotated log, or its start is unknown: pending for ever.
                    out.push((after, i64::MAX));
                    continue;
                }
                let finished = f.delivery != 0 && later_delivery > f.delivery;
                if !finished && after.saturating_add(1) < next {
                    out.push((after, next));
                }
            }
            if let Some(Some(start)) = group.first().map(|f| f.from) {
                next = start;
                let group_delivery = group.iter().map(|f| f.delivery).max().unwrap_or(0);
                later_delivery = later_delivery.max(group_delivery);
            }
        }
    }
}

/// A context record before its payload is attached.
struct PartialRecord {
    time_us: i64,
    evidence: Evidence,
}

impl PartialRecord {
    fn with<T>(self, data: T) -> Record<T> {
        Record {
            time_us: self.time_us,
            evidence: self.evidence,
            data,
        }
    }
}

fn decode_hex_id(hex: &str, out: &mut [u8; 16]) {
    let bytes = hex.as_bytes();
    for (i, slot) in out.iter_mut().enumerate() {
        let hi = bytes.get(2 * i).and_then(|c| (*c as char).to_digit(16));
        let lo = bytes.get(2 * i + 1).and_then(|c| (*c as char).to_digit(16));
        if let (Some(h), Some(l)) = (hi, lo) {
            *slot = (h * 16 + l) as u8;
        }
    }
}

/// The attempt's timeline: device records, then one step per server request class (first
/// occurrence, with the count and last time when it repeats), ordered by time.
fn steps(view: &rule::AttemptView<'_>) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let device_host = view.device_host.clone().unwrap_or_default();
    for e in &view.device_events {
        steps.push(Step {
            time: e.evidence.time.clone(),
            time_us: e.time_us,
            side: Side::Device,
            host: device_host.clone(),
            what: rule::device::step_label(e),
            event_id: e.evidence.event_id.clone(),
        });
    }
    for s in &view.servers {
        for r in &s.requests {
            let mut what = r.label();
            if r.count > 1 {
                what.push_str(&format!(" (×{} until {})", r.count, to_rfc3339(r.last_us)));
            }
            steps.push(Step {
                time: to_rfc3339(r.first_us),
                time_us: r.first_us,
                side: Side::Server,
                host: s.host.clone(),
                what,
                event_id: r.first_event_id(),
            });
        }
    }
    steps.sort_by(|a, b| {
        (a.time_us, a.side, &a.event_id, &a.what).cmp(&(b.time_us, b.side, &b.event_id, &b.what))
    });
    steps
}
