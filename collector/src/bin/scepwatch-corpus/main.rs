//! `scepwatch-corpus`: writes a realistic, deterministic corpus of NDES server and device logs,
//! for benchmarks and load tests.
//!
//! The corpus looks like what an administrator would collect from a fleet: per NDES server the
//! IIS W3C logs (one file per day), the HTTP.sys error log, the Application event log as
//! `wevtutil qe /f:xml` prints it, health facts and probe results; per device the Android
//! OMADM log, the iOS `profiled` log (`log show` shape) or the Windows DeviceManagement Admin
//! channel as Event Viewer text. Device logs and server logs agree: every enrollment attempt of
//! a device appears on the server it reached, at the same time, and iOS PKIOperation GETs carry
//! the same pkiMessage (with its own transactionID) on both sides, so joins are exact.
//!
//! The output is a pure function of the options: the same `--seed` gives the same bytes. Each
//! server, day and device draws from its own ChaCha8 stream, so changing `--devices` does not
//! change a server's background traffic. Lines are built in one reusable buffer and written
//! through large buffered writers, days in order, so every file is sorted by time.
//!
//! See `docs/corpus.md` for the layout, the traffic model and how to use it in benchmarks.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scepwatch_proto::time::{civil_from_days, days_from_civil, US_PER_SEC};

mod device;
mod out;
mod plan;
mod server;
mod template;

use device::*;
use out::*;
use plan::*;
use server::*;
use template::*;

const HELP: &str = "\
scepwatch-corpus: write a realistic, deterministic corpus of NDES server and device logs

USAGE:
    scepwatch-corpus --out <DIR> [OPTIONS]

OPTIONS:
    --out <DIR>         Folder to write into. Must be empty or absent (see --force).
    --size <SIZE>       Approximate total size [default: 100MiB]. Units: B, KB, MB, GB, TB
                        (powers of 1000), KiB, MiB, GiB, TiB or K, M, G, T (powers of 1024);
                        fractions allowed (1.5GiB). Between 64KiB and 4TiB.
    --servers <N>       NDES servers behind the SCEP endpoint, 1..=99 [default: 2]
    --devices <N>       Devices whose logs are written (Android, iOS, Windows),
                        0..=1000000 [default: 100]. Server logs also carry traffic of many
                        more devices whose logs are not collected.
    --days <N>          Days of logs, 1..=366 [default: 7]
    --start <DATE>      First day, YYYY-MM-DD [default: 2026-11-16]
    --seed <N>          Seed of the generator; the same seed gives the same bytes [default: 1]
    --force             Write into --out even if it is not empty (files are overwritten)
    --quiet             Print only the final summary
    -h, --help          Print this help
    -V, --version       Print the version

About 90% of the bytes are IIS logs (lines of about 177 bytes: GetCACaps, GetCACert and
PKIOperation from Android, iOS and Windows clients, load-balancer checks, probes, now and then
a long GET PKIOperation with a real pkiMessage), 6% device logs, 3% HTTP.sys error logs and the
rest event logs, health facts and probe results. Incidents are injected: windows of HTTP 500
(win32 status 1346 or 0) and application-pool crashes (event 1000, 503, HTTPERR AppOffline).

EXAMPLE:
    scepwatch-corpus --out /tmp/corpus --size 1GiB --servers 4 --devices 500 --seed 1

EXIT STATUS:
    0 on success, 1 when writing failed, 2 for invalid arguments.
";

/// The SCEP endpoint every device enrolls against.
const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";
const MSCEP: &[u8] = b"/certsrv/mscep/mscep.dll";
const MSCEP_PKICLIENT: &[u8] = b"/certsrv/mscep/mscep.dll/pkiclient.exe";

