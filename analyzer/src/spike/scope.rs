//! One server's or endpoint's state: its minute buckets, the error samples of the minutes not
//! judged yet, and the incidents it has open.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::baseline::{Test, Verdict};
use super::explain::Explanation;
use super::incident::{incident_id, minute_us, Incident, IncidentScope};
use super::{MINUTE_US, STATUSES};
use crate::model::Severity;

/// One minute of one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Responses (every status).
    pub requests: u32,
    /// Responses of each of [`STATUSES`].
    pub errors: [u32; 2],
}

/// An event ID as given: 32 lower-case hex digits (what the service passes) are kept as their
/// 16 bytes, anything else as text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SampleId {
    Hex([u8; 16]),
    Text(Box<str>),
}

impl SampleId {
    fn new(id: &str) -> Self {
        let b = id.as_bytes();
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        if b.len() == 32 {
            let mut out = [0u8; 16];
            let mut ok = true;
            for (i, o) in out.iter_mut().enumerate() {
                match (digit(b[2 * i]), digit(b[2 * i + 1])) {
                    (Some(h), Some(l)) => *o = h << 4 | l,
                    _ => ok = false,
                }
            }
            if ok {
                return SampleId::Hex(out);
            }
        }
        SampleId::Text(id.into())
    }

    /// Compares with `other` as text (so the kept samples are the same whatever their form).
    fn cmp_text(&self, other: &str) -> Ordering {
        match self {
            SampleId::Text(t) => (**t).cmp(other),
            SampleId::Hex(h) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut text = [0u8; 32];
                for (i, b) in h.iter().enumerate() {
                    text[2 * i] = HEX[usize::from(b >> 4)];
                    text[2 * i + 1] = HEX[usize::from(b & 15)];
                }
                text.as_slice().cmp(other.as_bytes())
            }
        }
    }

    fn text(&self) -> String {
        match self {
            SampleId::Text(t) => t.to_string(),
            SampleId::Hex(h) => scepwatch_proto::event_id_hex(h),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            SampleId::Text(t) => t.len(),
            SampleId::Hex(_) => 0,
        }
    }
}

/// One error response kept as possible evidence until its minute is judged.
#[derive(Debug, Clone)]
struct Sample {
    time_us: i64,
    id: SampleId,
    status: u8,
}

impl Sample {
    /// Sort key of the samples vector: minute, then status.
    fn slot(&self) -> (i64, u8) {
        (self.time_us.div_euclid(MINUTE_US), self.status)
    }

    /// Before (`time_us`, `id`) in (time, ID text) order.
    fn before(&self, time_us: i64, id: &str) -> bool {
        self.time_us < time_us || (self.time_us == time_us && self.id.cmp_text(id).is_lt())
    }
}

/// An incident and its explanations, as sent.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub incident: Incident,
    pub expl: Vec<Explanation>,
}

impl Tracked {
    /// Writes the explanation columns and the summary from the current fields.
    pub(crate) fn render(&mut self) {
        let i = &mut self.incident;
        i.diagnosis_codes = self.expl.iter().map(|e| e.code.clone()).collect();
        i.diagnosis_ids = self.expl.iter().map(|e| e.id.clone()).collect();
        i.summary = super::incident::summary(i, &self.expl);
    }
}

/// A spike being followed: from its first hot minute until `quiet_minutes` quiet ones.
#[derive(Debug)]
pub(crate) struct Run {
    /// First hot minute.
    pub start: i64,
    last_hot: i64,
    /// Quiet minutes judged since `last_hot`.
    quiet: u32,
    /// Errors and requests of `[start, last_hot]`.
    errors: u64,
    requests: u64,
    /// Errors and requests of the quiet minutes after `last_hot` (they join the incident if
    /// another hot minute follows before it closes).
    pend_errors: u64,
    pend_requests: u64,
    peak_minute: i64,
    peak_errors: u32,
    max_share: f64,
    first: Verdict,
    evidence: Vec<String>,
    /// `None` for a run that started before the detector's gate (a resumed detector does
    /// not know its baseline well enough to report it): followed, never sent.
    pub tracked: Option<Tracked>,
    /// Changed since it was last sent.
    pub dirty: bool,
}

