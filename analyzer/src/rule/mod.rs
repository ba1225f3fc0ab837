//! The diagnosis catalog as rules.
//!
//! Every rule is a plain function:
//! - **attempt rules** look at one enrollment attempt ([`AttemptView`]: the device's steps, the
//!   server sessions joined to it, the context of the endpoint's servers, and whether the server
//!   logs of its window were read) and push [`Finding`]s;
//! - **server rules** look at one server's folded symptoms ([`SymptomSummary`], e.g. all 503s of
//!   an hour) and its [`HostContext`];
//! - **health and probe rules** classify one health fact or probe result.
//!
//! A finding names its code, says what was seen, and carries the evidence; the engine adds the
//! catalog's title, severity, meaning and fix ([`catalog`]) and the deterministic IDs.
//!
//! | module | catalog rows |
//! |---|---|
//! | [`iis_status`] | 1 reached, 3 impersonation, 11 internal error, 17 submitted |
//! | [`network`] | 2 blocked / not observed |
//! | [`app_pool`] | 4 pool unavailable, 5 pool crashing (+ causes a–d) |
//! | [`app_proxy`] | 6 connector down, 8 wrong external URL |
//! | [`request_limits`] | 7 request too long |
//! | [`connector`] | 9 not installed, 10 install failed, 12 policy cert without Client Auth |
//! | [`probe`] | the prober's view of rows 2, 4, 6, 7, 8, 9, 11, 13 |
//! | [`device`] | 14 Android, 15 iOS, 16 Windows progress |
//! | [`health`] | proactive checks (row 0) |

use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::{
    AndroidScep, HttpErrRecord, IisRequest, IisTarget, IosScep, ScepOperation, WindowsScepRequest,
};

use crate::engine::context::HostContext;
use crate::engine::EngineConfig;
use crate::model::{Evidence, JoinMethod, Platform};

pub mod app_pool;
pub mod app_proxy;
pub mod catalog;
pub mod connector;
pub mod device;
pub mod health;
pub mod iis_status;
pub mod network;
pub mod probe;
pub mod request_limits;

#[cfg(test)]
pub(crate) mod fixture;

/// What a rule concluded: a catalog code, what was seen, and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Catalog code (see [`catalog`]).
    pub code: &'static str,
    /// What was seen in this case, in a sentence or two (the catalog's meaning follows it).
    pub seen: String,
    /// Occurrences folded into this finding (e.g. 500 responses); at least 1.
    pub occurrences: u64,
    /// Supporting records, most telling first (the engine keeps the first few).
    pub evidence: Vec<Evidence>,
    /// First and last occurrence when they are wider than the evidence kept.
    pub first_us: Option<i64>,
    /// Last occurrence.
    pub last_us: Option<i64>,
}

impl Finding {
    /// A finding of `code` with what was seen and one occurrence.
    pub fn new(code: &'static str, seen: impl Into<String>) -> Self {
        Finding {
            code,
            seen: seen.into(),
            occurrences: 1,
            evidence: Vec::new(),
            first_us: None,
            last_us: None,
        }
    }

    /// Sets the evidence.
    pub fn with_evidence(mut self, evidence: Vec<Evidence>) -> Self {
        self.evidence = evidence;
        self
    }

    /// Sets the occurrence count and span.
    pub fn with_occurrences(mut self, count: u64, first_us: i64, last_us: i64) -> Self {
        self.occurrences = count.max(1);
        self.first_us = Some(first_us);
        self.last_us = Some(last_us);
        self
    }
}

/// One device log record of an attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEvent {
    /// Event time, microseconds.
    pub time_us: i64,
    /// The record as evidence (note empty).
    pub evidence: Evidence,
    /// What the device logged.
    pub payload: DevicePayload,
}

/// The device-side payloads.
#[derive(Debug, Clone, PartialEq)]
pub enum DevicePayload {
    /// Android OMADM log line.
    Android(AndroidScep),
    /// iOS profiled log line.
    Ios(IosScep),
    /// Windows event 36.
    Windows(WindowsScepRequest),
}

/// IIS requests of one server session that share operation and status, folded.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestClass {
    /// SCEP operation.
    pub operation: ScepOperation,
    /// HTTP status, substatus and Win32 status as IIS logged them.
    pub status: u32,
    /// IIS substatus.
    pub substatus: u32,
    /// Win32 status.
    pub win32_status: u32,
    /// Requests folded.
    pub count: u64,
    /// First and last request time.
    pub first_us: i64,
    /// Last request time.
    pub last_us: i64,
    /// Longest query string seen (bytes).
    pub max_query_length: u32,
    /// ID of the first request (its hex text: [`RequestClass::first_event_id`]).
    pub first_event: [u8; 16],
    /// The first request as evidence (left out for successful requests of a server-only
    /// attempt, which no rule cites).
    pub sample: Option<Evidence>,
}

