//! The ClickHouse server of the tests: the one `scripts/clickhouse.sh start` runs, reached over
//! HTTP on 127.0.0.1:8123 (`SCEPWATCH_CLICKHOUSE_URL` names another), a database of its own per
//! test, a few queries, and outages.
//!
//! A test that needs the server starts with `let Some(ch) = clickhouse::server() else { return
//! };`: without a server it prints `SKIPPED: …` and passes, except under `CI=true`, where it
//! fails (a skipped test proves nothing).
//!
//! Statements travel as the body of an HTTP/1.0 POST, settings as URL parameters
//! (docs/clickhouse.md: 18.16 takes no `SETTINGS` clause on inserts); results are read as
//! `TabSeparated`, the one text format both engines print alike.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{workspace_root, Error};

/// `SCEPWATCH_CLICKHOUSE_URL`, or `http://127.0.0.1:8123`.
pub fn url() -> String {
    std::env::var("SCEPWATCH_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".to_owned())
}

/// The server, or `None` (after printing why) when it does not answer and the run is not CI.
/// Under `CI=true` an absent server panics.
pub fn server() -> Option<ClickHouse> {
    let url = url();
    let why = match ClickHouse::at(&url) {
        Ok(ch) if ch.answers() => return Some(ch),
        Ok(_) => "nothing answers `SELECT 1`".to_owned(),
        Err(e) => e.to_string(),
    };
    let msg = format!(
        "no ClickHouse server at {url} ({why}): start it with `scripts/clickhouse.sh start` (or \
         set SCEPWATCH_CLICKHOUSE_URL)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI must not skip this test");
    }
    crate::announce(&format!("SKIPPED: {msg}"));
    None
}

/// A ClickHouse server's HTTP interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouse {
    url: String,
    addr: SocketAddr,
}

impl ClickHouse {
    /// The server at `url` (`http://host:port`; plain HTTP only).
    pub fn at(url: &str) -> Result<ClickHouse, Error> {
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Process(format!("{url}: only http:// URLs are supported")))?
            .trim_end_matches('/');
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| Error::io(format!("resolving {authority}"), e))?
            .next()
            .ok_or_else(|| Error::Process(format!("{authority} resolves to no address")))?;
        Ok(ClickHouse {
            url: format!("http://{authority}"),
            addr,
        })
    }

    /// Its URL (`http://host:port`), as the analyzer's configuration names it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True when it answers `SELECT 1`.
    pub fn answers(&self) -> bool {
        matches!(self.post(None, "SELECT 1"), Ok(body) if body.trim() == "1")
    }

    /// `SELECT version()`.
    pub fn version(&self) -> Result<String, Error> {
        Ok(self.post(None, "SELECT version()")?.trim().to_owned())
    }

    /// Runs one statement (DDL, `INSERT ... VALUES`, `OPTIMIZE`, ...).
    pub fn execute(&self, sql: &str) -> Result<(), Error> {
        self.post(None, sql).map(|_| ())
    }

    /// The rows of a query, each a list of its columns as text (`TabSeparated`, unescaped).
    pub fn query_rows(&self, sql: &str) -> Result<Vec<Vec<String>>, Error> {
        query_rows_in(self, None, sql)
    }

    /// The first column of the first row of a query as a number (`SELECT count() FROM ...`).
    pub fn count(&self, sql: &str) -> Result<u64, Error> {
        count_in(self, None, sql)
    }

    /// POSTs `sql` with `database` as the current database; the body of a 200 answer.
    fn post(&self, database: Option<&str>, sql: &str) -> Result<String, Error> {
        let what = || format!("ClickHouse at {}", self.url);
        let mut path = "/?wait_end_of_query=1".to_owned();
        if let Some(db) = database {
            path.push_str("&database=");
            path.push_str(db);
        }
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| Error::io(what(), e))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| Error::io(what(), e))?;
        let head = format!(
            "POST {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            sql.len()
        );
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(sql.as_bytes()))
            .map_err(|e| Error::io(what(), e))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| Error::io(what(), e))?;
        let text = String::from_utf8_lossy(&buf);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        if status != 200 {
            let first = sql.lines().next().unwrap_or_default();
            return Err(Error::Process(format!(
                "ClickHouse answered {status} to `{first}`: {}",
                body.trim()
            )));
        }
        Ok(body)
    }
}