impl Run {
    /// Copies the numbers into the incident.
    fn sync(&mut self, endpoint: &str, outage_share: f64, open: bool) {
        let Some(t) = &mut self.tracked else {
            return;
        };
        let i = &mut t.incident;
        i.open = open;
        if i.endpoint.as_str() != endpoint {
            i.endpoint = endpoint.to_string();
        }
        i.start_us = minute_us(self.start);
        i.end_us = minute_us(self.last_hot + 1);
        i.peak_us = minute_us(self.peak_minute);
        i.peak_rate = f64::from(self.peak_errors);
        i.baseline_rate = self.first.expected;
        i.threshold_rate = self.first.threshold;
        i.errors = self.errors;
        i.requests = self.requests;
        i.severity = if self.max_share >= outage_share {
            Severity::Critical
        } else {
            Severity::Error
        };
        if i.evidence_event_ids.len() != self.evidence.len() {
            i.evidence_event_ids.clone_from(&self.evidence);
        }
    }

    fn bytes(&self) -> usize {
        let mut n = std::mem::size_of::<Run>()
            + self.evidence.capacity() * std::mem::size_of::<String>()
            + self.evidence.iter().map(String::capacity).sum::<usize>();
        if let Some(t) = &self.tracked {
            n += tracked_bytes(t);
        }
        n
    }
}

/// Approximate heap and inline size of a tracked incident.
pub(crate) fn tracked_bytes(t: &Tracked) -> usize {
    let i = &t.incident;
    let strings = |v: &[String]| v.iter().map(|s| s.capacity() + 24).sum::<usize>();
    std::mem::size_of::<Tracked>()
        + i.id.capacity()
        + i.scope_id.capacity()
        + i.endpoint.capacity()
        + i.summary.capacity()
        + i.detector.capacity()
        + strings(&i.diagnosis_codes)
        + strings(&i.diagnosis_ids)
        + strings(&i.evidence_event_ids)
        + t.expl
            .iter()
            .map(|e| {
                std::mem::size_of::<Explanation>()
                    + e.code.capacity()
                    + e.id.capacity()
                    + e.title.capacity()
            })
            .sum::<usize>()
}

/// What stepping needs from the detector.
pub(crate) struct StepCtx<'a> {
    pub test: &'a Test,
    pub baseline_minutes: i64,
    pub quiet_minutes: u32,
    pub outage_share: f64,
    pub endpoint_server_share: f64,
    pub max_evidence: usize,
    /// Runs starting before this minute are followed but never sent.
    pub gate: i64,
    pub detector: &'a str,
    pub scratch: &'a mut Vec<f64>,
    /// Incidents closed during the step, to send and keep for late explanations.
    pub closed: &'a mut Vec<Tracked>,
}

/// One server or endpoint.
#[derive(Debug)]
pub(crate) struct Scope {
    pub kind: IncidentScope,
    pub id: Box<str>,
    /// Endpoint: itself; server: the lexicographically first endpoint it answered for.
    pub endpoint: Box<str>,
    /// Minute of `buckets[0]`.
    base: i64,
    buckets: VecDeque<Bucket>,
    /// Endpoints only: per minute and status, the most errors one server had.
    top: VecDeque<[u32; 2]>,
    /// Newest minute with a response (`i64::MIN` when none).
    pub last_data: i64,
    /// Error samples of minutes not judged yet, sorted by (minute, status, time, ID), at most
    /// `max_evidence` per minute and status.
    samples: Vec<Sample>,
    /// The open run of each status.
    pub runs: [Option<Box<Run>>; 2],
}

impl Scope {
    pub(crate) fn new(kind: IncidentScope, id: &str, endpoint: &str) -> Self {
        Scope {
            kind,
            id: id.into(),
            endpoint: endpoint.into(),
            base: 0,
            buckets: VecDeque::new(),
            top: VecDeque::new(),
            last_data: i64::MIN,
            samples: Vec::new(),
            runs: [None, None],
        }
    }

