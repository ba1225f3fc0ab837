//! Device logs: the Android OMADM log, the iOS `profiled` log and the Windows Admin channel
//! as Event Viewer text, each with noise lines and the device's enrollment attempts.

use super::*;

pub(crate) const ANDROID_NOISE: [(&str, &str, &str); 6] = [
    (
        "VERB",
        "com.microsoft.omadm.syncml.SyncmlSessionManager",
        "Starting OMA-DM session with the management service",
    ),
    (
        "VERB",
        "com.microsoft.omadm.syncml.SyncmlSessionManager",
        "OMA-DM session completed, 14 commands processed",
    ),
    (
        "INFO",
        "com.microsoft.omadm.platforms.android.wifimgr.WifiProfileManager",
        "Applying Wi-Fi profile Contoso-Corp (WPA2-Enterprise, EAP-TLS)",
    ),
    (
        "VERB",
        "com.microsoft.omadm.utils.NetworkStateReceiver",
        "Active network changed: WIFI, metered=false",
    ),
    (
        "INFO",
        "com.microsoft.omadm.client.tasks.CheckinScheduler",
        "Next check-in scheduled in 28800 seconds",
    ),
    (
        "VERB",
        "com.microsoft.omadm.platforms.android.policy.PasswordPolicyManager",
        "Password policy is compliant",
    ),
];
pub(crate) const IOS_NOISE: [&str; 5] = [
    "locationd: [com.apple.locationd.Core:Client] Client com.apple.weather authorized for when-in-use",
    "mdmclient: [com.apple.ManagedClient:MDMDaemon] Processing server request: DeviceInformation",
    "mdmclient: [com.apple.ManagedClient:MDMDaemon] Reporting status Acknowledged",
    "SpringBoard: [com.apple.SpringBoard:Backlight] Backlight state changed to on",
    "apsd: [com.apple.apsd:connection] Connected to courier 12-courier.push.apple.com",
];
pub(crate) const WINDOWS_NOISE: [(u32, &str); 3] = [
    (72, "MDM Enroll: Succeeded. Server: (https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx)."),
    (2800, "The Management Service session started. Session ID: (1). Sync type: (scheduled)."),
    (209, "MDM Session: OMA-DM session ended with status: (The operation completed successfully.)."),
];

/// Longest time between the first and the last device log line of one attempt.
pub(crate) const ATTEMPT_SPAN_US: i64 = 61 * US_PER_SEC;

pub(crate) struct DeviceWriter<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) template: Template,
    pub(crate) line: Vec<u8>,
}

