//! Event builders for the engine and catalog tests.
//!
//! Shapes follow the troubleshooting guide's examples: the IIS lines (GetCACaps / GetCACert 200
//! from "Mozilla/4.0 (compatible; Win32; NDES client)", the Dalvik user agent, the iOS
//! "profiled/1.0 CFNetwork/811.5.4 Darwin/16.6.0" 500 with Win32 status 1346), the Android
//! OMADM lines of 2018-02-27, the iOS profiled lines, Windows event 36, Application event 1000 for
//! w3wp.exe (ntdll.dll, 0xc0000005) and the SetupMsi.log summary line. Times are on 2026-11-20.
#![allow(dead_code)]

use scepwatch_analyzer::engine::{CollectSink, Engine, EngineConfig};
use scepwatch_analyzer::model::Diagnosis;
use scepwatch_proto::time::civil_to_us;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::service_state_fact::Kind as ServiceKind;
use scepwatch_proto::v1::*;

pub const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";
pub const URL_CACAPS: &str =
    "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca";
pub const UA_ANDROID: &str = "Dalvik/2.1.0 (Linux; U; Android 5.0; P01M Build/LRX21V)";
pub const UA_IOS: &str = "profiled/1.0 CFNetwork/811.5.4 Darwin/16.6.0";
pub const UA_WINDOWS: &str = "Mozilla/4.0 (compatible; Win32; NDES client)";
pub const TX: &str = "251E592A777C82996C7CF96F3AAADCF996FC31FF";

pub const S: i64 = 1_000_000;
pub const MIN: i64 = 60 * S;

/// 2026-11-20 h:m:s UTC.
pub fn t(h: u32, m: u32, s: u32) -> i64 {
    civil_to_us(2026, 11, 20, h, m, s, 0).unwrap_or_default()
}

/// A source that hands out events with increasing positions.
#[derive(Clone)]
pub struct Src {
    pub id: SourceId,
    pub pos: u64,
}

impl Src {
    pub fn new(host: &str, kind: SourceKind, path: &str) -> Self {
        Src {
            id: SourceId {
                collector: "test".into(),
                host: host.into(),
                kind: kind as i32,
                path: path.into(),
                stream: String::new(),
            },
            pos: 0,
        }
    }
    pub fn iis(host: &str) -> Self {
        Src::new(
            host,
            SourceKind::Iis,
            "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log",
        )
    }
    pub fn httperr(host: &str) -> Self {
        Src::new(
            host,
            SourceKind::Httperr,
            "C:\\Windows\\System32\\LogFiles\\HTTPERR\\httperr1.log",
        )
    }
    pub fn application(host: &str) -> Self {
        Src::new(host, SourceKind::EventLog, "Application")
    }
    pub fn capi2(host: &str) -> Self {
        Src::new(
            host,
            SourceKind::EventLog,
            "Microsoft-Windows-CAPI2/Operational",
        )
    }
    pub fn health(host: &str) -> Self {
        Src::new(host, SourceKind::Health, "health")
    }
    pub fn setupmsi(host: &str) -> Self {
        Src::new(host, SourceKind::SetupMsi, "C:\\Temp\\SetupMsi.log")
    }
    pub fn android(device: &str) -> Self {
        Src::new(device, SourceKind::AndroidOmadm, "omadmlog.log")
    }
    pub fn ios(device: &str) -> Self {
        Src::new(device, SourceKind::IosConsole, "profiled.log")
    }
    pub fn windows(device: &str) -> Self {
        Src::new(
            device,
            SourceKind::EventLog,
            "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin",
        )
    }
    pub fn probe(host: &str) -> Self {
        Src::new(host, SourceKind::Probe, ENDPOINT)
    }

    pub fn event(&mut self, time: i64, endpoint: &str, payload: Payload, excerpt: &str) -> Event {
        self.pos += 100;
        Event {
            id: scepwatch_proto::event_id(&self.id, self.pos).to_vec(),
            source: Some(self.id.clone()),
            position: self.pos,
            event_time_us: time,
            observed_time_us: time,
            endpoint_id: endpoint.into(),
            excerpt: excerpt.into(),
            payload: Some(payload),
        }
    }

