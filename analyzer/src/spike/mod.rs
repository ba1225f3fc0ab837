//! Detection of HTTP 500 and 503 spikes per NDES server and per SCEP endpoint.
//!
//! The detector counts every IIS response (and every HTTP.sys record with a status) of every
//! server in one-minute buckets of **event time**, per server and per endpoint. Once the
//! servers' logs have progressed past a minute (plus the allowed lateness), that minute is
//! final and is judged, for 500 and for 503 separately, against the minutes before it. Runs of
//! spike minutes become **incidents** (rows of the `incidents` table), which the engine's
//! diagnoses of the same server or endpoint then **explain**.
//!
//! # Why a minute is, or is not, a spike
//!
//! For a minute `m` of one server (or endpoint) and one status (500 or 503), with `e` responses
//! of that status among `n` responses:
//!
//! 1. **Baseline.** The error rate of each of the `baseline_minutes` minutes before `m` (60 by
//!    default) that had any response is `errors / requests`. The baseline rate `r` is their
//!    median and the spread `σ` is 1.4826 × their median absolute deviation (MAD). Medians
//!    ignore a few odd minutes, including a previous spike shorter than half the window.
//!    Minutes without traffic carry no rate; a server never seen before has `r = σ = 0`.
//! 2. **Expected errors** in `m`: `expected = r × n`. Because the baseline is a *rate*, more
//!    traffic at the same error rate expects proportionally more errors: a morning ramp of
//!    requests is not a spike.
//! 3. **Threshold**: `expected + k × √(expected + (σ × n)²) + δ × n`: `k` (`deviations`, 4)
//!    standard deviations of the count, counting both its Poisson noise and the rate's own
//!    spread, plus a minimum margin `δ` (`min_rate_margin`, 1 percentage point of the
//!    requests) so that a server that never fails is not flagged for 0.3% of errors.
//! 4. `m` is a **spike minute** when `e ≥ min_errors_per_minute` (10) **and** either
//!    `e > threshold` or `e ≥ outage_share × n` (half the responses). The count floor keeps a
//!    quiet night with 2 errors, or sparse random 500s, from ever being a spike; the outage
//!    rule keeps a stopped application pool (every response a 503) a spike however long it
//!    lasts, although after half the window its 503s have become the median.
//! 5. **Endpoints** add up their servers. An endpoint minute counts only when no single server
//!    had more than `endpoint_server_share` (80%) of its errors: a spike on one server is that
//!    server's incident, while several servers rising together (each perhaps below the count
//!    floor alone) is the endpoint's. An endpoint with one server therefore never has
//!    incidents of its own.
//!
//! An **incident** starts at a spike minute and takes in every spike minute that follows
//! before `quiet_minutes` (10) minutes in a row are not spikes; it then closes. Its errors and
//! requests are those of `[start, end)`, the quiet minutes between its spike minutes included;
//! its peak is the minute with the most errors. Whether a minute is a spike depends only on the
//! counts of that minute and the window before it, never on the incidents before it, so a
//! replay that rebuilds the window rebuilds the same incidents (see below).
//!
//! What this does *not* catch, by design: fewer than `min_errors_per_minute` errors a minute
//! (a small server whose pool stopped at night: the engine's `iis.app_pool_unavailable`
//! diagnosis covers that), and an error level below half the responses that lasts more than
//! half the baseline window, which becomes the new baseline (the incident closes; the engine's
//! diagnoses still report every error).
//!
//! **Severity** is `critical` when in at least one minute of the incident at least
//! `outage_share` of the scope's responses had that status (most devices failed), `error`
//! otherwise; the same for 500 and 503. The explaining diagnoses carry their own severity.
//!
//! # Event time, lateness and memory
//!
//! [`SpikeDetector::advance`] receives the event-time progress of the servers' logs. Minutes
//! that end at or before `progress − allowed_lateness_us` (5 min) are final and judged, in
//! order. A response older than that is **late**: counted in [`SpikeStats::late_events`], not
//! applied (its minute may already be judged). A response more than `max_ahead_minutes` (30)
//! ahead of the first minute not judged yet is counted in [`SpikeStats::ahead_events`] and
//! dropped too, which bounds each scope to `baseline_minutes + max_ahead_minutes` buckets of
//! 12 bytes (a ring) plus at most `max_evidence` sampled error IDs per pending minute and
//! status. A scope that has had no response for a whole window and has nothing open is dropped
//! (a new one would be identical). Results do not depend on the order of
//! [`SpikeDetector::observe`] calls within the lateness, nor on how often `advance` is called,
//! provided it is called at least every `max_ahead_minutes − allowed_lateness_us` of event time.
//!
//! # Restarts
//!
//! [`SpikeDetector::held_since`] is the earliest event time the detector still needs:
//! `baseline_minutes + quiet_minutes` before the first minute not judged yet, or before the
//! start of an open incident when that is earlier. A service that commits its input only below
//! it, and restarts with [`SpikeDetector::resume`] from that time, rebuilds exactly the same
//! incidents (same IDs, same content) for every incident starting at or after
//! `held_since + baseline_minutes + quiet_minutes`, which includes every incident open at the
//! time of the restart; a resumed detector never sends an incident starting before that (it
//! cannot know their baselines, and the detector before it stored them). The service therefore
//! keeps `held_since` with its committed offset (Kafka offset-commit metadata, for instance);
//! [`SpikeDetector::new`] is for a start with no history, where a server's silence before its
//! first response is real.
//!
//! # Explanations
//!
//! [`SpikeDetector::explain`] takes the engine's diagnoses. A server- or endpoint-scope
//! diagnosis explains an incident of the same server (or of the server's endpoint, or, for an
//! endpoint diagnosis, of a server of that endpoint) when its code is relevant to the status
//! and its first-to-last time comes within `event_margin_us` (1 h, the engine's aggregation
//! bucket) of the incident, or `state_margin_us` (24 h) for health-fact codes, which describe a
//! state. Only these codes explain spikes, listed in this order (rank, then code, then ID):
//!
//! | status | rank | codes |
//! |---|---|---|
//! | 503 | 0 | `iis.app_pool_crashing.<cause>` (catalog row 5a-5d: the cause) |
//! | 503 | 1 | `iis.app_pool_crashing` (row 5, cause not evidenced) |
//! | 503 | 2 | `iis.app_pool_unavailable` (row 4) |
//! | 503 | 3 | `health.app_pool_stopped` |
//! | 503 | 4 | `health.root_store_intermediate`, `health.windows_auth_on_cert_registration`, `health.policy_cert_expired` (known crash causes) |
//! | 500 | 0 | `iis.impersonation_right_missing` (row 3) |
//! | 500 | 1 | `health.service_account_locked`, `health.ra_cert_expired` (row 11's causes) |
//! | 500 | 2 | `ndes.internal_error` (row 11) |
//!
//! So a 503 spike on a server whose w3wp.exe crashed while its Root store held an intermediate
//! lists `iis.app_pool_crashing.root_intermediate` before `health.root_store_intermediate`,
//! and its summary names the first one's title as the probable cause. Attempt-scope diagnoses
//! are not used (the engine also folds their symptoms per server).
//! Diagnoses that arrive before an incident opens are kept (the latest of each scope and code)
//! until they are too old to explain a new one; closed incidents keep taking explanations for
//! `closed_retention_us` (3 h), since the engine concludes its hourly buckets after the hour.
//! Diagnoses are not part of [`SpikeDetector::held_since`]: after a restart the service feeds
//! the diagnoses again (the engine's replay re-derives them with the same IDs).

