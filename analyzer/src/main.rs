//! `scepwatch`: finds why Intune SCEP certificate enrollment through NDES fails.
//!
//! This binary is a thin shell over the library: `diagnose` (files, folders and zips in, a report
//! out), `parse` (one file's events, for debugging parsers) and `formats`.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

// Parser threads allocate events and the engine thread frees them; glibc's allocator spends a
// third of a diagnose run on that cross-thread traffic, mimalloc a fraction of it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use scepwatch_analyzer::diagnose::archive::Limits;
use scepwatch_analyzer::diagnose::input::HostOverride;
use scepwatch_analyzer::diagnose::{self, EndpointFlag, Options, Progress};
use scepwatch_analyzer::model::Severity;
use scepwatch_analyzer::report::{self, human_bytes, ReportFormat, ReportOptions};
use scepwatch_collector::parse::{self, Format, SourceContext};

/// Exit code: no problem found (only informational diagnoses, or none).
const EXIT_OK: u8 = 0;
/// Exit code: at least one diagnosis of warning severity or worse.
const EXIT_PROBLEMS: u8 = 1;
/// Exit code: usage error, or nothing could be read.
const EXIT_USAGE: u8 = 2;
/// Exit code: internal error.
const EXIT_INTERNAL: u8 = 3;

const EXIT_CODES: &str = "\
Exit codes:
  0  no problem found (informational diagnoses only, or none)
  1  problems found (a diagnosis of severity warning or worse)
  2  usage error, or nothing readable among the inputs
  3  internal error";

const DIAGNOSE_ABOUT: &str =
    "Reads logs (files, folders, zips) and prints what broke in SCEP enrollment, the evidence and the fix";

const DIAGNOSE_LONG: &str = "\
Reads log files, folders and zip archives, correlates device and server logs into enrollment
attempts and prints what broke, the evidence and the fix. No server, no configuration.

What it reads (recognised by content, not by name):
  NDES servers: IIS logs (u_ex*.log), HTTP.sys HTTPERR logs, Windows event logs (.evtx,
  wevtutil/Get-WinEvent XML, Event Viewer text: Application, CAPI2), the Intune Certificate
  Connector's SetupMsi.log, health facts (JSON lines).
  Devices: Android Company Portal OMADM logs, iOS/macOS console (profiled) logs, Windows
  DeviceManagement event 36.
  Probe results (JSON lines).
Folders are read recursively in name order; zip archives (also nested, 3 levels) are opened in
place, with bounds against zip bombs. A file that cannot be read is reported with the reason and
the rest is still diagnosed.

Hosts: a file belongs to the first folder below the input it was found under
(samples/ndes01/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log -> ndes01). When that folder is a
standard Windows log folder (inetpub, Windows, LogFiles, ...) or the file is given directly, the
input folder's own name is the host (ndes01/ -> ndes01). --host-of PREFIX=HOST overrides.

Endpoints: device logs name the SCEP URL they used; server logs do not. Each server is mapped to
an endpoint by --endpoint URL=HOST[,HOST...]; without it, every server is mapped to the endpoint
the device logs used most. The report says which mapping was used.

Examples:
  scepwatch diagnose testdata/samples
  scepwatch diagnose logs.zip --format html -o report.html
  scepwatch diagnose ndes01/ --endpoint https://ndes.contoso.com/certsrv/mscep/mscep.dll=ndes01
  scepwatch diagnose ndes01/ ndes02/ phone.zip --format json --min-severity warning";

