//! The running ingestor: listeners, TLS, the gRPC and HTTP servers, and graceful shutdown.
//!
//! [`Ingestor::bind`] opens the listeners (so tests can bind port 0 and read the address) and
//! creates the producer; [`Ingestor::run`] serves until the shutdown future completes, then:
//!
//! 1. stops accepting connections and tells every stream to stop reading (readiness turns 503);
//! 2. waits, up to `shutdown_drain_timeout`, for the batches already read to be delivered and
//!    answered — each stream then ends with `UNAVAILABLE` so its collector reconnects;
//! 3. flushes the producer with what is left of the drain time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scepwatch_proto::v1::ingest_server::IngestServer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tracing::{debug, info, warn};

use crate::auth::Authenticator;
use crate::config::{Config, TlsConfig};
use crate::limits::{InFlight, LogBudget, RateLimiter};
use crate::metrics::Metrics;
use crate::service::{IngestService, Shared};
use crate::sink::kafka::{ensure_topic, KafkaSink, SinkError};

/// Most TLS handshakes in progress at once.
const MAX_HANDSHAKES: usize = 1024;
/// HTTP/2 receive window of each connection and stream: what a collector may have sent beyond
/// what the ingestor has read (hyper's default, made explicit because the memory bound in the
/// docs counts it).
const HTTP2_WINDOW: u32 = 1 << 20;
/// Streams one connection may have open at once (a collector uses one).
const MAX_STREAMS_PER_CONNECTION: u32 = 64;
/// Warnings about misbehaving clients logged per second (each kind); metrics count them all.
const CLIENT_WARNINGS_PER_SECOND: u64 = 10;
/// Warnings about Kafka failures logged per second; a broker outage fails every batch at once.
const KAFKA_WARNINGS_PER_SECOND: u64 = 5;
/// How often a missing topic is looked for (and created) again after start.
const TOPIC_RETRY: Duration = Duration::from_secs(5);

/// Why the ingestor could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// The Kafka producer could not be created.
    #[error(transparent)]
    Kafka(#[from] SinkError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Grpc(tonic::transport::Error),
}

/// How the shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every stream finished within the drain timeout.
    pub drained: bool,
    /// Batches still in flight when the ingestor gave up waiting.
    pub in_flight_left: usize,
    /// Records librdkafka still held after the flush.
    pub records_left: i32,
}

/// A bound, not yet serving, ingestor.
pub struct Ingestor {
    config: Config,
    grpc: TcpListener,
    http: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("grpc", &self.grpc.local_addr().ok())
            .field("http", &self.http.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Ingestor {
    /// Binds the listeners and creates the producer. Kafka need not be reachable yet: the
    /// topic is looked for (and created when configured) in the background until found.
    pub async fn bind(config: Config) -> Result<Ingestor, ServeError> {
        let sink = KafkaSink::new(&config.kafka)?;
        let grpc = TcpListener::bind(config.listen)
            .await
            .map_err(|cause| ServeError::Bind {
                addr: config.listen,
                cause,
            })?;
        let http = TcpListener::bind(config.http_listen)
            .await
            .map_err(|cause| ServeError::Bind {
                addr: config.http_listen,
                cause,
            })?;
        let auth = Authenticator::new(config.collectors.iter().map(|c| (c.name.clone(), c.token)));
        let metrics = Metrics::new(config.collectors.iter().map(|c| c.name.as_str()));
        let rate = RateLimiter::new(
            auth.names(),
            config.limits.events_per_second,
            config.limits.burst_events,
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            auth,
            limits: config.limits.clone(),
            rate,
            in_flight: InFlight::new(config.limits.max_in_flight_batches),
            sink,
            max_record_bytes: config.kafka.max_record_bytes,
            metrics,
            shutdown: shutdown_rx,
            open_streams: Default::default(),
            client_warnings: LogBudget::new(CLIENT_WARNINGS_PER_SECOND),
            kafka_warnings: LogBudget::new(KAFKA_WARNINGS_PER_SECOND),
        });
        Ok(Ingestor {
            config,
            grpc,
            http,
            shared,
            shutdown,
        })
    }

    /// The gRPC address actually bound.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.local_addr().unwrap_or(self.config.listen)
    }