mod baseline;
mod explain;
mod incident;
mod scope;

use std::collections::HashMap;

pub use incident::{Incident, IncidentScope};

use baseline::Test;
use explain::{attach, Retained};
use scope::{Scope, StepCtx, Tracked};

use crate::model::Diagnosis;

/// One minute in microseconds.
pub const MINUTE_US: i64 = 60_000_000;

/// The statuses the detector follows, in the order of its per-status arrays.
const STATUSES: [u16; 2] = [500, 503];

/// Name and version of the method, the first word of [`Incident::detector`].
pub const DETECTOR_NAME: &str = "spike/1";

/// The detector's parameters. The module documentation says how each is used.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeConfig {
    /// One-minute buckets in the rolling baseline (default 60; at least 1).
    pub baseline_minutes: u32,
    /// Fewer errors of a status than this in a minute are never a spike (default 10).
    pub min_errors_per_minute: u64,
    /// `k`: standard deviations above the expected errors (default 4).
    pub deviations: f64,
    /// `δ`: minimum margin above the baseline, as a share of the minute's requests (default
    /// 0.01).
    pub min_rate_margin: f64,
    /// A minute where at least this share of the responses have the status is a spike
    /// whatever the baseline, and makes the incident critical (default 0.5).
    pub outage_share: f64,
    /// An endpoint minute counts only when no single server had more than this share of its
    /// errors (default 0.8).
    pub endpoint_server_share: f64,
    /// Consecutive non-spike minutes that close an incident (default 10; at least 1).
    pub quiet_minutes: u32,
    /// Responses older than the progress minus this are late (default 5 min).
    pub allowed_lateness_us: i64,
    /// Responses further ahead than this many minutes of the first minute not judged yet are
    /// dropped (default 30; at least 1).
    pub max_ahead_minutes: u32,
    /// A symptom diagnosis explains an incident its time span comes this close to (default
    /// 1 h).
    pub event_margin_us: i64,
    /// The same for health-fact diagnoses, which describe a state (default 24 h).
    pub state_margin_us: i64,
    /// Closed incidents still take explanations this long after their end (default 3 h).
    pub closed_retention_us: i64,
    /// Error event IDs kept per incident (default 5).
    pub max_evidence: usize,
    /// Diagnoses kept per incident (default 16).
    pub max_explanations: usize,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            baseline_minutes: 60,
            min_errors_per_minute: 10,
            deviations: 4.0,
            min_rate_margin: 0.01,
            outage_share: 0.5,
            endpoint_server_share: 0.8,
            quiet_minutes: 10,
            allowed_lateness_us: 5 * MINUTE_US,
            max_ahead_minutes: 30,
            event_margin_us: 60 * MINUTE_US,
            state_margin_us: 24 * 60 * MINUTE_US,
            closed_retention_us: 3 * 60 * MINUTE_US,
            max_evidence: 5,
            max_explanations: 16,
        }
    }
}

