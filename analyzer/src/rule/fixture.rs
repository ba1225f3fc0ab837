//! Builders for rule unit tests: attempt views, device records and host context shaped like the
//! guide's examples (Android OMADM lines of 2018-02-27, the iOS profiled lines, the IIS lines
//! with 200 and 500/1346, the Application event 1000 for w3wp.exe).

use scepwatch_proto::time::{civil_to_us, to_rfc3339};
use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::service_state_fact::Kind as ServiceKind;
use scepwatch_proto::v1::{
    AndroidScep, AndroidStep, AppCrash, Capi2Event, Capi2Kind, CertRole, CertificateFact,
    ConnectorInstall, HealthFact, HttpErrRecord, IisAuthenticationFact, IisRequest, IisTarget,
    IosScep, IosStep, RequestLimitsFact, ScepOperation, ServiceAccountFact, ServiceStateFact,
    WindowsScepRequest,
};

use super::{
    attempt_findings, AttemptView, Coverage, DeviceEvent, DevicePayload, Finding, HostCoverage,
    RequestClass, ServerPart, SymptomSummary,
};
use crate::engine::context::{HostContext, Record};
use crate::engine::EngineConfig;
use crate::model::{Evidence, JoinMethod, Platform};

/// 2026-11-20 at h:m:s UTC.
pub fn at(h: u32, m: u32, s: u32) -> i64 {
    civil_to_us(2026, 11, 20, h, m, s, 0).unwrap_or_default()
}

pub fn config() -> EngineConfig {
    EngineConfig::default()
}

fn evidence(t: i64, kind: &str, excerpt: &str) -> Evidence {
    Evidence {
        event_id: format!("{:032x}", (t as u64) ^ (excerpt.len() as u64) << 40),
        time: to_rfc3339(t),
        time_us: t,
        host: "test".into(),
        source: "test.log".into(),
        kind: kind.into(),
        excerpt: excerpt.into(),
        note: String::new(),
    }
}

fn android(t: i64, a: AndroidScep, line: &str) -> DeviceEvent {
    DeviceEvent {
        time_us: t,
        evidence: evidence(t, "android-omadm", line),
        payload: DevicePayload::Android(a),
    }
}

const URL: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";

pub fn android_requests(t: i64, n: u32) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::RequestsPending as i32,
            request_count: n,
            ..Default::default()
        },
        &format!("There are {n} requests"),
    )
}

pub fn android_sending(t: i64, op: ScepOperation) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::Sending as i32,
            operation: op as i32,
            url: URL.into(),
            ..Default::default()
        },
        "Sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll",
    )
}

pub fn android_received(t: i64, op: ScepOperation, status: &str, code: u32) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::Received as i32,
            operation: op as i32,
            url: URL.into(),
            http_status: status.into(),
            http_status_code: code,
            ..Default::default()
        },
        &format!("Received '{status}' when sending GetCACaps(ca) to {URL}"),
    )
}

pub fn android_encoding(t: i64, tx: &str) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::Encoding as i32,
            transaction_id: tx.into(),
            message_type: "PKCS_REQ".into(),
            ..Default::default()
        },
        &format!("Encoding message: ...messageType=PKCS_REQ,transId={tx}]"),
    )
}

pub fn android_signing(t: i64, dn: &str) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::Signing as i32,
            signer_dn: dn.into(),
            ..Default::default()
        },
        &format!("Signing pkiMessage using key belonging to [dn={dn}; serial=1]"),
    )
}

pub fn android_sending_pki(t: i64) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::SendingPkiMessage as i32,
            ..Default::default()
        },
        "Sending org.bouncycastle.cms.CMSSignedData@ad57775",
    )
}

pub fn android_error(t: i64, text: &str) -> DeviceEvent {
    android(
        t,
        AndroidScep {
            step: AndroidStep::Error as i32,
            error: text.into(),
            ..Default::default()
        },
        text,
    )
}