/// Finds why Intune SCEP certificate enrollment through NDES fails, from the logs.
#[derive(Parser, Debug)]
#[command(name = "scepwatch", version, after_long_help = EXIT_CODES)]
struct Cli {
    /// More log output on standard error (-v: what is skipped and why, per-file counts;
    /// -vv: debug). SCEPWATCH_LOG (e.g. `scepwatch_analyzer=debug`) overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(about = DIAGNOSE_ABOUT, long_about = DIAGNOSE_LONG, after_long_help = EXIT_CODES)]
    Diagnose(DiagnoseArgs),
    /// Prints the events of one file as JSON lines, then its parse statistics (for debugging
    /// parsers).
    Parse(ParseArgs),
    /// Lists the log formats scepwatch reads.
    Formats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MinSeverity {
    Info,
    Warning,
    Error,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
struct DiagnoseArgs {
    /// Log files, folders and .zip archives, in any mix.
    #[arg(required = true, value_name = "PATH")]
    inputs: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Attempts listed in full in the report (counts are always complete).
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_attempts: usize,
    /// Diagnoses of one code kept in full (all are counted and summarised).
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_per_code: usize,
    /// List only diagnoses at or above this severity (counts are always complete).
    #[arg(long, value_enum, default_value = "info")]
    min_severity: MinSeverity,
    /// Map server hosts to a SCEP endpoint: URL=HOST[,HOST...]. Repeatable.
    #[arg(long, value_name = "URL=HOSTS", value_parser = parse_endpoint_flag)]
    endpoint: Vec<EndpointFlag>,
    /// Files whose path starts with PREFIX belong to HOST: PREFIX=HOST. Repeatable.
    #[arg(long, value_name = "PREFIX=HOST", value_parser = parse_host_of)]
    host_of: Vec<HostOverride>,
    /// Read every input as this format instead of recognising it (see `scepwatch formats`).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format_name)]
    assume_format: Option<Format>,
    /// Offset from UTC of logs whose times carry no zone (Android, SetupMsi.log), e.g. -03:00.
    #[arg(long, default_value = "+00:00", value_name = "+HH:MM", value_parser = parse_utc_offset, allow_hyphen_values = true)]
    utc_offset: i32,
    /// Largest uncompressed size of one archive entry (e.g. 4GiB, 500MiB).
    #[arg(long, default_value = "4GiB", value_name = "SIZE", value_parser = parse_size)]
    max_entry_size: u64,
    /// Stop reading an archive entry that expands more than N:1 once past 10 MiB.
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_ratio: u64,
    /// Total bytes decompressed from archives over the whole run.
    #[arg(long, default_value = "64GiB", value_name = "SIZE", value_parser = parse_size)]
    max_total_size: u64,
    /// Archive entries looked at over the whole run.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    max_entries: u64,
    /// Parser threads (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Show progress on standard error even when it is not a terminal.
    #[arg(long)]
    progress: bool,
    /// No progress and no final summary line on standard error.
    #[arg(short, long)]
    quiet: bool,
    /// Colour in the text report (auto: when standard output is a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Put the generation time in the report (makes it differ from run to run).
    #[arg(long)]
    timestamp: bool,
}

#[derive(Args, Debug)]
struct ParseArgs {
    /// The file to parse.
    file: PathBuf,
    /// Format name, or `auto` to recognise it from the content.
    #[arg(long, default_value = "auto", value_name = "NAME")]
    format_name: String,
    /// Host to put in the events' source (default: the file's folder name).
    #[arg(long)]
    host: Option<String>,
    /// Offset from UTC of zone-less times, e.g. +02:00.
    #[arg(long, default_value = "+00:00", value_parser = parse_utc_offset, allow_hyphen_values = true)]
    utc_offset: i32,
}

fn parse_endpoint_flag(s: &str) -> Result<EndpointFlag, String> {
    // The URL may contain '=' in a query; the hosts never do: split at the last one.
    let (url, hosts) = s
        .rsplit_once('=')
        .ok_or_else(|| "expected URL=HOST[,HOST...]".to_string())?;
    let hosts: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if hosts.is_empty() {
        return Err("no host after '='".into());
    }
    if scepwatch_proto::endpoint::normalize(url).is_none() {
        return Err(format!("{url:?} is not a URL with a host"));
    }
    Ok(EndpointFlag {
        url: url.to_string(),
        hosts,
    })
}

fn parse_host_of(s: &str) -> Result<HostOverride, String> {
    let (prefix, host) = s
        .rsplit_once('=')
        .ok_or_else(|| "expected PREFIX=HOST".to_string())?;
    if host.trim().is_empty() {
        return Err("empty host".into());
    }
    Ok(HostOverride {
        prefix: prefix.replace('\\', "/"),
        host: host.trim().to_string(),
    })
}

fn parse_format_name(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format; one of: {}", names.join(", "))
    })
}