impl SpikeConfig {
    /// [`Incident::detector`]: the name and the parameters that decide what a spike is.
    fn describe(&self) -> String {
        format!(
            "{DETECTOR_NAME} baseline={}m min_errors={} k={} margin={} outage_share={} \
             endpoint_server_share={} quiet={}m",
            self.baseline_minutes.max(1),
            self.min_errors_per_minute.max(1),
            self.deviations,
            self.min_rate_margin,
            self.outage_share,
            self.endpoint_server_share,
            self.quiet_minutes.max(1),
        )
    }
}

/// Counters and sizes of the detector's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpikeStats {
    /// Servers followed.
    pub server_scopes: usize,
    /// Endpoints followed.
    pub endpoint_scopes: usize,
    /// Incidents open (sent ones; a resumed detector also follows unsent ones).
    pub open_incidents: usize,
    /// Closed incidents still taking explanations.
    pub closed_incidents: usize,
    /// Diagnoses kept to explain incidents that open later.
    pub kept_diagnoses: usize,
    /// Responses observed (applied or not).
    pub observed: u64,
    /// Responses older than the progress minus the allowed lateness: not applied.
    pub late_events: u64,
    /// Responses too far ahead of the minutes being judged: not applied.
    pub ahead_events: u64,
    /// Estimate of the bytes held (buckets, samples, incidents, indexes).
    pub state_bytes: usize,
}

/// The scopes of one kind, with an index by name and a one-entry cache (a server's responses
/// come in runs).
#[derive(Debug)]
struct ScopeSet {
    kind: IncidentScope,
    scopes: Vec<Scope>,
    index: HashMap<Box<str>, usize>,
    last: usize,
}

impl ScopeSet {
    fn new(kind: IncidentScope) -> Self {
        ScopeSet {
            kind,
            scopes: Vec::new(),
            index: HashMap::new(),
            last: usize::MAX,
        }
    }

    fn get(&mut self, id: &str, endpoint: &str) -> &mut Scope {
        let hit = self.scopes.get(self.last).is_some_and(|s| &*s.id == id);
        if !hit {
            self.last = match self.index.get(id) {
                Some(&i) => i,
                None => {
                    self.scopes.push(Scope::new(self.kind, id, endpoint));
                    let i = self.scopes.len() - 1;
                    self.index.insert(id.into(), i);
                    i
                }
            };
        }
        let s = &mut self.scopes[self.last];
        if endpoint < &*s.endpoint {
            s.endpoint = endpoint.into();
        }
        s
    }

