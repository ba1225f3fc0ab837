//! The `scepwatch.v1.Ingest/Stream` service: one long-lived stream per collector.
//!
//! A stream is authenticated from its metadata before any batch is read (and refused when
//! `limits.max_streams` are open). Then, for each batch:
//!
//! 1. take one of the stream's own slots (`max_in_flight_per_stream`); without one the stream
//!    is not read;
//! 2. read the batch; check it ([`crate::validation`]) — a bad batch is answered REJECTED;
//! 3. take its events from the collector's rate bucket — over the rate, RETRY;
//! 4. take a slot of the global bound (`max_in_flight_batches`); while none is free the stream
//!    holds this batch and reads nothing more, so HTTP/2 flow control holds the collector back.
//!    Only a batch in hand takes a global slot: idle streams never hold one;
//! 5. enqueue its records (in order, before the next batch is read, so one endpoint's records
//!    keep the collector's order);
//! 6. in a task of its own, wait for every delivery report and answer ACCEPTED, or RETRY if
//!    any record failed. The global slot is released when Kafka has answered, the stream's
//!    when the ack is queued.
//!
//! Errors of the stream itself (garbage protobuf, an oversized message) end it with a clear
//! status after the batches already read are answered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prost::Message;
use scepwatch_proto::v1::batch_ack::Status as AckStatus;
use scepwatch_proto::v1::ingest_server::Ingest;
use scepwatch_proto::v1::{Batch, BatchAck};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::{debug, info, warn, Instrument};

use crate::auth::Authenticator;
use crate::config::Limits;
use crate::limits::{InFlight, InFlightSlot, LogBudget, RateLimiter};
use crate::metrics::{CollectorLabel, CollectorReason, Metrics};
use crate::sink::kafka::KafkaSink;
use crate::sink::record::{records_of, Record};
use crate::validation::{check_batch, Rejection};

/// Batches with more events than this are checked and encoded on a blocking thread.
const INLINE_EVENTS: usize = 256;

/// What every stream shares.
#[derive(Debug)]
pub struct Shared {
    /// Collector tokens.
    pub auth: Authenticator,
    /// Bounds.
    pub limits: Limits,
    /// Per-collector token buckets.
    pub rate: RateLimiter,
    /// Global in-flight bound.
    pub in_flight: InFlight,
    /// Where records go.
    pub sink: KafkaSink,
    /// Largest record value.
    pub max_record_bytes: usize,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Becomes true at shutdown: streams stop reading and drain.
    pub shutdown: watch::Receiver<bool>,
    /// Streams open now.
    pub open_streams: AtomicUsize,
    /// Warnings about clients (refusals, rejections) per second.
    pub client_warnings: LogBudget,
    /// Warnings about Kafka (records not enqueued or not delivered) per second.
    pub kafka_warnings: LogBudget,
}

/// Counts a stream as open until dropped.
struct OpenStream(Arc<Shared>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.streams.dec();
    }
}

/// The tonic service.
#[derive(Debug, Clone)]
pub struct IngestService {
    shared: Arc<Shared>,
}

