//! Batched inserts: one INSERT per batch, a Native block of the table's columns ([`super::native`]),
//! tried again with growing waits while the server is unavailable, stopped at once when it
//! refuses the rows.
//!
//! The writer never drops a batch on its own: it tries until the insert succeeds, the server
//! refuses it, or the caller's `give_up` future completes (shutdown, deadline). A batch that
//! was not stored comes back as an error and the caller keeps it (its Kafka offsets are not
//! committed). A retried insert may store a batch twice (the first attempt may have succeeded
//! without its answer arriving): the tables are `ReplacingMergeTree`s keyed by deterministic
//! IDs, so readers see one row (docs/clickhouse.md, rule 3).
//!
//! A block names each column's type, which the writer asks the server for once per table
//! (`system.columns`) and keeps: a schema change needs a restart of the service, which its
//! migrations do anyway.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn, Instrument};

use super::error::StoreError;
use super::native::{Block, ColumnType, Encoded, BLOCK_ROWS};

/// Bytes of a block sent (and, with LZ4, compressed) at a time.
const CHUNK: usize = 1 << 20;

/// ClickHouse's codes for a table or database that does not exist.
const UNKNOWN_TABLE: u32 = 60;
const UNKNOWN_DATABASE: u32 = 81;

/// Attempts in a row that may find a table missing which this writer has written to (or
/// listed) before, before the writer gives up: a server shutting down gracefully answers
/// queries on open connections while it detaches its tables (code 60), and one restarting
/// answers before it has attached them all. A table that is really gone is refused after
/// these attempts (about 6 s with the default waits).
const VANISHED_ATTEMPTS: u32 = 5;

/// Waits between attempts, and the time one attempt may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure; it doubles after each further failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Longest time one INSERT may take to send its rows, and then to be answered.
    pub insert_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            insert_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (1 for the first): `initial * 2^(failures-1)`,
    /// at most `max`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl From<&super::StoreConfig> for RetryPolicy {
    fn from(config: &super::StoreConfig) -> Self {
        config.retry_policy()
    }
}

/// What it took to store one batch, for the service's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertReport {
    /// Rows in the batch.
    pub rows: usize,
    /// INSERTs sent, the successful one included (1 when nothing failed; 0 for an empty batch).
    pub attempts: u32,
    /// Duration of the successful INSERT.
    pub latency: Duration,
    /// From the start of the first attempt to the success, waits included.
    pub elapsed: Duration,
}

/// Inserts batches of rows into the tables of one database.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    policy: RetryPolicy,
    /// The types of a table's columns, as the server gave them, by table and the columns a
    /// row type names.
    tables: Arc<Mutex<TableTypes>>,
}

/// The columns a row type names, in order (`Row::COLUMN_NAMES`).
type Columns = &'static [&'static str];

/// Column types by table and the columns a row type names.
type TableTypes = HashMap<(String, Columns), Arc<[ColumnType]>>;

#[derive(Row, Deserialize)]
struct SystemColumn {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
}

impl Writer {
    /// A writer through `client` (see [`super::StoreConfig::client`]), retrying as `policy`
    /// says (a [`RetryPolicy`], or the [`super::StoreConfig`] it comes from).
    pub fn new(client: Client, policy: impl Into<RetryPolicy>) -> Self {
        Writer {
            client,
            policy: policy.into(),
            tables: Arc::default(),
        }
    }

    /// The client the writer uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server's version when it answers (`SELECT version()`), within the insert timeout.
    pub async fn ping(&self) -> Result<String, StoreError> {
        ping(&self.client, self.policy.insert_timeout).await
    }

