//! IIS W3C logs as IIS writes them (CRLF lines, a `#Software/#Version/#Date/#Fields` header at
//! the top of each file, one `u_exYYMMDD.log` per day in a `W3SVC<n>` folder), and an
//! [`Appender`] that writes them at a steady rate on a thread, through daily files and rename
//! rotations, keeping a [`Ledger`] of every file and every name it had.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Error;

/// A calendar day (proleptic Gregorian), counted in days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    /// The day `year-month-day`.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Day {
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day(era * 146_097 + doe - 719_468)
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i64, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    /// The day `n` days later.
    pub fn plus(self, n: i64) -> Day {
        Day(self.0 + n)
    }

    /// `YYMMDD`, as in IIS file names.
    pub fn yymmdd(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{:02}{m:02}{d:02}", y.rem_euclid(100))
    }
}

/// A moment of a day, to the second (IIS logs in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time {
    /// The day.
    pub day: Day,
    /// Seconds since its midnight (below 86,400).
    pub second: u32,
}

impl std::fmt::Display for Time {
    /// `YYYY-MM-DD hh:mm:ss`, as in IIS lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.day.ymd();
        let s = self.second;
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// The `#Fields` IIS writes by default.
pub const FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username \
                          c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus \
                          sc-win32-status time-taken";

/// The header IIS writes at the top of a file it creates at `created`.
pub fn header(created: Time) -> String {
    format!(
        "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n\
         #Date: {created}\r\n#Fields: {FIELDS}\r\n"
    )
}

/// Request `n` of a run, logged at `at`, with its CRLF: the requests of a SCEP enrollment
/// (`GetCACaps`, `GetCACert`, `PKIOperation` by POST) from Android and iOS devices, each from
/// its own client address.
pub fn request_line(at: Time, n: u64) -> String {
    const ANDROID: &str = "Dalvik/2.1.0+(Linux;+U;+Android+14;+Pixel+7+Build/AP2A.240805.005)";
    const IOS: &str = "MDM-iOS/1.0+CFNetwork/1496.0.7+Darwin/23.5.0";
    let (method, query, agent, status) = match n % 4 {
        0 => ("GET", "operation=GetCACaps&message=default", ANDROID, 200),
        1 => ("GET", "operation=GetCACert&message=default", ANDROID, 200),
        2 => ("POST", "operation=PKIOperation", ANDROID, 200),
        _ => ("GET", "operation=GetCACaps&message=NDES", IOS, 200),
    };
    format!(
        "{at} 10.0.0.5 {method} /certsrv/mscep/mscep.dll {query} 443 - 10.{}.{}.{} {agent} - {status} 0 0 {}\r\n",
        (n >> 16) & 255,
        (n >> 8) & 255,
        n & 255,
        1 + n % 97
    )
}

/// What an [`Appender`] writes.
#[derive(Debug, Clone)]
pub struct AppendPlan {
    /// The site folder under the root (`W3SVC1`).
    pub site: String,
    /// Request lines in all.
    pub lines: u64,
    /// Lines per second, spread evenly (in 20 ms steps); 0: as fast as the disk takes them.
    pub lines_per_second: u64,
    /// A new day, hence a new `u_exYYMMDD.log`, starts every this many lines.
    pub lines_per_day: u64,
    /// Before writing these lines (numbered from 0), the file being written is renamed to
    /// `u_exYYMMDD-<k>.log` (still matching `u_ex*.log`) and writing goes on in a new file at
    /// the old name: rename rotation.
    pub renames: Vec<u64>,
    /// The day of the first file.
    pub first_day: Day,
}

impl AppendPlan {
    /// `lines` lines into one file at `lines_per_second`.
    pub fn steady(lines: u64, lines_per_second: u64) -> AppendPlan {
        AppendPlan {
            site: "W3SVC1".to_owned(),
            lines,
            lines_per_second,
            lines_per_day: lines.max(1),
            renames: Vec::new(),
            first_day: Day::from_ymd(2026, 11, 27),
        }
    }

