//! Server sessions: the mscep.dll requests of one client, with one user agent, on one server.
//!
//! A session is keyed by (endpoint, server host, client address, user-agent family, digest of the
//! full user agent string). The full user agent is part of the key because behind an application
//! proxy every device has the connector's address: different device models and OS versions then
//! still fall into different sessions. Requests further apart than the attempt gap start a new
//! session.
//!
//! A session never keeps its requests. It folds them into [`Class`]es (operation, status,
//! substatus, Win32 status) with a count, the first and last time, and the first request as the
//! class's sample (its excerpt is the only text kept). Every fold is commutative: the earliest
//! `(time, id)` wins, counts add, so the summary is the same whatever order the requests arrive in.

use scepwatch_proto::v1::IisRequest;

use super::intern::{StrHasher, Sym};
use super::user_agent::UaFamily;
use super::watermark::SourceIdx;

/// Most distinct classes per session; further ones are only counted in [`Session::overflow`].
pub(crate) const MAX_CLASSES: usize = 32;

/// Most transactionIDs kept per session (the smallest, so the choice is order-independent).
pub(crate) const MAX_TRANSACTION_IDS: usize = 8;

/// Longest excerpt kept as the sample of a class of successful requests (a PKIOperation GET line
/// carries kilobytes of base64 nobody reads in a 200; failures keep the whole record).
pub(crate) const OK_SAMPLE_BYTES: usize = 512;

fn sample_text(excerpt: &str, status: u32) -> Box<str> {
    if status != 200 || excerpt.len() <= OK_SAMPLE_BYTES {
        return excerpt.into();
    }
    let mut end = OK_SAMPLE_BYTES;
    while !excerpt.is_char_boundary(end) {
        end -= 1;
    }
    excerpt.get(..end).unwrap_or("").into()
}

/// `(event time, event id)`: the total order every fold uses.
pub(crate) type EventKey = (i64, [u8; 16]);

/// Session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    pub endpoint: Sym,
    pub host: Sym,
    pub client: Sym,
    pub family: UaFamily,
    pub ua: u64,
}

/// The first request of a class, kept as evidence.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub key: EventKey,
    pub source: SourceIdx,
    pub excerpt: Box<str>,
}

/// Requests of one session sharing operation and status.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub operation: i32,
    pub status: u32,
    pub substatus: u32,
    pub win32: u32,
    pub count: u64,
    pub first: EventKey,
    pub last: EventKey,
    pub max_query: u32,
    pub sample: Sample,
}

/// One server session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub key: SessionKey,
    pub start: i64,
    pub end: i64,
    /// Earliest event: the attempt ID of a server-only attempt derives from it.
    pub first: EventKey,
    pub classes: Vec<Class>,
    pub overflow: u64,
    /// TransactionIDs as printed (trimmed), sorted.
    pub tx: Vec<Box<str>>,
    /// [`tx_bloom`] of `tx`: most sessions share no transactionID with a device attempt, and
    /// this tells so without reading their text.
    pub tx_bloom: u64,
    pub events: u64,
}

/// The form of a transactionID matched across logs: the text as printed, trimmed. It is not
/// case-folded: iOS and other clients send base64 text, where case matters, and jscep's hex
/// transIds are printed by the Android log exactly as the message carries them.
pub(crate) fn normalize_tx(tx: &str) -> Option<Box<str>> {
    let t = tx.trim();
    if t.is_empty() {
        return None;
    }
    Some(t.into())
}

/// One bit per transactionID (a 64-bit Bloom filter): two sets whose filters share no bit share
/// no transactionID.
pub(crate) fn tx_bloom<'a>(txs: impl IntoIterator<Item = &'a str>) -> u64 {
    use std::hash::BuildHasher;
    let b = std::hash::BuildHasherDefault::<StrHasher>::default();
    txs.into_iter()
        .fold(0, |acc, t| acc | 1u64 << (b.hash_one(t) >> 58))
}