    /// The types of the columns `names` of `table`, in that order: asked of the server the first
    /// time, then remembered.
    async fn columns(&self, table: &str, names: Columns) -> Result<Arc<[ColumnType]>, StoreError> {
        if let Some(known) = self.known(table, names) {
            return Ok(known);
        }
        let query = self
            .client
            .query("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ?")
            .bind(table)
            .fetch_all::<SystemColumn>();
        let listed = match tokio::time::timeout(self.policy.insert_timeout, query).await {
            Ok(listed) => listed?,
            Err(_) => return Err(StoreError::Unavailable(clickhouse::error::Error::TimedOut)),
        };
        let encode = |source| StoreError::Encode {
            table: table.to_owned(),
            source,
        };
        if listed.is_empty() {
            // As the server words an INSERT into a table it does not have (UNKNOWN_TABLE).
            return Err(StoreError::Refused {
                code: UNKNOWN_TABLE,
                message: format!(
                    "table {table} does not exist (system.columns lists no column of it)"
                ),
            });
        }
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            let Some(c) = listed.iter().find(|c| c.name == *name) else {
                return Err(encode(super::native::NativeError::Mismatch(format!(
                    "the table has no column {name} ({} columns listed)",
                    listed.len()
                ))));
            };
            types.push(ColumnType::new(&c.name, &c.type_name).map_err(encode)?);
        }
        let types: Arc<[ColumnType]> = types.into();
        if let Ok(mut tables) = self.tables.lock() {
            tables.insert((table.to_owned(), names), types.clone());
        }
        Ok(types)
    }

    fn forget(&self, table: &str, names: Columns) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.remove(&(table.to_owned(), names));
        }
    }

    fn known(&self, table: &str, names: Columns) -> Option<Arc<[ColumnType]>> {
        self.tables
            .lock()
            .ok()?
            .get(&(table.to_owned(), names))
            .cloned()
    }

    /// `rows` as one Native block, built in `block` (emptied first).
    fn encode<T: Serialize>(
        table: &str,
        block: &mut Block,
        rows: &[T],
    ) -> Result<Bytes, StoreError> {
        block.clear();
        for row in rows {
            block.push(row).map_err(|source| StoreError::Encode {
                table: table.to_owned(),
                source,
            })?;
        }
        Ok(Bytes::from(block.encode()))
    }

    /// Inserts `rows` into `table` in one INSERT, once. The INSERT names `T`'s fields as its
    /// columns, each of which the table must have; the blocks give each column the table's
    /// type, and a field's value must be that type's (docs/clickhouse.md, "Writing").
    pub async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<Duration, StoreError>
    where
        T: Row + Serialize,
    {
        let mut blocks = Vec::new();
        self.insert_once(table, &Batch::Rows(rows), &mut blocks)
            .await
    }

    /// The types of `table`'s columns that `T`'s fields name, as the server lists them (asked
    /// once, then remembered), for an [`super::native::Encoder`] of `T` rows.
    pub async fn column_types<T: Row>(&self, table: &str) -> Result<Arc<[ColumnType]>, StoreError> {
        self.columns(table, T::COLUMN_NAMES).await
    }

    /// One INSERT of a batch, in blocks of [`BLOCK_ROWS`]: each block is sent as soon as it is
    /// encoded, so the server reads one while the next is encoded. For rows, `blocks` keeps
    /// the blocks encoded so far: a retry sends the same bytes and encodes only what the failed
    /// attempt had not reached.
    async fn insert_once<T>(
        &self,
        table: &str,
        batch: &Batch<'_, T>,
        blocks: &mut Vec<Bytes>,
    ) -> Result<Duration, StoreError>
    where
        T: Row + Serialize,
    {
        let started = Instant::now();
        let sql = format!(
            "INSERT INTO {table} ({}) FORMAT Native",
            T::COLUMN_NAMES.join(", ")
        );
        let timeout = Some(self.policy.insert_timeout);
        let open = || {
            self.client
                .insert_formatted_with(sql)
                .with_timeouts(timeout, timeout)
        };
        let insert = match batch {
            Batch::Rows(rows) => {
                // Asked before the INSERT opens: the types decide how the rows are encoded.
                let types = self.columns(table, T::COLUMN_NAMES).await?;
                let mut insert = open();
                let mut block = Block::new(types);
                for (i, chunk) in rows.chunks(BLOCK_ROWS).enumerate() {
                    let data = match blocks.get(i) {
                        Some(data) => data.clone(),
                        None => {
                            let data = Self::encode(table, &mut block, chunk)?;
                            blocks.push(data.clone());
                            data
                        }
                    };
                    send_block(&mut insert, &data).await?;
                }
                insert
            }
            Batch::Encoded(encoded) => {
                let mut insert = open();
                for data in &encoded.blocks {
                    send_block(&mut insert, data).await?;
                }
                insert
            }
        };
        insert.end().await?;
        Ok(started.elapsed())
    }

    /// Inserts `rows` into `table` in one INSERT, trying again after transient failures until
    /// it succeeds, the server refuses the rows ([`StoreError::Refused`] and other non-transient
    /// errors, returned at once), or `give_up` completes ([`StoreError::GaveUp`]). A table this
    /// writer has used before that the server says does not exist is tried again
    /// [`VANISHED_ATTEMPTS`] times, its columns asked for anew each time: that is what a server
    /// shutting down or starting answers. `give_up` is
    /// looked at between attempts only: an attempt in flight ends within the insert timeout.
    /// Pass `std::future::pending()` to try for ever.
    pub async fn insert_with_retry<T, G>(
        &self,
        table: &str,
        rows: &[T],
        give_up: G,
    ) -> Result<InsertReport, StoreError>
    where
        T: Row + Serialize + Sync,
        G: Future<Output = ()>,
    {
        self.retry(table, Batch::Rows(rows), give_up).await
    }

    /// Inserts rows of `T` that an [`super::native::Encoder`] encoded into `table`, as
    /// [`Writer::insert_with_retry`] inserts rows. The blocks stay as they are: a table that
    /// comes back with other column types refuses them (the encoder took the types once).
    pub async fn insert_encoded_with_retry<T, G>(
        &self,
        table: &str,
        encoded: &Encoded,
        give_up: G,
    ) -> Result<InsertReport, StoreError>
    where
        T: Row + Serialize + Sync,
        G: Future<Output = ()>,
    {
        self.retry(table, Batch::<T>::Encoded(encoded), give_up)
            .await
    }

    async fn retry<T, G>(
        &self,
        table: &str,
        batch: Batch<'_, T>,
        give_up: G,
    ) -> Result<InsertReport, StoreError>
    where
        T: Row + Serialize + Sync,
        G: Future<Output = ()>,
    {
        let rows = batch.rows();
        if rows == 0 {
            return Ok(InsertReport {
                rows: 0,
                attempts: 0,
                latency: Duration::ZERO,
                elapsed: Duration::ZERO,
            });
        }
        let started = Instant::now();
        let mut give_up = std::pin::pin!(give_up);
        let mut attempts = 0u32;
        let mut blocks = Vec::new();
        // The table's columns were listed before: they are remembered until a vanished-table
        // refusal below forgets them, which sets this.
        let mut seen = false;
        let mut vanished = 0u32;
        loop {
            attempts += 1;
            let span = tracing::debug_span!("insert", table, rows = rows, attempt = attempts);
            let error = match self
                .insert_once(table, &batch, &mut blocks)
                .instrument(span)
                .await
            {
                Ok(latency) => {
                    debug!(
                        table,
                        rows,
                        attempts,
                        latency_ms = latency.as_millis() as u64,
                        "inserted"
                    );
                    return Ok(InsertReport {
                        rows,
                        attempts,
                        latency,
                        elapsed: started.elapsed(),
                    });
                }
                Err(error) if error.is_transient() => error,
                Err(error)
                    if matches!(error.code(), Some(UNKNOWN_TABLE | UNKNOWN_DATABASE))
                        && (seen || self.known(table, T::COLUMN_NAMES).is_some())
                        && vanished < VANISHED_ATTEMPTS =>
                {
                    // Ask the server for the table again at the next attempt, and encode the
                    // rows in the types it then lists.
                    seen = true;
                    vanished += 1;
                    self.forget(table, T::COLUMN_NAMES);
                    blocks.clear();
                    error
                }
                Err(error) => return Err(error),
            };
            let wait = self.policy.backoff(attempts);
            warn!(
                table,
                rows,
                attempts,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "insert failed, trying again"
            );
            tokio::select! {
                biased;
                () = &mut give_up => {
                    return Err(StoreError::GaveUp {
                        table: table.to_owned(),
                        rows,
                        attempts,
                        elapsed: started.elapsed(),
                        last: Box::new(error),
                    });
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// What one INSERT sends.
enum Batch<'a, T> {
    /// Rows, encoded by the INSERT (again once a vanished table is back).
    Rows(&'a [T]),
    /// Rows encoded already.
    Encoded(&'a Encoded),
}

impl<T> Batch<'_, T> {
    fn rows(&self) -> usize {
        match self {
            Batch::Rows(rows) => rows.len(),
            Batch::Encoded(e) => e.rows,
        }
    }
}

/// Sends one block, [`CHUNK`] bytes at a time.
async fn send_block(
    insert: &mut clickhouse::insert_formatted::InsertFormatted,
    data: &Bytes,
) -> Result<(), StoreError> {
    let mut at = 0;
    while at < data.len() {
        let end = (at + CHUNK).min(data.len());
        insert.send(data.slice(at..end)).await?;
        at = end;
    }
    Ok(())
}

/// The server's version when it answers `SELECT version()` within `timeout`. Runs in the
/// `system` database, so it answers before the service's database exists.
pub async fn ping(client: &Client, timeout: Duration) -> Result<String, StoreError> {
    let client = client.clone().with_database("system");
    let query = client.query("SELECT version()").fetch_one::<String>();
    match tokio::time::timeout(timeout, query).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(StoreError::Unavailable(clickhouse::error::Error::TimedOut)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_max() {
        let policy = RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            insert_timeout: Duration::from_secs(30),
        };
        let waits: Vec<u64> = (1..=9)
            .map(|n| policy.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(10));
    }
}
