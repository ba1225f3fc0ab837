//! The plan: everything decided before a byte is written (days, servers and their
//! incidents, devices and their enrollment attempts), so that server and device logs agree.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Android,
    Ios,
    Windows,
}

impl Platform {
    /// The `message=` value the platform's SCEP client sends with GetCACaps and GetCACert.
    pub(crate) fn ca_message(self) -> &'static [u8] {
        match self {
            Platform::Android => b"ca",
            Platform::Ios => b"SCEP%20Authority",
            Platform::Windows => b"default",
        }
    }

    pub(crate) fn user_agents(self) -> &'static [&'static str] {
        match self {
            Platform::Android => &ANDROID_UAS,
            Platform::Ios => &IOS_UAS,
            Platform::Windows => &WINDOWS_UAS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    GetCaCaps,
    GetCaCert,
    PkiGet,
    PkiPost,
}

/// How a server answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 200.
    Ok,
    /// An HTTP error logged by IIS.
    Http { status: u16, sub: u16, win32: u32 },
    /// Refused by HTTP.sys (pool stopped): 503 in HTTPERR, nothing in IIS.
    Offline,
}

impl Outcome {
    pub(crate) fn status(self) -> u16 {
        match self {
            Outcome::Ok => 200,
            Outcome::Http { status, .. } => status,
            Outcome::Offline => 503,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncidentKind {
    /// 500 on every SCEP request, with this sc-win32-status (1346: impersonation right).
    InternalError(u32),
    /// The SCEP pool crashes (event 1000) and stops: 503, then HTTP.sys AppOffline.
    PoolCrash,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Incident {
    pub(crate) kind: IncidentKind,
    pub(crate) start_us: i64,
    pub(crate) end_us: i64,
}

/// Seconds after a pool crash before rapid-fail protection stops the pool and HTTP.sys
/// answers for it.
pub(crate) const OFFLINE_AFTER_US: i64 = 20 * US_PER_SEC;

pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) ip: [u8; 4],
    /// Request filtering left at IIS's defaults (maxQueryString 2048): PKIOperation GETs get
    /// 404.15.
    pub(crate) low_limits: bool,
    /// Incidents by day.
    pub(crate) incidents: Vec<Vec<Incident>>,
}

impl Server {
    pub(crate) fn outcome(&self, day: usize, op: Op, at_us: i64) -> Outcome {
        for inc in self.incidents.get(day).map_or(&[][..], Vec::as_slice) {
            if at_us < inc.start_us || at_us >= inc.end_us {
                continue;
            }
            return match inc.kind {
                IncidentKind::InternalError(win32) => Outcome::Http {
                    status: 500,
                    sub: 0,
                    win32,
                },
                IncidentKind::PoolCrash if at_us < inc.start_us + OFFLINE_AFTER_US => {
                    Outcome::Http {
                        status: 503,
                        sub: 0,
                        win32: 0,
                    }
                }
                IncidentKind::PoolCrash => Outcome::Offline,
            };
        }
        if op == Op::PkiGet && self.low_limits {
            return Outcome::Http {
                status: 404,
                sub: 15,
                win32: 0,
            };
        }
        Outcome::Ok
    }
}

pub(crate) struct Device {
    pub(crate) platform: Platform,
    pub(crate) name: String,
    pub(crate) ua: usize,
    pub(crate) pid: u32,
    /// iOS devices log their zone; minutes east of UTC.
    pub(crate) utc_offset_min: i32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) at_us: i64,
    pub(crate) day: usize,
    pub(crate) server: usize,
    pub(crate) device: usize,
    pub(crate) blocked: bool,
    /// Raw transactionID material: 20 bytes, printed as base64 (iOS message) or hex (Android).
    pub(crate) txn: [u8; 20],
}

pub(crate) struct Day {
    pub(crate) start_us: i64,
    pub(crate) date: [u8; 10],
    pub(crate) yymmdd: [u8; 6],
    pub(crate) ymd: (i64, u32, u32),
}

pub(crate) struct Plan {
    pub(crate) opts: Options,
    pub(crate) days: Vec<Day>,
    pub(crate) servers: Vec<Server>,
    pub(crate) devices: Vec<Device>,
    /// Sorted by (server, time).
    pub(crate) attempts: Vec<Attempt>,
    /// IIS bytes wanted per server and day.
    pub(crate) iis_per_file: u64,
    /// Noise bytes wanted per device log.
    pub(crate) noise_per_device: u64,
}

pub(crate) fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

pub(crate) const STREAM_PLAN: u64 = 1;
pub(crate) const STREAM_SERVER_DAY: u64 = 1 << 20;
pub(crate) const STREAM_DEVICE: u64 = 1 << 40;

impl Plan {
    pub(crate) fn new(opts: Options) -> Result<Plan, String> {
        // Fail early if the template cannot be patched.
        Template::new(TEMPLATE_DER)?;
        let mut rng = rng_for(opts.seed, STREAM_PLAN);
        let first = days_from_civil(opts.start.0, opts.start.1, opts.start.2);
        let days: Vec<Day> = (0..i64::from(opts.days))
            .map(|i| {
                let ymd = civil_from_days(first + i);
                let mut date = [0u8; 10];
                let text = format!("{:04}-{:02}-{:02}", ymd.0, ymd.1, ymd.2);
                date.copy_from_slice(text.as_bytes());
                let mut yymmdd = [0u8; 6];
                yymmdd.copy_from_slice(
                    format!("{:02}{:02}{:02}", ymd.0 % 100, ymd.1, ymd.2).as_bytes(),
                );
                Day {
                    start_us: (first + i) * 86_400 * US_PER_SEC,
                    date,
                    yymmdd,
                    ymd,
                }
            })
            .collect();

        let mut servers = Vec::new();
        for s in 0..opts.servers {
            let mut incidents = Vec::new();
            for day in &days {
                let mut today = Vec::new();
                // Business hours, when people notice.
                let pick = |rng: &mut ChaCha8Rng, min_len: i64, max_len: i64| {
                    let start = day.start_us
                        + rng.random_range(7 * 3600..18 * 3600) * US_PER_SEC
                        + rng.random_range(0..US_PER_SEC);
                    (
                        start,
                        start + rng.random_range(min_len..max_len) * 60 * US_PER_SEC,
                    )
                };
                if rng.random_bool(0.3) {
                    let (start_us, end_us) = pick(&mut rng, 5, 20);
                    let win32 = if rng.random_bool(0.5) { 1346 } else { 0 };
                    today.push(Incident {
                        kind: IncidentKind::InternalError(win32),
                        start_us,
                        end_us,
                    });
                }
                if rng.random_bool(0.2) {
                    let (start_us, end_us) = pick(&mut rng, 5, 15);
                    let overlaps = today
                        .iter()
                        .any(|i| start_us < i.end_us && i.start_us < end_us);
                    if !overlaps {
                        today.push(Incident {
                            kind: IncidentKind::PoolCrash,
                            start_us,
                            end_us,
                        });
                    }
                }
                today.sort_by_key(|i| i.start_us);
                incidents.push(today);
            }
            servers.push(Server {
                name: format!("ndes{:02}", s + 1),
                ip: [10, 20, 30, 11 + s as u8],
                // The second server kept IIS's default request limits.
                low_limits: s == 1,
                incidents,
            });
        }

        let width = opts.devices.to_string().len().max(4);
        let mut devices = Vec::new();
        let mut attempts = Vec::new();
        for d in 0..opts.devices as usize {
            let mut drng = rng_for(opts.seed, STREAM_DEVICE + d as u64);
            let roll: f64 = drng.random();
            let platform = if roll < 0.45 {
                Platform::Android
            } else if roll < 0.8 {
                Platform::Ios
            } else {
                Platform::Windows
            };
            let prefix = match platform {
                Platform::Android => "android",
                Platform::Ios => "iphone",
                Platform::Windows => "win",
            };
            let offsets = [-300, -360, 0, 60, 120];
            devices.push(Device {
                platform,
                name: format!("{prefix}-{:0width$}", d + 1),
                ua: drng.random_range(0..platform.user_agents().len()),
                pid: drng.random_range(1000..32000),
                utc_offset_min: offsets[drng.random_range(0..offsets.len())],
            });
            for _ in 0..drng.random_range(1..=3u32) {
                let day = drng.random_range(0..days.len());
                let at_us = days[day].start_us
                    + drng.random_range(7 * 3600..19 * 3600) * US_PER_SEC
                    + drng.random_range(0..US_PER_SEC);
                let mut txn = [0u8; 20];
                drng.fill(&mut txn);
                attempts.push(Attempt {
                    at_us,
                    day,
                    server: drng.random_range(0..servers.len()),
                    device: d,
                    blocked: drng.random_bool(BLOCKED),
                    txn,
                });
            }
        }
        attempts.sort_by_key(|a| (a.server, a.at_us, a.device));

        let files = u64::from(opts.servers) * u64::from(opts.days);
        let device_share = if opts.devices == 0 {
            0.0
        } else {
            SHARE_DEVICES
        };
        // Some bytes do not scale with the size: hourly probes and daily health snapshots per
        // server and day, and the lines of each device attempt on both sides. Take them off
        // first so that small corpora land near the size asked for too.
        // Probes and health facts of every server and day, and the attempts' lines, do not
        // scale with --size; refuse what cannot come out near the size asked for.
        let per_server_day = files * FIXED_PER_SERVER_DAY;
        let per_attempts = attempts.len() as u64 * FIXED_PER_ATTEMPT;
        if per_server_day > opts.size / 2
            || per_attempts as f64 > opts.size as f64 * 2.0 * SHARE_DEVICES
        {
            let at_least =
                (per_server_day * 2).max((per_attempts as f64 / (2.0 * SHARE_DEVICES)) as u64);
            return Err(format!(
                "--size {} is too small for {} server(s) x {} day(s) and {} device(s): hourly \
                 probes, health facts and {} enrollment attempts take about {} bytes; ask for \
                 at least {} bytes, or fewer servers, days or devices",
                opts.size,
                opts.servers,
                opts.days,
                opts.devices,
                attempts.len(),
                per_server_day + per_attempts,
                at_least + 1
            ));
        }
        // The attempts' share comes out of the device noise, not out of the IIS budget: the
        // background traffic must not depend on --devices.
        let scalable = (opts.size - per_server_day) as f64;
        let iis_total = scalable * (SHARE_IIS + SHARE_DEVICES - device_share);
        let noise_total =
            (scalable * device_share - (attempts.len() as u64 * FIXED_PER_ATTEMPT) as f64).max(0.0);
        Ok(Plan {
            iis_per_file: (iis_total / files as f64) as u64,
            noise_per_device: if opts.devices == 0 {
                0
            } else {
                (noise_total / f64::from(opts.devices)) as u64
            },
            opts,
            days,
            servers,
            devices,
            attempts,
        })
    }

