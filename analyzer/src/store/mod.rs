//! The ClickHouse store of the analyzer service: the schema's migrations, the row types of its
//! tables, and a writer that inserts batches of rows with retries.
//!
//! The schema and its rules are in `docs/clickhouse.md`; the SQL is in `analyzer/schema/`.
//!
//! - [`StoreConfig`]: the `[clickhouse]` section and the client built from it (schema
//!   validation off, for 18.x servers).
//! - [`migrate::migrate`]: creates the database and applies the embedded migrations.
//! - [`writer::Writer`]: one INSERT per batch (a Native block, [`native`]), retried while the
//!   server is unavailable.
//! - [`retention`]: how long raw rows are kept (TTL, or monthly partitions dropped on 18.x).
//! - [`Versions`]: the `version` of written rows (write time, µs, never going back).

mod config;
mod error;
pub mod migrate;
pub mod native;
pub mod retention;
pub mod rows;
mod versions;
pub mod writer;

pub use config::StoreConfig;
pub use error::StoreError;
pub use versions::Versions;
pub use writer::{InsertReport, RetryPolicy, Writer};
