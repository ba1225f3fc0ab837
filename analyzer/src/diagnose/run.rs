//! The pipeline of one `diagnose` run.
//!
//! 1. [`input::walk`] lists the files; each file's first 64 KiB tells its format.
//! 2. *Context* sources (device logs first, then event logs, probe results, SetupMsi.log, health
//!    facts) are parsed and held: they are small, and device logs name the SCEP endpoints that
//!    the server logs (which name none) are then mapped to.
//! 3. The engine is built with that mapping, fed the context events, then the HTTPERR logs,
//!    then the IIS logs, oldest first.
//!
//! Files are parsed on a pool of worker threads; the engine (one thread) takes the files of one
//! host one after another, in a fixed order, and those of different hosts as their batches
//! arrive, so that the parsers are not held up by one file. The engine's results do not depend
//! on the order of sources it reads in that way (see its Determinism section), so a run's output
//! does not depend on thread timing. Workers parse files the engine cannot take yet within a
//! memory budget ([`Options::buffer_bytes`]); a file it can take is bounded by a few batches. A
//! watermark follows each file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, BufReader, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use scepwatch_collector::parse::{self, Format, ParseStats, SourceContext};
use scepwatch_collector::source::identity;
use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{Event, SourceId, Watermark};

use super::archive::{Budget, LimitExceeded, Limits};
use super::input::{self, HostOverride, InputFile};
use super::summary::{
    Collector, EndpointReport, FileReport, FileStatus, HostMapping, MappingSource, ParserTotals,
    Role, RunReport,
};

/// Bytes of a file looked at to recognise its format.
pub const SNIFF_BYTES: usize = 64 * 1024;
/// Events per batch sent from a worker to the engine thread.
const BATCH_EVENTS: usize = 2048;
/// Batches a file the engine can take may have in flight (its worker waits beyond): enough for
/// the parsers to keep going while the engine concludes (`advance`).
const BATCHES_PER_FILE: u64 = 8;
/// The `collector` name of every source read by `diagnose`.
pub const COLLECTOR: &str = "diagnose";

/// `--endpoint URL=HOST[,HOST...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointFlag {
    /// SCEP URL as given (normalised before use).
    pub url: String,
    /// Server hosts behind it.
    pub hosts: Vec<String>,
}

/// What to read and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files, folders and archives.
    pub inputs: Vec<PathBuf>,
    /// Bounds on archives.
    pub limits: Limits,
    /// Explicit endpoint mapping of server hosts.
    pub endpoints: Vec<EndpointFlag>,
    /// Explicit hosts for path prefixes.
    pub host_overrides: Vec<HostOverride>,
    /// Read every file as this format instead of detecting it.
    pub assume_format: Option<Format>,
    /// Offset of local time from UTC for logs whose times carry no zone.
    pub utc_offset_secs: i32,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Attempts kept in full.
    pub max_attempts: usize,
    /// Diagnoses of one code kept in full (all are counted).
    pub max_per_code: usize,
    /// Memory parsed events of files the engine has not reached yet may take (estimated from
    /// their excerpts; default 16 MiB).
    pub buffer_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inputs: Vec::new(),
            limits: Limits::default(),
            endpoints: Vec::new(),
            host_overrides: Vec::new(),
            assume_format: None,
            utc_offset_secs: 0,
            threads: 0,
            max_attempts: 200,
            max_per_code: 100,
            buffer_bytes: 16 << 20,
        }
    }
}

/// Why a run could not be done at all (problems with single files never end a run).
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    /// No input was named.
    #[error("no input given")]
    NoInputs,
    /// An `--endpoint` URL has no host.
    #[error("--endpoint: {0:?} is not a URL with a host")]
    BadEndpoint(String),
}

/// How far a run has got, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Files parsed so far.
    pub files_done: u64,
    /// Files to parse.
    pub files_total: u64,
    /// Bytes read so far.
    pub bytes_read: u64,
    /// Events handed to the engine so far.
    pub events: u64,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// The consumer of events in a run: the engine, or a stand-in in tests.
pub trait Correlator {
    /// One event.
    fn push(&mut self, event: &Event);
    /// Events all read from `source` (one file's batch).
    fn push_batch(&mut self, source: &SourceId, events: &[Event]) {
        let _ = source;
        for e in events {
            self.push(e);
        }
    }
    /// A source has been read this far.
    fn watermark(&mut self, watermark: &Watermark);
    /// Emit what can be concluded so far.
    fn advance(&mut self, out: &mut Collector);
    /// End of input: emit everything; return counters for the report.
    fn finish(self: Box<Self>, out: &mut Collector) -> BTreeMap<String, u64>;
}

/// Builds the correlator once the server-host → endpoint mapping is known.
pub type CorrelatorFactory<'a> = dyn FnOnce(&BTreeMap<String, String>) -> Box<dyn Correlator> + 'a;

