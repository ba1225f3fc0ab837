//! The store's errors, and which of them a retry can cure.

use std::time::Duration;

/// Why a store operation failed.
///
/// [`StoreError::is_transient`] says whether trying again later can succeed: an unreachable or
/// overloaded server can come back, a refused statement (unknown table, a row that does not
/// match its table, missing rights) fails the same way every time.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `[clickhouse]` configuration cannot be used.
    #[error("invalid ClickHouse configuration: {0}")]
    Config(String),
    /// The server could not be reached, timed out, or answered with an error that passes
    /// (overload, memory limit, shutting down, an HTTP 5xx without a ClickHouse error code).
    #[error("ClickHouse is unavailable: {0}")]
    Unavailable(#[source] clickhouse::error::Error),
    /// The server refused the statement: a schema or data error, or missing rights. Retrying
    /// cannot help; a writer stops and the caller keeps its input for a fixed release.
    #[error("ClickHouse refused the statement (code {code}): {message}")]
    Refused {
        /// The ClickHouse error code (`Code: N` of the answer); 0 when the answer had none.
        code: u32,
        /// The server's message, as it sent it.
        message: String,
    },
    /// The client could not build or encode the request (a row that does not serialize, an
    /// invalid URL); retrying cannot help.
    #[error("ClickHouse client error: {0}")]
    Client(#[source] clickhouse::error::Error),
    /// Rows could not be put into their table's columns (the row type and the table differ),
    /// or the table has a column of a type the writer does not write; retrying cannot help.
    #[error("rows for {table} cannot be encoded: {source}")]
    Encode {
        /// The table.
        table: String,
        /// What does not match.
        #[source]
        source: super::native::NativeError,
    },
    /// A migration recorded in `schema_migrations` has another checksum than the file this
    /// program ships: a released migration was edited, which is never allowed.
    #[error(
        "migration {file} was changed after it was applied: the database recorded checksum {}, \
         this program ships {shipped}",
        recorded.join(", ")
    )]
    EditedMigration {
        /// The file name, e.g. `0002_events.sql`.
        file: &'static str,
        /// Its version (the `NNNN` of the name).
        version: u32,
        /// The checksums the database recorded for that version.
        recorded: Vec<String>,
        /// The lower-case hex SHA-256 of the shipped file.
        shipped: String,
    },
    /// A statement of a migration failed; nothing after it ran, and the file is not recorded.
    #[error("migration {file}, statement {statement} (line {line}): {source}")]
    Migration {
        /// The file name.
        file: &'static str,
        /// The statement's number in the file, from 1.
        statement: usize,
        /// The line of the file where the statement starts.
        line: usize,
        /// What the server said.
        #[source]
        source: Box<StoreError>,
    },
    /// The embedded migration files are not numbered 1, 2, 3, ... (a packaging error).
    #[error("embedded migrations are inconsistent: {0}")]
    Embedded(String),
    /// The caller stopped a retrying insert (shutdown, deadline) before it succeeded. The rows
    /// may or may not be stored: the caller must keep them (not commit their offsets).
    #[error(
        "gave up inserting {rows} rows into {table} after {attempts} attempts in {elapsed:?}: {last}"
    )]
    GaveUp {
        /// The table.
        table: String,
        /// How many rows the batch held.
        rows: usize,
        /// How many attempts were made.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The error of the last attempt.
        #[source]
        last: Box<StoreError>,
    },
}

