-- scepwatch ClickHouse schema, migration 4: per-minute aggregates for dashboards.
--
-- Materialized views see every inserted block, replays included, so a count or a sum would
-- count a replayed row again. These tables only hold aggregates that a duplicate cannot change:
-- the exact number of distinct IDs (uniqExact of cityHash64 of the ID) and maxima. Readers
-- merge them with uniqExactMerge / maxMerge and GROUP BY (queries/per_minute_5xx.sql).

-- HTTP responses per minute, endpoint, server, log (IIS or HTTP.sys), target and status.
-- HTTP.sys records without a status (idle connections dropped) are left out.
CREATE TABLE IF NOT EXISTS requests_per_minute
(
    minute DateTime('UTC'),
    endpoint LowCardinality(String),
    host LowCardinality(String),
    source_kind Enum8('iis' = 1, 'httperr' = 2),
    target Enum8('unspecified' = 0, 'mscep' = 1, 'mscep_admin' = 2, 'cert_registration_svc' = 3, 'other' = 4),
    status UInt16,
    requests AggregateFunction(uniqExact, UInt64) COMMENT 'distinct events: uniqExactMerge',
    max_time_taken_ms AggregateFunction(max, UInt32) COMMENT 'IIS time-taken: maxMerge (0 for HTTP.sys)'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (endpoint, host, minute, source_kind, target, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS requests_per_minute_mv TO requests_per_minute
AS SELECT
    toStartOfMinute(event_time) AS minute,
    endpoint,
    host,
    CAST(if(payload_kind = 'iis', 'iis', 'httperr') AS Enum8('iis' = 1, 'httperr' = 2)) AS source_kind,
    CAST(if(payload_kind = 'iis', toString(iis_target), toString(httperr_target))
        AS Enum8('unspecified' = 0, 'mscep' = 1, 'mscep_admin' = 2, 'cert_registration_svc' = 3, 'other' = 4)) AS target,
    toUInt16(if(payload_kind = 'iis', iis_status, httperr_status)) AS status,
    uniqExactState(cityHash64(event_id)) AS requests,
    maxState(iis_time_taken_ms) AS max_time_taken_ms
FROM events
WHERE payload_kind = 'iis' OR (payload_kind = 'httperr' AND httperr_status > 0)
GROUP BY minute, endpoint, host, source_kind, target, status;

-- Diagnoses per minute of their first evidence, endpoint, code, severity and scope kind:
-- distinct diagnoses, and distinct scopes (attempts, servers, endpoints) they are about.
-- Retracted revisions are left out; a diagnosis counted before its retraction stays counted
-- (exact figures: diagnoses FINAL, see docs/clickhouse.md).
CREATE TABLE IF NOT EXISTS diagnoses_per_minute
(
    minute DateTime('UTC'),
    endpoint LowCardinality(String),
    code LowCardinality(String),
    severity Enum8('info' = 1, 'warning' = 2, 'error' = 3, 'critical' = 4),
    scope_kind Enum8('attempt' = 1, 'server' = 2, 'endpoint' = 3),
    diagnoses AggregateFunction(uniqExact, UInt64) COMMENT 'distinct diagnosis IDs: uniqExactMerge',
    scopes AggregateFunction(uniqExact, UInt64) COMMENT 'distinct scope IDs: uniqExactMerge'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (endpoint, code, minute, severity, scope_kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS diagnoses_per_minute_mv TO diagnoses_per_minute
AS SELECT
    toStartOfMinute(first_seen) AS minute,
    endpoint,
    code,
    severity,
    scope_kind,
    uniqExactState(cityHash64(diagnosis_id)) AS diagnoses,
    uniqExactState(cityHash64(scope_id)) AS scopes
FROM diagnoses
WHERE retracted = 0
GROUP BY minute, endpoint, code, severity, scope_kind;
