//! A stream split into partitions, so that several workers share it with one writer per
//! partition at a time.
//!
//! The broker routes each message by a hash of its publisher and event type (subject mapping
//! `{{partition(n, …)}}`, nats-server 2.8 and later) to `par.p.<k>.in.<publisher>.events.v1.<type>`,
//! held by the stream `PAR_EVENTS_<k>`: a partition is a stream of its own, with gap-free
//! sequences, so each worker keeps the one-stream pipeline (batch, store, acknowledge in order).
//! Publishers change nothing: they still publish on `par.events.v1.<type>`, and a publisher's
//! duplicate always lands in the partition of the original. With one partition (the default)
//! the stream is `PAR_EVENTS` with subjects `par.in.*.events.v1.>`, as it always was.

use crate::broker::{STREAM_NAME, StreamLimits};
use crate::publishers::STREAM_SUBJECTS;
use crate::{Error, Result};

/// Prefix of a partitioned subject; the partition and the unpartitioned subject follow.
const PARTITION_PREFIX: &str = "par.p.";

/// Most partitions: each is a stream, a consumer and a lease.
pub const MAX_PARTITIONS: u32 = 64;

/// How many partitions the stream is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitions(u32);

impl Default for Partitions {
    /// One partition: the stream `PAR_EVENTS`.
    fn default() -> Self {
        Partitions(1)
    }
}

impl Partitions {
    /// `count` partitions, 1 to [`MAX_PARTITIONS`].
    pub fn new(count: u32) -> Result<Self> {
        if (1..=MAX_PARTITIONS).contains(&count) {
            Ok(Partitions(count))
        } else {
            Err(Error::Config(format!(
                "partitions must be 1 to {MAX_PARTITIONS}, not {count}"
            )))
        }
    }

    /// How many.
    pub fn count(&self) -> u32 {
        self.0
    }

    /// Whether the stream is split (and its partitions held under leases).
    pub fn split(&self) -> bool {
        self.0 > 1
    }

    /// The stream holding partition `k`.
    pub fn stream(&self, k: u32) -> String {
        match self.split() {
            false => STREAM_NAME.to_owned(),
            true => format!("{STREAM_NAME}_{k}"),
        }
    }

    /// The limits of each partition's stream: the stream's bytes shared among them.
    pub fn limits(&self, stream: &StreamLimits) -> StreamLimits {
        StreamLimits {
            max_bytes: stream.max_bytes / i64::from(self.0),
            ..*stream
        }
    }

    /// Every partition's stream.
    pub fn streams(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.0).map(|k| self.stream(k))
    }

    /// The subject mapping of the `PARWATCH` account that routes each message to its
    /// partition (`mappings: { … }` of `nats-server.conf`), or nothing for one partition.
    /// Only subjects whose type has two tokens (every valid type) are mapped; the others keep
    /// their subject and partition 0's stream holds them too, to be kept as rejections like
    /// any invalid message. (One mapping only: nats-server does not say which of two
    /// overlapping mappings applies.)
    pub fn mappings(&self) -> Option<String> {
        let n = self.0;
        self.split().then(|| {
            format!(
                "mappings: {{\n      \"par.in.*.events.v1.*.*\": \
                 \"{PARTITION_PREFIX}{{{{partition({n},1,2,3)}}}}.in.{{{{wildcard(1)}}}}.events.v1.{{{{wildcard(2)}}}}.{{{{wildcard(3)}}}}\"\n    }}"
            )
        })
    }
}

/// The subjects held by the stream `stream` (see [`Partitions::stream`]): partition 0's also
/// holds the subjects no mapping routes.
pub(crate) fn subjects_of(stream: &str) -> Vec<String> {
    let partitioned =
        |k: &str| format!("{PARTITION_PREFIX}{k}.{}", &STREAM_SUBJECTS["par.".len()..]);
    match stream
        .strip_prefix(STREAM_NAME)
        .and_then(|rest| rest.strip_prefix('_'))
    {
        Some("0") => vec![partitioned("0"), STREAM_SUBJECTS.to_owned()],
        Some(k) => vec![partitioned(k)],
        None => vec![STREAM_SUBJECTS.to_owned()],
    }
}

/// A stored subject without its partition: `par.p.3.in.x.events.v1.t` → `par.in.x.events.v1.t`.
pub(crate) fn unpartitioned(subject: &str) -> std::borrow::Cow<'_, str> {
    let partitioned = subject
        .strip_prefix(PARTITION_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .filter(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
    match partitioned {
        Some((_, rest)) => format!("par.{rest}").into(),
        None => subject.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_partition_is_the_stream_as_it_always_was() {
        let one = Partitions::default();
        assert_eq!(one.stream(0), "PAR_EVENTS");
        assert_eq!(subjects_of(&one.stream(0)), ["par.in.*.events.v1.>"]);
        assert_eq!(one.mappings(), None);
    }

    #[test]
    fn partitions_have_streams_subjects_and_a_mapping_of_their_own() {
        let three = Partitions::new(3).unwrap();
        let streams: Vec<String> = three.streams().collect();
        assert_eq!(streams, ["PAR_EVENTS_0", "PAR_EVENTS_1", "PAR_EVENTS_2"]);
        assert_eq!(subjects_of("PAR_EVENTS_2"), ["par.p.2.in.*.events.v1.>"]);
        assert_eq!(
            subjects_of("PAR_EVENTS_0"),
            ["par.p.0.in.*.events.v1.>", "par.in.*.events.v1.>"],
            "partition 0 holds what no mapping routes"
        );
        let mappings = three.mappings().unwrap();
        assert!(mappings.contains("{{partition(3,1,2,3)}}"), "{mappings}");
        assert!(Partitions::new(0).is_err() && Partitions::new(65).is_err());
    }

    #[test]
    fn the_partition_is_taken_off_a_stored_subject() {
        assert_eq!(
            unpartitioned("par.p.12.in.motcua.events.v1.dossier.received"),
            "par.in.motcua.events.v1.dossier.received"
        );
        for kept in ["par.in.motcua.events.v1.x.y", "par.p.x.in.a", "par.p..in.a"] {
            assert_eq!(unpartitioned(kept), kept);
        }
    }
}
