//! Joining a device attempt to the server sessions of its endpoint.
//!
//! 1. **Transaction ID**: every closed, unjoined session of the endpoint that carries one of the
//!    device attempt's transactionIDs joins it (`TransactionId`, `High`). Several servers may
//!    share one (a load balancer spreading the steps).
//! 2. **Fallback**: otherwise, candidate sessions have the device's user-agent family and a span
//!    overlapping the attempt's span widened by the join window (device clocks drift; the client
//!    address cannot be compared: device logs do not know their public address, and behind the
//!    application proxy IIS sees the connector's). A session whose own transactionIDs differ
//!    from the device's is not a candidate. One candidate: `Fallback`, `Medium`; several: the
//!    closest in time (ties: larger overlap, then host, client, start, first event) with `Low`.
//! 3. Nothing: `DeviceOnly`, `High` (there was nothing to confuse).

use super::device::Segment;
use super::intern::Interner;
use super::session::{tx_bloom, Session};
use super::user_agent::UaFamily;
use crate::model::{Confidence, JoinMethod};

/// The outcome of a join: method, confidence, indices of the sessions joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Join {
    pub method: JoinMethod,
    pub confidence: Confidence,
    pub sessions: Vec<usize>,
}

/// Distance in time between two spans (0 when they overlap).
fn distance(a: (i64, i64), b: (i64, i64)) -> i64 {
    if a.1 < b.0 {
        b.0 - a.1
    } else if b.1 < a.0 {
        a.0 - b.1
    } else {
        0
    }
}

fn overlap(a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0)
}

/// Whether a session of `sessions` carries one of `seg`'s transactionIDs (the first rule of
/// [`join`]).
pub(crate) fn shares_transaction(seg: &Segment, sessions: &[Session]) -> bool {
    if seg.tx.is_empty() {
        return false;
    }
    let bloom = tx_bloom(seg.tx.iter().map(|t| &**t));
    sessions.iter().any(|s| s.shares_tx(&seg.tx, bloom))
}

