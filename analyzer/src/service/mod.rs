//! The analyzer service: a Kafka consumer group over the events topic that runs the engine per
//! partition and stores events, attempts, diagnoses and incidents in ClickHouse.
//!
//! One engine, two drivers: `scepwatch diagnose` feeds the engine from files, this service from
//! Kafka. The loop, in one task:
//!
//! 1. **Read** records (`v1::EndpointEvents`, keyed by endpoint, so one endpoint's events are in
//!    one partition, in order). Each partition has its own engine and spike detector
//!    ([`partition`]); every event becomes an `events` row (or a `rejects` row), watermarks
//!    `watermarks` rows.
//! 2. **Flush** every `flush_interval` or `flush_events`: each partition's engine concludes what
//!    its sources' progress allows (attempts, diagnoses), the spike detector what its minutes
//!    allow (incidents), and all the rows are inserted ([`outbox`]), retried until ClickHouse
//!    takes them. The insert runs on a task of its own while the loop reads on into the next
//!    flush's rows; at most one flush is in flight, so when ClickHouse is slow or down the
//!    loop stops reading once the next flush is full: an outage pauses consumption. While a
//!    store takes longer than `flush_interval`, flushes wait for `busy_flush_interval` (or
//!    `flush_events`): ClickHouse takes fewer, larger INSERTs at a fraction of the cost.
//! 3. **Commit**, per partition, the offset of the first record still needed
//!    ([`offsets`]): below it every record's events are stored and no held state (open
//!    attempts, baselines) was built from them. A restart or a rebalance replays from there
//!    with fresh state; the rows it writes again carry the same deterministic IDs, which
//!    `ReplacingMergeTree` folds (docs/clickhouse.md).
//!
//! Shutdown (SIGTERM, Ctrl-C): stop reading, flush, commit synchronously, leave the group.

pub mod config;
pub mod http;
pub mod metrics;
pub mod offsets;
pub mod outbox;
pub mod partition;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::store::migrate::migrate;
use crate::store::rows::EventRow;
use crate::store::writer::Writer;
use config::Config;
use metrics::{Metrics, PartitionLabel};
use outbox::{Outbox, Rows};
use partition::{Incoming, Partition};

/// Why the service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Kafka refused the consumer's configuration or subscription.
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// ClickHouse failed in a way a retry cannot cure (configuration, migrations, a refused
    /// insert).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The task storing a flush panicked.
    #[error("the flush task failed: {0}")]
    FlushTask(#[from] tokio::task::JoinError),
    /// Shutdown was asked for before the service could start.
    #[error("stopped before Kafka and ClickHouse were ready")]
    Stopped,
    /// The health and metrics listener could not start.
    #[error("http listener {addr}: {source}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What a finished run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Records read (replays included).
    pub records: u64,
    /// Events read.
    pub events: u64,
    /// Flushes stored.
    pub flushes: u64,
    /// Rows left unstored at the end (their offsets were not committed: a restart replays
    /// them).
    pub rows_left: usize,
}

/// State the health endpoints read.
#[derive(Debug)]
pub struct Shared {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Set once migrations are applied and the consumer subscribed.
    pub ready: watch::Sender<bool>,
    /// Set when shutdown begins.
    pub stopping: watch::Sender<bool>,
    /// When the flush in progress started (ms since the epoch; 0 between flushes).
    pub flush_started_ms: AtomicU64,
}

