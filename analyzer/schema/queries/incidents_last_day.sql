-- 500 / 503 spikes of the last day (any that overlap it), newest first, with the diagnoses that
-- explain them. Reader pattern: FINAL, `retracted = 0` in WHERE; an open incident shows its
-- latest revision (end_time so far).
SELECT
    incident_id,
    scope_kind,
    scope_id,
    endpoint,
    http_status,
    state,
    start_time,
    end_time,
    peak_time,
    peak_rate,
    baseline_rate,
    errors,
    requests,
    severity,
    diagnosis_codes,
    summary
FROM incidents FINAL
WHERE retracted = 0 AND end_time >= now() - INTERVAL 1 DAY
ORDER BY start_time DESC, scope_kind, scope_id, http_status, incident_id;