    pub fn watermark(&self, from: i64, to: i64) -> Watermark {
        Watermark {
            source: Some(self.id.clone()),
            endpoint_id: String::new(),
            read_from_us: from,
            read_up_to_us: to,
            position: self.pos,
        }
    }

    /// An IIS request to mscep.dll.
    #[allow(clippy::too_many_arguments)]
    pub fn mscep(
        &mut self,
        time: i64,
        op: ScepOperation,
        status: u32,
        substatus: u32,
        win32: u32,
        client: &str,
        ua: &str,
    ) -> Event {
        self.mscep_tx(time, op, status, substatus, win32, client, ua, "")
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mscep_tx(
        &mut self,
        time: i64,
        op: ScepOperation,
        status: u32,
        substatus: u32,
        win32: u32,
        client: &str,
        ua: &str,
        tx: &str,
    ) -> Event {
        let opname = match op {
            ScepOperation::GetCaCaps => "GetCACaps",
            ScepOperation::GetCaCert => "GetCACert",
            ScepOperation::PkiOperation => "PKIOperation",
            _ => "x",
        };
        let query = format!("operation={opname}&message=ca");
        let line = format!(
            "2026-11-20 00:00:00 10.0.0.10 GET /certsrv/mscep/mscep.dll {query} 443 - {client} {} - {status} {substatus} {win32} 31",
            ua.replace(' ', "+")
        );
        let req = IisRequest {
            server_ip: "10.0.0.10".into(),
            server_port: 443,
            client_ip: client.into(),
            method: "GET".into(),
            uri_stem: "/certsrv/mscep/mscep.dll".into(),
            uri_query: query.clone(),
            user_agent: ua.into(),
            status,
            substatus,
            win32_status: win32,
            time_taken_ms: 31,
            target: IisTarget::Mscep as i32,
            operation: op as i32,
            query_length: query.len() as u32,
            scep: (!tx.is_empty()).then(|| ScepMessageInfo {
                transaction_id: tx.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.event(time, "", Payload::Iis(req), &line)
    }

    pub fn cert_registration(&mut self, time: i64, status: u32) -> Event {
        let req = IisRequest {
            client_ip: "::1".into(),
            method: "POST".into(),
            uri_stem: "/CertificateRegistrationSvc/Certificate/VerifyRequest".into(),
            status,
            target: IisTarget::CertRegistrationSvc as i32,
            ..Default::default()
        };
        let line = format!("POST /CertificateRegistrationSvc/Certificate/VerifyRequest - 443 - ::1 - - {status} 0 0 12");
        self.event(time, "", Payload::Iis(req), &line)
    }

    pub fn httperr_rec(&mut self, time: i64, client: &str, status: u32, reason: &str) -> Event {
        let rec = HttpErrRecord {
            client_ip: client.into(),
            method: "GET".into(),
            url: "/certsrv/mscep/mscep.dll?operation=GetCACaps".into(),
            status,
            reason: reason.into(),
            target: IisTarget::Mscep as i32,
            queue_name: "SCEP".into(),
            ..Default::default()
        };
        let line = format!("2026-11-20 00:00:00 {client} 50000 10.0.0.10 443 HTTP/1.1 GET /certsrv/mscep/mscep.dll {status} - {reason} SCEP");
        self.event(time, "", Payload::Httperr(rec), &line)
    }

    pub fn w3wp_crash(&mut self, time: i64) -> Event {
        let c = AppCrash {
            application: "w3wp.exe".into(),
            application_version: "8.5.9600.16384".into(),
            module: "ntdll.dll".into(),
            module_version: "6.3.9600.18821".into(),
            exception_code: "0xc0000005".into(),
            ..Default::default()
        };
        self.event(
            time,
            "",
            Payload::AppCrash(c),
            "Faulting application name: w3wp.exe, version: 8.5.9600.16384 Faulting module name: ntdll.dll Exception code: 0xc0000005",
        )
    }

    pub fn capi2_event(&mut self, time: i64, kind: Capi2Kind, url: &str) -> Event {
        let c = Capi2Event {
            event_id: 53,
            kind: kind as i32,
            task: "CryptRetrieveObjectByUrlWire".into(),
            result: "The server name or address could not be resolved".into(),
            error_code: "80072EE7".into(),
            url: url.into(),
            ..Default::default()
        };
        self.event(
            time,
            "",
            Payload::Capi2(c),
            "CAPI2 53 CryptRetrieveObjectByUrlWire",
        )
    }

    pub fn install(&mut self, time: i64, status: i32) -> Event {
        let i = ConnectorInstall {
            status,
            product_name: "Microsoft Intune Connector".into(),
            product_version: "6.1711.4.0".into(),
            completed: status == 0,
            errors: if status == 0 {
                vec![]
            } else {
                vec!["Error 1603".into()]
            },
        };
        let line = format!("Windows Installer installed the product. Product Name: Microsoft Intune Connector. Product Version: 6.1711.4.0. Installation success or error status: {status}.");
        self.event(time, "", Payload::ConnectorInstall(i), &line)
    }

    pub fn fact(&mut self, time: i64, fact: Fact) -> Event {
        self.event(
            time,
            "",
            Payload::Health(HealthFact { fact: Some(fact) }),
            "health fact",
        )
    }

    pub fn probe_result(&mut self, time: i64, page: ProbePage, status: u32) -> Event {
        let p = ProbeResult {
            url: ENDPOINT.into(),
            check: "browse".into(),
            status,
            page: page as i32,
            via_app_proxy: true,
            ..Default::default()
        };
        self.event(time, ENDPOINT, Payload::Probe(p), "probe")
    }

    pub fn android_step(&mut self, time: i64, a: AndroidScep, line: &str) -> Event {
        let ep = if a.url.is_empty() { "" } else { ENDPOINT };
        self.event(time, ep, Payload::Android(a), line)
    }

    pub fn ios_step(&mut self, time: i64, i: IosScep, line: &str) -> Event {
        let ep = if i.url.is_empty() { "" } else { ENDPOINT };
        self.event(time, ep, Payload::Ios(i), line)
    }
}

/// The guide's Android enrollment, from "There are 1 requests" to sending the signed request.
pub fn android_enrollment(dev: &mut Src, start: i64, tx: &str) -> Vec<Event> {
    vec![
        dev.android_step(
            start,
            AndroidScep {
                step: AndroidStep::RequestsPending as i32,
                request_count: 1,
                ..Default::default()
            },
            "There are 1 requests",
        ),
        dev.android_step(
            start + S,
            AndroidScep {
                step: AndroidStep::Sending as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: URL_CACAPS.into(),
                ..Default::default()
            },
            "Sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca",
        ),
        dev.android_step(
            start + 6 * S,
            AndroidScep {
                step: AndroidStep::Received as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: URL_CACAPS.into(),
                http_status: "200 OK".into(),
                http_status_code: 200,
                ..Default::default()
            },
            "Received '200 OK' when sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca",
        ),
        dev.android_step(
            start + 13 * S,
            AndroidScep {
                step: AndroidStep::Encoding as i32,
                transaction_id: tx.into(),
                message_type: "PKCS_REQ".into(),
                ..Default::default()
            },
            "Encoding message: org.jscep.message.PkcsReq@2b06f45f[messageType=PKCS_REQ,transId=...]",
        ),
        dev.android_step(
            start + 14 * S,
            AndroidScep {
                step: AndroidStep::Signing as i32,
                signer_dn: "CN=user".into(),
                ..Default::default()
            },
            "Signing pkiMessage using key belonging to [dn=CN=user; serial=1]",
        ),
        dev.android_step(
            start + 15 * S,
            AndroidScep {
                step: AndroidStep::SendingPkiMessage as i32,
                ..Default::default()
            },
            "Sending org.bouncycastle.cms.CMSSignedData@ad57775",
        ),
    ]
}

/// The server side of the same enrollment: GetCACaps, GetCACert, PKIOperation, all 200.
pub fn iis_enrollment(iis: &mut Src, start: i64, client: &str, ua: &str, tx: &str) -> Vec<Event> {
    vec![
        iis.mscep(
            start + 2 * S,
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            client,
            ua,
        ),
        iis.mscep(
            start + 8 * S,
            ScepOperation::GetCaCert,
            200,
            0,
            0,
            client,
            ua,
        ),
        iis.mscep_tx(
            start + 16 * S,
            ScepOperation::PkiOperation,
            200,
            0,
            0,
            client,
            ua,
            tx,
        ),
    ]
}

pub fn config_for(hosts: &[&str]) -> EngineConfig {
    EngineConfig {
        server_endpoints: hosts
            .iter()
            .map(|h| (h.to_string(), ENDPOINT.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// Pushes everything, then the watermarks, then finishes.
pub fn run(config: EngineConfig, events: &[Event], watermarks: &[Watermark]) -> CollectSink {
    let mut e = Engine::new(config);
    for ev in events {
        e.push(ev);
    }
    for w in watermarks {
        e.watermark(w);
    }
    let mut sink = CollectSink::default();
    e.finish(&mut sink);
    sink
}

pub fn codes(sink: &CollectSink) -> Vec<String> {
    let mut c: Vec<String> = sink.diagnoses.iter().map(|d| d.code.clone()).collect();
    c.sort();
    c
}

/// The diagnoses of `code`.
pub fn of<'a>(sink: &'a CollectSink, code: &str) -> Vec<&'a Diagnosis> {
    sink.diagnoses.iter().filter(|d| d.code == code).collect()
}

/// The single diagnosis of `code` at attempt scope.
pub fn attempt_diag<'a>(sink: &'a CollectSink, code: &str) -> &'a Diagnosis {
    let v: Vec<&Diagnosis> = sink
        .diagnoses
        .iter()
        .filter(|d| {
            d.code == code && matches!(d.scope, scepwatch_analyzer::model::Scope::Attempt(_))
        })
        .collect();
    assert_eq!(
        v.len(),
        1,
        "expected one attempt-scope {code}, got {:?}",
        codes(sink)
    );
    v[0]
}

/// The single diagnosis of `code` at server scope.
pub fn server_diag<'a>(sink: &'a CollectSink, code: &str) -> &'a Diagnosis {
    let v: Vec<&Diagnosis> = sink
        .diagnoses
        .iter()
        .filter(|d| {
            d.code == code && matches!(d.scope, scepwatch_analyzer::model::Scope::Server(_))
        })
        .collect();
    assert_eq!(
        v.len(),
        1,
        "expected one server-scope {code}, got {:?}",
        codes(sink)
    );
    v[0]
}

pub fn service_fact(kind: ServiceKind, name: &str, display: &str, state: &str) -> Fact {
    Fact::Service(ServiceStateFact {
        kind: kind as i32,
        name: name.into(),
        display_name: display.into(),
        state: state.into(),
        start_type: "Automatic".into(),
    })
}

pub fn cert_fact(
    role: CertRole,
    subject: &str,
    thumbprint: &str,
    not_after: i64,
    eku: &[&str],
) -> Fact {
    Fact::Certificate(CertificateFact {
        role: role as i32,
        store: "LocalMachine\\My".into(),
        thumbprint: thumbprint.into(),
        subject: subject.into(),
        issuer: "CN=Contoso Root CA".into(),
        not_before_us: 0,
        not_after_us: not_after,
        enhanced_key_usage: eku.iter().map(|s| s.to_string()).collect(),
        dns_names: vec![],
    })
}
