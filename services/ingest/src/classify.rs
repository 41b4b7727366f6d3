//! Validation of a batch: each message is checked against the contract (`parwatch-proto`), the
//! accepted time window and its publisher's rights; what is valid and new becomes an event,
//! the rest a rejection with its reason, and a message already stored is skipped. The batch is
//! then laid out as the lake's files. Runs in the store (`store.rs`), off the async threads.

use std::collections::HashMap;

use chrono::Utc;
use parwatch_lake::{Commit, DedupIndex, Prepared, RejectedMessage, StoredEvent};
use parwatch_proto::{Fault, Rejection, TimeWindow, validate_within};

use crate::batch::Pending;
use crate::publishers::{Publisher, Publishers, authorize};

/// What a batch's events are checked against besides the contract.
pub(crate) struct Rules {
    /// Who may publish what.
    pub(crate) publishers: Publishers,
    /// Earliest accepted `occurred_at`.
    pub(crate) occurred_after: chrono::DateTime<Utc>,
    /// Latest accepted `occurred_at`, as a time after now.
    pub(crate) occurred_ahead: chrono::Duration,
}

/// One batch of messages validated, deduplicated and laid out as files.
pub(crate) struct Classified {
    /// The new events and rejections, laid out as files.
    pub(crate) prepared: Prepared,
    /// New events.
    pub(crate) events: usize,
    /// Fault codes of the new rejections.
    pub(crate) faults: Vec<&'static str>,
    /// Messages already stored.
    pub(crate) duplicates: u64,
    /// The keys this batch added to the index, to forget if it is never stored.
    pub(crate) added: Added,
}

/// What a batch added to the dedupe index.
#[derive(Default)]
pub(crate) struct Added {
    events: Vec<u128>,
    rejected: Vec<(String, u64)>,
}

impl Added {
    /// Takes the batch's keys out of `index`: its write failed for good, so a redelivery of
    /// its messages (to this worker or, after a takeover, back to it) must be stored.
    pub(crate) fn forget(&self, index: &mut DedupIndex) {
        for &key in &self.events {
            index.remove_event(key);
        }
        for (subject, seq) in &self.rejected {
            index.remove_rejected(subject, *seq);
        }
    }
}

/// A subject's publisher and the public subject its events are validated against, or why it
/// names none (see [`Publishers::publisher_of`]).
type AttributedTo<'a> = Result<(&'a Publisher, String), Rejection>;

/// How many events ahead of its lookup in the index an event's memory is asked for.
const LOOKUP_AHEAD: usize = 8;