/// A real PKCSReq pkiMessage (CMS SignedData) made by a SCEP client; see
/// `testdata/samples/scep/make-messages.sh`. Each iOS attempt gets a copy with its own
/// transactionID and senderNonce patched in place (same lengths, so the DER stays valid; the
/// signature no longer verifies, which no log reader checks).
const TEMPLATE_DER: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/samples/scep/iphone-anna-1530.der"
));
/// DER of the OIDs of the transactionID and senderNonce attributes (RFC 8894).
const OID_TRANSACTION_ID: &[u8] = &[
    0x06, 0x0A, 0x60, 0x86, 0x48, 0x01, 0x86, 0xF8, 0x45, 0x01, 0x09, 0x07,
];
const OID_SENDER_NONCE: &[u8] = &[
    0x06, 0x0A, 0x60, 0x86, 0x48, 0x01, 0x86, 0xF8, 0x45, 0x01, 0x09, 0x05,
];

const ANDROID_UAS: [&str; 6] = [
    "Dalvik/2.1.0+(Linux;+U;+Android+14;+Pixel+7+Build/AP2A.240905.003)",
    "Dalvik/2.1.0+(Linux;+U;+Android+14;+SM-S921B+Build/UP1A.231005.007)",
    "Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-A536B+Build/TP1A.220624.014)",
    "Dalvik/2.1.0+(Linux;+U;+Android+15;+Pixel+8+Build/AP3A.241105.007)",
    "Dalvik/2.1.0+(Linux;+U;+Android+12;+moto+g(60)+Build/S2RIS32.32-20-7-10)",
    "Dalvik/2.1.0+(Linux;+U;+Android+14;+CPH2581+Build/UKQ1.230924.001)",
];
const IOS_UAS: [&str; 4] = [
    "profiled/1.0+CFNetwork/1568.200.51+Darwin/24.1.0",
    "profiled/1.0+CFNetwork/1568.100.1+Darwin/24.0.0",
    "profiled/1.0+CFNetwork/1496.0.7+Darwin/23.5.0",
    "profiled/1.0+CFNetwork/1410.0.3+Darwin/22.6.0",
];
const WINDOWS_UAS: [&str; 1] = ["Mozilla/4.0+(compatible;+Win32;+NDES+client)"];
const ADMIN_UA: &str = "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/131.0.0.0+Safari/537.36+Edg/131.0.0.0";
const PROBE_UA: &str = "scepwatch-probe/0.1";

/// Application proxy connectors: most device traffic reaches IIS from these.
const CONNECTORS: [[u8; 4]; 2] = [[10, 20, 30, 201], [10, 20, 30, 202]];
const LOAD_BALANCER: [u8; 4] = [10, 20, 30, 5];
const ADMIN_IP: [u8; 4] = [10, 20, 40, 20];
const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

/// Shares of the total size, by kind of file. HTTP.sys logs (about 2.6%), event logs, health
/// facts and probes take the rest, at rates tied to the IIS traffic.
const SHARE_IIS: f64 = 0.912;
const SHARE_DEVICES: f64 = 0.06;
/// Bytes that do not scale with the size: probes and health facts of one server and day, and
/// the lines of one device attempt (device log and server side).
const FIXED_PER_SERVER_DAY: u64 = 16_000;
const FIXED_PER_ATTEMPT: u64 = 5_000;
/// Bytes of IIS log per HTTPERR idle-timer line wanted (3% of the total against 90%).
const HTTPERR_IDLE_PER_ARRIVAL: f64 = 0.16;
/// Chance that an arrival is a benign Application event.
const APP_EVENT_PER_ARRIVAL: f64 = 0.0035;
/// Chance that a background iOS session sends its CSR by GET (a ~3.6 KB line).
const IOS_LONG_GET: f64 = 0.035;
/// Chance that a device's attempt never reaches any server (blocked on the way).
const BLOCKED: f64 = 0.03;

// ------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    out: PathBuf,
    size: u64,
    servers: u32,
    devices: u32,
    days: u32,
    start: (i64, u32, u32),
    seed: u64,
    force: bool,
    quiet: bool,
}

