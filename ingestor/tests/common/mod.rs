//! Shared pieces of the ingestor's integration tests: the real Kafka broker (started by
//! `scripts/kafka.sh start`), an in-process ingestor on ephemeral ports, collector-shaped
//! events, a consumer that reads records back, and raw HTTP.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use scepwatch_ingestor::auth::TokenDigest;
use scepwatch_ingestor::config::{CollectorConfig, Config, KafkaConfig, Limits};
use scepwatch_ingestor::server::{Ingestor, ShutdownReport};
use scepwatch_ingestor::service::Shared;
use scepwatch_proto::v1::ingest_client::IngestClient;
use scepwatch_proto::v1::{
    event, Batch, BatchAck, EndpointEvents, Event, IisRequest, IisTarget, ScepOperation, SourceId,
    SourceKind, Watermark,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Tokens of the test collectors (long random-looking secrets, as real ones are).
pub const TOKEN_NDES01: &str = "Zq3v8Xk1Lw0pR7sT2mN9bC4dF6gH5jK8lP0oI1uY2tR3eW4q";
pub const TOKEN_NDES02: &str = "Mb7nV2cX9zA1sD4fG6hJ8kL0qW3eR5tY7uI9oP1aS3dF5gH7";

pub const IIS_PATH: &str = r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex251120.log";
pub const ENDPOINT_A: &str = "https://ndes-a.contoso.com/certsrv/mscep/mscep.dll";
pub const ENDPOINT_B: &str = "https://ndes-b.contoso.com/certsrv/mscep/mscep.dll";
pub const ENDPOINT_C: &str = "https://scep.fabrikam.net/certsrv/mscep/mscep.dll";

/// The broker's bootstrap address, or `None` (after saying why) when it is unreachable and
/// the run is not CI. In CI (`CI=true`) an unreachable broker fails the test: a skipped
/// transport test is a failure there.
pub fn kafka() -> Option<String> {
    let bootstrap =
        std::env::var("SCEPWATCH_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let reachable = bootstrap.split(',').any(|addr| {
        use std::net::ToSocketAddrs;
        addr.to_socket_addrs()
            .ok()
            .into_iter()
            .flatten()
            .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    });
    if reachable {
        return Some(bootstrap);
    }
    let msg = format!(
        "no Kafka broker at {bootstrap}: start it with `scripts/kafka.sh start` (or set \
         SCEPWATCH_KAFKA_BOOTSTRAP)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI must not skip this test");
    }
    // Straight to stderr, past the test harness's capture, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {msg}");
    None
}

/// Returns from the test when there is no broker (outside CI).
#[macro_export]
macro_rules! require_kafka {
    () => {
        match common::kafka() {
            Some(b) => b,
            None => return,
        }
    };
}

/// A topic name no other test (or run) uses. Topics are never deleted: on the test broker
/// deleting one deletes them all.
pub fn fresh_topic(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("scepwatch-test-{test}-{}-{nanos}", std::process::id())
}

/// A plain-text configuration with collectors ndes01 and ndes02 and small limits.
pub fn config(bootstrap: &str, topic: &str) -> Config {
    let mut kafka = KafkaConfig::new(bootstrap, topic);
    kafka.partitions = 6;
    kafka.delivery_timeout = Duration::from_secs(20);
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        collectors: vec![
            CollectorConfig {
                name: "ndes01".into(),
                token: TokenDigest::of(TOKEN_NDES01),
            },
            CollectorConfig {
                name: "ndes02".into(),
                token: TokenDigest::of(TOKEN_NDES02),
            },
        ],
        limits: Limits {
            max_batch_bytes: 256 << 10,
            max_events_per_batch: 500,
            ..Limits::default()
        },
        kafka,
        shutdown_drain_timeout: Duration::from_secs(15),
    }
}

/// An ingestor running in this process.
pub struct Running {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<ShutdownReport>>,
}

impl Running {
    /// Binds, waits until the topic exists (created by the ingestor), and serves.
    pub async fn start(config: Config) -> Running {
        let bootstrap = config.kafka.bootstrap_servers.clone();
        let topic = config.kafka.topic.clone();
        let ingestor = Ingestor::bind(config).await.expect("bind");
        let (grpc, http, shared) = (
            ingestor.grpc_addr(),
            ingestor.http_addr(),
            ingestor.shared(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ingestor
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .expect("run")
        });
        wait_for_topic(&bootstrap, &topic).await;
        Running {
            grpc,
            http,
            shared,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Starts the graceful shutdown and returns its report.
    pub async fn shutdown(mut self) -> ShutdownReport {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.take().expect("task").await.expect("join")
    }

    /// Starts the graceful shutdown without waiting.
    pub fn begin_shutdown(&mut self) -> JoinHandle<ShutdownReport> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.take().expect("task")
    }

    /// A plain-text client.
    pub async fn client(&self) -> IngestClient<Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        IngestClient::new(channel)
    }

