//! Host context: what is known about one server besides its IIS requests.
//!
//! Crashes, CAPI2 errors, connector installs, health facts, the relevant HTTP.sys error records
//! and the non-200 CertificateRegistrationSvc requests are few, so they are kept whole (with
//! their evidence) for a retention period and looked up by time. Records are keyed by
//! `(event time, event id)`: a replayed event replaces itself, and every lookup breaks ties the
//! same way whatever the arrival order.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use scepwatch_proto::v1::{
    AppCrash, Capi2Event, ConnectorInstall, HealthFact, HttpErrRecord, IisRequest,
};

use crate::model::Evidence;

/// Ordering key of a context record: event time, then event ID.
pub type RecordKey = (i64, [u8; 16]);

/// Most HTTP.sys or CertificateRegistrationSvc records kept per host (a 503 storm can log one per
/// request; beyond this only the aggregates count them).
pub const MAX_RECORDS_PER_KIND: usize = 20_000;

const MINUTE_US: i64 = 60_000_000;

/// One context record with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// Event time, microseconds.
    pub time_us: i64,
    /// The event as evidence (its note is left empty for the rule to fill).
    pub evidence: Evidence,
    /// The payload.
    pub data: T,
}

impl<T> Record<T> {
    /// The evidence with `note` set.
    pub fn evidence_with(&self, note: impl Into<String>) -> Evidence {
        let mut e = self.evidence.clone();
        e.note = note.into();
        e
    }
}

/// Everything known about one server host besides its IIS request stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostContext {
    /// Host name, lower case.
    pub host: String,
    /// Application event 1000 crashes (all applications; rules pick w3wp.exe).
    pub crashes: BTreeMap<RecordKey, Record<AppCrash>>,
    /// CAPI2 Operational errors.
    pub capi2: BTreeMap<RecordKey, Record<Capi2Event>>,
    /// SetupMsi.log summaries of the connector's installation.
    pub installs: BTreeMap<RecordKey, Record<ConnectorInstall>>,
    /// Health facts (certificates, limits, services, account, IIS authentication).
    pub health: BTreeMap<RecordKey, Record<HealthFact>>,
    /// HTTP.sys error records about the SCEP URL (503s, length rejections).
    pub httperr: BTreeMap<RecordKey, Record<HttpErrRecord>>,
    /// CertificateRegistrationSvc requests that were not answered 200.
    pub cert_registration: BTreeMap<RecordKey, Record<IisRequest>>,
    /// Minutes (event time / 60 s) in which the SCEP URL answered 503 (IIS or HTTP.sys).
    pub unavailable_minutes: BTreeSet<i64>,
}

fn range<T>(
    map: &BTreeMap<RecordKey, Record<T>>,
    from_us: i64,
    to_us: i64,
) -> impl Iterator<Item = &Record<T>> {
    let (lo, hi) = if from_us <= to_us {
        (from_us, to_us)
    } else {
        (to_us, to_us)
    };
    map.range((
        Bound::Included((lo, [0u8; 16])),
        Bound::Included((hi, [0xffu8; 16])),
    ))
    .map(|(_, r)| r)
}

fn insert_capped<T>(map: &mut BTreeMap<RecordKey, Record<T>>, key: RecordKey, rec: Record<T>) {
    if map.len() >= MAX_RECORDS_PER_KIND && !map.contains_key(&key) {
        // Keep the earliest records: deterministic whatever the arrival order.
        match map.last_key_value() {
            Some((last, _)) if *last > key => {
                map.pop_last();
            }
            _ => return,
        }
    }
    map.insert(key, rec);
}

/// True when `application` names the IIS worker process.
pub fn is_w3wp(application: &str) -> bool {
    application
        .rsplit(['\\', '/'])
        .next()
        .is_some_and(|a| a.trim().eq_ignore_ascii_case("w3wp.exe"))
}

impl HostContext {
    /// An empty context for `host`.
    pub fn new(host: &str) -> Self {
        HostContext {
            host: host.to_string(),
            ..Default::default()
        }
    }