    pub(crate) fn end_us(&self) -> i64 {
        self.days
            .last()
            .map_or(0, |d| d.start_us + 86_400 * US_PER_SEC)
    }

    pub(crate) fn start_us(&self) -> i64 {
        self.days.first().map_or(0, |d| d.start_us)
    }
}

/// One request of an attempt, as both sides log it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub(crate) at_us: i64,
    pub(crate) op: Op,
    pub(crate) outcome: Outcome,
}

/// The requests of an attempt: where it stops is where the first one failed.
pub(crate) fn attempt_steps(plan: &Plan, a: &Attempt) -> ([Step; 3], usize) {
    let platform = plan
        .devices
        .get(a.device)
        .map_or(Platform::Android, |d| d.platform);
    let schedule: [(i64, Op); 3] = match platform {
        Platform::Android => [
            (1_610_000, Op::GetCaCaps),
            (2_380_000, Op::GetCaCert),
            (4_511_000, Op::PkiPost),
        ],
        Platform::Ios => [
            (80_000, Op::GetCaCert),
            (1_030_000, Op::GetCaCaps),
            (2_310_000, Op::PkiGet),
        ],
        Platform::Windows => [
            (1_020_000, Op::GetCaCaps),
            (1_300_000, Op::GetCaCert),
            (3_050_000, Op::PkiPost),
        ],
    };
    let mut steps = [Step {
        at_us: 0,
        op: Op::GetCaCaps,
        outcome: Outcome::Ok,
    }; 3];
    let mut n = 0;
    if a.blocked {
        return (steps, 0);
    }
    let Some(server) = plan.servers.get(a.server) else {
        return (steps, 0);
    };
    for (offset, op) in schedule {
        let at_us = a.at_us + offset;
        let outcome = server.outcome(a.day, op, at_us);
        if let Some(slot) = steps.get_mut(n) {
            *slot = Step { at_us, op, outcome };
        }
        n += 1;
        if outcome != Outcome::Ok {
            break;
        }
    }
    (steps, n)
}