pub fn ios_url(t: i64, op: ScepOperation) -> DeviceEvent {
    DeviceEvent {
        time_us: t,
        evidence: evidence(t, "ios-console", "Performing synchronous URL request"),
        payload: DevicePayload::Ios(IosScep {
            step: IosStep::UrlRequest as i32,
            process: "profiled".into(),
            url: URL.into(),
            operation: op as i32,
            ..Default::default()
        }),
    }
}

pub fn ios_step(t: i64, step: IosStep) -> DeviceEvent {
    DeviceEvent {
        time_us: t,
        evidence: evidence(t, "ios-console", "profiled step"),
        payload: DevicePayload::Ios(IosScep {
            step: step as i32,
            process: "profiled".into(),
            ..Default::default()
        }),
    }
}

pub fn ios_error(t: i64, text: &str, code: u32) -> DeviceEvent {
    DeviceEvent {
        time_us: t,
        evidence: evidence(t, "ios-console", text),
        payload: DevicePayload::Ios(IosScep {
            step: IosStep::Error as i32,
            error: text.into(),
            http_status_code: code,
            ..Default::default()
        }),
    }
}

pub fn windows_36(t: i64, url: &str) -> DeviceEvent {
    DeviceEvent {
        time_us: t,
        evidence: evidence(
            t,
            "event-log",
            "SCEP: Certificate request generated successfully.",
        ),
        payload: DevicePayload::Windows(WindowsScepRequest {
            enhanced_key_usage: "(1.3.6.1.5.5.7.3.2)".into(),
            ndes_url: url.into(),
            container_name: String::new(),
            ksp_setting: "0x2".into(),
            store_location: "0x1".into(),
            message: "SCEP: Certificate request generated successfully.".into(),
        }),
    }
}

pub fn class(
    op: ScepOperation,
    status: u32,
    sub: u32,
    win32: u32,
    count: u64,
    t: i64,
) -> RequestClass {
    RequestClass {
        operation: op,
        status,
        substatus: sub,
        win32_status: win32,
        count,
        first_us: t,
        last_us: t + (count as i64 - 1) * 1_000_000,
        max_query_length: 0,
        first_event: (t as u128).to_be_bytes(),
        sample: Some(evidence(
            t,
            "iis",
            &format!("GET /certsrv/mscep/mscep.dll operation=x 443 - 10.0.0.5 ua - {status} {sub} {win32} 31"),
        )),
    }
}

pub fn server_part(host: &str, family: &'static str, requests: Vec<RequestClass>) -> ServerPart {
    let start = requests
        .iter()
        .map(|r| r.first_us)
        .min()
        .unwrap_or_default();
    let end = requests.iter().map(|r| r.last_us).max().unwrap_or_default();
    ServerPart {
        host: host.into(),
        client_ip: "10.0.0.5".into(),
        user_agent_family: family,
        start_us: start,
        end_us: end,
        requests,
        transaction_ids: vec![],
    }
}

pub fn scepwatch_ctx(host: &str) -> HostContext {
    HostContext::new(host)
}

fn key(t: i64, salt: u8) -> ([u8; 16], i64) {
    let mut id = [salt; 16];
    id[..8].copy_from_slice(&t.to_le_bytes());
    (id, t)
}

pub fn health_record(t: i64, fact: HealthFact) -> Record<HealthFact> {
    Record {
        time_us: t,
        evidence: evidence(t, "health", "health fact"),
        data: fact,
    }
}

pub fn cert(role: CertRole, subject: &str, not_after: i64, eku: &[&str]) -> HealthFact {
    HealthFact {
        fact: Some(Fact::Certificate(CertificateFact {
            role: role as i32,
            store: "LocalMachine\\My".into(),
            thumbprint: format!("{:040X}", subject.len() as u64 * 7919 + role as u64),
            subject: subject.into(),
            issuer: "CN=Contoso Root CA".into(),
            not_before_us: 0,
            not_after_us: not_after,
            enhanced_key_usage: eku.iter().map(|s| s.to_string()).collect(),
            dns_names: vec![],
        })),
    }
}

