//! `scepwatch-loadgen`: many concurrent collector streams against an ingestor.
//!
//! Each stream is one collector (`loadgen-0000`, `loadgen-0001`, ...) on its own connection,
//! sending synthetic but valid batches (IIS requests with the IDs their source and position
//! give) at a fixed rate, with a bounded number of batches unacknowledged, as a collector does.
//! It prints acks per second while running, then totals, latency percentiles (send to ack) and,
//! given `--ingestor-pid`, the ingestor's peak and current resident memory.
//!
//! ```text
//! scepwatch-loadgen collectors --streams 1000 >> ingestor.toml   # their [[collectors]]
//! scepwatch-loadgen run --target http://127.0.0.1:7443 --streams 1000 --ingestor-pid 1234
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use scepwatch_ingestor::auth::{TokenDigest, COLLECTOR_HEADER};
use scepwatch_proto::v1::batch_ack::Status as AckStatus;
use scepwatch_proto::v1::ingest_client::IngestClient;
use scepwatch_proto::v1::{
    event, Batch, Event, IisRequest, IisTarget, ScepOperation, SourceId, SourceKind, Watermark,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// Load generator for the scepwatch ingestor: N concurrent collector streams.
#[derive(Parser, Debug)]
#[command(name = "scepwatch-loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the `[[collectors]]` entries (names and token digests) of the streams, to append to
    /// the ingestor's configuration.
    Collectors {
        /// Number of collectors.
        #[arg(long, default_value_t = 1000)]
        streams: usize,
        /// Secret the tokens are derived from (the same as `run --token-seed`).
        #[arg(long, default_value = "scepwatch-loadgen")]
        token_seed: String,
    },
    /// Run the streams.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Ingestor address: http://host:port, or https://host:port with --ca.
    #[arg(long, default_value = "http://127.0.0.1:7443")]
    target: String,
    /// Concurrent collector streams, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Events in each batch.
    #[arg(long, default_value_t = 50)]
    events_per_batch: usize,
    /// Batches per second of each stream.
    #[arg(long, default_value_t = 1.0)]
    batches_per_second: f64,
    /// How long to send, in seconds (after every stream is connected).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Most unacknowledged batches per stream.
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Secret the tokens are derived from (see `collectors`).
    #[arg(long, default_value = "scepwatch-loadgen")]
    token_seed: String,
    /// PEM CA certificate of the ingestor (https targets).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Server name to verify (https targets).
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Distinct SCEP endpoints the collectors serve (collector i serves endpoint i mod N).
    #[arg(long, default_value_t = 50)]
    endpoints: usize,
    /// Pid of the ingestor, to report its memory (VmHWM, VmRSS from /proc).
    #[arg(long)]
    ingestor_pid: Option<u32>,
}

fn collector_name(i: usize) -> String {
    format!("loadgen-{i:04}")
}

fn token(seed: &str, i: usize) -> String {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update((i as u64).to_le_bytes());
    scepwatch_proto::event_id_hex(&h.finalize())
}

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    retry: AtomicU64,
    events_accepted: AtomicU64,
    stream_errors: AtomicU64,
    connect_errors: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    first_error: Mutex<Option<String>>,
}