    /// Drops the scopes that hold nothing a new one would not.
    fn drop_idle(&mut self, next_eval: i64, baseline_minutes: i64) {
        let before = self.scopes.len();
        self.scopes.retain(|s| !s.idle(next_eval, baseline_minutes));
        if self.scopes.len() != before {
            self.index.clear();
            for (i, s) in self.scopes.iter().enumerate() {
                self.index.insert(s.id.clone(), i);
            }
            self.last = usize::MAX;
        }
    }

    fn bytes(&self) -> usize {
        let entry = std::mem::size_of::<(Box<str>, usize)>() + 8;
        self.scopes.iter().map(Scope::bytes).sum::<usize>()
            + (self.scopes.capacity() - self.scopes.len()) * std::mem::size_of::<Scope>()
            + self.index.capacity() * entry
            + self.index.keys().map(|k| k.len()).sum::<usize>()
    }
}

/// 500 / 503 spike detection over the servers of one partition. Pure state: no I/O, no
/// clock; time is the events' time and the progress given to [`SpikeDetector::advance`].
#[derive(Debug)]
pub struct SpikeDetector {
    cfg: SpikeConfig,
    test: Test,
    detector: String,
    servers: ScopeSet,
    endpoints: ScopeSet,
    /// Newest progress given.
    progress: Option<i64>,
    /// First minute not judged yet; `None` until the first `advance` of a new detector.
    next_eval: Option<i64>,
    /// Before the first `advance` of a new detector: the first and last minute observed.
    anchor: Option<(i64, i64)>,
    /// A resumed detector: the first minute whose responses it has all.
    resumed_at: Option<i64>,
    /// Runs starting before this minute are not sent.
    gate: i64,
    closed: Vec<Tracked>,
    kept: Vec<Retained>,
    observed: u64,
    late: u64,
    ahead: u64,
    scratch: Vec<f64>,
}

impl SpikeDetector {
    /// A detector that has seen nothing: before the first response of a server, the server
    /// had no traffic (which is what a service starting on a topic from its beginning knows).
    pub fn new(cfg: SpikeConfig) -> Self {
        SpikeDetector {
            test: Test::new(&cfg),
            detector: cfg.describe(),
            cfg,
            servers: ScopeSet::new(IncidentScope::Server),
            endpoints: ScopeSet::new(IncidentScope::Endpoint),
            progress: None,
            next_eval: None,
            anchor: None,
            resumed_at: None,
            gate: i64::MIN,
            closed: Vec::new(),
            kept: Vec::new(),
            observed: 0,
            late: 0,
            ahead: 0,
            scratch: Vec::new(),
        }
    }

    /// A detector taking over from one whose [`held_since`](Self::held_since) was `since_us`
    /// (after a restart or a rebalance), fed again every response at or after it. Responses
    /// before it are late. It sends no incident starting before `since_us +
    /// baseline_minutes + quiet_minutes` (their baseline is partly before `since_us`); from
    /// there on it sends exactly what the detector before it would have.
    ///
    /// This is the one addition to the minimal API: a fresh detector cannot tell "no traffic
    /// before my first response" from "not replayed", and without knowing which it would
    /// resend incidents the previous detector had closed, with baselines cut short.
    pub fn resume(cfg: SpikeConfig, since_us: i64) -> Self {
        let mut d = SpikeDetector::new(cfg);
        let c = ceil_minute(since_us);
        d.next_eval = Some(c);
        d.resumed_at = Some(c);
        d.gate = c.saturating_add(d.hold_minutes());
        d
    }

    fn baseline_minutes(&self) -> i64 {
        i64::from(self.cfg.baseline_minutes.max(1))
    }

    fn quiet_minutes(&self) -> u32 {
        self.cfg.quiet_minutes.max(1)
    }

    /// Minutes before a start that its verdict depends on.
    fn hold_minutes(&self) -> i64 {
        self.baseline_minutes() + i64::from(self.quiet_minutes())
    }

    fn max_ahead(&self) -> i64 {
        i64::from(self.cfg.max_ahead_minutes.max(1))
    }