/// Runs `diagnose` with the engine of this crate.
pub fn run(
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunReport, DiagnoseError> {
    run_with(opts, progress, Box::new(super::engine_correlator))
}

/// Runs `diagnose`, feeding the correlator `make` builds.
pub fn run_with(
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
    make: Box<CorrelatorFactory<'_>>,
) -> Result<RunReport, DiagnoseError> {
    if opts.inputs.is_empty() {
        return Err(DiagnoseError::NoInputs);
    }
    let mut flag_map: BTreeMap<String, String> = BTreeMap::new();
    for f in &opts.endpoints {
        let id = scepwatch_proto::endpoint::normalize(&f.url)
            .ok_or_else(|| DiagnoseError::BadEndpoint(f.url.clone()))?;
        for h in &f.hosts {
            flag_map.insert(h.to_ascii_lowercase(), id.clone());
        }
    }
    let started = Instant::now();
    let workers = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let budget = Budget::default();
    let walk = input::walk(&opts.inputs, opts.limits, &budget, &opts.host_overrides);

    let mut report = RunReport {
        inputs: opts
            .inputs
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        ..RunReport::default()
    };
    let mut files: Vec<FileReport> = walk
        .skipped
        .iter()
        .map(|s| FileReport {
            path: s.path.clone(),
            input: input_text(&report.inputs, s.input),
            host: s.host.clone().unwrap_or_default(),
            format: None,
            role: Role::None,
            status: FileStatus::Skipped,
            reason: Some(s.code.to_string()),
            detail: Some(s.detail.clone()),
            ..empty_file_report()
        })
        .collect();

    // Recognise every file.
    let sniffed = parallel_map(&walk.files, workers, |f| {
        sniff(f, opts.assume_format, opts.limits, &budget)
    });
    let mut context_jobs: Vec<Job<'_>> = Vec::new();
    let mut server_jobs: Vec<Job<'_>> = Vec::new();
    for (file, s) in walk.files.iter().zip(sniffed) {
        match s {
            Ok(Sniffed {
                format,
                first_us,
                stream,
            }) => {
                let job = Job {
                    file,
                    format,
                    first_us,
                    stream,
                };
                if matches!(format, Format::Iis | Format::HttpErr) {
                    server_jobs.push(job);
                } else {
                    context_jobs.push(job);
                }
            }
            Err((code, detail)) => {
                tracing::info!(path = %file.path, host = %file.host, code, detail = %detail, "file not recognised");
                files.push(FileReport {
                    path: file.path.clone(),
                    input: input_text(&report.inputs, file.input),
                    host: file.host.clone(),
                    status: FileStatus::Skipped,
                    reason: Some(code.to_string()),
                    detail: Some(detail),
                    bytes: 0,
                    ..empty_file_report()
                })
            }
        }
    }
    context_jobs.sort_by(|a, b| {
        context_rank(a.format)
            .cmp(&context_rank(b.format))
            .then_with(|| a.file.path.cmp(&b.file.path))
            .then(a.file.input.cmp(&b.file.input))
    });
    // HTTP.sys logs first: they are a server's context, and the engine decides a window only
    // once the context logs that are still being read have passed it (a context log far behind
    // counts as finished). Then oldest first, so the engine sees server time roughly in order.
    server_jobs.sort_by(|a, b| {
        (a.format != Format::HttpErr)
            .cmp(&(b.format != Format::HttpErr))
            .then_with(|| {
                a.first_us
                    .unwrap_or(i64::MAX)
                    .cmp(&b.first_us.unwrap_or(i64::MAX))
            })
            .then_with(|| a.file.path.cmp(&b.file.path))
            .then(a.file.input.cmp(&b.file.input))
    });

    let mut ids = SourceIds::default();
    let counters = Counters::default();
    let total_files = (context_jobs.len() + server_jobs.len()) as u64;
    let mut ticker = Ticker::new(started, total_files, progress);

    // Context sources: parsed and held until the mapping is known.
    let context_ctxs: Vec<SourceContext> = context_jobs
        .iter()
        .map(|j| ids.context(j, opts.utc_offset_secs, ""))
        .collect();
    let mut held: Vec<(Vec<Event>, Outcome)> = Vec::with_capacity(context_jobs.len());
    let mut current: Vec<Event> = Vec::new();
    // One after another: the held events keep file order.
    let context_groups = vec![0; context_jobs.len()];
    parse_ordered(
        &context_jobs,
        &context_ctxs,
        &context_groups,
        workers,
        opts,
        &budget,
        &counters,
        |_, msg| match msg {
            Msg::Batch(events) => current.append(events),
            Msg::Done(outcome) => {
                let outcome = std::mem::replace(
                    outcome,
                    Outcome {
                        stats: ParseStats::default(),
                        problem: None,
                    },
                );
                held.push((std::mem::take(&mut current), outcome));
            }
        },
        &mut ticker,
    );

    // Roles and the endpoint mapping.
    let mut device_endpoints: BTreeMap<String, u64> = BTreeMap::new();
    let mut probe_endpoints: BTreeMap<String, u64> = BTreeMap::new();
    let mut devices_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut roles: Vec<Role> = Vec::with_capacity(held.len());
    for ((events, _), job) in held.iter_mut().zip(&context_jobs) {
        let mut role = match job.format {
            Format::AndroidOmadm | Format::IosConsole => Role::Device,
            Format::Probe => Role::Probe,
            _ => Role::Server,
        };
        if events
            .iter()
            .any(|e| matches!(e.payload, Some(Payload::WindowsScep(_))))
        {
            role = Role::Device;
        }
        for e in events.iter_mut() {
            if e.endpoint_id.is_empty() {
                if let Some(Payload::WindowsScep(w)) = &e.payload {
                    if let Some(id) = scepwatch_proto::endpoint::normalize(&w.ndes_url) {
                        e.endpoint_id = id;
                    }
                }
            }
            if e.endpoint_id.is_empty() {
                continue;
            }
            match role {
                Role::Device if is_device_event(e) => {
                    *device_endpoints.entry(e.endpoint_id.clone()).or_insert(0) += 1;
                    devices_of
                        .entry(e.endpoint_id.clone())
                        .or_default()
                        .insert(job.file.host.clone());
                }
                Role::Probe => {
                    *probe_endpoints.entry(e.endpoint_id.clone()).or_insert(0) += 1;
                }
                _ => {}
            }
        }
        roles.push(role);
    }
    let mut server_hosts: BTreeSet<String> = BTreeSet::new();
    for (job, role) in context_jobs.iter().zip(&roles) {
        if *role == Role::Server {
            server_hosts.insert(job.file.host.clone());
        }
    }
    for job in &server_jobs {
        server_hosts.insert(job.file.host.clone());
    }
    let most_used = device_endpoints
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(e, _)| e.clone());
    let (mapping, note) = map_servers(&server_hosts, &flag_map, most_used.as_deref());
    let server_endpoints: BTreeMap<String, String> = mapping
        .iter()
        .filter(|m| !m.endpoint.is_empty())
        .map(|m| (m.host.clone(), m.endpoint.clone()))
        .collect();
    report.mapping = mapping;
    report.mapping_note = note;

    let server_ctxs: Vec<SourceContext> = server_jobs
        .iter()
        .map(|j| {
            let ep = server_endpoints
                .get(&j.file.host)
                .map_or("", String::as_str);
            ids.context(j, opts.utc_offset_secs, ep)
        })
        .collect();
    // The engine, fed context events first (in job order), then the server logs.
    let mut correlator = make(&server_endpoints);
    // Every source is announced before any window can close, so the engine knows which
    // servers of an endpoint are still to be read.
    for ((job, ctx), role) in context_jobs.iter().zip(&context_ctxs).zip(&roles) {
        let endpoint = match role {
            Role::Server => server_endpoints
                .get(&job.file.host)
                .map_or("", String::as_str),
            _ => "",
        };
        announce(&mut *correlator, job, ctx, endpoint);
    }
    for (job, ctx) in server_jobs.iter().zip(&server_ctxs) {
        announce(&mut *correlator, job, ctx, &ctx.endpoint_id);
    }
    let mut collector = Collector::new(opts.max_attempts, opts.max_per_code);
    let mut pacer = Pacer::default();
    for (((events, outcome), job), (ctx, role)) in held
        .into_iter()
        .zip(&context_jobs)
        .zip(context_ctxs.iter().zip(&roles))
    {
        let stamp = if *role == Role::Server {
            server_endpoints.get(&job.file.host).cloned()
        } else {
            None
        };
        let mut per_endpoint: BTreeMap<String, u64> = BTreeMap::new();
        for mut e in events {
            if let (true, Some(s)) = (e.endpoint_id.is_empty(), &stamp) {
                e.endpoint_id.clone_from(s);
            }
            correlator.push(&e);
            if stamp.is_none() && !e.endpoint_id.is_empty() {
                *per_endpoint.entry(e.endpoint_id.clone()).or_insert(0) += 1;
            }
            pacer.events += 1;
        }
        let endpoint = stamp.or_else(|| {
            per_endpoint
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(e, _)| e.clone())
        });
        send_watermark(&mut *correlator, ctx, &outcome.stats, endpoint.as_deref());
        pacer.file_done(&mut *correlator, &mut collector);
        files.push(file_report(&report.inputs, job, *role, &outcome, endpoint));
        add_parser_totals(&mut report.parsers, job.format, &outcome);
    }

    // The files of one host one after another (rotated logs in order, its HTTP.sys log beside
    // its IIS log as the engine expects); those of different hosts as they come, which keeps
    // both cores busy. The engine's results do not depend on that order (see its Determinism
    // section), so neither does the report.
    let mut host_groups: BTreeMap<&str, usize> = BTreeMap::new();
    let server_groups: Vec<usize> = server_jobs
        .iter()
        .map(|j| {
            let n = host_groups.len();
            *host_groups.entry(j.file.host.as_str()).or_insert(n)
        })
        .collect();
    parse_ordered(
        &server_jobs,
        &server_ctxs,
        &server_groups,
        workers,
        opts,
        &budget,
        &counters,
        |i, msg| match msg {
            Msg::Batch(events) => {
                // A batch holds the events of one file: its source need not be compared per
                // event.
                match server_ctxs.get(i) {
                    Some(ctx) => correlator.push_batch(&ctx.source, events),
                    None => events.iter().for_each(|e| correlator.push(e)),
                }
                pacer.events += events.len() as u64;
                pacer.maybe_advance(&mut *correlator, &mut collector);
            }
            Msg::Done(outcome) => {
                let (Some(job), Some(ctx)) = (server_jobs.get(i), server_ctxs.get(i)) else {
                    return;
                };
                let endpoint = server_endpoints.get(&job.file.host).cloned();
                send_watermark(&mut *correlator, ctx, &outcome.stats, endpoint.as_deref());
                pacer.file_done(&mut *correlator, &mut collector);
                files.push(file_report(
                    &report.inputs,
                    job,
                    Role::Server,
                    outcome,
                    endpoint,
                ));
                add_parser_totals(&mut report.parsers, job.format, outcome);
            }
        },
        &mut ticker,
    );
    correlator.advance(&mut collector);
    report.engine = correlator.finish(&mut collector);
    let per_endpoint_attempts = collector.attempts_per_endpoint();
    let diagnoses_per_endpoint = collector.diagnoses_per_endpoint();
    let (attempts, counts, diagnoses, dcounts) = collector.into_parts();
    report.attempts = attempts;
    report.attempt_counts = counts;
    report.diagnosis_counts = dcounts;
    report.diagnoses = diagnoses;

    // Endpoints: every one named by a device, a probe, a flag or the mapping.
    let mut endpoint_ids: BTreeSet<String> = BTreeSet::new();
    endpoint_ids.extend(device_endpoints.keys().cloned());
    endpoint_ids.extend(probe_endpoints.keys().cloned());
    endpoint_ids.extend(server_endpoints.values().cloned());
    endpoint_ids.extend(
        per_endpoint_attempts
            .keys()
            .filter(|e| !e.is_empty())
            .cloned(),
    );
    report.endpoints = endpoint_ids
        .into_iter()
        .map(|id| EndpointReport {
            via_app_proxy: scepwatch_proto::endpoint::is_app_proxy(&id),
            servers: report
                .mapping
                .iter()
                .filter(|m| m.endpoint == id)
                .map(|m| m.host.clone())
                .collect(),
            devices: devices_of
                .get(&id)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            device_events: device_endpoints.get(&id).copied().unwrap_or(0),
            probe_events: probe_endpoints.get(&id).copied().unwrap_or(0),
            attempts: per_endpoint_attempts.get(&id).copied().unwrap_or(0),
            diagnoses: diagnoses_per_endpoint.get(&id).copied().unwrap_or(0),
            id,
        })
        .collect();

    files.sort_by(|a, b| {
        (a.input.as_str(), a.path.as_str(), a.status).cmp(&(
            b.input.as_str(),
            b.path.as_str(),
            b.status,
        ))
    });
    for f in &files {
        if let Some(r) = &f.reason {
            *report.problems.entry(r.clone()).or_insert(0) += 1;
        }
    }
    report.files = files;
    ticker.finish(counters.bytes.load(Ordering::Relaxed));
    Ok(report)
}

