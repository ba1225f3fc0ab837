//! How far each source has been read, and which time windows a server's logs cover.
//!
//! A source's **progress** is the event time up to which everything it will ever deliver has been
//! pushed: its explicit watermark's `read_up_to_us`, or, with
//! [`super::EngineConfig::implicit_watermarks`], the latest event time seen from it (valid when a
//! source is delivered in time order, as files read front to back and Kafka partitions are).
//! Progress decides when sessions close and attempts are finalized.
//!
//! A source's **coverage** is the interval of event time it has read: `[read_from_us,
//! read_up_to_us]` of its watermarks, widened by the events seen (implicit mode). A server's
//! coverage is the union over its IIS sources (daily rotated files are separate sources); row 2
//! ("blocked before NDES") is only concluded inside it.
//!
//! A source's **pending span** is the event time it may still deliver: after its progress, up to
//! the start of the next file of its rotation chain (IIS and HTTP.sys logs of one host and folder
//! rotate daily or by size; a newer file starts where the older one stopped) or forever for the
//! newest. A file is **finished** once a newer file of its chain has started to be delivered
//! after it: files of one chain are read one after another, so the older one was read to its
//! end. A file read after a newer one (out of order) stays pending until the end of input, so
//! the order files arrive in changes when results come out, never what they are.

use scepwatch_proto::v1::SourceKind;

use super::intern::Sym;

/// Index of a source in the engine's table.
pub(crate) type SourceIdx = u32;

/// What a source's events are used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// IIS W3C log of a server: sessions, coverage, progress.
    Iis,
    /// Other server logs (HTTPERR, event logs, SetupMsi, health): host context.
    ServerContext,
    /// A device log (Android, iOS, Windows DeviceManagement channel).
    Device,
    /// The active prober.
    Probe,
}

/// Name of a source kind as reports show it.
pub(crate) fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Iis => "iis",
        SourceKind::Httperr => "httperr",
        SourceKind::EventLog => "event-log",
        SourceKind::SetupMsi => "setup-msi",
        SourceKind::AndroidOmadm => "android-omadm",
        SourceKind::IosConsole => "ios-console",
        SourceKind::Probe => "probe",
        SourceKind::Health => "health",
        SourceKind::Unspecified => "unspecified",
    }
}

/// The role a source has from its kind and path alone (an event log becomes a device source when
/// it turns out to carry event 36).
pub(crate) fn initial_role(kind: SourceKind, path: &str) -> Role {
    match kind {
        SourceKind::Iis => Role::Iis,
        SourceKind::AndroidOmadm | SourceKind::IosConsole => Role::Device,
        SourceKind::Probe => Role::Probe,
        SourceKind::EventLog
            if path
                .as_bytes()
                .windows(16)
                .any(|w| w.eq_ignore_ascii_case(b"DeviceManagement")) =>
        {
            Role::Device
        }
        _ => Role::ServerContext,
    }
}

/// State of one source.
#[derive(Debug)]
pub(crate) struct SourceState {
    /// Host whose log it is (lower case).
    pub host: Sym,
    /// File path or channel.
    pub path: Sym,
    /// Kind name for evidence.
    pub kind_name: &'static str,
    /// Role.
    pub role: Role,
    wm_from: Option<i64>,
    wm_to: Option<i64>,
    seen_min: i64,
    seen_max: i64,
    /// Events pushed from it.
    pub events: u64,
    /// Endpoint IDs seen in its watermarks or events (device sources, probes).
    pub endpoint_hint: Option<Sym>,
    /// Last endpoint string → symbol.
    pub endpoint_cache: Option<(Box<str>, Sym)>,
    /// Rotation chain (folder of a rotated IIS / HTTP.sys log), `None` for other sources.
    pub chain: Option<Sym>,
    /// Order in which the source started to deliver (1, 2, ...; 0: nothing delivered yet).
    pub delivery: u64,
}

impl SourceState {
    pub(crate) fn new(host: Sym, path: Sym, kind_name: &'static str, role: Role) -> Self {
        SourceState {
            host,
            path,
            kind_name,
            role,
            wm_from: None,
            wm_to: None,
            seen_min: i64::MAX,
            seen_max: i64::MIN,
            events: 0,
            endpoint_hint: None,
            endpoint_cache: None,
            chain: None,
            delivery: 0,
        }
    }

    /// True once events or a watermark covering something arrived (an announcement does not
    /// count).
    pub(crate) fn delivered(&self) -> bool {
        self.delivery != 0
    }