/// Adds `tx` (allocating only when it is kept); true when the set changed.
fn insert_tx(set: &mut Vec<Box<str>>, tx: &str) -> bool {
    let Err(pos) = set.binary_search_by(|t| (**t).cmp(tx)) else {
        return false;
    };
    if set.len() < MAX_TRANSACTION_IDS {
        set.insert(pos, tx.into());
    } else if pos < set.len() {
        set.insert(pos, tx.into());
        set.pop();
    } else {
        return false;
    }
    true
}

impl Session {
    pub(crate) fn new(key: SessionKey, t: i64, id: [u8; 16]) -> Self {
        Session {
            key,
            start: t,
            end: t,
            first: (t, id),
            classes: Vec::new(),
            overflow: 0,
            tx: Vec::new(),
            tx_bloom: 0,
            events: 0,
        }
    }

    /// True when a request at `t` belongs to this session (within `gap` of its span).
    pub(crate) fn accepts(&self, t: i64, gap: i64) -> bool {
        t >= self.start.saturating_sub(gap) && t <= self.end.saturating_add(gap)
    }

    /// Folds one request in. Allocates only for a new class or a new earliest sample.
    pub(crate) fn add(
        &mut self,
        t: i64,
        id: [u8; 16],
        source: SourceIdx,
        r: &IisRequest,
        excerpt: &str,
    ) {
        let key = (t, id);
        self.events += 1;
        self.start = self.start.min(t);
        self.end = self.end.max(t);
        if key < self.first {
            self.first = key;
        }
        let query = r.query_length.max(r.uri_query.len() as u32);
        let n_classes = self.classes.len();
        let found = self.classes.iter_mut().find(|c| {
            c.operation == r.operation
                && c.status == r.status
                && c.substatus == r.substatus
                && c.win32 == r.win32_status
        });
        match found {
            Some(c) => {
                c.count += 1;
                c.max_query = c.max_query.max(query);
                if key > c.last {
                    c.last = key;
                }
                if key < c.first {
                    c.first = key;
                    c.sample = Sample {
                        key,
                        source,
                        excerpt: sample_text(excerpt, r.status),
                    };
                }
            }
            None if n_classes < MAX_CLASSES => self.classes.push(Class {
                operation: r.operation,
                status: r.status,
                substatus: r.substatus,
                win32: r.win32_status,
                count: 1,
                first: key,
                last: key,
                max_query: query,
                sample: Sample {
                    key,
                    source,
                    excerpt: sample_text(excerpt, r.status),
                },
            }),
            None => self.overflow += 1,
        }
        if let Some(scep) = &r.scep {
            let tx = scep.transaction_id.trim();
            if !tx.is_empty() && insert_tx(&mut self.tx, tx) {
                self.tx_bloom = tx_bloom(self.tx.iter().map(|t| &**t));
            }
        }
    }

