//! The ingestor's TOML configuration: parsed, bounded and checked at load, so a mistake is
//! reported once, at start (or by `scepwatch-ingestor validate`), with the file, line and field.
//!
//! [`Config::load`] reads a file; [`Config::from_toml`] parses text. Every bound is a named
//! constant below; TLS files are read and parsed at load, so a wrong path or a key that does not
//! match its certificate is a config error, not a failure at the first connection.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use tokio_rustls::rustls;
use toml::Spanned;

use crate::auth::TokenDigest;

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7443";
/// Default address of `/healthz`, `/readyz` and `/metrics`.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9464";
/// Default time given to in-flight batches at shutdown.
pub const DEFAULT_SHUTDOWN_DRAIN_SECS: u64 = 30;
/// Longest accepted shutdown drain.
pub const MAX_SHUTDOWN_DRAIN_SECS: u64 = 3600;
/// Default time a client gets to finish its TLS handshake.
pub const DEFAULT_TLS_HANDSHAKE_SECS: u64 = 10;

/// Default largest encoded batch (gRPC message) a collector may send.
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 8 << 20;
/// Bounds of `limits.max_batch_bytes`.
pub const MAX_BATCH_BYTES_RANGE: (u64, u64) = (4 << 10, 256 << 20);
/// Default largest number of events in one batch.
pub const DEFAULT_MAX_EVENTS_PER_BATCH: u64 = 10_000;
/// Bounds of `limits.max_events_per_batch`.
pub const MAX_EVENTS_PER_BATCH_RANGE: (u64, u64) = (1, 1_000_000);
/// Default largest string field of an event envelope or watermark (excerpt, path, host, ...).
pub const DEFAULT_MAX_FIELD_BYTES: u64 = 4096;
/// Bounds of `limits.max_field_bytes`.
pub const MAX_FIELD_BYTES_RANGE: (u64, u64) = (256, 1 << 20);
/// Default largest encoded event.
pub const DEFAULT_MAX_EVENT_BYTES: u64 = 64 << 10;
/// Bounds of `limits.max_event_bytes`.
pub const MAX_EVENT_BYTES_RANGE: (u64, u64) = (1 << 10, 16 << 20);
/// Default number of batches being published at once, all collectors together.
pub const DEFAULT_MAX_IN_FLIGHT_BATCHES: u64 = 64;
/// Bounds of `limits.max_in_flight_batches`.
pub const MAX_IN_FLIGHT_BATCHES_RANGE: (u64, u64) = (1, 100_000);
/// Default number of batches of one stream being published at once.
pub const DEFAULT_MAX_IN_FLIGHT_PER_STREAM: u64 = 4;
/// Bounds of `limits.max_in_flight_per_stream`.
pub const MAX_IN_FLIGHT_PER_STREAM_RANGE: (u64, u64) = (1, 1024);
/// Default number of streams open at once, all collectors together.
pub const DEFAULT_MAX_STREAMS: u64 = 4096;
/// Bounds of `limits.max_streams`.
pub const MAX_STREAMS_RANGE: (u64, u64) = (1, 1_000_000);
/// Default sustained events per second one collector may send.
pub const DEFAULT_EVENTS_PER_SECOND: u64 = 50_000;
/// Bounds of `limits.events_per_second`.
pub const EVENTS_PER_SECOND_RANGE: (u64, u64) = (1, 100_000_000);
/// Default burst (token bucket size) of one collector, in events.
pub const DEFAULT_BURST_EVENTS: u64 = 200_000;
/// Bounds of `limits.burst_events`.
pub const BURST_EVENTS_RANGE: (u64, u64) = (1, 1_000_000_000);

/// Default Kafka topic of events.
pub const DEFAULT_TOPIC: &str = "scepwatch.events.v1";
/// Default partition count used when the ingestor creates the topic.
pub const DEFAULT_PARTITIONS: u64 = 12;
/// Bounds of `kafka.partitions`.
pub const PARTITIONS_RANGE: (u64, u64) = (1, 10_000);
/// Bounds of `kafka.replication_factor`.
pub const REPLICATION_FACTOR_RANGE: (u64, u64) = (1, 16);
/// Default `delivery.timeout.ms`: how long librdkafka keeps retrying a record.
pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 30_000;
/// Bounds of `kafka.delivery_timeout_ms`.
pub const DELIVERY_TIMEOUT_MS_RANGE: (u64, u64) = (1_000, 3_600_000);
/// Default largest Kafka record value; one endpoint's events are split above it. Below the
/// 1 MB that Kafka brokers and librdkafka accept by default.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 900 << 10;
/// Bounds of `kafka.max_record_bytes`.
pub const MAX_RECORD_BYTES_RANGE: (u64, u64) = (4 << 10, 64 << 20);

