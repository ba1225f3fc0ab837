//! The collector agent's configuration: one TOML file, validated at load.
//!
//! Every error names the file, the line and column, and the field, e.g.
//! `collector.toml:14:9: source[1].include: a pattern may not be empty`. Syntax and type errors
//! come from the TOML reader with its position; meaning errors (an endpoint that is not an
//! http(s) URL, a spool limit smaller than a batch) are found afterwards, against the spans the
//! reader kept for each checked field. Unknown fields are errors, so a misspelt key never
//! silently falls back to a default.
//!
//! [`EXAMPLE`] is a complete, commented configuration (`scepwatch-collector
//! --print-config-example`); a test loads it, so it cannot drift from the code.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::parse::Format;

/// A complete configuration with every option, commented. Loaded by a test.
pub const EXAMPLE: &str = include_str!("../collector.example.toml");

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A syntax, type or meaning error at a place in the file.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, starting with the field's name.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who this collector is and what it serves.
    pub collector: CollectorSection,
    /// Where events go.
    pub ingestor: IngestorSection,
    /// Batching and retry of the shipper.
    pub shipper: ShipperSection,
    /// The on-disk queue between sources and shipper.
    pub spool: SpoolSection,
    /// How files are read.
    pub tail: TailSection,
    /// Where metrics are served.
    pub metrics: MetricsSection,
    /// The log sources.
    pub sources: Vec<SourceSection>,
}

/// `[collector]`.
#[derive(Debug, Clone)]
pub struct CollectorSection {
    /// Collector name; the ingestor knows it with its token.
    pub name: String,
    /// Host name written into every event (default: this machine's name).
    pub host: String,
    /// The SCEP URL this server serves, as devices see it; empty for a collector that serves
    /// no endpoint (one that reads device logs handed in).
    pub endpoint: String,
    /// Normalised endpoint ID of [`CollectorSection::endpoint`] (empty without one): the
    /// `endpoint_id` of events whose record names no SCEP URL.
    pub endpoint_id: String,
    /// Where checkpoints and rejected batches are kept.
    pub state_dir: PathBuf,
    /// Offset of the server's local time from UTC, for logs that write local times without a
    /// zone (SetupMsi.log). IIS logs are UTC.
    pub utc_offset_secs: i32,
}

