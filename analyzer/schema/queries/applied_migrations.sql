-- The applied migrations, as the migration applier reads them at start (docs/clickhouse.md,
-- "Schema"): one row per version, the earliest record's time, and every name and checksum
-- recorded for it (more than one checksum means a shipped migration file was changed: the
-- applier refuses to start).
SELECT
    version,
    min(applied_at) AS first_applied_at,
    arraySort(groupUniqArray(name)) AS names,
    arraySort(groupUniqArray(checksum)) AS checksums,
    count() AS records
FROM schema_migrations
GROUP BY version
ORDER BY version;