impl RequestClass {
    /// Hex ID of the first request.
    pub fn first_event_id(&self) -> String {
        scepwatch_proto::event_id_hex(&self.first_event)
    }

    /// "GetCACaps → 200", "PKIOperation → 500 (win32 1346)", "PKIOperation → 404.14".
    pub fn label(&self) -> String {
        let mut s = format!("{} → {}", operation_name(self.operation), self.status);
        if self.substatus != 0 {
            s.push_str(&format!(".{}", self.substatus));
        }
        if self.win32_status != 0 {
            s.push_str(&format!(" (win32 {})", self.win32_status));
        }
        s
    }

    /// The sample with `note` set.
    pub fn evidence(&self, note: impl Into<String>) -> Option<Evidence> {
        self.sample.clone().map(|mut e| {
            e.note = note.into();
            e
        })
    }
}

/// The server side of an attempt: one IIS session (one client, one user agent, one server).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPart {
    /// Server host name.
    pub host: String,
    /// Client address as IIS saw it.
    pub client_ip: String,
    /// "android", "ios", "windows" or "other".
    pub user_agent_family: &'static str,
    /// First and last request time.
    pub start_us: i64,
    /// Last request time.
    pub end_us: i64,
    /// Requests folded by operation and status, in order of first occurrence.
    pub requests: Vec<RequestClass>,
    /// SCEP transactionIDs decoded from PKIOperation requests.
    pub transaction_ids: Vec<String>,
}

/// The part of a window a server's IIS logs do not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCoverage {
    /// Server host name.
    pub host: String,
    /// Uncovered sub-intervals `[from, to]` of the window (empty: fully read).
    pub missing: Vec<(i64, i64)>,
}

/// Whether the server logs of an attempt's window were read (row 2 needs it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coverage {
    /// The window checked: attempt start − join window .. end + join window.
    pub window: (i64, i64),
    /// Every IIS server known for the endpoint, with what is missing.
    pub hosts: Vec<HostCoverage>,
    /// IDs of server-only attempts, already reported, whose requests fall in the window with the
    /// same user-agent family: the server did see traffic then.
    pub traffic_reported_elsewhere: Vec<String>,
}

impl Coverage {
    /// True when at least one server is known and all of them read the whole window.
    pub fn complete(&self) -> bool {
        !self.hosts.is_empty() && self.hosts.iter().all(|h| h.missing.is_empty())
    }

    /// "ndes01 (10:00:00Z–10:04:00Z), ndes02 (no IIS log read)".
    pub fn describe_missing(&self) -> String {
        if self.hosts.is_empty() {
            return "no IIS log of any server of this endpoint was read".to_string();
        }
        let parts: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| !h.missing.is_empty())
            .map(|h| {
                let spans: Vec<String> = h
                    .missing
                    .iter()
                    .map(|(a, b)| format!("{} – {}", to_rfc3339(*a), to_rfc3339(*b)))
                    .collect();
                format!("{} ({})", h.host, spans.join(", "))
            })
            .collect();
        parts.join("; ")
    }
}

/// One enrollment attempt as rules see it.
#[derive(Debug, Clone)]
pub struct AttemptView<'a> {
    /// Attempt ID.
    pub attempt_id: String,
    /// Endpoint ID (empty when the device log named no SCEP URL).
    pub endpoint: String,
    /// First and last event time.
    pub start_us: i64,
    /// Last event time.
    pub end_us: i64,
    /// Device platform.
    pub platform: Platform,
    /// How the sides were joined.
    pub join: JoinMethod,
    /// Device host name, when a device log is part of the attempt.
    pub device_host: Option<String>,
    /// Device log records in time order.
    pub device_events: Vec<DeviceEvent>,
    /// Server sessions joined to the attempt.
    pub servers: Vec<ServerPart>,
    /// Context of every server of the endpoint (and of the joined sessions' servers).
    pub hosts: Vec<&'a HostContext>,
    /// Whether the server logs of the window were read.
    pub coverage: Coverage,
    /// The engine's tolerances.
    pub config: &'a EngineConfig,
}

