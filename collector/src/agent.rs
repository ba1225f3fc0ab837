//! The collector agent: file sources → batches → durable spool → shipper → ingestor.
//!
//! ```text
//!   tail thread                      spool (disk)                 shipper (tokio)
//!   Tailer::poll ─ chunks ─► BatchBuilder ─ append ─► segments ─ read ─► gRPC stream ─► ingestor
//!        ▲                  (blocks when full)               ◄─ ack ── (after Kafka has it)
//!        └──────── resume positions ◄── checkpoints.json ◄── saved, then spool.ack(seq)
//! ```
//!
//! - Reading never runs ahead of the disk: a batch is appended to the spool (fsynced) before
//!   the next file bytes are read, and when the spool is full the tail thread waits
//!   (backpressure) instead of dropping anything.
//! - A source's checkpoint advances only when the ingestor has acknowledged the batch that
//!   carried its watermark, i.e. once Kafka holds it.
//! - On start, each stream resumes after the furthest of its acknowledged checkpoint and the
//!   watermarks still in the spool: spooled batches are shipped, never read twice; a batch torn
//!   by a crash is cut by spool recovery and its lines are simply read again (same event IDs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use prost::Message;
use scepwatch_proto::v1::{Batch, Event, Watermark};
use scepwatch_proto::SourceKey;
use tokio::sync::{watch, Notify};
use tracing::{error, info, info_span, warn};

use crate::config::Config;
use crate::metrics::AgentMetrics;
use crate::ship::{Delivered, ShipError, Shipper, ShipperOptions};
use crate::source::{Checkpoints, Chunk, SourceSpec, TailOptions, Tailer};
use crate::spool::{Fsync, Spool, SpoolOptions};

/// Name of the checkpoint file in the state folder.
pub const CHECKPOINT_FILE: &str = "checkpoints.json";

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A folder or file of the state could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The spool could not be opened or failed.
    #[error("spool {path}: {source}")]
    Spool {
        /// The spool folder.
        path: PathBuf,
        /// The failure.
        source: crate::spool::SpoolError,
    },
    /// The checkpoints could not be loaded.
    #[error("checkpoints: {0}")]
    Checkpoints(String),
    /// The shipper stopped.
    #[error(transparent)]
    Ship(#[from] ShipError),
    /// The tail thread stopped on an error.
    #[error("reading sources: {0}")]
    Tail(String),
}

