//! The `[clickhouse]` section of the service's configuration, and the client built from it.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::error::StoreError;
use super::writer::RetryPolicy;

/// Where and how the service reaches ClickHouse (the `[clickhouse]` section).
///
/// ```toml
/// [clickhouse]
/// url = "http://127.0.0.1:8123"
/// database = "scepwatch"
/// # user = "scepwatch"
/// # password = "..."
/// insert_timeout_secs = 30
/// retry_initial_ms = 200
/// retry_max_ms = 10000
/// compression = true
/// ```
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The server's HTTP interface, `http://host:port` (8123 by default). HTTPS needs a TLS
    /// terminator in front: the client is built without TLS.
    pub url: String,
    /// The database the service creates, migrates and writes; letters, digits and `_`.
    pub database: String,
    /// The user; the server's `default` when absent.
    pub user: Option<String>,
    /// The user's password, if it has one.
    pub password: Option<String>,
    /// Longest time one INSERT may take to send its rows, and then to be answered.
    pub insert_timeout_secs: u64,
    /// Wait before the second attempt of a failed insert; it doubles at each further attempt.
    pub retry_initial_ms: u64,
    /// Longest wait between two attempts.
    pub retry_max_ms: u64,
    /// Compress inserted rows with LZ4 (ClickHouse's block framing, `decompress=1`).
    pub compression: bool,
    /// Days raw rows (`events`, `rejects`) are kept; absent: for ever. A TTL on servers that
    /// have them (19.6+), whole monthly partitions dropped on older ones
    /// ([`super::retention`]).
    pub raw_retention_days: Option<u32>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "scepwatch".into(),
            user: None,
            password: None,
            insert_timeout_secs: 30,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            compression: true,
            raw_retention_days: None,
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("insert_timeout_secs", &self.insert_timeout_secs)
            .field("retry_initial_ms", &self.retry_initial_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("compression", &self.compression)
            .field("raw_retention_days", &self.raw_retention_days)
            .finish()
    }
}

impl StoreConfig {
    /// Checks the values a client cannot work with.
    pub fn validate(&self) -> Result<(), StoreError> {
        let rest = self.url.strip_prefix("http://").ok_or_else(|| {
            StoreError::Config(format!(
                "clickhouse.url must start with http:// (got {:?}); the client has no TLS",
                self.url
            ))
        })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(StoreError::Config(format!(
                "clickhouse.url has no host: {:?}",
                self.url
            )));
        }
        check_identifier("clickhouse.database", &self.database)?;
        if self.raw_retention_days == Some(0) {
            return Err(StoreError::Config(
                "clickhouse.raw_retention_days must be at least 1 (leave it out to keep raw rows)"
                    .into(),
            ));
        }
        if self.insert_timeout_secs == 0 {
            return Err(StoreError::Config(
                "clickhouse.insert_timeout_secs must be at least 1".into(),
            ));
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err(StoreError::Config(format!(
                "clickhouse.retry_initial_ms ({}) must be at least 1 and at most retry_max_ms ({})",
                self.retry_initial_ms, self.retry_max_ms
            )));
        }
        Ok(())
    }

    /// A client of the configured server and database.
    ///
    /// Schema validation is off: it needs the `RowBinaryWithNamesAndTypes` format, which
    /// ClickHouse 18.x lacks (inserts go as Native blocks, [`super::writer::Writer`]; tests read
    /// rows back as plain `RowBinary`). The database need not exist yet:
    /// [`super::migrate::migrate`] creates it.
    pub fn client(&self) -> Result<clickhouse::Client, StoreError> {
        self.validate()?;
        let mut client = clickhouse::Client::default()
            .with_url(self.url.trim_end_matches('/'))
            .with_database(&self.database)
            .with_validation(false)
            .with_product_info("scepwatch-analyzer", env!("CARGO_PKG_VERSION"))
            .with_compression(if self.compression {
                clickhouse::Compression::Lz4
            } else {
                clickhouse::Compression::None
            });
        if let Some(user) = &self.user {
            client = client.with_user(user);
        }
        if let Some(password) = &self.password {
            client = client.with_password(password);
        }
        Ok(client)
    }

    /// The longest time of one INSERT.
    pub fn insert_timeout(&self) -> Duration {
        Duration::from_secs(self.insert_timeout_secs)
    }

    /// The writer's waits between attempts.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(self.retry_initial_ms),
            max: Duration::from_millis(self.retry_max_ms),
            insert_timeout: self.insert_timeout(),
        }
    }
}

/// Database and table names the store puts into SQL text: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn check_identifier(what: &str, name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 200 {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "{what} must be letters, digits and _ (not starting with a digit), got {name:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_from_toml() {
        let config: StoreConfig = toml::from_str("").unwrap();
        assert_eq!(config.url, "http://127.0.0.1:8123");
        assert_eq!(config.database, "scepwatch");
        config.validate().unwrap();

        let config: StoreConfig = toml::from_str(
            "url = \"http://ch.example:8123/\"\ndatabase = \"scep_1\"\nuser = \"w\"\n\
             password = \"secret\"\ncompression = false\nretry_max_ms = 500\n",
        )
        .unwrap();
        assert!(!config.compression);
        assert_eq!(config.retry_policy().max, Duration::from_millis(500));
        assert!(!format!("{config:?}").contains("secret"));
        config.client().unwrap();

        assert!(toml::from_str::<StoreConfig>("db = \"x\"").is_err());
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let bad = [
            StoreConfig {
                url: "https://ch.example:8443".into(),
                ..StoreConfig::default()
            },
            StoreConfig {
                url: "http://".into(),
                ..StoreConfig::default()
            },
            StoreConfig {
                database: "scep-watch".into(),
                ..StoreConfig::default()
            },
            StoreConfig {
                database: "1db".into(),
                ..StoreConfig::default()
            },
            StoreConfig {
                retry_initial_ms: 20_000,
                ..StoreConfig::default()
            },
        ];
        for config in bad {
            assert!(
                matches!(config.client(), Err(StoreError::Config(_))),
                "{config:?}"
            );
        }
    }
}
