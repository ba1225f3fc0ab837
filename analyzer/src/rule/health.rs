//! Proactive checks (catalog row 0): what a server's health facts say before anything fails.
//!
//! "Now" is the time the fact was observed, so the same facts always give the same verdict.
//! Each issue has a key (certificate thumbprint, service name, ...) so repeated snapshots of the
//! same problem fold into one diagnosis per server, key and time bucket.

use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::service_state_fact::Kind as ServiceKind;
use scepwatch_proto::v1::{CertRole, HealthFact};

use super::app_proxy::{is_connector_service, is_stopped};
use super::catalog;
use super::connector::lacks_client_auth;
use super::iis_status::ra_role_name;
use super::request_limits::low_limits;
use super::{contains_ci, when};
use crate::engine::EngineConfig;

/// One problem a health fact shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthIssue {
    /// Catalog code.
    pub code: &'static str,
    /// What it is about (thumbprint, service, account, path): issues with equal code and key fold.
    pub key: String,
    /// What was seen.
    pub seen: String,
}

fn days(us: i64) -> i64 {
    us.div_euclid(86_400_000_000)
}

/// The problems `fact`, observed on `host` at `at_us`, shows.
pub fn check(host: &str, fact: &HealthFact, at_us: i64, config: &EngineConfig) -> Vec<HealthIssue> {
    let mut out = Vec::new();
    match &fact.fact {
        Some(Fact::Certificate(c)) => {
            let name = if c.subject.is_empty() {
                c.thumbprint.as_str()
            } else {
                c.subject.as_str()
            };
            let expiry = |expired: &'static str, expiring: &'static str, what: &str| {
                if c.not_after_us == 0 {
                    return None;
                }
                let left = c.not_after_us - at_us;
                if left <= 0 {
                    Some(HealthIssue {
                        code: expired,
                        key: c.thumbprint.clone(),
                        seen: format!(
                            "On {host}, the {what} certificate {name} (thumbprint {}) expired on {}.",
                            c.thumbprint,
                            when(c.not_after_us)
                        ),
                    })
                } else if left <= config.expiry_warning_us {
                    Some(HealthIssue {
                        code: expiring,
                        key: c.thumbprint.clone(),
                        seen: format!(
                            "On {host}, the {what} certificate {name} (thumbprint {}) expires on {} \
                             ({} days after {}).",
                            c.thumbprint,
                            when(c.not_after_us),
                            days(left),
                            when(at_us)
                        ),
                    })
                } else {
                    None
                }
            };
            match c.role() {
                CertRole::RaEncryption | CertRole::RaSigning => {
                    let what = format!("MSCEP-RA {}", ra_role_name(c.role()));
                    out.extend(expiry(
                        catalog::RA_CERT_EXPIRED,
                        catalog::RA_CERT_EXPIRING,
                        &what,
                    ));
                }
                CertRole::NdesPolicy => {
                    out.extend(expiry(
                        catalog::POLICY_CERT_EXPIRED,
                        catalog::POLICY_CERT_EXPIRING,
                        "NDES policy module",
                    ));
                    if lacks_client_auth(c) {
                        out.push(HealthIssue {
                            code: catalog::POLICY_CERT_NO_CLIENT_AUTH,
                            key: c.thumbprint.clone(),
                            seen: format!(
                                "On {host}, the NDES policy certificate {name} (thumbprint {}) has \
                                 EKUs {} but not Client Authentication ({}); \
                                 CertificateRegistrationSvc will answer the NDES plugin with 403.",
                                c.thumbprint,
                                c.enhanced_key_usage.join(", "),
                                super::connector::CLIENT_AUTH_EKU
                            ),
                        });
                    }
                }
                CertRole::RootStoreIntermediate => out.push(HealthIssue {
                    code: catalog::ROOT_STORE_INTERMEDIATE,
                    key: c.thumbprint.clone(),
                    seen: format!(
                        "On {host}, LocalMachine\\Root holds {name} (thumbprint {}), issued by {}: \
                         not self-signed.",
                        c.thumbprint,
                        if c.issuer.is_empty() { "another CA" } else { &c.issuer }
                    ),
                }),
                _ => {}
            }
        }
        Some(Fact::RequestLimits(l)) => {
            let low = low_limits(l);
            if !low.is_empty() {
                out.push(HealthIssue {
                    code: catalog::REQUEST_LIMITS_LOW,
                    key: String::new(),
                    seen: format!("On {host}: {}.", low.join(", ")),
                });
            }
        }
        Some(Fact::Service(s)) => {
            let pool = s.kind() == ServiceKind::AppPool;
            if pool && is_stopped(&s.state) {
                out.push(HealthIssue {
                    code: catalog::APP_POOL_STOPPED,
                    key: s.name.to_ascii_lowercase(),
                    seen: format!("On {host}, the application pool {} is {}.", s.name, s.state),
                });
            }
            if !pool && is_connector_service(s) {
                let manual = !s.start_type.is_empty() && !contains_ci(&s.start_type, "auto");
                if is_stopped(&s.state) {
                    out.push(HealthIssue {
                        code: catalog::PROXY_CONNECTOR_STOPPED,
                        key: s.name.to_ascii_lowercase(),
                        seen: format!(
                            "On {host}, the service {} ({}) is {}{}.",
                            s.name,
                            if s.display_name.is_empty() {
                                "application proxy connector"
                            } else {
                                &s.display_name
                            },
                            s.state,
                            if manual {
                                format!(" and its startup type is {}", s.start_type)
                            } else {
                                String::new()
                            }
                        ),
                    });
                }
            }
        }
        Some(Fact::ServiceAccount(a)) => {
            let expired_pw = a.password_expired
                || (a.password_expires_us != 0 && a.password_expires_us <= at_us);
            if a.locked_out || a.disabled || expired_pw {
                let mut why = Vec::new();
                if a.locked_out {
                    why.push("locked out");
                }
                if a.disabled {
                    why.push("disabled");
                }
                if expired_pw {
                    why.push("password expired");
                }
                out.push(HealthIssue {
                    code: catalog::SERVICE_ACCOUNT_LOCKED,
                    key: a.account.to_ascii_lowercase(),
                    seen: format!(
                        "On {host}, the NDES service account {} is {}.",
                        a.account,
                        why.join(", ")
                    ),
                });
            } else if a.password_expires_us != 0
                && a.password_expires_us - at_us <= config.expiry_warning_us
            {
                out.push(HealthIssue {
                    code: catalog::SERVICE_ACCOUNT_EXPIRING,
                    key: a.account.to_ascii_lowercase(),
                    seen: format!(
                        "On {host}, the password of the NDES service account {} expires on {} ({} \
                         days after {}).",
                        a.account,
                        when(a.password_expires_us),
                        days(a.password_expires_us - at_us),
                        when(at_us)
                    ),
                });
            }
        }
        Some(Fact::IisAuthentication(a))
            if contains_ci(&a.path, "CertificateRegistrationSvc") && a.windows_enabled =>
        {
            out.push(HealthIssue {
                code: catalog::WINDOWS_AUTH_ON_CERT_REG,
                key: a.path.to_ascii_lowercase(),
                seen: format!(
                    "On {host}, {} has Windows authentication enabled{}.",
                    a.path,
                    if a.anonymous_enabled {
                        ""
                    } else {
                        " and anonymous authentication disabled"
                    }
                ),
            });
        }
        Some(Fact::IisAuthentication(_)) | None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::fixture::*;

    const DAY: i64 = 86_400_000_000;

    fn codes(fact: HealthFact, at: i64) -> Vec<&'static str> {
        check("ndes01", &fact, at, &config())
            .iter()
            .map(|i| i.code)
            .collect()
    }

    #[test]
    fn ra_cert_expiring_within_window_is_flagged() {
        let now = at(12, 0, 0);
        let f = cert(
            CertRole::RaEncryption,
            "CN=NDES01-MSCEP-RA",
            now + 10 * DAY,
            &[],
        );
        assert_eq!(codes(f, now), vec![catalog::RA_CERT_EXPIRING]);
    }

    #[test]
    fn cert_expiring_60_days_out_with_30_day_window_is_not_flagged() {
        let now = at(12, 0, 0);
        let f = cert(
            CertRole::RaSigning,
            "CN=NDES01-MSCEP-RA",
            now + 60 * DAY,
            &[],
        );
        assert!(codes(f, now).is_empty());
        let f = cert(
            CertRole::NdesPolicy,
            "CN=ndes01",
            now + 60 * DAY,
            &[super::super::connector::CLIENT_AUTH_EKU],
        );
        assert!(codes(f, now).is_empty());
    }

    #[test]
    fn expired_certificates() {
        let now = at(12, 0, 0);
        assert_eq!(
            codes(cert(CertRole::RaSigning, "CN=RA", now - DAY, &[]), now),
            vec![catalog::RA_CERT_EXPIRED]
        );
        assert_eq!(
            codes(cert(CertRole::NdesPolicy, "CN=ndes01", now - DAY, &[]), now),
            vec![catalog::POLICY_CERT_EXPIRED]
        );
        assert_eq!(
            codes(
                cert(CertRole::NdesPolicy, "CN=ndes01", now + 5 * DAY, &[]),
                now
            ),
            vec![catalog::POLICY_CERT_EXPIRING]
        );
    }

    #[test]
    fn policy_cert_without_client_auth() {
        let now = at(12, 0, 0);
        let f = cert(
            CertRole::NdesPolicy,
            "CN=ndes01",
            now + 365 * DAY,
            &["1.3.6.1.5.5.7.3.1"],
        );
        assert_eq!(codes(f, now), vec![catalog::POLICY_CERT_NO_CLIENT_AUTH]);
    }

    #[test]
    fn root_store_intermediate_limits_and_services() {
        let now = at(12, 0, 0);
        assert_eq!(
            codes(
                cert(CertRole::RootStoreIntermediate, "CN=Issuing", 0, &[]),
                now
            ),
            vec![catalog::ROOT_STORE_INTERMEDIATE]
        );
        assert_eq!(
            codes(limits(4096, 2048, 65534, 65534), now),
            vec![catalog::REQUEST_LIMITS_LOW]
        );
        assert!(codes(limits(65534, 65534, 65534, 65534), now).is_empty());
        assert_eq!(
            codes(app_pool("SCEP", "Stopped"), now),
            vec![catalog::APP_POOL_STOPPED]
        );
        assert!(codes(app_pool("SCEP", "Started"), now).is_empty());
        assert_eq!(
            codes(service("WAPCSvc", "", "Stopped"), now),
            vec![catalog::PROXY_CONNECTOR_STOPPED]
        );
        assert!(codes(service("WAPCSvc", "", "Running"), now).is_empty());
        assert!(codes(service("Spooler", "Print Spooler", "Stopped"), now).is_empty());
    }

    #[test]
    fn service_account_states() {
        let now = at(12, 0, 0);
        assert_eq!(
            codes(service_account("svc", true, false, 0), now),
            vec![catalog::SERVICE_ACCOUNT_LOCKED]
        );
        assert_eq!(
            codes(service_account("svc", false, false, now + 3 * DAY), now),
            vec![catalog::SERVICE_ACCOUNT_EXPIRING]
        );
        assert!(codes(service_account("svc", false, false, now + 90 * DAY), now).is_empty());
        assert_eq!(
            codes(service_account("svc", false, false, now - DAY), now),
            vec![catalog::SERVICE_ACCOUNT_LOCKED]
        );
    }

    #[test]
    fn windows_auth_on_cert_registration() {
        let now = at(12, 0, 0);
        assert_eq!(
            codes(
                iis_auth("Default Web Site/CertificateRegistrationSvc", false, true),
                now
            ),
            vec![catalog::WINDOWS_AUTH_ON_CERT_REG]
        );
        assert!(codes(
            iis_auth("Default Web Site/CertificateRegistrationSvc", true, false),
            now
        )
        .is_empty());
        assert!(codes(iis_auth("Default Web Site/CertSrv", false, true), now).is_empty());
    }
}
