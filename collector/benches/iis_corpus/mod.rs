//! A deterministic IIS W3C log for the IIS benchmarks: NDES traffic as the troubleshooting
//! guide shows it (mscep.dll GetCACaps / GetCACert / PKIOperation from Android, iOS and Windows
//! clients, statuses 200 / 500 / 503), about 177 bytes a line on average.
//!
//! The `#Fields:` line leaves out `cs(Referer)` (a common IIS configuration), which puts
//! `sc-status` in column 11: the column the awk comparison counts.

/// Header block written at the top of the file.
pub const HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\n\
#Version: 1.0\n\
#Date: 2026-11-20 00:00:00\n\
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken\n";

const USER_AGENTS: [&str; 8] = [
    "Dalvik/2.1.0+(Linux;+U;+Android+12;+TC52+Build/11-49-13.00)",
    "Dalvik/2.1.0+(Linux;+U;+Android+14;+Pixel+7+Build/UQ1A.240205.004)",
    "Dalvik/2.1.0+(Linux;+U;+Android+5.0;+P01M+Build/LRX21V)",
    "profiled/1.0+CFNetwork/1410.0.3+Darwin/22.6.0",
    "profiled/1.0+CFNetwork/811.5.4+Darwin/16.6.0",
    "dmd/1.0+CFNetwork/1494.0.7+Darwin/23.4.0",
    "Mozilla/4.0+(compatible;+Win32;+NDES+client)",
    "Mozilla/4.0+(compatible;+Win32;+NDES+client)",
];

/// SplitMix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Append `lines` request lines (after [`HEADER`]) to `out`, the same for the same arguments.
pub fn write(out: &mut Vec<u8>, lines: usize, seed: u64) {
    use std::io::Write;
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.extend_from_slice(HEADER.as_bytes());
    let mut rng = Rng(seed);
    let start = 1_795_132_800i64; // 2026-11-20 00:00:00 UTC
    for i in 0..lines {
        // Roughly 100 requests a second, so a few days of log.
        let t = start + (i as i64) / 100;
        let (sod, day) = (
            t.rem_euclid(86_400),
            20 + (t - start).div_euclid(86_400) % 10,
        );
        let (h, m, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
        let agent = rng.below(USER_AGENTS.len() as u64) as usize;
        let ua = USER_AGENTS[agent];
        // Each client family names the CA its own way (the guide's lines): jscep on Android
        // sends "ca", iOS "SCEP Authority", the Windows NDES client "default", and the Windows
        // client addresses .../mscep.dll/pkiclient.exe.
        let (ca_name, mscep) = match agent {
            0..=2 => ("ca", "/certsrv/mscep/mscep.dll"),
            3..=5 => ("SCEP%20Authority", "/certsrv/mscep/mscep.dll"),
            _ => ("default", "/certsrv/mscep/mscep.dll/pkiclient.exe"),
        };
        let client = match rng.below(20) {
            0 => format!(
                "fe80::{:x}:{:x}:{:x}:5fec%13",
                rng.below(65536),
                rng.below(65536),
                rng.below(65536)
            ),
            _ => format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256)
            ),
        };
        let (status, win32) = match rng.below(100) {
            0..=84 => (200, 0),
            85..=92 => (500, 1346),
            _ => (503, 0),
        };
        let (method, stem, query) = match rng.below(100) {
            0..=29 => (
                "GET",
                mscep,
                format!("operation=GetCACaps&message={ca_name}"),
            ),
            30..=59 => (
                "GET",
                mscep,
                format!("operation=GetCACert&message={ca_name}"),
            ),
            60..=94 => ("POST", mscep, "operation=PKIOperation".to_string()),
            95 => {
                let mut q = b"operation=PKIOperation&message=MIAGCSqGSIb3DQEHAqCAMIACAQEx".to_vec();
                for _ in 0..rng.below(200) {
                    q.push(B64[rng.below(64) as usize]);
                }
                ("GET", mscep, String::from_utf8(q).unwrap_or_default())
            }
            96..=97 => (
                "POST",
                "/CertificateRegistrationSvc/Certificate.svc/",
                "-".to_string(),
            ),
            _ => ("GET", "/certsrv/mscep_admin/", "-".to_string()),
        };
        let _ = writeln!(
            out,
            "2026-11-{day:02} {h:02}:{m:02}:{s:02} 10.0.0.{} {method} {stem} {query} 443 - {client} {ua} {status} 0 {win32} {}",
            4 + rng.below(4),
            rng.below(1000),
        );
    }
}