enum Command {
    Help,
    Version,
    Run(Options),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut out = None;
    let mut opts = Options {
        out: PathBuf::new(),
        size: 100 << 20,
        servers: 2,
        devices: 100,
        days: 7,
        start: (2026, 11, 16),
        seed: 1,
        force: false,
        quiet: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--size" => opts.size = parse_size(&value("--size")?)?,
            "--servers" => opts.servers = parse_count("--servers", &value("--servers")?, 1, 99)?,
            "--devices" => {
                opts.devices = parse_count("--devices", &value("--devices")?, 0, 1_000_000)?
            }
            "--days" => opts.days = parse_count("--days", &value("--days")?, 1, 366)?,
            "--start" => opts.start = parse_date(&value("--start")?)?,
            "--seed" => {
                let v = value("--seed")?;
                opts.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: '{v}' is not a whole number"))?;
            }
            "--force" => opts.force = true,
            "--quiet" | "-q" => opts.quiet = true,
            other => return Err(format!("unknown argument '{other}' (see --help)")),
        }
    }
    opts.out = out.ok_or("--out <DIR> is required (see --help)")?;
    Ok(Command::Run(opts))
}

/// `500MB`, `1GiB`, `1.5G`, `4096`: a byte count, see `--help` for the units.
fn parse_size(text: &str) -> Result<u64, String> {
    const MIN: u64 = 64 << 10;
    const MAX: u64 = 4 << 40;
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("--size: '{text}' does not start with a number"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("--size: unknown unit '{other}' in '{text}'")),
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < MIN as f64 || bytes > MAX as f64 {
        return Err(format!("--size: '{text}' is outside 64KiB..=4TiB"));
    }
    Ok(bytes as u64)
}

fn parse_count(name: &str, text: &str, min: u32, max: u32) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{name}: '{text}' is not a number in {min}..={max}")),
    }
}

fn parse_date(text: &str) -> Result<(i64, u32, u32), String> {
    let bad = || format!("--start: '{text}' is not a date YYYY-MM-DD");
    let mut parts = text.trim().splitn(3, '-');
    let mut next = || parts.next().ok_or_else(bad);
    let y: i64 = next()?.parse().map_err(|_| bad())?;
    let m: u32 = next()?.parse().map_err(|_| bad())?;
    let d: u32 = next()?.parse().map_err(|_| bad())?;
    // Round-trip through the day number to reject 2026-02-30 and friends.
    if !(1970..=9999).contains(&y) || civil_from_days(days_from_civil(y, m, d)) != (y, m, d) {
        return Err(bad());
    }
    Ok((y, m, d))
}

// ------------------------------------------------------------------------------------------
// Driver
// ------------------------------------------------------------------------------------------

struct Progress {
    quiet: bool,
    target: u64,
    done: u64,
    started: Instant,
}

impl Progress {
    fn add(&mut self, bytes: u64) {
        self.done += bytes;
    }