/// ClickHouse error codes after which the same request can succeed later.
const TRANSIENT_CODES: &[u32] = &[
    159,  // TIMEOUT_EXCEEDED
    160,  // TOO_SLOW
    202,  // TOO_MANY_SIMULTANEOUS_QUERIES
    203,  // NO_FREE_CONNECTION
    209,  // SOCKET_TIMEOUT
    210,  // NETWORK_ERROR
    236,  // ABORTED
    241,  // MEMORY_LIMIT_EXCEEDED
    242,  // TABLE_IS_READ_ONLY
    252,  // TOO_MANY_PARTS
    285,  // TOO_FEW_LIVE_REPLICAS
    319,  // UNKNOWN_STATUS_OF_INSERT
    394,  // QUERY_WAS_CANCELLED
    425,  // SYSTEM_ERROR
    439,  // CANNOT_SCHEDULE_TASK
    473,  // DEADLOCK_AVOIDED
    999,  // KEEPER_EXCEPTION
    1000, // POCO_EXCEPTION (socket errors inside the server)
];

impl StoreError {
    /// Whether trying the same request again later can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Migration { source, .. } => source.is_transient(),
            StoreError::GaveUp { .. }
            | StoreError::Config(_)
            | StoreError::Refused { .. }
            | StoreError::Client(_)
            | StoreError::Encode { .. }
            | StoreError::EditedMigration { .. }
            | StoreError::Embedded(_) => false,
        }
    }

    /// The ClickHouse error code of a refused statement (also inside a failed migration).
    pub fn code(&self) -> Option<u32> {
        match self {
            StoreError::Refused { code, .. } => Some(*code),
            StoreError::Migration { source, .. } => source.code(),
            _ => None,
        }
    }
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(error: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error as E;
        match error {
            E::Network(_) | E::TimedOut => StoreError::Unavailable(error),
            E::BadResponse(message) => classify_response(message),
            // A response cut short or undecodable: the connection broke mid-answer.
            E::Decompression(_) => StoreError::Unavailable(error),
            _ => StoreError::Client(error),
        }
    }
}

/// Sorts a server's error answer into passing trouble and refusals.
fn classify_response(message: String) -> StoreError {
    match response_code(&message) {
        Some(code) if TRANSIENT_CODES.contains(&code) => {
            StoreError::Unavailable(clickhouse::error::Error::BadResponse(message))
        }
        Some(code) => StoreError::Refused { code, message },
        // No ClickHouse code: an HTTP status from the server or a proxy in front of it.
        None => {
            let status = message
                .split_whitespace()
                .next()
                .and_then(|word| word.parse::<u16>().ok());
            match status {
                Some(400..=499) => StoreError::Refused { code: 0, message },
                _ => StoreError::Unavailable(clickhouse::error::Error::BadResponse(message)),
            }
        }
    }
}

/// The `N` of `Code: N` in a ClickHouse error answer: `Code: 60, e.displayText() = ...` (18.x),
/// `Code: 60. DB::Exception: ...` (current servers).
pub(crate) fn response_code(message: &str) -> Option<u32> {
    let at = message.find("Code: ")? + "Code: ".len();
    let digits: &str = &message[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(message: &str) -> StoreError {
        StoreError::from(clickhouse::error::Error::BadResponse(message.into()))
    }

    #[test]
    fn codes_of_both_server_generations() {
        let old =
            "Code: 60, e.displayText() = DB::Exception: Table scepwatch.nope doesn't exist., \
                   e.what() = DB::Exception";
        let new = "Code: 60. DB::Exception: Table scepwatch.nope does not exist. (UNKNOWN_TABLE) \
                   (version 26.9.2.1 (official build))";
        for message in [old, new] {
            let error = refused(message);
            assert_eq!(error.code(), Some(60));
            assert!(!error.is_transient());
        }
        assert_eq!(response_code("Code: 241"), Some(241));
        assert_eq!(response_code("no code here"), None);
    }

    #[test]
    fn overload_and_gateway_errors_pass() {
        let memory = refused("Code: 241, e.displayText() = DB::Exception: Memory limit exceeded");
        assert!(memory.is_transient());
        assert!(refused("503 Service Unavailable").is_transient());
        assert!(refused("502 Bad Gateway").is_transient());
        assert!(!refused("401 Unauthorized").is_transient());
        assert!(StoreError::from(clickhouse::error::Error::TimedOut).is_transient());
    }
}