    /// The bucket of `minute` (zero outside the kept span).
    fn bucket(&self, minute: i64) -> Bucket {
        match usize::try_from(minute.wrapping_sub(self.base)) {
            Ok(i) if minute >= self.base => self.buckets.get(i).copied().unwrap_or_default(),
            _ => Bucket::default(),
        }
    }

    fn top_at(&self, minute: i64) -> [u32; 2] {
        match usize::try_from(minute.wrapping_sub(self.base)) {
            Ok(i) if minute >= self.base => self.top.get(i).copied().unwrap_or_default(),
            _ => [0, 0],
        }
    }

    /// Index of `minute`'s bucket, growing the ring to it. The detector only passes minutes
    /// within its accepted span, which bounds the ring.
    fn slot(&mut self, minute: i64) -> usize {
        let endpoint = self.kind == IncidentScope::Endpoint;
        if self.buckets.is_empty() {
            self.base = minute;
            self.top.clear();
        }
        while minute < self.base {
            self.buckets.push_front(Bucket::default());
            if endpoint {
                self.top.push_front([0, 0]);
            }
            self.base -= 1;
        }
        let i = (minute - self.base) as usize;
        if i >= self.buckets.len() {
            // Exact growth: the ring's length settles at the window plus the pending minutes,
            // and a doubled capacity would stay allocated for good.
            self.buckets.reserve_exact(i + 1 - self.buckets.len());
            self.buckets.resize(i + 1, Bucket::default());
            if endpoint {
                self.top.reserve_exact(i + 1 - self.top.len());
                self.top.resize(i + 1, [0, 0]);
            }
        }
        i
    }

    /// Counts one response; returns the scope's count of that error status in that minute
    /// after it (0 for other statuses). `server_count` (endpoints) is that count on the
    /// answering server.
    pub(crate) fn count(&mut self, minute: i64, status: Option<usize>, server_count: u32) -> u32 {
        let i = self.slot(minute);
        self.last_data = self.last_data.max(minute);
        let b = &mut self.buckets[i];
        b.requests = b.requests.saturating_add(1);
        let Some(s) = status else {
            return 0;
        };
        b.errors[s] = b.errors[s].saturating_add(1);
        let n = b.errors[s];
        if let Some(t) = self.top.get_mut(i) {
            t[s] = t[s].max(server_count);
        }
        n
    }

    /// Keeps an error response as possible evidence when it is among the first `cap` of its
    /// minute and status (by time, then ID): which ones are kept does not depend on the
    /// order they arrive in.
    pub(crate) fn sample(
        &mut self,
        minute: i64,
        status: usize,
        time_us: i64,
        id: &str,
        cap: usize,
    ) {
        if cap == 0 {
            return;
        }
        let key = (minute, status as u8);
        let lo = self.samples.partition_point(|x| x.slot() < key);
        let len = self.samples[lo..].partition_point(|x| x.slot() <= key);
        let hi = lo + len;
        let pos = lo + self.samples[lo..hi].partition_point(|x| x.before(time_us, id));
        if pos < hi
            && self.samples[pos].time_us == time_us
            && self.samples[pos].id.cmp_text(id).is_eq()
        {
            return;
        }
        if len >= cap {
            if pos >= hi {
                return;
            }
            self.samples.remove(hi - 1);
        }
        self.samples.insert(
            pos,
            Sample {
                time_us,
                id: SampleId::new(id),
                status: status as u8,
            },
        );
    }

    /// Nothing in it differs from a scope just created: it can be dropped.
    pub(crate) fn idle(&self, next_eval: i64, baseline_minutes: i64) -> bool {
        self.runs.iter().all(Option::is_none)
            && self.samples.is_empty()
            && self.last_data < next_eval.saturating_sub(baseline_minutes)
    }

    /// Judges minutes `[from, to)`.
    pub(crate) fn step(&mut self, from: i64, to: i64, ctx: &mut StepCtx<'_>) {
        let mut m = from;
        while m < to {
            if self.runs.iter().all(Option::is_none) && self.last_data < m {
                // No response from here on: no minute can be hot, nothing is open.
                break;
            }
            self.judge(m, ctx);
            m += 1;
        }
        // Keep the baseline window of `to` and what comes after it.
        let keep_from = to.saturating_sub(ctx.baseline_minutes);
        while !self.buckets.is_empty() && self.base < keep_from {
            self.buckets.pop_front();
            self.top.pop_front();
            self.base += 1;
        }
        let judged = self.samples.partition_point(|x| x.slot().0 < to);
        self.samples.drain(..judged);
    }