fn is_device_event(e: &Event) -> bool {
    matches!(
        e.payload,
        Some(Payload::Android(_) | Payload::Ios(_) | Payload::WindowsScep(_))
    )
}

/// Server hosts → endpoints: `--endpoint` flags first, then the endpoint device logs used most.
fn map_servers(
    hosts: &BTreeSet<String>,
    flags: &BTreeMap<String, String>,
    most_used: Option<&str>,
) -> (Vec<HostMapping>, String) {
    let mut out = Vec::new();
    let (mut by_flag, mut by_devices, mut none) = (0, 0, 0);
    for h in hosts {
        let (endpoint, source) = match (flags.get(&h.to_ascii_lowercase()), most_used) {
            (Some(e), _) => {
                by_flag += 1;
                (e.clone(), MappingSource::Flag)
            }
            (None, Some(e)) => {
                by_devices += 1;
                (e.to_string(), MappingSource::DeviceLogs)
            }
            (None, None) => {
                none += 1;
                (String::new(), MappingSource::None)
            }
        };
        out.push(HostMapping {
            host: h.clone(),
            endpoint,
            source,
        });
    }
    let mut parts = Vec::new();
    if by_flag > 0 {
        parts.push(format!("{by_flag} server(s) mapped by --endpoint"));
    }
    if by_devices > 0 {
        parts.push(format!(
            "{by_devices} server(s) mapped to {}, the endpoint device logs used most (override with --endpoint URL=HOST)",
            most_used.unwrap_or_default()
        ));
    }
    if none > 0 {
        parts.push(format!(
            "{none} server(s) not mapped: no device log names a SCEP URL; pass --endpoint URL=HOST to correlate them"
        ));
    }
    if parts.is_empty() {
        parts.push("no server logs".to_string());
    }
    (out, parts.join("; "))
}

