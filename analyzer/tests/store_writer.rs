//! The batch writer against the test ClickHouse server (18.16, `scripts/clickhouse.sh`): rows
//! round-trip (Native blocks) with and without LZ4, and encoded as they come, a crash of the server in the middle of an
//! insert is waited out, refused rows are not retried, and the caller decides when to give up.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
}

use std::time::{Duration, Instant};

use clickhouse::Row;
use scepwatch_analyzer::store::native::Encoder;
use scepwatch_analyzer::store::{RetryPolicy, StoreConfig, StoreError, Versions, Writer};
use serde::{Deserialize, Serialize};
use support::clickhouse::{Outage, TestDb};
use tokio::sync::RwLock;

/// The outage test stops the server: the other tests of this file wait for it to be back.
static SERVER: RwLock<()> = RwLock::const_new(());

/// The column types of the schema's tables, in a table of the test's own.
const TABLE: &str = "CREATE TABLE probes
(
    probe_id String,
    version UInt64,
    at DateTime('UTC'),
    at_micros UInt32,
    status UInt16,
    severity Enum8('info' = 1, 'warning' = 2, 'error' = 3),
    endpoint LowCardinality(String),
    user_agent Nullable(String),
    tags Array(String),
    retracted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY probe_id";

#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
struct Probe {
    probe_id: String,
    version: u64,
    at: u32,
    at_micros: u32,
    status: u16,
    severity: i8,
    endpoint: String,
    user_agent: Option<String>,
    tags: Vec<String>,
    retracted: u8,
}

fn probes(n: usize, versions: &Versions) -> Vec<Probe> {
    (0..n)
        .map(|i| Probe {
            probe_id: format!("{:032x}", i * 7919),
            version: versions.next(),
            // 2026-11-20 09:00:00 UTC plus i seconds.
            at: 1_795_165_200 + i as u32,
            at_micros: (i as u32 * 1_013) % 1_000_000,
            status: [200, 500, 503][i % 3],
            severity: (i % 3) as i8 + 1,
            endpoint: "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll".into(),
            user_agent: (i % 2 == 0)
                .then(|| "Dalvik/2.1.0 (Linux; U; Android 5.0; P01M Build/LRX21V)".into()),
            tags: (0..i % 4).map(|t| format!("tag{t}")).collect(),
            retracted: 0,
        })
        .collect()
}

async fn read_back(writer: &Writer) -> Vec<Probe> {
    writer
        .client()
        .query(
            "SELECT probe_id, version, at, at_micros, status, severity, endpoint, user_agent, \
             tags, retracted FROM probes FINAL ORDER BY probe_id",
        )
        .fetch_all()
        .await
        .unwrap()
}

fn writer_of(db: &TestDb, compression: bool) -> Writer {
    let config = StoreConfig {
        compression,
        ..db.config()
    };
    Writer::new(config.client().unwrap(), &config)
}

#[tokio::test]
async fn rows_round_trip_with_and_without_lz4() {
    let _server = SERVER.read().await;
    let Some(db) = TestDb::create("writer_round_trip") else {
        return;
    };
    db.exec(TABLE);
    let versions = Versions::new();
    // More than one Native block's worth (8,192 rows), the last one partial.
    let rows = probes(20_000, &versions);

    for compression in [false, true] {
        db.exec("TRUNCATE TABLE probes");
        let writer = writer_of(&db, compression);
        let version = writer.ping().await.unwrap();
        assert!(
            version.starts_with("18.") || version.contains('.'),
            "{version}"
        );

        let report = writer
            .insert_with_retry("probes", &rows, std::future::pending())
            .await
            .unwrap();
        assert_eq!((report.rows, report.attempts), (rows.len(), 1));
        let mut expected = rows.clone();
        expected.sort_by(|a, b| a.probe_id.cmp(&b.probe_id));
        assert_eq!(read_back(&writer).await, expected, "lz4 {compression}");
        // The blocks of one INSERT are written as one part.
        assert_eq!(
            db.number(&format!(
                "SELECT count() FROM system.parts WHERE active AND database = '{}' \
                 AND table = 'probes'",
                db.name
            )),
            1
        );
        eprintln!(
            "server {version}, lz4 {compression}: {} rows in one INSERT, {:?}",
            rows.len(),
            report.latency
        );
    }
}

#[tokio::test]
async fn rows_encoded_as_they_come_round_trip_in_one_part() {
    let _server = SERVER.read().await;
    let Some(db) = TestDb::create("writer_encoded") else {
        return;
    };
    db.exec(TABLE);
    let rows = probes(20_000, &Versions::new());
    let writer = writer_of(&db, true);
    let types = writer.column_types::<Probe>("probes").await.unwrap();
    let mut encoder = Encoder::new(types);
    for row in &rows {
        encoder.push(row).unwrap();
    }
    assert_eq!(encoder.rows(), rows.len());
    let encoded = encoder.take();
    // Full blocks of 8,192 rows and the rest.
    assert_eq!(encoded.blocks.len(), 3);
    assert_eq!((encoded.rows, encoder.rows()), (rows.len(), 0));
    let report = writer
        .insert_encoded_with_retry::<Probe, _>("probes", &encoded, std::future::pending())
        .await
        .unwrap();
    assert_eq!((report.rows, report.attempts), (rows.len(), 1));
    let mut expected = rows.clone();
    expected.sort_by(|a, b| a.probe_id.cmp(&b.probe_id));
    assert_eq!(read_back(&writer).await, expected);
    assert_eq!(
        db.number(&format!(
            "SELECT count() FROM system.parts WHERE active AND database = '{}' \
             AND table = 'probes'",
            db.name
        )),
        1
    );
    // The encoder goes on with the next rows in the buffers it grew.
    encoder.push(&rows[0]).unwrap();
    assert_eq!(encoder.take().blocks.len(), 1);
}

#[tokio::test]
async fn a_later_version_replaces_the_row() {
    let _server = SERVER.read().await;
    let Some(db) = TestDb::create("writer_versions") else {
        return;
    };
    db.exec(TABLE);
    let writer = writer_of(&db, true);
    let versions = Versions::new();
    let first = probes(3, &versions);
    // The clock steps back an hour: the revision still outranks the first write.
    let mut revision = first[1].clone();
    revision.version = versions.next_at(first[1].version - 3_600_000_000);
    revision.retracted = 1;
    assert!(revision.version > first[1].version);

    writer.insert("probes", &first).await.unwrap();
    writer
        .insert("probes", std::slice::from_ref(&revision))
        .await
        .unwrap();
    let rows = read_back(&writer).await;
    assert_eq!(rows.len(), 3);
    let stored = rows
        .iter()
        .find(|r| r.probe_id == revision.probe_id)
        .unwrap();
    assert_eq!(stored, &revision);
}

/// An insert refused for a table that does not exist (code 60), which no retry can cure.
fn unknown_table<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    let error = result.unwrap_err();
    assert!(
        matches!(error, StoreError::Refused { code: 60, .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
}

#[tokio::test]
async fn refused_rows_are_not_retried() {
    let _server = SERVER.read().await;
    let Some(db) = TestDb::create("writer_refused") else {
        return;
    };
    db.exec(TABLE);
    let writer = writer_of(&db, true);
    let rows = probes(10, &Versions::new());

    // The writer asks the server for the table's column types before it encodes a block:
    // each of these fails there, before anything is sent, as a refusal no retry can cure.
    // Four refusals, each after one attempt, never waited on.
    let encode_error = |error: &StoreError, what: &str| {
        assert!(
            matches!(error, StoreError::Encode { .. }),
            "{what}: {error:?}"
        );
        assert!(!error.is_transient());
        eprintln!("{what}: {error}");
    };

    // No such table: the server's catalog says so, in the server's own words (code 60).
    let started = Instant::now();
    unknown_table(
        writer
            .insert_with_retry("no_such_table", &rows, std::future::pending())
            .await,
    );

    // A row type the table does not have: a column it lacks.
    #[derive(Row, Serialize)]
    struct Stray {
        probe_id: String,
        colour: String,
    }
    let stray = [Stray {
        probe_id: "a".into(),
        colour: "red".into(),
    }];
    let error = writer
        .insert_with_retry("probes", &stray, std::future::pending())
        .await
        .unwrap_err();
    encode_error(&error, "unknown column");
    assert!(error.to_string().contains("no column colour"), "{error}");

    // Columns that exist, values that do not fit them: a `String` for `status UInt16`.
    #[derive(Row, Serialize)]
    struct Misfit {
        probe_id: String,
        status: String,
    }
    let misfit = [Misfit {
        probe_id: "b".into(),
        status: "xyz".into(),
    }];
    let error = writer
        .insert_with_retry("probes", &misfit, std::future::pending())
        .await
        .unwrap_err();
    encode_error(&error, "misfit row");
    assert!(error.to_string().contains("column status"), "{error}");

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(db.number("SELECT count() FROM probes"), 0);

    // A table the writer has used that goes away: a server shutting down answers so while it
    // detaches its tables, so the writer asks again (5 times, with its waits) before it takes
    // the refusal.
    writer
        .insert_with_retry("probes", &rows, std::future::pending())
        .await
        .unwrap();
    db.exec("DROP TABLE probes");
    let started = Instant::now();
    unknown_table(
        writer
            .insert_with_retry("probes", &rows, std::future::pending())
            .await,
    );
    let took = started.elapsed();
    let policy = db.config().retry_policy();
    let waits: Duration = (1..=5).map(|n| policy.backoff(n)).sum();
    assert!(
        took >= waits && took < waits + Duration::from_secs(5),
        "{took:?}, waits {waits:?}"
    );
}

/// The same table back within those attempts (a server restarted, a table recreated by the
/// service's migrations) takes the rows.
#[tokio::test]
async fn a_table_that_comes_back_takes_the_rows() {
    let _server = SERVER.read().await;
    let Some(db) = TestDb::create("writer_vanished") else {
        return;
    };
    db.exec(TABLE);
    let writer = writer_of(&db, false);
    let rows = probes(10, &Versions::new());
    writer
        .insert_with_retry("probes", &rows, std::future::pending())
        .await
        .unwrap();
    db.exec("DROP TABLE probes");
    let insert = writer.insert_with_retry("probes", &rows, std::future::pending());
    let recreate = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        db.exec(TABLE);
    };
    let (report, ()) = tokio::join!(insert, recreate);
    let report = report.unwrap();
    assert!(report.attempts >= 2, "{report:?}");
    assert_eq!(read_back(&writer).await.len(), rows.len());
}

#[tokio::test]
async fn the_caller_decides_when_to_give_up() {
    // Nothing listens on port 1: every attempt fails at once (connection refused).
    let config = StoreConfig {
        url: "http://127.0.0.1:1".into(),
        ..StoreConfig::default()
    };
    let writer = Writer::new(
        config.client().unwrap(),
        RetryPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(80),
            insert_timeout: Duration::from_secs(2),
        },
    );
    let rows = probes(100, &Versions::new());
    let error = writer
        .insert_with_retry(
            "probes",
            &rows,
            tokio::time::sleep(Duration::from_millis(400)),
        )
        .await
        .unwrap_err();
    match &error {
        StoreError::GaveUp {
            table,
            rows,
            attempts,
            last,
            ..
        } => {
            assert_eq!((table.as_str(), *rows), ("probes", 100));
            // 20 + 40 + 80 + 80 + ... ms of waits in 400 ms.
            assert!(*attempts >= 4, "{attempts} attempts");
            assert!(last.is_transient(), "{last:?}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert!(writer.ping().await.unwrap_err().is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_outlives_a_server_crash() {
    let _server = SERVER.write().await;
    // The writer's warnings (each failed attempt) show with --nocapture.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(db) = TestDb::create("writer_crash") else {
        return;
    };
    db.exec(TABLE);
    // A view that sleeps a second per block keeps the INSERT in the server long enough to
    // crash the server under it.
    db.exec(
        "CREATE MATERIALIZED VIEW slow ENGINE = Memory AS \
         SELECT probe_id, sleep(1) AS slept FROM probes",
    );
    let writer = writer_of(&db, true);
    // The pool holds a connection to the server about to die.
    writer.ping().await.unwrap();
    let rows = probes(20_000, &Versions::new());

    let task = {
        let writer = writer.clone();
        let rows = rows.clone();
        tokio::spawn(async move {
            writer
                .insert_with_retry("probes", &rows, std::future::pending())
                .await
        })
    };
    // Wait until the INSERT runs in the server, then kill the server.
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.number("SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO%probes%'")
        == 0
    {
        assert!(Instant::now() < deadline, "the INSERT never showed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(outage) = Outage::begin("crash") else {
        task.abort();
        return;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let down = outage.end();

    let report = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the insert did not finish after the restart")
        .unwrap()
        .unwrap();
    eprintln!(
        "server down {down:?}; {} rows stored after {} attempts in {:?}",
        report.rows, report.attempts, report.elapsed
    );
    assert!(report.attempts >= 2, "{report:?}");
    // Every row is there; the killed attempt may have stored its block before the view's
    // sleep, and then the retry stores it again (merges and FINAL fold the copies).
    assert_eq!(db.number("SELECT uniqExact(probe_id) FROM probes"), 20_000);
    let raw = db.number("SELECT count() FROM probes");
    assert!(raw == 20_000 || raw == 40_000, "{raw} rows");
    assert_eq!(db.number("SELECT count() FROM probes FINAL"), 20_000);
}
