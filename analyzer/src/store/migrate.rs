//! The schema's migrations (`analyzer/schema/NNNN_<name>.sql`, embedded) and their applier.
//!
//! The contract is docs/clickhouse.md, "Migrations": split each file as
//! `scripts/chdb-check.sh` does, create the database, read `schema_migrations`, refuse a
//! recorded migration whose checksum differs from the shipped file, tolerate recorded versions
//! this program does not know, apply the missing files in order and record each one after its
//! last statement succeeded. Every migration is safe to run again, so a crash between two
//! statements, or two services migrating at once, is harmless.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn, Instrument};

use super::config::check_identifier;
use super::error::StoreError;

/// One migration file as shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The `NNNN` of the file name.
    pub version: u32,
    /// The file name, e.g. `0002_events.sql`.
    pub name: &'static str,
    /// The file's text.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../schema/", $name)),
        }
    };
}

/// The migrations this program ships, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_schema_migrations.sql"),
    migration!(2, "0002_events.sql"),
    migration!(3, "0003_results.sql"),
    migration!(4, "0004_per_minute.sql"),
];

impl Migration {
    /// Lower-case hex SHA-256 of the file's bytes, as recorded in `schema_migrations`.
    pub fn checksum(&self) -> String {
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The file's statements.
    pub fn statements(&self) -> Vec<Statement> {
        split_statements(self.sql)
    }
}

/// One statement of a migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The line of the file where it starts (its first line that is not a comment).
    pub line: usize,
    /// Its text without the final `;`, comment lines before it included.
    pub text: String,
}

impl Statement {
    /// Whether it is an `ALTER TABLE ... ADD COLUMN`, which 18.x cannot make idempotent.
    fn adds_column(&self) -> bool {
        let words: Vec<String> = self
            .text
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .flat_map(str::split_whitespace)
            .map(str::to_ascii_uppercase)
            .collect();
        words.windows(2).any(|w| w[0] == "ADD" && w[1] == "COLUMN")
    }
}

/// Splits a file into statements as `scripts/chdb-check.sh` does: a statement ends with `;` at
/// the end of a line (trailing blanks allowed); `--` lines are comments and never end one; text
/// after the last `;` is one more statement (unless it is only comments and blanks).
pub fn split_statements(text: &str) -> Vec<Statement> {
    let mut statements = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let stripped = line.trim();
        if stripped.is_empty() {
            if !current.is_empty() {
                current.push(line);
            }
            continue;
        }
        let comment = stripped.starts_with("--");
        if start.is_none() && !comment {
            start = Some(number);
        }
        current.push(line);
        if !comment && line.trim_end().ends_with(';') {
            let body = current.join("\n");
            let body = body.trim_end();
            let body = body.strip_suffix(';').unwrap_or(body).trim_end();
            statements.push(Statement {
                line: start.unwrap_or(number),
                text: body.to_owned(),
            });
            current.clear();
            start = None;
        }
    }
    if let Some(line) = start {
        statements.push(Statement {
            line,
            text: current.join("\n").trim().to_owned(),
        });
    }
    statements
}

/// One migration applied by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Its version.
    pub version: u32,
    /// Its file name.
    pub name: &'static str,
    /// Statements run.
    pub statements: usize,
    /// Time its statements took (recorded as `duration_ms`).
    pub duration: Duration,
}

/// What a run of [`migrate`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied now, in order.
    pub applied: Vec<AppliedMigration>,
    /// Versions already recorded, with the shipped checksum: not run again.
    pub skipped: Vec<u32>,
    /// Recorded versions this program does not ship (a newer release migrated the database).
    pub unknown: Vec<u32>,
    /// Time of the whole run, the database's creation included.
    pub elapsed: Duration,
}

/// A row of `schema_migrations` as the applier writes it.
#[derive(Row, Serialize)]
struct MigrationRecord {
    version: u32,
    name: String,
    checksum: String,
    applied_at: u32,
    duration_ms: u32,
    applied_by: String,
}

/// A recorded version, as `GROUP BY version` gives it.
#[derive(Row, Deserialize)]
struct Recorded {
    version: u32,
    _applied_at: u32,
    names: Vec<String>,
    checksums: Vec<String>,
}