fn input_text(inputs: &[String], i: usize) -> String {
    inputs.get(i).cloned().unwrap_or_default()
}

fn empty_file_report() -> FileReport {
    FileReport {
        path: String::new(),
        input: String::new(),
        host: String::new(),
        format: None,
        role: Role::None,
        status: FileStatus::Skipped,
        reason: None,
        detail: None,
        bytes: 0,
        records: 0,
        events: 0,
        ignored: 0,
        errors: BTreeMap::new(),
        first_event: None,
        last_event: None,
        endpoint: None,
    }
}

fn file_report(
    inputs: &[String],
    job: &Job<'_>,
    role: Role,
    o: &Outcome,
    endpoint: Option<String>,
) -> FileReport {
    let to_text = scepwatch_proto::time::to_rfc3339;
    tracing::info!(
        path = %job.file.path,
        host = %job.file.host,
        format = job.format.name(),
        bytes = o.stats.bytes,
        records = o.stats.records,
        events = o.stats.events,
        errors = o.stats.error_count(),
        problem = o.problem.as_ref().map(|p| p.0),
        "file read"
    );
    FileReport {
        path: job.file.path.clone(),
        input: input_text(inputs, job.file.input),
        host: job.file.host.clone(),
        format: Some(job.format.name().to_string()),
        role: if o.stats.events == 0 {
            Role::None
        } else {
            role
        },
        status: if o.problem.is_some() {
            FileStatus::Partial
        } else {
            FileStatus::Parsed
        },
        reason: o.problem.as_ref().map(|p| p.0.to_string()),
        detail: o.problem.as_ref().map(|p| p.1.clone()),
        bytes: o.stats.bytes,
        records: o.stats.records,
        events: o.stats.events,
        ignored: o.stats.ignored,
        errors: o
            .stats
            .errors
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        first_event: o.stats.first_event_us.map(to_text),
        last_event: o.stats.last_event_us.map(to_text),
        endpoint,
    }
}

fn add_parser_totals(totals: &mut BTreeMap<String, ParserTotals>, format: Format, o: &Outcome) {
    let t = totals.entry(format.name().to_string()).or_default();
    t.files += 1;
    t.bytes += o.stats.bytes;
    t.records += o.stats.records;
    t.events += o.stats.events;
    t.ignored += o.stats.ignored;
    for (k, v) in &o.stats.errors {
        *t.errors.entry(k.to_string()).or_insert(0) += v;
    }
}

/// A watermark that makes a source known without covering anything (`read_up_to_us` before
/// `read_from_us`), sent for files whose head holds events.
fn announce(c: &mut dyn Correlator, job: &Job<'_>, ctx: &SourceContext, endpoint: &str) {
    let Some(first) = job.first_us else { return };
    c.watermark(&Watermark {
        source: Some(ctx.source.clone()),
        endpoint_id: endpoint.to_string(),
        read_from_us: first,
        read_up_to_us: first.saturating_sub(1),
        position: 0,
    });
}

fn send_watermark(
    c: &mut dyn Correlator,
    ctx: &SourceContext,
    stats: &ParseStats,
    endpoint: Option<&str>,
) {
    let (Some(from), Some(to)) = (stats.first_event_us, stats.last_event_us) else {
        return;
    };
    c.watermark(&Watermark {
        source: Some(ctx.source.clone()),
        endpoint_id: endpoint.unwrap_or_default().to_string(),
        read_from_us: from,
        read_up_to_us: to,
        position: stats.bytes,
    });
}

/// Order of context sources: device logs first (they name the endpoints), then the rest.
fn context_rank(f: Format) -> u8 {
    match f {
        Format::AndroidOmadm | Format::IosConsole => 0,
        Format::Evtx | Format::EventXml | Format::EventText => 1,
        Format::Probe => 2,
        _ => 3,
    }
}

/// One file to parse, with its format.
struct Job<'a> {
    file: &'a InputFile,
    format: Format,
    /// First event time in the first 64 KiB, for ordering.
    first_us: Option<i64>,
    /// `SourceId.stream` of its events: the collector's stream identity (see [`Sniffed`]).
    stream: String,
}

/// Source identities, kept unique: two inputs may hold the same relative path on the same
/// host, and their events must not share IDs.
#[derive(Default)]
struct SourceIds {
    seen: BTreeSet<(String, i32, String, String)>,
}