fn query_rows_in(
    ch: &ClickHouse,
    database: Option<&str>,
    sql: &str,
) -> Result<Vec<Vec<String>>, Error> {
    let sql = format!("{} FORMAT TabSeparated", sql.trim().trim_end_matches(';'));
    let body = ch.post(database, &sql)?;
    Ok(body
        .lines()
        .map(|l| l.split('\t').map(unescape).collect())
        .collect())
}

fn count_in(ch: &ClickHouse, database: Option<&str>, sql: &str) -> Result<u64, Error> {
    let rows = query_rows_in(ch, database, sql)?;
    let cell = rows
        .first()
        .and_then(|r| r.first())
        .ok_or_else(|| Error::Process(format!("`{sql}` returned no row")))?;
    cell.parse()
        .map_err(|_| Error::Process(format!("`{sql}` returned {cell:?}, not a count")))
}

/// A `TabSeparated` field as it was: `\t`, `\n`, `\\` and the other escapes undone.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A database name no other test or run uses: `scepwatch_test_<test>_<pid>_<nanos>`, the test's
/// name reduced to lower-case letters, digits and `_`.
pub fn fresh_database_name(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let test: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("scepwatch_test_{test}_{}_{nanos}", std::process::id())
}

/// One test's database, dropped when this is dropped, unless `SCEPWATCH_E2E_KEEP=1` or the test
/// failed (then its name is printed). It is not created here: the analyzer creates its database
/// when it starts; [`TestDatabase::create`] does it for tests that write before.
pub struct TestDatabase {
    server: ClickHouse,
    name: String,
}

