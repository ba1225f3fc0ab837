//! The test ClickHouse server (`scripts/clickhouse.sh start`: Debian's 18.16 on 127.0.0.1,
//! HTTP port `SCEPWATCH_CLICKHOUSE_HTTP_PORT`, 8123 by default) and a throwaway database per
//! test.
//!
//! Include it from a test file with
//!
//! ```ignore
//! mod support {
//!     pub mod clickhouse;
//! }
//! ```
//!
//! A test starts with `let Some(db) = TestDb::create("my_test") else { return };`: when no
//! server answers, it prints a notice and the test returns, unless the environment says
//! `CI=true`, where it fails. The database (`scepwatch_test_<test>_<pid>_<nanos>`) is dropped
//! when the `TestDb` is, also when the test panics.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use scepwatch_analyzer::store::StoreConfig;

/// The HTTP port of the test server.
pub fn http_port() -> u16 {
    std::env::var("SCEPWATCH_CLICKHOUSE_HTTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8123)
}

/// `http://127.0.0.1:<port>`.
pub fn url() -> String {
    format!("http://127.0.0.1:{}", http_port())
}

/// Whether the environment is CI, where a missing server fails the test.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs `sql` over HTTP (POST, so DDL and inserts work), blocking, in the server's default
/// database. Returns the body of a 200 answer, or the status line and body.
pub fn http_post(sql: &str) -> Result<String, String> {
    post(None, sql)
}

/// `http_post` in `database` (`?database=`), or the default one.
fn post(database: Option<&str>, sql: &str) -> Result<String, String> {
    let address = format!("127.0.0.1:{}", http_port());
    let socket = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, Duration::from_secs(2))
        .map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let query = database
        .map(|d| format!("?database={d}"))
        .unwrap_or_default();
    // HTTP/1.0: the answer is not chunked and ends when the server closes the connection.
    let request = format!(
        "POST /{query} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {address}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read from {address}: {e}"))?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(body.to_owned())
    } else {
        Err(format!("{status}: {}", body.trim()))
    }
}

/// Whether a server answers `SELECT 1`.
pub fn server_answers() -> bool {
    http_post("SELECT 1").is_ok_and(|body| body.trim() == "1")
}

/// Whether a server answers; when none does, a notice (a panic when `CI=true`).
fn reachable(test: &str) -> bool {
    if server_answers() {
        return true;
    }
    let message = format!(
        "no ClickHouse server answers at {}; start one with scripts/clickhouse.sh start",
        url()
    );
    if in_ci() {
        panic!("{test}: {message}");
    }
    eprintln!("notice: {test} skipped: {message}");
    false
}

/// A database of its own for one test, dropped at the end.
pub struct TestDb {
    /// `scepwatch_test_<test>_<pid>_<nanos>`.
    pub name: String,
}

impl TestDb {
    /// A fresh name, not created (for tests of what creates it). `None` when no server answers.
    pub fn named(test: &str) -> Option<TestDb> {
        if !reachable(test) {
            return None;
        }
        let test: String = test
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Some(TestDb {
            name: format!("scepwatch_test_{test}_{}_{nanos}", std::process::id()),
        })
    }

    /// A fresh, empty database. `None` when no server answers.
    pub fn create(test: &str) -> Option<TestDb> {
        let db = TestDb::named(test)?;
        let sql = format!("CREATE DATABASE {}", db.name);
        http_post(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        Some(db)
    }

    /// The store configuration of this database on the test server (compression as the
    /// defaults say, short waits between attempts).
    pub fn config(&self) -> StoreConfig {
        StoreConfig {
            url: url(),
            database: self.name.clone(),
            retry_initial_ms: 50,
            retry_max_ms: 500,
            insert_timeout_secs: 10,
            ..StoreConfig::default()
        }
    }

    /// A client of this database.
    pub fn client(&self) -> clickhouse::Client {
        self.config().client().unwrap()
    }

    /// Runs a statement in this database (over HTTP, blocking); panics when it fails.
    pub fn exec(&self, sql: &str) -> String {
        self.try_exec(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement in this database (over HTTP, blocking).
    pub fn try_exec(&self, sql: &str) -> Result<String, String> {
        post(Some(&self.name), sql)
    }

    /// A query's one number.
    pub fn number(&self, sql: &str) -> u64 {
        let body = self.exec(sql);
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{sql}: {body:?}: {e}"))
    }

    /// The names of the tables and views in this database, sorted.
    pub fn tables(&self) -> Vec<String> {
        let body = http_post(&format!(
            "SELECT name FROM system.tables WHERE database = '{}' ORDER BY name",
            self.name
        ))
        .unwrap();
        body.lines().map(str::to_owned).collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Err(e) = http_post(&format!("DROP DATABASE IF EXISTS {}", self.name)) {
            eprintln!("notice: could not drop {}: {e}", self.name);
        }
    }
}

/// `scripts/clickhouse.sh <action>`; its exit status (0 ok, 3 not running for `status`).
pub fn script(action: &str) -> i32 {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/clickhouse.sh");
    let status = Command::new(&script)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    status.code().unwrap_or(-1)
}

/// The test server down for a moment. Other tests share the server: keep the outage short.
/// Dropping the guard starts the server again, also when the test panics.
pub struct Outage {
    started: Instant,
    ended: bool,
}

impl Outage {
    /// Stops the server with `scripts/clickhouse.sh <how>`: `stop` (SIGTERM, about 2 s) or
    /// `crash` (SIGKILL, at once). `None` (with a notice) when a server still answers
    /// afterwards: it was not started by the script, which stops only its own.
    pub fn begin(how: &str) -> Option<Outage> {
        let outage = Outage {
            started: Instant::now(),
            ended: false,
        };
        script(how);
        if server_answers() {
            eprintln!(
                "notice: the ClickHouse server at {} was not started by scripts/clickhouse.sh, \
                 which cannot stop it",
                url()
            );
            return None;
        }
        Some(outage)
    }

    /// Starts the server again and waits until it answers; returns how long it was down.
    pub fn end(mut self) -> Duration {
        self.restart();
        self.started.elapsed()
    }

    fn restart(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let code = script("start");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server_answers() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(code, 0, "scripts/clickhouse.sh start failed");
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.restart();
    }
}