/// Chooses the sessions of `sessions` (closed, unjoined, same endpoint) that `seg` joins.
pub(crate) fn join(
    seg: &Segment,
    sessions: &[Session],
    names: &Interner,
    join_window_us: i64,
) -> Join {
    if !seg.tx.is_empty() {
        let bloom = tx_bloom(seg.tx.iter().map(|t| &**t));
        let hits: Vec<usize> = sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.shares_tx(&seg.tx, bloom))
            .map(|(i, _)| i)
            .collect();
        if !hits.is_empty() {
            return Join {
                method: JoinMethod::TransactionId,
                confidence: Confidence::High,
                sessions: hits,
            };
        }
    }
    let family = UaFamily::of_platform(seg.platform);
    let span = (seg.start, seg.end);
    let wide = (
        seg.start.saturating_sub(join_window_us),
        seg.end.saturating_add(join_window_us),
    );
    let mut candidates: Vec<usize> = sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.key.family == family
                && s.start <= wide.1
                && s.end >= wide.0
                && (s.tx.is_empty() || seg.tx.is_empty())
        })
        .map(|(i, _)| i)
        .collect();
    match candidates.len() {
        0 => Join {
            method: JoinMethod::DeviceOnly,
            confidence: Confidence::High,
            sessions: Vec::new(),
        },
        1 => Join {
            method: JoinMethod::Fallback,
            confidence: Confidence::Medium,
            sessions: candidates,
        },
        _ => {
            candidates.sort_by(|&a, &b| {
                let (sa, sb) = (&sessions[a], &sessions[b]);
                let ka = (
                    distance(span, (sa.start, sa.end)),
                    -overlap(span, (sa.start, sa.end)),
                );
                let kb = (
                    distance(span, (sb.start, sb.end)),
                    -overlap(span, (sb.start, sb.end)),
                );
                ka.cmp(&kb)
                    .then_with(|| names.name(sa.key.host).cmp(names.name(sb.key.host)))
                    .then_with(|| names.name(sa.key.client).cmp(names.name(sb.key.client)))
                    .then_with(|| sa.start.cmp(&sb.start))
                    .then_with(|| sa.first.cmp(&sb.first))
            });
            candidates.truncate(1);
            Join {
                method: JoinMethod::Fallback,
                confidence: Confidence::Low,
                sessions: candidates,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::session::SessionKey;
    use crate::model::Platform;

    const S: i64 = 1_000_000;

    fn session(
        names: &mut Interner,
        host: &str,
        family: UaFamily,
        start: i64,
        end: i64,
        tx: &[&str],
    ) -> Session {
        let key = SessionKey {
            endpoint: names.intern("ep"),
            host: names.intern(host),
            client: names.intern("10.0.0.5"),
            family,
            ua: 1,
        };
        let mut s = Session::new(key, start, [start as u8; 16]);
        s.end = end;
        s.tx = tx.iter().map(|t| Box::from(*t)).collect();
        s.tx_bloom = tx_bloom(tx.iter().copied());
        s
    }

    fn seg(platform: Platform, start: i64, end: i64, tx: &[&str]) -> Segment {
        Segment {
            keys: vec![],
            start,
            end,
            endpoint: None,
            platform,
            tx: tx.iter().map(|t| Box::from(*t)).collect(),
            followed: false,
        }
    }

    #[test]
    fn transaction_id_wins_over_time() {
        let mut n = Interner::default();
        let sessions = vec![
            session(&mut n, "a", UaFamily::Android, 100 * S, 110 * S, &[]),
            session(&mut n, "b", UaFamily::Android, 5000 * S, 5010 * S, &["TX1"]),
        ];
        let j = join(
            &seg(Platform::Android, 100 * S, 110 * S, &["TX1"]),
            &sessions,
            &n,
            120 * S,
        );
        assert_eq!(j.method, JoinMethod::TransactionId);
        assert_eq!(j.confidence, Confidence::High);
        assert_eq!(j.sessions, vec![1]);
    }

    #[test]
    fn fallback_one_candidate_is_medium() {
        let mut n = Interner::default();
        let sessions = vec![
            session(&mut n, "a", UaFamily::Android, 100 * S, 110 * S, &[]),
            session(&mut n, "a", UaFamily::Ios, 100 * S, 110 * S, &[]),
        ];
        let j = join(
            &seg(Platform::Android, 200 * S, 210 * S, &[]),
            &sessions,
            &n,
            120 * S,
        );
        assert_eq!(
            (j.method, j.confidence, j.sessions),
            (JoinMethod::Fallback, Confidence::Medium, vec![0])
        );
    }

    #[test]
    fn fallback_several_candidates_is_low_and_closest() {
        let mut n = Interner::default();
        let sessions = vec![
            session(&mut n, "a", UaFamily::Android, 100 * S, 110 * S, &[]),
            session(&mut n, "b", UaFamily::Android, 195 * S, 215 * S, &[]),
        ];
        let j = join(
            &seg(Platform::Android, 200 * S, 210 * S, &[]),
            &sessions,
            &n,
            120 * S,
        );
        assert_eq!(
            (j.method, j.confidence, j.sessions),
            (JoinMethod::Fallback, Confidence::Low, vec![1])
        );
    }

    #[test]
    fn outside_window_or_other_transaction_is_device_only() {
        let mut n = Interner::default();
        let sessions = vec![
            session(&mut n, "a", UaFamily::Android, 1000 * S, 1010 * S, &[]),
            session(&mut n, "a", UaFamily::Android, 200 * S, 210 * S, &["OTHER"]),
        ];
        let j = join(
            &seg(Platform::Android, 200 * S, 210 * S, &["MINE"]),
            &sessions,
            &n,
            120 * S,
        );
        assert_eq!(j.method, JoinMethod::DeviceOnly);
        assert!(j.sessions.is_empty());
    }
}
