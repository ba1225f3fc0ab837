-- The latest enrollment attempts of the last day, newest first, each with its diagnoses (one
-- row per attempt and diagnosis; an attempt without diagnoses has one row with an empty code).
--
-- Reader pattern: FINAL, then `retracted = 0` in WHERE (never PREWHERE: with FINAL, PREWHERE
-- filters the rows before the newest version of each ID is chosen, so a retracted attempt
-- would come back through its older version). The attempts are cut to the newest 100 first,
-- and only their diagnoses are read (the diagnoses sorting key starts with scope_kind, scope_id).
SELECT
    attempt_id,
    endpoint,
    start_time,
    end_time,
    join_method,
    confidence,
    platform,
    device,
    servers,
    transaction_ids,
    severity AS attempt_severity,
    code,
    diagnosis_severity,
    title,
    occurrences,
    evidence_event_ids,
    fix
FROM
(
    SELECT
        attempt_id, endpoint, start_time, start_time_micros, end_time, join_method, confidence,
        platform, device, servers, transaction_ids, severity
    FROM attempts FINAL
    WHERE retracted = 0 AND start_time >= now() - INTERVAL 1 DAY
    ORDER BY start_time DESC, start_time_micros DESC, attempt_id
    LIMIT 100
) AS a
ALL LEFT JOIN
(
    SELECT
        scope_id AS attempt_id,
        code,
        severity AS diagnosis_severity,
        title,
        occurrences,
        evidence.event_id AS evidence_event_ids,
        fix
    FROM diagnoses FINAL
    WHERE retracted = 0
        AND scope_kind = 'attempt'
        AND scope_id IN
        (
            SELECT attempt_id
            FROM attempts FINAL
            WHERE retracted = 0 AND start_time >= now() - INTERVAL 1 DAY
        )
) AS d
USING attempt_id
ORDER BY start_time DESC, start_time_micros DESC, attempt_id, diagnosis_severity DESC, code;
