//! The shipper: sends spooled batches to the ingestor and moves checkpoints only on its word.
//!
//! One long-lived gRPC stream (`scepwatch.v1.Ingest/Stream`) carries the batches in spool
//! order, up to `max_in_flight` of them unacknowledged. The ingestor answers each batch once
//! Kafka holds every record of it:
//! - `ACCEPTED`: the batch is done. When every batch up to some sequence number is done, their
//!   watermarks go to the [`Delivered`] hook (the agent advances and saves the source
//!   checkpoints), and only then is the spool told it may delete them.
//! - `RETRY`: the ingestor could not store it now (Kafka down, rate limit); it is sent again
//!   after a back-off, on the same stream.
//! - `REJECTED`: the batch is invalid and resending cannot help. It is written to the
//!   `rejected` folder of the state directory (never silently dropped), counted, logged, and
//!   treated as done so the stream does not stall behind it.
//!
//! When the stream breaks, every unacknowledged batch is sent again on the next one: the
//! ingestor may then publish a batch twice, with identical event IDs, which is how the
//! pipeline's consumers recognise a resend. Reconnects back off exponentially with full jitter.
//!
//! Spool records are encoded `Batch` messages without a sequence number; the shipper sends
//! the record's bytes as they are and appends the `sequence` field (protobuf fields may come
//! in any order), so events are never decoded or re-encoded on the way out.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::bytes::{BufMut, Bytes};
use prost::Message;
use rand::Rng;
use scepwatch_proto::v1::{batch_ack::Status as AckStatus, BatchAck, Watermark};
use tokio::sync::{mpsc, watch, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Status;
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::metrics::AgentMetrics;
use crate::spool::Spool;

/// Where the shipper connects and how it behaves.
#[derive(Debug, Clone)]
pub struct ShipperOptions {
    /// `https://host:port` or `http://127.0.0.1:port`.
    pub url: String,
    /// Bearer token.
    pub token: String,
    /// PEM of the CA that signed the ingestor's certificate.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key, for mutual TLS.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Name to verify on the ingestor's certificate instead of the URL's host.
    pub tls_server_name: Option<String>,
    /// zstd on the wire.
    pub compress: bool,
    /// Batches sent and not yet acknowledged.
    pub max_in_flight: usize,
    /// First reconnect / retry delay.
    pub backoff_initial: Duration,
    /// Longest reconnect / retry delay.
    pub backoff_max: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// On shutdown, how long to wait for acknowledgements of batches already sent.
    pub drain_timeout: Duration,
    /// How often delivered batches are checkpointed and acknowledged to the spool.
    pub checkpoint_interval: Duration,
    /// Where rejected batches are kept for inspection.
    pub rejected_dir: PathBuf,
    /// At most this many rejected batches are kept (oldest removed first).
    pub rejected_keep: usize,
}

/// Why the shipper stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// The ingestor URL or TLS material is unusable.
    #[error("ingestor connection settings: {0}")]
    Settings(String),
    /// The spool failed.
    #[error("spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    /// Checkpoints could not be saved.
    #[error("saving checkpoints: {0}")]
    Checkpoint(String),
}

/// What the shipper tells the rest of the agent about delivered batches.
pub trait Delivered: Send {
    /// The batches whose `watermarks` these are are in Kafka: fold them into the checkpoints.
    fn delivered(&mut self, watermarks: &[Watermark]);
    /// Persist the checkpoints folded so far. The spool deletes the batches only after this
    /// returns `Ok`.
    fn save(&mut self) -> Result<(), String>;
}

/// The watermarks of a spooled `Batch`, decoded without touching its events (prost skips the
/// other fields).
#[derive(Clone, PartialEq, Message)]
struct BatchWatermarks {
    #[prost(message, repeated, tag = "4")]
    watermarks: Vec<Watermark>,
}

/// A spooled batch on its way out.
#[derive(Debug, Clone)]
pub struct Outgoing {
    seq: u64,
    record: Bytes,
}

