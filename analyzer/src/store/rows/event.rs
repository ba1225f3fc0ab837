//! The `events` row: one `scepwatch.v1.Event` with typed columns per payload kind.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use scepwatch_proto::v1::{event::Payload, Event, ScepMessageInfo};

use super::column::{
    clamp_time, enum8, flag, hex, payload_time, split_time, ANDROID_STEP, CAPI2_KIND, IIS_TARGET,
    IOS_STEP, PAYLOAD_KIND, PROBE_PAGE, SCEP_MESSAGE_TYPE, SCEP_OPERATION, SCEP_PKI_STATUS,
    SOURCE_KIND,
};
use super::health::FactColumns;
use super::{EventRejected, ReadAt};

/// A row of `events` (analyzer/schema/0002_events.sql), fields in the table's column order.
///
/// The columns of the payload kinds an event does not carry hold their type's zero
/// (`payload_kind` says which mean something), as do `scep_*` when the event carries no decoded
/// SCEP message (`scep_present` = 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Row, Serialize, Deserialize)]
#[allow(missing_docs)] // Each field is the column of the same name (analyzer/schema/0002_events.sql).
pub struct EventRow {
    pub event_id: String,
    pub version: u64,
    pub event_time: u32,
    pub event_time_micros: u32,
    pub observed_time: u32,
    pub observed_time_micros: u32,

    pub collector: String,
    pub host: String,
    pub source_kind: i8,
    pub source_path: String,
    pub source_stream: String,
    pub position: u64,

    pub endpoint_id: String,
    pub endpoint: String,
    pub excerpt: String,
    pub payload_kind: i8,

    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub batch_sequence: u64,

    pub iis_server_ip: String,
    pub iis_server_port: u32,
    pub iis_client_ip: String,
    pub iis_method: String,
    pub iis_uri_stem: String,
    pub iis_uri_query: String,
    pub iis_user_agent: String,
    pub iis_username: String,
    pub iis_status: u32,
    pub iis_substatus: u32,
    pub iis_win32_status: u32,
    pub iis_time_taken_ms: u32,
    pub iis_site: String,
    pub iis_computer_name: String,
    pub iis_bytes_sent: u64,
    pub iis_bytes_received: u64,
    pub iis_target: i8,
    pub iis_operation: i8,
    pub iis_query_length: u32,
    pub iis_host_header: String,

    pub scep_present: u8,
    pub scep_transaction_id: String,
    pub scep_message_type: i8,
    pub scep_sender_nonce: String,
    pub scep_recipient_nonce: String,
    pub scep_pki_status: i8,
    pub scep_fail_info: i32,
    pub scep_signer_subject: String,
    pub scep_signer_issuer: String,
    pub scep_signer_not_before: Option<u32>,
    pub scep_signer_not_after: Option<u32>,
    pub scep_digest_algorithm: String,
    pub scep_signature_algorithm: String,
    pub scep_complete: u8,
    pub scep_bytes_available: u32,
    pub scep_bytes_declared: u32,
    pub scep_missing: Vec<String>,
    pub scep_problem: String,

    pub httperr_client_ip: String,
    pub httperr_client_port: u32,
    pub httperr_server_ip: String,
    pub httperr_server_port: u32,
    pub httperr_protocol_version: String,
    pub httperr_method: String,
    pub httperr_url: String,
    pub httperr_status: u32,
    pub httperr_site_id: String,
    pub httperr_reason: String,
    pub httperr_queue_name: String,
    pub httperr_target: i8,
    pub httperr_url_length: u32,

    pub crash_application: String,
    pub crash_application_version: String,
    pub crash_module: String,
    pub crash_module_version: String,
    pub crash_exception_code: String,
    pub crash_fault_offset: String,
    pub crash_process_id: u32,

    pub capi2_event_id: u32,
    pub capi2_kind: i8,
    pub capi2_task: String,
    pub capi2_result: String,
    pub capi2_error_code: String,
    pub capi2_url: String,
    pub capi2_subject: String,
    pub capi2_thumbprint: String,