/// Run the agent until `shutdown` resolves; then stop reading, spool what was read, wait for
/// acknowledgements of batches in flight (up to the drain timeout) and save checkpoints.
pub async fn run(
    config: Config,
    metrics: Arc<AgentMetrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AgentError> {
    let state_dir = config.collector.state_dir.clone();
    create_dir(&state_dir)?;
    create_dir(&config.spool.dir)?;
    let checkpoint_path = state_dir.join(CHECKPOINT_FILE);

    let (spool, recovery) = Spool::open(
        &config.spool.dir,
        SpoolOptions {
            max_bytes: config.spool.max_bytes,
            segment_bytes: config.spool.segment_bytes,
            fsync: if config.spool.fsync {
                Fsync::Always
            } else {
                Fsync::Never
            },
        },
    )
    .map_err(|source| AgentError::Spool {
        path: config.spool.dir.clone(),
        source,
    })?;
    info!(?recovery, "spool opened");

    let acked = Checkpoints::load(&checkpoint_path)
        .map_err(|e| AgentError::Checkpoints(format!("{}: {e}", checkpoint_path.display())))?;
    let resume = resume_points(&acked, &spool).map_err(|source| AgentError::Spool {
        path: config.spool.dir.clone(),
        source,
    })?;

    let specs = source_specs(&config);
    let tail_opts = TailOptions {
        collector: config.collector.name.clone(),
        read_chunk: config.tail.read_chunk,
        idle_close: config.tail.idle_close,
        settle: config.tail.settle,
        partial_line_timeout: config.tail.partial_line_timeout,
        ..TailOptions::default()
    };
    let tailer = Tailer::new(specs, tail_opts, &resume);

    let wake = Arc::new(Notify::new());
    {
        let wake = wake.clone();
        spool.set_on_append(Box::new(move || wake.notify_one()));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tail_thread = {
        let spool = spool.clone();
        let stop = stop.clone();
        let metrics = metrics.clone();
        let batching = Batching {
            collector: config.collector.name.clone(),
            max_events: config.shipper.batch_max_events,
            max_bytes: config.shipper.batch_max_bytes as usize,
            max_delay: config.shipper.batch_max_delay,
        };
        let poll_interval = config.tail.poll_interval;
        let forget_after = config.tail.forget_after;
        std::thread::Builder::new()
            .name("tail".into())
            .spawn(move || {
                tail_loop(
                    tailer,
                    spool,
                    batching,
                    poll_interval,
                    forget_after,
                    stop,
                    metrics,
                )
            })
            .map_err(|source| AgentError::Io {
                path: PathBuf::from("<tail thread>"),
                source,
            })?
    };

    let ship_opts = shipper_options(&config)?;
    let hook = CheckpointHook {
        checkpoints: acked,
        path: checkpoint_path,
        forget_after: config.tail.forget_after,
    };
    let (stop_ship, ship_shutdown) = watch::channel(false);
    let shipper = Shipper::new(
        ship_opts,
        spool.clone(),
        Box::new(hook),
        metrics.clone(),
        wake,
    );
    let mut ship_task = tokio::spawn(shipper.run(ship_shutdown));
    let spool_watch = tokio::spawn(watch_spool(spool.clone(), metrics.clone()));

    // Wait for shutdown, or for the shipper to fail for good.
    tokio::pin!(shutdown);
    let early = tokio::select! {
        _ = &mut shutdown => None,
        r = &mut ship_task => Some(r),
    };
    info!("stopping: no more reading");
    stop.store(true, Ordering::SeqCst);
    // A tail thread waiting for room in a full spool is released by `close`; what it had read
    // but not spooled is read again after restart (its checkpoint does not cover it).
    spool.close();
    let tail_result = tokio::task::spawn_blocking(move || tail_thread.join())
        .await
        .map_err(|e| AgentError::Tail(format!("join: {e}")))?;
    let tail_result = match tail_result {
        Ok(r) => r,
        Err(_) => Err("the tail thread panicked".to_string()),
    };
    let ship_result = match early {
        Some(r) => r,
        None => {
            let _ = stop_ship.send(true);
            ship_task.await
        }
    };
    match ship_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => return Err(AgentError::Tail(format!("shipper task: {e}"))),
    }
    spool_watch.abort();
    spool_metrics(&spool, &metrics, &mut false);
    tail_result.map_err(AgentError::Tail)?;
    info!("stopped");
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(path).map_err(|source| AgentError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The file sources the configuration declares.
pub fn source_specs(config: &Config) -> Vec<SourceSpec> {
    config
        .sources
        .iter()
        .map(|s| SourceSpec {
            name: s.name.clone(),
            format: s.format,
            root: s.root.clone(),
            include: s.include.clone(),
            host: config.collector.host.clone(),
            endpoint_id: config.collector.endpoint_id.clone(),
            utc_offset_secs: config.collector.utc_offset_secs,
        })
        .collect()
}

/// Where each stream resumes: its acknowledged checkpoint, moved forward by the watermarks of
/// batches still in the spool (they are shipped from there, not read again).
pub fn resume_points(
    acked: &Checkpoints,
    spool: &Spool,
) -> Result<Checkpoints, crate::spool::SpoolError> {
    let mut resume = acked.clone();
    let mut from = match spool.acked() {
        Some(a) => a + 1,
        None => {
            let s = spool.stats();
            s.next_seq.saturating_sub(s.records)
        }
    };
    loop {
        let records = spool.read(from, 64, 64 << 20)?;
        let Some(last) = records.last().map(|r| r.0) else {
            break;
        };
        for (_, bytes) in &records {
            if let Ok(b) = Batch::decode(bytes.as_slice()) {
                for wm in &b.watermarks {
                    resume.advance(wm);
                }
            }
        }
        from = last + 1;
    }
    Ok(resume)
}

fn shipper_options(config: &Config) -> Result<ShipperOptions, AgentError> {
    let read = |p: &Option<PathBuf>| -> Result<Option<Vec<u8>>, AgentError> {
        match p {
            None => Ok(None),
            Some(path) => std::fs::read(path)
                .map(Some)
                .map_err(|source| AgentError::Io {
                    path: path.clone(),
                    source,
                }),
        }
    };
    let i = &config.ingestor;
    let client_identity = match (read(&i.client_cert)?, read(&i.client_key)?) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => None,
    };
    Ok(ShipperOptions {
        url: i.url.clone(),
        token: i.token.0.clone(),
        ca_pem: read(&i.ca_file)?,
        client_identity,
        tls_server_name: i.tls_server_name.clone(),
        compress: config.shipper.compress,
        max_in_flight: config.shipper.max_in_flight,
        backoff_initial: config.shipper.backoff_initial,
        backoff_max: config.shipper.backoff_max,
        connect_timeout: i.connect_timeout,
        drain_timeout: config.shipper.drain_timeout,
        checkpoint_interval: Duration::from_millis(500),
        rejected_dir: config.collector.state_dir.join("rejected"),
        rejected_keep: 100,
    })
}

/// Folds delivered watermarks into the acknowledged checkpoints and saves them.
struct CheckpointHook {
    checkpoints: Checkpoints,
    path: PathBuf,
    forget_after: Duration,
}

impl Delivered for CheckpointHook {
    fn delivered(&mut self, watermarks: &[Watermark]) {
        for wm in watermarks {
            self.checkpoints.advance(wm);
        }
    }

    fn save(&mut self) -> Result<(), String> {
        if let Some(t) = SystemTime::now().checked_sub(self.forget_after) {
            self.checkpoints.forget_older_than(t);
        }
        self.checkpoints
            .save(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// When a batch is cut.
#[derive(Debug, Clone)]
pub struct Batching {
    /// Collector name written into each batch.
    pub collector: String,
    /// Most events in a batch.
    pub max_events: usize,
    /// Most encoded bytes in a batch (approximately: a batch is cut when it reaches this).
    pub max_bytes: usize,
    /// Longest time the first event of a batch waits.
    pub max_delay: Duration,
}

/// Events and the newest watermark of each stream, on their way to one spool record.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    events: Vec<Event>,
    watermarks: HashMap<SourceKey, Watermark>,
    bytes: usize,
    started: Option<Instant>,
}

impl BatchBuilder {
    /// Add one event.
    pub fn push_event(&mut self, event: Event) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        self.bytes += event.encoded_len() + 3;
        self.events.push(event);
    }

    /// Record how far a stream has been read after the events pushed so far (the newest
    /// watermark of a stream replaces older ones).
    pub fn push_watermark(&mut self, watermark: Watermark) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        let key = watermark
            .source
            .as_ref()
            .map_or(SourceKey(0), SourceKey::of);
        self.bytes += watermark.encoded_len() + 3;
        self.watermarks.insert(key, watermark);
    }

    /// Add a chunk, cutting a batch (through `flush`) whenever one is full, so no batch
    /// exceeds the limits by more than one event. A chunk's watermark goes with its last
    /// events: a batch holding only the first part of a chunk does not move that stream's
    /// checkpoint.
    pub fn push_chunk<E>(
        &mut self,
        chunk: Chunk,
        limits: &Batching,
        mut flush: impl FnMut(&mut BatchBuilder) -> Result<(), E>,
    ) -> Result<(), E> {
        for event in chunk.events {
            self.push_event(event);
            if self.full(limits) {
                flush(self)?;
            }
        }
        self.push_watermark(chunk.watermark);
        if self.full(limits) {
            flush(self)?;
        }
        Ok(())
    }

    /// Whether the batch reached a size limit.
    pub fn full(&self, b: &Batching) -> bool {
        self.events.len() >= b.max_events || self.bytes >= b.max_bytes
    }

    /// Whether the batch's oldest event waited `max_delay`.
    pub fn due(&self, b: &Batching) -> bool {
        self.started.is_some_and(|t| t.elapsed() >= b.max_delay)
    }

    /// Nothing collected.
    pub fn is_empty(&self) -> bool {
        self.started.is_none()
    }

    /// The encoded `Batch` (without sequence number: the shipper adds it), and its event count;
    /// the builder is empty afterwards.
    pub fn take(&mut self, b: &Batching) -> (Vec<u8>, usize) {
        let mut watermarks: Vec<Watermark> = self.watermarks.drain().map(|(_, w)| w).collect();
        watermarks.sort_by(|a, b| {
            let k = |w: &Watermark| {
                w.source
                    .as_ref()
                    .map(|s| (s.path.clone(), s.stream.clone()))
            };
            k(a).cmp(&k(b))
        });
        let batch = Batch {
            collector: b.collector.clone(),
            sequence: 0,
            events: std::mem::take(&mut self.events),
            watermarks,
        };
        self.bytes = 0;
        self.started = None;
        let n = batch.events.len();
        (batch.encode_to_vec(), n)
    }
}

fn tail_loop(
    mut tailer: Tailer,
    spool: Spool,
    batching: Batching,
    poll_interval: Duration,
    forget_after: Duration,
    stop: Arc<AtomicBool>,
    metrics: Arc<AgentMetrics>,
) -> Result<(), String> {
    let mut builder = BatchBuilder::default();
    let mut last_forget = Instant::now();
    let flush = |builder: &mut BatchBuilder, metrics: &AgentMetrics| -> Result<(), String> {
        let (bytes, events) = builder.take(&batching);
        let span = info_span!("spool_append", events, bytes = bytes.len());
        let _g = span.enter();
        match spool.append(&bytes) {
            Ok(_) => {
                metrics.batches_spooled.inc();
                metrics.events_spooled.inc_by(events as u64);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    };
    while !stop.load(Ordering::SeqCst) {
        let report = tailer.poll(SystemTime::now(), &mut |chunk: Chunk| {
            if !chunk.events.is_empty() {
                metrics
                    .events_read
                    .get_or_create(&vec![("source", chunk.source_name.clone())])
                    .inc_by(chunk.events.len() as u64);
            }
            builder.push_chunk(chunk, &batching, |b| flush(b, &metrics))
        });
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                if stop.load(Ordering::SeqCst) {
                    // The spool was closed under a waiting append: shutting down.
                    break;
                }
                error!(error = %e, "reading sources failed");
                return Err(e.to_string());
            }
        };
        if !builder.is_empty() && (builder.due(&batching) || report.bytes_read == 0) {
            if let Err(e) = flush(&mut builder, &metrics) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                return Err(e);
            }
        }
        tail_metrics(&tailer, &metrics);
        if last_forget.elapsed() > Duration::from_secs(3600) {
            if let Some(t) = SystemTime::now().checked_sub(forget_after) {
                tailer.forget_older_than(t);
            }
            last_forget = Instant::now();
        }
        if report.bytes_read == 0 && !report.more {
            std::thread::sleep(poll_interval);
        }
    }
    // What is read but not spooled is not lost: checkpoints do not cover it.
    if !builder.is_empty() {
        match spool.try_append(&builder.take(&batching).0) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                info!("spool full or closed at shutdown: the last lines read are read again after restart")
            }
        }
    }
    Ok(())
}