impl SourceIds {
    fn context(&mut self, job: &Job<'_>, utc_offset_secs: i32, endpoint: &str) -> SourceContext {
        let kind = job.format.source_kind() as i32;
        let mut stream = job.stream.clone();
        let mut n = 1;
        while !self.seen.insert((
            job.file.host.clone(),
            kind,
            job.file.path.clone(),
            stream.clone(),
        )) {
            n += 1;
            let sep = if job.stream.is_empty() { "" } else { "/" };
            stream = format!("{}{sep}input{}-{n}", job.stream, job.file.input + 1);
        }
        let source = SourceId {
            collector: COLLECTOR.to_string(),
            host: job.file.host.clone(),
            kind,
            path: job.file.path.clone(),
            stream,
        };
        let observed = job.file.modified_us.unwrap_or(0);
        let mut ctx = SourceContext::new(source, observed);
        ctx.endpoint_id = endpoint.to_string();
        ctx.utc_offset_secs = utc_offset_secs;
        ctx.date_hint = job.file.modified_us.map(|us| {
            let local = us.saturating_add(i64::from(utc_offset_secs) * 1_000_000);
            scepwatch_proto::time::civil_from_days(local.div_euclid(86_400_000_000))
        });
        ctx
    }
}

/// What a file's head tells.
struct Sniffed {
    format: Format,
    /// The earliest event time in the head.
    first_us: Option<i64>,
    /// `SourceId.stream`: for a file the collector tails (a line format, not UTF-16), the hex
    /// of its content fingerprint (`scepwatch_collector::source::identity`), as the collector
    /// names the stream; empty for documents (event logs, SetupMsi.log, iOS console logs,
    /// UTF-16 text), which the collector identifies by path, and for a file with no complete
    /// first data line. So a file read by `diagnose` and by a collector of the same name,
    /// host and path gives events of the same IDs.
    stream: String,
}

/// Recognises a file: its format, the first event time in its head and its stream identity.
fn sniff(
    file: &InputFile,
    assume: Option<Format>,
    limits: Limits,
    budget: &Budget,
) -> Result<Sniffed, (&'static str, String)> {
    let read_head = |max: usize| {
        file.head(max, limits, budget)
            .map_err(|e| match LimitExceeded::from_io(&e) {
                Some(l) => (l.code(), l.to_string()),
                None if file_is_zip_entry(file) => {
                    ("zip.corrupt", format!("cannot read entry: {e}"))
                }
                None => ("unreadable", e.to_string()),
            })
    };
    let head = read_head(SNIFF_BYTES)?;
    if head.is_empty() {
        return Err(("empty_file", "file is empty".to_string()));
    }
    let format = match assume {
        Some(f) => f,
        None => parse::detect::detect_with_reason(&head).map_err(|reason| {
            let code = match reason {
                "empty" => "empty_file",
                r if r.contains("binary") => "format.binary",
                _ => "format.unknown",
            };
            (
                code,
                format!(
                    "{reason} (looked at the first {} KiB)",
                    head.len().div_ceil(1024)
                ),
            )
        })?,
    };
    let first_us = first_event_in(format, &head);
    let stream = if identity::is_document_format(format) || identity::is_utf16(&head) {
        String::new()
    } else {
        let fingerprint = match identity::fingerprint_of(&head) {
            Some(f) => Some(f),
            // Directives (or a first line) running past the sniffed head.
            None if head.len() >= SNIFF_BYTES => {
                identity::fingerprint_of(&read_head(identity::MAX_HEADER + identity::MAX_DATA)?)
            }
            None => None,
        };
        fingerprint.map(|f| f.to_hex()).unwrap_or_default()
    };
    Ok(Sniffed {
        format,
        first_us,
        stream,
    })
}

fn file_is_zip_entry(f: &InputFile) -> bool {
    !matches!(f.location, input::Location::Disk(_))
}

/// The earliest event time in a file's head (complete lines only).
fn first_event_in(format: Format, head: &[u8]) -> Option<i64> {
    if format == Format::Evtx {
        return None;
    }
    let end = memchr_last_newline(head)?;
    let lines = head.get(..=end)?;
    let ctx = SourceContext::new(SourceId::default(), 0);
    catch_unwind(AssertUnwindSafe(|| {
        parse::parse_stream(format, &ctx, lines, &mut |_| {})
            .ok()
            .and_then(|s| s.first_event_us)
    }))
    .ok()
    .flatten()
}

fn memchr_last_newline(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|&c| c == b'\n')
}

/// Applies `f` to every item on `workers` threads; results in item order.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut v) = results.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|p| p.into_inner());
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, r)| r).collect()
}

/// What parsing one file gave, besides its events.
struct Outcome {
    stats: ParseStats,
    /// Why reading stopped early (code, detail).
    problem: Option<(&'static str, String)>,
}

enum Msg {
    Batch(Vec<Event>),
    Done(Outcome),
}

struct Envelope {
    msg: Msg,
    /// Bytes charged to the run-ahead budget for it.
    charged: u64,
    /// The worker that built it, which gets the emptied batch back.
    worker: usize,
}

#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
}

/// Flow control between the workers and the engine. A file the engine can take now (the next
/// of its group) may have [`BATCHES_PER_FILE`] batches in flight; the files it cannot take yet
/// hold at most `limit` bytes of events between them (the run-ahead that keeps the cores busy
/// when the engine is on other files). The engine can always progress: the files it can take
/// are exempt from the budget.
struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
    limit: u64,
    /// Set when the engine thread unwinds: workers stop instead of waiting for it.
    aborted: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct GateState {
    /// Bytes and batches in flight per file.
    bytes: Vec<u64>,
    batches: Vec<u64>,
    /// Files the engine can take now.
    open: Vec<bool>,
    /// Bytes in flight of the files it cannot take yet.
    ahead: u64,
    /// Files a worker has started (or finished) parsing.
    taken: Vec<bool>,
}

impl GateState {
    fn grow(&mut self, job: usize) {
        if self.bytes.len() <= job {
            self.bytes.resize(job + 1, 0);
            self.batches.resize(job + 1, 0);
            self.open.resize(job + 1, false);
        }
    }

    fn is_open(&self, job: usize) -> bool {
        self.open.get(job).copied().unwrap_or(false)
    }
}

/// Aborts the gate when dropped during a panic of the engine thread.
struct AbortOnUnwind<'a>(&'a Gate);

impl Drop for AbortOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.aborted.store(true, Ordering::SeqCst);
            self.0.cv.notify_all();
        }
    }
}