impl Totals {
    fn error(&self, e: String) {
        let mut f = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(e);
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A batch of IIS GetCACaps / PKIOperation requests as a collector would send them.
fn make_batch(collector: &str, endpoint: &str, seq: u64, n: usize, position: &mut u64) -> Batch {
    let source = SourceId {
        collector: collector.to_owned(),
        host: collector.to_uppercase(),
        kind: SourceKind::Iis as i32,
        path: r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex251120.log".to_owned(),
        stream: String::new(),
    };
    let key = scepwatch_proto::SourceKey::of(&source);
    let now = now_us();
    let mut events = Vec::with_capacity(n);
    for k in 0..n {
        let pki = k % 3 == 2;
        let (op, query) = if pki {
            (
                ScepOperation::PkiOperation,
                "operation=PKIOperation&message=MIIHCgYJKoZIhvcNAQcCoIIG%2BzCCBvcCAQExDzANBglghkgBZQMEAgEFADCCAw",
            )
        } else {
            (
                ScepOperation::GetCaCaps,
                "operation=GetCACaps&message=default",
            )
        };
        let line = format!(
            "2025-11-20 10:{:02}:{:02} 10.0.0.5 GET /certsrv/mscep/mscep.dll {query} 443 - \
             10.1.{}.{} Dalvik/2.1.0+(Linux;+U;+Android+14) - 200 0 0 {}",
            (k / 60) % 60,
            k % 60,
            k % 250,
            seq % 250,
            5 + k % 40
        );
        let pos = *position;
        *position += line.len() as u64 + 2;
        events.push(Event {
            id: key.event_id(pos).to_vec(),
            source: Some(source.clone()),
            position: pos,
            event_time_us: now - 1_000_000,
            observed_time_us: now,
            endpoint_id: endpoint.to_owned(),
            payload: Some(event::Payload::Iis(IisRequest {
                server_ip: "10.0.0.5".into(),
                server_port: 443,
                client_ip: format!("10.1.{}.{}", k % 250, seq % 250),
                method: "GET".into(),
                uri_stem: "/certsrv/mscep/mscep.dll".into(),
                uri_query: query.into(),
                user_agent: "Dalvik/2.1.0 (Linux; U; Android 14)".into(),
                status: 200,
                time_taken_ms: 5 + (k % 40) as u32,
                target: IisTarget::Mscep as i32,
                operation: op as i32,
                query_length: query.len() as u32,
                ..Default::default()
            })),
            excerpt: line,
        });
    }
    Batch {
        collector: collector.to_owned(),
        sequence: seq,
        events,
        watermarks: vec![Watermark {
            source: Some(source),
            endpoint_id: endpoint.to_owned(),
            read_from_us: now - 3_600_000_000,
            read_up_to_us: now - 1_000_000,
            position: *position,
        }],
    }
}

async fn run_stream(
    i: usize,
    args: Arc<RunArgs>,
    endpoint: Endpoint,
    totals: Arc<Totals>,
    connects: Arc<Semaphore>,
    go: Arc<tokio::sync::Barrier>,
) {
    let name = collector_name(i);
    let channel = {
        let _p = connects.acquire().await;
        match endpoint.connect().await {
            Ok(c) => c,
            Err(e) => {
                totals.connect_errors.fetch_add(1, Ordering::Relaxed);
                totals.error(format!("{name}: connect: {e:?}"));
                go.wait().await;
                return;
            }
        }
    };
    let mut client = IngestClient::new(channel);
    let (tx, rx) = mpsc::channel::<Batch>(args.window);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    let bearer = format!("Bearer {}", token(&args.token_seed, i));
    if let (Ok(a), Ok(c)) = (bearer.parse(), name.parse()) {
        request.metadata_mut().insert("authorization", a);
        request.metadata_mut().insert(COLLECTOR_HEADER, c);
    }
    let mut acks = match client.stream(request).await {
        Ok(r) => r.into_inner(),
        Err(s) => {
            totals.stream_errors.fetch_add(1, Ordering::Relaxed);
            totals.error(format!("{name}: open: {s}"));
            go.wait().await;
            return;
        }
    };
    // Every stream connected (or failed to): the clock starts for all at once.
    go.wait().await;
    let stop = Instant::now() + Duration::from_secs(args.seconds);

    let window = Arc::new(Semaphore::new(args.window));
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let reader = {
        let (totals, window, sent_at, name) = (
            totals.clone(),
            window.clone(),
            sent_at.clone(),
            name.clone(),
        );
        tokio::spawn(async move {
            loop {
                match acks.message().await {
                    Ok(Some(a)) => {
                        let t = sent_at
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&a.sequence);
                        if let Some(t) = t {
                            let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                            totals
                                .latencies_us
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(us);
                        }
                        match AckStatus::try_from(a.status) {
                            Ok(AckStatus::Accepted) => {
                                totals.accepted.fetch_add(1, Ordering::Relaxed);
                                totals
                                    .events_accepted
                                    .fetch_add(a.events_accepted as u64, Ordering::Relaxed);
                            }
                            Ok(AckStatus::Retry) => {
                                totals.retry.fetch_add(1, Ordering::Relaxed);
                                totals.error(format!("{name}: RETRY: {}", a.message));
                            }
                            _ => {
                                totals.rejected.fetch_add(1, Ordering::Relaxed);
                                totals.error(format!("{name}: REJECTED: {}", a.message));
                            }
                        }
                        window.add_permits(1);
                    }
                    Ok(None) => return,
                    Err(s) => {
                        totals.stream_errors.fetch_add(1, Ordering::Relaxed);
                        totals.error(format!("{name}: stream: {s}"));
                        window.close();
                        return;
                    }
                }
            }
        })
    };

    let endpoint_id = format!(
        "https://ndes{:02}.contoso.com/certsrv/mscep/mscep.dll",
        i % args.endpoints.max(1)
    );
    let period = Duration::from_secs_f64(1.0 / args.batches_per_second.max(0.001));
    // Spread the streams' sends over the period.
    let offset = period.mul_f64((i % 1000) as f64 / 1000.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut position = 0u64;
    let mut seq = 0u64;
    while Instant::now() < stop {
        tick.tick().await;
        let Ok(p) = window.acquire().await else { break };
        p.forget();
        seq += 1;
        let batch = make_batch(
            &name,
            &endpoint_id,
            seq,
            args.events_per_batch,
            &mut position,
        );
        sent_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(seq, Instant::now());
        if tx.send(batch).await.is_err() {
            break;
        }
        totals.sent.fetch_add(1, Ordering::Relaxed);
    }
    // Wait for the outstanding acks, then close the stream.
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        window.acquire_many(args.window as u32),
    )
    .await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
}

fn proc_status(pid: u32) -> Option<(String, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_owned())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let args = Arc::new(args);
    let mut endpoint = Endpoint::from_shared(args.target.clone())
        .context("--target")?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        endpoint = endpoint
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(pem))
                    .domain_name(args.domain.clone()),
            )
            .context("TLS")?;
    }
    let totals = Arc::new(Totals::default());
    let connects = Arc::new(Semaphore::new(64));
    let go = Arc::new(tokio::sync::Barrier::new(args.streams + 1));
    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        tasks.push(tokio::spawn(run_stream(
            i,
            args.clone(),
            endpoint.clone(),
            totals.clone(),
            connects.clone(),
            go.clone(),
        )));
    }
    go.wait().await;
    let started = Instant::now();
    println!(
        "{} streams opened in {:.1} s ({} connect errors, {} refused); sending {} events/batch, \
         {} batch/s per stream, for {} s",
        args.streams,
        connect_started.elapsed().as_secs_f64(),
        totals.connect_errors.load(Ordering::Relaxed),
        totals.stream_errors.load(Ordering::Relaxed),
        args.events_per_batch,
        args.batches_per_second,
        args.seconds
    );
    if let Some(pid) = args.ingestor_pid {
        if let Some((hwm, rss)) = proc_status(pid) {
            println!("ingestor pid {pid} after connecting: VmHWM {hwm}, VmRSS {rss}");
        }
    }
    let mut last = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.tick().await;
    let all = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    tokio::pin!(all);
    loop {
        tokio::select! {
            _ = &mut all => break,
            _ = ticker.tick() => {
                let acc = totals.accepted.load(Ordering::Relaxed);
                let mem = args.ingestor_pid.and_then(proc_status)
                    .map(|(h, r)| format!(", ingestor VmHWM {h} VmRSS {r}"))
                    .unwrap_or_default();
                println!(
                    "t={:>4.0}s  acks/s {:>7.0}  accepted {acc}  retry {}  rejected {}  stream errors {}{mem}",
                    started.elapsed().as_secs_f64(),
                    (acc - last) as f64 / 5.0,
                    totals.retry.load(Ordering::Relaxed),
                    totals.rejected.load(Ordering::Relaxed),
                    totals.stream_errors.load(Ordering::Relaxed),
                );
                last = acc;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(
        &mut *totals
            .latencies_us
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    lat.sort_unstable();
    let t = &totals;
    let accepted = t.accepted.load(Ordering::Relaxed);
    let errors = t.rejected.load(Ordering::Relaxed)
        + t.retry.load(Ordering::Relaxed)
        + t.stream_errors.load(Ordering::Relaxed)
        + t.connect_errors.load(Ordering::Relaxed);
    println!("--- {} streams, {elapsed:.1} s", args.streams);
    println!(
        "batches sent {}  accepted {accepted}  retry {}  rejected {}  stream errors {}  connect errors {}",
        t.sent.load(Ordering::Relaxed),
        t.retry.load(Ordering::Relaxed),
        t.rejected.load(Ordering::Relaxed),
        t.stream_errors.load(Ordering::Relaxed),
        t.connect_errors.load(Ordering::Relaxed),
    );
    println!(
        "acks/s {:.0}  events/s {:.0}",
        accepted as f64 / elapsed,
        t.events_accepted.load(Ordering::Relaxed) as f64 / elapsed
    );
    println!(
        "ack latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    if let Some(pid) = args.ingestor_pid {
        match proc_status(pid) {
            Some((hwm, rss)) => println!("ingestor pid {pid}: VmHWM {hwm}, VmRSS {rss}"),
            None => println!("ingestor pid {pid}: /proc/{pid}/status not readable"),
        }
    }
    if let Some(e) = t
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        println!("first error: {e}");
    }
    Ok(errors == 0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Collectors {
            streams,
            token_seed,
        } => {
            for i in 0..streams {
                println!(
                    "[[collectors]]\nname = \"{}\"\ntoken_sha256 = \"{}\"\n",
                    collector_name(i),
                    TokenDigest::of(&token(&token_seed, i)).to_hex()
                );
            }
            ExitCode::SUCCESS
        }
        Command::Run(args) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("scepwatch-loadgen: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run(args)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("scepwatch-loadgen: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
