-- scepwatch ClickHouse schema, migration 2: what arrives from the events topic.
--
-- events      one row per scepwatch.v1.Event, typed columns per payload kind
-- watermarks  how far each source has been read (the latest scepwatch.v1.Watermark per source)
-- rejects     records and events the analyzer could not use, with the reason
--
-- Conventions (docs/clickhouse.md, "Schema"):
-- - Times are DateTime('UTC') seconds; where sub-second order matters a `<name>_micros` UInt32
--   column holds the microseconds within that second (0..999999). Event time and observed time
--   of an event keep them; times inside payloads (certificate validity, password expiry) are
--   seconds, NULL when the event says 0 (absent), and clamped by the writer to the DateTime range.
-- - IDs are lower-case hex, as in the JSON report: event IDs are scepwatch_proto::event_id_hex.
-- - Enum8 values are the protobuf enum numbers, so a RowBinary writer sends the number; names
--   are the protobuf value names without their type prefix, lower case. A value this schema does
--   not list is written as 0 (the proto's UNSPECIFIED), as proto/README.md asks of readers.
-- - Scalars of a payload the event does not carry hold the type's zero ('' / 0), as proto3
--   does; `payload_kind` says which columns are meaningful.
-- - `version`: the latest wins after merges and with FINAL / argMax (the reader patterns).

-- One row per event, deduplicated by event ID. The sorting key starts with columns that the ID
-- determines (the ID digests the source, whose host is part of it, and the position of the
-- record, whose bytes give its time), so it keys exactly what `event_id` keys, and reads of one
-- host over a time range stay narrow.
CREATE TABLE IF NOT EXISTS events
(
    event_id String COMMENT 'scepwatch_proto::event_id_hex of Event.id (32 hex digits)',
    version UInt64 COMMENT 'microseconds since the epoch at which the analyzer wrote the row',
    event_time DateTime('UTC'),
    event_time_micros UInt32,
    observed_time DateTime('UTC') COMMENT 'when the collector read the record',
    observed_time_micros UInt32,

    -- SourceId
    collector LowCardinality(String),
    host LowCardinality(String),
    source_kind Enum8('unspecified' = 0, 'iis' = 1, 'httperr' = 2, 'event-log' = 3, 'setup-msi' = 4, 'android-omadm' = 5, 'ios-console' = 6, 'probe' = 7, 'health' = 8) COMMENT 'SourceKind; names as Evidence.kind in the JSON report',
    source_path LowCardinality(String),
    source_stream String,
    position UInt64,

    endpoint_id LowCardinality(String) COMMENT 'Event.endpoint_id as sent (may be empty)',
    endpoint LowCardinality(String) COMMENT 'endpoint the analyzer assigned: endpoint_id, else the mapping of host, else host:<host>',
    excerpt String,
    payload_kind Enum8('none' = 0, 'iis' = 10, 'httperr' = 11, 'app_crash' = 12, 'capi2' = 13, 'windows_scep' = 14, 'connector_install' = 15, 'android' = 16, 'ios' = 17, 'probe' = 18, 'health' = 19) COMMENT 'the payload oneof field number',

    -- Where the analyzer read it.
    kafka_partition Int32,
    kafka_offset Int64,
    batch_sequence UInt64 COMMENT 'EndpointEvents.batch_sequence',

    -- IisRequest
    iis_server_ip String,
    iis_server_port UInt32,
    iis_client_ip String,
    iis_method LowCardinality(String),
    iis_uri_stem LowCardinality(String),
    iis_uri_query String,
    iis_user_agent LowCardinality(String),
    iis_username String,
    iis_status UInt32,
    iis_substatus UInt32,
    iis_win32_status UInt32,
    iis_time_taken_ms UInt32,
    iis_site LowCardinality(String),
    iis_computer_name LowCardinality(String),
    iis_bytes_sent UInt64,
    iis_bytes_received UInt64,
    iis_target Enum8('unspecified' = 0, 'mscep' = 1, 'mscep_admin' = 2, 'cert_registration_svc' = 3, 'other' = 4),
    iis_operation Enum8('unspecified' = 0, 'get_ca_caps' = 1, 'get_ca_cert' = 2, 'pki_operation' = 3, 'get_next_ca_cert' = 4, 'other' = 5),
    iis_query_length UInt32,
    iis_host_header LowCardinality(String),

    -- ScepMessageInfo, of IisRequest.scep or IosScep.scep
    scep_present UInt8 COMMENT '1 when the event carries a decoded SCEP message',
    scep_transaction_id String,
    scep_message_type Enum8('unspecified' = 0, 'cert_rep' = 3, 'renewal_req' = 17, 'pkcs_req' = 19, 'cert_poll' = 20, 'get_cert' = 21, 'get_crl' = 22),
    scep_sender_nonce String COMMENT 'lower-case hex',
    scep_recipient_nonce String COMMENT 'lower-case hex',
    scep_pki_status Enum8('unspecified' = 0, 'success' = 1, 'failure' = 2, 'pending' = 3),
    scep_fail_info Int32 COMMENT '-1 when absent',
    scep_signer_subject String,
    scep_signer_issuer String,
    scep_signer_not_before Nullable(DateTime('UTC')),
    scep_signer_not_after Nullable(DateTime('UTC')),
    scep_digest_algorithm LowCardinality(String),
    scep_signature_algorithm LowCardinality(String),
    scep_complete UInt8,
    scep_bytes_available UInt32,
    scep_bytes_declared UInt32,
    scep_missing Array(String),
    scep_problem String,

    -- HttpErrRecord
    httperr_client_ip String,
    httperr_client_port UInt32,
    httperr_server_ip String,
    httperr_server_port UInt32,
    httperr_protocol_version LowCardinality(String),
    httperr_method LowCardinality(String),
    httperr_url String,
    httperr_status UInt32,
    httperr_site_id LowCardinality(String),
    httperr_reason LowCardinality(String),
    httperr_queue_name LowCardinality(String),
    httperr_target Enum8('unspecified' = 0, 'mscep' = 1, 'mscep_admin' = 2, 'cert_registration_svc' = 3, 'other' = 4),
    httperr_url_length UInt32,

    -- AppCrash (Application event 1000)
    crash_application LowCardinality(String),
    crash_application_version LowCardinality(String),
    crash_module LowCardinality(String),
    crash_module_version LowCardinality(String),
    crash_exception_code LowCardinality(String),
    crash_fault_offset String,
    crash_process_id UInt32,

    -- Capi2Event
    capi2_event_id UInt32 COMMENT 'the Windows event ID (41, 53, ...), not an event_id of this table',
    capi2_kind Enum8('unspecified' = 0, 'chain' = 1, 'revocation' = 2, 'retrieval' = 3, 'time_validity' = 4, 'other' = 5),
    capi2_task LowCardinality(String),
    capi2_result String,
    capi2_error_code LowCardinality(String),
    capi2_url String,
    capi2_subject String,
    capi2_thumbprint String,

    -- WindowsScepRequest (DeviceManagement event 36)
    windows_scep_enhanced_key_usage String,
    windows_scep_ndes_url String,
    windows_scep_container_name String,
    windows_scep_ksp_setting String,
    windows_scep_store_location String,
    windows_scep_message String,

    -- ConnectorInstall (SetupMsi.log)
    install_status Int32 COMMENT '-1 when the log ended without a status',
    install_product_name LowCardinality(String),
    install_product_version LowCardinality(String),
    install_completed UInt8,
    install_errors Array(String),

    -- AndroidScep
    android_step Enum8('unspecified' = 0, 'requests_pending' = 1, 'enroll_start' = 2, 'sending' = 3, 'received' = 4, 'encoding' = 5, 'signing' = 6, 'sending_pki_message' = 7, 'error' = 8),
    android_component LowCardinality(String),
    android_process_id UInt32,
    android_thread_id UInt32,
    android_url String,
    android_operation Enum8('unspecified' = 0, 'get_ca_caps' = 1, 'get_ca_cert' = 2, 'pki_operation' = 3, 'get_next_ca_cert' = 4, 'other' = 5),
    android_transaction_id String,
    android_sender_nonce String,
    android_message_type LowCardinality(String),
    android_signer_dn String,
    android_request_count UInt32,
    android_http_status LowCardinality(String),
    android_http_status_code UInt32,
    android_error String,
    android_model_name String,

    -- IosScep (its SCEP message in scep_*)
    ios_step Enum8('unspecified' = 0, 'url_request' = 1, 'retrieve_issued' = 2, 'sending_csr_get' = 3, 'sending_csr_post' = 4, 'error' = 5),
    ios_process LowCardinality(String),
    ios_url String,
    ios_operation Enum8('unspecified' = 0, 'get_ca_caps' = 1, 'get_ca_cert' = 2, 'pki_operation' = 3, 'get_next_ca_cert' = 4, 'other' = 5),
    ios_error String,
    ios_http_status_code UInt32,

    -- ProbeResult
    probe_url String,
    probe_check LowCardinality(String),
    probe_status UInt32,
    probe_substatus UInt32,
    probe_page Enum8('unspecified' = 0, 'mscep_forbidden' = 1, 'ndes_general_message' = 2, 'app_proxy_cannot_display' = 3, 'gateway_timeout' = 4, 'service_unavailable' = 5, 'internal_server_error' = 6, 'uri_too_long' = 7, 'other' = 8, 'no_response' = 9),
    probe_error String,
    probe_elapsed_ms UInt32,
    probe_via_app_proxy UInt8,

    -- HealthFact: which fact, then the columns of each (the same names as in health_facts)
    health_fact Enum8('none' = 0, 'certificate' = 1, 'request_limits' = 2, 'service' = 3, 'service_account' = 4, 'iis_authentication' = 5) COMMENT 'the fact oneof field number',
    cert_role Enum8('unspecified' = 0, 'ra_encryption' = 1, 'ra_signing' = 2, 'ndes_policy' = 3, 'root_store_intermediate' = 4, 'other' = 5),
    cert_store LowCardinality(String),
    cert_thumbprint String,
    cert_subject String,
    cert_issuer String,
    cert_not_before Nullable(DateTime('UTC')),
    cert_not_after Nullable(DateTime('UTC')),
    cert_enhanced_key_usage Array(String),
    cert_dns_names Array(String),
    limits_max_url UInt32,
    limits_max_query_string UInt32,
    limits_max_field_length UInt32,
    limits_max_request_bytes UInt32,
    service_kind Enum8('unspecified' = 0, 'app_pool' = 1, 'windows_service' = 2),
    service_name LowCardinality(String),
    service_display_name String,
    service_state LowCardinality(String),
    service_start_type LowCardinality(String),
    account_name String,
    account_locked_out UInt8,
    account_password_expired UInt8,
    account_password_expires Nullable(DateTime('UTC')),
    account_disabled UInt8,
    iis_auth_path String,
    iis_auth_anonymous_enabled UInt8,
    iis_auth_windows_enabled UInt8
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (host, event_time, event_id);

-- The latest watermark of each source (its identity: scepwatch_proto::SourceKey). The version is
-- the watermark's own progress, so a replayed older watermark never hides a newer one.
CREATE TABLE IF NOT EXISTS watermarks
(
    source_id String COMMENT 'lower-case hex of scepwatch_proto::SourceKey of the source (32 hex digits)',
    version UInt64 COMMENT 'read_up_to in microseconds since the epoch (0 when negative)',
    collector LowCardinality(String),
    host LowCardinality(String),
    source_kind Enum8('unspecified' = 0, 'iis' = 1, 'httperr' = 2, 'event-log' = 3, 'setup-msi' = 4, 'android-omadm' = 5, 'ios-console' = 6, 'probe' = 7, 'health' = 8),
    source_path LowCardinality(String),
    source_stream String,
    endpoint_id LowCardinality(String),
    read_from DateTime('UTC'),
    read_from_micros UInt32,
    read_up_to DateTime('UTC'),
    read_up_to_micros UInt32,
    position UInt64,
    updated_at DateTime('UTC') COMMENT 'when the analyzer wrote the row'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (host, source_id);

-- What could not be used: a Kafka record that does not decode (event_index -1), or one event of
-- a decoded record (unknown payload version, absurd timestamp, ...). Keyed by where it was read,
-- so a replay rejects into the same row.
CREATE TABLE IF NOT EXISTS rejects
(
    topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    event_index Int32 COMMENT 'position of the event in EndpointEvents.events; -1 for the whole record',
    version UInt64 COMMENT 'microseconds since the epoch at which the analyzer wrote the row',
    record_time DateTime('UTC') COMMENT 'the Kafka record timestamp (fixed for an offset)',
    record_time_micros UInt32,
    rejected_at DateTime('UTC') COMMENT 'when the analyzer rejected it',
    reason LowCardinality(String) COMMENT 'stable reason code, e.g. decode, payload_unknown, time_out_of_range',
    detail String COMMENT 'the error in words',
    record_key String COMMENT 'the Kafka key (the endpoint ID)',
    collector String COMMENT 'EndpointEvents.collector when the record decoded',
    batch_sequence UInt64,
    event_id String COMMENT 'hex event ID when the event had one',
    payload String COMMENT 'raw bytes: the record value, or the rejected event encoded alone'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(record_time)
ORDER BY (topic, kafka_partition, kafka_offset, event_index);