impl Gate {
    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// Waits until `job` may send a batch of `n` bytes, and charges it; returns what to
    /// release when the engine has taken it.
    fn acquire(&self, job: usize, n: u64) -> u64 {
        // Charged at least 1, so that what is released is always a batch.
        let n = n.max(1);
        let Ok(mut st) = self.state.lock() else {
            return 0;
        };
        loop {
            if self.is_aborted() {
                return 0;
            }
            st.grow(job);
            let open = st.is_open(job);
            let allowed = if open {
                st.batches.get(job).copied().unwrap_or(0) < BATCHES_PER_FILE
            } else {
                // With nothing ahead at all a batch may go, however large.
                st.ahead == 0 || st.ahead.saturating_add(n) <= self.limit
            };
            if allowed {
                let st = &mut *st;
                if let (Some(b), Some(k)) = (st.bytes.get_mut(job), st.batches.get_mut(job)) {
                    *b += n;
                    *k += 1;
                }
                if !open {
                    st.ahead += n;
                }
                return n;
            }
            st = match self.cv.wait(st) {
                Ok(s) => s,
                Err(_) => return 0,
            };
        }
    }

    /// The engine took a batch of `job` charged `n` (0: nothing was charged).
    fn release(&self, job: usize, n: u64) {
        if n == 0 {
            return;
        }
        if let Ok(mut st) = self.state.lock() {
            if let Some(b) = st.bytes.get_mut(job) {
                *b = b.saturating_sub(n);
            }
            if let Some(k) = st.batches.get_mut(job) {
                *k = k.saturating_sub(1);
            }
            if !st.is_open(job) {
                st.ahead = st.ahead.saturating_sub(n);
            }
        }
        self.cv.notify_all();
    }

    /// The next of `jobs` files for a worker: the first not taken that the engine can take now,
    /// else the first not taken (parsed ahead, within the budget). The file the engine waits
    /// for is always among the first kind, so it is never passed over.
    fn pick(&self, jobs: usize) -> Option<usize> {
        let mut st = self.state.lock().ok()?;
        st.grow(jobs.saturating_sub(1));
        if st.taken.len() < jobs {
            st.taken.resize(jobs, false);
        }
        let free = |st: &GateState, open: bool| {
            (0..jobs)
                .find(|&j| !st.taken.get(j).copied().unwrap_or(true) && (!open || st.is_open(j)))
        };
        let j = free(&st, true).or_else(|| free(&st, false))?;
        if let Some(t) = st.taken.get_mut(j) {
            *t = true;
        }
        Some(j)
    }

    /// The engine can take `job` now: its bytes no longer count as run-ahead.
    fn open(&self, job: usize) {
        if let Ok(mut st) = self.state.lock() {
            st.grow(job);
            if !st.is_open(job) {
                let held = st.bytes.get(job).copied().unwrap_or(0);
                st.ahead = st.ahead.saturating_sub(held);
                if let Some(o) = st.open.get_mut(job) {
                    *o = true;
                }
            }
        }
        self.cv.notify_all();
    }
}

/// Rough heap size of an event, for the run-ahead budget.
fn event_size(e: &Event) -> u64 {
    (e.excerpt.len() + 640) as u64
}

