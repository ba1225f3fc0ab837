//! The catalog: every diagnosis code with its title, severity, catalog row, meaning and fix.
//!
//! Codes are stable identifiers: dashboards, alerts and stored diagnoses key on them, so a code is
//! never renamed or reused. A rule says *what it saw* ([`super::Finding::seen`]); the engine joins
//! that with the entry's [`Entry::meaning`] into the diagnosis's explanation and takes the fix
//! from here, so every diagnosis of one code gives the same advice.

use crate::model::Severity;

/// One catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Stable code, e.g. `iis.impersonation_right_missing`.
    pub code: &'static str,
    /// Row of the troubleshooting guide's catalog (1..=17), 0 for proactive checks.
    pub row: u8,
    /// How bad it is.
    pub severity: Severity,
    /// One-line title.
    pub title: &'static str,
    /// What the symptom means, in general (appended to what was seen).
    pub meaning: &'static str,
    /// What to do, step by step.
    pub fix: &'static str,
}

/// Row 1: NDES answered the device.
pub const NDES_REACHED: &str = "ndes.reached";
/// Row 2: the device called the SCEP URL; every server log of the window was read; none has it.
pub const NETWORK_BLOCKED: &str = "network.blocked_before_ndes";
/// Row 2 (undecidable): the device called the SCEP URL but the server logs of that window are
/// missing, so nothing can be concluded about the network yet.
pub const SERVER_NOT_OBSERVED: &str = "attempt.server_not_observed";
/// Row 2 (prober): the prober got no HTTP answer at all.
pub const PROBE_NO_RESPONSE: &str = "probe.no_response";
/// Row 3: 500 with Win32 status 1346.
pub const IMPERSONATION: &str = "iis.impersonation_right_missing";
/// Row 4: 503 on the SCEP URL.
pub const APP_POOL_UNAVAILABLE: &str = "iis.app_pool_unavailable";
/// Row 5, no cause evidenced: w3wp.exe crashes near 503s.
pub const APP_POOL_CRASHING: &str = "iis.app_pool_crashing";
/// Row 5a: crash with intermediate CA certificates in the machine Root store.
pub const CRASH_ROOT_INTERMEDIATE: &str = "iis.app_pool_crashing.root_intermediate";
/// Row 5b: crash with CRL retrieval / revocation failures in the CAPI2 log.
pub const CRASH_CRL_UNREACHABLE: &str = "iis.app_pool_crashing.crl_unreachable";
/// Row 5c: crash with Windows authentication enabled on CertificateRegistrationSvc.
pub const CRASH_WINDOWS_AUTH: &str = "iis.app_pool_crashing.windows_auth";
/// Row 5d: crash with the NDES policy module certificate expired.
pub const CRASH_POLICY_CERT_EXPIRED: &str = "iis.app_pool_crashing.policy_cert_expired";
/// Row 6: 504 GatewayTimeout from the application proxy.
pub const CONNECTOR_DOWN: &str = "app_proxy.connector_down";
/// Row 7: request too long for request filtering / HTTP.sys.
pub const REQUEST_TOO_LONG: &str = "iis.request_too_long";
/// Row 8: "This page can't be displayed" through the application proxy.
pub const WRONG_EXTERNAL_URL: &str = "app_proxy.wrong_external_url";
/// Row 9: the SCEP URL shows the NDES general page instead of 403.
pub const CONNECTOR_NOT_INSTALLED: &str = "connector.not_installed";
/// Row 10: the connector's installer reported a failure.
pub const CONNECTOR_INSTALL_FAILED: &str = "connector.install_failed";
/// Row 11: 500 that is not row 3.
pub const INTERNAL_ERROR: &str = "ndes.internal_error";
/// Row 12: CertificateRegistrationSvc answers 403 (policy certificate without Client Auth EKU).
pub const POLICY_CERT_NO_CLIENT_AUTH: &str = "ndes.policy_cert_missing_client_auth";
/// Row 13: the SCEP URL answers 403.0, as it should.
pub const MSCEP_ANSWERING: &str = "ndes.mscep_answering";
/// Row 14: how far an Android device got.
pub const ANDROID_PROGRESS: &str = "device.android_progress";
/// Row 15: how far an iOS device got.
pub const IOS_PROGRESS: &str = "device.ios_progress";
/// Row 16: a Windows device generated its request.
pub const WINDOWS_REQUEST: &str = "device.windows_request_generated";
/// Row 17: NDES accepted the PKIOperation.
pub const REQUEST_SUBMITTED: &str = "ndes.request_submitted";
/// Proactive: an MSCEP-RA certificate has expired.
pub const RA_CERT_EXPIRED: &str = "health.ra_cert_expired";
/// Proactive: an MSCEP-RA certificate expires soon.
pub const RA_CERT_EXPIRING: &str = "health.ra_cert_expiring";
/// Proactive: the NDES policy module certificate has expired.
pub const POLICY_CERT_EXPIRED: &str = "health.policy_cert_expired";
/// Proactive: the NDES policy module certificate expires soon.
pub const POLICY_CERT_EXPIRING: &str = "health.policy_cert_expiring";
/// Proactive: a non-self-signed certificate sits in the machine Root store.
pub const ROOT_STORE_INTERMEDIATE: &str = "health.root_store_intermediate";
/// Proactive: request-filtering or HTTP.sys limits below 65534.
pub const REQUEST_LIMITS_LOW: &str = "health.request_limits_low";
/// Proactive: the SCEP application pool is not started.
pub const APP_POOL_STOPPED: &str = "health.app_pool_stopped";
/// Proactive: the application proxy connector service is not running.
pub const PROXY_CONNECTOR_STOPPED: &str = "health.app_proxy_connector_stopped";
/// Proactive: the NDES service account is locked out, disabled or its password expired.
pub const SERVICE_ACCOUNT_LOCKED: &str = "health.service_account_locked";
/// Proactive: the NDES service account's password expires soon.
pub const SERVICE_ACCOUNT_EXPIRING: &str = "health.service_account_password_expiring";
/// Proactive: Windows authentication is enabled on CertificateRegistrationSvc.
pub const WINDOWS_AUTH_ON_CERT_REG: &str = "health.windows_auth_on_cert_registration";