fn parse_utc_offset(s: &str) -> Result<i32, String> {
    let bad = || format!("{s:?}: expected +HH:MM or -HH:MM");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, s.get(1..).unwrap_or("")),
        Some(b'-') => (-1, s.get(1..).unwrap_or("")),
        _ => (1, s),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..=59).contains(&m) {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a size like 500MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("{s:?}: unknown unit (B, KiB, MiB, GiB, TiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: too large"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Diagnose(args) => diagnose_cmd(args),
        Command::Parse(args) => parse_cmd(args),
        Command::Formats => formats_cmd(),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(_) => {
            eprintln!("scepwatch: internal error (see the message above); please report it");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// Structured logs on standard error, kept apart from the report on standard output.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCEPWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .compact()
        .init();
}

fn diagnose_cmd(args: DiagnoseArgs) -> u8 {
    let started = Instant::now();
    let opts = Options {
        inputs: args.inputs.clone(),
        limits: Limits {
            max_entry_bytes: args.max_entry_size,
            max_ratio: args.max_ratio,
            max_total_bytes: args.max_total_size,
            max_entries: args.max_entries,
            ..Limits::default()
        },
        endpoints: args.endpoint.clone(),
        host_overrides: args.host_of.clone(),
        assume_format: args.assume_format,
        utc_offset_secs: args.utc_offset,
        threads: args.threads,
        max_attempts: args.max_attempts,
        max_per_code: args.max_per_code,
        ..Options::default()
    };
    let stderr_tty = io::stderr().is_terminal();
    let show_progress = !args.quiet && (args.progress || stderr_tty);
    let mut printed_progress = false;
    let mut on_progress = |p: &Progress| {
        if !show_progress || p.elapsed.as_millis() < 900 {
            return;
        }
        let secs = p.elapsed.as_secs_f64().max(0.001);
        let line = format!(
            "scepwatch: {}/{} files · {} read · {} events · {}/s",
            p.files_done,
            p.files_total,
            human_bytes(p.bytes_read),
            p.events,
            human_bytes((p.bytes_read as f64 / secs) as u64),
        );
        if stderr_tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        printed_progress = true;
    };
    let report = match diagnose::run(&opts, &mut on_progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scepwatch: {e}");
            return EXIT_USAGE;
        }
    };
    if printed_progress && stderr_tty {
        eprint!("\r\x1b[2K");
    }
    let to_stdout = args.output.is_none();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_stdout && io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let ropts = ReportOptions {
        min_severity: match args.min_severity {
            MinSeverity::Info => Severity::Info,
            MinSeverity::Warning => Severity::Warning,
            MinSeverity::Error => Severity::Error,
            MinSeverity::Critical => Severity::Critical,
        },
        color,
        timestamp: args.timestamp.then(now_rfc3339),
    };
    let format = match args.format {
        OutputFormat::Text => ReportFormat::Text,
        OutputFormat::Json => ReportFormat::Json,
        OutputFormat::Html => ReportFormat::Html,
    };
    let written = match &args.output {
        Some(path) => File::create(path).and_then(|f| {
            let mut w = BufWriter::new(f);
            report::render(&report, format, &ropts, &mut w)?;
            w.flush()
        }),
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            report::render(&report, format, &ropts, &mut w).and_then(|()| w.flush())
        }
    };
    if let Err(e) = written {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return EXIT_INTERNAL;
        }
        eprintln!("scepwatch: cannot write the report: {e}");
        return EXIT_INTERNAL;
    }
    let verdict = report::verdict(&report);
    let read = report.files_read();
    if !args.quiet {
        let skipped = report.files.len() - read;
        eprintln!(
            "scepwatch: {} file{} read, {} skipped · {} · {} events · {} attempts · {} in {:.1} s{}",
            read,
            report::plural(read as u64),
            skipped,
            human_bytes(report.files.iter().map(|f| f.bytes).sum()),
            report.files.iter().map(|f| f.events).sum::<u64>(),
            report.attempt_counts.total,
            match verdict.severity {
                Some(s) if s >= Severity::Warning => format!(
                    "{} problem{} (worst: {})",
                    verdict.problems,
                    report::plural(verdict.problems),
                    s.name()
                ),
                _ => "no problem found".to_string(),
            },
            started.elapsed().as_secs_f64(),
            args.output
                .as_ref()
                .map(|p| format!(" → {}", p.display()))
                .unwrap_or_default(),
        );
    }
    if read == 0 {
        eprintln!("scepwatch: nothing readable among the inputs (see the report for reasons)");
        return EXIT_USAGE;
    }
    match verdict.severity {
        Some(s) if s >= Severity::Warning => EXIT_PROBLEMS,
        _ => EXIT_OK,
    }
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    scepwatch_proto::time::to_rfc3339(secs * 1_000_000)
}

