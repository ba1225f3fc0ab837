-- Deduplication check of every table keyed by a deterministic ID:
--   rows        rows stored now (replayed and revised rows included until they merge)
--   ids         distinct IDs
--   final_rows  rows seen through FINAL: must equal ids
--   duplicates  rows - ids: what the next merges (or FINAL / argMax) fold away; divided by
--               rows, the duplicate ratio before merges
--   split_ids   IDs stored under two sorting keys or partitions: FINAL and merges never fold
--               those, so it must be 0 (an ID whose event time, start time or scope changed)
-- health_facts is keyed by its sorting key itself: it cannot split.
-- On a large table, run it on one partition or time range (the same WHERE in each part).
SELECT table, rows, ids, final_rows, rows - ids AS duplicates, split_ids
FROM
(
    SELECT
        'events' AS table,
        count() AS rows,
        uniqExact(event_id) AS ids,
        (SELECT count() FROM events FINAL) AS final_rows,
        (SELECT count() FROM (SELECT event_id FROM events GROUP BY event_id HAVING uniqExact(host, event_time) > 1)) AS split_ids
    FROM events
    UNION ALL
    SELECT
        'attempts' AS table,
        count() AS rows,
        uniqExact(attempt_id) AS ids,
        (SELECT count() FROM attempts FINAL) AS final_rows,
        (SELECT count() FROM (SELECT attempt_id FROM attempts GROUP BY attempt_id HAVING uniqExact(endpoint, start_time) > 1)) AS split_ids
    FROM attempts
    UNION ALL
    SELECT
        'diagnoses' AS table,
        count() AS rows,
        uniqExact(diagnosis_id) AS ids,
        (SELECT count() FROM diagnoses FINAL) AS final_rows,
        (SELECT count() FROM (SELECT diagnosis_id FROM diagnoses GROUP BY diagnosis_id HAVING uniqExact(scope_kind, scope_id, code) > 1)) AS split_ids
    FROM diagnoses
    UNION ALL
    SELECT
        'incidents' AS table,
        count() AS rows,
        uniqExact(incident_id) AS ids,
        (SELECT count() FROM incidents FINAL) AS final_rows,
        (SELECT count() FROM (SELECT incident_id FROM incidents GROUP BY incident_id HAVING uniqExact(scope_kind, scope_id, http_status, start_time) > 1)) AS split_ids
    FROM incidents
    UNION ALL
    SELECT
        'health_facts' AS table,
        count() AS rows,
        uniqExact(host, fact_kind, fact_key) AS ids,
        (SELECT count() FROM health_facts FINAL) AS final_rows,
        toUInt64(0) AS split_ids
    FROM health_facts
    UNION ALL
    SELECT
        'watermarks' AS table,
        count() AS rows,
        uniqExact(source_id) AS ids,
        (SELECT count() FROM watermarks FINAL) AS final_rows,
        (SELECT count() FROM (SELECT source_id FROM watermarks GROUP BY source_id HAVING uniqExact(host) > 1)) AS split_ids
    FROM watermarks
    UNION ALL
    SELECT
        'rejects' AS table,
        count() AS rows,
        uniqExact(topic, kafka_partition, kafka_offset, event_index) AS ids,
        (SELECT count() FROM rejects FINAL) AS final_rows,
        (SELECT count() FROM (SELECT topic, kafka_partition, kafka_offset, event_index FROM rejects GROUP BY topic, kafka_partition, kafka_offset, event_index HAVING uniqExact(toYYYYMM(record_time)) > 1)) AS split_ids
    FROM rejects
)
ORDER BY table;