    /// `lines` lines at `lines_per_second` over `days` daily files, with `renames` rename
    /// rotations spread over the run, each in the middle of a day.
    pub fn rotating(lines: u64, lines_per_second: u64, days: u64, renames: u64) -> AppendPlan {
        let days = days.max(1);
        let lines_per_day = lines.div_ceil(days).max(1);
        let renames = (0..renames)
            .map(|k| {
                let day = (k * days / renames.max(1)) % days;
                day * lines_per_day + lines_per_day / 2 + k
            })
            .filter(|&l| l < lines)
            .collect();
        AppendPlan {
            lines_per_day,
            renames,
            ..AppendPlan::steady(lines, lines_per_second)
        }
    }
}

/// One file written: the names it had, in order (the first as created, the last where it is
/// now), and its request lines.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Every path it had.
    pub names: Vec<PathBuf>,
    /// Request lines written to it.
    pub lines: u64,
}

impl WrittenFile {
    /// Where it is now.
    pub fn path(&self) -> &Path {
        self.names.last().map_or(Path::new(""), PathBuf::as_path)
    }
}

/// Everything an [`Appender`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// The files, in the order they were created.
    pub files: Vec<WrittenFile>,
    /// Request lines in all.
    pub lines: u64,
    /// Daily files started (the first counts).
    pub days: u64,
    /// Rename rotations done.
    pub renames: u64,
    /// Time from the first line to the last.
    pub elapsed: Duration,
}

