//! Health facts: the columns every fact kind fills (shared by `events` and `health_facts`) and
//! the `health_facts` row.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use scepwatch_proto::v1::{event::Payload, health_fact::Fact, Event, HealthFact};

use super::column::{
    enum8, enum8_name, flag, hex, payload_time, split_time, version_of, CERT_ROLE, FACT_KIND,
    HEALTH_FACT, SERVICE_KIND,
};

/// The columns of one health fact, as both `events` (`health_fact` and the `cert_*` ...
/// `iis_auth_*` columns) and `health_facts` hold them. A fact kind fills its own columns; the
/// others hold their type's zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FactColumns {
    /// `HEALTH_FACT` number.
    pub fact: i8,
    pub cert_role: i8,
    pub cert_store: String,
    pub cert_thumbprint: String,
    pub cert_subject: String,
    pub cert_issuer: String,
    pub cert_not_before: Option<u32>,
    pub cert_not_after: Option<u32>,
    pub cert_enhanced_key_usage: Vec<String>,
    pub cert_dns_names: Vec<String>,
    pub limits_max_url: u32,
    pub limits_max_query_string: u32,
    pub limits_max_field_length: u32,
    pub limits_max_request_bytes: u32,
    pub service_kind: i8,
    pub service_name: String,
    pub service_display_name: String,
    pub service_state: String,
    pub service_start_type: String,
    pub account_name: String,
    pub account_locked_out: u8,
    pub account_password_expired: u8,
    pub account_password_expires: Option<u32>,
    pub account_disabled: u8,
    pub iis_auth_path: String,
    pub iis_auth_anonymous_enabled: u8,
    pub iis_auth_windows_enabled: u8,
    /// `health_facts.fact_key` (docs/clickhouse.md, "health_facts").
    pub key: String,
}

impl FactColumns {
    /// The columns of `fact`; all zero (fact `none`) when the fact is of a kind this analyzer
    /// does not know.
    pub(crate) fn of(fact: &HealthFact) -> FactColumns {
        let mut c = FactColumns::default();
        let Some(fact) = &fact.fact else {
            return c;
        };
        match fact {
            Fact::Certificate(f) => {
                c.fact = enum8(HEALTH_FACT, 1);
                c.cert_role = enum8(CERT_ROLE, f.role);
                c.cert_store.clone_from(&f.store);
                c.cert_thumbprint.clone_from(&f.thumbprint);
                c.cert_subject.clone_from(&f.subject);
                c.cert_issuer.clone_from(&f.issuer);
                c.cert_not_before = payload_time(f.not_before_us);
                c.cert_not_after = payload_time(f.not_after_us);
                c.cert_enhanced_key_usage.clone_from(&f.enhanced_key_usage);
                c.cert_dns_names.clone_from(&f.dns_names);
                c.key = format!("{}/{}", enum8_name(CERT_ROLE, f.role), f.thumbprint);
            }
            Fact::RequestLimits(f) => {
                c.fact = enum8(HEALTH_FACT, 2);
                c.limits_max_url = f.max_url;
                c.limits_max_query_string = f.max_query_string;
                c.limits_max_field_length = f.max_field_length;
                c.limits_max_request_bytes = f.max_request_bytes;
            }
            Fact::Service(f) => {
                c.fact = enum8(HEALTH_FACT, 3);
                c.service_kind = enum8(SERVICE_KIND, f.kind);
                c.service_name.clone_from(&f.name);
                c.service_display_name.clone_from(&f.display_name);
                c.service_state.clone_from(&f.state);
                c.service_start_type.clone_from(&f.start_type);
                c.key = format!("{}/{}", enum8_name(SERVICE_KIND, f.kind), f.name);
            }
            Fact::ServiceAccount(f) => {
                c.fact = enum8(HEALTH_FACT, 4);
                c.account_name.clone_from(&f.account);
                c.account_locked_out = flag(f.locked_out);
                c.account_password_expired = flag(f.password_expired);
                c.account_password_expires = payload_time(f.password_expires_us);
                c.account_disabled = flag(f.disabled);
                c.key.clone_from(&f.account);
            }
            Fact::IisAuthentication(f) => {
                c.fact = enum8(HEALTH_FACT, 5);
                c.iis_auth_path.clone_from(&f.path);
                c.iis_auth_anonymous_enabled = flag(f.anonymous_enabled);
                c.iis_auth_windows_enabled = flag(f.windows_enabled);
                c.key.clone_from(&f.path);
            }
        }
        c
    }
}