    pub windows_scep_enhanced_key_usage: String,
    pub windows_scep_ndes_url: String,
    pub windows_scep_container_name: String,
    pub windows_scep_ksp_setting: String,
    pub windows_scep_store_location: String,
    pub windows_scep_message: String,

    pub install_status: i32,
    pub install_product_name: String,
    pub install_product_version: String,
    pub install_completed: u8,
    pub install_errors: Vec<String>,

    pub android_step: i8,
    pub android_component: String,
    pub android_process_id: u32,
    pub android_thread_id: u32,
    pub android_url: String,
    pub android_operation: i8,
    pub android_transaction_id: String,
    pub android_sender_nonce: String,
    pub android_message_type: String,
    pub android_signer_dn: String,
    pub android_request_count: u32,
    pub android_http_status: String,
    pub android_http_status_code: u32,
    pub android_error: String,
    pub android_model_name: String,

    pub ios_step: i8,
    pub ios_process: String,
    pub ios_url: String,
    pub ios_operation: i8,
    pub ios_error: String,
    pub ios_http_status_code: u32,

    pub probe_url: String,
    pub probe_check: String,
    pub probe_status: u32,
    pub probe_substatus: u32,
    pub probe_page: i8,
    pub probe_error: String,
    pub probe_elapsed_ms: u32,
    pub probe_via_app_proxy: u8,

    pub health_fact: i8,
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

impl EventRow {
    /// The table.
    pub const TABLE: &'static str = "events";

    /// The row of `event`, read at `read`; `endpoint` is the endpoint the analyzer assigned to
    /// it (the event's `endpoint_id`, else the host's mapping, else `host:<host>`), `version`
    /// the write time in microseconds.
    ///
    /// Refuses, with the reason to store in `rejects`, an event whose event time is outside the
    /// `DateTime` range ([`EventRejected::TimeOutOfRange`]) and one whose payload this analyzer
    /// does not know ([`EventRejected::PayloadUnknown`]). The other times are clamped into the
    /// range: the observed time (a collector's clock), and the times inside payloads.
    pub fn from_event(
        event: &Event,
        read: &ReadAt,
        endpoint: &str,
        version: u64,
    ) -> Result<EventRow, EventRejected> {
        let (event_time, event_time_micros) =
            split_time(event.event_time_us).ok_or(EventRejected::TimeOutOfRange {
                event_time_us: event.event_time_us,
            })?;
        let payload = event
            .payload
            .as_ref()
            .ok_or(EventRejected::PayloadUnknown)?;
        let (observed_time, observed_time_micros) = clamp_time(event.observed_time_us);
        let mut row = EventRow {
            event_id: hex(&event.id),
            version,
            event_time,
            event_time_micros,
            observed_time,
            observed_time_micros,
            position: event.position,
            endpoint_id: event.endpoint_id.clone(),
            endpoint: endpoint.to_string(),
            excerpt: event.excerpt.clone(),
            kafka_partition: read.partition,
            kafka_offset: read.offset,
            batch_sequence: read.batch_sequence,
            ..EventRow::default()
        };
        if let Some(s) = &event.source {
            row.collector.clone_from(&s.collector);
            row.host.clone_from(&s.host);
            row.source_kind = enum8(SOURCE_KIND, s.kind);
            row.source_path.clone_from(&s.path);
            row.source_stream.clone_from(&s.stream);
        }
        row.fill_payload(payload);
        Ok(row)
    }