impl TestDatabase {
    /// A fresh name ([`fresh_database_name`]) on `server`.
    pub fn new(server: &ClickHouse, test: &str) -> TestDatabase {
        TestDatabase {
            server: server.clone(),
            name: fresh_database_name(test),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server.
    pub fn server(&self) -> &ClickHouse {
        &self.server
    }

    /// `CREATE DATABASE IF NOT EXISTS`.
    pub fn create(&self) -> Result<(), Error> {
        self.server
            .execute(&format!("CREATE DATABASE IF NOT EXISTS {}", self.name))
    }

    /// True when the database exists.
    pub fn exists(&self) -> Result<bool, Error> {
        Ok(self.server.count(&format!(
            "SELECT count() FROM system.databases WHERE name = '{}'",
            self.name
        ))? > 0)
    }

    /// Runs one statement with this database as the current one.
    pub fn execute(&self, sql: &str) -> Result<(), Error> {
        self.server.post(Some(&self.name), sql).map(|_| ())
    }

    /// [`ClickHouse::query_rows`] with this database as the current one.
    pub fn query_rows(&self, sql: &str) -> Result<Vec<Vec<String>>, Error> {
        query_rows_in(&self.server, Some(&self.name), sql)
    }

    /// [`ClickHouse::count`] with this database as the current one.
    pub fn count(&self, sql: &str) -> Result<u64, Error> {
        count_in(&self.server, Some(&self.name), sql)
    }

    /// Rows of `table` (`SELECT count() FROM table`, before merges: duplicates included).
    pub fn rows(&self, table: &str) -> Result<u64, Error> {
        self.count(&format!("SELECT count() FROM {table}"))
    }

    /// Rows of `table` after deduplication (`SELECT count() FROM table FINAL`).
    pub fn rows_final(&self, table: &str) -> Result<u64, Error> {
        self.count(&format!("SELECT count() FROM {table} FINAL"))
    }

    /// `DROP DATABASE IF EXISTS` now.
    pub fn drop_now(&self) -> Result<(), Error> {
        self.server
            .execute(&format!("DROP DATABASE IF EXISTS {}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let keep = std::env::var("SCEPWATCH_E2E_KEEP").is_ok_and(|v| v == "1");
        if keep || std::thread::panicking() {
            crate::announce(&format!("keeping ClickHouse database {}", self.name));
            return;
        }
        if let Err(e) = self.drop_now() {
            crate::announce(&format!("could not drop database {}: {e}", self.name));
        }
    }
}

/// The command that stops and starts the server: `SCEPWATCH_CLICKHOUSE_CONTROL`, or the
/// workspace's `scripts/clickhouse.sh`. It is run as `<command> stop`, `<command> crash` and
/// `<command> start`.
pub fn control_command() -> PathBuf {
    std::env::var_os("SCEPWATCH_CLICKHOUSE_CONTROL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("scripts/clickhouse.sh"))
}

fn control(action: &str) -> Result<(), Error> {
    let cmd = control_command();
    let status = Command::new(&cmd)
        .arg(action)
        .status()
        .map_err(|e| Error::io(format!("running {} {action}", cmd.display()), e))?;
    if !status.success() {
        return Err(Error::Process(format!(
            "`{} {action}` failed ({status})",
            cmd.display()
        )));
    }
    Ok(())
}

/// Starts the server (`<control> start`) and waits until `server` answers (60 s at most).
pub fn start(server: &ClickHouse) -> Result<(), Error> {
    control("start")?;
    crate::wait_until(
        &format!("ClickHouse answering at {} after start", server.url()),
        Duration::from_secs(60),
        || server.answers(),
    )
}

/// A ClickHouse outage: the server is down while this lives, started again by
/// [`Outage::end`] (or when dropped, so a failing test does not leave the machine without it).
///
/// The server is shared by every test running at the time; a test with an outage should run
/// alone (`#[ignore]`, run with `--ignored --test-threads=1`, as the broker outage is).
pub struct Outage {
    server: ClickHouse,
    started: Instant,
    ended: bool,
}

impl Outage {
    /// Stops the server gracefully (`<control> stop`: SIGTERM, about 2 s) and checks that it no
    /// longer answers.
    pub fn stop(server: &ClickHouse) -> Result<Outage, Error> {
        Outage::begin(server, "stop")
    }

    /// Kills the server (`<control> crash`: SIGKILL) and checks that it no longer answers.
    pub fn crash(server: &ClickHouse) -> Result<Outage, Error> {
        Outage::begin(server, "crash")
    }

    fn begin(server: &ClickHouse, action: &str) -> Result<Outage, Error> {
        control(action)?;
        let outage = Outage {
            server: server.clone(),
            started: Instant::now(),
            ended: false,
        };
        let deadline = Instant::now() + Duration::from_secs(40);
        while server.answers() {
            if Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "ClickHouse still answers at {} after `{} {action}`: it was not started by \
                     that command, so it cannot be stopped for this test",
                    server.url(),
                    control_command().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(outage)
    }

    /// How long the server has been down.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts the server again and waits until it answers.
    pub fn end(mut self) -> Result<(), Error> {
        self.ended = true;
        start(&self.server)
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.ended {
            if let Err(e) = start(&self.server) {
                crate::announce(&format!(
                    "could not start ClickHouse again after an outage: {e}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_separated_fields_are_unescaped() {
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r"a\tb\nc\\d"), "a\tb\nc\\d");
        assert_eq!(unescape(r"it\'s"), "it's");
    }

    #[test]
    fn database_names_are_identifiers() {
        let n = fresh_database_name("Kill-9 test");
        assert!(n.starts_with("scepwatch_test_kill_9_test_"));
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }

    #[test]
    fn urls_name_host_and_port() {
        let ch = ClickHouse::at("http://127.0.0.1:8123/").unwrap();
        assert_eq!(ch.url(), "http://127.0.0.1:8123");
        assert!(ClickHouse::at("https://127.0.0.1:8443").is_err());
    }

    #[test]
    fn a_test_database_is_created_queried_and_dropped() {
        let Some(ch) = server() else {
            return;
        };
        let db = TestDatabase::new(&ch, "helper");
        assert!(!db.exists().unwrap());
        db.create().unwrap();
        db.execute(
            "CREATE TABLE t (id UInt64, text String, v UInt32) \
             ENGINE = ReplacingMergeTree(v) ORDER BY id",
        )
        .unwrap();
        db.execute("INSERT INTO t VALUES (1, 'a\\tb', 1), (1, 'a\\tb', 2), (2, 'line\\n2', 1)")
            .unwrap();
        assert_eq!(db.rows("t").unwrap(), 3);
        assert_eq!(db.rows_final("t").unwrap(), 2);
        let rows = db
            .query_rows("SELECT id, text, v FROM t FINAL ORDER BY id")
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["1".to_owned(), "a\tb".to_owned(), "2".to_owned()],
                vec!["2".to_owned(), "line\n2".to_owned(), "1".to_owned()],
            ]
        );
        let err = db.execute("SELECT nosuchfunction()").unwrap_err();
        assert!(err.to_string().contains("nosuchfunction"), "{err}");
        let name = db.name().to_owned();
        drop(db);
        assert_eq!(
            ch.count(&format!(
                "SELECT count() FROM system.databases WHERE name = '{name}'"
            ))
            .unwrap(),
            0
        );
    }
}