    /// Folds `other` (same key) into this session.
    pub(crate) fn merge(&mut self, other: Session) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.first = self.first.min(other.first);
        self.events += other.events;
        self.overflow += other.overflow;
        for c in other.classes {
            let n_classes = self.classes.len();
            let found = self.classes.iter_mut().find(|x| {
                x.operation == c.operation
                    && x.status == c.status
                    && x.substatus == c.substatus
                    && x.win32 == c.win32
            });
            match found {
                Some(x) => {
                    x.count += c.count;
                    x.max_query = x.max_query.max(c.max_query);
                    x.last = x.last.max(c.last);
                    if c.first < x.first {
                        x.first = c.first;
                        x.sample = c.sample;
                    }
                }
                None if n_classes < MAX_CLASSES => self.classes.push(c),
                None => self.overflow += c.count,
            }
        }
        for tx in &other.tx {
            insert_tx(&mut self.tx, tx);
        }
        self.tx_bloom = tx_bloom(self.tx.iter().map(|t| &**t));
    }

    /// True when the session carries one of `txs` (both sorted, as printed), whose
    /// [`tx_bloom`] is `bloom`.
    pub(crate) fn shares_tx(&self, txs: &[Box<str>], bloom: u64) -> bool {
        self.tx_bloom & bloom != 0 && self.tx.iter().any(|t| txs.binary_search(t).is_ok())
    }

    /// Rough heap size.
    pub(crate) fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Session>()
            + self
                .classes
                .iter()
                .map(|c| std::mem::size_of::<Class>() + c.sample.excerpt.len())
                .sum::<usize>()
            + self.tx.iter().map(|t| t.len() + 16).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scepwatch_proto::v1::{ScepMessageInfo, ScepOperation};

    fn key() -> SessionKey {
        SessionKey {
            endpoint: 0,
            host: 1,
            client: 2,
            family: UaFamily::Android,
            ua: 7,
        }
    }

    fn req(op: ScepOperation, status: u32, tx: &str) -> IisRequest {
        IisRequest {
            operation: op as i32,
            status,
            scep: (!tx.is_empty()).then(|| ScepMessageInfo {
                transaction_id: tx.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn folds_by_class_and_keeps_earliest_sample() {
        let mut s = Session::new(key(), 10, [1; 16]);
        s.add(
            10,
            [1; 16],
            0,
            &req(ScepOperation::GetCaCaps, 200, ""),
            "line10",
        );
        s.add(
            5,
            [2; 16],
            0,
            &req(ScepOperation::GetCaCaps, 200, ""),
            "line5",
        );
        s.add(
            20,
            [3; 16],
            0,
            &req(ScepOperation::PkiOperation, 200, "ab12"),
            "line20",
        );
        assert_eq!(s.classes.len(), 2);
        assert_eq!(s.classes[0].count, 2);
        assert_eq!(&*s.classes[0].sample.excerpt, "line5");
        assert_eq!((s.start, s.end), (5, 20));
        assert_eq!(s.tx, vec![Box::from("ab12")]);
    }

    #[test]
    fn merge_is_order_independent() {
        let reqs = [
            (1, ScepOperation::GetCaCaps, 200, "x1"),
            (2, ScepOperation::GetCaCert, 200, "x2"),
            (3, ScepOperation::PkiOperation, 500, "x3"),
            (4, ScepOperation::GetCaCaps, 200, "x4"),
        ];
        let build = |order: &[usize]| {
            let mut a = Session::new(key(), 100, [9; 16]);
            let mut b = Session::new(key(), 100, [9; 16]);
            for (n, &i) in order.iter().enumerate() {
                let (t, op, st, ex) = reqs[i];
                let target = if n % 2 == 0 { &mut a } else { &mut b };
                target.add(t, [t as u8; 16], 0, &req(op, st, ""), ex);
            }
            a.merge(b);
            let mut v: Vec<_> = a
                .classes
                .iter()
                .map(|c| {
                    (
                        c.operation,
                        c.status,
                        c.count,
                        c.first,
                        c.last,
                        c.sample.excerpt.clone(),
                    )
                })
                .collect();
            v.sort();
            (v, a.start, a.end)
        };
        assert_eq!(build(&[0, 1, 2, 3]), build(&[3, 2, 1, 0]));
        assert_eq!(build(&[0, 1, 2, 3]), build(&[1, 3, 0, 2]));
    }

    #[test]
    fn transaction_ids_are_capped_to_the_smallest() {
        let mut s = Session::new(key(), 0, [0; 16]);
        for i in (0..20).rev() {
            s.add(
                i,
                [i as u8; 16],
                0,
                &req(ScepOperation::PkiOperation, 200, &format!("t{i:02}")),
                "",
            );
        }
        assert_eq!(s.tx.len(), MAX_TRANSACTION_IDS);
        assert_eq!(&*s.tx[0], "t00");
        let probe = |t: &str| s.shares_tx(&[Box::from(t)], tx_bloom([t]));
        assert!(probe("t03"));
        assert!(!probe("T03"), "case matters in base64");
        assert!(!probe("t19"));
        assert_eq!(s.tx_bloom, tx_bloom(s.tx.iter().map(|t| &**t)));
    }
}