    fn fill_payload(&mut self, payload: &Payload) {
        let (kind, scep) = match payload {
            Payload::Iis(p) => {
                self.iis_server_ip.clone_from(&p.server_ip);
                self.iis_server_port = p.server_port;
                self.iis_client_ip.clone_from(&p.client_ip);
                self.iis_method.clone_from(&p.method);
                self.iis_uri_stem.clone_from(&p.uri_stem);
                self.iis_uri_query.clone_from(&p.uri_query);
                self.iis_user_agent.clone_from(&p.user_agent);
                self.iis_username.clone_from(&p.username);
                self.iis_status = p.status;
                self.iis_substatus = p.substatus;
                self.iis_win32_status = p.win32_status;
                self.iis_time_taken_ms = p.time_taken_ms;
                self.iis_site.clone_from(&p.site);
                self.iis_computer_name.clone_from(&p.computer_name);
                self.iis_bytes_sent = p.bytes_sent;
                self.iis_bytes_received = p.bytes_received;
                self.iis_target = enum8(IIS_TARGET, p.target);
                self.iis_operation = enum8(SCEP_OPERATION, p.operation);
                self.iis_query_length = p.query_length;
                self.iis_host_header.clone_from(&p.host_header);
                (10, p.scep.as_ref())
            }
            Payload::Httperr(p) => {
                self.httperr_client_ip.clone_from(&p.client_ip);
                self.httperr_client_port = p.client_port;
                self.httperr_server_ip.clone_from(&p.server_ip);
                self.httperr_server_port = p.server_port;
                self.httperr_protocol_version
                    .clone_from(&p.protocol_version);
                self.httperr_method.clone_from(&p.method);
                self.httperr_url.clone_from(&p.url);
                self.httperr_status = p.status;
                self.httperr_site_id.clone_from(&p.site_id);
                self.httperr_reason.clone_from(&p.reason);
                self.httperr_queue_name.clone_from(&p.queue_name);
                self.httperr_target = enum8(IIS_TARGET, p.target);
                self.httperr_url_length = p.url_length;
                (11, None)
            }
            Payload::AppCrash(p) => {
                self.crash_application.clone_from(&p.application);
                self.crash_application_version
                    .clone_from(&p.application_version);
                self.crash_module.clone_from(&p.module);
                self.crash_module_version.clone_from(&p.module_version);
                self.crash_exception_code.clone_from(&p.exception_code);
                self.crash_fault_offset.clone_from(&p.fault_offset);
                self.crash_process_id = p.process_id;
                (12, None)
            }
            Payload::Capi2(p) => {
                self.capi2_event_id = p.event_id;
                self.capi2_kind = enum8(CAPI2_KIND, p.kind);
                self.capi2_task.clone_from(&p.task);
                self.capi2_result.clone_from(&p.result);
                self.capi2_error_code.clone_from(&p.error_code);
                self.capi2_url.clone_from(&p.url);
                self.capi2_subject.clone_from(&p.subject);
                self.capi2_thumbprint.clone_from(&p.thumbprint);
                (13, None)
            }
            Payload::WindowsScep(p) => {
                self.windows_scep_enhanced_key_usage
                    .clone_from(&p.enhanced_key_usage);
                self.windows_scep_ndes_url.clone_from(&p.ndes_url);
                self.windows_scep_container_name
                    .clone_from(&p.container_name);
                self.windows_scep_ksp_setting.clone_from(&p.ksp_setting);
                self.windows_scep_store_location
                    .clone_from(&p.store_location);
                self.windows_scep_message.clone_from(&p.message);
                (14, None)
            }
            Payload::ConnectorInstall(p) => {
                self.install_status = p.status;
                self.install_product_name.clone_from(&p.product_name);
                self.install_product_version.clone_from(&p.product_version);
                self.install_completed = flag(p.completed);
                self.install_errors.clone_from(&p.errors);
                (15, None)
            }
            Payload::Android(p) => {
                self.android_step = enum8(ANDROID_STEP, p.step);
                self.android_component.clone_from(&p.component);
                self.android_process_id = p.process_id;
                self.android_thread_id = p.thread_id;
                self.android_url.clone_from(&p.url);
                self.android_operation = enum8(SCEP_OPERATION, p.operation);
                self.android_transaction_id.clone_from(&p.transaction_id);
                self.android_sender_nonce.clone_from(&p.sender_nonce);
                self.android_message_type.clone_from(&p.message_type);
                self.android_signer_dn.clone_from(&p.signer_dn);
                self.android_request_count = p.request_count;
                self.android_http_status.clone_from(&p.http_status);
                self.android_http_status_code = p.http_status_code;
                self.android_error.clone_from(&p.error);
                self.android_model_name.clone_from(&p.model_name);
                (16, None)
            }
            Payload::Ios(p) => {
                self.ios_step = enum8(IOS_STEP, p.step);
                self.ios_process.clone_from(&p.process);
                self.ios_url.clone_from(&p.url);
                self.ios_operation = enum8(SCEP_OPERATION, p.operation);
                self.ios_error.clone_from(&p.error);
                self.ios_http_status_code = p.http_status_code;
                (17, p.scep.as_ref())
            }
            Payload::Probe(p) => {
                self.probe_url.clone_from(&p.url);
                self.probe_check.clone_from(&p.check);
                self.probe_status = p.status;
                self.probe_substatus = p.substatus;
                self.probe_page = enum8(PROBE_PAGE, p.page);
                self.probe_error.clone_from(&p.error);
                self.probe_elapsed_ms = p.elapsed_ms;
                self.probe_via_app_proxy = flag(p.via_app_proxy);
                (18, None)
            }
            Payload::Health(p) => {
                self.fill_fact(FactColumns::of(p));
                (19, None)
            }
        };
        self.payload_kind = enum8(PAYLOAD_KIND, kind);
        if let Some(m) = scep {
            self.fill_scep(m);
        }
    }