    /// The minute of a response at `time_us` if it is to be applied.
    fn accept(&mut self, time_us: i64) -> Option<i64> {
        let m = time_us.div_euclid(MINUTE_US);
        if let Some(p) = self.progress {
            if time_us < p.saturating_sub(self.cfg.allowed_lateness_us.max(0)) {
                self.late += 1;
                return None;
            }
        }
        if let Some(n) = self.next_eval {
            if m < n {
                self.late += 1;
                return None;
            }
            if m >= n.saturating_add(self.max_ahead()) {
                self.ahead += 1;
                return None;
            }
            return Some(m);
        }
        let (lo, hi) = self
            .anchor
            .map_or((m, m), |(lo, hi)| (lo.min(m), hi.max(m)));
        if hi - lo >= self.max_ahead() {
            self.ahead += 1;
            return None;
        }
        self.anchor = Some((lo, hi));
        Some(m)
    }

    /// One IIS response (or HTTP.sys record with a status) of server `host` behind `endpoint`,
    /// at event time `time_us`, with the hex ID of its event (kept as evidence when it is
    /// among an incident's first errors).
    pub fn observe(
        &mut self,
        host: &str,
        endpoint: &str,
        time_us: i64,
        status: u16,
        event_id_hex: &str,
    ) {
        self.observed += 1;
        let Some(m) = self.accept(time_us) else {
            return;
        };
        let s = STATUSES.iter().position(|&x| x == status);
        let cap = self.cfg.max_evidence;
        let server = self.servers.get(host, endpoint);
        let on_server = server.count(m, s, 0);
        if let Some(s) = s {
            server.sample(m, s, time_us, event_id_hex, cap);
        }
        let ep = self.endpoints.get(endpoint, endpoint);
        ep.count(m, s, on_server);
        if let Some(s) = s {
            ep.sample(m, s, time_us, event_id_hex, cap);
        }
    }

    /// Event-time progress of the servers' logs: minutes ending at or before `progress_us −
    /// allowed_lateness_us` are final and judged. Incidents opened, grown, closed are pushed
    /// to `out` (one revision per incident and call, ordered by scope, status and start).
    pub fn advance(&mut self, progress_us: i64, out: &mut Vec<Incident>) {
        let p = self.progress.map_or(progress_us, |q| q.max(progress_us));
        self.progress = Some(p);
        let h = p
            .saturating_sub(self.cfg.allowed_lateness_us.max(0))
            .div_euclid(MINUTE_US);
        let from = match self.next_eval {
            Some(n) => n,
            None => self.anchor.take().map_or(h, |(lo, _)| lo.min(h)),
        };
        if h <= from {
            self.next_eval = Some(from);
            return;
        }
        let b = self.baseline_minutes();
        let mut closed = Vec::new();
        {
            let mut ctx = StepCtx {
                test: &self.test,
                baseline_minutes: b,
                quiet_minutes: self.quiet_minutes(),
                outage_share: self.cfg.outage_share,
                endpoint_server_share: self.cfg.endpoint_server_share,
                max_evidence: self.cfg.max_evidence,
                gate: self.gate,
                detector: &self.detector,
                scratch: &mut self.scratch,
                closed: &mut closed,
            };
            for s in self
                .servers
                .scopes
                .iter_mut()
                .chain(self.endpoints.scopes.iter_mut())
            {
                s.step(from, h, &mut ctx);
            }
        }
        self.next_eval = Some(h);
        let mut emit = Vec::new();
        let (kept, cap) = (&self.kept, self.cfg.max_explanations);
        let share = self.cfg.outage_share;
        for s in self
            .servers
            .scopes
            .iter_mut()
            .chain(self.endpoints.scopes.iter_mut())
        {
            for t in s.dirty_tracked(share) {
                explain_from(t, kept, cap);
                t.render();
                emit.push(t.incident.clone());
            }
        }
        for mut t in closed {
            explain_from(&mut t, kept, cap);
            t.render();
            emit.push(t.incident.clone());
            self.closed.push(t);
        }
        sort_revisions(&mut emit);
        out.extend(emit);
        self.servers.drop_idle(h, b);
        self.endpoints.drop_idle(h, b);
        let now = incident::minute_us(h);
        let keep = self.cfg.closed_retention_us.max(0);
        self.closed
            .retain(|t| t.incident.end_us.saturating_add(keep) >= now);
        self.kept.retain(|r| !r.expired(now));
    }