/// Creates `database` if needed and applies the shipped migrations it lacks, recording each
/// with `applied_by` (program, version and host, e.g. `scepwatch-analyzer 0.1.0 on an1`).
///
/// `client` may name any database (or `database` itself, which need not exist yet): the
/// applier talks to `database` explicitly. Fails with [`StoreError::EditedMigration`] when a
/// recorded migration's checksum differs from the shipped file, and with
/// [`StoreError::Migration`] when a statement fails (nothing after it runs, the file is not
/// recorded; the next run tries again).
pub async fn migrate(
    client: &Client,
    database: &str,
    applied_by: &str,
) -> Result<MigrationReport, StoreError> {
    migrate_with(client, database, applied_by, MIGRATIONS).await
}

/// [`migrate`] with another list of migrations (numbered 1, 2, 3, ... like the shipped ones,
/// the first creating `schema_migrations`): for tests of the applier itself.
pub async fn migrate_with(
    client: &Client,
    database: &str,
    applied_by: &str,
    migrations: &[Migration],
) -> Result<MigrationReport, StoreError> {
    let span = tracing::info_span!("migrate", database);
    migrate_inner(client, database, applied_by, migrations)
        .instrument(span)
        .await
}

async fn migrate_inner(
    client: &Client,
    database: &str,
    applied_by: &str,
    migrations: &[Migration],
) -> Result<MigrationReport, StoreError> {
    let started = Instant::now();
    check_embedded(migrations)?;
    check_identifier("database", database)?;

    client
        .clone()
        .with_database("system")
        .query_raw(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
        .execute()
        .await?;
    let db = client.clone().with_database(database);

    let recorded = read_recorded(&db).await?;
    let mut report = MigrationReport::default();
    for (&version, row) in &recorded {
        if !migrations.iter().any(|m| m.version == version) {
            warn!(
                version,
                names = ?row.names,
                "the database records a migration this program does not ship (a newer release \
                 migrated it); going on"
            );
            report.unknown.push(version);
        }
    }

    for migration in migrations {
        let shipped = migration.checksum();
        if let Some(row) = recorded.get(&migration.version) {
            if row.checksums.iter().any(|c| *c != shipped) {
                return Err(StoreError::EditedMigration {
                    file: migration.name,
                    version: migration.version,
                    recorded: row.checksums.clone(),
                    shipped,
                });
            }
            report.skipped.push(migration.version);
            continue;
        }
        let applied = apply(&db, migration, &shipped, applied_by).await?;
        info!(
            version = applied.version,
            name = applied.name,
            statements = applied.statements,
            duration_ms = applied.duration.as_millis() as u64,
            "migration applied"
        );
        report.applied.push(applied);
    }
    report.elapsed = started.elapsed();
    info!(
        applied = report.applied.len(),
        skipped = report.skipped.len(),
        unknown = report.unknown.len(),
        elapsed_ms = report.elapsed.as_millis() as u64,
        "schema up to date"
    );
    Ok(report)
}

/// Recorded versions, by version; none before the first migration created the table.
async fn read_recorded(db: &Client) -> Result<BTreeMap<u32, Recorded>, StoreError> {
    let exists: u8 = db
        .query_raw("EXISTS TABLE schema_migrations")
        .fetch_one()
        .await?;
    if exists == 0 {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<Recorded> = db
        .query_raw(
            "SELECT version, min(applied_at), groupUniqArray(name), groupUniqArray(checksum) \
             FROM schema_migrations GROUP BY version ORDER BY version",
        )
        .fetch_all()
        .await?;
    Ok(rows.into_iter().map(|row| (row.version, row)).collect())
}

/// Runs a migration's statements in order, then records it.
async fn apply(
    db: &Client,
    migration: &Migration,
    checksum: &str,
    applied_by: &str,
) -> Result<AppliedMigration, StoreError> {
    let started = Instant::now();
    let statements = migration.statements();
    for (index, statement) in statements.iter().enumerate() {
        let result: Result<(), StoreError> = db
            .query_raw(&statement.text)
            .execute()
            .await
            .map_err(StoreError::from);
        match result {
            Ok(()) => {}
            Err(error) if statement.adds_column() && column_exists(&error) => {
                info!(
                    version = migration.version,
                    line = statement.line,
                    "column already added (an earlier run stopped before recording); going on"
                );
            }
            Err(error) => {
                return Err(StoreError::Migration {
                    file: migration.name,
                    statement: index + 1,
                    line: statement.line,
                    source: Box::new(error),
                })
            }
        }
    }
    let duration = started.elapsed();
    let record = MigrationRecord {
        version: migration.version,
        name: migration.name.to_owned(),
        checksum: checksum.to_owned(),
        applied_at: now_secs(),
        duration_ms: u32::try_from(duration.as_millis()).unwrap_or(u32::MAX),
        applied_by: applied_by.to_owned(),
    };
    let mut insert = db.insert::<MigrationRecord>("schema_migrations").await?;
    insert.write(&record).await?;
    insert.end().await?;
    Ok(AppliedMigration {
        version: migration.version,
        name: migration.name,
        statements: statements.len(),
        duration,
    })
}

/// "Column already exists": code 44 with that message on 18.x, 15 (`DUPLICATE_COLUMN`) on
/// current servers.
fn column_exists(error: &StoreError) -> bool {
    match error {
        StoreError::Refused { code: 15, .. } => true,
        StoreError::Refused { code: 44, message } => message.contains("already exists"),
        _ => false,
    }
}

/// Migrations must be numbered 1, 2, 3, ... with names `NNNN_<name>.sql`.
fn check_embedded(migrations: &[Migration]) -> Result<(), StoreError> {
    for (index, migration) in migrations.iter().enumerate() {
        let expected = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let prefix = format!("{expected:04}_");
        if migration.version != expected
            || !migration.name.starts_with(&prefix)
            || !migration.name.ends_with(".sql")
        {
            return Err(StoreError::Embedded(format!(
                "migration {} has version {}, expected {expected} ({prefix}<name>.sql)",
                migration.name, migration.version
            )));
        }
    }
    Ok(())
}

fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_the_check_script_does() {
        let text =
            "-- header\n\nCREATE TABLE a (x UInt8)\n-- inside; not an end;\nENGINE = Memory;\n\
                    \n-- second\nINSERT INTO a VALUES (1);  \nSELECT 'a;b' FROM a\n-- trailing\n";
        let statements = split_statements(text);
        assert_eq!(
            statements,
            vec![
                Statement {
                    line: 3,
                    text: "-- header\n\nCREATE TABLE a (x UInt8)\n-- inside; not an end;\n\
                           ENGINE = Memory"
                        .into()
                },
                Statement {
                    line: 8,
                    text: "-- second\nINSERT INTO a VALUES (1)".into()
                },
                Statement {
                    line: 9,
                    text: "SELECT 'a;b' FROM a\n-- trailing".into()
                },
            ]
        );
        // Only comments after the last `;`: no statement.
        assert_eq!(split_statements("SELECT 1;\n-- done\n").len(), 1);
    }

    #[test]
    fn shipped_files_are_numbered_and_split() {
        check_embedded(MIGRATIONS).unwrap();
        let counts: Vec<usize> = MIGRATIONS.iter().map(|m| m.statements().len()).collect();
        assert_eq!(counts, [1, 3, 4, 4]);
        for migration in MIGRATIONS {
            let checksum = migration.checksum();
            assert_eq!(checksum.len(), 64);
            assert!(checksum
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
        assert!(check_embedded(&[migration!(2, "0002_events.sql")]).is_err());
    }

    #[test]
    fn recognises_add_column() {
        let add = Statement {
            line: 1,
            text: "-- adds\nALTER TABLE events\n    add  column x UInt8 AFTER y".into(),
        };
        let create = Statement {
            line: 1,
            text: "-- we never ADD COLUMN here\nCREATE TABLE t (x UInt8) ENGINE = Memory".into(),
        };
        assert!(add.adds_column());
        assert!(!create.adds_column());
        let old = StoreError::Refused {
            code: 44,
            message: "Code: 44, e.displayText() = DB::Exception: Cannot add column x: column \
                      with this name already exists"
                .into(),
        };
        assert!(column_exists(&old));
        assert!(column_exists(&StoreError::Refused {
            code: 15,
            message: String::new()
        }));
        assert!(!column_exists(&StoreError::Refused {
            code: 44,
            message: "Illegal column".into()
        }));
    }
}