    /// w3wp.exe crashes with event time in `[from_us, to_us]`, in time order.
    pub fn w3wp_crashes(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> impl Iterator<Item = &Record<AppCrash>> {
        range(&self.crashes, from_us, to_us).filter(|r| is_w3wp(&r.data.application))
    }

    /// CAPI2 errors in `[from_us, to_us]`.
    pub fn capi2_between(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> impl Iterator<Item = &Record<Capi2Event>> {
        range(&self.capi2, from_us, to_us)
    }

    /// HTTP.sys records in `[from_us, to_us]`.
    pub fn httperr_between(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> impl Iterator<Item = &Record<HttpErrRecord>> {
        range(&self.httperr, from_us, to_us)
    }

    /// Non-200 CertificateRegistrationSvc requests in `[from_us, to_us]`.
    pub fn cert_registration_between(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> impl Iterator<Item = &Record<IisRequest>> {
        range(&self.cert_registration, from_us, to_us)
    }

    /// Health facts accepted by `select`, in time order.
    pub fn health_facts<'a>(
        &'a self,
        select: impl Fn(&HealthFact) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Record<HealthFact>> + 'a {
        self.health.values().filter(move |r| select(&r.data))
    }

    /// The health fact accepted by `select` observed closest to `at_us` (ties: the earlier, then
    /// the smaller event ID). Used for state that can change: the nearest observation is the best
    /// estimate of the state at that time.
    pub fn nearest_health(
        &self,
        at_us: i64,
        select: impl Fn(&HealthFact) -> bool,
    ) -> Option<&Record<HealthFact>> {
        self.health
            .iter()
            .filter(|(_, r)| select(&r.data))
            .min_by_key(|(k, r)| (r.time_us.abs_diff(at_us), **k))
            .map(|(_, r)| r)
    }

    /// True when a 503 on the SCEP URL was seen within `window_us` of `at_us` (minute precision).
    pub fn unavailable_near(&self, at_us: i64, window_us: i64) -> bool {
        let lo = at_us.saturating_sub(window_us).div_euclid(MINUTE_US);
        let hi = at_us.saturating_add(window_us).div_euclid(MINUTE_US);
        self.unavailable_minutes.range(lo..=hi).next().is_some()
    }

    /// Records a 503 on the SCEP URL at `at_us`.
    pub fn mark_unavailable(&mut self, at_us: i64) {
        self.unavailable_minutes.insert(at_us.div_euclid(MINUTE_US));
    }

    /// Adds a crash.
    pub fn add_crash(&mut self, key: RecordKey, rec: Record<AppCrash>) {
        insert_capped(&mut self.crashes, key, rec);
    }

    /// Adds a CAPI2 error.
    pub fn add_capi2(&mut self, key: RecordKey, rec: Record<Capi2Event>) {
        insert_capped(&mut self.capi2, key, rec);
    }

    /// Adds a connector installation summary.
    pub fn add_install(&mut self, key: RecordKey, rec: Record<ConnectorInstall>) {
        insert_capped(&mut self.installs, key, rec);
    }

    /// Adds a health fact.
    pub fn add_health(&mut self, key: RecordKey, rec: Record<HealthFact>) {
        insert_capped(&mut self.health, key, rec);
    }

    /// Adds an HTTP.sys record.
    pub fn add_httperr(&mut self, key: RecordKey, rec: Record<HttpErrRecord>) {
        insert_capped(&mut self.httperr, key, rec);
    }

    /// Adds a non-200 CertificateRegistrationSvc request.
    pub fn add_cert_registration(&mut self, key: RecordKey, rec: Record<IisRequest>) {
        insert_capped(&mut self.cert_registration, key, rec);
    }

    /// Drops records older than `before_us`, except the latest health fact of each kind and all
    /// installs (both describe a state that stays true until observed otherwise).
    pub fn prune(&mut self, before_us: i64) {
        let cut = (before_us, [0u8; 16]);
        self.crashes = self.crashes.split_off(&cut);
        self.capi2 = self.capi2.split_off(&cut);
        self.httperr = self.httperr.split_off(&cut);
        self.cert_registration = self.cert_registration.split_off(&cut);
        let minute = before_us.div_euclid(MINUTE_US);
        self.unavailable_minutes = self.unavailable_minutes.split_off(&minute);
        let old = {
            let recent = self.health.split_off(&cut);
            std::mem::replace(&mut self.health, recent)
        };
        // Keep the newest old fact per identity so state facts survive.
        let mut newest: BTreeMap<String, (RecordKey, Record<HealthFact>)> = BTreeMap::new();
        for (k, r) in old {
            newest.insert(health_identity(&r.data), (k, r));
        }
        for (_, (k, r)) in newest {
            self.health.entry(k).or_insert(r);
        }
    }

    /// Rough heap size in bytes, for [`super::EngineStats::state_bytes`].
    pub fn approx_bytes(&self) -> usize {
        fn ev(e: &Evidence) -> usize {
            e.event_id.len()
                + e.time.len()
                + e.host.len()
                + e.source.len()
                + e.kind.len()
                + e.excerpt.len()
                + e.note.len()
                + 160
        }
        let mut n = 0;
        n += self
            .crashes
            .values()
            .map(|r| ev(&r.evidence) + 200)
            .sum::<usize>();
        n += self
            .capi2
            .values()
            .map(|r| ev(&r.evidence) + 300)
            .sum::<usize>();
        n += self
            .installs
            .values()
            .map(|r| ev(&r.evidence) + 200)
            .sum::<usize>();
        n += self
            .health
            .values()
            .map(|r| ev(&r.evidence) + 300)
            .sum::<usize>();
        n += self
            .httperr
            .values()
            .map(|r| ev(&r.evidence) + 300)
            .sum::<usize>();
        n += self
            .cert_registration
            .values()
            .map(|r| ev(&r.evidence) + 400)
            .sum::<usize>();
        n + self.unavailable_minutes.len() * 40
    }
}

/// What a health fact is about, without its state: facts with the same identity describe the same
/// thing at different times.
pub fn health_identity(fact: &HealthFact) -> String {
    use scepwatch_proto::v1::health_fact::Fact;
    match &fact.fact {
        Some(Fact::Certificate(c)) => format!("cert:{}:{}", c.role, c.thumbprint),
        Some(Fact::RequestLimits(_)) => "limits".to_string(),
        Some(Fact::Service(s)) => format!("service:{}:{}", s.kind, s.name.to_ascii_lowercase()),
        Some(Fact::ServiceAccount(a)) => format!("account:{}", a.account.to_ascii_lowercase()),
        Some(Fact::IisAuthentication(a)) => format!("auth:{}", a.path.to_ascii_lowercase()),
        None => "none".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64) -> Evidence {
        Evidence {
            event_id: format!("{t:032x}"),
            time: String::new(),
            time_us: t,
            host: "ndes01".into(),
            source: "Application".into(),
            kind: "event-log".into(),
            excerpt: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn w3wp_matches_names_and_paths() {
        assert!(is_w3wp("w3wp.exe"));
        assert!(is_w3wp("C:\\Windows\\System32\\inetsrv\\W3WP.EXE"));
        assert!(!is_w3wp("w3wp.exe.bak"));
        assert!(!is_w3wp("svchost.exe"));
    }

    #[test]
    fn crash_lookup_is_by_time_window() {
        let mut c = HostContext::new("ndes01");
        for (t, app) in [(100, "w3wp.exe"), (200, "svchost.exe"), (300, "w3wp.exe")] {
            c.add_crash(
                (t, [t as u8; 16]),
                Record {
                    time_us: t,
                    evidence: ev(t),
                    data: AppCrash {
                        application: app.into(),
                        ..Default::default()
                    },
                },
            );
        }
        let got: Vec<i64> = c.w3wp_crashes(50, 250).map(|r| r.time_us).collect();
        assert_eq!(got, vec![100]);
        assert_eq!(c.w3wp_crashes(0, 1000).count(), 2);
    }

    #[test]
    fn unavailable_minutes_and_prune() {
        let mut c = HostContext::new("h");
        c.mark_unavailable(10 * MINUTE_US);
        assert!(c.unavailable_near(14 * MINUTE_US, 5 * MINUTE_US));
        assert!(!c.unavailable_near(30 * MINUTE_US, 5 * MINUTE_US));
        c.prune(20 * MINUTE_US);
        assert!(!c.unavailable_near(10 * MINUTE_US, MINUTE_US));
    }

    #[test]
    fn capped_kinds_keep_the_earliest() {
        let mut c = HostContext::new("h");
        for t in (0..(MAX_RECORDS_PER_KIND as i64 + 10)).rev() {
            c.add_httperr(
                (t, [0; 16]),
                Record {
                    time_us: t,
                    evidence: ev(t),
                    data: HttpErrRecord::default(),
                },
            );
        }
        assert_eq!(c.httperr.len(), MAX_RECORDS_PER_KIND);
        assert_eq!(c.httperr.first_key_value().map(|(k, _)| k.0), Some(0));
    }
}