/// librdkafka properties the ingestor sets itself: delivery guarantees depend on them.
pub const RESERVED_KAFKA_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "delivery.timeout.ms",
    "message.timeout.ms",
    "partitioner",
    "transactional.id",
];

/// A validated ingestor configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address (the `Ingest` service).
    pub listen: SocketAddr,
    /// Address of the health, readiness and metrics endpoints.
    pub http_listen: SocketAddr,
    /// TLS of the gRPC port; `None` only when the file says `plaintext = true`.
    pub tls: Option<TlsConfig>,
    /// Collectors allowed to send, with the SHA-256 of their tokens.
    pub collectors: Vec<CollectorConfig>,
    /// Bounds on what collectors send and on the work held at once.
    pub limits: Limits,
    /// Where events go.
    pub kafka: KafkaConfig,
    /// How long in-flight batches get to finish at shutdown.
    pub shutdown_drain_timeout: Duration,
}

/// TLS of the gRPC port.
#[derive(Clone)]
pub struct TlsConfig {
    /// rustls server configuration built from the files (HTTP/2 only).
    pub server: Arc<rustls::ServerConfig>,
    /// Whether clients must present a certificate signed by `client_ca`.
    pub mutual: bool,
    /// How long a client gets to finish its handshake.
    pub handshake_timeout: Duration,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("mutual", &self.mutual)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// One collector allowed to send.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Its instance name (`Batch.collector`, `SourceId.collector`).
    pub name: String,
    /// SHA-256 of its token.
    pub token: TokenDigest,
}

/// Bounds on what collectors send and on the work held at once.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest encoded batch (gRPC message), after decompression.
    pub max_batch_bytes: usize,
    /// Most events in one batch.
    pub max_events_per_batch: usize,
    /// Largest string field of an event envelope or watermark.
    pub max_field_bytes: usize,
    /// Largest encoded event.
    pub max_event_bytes: usize,
    /// Batches being published at once, all streams together.
    pub max_in_flight_batches: usize,
    /// Batches of one stream being published at once.
    pub max_in_flight_per_stream: usize,
    /// Streams open at once; more are refused with RESOURCE_EXHAUSTED.
    pub max_streams: usize,
    /// Sustained events per second of one collector (all its streams).
    pub events_per_second: u64,
    /// Token bucket size of one collector, in events.
    pub burst_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES as usize,
            max_events_per_batch: DEFAULT_MAX_EVENTS_PER_BATCH as usize,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES as usize,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES as usize,
            max_in_flight_batches: DEFAULT_MAX_IN_FLIGHT_BATCHES as usize,
            max_in_flight_per_stream: DEFAULT_MAX_IN_FLIGHT_PER_STREAM as usize,
            max_streams: DEFAULT_MAX_STREAMS as usize,
            events_per_second: DEFAULT_EVENTS_PER_SECOND,
            burst_events: DEFAULT_BURST_EVENTS,
        }
    }
}

/// Where events go.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// Topic of `EndpointEvents` records.
    pub topic: String,
    /// Partition count used when the topic is created.
    pub partitions: i32,
    /// Replication factor used when the topic is created.
    pub replication_factor: i32,
    /// Create the topic at start when it does not exist.
    pub create_topic: bool,
    /// How long librdkafka retries a record before the batch is answered RETRY.
    pub delivery_timeout: Duration,
    /// Largest record value; one endpoint's events are split into several records above it.
    pub max_record_bytes: usize,
    /// Further librdkafka properties (security, compression, linger, ...).
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// A configuration for `bootstrap_servers` and `topic` with every other field at its
    /// default.
    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            partitions: DEFAULT_PARTITIONS as i32,
            replication_factor: 1,
            create_topic: true,
            delivery_timeout: Duration::from_millis(DEFAULT_DELIVERY_TIMEOUT_MS),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES as usize,
            properties: BTreeMap::new(),
        }
    }
}

/// A configuration that cannot be used, with where it is wrong.
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
    /// A value is wrong or missing.
    #[error("{}", .0)]
    Invalid(Box<Invalid>),
}