/// `[ingestor]`.
#[derive(Debug, Clone)]
pub struct IngestorSection {
    /// `https://host:port` (or `http://` for a loopback test setup).
    pub url: String,
    /// The bearer token.
    pub token: Secret,
    /// PEM trust roots for the ingestor's certificate (default: the system's webpki roots are
    /// not used; a CA file is required for https).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) when the ingestor requires mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Key of [`IngestorSection::client_cert`].
    pub client_key: Option<PathBuf>,
    /// Name to check the ingestor's certificate against, when it differs from the URL's host.
    pub tls_server_name: Option<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `[shipper]`.
#[derive(Debug, Clone)]
pub struct ShipperSection {
    /// A batch is cut at this many events...
    pub batch_max_events: usize,
    /// ... or this many encoded bytes ...
    pub batch_max_bytes: u64,
    /// ... or when its oldest event waited this long.
    pub batch_max_delay: Duration,
    /// Batches sent and not yet acknowledged.
    pub max_in_flight: usize,
    /// First reconnect delay; doubles up to `backoff_max`, with full jitter.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Compress batches on the wire (zstd).
    pub compress: bool,
    /// On shutdown, how long to wait for acknowledgements of batches already sent.
    pub drain_timeout: Duration,
}

/// `[spool]`.
#[derive(Debug, Clone)]
pub struct SpoolSection {
    /// Folder of the spool's segment files.
    pub dir: PathBuf,
    /// Most un-acknowledged bytes on disk; when reached, sources wait (nothing is dropped).
    pub max_bytes: u64,
    /// Size of one segment file.
    pub segment_bytes: u64,
    /// fsync each appended batch (on by default; off only for tests and benchmarks).
    pub fsync: bool,
}

/// `[tail]`.
#[derive(Debug, Clone)]
pub struct TailSection {
    /// How often folders are listed and files checked for growth.
    pub poll_interval: Duration,
    /// Bytes read from one file per round, so one busy file cannot starve the others.
    pub read_chunk: usize,
    /// Close a file handle after this long without growth (reopened when it grows).
    pub idle_close: Duration,
    /// A document file (.evtx, event XML) is read once unchanged this long.
    pub settle: Duration,
    /// A last line without newline is taken once the file is unchanged this long.
    pub partial_line_timeout: Duration,
    /// Checkpoints of files gone this long are forgotten.
    pub forget_after: Duration,
}

/// `[metrics]`.
#[derive(Debug, Clone)]
pub struct MetricsSection {
    /// Address of the `/metrics` and `/healthz` endpoint; `None` turns it off.
    pub listen: Option<std::net::SocketAddr>,
}

/// One `[[source]]`.
#[derive(Debug, Clone)]
pub struct SourceSection {
    /// Unique name.
    pub name: String,
    /// Its format.
    pub format: Format,
    /// Folder watched.
    pub root: PathBuf,
    /// File patterns relative to `root` (`*` and `?` within one path component).
    pub include: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The file as written
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    collector: RawCollector,
    ingestor: RawIngestor,
    #[serde(default)]
    shipper: RawShipper,
    spool: RawSpool,
    #[serde(default)]
    tail: RawTail,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default, rename = "source")]
    sources: Vec<RawSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollector {
    name: Spanned<String>,
    host: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    state_dir: Spanned<PathBuf>,
    utc_offset: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngestor {
    url: Spanned<String>,
    token: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    token_env: Option<Spanned<String>>,
    ca_file: Option<Spanned<PathBuf>>,
    client_cert: Option<Spanned<PathBuf>>,
    client_key: Option<Spanned<PathBuf>>,
    tls_server_name: Option<String>,
    connect_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawShipper {
    batch_max_events: Option<Spanned<i64>>,
    batch_max_bytes: Option<Spanned<String>>,
    batch_max_delay: Option<Spanned<String>>,
    max_in_flight: Option<Spanned<i64>>,
    backoff_initial: Option<Spanned<String>>,
    backoff_max: Option<Spanned<String>>,
    compress: Option<bool>,
    drain_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    dir: Spanned<PathBuf>,
    max_bytes: Option<Spanned<String>>,
    segment_bytes: Option<Spanned<String>>,
    fsync: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTail {
    poll_interval: Option<Spanned<String>>,
    read_chunk: Option<Spanned<String>>,
    idle_close: Option<Spanned<String>>,
    settle: Option<Spanned<String>>,
    partial_line_timeout: Option<Spanned<String>>,
    forget_after: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    format: Spanned<String>,
    root: Spanned<PathBuf>,
    include: Spanned<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// Loading and checking
// ---------------------------------------------------------------------------------------------

/// Formats a file source can read: every format, including the JSON lines the prober and the
/// health collector write (`probe.jsonl`, `health.jsonl`), which are tailed like IIS logs.
pub const TAILABLE: [Format; 10] = [
    Format::Iis,
    Format::HttpErr,
    Format::Evtx,
    Format::EventXml,
    Format::EventText,
    Format::SetupMsi,
    Format::AndroidOmadm,
    Format::IosConsole,
    Format::Probe,
    Format::Health,
];

impl Config {
    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str_at(&text, path, &EnvReader)
    }

    /// Check `text` as if read from `path` (used in messages; `token_file` is read relative to
    /// the working directory, as given). `env` resolves `token_env`.
    pub fn from_str_at(text: &str, path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let at = Locator { text, path };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            at.error(span, e.message().trim_end().to_string())
        })?;
        Checker { at, env }.check(raw)
    }
}

/// Where `token_env` values come from (the process environment, or a map in tests).
pub trait Env {
    /// The variable's value.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct EnvReader;

impl Env for EnvReader {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

struct Locator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Locator<'_> {
    fn error(&self, span: Range<usize>, message: String) -> ConfigError {
        let start = span.start.min(self.text.len());
        let before = &self.text.as_bytes()[..start];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = self.text[line_start..start].chars().count() + 1;
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }
}

struct Checker<'a> {
    at: Locator<'a>,
    env: &'a dyn Env,
}

type Res<T> = Result<T, ConfigError>;

impl Checker<'_> {
    fn err<T>(&self, span: Range<usize>, field: &str, what: impl fmt::Display) -> Res<T> {
        Err(self.at.error(span, format!("{field}: {what}")))
    }

    fn check(&self, raw: RawConfig) -> Res<Config> {
        let collector = self.collector(raw.collector)?;
        let ingestor = self.ingestor(raw.ingestor)?;
        let shipper = self.shipper(raw.shipper)?;
        let spool = self.spool(raw.spool, &shipper)?;
        let tail = self.tail(raw.tail)?;
        let metrics = self.metrics(raw.metrics)?;
        let mut sources: Vec<SourceSection> = Vec::new();
        let mut names: Vec<(String, Range<usize>)> = Vec::new();
        for (i, s) in raw.sources.into_iter().enumerate() {
            let field = format!("source[{i}]");
            if let Some((_, _)) = names.iter().find(|(n, _)| n == s.name.get_ref()) {
                return self.err(
                    s.name.span(),
                    &format!("{field}.name"),
                    format!("`{}` is used by another source", s.name.get_ref()),
                );
            }
            names.push((s.name.get_ref().clone(), s.name.span()));
            sources.push(self.source(s, &field)?);
        }
        if sources.is_empty() {
            return self.err(
                0..0,
                "source",
                "no [[source]] configured: the collector would read nothing",
            );
        }
        Ok(Config {
            collector,
            ingestor,
            shipper,
            spool,
            tail,
            metrics,
            sources,
        })
    }

    fn collector(&self, c: RawCollector) -> Res<CollectorSection> {
        let name = c.name.get_ref().trim().to_string();
        if name.is_empty() || name.len() > 128 || name.chars().any(|ch| ch.is_control()) {
            return self.err(
                c.name.span(),
                "collector.name",
                "must be 1 to 128 printable characters",
            );
        }
        let host = match c.host {
            Some(h) if h.get_ref().trim().is_empty() => {
                return self.err(
                    h.span(),
                    "collector.host",
                    "may not be empty (omit it to use this machine's name)",
                )
            }
            Some(h) => h.into_inner(),
            None => machine_name(),
        };
        // Without an endpoint, events whose record names no SCEP URL carry none, as those of
        // `diagnose` do for device logs: the analyzer's mapping fills it.
        let (endpoint, endpoint_id) = match &c.endpoint {
            None => (String::new(), String::new()),
            Some(e) => {
                let endpoint = e.get_ref().trim().to_string();
                match scepwatch_proto::endpoint::normalize(&endpoint) {
                    Some(id)
                        if endpoint.starts_with("http://") || endpoint.starts_with("https://") =>
                    {
                        (endpoint, id)
                    }
                    _ => {
                        return self.err(
                            e.span(),
                            "collector.endpoint",
                            format!("`{endpoint}` is not an http(s) SCEP URL (e.g. https://ndes.contoso.com/certsrv/mscep/mscep.dll)"),
                        )
                    }
                }
            }
        };
        let utc_offset_secs = match &c.utc_offset {
            None => 0,
            Some(s) => match parse_utc_offset(s.get_ref()) {
                Some(v) => v,
                None => {
                    return self.err(
                        s.span(),
                        "collector.utc_offset",
                        format!("`{}` is not an offset like +01:00 or -05:30", s.get_ref()),
                    )
                }
            },
        };
        Ok(CollectorSection {
            name,
            host,
            endpoint,
            endpoint_id,
            state_dir: c.state_dir.into_inner(),
            utc_offset_secs,
        })
    }

    fn ingestor(&self, i: RawIngestor) -> Res<IngestorSection> {
        let url = i.url.get_ref().trim().to_string();
        let tls = url.starts_with("https://");
        if !tls && !url.starts_with("http://") {
            return self.err(
                i.url.span(),
                "ingestor.url",
                format!("`{url}` must start with https:// (or http:// for a loopback test)"),
            );
        }
        if !tls {
            let host = url["http://".len()..]
                .split([':', '/'])
                .next()
                .unwrap_or("");
            if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
                return self.err(
                    i.url.span(),
                    "ingestor.url",
                    "plain http is only allowed to a loopback address; use https:// and ca_file",
                );
            }
        }
        let token = match (&i.token, &i.token_file, &i.token_env) {
            (Some(t), None, None) => t.get_ref().trim().to_string(),
            (None, Some(f), None) => match std::fs::read_to_string(f.get_ref()) {
                Ok(t) => t.trim().to_string(),
                Err(e) => {
                    return self.err(
                        f.span(),
                        "ingestor.token_file",
                        format!("{}: {e}", f.get_ref().display()),
                    )
                }
            },
            (None, None, Some(v)) => match self.env.var(v.get_ref()) {
                Some(t) => t.trim().to_string(),
                None => {
                    return self.err(
                        v.span(),
                        "ingestor.token_env",
                        format!("environment variable {} is not set", v.get_ref()),
                    )
                }
            },
            (None, None, None) => {
                return self.err(
                    i.url.span(),
                    "ingestor",
                    "one of token, token_file or token_env is required",
                )
            }
            _ => {
                return self.err(
                    i.url.span(),
                    "ingestor",
                    "give only one of token, token_file and token_env",
                )
            }
        };
        let token_span = i
            .token
            .as_ref()
            .map(|t| t.span())
            .or(i.token_file.as_ref().map(|t| t.span()))
            .or(i.token_env.as_ref().map(|t| t.span()))
            .unwrap_or(0..0);
        if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return self.err(
                token_span,
                "ingestor.token",
                "must be at least 16 characters without spaces (generate one with `openssl rand -hex 32`)",
            );
        }
        if tls && i.ca_file.is_none() {
            return self.err(
                i.url.span(),
                "ingestor.ca_file",
                "required with https: the PEM file of the CA that signed the ingestor's certificate",
            );
        }
        for (f, name) in [
            (&i.ca_file, "ingestor.ca_file"),
            (&i.client_cert, "ingestor.client_cert"),
            (&i.client_key, "ingestor.client_key"),
        ] {
            if let Some(f) = f {
                if let Err(e) = std::fs::metadata(f.get_ref()) {
                    return self.err(f.span(), name, format!("{}: {e}", f.get_ref().display()));
                }
            }
        }
        match (&i.client_cert, &i.client_key) {
            (Some(c), None) => {
                return self.err(c.span(), "ingestor.client_key", "required with client_cert")
            }
            (None, Some(k)) => {
                return self.err(k.span(), "ingestor.client_cert", "required with client_key")
            }
            _ => {}
        }
        let connect_timeout =
            self.duration(&i.connect_timeout, "ingestor.connect_timeout", "10s")?;
        Ok(IngestorSection {
            url,
            token: Secret(token),
            ca_file: i.ca_file.map(Spanned::into_inner),
            client_cert: i.client_cert.map(Spanned::into_inner),
            client_key: i.client_key.map(Spanned::into_inner),
            tls_server_name: i.tls_server_name,
            connect_timeout,
        })
    }

    fn shipper(&self, s: RawShipper) -> Res<ShipperSection> {
        let batch_max_events = self.count(
            &s.batch_max_events,
            "shipper.batch_max_events",
            5000,
            1,
            1_000_000,
        )?;
        let batch_max_bytes = self.size(&s.batch_max_bytes, "shipper.batch_max_bytes", "1MiB")?;
        if !(4096..=64 << 20).contains(&batch_max_bytes) {
            let span = s.batch_max_bytes.as_ref().map_or(0..0, |v| v.span());
            return self.err(
                span,
                "shipper.batch_max_bytes",
                "must be between 4KiB and 64MiB",
            );
        }
        let max_in_flight = self.count(&s.max_in_flight, "shipper.max_in_flight", 8, 1, 1024)?;
        let backoff_initial =
            self.duration(&s.backoff_initial, "shipper.backoff_initial", "500ms")?;
        let backoff_max = self.duration(&s.backoff_max, "shipper.backoff_max", "60s")?;
        if backoff_max < backoff_initial {
            let span = s.backoff_max.as_ref().map_or(0..0, |v| v.span());
            return self.err(
                span,
                "shipper.backoff_max",
                "must not be below backoff_initial",
            );
        }
        Ok(ShipperSection {
            batch_max_events,
            batch_max_bytes,
            batch_max_delay: self.duration(&s.batch_max_delay, "shipper.batch_max_delay", "1s")?,
            max_in_flight,
            backoff_initial,
            backoff_max,
            compress: s.compress.unwrap_or(true),
            drain_timeout: self.duration(&s.drain_timeout, "shipper.drain_timeout", "10s")?,
        })
    }

    fn spool(&self, s: RawSpool, shipper: &ShipperSection) -> Res<SpoolSection> {
        let max_bytes = self.size(&s.max_bytes, "spool.max_bytes", "1GiB")?;
        let segment_bytes = self.size(&s.segment_bytes, "spool.segment_bytes", "64MiB")?;
        // A batch must fit a segment, and the spool must hold a few segments, or appends
        // could wait for room that never comes.
        if segment_bytes < shipper.batch_max_bytes + 4096 {
            let span = s.segment_bytes.as_ref().map_or(0..0, |v| v.span());
            return self.err(
                span,
                "spool.segment_bytes",
                "must exceed shipper.batch_max_bytes (a batch is one spool record)",
            );
        }
        if max_bytes < 2 * segment_bytes {
            let span = s.max_bytes.as_ref().map_or(0..0, |v| v.span());
            return self.err(
                span,
                "spool.max_bytes",
                "must be at least two segments (spool.segment_bytes)",
            );
        }
        Ok(SpoolSection {
            dir: s.dir.into_inner(),
            max_bytes,
            segment_bytes,
            fsync: s.fsync.unwrap_or(true),
        })
    }

    fn tail(&self, t: RawTail) -> Res<TailSection> {
        let read_chunk = self.size(&t.read_chunk, "tail.read_chunk", "256KiB")?;
        if !(4096..=64 << 20).contains(&read_chunk) {
            let span = t.read_chunk.as_ref().map_or(0..0, |v| v.span());
            return self.err(span, "tail.read_chunk", "must be between 4KiB and 64MiB");
        }
        Ok(TailSection {
            poll_interval: self.duration(&t.poll_interval, "tail.poll_interval", "250ms")?,
            read_chunk: read_chunk as usize,
            idle_close: self.duration(&t.idle_close, "tail.idle_close", "60s")?,
            settle: self.duration(&t.settle, "tail.settle", "10s")?,
            partial_line_timeout: self.duration(
                &t.partial_line_timeout,
                "tail.partial_line_timeout",
                "60s",
            )?,
            forget_after: self.duration(&t.forget_after, "tail.forget_after", "30d")?,
        })
    }

    fn metrics(&self, m: RawMetrics) -> Res<MetricsSection> {
        let listen = match m.listen {
            None => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9465))),
            Some(s) if s.get_ref().is_empty() || s.get_ref() == "off" => None,
            Some(s) => match s.get_ref().parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    return self.err(
                        s.span(),
                        "metrics.listen",
                        format!(
                            "`{}` is not an address like 127.0.0.1:9465 (or \"off\")",
                            s.get_ref()
                        ),
                    )
                }
            },
        };
        Ok(MetricsSection { listen })
    }

    fn source(&self, s: RawSource, field: &str) -> Res<SourceSection> {
        let name = s.name.get_ref().trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return self.err(
                s.name.span(),
                &format!("{field}.name"),
                "must be letters, digits, '-', '_' or '.'",
            );
        }
        let format = match Format::from_name(s.format.get_ref()) {
            Some(f) if TAILABLE.contains(&f) => f,
            _ => {
                let names: Vec<&str> = TAILABLE.iter().map(|f| f.name()).collect();
                return self.err(
                    s.format.span(),
                    &format!("{field}.format"),
                    format!(
                        "`{}` is not one of {}",
                        s.format.get_ref(),
                        names.join(", ")
                    ),
                );
            }
        };
        if s.include.get_ref().is_empty() {
            return self.err(
                s.include.span(),
                &format!("{field}.include"),
                "needs at least one file pattern, e.g. [\"W3SVC*/u_ex*.log\"]",
            );
        }
        for p in s.include.get_ref() {
            if let Err(e) = crate::source::pattern::Pattern::parse(p) {
                return self.err(
                    s.include.span(),
                    &format!("{field}.include"),
                    format!("`{p}`: {e}"),
                );
            }
            if p.trim().is_empty() || p.contains("..") || Path::new(p).is_absolute() {
                return self.err(
                    s.include.span(),
                    &format!("{field}.include"),
                    format!("`{p}` must be a non-empty pattern relative to root, without `..`"),
                );
            }
        }
        Ok(SourceSection {
            name,
            format,
            root: s.root.into_inner(),
            include: s.include.into_inner(),
        })
    }

    fn duration(&self, v: &Option<Spanned<String>>, field: &str, default: &str) -> Res<Duration> {
        let (text, span) = match v {
            Some(s) => (s.get_ref().as_str(), s.span()),
            None => (default, 0..0),
        };
        match parse_duration(text) {
            Some(d) => Ok(d),
            None => self.err(
                span,
                field,
                format!("`{text}` is not a duration like 250ms, 10s, 5m, 1h or 30d"),
            ),
        }
    }

    fn size(&self, v: &Option<Spanned<String>>, field: &str, default: &str) -> Res<u64> {
        let (text, span) = match v {
            Some(s) => (s.get_ref().as_str(), s.span()),
            None => (default, 0..0),
        };
        match parse_size(text) {
            Some(d) if d > 0 => Ok(d),
            _ => self.err(
                span,
                field,
                format!("`{text}` is not a size like 512KiB, 64MiB or 1GiB"),
            ),
        }
    }

    fn count(
        &self,
        v: &Option<Spanned<i64>>,
        field: &str,
        default: usize,
        min: i64,
        max: i64,
    ) -> Res<usize> {
        match v {
            None => Ok(default),
            Some(s) if (min..=max).contains(s.get_ref()) => Ok(*s.get_ref() as usize),
            Some(s) => self.err(
                s.span(),
                field,
                format!("{} is out of range {min}..={max}", s.get_ref()),
            ),
        }
    }
}