impl DeviceWriter<'_> {
    pub(crate) fn write(
        &mut self,
        d: usize,
        attempts: &[Attempt],
        totals: &mut [Tally; 8],
    ) -> io::Result<u64> {
        let plan = self.plan;
        let device = &plan.devices[d];
        let mut rng = rng_for(plan.opts.seed, STREAM_DEVICE + (1 << 30) + d as u64);
        let dir = plan.opts.out.join(&device.name);
        let mut out = match device.platform {
            Platform::Android => Out::create(&dir.join("omadmlog.log"), Kind::Android, false)?,
            Platform::Ios => Out::create(&dir.join("profiled.log"), Kind::Ios, false)?,
            Platform::Windows => Out::create(
                &dir.join("DeviceManagement-Enterprise-Diagnostics-Provider-Admin.txt"),
                Kind::EventText,
                true,
            )?,
        };
        if device.platform == Platform::Ios {
            out.line(b"Timestamp                       Thread     Type        Activity             PID    TTL  ")?;
        }
        // Noise spread evenly over the whole period, attempts merged in.
        let (avg_noise, lines_per_noise) = match device.platform {
            Platform::Android => (165u64, 1),
            Platform::Ios => (175, 1),
            Platform::Windows => (560, 1),
        };
        let count = (plan.noise_per_device / avg_noise / lines_per_noise).max(1);
        let span = plan.end_us() - plan.start_us();
        let step = span / count as i64;
        let mut next_attempt = attempts.iter().peekable();
        // An attempt's lines span up to a minute (a blocked one waits for its timeout); noise
        // that would fall inside is moved after it, so the file stays sorted.
        let mut busy_until = i64::MIN;
        for k in 0..count as i64 {
            let at = plan.start_us() + k * step + rng.random_range(0..step.max(1));
            while let Some(a) = next_attempt.next_if(|a| a.at_us <= at) {
                self.attempt(&mut out, device, a)?;
                busy_until = a.at_us + ATTEMPT_SPAN_US;
            }
            self.noise(&mut out, device, at.max(busy_until), &mut rng)?;
        }
        for a in next_attempt {
            self.attempt(&mut out, device, a)?;
        }
        out.finish(totals)
    }

    pub(crate) fn noise(
        &mut self,
        out: &mut Out,
        device: &Device,
        at: i64,
        rng: &mut ChaCha8Rng,
    ) -> io::Result<()> {
        match device.platform {
            Platform::Android => {
                let (level, component, msg) =
                    ANDROID_NOISE[rng.random_range(0..ANDROID_NOISE.len())];
                self.android(out, device, at, level, component, msg.as_bytes())
            }
            Platform::Ios => {
                let msg = IOS_NOISE[rng.random_range(0..IOS_NOISE.len())];
                self.ios_raw(out, device, at, "Default", msg.as_bytes())
            }
            Platform::Windows => {
                let (id, msg) = WINDOWS_NOISE[rng.random_range(0..WINDOWS_NOISE.len())];
                self.windows_event(out, device, at, id, msg)
            }
        }
    }

    pub(crate) fn attempt(
        &mut self,
        out: &mut Out,
        device: &Device,
        a: &Attempt,
    ) -> io::Result<()> {
        let (steps, n) = attempt_steps(self.plan, a);
        let steps = &steps[..n];
        match device.platform {
            Platform::Android => self.android_attempt(out, device, a, steps),
            Platform::Ios => self.ios_attempt(out, device, a, steps),
            Platform::Windows => self.windows_event(
                out,
                device,
                a.at_us,
                36,
                &format!(
                    "SCEP: Certificate request generated successfully. Enhanced Key Usage: \
(1.3.6.1.5.5.7.3.2), NDES URL: ({ENDPOINT}/pkiclient.exe), Container Name: (), KSP Setting: \
(0x2), Store Location: (0x1)."
                ),
            ),
        }
    }

    pub(crate) fn android(
        &mut self,
        out: &mut Out,
        device: &Device,
        at: i64,
        level: &str,
        component: &str,
        msg: &[u8],
    ) -> io::Result<()> {
        self.line.clear();
        push_date(&mut self.line, at);
        self.line.push(b'T');
        push_hms(&mut self.line, us_of_day(at));
        self.line.push(b'.');
        push_padded(&mut self.line, (at.rem_euclid(US_PER_SEC) * 10) as u64, 7);
        self.line.extend_from_slice(b"  ");
        self.line.extend_from_slice(level.as_bytes());
        self.line.extend_from_slice(b"  Event  ");
        self.line.extend_from_slice(component.as_bytes());
        self.line.extend_from_slice(b"  ");
        push_u64(&mut self.line, u64::from(device.pid));
        self.line.extend_from_slice(b"    12  ");
        self.line.extend_from_slice(msg);
        out.line(&self.line)
    }

    pub(crate) fn android_attempt(
        &mut self,
        out: &mut Out,
        device: &Device,
        a: &Attempt,
        steps: &[Step],
    ) -> io::Result<()> {
        const CERTMGR: &str =
            "com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager";
        const GET: &str = "org.jscep.transport.UrlConnectionGetTransport";
        const POST: &str = "org.jscep.transport.UrlConnectionPostTransport";
        let t = a.at_us;
        self.android(out, device, t, "VERB", CERTMGR, b"There are 1 requests")?;
        let model = format!(
            "Trying to enroll certificate request: ModelName=AC_51bad41f-3854-4eb5-a2f2-0f7a94034ee8%2FLogicalName_{:08x};Hash={}",
            u32::from_be_bytes([a.txn[0], a.txn[1], a.txn[2], a.txn[3]]),
            u32::from_be_bytes([a.txn[4], a.txn[5], a.txn[6], a.txn[7]]) >> 1
        );
        self.android(out, device, t + 2_000, "VERB", CERTMGR, model.as_bytes())?;
        let mut when = t + 1_303_000;
        if a.blocked {
            let msg = format!("Sending GetCACaps(ca) to {ENDPOINT}?operation=GetCACaps&message=ca");
            self.android(out, device, when, "VERB", GET, msg.as_bytes())?;
            return self.android(
                out,
                device,
                when + 30_000_000,
                "ERROR",
                CERTMGR,
                b"Failed to enroll certificate: java.net.SocketTimeoutException: failed to connect to ndes-contoso.msappproxy.net/20.190.151.68 (port 443) after 30000ms",
            );
        }
        for step in steps {
            let (name, query): (&str, &str) = match step.op {
                Op::GetCaCaps => ("GetCACaps(ca)", "?operation=GetCACaps&message=ca"),
                Op::GetCaCert => ("GetCACert(ca)", "?operation=GetCACert&message=ca"),
                Op::PkiGet | Op::PkiPost => ("PKIOperation", "?operation=PKIOperation"),
            };
            if matches!(step.op, Op::PkiGet | Op::PkiPost) {
                self.line.clear();
                let mut msg = b"Encoding message: org.jscep.message.PkcsReq@2b06f45f[messageData=org.spongycastle.pkcs.PKCS10CertificationRequest@699b3cd,messageType=PKCS_REQ,senderNonce=Nonce [".to_vec();
                push_hex_upper(&mut msg, &a.txn[4..20]);
                msg.extend_from_slice(b"],transId=");
                push_hex_upper(&mut msg, &a.txn);
                msg.push(b']');
                self.android(
                    out,
                    device,
                    step.at_us - 800_000,
                    "VERB",
                    "org.jscep.message.PkiMessageEncoder",
                    &msg,
                )?;
                let signer = format!(
                    "Signing pkiMessage using key belonging to [dn=CN={}; serial=1]",
                    device.name
                );
                self.android(
                    out,
                    device,
                    step.at_us - 740_000,
                    "VERB",
                    "org.jscep.message.PkiMessageEncoder",
                    signer.as_bytes(),
                )?;
                self.android(
                    out,
                    device,
                    step.at_us - 660_000,
                    "VERB",
                    "org.jscep.transaction.EnrollmentTransaction",
                    b"Sending org.spongycastle.cms.CMSSignedData@ad57775",
                )?;
            } else {
                let msg = format!("Sending {name} to {ENDPOINT}{query}");
                self.android(out, device, when, "VERB", GET, msg.as_bytes())?;
            }
            let transport = if step.op == Op::PkiPost { POST } else { GET };
            let status = match step.outcome.status() {
                200 => "200 OK",
                500 => "500 Internal Server Error",
                503 => "503 Service Unavailable",
                404 => "404 Not Found",
                _ => "400 Bad Request",
            };
            let msg = format!("Received '{status}' when sending {name} to {ENDPOINT}{query}");
            self.android(
                out,
                device,
                step.at_us + 10_000,
                "VERB",
                transport,
                msg.as_bytes(),
            )?;
            when = step.at_us + 40_000;
        }
        Ok(())
    }

    pub(crate) fn ios_raw(
        &mut self,
        out: &mut Out,
        device: &Device,
        at: i64,
        kind: &str,
        msg: &[u8],
    ) -> io::Result<()> {
        let offset = i64::from(device.utc_offset_min) * 60 * US_PER_SEC;
        let local = at + offset;
        self.line.clear();
        push_date(&mut self.line, local);
        self.line.push(b' ');
        push_hms(&mut self.line, us_of_day(local));
        self.line.push(b'.');
        push_padded(&mut self.line, local.rem_euclid(US_PER_SEC) as u64, 6);
        let m = device.utc_offset_min;
        self.line.push(if m < 0 { b'-' } else { b'+' });
        push_2(&mut self.line, m.unsigned_abs() / 60);
        push_2(&mut self.line, m.unsigned_abs() % 60);
        self.line.extend_from_slice(b"  0x");
        push_u64(&mut self.line, u64::from(device.pid) * 7 + 100_000);
        self.line.extend_from_slice(b"   ");
        self.line.extend_from_slice(kind.as_bytes());
        for _ in kind.len()..12 {
            self.line.push(b' ');
        }
        self.line.extend_from_slice(b"0x0                  ");
        push_u64(&mut self.line, u64::from(device.pid));
        self.line.extend_from_slice(b"    0    ");
        self.line.extend_from_slice(msg);
        out.line(&self.line)
    }

    pub(crate) fn ios_attempt(
        &mut self,
        out: &mut Out,
        device: &Device,
        a: &Attempt,
        steps: &[Step],
    ) -> io::Result<()> {
        const SCEP: &str = "profiled: [com.apple.ManagedClient:SCEP] ";
        let url = |op: &str| {
            format!("{SCEP}Performing synchronous URL request: {ENDPOINT}?operation={op}&message=SCEP%20Authority")
        };
        if a.blocked {
            self.ios_raw(out, device, a.at_us, "Debug", url("GetCACert").as_bytes())?;
            return self.ios_raw(out, device, a.at_us + 60_000_000, "Error", format!("{SCEP}Could not retrieve CA certificate: Error Domain=NSURLErrorDomain Code=-1001 \"The request timed out.\"").as_bytes());
        }
        for step in steps {
            match step.op {
                Op::GetCaCert | Op::GetCaCaps => {
                    let name = if step.op == Op::GetCaCert {
                        "GetCACert"
                    } else {
                        "GetCACaps"
                    };
                    self.ios_raw(
                        out,
                        device,
                        step.at_us - 70_000,
                        "Debug",
                        url(name).as_bytes(),
                    )?;
                }
                Op::PkiGet | Op::PkiPost => {
                    self.ios_raw(
                        out,
                        device,
                        step.at_us - 520_000,
                        "Default",
                        format!("{SCEP}Attempting to retrieve issued certificate...").as_bytes(),
                    )?;
                    self.ios_raw(
                        out,
                        device,
                        step.at_us - 516_000,
                        "Debug",
                        format!("{SCEP}Sending CSR via GET.").as_bytes(),
                    )?;
                    let mut msg = format!("{SCEP}Performing synchronous URL request: {ENDPOINT}?operation=PKIOperation&message=").into_bytes();
                    let b64 = self.template.message_base64(&a.txn);
                    push_url_b64(&mut msg, b64);
                    self.ios_raw(out, device, step.at_us - 515_000, "Debug", &msg)?;
                }
            }
            if step.outcome != Outcome::Ok {
                let msg = format!(
                    "{SCEP}SCEP server returned HTTP status {}",
                    step.outcome.status()
                );
                self.ios_raw(out, device, step.at_us + 30_000, "Error", msg.as_bytes())?;
            }
        }
        Ok(())
    }

    pub(crate) fn windows_event(
        &mut self,
        out: &mut Out,
        device: &Device,
        at: i64,
        id: u32,
        description: &str,
    ) -> io::Result<()> {
        let secs = us_of_day(at) / US_PER_SEC;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let (y, mo, d) = civil_from_days(at.div_euclid(86_400 * US_PER_SEC));
        let hour12 = if h % 12 == 0 { 12 } else { h % 12 };
        let ampm = if h < 12 { "AM" } else { "PM" };
        let text = format!(
            "Log Name:      Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin\r\n\
Source:        Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider\r\n\
Date:          {mo}/{d}/{y} {hour12}:{m:02}:{s:02} {ampm}\r\n\
Event ID:      {id}\r\n\
Task Category: None\r\n\
Level:         Information\r\n\
Keywords:      \r\n\
User:          S-1-5-18\r\n\
Computer:      {}.contoso.com\r\n\
Description:\r\n\
{description}\r\n",
            device.name.to_ascii_uppercase()
        );
        out.raw(text.as_bytes())?;
        out.lines += 11;
        out.line(b"")
    }
}

pub(crate) fn write_devices(
    plan: &Plan,
    totals: &mut [Tally; 8],
    progress: &mut Progress,
) -> io::Result<()> {
    let mut by_device: Vec<Attempt> = plan.attempts.clone();
    by_device.sort_by_key(|a| (a.device, a.at_us));
    let mut writer = DeviceWriter {
        plan,
        template: Template::new(TEMPLATE_DER).map_err(io::Error::other)?,
        line: Vec::with_capacity(8 << 10),
    };
    let mut rest = by_device.as_slice();
    let mut bytes = 0;
    for d in 0..plan.devices.len() {
        let n = rest.partition_point(|a| a.device == d);
        let (mine, others) = rest.split_at(n);
        rest = others;
        bytes += writer.write(d, mine, totals)?;
    }
    if !plan.devices.is_empty() {
        progress.file(&format!("{} device logs", plan.devices.len()), bytes);
    }
    Ok(())
}
