//! Server logs: one IIS file per day, and the HTTPERR, Application event, health and probe
//! files that run across days, written in time order from one event queue per server.

use super::*;

/// Something due at a time on one server: a line to write or a state change.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item {
    Scep {
        op: Op,
        platform: Platform,
        ua: u8,
        client: [u8; 4],
        /// Tracked attempts carry their outcome and transactionID; background requests take
        /// the server's state at the time.
        tracked: Option<(Outcome, [u8; 20])>,
    },
    /// The plugin's VerifyRequest after a PKIOperation; `tracked` as for the request.
    Verify {
        tracked: bool,
    },
    HealthCheck,
    AdminChallenge,
    AdminPage,
    Probe,
    Idle {
        client: [u8; 4],
    },
    AppEvent {
        which: u8,
    },
    Snapshot,
    IncidentStart(u8),
    IncidentEnd(u8),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) at_us: i64,
    pub(crate) seq: u64,
    pub(crate) item: Item,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_us, self.seq).cmp(&(other.at_us, other.seq))
    }
}

/// The files of one server that stay open across days.
pub(crate) struct ServerFiles {
    pub(crate) httperr: Out,
    pub(crate) events: Out,
    pub(crate) health: Out,
    pub(crate) probe: Out,
    pub(crate) event_record: u64,
}

pub(crate) struct ServerWriter<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) template: Template,
    pub(crate) server: usize,
    pub(crate) day: usize,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) heap: BinaryHeap<Reverse<Pending>>,
    pub(crate) seq: u64,
    pub(crate) line: Vec<u8>,
    pub(crate) text: String,
    /// IIS bytes of tracked attempts today: left out of the pacing, so that the background
    /// traffic is the same whatever --devices says.
    pub(crate) tracked_bytes: u64,
}

impl<'a> ServerWriter<'a> {
    pub(crate) fn push(&mut self, at_us: i64, item: Item) {
        self.seq += 1;
        self.heap.push(Reverse(Pending {
            at_us,
            seq: self.seq,
            item,
        }));
    }

