//! One test per row of the troubleshooting guide's catalog, read like the guide: the symptom as
//! the logs show it → the diagnosis → the fix it names. Everything goes through the engine.

mod support;

use scepwatch_analyzer::model::{Scope, Severity};
use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::service_state_fact::Kind as ServiceKind;
use scepwatch_proto::v1::*;
use support::*;

const DAY: i64 = 24 * 60 * MIN;

fn covered(iis: &Src) -> Vec<Watermark> {
    vec![iis.watermark(t(8, 0, 0), t(12, 0, 0))]
}

fn android_call(dev: &mut Src, time: i64) -> Event {
    dev.android_step(
        time,
        AndroidScep {
            step: AndroidStep::Sending as i32,
            operation: ScepOperation::GetCaCaps as i32,
            url: URL_CACAPS.into(),
            ..Default::default()
        },
        "Sending GetCACaps(ca) to https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll?operation=GetCACaps&message=ca",
    )
}

#[test]
fn row_01_status_200_on_mscep_means_the_device_reached_ndes() {
    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let mut events = android_enrollment(&mut dev, t(10, 0, 0), TX);
    events.extend(iis_enrollment(
        &mut iis,
        t(10, 0, 0),
        "10.0.0.5",
        UA_ANDROID,
        TX,
    ));
    let sink = run(config_for(&["ndes01"]), &events, &covered(&iis));
    let d = attempt_diag(&sink, "ndes.reached");
    assert_eq!(d.catalog_row, 1);
    assert_eq!(d.severity, Severity::Info);
    assert!(
        d.explanation.contains("GetCACaps → 200, GetCACert → 200"),
        "{}",
        d.explanation
    );
    assert_eq!(d.evidence.len(), 3);
    assert!(d.fix.contains("Nothing to fix"));
}

#[test]
fn row_01_successful_server_only_traffic_is_folded_per_server() {
    let mut iis = Src::iis("ndes01");
    let events = vec![
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "fe80::f53d:89b8:c3e8:5fec%13",
            UA_WINDOWS,
        ),
        iis.mscep(
            t(10, 0, 1),
            ScepOperation::GetCaCert,
            200,
            0,
            0,
            "fe80::f53d:89b8:c3e8:5fec%13",
            UA_WINDOWS,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &covered(&iis));
    let d = server_diag(&sink, "ndes.reached");
    assert_eq!(d.occurrences, 2);
    assert!(
        d.explanation.contains("GetCACaps 1, GetCACert 1"),
        "{}",
        d.explanation
    );
}

