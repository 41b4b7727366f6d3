//! Batching: received messages are reduced to what storing and acknowledging them needs and
//! collected until a batch is full (messages or bytes) or its oldest message is due; a batch is
//! then stored (`store.rs`) and acknowledged as runs of consecutive stream sequences.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::Subject;
use async_nats::jetstream;
use bytes::Bytes;
use chrono::Utc;
use tracing::warn;

use crate::frontier::AckRun;

/// Bytes of an oversized message kept in `rejected_events`: enough to tell what it was.
pub const OVERSIZED_PREFIX_BYTES: usize = 1024;

/// A received message, reduced to what storing and acknowledging it needs.
pub(crate) struct Pending {
    pub(crate) subject: Subject,
    /// The body; of an oversized one, only its first [`OVERSIZED_PREFIX_BYTES`].
    pub(crate) payload: Bytes,
    /// The size of an oversized body, whose rest was dropped on receipt.
    pub(crate) oversized: Option<usize>,
    pub(crate) reply: Option<Subject>,
    pub(crate) stream_seq: u64,
    pub(crate) received_at: chrono::DateTime<Utc>,
}

/// The messages received and not yet handed to a store.
pub(crate) struct Batcher {
    pending: Vec<Pending>,
    /// Bytes of the pending messages' bodies.
    bytes: usize,
    /// Messages a batch holds at most (the flush size).
    capacity: usize,
    /// Bytes a batch holds at most.
    max_bytes: usize,
    /// When the oldest pending message was received.
    oldest: Option<Instant>,
}

impl Batcher {
    /// An empty batcher of batches of `capacity` messages or `max_bytes` bytes.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            pending: Vec::with_capacity(capacity),
            bytes: 0,
            capacity,
            max_bytes,
            oldest: None,
        }
    }

    /// Adds a received message; one without JetStream metadata is logged and dropped.
    /// `lag` is where the consumer's lag is kept.
    pub(crate) fn push(&mut self, message: jetstream::Message, lag: &AtomicU64) {
        let (stream_seq, received_at) = match message.info() {
            Ok(info) => {
                lag.store(info.pending, Ordering::Relaxed);
                (info.stream_sequence, info.published)
            }
            Err(e) => {
                // Not a JetStream delivery (no ack subject): nothing to store or acknowledge.
                warn!(error = %e, subject = %message.subject, "ignoring message without JetStream metadata");
                return;
            }
        };
        let message = message.message;
        let (payload, oversized) = if message.payload.len() > parwatch_proto::MAX_EVENT_BYTES {
            // A copy of the prefix: a slice would keep the whole body alive.
            let prefix = Bytes::copy_from_slice(&message.payload[..OVERSIZED_PREFIX_BYTES]);
            (prefix, Some(message.payload.len()))
        } else {
            (message.payload, None)
        };
        self.bytes += payload.len() + message.subject.len();
        self.pending.push(Pending {
            subject: message.subject,
            payload,
            oversized,
            reply: message.reply,
            stream_seq,
            received_at,
        });
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Whether the oldest pending message has waited long enough.
    pub(crate) fn due(&self, interval: Duration) -> bool {
        self.oldest.is_some_and(|t| t.elapsed() >= interval)
    }

    /// Whether the pending messages fill a batch.
    pub(crate) fn is_full(&self) -> bool {
        self.pending.len() >= self.capacity || self.bytes >= self.max_bytes
    }

    /// Number of pending messages.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Takes every pending message as a batch, if there is any.
    pub(crate) fn take(&mut self) -> Option<Vec<Pending>> {
        if self.pending.is_empty() {
            return None;
        }
        let pending = std::mem::replace(&mut self.pending, Vec::with_capacity(self.capacity));
        self.bytes = 0;
        self.oldest = None;
        Some(pending)
    }
}

/// The messages as runs of consecutive stream sequences, in the order received.
pub(crate) fn ack_runs(pending: Vec<Pending>) -> Vec<AckRun> {
    let mut runs: Vec<AckRun> = Vec::new();
    for p in pending {
        match runs.last_mut() {
            Some(run) if run.hi.checked_add(1) == Some(p.stream_seq) => {
                run.hi = p.stream_seq;
                run.reply = p.reply;
            }
            _ => runs.push(AckRun {
                lo: p.stream_seq,
                hi: p.stream_seq,
                reply: p.reply,
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(seqs: &[u64]) -> Vec<Pending> {
        seqs.iter()
            .map(|&seq| Pending {
                subject: Subject::from("par.events.v1.dossier.late"),
                payload: Bytes::new(),
                oversized: None,
                reply: Some(Subject::from(format!("ack.{seq}"))),
                stream_seq: seq,
                received_at: Utc::now(),
            })
            .collect()
    }

    #[test]
    fn runs_join_consecutive_sequences_and_keep_the_last_ack_subject() {
        let runs = ack_runs(pending(&[3, 4, 5, 9, 10, 2]));
        let spans: Vec<_> = runs
            .iter()
            .map(|r| (r.lo, r.hi, r.reply.as_ref().unwrap().to_string()))
            .collect();
        assert_eq!(
            spans,
            [
                (3, 5, "ack.5".to_owned()),
                (9, 10, "ack.10".to_owned()),
                (2, 2, "ack.2".to_owned())
            ]
        );
    }
}