/// A thread appending IIS logs under a root folder, following an [`AppendPlan`].
pub struct Appender {
    handle: JoinHandle<Result<Ledger, Error>>,
    written: Arc<AtomicU64>,
    limit: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Appender {
    /// Starts writing under `root` (`root/<site>/u_ex*.log`).
    pub fn spawn(root: &Path, plan: AppendPlan) -> Appender {
        let written = Arc::new(AtomicU64::new(0));
        let limit = Arc::new(AtomicU64::new(u64::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let handle = {
            let (written, limit, stop) = (written.clone(), limit.clone(), stop.clone());
            std::thread::Builder::new()
                .name("iis-appender".to_owned())
                .spawn(move || append(&root, &plan, &written, &limit, &stop))
        };
        let handle = match handle {
            Ok(h) => h,
            Err(e) => std::thread::spawn(move || Err(Error::io("starting the appender", e))),
        };
        Appender {
            handle,
            written,
            limit,
            stop,
        }
    }

    /// Writes no line past `lines` (in all) until the limit is raised: a test holds the writer
    /// back while the reader of the topic is too far behind (the test broker's cost of a
    /// fetch grows with what lies behind the reader). Writing then goes on at the plan's rate,
    /// without a burst to make up for the pause.
    pub fn limit(&self, lines: u64) {
        self.limit.store(lines, Ordering::Relaxed);
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// True once it has written everything (or failed).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Asks it to stop early (the ledger then holds what was written).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until everything is written.
    pub fn join(self) -> Result<Ledger, Error> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(Error::Process("the appender thread panicked".to_owned())))
    }
}

/// The file being written.
struct Current {
    file: File,
    path: PathBuf,
    index: usize,
}

fn append(
    root: &Path,
    plan: &AppendPlan,
    written: &AtomicU64,
    limit: &AtomicU64,
    stop: &AtomicBool,
) -> Result<Ledger, Error> {
    let site = root.join(&plan.site);
    std::fs::create_dir_all(&site)
        .map_err(|e| Error::io(format!("creating {}", site.display()), e))?;
    let mut ledger = Ledger::default();
    let mut current: Option<Current> = None;
    let started = Instant::now();
    let mut buf = String::new();
    let mut n = 0u64;
    let step = Duration::from_millis(20);
    // Lines owed at the plan's rate and not written yet; a pause (the limit) owes nothing.
    let mut owed = 0.0f64;
    let mut tick = Instant::now();
    while n < plan.lines && !stop.load(Ordering::Relaxed) {
        let dt = tick.elapsed().min(Duration::from_millis(100));
        tick = Instant::now();
        let allowed = plan.lines.min(limit.load(Ordering::Relaxed));
        if n >= allowed {
            owed = 0.0;
            std::thread::sleep(step);
            continue;
        }
        let target = if plan.lines_per_second == 0 {
            (n + 1000).min(allowed)
        } else {
            owed += dt.as_secs_f64() * plan.lines_per_second as f64;
            let due = owed as u64;
            owed -= due as f64;
            (n + due).min(allowed)
        };
        while n < target {
            let day = n / plan.lines_per_day;
            let in_day = n % plan.lines_per_day;
            let date = plan.first_day.plus(day as i64);
            let at = Time {
                day: date,
                second: (in_day * 86_400 / plan.lines_per_day) as u32,
            };
            let new_day = in_day == 0;
            let rename = plan.renames.contains(&n) && current.is_some();
            if new_day || rename || current.is_none() {
                flush(&mut current, &mut buf)?;
                if rename {
                    if let Some(c) = current.take() {
                        let renamed =
                            site.join(format!("u_ex{}-{}.log", date.yymmdd(), ledger.renames + 1));
                        // The writer's handle stays valid across the rename, as on Windows
                        // with delete sharing; it is closed here because writing goes on in
                        // the new file.
                        drop(c.file);
                        std::fs::rename(&c.path, &renamed)
                            .map_err(|e| Error::io(format!("renaming {}", c.path.display()), e))?;
                        ledger.files[c.index].names.push(renamed);
                        ledger.renames += 1;
                    }
                }
                if new_day {
                    ledger.days += 1;
                }
                let path = site.join(format!("u_ex{}.log", date.yymmdd()));
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
                file.write_all(header(at).as_bytes())
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                ledger.files.push(WrittenFile {
                    names: vec![path.clone()],
                    lines: 0,
                });
                current = Some(Current {
                    file,
                    path,
                    index: ledger.files.len() - 1,
                });
            }
            buf.push_str(&request_line(at, n));
            if let Some(c) = &current {
                ledger.files[c.index].lines += 1;
            }
            n += 1;
        }
        flush(&mut current, &mut buf)?;
        written.store(n, Ordering::Relaxed);
        if plan.lines_per_second > 0 && n < plan.lines {
            std::thread::sleep(step);
        }
    }
    ledger.lines = n;
    ledger.elapsed = started.elapsed();
    Ok(ledger)
}

/// Writes the buffered lines to the current file in one write, as IIS flushes its buffer.
fn flush(current: &mut Option<Current>, buf: &mut String) -> Result<(), Error> {
    if let Some(c) = current.as_mut() {
        if !buf.is_empty() {
            c.file
                .write_all(buf.as_bytes())
                .map_err(|e| Error::io(format!("writing {}", c.path.display()), e))?;
        }
    }
    buf.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_through_month_and_year_ends() {
        assert_eq!(Day::from_ymd(1970, 1, 1), Day(0));
        let d = Day::from_ymd(2026, 11, 27);
        assert_eq!(d.ymd(), (2026, 11, 27));
        assert_eq!(d.plus(4).ymd(), (2026, 12, 1));
        assert_eq!(d.plus(35).ymd(), (2027, 1, 1));
        assert_eq!(Day::from_ymd(2028, 2, 28).plus(1).ymd(), (2028, 2, 29));
        assert_eq!(d.plus(5).yymmdd(), "261202");
        let t = Time {
            day: d,
            second: 3600 + 2 * 60 + 3,
        };
        assert_eq!(t.to_string(), "2026-11-27 01:02:03");
    }

    #[test]
    fn lines_are_iis_w3c_with_crlf() {
        let t = Time {
            day: Day::from_ymd(2026, 11, 27),
            second: 0,
        };
        let h = header(t);
        assert!(h.starts_with("#Software: Microsoft Internet Information Services 10.0\r\n"));
        assert!(h.contains("#Date: 2026-11-27 00:00:00\r\n"));
        let l = request_line(t, 2);
        assert!(l.starts_with("2026-11-27 00:00:00 10.0.0.5 POST /certsrv/mscep/mscep.dll operation=PKIOperation 443 - 10.0.0.2 "), "{l}");
        assert!(l.ends_with(" 200 0 0 3\r\n"), "{l}");
        assert_eq!(l.matches(' ').count(), FIELDS.split(' ').count() - 1);
    }

    #[test]
    fn a_rotating_plan_spreads_its_renames_over_days() {
        let p = AppendPlan::rotating(1_000_000, 0, 5, 2);
        assert_eq!(p.lines_per_day, 200_000);
        assert_eq!(p.renames, vec![100_000, 500_001]);
    }
}