    fn judge(&mut self, m: i64, ctx: &mut StepCtx<'_>) {
        let b = self.bucket(m);
        let top = self.top_at(m);
        for s in 0..STATUSES.len() {
            let e = b.errors[s];
            let concentrated = self.kind == IncidentScope::Endpoint
                && f64::from(top[s]) > ctx.endpoint_server_share * f64::from(e);
            let verdict = if ctx.test.candidate(e) && !concentrated {
                let window = (m.saturating_sub(ctx.baseline_minutes)..m).map(|j| {
                    let w = self.bucket(j);
                    (w.errors[s], w.requests)
                });
                Some(ctx.test.judge(e, b.requests, window, ctx.scratch)).filter(|v| v.hot)
            } else {
                None
            };
            let share = if b.requests > 0 {
                f64::from(e) / f64::from(b.requests)
            } else {
                0.0
            };
            match (verdict, self.runs[s].is_some()) {
                (None, false) => {}
                (Some(v), false) => {
                    let tracked = (m >= ctx.gate).then(|| self.skeleton(STATUSES[s], m, ctx));
                    self.runs[s] = Some(Box::new(Run {
                        start: m,
                        last_hot: m,
                        quiet: 0,
                        errors: u64::from(e),
                        requests: u64::from(b.requests),
                        pend_errors: 0,
                        pend_requests: 0,
                        peak_minute: m,
                        peak_errors: e,
                        max_share: share,
                        first: v,
                        evidence: Vec::new(),
                        tracked,
                        dirty: true,
                    }));
                    self.take_evidence(m, s, ctx.max_evidence);
                }
                (Some(_), true) => {
                    if let Some(run) = self.runs[s].as_deref_mut() {
                        run.errors += run.pend_errors + u64::from(e);
                        run.requests += run.pend_requests + u64::from(b.requests);
                        run.pend_errors = 0;
                        run.pend_requests = 0;
                        run.last_hot = m;
                        run.quiet = 0;
                        if e > run.peak_errors {
                            run.peak_errors = e;
                            run.peak_minute = m;
                        }
                        run.max_share = run.max_share.max(share);
                        run.dirty = true;
                    }
                    self.take_evidence(m, s, ctx.max_evidence);
                }
                (None, true) => {
                    let close = match self.runs[s].as_deref_mut() {
                        Some(run) => {
                            run.pend_errors += u64::from(e);
                            run.pend_requests += u64::from(b.requests);
                            run.quiet += 1;
                            run.quiet >= ctx.quiet_minutes
                        }
                        None => false,
                    };
                    if close {
                        if let Some(mut run) = self.runs[s].take() {
                            run.sync(&self.endpoint, ctx.outage_share, false);
                            if let Some(t) = run.tracked.take() {
                                ctx.closed.push(t);
                            }
                        }
                    }
                }
            }
        }
    }

    fn skeleton(&self, status: u16, m: i64, ctx: &StepCtx<'_>) -> Tracked {
        Tracked {
            incident: Incident {
                id: incident_id(self.kind, &self.id, status, m),
                scope: self.kind,
                scope_id: self.id.to_string(),
                endpoint: self.endpoint.to_string(),
                http_status: status,
                open: true,
                start_us: minute_us(m),
                end_us: minute_us(m + 1),
                peak_us: minute_us(m),
                peak_rate: 0.0,
                baseline_rate: 0.0,
                threshold_rate: 0.0,
                errors: 0,
                requests: 0,
                severity: Severity::Error,
                diagnosis_codes: Vec::new(),
                diagnosis_ids: Vec::new(),
                evidence_event_ids: Vec::new(),
                summary: String::new(),
                detector: ctx.detector.to_string(),
                retracted: false,
            },
            expl: Vec::new(),
        }
    }

