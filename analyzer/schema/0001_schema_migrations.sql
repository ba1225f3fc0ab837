-- scepwatch ClickHouse schema, migration 1: the table of applied migrations.
--
-- Every file analyzer/schema/NNNN_<name>.sql is a migration, applied once, in order of NNNN, and
-- recorded here after its last statement succeeded (docs/clickhouse.md, "Schema"). Statements
-- end with `;` at the end of a line; table names are unqualified: the service runs them in its
-- own database. This file only creates; it is safe to run again.
--
-- A migration recorded twice (two services starting at once) collapses to one row per version;
-- readers take `GROUP BY version` (earliest `applied_at`, every checksum seen).
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32 COMMENT 'NNNN of the file name',
    name String COMMENT 'file name, e.g. 0002_events.sql',
    checksum String COMMENT 'lower-case hex SHA-256 of the file bytes as shipped',
    applied_at DateTime('UTC') COMMENT 'when its last statement succeeded',
    duration_ms UInt32 COMMENT 'time taken by its statements',
    applied_by String COMMENT 'program, version and host that applied it, e.g. scepwatch-analyzer 0.1.0 on an1'
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version;