impl IngestService {
    /// A service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        IngestService { shared }
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = ReceiverStream<Result<BatchAck, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<Batch>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let shared = &self.shared;
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        if *shared.shutdown.borrow() {
            shared.metrics.refused("shutting_down");
            return Err(Status::unavailable(
                "the ingestor is shutting down; reconnect (to another instance)",
            ));
        }
        let collector = match shared.auth.authenticate(request.metadata()) {
            Ok(c) => c,
            Err(e) => {
                shared.metrics.refused(e.reason());
                if let Some(suppressed) = shared.client_warnings.allow() {
                    warn!(%peer, reason = e.reason(), suppressed, "stream refused: {e}");
                }
                return Err(Status::unauthenticated(e.to_string()));
            }
        };
        let open = shared.open_streams.fetch_add(1, Ordering::AcqRel) + 1;
        shared.metrics.streams.inc();
        let guard = OpenStream(shared.clone());
        if open > shared.limits.max_streams {
            shared.metrics.refused("too_many_streams");
            warn!(%peer, collector = &*collector, open, "stream refused: too many open streams");
            return Err(Status::resource_exhausted(format!(
                "too many open streams (limits.max_streams = {}); retry later",
                shared.limits.max_streams
            )));
        }
        info!(%peer, collector = &*collector, "stream opened");
        let inbound = request.into_inner();
        let (acks, rx) = mpsc::channel(shared.limits.max_in_flight_per_stream + 2);
        let span = tracing::info_span!("stream", collector = &*collector, %peer);
        tokio::spawn(run_stream(shared.clone(), collector, inbound, acks, guard).instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

type AckSender = mpsc::Sender<Result<BatchAck, Status>>;

fn ack(sequence: u64, status: AckStatus, message: String, events_accepted: u32) -> BatchAck {
    BatchAck {
        sequence,
        status: status as i32,
        message,
        events_accepted,
    }
}

/// Both slots a batch holds while it is being published.
struct Slots {
    global: InFlightSlot,
    stream: OwnedSemaphorePermit,
}

async fn stream_slot(stream: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    match stream.clone().acquire_owned().await {
        Ok(p) => p,
        Err(_) => unreachable!("stream semaphore closed"),
    }
}

/// A batch checked and turned into records (or refused).
struct Prepared {
    sequence: u64,
    events: usize,
    bytes: usize,
    newest_watermark_us: i64,
    outcome: Result<Vec<Record>, Rejection>,
}

fn prepare(batch: Batch, collector: &str, limits: &Limits, max_record_bytes: usize) -> Prepared {
    let sequence = batch.sequence;
    let events = batch.events.len();
    let bytes = batch.encoded_len();
    let newest_watermark_us = batch
        .watermarks
        .iter()
        .map(|w| w.read_up_to_us)
        .max()
        .unwrap_or(0);
    let outcome =
        check_batch(&batch, collector, limits).map(|()| records_of(batch, max_record_bytes));
    Prepared {
        sequence,
        events,
        bytes,
        newest_watermark_us,
        outcome,
    }
}

/// The status that ends a stream whose inbound side failed, and its metric reason.
fn stream_error(status: &Status, limits: &Limits) -> (Status, &'static str) {
    let msg = status.message();
    match status.code() {
        Code::OutOfRange if msg.contains("too large") => (
            Status::resource_exhausted(format!(
                "batch too large: {msg} (limits.max_batch_bytes = {}); send smaller batches",
                limits.max_batch_bytes
            )),
            "batch_too_large",
        ),
        Code::ResourceExhausted => (
            Status::resource_exhausted(format!(
                "batch too large once decompressed: {msg} (limits.max_batch_bytes = {})",
                limits.max_batch_bytes
            )),
            "batch_too_large",
        ),
        Code::Internal if msg.contains("decode") && !msg.contains("compress") => (
            Status::invalid_argument(format!(
                "the stream carried bytes that are not a scepwatch.v1.Batch ({msg})"
            )),
            "decode_error",
        ),
        Code::Internal if msg.contains("protocol error") || msg.contains("compress") => (
            Status::invalid_argument(format!("malformed gRPC message: {msg}")),
            "protocol_error",
        ),
        Code::Internal if msg.contains("Unexpected EOF") => (
            Status::invalid_argument("the stream ended in the middle of a batch"),
            "truncated",
        ),
        _ => (status.clone(), "transport_error"),
    }
}

async fn run_stream(
    shared: Arc<Shared>,
    collector: Arc<str>,
    mut inbound: Streaming<Batch>,
    acks: AckSender,
    _open: OpenStream,
) {
    let m = &shared.metrics;
    let label = CollectorLabel {
        collector: collector.to_string(),
    };
    let stream_slots = Arc::new(Semaphore::new(shared.limits.max_in_flight_per_stream));
    let mut pending: JoinSet<()> = JoinSet::new();
    let mut shutdown = shared.shutdown.clone();

    let end: Option<Status> = loop {
        while pending.try_join_next().is_some() {}
        // The stream's own slot is taken before reading; the global one only for a batch in
        // hand (an idle stream must not sit on a global slot while its collector has nothing
        // to send).
        let stream_slot = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => break Some(shutting_down()),
            s = stream_slot(&stream_slots) => s,
        };
        let next = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => break Some(shutting_down()),
            n = inbound.message() => n,
        };
        let batch = match next {
            Ok(Some(b)) => b,
            Ok(None) => break None,
            Err(status) => {
                let (status, reason) = stream_error(&status, &shared.limits);
                m.refused(reason);
                if reason == "transport_error" {
                    debug!(error = %status, "stream broke");
                } else if let Some(suppressed) = shared.client_warnings.allow() {
                    warn!(reason, suppressed, "stream ended: {}", status.message());
                }
                break Some(status);
            }
        };

        let prepared = if batch.events.len() > INLINE_EVENTS {
            let (c, s) = (collector.clone(), shared.clone());
            match tokio::task::spawn_blocking(move || {
                prepare(batch, &c, &s.limits, s.max_record_bytes)
            })
            .await
            {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "batch preparation failed");
                    break Some(Status::internal("the ingestor failed on this batch"));
                }
            }
        } else {
            prepare(batch, &collector, &shared.limits, shared.max_record_bytes)
        };
        let seq = prepared.sequence;
        m.received_batches.get_or_create(&label).inc();
        m.received_events
            .get_or_create(&label)
            .inc_by(prepared.events as u64);
        m.received_bytes
            .get_or_create(&label)
            .inc_by(prepared.bytes as u64);

        // Sequence numbers may repeat: a batch answered RETRY is sent again under its own
        // number, and after a reconnect everything unacknowledged is sent again. Its events
        // carry the same IDs, so a resend is recognisable downstream; refusing it would lose it.
        let outcome = prepared.outcome;
        let records = match outcome {
            Ok(r) => r,
            Err(rej) => {
                let reason = rej.reason.label();
                let l = CollectorReason {
                    collector: label.collector.clone(),
                    reason,
                };
                m.rejected_batches.get_or_create(&l).inc();
                m.rejected_events
                    .get_or_create(&l)
                    .inc_by(prepared.events as u64);
                if let Some(suppressed) = shared.client_warnings.allow() {
                    warn!(
                        sequence = seq,
                        reason, suppressed, "batch rejected: {}", rej.message
                    );
                }
                drop(stream_slot);
                let a = ack(seq, AckStatus::Rejected, rej.message, 0);
                if acks.send(Ok(a)).await.is_err() {
                    break None;
                }
                continue;
            }
        };

        if let Err(wait) = shared.rate.take(&collector, prepared.events as u64) {
            m.retried_batches
                .get_or_create(&CollectorReason {
                    collector: label.collector.clone(),
                    reason: "rate_limit",
                })
                .inc();
            debug!(sequence = seq, "batch over the rate limit");
            drop(stream_slot);
            let message = format!(
                "rate limit of {} events/s (burst {}) exceeded; resend in {} ms",
                shared.limits.events_per_second,
                shared.limits.burst_events,
                wait.as_millis().max(1)
            );
            if acks
                .send(Ok(ack(seq, AckStatus::Retry, message, 0)))
                .await
                .is_err()
            {
                break None;
            }
            continue;
        }

        // A global slot for publishing. While none is free this stream holds its batch and
        // reads nothing more: HTTP/2 flow control holds its collector back.
        let global = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => None,
            g = shared.in_flight.acquire() => Some(g),
        };
        let Some(global) = global else {
            let a = ack(
                seq,
                AckStatus::Retry,
                "the ingestor is shutting down; resend".into(),
                0,
            );
            let _ = acks.send(Ok(a)).await;
            break Some(shutting_down());
        };
        let slots = Slots {
            global,
            stream: stream_slot,
        };
        let value_bytes: usize = records.iter().map(|r| r.value.len()).sum();
        let pending_batch = match shared.sink.enqueue(&records).await {
            Ok(p) => p,
            Err(e) => {
                m.retried_batches
                    .get_or_create(&CollectorReason {
                        collector: label.collector.clone(),
                        reason: "kafka",
                    })
                    .inc();
                if let Some(suppressed) = shared.kafka_warnings.allow() {
                    warn!(sequence = seq, error = %e, suppressed, "batch not enqueued");
                }
                drop(slots);
                let a = ack(seq, AckStatus::Retry, format!("Kafka: {e}; resend"), 0);
                if acks.send(Ok(a)).await.is_err() {
                    break None;
                }
                continue;
            }
        };
        drop(records);

        let shared2 = shared.clone();
        let acks2 = acks.clone();
        let label2 = label.clone();
        let events = prepared.events;
        let newest_watermark = prepared.newest_watermark_us;
        let span = tracing::debug_span!("batch", sequence = seq, events);
        pending.spawn(
            async move {
                let m = &shared2.metrics;
                let a = match pending_batch.wait().await {
                    Ok(d) => {
                        m.delivery_seconds.observe(d.latency.as_secs_f64());
                        m.published_batches.get_or_create(&label2).inc();
                        m.published_events
                            .get_or_create(&label2)
                            .inc_by(events as u64);
                        m.published_records
                            .get_or_create(&label2)
                            .inc_by(d.records as u64);
                        m.published_bytes
                            .get_or_create(&label2)
                            .inc_by(value_bytes as u64);
                        if newest_watermark > 0 {
                            m.watermark(&label2.collector, newest_watermark);
                        }
                        debug!(
                            records = d.records,
                            latency_ms = d.latency.as_millis() as u64,
                            "published"
                        );
                        ack(seq, AckStatus::Accepted, String::new(), events as u32)
                    }
                    Err(e) => {
                        m.retried_batches
                            .get_or_create(&CollectorReason {
                                collector: label2.collector.clone(),
                                reason: "kafka",
                            })
                            .inc();
                        if let Some(suppressed) = shared2.kafka_warnings.allow() {
                            warn!(error = %e, suppressed, "batch not delivered");
                        }
                        ack(seq, AckStatus::Retry, format!("Kafka: {e}; resend"), 0)
                    }
                };
                // The global slot is free once Kafka has answered; the stream's own slot only
                // once the ack is queued, so a collector that does not read its acks holds up
                // its own stream and nobody else's.
                let Slots { global, stream } = slots;
                drop(global);
                let _ = acks2.send(Ok(a)).await;
                drop(stream);
            }
            .instrument(span),
        );
    };

    // Answer every batch already read before the stream ends.
    while pending.join_next().await.is_some() {}
    if let Some(status) = end {
        let _ = acks.send(Err(status)).await;
    }
    info!("stream closed");
}

fn shutting_down() -> Status {
    Status::unavailable(
        "the ingestor is shutting down; batches read so far were answered; reconnect",
    )
}
