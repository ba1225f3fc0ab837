//! The collector agent end to end against an in-process Ingest peer: files → tail → spool →
//! shipper → peer, through rotations, restarts, an absent ingestor, RETRY and REJECTED answers
//! and a full spool. The peer implements the `scepwatch.v1.Ingest` contract (bearer token,
//! one ack per batch) and records every event ID it receives; the ingestor's own tests cover
//! the real server with Kafka behind it.

#![cfg(feature = "agent")]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scepwatch_collector::agent;
use scepwatch_collector::config::Config;
use scepwatch_collector::metrics::AgentMetrics;
use scepwatch_proto::v1::ingest_server::{Ingest, IngestServer};
use scepwatch_proto::v1::{batch_ack::Status as AckStatus, Batch, BatchAck};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status, Streaming};

const TOKEN: &str = "test-token-0123456789abcdef";

/// How the peer answers.
#[derive(Clone, Default)]
struct Behaviour {
    /// Answer RETRY to this many batches first.
    retry_first: usize,
    /// Answer REJECTED to the batches with these sequence numbers (the first time they come).
    reject: Vec<u64>,
}

#[derive(Default)]
struct Seen {
    /// Event ID → times received in accepted batches.
    events: HashMap<Vec<u8>, u32>,
    batches: u64,
    retried: usize,
    rejected: u64,
    unauthenticated: u64,
    /// Streams opened with the right token.
    streams: u64,
}

#[derive(Clone)]
struct Peer {
    seen: Arc<Mutex<Seen>>,
    behaviour: Behaviour,
}

