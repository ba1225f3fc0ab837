//! Batched inserts: one INSERT (RowBinary) per batch, tried again with growing waits while the
//! server is unavailable, stopped at once when it refuses the rows.
//!
//! The writer never drops a batch on its own: it tries until the insert succeeds, the server
//! refuses it, or the caller's `give_up` future completes (shutdown, deadline). A batch that
//! was not stored comes back as an error and the caller keeps it (its Kafka offsets are not
//! committed). A retried insert may store a batch twice (the first attempt may have succeeded
//! without its answer arriving): the tables are `ReplacingMergeTree`s keyed by deterministic
//! IDs, so readers see one row (docs/clickhouse.md, rule 3).

use std::future::Future;
use std::time::{Duration, Instant};

use clickhouse::{Client, RowOwned, RowWrite};
use tracing::{debug, warn, Instrument};

use super::error::StoreError;

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
}

impl Writer {
    /// A writer through `client` (see [`super::StoreConfig::client`]), retrying as `policy`
    /// says (a [`RetryPolicy`], or the [`super::StoreConfig`] it comes from).
    pub fn new(client: Client, policy: impl Into<RetryPolicy>) -> Self {
        Writer {
            client,
            policy: policy.into(),
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

    /// Inserts `rows` into `table` in one INSERT, once. The INSERT names `T`'s fields as its
    /// columns; RowBinary carries no types, so each field must have its column's exact type,
    /// and a writer gives every column of the table (docs/clickhouse.md, "Writing").
    pub async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<Duration, StoreError>
    where
        T: RowOwned + RowWrite + Sync,
    {
        let started = Instant::now();
        let timeout = Some(self.policy.insert_timeout);
        let mut insert = self
            .client
            .insert::<T>(table)
            .await?
            .with_timeouts(timeout, timeout);
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        Ok(started.elapsed())
    }

    /// Inserts `rows` into `table` in one INSERT, trying again after transient failures until
    /// it succeeds, the server refuses the rows ([`StoreError::Refused`] and other non-transient
    /// errors, returned at once), or `give_up` completes ([`StoreError::GaveUp`]). `give_up` is
    /// looked at between attempts only: an attempt in flight ends within the insert timeout.
    /// Pass `std::future::pending()` to try for ever.
    pub async fn insert_with_retry<T, G>(
        &self,
        table: &str,
        rows: &[T],
        give_up: G,
    ) -> Result<InsertReport, StoreError>
    where
        T: RowOwned + RowWrite + Sync,
        G: Future<Output = ()>,
    {
        if rows.is_empty() {
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
        loop {
            attempts += 1;
            let span = tracing::debug_span!("insert", table, rows = rows.len(), attempt = attempts);
            let error = match self.insert(table, rows).instrument(span).await {
                Ok(latency) => {
                    debug!(
                        table,
                        rows = rows.len(),
                        attempts,
                        latency_ms = latency.as_millis() as u64,
                        "inserted"
                    );
                    return Ok(InsertReport {
                        rows: rows.len(),
                        attempts,
                        latency,
                        elapsed: started.elapsed(),
                    });
                }
                Err(error) if error.is_transient() => error,
                Err(error) => return Err(error),
            };
            let wait = self.policy.backoff(attempts);
            warn!(
                table,
                rows = rows.len(),
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
                        rows: rows.len(),
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