    /// Earliest event time the source covers, if known.
    pub(crate) fn from(&self) -> Option<i64> {
        let seen = (self.events > 0).then_some(self.seen_min);
        match (self.wm_from, seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Progress of a source that delivered something: announcements excluded (they only say the
    /// source has nothing before its first record), so it measures how far reading has got.
    pub(crate) fn delivered_progress(&self, implicit: bool) -> Option<i64> {
        if self.delivered() {
            self.progress(implicit)
        } else {
            None
        }
    }

    /// Records an event at `t`.
    pub(crate) fn observe(&mut self, t: i64) {
        self.events += 1;
        if t < self.seen_min {
            self.seen_min = t;
        }
        if t > self.seen_max {
            self.seen_max = t;
        }
    }

    /// Latest event time seen.
    pub(crate) fn seen_max(&self) -> Option<i64> {
        (self.events > 0).then_some(self.seen_max)
    }

    /// Records a watermark. A `read_from_us` of 0 means "not known".
    pub(crate) fn watermark(&mut self, read_from_us: i64, read_up_to_us: i64) {
        if read_from_us != 0 {
            self.wm_from = Some(self.wm_from.map_or(read_from_us, |f| f.min(read_from_us)));
        }
        self.wm_to = Some(self.wm_to.map_or(read_up_to_us, |t| t.max(read_up_to_us)));
    }

    /// Progress (see the module doc); `None` when nothing is known.
    pub(crate) fn progress(&self, implicit: bool) -> Option<i64> {
        let seen = if implicit { self.seen_max() } else { None };
        match (self.wm_to, seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Covered interval of event time, if any.
    pub(crate) fn coverage(&self, implicit: bool) -> Option<(i64, i64)> {
        let seen = (self.events > 0).then_some((self.seen_min, self.seen_max));
        let explicit = self.wm_to.and_then(|to| {
            let from = self.wm_from.or(seen.map(|s| s.0))?;
            (from <= to).then_some((from, to))
        });
        match (explicit, if implicit { seen } else { None }) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (Some(x), None) | (None, Some(x)) => Some(x),
            (None, None) => None,
        }
    }
}

/// The rotation chain of a source of `kind` at `path`: its folder, for logs a server rotates (IIS
/// W3C, HTTP.sys), so that the files of one site or one log form a chain and those of two sites
/// do not.
pub(crate) fn chain_folder(kind: SourceKind, path: &str) -> Option<&str> {
    match kind {
        SourceKind::Iis | SourceKind::Httperr => Some(
            path.rfind(['/', '\\'])
                .and_then(|i| path.get(..i))
                .unwrap_or(""),
        ),
        _ => None,
    }
}

/// The parts of `[from, to]` not covered by `intervals`.
pub(crate) fn uncovered(mut intervals: Vec<(i64, i64)>, from: i64, to: i64) -> Vec<(i64, i64)> {
    intervals.sort_unstable();
    let mut missing = Vec::new();
    let mut cursor = from;
    for (a, b) in intervals {
        if b < cursor {
            continue;
        }
        if a > to {
            break;
        }
        if a > cursor {
            missing.push((cursor, a.min(to)));
        }
        cursor = cursor.max(b.saturating_add(1));
        if cursor > to {
            break;
        }
    }
    if cursor <= to {
        missing.push((cursor, to));
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_explicit_and_implicit() {
        let mut s = SourceState::new(0, 0, "iis", Role::Iis);
        assert_eq!(s.progress(true), None);
        s.observe(100);
        assert_eq!(s.progress(true), Some(100));
        assert_eq!(s.progress(false), None);
        s.watermark(50, 80);
        assert_eq!(s.progress(false), Some(80));
        assert_eq!(s.progress(true), Some(100));
        assert_eq!(s.coverage(false), Some((50, 80)));
        assert_eq!(s.coverage(true), Some((50, 100)));
    }

    #[test]
    fn unknown_read_from_uses_first_event() {
        let mut s = SourceState::new(0, 0, "iis", Role::Iis);
        s.watermark(0, 500);
        assert_eq!(s.coverage(false), None);
        s.observe(200);
        assert_eq!(s.coverage(false), Some((200, 500)));
    }

    #[test]
    fn announcement_covers_nothing() {
        let mut s = SourceState::new(0, 0, "iis", Role::Iis);
        s.watermark(1000, 999);
        assert_eq!(s.coverage(false), None);
        assert_eq!(s.progress(false), Some(999));
    }

    #[test]
    fn uncovered_spans() {
        assert_eq!(uncovered(vec![(0, 100)], 10, 20), vec![]);
        assert_eq!(uncovered(vec![], 10, 20), vec![(10, 20)]);
        assert_eq!(uncovered(vec![(0, 12), (15, 30)], 10, 20), vec![(13, 15)]);
        assert_eq!(uncovered(vec![(0, 12)], 10, 20), vec![(13, 20)]);
        assert_eq!(uncovered(vec![(15, 30)], 10, 20), vec![(10, 15)]);
    }

    #[test]
    fn chains_are_folders_of_rotated_logs() {
        assert_eq!(
            chain_folder(
                SourceKind::Iis,
                "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log"
            ),
            Some("C:\\inetpub\\logs\\LogFiles\\W3SVC1")
        );
        assert_eq!(
            chain_folder(SourceKind::Httperr, "ndes01/HTTPERR/httperr2.log"),
            Some("ndes01/HTTPERR")
        );
        assert_eq!(chain_folder(SourceKind::Iis, "u_ex261120.log"), Some(""));
        assert_eq!(
            chain_folder(SourceKind::EventLog, "logs/Application.xml"),
            None
        );
    }

    #[test]
    fn roles() {
        assert_eq!(initial_role(SourceKind::Iis, "u_ex.log"), Role::Iis);
        assert_eq!(
            initial_role(
                SourceKind::EventLog,
                "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin"
            ),
            Role::Device
        );
        assert_eq!(
            initial_role(SourceKind::EventLog, "Application"),
            Role::ServerContext
        );
        assert_eq!(
            initial_role(SourceKind::Health, "health"),
            Role::ServerContext
        );
    }
}