/// Parses `jobs` on `workers` threads and hands their output to `on` on this thread. The jobs
/// of one group (`groups[i]`, in job order) are handed over one after another, each whole;
/// jobs of different groups interleave as their batches arrive.
#[allow(clippy::too_many_arguments)]
fn parse_ordered(
    jobs: &[Job<'_>],
    ctxs: &[SourceContext],
    groups: &[usize],
    workers: usize,
    opts: &Options,
    budget: &Budget,
    counters: &Counters,
    mut on: impl FnMut(usize, &mut Msg),
    ticker: &mut Ticker<'_>,
) {
    if jobs.is_empty() {
        return;
    }
    let gate = Gate {
        state: Mutex::new(GateState::default()),
        cv: Condvar::new(),
        limit: opts.buffer_bytes,
        aborted: std::sync::atomic::AtomicBool::new(false),
    };
    let mut receivers: Vec<Receiver<Envelope>> = Vec::with_capacity(jobs.len());
    let mut senders: Vec<Mutex<Option<Sender<Envelope>>>> = Vec::with_capacity(jobs.len());
    for _ in jobs {
        // Unbounded: the gate bounds what is in flight.
        let (tx, rx) = mpsc::channel();
        senders.push(Mutex::new(Some(tx)));
        receivers.push(rx);
    }
    // Rung after every envelope sent, so that the engine sleeps only when nothing is waiting.
    let (bell_tx, bell) = mpsc::channel::<()>();
    let n_workers = workers.clamp(1, jobs.len());
    // Consumed batches go back to the worker that allocated their events: freeing on the
    // allocating thread is much cheaper than on the engine thread, and the vectors are reused.
    let mut returns_tx: Vec<mpsc::Sender<Vec<Event>>> = Vec::with_capacity(n_workers);
    let mut returns_rx: Vec<Receiver<Vec<Event>>> = Vec::with_capacity(n_workers);
    for _ in 0..n_workers {
        let (tx, rx) = mpsc::channel();
        returns_tx.push(tx);
        returns_rx.push(rx);
    }
    // The jobs of each group, in order; the engine takes each group's first unfinished one.
    let mut members: BTreeMap<usize, VecDeque<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate().take(jobs.len()) {
        members.entry(*g).or_default().push_back(i);
    }
    for i in 0..jobs.len() {
        if groups.get(i).is_none() {
            members.entry(usize::MAX - i).or_default().push_back(i);
        }
    }
    let mut heads: Vec<usize> = members
        .values()
        .filter_map(|m| m.front().copied())
        .collect();
    for &h in &heads {
        gate.open(h);
    }
    std::thread::scope(|s| {
        for (w, returned) in returns_rx.into_iter().enumerate() {
            let (senders, gate) = (&senders, &gate);
            let bell_tx = bell_tx.clone();
            s.spawn(move || {
                loop {
                    if gate.is_aborted() {
                        break;
                    }
                    let Some(i) = gate.pick(jobs.len()) else {
                        break;
                    };
                    let (Some(job), Some(ctx)) = (jobs.get(i), ctxs.get(i)) else {
                        break;
                    };
                    let tx = senders
                        .get(i)
                        .and_then(|m| m.lock().ok().and_then(|mut o| o.take()));
                    let Some(tx) = tx else { continue };
                    let mut send = |events: Vec<Event>| -> Vec<Event> {
                        let size: u64 = events.iter().map(event_size).sum();
                        let charged = gate.acquire(i, size);
                        let env = Envelope {
                            msg: Msg::Batch(events),
                            charged,
                            worker: w,
                        };
                        if tx.send(env).is_err() {
                            gate.release(i, charged);
                        }
                        let _ = bell_tx.send(());
                        match returned.try_recv() {
                            Ok(mut v) => {
                                v.clear();
                                v
                            }
                            Err(_) => Vec::with_capacity(BATCH_EVENTS),
                        }
                    };
                    let outcome = parse_job(job, ctx, opts, budget, counters, &mut send);
                    let _ = tx.send(Envelope {
                        msg: Msg::Done(outcome),
                        charged: 0,
                        worker: w,
                    });
                    drop(tx);
                    let _ = bell_tx.send(());
                    while returned.try_recv().is_ok() {}
                }
                drop(bell_tx);
                // Batches still in flight come back after this worker's last job: free them
                // here, not on the engine thread, until the engine is done with every file.
                for v in returned.iter() {
                    drop(v);
                }
            });
        }
        drop(bell_tx);
        // Owned here, so that if the engine panics the receivers are dropped while unwinding
        // and blocked workers see their sends fail.
        let receivers = receivers;
        let _abort = AbortOnUnwind(&gate);
        while !heads.is_empty() {
            let mut progressed = false;
            heads.sort_unstable();
            let mut k = 0;
            while let Some(&i) = heads.get(k) {
                let Some(rx) = receivers.get(i) else {
                    heads.swap_remove(k);
                    continue;
                };
                let mut finished = false;
                loop {
                    let mut env = match rx.try_recv() {
                        Ok(env) => env,
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => {
                            // The worker died without a word: should not happen (panics are
                            // caught).
                            on(
                                i,
                                &mut Msg::Done(Outcome {
                                    stats: ParseStats::default(),
                                    problem: Some(("internal", "parser thread ended early".into())),
                                }),
                            );
                            finished = true;
                            break;
                        }
                    };
                    progressed = true;
                    let done = matches!(env.msg, Msg::Done(_));
                    if let Msg::Batch(events) = &env.msg {
                        ticker.events += events.len() as u64;
                    }
                    on(i, &mut env.msg);
                    gate.release(i, env.charged);
                    if let (Msg::Batch(events), Some(back)) = (env.msg, returns_tx.get(env.worker))
                    {
                        let _ = back.send(events);
                    }
                    if done {
                        finished = true;
                        break;
                    }
                }
                if finished {
                    progressed = true;
                    ticker.files_done += 1;
                    let group = groups.get(i).copied().unwrap_or(usize::MAX - i);
                    let next_of_group = members.get_mut(&group).and_then(|m| {
                        m.pop_front();
                        m.front().copied()
                    });
                    match next_of_group {
                        Some(n) => {
                            gate.open(n);
                            if let Some(slot) = heads.get_mut(k) {
                                *slot = n;
                            }
                        }
                        None => {
                            heads.swap_remove(k);
                        }
                    }
                    continue;
                }
                k += 1;
            }
            if !progressed {
                // Nothing to take: wait for a worker (or time out to refresh the progress).
                let _ = bell.recv_timeout(Duration::from_millis(200));
            }
            ticker.tick(counters.bytes.load(Ordering::Relaxed));
        }
        drop(returns_tx);
    });
}

/// A reader that counts bytes for the progress display and invalid UTF-8 sequences for the
/// report (parsers replace them silently). UTF-16 input (with a BOM) is not checked.
struct Counting<'a, R> {
    inner: R,
    counter: &'a AtomicU64,
    utf8: Utf8Check,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(chunk) = buf.get(..n) {
            self.utf8.scan(chunk);
        }
        Ok(n)
    }
}

/// Counts invalid UTF-8 sequences across chunk boundaries.
#[derive(Default)]
struct Utf8Check {
    started: bool,
    disabled: bool,
    /// Start of a sequence cut by the chunk boundary (at most 3 bytes).
    carry: Vec<u8>,
    invalid: u64,
}

impl Utf8Check {
    fn scan(&mut self, chunk: &[u8]) {
        if !self.started && !chunk.is_empty() {
            self.started = true;
            self.disabled = chunk.starts_with(&[0xFF, 0xFE]) || chunk.starts_with(&[0xFE, 0xFF]);
        }
        if self.disabled || chunk.is_empty() {
            return;
        }
        if self.carry.is_empty() {
            self.scan_from(chunk);
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            self.scan_from(&joined);
        }
    }

    fn scan_from(&mut self, mut b: &[u8]) {
        while let Err(e) = std::str::from_utf8(b) {
            let valid = e.valid_up_to();
            match e.error_len() {
                Some(len) => {
                    self.invalid += 1;
                    b = b.get(valid + len..).unwrap_or_default();
                }
                None => {
                    self.carry = b.get(valid..).unwrap_or_default().to_vec();
                    return;
                }
            }
        }
    }

    /// Invalid sequences seen, counting a sequence cut by the end of the stream.
    fn finish(&self) -> u64 {
        self.invalid + u64::from(!self.carry.is_empty())
    }
}

