//! The ClickHouse store of the analyzer service: the schema's migrations, the row types of its
//! tables, and a writer that inserts batches of rows with retries.
//!
//! The schema and its rules are in `docs/clickhouse.md`; the SQL is in `analyzer/schema/`.

pub mod rows;
