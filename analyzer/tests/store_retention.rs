//! Raw-row retention on the test ClickHouse server (18.16, no table TTL): whole months older
//! than the retention are dropped from `events` and `rejects`, the rest and the results stay.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
}

use scepwatch_analyzer::store::migrate::migrate;
use scepwatch_analyzer::store::retention::{apply, server_version, Retention};
use support::clickhouse::TestDb;

/// 2026-11-27 12:00 UTC.
const NOW: i64 = 1_795_780_800;

#[tokio::test]
async fn expired_months_of_raw_tables_are_dropped_on_servers_without_ttl() {
    let Some(db) = TestDb::create("store_retention") else {
        return;
    };
    let client = db.client();
    migrate(&client, &db.name, "store_retention test")
        .await
        .unwrap();
    let version = server_version(&client).await.unwrap();
    db.exec(
        "INSERT INTO events (event_id, event_time) VALUES \
         ('a', '2024-01-05 00:00:00'), ('b', '2026-09-30 23:59:59'), \
         ('c', '2026-10-01 00:00:00'), ('d', '2026-11-20 10:00:00')",
    );
    db.exec(
        "INSERT INTO rejects (topic, kafka_offset, record_time) VALUES \
         ('t', 1, '2026-08-01 00:00:00'), ('t', 2, '2026-11-01 00:00:00')",
    );
    db.exec("INSERT INTO attempts (attempt_id, start_time) VALUES ('old', '2024-01-05 00:00:00')");

    // 30 days before 2026-11-27 is 2026-10-28: October is not wholly expired, September is.
    let r = apply(&client, &db.name, 30, NOW).await.unwrap();
    if version >= (19, 6) {
        assert_eq!(r, Retention::Ttl { days: 30 });
        return;
    }
    let Retention::DroppedPartitions { days, mut dropped } = r else {
        panic!("{r:?}");
    };
    dropped.sort();
    assert_eq!(days, 30);
    assert_eq!(
        dropped,
        ["events/202401", "events/202609", "rejects/202608"]
    );
    assert_eq!(
        db.exec("SELECT event_id FROM events ORDER BY event_id FORMAT TabSeparated"),
        "c\nd\n"
    );
    assert_eq!(db.number("SELECT count() FROM rejects"), 1);
    assert_eq!(
        db.number("SELECT count() FROM attempts"),
        1,
        "results are kept"
    );

    // Again: nothing more to drop.
    let again = apply(&client, &db.name, 30, NOW).await.unwrap();
    assert_eq!(
        again,
        Retention::DroppedPartitions {
            days: 30,
            dropped: vec![]
        }
    );
}
