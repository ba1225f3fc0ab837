//! The analyzer service's TOML configuration, parsed and checked at load so that a mistake is
//! reported once, at start (or by `scepwatch-analyzer validate`), naming the field.
//!
//! [`EXAMPLE`] is the annotated example (`scepwatch-analyzer --print-config-example`); every
//! key in it is optional except where it says so.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::engine::EngineConfig;
use crate::spike::SpikeConfig;
use crate::store::StoreConfig;

/// Default Kafka topic of events (the ingestor's default).
pub const DEFAULT_TOPIC: &str = "scepwatch.events.v1";
/// Default consumer group.
pub const DEFAULT_GROUP: &str = "scepwatch-analyzer";
/// Default address of `/healthz`, `/readyz` and `/metrics`.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9466";

/// librdkafka properties the service sets itself: its offset handling depends on them.
pub const RESERVED_KAFKA_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
];

/// The annotated example configuration.
pub const EXAMPLE: &str = r#"# scepwatch-analyzer configuration. Every key is optional unless marked "required".

[kafka]
# Brokers of the events topic (required).
bootstrap_servers = "127.0.0.1:9092"
topic = "scepwatch.events.v1"
# Every analyzer of one fleet joins this consumer group; partitions are shared among them.
group_id = "scepwatch-analyzer"
# Extra librdkafka consumer properties. The service sets bootstrap.servers, group.id and turns
# automatic commits off itself: it commits an offset only once everything before it is stored
# and no longer needed (docs/analyzer.md).
[kafka.properties]
"auto.offset.reset" = "earliest"
"session.timeout.ms" = "30000"

[clickhouse]
url = "http://127.0.0.1:8123"
database = "scepwatch"
# user = "scepwatch"
# password = "..."
# Keep raw events (and rejects) this many days; left out: for ever. A table TTL on ClickHouse
# 19.6+, whole months dropped on older servers (docs/analyzer.md).
# raw_retention_days = 90

[engine]
# A side's events further apart than this start a new attempt.
attempt_gap_secs = 300
# Device/server clock skew plus latency tolerated by the fallback join.
join_window_secs = 120
# How close a w3wp.exe crash must be to a 503 to explain it.
crash_window_secs = 600
# Width of the buckets of server- and endpoint-scope diagnoses.
aggregate_window_secs = 3600
# An attempt still open this far behind its servers' newest progress (event time) is concluded
# anyway: a device log that went quiet does not hold its endpoint's state for ever. 0: never.
stall_timeout_secs = 7200
# Emit what the engine holds once nothing has arrived on a partition for this long (wall
# clock) and it has been read to its end: the last attempts of a server that went quiet are not
# held until its next request.
idle_finish_secs = 300

# Hosts whose IIS events name no endpoint, mapped to the SCEP endpoint they serve.
[engine.server_endpoints]
# "ndes01.contoso.com" = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"

[spike]
# One-minute buckets in the rolling baseline.
baseline_minutes = 60
# Fewer errors than this in a minute are never a spike.
min_errors_per_minute = 10

[service]
http_listen = "127.0.0.1:9466"
# Results are stored (and offsets committed) at least this often...
flush_interval_ms = 500
# ...or whenever this many events wait.
flush_events = 50000
# When ClickHouse took longer than flush_interval_ms to store the last flush, the next one
# waits up to this long (or for flush_events): fewer, larger INSERTs cost ClickHouse far less.
busy_flush_interval_ms = 2000
# On SIGTERM: the time given to store the last batch and commit.
shutdown_secs = 30
"#;

/// The service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Kafka.
    pub kafka: KafkaConfig,
    /// ClickHouse.
    pub clickhouse: StoreConfig,
    /// The engine's tolerances.
    pub engine: EngineConfig,
    /// Wall-clock idleness after which a partition's engine emits what it holds.
    pub idle_finish: Duration,
    /// The spike detector's parameters.
    pub spike: SpikeConfig,
    /// Address of the health and metrics endpoints.
    pub http_listen: SocketAddr,
    /// Longest time between stores.
    pub flush_interval: Duration,
    /// Events that trigger a store before the interval.
    pub flush_events: usize,
    /// Longest time between stores while ClickHouse takes longer than `flush_interval` to
    /// store one.
    pub busy_flush_interval: Duration,
    /// Time given to the last store at shutdown.
    pub shutdown: Duration,
}

/// Kafka settings.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The events topic.
    pub topic: String,
    /// `group.id`.
    pub group_id: String,
    /// Extra librdkafka properties.
    pub properties: BTreeMap<String, String>,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {cause}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A value is wrong, missing or unknown.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file (or the name given to [`Config::from_toml`]).
        file: String,
        /// Dotted path of the field (`engine.attempt_gap_secs`), `.` for the whole file.
        field: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    kafka: RawKafka,
    #[serde(default)]
    clickhouse: StoreConfig,
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    spike: RawSpike,
    #[serde(default)]
    service: RawService,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    bootstrap_servers: String,
    #[serde(default = "default_topic")]
    topic: String,
    #[serde(default = "default_group")]
    group_id: String,
    #[serde(default)]
    properties: BTreeMap<String, PropertyValue>,
}