/// Sends spool records as they are, followed by the `sequence` field; decodes acks with prost.
#[derive(Debug, Clone, Copy, Default)]
struct RawBatchCodec;

impl Codec for RawBatchCodec {
    type Encode = Outgoing;
    type Decode = BatchAck;
    type Encoder = RawBatchCodec;
    type Decoder = AckDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawBatchCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        AckDecoder
    }
}

impl Encoder for RawBatchCodec {
    type Item = Outgoing;
    type Error = Status;

    fn encode(&mut self, item: Outgoing, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.record);
        // Field 2 (`sequence`), wire type 0 (varint).
        prost::encoding::encode_key(2, prost::encoding::WireType::Varint, dst);
        prost::encoding::encode_varint(item.seq, dst);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct AckDecoder;

impl Decoder for AckDecoder {
    type Item = BatchAck;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<BatchAck>, Status> {
        BatchAck::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("undecodable ack from the ingestor: {e}")))
    }
}

/// A batch sent and not yet acknowledged.
struct InFlight {
    record: Bytes,
    watermarks: Vec<Watermark>,
    sent_at: Instant,
    retries: u32,
}

/// The shipper's state across connections.
pub struct Shipper {
    opts: ShipperOptions,
    spool: Spool,
    delivered_hook: Box<dyn Delivered>,
    metrics: Arc<AgentMetrics>,
    wake: Arc<Notify>,
    /// Every batch up to here is done and folded into the checkpoints.
    done_upto: Option<u64>,
    /// Every batch up to here is deleted from the spool.
    spool_acked: Option<u64>,
    /// Done batches above `done_upto` (acks can arrive out of order).
    done: BTreeMap<u64, Vec<Watermark>>,
    in_flight: BTreeMap<u64, InFlight>,
    /// Next spool sequence to send.
    next_send: u64,
    last_checkpoint: Instant,
    /// Bytes sent since freed memory was last given back (see [`crate::memory`]).
    sent_since_release: u64,
    /// Bytes sent since start.
    sent_total: u64,
    /// When a batch was last sent or acknowledged.
    last_activity: Instant,
}

/// After shipping this much, the shipper gives freed memory back to the system the next time
/// nothing is in flight: once when a backlog has drained, and about once a second at 5,000
/// lines/s (a trim costs well under a millisecond).
const RELEASE_AFTER_BYTES: u64 = 1 << 20;

/// A stream keeps its encoding buffers at the size of the largest batch it sent, for as long
/// as it lives (hours or days on a quiet server). When a stream has shipped this much and then
/// has had nothing in flight for [`RECYCLE_WHEN_QUIET`], it is closed cleanly and a fresh one
/// is opened on the same connection, so that the memory is freed.
const RECYCLE_AFTER_BYTES: u64 = 4 << 20;
/// See [`RECYCLE_AFTER_BYTES`].
const RECYCLE_WHEN_QUIET: Duration = Duration::from_secs(2);

enum StreamEnd {
    Shutdown,
    Broken(String),
    /// A backlog has drained: open a fresh stream on the same connection (see
    /// [`RECYCLE_AFTER_BYTES`]).
    Recycle,
}

impl Shipper {
    /// A shipper over `spool`; `wake` is notified by the spool on every append.
    pub fn new(
        opts: ShipperOptions,
        spool: Spool,
        delivered_hook: Box<dyn Delivered>,
        metrics: Arc<AgentMetrics>,
        wake: Arc<Notify>,
    ) -> Self {
        let next_send = first_seq(&spool);
        // "Done up to" the record before the first unacknowledged one.
        let acked = next_send.checked_sub(1);
        Shipper {
            opts,
            spool,
            delivered_hook,
            metrics,
            wake,
            done_upto: acked,
            spool_acked: acked,
            done: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_send,
            last_checkpoint: Instant::now(),
            sent_since_release: 0,
            sent_total: 0,
            last_activity: Instant::now(),
        }
    }