impl Shared {
    /// Fresh state around `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Shared {
            metrics,
            ready: watch::Sender::new(false),
            stopping: watch::Sender::new(false),
            flush_started_ms: AtomicU64::new(0),
        })
    }

    /// How long the flush in progress has been waiting (zero between flushes).
    pub fn store_wait(&self) -> Duration {
        let since = self.flush_started_ms.load(Ordering::Relaxed);
        if since == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(now_ms().saturating_sub(since))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Rebalances seen by the consumer's context, handled by the loop after each poll.
#[derive(Debug)]
enum Change {
    /// Partitions with the metadata committed with their offsets.
    Assigned(Vec<(i32, String)>),
    Revoked(Vec<i32>),
}

struct Ctx {
    topic: String,
    changes: Arc<Mutex<Vec<Change>>>,
}

impl ClientContext for Ctx {
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            // Reading a partition to its end is news, not an error (the loop takes it from
            // the stream too).
            KafkaError::PartitionEOF(p) => debug!(partition = p, "read to the end"),
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {
                debug!(reason, "read to the end")
            }
            e => warn!(error = %e, reason, "Kafka client error"),
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.push(Change::Revoked(self.partitions(tpl)));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // The metadata committed with each offset says where the replay starts for the
                // spike detector. Read here, inside the poll that serves the rebalance, before
                // any record of these partitions.
                let notes = consumer
                    .committed_offsets((*tpl).clone(), Duration::from_secs(10))
                    .map_err(|e| warn!(error = %e, "committed offsets not read: fresh state"))
                    .ok();
                let assigned = self
                    .partitions(tpl)
                    .into_iter()
                    .map(|p| {
                        let note = notes
                            .as_ref()
                            .and_then(|n| n.find_partition(&self.topic, p))
                            .map(|e| e.metadata().to_string())
                            .unwrap_or_default();
                        (p, note)
                    })
                    .collect();
                self.push(Change::Assigned(assigned));
            }
            Rebalance::Error(e) => warn!(error = %e, "rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }
}

impl Ctx {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect()
    }

    fn push(&self, c: Change) {
        if let Ok(mut v) = self.changes.lock() {
            v.push(c);
        }
    }
}

/// The consumer's librdkafka configuration.
fn consumer_config(c: &config::KafkaConfig) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &c.bootstrap_servers)
        .set("group.id", &c.group_id)
        .set("auto.offset.reset", "earliest")
        // librdkafka's default is 500 ms. Apache Kafka answers a fetch as soon as records are
        // there, so this only bounds the wait of an idle consumer; brokers that always wait it
        // out (the test broker, docs/kafka.md) serve one fetch per partition per wait.
        .set("fetch.wait.max.ms", "100")
        // Leaving the group during a long ClickHouse outage (nothing is polled while a flush
        // retries) would only move the partitions to another analyzer that cannot write either.
        .set("max.poll.interval.ms", "900000")
        // Once its queue holds `queued.max.messages.kbytes` (64 MiB), librdkafka stops fetching
        // for this long (its default, 1 s). The loop drains 64 MiB of records in well under a
        // second under load, and then waited for the rest of it: about 40 % of a backlog's
        // replay time (BENCHMARKS.md, "the consumer's fetch back-off"). Checking again every
        // 10 ms costs nothing measurable.
        .set("fetch.queue.backoff.ms", "10");
    for (k, v) in &c.properties {
        cfg.set(k, v);
    }
    // Offsets are committed by the loop, and only once what precedes them is stored. The end
    // of a partition is reported, so that an idle partition is concluded only once it has
    // been read to its end (never because the broker is slow).
    cfg.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    cfg
}

/// The service, set up (migrated, subscribed) and ready to [`Service::run`].
pub struct Service {
    config: Config,
    consumer: Arc<StreamConsumer<Ctx>>,
    changes: Arc<Mutex<Vec<Change>>>,
    writer: Writer,
    shared: Arc<Shared>,
    parts: BTreeMap<i32, Partition>,
    outbox: Outbox,
    /// The flush being stored, when one is.
    in_flight: Option<InFlight>,
    /// When the last flush was prepared.
    last_flush: Instant,
    /// The last store took longer than the flush interval (see [`Service::flush_due`]).
    busy: bool,
    report: RunReport,
}

/// A flush whose rows a task is storing; its offsets are committed once they are stored.
struct InFlight {
    task: tokio::task::JoinHandle<(Rows, Result<(), crate::store::StoreError>)>,
    started: Instant,
    /// Partition, offset and metadata.
    commits: Vec<(i32, i64, String)>,
}