    pub(crate) fn server(&self) -> &'a Server {
        &self.plan.servers[self.server]
    }

    pub(crate) fn day_start(&self) -> i64 {
        self.plan.days[self.day].start_us
    }

    /// Writes one day's IIS file, and that day's lines of the other server files.
    pub(crate) fn write_day(
        &mut self,
        files: &mut ServerFiles,
        iis: &mut Out,
        attempts: &mut std::iter::Peekable<std::slice::Iter<'_, Attempt>>,
    ) -> io::Result<()> {
        let day_start = self.day_start();
        let day_end = day_start + 86_400 * US_PER_SEC;
        self.iis_header(iis, day_start)?;
        // The day's fixed schedule: health snapshot, hourly probes, incidents.
        self.push(day_start + 6 * 3600 * US_PER_SEC, Item::Snapshot);
        for hour in 0..24 {
            self.push(day_start + (hour * 3600 + 300) * US_PER_SEC, Item::Probe);
        }
        for (i, inc) in self.server().incidents[self.day].iter().enumerate() {
            self.push(inc.start_us, Item::IncidentStart(i as u8));
            self.push(inc.end_us, Item::IncidentEnd(i as u8));
        }

        let budget = self.plan.iis_per_file;
        let mut clock = day_start;
        let mut arrivals: u64 = 0;
        self.tracked_bytes = 0;
        // Sessions never start in the last seconds of the day, so no line spills into the
        // next day's file.
        let last_start = day_end - 10 * US_PER_SEC;
        loop {
            let written = iis.bytes - self.tracked_bytes;
            let per_arrival = if arrivals == 0 {
                450.0
            } else {
                written as f64 / arrivals as f64
            };
            let next = if written >= budget {
                day_end
            } else {
                let left_us = (day_end - clock) as f64;
                let left_arrivals = (budget - written) as f64 / per_arrival.max(1.0);
                let gap = left_us / left_arrivals.max(1.0) * self.rng.random_range(0.2..1.8);
                clock + (gap as i64).max(1)
            };
            let next = next.min(day_end);
            // Tracked attempts first, then everything due, then the new arrival.
            while let Some(a) = attempts.next_if(|a| a.day == self.day && a.at_us <= next) {
                self.push_attempt(a);
            }
            while let Some(Reverse(p)) = self.heap.peek().copied() {
                if p.at_us > next {
                    break;
                }
                self.heap.pop();
                self.write_item(p, files, iis)?;
            }
            if next >= last_start {
                break;
            }
            clock = next;
            arrivals += 1;
            self.arrival(clock);
        }
        while let Some(a) = attempts.next_if(|a| a.day == self.day) {
            self.push_attempt(a);
        }
        while let Some(Reverse(p)) = self.heap.pop() {
            self.write_item(p, files, iis)?;
        }
        Ok(())
    }

    pub(crate) fn iis_header(&mut self, iis: &mut Out, day_start: i64) -> io::Result<()> {
        iis.line(b"#Software: Microsoft Internet Information Services 10.0")?;
        iis.line(b"#Version: 1.0")?;
        self.line.clear();
        self.line.extend_from_slice(b"#Date: ");
        push_date(&mut self.line, day_start);
        self.line.extend_from_slice(b" 00:00:00");
        iis.line(&self.line)?;
        iis.line(
            b"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username \
c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
        )
    }

    pub(crate) fn push_attempt(&mut self, a: &Attempt) {
        let (steps, n) = attempt_steps(self.plan, a);
        let Some(device) = self.plan.devices.get(a.device) else {
            return;
        };
        for step in steps.iter().take(n) {
            self.push(
                step.at_us,
                Item::Scep {
                    op: step.op,
                    platform: device.platform,
                    ua: device.ua as u8,
                    client: CONNECTORS[a.device % CONNECTORS.len()],
                    tracked: Some((step.outcome, a.txn)),
                },
            );
        }
    }

    /// Something new happens on the server at `at`.
    pub(crate) fn arrival(&mut self, at: i64) {
        let roll: f64 = self.rng.random();
        if roll < HTTPERR_IDLE_PER_ARRIVAL {
            let client = if self.rng.random_bool(0.5) {
                CONNECTORS[self.rng.random_range(0..CONNECTORS.len())]
            } else {
                [
                    10,
                    64,
                    self.rng.random_range(0..64),
                    self.rng.random_range(1..255),
                ]
            };
            self.push(at, Item::Idle { client });
            return;
        }
        let roll: f64 = self.rng.random();
        if roll < APP_EVENT_PER_ARRIVAL {
            let which = self.rng.random_range(0..3);
            self.push(at, Item::AppEvent { which });
        } else if roll < 0.12 {
            self.push(at, Item::HealthCheck);
        } else if roll < 0.125 {
            self.push(at, Item::AdminChallenge);
            self.push(at + 350_000, Item::AdminPage);
        } else {
            let roll: f64 = self.rng.random();
            let platform = if roll < 0.5 {
                Platform::Android
            } else if roll < 0.8 {
                Platform::Ios
            } else {
                Platform::Windows
            };
            let ua = self.rng.random_range(0..platform.user_agents().len()) as u8;
            let client = if self.rng.random_bool(0.75) {
                CONNECTORS[self.rng.random_range(0..CONNECTORS.len())]
            } else {
                [
                    10,
                    64,
                    self.rng.random_range(0..64),
                    self.rng.random_range(1..255),
                ]
            };
            let (first, second) = match platform {
                Platform::Ios => (Op::GetCaCert, Op::GetCaCaps),
                _ => (Op::GetCaCaps, Op::GetCaCert),
            };
            let pki = if platform == Platform::Ios && self.rng.random_bool(IOS_LONG_GET) {
                Op::PkiGet
            } else {
                Op::PkiPost
            };
            let mut t = at;
            for op in [first, second, pki] {
                self.push(
                    t,
                    Item::Scep {
                        op,
                        platform,
                        ua,
                        client,
                        tracked: None,
                    },
                );
                t += self.rng.random_range(200_000..1_500_000);
            }
        }
    }

    pub(crate) fn write_item(
        &mut self,
        p: Pending,
        files: &mut ServerFiles,
        iis: &mut Out,
    ) -> io::Result<()> {
        let at = p.at_us;
        match p.item {
            Item::Scep {
                op,
                platform,
                ua,
                client,
                tracked,
            } => {
                // Tracked attempts draw nothing from the server's stream, so the background
                // traffic does not depend on --devices.
                let (outcome, txn, jitter) = match tracked {
                    Some((outcome, txn)) => (outcome, txn, u32::from(txn[19])),
                    None => {
                        let mut txn = [0u8; 20];
                        if op == Op::PkiGet {
                            self.rng.fill(&mut txn);
                        }
                        let jitter = self.rng.random_range(0..256);
                        (self.server().outcome(self.day, op, at), txn, jitter)
                    }
                };
                if outcome == Outcome::Offline {
                    return self.httperr_offline(files, at, client, op, platform);
                }
                let before = iis.bytes;
                self.iis_scep(iis, at, op, platform, ua, client, outcome, &txn, jitter)?;
                if tracked.is_some() {
                    self.tracked_bytes += iis.bytes - before;
                }
                if outcome == Outcome::Ok && matches!(op, Op::PkiGet | Op::PkiPost) {
                    let tracked = tracked.is_some();
                    self.push(at + 60_000, Item::Verify { tracked });
                }
                Ok(())
            }
            Item::Verify { tracked } => {
                let before = iis.bytes;
                self.iis_simple(
                    iis,
                    at,
                    b"POST",
                    b"/CertificateRegistrationSvc/Certificate/VerifyRequest",
                    b"-",
                    LOOPBACK,
                    "-",
                    200,
                    0,
                    62,
                )?;
                if tracked {
                    self.tracked_bytes += iis.bytes - before;
                }
                Ok(())
            }
            Item::HealthCheck => {
                self.iis_simple(iis, at, b"GET", b"/", b"-", LOAD_BALANCER, "-", 200, 0, 0)
            }
            Item::AdminChallenge => self.iis_simple(
                iis,
                at,
                b"GET",
                b"/certsrv/",
                b"-",
                ADMIN_IP,
                ADMIN_UA,
                401,
                2,
                3,
            ),
            Item::AdminPage => self.iis_simple(
                iis,
                at,
                b"GET",
                b"/certsrv/",
                b"CONTOSO\\pkiadmin",
                ADMIN_IP,
                ADMIN_UA,
                200,
                0,
                118,
            ),
            Item::Probe => self.probe(files, iis, at),
            Item::Idle { client } => {
                self.line.clear();
                self.httperr_prefix(at, client);
                self.line
                    .extend_from_slice(b"- - - - - - Timer_ConnectionIdle -");
                files.httperr.line(&self.line)
            }
            Item::AppEvent { which } => self.benign_event(files, at, which),
            Item::Snapshot => self.snapshot(files, at),
            Item::IncidentStart(i) => self.incident(files, at, i, true),
            Item::IncidentEnd(i) => self.incident(files, at, i, false),
        }
    }

    pub(crate) fn iis_prefix(&mut self, at: i64, method: &[u8], stem: &[u8]) {
        let day = &self.plan.days[self.day];
        self.line.clear();
        self.line.extend_from_slice(&day.date);
        self.line.push(b' ');
        push_hms(&mut self.line, at - day.start_us);
        self.line.push(b' ');
        let ip = self.server().ip;
        push_ip(&mut self.line, ip);
        self.line.push(b' ');
        self.line.extend_from_slice(method);
        self.line.push(b' ');
        self.line.extend_from_slice(stem);
        self.line.push(b' ');
    }

    pub(crate) fn iis_suffix(&mut self, status: u16, sub: u16, win32: u32, taken: u32) {
        self.line.extend_from_slice(b" - ");
        push_u64(&mut self.line, u64::from(status));
        self.line.push(b' ');
        push_u64(&mut self.line, u64::from(sub));
        self.line.push(b' ');
        push_u64(&mut self.line, u64::from(win32));
        self.line.push(b' ');
        push_u64(&mut self.line, u64::from(taken));
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn iis_simple(
        &mut self,
        iis: &mut Out,
        at: i64,
        method: &[u8],
        stem: &[u8],
        user: &[u8],
        client: [u8; 4],
        ua: &str,
        status: u16,
        sub: u16,
        taken: u32,
    ) -> io::Result<()> {
        self.iis_prefix(at, method, stem);
        self.line.extend_from_slice(b"- 443 ");
        self.line.extend_from_slice(user);
        self.line.push(b' ');
        push_ip(&mut self.line, client);
        self.line.push(b' ');
        self.line.extend_from_slice(ua.as_bytes());
        let win32 = if status == 401 { 5 } else { 0 };
        self.iis_suffix(status, sub, win32, taken);
        iis.line(&self.line)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn iis_scep(
        &mut self,
        iis: &mut Out,
        at: i64,
        op: Op,
        platform: Platform,
        ua: u8,
        client: [u8; 4],
        outcome: Outcome,
        txn: &[u8; 20],
        jitter: u32,
    ) -> io::Result<()> {
        let windows = platform == Platform::Windows;
        let method: &[u8] = if op == Op::PkiPost { b"POST" } else { b"GET" };
        let stem = if windows { MSCEP_PKICLIENT } else { MSCEP };
        self.iis_prefix(at, method, stem);
        let message = platform.ca_message();
        // time-taken in ms from a 0..256 jitter.
        let taken: u32 = match op {
            Op::GetCaCaps => 15 + jitter * 45 / 256,
            Op::GetCaCert => 20 + jitter * 70 / 256,
            Op::PkiGet | Op::PkiPost => 150 + jitter * 750 / 256,
        };
        match op {
            Op::GetCaCaps | Op::GetCaCert => {
                self.line.extend_from_slice(if op == Op::GetCaCaps {
                    b"operation=GetCACaps&message="
                } else {
                    b"operation=GetCACert&message="
                });
                self.line.extend_from_slice(message);
            }
            Op::PkiPost => self.line.extend_from_slice(b"operation=PKIOperation"),
            Op::PkiGet => {
                self.line
                    .extend_from_slice(b"operation=PKIOperation&message=");
                let b64 = self.template.message_base64(txn);
                push_url_b64(&mut self.line, b64);
            }
        }
        self.line.extend_from_slice(b" 443 - ");
        push_ip(&mut self.line, client);
        self.line.push(b' ');
        let uas = platform.user_agents();
        self.line
            .extend_from_slice(uas[usize::from(ua) % uas.len()].as_bytes());
        let (status, sub, win32) = match outcome {
            Outcome::Ok => (200, 0, 0),
            Outcome::Http { status, sub, win32 } => (status, sub, win32),
            Outcome::Offline => (503, 0, 0),
        };
        let taken = if outcome == Outcome::Ok { taken } else { 2 };
        self.iis_suffix(status, sub, win32, taken);
        iis.line(&self.line)
    }

    pub(crate) fn httperr_prefix(&mut self, at: i64, client: [u8; 4]) {
        let day = &self.plan.days[self.day];
        self.line.extend_from_slice(&day.date);
        self.line.push(b' ');
        push_hms(&mut self.line, at - day.start_us);
        self.line.push(b' ');
        push_ip(&mut self.line, client);
        self.line.push(b' ');
        let port = 49152 + (at / 1000 % 16000) as u64;
        push_u64(&mut self.line, port);
        self.line.push(b' ');
        let ip = self.server().ip;
        push_ip(&mut self.line, ip);
        self.line.extend_from_slice(b" 443 ");
    }

    pub(crate) fn httperr_offline(
        &mut self,
        files: &mut ServerFiles,
        at: i64,
        client: [u8; 4],
        op: Op,
        platform: Platform,
    ) -> io::Result<()> {
        self.line.clear();
        self.httperr_prefix(at, client);
        let method: &[u8] = if op == Op::PkiPost { b"POST" } else { b"GET" };
        self.line.extend_from_slice(b"HTTP/1.1 ");
        self.line.extend_from_slice(method);
        self.line.push(b' ');
        self.line
            .extend_from_slice(if platform == Platform::Windows {
                MSCEP_PKICLIENT
            } else {
                MSCEP
            });
        self.line.extend_from_slice(match op {
            Op::GetCaCaps => b"?operation=GetCACaps&message=".as_slice(),
            Op::GetCaCert => b"?operation=GetCACert&message=".as_slice(),
            // HTTP.sys logs at most 4096 bytes of URL; the message is not worth repeating.
            Op::PkiGet | Op::PkiPost => b"?operation=PKIOperation".as_slice(),
        });
        if matches!(op, Op::GetCaCaps | Op::GetCaCert) {
            self.line.extend_from_slice(platform.ca_message());
        }
        self.line.extend_from_slice(b" - 503 1 AppOffline SCEP");
        files.httperr.line(&self.line)
    }

    pub(crate) fn probe(
        &mut self,
        files: &mut ServerFiles,
        iis: &mut Out,
        at: i64,
    ) -> io::Result<()> {
        let outcome = self.server().outcome(self.day, Op::GetCaCaps, at);
        let (status, body) = match outcome {
            Outcome::Ok => (
                403,
                "<html><head><title>403 - Forbidden: Access is denied.</title></head><body>\
<h2>403 - Forbidden: Access is denied.</h2><h3>You do not have permission to view this \
directory or page using the credentials that you supplied.</h3></body></html>",
            ),
            Outcome::Http { status: 500, .. } => (
                500,
                "<html><head><title>500 - Internal server error.</title></head><body><h2>500 - \
Internal server error.</h2></body></html>",
            ),
            _ => (
                503,
                "<HTML><HEAD><TITLE>Service Unavailable</TITLE></HEAD><BODY><h2>Service \
Unavailable</h2><hr><p>HTTP Error 503. The service is unavailable.</p></BODY></HTML>",
            ),
        };
        if outcome == Outcome::Offline {
            self.line.clear();
            self.httperr_prefix(at, self.server().ip);
            self.line.extend_from_slice(
                b"HTTP/1.1 GET /certsrv/mscep/mscep.dll - 503 1 AppOffline SCEP",
            );
            files.httperr.line(&self.line)?;
        } else {
            let (sub, win32) = match outcome {
                Outcome::Http { sub, win32, .. } => (sub, win32),
                _ => (0, 0),
            };
            self.iis_prefix(at, b"GET", MSCEP);
            self.line.extend_from_slice(b"- 443 - ");
            let ip = self.server().ip;
            push_ip(&mut self.line, ip);
            self.line.push(b' ');
            self.line.extend_from_slice(PROBE_UA.as_bytes());
            self.iis_suffix(status, sub, win32, 7);
            iis.line(&self.line)?;
        }
        let elapsed = 30 + (at / 1000 % 40);
        self.text.clear();
        let _ = write!(
            self.text,
            "{{\"time\":\"{}\",\"url\":\"https://{}.contoso.com/certsrv/mscep/mscep.dll\",\
\"check\":\"browse\",\"status\":{status},\"substatus\":0,\"body\":{},\"error\":null,\
\"elapsed_ms\":{elapsed}}}",
            rfc3339(at + elapsed * 1000),
            self.server().name,
            json_string(body),
        );
        files.probe.line(self.text.as_bytes())
    }

    pub(crate) fn snapshot(&mut self, files: &mut ServerFiles, at: i64) -> io::Result<()> {
        let server = self.server();
        let time = rfc3339(at);
        let limit = if server.low_limits {
            (4096, 2048, 0)
        } else {
            (65534, 65534, 65534)
        };
        let name = &server.name;
        let (y, _, _) = self.plan.days[self.day].ymd;
        let lines = [
            format!(
                "{{\"time\":\"{time}\",\"fact\":\"request_limits\",\"max_url\":{},\
\"max_query_string\":{},\"max_field_length\":{},\"max_request_bytes\":{}}}",
                limit.0, limit.1, limit.2, limit.2
            ),
            format!(
                "{{\"time\":\"{time}\",\"fact\":\"service\",\"kind\":\"app_pool\",\"name\":\"SCEP\",\
\"display_name\":\"SCEP\",\"state\":\"Started\",\"start_type\":\"Automatic\"}}"
            ),
            format!(
                "{{\"time\":\"{time}\",\"fact\":\"service_account\",\"account\":\"CONTOSO\\\\svc-ndes\",\
\"locked_out\":false,\"password_expired\":false,\"disabled\":false,\
\"password_expires\":\"{}-06-30T09:00:00Z\"}}",
                y + 1
            ),
            format!(
                "{{\"time\":\"{time}\",\"fact\":\"iis_authentication\",\
\"path\":\"Default Web Site/CertificateRegistrationSvc\",\"anonymous_enabled\":true,\
\"windows_enabled\":false}}"
            ),
            cert_fact(&time, "ra_encryption", name, y, "1.3.6.1.4.1.311.20.2.1", 0x11),
            cert_fact(&time, "ra_signing", name, y, "1.3.6.1.4.1.311.20.2.1", 0x22),
            cert_fact(&time, "ndes_policy", name, y, "1.3.6.1.5.5.7.3.2", 0x33),
        ];
        for line in lines {
            files.health.line(line.as_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn incident(
        &mut self,
        files: &mut ServerFiles,
        at: i64,
        i: u8,
        start: bool,
    ) -> io::Result<()> {
        let Some(inc) = self.server().incidents[self.day]
            .get(usize::from(i))
            .copied()
        else {
            return Ok(());
        };
        if inc.kind != IncidentKind::PoolCrash {
            return Ok(());
        }
        let time = rfc3339(at);
        if start {
            // Up to three crashes close together, then rapid-fail protection stops the pool.
            let pid = 0x1000 + (at / 1000 % 0x7000) as u64;
            for k in 0..3i64 {
                let t = at + k * 6 * US_PER_SEC;
                self.crash_event(files, t, pid + k as u64)?;
                self.line.clear();
                self.httperr_prefix(t, CONNECTORS[0]);
                self.line.extend_from_slice(
                    b"HTTP/1.1 GET /certsrv/mscep/mscep.dll?operation=GetCACert&message=ca - - 1 \
Connection_Abandoned_By_AppPool SCEP",
                );
                files.httperr.line(&self.line)?;
            }
        }
        let state = if start { "Stopped" } else { "Started" };
        let fact_time = if start {
            rfc3339(at + OFFLINE_AFTER_US)
        } else {
            time
        };
        self.text.clear();
        let _ = write!(
            self.text,
            "{{\"time\":\"{fact_time}\",\"fact\":\"service\",\"kind\":\"app_pool\",\"name\":\"SCEP\",\
\"display_name\":\"SCEP\",\"state\":\"{state}\",\"start_type\":\"Automatic\"}}"
        );
        files.health.line(self.text.as_bytes())
    }

    pub(crate) fn event_head(&mut self, kind: &EventKind, at: i64, record: u64) {
        let computer = format!("{}.contoso.com", self.server().name);
        let sub_us = at.rem_euclid(US_PER_SEC);
        let EventKind {
            provider,
            guid,
            id,
            level,
            task,
        } = kind;
        self.text.clear();
        let _ = write!(
            self.text,
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='{provider}'{guid}/><EventID Qualifiers='0'>{id}</EventID><Version>0</Version>\
<Level>{level}</Level><Task>{task}</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords>\
<TimeCreated SystemTime='{}.{sub_us:06}0Z'/><EventRecordID>{record}</EventRecordID>\
<Correlation/><Execution ProcessID='0' ThreadID='0'/><Channel>Application</Channel>\
<Computer>{computer}</Computer><Security/></System><EventData>",
            rfc3339_seconds(at),
        );
    }

    pub(crate) fn crash_event(
        &mut self,
        files: &mut ServerFiles,
        at: i64,
        pid: u64,
    ) -> io::Result<()> {
        files.event_record += 1;
        let record = files.event_record;
        self.event_head(&APP_CRASH, at, record);
        let _ = write!(
            self.text,
            "<Data Name='AppName'>w3wp.exe</Data><Data Name='AppVersion'>10.0.20348.1</Data>\
<Data Name='AppTimeStamp'>5215df96</Data><Data Name='ModuleName'>ntdll.dll</Data>\
<Data Name='ModuleVersion'>10.0.20348.2849</Data><Data Name='ModuleTimeStamp'>59ba86db</Data>\
<Data Name='ExceptionCode'>c0000005</Data><Data Name='FaultingOffset'>000000000002b1f4</Data>\
<Data Name='ProcessId'>0x{pid:x}</Data><Data Name='ProcessCreationTime'>0x1db3b2c9e0d1a2b</Data>\
<Data Name='AppPath'>c:\\windows\\system32\\inetsrv\\w3wp.exe</Data>\
<Data Name='ModulePath'>C:\\Windows\\SYSTEM32\\ntdll.dll</Data>\
<Data Name='IntegratorReportId'>8c1e0f52-3b7a-4d2e-9f41-{record:012x}</Data>\
<Data Name='PackageFullName'></Data><Data Name='PackageRelativeAppId'></Data></EventData></Event>"
        );
        files.events.line(self.text.as_bytes())
    }

    pub(crate) fn benign_event(
        &mut self,
        files: &mut ServerFiles,
        at: i64,
        which: u8,
    ) -> io::Result<()> {
        files.event_record += 1;
        let record = files.event_record;
        let (provider, id, data): (&str, u32, &str) = match which {
            0 => (
                "Microsoft-Windows-Security-SPP",
                16384,
                "<Data>2126-10-27T07:02:15Z</Data><Data>RulesEngine</Data>",
            ),
            1 => (
                "Microsoft-Windows-RestartManager",
                10000,
                "<Data>3212</Data><Data>2026-11-20T07:02:15.000000000Z</Data>",
            ),
            _ => (
                "SceCli",
                1704,
                "<Data>Security policy in the Group policy objects has been applied successfully.</Data>",
            ),
        };
        let kind = EventKind {
            provider,
            guid: "",
            id,
            level: 4,
            task: 0,
        };
        self.event_head(&kind, at, record);
        self.text.push_str(data);
        self.text.push_str("</EventData></Event>");
        files.events.line(self.text.as_bytes())
    }
}

/// The `System` fields that tell one Application log event kind from another.
pub(crate) struct EventKind {
    pub(crate) provider: &'static str,
    /// ` Guid='{...}'` for manifest providers, empty for classic ones.
    pub(crate) guid: &'static str,
    pub(crate) id: u32,
    pub(crate) level: u8,
    pub(crate) task: u32,
}

/// Event 1000 of "Application Error": a process crashed.
pub(crate) const APP_CRASH: EventKind = EventKind {
    provider: "Application Error",
    guid: " Guid='{a0e9b465-b939-57d7-b27d-95d8e925ff57}'",
    id: 1000,
    level: 2,
    task: 100,
};

pub(crate) fn cert_fact(
    time: &str,
    role: &str,
    server: &str,
    year: i64,
    eku: &str,
    salt: u8,
) -> String {
    let mut thumb = String::with_capacity(40);
    for (i, b) in server
        .bytes()
        .chain(role.bytes())
        .cycle()
        .take(20)
        .enumerate()
    {
        let _ = write!(
            thumb,
            "{:02X}",
            b.wrapping_mul(31).wrapping_add(salt ^ i as u8)
        );
    }
    let subject = if role == "ndes_policy" {
        format!("CN={server}.contoso.com")
    } else {
        format!(
            "CN={}-MSCEP-RA, O=Contoso, C=US",
            server.to_ascii_uppercase()
        )
    };
    let dns = if role == "ndes_policy" {
        format!("\"{server}.contoso.com\"")
    } else {
        String::new()
    };
    format!(
        "{{\"time\":\"{time}\",\"fact\":\"certificate\",\"role\":\"{role}\",\
\"store\":\"LocalMachine\\\\My\",\"thumbprint\":\"{thumb}\",\"subject\":\"{subject}\",\
\"issuer\":\"CN=Contoso Issuing CA, DC=contoso, DC=com\",\"not_before\":\"{}-03-01T10:00:00Z\",\
\"not_after\":\"{}-03-01T10:00:00Z\",\"eku\":[\"{eku}\"],\"dns_names\":[{dns}]}}",
        year - 1,
        year + 1
    )
}

pub(crate) fn rfc3339_seconds(us: i64) -> String {
    let mut buf = Vec::with_capacity(19);
    push_date(&mut buf, us);
    buf.push(b'T');
    push_hms(&mut buf, us_of_day(us));
    String::from_utf8_lossy(&buf).into_owned()
}

pub(crate) fn rfc3339(us: i64) -> String {
    let millis = us.rem_euclid(US_PER_SEC) / 1000;
    if millis == 0 {
        format!("{}Z", rfc3339_seconds(us))
    } else {
        format!("{}.{millis:03}Z", rfc3339_seconds(us))
    }
}

pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

pub(crate) fn write_server(
    plan: &Plan,
    server: usize,
    totals: &mut [Tally; 8],
    progress: &mut Progress,
) -> io::Result<()> {
    let s = &plan.servers[server];
    let root = plan.opts.out.join(&s.name);
    let mut files = ServerFiles {
        httperr: Out::create(
            &root.join("Windows/System32/LogFiles/HTTPERR/httperr1.log"),
            Kind::HttpErr,
            true,
        )?,
        events: Out::create(
            &root.join("eventlogs/Application.xml"),
            Kind::EventXml,
            true,
        )?,
        health: Out::create(&root.join("health.jsonl"), Kind::Health, false)?,
        probe: Out::create(&root.join("probe.jsonl"), Kind::Probe, false)?,
        event_record: 40_000,
    };
    files.httperr.line(b"#Software: Microsoft HTTP API 2.0")?;
    files.httperr.line(b"#Version: 1.0")?;
    let mut head = b"#Date: ".to_vec();
    push_date(&mut head, plan.start_us());
    head.extend_from_slice(b" 00:00:00");
    files.httperr.line(&head)?;
    files.httperr.line(
        b"#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid \
sc-status s-siteid s-reason s-queuename",
    )?;

    let first = plan.attempts.partition_point(|a| a.server < server);
    let last = plan.attempts.partition_point(|a| a.server <= server);
    let mut attempts = plan.attempts[first..last].iter().peekable();
    let mut writer = ServerWriter {
        plan,
        template: Template::new(TEMPLATE_DER).map_err(io::Error::other)?,
        server,
        day: 0,
        rng: rng_for(plan.opts.seed, STREAM_PLAN),
        heap: BinaryHeap::with_capacity(1024),
        seq: 0,
        line: Vec::with_capacity(8 << 10),
        text: String::with_capacity(4 << 10),
        tracked_bytes: 0,
    };
    for (d, day) in plan.days.iter().enumerate() {
        writer.day = d;
        writer.rng = rng_for(
            plan.opts.seed,
            STREAM_SERVER_DAY + (server as u64) * 1024 + d as u64,
        );
        let name = format!("u_ex{}.log", String::from_utf8_lossy(&day.yymmdd));
        let path = root.join("inetpub/logs/LogFiles/W3SVC1").join(&name);
        let mut iis = Out::create(&path, Kind::Iis, true)?;
        writer.write_day(&mut files, &mut iis, &mut attempts)?;
        let bytes = iis.finish(totals)?;
        progress.file(&format!("{}/{name}", s.name), bytes);
    }
    for out in [files.httperr, files.events, files.health, files.probe] {
        let bytes = out.finish(totals)?;
        progress.add(bytes);
    }
    Ok(())
}