impl AttemptView<'_> {
    /// The attempt's window widened by the join tolerance.
    pub fn window(&self) -> (i64, i64) {
        (
            self.start_us.saturating_sub(self.config.join_window_us),
            self.end_us.saturating_add(self.config.join_window_us),
        )
    }

    /// Context of `host`, if known.
    pub fn context(&self, host: &str) -> Option<&HostContext> {
        self.hosts.iter().copied().find(|c| c.host == host)
    }

    /// All request classes of all joined sessions, with their host.
    pub fn requests(&self) -> impl Iterator<Item = (&ServerPart, &RequestClass)> {
        self.servers
            .iter()
            .flat_map(|s| s.requests.iter().map(move |r| (s, r)))
    }

    /// HTTP.sys records about the SCEP URL in the window: from the joined sessions' clients on
    /// their servers, or from any client on the endpoint's servers when nothing was joined.
    pub fn httperr_in_window(
        &self,
    ) -> Vec<(&HostContext, &crate::engine::context::Record<HttpErrRecord>)> {
        let (from, to) = self.window();
        let mut out = Vec::new();
        for ctx in &self.hosts {
            let clients: Vec<&str> = self
                .servers
                .iter()
                .filter(|s| s.host == ctx.host)
                .map(|s| s.client_ip.as_str())
                .collect();
            if !self.servers.is_empty() && clients.is_empty() {
                continue;
            }
            for r in ctx.httperr_between(from, to) {
                if r.data.target() != IisTarget::Mscep && r.data.target() != IisTarget::Unspecified
                {
                    continue;
                }
                if clients.is_empty() || clients.contains(&r.data.client_ip.as_str()) {
                    out.push((*ctx, r));
                }
            }
        }
        out
    }
}

/// A server-scope symptom of one IIS or HTTP.sys record, folded per server and time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Symptom {
    /// mscep.dll 500 with Win32 status 1346 (row 3).
    ImpersonationDenied,
    /// mscep.dll 500, other Win32 status (row 11).
    InternalError,
    /// 503 on the SCEP URL (row 4, or 5 with a crash).
    Unavailable,
    /// 404.14 / 404.15 / 414 or HTTP.sys length rejection (row 7).
    TooLong,
    /// 403 from CertificateRegistrationSvc (row 12).
    CertRegistrationForbidden,
}

/// The symptom an IIS request shows, if any. Cheap: no allocation; a 200 returns at once.
pub fn classify_iis(r: &IisRequest) -> Option<Symptom> {
    if r.status < 400 {
        return None;
    }
    match r.target() {
        IisTarget::Mscep => match (r.status, r.substatus, r.win32_status) {
            (500, _, 1346) => Some(Symptom::ImpersonationDenied),
            (500, _, _) => Some(Symptom::InternalError),
            (503, _, _) => Some(Symptom::Unavailable),
            (404, 14 | 15, _) | (414, _, _) => Some(Symptom::TooLong),
            _ => None,
        },
        IisTarget::CertRegistrationSvc if r.status == 403 => {
            Some(Symptom::CertRegistrationForbidden)
        }
        _ => None,
    }
}

/// HTTP.sys reasons that mean "the request was too long".
pub fn is_length_reason(reason: &str) -> bool {
    ["URL_Length", "FieldLength", "Request_Length", "URL"]
        .iter()
        .any(|r| reason.eq_ignore_ascii_case(r))
}

/// The symptom an HTTP.sys error record shows, if any.
pub fn classify_httperr(r: &HttpErrRecord) -> Option<Symptom> {
    let target = r.target();
    let scep = target == IisTarget::Mscep;
    if r.status == 414 || is_length_reason(&r.reason) {
        // A rejected long URL is often logged cut or as "-": take it when it is not clearly
        // another application's.
        if scep || target == IisTarget::Unspecified {
            return Some(Symptom::TooLong);
        }
        return None;
    }
    if scep && r.status == 503 {
        return Some(Symptom::Unavailable);
    }
    None
}

/// True when an HTTP.sys record is worth keeping in the host context.
pub fn httperr_relevant(r: &HttpErrRecord) -> bool {
    classify_httperr(r).is_some()
        || matches!(
            r.target(),
            IisTarget::Mscep | IisTarget::CertRegistrationSvc | IisTarget::MscepAdmin
        )
}

/// One server's occurrences of a symptom in one time bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct SymptomSummary {
    /// Server host name.
    pub host: String,
    /// Occurrences.
    pub count: u64,
    /// First occurrence.
    pub first_us: i64,
    /// Last occurrence.
    pub last_us: i64,
    /// The earliest occurrences as evidence.
    pub evidence: Vec<Evidence>,
}