/// A librdkafka property: TOML strings, integers and booleans are all accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Text(s) => f.write_str(s),
            PropertyValue::Int(i) => write!(f, "{i}"),
            PropertyValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEngine {
    attempt_gap_secs: u64,
    join_window_secs: u64,
    crash_window_secs: u64,
    aggregate_window_secs: u64,
    stall_timeout_secs: u64,
    idle_finish_secs: u64,
    server_endpoints: BTreeMap<String, String>,
}

impl Default for RawEngine {
    fn default() -> Self {
        let d = EngineConfig::default();
        RawEngine {
            attempt_gap_secs: (d.attempt_gap_us / 1_000_000) as u64,
            join_window_secs: (d.join_window_us / 1_000_000) as u64,
            crash_window_secs: (d.crash_window_us / 1_000_000) as u64,
            aggregate_window_secs: (d.aggregate_window_us / 1_000_000) as u64,
            stall_timeout_secs: 7200,
            idle_finish_secs: 300,
            server_endpoints: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSpike {
    baseline_minutes: u32,
    min_errors_per_minute: u64,
}

impl Default for RawSpike {
    fn default() -> Self {
        let d = SpikeConfig::default();
        RawSpike {
            baseline_minutes: d.baseline_minutes,
            min_errors_per_minute: d.min_errors_per_minute,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawService {
    http_listen: String,
    flush_interval_ms: u64,
    flush_events: u64,
    busy_flush_interval_ms: u64,
    shutdown_secs: u64,
}

impl Default for RawService {
    fn default() -> Self {
        RawService {
            http_listen: DEFAULT_HTTP_LISTEN.to_string(),
            flush_interval_ms: 500,
            flush_events: 50_000,
            busy_flush_interval_ms: 2000,
            shutdown_secs: 30,
        }
    }
}

fn default_topic() -> String {
    DEFAULT_TOPIC.to_string()
}

fn default_group() -> String {
    DEFAULT_GROUP.to_string()
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            file: file.clone(),
            cause,
        })?;
        Config::from_toml(&text, &file)
    }

    /// Parses and checks `text`; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            file: file.to_string(),
            field: field.to_string(),
            message,
        };
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| invalid(".", e.to_string().trim_end().replace('\n', " ")))?;
        let raw: Raw = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            invalid(&field, e.inner().message().to_string())
        })?;
        raw.check()
            .map_err(|(field, message)| invalid(field, message))
    }
}

type Check<T> = Result<T, (&'static str, String)>;

fn within(field: &'static str, v: u64, lo: u64, hi: u64) -> Check<u64> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err((field, format!("{v} is outside {lo}..={hi}")))
    }
}

fn secs_us(field: &'static str, v: u64, lo: u64, hi: u64) -> Check<i64> {
    Ok(within(field, v, lo, hi)? as i64 * 1_000_000)
}