#[tonic::async_trait]
impl Ingest for Peer {
    type StreamStream = ReceiverStream<Result<BatchAck, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<Batch>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
            self.seen.lock().unwrap().unauthenticated += 1;
            return Err(Status::unauthenticated("unknown token"));
        }
        self.seen.lock().unwrap().streams += 1;
        let mut batches = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let seen = self.seen.clone();
        let behaviour = self.behaviour.clone();
        tokio::spawn(async move {
            while let Ok(Some(batch)) = batches.message().await {
                let ack = {
                    let mut s = seen.lock().unwrap();
                    s.batches += 1;
                    if s.retried < behaviour.retry_first {
                        s.retried += 1;
                        BatchAck {
                            sequence: batch.sequence,
                            status: AckStatus::Retry as i32,
                            message: "kafka unavailable".into(),
                            events_accepted: 0,
                        }
                    } else if behaviour.reject.contains(&batch.sequence) && s.rejected == 0 {
                        s.rejected += 1;
                        BatchAck {
                            sequence: batch.sequence,
                            status: AckStatus::Rejected as i32,
                            message: "event 3: bad id".into(),
                            events_accepted: 0,
                        }
                    } else {
                        for e in &batch.events {
                            *s.events.entry(e.id.clone()).or_insert(0) += 1;
                        }
                        BatchAck {
                            sequence: batch.sequence,
                            status: AckStatus::Accepted as i32,
                            message: String::new(),
                            events_accepted: batch.events.len() as u32,
                        }
                    }
                };
                if tx.send(Ok(ack)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Start a peer answering as `behaviour` on `addr` (port 0: any); returns what it sees, its
/// address and a stopper.
async fn start_peer(
    addr: std::net::SocketAddr,
    behaviour: Behaviour,
) -> (Arc<Mutex<Seen>>, std::net::SocketAddr, oneshot::Sender<()>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let peer = Peer {
        seen: seen.clone(),
        behaviour,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let svc = IngestServer::new(peer)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Zstd);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    });
    (seen, local, stop_tx)
}

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs/W3SVC1")).unwrap();
        Setup { dir }
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn config(&self, addr: std::net::SocketAddr, spool: &str) -> Config {
        let root = self.dir.path();
        let text = format!(
            r#"[collector]
name = "ndes01"
host = "NDES01"
endpoint = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
state_dir = '{state}'

[ingestor]
url = "http://{addr}"
token = "{TOKEN}"
connect_timeout = "1s"

[shipper]
batch_max_events = 200
batch_max_bytes = "64KiB"
batch_max_delay = "50ms"
max_in_flight = 4
backoff_initial = "20ms"
backoff_max = "200ms"
drain_timeout = "5s"

[spool]
dir = '{spool_dir}'
{spool}
fsync = false

[tail]
poll_interval = "20ms"

[metrics]
listen = "off"

[[source]]
name = "iis"
format = "iis"
root = '{logs}'
include = ["W3SVC*/u_ex*.log"]
"#,
            state = root.join("state").display(),
            spool_dir = root.join("spool").display(),
            logs = self.logs().display(),
        );
        let path = root.join("collector.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }
}

const HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2026-11-27 00:00:00\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

/// `n` mscep.dll request lines, numbered from `from` (each line distinct).
fn iis_lines(from: usize, n: usize) -> String {
    let mut s = String::new();
    for i in from..from + n {
        let (h, m, sec) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        s.push_str(&format!(
            "2026-11-27 {h:02}:{m:02}:{sec:02} 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=req{i} 443 - 10.1.{}.{} Dalvik/2.1.0+(Linux;+U;+Android+14;+Pixel+7) - 200 0 0 {}\r\n",
            (i / 250) % 250,
            i % 250,
            i % 97
        ));
    }
    s
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), agent::AgentError>>,
}

fn start_agent(config: Config, metrics: Arc<AgentMetrics>) -> Running {
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(agent::run(config, metrics, async {
        let _ = stop_rx.await;
    }));
    Running { stop, task }
}

async fn stop_agent(r: Running) {
    let _ = r.stop.send(());
    tokio::time::timeout(Duration::from_secs(20), r.task)
        .await
        .expect("agent stops within 20 s")
        .unwrap()
        .unwrap();
}

async fn wait_for(seen: &Arc<Mutex<Seen>>, unique: usize, within: Duration) {
    let t = Instant::now();
    loop {
        let n = seen.lock().unwrap().events.len();
        if n >= unique {
            return;
        }
        if t.elapsed() > within {
            panic!("only {n} of {unique} events arrived within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn duplicates(seen: &Arc<Mutex<Seen>>) -> u32 {
    seen.lock().unwrap().events.values().map(|c| c - 1).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_through_rotation_and_restart() {
    let s = Setup::new();
    let (seen, addr, _peer_stop) =
        start_peer("127.0.0.1:0".parse().unwrap(), Behaviour::default()).await;
    let day1 = s.logs().join("W3SVC1/u_ex261127.log");
    append(&day1, HEADER);
    append(&day1, &iis_lines(0, 1000));

    let metrics = AgentMetrics::new();
    let run = start_agent(s.config(addr, ""), metrics.clone());
    wait_for(&seen, 1000, Duration::from_secs(20)).await;
    append(&day1, &iis_lines(1000, 500));
    // The next day's file, with the same header lines (IIS writes identical headers).
    let day2 = s.logs().join("W3SVC1/u_ex261128.log");
    append(&day2, HEADER);
    append(&day2, &iis_lines(1500, 700));
    wait_for(&seen, 2200, Duration::from_secs(20)).await;
    stop_agent(run).await;
    assert!(s.dir.path().join("state/checkpoints.json").exists());
    let text = metrics.render();
    assert!(
        text.contains("scepwatch_collector_read_events_total{source=\"iis\"} 2200"),
        "{text}"
    );
    assert!(metrics.bytes_read.get() > 2200 * 150, "{text}");
    assert_eq!(metrics.events_acked.get(), 2200);

    // While stopped: more lines, and the first day's file is renamed away (rotation).
    append(&day2, &iis_lines(2200, 300));
    std::fs::rename(&day1, s.logs().join("W3SVC1/u_ex261127.log.old")).unwrap();
    let day3 = s.logs().join("W3SVC1/u_ex261129.log");
    append(&day3, HEADER);
    append(&day3, &iis_lines(2500, 100));

    let run = start_agent(s.config(addr, ""), AgentMetrics::new());
    wait_for(&seen, 2600, Duration::from_secs(20)).await;
    // Give a resend, if any, time to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_agent(run).await;
    assert_eq!(seen.lock().unwrap().events.len(), 2600);
    assert_eq!(
        duplicates(&seen),
        0,
        "a clean stop and start sends nothing twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_backlog_gets_a_fresh_stream_and_loses_nothing() {
    // A stream keeps buffers as large as its largest batch; after a backlog (more than 4 MiB
    // shipped) and 2 s with nothing in flight the shipper closes it cleanly and opens a fresh
    // one on the same connection.
    let s = Setup::new();
    let (seen, addr, _peer_stop) =
        start_peer("127.0.0.1:0".parse().unwrap(), Behaviour::default()).await;
    let day1 = s.logs().join("W3SVC1/u_ex261127.log");
    append(&day1, HEADER);
    let mut written = 0;
    let metrics = AgentMetrics::new();
    let run = start_agent(s.config(addr, ""), metrics.clone());
    while metrics.bytes_sent.get() < 5 << 20 {
        append(&day1, &iis_lines(written, 2000));
        written += 2000;
        wait_for(&seen, written, Duration::from_secs(30)).await;
    }
    assert_eq!(seen.lock().unwrap().streams, 1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        seen.lock().unwrap().streams,
        2,
        "a fresh stream after the backlog"
    );
    assert_eq!(metrics.reconnects.get(), 0, "the connection stays");
    // The fresh stream carries what comes next.
    append(&day1, &iis_lines(written, 500));
    written += 500;
    wait_for(&seen, written, Duration::from_secs(20)).await;
    // A trickle of lines does not make it recycle again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_agent(run).await;
    assert_eq!(seen.lock().unwrap().streams, 2);
    assert_eq!(seen.lock().unwrap().events.len(), written);
    assert_eq!(duplicates(&seen), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_ingestor_loses_nothing() {
    let s = Setup::new();
    let addr = free_port();
    let day1 = s.logs().join("W3SVC1/u_ex261127.log");
    append(&day1, HEADER);
    append(&day1, &iis_lines(0, 3000));
    let metrics = AgentMetrics::new();
    let run = start_agent(s.config(addr, ""), metrics.clone());
    // Everything is read into the spool while nobody listens.
    let t = Instant::now();
    while metrics.events_spooled.get() < 3000 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "lines reach the spool"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.batches_acked.get(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(metrics.reconnects.get() >= 1, "the shipper keeps trying");

    let (seen, _, _peer_stop) = start_peer(addr, Behaviour::default()).await;
    wait_for(&seen, 3000, Duration::from_secs(20)).await;
    stop_agent(run).await;
    assert_eq!(duplicates(&seen), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_answers_are_resent_and_rejected_batches_are_kept() {
    let s = Setup::new();
    let (seen, addr, _peer_stop) = start_peer(
        "127.0.0.1:0".parse().unwrap(),
        Behaviour {
            retry_first: 3,
            reject: vec![2],
        },
    )
    .await;
    let day1 = s.logs().join("W3SVC1/u_ex261127.log");
    append(&day1, HEADER);
    append(&day1, &iis_lines(0, 1000));
    let metrics = AgentMetrics::new();
    let run = start_agent(s.config(addr, ""), metrics.clone());
    let t = Instant::now();
    loop {
        let (events, rejected) = {
            let g = seen.lock().unwrap();
            (g.events.len(), g.rejected)
        };
        // Every event but those of the one rejected batch.
        if rejected == 1
            && events > 0
            && metrics.batches_acked.get() + 1 >= metrics.batches_spooled.get()
            && metrics.events_spooled.get() == 1000
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "events {events}, rejected {rejected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_agent(run).await;
    assert!(metrics.batches_retried.get() >= 3);
    assert_eq!(metrics.batches_rejected.get(), 1);
    let kept: Vec<_> = std::fs::read_dir(s.dir.path().join("state/rejected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(kept.contains(&format!("{:020}.batch", 2)), "{kept:?}");
    assert!(kept.contains(&format!("{:020}.reason.txt", 2)), "{kept:?}");
    let rejected_events = {
        let bytes =
            std::fs::read(s.dir.path().join(format!("state/rejected/{:020}.batch", 2))).unwrap();
        <Batch as prost::Message>::decode(bytes.as_slice())
            .unwrap()
            .events
            .len()
    };
    assert_eq!(seen.lock().unwrap().events.len() + rejected_events, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_blocks_reading_and_loses_nothing() {
    let s = Setup::new();
    let addr = free_port();
    let day1 = s.logs().join("W3SVC1/u_ex261127.log");
    append(&day1, HEADER);
    append(&day1, &iis_lines(0, 6000));
    let metrics = AgentMetrics::new();
    // Room for about three batches.
    let run = start_agent(
        s.config(addr, "max_bytes = \"160KiB\"\nsegment_bytes = \"80KiB\""),
        metrics.clone(),
    );
    let t = Instant::now();
    while metrics.spool_full.get() != 1 {
        assert!(t.elapsed() < Duration::from_secs(20), "the spool fills");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spooled = metrics.events_spooled.get();
    assert!(spooled < 6000, "reading waits: {spooled} spooled");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(metrics.spool_bytes.get() <= 160 * 1024);

    let (seen, _, _peer_stop) = start_peer(addr, Behaviour::default()).await;
    wait_for(&seen, 6000, Duration::from_secs(30)).await;
    let t = Instant::now();
    while metrics.spool_full.get() != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the full gauge clears"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.spool_full_waits.get() >= 1);
    stop_agent(run).await;
    assert_eq!(duplicates(&seen), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_nothing_is_checkpointed() {
    let s = Setup::new();
    let (seen, addr, _peer_stop) =
        start_peer("127.0.0.1:0".parse().unwrap(), Behaviour::default()).await;
    let day1 = s.logs().join("W3SVC1/u_ex261127.log");
    append(&day1, HEADER);
    append(&day1, &iis_lines(0, 100));
    let mut config = s.config(addr, "");
    config.ingestor.token = scepwatch_collector::config::Secret("another-token-0123456789".into());
    let metrics = AgentMetrics::new();
    let run = start_agent(config, metrics.clone());
    let t = Instant::now();
    while seen.lock().unwrap().unauthenticated < 2 {
        assert!(t.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_agent(run).await;
    assert_eq!(metrics.batches_acked.get(), 0);
    assert!(seen.lock().unwrap().events.is_empty());
    // Nothing was acknowledged, so no checkpoint moved: with the right token, everything
    // that was read goes out.
    let run = start_agent(s.config(addr, ""), AgentMetrics::new());
    wait_for(&seen, 100, Duration::from_secs(20)).await;
    stop_agent(run).await;
    assert_eq!(duplicates(&seen), 0);
}
