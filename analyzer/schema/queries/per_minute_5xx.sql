-- 5xx responses per minute and NDES server over the last 6 hours, from the per-minute
-- aggregate (IIS and HTTP.sys together), with all the responses of that minute for the ratio.
-- Reader pattern: the aggregate states merge with uniqExactMerge(-If) and GROUP BY; a replayed
-- event is one distinct ID, so replays do not inflate the counts. Minutes without any 5xx are
-- left out.
SELECT
    minute,
    host,
    uniqExactMergeIf(requests, status = 500) AS errors_500,
    uniqExactMergeIf(requests, status = 503) AS errors_503,
    uniqExactMergeIf(requests, status >= 500 AND status < 600) AS errors_5xx,
    uniqExactMerge(requests) AS responses,
    round(errors_5xx / responses, 4) AS error_ratio
FROM requests_per_minute
WHERE minute >= now() - INTERVAL 6 HOUR
GROUP BY minute, host
HAVING errors_5xx > 0
ORDER BY minute, host;