impl Raw {
    fn check(self) -> Check<Config> {
        let k = self.kafka;
        if k.bootstrap_servers.trim().is_empty() {
            return Err((
                "kafka.bootstrap_servers",
                "must name at least one broker".into(),
            ));
        }
        if k.topic.is_empty() || k.topic.len() > 249 {
            return Err(("kafka.topic", "must be 1 to 249 characters".into()));
        }
        if k.group_id.is_empty() {
            return Err(("kafka.group_id", "must not be empty".into()));
        }
        let mut properties = BTreeMap::new();
        for (key, value) in k.properties {
            if RESERVED_KAFKA_PROPERTIES.contains(&key.as_str()) {
                return Err((
                    "kafka.properties",
                    format!("\"{key}\" is set by the service (use the [kafka] keys)"),
                ));
            }
            properties.insert(key, value.to_string());
        }
        let e = self.engine;
        let mut server_endpoints = BTreeMap::new();
        for (host, ep) in e.server_endpoints {
            if host.is_empty() || ep.is_empty() {
                return Err((
                    "engine.server_endpoints",
                    "hosts and endpoints must not be empty".into(),
                ));
            }
            server_endpoints.insert(host.to_ascii_lowercase(), ep);
        }
        let engine = EngineConfig {
            attempt_gap_us: secs_us("engine.attempt_gap_secs", e.attempt_gap_secs, 1, 86_400)?,
            join_window_us: secs_us("engine.join_window_secs", e.join_window_secs, 0, 86_400)?,
            crash_window_us: secs_us("engine.crash_window_secs", e.crash_window_secs, 0, 86_400)?,
            aggregate_window_us: secs_us(
                "engine.aggregate_window_secs",
                e.aggregate_window_secs,
                60,
                7 * 86_400,
            )?,
            stall_timeout_us: match e.stall_timeout_secs {
                0 => None,
                s => Some(secs_us("engine.stall_timeout_secs", s, 60, 30 * 86_400)?),
            },
            server_endpoints,
            ..EngineConfig::default()
        };
        let idle_finish = Duration::from_secs(within(
            "engine.idle_finish_secs",
            e.idle_finish_secs,
            1,
            7 * 86_400,
        )?);
        let s = self.spike;
        let spike = SpikeConfig {
            baseline_minutes: within("spike.baseline_minutes", s.baseline_minutes.into(), 5, 1440)?
                as u32,
            min_errors_per_minute: within(
                "spike.min_errors_per_minute",
                s.min_errors_per_minute,
                1,
                1_000_000,
            )?,
            ..SpikeConfig::default()
        };
        let v = self.service;
        let flush_interval = Duration::from_millis(within(
            "service.flush_interval_ms",
            v.flush_interval_ms,
            10,
            60_000,
        )?);
        let http_listen = v.http_listen.parse().map_err(|e| {
            (
                "service.http_listen",
                format!("{:?} is not an address:port ({e})", v.http_listen),
            )
        })?;
        Ok(Config {
            kafka: KafkaConfig {
                bootstrap_servers: k.bootstrap_servers,
                topic: k.topic,
                group_id: k.group_id,
                properties,
            },
            clickhouse: self.clickhouse,
            engine,
            idle_finish,
            spike,
            http_listen,
            flush_interval,
            flush_events: within("service.flush_events", v.flush_events, 1, 10_000_000)? as usize,
            busy_flush_interval: Duration::from_millis(within(
                "service.busy_flush_interval_ms",
                v.busy_flush_interval_ms,
                v.flush_interval_ms.max(10),
                600_000,
            )?),
            shutdown: Duration::from_secs(within(
                "service.shutdown_secs",
                v.shutdown_secs,
                1,
                3600,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_loads_with_its_documented_values() {
        let c = Config::from_toml(EXAMPLE, "example.toml").unwrap();
        assert_eq!(c.kafka.topic, DEFAULT_TOPIC);
        assert_eq!(c.kafka.group_id, DEFAULT_GROUP);
        assert_eq!(c.kafka.properties["auto.offset.reset"], "earliest");
        assert_eq!(c.engine.attempt_gap_us, 300_000_000);
        assert_eq!(c.idle_finish, Duration::from_secs(300));
        assert_eq!(c.flush_interval, Duration::from_millis(500));
        assert_eq!(c.busy_flush_interval, Duration::from_millis(2000));
        assert_eq!(c.http_listen.to_string(), DEFAULT_HTTP_LISTEN);
    }

    #[test]
    fn the_smallest_file_names_only_the_brokers() {
        let c = Config::from_toml("[kafka]\nbootstrap_servers = \"k1:9092\"\n", "a.toml").unwrap();
        assert_eq!(c.kafka.bootstrap_servers, "k1:9092");
        assert_eq!(c.flush_events, 50_000);
        assert_eq!(
            c.engine,
            EngineConfig {
                stall_timeout_us: Some(7_200_000_000),
                ..EngineConfig::default()
            }
        );
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let cases = [
            ("", "."),
            (
                "[kafka]\nbootstrap_servers = \"k\"\n[engine]\nattempt_gap_secs = 0\n",
                "engine.attempt_gap_secs",
            ),
            (
                "[kafka]\nbootstrap_servers = \"k\"\n[engine]\nattempt_gap = 5\n",
                "engine",
            ),
            (
                "[kafka]\nbootstrap_servers = \"k\"\n[kafka.properties]\n\"group.id\" = \"x\"\n",
                "kafka.properties",
            ),
            (
                "[kafka]\nbootstrap_servers = \"k\"\n[service]\nhttp_listen = \"nowhere\"\n",
                "service.http_listen",
            ),
            (
                "[kafka]\nbootstrap_servers = \"k\"\n[service]\nflush_interval_ms = 800\nbusy_flush_interval_ms = 700\n",
                "service.busy_flush_interval_ms",
            ),
            ("[kafka\n", "."),
        ];
        for (text, field) in cases {
            let e = Config::from_toml(text, "a.toml").unwrap_err();
            let shown = e.to_string();
            assert!(shown.starts_with("a.toml: "), "{shown}");
            if text.is_empty() {
                assert!(shown.contains("missing field `kafka`"), "{shown}");
            }
            match e {
                ConfigError::Invalid { field: f, .. } => {
                    assert!(
                        f == field || f.starts_with(field),
                        "{text:?}: field {f}, want {field}: {shown}"
                    )
                }
                other => panic!("{other}"),
            }
        }
    }
}