    /// Adds the kept samples of minute `m` and status `s` to the open run's evidence.
    fn take_evidence(&mut self, m: i64, s: usize, cap: usize) {
        let Some(run) = self.runs[s].as_deref_mut() else {
            return;
        };
        if run.tracked.is_none() || run.evidence.len() >= cap {
            return;
        }
        let key = (m, s as u8);
        let lo = self.samples.partition_point(|x| x.slot() < key);
        for x in self.samples[lo..].iter().take_while(|x| x.slot() == key) {
            if run.evidence.len() >= cap {
                break;
            }
            run.evidence.push(x.id.text());
        }
    }

    /// The open runs changed since last sent, synced, for sending.
    pub(crate) fn dirty_tracked(
        &mut self,
        outage_share: f64,
    ) -> impl Iterator<Item = &mut Tracked> {
        let endpoint = &self.endpoint;
        self.runs.iter_mut().filter_map(move |r| {
            let run = r.as_deref_mut()?;
            if !run.dirty {
                return None;
            }
            run.dirty = false;
            run.sync(endpoint, outage_share, true);
            run.tracked.as_mut()
        })
    }

    /// Every open, sent incident.
    pub(crate) fn tracked_mut(&mut self) -> impl Iterator<Item = &mut Tracked> {
        self.runs
            .iter_mut()
            .filter_map(|r| r.as_deref_mut().and_then(|run| run.tracked.as_mut()))
    }

    /// Earliest start among open runs, and whether one of them is not sent (started before
    /// the gate).
    pub(crate) fn open_starts(&self) -> impl Iterator<Item = (i64, bool)> + '_ {
        self.runs
            .iter()
            .filter_map(|r| r.as_deref().map(|run| (run.start, run.tracked.is_some())))
    }

    /// Approximate bytes held (inline and heap; the index entry is counted by the set).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Scope>()
            + self.id.len()
            + self.endpoint.len()
            + self.buckets.capacity() * std::mem::size_of::<Bucket>()
            + self.top.capacity() * std::mem::size_of::<[u32; 2]>()
            + self.samples.capacity() * std::mem::size_of::<Sample>()
            + self
                .samples
                .iter()
                .map(|x| x.id.heap_bytes())
                .sum::<usize>()
            + self.runs.iter().flatten().map(|r| r.bytes()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_are_kept_as_bytes_and_compare_as_text() {
        let hex = "00ff10a0b1c2d3e4f5061728394a5b6c";
        let id = SampleId::new(hex);
        assert!(matches!(id, SampleId::Hex(_)));
        assert_eq!(id.text(), hex);
        assert!(id.cmp_text(hex).is_eq());
        assert!(id.cmp_text("00ff").is_gt());
        assert!(id.cmp_text("01").is_lt());
        // Upper case or another length stays text, as given.
        for other in ["00FF10A0B1C2D3E4F5061728394A5B6C", "abc"] {
            let t = SampleId::new(other);
            assert!(matches!(t, SampleId::Text(_)));
            assert_eq!(t.text(), other);
        }
    }

    #[test]
    fn samples_keep_the_first_of_a_minute_whatever_the_order() {
        let ids: Vec<String> = (0..12u8).map(|i| format!("{:032x}", 40 - i)).collect();
        let mut orders = vec![(0..12).collect::<Vec<usize>>()];
        orders.push((0..12).rev().collect());
        orders.push(vec![5, 0, 11, 3, 8, 1, 9, 2, 10, 4, 7, 6]);
        let mut kept = Vec::new();
        for order in orders {
            let mut s = Scope::new(IncidentScope::Server, "ndes01", "ep");
            for &i in &order {
                // Two responses in the same microsecond: the ID decides.
                let t = 1_000 + (i as i64 / 2);
                s.sample(0, 1, t, &ids[i], 3);
                s.sample(0, 1, t, &ids[i], 3);
            }
            let got: Vec<(i64, String)> =
                s.samples.iter().map(|x| (x.time_us, x.id.text())).collect();
            kept.push(got);
        }
        assert_eq!(kept[0].len(), 3);
        assert_eq!(kept[0][0], (1_000, ids[1].clone()));
        assert_eq!(kept[0][1], (1_000, ids[0].clone()));
        assert!(kept.iter().all(|k| k == &kept[0]));
    }
}