fn parse_cmd(args: ParseArgs) -> u8 {
    let head = match File::open(&args.file).and_then(|f| {
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(f, 64 * 1024), &mut buf).map(|_| buf)
    }) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("scepwatch: {}: {e}", args.file.display());
            return EXIT_USAGE;
        }
    };
    let format = if args.format_name == "auto" {
        match parse::detect::detect_with_reason(&head) {
            Ok(f) => f,
            Err(reason) => {
                eprintln!(
                    "scepwatch: {}: format not recognised ({reason}); pass --format-name",
                    args.file.display()
                );
                return EXIT_USAGE;
            }
        }
    } else {
        match parse_format_name(&args.format_name) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("scepwatch: --format-name: {e}");
                return EXIT_USAGE;
            }
        }
    };
    let canonical = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = args.host.clone().unwrap_or_else(|| {
        canonical
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| "localhost".into(), |n| n.to_string_lossy().into_owned())
    });
    let source = scepwatch_proto::v1::SourceId {
        collector: diagnose::run::COLLECTOR.into(),
        host,
        kind: format.source_kind() as i32,
        path: name,
        stream: String::new(),
    };
    let modified = std::fs::metadata(&args.file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_micros()).ok());
    let mut ctx = SourceContext::new(source, modified.unwrap_or(0));
    ctx.utc_offset_secs = args.utc_offset;
    ctx.date_hint = modified.map(|us| {
        let local = us + i64::from(args.utc_offset) * 1_000_000;
        scepwatch_proto::time::civil_from_days(local.div_euclid(86_400_000_000))
    });
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_failed = false;
    let mut emit = |e: scepwatch_proto::v1::Event| {
        if write_failed {
            return;
        }
        let line = report::events::event_json(&e);
        if serde_json::to_writer(&mut out, &line).is_err() || out.write_all(b"\n").is_err() {
            write_failed = true;
        }
    };
    let stats = File::open(&args.file).and_then(|f| {
        if format == Format::Evtx {
            parse::eventlog::evtx::parse(&ctx, io::BufReader::new(f), &mut emit)
        } else {
            parse::parse_stream(format, &ctx, io::BufReader::new(f), &mut emit)
        }
    });
    let code = match stats {
        Ok(s) => {
            let line = serde_json::json!({"stats": {
                "format": format.name(),
                "bytes": s.bytes,
                "records": s.records,
                "events": s.events,
                "ignored": s.ignored,
                "errors": s.errors,
                "first_event": s.first_event_us.map(scepwatch_proto::time::to_rfc3339),
                "last_event": s.last_event_us.map(scepwatch_proto::time::to_rfc3339),
            }});
            let _ = serde_json::to_writer(&mut out, &line);
            let _ = out.write_all(b"\n");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("scepwatch: {}: {e}", args.file.display());
            EXIT_USAGE
        }
    };
    if out.flush().is_err() {
        return EXIT_INTERNAL;
    }
    code
}

fn formats_cmd() -> u8 {
    let mut out = io::stdout().lock();
    for f in Format::ALL {
        let what = match f {
            Format::Iis => "IIS W3C extended log (u_ex*.log) of an NDES server",
            Format::HttpErr => "HTTP.sys error log (HTTPERR\\httperr*.log)",
            Format::Evtx => "Windows event log file (.evtx)",
            Format::EventXml => {
                "Windows events as XML (wevtutil qe /f:xml, Get-WinEvent | ConvertTo-Xml)"
            }
            Format::EventText => {
                "Windows events as Event Viewer text (Log Name: ... Description: ...)"
            }
            Format::SetupMsi => "Intune Certificate Connector installer log (SetupMsi.log)",
            Format::AndroidOmadm => "Android Company Portal OMADM log",
            Format::IosConsole => "iOS / macOS console or profiled debug log",
            Format::Probe => "results of the active SCEP URL prober (JSON lines)",
            Format::Health => "NDES server health facts (JSON lines)",
        };
        if writeln!(out, "{:<14} {what}", f.name()).is_err() {
            return EXIT_INTERNAL;
        }
    }
    EXIT_OK
}