    /// A counter of the metrics text, 0 when absent.
    pub async fn metric(&self, line_prefix: &str) -> f64 {
        let (_, body) = http_get(self.http, "/metrics").await;
        metric_value(&body, line_prefix)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The value of the first metric line starting with `prefix` (0 when absent).
pub fn metric_value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub async fn wait_for_topic(bootstrap: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5));
        if let Ok(md) = md {
            if md
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "topic {topic} never appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The source of an IIS log of `collector`.
pub fn iis_source(collector: &str, path: &str) -> SourceId {
    SourceId {
        collector: collector.into(),
        host: "NDES01".into(),
        kind: SourceKind::Iis as i32,
        path: path.into(),
        stream: String::new(),
    }
}

/// An IIS GetCACaps request logged at byte `position`, as the collector turns a W3C line into
/// an event.
pub fn iis_event(collector: &str, path: &str, position: u64, endpoint: &str) -> Event {
    let source = iis_source(collector, path);
    let line = format!(
        "2025-11-20 10:15:{:02} 10.0.0.5 GET /certsrv/mscep/mscep.dll \
         operation=GetCACaps&message=default 443 - 10.1.2.{} \
         Dalvik/2.1.0+(Linux;+U;+Android+14) - 200 0 0 {}",
        position % 60,
        position % 250,
        5 + position % 40
    );
    Event {
        id: scepwatch_proto::event_id(&source, position).to_vec(),
        source: Some(source),
        position,
        event_time_us: 1_763_633_700_000_000 + position as i64,
        observed_time_us: 1_763_633_701_000_000,
        endpoint_id: endpoint.into(),
        payload: Some(event::Payload::Iis(IisRequest {
            server_ip: "10.0.0.5".into(),
            server_port: 443,
            client_ip: format!("10.1.2.{}", position % 250),
            method: "GET".into(),
            uri_stem: "/certsrv/mscep/mscep.dll".into(),
            uri_query: "operation=GetCACaps&message=default".into(),
            user_agent: "Dalvik/2.1.0 (Linux; U; Android 14)".into(),
            status: 200,
            target: IisTarget::Mscep as i32,
            operation: ScepOperation::GetCaCaps as i32,
            ..Default::default()
        })),
        excerpt: line,
    }
}

/// `n` consecutive events of one IIS log starting at byte `start`.
pub fn iis_events(collector: &str, start: u64, n: usize, endpoint: &str) -> Vec<Event> {
    (0..n as u64)
        .map(|i| iis_event(collector, IIS_PATH, start + i * 190, endpoint))
        .collect()
}

pub fn watermark(collector: &str, endpoint: &str, up_to_us: i64) -> Watermark {
    Watermark {
        source: Some(iis_source(collector, IIS_PATH)),
        endpoint_id: endpoint.into(),
        read_from_us: 1_763_596_800_000_000,
        read_up_to_us: up_to_us,
        position: 0,
    }
}

pub fn batch(collector: &str, sequence: u64, events: Vec<Event>) -> Batch {
    Batch {
        collector: collector.into(),
        sequence,
        events,
        watermarks: vec![],
    }
}

/// A collector's side of a stream: send batches, read acks.
pub struct Stream {
    pub tx: mpsc::Sender<Batch>,
    pub acks: tonic::Streaming<BatchAck>,
}

/// Opens a stream with `authorization: Bearer <token>` (and the collector header when given).
pub async fn open(
    client: &mut IngestClient<Channel>,
    token: Option<&str>,
    collector: Option<&str>,
) -> Result<Stream, tonic::Status> {
    let (tx, rx) = mpsc::channel(64);
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    if let Some(c) = collector {
        req.metadata_mut()
            .insert("x-scepwatch-collector", c.parse().unwrap());
    }
    let acks = client.stream(req).await?.into_inner();
    Ok(Stream { tx, acks })
}

impl Stream {
    pub async fn send(&self, b: Batch) {
        self.tx.send(b).await.expect("stream closed");
    }

    /// The next ack, within 30 s.
    pub async fn ack(&mut self) -> Result<BatchAck, tonic::Status> {
        match tokio::time::timeout(Duration::from_secs(30), self.acks.message()).await {
            Ok(Ok(Some(a))) => Ok(a),
            Ok(Ok(None)) => Err(tonic::Status::aborted("stream ended without an ack")),
            Ok(Err(s)) => Err(s),
            Err(_) => panic!("no ack within 30 s"),
        }
    }
}

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub schema_header: Option<String>,
    pub value: EndpointEvents,
}

/// Reads every record of `topic` until `events` events were seen (or `timeout`).
pub fn consume(bootstrap: &str, topic: &str, events: usize, timeout: Duration) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = md.topics()[0].partitions().len() as i32;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut seen = 0;
    let deadline = Instant::now() + timeout;
    while seen < events && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.expect("consume");
        let value = EndpointEvents::decode(m.payload().unwrap_or_default()).expect("decode");
        seen += value.events.len();
        let schema_header = m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == "scepwatch.schema")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        out.push(Consumed {
            partition: m.partition(),
            offset: m.offset(),
            key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            schema_header,
            value,
        });
    }
    out
}

/// Sum of the high watermarks of every partition of `topic`: records in it.
pub fn records_in(bootstrap: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = md.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            high - low
        })
        .sum()
}

/// `GET path` over HTTP/1.0: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("http connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Events per key, to compare sets.
pub fn ids_by_key(records: &[Consumed]) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut m: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for r in records {
        m.entry(r.key.clone())
            .or_default()
            .extend(r.value.events.iter().map(|e| e.id.clone()));
    }
    m
}
