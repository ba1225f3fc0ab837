//! Events as JSON, for `scepwatch parse` (debugging parsers).
//!
//! A hand-written view rather than serde on the generated protobuf types: the protobuf types
//! stay free of serialisation attributes, enums print by name, byte fields print as hex and
//! times as RFC 3339 next to their microseconds.

use scepwatch_proto::event_id_hex;
use scepwatch_proto::time::to_rfc3339;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::health_fact::Fact;
use scepwatch_proto::v1::{Event, ScepMessageInfo, SourceKind};
use serde_json::{json, Value};

/// One event as a JSON object.
pub fn event_json(e: &Event) -> Value {
    let source = e.source.as_ref().map(|s| {
        json!({
            "collector": s.collector,
            "host": s.host,
            "kind": SourceKind::try_from(s.kind).map_or("UNKNOWN", |k| k.as_str_name()),
            "path": s.path,
            "stream": s.stream,
        })
    });
    let (kind, payload) = match &e.payload {
        Some(p) => payload_json(p),
        None => ("none", Value::Null),
    };
    json!({
        "id": event_id_hex(&e.id),
        "source": source,
        "position": e.position,
        "time": to_rfc3339(e.event_time_us),
        "time_us": e.event_time_us,
        "endpoint_id": e.endpoint_id,
        "kind": kind,
        "payload": payload,
        "excerpt": e.excerpt,
    })
}

fn scep_json(m: Option<&ScepMessageInfo>) -> Value {
    let Some(m) = m else { return Value::Null };
    json!({
        "transaction_id": m.transaction_id,
        "message_type": m.message_type().as_str_name(),
        "sender_nonce": event_id_hex(&m.sender_nonce),
        "recipient_nonce": event_id_hex(&m.recipient_nonce),
        "pki_status": m.pki_status().as_str_name(),
        "fail_info": m.fail_info,
        "signer_subject": m.signer_subject,
        "signer_issuer": m.signer_issuer,
        "signer_not_before_us": m.signer_not_before_us,
        "signer_not_after_us": m.signer_not_after_us,
        "digest_algorithm": m.digest_algorithm,
        "signature_algorithm": m.signature_algorithm,
        "complete": m.complete,
        "bytes_available": m.bytes_available,
        "bytes_declared": m.bytes_declared,
        "missing": m.missing,
        "problem": m.problem,
    })
}

fn payload_json(p: &Payload) -> (&'static str, Value) {
    match p {
        Payload::Iis(r) => (
            "iis",
            json!({
                "server_ip": r.server_ip, "server_port": r.server_port,
                "client_ip": r.client_ip, "method": r.method, "uri_stem": r.uri_stem,
                "uri_query": r.uri_query, "user_agent": r.user_agent, "username": r.username,
                "status": r.status, "substatus": r.substatus, "win32_status": r.win32_status,
                "time_taken_ms": r.time_taken_ms, "site": r.site,
                "computer_name": r.computer_name, "bytes_sent": r.bytes_sent,
                "bytes_received": r.bytes_received, "target": r.target().as_str_name(),
                "operation": r.operation().as_str_name(), "query_length": r.query_length,
                "scep": scep_json(r.scep.as_ref()), "host_header": r.host_header,
            }),
        ),
        Payload::Httperr(r) => (
            "httperr",
            json!({
                "client_ip": r.client_ip, "client_port": r.client_port,
                "server_ip": r.server_ip, "server_port": r.server_port,
                "protocol_version": r.protocol_version, "method": r.method, "url": r.url,
                "status": r.status, "site_id": r.site_id, "reason": r.reason,
                "queue_name": r.queue_name, "target": r.target().as_str_name(),
                "url_length": r.url_length,
            }),
        ),
        Payload::AppCrash(r) => (
            "app_crash",
            json!({
                "application": r.application, "application_version": r.application_version,
                "module": r.module, "module_version": r.module_version,
                "exception_code": r.exception_code, "fault_offset": r.fault_offset,
                "process_id": r.process_id,
            }),
        ),
        Payload::Capi2(r) => (
            "capi2",
            json!({
                "event_id": r.event_id, "kind": r.kind().as_str_name(), "task": r.task,
                "result": r.result, "error_code": r.error_code, "url": r.url,
                "subject": r.subject, "thumbprint": r.thumbprint,
            }),
        ),
        Payload::WindowsScep(r) => (
            "windows_scep",
            json!({
                "enhanced_key_usage": r.enhanced_key_usage, "ndes_url": r.ndes_url,
                "container_name": r.container_name, "ksp_setting": r.ksp_setting,
                "store_location": r.store_location, "message": r.message,
            }),
        ),
        Payload::ConnectorInstall(r) => (
            "connector_install",
            json!({
                "status": r.status, "product_name": r.product_name,
                "product_version": r.product_version, "completed": r.completed,
                "errors": r.errors,
            }),
        ),
        Payload::Android(r) => (
            "android",
            json!({
                "step": r.step().as_str_name(), "component": r.component,
                "process_id": r.process_id, "thread_id": r.thread_id, "url": r.url,
                "operation": r.operation().as_str_name(), "transaction_id": r.transaction_id,
                "sender_nonce": r.sender_nonce, "message_type": r.message_type,
                "signer_dn": r.signer_dn, "request_count": r.request_count,
                "http_status": r.http_status, "http_status_code": r.http_status_code,
                "error": r.error, "model_name": r.model_name,
            }),
        ),
        Payload::Ios(r) => (
            "ios",
            json!({
                "step": r.step().as_str_name(), "process": r.process, "url": r.url,
                "operation": r.operation().as_str_name(), "scep": scep_json(r.scep.as_ref()),
                "error": r.error, "http_status_code": r.http_status_code,
            }),
        ),
        Payload::Probe(r) => (
            "probe",
            json!({
                "url": r.url, "check": r.check, "status": r.status, "substatus": r.substatus,
                "page": r.page().as_str_name(), "error": r.error, "elapsed_ms": r.elapsed_ms,
                "via_app_proxy": r.via_app_proxy,
            }),
        ),
        Payload::Health(h) => ("health", health_json(h.fact.as_ref())),
    }
}