    fn endpoint(&self) -> Result<Endpoint, ShipError> {
        let o = &self.opts;
        let mut ep = Endpoint::from_shared(o.url.clone())
            .map_err(|e| ShipError::Settings(format!("url {}: {e}", o.url)))?
            .connect_timeout(o.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        if o.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &o.ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &o.client_identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            if let Some(name) = &o.tls_server_name {
                tls = tls.domain_name(name.clone());
            }
            ep = ep
                .tls_config(tls)
                .map_err(|e| ShipError::Settings(format!("TLS: {e}")))?;
        }
        Ok(ep)
    }

    /// Ship until `shutdown` turns true, then drain: wait up to the drain timeout for the
    /// acknowledgements of batches already sent, and save checkpoints.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), ShipError> {
        let endpoint = self.endpoint()?;
        let mut attempt: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let span = info_span!("connection", url = %self.opts.url, attempt);
            let connected = async {
                match endpoint.connect().await {
                    Ok(ch) => Some(ch),
                    Err(e) => {
                        warn!(error = %error_chain(&e), "cannot reach the ingestor");
                        None
                    }
                }
            }
            .instrument(span.clone())
            .await;
            let end = match connected {
                Some(channel) => {
                    self.metrics.connected.set(1);
                    let end = loop {
                        let end = self
                            .stream(channel.clone(), &mut shutdown, &mut attempt)
                            .instrument(span.clone())
                            .await?;
                        if !matches!(end, StreamEnd::Recycle) {
                            break end;
                        }
                        debug!("backlog shipped: a fresh stream on the same connection");
                    };
                    self.metrics.connected.set(0);
                    end
                }
                None => StreamEnd::Broken("connect failed".into()),
            };
            match end {
                StreamEnd::Shutdown => break,
                // Handled above; a recycled stream never ends the connection.
                StreamEnd::Recycle => {}
                StreamEnd::Broken(why) => {
                    self.metrics.reconnects.inc();
                    // Everything unacknowledged is resent on the next stream, in order.
                    if let Some(first) = self.in_flight.keys().next().copied() {
                        self.next_send = self.next_send.min(first);
                    }
                    self.in_flight.clear();
                    self.metrics.in_flight.set(0);
                    self.checkpoint(true)?;
                    let delay = backoff(&self.opts, attempt);
                    attempt = attempt.saturating_add(1);
                    info!(reason = %why, retry_in_ms = delay.as_millis() as u64, "stream to the ingestor ended; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        self.checkpoint(true)?;
        Ok(())
    }

    /// One stream: send, receive acks, until it breaks or shutdown has drained.
    async fn stream(
        &mut self,
        channel: Channel,
        shutdown: &mut watch::Receiver<bool>,
        attempt: &mut u32,
    ) -> Result<StreamEnd, ShipError> {
        let mut grpc = tonic::client::Grpc::new(channel);
        if self.opts.compress {
            grpc = grpc
                .send_compressed(CompressionEncoding::Zstd)
                .accept_compressed(CompressionEncoding::Zstd);
        }
        grpc = grpc.max_decoding_message_size(1 << 20);
        if let Err(e) = grpc.ready().await {
            return Ok(StreamEnd::Broken(format!("not ready: {e}")));
        }
        let (tx, rx) = mpsc::channel::<Outgoing>(self.opts.max_in_flight.max(1));
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        let bearer = format!("Bearer {}", self.opts.token);
        match bearer.parse() {
            Ok(v) => {
                request.metadata_mut().insert("authorization", v);
            }
            Err(_) => {
                return Err(ShipError::Settings(
                    "the token holds characters not allowed in a header".into(),
                ))
            }
        }
        // Queue the first batches before the call, so the stream opens with data.
        let mut retry_queue: VecDeque<(Instant, u64)> = VecDeque::new();
        self.fill(&tx).await?;
        let path = PathAndQuery::from_static("/scepwatch.v1.Ingest/Stream");
        let response = match grpc.streaming(request, path, RawBatchCodec).await {
            Ok(r) => r,
            Err(status) => return Ok(self.refused(status)),
        };
        let mut acks = response.into_inner();
        let mut draining: Option<Instant> = None;
        let stream_start_bytes = self.sent_total;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Some(since) = draining {
                if self.in_flight.is_empty() {
                    return Ok(StreamEnd::Shutdown);
                }
                if since.elapsed() >= self.opts.drain_timeout {
                    warn!(
                        unacknowledged = self.in_flight.len(),
                        "drain timeout: these batches stay in the spool and are sent after restart"
                    );
                    return Ok(StreamEnd::Shutdown);
                }
            }
            tokio::select! {
                msg = acks.message() => match msg {
                    Ok(Some(ack)) => {
                        *attempt = 0;
                        self.on_ack(ack, &mut retry_queue)?;
                        if draining.is_none() {
                            self.fill(&tx).await?;
                        }
                    }
                    Ok(None) => return Ok(StreamEnd::Broken("the ingestor closed the stream".into())),
                    Err(status) => return Ok(self.refused(status)),
                },
                _ = self.wake.notified(), if draining.is_none() => {
                    self.fill(&tx).await?;
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    while let Some(&(due, seq)) = retry_queue.front() {
                        if due > now { break; }
                        retry_queue.pop_front();
                        if let Some(f) = self.in_flight.get(&seq) {
                            let out = Outgoing { seq, record: f.record.clone() };
                            if tx.send(out).await.is_err() {
                                return Ok(StreamEnd::Broken("request stream closed".into()));
                            }
                            self.metrics.batches_resent.inc();
                        }
                    }
                    if draining.is_none() {
                        self.fill(&tx).await?;
                    }
                    self.checkpoint(false)?;
                    if draining.is_none()
                        && self.in_flight.is_empty()
                        && self.sent_total - stream_start_bytes >= RECYCLE_AFTER_BYTES
                        && self.last_activity.elapsed() >= RECYCLE_WHEN_QUIET
                    {
                        // Close our side and let the ingestor finish its side: nothing is in
                        // flight, so nothing can be lost either way.
                        drop(tx);
                        let _ = tokio::time::timeout(Duration::from_secs(5), async {
                            while let Ok(Some(_)) = acks.message().await {}
                        })
                        .await;
                        drop(acks);
                        self.release_memory_when_quiet();
                        return Ok(StreamEnd::Recycle);
                    }
                    self.release_memory_when_quiet();
                }
                _ = shutdown.changed(), if draining.is_none() => {
                    info!(in_flight = self.in_flight.len(), "shutting down: waiting for acknowledgements of batches already sent");
                    draining = Some(Instant::now());
                }
            }
        }
    }

    /// Send spooled batches until `max_in_flight` are out or the spool has no more.
    async fn fill(&mut self, tx: &mpsc::Sender<Outgoing>) -> Result<(), ShipError> {
        while self.in_flight.len() < self.opts.max_in_flight {
            let room = self.opts.max_in_flight - self.in_flight.len();
            let spool = self.spool.clone();
            let from = self.next_send;
            let records = tokio::task::spawn_blocking(move || spool.read(from, room, 16 << 20))
                .await
                .map_err(|e| ShipError::Settings(format!("spool reader task: {e}")))??;
            if records.is_empty() {
                return Ok(());
            }
            for (seq, bytes) in records {
                let record = Bytes::from(bytes);
                let watermarks = match BatchWatermarks::decode(record.as_ref()) {
                    Ok(w) => w.watermarks,
                    Err(e) => {
                        // A record the spool's checksum accepted but protobuf does not: it
                        // cannot be shipped, so it is kept aside like a rejected batch.
                        error!(seq, error = %e, "spooled batch does not decode; set aside");
                        self.keep_rejected(seq, &record, &format!("does not decode: {e}"));
                        self.done.insert(seq, Vec::new());
                        self.next_send = seq + 1;
                        self.advance_done();
                        continue;
                    }
                };
                self.metrics.batches_sent.inc();
                self.metrics.bytes_sent.inc_by(record.len() as u64);
                self.sent_since_release += record.len() as u64;
                self.sent_total += record.len() as u64;
                self.last_activity = Instant::now();
                self.in_flight.insert(
                    seq,
                    InFlight {
                        record: record.clone(),
                        watermarks,
                        sent_at: Instant::now(),
                        retries: 0,
                    },
                );
                self.metrics.in_flight.set(self.in_flight.len() as i64);
                self.next_send = seq + 1;
                debug!(seq, bytes = record.len(), "batch sent");
                if tx.send(Outgoing { seq, record }).await.is_err() {
                    // The stream is gone; `run` resends from the first unacknowledged batch.
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn on_ack(
        &mut self,
        ack: BatchAck,
        retry_queue: &mut VecDeque<(Instant, u64)>,
    ) -> Result<(), ShipError> {
        let seq = ack.sequence;
        self.last_activity = Instant::now();
        let status = AckStatus::try_from(ack.status).unwrap_or(AckStatus::Unspecified);
        match status {
            AckStatus::Accepted => {
                let Some(f) = self.in_flight.remove(&seq) else {
                    debug!(
                        seq,
                        "acknowledgement of a batch not in flight (a resend's twin)"
                    );
                    return Ok(());
                };
                self.metrics
                    .ack_latency
                    .observe(f.sent_at.elapsed().as_secs_f64());
                self.metrics.batches_acked.inc();
                self.metrics
                    .events_acked
                    .inc_by(u64::from(ack.events_accepted));
                self.done.insert(seq, f.watermarks);
            }
            AckStatus::Retry => {
                if let Some(f) = self.in_flight.get_mut(&seq) {
                    f.retries += 1;
                    let delay = backoff(&self.opts, f.retries.min(16));
                    warn!(seq, reason = %ack.message, retry_in_ms = delay.as_millis() as u64, "the ingestor asks to send this batch again later");
                    self.metrics.batches_retried.inc();
                    retry_queue.push_back((Instant::now() + delay, seq));
                    retry_queue.make_contiguous().sort_unstable();
                }
                return Ok(());
            }
            AckStatus::Rejected | AckStatus::Unspecified => {
                let Some(f) = self.in_flight.remove(&seq) else {
                    return Ok(());
                };
                error!(seq, reason = %ack.message, "the ingestor rejected a batch; it is kept in the rejected folder");
                self.metrics.batches_rejected.inc();
                self.keep_rejected(seq, &f.record, &ack.message);
                // Its watermarks still count: the lines were read, and resending cannot help.
                self.done.insert(seq, f.watermarks);
            }
        }
        self.metrics.in_flight.set(self.in_flight.len() as i64);
        self.advance_done();
        Ok(())
    }

    /// Gives freed memory back once enough was shipped and nothing is in flight.
    fn release_memory_when_quiet(&mut self) {
        if self.sent_since_release < RELEASE_AFTER_BYTES || !self.in_flight.is_empty() {
            return;
        }
        let shipped = self.sent_since_release;
        self.sent_since_release = 0;
        let released = crate::memory::release_free_memory();
        debug!(
            shipped,
            released, "nothing in flight: freed memory given back"
        );
    }

    /// Fold every batch that is done without a gap into the checkpoints.
    fn advance_done(&mut self) {
        loop {
            let next = self.done_upto.map_or(0, |d| d + 1);
            let Some(wms) = self.done.remove(&next) else {
                break;
            };
            self.delivered_hook.delivered(&wms);
            self.done_upto = Some(next);
        }
    }

    /// Save checkpoints and let the spool delete what they cover (at most every
    /// `checkpoint_interval`, or now when `force`).
    fn checkpoint(&mut self, force: bool) -> Result<(), ShipError> {
        if self.done_upto == self.spool_acked {
            return Ok(());
        }
        if !force && self.last_checkpoint.elapsed() < self.opts.checkpoint_interval {
            return Ok(());
        }
        let Some(upto) = self.done_upto else {
            return Ok(());
        };
        // Both write and fsync files: keep them off the async workers' backs.
        let hook = &mut self.delivered_hook;
        let spool = &self.spool;
        tokio::task::block_in_place(|| -> Result<(), ShipError> {
            hook.save().map_err(ShipError::Checkpoint)?;
            spool.ack(upto)?;
            Ok(())
        })?;
        self.spool_acked = Some(upto);
        self.last_checkpoint = Instant::now();
        self.metrics.checkpoints_saved.inc();
        Ok(())
    }

    fn refused(&mut self, status: Status) -> StreamEnd {
        let why = format!("{:?}: {}", status.code(), status.message());
        match status.code() {
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                error!(status = %why, "the ingestor refuses this collector's token; check ingestor.token and the ingestor's collector list")
            }
            _ => warn!(status = %why, "stream to the ingestor failed"),
        }
        StreamEnd::Broken(why)
    }

    fn keep_rejected(&self, seq: u64, record: &[u8], reason: &str) {
        let dir = &self.opts.rejected_dir;
        if let Err(e) = std::fs::create_dir_all(dir) {
            error!(dir = %dir.display(), error = %e, "cannot create the rejected-batch folder");
            return;
        }
        let base = dir.join(format!("{seq:020}"));
        let wrote = std::fs::write(base.with_extension("batch"), record)
            .and_then(|()| std::fs::write(base.with_extension("reason.txt"), reason));
        if let Err(e) = wrote {
            error!(seq, error = %e, "cannot keep the rejected batch");
        }
        prune_rejected(dir, self.opts.rejected_keep);
    }
}

/// The first unacknowledged sequence number of the spool.
fn first_seq(spool: &Spool) -> u64 {
    match spool.acked() {
        Some(a) => a + 1,
        None => {
            let s = spool.stats();
            s.next_seq.saturating_sub(s.records)
        }
    }
}

/// Full jitter: a uniform delay in [0, min(max, initial * 2^attempt)].
fn backoff(opts: &ShipperOptions, attempt: u32) -> Duration {
    let cap = opts
        .backoff_initial
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(opts.backoff_max);
    let ms = cap.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(ms / 4..=ms))
}

fn prune_rejected(dir: &std::path::Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut batches: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "batch"))
        .collect();
    if batches.len() <= keep {
        return;
    }
    batches.sort();
    for p in &batches[..batches.len() - keep] {
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(p.with_extension("reason.txt"));
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use scepwatch_proto::v1::{Batch, SourceId};

    #[test]
    fn raw_record_plus_sequence_decodes_as_the_batch() {
        let wm = Watermark {
            source: Some(SourceId {
                collector: "ndes01".into(),
                path: "W3SVC1/u_ex261127.log".into(),
                ..Default::default()
            }),
            position: 4096,
            ..Default::default()
        };
        let batch = Batch {
            collector: "ndes01".into(),
            sequence: 0,
            events: vec![Default::default(); 3],
            watermarks: vec![wm.clone()],
        };
        let record = Bytes::from(batch.encode_to_vec());
        let mut wire = Vec::new();
        wire.extend_from_slice(&record);
        prost::encoding::encode_key(2, prost::encoding::WireType::Varint, &mut wire);
        prost::encoding::encode_varint(77, &mut wire);
        let back = Batch::decode(wire.as_slice()).unwrap();
        assert_eq!(back.sequence, 77);
        assert_eq!(back.events.len(), 3);
        assert_eq!(
            BatchWatermarks::decode(record.as_ref()).unwrap().watermarks,
            vec![wm]
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let opts = ShipperOptions {
            url: String::new(),
            token: String::new(),
            ca_pem: None,
            client_identity: None,
            tls_server_name: None,
            compress: true,
            max_in_flight: 1,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(1),
            checkpoint_interval: Duration::from_millis(500),
            rejected_dir: PathBuf::new(),
            rejected_keep: 10,
        };
        for _ in 0..100 {
            assert!(backoff(&opts, 0) <= Duration::from_millis(100));
            assert!(backoff(&opts, 40) <= Duration::from_secs(5));
            assert!(backoff(&opts, 40) >= Duration::from_millis(1250));
        }
    }
}