pub fn service_account(account: &str, locked: bool, expired: bool, expires: i64) -> HealthFact {
    HealthFact {
        fact: Some(Fact::ServiceAccount(ServiceAccountFact {
            account: account.into(),
            locked_out: locked,
            password_expired: expired,
            password_expires_us: expires,
            disabled: false,
        })),
    }
}

pub fn iis_auth(path: &str, anonymous: bool, windows: bool) -> HealthFact {
    HealthFact {
        fact: Some(Fact::IisAuthentication(IisAuthenticationFact {
            path: path.into(),
            anonymous_enabled: anonymous,
            windows_enabled: windows,
        })),
    }
}

pub fn limits(url: u32, query: u32, field: u32, bytes: u32) -> HealthFact {
    HealthFact {
        fact: Some(Fact::RequestLimits(RequestLimitsFact {
            max_url: url,
            max_query_string: query,
            max_field_length: field,
            max_request_bytes: bytes,
        })),
    }
}

pub fn service(name: &str, display: &str, state: &str) -> HealthFact {
    HealthFact {
        fact: Some(Fact::Service(ServiceStateFact {
            kind: ServiceKind::WindowsService as i32,
            name: name.into(),
            display_name: display.into(),
            state: state.into(),
            start_type: "Automatic".into(),
        })),
    }
}

pub fn app_pool(name: &str, state: &str) -> HealthFact {
    HealthFact {
        fact: Some(Fact::Service(ServiceStateFact {
            kind: ServiceKind::AppPool as i32,
            name: name.into(),
            display_name: String::new(),
            state: state.into(),
            start_type: String::new(),
        })),
    }
}

pub fn add_crash(ctx: &mut HostContext, t: i64) {
    let (id, t) = key(t, 1);
    ctx.add_crash(
        (t, id),
        Record {
            time_us: t,
            evidence: evidence(t, "event-log", "Faulting application name: w3wp.exe"),
            data: AppCrash {
                application: "w3wp.exe".into(),
                application_version: "8.5.9600.16384".into(),
                module: "ntdll.dll".into(),
                module_version: "6.3.9600.18821".into(),
                exception_code: "0xc0000005".into(),
                ..Default::default()
            },
        },
    );
}

pub fn add_capi2(ctx: &mut HostContext, t: i64, kind: Capi2Kind, url: &str) {
    let (id, t) = key(t, 2);
    ctx.add_capi2(
        (t, id),
        Record {
            time_us: t,
            evidence: evidence(t, "event-log", "CAPI2"),
            data: Capi2Event {
                event_id: 53,
                kind: kind as i32,
                task: "CryptRetrieveObjectByUrlWire".into(),
                url: url.into(),
                ..Default::default()
            },
        },
    );
}

pub fn add_httperr(ctx: &mut HostContext, t: i64, client: &str, status: u32, reason: &str) {
    let (id, t) = key(t, 3);
    ctx.add_httperr(
        (t, id),
        Record {
            time_us: t,
            evidence: evidence(t, "httperr", reason),
            data: HttpErrRecord {
                client_ip: client.into(),
                status,
                reason: reason.into(),
                target: IisTarget::Mscep as i32,
                url: "/certsrv/mscep/mscep.dll".into(),
                ..Default::default()
            },
        },
    );
    if status == 503 {
        ctx.mark_unavailable(t);
    }
}

pub fn add_cert_registration(ctx: &mut HostContext, t: i64, status: u32) {
    let (id, t) = key(t, 4);
    ctx.add_cert_registration(
        (t, id),
        Record {
            time_us: t,
            evidence: evidence(
                t,
                "iis",
                "POST /CertificateRegistrationSvc/Certificate/VerifyRequest",
            ),
            data: IisRequest {
                method: "POST".into(),
                uri_stem: "/CertificateRegistrationSvc/Certificate/VerifyRequest".into(),
                status,
                target: IisTarget::CertRegistrationSvc as i32,
                ..Default::default()
            },
        },
    );
}