fn health_json(f: Option<&Fact>) -> Value {
    match f {
        None => Value::Null,
        Some(Fact::Certificate(c)) => json!({
            "certificate": {
                "role": c.role().as_str_name(), "store": c.store, "thumbprint": c.thumbprint,
                "subject": c.subject, "issuer": c.issuer,
                "not_before": to_rfc3339(c.not_before_us), "not_after": to_rfc3339(c.not_after_us),
                "enhanced_key_usage": c.enhanced_key_usage, "dns_names": c.dns_names,
            }
        }),
        Some(Fact::RequestLimits(r)) => json!({
            "request_limits": {
                "max_url": r.max_url, "max_query_string": r.max_query_string,
                "max_field_length": r.max_field_length, "max_request_bytes": r.max_request_bytes,
            }
        }),
        Some(Fact::Service(s)) => json!({
            "service": {
                "kind": s.kind().as_str_name(), "name": s.name, "display_name": s.display_name,
                "state": s.state, "start_type": s.start_type,
            }
        }),
        Some(Fact::ServiceAccount(a)) => json!({
            "service_account": {
                "account": a.account, "locked_out": a.locked_out,
                "password_expired": a.password_expired,
                "password_expires_us": a.password_expires_us, "disabled": a.disabled,
            }
        }),
        Some(Fact::IisAuthentication(a)) => json!({
            "iis_authentication": {
                "path": a.path, "anonymous_enabled": a.anonymous_enabled,
                "windows_enabled": a.windows_enabled,
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scepwatch_proto::v1::{IisRequest, ScepOperation, SourceId};

    #[test]
    fn iis_event_prints_enums_by_name() {
        let e = Event {
            id: vec![0xab; 16],
            source: Some(SourceId {
                collector: "diagnose".into(),
                host: "ndes01".into(),
                kind: SourceKind::Iis as i32,
                path: "u_ex.log".into(),
                stream: String::new(),
            }),
            position: 7,
            event_time_us: 1_502_223_736_000_000,
            payload: Some(Payload::Iis(IisRequest {
                status: 500,
                operation: ScepOperation::PkiOperation as i32,
                ..IisRequest::default()
            })),
            ..Event::default()
        };
        let v = event_json(&e);
        assert_eq!(v["kind"], "iis");
        assert_eq!(v["time"], "2017-08-08T20:22:16Z");
        assert_eq!(v["payload"]["operation"], "SCEP_OPERATION_PKI_OPERATION");
        assert_eq!(v["source"]["kind"], "SOURCE_KIND_IIS");
    }
}
