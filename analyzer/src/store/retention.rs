//! How long raw rows are kept: `[clickhouse] raw_retention_days`.
//!
//! The raw tables (`events`, partitioned by the month of `event_time`; `rejects`, by the month
//! of the Kafka record) grow with every request of the fleet; the results (attempts, diagnoses,
//! incidents, health facts) are small and kept. Two mechanisms, by server version
//! (docs/clickhouse.md, rule 4):
//!
//! - **ClickHouse 19.6 and later** have table TTLs: at start the service sets
//!   `ALTER TABLE events MODIFY TTL event_time + toIntervalDay(N)` (and the same on `rejects`
//!   with `record_time`), and the server drops expired rows in its merges. Setting it again
//!   with the same number changes nothing; a new number replaces the old TTL.
//! - **Older servers** (18.x, the test server) have none: the service drops, once at start and
//!   then every hour, each monthly partition whose whole month is older than N days
//!   (`ALTER TABLE ... DROP PARTITION`), so rows live between N days and N days plus a month.
//!
//! With no `raw_retention_days` nothing is dropped (and a TTL set earlier stays: remove it
//! with `ALTER TABLE events REMOVE TTL` on current servers).

use clickhouse::Client;
use serde::Deserialize;
use tracing::{info, warn};

use super::error::StoreError;

/// The raw tables and the time column their retention follows.
pub const RAW_TABLES: [(&str, &str); 2] = [("events", "event_time"), ("rejects", "record_time")];

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retention {
    /// Table TTLs set (current servers).
    Ttl {
        /// Days.
        days: u32,
    },
    /// Partitions dropped (servers without TTL).
    DroppedPartitions {
        /// Days.
        days: u32,
        /// `table/partition` of each partition dropped now.
        dropped: Vec<String>,
    },
}

/// The server's version as (major, minor).
pub async fn server_version(client: &Client) -> Result<(u32, u32), StoreError> {
    let v: String = client
        .clone()
        .with_database("system")
        .query("SELECT version()")
        .fetch_one()
        .await?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    Ok((parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}

/// True when the server has table TTLs (19.6 and later).
pub fn has_ttl(version: (u32, u32)) -> bool {
    version >= (19, 6)
}

/// The `YYYYMM` of the last month whose every day lies before `now_secs - days`.
pub fn last_expired_month(now_secs: i64, days: u32) -> u32 {
    let cutoff = now_secs - i64::from(days) * 86_400;
    // The month containing the cutoff is not wholly expired: the month before it is.
    let days_since_epoch = cutoff.div_euclid(86_400);
    let (y, m, _) = civil_from_days(days_since_epoch);
    let (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    u32::try_from(y * 100 + i64::from(m)).unwrap_or(0)
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct PartRow {
    table: String,
    partition: String,
}

/// Applies a retention of `days` to the raw tables of `database` (see the module
/// documentation), with `now_secs` as the present.
pub async fn apply(
    client: &Client,
    database: &str,
    days: u32,
    now_secs: i64,
) -> Result<Retention, StoreError> {
    let version = server_version(client).await?;
    if has_ttl(version) {
        for (table, column) in RAW_TABLES {
            client
                .query_raw(&format!(
                    "ALTER TABLE `{database}`.{table} MODIFY TTL {column} + toIntervalDay({days})"
                ))
                .execute()
                .await?;
        }
        info!(days, "raw tables: TTL set");
        return Ok(Retention::Ttl { days });
    }
    let last = last_expired_month(now_secs, days);
    let parts: Vec<PartRow> = client
        .clone()
        .with_database("system")
        .query(
            "SELECT DISTINCT table, partition FROM system.parts \
             WHERE database = ? AND table IN ('events', 'rejects') AND active",
        )
        .bind(database)
        .fetch_all()
        .await?;
    let mut dropped = Vec::new();
    for p in parts {
        let Ok(month) = p.partition.trim_matches('\'').parse::<u32>() else {
            warn!(table = %p.table, partition = %p.partition, "partition not by month: left alone");
            continue;
        };
        if month > last {
            continue;
        }
        client
            .query_raw(&format!(
                "ALTER TABLE `{database}`.{} DROP PARTITION {month}",
                p.table
            ))
            .execute()
            .await?;
        dropped.push(format!("{}/{month}", p.table));
    }
    if !dropped.is_empty() {
        info!(days, ?dropped, "raw tables: expired months dropped");
    }
    Ok(Retention::DroppedPartitions { days, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_expire_only_when_wholly_past_the_cutoff() {
        // 2026-11-27 12:00 UTC.
        let now = 1_795_780_800;
        assert_eq!(last_expired_month(now, 0), 202610);
        assert_eq!(
            last_expired_month(now, 26),
            202610,
            "cutoff 2026-11-01: October is past"
        );
        assert_eq!(last_expired_month(now, 27), 202609, "cutoff 2026-10-31");
        assert_eq!(last_expired_month(now, 365), 202510);
        // Across a year boundary: cutoff in January expires December.
        assert_eq!(last_expired_month(1_768_478_400, 0), 202512); // 2026-01-15
    }

    #[test]
    fn ttl_starts_with_19_6() {
        assert!(!has_ttl((18, 16)));
        assert!(!has_ttl((19, 5)));
        assert!(has_ttl((19, 6)));
        assert!(has_ttl((26, 9)));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_780), (2026, 11, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