/// Where a configuration is wrong and why.
#[derive(Debug)]
pub struct Invalid {
    /// The file (or the name given to [`Config::from_toml`]).
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// Dotted path of the field, e.g. `limits.max_events_per_batch` or `collectors[2].name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if self.field.is_empty() || self.field == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl Invalid {
    /// The 1-based line of the error, when known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(l, _)| l)
    }
}

impl ConfigError {
    /// The details when the configuration (not the file system) is at fault.
    pub fn invalid(&self) -> Option<&Invalid> {
        match self {
            ConfigError::Invalid(i) => Some(i),
            ConfigError::Read { .. } => None,
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`. Relative TLS paths are relative to the file's
    /// directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            file: path.display().to_string(),
            cause,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, &path.display().to_string(), base)
    }

    /// Parses and validates `text`; `file` names it in errors. Relative TLS paths are relative
    /// to the current directory.
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::parse(text, file, Path::new("."))
    }

    fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let ctx = Ctx { text, file };
        let raw: RawConfig = {
            let de = toml::de::Deserializer::parse(text).map_err(|e| ctx.toml_error(".", &e))?;
            serde_path_to_error::deserialize(de).map_err(|e| {
                let field = field_path(e.path());
                ctx.toml_error(&field, e.inner())
            })?
        };
        raw.validate(&ctx, base)
    }

    /// The most memory batches being published may hold (each decoded batch and its
    /// records): max_in_flight_batches × max_batch_bytes × 2. Each open stream may hold, on
    /// top, one batch waiting for a slot and its HTTP/2 receive window.
    pub fn in_flight_memory_bound(&self) -> usize {
        self.limits
            .max_in_flight_batches
            .saturating_mul(self.limits.max_batch_bytes)
            .saturating_mul(2)
    }
}

/// `limits.max_events_per_batch`, `collectors[1].name`: the path without the private field
/// that `toml::Spanned` wraps values in.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// An annotated example configuration (`--print-config-example`); it loads as is, apart from
/// the TLS files it names.
pub const EXAMPLE: &str = r#"# scepwatch ingestor configuration.
# Check it with `scepwatch-ingestor validate --config ingestor.toml`.

# gRPC address collectors connect to.
listen = "0.0.0.0:7443"
# /healthz, /readyz and /metrics (plain HTTP; keep it on a private interface).
http_listen = "127.0.0.1:9464"
# At SIGTERM / Ctrl-C the ingestor stops reading new batches, waits this long for the batches
# already read to reach Kafka (their acks are sent), then flushes the producer and exits.
shutdown_drain_timeout_secs = 30
# Without a [tls] section the gRPC port is plain text and tokens cross the network in the clear:
# allowed only when this says so (development).
# plaintext = true

[tls]
# PEM server certificate chain and private key (PKCS#8, PKCS#1 or SEC1). Relative paths are
# relative to this file.
cert = "/etc/scepwatch/ingestor.crt"
key = "/etc/scepwatch/ingestor.key"
# Optional: PEM CA certificate(s). When set, every collector must present a client certificate
# signed by one of them (mutual TLS), in addition to its token.
# client_ca = "/etc/scepwatch/collectors-ca.crt"
# handshake_timeout_secs = 10

# One entry per collector. The token is a long random secret given to that collector only
# (e.g. `openssl rand -base64 32`); the ingestor stores its SHA-256, printed by
# `echo -n "$TOKEN" | scepwatch-ingestor hash-token`.
[[collectors]]
name = "ndes01"
token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[limits]
# Largest batch (one gRPC message, after decompression); larger ones end the stream with
# RESOURCE_EXHAUSTED.
max_batch_bytes = 8388608
# A batch with more events is REJECTED.
max_events_per_batch = 10000
# Largest envelope string (excerpt, source path, host, stream, endpoint ID) and largest
# encoded event; larger ones get the batch REJECTED.
max_field_bytes = 4096
max_event_bytes = 65536
# Batches being published at once (all collectors) and per stream. A stream holding a batch
# that waits for a slot reads nothing more: HTTP/2 flow control holds its collector back.
# Memory: at most max_in_flight_batches x max_batch_bytes x 2 for publishing (1 GiB here; real
# batches are far smaller), plus one waiting batch per open stream.
max_in_flight_batches = 64
max_in_flight_per_stream = 4
# Streams open at once (a collector keeps one); more are refused with RESOURCE_EXHAUSTED.
max_streams = 4096
# Per collector (all its streams together): sustained events per second and burst. A batch over
# the limit gets a RETRY ack. burst_events must be at least max_events_per_batch.
events_per_second = 50000
burst_events = 200000

[kafka]
bootstrap_servers = "127.0.0.1:9092"
topic = "scepwatch.events.v1"
# Used when the topic is created (at start when missing and create_topic = true, or by
# `scepwatch-ingestor create-topics`). Use replication_factor = 3 on a production cluster.
partitions = 12
replication_factor = 1
create_topic = true
# How long a record may take to reach Kafka before its batch is answered RETRY.
delivery_timeout_ms = 30000
# Largest record value; one endpoint's events are split across records above it.
max_record_bytes = 921600

# Further librdkafka properties (security, compression, ...). enable.idempotence, acks,
# delivery.timeout.ms and partitioner are set by the ingestor and cannot be changed here.
[kafka.properties]
"compression.type" = "lz4"
# "security.protocol" = "sasl_ssl"
"#;

// ---------------------------------------------------------------------------------------------
// Raw (as written) form and its validation
// ---------------------------------------------------------------------------------------------

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    fn at(
        &self,
        span: Option<Range<usize>>,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid(Box::new(Invalid {
            file: self.file.to_owned(),
            position: span.map(|s| self.position(s.start)),
            field: field.to_owned(),
            message: message.into(),
        }))
    }

    fn toml_error(&self, field: &str, e: &toml::de::Error) -> ConfigError {
        // toml's message may span lines (its Display adds a source excerpt; message() does
        // not); keep it on one line.
        let message = e.message().trim().replace('\n', " ");
        self.at(e.span(), field, message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default = "default_http_listen")]
    http_listen: SocketAddr,
    #[serde(default)]
    plaintext: Option<Spanned<bool>>,
    #[serde(default)]
    tls: Option<Spanned<RawTls>>,
    #[serde(default = "default_drain", deserialize_with = "drain_secs")]
    shutdown_drain_timeout_secs: u64,
    #[serde(default)]
    collectors: Option<Spanned<Vec<RawCollector>>>,
    #[serde(default)]
    limits: Option<Spanned<RawLimits>>,
    kafka: RawKafka,
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!())
}
fn default_http_listen() -> SocketAddr {
    DEFAULT_HTTP_LISTEN
        .parse()
        .unwrap_or_else(|_| unreachable!())
}
fn default_drain() -> u64 {
    DEFAULT_SHUTDOWN_DRAIN_SECS
}
fn drain_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    bounded(d, (1, MAX_SHUTDOWN_DRAIN_SECS))
}

/// A u64 within `range` (inclusive), with the bounds in the error.
fn bounded<'de, D: Deserializer<'de>>(d: D, (min, max): (u64, u64)) -> Result<u64, D::Error> {
    let v = i64::deserialize(d)?;
    if v < 0 || (v as u64) < min || (v as u64) > max {
        return Err(de::Error::custom(format!(
            "must be between {min} and {max}, got {v}"
        )));
    }
    Ok(v as u64)
}

macro_rules! bounded_fn {
    ($name:ident, $range:expr) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            bounded(d, $range)
        }
    };
}
bounded_fn!(b_batch_bytes, MAX_BATCH_BYTES_RANGE);
bounded_fn!(b_events_per_batch, MAX_EVENTS_PER_BATCH_RANGE);
bounded_fn!(b_field_bytes, MAX_FIELD_BYTES_RANGE);
bounded_fn!(b_event_bytes, MAX_EVENT_BYTES_RANGE);
bounded_fn!(b_in_flight, MAX_IN_FLIGHT_BATCHES_RANGE);
bounded_fn!(b_in_flight_stream, MAX_IN_FLIGHT_PER_STREAM_RANGE);
bounded_fn!(b_streams, MAX_STREAMS_RANGE);
bounded_fn!(b_events_per_second, EVENTS_PER_SECOND_RANGE);
bounded_fn!(b_burst, BURST_EVENTS_RANGE);
bounded_fn!(b_partitions, PARTITIONS_RANGE);
bounded_fn!(b_replication, REPLICATION_FACTOR_RANGE);
bounded_fn!(b_delivery_ms, DELIVERY_TIMEOUT_MS_RANGE);
bounded_fn!(b_handshake_secs, (1, 300));

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Spanned<PathBuf>,
    key: Spanned<PathBuf>,
    #[serde(default)]
    client_ca: Option<Spanned<PathBuf>>,
    #[serde(default = "default_handshake", deserialize_with = "b_handshake_secs")]
    handshake_timeout_secs: u64,
}
fn default_handshake() -> u64 {
    DEFAULT_TLS_HANDSHAKE_SECS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollector {
    name: Spanned<String>,
    token_sha256: TokenDigest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    #[serde(deserialize_with = "b_batch_bytes")]
    max_batch_bytes: u64,
    #[serde(deserialize_with = "b_events_per_batch")]
    max_events_per_batch: u64,
    #[serde(deserialize_with = "b_field_bytes")]
    max_field_bytes: u64,
    #[serde(deserialize_with = "b_event_bytes")]
    max_event_bytes: u64,
    #[serde(deserialize_with = "b_in_flight")]
    max_in_flight_batches: u64,
    #[serde(deserialize_with = "b_in_flight_stream")]
    max_in_flight_per_stream: u64,
    #[serde(deserialize_with = "b_streams")]
    max_streams: u64,
    #[serde(deserialize_with = "b_events_per_second")]
    events_per_second: u64,
    #[serde(deserialize_with = "b_burst")]
    burst_events: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_events_per_batch: DEFAULT_MAX_EVENTS_PER_BATCH,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_in_flight_batches: DEFAULT_MAX_IN_FLIGHT_BATCHES,
            max_in_flight_per_stream: DEFAULT_MAX_IN_FLIGHT_PER_STREAM,
            max_streams: DEFAULT_MAX_STREAMS,
            events_per_second: DEFAULT_EVENTS_PER_SECOND,
            burst_events: DEFAULT_BURST_EVENTS,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    bootstrap_servers: Spanned<String>,
    #[serde(default = "default_topic")]
    topic: Spanned<String>,
    #[serde(default = "default_partitions", deserialize_with = "b_partitions")]
    partitions: u64,
    #[serde(default = "default_replication", deserialize_with = "b_replication")]
    replication_factor: u64,
    #[serde(default = "default_true")]
    create_topic: bool,
    #[serde(default = "default_delivery", deserialize_with = "b_delivery_ms")]
    delivery_timeout_ms: u64,
    #[serde(default = "default_record_bytes")]
    max_record_bytes: Spanned<RecordBytes>,
    #[serde(default)]
    properties: BTreeMap<Spanned<String>, PropertyValue>,
}

fn default_topic() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_TOPIC.to_owned())
}
fn default_partitions() -> u64 {
    DEFAULT_PARTITIONS
}
fn default_replication() -> u64 {
    1
}
fn default_true() -> bool {
    true
}
fn default_delivery() -> u64 {
    DEFAULT_DELIVERY_TIMEOUT_MS
}
fn default_record_bytes() -> Spanned<RecordBytes> {
    Spanned::new(0..0, RecordBytes(DEFAULT_MAX_RECORD_BYTES))
}

/// `kafka.max_record_bytes`, bounded (a newtype so that its span is kept for later checks).
struct RecordBytes(u64);

impl<'de> Deserialize<'de> for RecordBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded(d, MAX_RECORD_BYTES_RANGE).map(RecordBytes)
    }
}

/// A librdkafka property value: TOML strings, integers, floats and booleans are all accepted
/// and passed on as text.
struct PropertyValue(String);

impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = PropertyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PropertyValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(PropertyValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(PropertyValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(PropertyValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(PropertyValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A span, unless it is the empty placeholder of a defaulted value.
fn real(span: Range<usize>) -> Option<Range<usize>> {
    (span.end > span.start).then_some(span)
}

impl RawConfig {
    fn validate(self, ctx: &Ctx<'_>, base: &Path) -> Result<Config, ConfigError> {
        let plaintext = self.plaintext.as_ref().is_some_and(|p| *p.get_ref());
        let tls =
            match (self.tls, plaintext) {
                (Some(tls), false) => Some(tls.into_inner().load(ctx, base)?),
                (Some(tls), true) => {
                    return Err(ctx.at(
                        real(tls.span()),
                        "tls",
                        "a [tls] section and `plaintext = true` contradict each other; remove one",
                    ))
                }
                (None, true) => None,
                (None, false) => return Err(ctx.at(
                    None,
                    "tls",
                    "missing [tls] section (cert, key): the gRPC port carries collector tokens; \
                     set `plaintext = true` to serve without TLS (development only)",
                )),
            };

        let (collectors_span, raw_collectors) = match self.collectors {
            Some(c) => (c.span(), c.into_inner()),
            None => (0..0, Vec::new()),
        };
        if raw_collectors.is_empty() {
            return Err(ctx.at(
                real(collectors_span),
                "collectors",
                "no [[collectors]] entry: nobody could send (add name + token_sha256)",
            ));
        }
        let mut names = HashSet::new();
        let mut tokens = HashSet::new();
        let mut collectors = Vec::with_capacity(raw_collectors.len());
        for (i, c) in raw_collectors.into_iter().enumerate() {
            let field = format!("collectors[{i}].name");
            let span = c.name.span();
            let name = c.name.into_inner();
            if let Err(why) = check_collector_name(&name) {
                return Err(ctx.at(Some(span), &field, why));
            }
            if !names.insert(name.clone()) {
                return Err(ctx.at(
                    Some(span),
                    &field,
                    format!("collector `{name}` is listed twice"),
                ));
            }
            if !tokens.insert(c.token_sha256.0) {
                return Err(ctx.at(
                    Some(span),
                    &format!("collectors[{i}].token_sha256"),
                    format!(
                        "collector `{name}` has the same token as an earlier one; give every \
                         collector its own token"
                    ),
                ));
            }
            collectors.push(CollectorConfig {
                name,
                token: c.token_sha256,
            });
        }

        let (limits_span, rl) = match self.limits {
            Some(l) => (real(l.span()), l.into_inner()),
            None => (None, RawLimits::default()),
        };
        let limits = Limits {
            max_batch_bytes: rl.max_batch_bytes as usize,
            max_events_per_batch: rl.max_events_per_batch as usize,
            max_field_bytes: rl.max_field_bytes as usize,
            max_event_bytes: rl.max_event_bytes as usize,
            max_in_flight_batches: rl.max_in_flight_batches as usize,
            max_in_flight_per_stream: rl.max_in_flight_per_stream as usize,
            max_streams: rl.max_streams as usize,
            events_per_second: rl.events_per_second,
            burst_events: rl.burst_events,
        };
        if limits.burst_events < limits.max_events_per_batch as u64 {
            return Err(ctx.at(
                limits_span,
                "limits.burst_events",
                format!(
                    "must be at least max_events_per_batch ({}), or a full batch could never pass \
                     the rate limit",
                    limits.max_events_per_batch
                ),
            ));
        }
        if limits.max_event_bytes > limits.max_batch_bytes {
            return Err(ctx.at(
                limits_span,
                "limits.max_event_bytes",
                format!(
                    "must not exceed max_batch_bytes ({})",
                    limits.max_batch_bytes
                ),
            ));
        }

        let k = self.kafka;
        let bootstrap_span = k.bootstrap_servers.span();
        let bootstrap_servers = k.bootstrap_servers.into_inner();
        if bootstrap_servers.trim().is_empty() {
            return Err(ctx.at(
                Some(bootstrap_span),
                "kafka.bootstrap_servers",
                "is empty; give host:port[,host:port...]",
            ));
        }
        let topic_span = real(k.topic.span());
        let topic = k.topic.into_inner();
        if let Err(why) = check_topic(&topic) {
            return Err(ctx.at(topic_span, "kafka.topic", why));
        }
        let record_span = real(k.max_record_bytes.span());
        let max_record_bytes = k.max_record_bytes.into_inner().0 as usize;
        // One event plus the record's own fields (endpoint ID, collector) must always fit.
        let needed = limits.max_event_bytes + 3 * limits.max_field_bytes + 64;
        if max_record_bytes < needed {
            return Err(ctx.at(
                record_span,
                "kafka.max_record_bytes",
                format!(
                    "must be at least max_event_bytes + 3 x max_field_bytes + 64 = {needed}, so \
                     that one event always fits in a record"
                ),
            ));
        }
        let mut properties = BTreeMap::new();
        for (key, value) in k.properties {
            let span = key.span();
            let key = key.into_inner();
            if RESERVED_KAFKA_PROPERTIES.contains(&key.as_str()) {
                return Err(ctx.at(
                    Some(span),
                    &format!("kafka.properties.\"{key}\""),
                    "is set by the ingestor (delivery guarantees depend on it); use \
                     kafka.bootstrap_servers / kafka.delivery_timeout_ms instead where they apply",
                ));
            }
            properties.insert(key, value.0);
        }
        let kafka = KafkaConfig {
            bootstrap_servers,
            topic,
            partitions: k.partitions as i32,
            replication_factor: k.replication_factor as i32,
            create_topic: k.create_topic,
            delivery_timeout: Duration::from_millis(k.delivery_timeout_ms),
            max_record_bytes,
            properties,
        };

        Ok(Config {
            listen: self.listen,
            http_listen: self.http_listen,
            tls,
            collectors,
            limits,
            kafka,
            shutdown_drain_timeout: Duration::from_secs(self.shutdown_drain_timeout_secs),
        })
    }
}

/// Collector names label metrics and appear in every event's source: keep them short and plain.
fn check_collector_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{name}` contains {c:?}; use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// Kafka's own topic name rule.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 249 || topic == "." || topic == ".." {
        return Err(format!("`{topic}` is not a valid Kafka topic name"));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{topic}` contains {c:?}; Kafka topic names use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

impl RawTls {
    fn load(self, ctx: &Ctx<'_>, base: &Path) -> Result<TlsConfig, ConfigError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let read = |field: &str, p: &Spanned<PathBuf>| -> Result<Vec<u8>, ConfigError> {
            let path = resolve(p.get_ref());
            std::fs::read(&path).map_err(|e| {
                ctx.at(
                    Some(p.span()),
                    field,
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        };
        let certs_of = |field: &str,
                        p: &Spanned<PathBuf>|
         -> Result<Vec<CertificateDer<'static>>, ConfigError> {
            let pem = read(field, p)?;
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
            match certs {
                Ok(c) if !c.is_empty() => Ok(c),
                Ok(_) => Err(ctx.at(
                    Some(p.span()),
                    field,
                    format!(
                        "{} holds no PEM certificate",
                        resolve(p.get_ref()).display()
                    ),
                )),
                Err(e) => Err(ctx.at(
                    Some(p.span()),
                    field,
                    format!("{}: bad PEM: {e}", resolve(p.get_ref()).display()),
                )),
            }
        };

        let chain = certs_of("tls.cert", &self.cert)?;
        let key_pem = read("tls.key", &self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            ctx.at(
                Some(self.key.span()),
                "tls.key",
                format!(
                    "{}: no usable PEM private key ({e})",
                    resolve(self.key.get_ref()).display()
                ),
            )
        })?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ctx.at(None, "tls", format!("TLS setup: {e}")))?;
        let mutual = self.client_ca.is_some();
        let builder = match &self.client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs_of("tls.client_ca", ca)? {
                    roots.add(cert).map_err(|e| {
                        ctx.at(
                            Some(ca.span()),
                            "tls.client_ca",
                            format!("not a usable CA certificate: {e}"),
                        )
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| ctx.at(Some(ca.span()), "tls.client_ca", e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_single_cert(chain, key).map_err(|e| {
            ctx.at(
                Some(self.key.span()),
                "tls.key",
                format!("certificate and key do not go together: {e}"),
            )
        })?;
        server.alpn_protocols = vec![b"h2".to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
            mutual,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn minimal() -> String {
        format!(
            "plaintext = true\n\
             [[collectors]]\n\
             name = \"ndes01\"\n\
             token_sha256 = \"{HASH}\"\n\
             [kafka]\n\
             bootstrap_servers = \"127.0.0.1:9092\"\n"
        )
    }

    fn invalid(text: &str) -> Invalid {
        match Config::from_toml(text, "ingestor.toml") {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(ConfigError::Invalid(i)) => *i,
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::from_toml(&minimal(), "ingestor.toml").unwrap();
        assert!(c.tls.is_none());
        assert_eq!(c.collectors[0].name, "ndes01");
        assert_eq!(c.kafka.topic, DEFAULT_TOPIC);
        assert_eq!(c.limits.max_events_per_batch, 10_000);
        assert_eq!(c.shutdown_drain_timeout, Duration::from_secs(30));
    }

    #[test]
    fn out_of_range_limit_names_line_and_field() {
        let text = format!("{}[limits]\nmax_events_per_batch = 0\n", minimal());
        let e = invalid(&text);
        assert_eq!(e.line(), Some(8));
        assert_eq!(e.field, "limits.max_events_per_batch");
        assert!(e.message.contains("between 1 and 1000000"), "{}", e.message);
        let shown = e.to_string();
        assert!(
            shown.starts_with("ingestor.toml:8:"),
            "file and line first: {shown}"
        );
    }

    #[test]
    fn unknown_field_is_refused_with_its_line() {
        let text = format!("{}max_events = 5\n", minimal());
        let e = invalid(&text);
        assert_eq!(e.line(), Some(7));
        assert_eq!(e.field, "kafka.max_events");
        assert!(e.message.contains("unknown field"), "{}", e.message);
    }

    #[test]
    fn bad_token_hash_names_the_collector_entry() {
        let text = minimal().replace(HASH, "not-hex");
        let e = invalid(&text);
        assert_eq!(e.line(), Some(4));
        assert_eq!(e.field, "collectors[0].token_sha256");
        assert!(e.message.contains("64 hex"), "{}", e.message);
    }

    #[test]
    fn duplicate_collector_points_at_the_second() {
        let text = format!(
            "{}[[collectors]]\nname = \"ndes01\"\ntoken_sha256 = \"{}\"\n",
            minimal(),
            "00".repeat(32)
        );
        let e = invalid(&text);
        assert_eq!(e.line(), Some(8));
        assert_eq!(e.field, "collectors[1].name");
        assert!(e.message.contains("twice"));
    }

    #[test]
    fn shared_token_is_refused() {
        let text = format!(
            "{}[[collectors]]\nname = \"ndes02\"\ntoken_sha256 = \"{HASH}\"\n",
            minimal()
        );
        let e = invalid(&text);
        assert_eq!(e.field, "collectors[1].token_sha256");
        assert!(e.message.contains("same token"));
    }

    #[test]
    fn tls_is_required_unless_plaintext_is_explicit() {
        let text = minimal().replace("plaintext = true\n", "");
        let e = invalid(&text);
        assert_eq!(e.field, "tls");
        assert!(e.message.contains("plaintext = true"));
    }

    #[test]
    fn missing_tls_file_names_line_and_path() {
        let text = minimal().replace(
            "plaintext = true\n",
            "[tls]\ncert = \"/nonexistent/ingestor.crt\"\nkey = \"/nonexistent/ingestor.key\"\n",
        );
        // `[tls]` opens a table: the collectors and kafka tables still follow it.
        let e = invalid(&text);
        assert_eq!(e.line(), Some(2));
        assert_eq!(e.field, "tls.cert");
        assert!(e.message.contains("/nonexistent/ingestor.crt"));
    }

    #[test]
    fn reserved_kafka_property_is_refused() {
        let text = format!(
            "{}[kafka.properties]\n\"linger.ms\" = 5\n\"acks\" = \"1\"\n",
            minimal()
        );
        let e = invalid(&text);
        assert_eq!(e.line(), Some(9));
        assert_eq!(e.field, "kafka.properties.\"acks\"");
    }

    #[test]
    fn kafka_properties_accept_numbers_and_booleans() {
        let text = format!(
            "{}[kafka.properties]\n\"linger.ms\" = 5\n\"socket.keepalive.enable\" = true\n",
            minimal()
        );
        let c = Config::from_toml(&text, "ingestor.toml").unwrap();
        assert_eq!(c.kafka.properties["linger.ms"], "5");
        assert_eq!(c.kafka.properties["socket.keepalive.enable"], "true");
    }

    #[test]
    fn burst_below_a_full_batch_is_refused() {
        let text = format!(
            "{}[limits]\nmax_events_per_batch = 500\nburst_events = 100\n",
            minimal()
        );
        let e = invalid(&text);
        assert_eq!(e.field, "limits.burst_events");
        assert_eq!(e.line(), Some(7));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let text = format!("{}topic = \n", minimal());
        let e = invalid(&text);
        assert_eq!(e.line(), Some(7));
    }

    #[test]
    fn bad_listen_address_names_field() {
        let text = format!("listen = \"localhost\"\n{}", minimal());
        let e = invalid(&text);
        assert_eq!(e.line(), Some(1));
        assert_eq!(e.field, "listen");
    }

    #[test]
    fn missing_kafka_section_is_named() {
        let text = minimal().replace("[kafka]\nbootstrap_servers = \"127.0.0.1:9092\"\n", "");
        let e = invalid(&text);
        assert!(e.message.contains("kafka"), "{e}");
    }

    #[test]
    fn example_parses_up_to_its_tls_files() {
        let e = invalid(EXAMPLE);
        assert_eq!(e.field, "tls.cert", "{e}");
        let plain = EXAMPLE
            .replace("[tls]\n", "plaintext_marker = 1\n")
            .replace("cert = \"/etc/scepwatch/ingestor.crt\"\n", "")
            .replace("key = \"/etc/scepwatch/ingestor.key\"\n", "")
            .replace("plaintext_marker = 1\n", "")
            .replace("# plaintext = true", "plaintext = true");
        let c = Config::from_toml(&plain, "example").unwrap();
        assert_eq!(c.kafka.properties["compression.type"], "lz4");
        assert_eq!(c.limits.max_in_flight_batches, 64);
    }
}
