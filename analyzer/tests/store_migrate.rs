//! The migration applier against the test ClickHouse server (18.16, `scripts/clickhouse.sh`):
//! every table of the schema, idempotence, edited and unknown recorded migrations, two
//! appliers at once, a crash between an `ADD COLUMN` and its record.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
}

use scepwatch_analyzer::store::migrate::{migrate, migrate_with, Migration, MIGRATIONS};
use scepwatch_analyzer::store::StoreError;
use support::clickhouse::TestDb;

const APPLIED_BY: &str = "scepwatch-analyzer 0.1.0 on test";

/// What the schema creates (docs/clickhouse.md, "Schema").
const SCHEMA_TABLES: [&str; 12] = [
    "attempts",
    "diagnoses",
    "diagnoses_per_minute",
    "diagnoses_per_minute_mv",
    "events",
    "health_facts",
    "incidents",
    "rejects",
    "requests_per_minute",
    "requests_per_minute_mv",
    "schema_migrations",
    "watermarks",
];

/// The names after `CREATE TABLE IF NOT EXISTS` / `CREATE MATERIALIZED VIEW IF NOT EXISTS` in
/// the shipped files, so that a table a new migration adds cannot be missed here.
fn created_by_the_files() -> Vec<String> {
    let mut names: Vec<String> = MIGRATIONS
        .iter()
        .flat_map(|m| m.sql.lines())
        .filter(|line| line.starts_with("CREATE "))
        .filter_map(|line| line.split("IF NOT EXISTS ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn migrates_an_empty_database_to_every_table() {
    let Some(db) = TestDb::named("migrate_empty") else {
        return;
    };
    assert_eq!(created_by_the_files(), SCHEMA_TABLES);

    // The database does not exist yet: the applier creates it.
    let report = migrate(&db.client(), &db.name, APPLIED_BY).await.unwrap();
    let applied: Vec<u32> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(applied, [1, 2, 3, 4]);
    assert!(report.skipped.is_empty() && report.unknown.is_empty());
    eprintln!(
        "migrated an empty database in {:?} ({})",
        report.elapsed,
        report
            .applied
            .iter()
            .map(|a| format!("{} {:?}", a.name, a.duration))
            .collect::<Vec<_>>()
            .join(", ")
    );

    assert_eq!(db.tables(), SCHEMA_TABLES);

    // One record per file, with the shipped checksum and who applied it.
    let recorded = db.exec(
        "SELECT version, name, checksum, applied_by FROM schema_migrations ORDER BY version \
         FORMAT TabSeparated",
    );
    let expected: String = MIGRATIONS
        .iter()
        .map(|m| {
            format!(
                "{}\t{}\t{}\t{APPLIED_BY}\n",
                m.version,
                m.name,
                m.checksum()
            )
        })
        .collect();
    assert_eq!(recorded, expected);
    assert_eq!(
        db.number("SELECT count() FROM schema_migrations WHERE applied_at > now() - 600"),
        4
    );
}

#[tokio::test]
async fn a_second_run_applies_nothing() {
    let Some(db) = TestDb::create("migrate_twice") else {
        return;
    };
    let client = db.client();
    let first = migrate(&client, &db.name, APPLIED_BY).await.unwrap();
    assert_eq!(first.applied.len(), MIGRATIONS.len());

    let second = migrate(&client, &db.name, APPLIED_BY).await.unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.skipped, [1, 2, 3, 4]);
    assert!(second.unknown.is_empty());
    eprintln!("second run on a migrated database: {:?}", second.elapsed);
    assert_eq!(db.number("SELECT count() FROM schema_migrations"), 4);
    assert_eq!(db.tables(), SCHEMA_TABLES);
}

#[tokio::test]
async fn an_edited_migration_stops_the_applier() {
    let Some(db) = TestDb::create("migrate_edited") else {
        return;
    };
    let client = db.client();
    migrate(&client, &db.name, APPLIED_BY).await.unwrap();

    // The database says 0002 was applied with other bytes than this program ships.
    let edited = "0".repeat(64);
    db.exec(&format!(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms, applied_by) \
         VALUES (2, '0002_events.sql', '{edited}', now(), 5, 'an older build')"
    ));
    let error = migrate(&client, &db.name, APPLIED_BY).await.unwrap_err();
    match &error {
        StoreError::EditedMigration {
            file,
            version,
            recorded,
            shipped,
        } => {
            assert_eq!(*file, "0002_events.sql");
            assert_eq!(*version, 2);
            assert!(recorded.contains(&edited), "{recorded:?}");
            assert_eq!(*shipped, MIGRATIONS[1].checksum());
        }
        other => panic!("expected EditedMigration, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert!(error.to_string().contains("0002_events.sql"), "{error}");
}

#[tokio::test]
async fn an_unknown_newer_version_is_tolerated() {
    let Some(db) = TestDb::create("migrate_newer") else {
        return;
    };
    let client = db.client();
    migrate(&client, &db.name, APPLIED_BY).await.unwrap();
    // A newer release added migration 5 (and this older program runs again).
    db.exec(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms, applied_by) \
         VALUES (5, '0005_future.sql', 'abc', now(), 12, 'scepwatch-analyzer 9.0.0 on an2')",
    );
    let report = migrate(&client, &db.name, APPLIED_BY).await.unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.skipped, [1, 2, 3, 4]);
    assert_eq!(report.unknown, [5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appliers_both_succeed() {
    let Some(db) = TestDb::named("migrate_concurrent") else {
        return;
    };
    // Three services start at once on a database that does not exist yet.
    let runs: Vec<_> = (0..3)
        .map(|i| {
            let client = db.client();
            let name = db.name.clone();
            tokio::spawn(async move {
                migrate(
                    &client,
                    &name,
                    &format!("scepwatch-analyzer 0.1.0 on an{i}"),
                )
                .await
            })
        })
        .collect();
    let mut applied_total = 0;
    for run in runs {
        let report = run.await.unwrap().unwrap();
        assert!(report.unknown.is_empty());
        assert_eq!(
            report.applied.len() + report.skipped.len(),
            MIGRATIONS.len()
        );
        applied_total += report.applied.len();
    }
    assert!(applied_total >= MIGRATIONS.len());
    eprintln!("3 appliers at once: {applied_total} file applications");
    assert_eq!(db.tables(), SCHEMA_TABLES);
    // Every version recorded, possibly more than once, always with the shipped checksum.
    assert_eq!(
        db.number("SELECT uniqExact(version) FROM schema_migrations"),
        4
    );
    assert_eq!(
        db.number("SELECT uniqExact(version, checksum) FROM schema_migrations"),
        4
    );
    // And the next start is a no-op.
    let again = migrate(&db.client(), &db.name, APPLIED_BY).await.unwrap();
    assert!(again.applied.is_empty());
}

/// Migrations for the tests of the applier itself: the real first one, then a table and a
/// column added to it.
const WITH_ADD_COLUMN: [Migration; 3] = [
    MIGRATIONS[0],
    Migration {
        version: 2,
        name: "0002_things.sql",
        sql: "-- a table\nCREATE TABLE IF NOT EXISTS things (id String)\nENGINE = MergeTree ORDER BY id;\n",
    },
    Migration {
        version: 3,
        name: "0003_things_size.sql",
        sql: "-- a column; 18.x has no ADD COLUMN IF NOT EXISTS\nALTER TABLE things ADD COLUMN size UInt32;\n",
    },
];

#[tokio::test]
async fn a_column_added_before_a_crash_counts_as_done() {
    let Some(db) = TestDb::create("migrate_add_column") else {
        return;
    };
    let client = db.client();
    migrate_with(&client, &db.name, APPLIED_BY, &WITH_ADD_COLUMN[..2])
        .await
        .unwrap();
    // A previous run added the column and stopped before recording 0003.
    db.exec("ALTER TABLE things ADD COLUMN size UInt32");
    let again = db.try_exec("ALTER TABLE things ADD COLUMN size UInt32");
    assert!(
        again.as_ref().is_err_and(|e| e.contains("Code: 44")),
        "18.16 refuses a second ADD COLUMN with code 44: {again:?}"
    );

    let report = migrate_with(&client, &db.name, APPLIED_BY, &WITH_ADD_COLUMN)
        .await
        .unwrap();
    let applied: Vec<u32> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(applied, [3]);
    assert_eq!(
        db.number("SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'things' AND name = 'size'"),
        1
    );
}

#[tokio::test]
async fn a_failing_statement_stops_and_records_nothing() {
    let Some(db) = TestDb::create("migrate_failing") else {
        return;
    };
    let client = db.client();
    let broken = [
        MIGRATIONS[0],
        Migration {
            version: 2,
            name: "0002_broken.sql",
            sql: "CREATE TABLE IF NOT EXISTS a (id String) ENGINE = MergeTree ORDER BY id;\n\
                  -- 18.16 has no TTL\n\
                  CREATE TABLE IF NOT EXISTS b (t DateTime) ENGINE = MergeTree ORDER BY t TTL t + INTERVAL 1 DAY;\n\
                  CREATE TABLE IF NOT EXISTS c (id String) ENGINE = MergeTree ORDER BY id;\n",
        },
    ];
    let error = migrate_with(&client, &db.name, APPLIED_BY, &broken)
        .await
        .unwrap_err();
    match &error {
        StoreError::Migration {
            file,
            statement,
            line,
            source,
        } => {
            assert_eq!(*file, "0002_broken.sql");
            assert_eq!((*statement, *line), (2, 3));
            assert_eq!(source.code(), Some(62), "{source}");
        }
        other => panic!("expected Migration, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert_eq!(db.tables(), ["a", "schema_migrations"]);
    assert_eq!(
        db.exec("SELECT groupArray(version) FROM schema_migrations")
            .trim(),
        "[1]"
    );
}