/// A row of `health_facts`: the latest observation of one fact of one server, keyed by
/// (`host`, `fact_kind`, `fact_key`). Its `version` is the observation's event time, so an older
/// snapshot replayed late never hides a newer one.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name (analyzer/schema/0003_results.sql).
pub struct HealthFactRow {
    pub host: String,
    pub fact_kind: i8,
    pub fact_key: String,
    pub version: u64,
    pub observed_time: u32,
    pub observed_time_micros: u32,
    pub event_id: String,
    pub collector: String,
    pub endpoint: String,
    pub issue_codes: Vec<String>,
    pub cert_role: i8,
    pub cert_store: String,
    pub cert_thumbprint: String,
    pub cert_subject: String,
    pub cert_issuer: String,
    pub cert_not_before: Option<u32>,
    pub cert_not_after: Option<u32>,
    pub cert_enhanced_key_usage: Vec<String>,
    pub cert_dns_names: Vec<String>,
    pub limits_max_url: u32,
    pub limits_max_query_string: u32,
    pub limits_max_field_length: u32,
    pub limits_max_request_bytes: u32,
    pub service_kind: i8,
    pub service_name: String,
    pub service_display_name: String,
    pub service_state: String,
    pub service_start_type: String,
    pub account_name: String,
    pub account_locked_out: u8,
    pub account_password_expired: u8,
    pub account_password_expires: Option<u32>,
    pub account_disabled: u8,
    pub iis_auth_path: String,
    pub iis_auth_anonymous_enabled: u8,
    pub iis_auth_windows_enabled: u8,
}

impl HealthFactRow {
    /// The table.
    pub const TABLE: &'static str = "health_facts";

    /// The row of a health event, observed at its event time. `endpoint` is the endpoint the
    /// analyzer assigned to the event (as in `events.endpoint`); `issue_codes` the codes the
    /// proactive checks raised for this observation (empty when the fact is fine).
    ///
    /// `None` when the event carries no health fact this analyzer knows, or when its event time
    /// is outside the `DateTime` range (such an event is rejected:
    /// [`super::EventRow::from_event`]).
    pub fn from_event(event: &Event, endpoint: &str, issue_codes: Vec<String>) -> Option<Self> {
        let Some(Payload::Health(fact)) = &event.payload else {
            return None;
        };
        let (observed_time, observed_time_micros) = split_time(event.event_time_us)?;
        let c = FactColumns::of(fact);
        if c.fact == 0 {
            return None;
        }
        let source = event.source.as_ref();
        Some(HealthFactRow {
            host: source.map(|s| s.host.clone()).unwrap_or_default(),
            fact_kind: enum8(FACT_KIND, i32::from(c.fact)),
            fact_key: c.key,
            version: version_of(event.event_time_us),
            observed_time,
            observed_time_micros,
            event_id: hex(&event.id),
            collector: source.map(|s| s.collector.clone()).unwrap_or_default(),
            endpoint: endpoint.to_string(),
            issue_codes,
            cert_role: c.cert_role,
            cert_store: c.cert_store,
            cert_thumbprint: c.cert_thumbprint,
            cert_subject: c.cert_subject,
            cert_issuer: c.cert_issuer,
            cert_not_before: c.cert_not_before,
            cert_not_after: c.cert_not_after,
            cert_enhanced_key_usage: c.cert_enhanced_key_usage,
            cert_dns_names: c.cert_dns_names,
            limits_max_url: c.limits_max_url,
            limits_max_query_string: c.limits_max_query_string,
            limits_max_field_length: c.limits_max_field_length,
            limits_max_request_bytes: c.limits_max_request_bytes,
            service_kind: c.service_kind,
            service_name: c.service_name,
            service_display_name: c.service_display_name,
            service_state: c.service_state,
            service_start_type: c.service_start_type,
            account_name: c.account_name,
            account_locked_out: c.account_locked_out,
            account_password_expired: c.account_password_expired,
            account_password_expires: c.account_password_expires,
            account_disabled: c.account_disabled,
            iis_auth_path: c.iis_auth_path,
            iis_auth_anonymous_enabled: c.iis_auth_anonymous_enabled,
            iis_auth_windows_enabled: c.iis_auth_windows_enabled,
        })
    }
}
