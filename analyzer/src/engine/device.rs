//! Device attempts: the SCEP lines of one device log, cut into attempts.
//!
//! Device logs are small, so a device source keeps its records (sorted by time, position, ID)
//! until they are finalized; the cut is recomputed from the sorted records, which makes it
//! independent of arrival order. A new attempt starts at a gap longer than the attempt gap, at
//! Android's "There are N requests", at "Trying to enroll" once the attempt went past that, at an
//! iOS GetCACert (or GetCACaps) request after a PKIOperation, and at every Windows event 36.

use std::collections::BTreeMap;

use scepwatch_proto::v1::{AndroidStep, IosStep, ScepOperation};

use super::intern::Sym;
use super::session::normalize_tx;
use crate::model::Platform;
use crate::rule::{DeviceEvent, DevicePayload};

/// Ordering key of a device record: time, position in the source, event ID.
pub(crate) type DeviceKey = (i64, u64, [u8; 16]);

/// What a record means for cutting attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Nothing special.
    Plain,
    /// Android "There are N requests".
    RequestsPending,
    /// Android "Trying to enroll certificate request".
    EnrollStart,
    /// iOS request for the CA certificate or capabilities.
    IosCaFetch,
    /// iOS PKIOperation (URL request or "Sending CSR").
    IosPki,
    /// Windows event 36.
    Windows,
}

/// One device record.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRecord {
    pub endpoint: Option<Sym>,
    pub platform: Platform,
    pub marker: Marker,
    pub tx: Option<Box<str>>,
    pub event: DeviceEvent,
}

/// The marker of a payload.
pub(crate) fn marker(p: &DevicePayload) -> Marker {
    match p {
        DevicePayload::Android(a) => match a.step() {
            AndroidStep::RequestsPending => Marker::RequestsPending,
            AndroidStep::EnrollStart => Marker::EnrollStart,
            _ => Marker::Plain,
        },
        DevicePayload::Ios(i) => match (i.step(), i.operation()) {
            (IosStep::SendingCsrGet | IosStep::SendingCsrPost, _) => Marker::IosPki,
            (_, ScepOperation::PkiOperation) => Marker::IosPki,
            (_, ScepOperation::GetCaCert | ScepOperation::GetCaCaps) => Marker::IosCaFetch,
            _ => Marker::Plain,
        },
        DevicePayload::Windows(_) => Marker::Windows,
    }
}

/// The transactionID a payload carries, as printed (trimmed).
pub(crate) fn transaction_id(p: &DevicePayload) -> Option<Box<str>> {
    match p {
        DevicePayload::Android(a) => normalize_tx(&a.transaction_id),
        DevicePayload::Ios(i) => i
            .scep
            .as_ref()
            .and_then(|s| normalize_tx(&s.transaction_id)),
        DevicePayload::Windows(_) => None,
    }
}

/// The SCEP URL a payload names, if any.
pub(crate) fn url(p: &DevicePayload) -> &str {
    match p {
        DevicePayload::Android(a) => &a.url,
        DevicePayload::Ios(i) => &i.url,
        DevicePayload::Windows(w) => &w.ndes_url,
    }
}

/// The records of one device log not yet finalized.
#[derive(Debug, Default)]
pub(crate) struct DeviceSource {
    pub records: BTreeMap<DeviceKey, DeviceRecord>,
    /// End of the last finalized attempt: later records older than this are late.
    pub finalized_up_to: Option<i64>,
}

/// One attempt cut from a device source (keys of its records, in order).
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub keys: Vec<DeviceKey>,
    pub start: i64,
    pub end: i64,
    pub endpoint: Option<Sym>,
    pub platform: Platform,
    /// Sorted transactionIDs, as printed (trimmed).
    pub tx: Vec<Box<str>>,
    /// A later record of the same source exists (so the segment cannot grow any more).
    pub followed: bool,
}