    fn file(&mut self, name: &str, bytes: u64) {
        self.done += bytes;
        if self.quiet {
            return;
        }
        let pct = self.done as f64 * 100.0 / self.target.max(1) as f64;
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{pct:5.1}%  {:>10}  {name}  ({:.0} MiB/s)",
            human(bytes),
            self.done as f64 / (1 << 20) as f64 / secs.max(1e-3)
        );
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn check_out_dir(opts: &Options) -> Result<(), String> {
    match fs::read_dir(&opts.out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !opts.force {
                return Err(format!(
                    "{} is not empty (use --force to write into it anyway)",
                    opts.out.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", opts.out.display())),
    }
}

fn run(plan: Plan, started: Instant) -> io::Result<()> {
    fs::create_dir_all(&plan.opts.out).map_err(|e| with_path(e, &plan.opts.out))?;
    let mut totals = [Tally::default(); 8];
    let mut progress = Progress {
        quiet: plan.opts.quiet,
        target: plan.opts.size,
        done: 0,
        started,
    };
    for server in 0..plan.servers.len() {
        write_server(&plan, server, &mut totals, &mut progress)?;
    }
    write_devices(&plan, &mut totals, &mut progress)?;

    let secs = started.elapsed().as_secs_f64();
    let all = totals.iter().fold(Tally::default(), |a, t| Tally {
        files: a.files + t.files,
        bytes: a.bytes + t.bytes,
        lines: a.lines + t.lines,
    });
    let attempts = plan.attempts.len();
    let blocked = plan.attempts.iter().filter(|a| a.blocked).count();
    let incidents: usize = plan
        .servers
        .iter()
        .map(|s| s.incidents.iter().map(Vec::len).sum::<usize>())
        .sum();
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "wrote {} in {} files to {} in {secs:.1} s ({:.0} MiB/s), seed {}",
        human(all.bytes),
        all.files,
        plan.opts.out.display(),
        all.bytes as f64 / (1 << 20) as f64 / secs.max(1e-3),
        plan.opts.seed
    );
    let _ = writeln!(
        summary,
        "{} servers x {} days, {} devices with {attempts} enrollment attempts ({blocked} blocked before NDES), {incidents} incidents",
        plan.servers.len(),
        plan.days.len(),
        plan.devices.len()
    );
    let _ = writeln!(
        summary,
        "{:<14} {:>7} {:>12} {:>12} {:>7} {:>9}",
        "format", "files", "bytes", "lines", "share", "avg line"
    );
    for kind in KINDS {
        let t = totals[kind.index()];
        if t.files == 0 {
            continue;
        }
        let _ = writeln!(
            summary,
            "{:<14} {:>7} {:>12} {:>12} {:>6.1}% {:>9.0}",
            kind.name(),
            t.files,
            t.bytes,
            t.lines,
            t.bytes as f64 * 100.0 / all.bytes.max(1) as f64,
            t.bytes as f64 / t.lines.max(1) as f64
        );
    }
    // A closed pipe (`| head`) is not a failure of the corpus.
    match io::stdout().lock().write_all(summary.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("scepwatch-corpus {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(opts)) => opts,
        Err(e) => {
            eprintln!("scepwatch-corpus: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = check_out_dir(&opts) {
        eprintln!("scepwatch-corpus: {e}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let plan = match Plan::new(opts) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("scepwatch-corpus: {e}");
            return ExitCode::from(2);
        }
    };
    match run(plan, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scepwatch-corpus: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64 KiB"), Ok(65536));
        assert!(parse_size("10").is_err(), "below the minimum");
        assert!(parse_size("5PB").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("1e3MB").is_err());
    }

    #[test]
    fn dates_are_validated() {
        assert_eq!(parse_date("2026-11-16"), Ok((2026, 11, 16)));
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn arguments_are_checked() {
        let args = |s: &str| parse_args(s.split_whitespace().map(String::from));
        assert!(matches!(args("--help"), Ok(Command::Help)));
        assert!(args("--size 1GiB").is_err(), "--out is required");
        assert!(args("--out x --servers 0").is_err());
        assert!(args("--out x --servers 100").is_err());
        assert!(args("--out x --bogus").is_err());
        assert!(args("--out x --seed").is_err());
        match args("--out /tmp/c --size=2MiB --servers 4 --devices 500 --seed 7") {
            Ok(Command::Run(o)) => {
                assert_eq!(o.out, PathBuf::from("/tmp/c"));
                assert_eq!((o.size, o.servers, o.devices, o.seed), (2 << 20, 4, 500, 7));
            }
            _ => panic!("valid arguments rejected"),
        }
    }

    #[test]
    fn template_patches_transaction_id_in_place() {
        let mut t = Template::new(TEMPLATE_DER).expect("template");
        let a = t.message_base64(&[1; 20]).to_string();
        let b = t.message_base64(&[2; 20]).to_string();
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        let der = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .expect("base64");
        let printable = base64::engine::general_purpose::STANDARD.encode([1u8; 20]);
        assert!(der
            .windows(printable.len())
            .any(|w| w == printable.as_bytes()));
    }

    #[test]
    fn formatting_helpers() {
        let mut b = Vec::new();
        push_hms(&mut b, (13 * 3600 + 5 * 60 + 9) * US_PER_SEC);
        b.push(b' ');
        push_ip(&mut b, [10, 0, 255, 1]);
        b.push(b' ');
        push_padded(&mut b, 42, 7);
        b.push(b' ');
        push_date(&mut b, days_from_civil(2026, 11, 20) * 86_400 * US_PER_SEC);
        assert_eq!(b, b"13:05:09 10.0.255.1 0000042 2026-11-20");
    }
}