    /// The HTTP address actually bound.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().unwrap_or(self.config.http_listen)
    }

    /// What the streams share (metrics, in-flight bound).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until `shutdown` completes, then drains (see the module docs).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<ShutdownReport, ServeError> {
        let Ingestor {
            config,
            grpc,
            http,
            shared,
            shutdown: stop,
        } = self;
        let grpc_addr = grpc.local_addr().ok();
        let http_addr = http.local_addr().ok();

        let topic_task = tokio::spawn(watch_topic(config.clone(), shared.shutdown.clone()));

        let service = IngestServer::new(IngestService::new(shared.clone()))
            .max_decoding_message_size(config.limits.max_batch_bytes)
            .accept_compressed(CompressionEncoding::Zstd);
        let router = tonic::transport::Server::builder()
            .initial_stream_window_size(HTTP2_WINDOW)
            .initial_connection_window_size(HTTP2_WINDOW)
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .add_service(service);
        let stopped = {
            let mut rx = shared.shutdown.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut grpc_task = match &config.tls {
            Some(tls) => {
                let incoming = tls_incoming(grpc, tls.clone(), shared.metrics.clone());
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped))
            }
            None => {
                let incoming = plain_incoming(grpc);
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped))
            }
        };
        let http_task = {
            let mut rx = shared.shutdown.clone();
            let app = crate::http::router(shared.clone());
            tokio::spawn(async move {
                axum::serve(http, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await
            })
        };
        info!(
            grpc = ?grpc_addr,
            http = ?http_addr,
            tls = config.tls.is_some(),
            mutual_tls = config.tls.as_ref().is_some_and(|t| t.mutual),
            topic = %config.kafka.topic,
            collectors = config.collectors.len(),
            "ingestor serving"
        );

        let early = tokio::select! {
            _ = shutdown => None,
            r = &mut grpc_task => Some(r),
        };
        let started = Instant::now();
        let _ = stop.send(true);
        if let Some(r) = early {
            topic_task.abort();
            http_task.abort();
            return match r {
                Ok(Ok(())) => Ok(ShutdownReport {
                    drained: true,
                    in_flight_left: 0,
                    records_left: shared.sink.queued(),
                }),
                Ok(Err(e)) => Err(ServeError::Grpc(e)),
                Err(_) => Ok(ShutdownReport {
                    drained: false,
                    in_flight_left: shared.in_flight.current(),
                    records_left: shared.sink.queued(),
                }),
            };
        }
        info!(
            in_flight = shared.in_flight.current(),
            timeout_s = config.shutdown_drain_timeout.as_secs(),
            "shutting down: no new batches; draining those in flight"
        );
        let drained =
            match tokio::time::timeout(config.shutdown_drain_timeout, &mut grpc_task).await {
                Ok(Ok(Ok(()))) => true,
                Ok(Ok(Err(e))) => {
                    warn!(error = %e, "gRPC server stopped with an error");
                    false
                }
                Ok(Err(_)) => false,
                Err(_) => {
                    grpc_task.abort();
                    false
                }
            };
        let in_flight_left = shared.in_flight.current();
        if !drained {
            warn!(
                in_flight = in_flight_left,
                "drain timeout reached; unanswered batches will be resent by their collectors"
            );
        }
        topic_task.abort();
        let left = config
            .shutdown_drain_timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        let sink = shared.sink.clone();
        let _ = tokio::task::spawn_blocking(move || sink.flush_blocking(left)).await;
        let records_left = shared.sink.queued();
        let _ = tokio::time::timeout(Duration::from_secs(2), http_task).await;
        info!(drained, in_flight_left, records_left, "ingestor stopped");
        Ok(ShutdownReport {
            drained,
            in_flight_left,
            records_left,
        })
    }
}

/// Looks for the topic (creating it when configured) until it is there.
async fn watch_topic(config: Config, mut shutdown: watch::Receiver<bool>) {
    loop {
        match ensure_topic(&config.kafka, config.kafka.create_topic).await {
            Ok(s) => {
                if s.created {
                    info!(topic = %config.kafka.topic, partitions = s.partitions, "topic created");
                } else {
                    info!(topic = %config.kafka.topic, partitions = s.partitions, "topic found");
                }
                return;
            }
            Err(e) => warn!(
                error = %e,
                "Kafka topic not usable yet; batches will be answered RETRY until it is"
            ),
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(TOPIC_RETRY) => {}
        }
    }
}

type Incoming<S> = ReceiverStream<Result<S, std::io::Error>>;

/// Accepted TCP connections, with Nagle off (acks are small and latency-sensitive).
fn plain_incoming(listener: TcpListener) -> Incoming<TcpStream> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    if tx.send(Ok(tcp)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Accepted connections that completed a TLS handshake within the timeout. Refused handshakes
/// (a plain-text client, no or a wrong client certificate) are counted and logged.
fn tls_incoming(
    listener: TcpListener,
    tls: TlsConfig,
    metrics: Arc<Metrics>,
) -> Incoming<tokio_rustls::server::TlsStream<TcpStream>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(tls.server.clone());
    let warnings = Arc::new(LogBudget::new(CLIENT_WARNINGS_PER_SECOND));
    tokio::spawn(async move {
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                a = listener.accept() => a,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let Ok(permit) = handshakes.clone().acquire_owned().await else {
                return;
            };
            let (acceptor, tx, metrics, warnings) = (
                acceptor.clone(),
                tx.clone(),
                metrics.clone(),
                warnings.clone(),
            );
            let timeout = tls.handshake_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => {
                        metrics.refused("tls_handshake");
                        if let Some(suppressed) = warnings.allow() {
                            warn!(%peer, error = %e, suppressed, "TLS handshake refused");
                        }
                    }
                    Err(_) => {
                        metrics.refused("tls_handshake_timeout");
                        debug!(%peer, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
