//! The ack frontier: which stream sequences are stored, so that the worker's cumulative ack
//! (`AckPolicy::All`) never covers a message that is not. Fed by the stores as batches become
//! durable; `ack.rs` sends the acks it allows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::Subject;

/// Consecutive stream sequences `lo..=hi`, with the ack subject of the last one.
#[derive(Debug)]
pub(crate) struct AckRun {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) reply: Option<Subject>,
}

/// Tracks which stream sequences are stored, so a cumulative ack never covers a message that
/// is not: after a crash, messages delivered to the dead process come back only after the ack
/// wait, possibly behind newer ones, and acking the newer ones first would lose them.
pub(crate) struct AckFrontier {
    /// Every sequence at or below this is stored (or acknowledged before we started).
    pub(crate) floor: u64,
    /// Stored runs reaching above the floor, by first sequence.
    above: BTreeMap<u64, AckRun>,
    /// The newest redelivery at or below the floor, to acknowledge again.
    reack: Option<(u64, Subject)>,
    /// Since when stored messages wait for an earlier one.
    blocked_since: Option<Instant>,
}

impl AckFrontier {
    pub(crate) fn new(floor: u64) -> Self {
        Self {
            floor,
            above: BTreeMap::new(),
            reack: None,
            blocked_since: None,
        }
    }

    pub(crate) fn stored(&mut self, run: AckRun) {
        if run.hi > self.floor {
            // The same run delivered again (a redelivery) replaces it: its ack subject is newer.
            match self.above.get(&run.lo) {
                Some(known) if known.hi > run.hi => {}
                _ => {
                    self.above.insert(run.lo, run);
                }
            }
        } else if let Some(reply) = run.reply
            && self.reack.as_ref().is_none_or(|(s, _)| run.hi >= *s)
        {
            self.reack = Some((run.hi, reply));
        }
    }

    pub(crate) fn take_reack(&mut self) -> Option<(u64, Subject)> {
        self.reack.take()
    }

    /// Whether stored messages have waited for an earlier one for longer than `limit`.
    pub(crate) fn blocked_longer_than(&self, limit: Duration) -> bool {
        self.blocked_since.is_some_and(|t| t.elapsed() > limit)
    }

    /// Restarts the wait (the missing message still exists).
    pub(crate) fn waited(&mut self) {
        self.blocked_since = Some(Instant::now());
    }

    /// Treats `seq`, which the stream no longer holds, as done.
    pub(crate) fn skip(&mut self, seq: u64) {
        self.above.entry(seq).or_insert(AckRun {
            lo: seq,
            hi: seq,
            reply: None,
        });
    }

    /// Raises the floor over the stored runs that join it; returns the new floor and its ack
    /// subject when it moved.
    pub(crate) fn advance(&mut self) -> Option<(u64, Subject)> {
        let mut last = None;
        while let Some(entry) = self.above.first_entry() {
            if *entry.key() > self.floor + 1 {
                break;
            }
            let run = entry.remove();
            if run.hi > self.floor {
                self.floor = run.hi;
                if let Some(reply) = run.reply {
                    last = Some((run.hi, reply));
                }
            }
        }
        self.blocked_since = match (self.above.is_empty(), self.blocked_since) {
            (true, _) => None,
            (false, None) => Some(Instant::now()),
            (false, since) => since,
        };
        last
    }

    /// Whether stored messages wait for an earlier one.
    pub(crate) fn waiting(&self) -> bool {
        !self.above.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lo: u64, hi: u64) -> AckRun {
        AckRun {
            lo,
            hi,
            reply: Some(Subject::from(format!("ack.{hi}"))),
        }
    }

    #[test]
    fn frontier_never_acks_past_a_gap() {
        let mut f = AckFrontier::new(10);
        f.stored(run(14, 16));
        assert_eq!(f.advance(), None, "11..13 are not stored yet");
        f.stored(run(11, 12));
        assert_eq!(f.advance().map(|(s, _)| s), Some(12));
        f.stored(run(13, 13));
        f.stored(run(9, 9));
        assert_eq!(f.advance().map(|(s, _)| s), Some(16));
        assert!(!f.waiting());
        // Sequence 9 came again (a redelivery): its fresh ack subject is used once.
        assert_eq!(f.take_reack().map(|(s, _)| s), Some(9));
        assert_eq!(f.take_reack(), None);
    }

    #[test]
    fn redelivered_and_overlapping_runs_ack_once_with_the_newest_subject() {
        let mut f = AckFrontier::new(10);
        f.stored(run(12, 14));
        f.stored(AckRun {
            reply: Some(Subject::from("ack.14.again")),
            ..run(12, 14)
        });
        f.stored(run(13, 15));
        assert_eq!(f.advance(), None, "11 is not stored yet");
        f.stored(run(11, 11));
        assert_eq!(
            f.advance().map(|(s, r)| (s, r.to_string())),
            Some((15, "ack.15".to_owned()))
        );
        assert!(!f.waiting());
        f.stored(run(11, 12));
        f.stored(AckRun {
            reply: Some(Subject::from("ack.12.again")),
            ..run(11, 12)
        });
        assert_eq!(f.advance(), None, "nothing new above the floor");
        assert_eq!(
            f.take_reack().map(|(s, r)| (s, r.to_string())),
            Some((12, "ack.12.again".to_owned()))
        );
    }

    #[test]
    fn a_message_gone_from_the_stream_is_stepped_over() {
        let mut f = AckFrontier::new(0);
        f.stored(run(2, 2));
        assert_eq!(f.advance(), None);
        assert!(f.blocked_since.is_some());
        f.skip(1);
        assert_eq!(f.advance().map(|(s, _)| s), Some(2));
        assert!(!f.blocked_longer_than(Duration::ZERO));
    }
}