/// Every entry, in catalog order.
pub const ALL: &[Entry] = &[
    Entry {
        code: NDES_REACHED,
        row: 1,
        severity: Severity::Info,
        title: "The device reached NDES",
        meaning: "IIS logged the SCEP requests with HTTP 200, so the network path, the \
            application proxy (if any) and mscep.dll all worked for this step.",
        fix: "Nothing to fix for this step.",
    },
    Entry {
        code: NETWORK_BLOCKED,
        row: 2,
        severity: Severity::Error,
        title: "The device's SCEP requests never reached an NDES server",
        meaning: "The device logged that it called the SCEP URL, and the IIS logs of every \
            server behind that endpoint were read for that time without a trace of the request. \
            Something between the device and NDES dropped it: a firewall, a proxy, DNS pointing \
            elsewhere, or the application proxy publication.",
        fix: "Follow the path from the device to the NDES server: resolve the SCEP URL's host name \
            from the device's network, check firewalls and outbound proxies for that host and \
            port, and browse the URL from the same network (the answer should be HTTP 403.0). \
            When the URL is published through Microsoft Entra application proxy, check the \
            connector service (row 6) and the external URL (row 8).",
    },
    Entry {
        code: SERVER_NOT_OBSERVED,
        row: 2,
        severity: Severity::Warning,
        title: "The device called the SCEP URL, but the server logs of that time were not read",
        meaning: "Without the IIS logs of every server of the endpoint for the attempt's time \
            window it cannot be told whether the request reached NDES or was blocked on the way.",
        fix: "Collect the IIS logs (%SystemDrive%\\inetpub\\logs\\LogFiles\\W3SVC1) of every NDES \
            server behind this URL for the missing window, and check the endpoint mapping of the \
            servers, then run the diagnosis again.",
    },
    Entry {
        code: PROBE_NO_RESPONSE,
        row: 2,
        severity: Severity::Error,
        title: "The SCEP URL gave no HTTP answer to the prober",
        meaning: "Name resolution, the TCP connection or the TLS handshake to the SCEP URL \
            failed, so no web server answered at all: the path to NDES (or to the application \
            proxy) is broken from where the prober runs.",
        fix: "Resolve the URL's host name, check firewalls and proxies for that host and port, and \
            check the TLS certificate the endpoint presents. Devices on the same network are \
            blocked the same way.",
    },
    Entry {
        code: IMPERSONATION,
        row: 3,
        severity: Severity::Error,
        title: "IIS_IUSRS lacks the right to impersonate a client after authentication",
        meaning: "mscep.dll answered 500 with Win32 status 1346 (the impersonation level is not \
            valid): the IIS worker cannot impersonate the caller because the IIS_IUSRS group \
            does not hold the \"Impersonate a client after authentication\" user right.",
        fix: "On the NDES server run secpol.msc, open Local Policies > User Rights Assignment, \
            open \"Impersonate a client after authentication\", add the group IIS_IUSRS, confirm, \
            then restart the server and let the device try again. If a Group Policy manages that \
            right, make the change there instead, or it will be undone.",
    },
    Entry {
        code: APP_POOL_UNAVAILABLE,
        row: 4,
        severity: Severity::Critical,
        title: "The SCEP application pool is not serving requests (HTTP 503)",
        meaning: "503 Service Unavailable on the SCEP URL means HTTP.sys had no running worker \
            for the SCEP application pool: the pool is stopped, or it was stopped by rapid-fail \
            protection after crashing.",
        fix: "On the NDES server open IIS Manager > Application Pools, find the SCEP pool and start \
            it. If it stops again, look in the Application event log for event 1000 with faulting \
            application w3wp.exe: that is a crash (see iis.app_pool_crashing and its causes).",
    },
    Entry {
        code: APP_POOL_CRASHING,
        row: 5,
        severity: Severity::Critical,
        title: "The SCEP application pool crashes on requests",
        meaning: "w3wp.exe crashed (Application event 1000) close in time to 503 answers on the \
            SCEP URL: a request makes the worker process fail, and IIS stops the pool. No \
            evidence of a specific cause was found in the collected data.",
        fix: "Check the four known causes in turn: (a) intermediate CA certificates in the \
            machine's Trusted Root store: list them with `Get-ChildItem cert:\\LocalMachine\\Root \
            | Where-Object { $_.Issuer -ne $_.Subject }`; (b) unreachable CRL URLs of the \
            connector's certificates: enable the CAPI2 Operational log, reproduce, and look for \
            revocation or retrieval errors; (c) Windows authentication enabled on \
            CertificateRegistrationSvc in IIS (it must be anonymous only); (d) an expired NDES \
            policy module certificate: compare the thumbprint in \
            HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MSCEP\\Modules\\NDESPolicy\\NDESCertThumbprint \
            with the certificates in the computer's Personal store and their expiry. Collecting \
            the server's health facts and CAPI2 log lets this diagnosis name the cause.",
    },
    Entry {
        code: CRASH_ROOT_INTERMEDIATE,
        row: 5,
        severity: Severity::Critical,
        title: "The SCEP pool crashes: intermediate CA certificates in the Root store",
        meaning: "w3wp.exe crashed near 503 answers, and the server's Trusted Root \
            Certification Authorities store holds certificates that are not self-signed \
            (issuer differs from subject). Intermediates in the Root store are a known cause of \
            this crash.",
        fix: "Move the intermediate certificates out of LocalMachine\\Root (into Intermediate \
            Certification Authorities if they are needed) and restart the server. Run \
            `Get-ChildItem cert:\\LocalMachine\\Root | Where-Object { $_.Issuer -ne $_.Subject }` \
            again afterwards: if they come back, a Group Policy pushes them; exclude the NDES \
            server from it. Then start the SCEP application pool again.",
    },
    Entry {
        code: CRASH_CRL_UNREACHABLE,
        row: 5,
        severity: Severity::Critical,
        title: "The SCEP pool crashes: certificate revocation lists cannot be reached",
        meaning: "w3wp.exe crashed near 503 answers, and the CAPI2 log shows revocation checks \
            or URL retrievals failing around the same time: the CRL distribution points of the \
            certificates the connector uses are blocked or down.",
        fix: "Open each CRL URL named in the evidence from the NDES server (as the service account \
            if a proxy is involved) and make it reachable: firewall, outbound proxy, or publish a \
            fresh CRL if it expired. Keep the CAPI2 Operational log enabled until the errors stop. \
            Then start the SCEP application pool again.",
    },
    Entry {
        code: CRASH_WINDOWS_AUTH,
        row: 5,
        severity: Severity::Critical,
        title: "The SCEP pool crashes: Windows authentication on CertificateRegistrationSvc",
        meaning: "w3wp.exe crashed near 503 answers, and IIS has Windows authentication enabled \
            on the CertificateRegistrationSvc application, which the connector's NDES plugin \
            must reach anonymously.",
        fix: "In IIS Manager select Default Web Site > CertificateRegistrationSvc > \
            Authentication: enable Anonymous Authentication, disable Windows Authentication, and \
            restart the server. Then start the SCEP application pool again.",
    },
    Entry {
        code: CRASH_POLICY_CERT_EXPIRED,
        row: 5,
        severity: Severity::Critical,
        title: "The SCEP pool crashes: the NDES policy module certificate expired",
        meaning: "w3wp.exe crashed near 503 answers, and the certificate named by \
            ...\\MSCEP\\Modules\\NDESPolicy\\NDESCertThumbprint was outside its validity period \
            at the time (health facts or CAPI2 time-validity errors).",
        fix: "In certlm.msc > Personal > Certificates find the expired certificate with the \
            Client Authentication purpose whose subject is the NDES server, check its thumbprint \
            against NDESCertThumbprint, and renew it with a new key from the proper template: \
            subject common name and DNS alternative name both set to the server's FQDN, Client \
            Authentication EKU present. Reinstall the Intune Certificate Connector so it binds \
            the new certificate, restart the connector service and the World Wide Web \
            Publishing Service, then start the SCEP application pool again.",
    },
    Entry {
        code: CONNECTOR_DOWN,
        row: 6,
        severity: Severity::Critical,
        title: "The application proxy connector is not running (504 GatewayTimeout)",
        meaning: "The application proxy answered 504 GatewayTimeout: the cloud service accepted \
            the request but no connector picked it up to forward it to NDES, which happens when \
            the Microsoft Entra application proxy (private network) connector service is \
            stopped or cannot reach the service.",
        fix: "On the connector servers run services.msc, start the Microsoft Entra application \
            proxy connector service (WAPCSvc) and set its startup type to Automatic. Check in \
            the Entra admin center that the connector group serving this application shows \
            active connectors.",
    },
    Entry {
        code: REQUEST_TOO_LONG,
        row: 7,
        severity: Severity::Error,
        title: "The SCEP request is longer than IIS or HTTP.sys accept",
        meaning: "A PKIOperation sent with GET carries the whole signed request in the query \
            string. IIS request filtering (404.14 / 404.15) or HTTP.sys (414 Request-URI Too Long, \
            HTTPERR URL_Length / FieldLength / Request_Length) rejected it because the configured \
            limits are smaller than SCEP needs.",
        fix: "In IIS Manager > Default Web Site > Request Filtering > Edit Feature Settings set \
            Maximum URL length and Maximum query string to 65534 bytes. In the registry key \
            HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters set the DWORD values \
            MaxFieldLength and MaxRequestBytes to 65534 (decimal). Restart the server.",
    },
    Entry {
        code: WRONG_EXTERNAL_URL,
        row: 8,
        severity: Severity::Error,
        title: "Wrong external URL in the application proxy publication",
        meaning: "\"This page can't be displayed\" through Microsoft Entra application proxy \
            means the request did not match a working publication: the SCEP application's \
            external URL is not the one devices use or is on a domain that is not set up.",
        fix: "Publish the SCEP application with an external URL on the tenant's default \
            msappproxy.net domain (https://<app>-<tenant>.msappproxy.net/certsrv/mscep/mscep.dll) \
            and use exactly that URL as the server URL in the Intune SCEP certificate profile.",
    },
    Entry {
        code: CONNECTOR_NOT_INSTALLED,
        row: 9,
        severity: Severity::Error,
        title: "The Intune Certificate Connector is not installed correctly",
        meaning: "Browsing the SCEP URL showed the Network Device Enrollment Service general page \
            instead of HTTP 403: the mscep.dll ISAPI extension that the connector sets up is not \
            intercepting the requests.",
        fix: "Open SetupMsi.log of the connector installation: \"Installation success or error \
            status: 0\" means it installed. If the status is not 0, remove the connector and \
            install it again. If it did install, run `iisreset` and browse the URL again: the \
            answer must be HTTP 403.0.",
    },
    Entry {
        code: CONNECTOR_INSTALL_FAILED,
        row: 10,
        severity: Severity::Error,
        title: "The Intune Certificate Connector installation failed",
        meaning: "SetupMsi.log reports a Windows Installer status other than 0 (or ends without a \
            status), so the connector and its NDES plugin are not (completely) installed.",
        fix: "Remove the Intune Certificate Connector from Programs and Features, fix the error \
            the log names (e.g. 1603 is a generic failure: look above it for the first failing \
            action), and install the connector again.",
    },
    Entry {
        code: INTERNAL_ERROR,
        row: 11,
        severity: Severity::Error,
        title: "NDES fails internally (HTTP 500)",
        meaning: "mscep.dll answered 500 Internal Server Error for a reason other than the \
            impersonation right (row 3). The known causes are an NDES service account that is \
            locked out or whose password expired, and expired MSCEP-RA certificates (CEP \
            Encryption and Exchange Enrollment Agent (Offline request)).",
        fix: "Unlock the NDES service account or reset its password (and update it where the \
            SCEP application pool uses it). If the MSCEP-RA certificates expired, request new CEP \
            Encryption (computer store) and Exchange Enrollment Agent (Offline request) (user \
            context, exportable key, then imported into the computer store) certificates with \
            the same subjects, or reinstall the NDES role; grant the NDES service account read \
            access to both private keys (Manage Private Keys), then run `iisreset`.",
    },
    Entry {
        code: POLICY_CERT_NO_CLIENT_AUTH,
        row: 12,
        severity: Severity::Error,
        title: "The NDES policy certificate lacks the Client Authentication EKU",
        meaning: "CertificateRegistrationSvc answers the connector's NDES plugin with 403: the \
            certificate the plugin authenticates with (NDESCertThumbprint) must carry the Client \
            Authentication extended key usage (1.3.6.1.5.5.7.3.2).",
        fix: "Enrol a new certificate for the NDES server with the Client Authentication EKU, \
            subject common name and DNS alternative name set to the server's FQDN, then \
            reinstall the Intune Certificate Connector so it uses it (as for an expired policy \
            certificate, row 5d).",
    },
    Entry {
        code: MSCEP_ANSWERING,
        row: 13,
        severity: Severity::Info,
        title: "The SCEP URL answers HTTP 403.0, as expected",
        meaning: "A plain browse of the SCEP URL is refused with 403.0 by mscep.dll: the ISAPI \
            extension is installed and answering.",
        fix: "Nothing to fix.",
    },
    Entry {
        code: ANDROID_PROGRESS,
        row: 14,
        severity: Severity::Info,
        title: "How far the Android device got",
        meaning: "The Company Portal's OMADM log shows the device's side of the enrollment up \
            to the last step listed.",
        fix: "Nothing to fix on the device for the steps that worked; compare with the server's \
            side of the attempt.",
    },
    Entry {
        code: IOS_PROGRESS,
        row: 15,
        severity: Severity::Info,
        title: "How far the iOS device got",
        meaning: "The profiled debug log shows the device's side of the enrollment up to the \
            last step listed.",
        fix: "Nothing to fix on the device for the steps that worked; compare with the server's \
            side of the attempt.",
    },
    Entry {
        code: WINDOWS_REQUEST,
        row: 16,
        severity: Severity::Info,
        title: "The Windows device generated its certificate request",
        meaning: "Event 36 of DeviceManagement-Enterprise-Diagnostics-Provider/Admin shows that \
            the device built the request for the NDES URL named.",
        fix: "Nothing to fix on the device; follow the request on the NDES server's side.",
    },
    Entry {
        code: REQUEST_SUBMITTED,
        row: 17,
        severity: Severity::Info,
        title: "NDES accepted the certificate request",
        meaning: "The PKIOperation was answered with HTTP 200: NDES took the request and handed \
            it on. What happens next (challenge validation, the request to the CA) is the work \
            of the Intune Certificate Connector's policy module, which these logs do not show.",
        fix: "If the certificate still does not arrive on the device, look at the Intune \
            Certificate Connector's logs on this server (Applications and Services Logs > \
            Microsoft > Intune > CertificateConnectors) and at the issuing CA.",
    },
    Entry {
        code: RA_CERT_EXPIRED,
        row: 0,
        severity: Severity::Error,
        title: "An MSCEP-RA certificate has expired",
        meaning: "NDES signs and decrypts SCEP messages with its registration authority \
            certificates; once one has expired, requests fail with HTTP 500 (row 11).",
        fix: "Request new CEP Encryption and Exchange Enrollment Agent (Offline request) \
            certificates with the same subjects (or reinstall the NDES role), grant the NDES \
            service account read access to their private keys, then run `iisreset`.",
    },
    Entry {
        code: RA_CERT_EXPIRING,
        row: 0,
        severity: Severity::Warning,
        title: "An MSCEP-RA certificate expires soon",
        meaning: "When it expires, NDES will answer SCEP requests with HTTP 500 (row 11).",
        fix: "Renew the CEP Encryption and Exchange Enrollment Agent (Offline request) \
            certificates before the date shown, grant the NDES service account read access to \
            the new private keys, then run `iisreset`.",
    },
    Entry {
        code: POLICY_CERT_EXPIRED,
        row: 0,
        severity: Severity::Error,
        title: "The NDES policy module certificate has expired",
        meaning: "The certificate named by NDESCertThumbprint is past its end date; this is a \
            known cause of the SCEP application pool crashing (row 5d).",
        fix: "Renew it with a new key (Client Authentication EKU, FQDN as subject and DNS name), \
            then reinstall the Intune Certificate Connector so it binds the new certificate.",
    },
    Entry {
        code: POLICY_CERT_EXPIRING,
        row: 0,
        severity: Severity::Warning,
        title: "The NDES policy module certificate expires soon",
        meaning: "When it expires the SCEP application pool will start crashing (row 5d).",
        fix: "Renew it before the date shown (Client Authentication EKU, FQDN as subject and DNS \
            name), then reinstall the Intune Certificate Connector so it binds the new \
            certificate.",
    },
    Entry {
        code: ROOT_STORE_INTERMEDIATE,
        row: 0,
        severity: Severity::Warning,
        title: "A non-self-signed certificate is in the machine's Trusted Root store",
        meaning: "Intermediate CA certificates in LocalMachine\\Root are a known cause of the SCEP \
            application pool crashing (row 5a).",
        fix: "Move the certificate to the Intermediate Certification Authorities store and find \
            the Group Policy that puts it in Root, if any; exclude the NDES server from it.",
    },
    Entry {
        code: REQUEST_LIMITS_LOW,
        row: 0,
        severity: Severity::Warning,
        title: "Request limits are below what SCEP needs",
        meaning: "Long PKIOperation GET requests will be rejected with 404.14/404.15 or 414 \
            (row 7) while request filtering or HTTP.sys limits are below 65534 bytes.",
        fix: "Set request filtering's Maximum URL length and Maximum query string to 65534, and \
            HTTP\\Parameters MaxFieldLength and MaxRequestBytes to 65534; restart the server.",
    },
    Entry {
        code: APP_POOL_STOPPED,
        row: 0,
        severity: Severity::Critical,
        title: "The SCEP application pool is stopped",
        meaning: "While the pool is stopped every SCEP request is answered 503 (row 4).",
        fix: "Start the pool in IIS Manager > Application Pools; if it stops by itself, look for \
            w3wp.exe crashes (row 5).",
    },
    Entry {
        code: PROXY_CONNECTOR_STOPPED,
        row: 0,
        severity: Severity::Critical,
        title: "The application proxy connector service is not running",
        meaning: "Devices going through Microsoft Entra application proxy get 504 \
            GatewayTimeout (row 6) while no connector of the group runs.",
        fix: "Start the Microsoft Entra application proxy connector service (WAPCSvc) in \
            services.msc and set its startup type to Automatic.",
    },
    Entry {
        code: SERVICE_ACCOUNT_LOCKED,
        row: 0,
        severity: Severity::Error,
        title: "The NDES service account cannot log on",
        meaning: "A locked-out or disabled account, or an expired password, makes NDES answer \
            HTTP 500 (row 11).",
        fix: "Unlock or enable the account or reset its password, update the password wherever \
            the SCEP application pool uses it, and run `iisreset`.",
    },
    Entry {
        code: SERVICE_ACCOUNT_EXPIRING,
        row: 0,
        severity: Severity::Warning,
        title: "The NDES service account's password expires soon",
        meaning: "When it expires NDES will answer HTTP 500 (row 11).",
        fix: "Change the password before the date shown and update it in the SCEP application \
            pool's identity, or use an account whose password does not expire under a managed \
            rotation.",
    },
    Entry {
        code: WINDOWS_AUTH_ON_CERT_REG,
        row: 0,
        severity: Severity::Warning,
        title: "Windows authentication is enabled on CertificateRegistrationSvc",
        meaning: "The connector's NDES plugin must reach CertificateRegistrationSvc anonymously; \
            Windows authentication there is a known cause of the SCEP pool crashing (row 5c).",
        fix: "In IIS Manager > CertificateRegistrationSvc > Authentication enable Anonymous \
            Authentication and disable Windows Authentication, then restart the server.",
    },
];

/// The entry of `code`. Every code a rule emits has one (tested).
pub fn entry(code: &str) -> Option<&'static Entry> {
    ALL.iter().find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_and_rows_in_range() {
        let mut seen = BTreeSet::new();
        for e in ALL {
            assert!(seen.insert(e.code), "duplicate code {}", e.code);
            assert!(e.row <= 17);
            assert!(!e.title.is_empty() && !e.meaning.is_empty() && !e.fix.is_empty());
            assert!(
                e.code.split('.').count() >= 2,
                "code {} is not dotted",
                e.code
            );
        }
    }

    #[test]
    fn every_catalog_row_has_a_code() {
        for row in 1..=17u8 {
            assert!(ALL.iter().any(|e| e.row == row), "row {row} has no code");
        }
    }
}