/// Completes with the flush in flight's outcome; never when there is none.
async fn outcome(
    f: &mut Option<InFlight>,
) -> Result<(Rows, Result<(), crate::store::StoreError>), tokio::task::JoinError> {
    match f {
        Some(f) => (&mut f.task).await,
        None => std::future::pending().await,
    }
}

impl Service {
    /// Connects to ClickHouse, applies the schema's migrations (waiting for the server when it
    /// is not up yet, until `give_up` resolves), and subscribes to the topic.
    pub async fn start(
        config: Config,
        shared: Arc<Shared>,
        give_up: impl Future<Output = ()>,
    ) -> Result<Service, ServiceError> {
        let client = config.clickhouse.client()?;
        let writer = Writer::new(client.clone(), config.clickhouse.retry_policy());
        let applied_by = format!(
            "scepwatch-analyzer {} on {}",
            env!("CARGO_PKG_VERSION"),
            hostname()
        );
        tokio::pin!(give_up);
        let mut wait = Duration::from_millis(500);
        loop {
            match migrate(&client, &config.clickhouse.database, &applied_by).await {
                Ok(report) => {
                    info!(applied = ?report.applied, "schema up to date");
                    break;
                }
                Err(e) if e.is_transient() => {
                    warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "ClickHouse not reachable yet");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = &mut give_up => return Err(e.into()),
                    }
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(days) = config.clickhouse.raw_retention_days {
            tokio::spawn(retention_loop(
                client.clone(),
                config.clickhouse.database.clone(),
                days,
            ));
        }
        let changes = Arc::new(Mutex::new(Vec::new()));
        let ctx = Ctx {
            topic: config.kafka.topic.clone(),
            changes: changes.clone(),
        };
        let consumer: Arc<StreamConsumer<Ctx>> =
            Arc::new(consumer_config(&config.kafka).create_with_context(ctx)?);
        // A subscription to a topic that does not exist yet is only noticed at librdkafka's
        // next metadata refresh (5 minutes): wait for the topic (the ingestor creates it).
        let mut wait = Duration::from_millis(500);
        loop {
            let c = consumer.clone();
            let topic = config.kafka.topic.clone();
            let partitions = tokio::task::spawn_blocking(move || {
                c.fetch_metadata(Some(&topic), Duration::from_secs(5))
                    .map(|m| {
                        m.topics()
                            .iter()
                            .map(|t| t.partitions().len())
                            .sum::<usize>()
                    })
            })
            .await
            .unwrap_or(Ok(0));
            match partitions {
                Ok(n) if n > 0 => break,
                Ok(_) => {
                    warn!(topic = %config.kafka.topic, "the topic does not exist yet; waiting")
                }
                Err(e) => warn!(error = %e, "Kafka metadata not read; waiting"),
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut give_up => return Err(ServiceError::Stopped),
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
        consumer.subscribe(&[&config.kafka.topic])?;
        info!(topic = %config.kafka.topic, group = %config.kafka.group_id, "subscribed");
        shared.ready.send_replace(true);
        let event_types = writer.column_types::<EventRow>(EventRow::TABLE).await?;
        let outbox = Outbox::new(config.kafka.topic.clone(), event_types);
        Ok(Service {
            config,
            consumer,
            changes,
            writer,
            shared,
            parts: BTreeMap::new(),
            outbox,
            in_flight: None,
            last_flush: Instant::now(),
            busy: false,
            report: RunReport::default(),
        })
    }

    /// Consumes until `shutdown` resolves, then flushes, commits and leaves the group. A flush
    /// that waits for ClickHouse when shutdown comes gives up at once: its rows are not
    /// stored and their offsets not committed, so the next start replays them.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<RunReport, ServiceError> {
        let (stop_tx, mut stop_wait) = watch::channel(false);
        // Flushes retry until ClickHouse takes their rows, or until this turns true: the
        // shutdown time after shutdown began.
        let (abandon_tx, abandon) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            shutdown.await;
            stop_tx.send_replace(true);
        });
        let lag = tokio::spawn(lag_loop(
            self.consumer.clone(),
            self.config.kafka.topic.clone(),
            self.shared.metrics.clone(),
        ));
        let consumer = self.consumer.clone();
        let mut tick = tokio::time::interval(self.config.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            tokio::select! {
                biased;
                _ = async { let _ = stop_wait.wait_for(|s| *s).await; } => break Ok(()),
                done = outcome(&mut self.in_flight) => {
                    if let Err(e) = self.landed(done, false) {
                        break Err(e);
                    }
                    // A flush that came due while this one was stored starts at once.
                    if self.flush_due() {
                        self.apply_changes();
                        self.flush(&abandon, true);
                    }
                }
                _ = tick.tick() => {
                    // Rebalances are seen during `recv`; a partition assigned or revoked while
                    // no record comes (an idle topic, a slow broker) is taken in here too.
                    self.apply_changes();
                    // A tick is the interval; while ClickHouse is behind, the busy one counts.
                    if self.in_flight.is_none() && (!self.busy || self.flush_due()) {
                        self.flush(&abandon, true);
                    }
                }
                msg = consumer.recv() => {
                    self.apply_changes();
                    match msg {
                        Ok(m) => self.take(&m),
                        Err(KafkaError::PartitionEOF(p)) => {
                            if let Some(part) = self.parts.get_mut(&p) {
                                part.reached_end(&self.shared.metrics);
                            }
                        }
                        Err(e) => warn!(error = %e, "Kafka consumer error"),
                    }
                    if self.outbox.events() >= self.config.flush_events {
                        // Full: reading stops until the flush in flight is stored.
                        if let Err(e) = self.wait_in_flight(false).await {
                            break Err(e);
                        }
                        self.flush(&abandon, true);
                    }
                }
            }
        };
        self.shared.stopping.send_replace(true);
        lag.abort();
        stopper.abort();
        let result = match result {
            Ok(()) => {
                info!("shutting down: storing the last batch");
                // The shutdown time ends the retries of the flush in flight and of the last.
                let deadline = self.config.shutdown;
                let timer = tokio::spawn(async move {
                    tokio::time::sleep(deadline).await;
                    abandon_tx.send_replace(true);
                });
                let r = self.last_flush(&abandon).await;
                timer.abort();
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            Err(ServiceError::Store(crate::store::StoreError::GaveUp { .. })) => {
                self.report.rows_left += self.outbox.rows();
                warn!(
                    rows = self.report.rows_left,
                    "stopped while ClickHouse did not take the last rows; their offsets are not \
                     committed, the next start replays them"
                );
            }
            Err(e) => return Err(e),
        }
        self.consumer.unsubscribe();
        Ok(self.report)
    }

    fn apply_changes(&mut self) {
        let changes = match self.changes.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => return,
        };
        for c in changes {
            match c {
                Change::Assigned(ps) => {
                    info!(partitions = ?ps, "partitions assigned");
                    for (p, note) in ps {
                        self.parts.entry(p).or_insert_with(|| {
                            Partition::new(p, &self.config.engine, &self.config.spike, &note)
                        });
                    }
                }
                Change::Revoked(ps) => {
                    // Their state goes: the next owner replays from the last commit, which is
                    // never past anything not stored or still needed.
                    info!(partitions = ?ps, "partitions revoked");
                    for p in ps {
                        // The flush in flight may not commit for them any more: the next
                        // owner may have committed a later offset by the time it lands.
                        if let Some(f) = self.in_flight.as_mut() {
                            f.commits.retain(|(q, _, _)| *q != p);
                        }
                        self.parts.remove(&p);
                        self.shared.metrics.forget_partition(p);
                    }
                }
            }
        }
        self.shared.metrics.partitions.set(self.parts.len() as i64);
    }