/// Validates each message; events and rejections not yet in the index go into the commit and
/// into the index (so a redelivery, in this batch or a later one, is skipped). Then lays the
/// commit out as files, unless `lay_out` is false (a benchmark's failpoint).
pub(crate) fn classify(
    pending: &[Pending],
    rules: &Rules,
    index: &mut DedupIndex,
    lay_out: bool,
) -> parwatch_lake::Result<Classified> {
    let mut commit = Commit {
        events: Vec::with_capacity(pending.len()),
        rejected: Vec::new(),
    };
    let mut duplicates = 0;
    let mut added = Added::default();
    let window = TimeWindow {
        earliest: rules.occurred_after,
        latest: Utc::now()
            .checked_add_signed(rules.occurred_ahead)
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC),
    };
    // A batch comes from a few subjects (its publishers' event types): each is read once.
    let mut attributed: HashMap<&str, AttributedTo<'_>, foldhash::fast::RandomState> =
        HashMap::default();
    for p in pending {
        let checked = match p.oversized {
            Some(size) => Err(Rejection::new(
                "body",
                Fault::TooLarge,
                format!(
                    "{size} bytes exceeds the limit of {} (its first {} bytes are kept)",
                    parwatch_proto::MAX_EVENT_BYTES,
                    p.payload.len()
                ),
            )),
            None => match attributed
                .entry(&p.subject)
                .or_insert_with(|| rules.publishers.publisher_of(&p.subject))
            {
                Ok((publisher, public)) => {
                    validate_within(public, &p.payload, &window).and_then(|event| {
                        authorize(publisher, &event)?;
                        Ok(event)
                    })
                }
                Err(rejection) => Err(rejection.clone()),
            },
        };
        match checked {
            Ok(event) => commit.events.push(StoredEvent {
                event,
                stream_seq: p.stream_seq,
            }),
            Err(rejection) => {
                if !index.insert_rejected(&p.subject, p.stream_seq) {
                    duplicates += 1;
                    continue;
                }
                added.rejected.push((p.subject.to_string(), p.stream_seq));
                commit.rejected.push(RejectedMessage {
                    subject: p.subject.to_string(),
                    raw: p.payload.to_vec(),
                    reason: rejection.to_string(),
                    fault: rejection.fault.code(),
                    received_at: p.received_at,
                    stream_seq: p.stream_seq,
                });
            }
        }
    }
    // Valid events are looked up in the index after the batch is validated, in stream order
    // (the first of two with one id is kept), each asking for the memory of a later one's
    // lookup first: a batch's cache misses in a large index overlap.
    let keys: Vec<u128> = commit
        .events
        .iter()
        .map(|e| DedupIndex::key(&e.event.event_id))
        .collect();
    let mut next = keys.iter().enumerate();
    commit.events.retain(|_| {
        let (i, &key) = next.next().expect("a key for each event");
        if let Some(&ahead) = keys.get(i + LOOKUP_AHEAD) {
            index.prefetch(ahead);
        }
        let new = index.insert_event(key);
        if new {
            added.events.push(key);
        } else {
            duplicates += 1;
        }
        new
    });
    Ok(Classified {
        prepared: if lay_out {
            commit.prepare(Utc::now())?
        } else {
            Prepared::default()
        },
        events: commit.events.len(),
        faults: commit.rejected.iter().map(|r| r.fault).collect(),
        duplicates,
        added,
    })
}

#[cfg(test)]
mod tests {
    use async_nats::Subject;
    use bytes::Bytes;
    use nkeys::KeyPair;
    use parwatch_proto::testing::TestEvent;

    use super::*;

    fn publisher(name: &str, agencies: &str) -> Publisher {
        Publisher {
            name: name.to_owned(),
            nkey: KeyPair::new_user().public_key(),
            agencies: vec![agencies.to_owned()],
            official: false,
            note: None,
        }
    }

    /// Subjects are read once a batch: each message is still judged by its own subject and
    /// body, the second message of a subject as the first.
    #[test]
    fn each_message_is_attributed_by_its_own_subject() {
        let mut publishers = Publishers::default();
        publishers.add(publisher("motcua", "H02.*")).unwrap();
        publishers.add(publisher("portal", "H03.*")).unwrap();
        let rules = Rules {
            publishers,
            occurred_after: chrono::DateTime::UNIX_EPOCH,
            occurred_ahead: chrono::Duration::days(366),
        };
        let late = |agency: &str| TestEvent::late().agency(agency);
        let messages = [
            ("motcua", late("H02.10"), "accepted"),
            ("portal", late("H02.10"), "unauthorized"),
            ("nobody", late("H02.10"), "unauthorized"),
            ("motcua", late("H03.10"), "unauthorized"),
            ("motcua", late("H02.11"), "accepted"),
            ("nobody", late("H02.10"), "unauthorized"),
            ("portal", late("H03.10"), "accepted"),
            (
                "portal",
                TestEvent::apology().agency("H03.10"),
                "subject_mismatch",
            ),
        ];
        let subject_of_late = late("H02.10").subject();
        let public = subject_of_late.strip_prefix("par.").unwrap();
        let pending: Vec<Pending> = messages
            .iter()
            .zip(1..)
            .map(|((name, event, _), seq)| Pending {
                subject: Subject::from(format!("par.in.{name}.{public}")),
                payload: Bytes::from(event.body()),
                oversized: None,
                reply: None,
                stream_seq: seq,
                received_at: Utc::now(),
            })
            .collect();
        let classified = classify(&pending, &rules, &mut DedupIndex::default(), false).unwrap();
        let accepted = messages.iter().filter(|m| m.2 == "accepted").count();
        let faults: Vec<&str> = messages
            .iter()
            .map(|m| m.2)
            .filter(|&m| m != "accepted")
            .collect();
        assert_eq!(classified.events, accepted);
        assert_eq!(classified.faults, faults);
    }
}
