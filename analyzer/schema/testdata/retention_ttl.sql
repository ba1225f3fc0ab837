-- The statements analyzer/src/store/retention.rs sends to servers with table TTLs (19.6 and
-- later), on the schema: current ClickHouse only (scripts/test.sh runs this file on chdb; 18.16
-- has no TTL and gets monthly DROP PARTITION instead, tested in analyzer/tests/store_retention.rs).
ALTER TABLE events MODIFY TTL event_time + toIntervalDay(90);
ALTER TABLE rejects MODIFY TTL record_time + toIntervalDay(90);
-- Setting it again, or to another number, is accepted.
ALTER TABLE events MODIFY TTL event_time + toIntervalDay(90);
ALTER TABLE events MODIFY TTL event_time + toIntervalDay(30);
SELECT throwIf(position((SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'events'), 'TTL') = 0);