/// Refresh the spool gauges and say when the spool fills up or has room again. Runs beside the
/// tail thread, which may be the one waiting.
async fn watch_spool(spool: Spool, metrics: Arc<AgentMetrics>) {
    let mut was_full = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        spool_metrics(&spool, &metrics, &mut was_full);
    }
}

fn spool_metrics(spool: &Spool, metrics: &AgentMetrics, was_full: &mut bool) {
    let s = spool.stats();
    metrics.spool_bytes.set(s.bytes as i64);
    metrics.spool_records.set(s.records as i64);
    metrics.spool_full.set(i64::from(s.currently_full));
    let waits = s.full_waits;
    let seen = metrics.spool_full_waits.get();
    if waits > seen {
        metrics.spool_full_waits.inc_by(waits - seen);
    }
    if s.currently_full != *was_full {
        if s.currently_full {
            warn!(
                bytes = s.bytes,
                "spool full: reading waits until the ingestor acknowledges batches (nothing is dropped)"
            );
        } else {
            info!("spool has room again: reading resumes");
        }
        *was_full = s.currently_full;
    }
}

fn tail_metrics(tailer: &Tailer, metrics: &AgentMetrics) {
    let t = tailer.stats();
    // The tailer's counters are totals since start; the metrics follow them.
    let catch_up = |c: &prometheus_client::metrics::counter::Counter, total: u64| {
        let seen = c.get();
        if total > seen {
            c.inc_by(total - seen);
        }
    };
    catch_up(&metrics.bytes_read, t.bytes_read);
    for (reason, n) in &t.parse_errors {
        catch_up(
            &metrics
                .parse_errors
                .get_or_create(&vec![("reason", (*reason).to_string())]),
            *n,
        );
    }
    for (kind, n) in [
        ("rotation", t.rotations),
        ("truncation", t.truncations),
        ("move", t.moves),
    ] {
        catch_up(
            &metrics
                .stream_changes
                .get_or_create(&vec![("kind", kind.to_string())]),
            n,
        );
    }
    metrics.files_tracked.set(t.files_known as i64);
    metrics.files_open.set(t.files_open as i64);
}