/// Parses one file, sending events in batches through `send`.
fn parse_job(
    job: &Job<'_>,
    ctx: &SourceContext,
    opts: &Options,
    budget: &Budget,
    counters: &Counters,
    send: &mut dyn FnMut(Vec<Event>) -> Vec<Event>,
) -> Outcome {
    // Counted here too, so a read that stops early still reports what it produced.
    let mut seen = ParseStats::default();
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH_EVENTS);
    let mut emit = |e: Event| {
        seen.saw_event(e.event_time_us);
        batch.push(e);
        if batch.len() >= BATCH_EVENTS {
            let full = std::mem::take(&mut batch);
            batch = send(full);
        }
    };
    let limits = opts.limits;
    let result = catch_unwind(AssertUnwindSafe(|| -> io::Result<ParseStats> {
        if job.format == Format::Evtx {
            let file = job.file.seekable(limits, budget)?;
            counters.bytes.fetch_add(job.file.size, Ordering::Relaxed);
            parse::eventlog::evtx::parse(ctx, BufReader::new(file), &mut emit)
        } else {
            job.file.read_with(limits, budget, |r| {
                let mut counting = Counting {
                    inner: r,
                    counter: &counters.bytes,
                    utf8: Utf8Check::default(),
                };
                let mut reader = BufReader::with_capacity(256 * 1024, &mut counting);
                let mut stats = parse::parse_stream(job.format, ctx, &mut reader, &mut emit)?;
                drop(reader);
                let invalid = counting.utf8.finish();
                if invalid > 0 {
                    *stats.errors.entry("invalid_utf8").or_insert(0) += invalid;
                }
                Ok(stats)
            })?
        }
    }));
    if !batch.is_empty() {
        drop(send(batch));
    }
    match result {
        Ok(Ok(stats)) => Outcome {
            stats,
            problem: None,
        },
        Ok(Err(e)) => {
            let problem = match LimitExceeded::from_io(&e) {
                Some(l) => (l.code(), format!("stopped: {l}")),
                None if e.kind() == io::ErrorKind::InvalidData => {
                    ("read.corrupt", format!("stopped: {e}"))
                }
                None => ("read.error", format!("stopped: {e}")),
            };
            Outcome {
                stats: seen,
                problem: Some(problem),
            }
        }
        Err(_) => Outcome {
            stats: seen,
            problem: Some((
                "internal.parser_panic",
                format!("the {} parser failed on this file", job.format.name()),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{Gate, GateState, Utf8Check, BATCHES_PER_FILE};
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    fn gate(limit: u64) -> Gate {
        Gate {
            state: Mutex::new(GateState::default()),
            cv: Condvar::new(),
            limit,
            aborted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn ahead(g: &Gate) -> u64 {
        g.state.lock().map(|s| s.ahead).unwrap_or(u64::MAX)
    }

    #[test]
    fn gate_lets_files_not_open_yet_run_ahead_within_the_budget() {
        let g = gate(1000);
        g.open(0);
        // Files the engine cannot take yet: within the budget.
        assert_eq!(g.acquire(1, 600), 600);
        assert_eq!(g.acquire(2, 400), 400);
        assert_eq!(ahead(&g), 1000);
        // The engine can take file 1 now: its bytes are no longer run-ahead.
        g.open(1);
        assert_eq!(ahead(&g), 400);
        assert_eq!(g.acquire(2, 600), 600);
        g.release(1, 600);
        g.release(2, 400);
        g.release(2, 600);
        assert_eq!(ahead(&g), 0);
        assert_eq!(
            g.acquire(3, 5000),
            5000,
            "a lone batch may exceed the budget"
        );
    }

    #[test]
    fn gate_bounds_an_open_file_by_batches_and_waits() {
        let g = gate(10);
        g.open(0);
        for _ in 0..BATCHES_PER_FILE {
            assert_eq!(
                g.acquire(0, 1 << 20),
                1 << 20,
                "an open file ignores the budget"
            );
        }
        std::thread::scope(|s| {
            let waiting = s.spawn(|| g.acquire(0, 7));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiting.is_finished(), "a fifth batch waits for the engine");
            g.release(0, 1 << 20);
            assert_eq!(waiting.join().ok(), Some(7));
        });
    }

    fn count(chunks: &[&[u8]]) -> u64 {
        let mut c = Utf8Check::default();
        for ch in chunks {
            c.scan(ch);
        }
        c.finish()
    }

    #[test]
    fn counts_invalid_utf8_across_chunks() {
        assert_eq!(count(&[b"plain ascii\n"]), 0);
        assert_eq!(count(&["caf\u{e9}".as_bytes()]), 0);
        // "é" cut between two chunks is valid.
        assert_eq!(count(&[b"caf\xc3", b"\xa9 ok"]), 0);
        assert_eq!(count(&[b"a\xff b\xfe", b"c\xe9 d"]), 3);
        // A sequence cut by the end of the stream counts.
        assert_eq!(count(&[b"abc\xe2\x82"]), 1);
        // UTF-16 is not UTF-8: not checked.
        assert_eq!(count(&[b"\xff\xfea\x00"]), 0);
    }
}

/// Calls `advance` on the engine often enough to keep its memory bounded, rarely enough to
/// cost nothing.
#[derive(Default)]
struct Pacer {
    events: u64,
    at_last_advance: u64,
    files_since: u64,
}

impl Pacer {
    const EVENTS: u64 = 50_000;
    const FILES: u64 = 64;

    fn maybe_advance(&mut self, c: &mut dyn Correlator, out: &mut Collector) {
        if self.events - self.at_last_advance >= Self::EVENTS {
            self.advance(c, out);
        }
    }

    fn file_done(&mut self, c: &mut dyn Correlator, out: &mut Collector) {
        self.files_since += 1;
        if self.files_since >= Self::FILES || self.events - self.at_last_advance >= Self::EVENTS {
            self.advance(c, out);
        }
    }

    fn advance(&mut self, c: &mut dyn Correlator, out: &mut Collector) {
        c.advance(out);
        self.at_last_advance = self.events;
        self.files_since = 0;
    }
}

/// Calls the progress callback about once a second.
struct Ticker<'a> {
    started: Instant,
    last: Instant,
    files_total: u64,
    files_done: u64,
    events: u64,
    callback: &'a mut dyn FnMut(&Progress),
}

impl<'a> Ticker<'a> {
    fn new(started: Instant, files_total: u64, callback: &'a mut dyn FnMut(&Progress)) -> Self {
        Ticker {
            started,
            last: started,
            files_total,
            files_done: 0,
            events: 0,
            callback,
        }
    }

    fn progress(&self, bytes: u64) -> Progress {
        Progress {
            files_done: self.files_done,
            files_total: self.files_total,
            bytes_read: bytes,
            events: self.events,
            elapsed: self.started.elapsed(),
        }
    }

    fn tick(&mut self, bytes: u64) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            let p = self.progress(bytes);
            (self.callback)(&p);
        }
    }

    fn finish(&mut self, bytes: u64) {
        let p = self.progress(bytes);
        (self.callback)(&p);
    }
}