/// `250ms`, `10s`, `5m`, `1h`, `30d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" | "min" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// `4096`, `512KiB`, `64MiB`, `1GiB` (binary), `10MB` (decimal).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `+01:00`, `-05:30`, `Z`.
fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s == "Z" || s == "+00:00" || s == "-00:00" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = s[1..].split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// This machine's name: `COMPUTERNAME` on Windows, `HOSTNAME` or /etc/hostname elsewhere.
fn machine_name() -> String {
    for var in ["COMPUTERNAME", "HOSTNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
    }

    fn env() -> MapEnv {
        MapEnv(HashMap::from([(
            "SCEPWATCH_TOKEN",
            "0123456789abcdef0123456789abcdef",
        )]))
    }

    const MINIMAL: &str = r#"[collector]
name = "ndes01"
host = "NDES01"
endpoint = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
state_dir = "/var/lib/scepwatch"

[ingestor]
url = "http://127.0.0.1:4317"
token_env = "SCEPWATCH_TOKEN"

[spool]
dir = "/var/lib/scepwatch/spool"

[[source]]
name = "iis"
format = "iis"
root = "/logs/LogFiles"
include = ["W3SVC*/u_ex*.log"]
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_at(text, Path::new("collector.toml"), &env())
    }

    fn error_of(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c = load(MINIMAL).unwrap();
        assert_eq!(
            c.collector.endpoint_id,
            scepwatch_proto::endpoint::normalize(
                "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
            )
            .unwrap()
        );
        assert_eq!(c.ingestor.token.0, "0123456789abcdef0123456789abcdef");
        assert_eq!(c.shipper.batch_max_events, 5000);
        assert_eq!(c.spool.max_bytes, 1 << 30);
        assert!(c.spool.fsync);
        assert_eq!(c.tail.poll_interval, Duration::from_millis(250));
        assert_eq!(c.sources[0].format, Format::Iis);
        assert_eq!(format!("{:?}", c.ingestor.token), "Secret(..)");
    }

    #[test]
    fn the_shipped_example_loads() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
        // The example names Windows paths; only the CA and token files must exist to load.
        let text = EXAMPLE
            .replace(
                r"C:\ProgramData\scepwatch\ingestor-ca.pem",
                &ca.display().to_string(),
            )
            .replace(
                r"C:\ProgramData\scepwatch\token",
                &token.display().to_string(),
            );
        let c = load(&text).unwrap();
        assert!(c.sources.len() >= 4, "{:?}", c.sources);
        assert!(c.ingestor.url.starts_with("https://"));
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let text = MINIMAL.replace("[spool]\n", "[spool]\nmax_byte = \"1GiB\"\n");
        let e = error_of(&text);
        assert!(
            e.starts_with("collector.toml:12:1: unknown field `max_byte`"),
            "{e}"
        );
    }

    #[test]
    fn bad_endpoint_names_its_line() {
        let text = MINIMAL.replace(
            "endpoint = \"https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll\"",
            "endpoint = \"ndes-contoso\"",
        );
        let e = error_of(&text);
        assert!(
            e.starts_with("collector.toml:4:12: collector.endpoint:"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (from, to, want) in [
            (
                "format = \"iis\"",
                "format = \"iis-log\"",
                "collector.toml:16:10: source[0].format: `iis-log` is not one of iis, httperr",
            ),
            (
                "include = [\"W3SVC*/u_ex*.log\"]",
                "include = []",
                "source[0].include: needs at least one",
            ),
            (
                "include = [\"W3SVC*/u_ex*.log\"]",
                "include = [\"../etc/*\"]",
                "component",
            ),
            (
                "dir = \"/var/lib/scepwatch/spool\"",
                "dir = \"/s\"\nmax_bytes = \"10MiB\"",
                "spool.max_bytes: must be at least two segments",
            ),
            (
                "dir = \"/var/lib/scepwatch/spool\"",
                "dir = \"/s\"\nmax_bytes = \"lots\"",
                "spool.max_bytes: `lots` is not a size",
            ),
            (
                "url = \"http://127.0.0.1:4317\"",
                "url = \"http://ingest.contoso.com:4317\"",
                "plain http is only allowed to a loopback",
            ),
            (
                "url = \"http://127.0.0.1:4317\"",
                "url = \"https://ingest.contoso.com:4317\"",
                "ingestor.ca_file: required with https",
            ),
            (
                "token_env = \"SCEPWATCH_TOKEN\"",
                "token_env = \"NOPE\"",
                "collector.toml:9:13: ingestor.token_env: environment variable NOPE is not set",
            ),
            (
                "token_env = \"SCEPWATCH_TOKEN\"",
                "token = \"short\"",
                "at least 16 characters",
            ),
            (
                "token_env = \"SCEPWATCH_TOKEN\"",
                "",
                "one of token, token_file or token_env is required",
            ),
            (
                "host = \"NDES01\"",
                "host = \"NDES01\"\nutc_offset = \"CET\"",
                "collector.utc_offset: `CET`",
            ),
        ] {
            assert!(MINIMAL.contains(from), "{from}");
            let e = error_of(&MINIMAL.replace(from, to));
            assert!(e.contains(want), "want {want:?} in {e:?}");
        }
    }

    #[test]
    fn duplicate_source_names_are_refused() {
        let text = format!(
            "{MINIMAL}\n[[source]]\nname = \"iis\"\nformat = \"httperr\"\nroot = \"/x\"\ninclude = [\"*.log\"]\n"
        );
        let e = error_of(&text);
        assert!(
            e.contains("source[1].name: `iis` is used by another source"),
            "{e}"
        );
        assert!(e.starts_with("collector.toml:21:8"), "{e}");
    }

    #[test]
    fn a_device_log_collector_serves_no_endpoint() {
        let text = MINIMAL
            .replace(
                "endpoint = \"https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll\"\n",
                "",
            )
            .replace("format = \"iis\"", "format = \"android-omadm\"");
        let c = load(&text).unwrap();
        assert_eq!(c.collector.endpoint, "");
        assert_eq!(c.collector.endpoint_id, "");
        // Given, it must still be a SCEP URL.
        let e = error_of(&MINIMAL.replace(
            "endpoint = \"https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll\"",
            "endpoint = \"\"",
        ));
        assert!(e.contains("collector.endpoint:"), "{e}");
    }

    #[test]
    fn probe_and_health_files_are_sources() {
        for format in ["probe", "health"] {
            let text = MINIMAL.replace("format = \"iis\"", &format!("format = \"{format}\""));
            let c = load(&text).unwrap();
            assert_eq!(c.sources[0].format.name(), format);
        }
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        let e = error_of(&MINIMAL.replace("name = \"ndes01\"", "name = ndes01"));
        assert!(e.starts_with("collector.toml:2:8:"), "{e}");
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("99999999999999999999GiB"), None);
        assert_eq!(parse_utc_offset("+01:00"), Some(3600));
        assert_eq!(parse_utc_offset("-05:30"), Some(-19800));
        assert_eq!(parse_utc_offset("+25:00"), None);
    }
}