#[test]
fn row_02_device_called_and_no_server_logged_it_in_a_read_window_is_blocked() {
    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let events = vec![
        android_call(&mut dev, t(10, 0, 0)),
        iis.mscep(
            t(9, 0, 0),
            ScepOperation::GetCaCaps,
            200,
            0,
            0,
            "10.0.0.9",
            UA_WINDOWS,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &covered(&iis));
    let d = attempt_diag(&sink, "network.blocked_before_ndes");
    assert_eq!((d.catalog_row, d.severity), (2, Severity::Error));
    assert!(d.fix.contains("firewalls"), "{}", d.fix);
    assert!(d.fix.contains("row 6") && d.fix.contains("row 8"));
}

#[test]
fn row_02_without_the_server_logs_of_the_window_nothing_is_concluded() {
    let mut dev = Src::android("pixel-7");
    let iis = Src::iis("ndes01");
    let events = vec![android_call(&mut dev, t(10, 0, 0))];
    // The server's log was read only up to 09:00.
    let sink = run(
        config_for(&["ndes01"]),
        &events,
        &[iis.watermark(t(8, 0, 0), t(9, 0, 0))],
    );
    let d = attempt_diag(&sink, "attempt.server_not_observed");
    assert_eq!((d.catalog_row, d.severity), (2, Severity::Warning));
    assert!(
        d.explanation.contains("ndes01 (2026-11-20T09:58:00Z"),
        "{}",
        d.explanation
    );
    assert!(of(&sink, "network.blocked_before_ndes").is_empty());
}

#[test]
fn row_03_500_with_win32_1346_is_the_missing_impersonation_right() {
    let mut iis = Src::iis("ndes01");
    let events = vec![iis.mscep(
        t(20, 22, 16),
        ScepOperation::GetCaCert,
        500,
        0,
        1346,
        "10.5.14.22",
        UA_IOS,
    )];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.impersonation_right_missing");
    assert_eq!((d.catalog_row, d.severity), (3, Severity::Error));
    assert!(d.fix.contains("secpol.msc") && d.fix.contains("IIS_IUSRS"));
    let s = server_diag(&sink, "iis.impersonation_right_missing");
    assert_eq!(s.scope, Scope::Server("ndes01".into()));
    assert!(of(&sink, "ndes.internal_error").is_empty());
}

#[test]
fn row_04_503_without_a_crash_is_the_app_pool_not_started() {
    let mut iis = Src::iis("ndes01");
    let mut httperr = Src::httperr("ndes01");
    let events = vec![
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
        httperr.httperr_rec(t(10, 0, 5), "10.0.0.5", 503, "AppOffline"),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.app_pool_unavailable");
    assert_eq!((d.catalog_row, d.severity), (4, Severity::Critical));
    assert_eq!(d.occurrences, 2);
    assert!(d.fix.contains("Application Pools"));
    let s = server_diag(&sink, "iis.app_pool_unavailable");
    assert_eq!(s.occurrences, 2);
}

#[test]
fn row_04_probe_503_is_the_app_pool_not_started() {
    let mut probe = Src::probe("prober01");
    let events = vec![probe.probe_result(t(10, 0, 0), ProbePage::ServiceUnavailable, 503)];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = &of(&sink, "iis.app_pool_unavailable")[0];
    assert_eq!(d.scope, Scope::Endpoint(ENDPOINT.into()));
}

#[test]
fn row_05_w3wp_crash_near_a_503_is_the_pool_crashing() {
    let mut iis = Src::iis("ndes01");
    let mut app = Src::application("ndes01");
    let events = vec![
        app.w3wp_crash(t(10, 0, 30)),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.app_pool_crashing");
    assert_eq!((d.catalog_row, d.severity), (5, Severity::Critical));
    assert!(d.explanation.contains("ntdll.dll") && d.explanation.contains("0xc0000005"));
    // No cause evidenced: the four candidates and how to check them.
    for word in [
        "LocalMachine\\Root",
        "CAPI2",
        "CertificateRegistrationSvc",
        "NDESCertThumbprint",
    ] {
        assert!(d.fix.contains(word), "fix lacks {word}");
    }
    assert!(of(&sink, "iis.app_pool_unavailable").is_empty());
    server_diag(&sink, "iis.app_pool_crashing");
}

#[test]
fn row_05a_intermediate_in_root_store_is_named() {
    let mut iis = Src::iis("ndes01");
    let mut app = Src::application("ndes01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 0, 0),
            cert_fact(
                CertRole::RootStoreIntermediate,
                "CN=Contoso Issuing CA",
                "AB12",
                t(23, 0, 0),
                &[],
            ),
        ),
        app.w3wp_crash(t(10, 0, 30)),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.app_pool_crashing.root_intermediate");
    assert!(d.fix.contains("Group Policy"));
    assert!(d.evidence.iter().any(|e| e.kind == "health"));
}

#[test]
fn row_05b_unreachable_crl_is_named() {
    let mut iis = Src::iis("ndes01");
    let mut app = Src::application("ndes01");
    let mut capi = Src::capi2("ndes01");
    let events = vec![
        capi.capi2_event(
            t(10, 0, 20),
            Capi2Kind::Retrieval,
            "http://pki.contoso.com/crl/ca.crl",
        ),
        app.w3wp_crash(t(10, 0, 30)),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.app_pool_crashing.crl_unreachable");
    assert!(d.explanation.contains("http://pki.contoso.com/crl/ca.crl"));
    assert!(d.fix.contains("CRL"));
}

#[test]
fn row_05c_windows_auth_on_cert_registration_is_named() {
    let mut iis = Src::iis("ndes01");
    let mut app = Src::application("ndes01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 0, 0),
            Fact::IisAuthentication(IisAuthenticationFact {
                path: "Default Web Site/CertificateRegistrationSvc".into(),
                anonymous_enabled: false,
                windows_enabled: true,
            }),
        ),
        app.w3wp_crash(t(10, 0, 30)),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.app_pool_crashing.windows_auth");
    assert!(d.fix.contains("Anonymous Authentication"));
    server_diag(&sink, "health.windows_auth_on_cert_registration");
}

#[test]
fn row_05d_expired_policy_certificate_is_named() {
    let mut iis = Src::iis("ndes01");
    let mut app = Src::application("ndes01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 0, 0),
            cert_fact(
                CertRole::NdesPolicy,
                "CN=ndes01.contoso.com",
                "CD34",
                t(9, 0, 0) - DAY,
                &["1.3.6.1.5.5.7.3.2"],
            ),
        ),
        app.w3wp_crash(t(10, 0, 30)),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::GetCaCaps,
            503,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.app_pool_crashing.policy_cert_expired");
    assert!(d.fix.contains("Reinstall the Intune Certificate Connector"));
    server_diag(&sink, "health.policy_cert_expired");
}

#[test]
fn row_06_gateway_timeout_is_the_proxy_connector_not_running() {
    let mut dev = Src::android("pixel-7");
    let events = vec![
        android_call(&mut dev, t(10, 0, 0)),
        dev.android_step(
            t(10, 0, 30),
            AndroidScep {
                step: AndroidStep::Received as i32,
                operation: ScepOperation::GetCaCaps as i32,
                url: URL_CACAPS.into(),
                http_status: "504 Gateway Timeout".into(),
                http_status_code: 504,
                ..Default::default()
            },
            "Received '504 Gateway Timeout' when sending GetCACaps(ca) to ...",
        ),
    ];
    let iis = Src::iis("ndes01");
    let sink = run(config_for(&["ndes01"]), &events, &covered(&iis));
    let d = attempt_diag(&sink, "app_proxy.connector_down");
    assert_eq!((d.catalog_row, d.severity), (6, Severity::Critical));
    assert!(d.fix.contains("services.msc") && d.fix.contains("Automatic"));
    // The device got an answer from the proxy: not a network block.
    assert!(of(&sink, "network.blocked_before_ndes").is_empty());
    assert!(of(&sink, "attempt.server_not_observed").is_empty());
}

#[test]
fn row_06_probe_gateway_timeout_and_stopped_connector_service() {
    let mut probe = Src::probe("prober01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 55, 0),
            service_fact(
                ServiceKind::WindowsService,
                "WAPCSvc",
                "Microsoft Entra application proxy connector",
                "Stopped",
            ),
        ),
        probe.probe_result(t(10, 0, 0), ProbePage::GatewayTimeout, 504),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = &of(&sink, "app_proxy.connector_down")[0];
    assert!(
        d.explanation.contains("WAPCSvc on ndes01 was Stopped"),
        "{}",
        d.explanation
    );
    server_diag(&sink, "health.app_proxy_connector_stopped");
}

#[test]
fn row_07_request_filtering_404_14_is_a_request_too_long() {
    let mut iis = Src::iis("ndes01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 0, 0),
            Fact::RequestLimits(RequestLimitsFact {
                max_url: 4096,
                max_query_string: 2048,
                max_field_length: 0,
                max_request_bytes: 0,
            }),
        ),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::PkiOperation,
            404,
            14,
            0,
            "10.0.0.5",
            UA_IOS,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "iis.request_too_long");
    assert_eq!((d.catalog_row, d.severity), (7, Severity::Error));
    assert!(
        d.explanation.contains("maxQueryString 2048"),
        "{}",
        d.explanation
    );
    assert!(d.fix.contains("65534") && d.fix.contains("MaxFieldLength"));
    server_diag(&sink, "health.request_limits_low");
}

#[test]
fn row_07_httperr_url_length_is_a_request_too_long() {
    let mut httperr = Src::httperr("ndes01");
    let events = vec![httperr.httperr_rec(t(10, 0, 0), "10.0.0.5", 414, "URL_Length")];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    server_diag(&sink, "iis.request_too_long");
}

#[test]
fn row_08_page_cannot_be_displayed_is_the_wrong_external_url() {
    let mut probe = Src::probe("prober01");
    let events = vec![probe.probe_result(t(10, 0, 0), ProbePage::AppProxyCannotDisplay, 200)];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = &of(&sink, "app_proxy.wrong_external_url")[0];
    assert_eq!((d.catalog_row, d.severity), (8, Severity::Error));
    assert!(d.fix.contains("msappproxy.net"));
}

#[test]
fn row_09_ndes_general_page_is_the_connector_not_installed() {
    let mut probe = Src::probe("prober01");
    let mut msi = Src::setupmsi("ndes01");
    let events = vec![
        msi.install(t(8, 0, 0), 0),
        probe.probe_result(t(10, 0, 0), ProbePage::NdesGeneralMessage, 200),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = &of(&sink, "connector.not_installed")[0];
    assert_eq!((d.catalog_row, d.severity), (9, Severity::Error));
    assert!(
        d.explanation.contains("status 0 (installed)"),
        "{}",
        d.explanation
    );
    assert!(d.fix.contains("iisreset") && d.fix.contains("SetupMsi.log"));
}

#[test]
fn row_10_setupmsi_status_other_than_0_is_a_failed_install() {
    let mut msi = Src::setupmsi("ndes01");
    let events = vec![msi.install(t(8, 0, 0), 1603)];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = server_diag(&sink, "connector.install_failed");
    assert_eq!((d.catalog_row, d.severity), (10, Severity::Error));
    assert!(d.explanation.contains("1603"));
    assert!(d.fix.contains("install it again") || d.fix.contains("install the connector again"));
}

#[test]
fn row_11_500_not_1346_is_an_internal_error_naming_the_cause() {
    let mut iis = Src::iis("ndes01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 0, 0),
            cert_fact(
                CertRole::RaSigning,
                "CN=NDES01-MSCEP-RA",
                "EE55",
                t(9, 0, 0) - DAY,
                &[],
            ),
        ),
        iis.mscep(
            t(10, 0, 0),
            ScepOperation::PkiOperation,
            500,
            0,
            0,
            "10.0.0.5",
            UA_ANDROID,
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "ndes.internal_error");
    assert_eq!((d.catalog_row, d.severity), (11, Severity::Error));
    assert!(
        d.explanation
            .contains("Exchange Enrollment Agent (Offline request)"),
        "{}",
        d.explanation
    );
    assert!(d.fix.contains("iisreset") && d.fix.contains("CEP Encryption"));
    server_diag(&sink, "health.ra_cert_expired");
    assert!(of(&sink, "iis.impersonation_right_missing").is_empty());
}

#[test]
fn row_12_cert_registration_403_is_the_policy_cert_without_client_auth() {
    let mut iis = Src::iis("ndes01");
    let mut health = Src::health("ndes01");
    let events = vec![
        health.fact(
            t(9, 0, 0),
            cert_fact(
                CertRole::NdesPolicy,
                "CN=ndes01.contoso.com",
                "FF66",
                t(9, 0, 0) + 300 * DAY,
                &["1.3.6.1.5.5.7.3.1"],
            ),
        ),
        iis.cert_registration(t(10, 0, 0), 403),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let server: Vec<_> = of(&sink, "ndes.policy_cert_missing_client_auth")
        .into_iter()
        .filter(|d| d.evidence.iter().any(|e| e.kind == "iis"))
        .collect();
    assert_eq!(server.len(), 1);
    let d = server[0];
    assert_eq!((d.catalog_row, d.severity), (12, Severity::Error));
    assert!(
        d.explanation.contains("Cause confirmed"),
        "{}",
        d.explanation
    );
    assert!(d.fix.contains("Client Authentication"));
}

#[test]
fn row_13_probe_403_means_mscep_is_answering() {
    let mut probe = Src::probe("prober01");
    let events = vec![probe.probe_result(t(10, 0, 0), ProbePage::MscepForbidden, 403)];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = &of(&sink, "ndes.mscep_answering")[0];
    assert_eq!((d.catalog_row, d.severity), (13, Severity::Info));
}

#[test]
fn row_14_android_log_shows_how_far_the_device_got() {
    let mut dev = Src::android("pixel-7");
    let events = android_enrollment(&mut dev, t(5, 16, 8), TX);
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "device.android_progress");
    assert_eq!(d.catalog_row, 14);
    assert!(d.explanation.contains("Received '200 OK' for GetCACaps"));
    assert!(d
        .explanation
        .contains("Signing pkiMessage with the key of CN=user"));
}

#[test]
fn row_15_ios_log_shows_how_far_the_device_got() {
    let mut dev = Src::ios("iphone-12");
    let url = format!("{ENDPOINT}?operation=GetCACert&message=SCEP%20Authority");
    let events = vec![
        dev.ios_step(
            t(18, 30, 53),
            IosScep {
                step: IosStep::UrlRequest as i32,
                process: "profiled".into(),
                url: url.clone(),
                operation: ScepOperation::GetCaCert as i32,
                ..Default::default()
            },
            &format!("Performing synchronous URL request: {url}"),
        ),
        dev.ios_step(
            t(18, 30, 55),
            IosScep {
                step: IosStep::RetrieveIssued as i32,
                process: "profiled".into(),
                ..Default::default()
            },
            "Attempting to retrieve issued certificate...",
        ),
        dev.ios_step(
            t(18, 30, 55),
            IosScep {
                step: IosStep::SendingCsrGet as i32,
                process: "profiled".into(),
                ..Default::default()
            },
            "Sending CSR via GET.",
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = attempt_diag(&sink, "device.ios_progress");
    assert_eq!(d.catalog_row, 15);
    assert!(d.explanation.contains("Sending CSR via GET"));
}

#[test]
fn row_16_windows_event_36_names_the_ndes_url() {
    let mut dev = Src::windows("laptop-42");
    let w = WindowsScepRequest {
        enhanced_key_usage: "(1.3.6.1.5.5.7.3.2)".into(),
        ndes_url: "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe"
            .into(),
        container_name: String::new(),
        ksp_setting: "(0x2)".into(),
        store_location: "(0x1)".into(),
        message: "SCEP: Certificate request generated successfully.".into(),
    };
    let ev = dev.event(
        t(9, 0, 0),
        "",
        event::Payload::WindowsScep(w),
        "SCEP: Certificate request generated successfully.",
    );
    let sink = run(config_for(&["ndes01"]), &[ev], &[]);
    let d = attempt_diag(&sink, "device.windows_request_generated");
    assert_eq!(d.catalog_row, 16);
    assert!(d
        .explanation
        .contains("NDES URL https://ndes-contoso.msappproxy.net"));
    assert_eq!(sink.attempts[0].endpoint, ENDPOINT);
}

#[test]
fn row_17_pki_operation_200_hands_over_to_the_connector_policy_module() {
    let mut dev = Src::android("pixel-7");
    let mut iis = Src::iis("ndes01");
    let mut events = android_enrollment(&mut dev, t(10, 0, 0), TX);
    events.extend(iis_enrollment(
        &mut iis,
        t(10, 0, 0),
        "10.0.0.5",
        UA_ANDROID,
        TX,
    ));
    let sink = run(config_for(&["ndes01"]), &events, &covered(&iis));
    let d = attempt_diag(&sink, "ndes.request_submitted");
    assert_eq!(d.catalog_row, 17);
    assert!(d.explanation.contains("policy module"));
    assert!(d.fix.contains("Certificate Connector"));
    let s = server_diag(&sink, "ndes.request_submitted");
    assert_eq!(s.occurrences, 1);
}

#[test]
fn proactive_checks_warn_before_anything_fails() {
    let mut health = Src::health("ndes01");
    let now = t(9, 0, 0);
    let events = vec![
        health.fact(
            now,
            cert_fact(CertRole::RaEncryption, "CN=RA", "A1", now + 10 * DAY, &[]),
        ),
        health.fact(
            now,
            cert_fact(
                CertRole::NdesPolicy,
                "CN=ndes01",
                "A2",
                now + 20 * DAY,
                &["1.3.6.1.5.5.7.3.2"],
            ),
        ),
        health.fact(
            now,
            service_fact(ServiceKind::AppPool, "SCEP", "", "Stopped"),
        ),
        health.fact(
            now,
            Fact::ServiceAccount(ServiceAccountFact {
                account: "CONTOSO\\svc-ndes".into(),
                password_expires_us: now + 5 * DAY,
                ..Default::default()
            }),
        ),
        // 60 days out with a 30-day window: not flagged.
        health.fact(
            now,
            cert_fact(CertRole::RaSigning, "CN=RA2", "A3", now + 60 * DAY, &[]),
        ),
    ];
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    assert_eq!(
        codes(&sink),
        vec![
            "health.app_pool_stopped",
            "health.policy_cert_expiring",
            "health.ra_cert_expiring",
            "health.service_account_password_expiring",
        ]
    );
    for d in &sink.diagnoses {
        assert_eq!(d.catalog_row, 0);
        assert_eq!(d.scope, Scope::Server("ndes01".into()));
    }
    let locked = run(
        config_for(&["ndes01"]),
        &[Src::health("ndes01").fact(
            now,
            Fact::ServiceAccount(ServiceAccountFact {
                account: "CONTOSO\\svc-ndes".into(),
                locked_out: true,
                ..Default::default()
            }),
        )],
        &[],
    );
    assert_eq!(codes(&locked), vec!["health.service_account_locked"]);
}

#[test]
fn repeated_health_snapshots_fold_per_bucket() {
    let mut health = Src::health("ndes01");
    let events: Vec<Event> = (0..4)
        .map(|i| {
            health.fact(
                t(9, 0, 0) + i * 15 * MIN,
                cert_fact(CertRole::RootStoreIntermediate, "CN=Issuing", "B1", 0, &[]),
            )
        })
        .collect();
    let sink = run(config_for(&["ndes01"]), &events, &[]);
    let d = server_diag(&sink, "health.root_store_intermediate");
    assert_eq!(d.occurrences, 4);
    assert!(d.explanation.contains("Seen 4 times"));
}

#[test]
fn every_code_emitted_is_in_the_catalog() {
    for e in scepwatch_analyzer::rule::catalog::ALL {
        assert!(!e.fix.is_empty());
    }
}