    fn take(&mut self, m: &rdkafka::message::BorrowedMessage<'_>) {
        let partition = m.partition();
        let Some(part) = self.parts.get_mut(&partition) else {
            // A record of a partition revoked since it was fetched.
            debug!(
                partition,
                offset = m.offset(),
                "record of an unassigned partition skipped"
            );
            return;
        };
        let schema = m.headers().and_then(|h| {
            use rdkafka::message::Headers;
            h.iter()
                .find(|h| h.key == partition::SCHEMA_HEADER)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        let incoming = Incoming {
            partition,
            offset: m.offset(),
            timestamp_ms: m.timestamp().to_millis(),
            key: m.key().unwrap_or_default(),
            value: m.payload().unwrap_or_default(),
            schema: schema.as_deref(),
        };
        let counts = part.take(&incoming, &mut self.outbox, &self.shared.metrics);
        self.report.records += 1;
        self.report.events += counts.events;
    }

    /// Concludes what each partition allows (`finish_idle`: idle partitions too) and starts
    /// storing the rows, with the offsets to commit once they are stored. Only when no flush
    /// is in flight. The task retries until ClickHouse takes the rows or `abandon` turns true.
    fn flush(&mut self, abandon: &watch::Receiver<bool>, finish_idle: bool) {
        debug_assert!(self.in_flight.is_none());
        let now = Instant::now();
        self.last_flush = now;
        let metrics = self.shared.metrics.clone();
        for part in self.parts.values_mut() {
            part.advance(&mut self.outbox, &metrics);
            if finish_idle {
                part.finish_if_idle(now, self.config.idle_finish, &mut self.outbox, &metrics);
            }
        }
        let commits = self.commit_points();
        if self.outbox.rows() == 0 && commits.is_empty() {
            return;
        }
        let taken = self.outbox.take();
        let mut rows = match taken {
            Ok(rows) => rows,
            Err(e) => {
                // An event row that does not fit the table: the flush fails at once, which
                // stops the service (nothing after it is committed).
                let task = tokio::spawn(async move { (Rows::default(), Err(e)) });
                self.in_flight = Some(InFlight {
                    task,
                    started: now,
                    commits: Vec::new(),
                });
                return;
            }
        };
        let span = info_span!("flush", rows = rows.len(), events = rows.events());
        self.shared
            .flush_started_ms
            .store(now_ms().max(1), Ordering::Relaxed);
        let writer = self.writer.clone();
        let abandon = abandon.clone();
        let task = tokio::spawn(
            async move {
                let r = rows.store(&writer, &metrics, &abandon).await;
                (rows, r)
            }
            .instrument(span),
        );
        self.in_flight = Some(InFlight {
            task,
            started: now,
            commits,
        });
    }

    /// Whether a flush is due: the interval has passed since the last one started (the busy
    /// interval while ClickHouse is behind), or `flush_events` events wait.
    fn flush_due(&self) -> bool {
        let interval = if self.busy {
            self.config.busy_flush_interval
        } else {
            self.config.flush_interval
        };
        self.last_flush.elapsed() >= interval || self.outbox.events() >= self.config.flush_events
    }

    /// The offsets to commit once the rows built so far are stored, and the gauges.
    fn commit_points(&mut self) -> Vec<(i32, i64, String)> {
        let mut commits = Vec::new();
        for (p, part) in self.parts.iter_mut() {
            if let Some(o) = part.commit_point() {
                commits.push((*p, o, part.commit_note()));
            }
            part.export_gauges(&self.shared.metrics);
        }
        commits
    }

    /// Waits for the flush in flight, reading nothing meanwhile, and commits its offsets.
    async fn wait_in_flight(&mut self, last: bool) -> Result<(), ServiceError> {
        if self.in_flight.is_none() {
            return Ok(());
        }
        let started = Instant::now();
        let done = outcome(&mut self.in_flight).await;
        // Nothing was read while the rows waited for ClickHouse: that silence is not the
        // sources' (an outage would otherwise conclude every partition at the next flush).
        let waited = started.elapsed();
        for part in self.parts.values_mut() {
            part.paused(waited);
        }
        self.landed(done, last)
    }

    /// Takes the outcome of the flush in flight: commits its offsets once its rows are stored.
    /// `last`: the commit is synchronous (shutdown).
    fn landed(
        &mut self,
        done: Result<(Rows, Result<(), crate::store::StoreError>), tokio::task::JoinError>,
        last: bool,
    ) -> Result<(), ServiceError> {
        self.shared.flush_started_ms.store(0, Ordering::Relaxed);
        let Some(flight) = self.in_flight.take() else {
            return Ok(());
        };
        // ClickHouse is behind when a store takes longer than the interval: the next flushes
        // then gather more rows, as fewer, larger INSERTs cost it much less (BENCHMARKS.md).
        let busy = flight.started.elapsed() > self.config.flush_interval;
        if busy != self.busy {
            debug!(busy, "flush pace");
            self.busy = busy;
        }
        let (mut rows, stored) = done?;
        if let Err(e) = stored {
            self.report.rows_left = rows.len();
            return Err(e.into());
        }
        self.outbox.recycle(&mut rows);
        self.report.flushes += 1;
        self.commit(flight.commits, last);
        Ok(())
    }

    /// The final flush of a shutdown: the one in flight, then everything read since, stored
    /// and committed synchronously. Idle partitions are not finished (their state is held
    /// by the commit's metadata; the next owner replays it). The flushes' tasks give up when
    /// `abandon` does.
    async fn last_flush(&mut self, abandon: &watch::Receiver<bool>) -> Result<(), ServiceError> {
        self.wait_in_flight(true).await?;
        self.flush(abandon, false);
        self.wait_in_flight(true).await
    }

    fn commit(&mut self, commits: Vec<(i32, i64, String)>, last: bool) {
        if commits.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o, note) in &commits {
            let mut e = tpl.add_partition(&self.config.kafka.topic, *p);
            if let Err(err) = e.set_offset(Offset::Offset(*o)) {
                warn!(partition = p, offset = o, error = %err, "offset not added to the commit");
            }
            e.set_metadata(note.as_str());
        }
        let mode = if last {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        match self.consumer.commit(&tpl, mode) {
            Ok(()) => {
                for (p, o, _) in commits {
                    if let Some(part) = self.parts.get_mut(&p) {
                        part.committed(o);
                    }
                    debug!(partition = p, offset = o, "committed");
                }
            }
            // Not fatal: the next flush commits a later offset; a restart replays a little more.
            Err(e) => warn!(error = %e, "offset commit failed"),
        }
    }
}

/// Raw-row retention ([`crate::store::retention`]): a TTL once on servers that have them;
/// otherwise expired monthly partitions dropped now and every hour. Failures are logged and
/// tried again at the next hour: retention never stops the service.
async fn retention_loop(client: clickhouse::Client, database: String, days: u32) {
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match crate::store::retention::apply(&client, &database, days, now).await {
            Ok(crate::store::retention::Retention::Ttl { .. }) => return,
            Ok(_) => {}
            Err(e) => warn!(error = %e, "raw-row retention failed; trying again in an hour"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Every 5 s: each assigned partition's high watermark, for the lag gauges. librdkafka's
/// calls block, so they run on the blocking pool.
async fn lag_loop(consumer: Arc<StreamConsumer<Ctx>>, topic: String, metrics: Arc<Metrics>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let c = consumer.clone();
        let t = topic.clone();
        let got = tokio::task::spawn_blocking(move || {
            let assignment = c.assignment().ok()?;
            let positions = c.position().ok();
            let committed = c.committed(Duration::from_secs(2)).ok();
            let mut out = Vec::new();
            for e in assignment.elements_for_topic(&t) {
                let p = e.partition();
                let Ok((_, high)) = c.fetch_watermarks(&t, p, Duration::from_secs(2)) else {
                    continue;
                };
                let at = |l: &Option<TopicPartitionList>| {
                    l.as_ref()
                        .and_then(|l| l.find_partition(&t, p))
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        })
                };
                out.push((p, high, at(&positions), at(&committed)));
            }
            Some(out)
        })
        .await;
        let Ok(Some(parts)) = got else {
            continue;
        };
        for (p, high, pos, committed) in parts {
            let l = PartitionLabel { partition: p };
            metrics
                .lag
                .get_or_create(&l)
                .set(high - pos.unwrap_or(0).min(high));
            metrics
                .commit_lag
                .get_or_create(&l)
                .set(high - committed.unwrap_or(0).min(high));
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".to_string())
}
