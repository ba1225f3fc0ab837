-- scepwatch ClickHouse schema, migration 3: what the analyzer concludes.
--
-- attempts      enrollment attempts (scepwatch_analyzer::model::Attempt)
-- diagnoses     catalog diagnoses with evidence and fix (model::Diagnosis)
-- incidents     500 / 503 spikes per NDES server and per endpoint
-- health_facts  the latest observation of each health fact of each server
--
-- Field names follow the JSON report (docs/report-schema.md) where the report has the field.
-- Times and IDs as in 0002_events.sql. `version` grows with each revision of an ID: the
-- analyzer writes the wall-clock microseconds of its write, so the latest revision wins after
-- merges and with FINAL / argMax; `retracted` = 1 on the latest revision withdraws the row
-- (an attempt or diagnosis the analyzer replaced by one with another ID after late events).
-- Readers filter `retracted = 0` after FINAL (in WHERE, never PREWHERE) or on the argMax.

-- The sorting key is the endpoint, the start time and the ID: the ID digests the endpoint and
-- the attempt's first event, whose time is the start, so the key keys exactly what the ID keys.
CREATE TABLE IF NOT EXISTS attempts
(
    attempt_id String COMMENT 'Attempt.id: digest of the endpoint and the first event ID',
    version UInt64,
    retracted UInt8,
    endpoint LowCardinality(String),
    start_time DateTime('UTC'),
    start_time_micros UInt32,
    end_time DateTime('UTC'),
    end_time_micros UInt32,
    join_method Enum8('transaction_id' = 1, 'fallback' = 2, 'device_only' = 3, 'server_only' = 4) COMMENT 'Attempt.join',
    confidence Enum8('low' = 1, 'medium' = 2, 'high' = 3),
    platform Enum8('android' = 1, 'ios' = 2, 'windows' = 3, 'unknown' = 4),
    device Nullable(String),
    servers Array(String),
    client_ip Nullable(String),
    user_agent_family Nullable(String),
    transaction_ids Array(String),
    diagnosis_codes Array(String) COMMENT 'Attempt.diagnoses: codes of the diagnoses about it',
    severity Enum8('info' = 1, 'warning' = 2, 'error' = 3, 'critical' = 4) COMMENT 'worst of its diagnoses',
    steps Nested
    (
        time DateTime('UTC'),
        time_micros UInt32,
        side Enum8('device' = 1, 'server' = 2, 'probe' = 3),
        host String,
        what String,
        event_id String
    )
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(start_time)
ORDER BY (endpoint, start_time, attempt_id);

-- The ID digests the code, the scope and the evidence event IDs, so the sorting key (scope,
-- code, ID) keys exactly what the ID keys. No partitioning: a revision of a diagnosis can move
-- its first_seen (occurrences beyond the evidence kept), and a row only replaces a row of its
-- own partition. Retention: ALTER TABLE diagnoses DELETE WHERE last_seen < ...
CREATE TABLE IF NOT EXISTS diagnoses
(
    diagnosis_id String COMMENT 'Diagnosis.id',
    version UInt64,
    retracted UInt8,
    code LowCardinality(String),
    catalog_row UInt8,
    severity Enum8('info' = 1, 'warning' = 2, 'error' = 3, 'critical' = 4),
    title LowCardinality(String),
    explanation String,
    fix LowCardinality(String) COMMENT 'the catalog fix of the code (one text per code)',
    scope_kind Enum8('attempt' = 1, 'server' = 2, 'endpoint' = 3),
    scope_id String COMMENT 'attempt ID, server host or endpoint ID',
    endpoint LowCardinality(String),
    first_seen DateTime('UTC'),
    first_seen_micros UInt32,
    last_seen DateTime('UTC'),
    last_seen_micros UInt32,
    occurrences UInt64,
    evidence Nested
    (
        event_id String,
        time DateTime('UTC'),
        time_micros UInt32,
        host String,
        source String,
        kind String,
        excerpt String,
        note String
    )
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (scope_kind, scope_id, code, diagnosis_id);

-- A spike of one HTTP status (500 or 503) on one server or endpoint. The detector's ID digests
-- the scope, the status and the start minute; a detector that moves the start retracts the old
-- ID. Few rows: no partitioning.
CREATE TABLE IF NOT EXISTS incidents
(
    incident_id String,
    version UInt64,
    retracted UInt8,
    scope_kind Enum8('server' = 2, 'endpoint' = 3) COMMENT 'the numbers of diagnoses.scope_kind',
    scope_id LowCardinality(String) COMMENT 'server host or endpoint ID',
    endpoint LowCardinality(String),
    http_status UInt16,
    state Enum8('open' = 1, 'closed' = 2),
    start_time DateTime('UTC') COMMENT 'start of the first minute above the threshold',
    end_time DateTime('UTC') COMMENT 'end of the last minute above it (so far, while open)',
    peak_time DateTime('UTC') COMMENT 'start of the minute with the most errors',
    peak_rate Float64 COMMENT 'errors per minute in that minute',
    baseline_rate Float64 COMMENT 'errors per minute the detector expected (its baseline at the start)',
    threshold_rate Float64 COMMENT 'errors per minute above which a minute counted as a spike',
    errors UInt64 COMMENT 'responses of http_status in [start_time, end_time)',
    requests UInt64 COMMENT 'all responses of the scope in that window',
    severity Enum8('info' = 1, 'warning' = 2, 'error' = 3, 'critical' = 4),
    diagnosis_codes Array(String) COMMENT 'codes of the diagnoses that explain it, most specific first',
    diagnosis_ids Array(String),
    evidence_event_ids Array(String) COMMENT 'a few of its error responses',
    summary String COMMENT 'one sentence',
    detector LowCardinality(String) COMMENT 'detector name and parameters'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (scope_kind, scope_id, http_status, start_time, incident_id);

-- The latest observation of each health fact of each server, the key being (host, fact_kind,
-- fact_key). The version is the observation's event time, so a replayed or late old snapshot
-- never hides a newer one. The history of every observation is in `events` (payload_kind
-- 'health'). Few rows: no partitioning.
CREATE TABLE IF NOT EXISTS health_facts
(
    host LowCardinality(String),
    fact_kind Enum8('certificate' = 1, 'request_limits' = 2, 'service' = 3, 'service_account' = 4, 'iis_authentication' = 5),
    fact_key String COMMENT 'certificate: <cert_role>/<thumbprint>; request_limits: empty; service: <service_kind>/<name>; service_account: account; iis_authentication: path',
    version UInt64 COMMENT 'observation time in microseconds since the epoch',
    observed_time DateTime('UTC'),
    observed_time_micros UInt32,
    event_id String COMMENT 'the event that reported it',
    collector LowCardinality(String),
    endpoint LowCardinality(String),
    issue_codes Array(String) COMMENT 'health.* (and other) codes this observation raised; empty when fine',
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
ORDER BY (host, fact_kind, fact_key);