    fn fill_scep(&mut self, m: &ScepMessageInfo) {
        self.scep_present = 1;
        self.scep_transaction_id.clone_from(&m.transaction_id);
        self.scep_message_type = enum8(SCEP_MESSAGE_TYPE, m.message_type);
        self.scep_sender_nonce = hex(&m.sender_nonce);
        self.scep_recipient_nonce = hex(&m.recipient_nonce);
        self.scep_pki_status = enum8(SCEP_PKI_STATUS, m.pki_status);
        self.scep_fail_info = m.fail_info;
        self.scep_signer_subject.clone_from(&m.signer_subject);
        self.scep_signer_issuer.clone_from(&m.signer_issuer);
        self.scep_signer_not_before = payload_time(m.signer_not_before_us);
        self.scep_signer_not_after = payload_time(m.signer_not_after_us);
        self.scep_digest_algorithm.clone_from(&m.digest_algorithm);
        self.scep_signature_algorithm
            .clone_from(&m.signature_algorithm);
        self.scep_complete = flag(m.complete);
        self.scep_bytes_available = m.bytes_available;
        self.scep_bytes_declared = m.bytes_declared;
        self.scep_missing.clone_from(&m.missing);
        self.scep_problem.clone_from(&m.problem);
    }

    fn fill_fact(&mut self, c: FactColumns) {
        self.health_fact = c.fact;
        self.cert_role = c.cert_role;
        self.cert_store = c.cert_store;
        self.cert_thumbprint = c.cert_thumbprint;
        self.cert_subject = c.cert_subject;
        self.cert_issuer = c.cert_issuer;
        self.cert_not_before = c.cert_not_before;
        self.cert_not_after = c.cert_not_after;
        self.cert_enhanced_key_usage = c.cert_enhanced_key_usage;
        self.cert_dns_names = c.cert_dns_names;
        self.limits_max_url = c.limits_max_url;
        self.limits_max_query_string = c.limits_max_query_string;
        self.limits_max_field_length = c.limits_max_field_length;
        self.limits_max_request_bytes = c.limits_max_request_bytes;
        self.service_kind = c.service_kind;
        self.service_name = c.service_name;
        self.service_display_name = c.service_display_name;
        self.service_state = c.service_state;
        self.service_start_type = c.service_start_type;
        self.account_name = c.account_name;
        self.account_locked_out = c.account_locked_out;
        self.account_password_expired = c.account_password_expired;
        self.account_password_expires = c.account_password_expires;
        self.account_disabled = c.account_disabled;
        self.iis_auth_path = c.iis_auth_path;
        self.iis_auth_anonymous_enabled = c.iis_auth_anonymous_enabled;
        self.iis_auth_windows_enabled = c.iis_auth_windows_enabled;
    }
}