pub fn add_install(ctx: &mut HostContext, t: i64, status: i32) {
    let (id, t) = key(t, 5);
    ctx.add_install(
        (t, id),
        Record {
            time_us: t,
            evidence: evidence(t, "setup-msi", "Installation success or error status"),
            data: ConnectorInstall {
                status,
                product_name: "Microsoft Intune Connector".into(),
                product_version: "6.1711.4.0".into(),
                completed: status == 0,
                errors: vec![],
            },
        },
    );
}

pub fn summary(host: &str, count: u64, t: i64) -> SymptomSummary {
    SymptomSummary {
        host: host.into(),
        count,
        first_us: t,
        last_us: t,
        evidence: vec![evidence(t, "probe", "probe")],
    }
}

/// An attempt as rules see it, owning its data.
pub struct Case {
    pub config: EngineConfig,
    pub contexts: Vec<HostContext>,
    pub platform: Platform,
    pub join: JoinMethod,
    pub device_host: Option<String>,
    pub device_events: Vec<DeviceEvent>,
    pub servers: Vec<ServerPart>,
    pub coverage: Coverage,
}

impl Case {
    fn device(platform: Platform, events: Vec<DeviceEvent>) -> Self {
        Case {
            config: config(),
            contexts: vec![HostContext::new("ndes01")],
            platform,
            join: JoinMethod::DeviceOnly,
            device_host: Some("device-01".into()),
            device_events: events,
            servers: vec![],
            coverage: Coverage::default(),
        }
    }

    pub fn android(events: Vec<DeviceEvent>) -> Self {
        Self::device(Platform::Android, events)
    }

    pub fn ios(events: Vec<DeviceEvent>) -> Self {
        Self::device(Platform::Ios, events)
    }

    pub fn windows(events: Vec<DeviceEvent>) -> Self {
        Self::device(Platform::Windows, events)
    }

    pub fn server_only(servers: Vec<ServerPart>) -> Self {
        Case {
            config: config(),
            contexts: vec![HostContext::new("ndes01")],
            platform: Platform::Unknown,
            join: JoinMethod::ServerOnly,
            device_host: None,
            device_events: vec![],
            servers,
            coverage: Coverage::default(),
        }
    }

    pub fn view(&self) -> AttemptView<'_> {
        let times = self
            .device_events
            .iter()
            .map(|e| e.time_us)
            .chain(self.servers.iter().flat_map(|s| [s.start_us, s.end_us]));
        let start = times.clone().min().unwrap_or_default();
        let end = times.max().unwrap_or_default();
        AttemptView {
            attempt_id: "attempt".into(),
            endpoint: URL.into(),
            start_us: start,
            end_us: end,
            platform: self.platform,
            join: self.join,
            device_host: self.device_host.clone(),
            device_events: self.device_events.clone(),
            servers: self.servers.clone(),
            hosts: self.contexts.iter().collect(),
            coverage: self.coverage.clone(),
            config: &self.config,
        }
    }

    pub fn run(&self) -> Vec<Finding> {
        attempt_findings(&self.view())
    }
}

/// Coverage where `host` read the whole window of `case`.
pub fn covered(host: &str, case: &Case) -> Coverage {
    Coverage {
        window: case.view().window(),
        hosts: vec![HostCoverage {
            host: host.into(),
            missing: vec![],
        }],
        traffic_reported_elsewhere: vec![],
    }
}

/// The single finding of `code` (panics with the list otherwise: test-only).
pub fn only<'a>(got: &'a [Finding], code: &str) -> &'a Finding {
    let hits: Vec<&Finding> = got.iter().filter(|f| f.code == code).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {code}, got {:?}",
        got.iter()
            .map(|f| (f.code, f.seen.as_str()))
            .collect::<Vec<_>>()
    );
    hits[0]
}

/// True when no finding has `code`.
pub fn none_of(got: &[Finding], code: &str) -> bool {
    got.iter().all(|f| f.code != code)
}