impl DeviceSource {
    /// Cuts the pending records into attempts.
    pub(crate) fn segments(&self, gap: i64) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        let mut beyond_pending = false;
        let mut saw_pki = false;
        for (k, r) in &self.records {
            let t = k.0;
            let split = match out.last() {
                None => true,
                Some(cur) => {
                    t.saturating_sub(cur.end) > gap
                        || match r.marker {
                            Marker::RequestsPending => true,
                            Marker::EnrollStart => beyond_pending,
                            Marker::IosCaFetch => saw_pki,
                            Marker::Windows => true,
                            Marker::Plain | Marker::IosPki => false,
                        }
                }
            };
            if split {
                if let Some(prev) = out.last_mut() {
                    prev.followed = true;
                }
                out.push(Segment {
                    keys: Vec::new(),
                    start: t,
                    end: t,
                    endpoint: None,
                    platform: r.platform,
                    tx: Vec::new(),
                    followed: false,
                });
                beyond_pending = false;
                saw_pki = false;
            }
            let Some(cur) = out.last_mut() else { continue };
            cur.keys.push(*k);
            cur.end = cur.end.max(t);
            if cur.endpoint.is_none() {
                cur.endpoint = r.endpoint;
            }
            if let Some(tx) = &r.tx {
                if let Err(pos) = cur.tx.binary_search(tx) {
                    cur.tx.insert(pos, tx.clone());
                }
            }
            match r.marker {
                Marker::RequestsPending => {}
                Marker::IosPki => {
                    saw_pki = true;
                    beyond_pending = true;
                }
                _ => beyond_pending = true,
            }
        }
        out
    }

    /// Removes and returns the records of `seg`.
    pub(crate) fn take(&mut self, seg: &Segment) -> Vec<DeviceRecord> {
        let out: Vec<DeviceRecord> = seg
            .keys
            .iter()
            .filter_map(|k| self.records.remove(k))
            .collect();
        self.finalized_up_to = Some(self.finalized_up_to.map_or(seg.end, |f| f.max(seg.end)));
        out
    }

    /// Rough heap size.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.records
            .values()
            .map(|r| 400 + r.event.evidence.excerpt.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Evidence;
    use scepwatch_proto::v1::{AndroidScep, IosScep};

    fn rec(platform: Platform, payload: DevicePayload) -> DeviceRecord {
        DeviceRecord {
            endpoint: None,
            platform,
            marker: marker(&payload),
            tx: transaction_id(&payload),
            event: DeviceEvent {
                time_us: 0,
                evidence: Evidence {
                    event_id: String::new(),
                    time: String::new(),
                    time_us: 0,
                    host: String::new(),
                    source: String::new(),
                    kind: String::new(),
                    excerpt: String::new(),
                    note: String::new(),
                },
                payload,
            },
        }
    }

    fn android(step: AndroidStep) -> DeviceRecord {
        rec(
            Platform::Android,
            DevicePayload::Android(AndroidScep {
                step: step as i32,
                ..Default::default()
            }),
        )
    }

    fn ios(step: IosStep, op: ScepOperation) -> DeviceRecord {
        rec(
            Platform::Ios,
            DevicePayload::Ios(IosScep {
                step: step as i32,
                operation: op as i32,
                ..Default::default()
            }),
        )
    }

    const S: i64 = 1_000_000;

    #[test]
    fn android_cuts_at_requests_and_second_enroll() {
        let mut src = DeviceSource::default();
        let steps = [
            AndroidStep::RequestsPending,
            AndroidStep::EnrollStart,
            AndroidStep::Sending,
            AndroidStep::EnrollStart,
            AndroidStep::Sending,
            AndroidStep::RequestsPending,
            AndroidStep::EnrollStart,
        ];
        for (i, st) in steps.iter().enumerate() {
            src.records
                .insert((i as i64 * S, i as u64, [i as u8; 16]), android(*st));
        }
        let segs = src.segments(300 * S);
        let sizes: Vec<usize> = segs.iter().map(|s| s.keys.len()).collect();
        assert_eq!(sizes, vec![3, 2, 2]);
        assert!(segs[0].followed && segs[1].followed && !segs[2].followed);
    }

    #[test]
    fn ios_cuts_at_ca_fetch_after_pki() {
        let mut src = DeviceSource::default();
        let steps = [
            (IosStep::UrlRequest, ScepOperation::GetCaCert),
            (IosStep::UrlRequest, ScepOperation::GetCaCaps),
            (IosStep::SendingCsrGet, ScepOperation::Unspecified),
            (IosStep::UrlRequest, ScepOperation::PkiOperation),
            (IosStep::UrlRequest, ScepOperation::GetCaCert),
            (IosStep::UrlRequest, ScepOperation::GetCaCaps),
        ];
        for (i, (st, op)) in steps.iter().enumerate() {
            src.records
                .insert((i as i64 * S, i as u64, [i as u8; 16]), ios(*st, *op));
        }
        let sizes: Vec<usize> = src.segments(300 * S).iter().map(|s| s.keys.len()).collect();
        assert_eq!(sizes, vec![4, 2]);
    }

    #[test]
    fn gap_cuts() {
        let mut src = DeviceSource::default();
        src.records
            .insert((0, 0, [0; 16]), android(AndroidStep::Sending));
        src.records
            .insert((301 * S, 1, [1; 16]), android(AndroidStep::Sending));
        src.records
            .insert((602 * S, 2, [2; 16]), android(AndroidStep::Sending));
        assert_eq!(src.segments(300 * S).len(), 3);
        assert_eq!(src.segments(400 * S).len(), 1);
    }
}