    /// A diagnosis from the engine. Server- and endpoint-scope diagnoses of a relevant code
    /// explain the incidents of that server or endpoint they overlap (see the module docs);
    /// each incident that gains an explanation gets a new revision in `out`. The diagnosis is
    /// also kept for incidents that open later.
    pub fn explain(&mut self, d: &Diagnosis, out: &mut Vec<Incident>) {
        let Some(r) = Retained::from_diagnosis(d, &self.cfg) else {
            return;
        };
        let cap = self.cfg.max_explanations;
        let mut emit = Vec::new();
        let mut touch = |t: &mut Tracked| {
            if let Some(rank) = r.explains(&t.incident) {
                if attach(&mut t.expl, &r, rank, cap) {
                    t.render();
                    emit.push(t.incident.clone());
                }
            }
        };
        for s in self
            .servers
            .scopes
            .iter_mut()
            .chain(self.endpoints.scopes.iter_mut())
        {
            s.tracked_mut().for_each(&mut touch);
        }
        self.closed.iter_mut().for_each(&mut touch);
        sort_revisions(&mut emit);
        out.extend(emit);
        match self.kept.iter_mut().find(|k| k.same_slot(&r)) {
            Some(k) => {
                if (r.last_us, &r.id) >= (k.last_us, &k.id) {
                    *k = r;
                }
            }
            None => self.kept.push(r),
        }
    }

    /// Earliest event time whose response the detector still needs: `baseline_minutes +
    /// quiet_minutes` before the first minute not judged yet, or before the start of an open
    /// incident when that is earlier (a resumed detector following a run it does not send
    /// needs everything since it resumed). `None` before anything was observed or advanced.
    pub fn held_since(&self) -> Option<i64> {
        let front = self.next_eval.or(self.anchor.map(|(lo, _)| lo))?;
        let hold = self.hold_minutes();
        let mut since = front.saturating_sub(hold);
        for s in self
            .servers
            .scopes
            .iter()
            .chain(self.endpoints.scopes.iter())
        {
            for (start, sent) in s.open_starts() {
                let need = if sent {
                    start.saturating_sub(hold)
                } else {
                    self.resumed_at.unwrap_or(i64::MIN)
                };
                since = since.min(need);
            }
        }
        Some(incident::minute_us(since))
    }

    /// Counters and the size of the state.
    pub fn stats(&self) -> SpikeStats {
        let open_incidents = self
            .servers
            .scopes
            .iter()
            .chain(self.endpoints.scopes.iter())
            .flat_map(|s| s.open_starts())
            .filter(|&(_, sent)| sent)
            .count();
        let kept_bytes: usize = self
            .kept
            .iter()
            .map(|r| {
                std::mem::size_of::<Retained>()
                    + r.id.capacity()
                    + r.code.capacity()
                    + r.title.capacity()
                    + r.scope_id.capacity()
                    + r.endpoint.capacity()
            })
            .sum();
        SpikeStats {
            server_scopes: self.servers.scopes.len(),
            endpoint_scopes: self.endpoints.scopes.len(),
            open_incidents,
            closed_incidents: self.closed.len(),
            kept_diagnoses: self.kept.len(),
            observed: self.observed,
            late_events: self.late,
            ahead_events: self.ahead,
            state_bytes: std::mem::size_of::<SpikeDetector>()
                + self.servers.bytes()
                + self.endpoints.bytes()
                + self.closed.iter().map(scope::tracked_bytes).sum::<usize>()
                + kept_bytes
                + self.scratch.capacity() * 8,
        }
    }
}

/// Attaches every kept diagnosis that explains `t`.
fn explain_from(t: &mut Tracked, kept: &[Retained], cap: usize) {
    for r in kept {
        if let Some(rank) = r.explains(&t.incident) {
            attach(&mut t.expl, r, rank, cap);
        }
    }
}

fn sort_revisions(v: &mut [Incident]) {
    v.sort_by(|a, b| {
        (a.scope, &a.scope_id, a.http_status, a.start_us).cmp(&(
            b.scope,
            &b.scope_id,
            b.http_status,
            b.start_us,
        ))
    });
}

/// The first minute starting at or after `us`.
fn ceil_minute(us: i64) -> i64 {
    let m = us.div_euclid(MINUTE_US);
    if us.rem_euclid(MINUTE_US) == 0 {
        m
    } else {
        m.saturating_add(1)
    }
}