/// Server-scope findings for one folded symptom.
pub fn server_findings(
    symptom: Symptom,
    summary: &SymptomSummary,
    ctx: &HostContext,
    config: &EngineConfig,
) -> Vec<Finding> {
    match symptom {
        Symptom::ImpersonationDenied => vec![iis_status::impersonation_server(summary)],
        Symptom::InternalError => vec![iis_status::internal_error_server(summary, ctx)],
        Symptom::Unavailable => app_pool::server(summary, ctx, config),
        Symptom::TooLong => vec![request_limits::server(summary, ctx)],
        Symptom::CertRegistrationForbidden => {
            vec![connector::cert_registration_server(summary, ctx)]
        }
    }
}

/// Runs every attempt rule over `view`.
pub fn attempt_findings(view: &AttemptView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    iis_status::reached(view, &mut out);
    iis_status::impersonation(view, &mut out);
    iis_status::internal_error(view, &mut out);
    iis_status::submitted(view, &mut out);
    app_pool::attempt(view, &mut out);
    request_limits::attempt(view, &mut out);
    app_proxy::attempt(view, &mut out);
    connector::attempt(view, &mut out);
    network::attempt(view, &mut out);
    device::progress(view, &mut out);
    out
}

/// Display name of a SCEP operation.
pub fn operation_name(op: ScepOperation) -> &'static str {
    match op {
        ScepOperation::GetCaCaps => "GetCACaps",
        ScepOperation::GetCaCert => "GetCACert",
        ScepOperation::PkiOperation => "PKIOperation",
        ScepOperation::GetNextCaCert => "GetNextCACert",
        ScepOperation::Other => "other operation",
        ScepOperation::Unspecified => "request",
    }
}

/// "3 × GetCACaps → 200" or "GetCACaps → 200".
pub fn counted(count: u64, what: &str) -> String {
    if count > 1 {
        format!("{count} × {what}")
    } else {
        what.to_string()
    }
}

/// RFC 3339 time, for sentences.
pub fn when(us: i64) -> String {
    to_rfc3339(us)
}

/// Case-insensitive ASCII substring test.
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iis(target: IisTarget, status: u32, sub: u32, win32: u32) -> IisRequest {
        IisRequest {
            target: target as i32,
            status,
            substatus: sub,
            win32_status: win32,
            ..Default::default()
        }
    }

    #[test]
    fn classifies_iis_statuses() {
        use IisTarget::*;
        assert_eq!(classify_iis(&iis(Mscep, 200, 0, 0)), None);
        assert_eq!(
            classify_iis(&iis(Mscep, 500, 0, 1346)),
            Some(Symptom::ImpersonationDenied)
        );
        assert_eq!(
            classify_iis(&iis(Mscep, 500, 0, 0)),
            Some(Symptom::InternalError)
        );
        assert_eq!(
            classify_iis(&iis(Mscep, 503, 0, 0)),
            Some(Symptom::Unavailable)
        );
        assert_eq!(
            classify_iis(&iis(Mscep, 404, 14, 0)),
            Some(Symptom::TooLong)
        );
        assert_eq!(
            classify_iis(&iis(Mscep, 404, 15, 0)),
            Some(Symptom::TooLong)
        );
        assert_eq!(classify_iis(&iis(Mscep, 404, 0, 2)), None);
        assert_eq!(classify_iis(&iis(Mscep, 414, 0, 0)), Some(Symptom::TooLong));
        assert_eq!(
            classify_iis(&iis(CertRegistrationSvc, 403, 0, 0)),
            Some(Symptom::CertRegistrationForbidden)
        );
        assert_eq!(classify_iis(&iis(Other, 503, 0, 0)), None);
    }

    #[test]
    fn classifies_httperr_records() {
        let rec = |target: IisTarget, status, reason: &str| HttpErrRecord {
            target: target as i32,
            status,
            reason: reason.into(),
            ..Default::default()
        };
        assert_eq!(
            classify_httperr(&rec(IisTarget::Mscep, 503, "AppOffline")),
            Some(Symptom::Unavailable)
        );
        assert_eq!(
            classify_httperr(&rec(IisTarget::Unspecified, 400, "URL_Length")),
            Some(Symptom::TooLong)
        );
        assert_eq!(
            classify_httperr(&rec(IisTarget::Mscep, 414, "-")),
            Some(Symptom::TooLong)
        );
        assert_eq!(
            classify_httperr(&rec(IisTarget::Other, 400, "FieldLength")),
            None
        );
        assert_eq!(
            classify_httperr(&rec(IisTarget::Unspecified, 0, "Timer_ConnectionIdle")),
            None
        );
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ci(
            "This page can't be displayed",
            "CAN'T BE DISPLAYED"
        ));
        assert!(!contains_ci("abc", "abcd"));
    }
}
