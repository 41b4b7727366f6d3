//! Acknowledging: after each stored batch, the worker acknowledges as far as the ack frontier
//! (`frontier.rs`) allows, with one cumulative ack, and steps over messages the stream no
//! longer holds.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{self, DeliverPolicy};
use bytes::Bytes;
use tracing::{debug, warn};

use crate::frontier::{AckFrontier, AckRun};
use crate::{Error, Result};

/// The highest stream sequence below which every message of the consumer `info` describes is
/// acknowledged or gone.
pub(crate) async fn ack_floor(
    stream: &jetstream::stream::Stream,
    consumer_info: &consumer::Info,
) -> Result<u64> {
    let stream_info = stream
        .get_info()
        .await
        .map_err(|e| Error::nats("stream info")(&e))?;
    // Messages purged from the head of the stream will never be delivered.
    let first_present = stream_info.state.first_sequence.saturating_sub(1);
    Ok(acked_through(consumer_info).max(first_present))
}

/// The highest stream sequence below which the consumer has every message acknowledged or
/// never to deliver: its ack floor, or the message before its start when higher. For a consumer
/// created again at its floor (`consumer.rs`), nats-server 2.9 reports an ack floor of 0 until
/// its first ack (2.15 the message before its start); a worker that took 0 waited for ever.
pub(crate) fn acked_through(info: &consumer::Info) -> u64 {
    let start = match info.config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_sequence } => start_sequence.saturating_sub(1),
        _ => 0,
    };
    info.ack_floor.stream_sequence.max(start)
}

/// Sends the acks of stored batches, in stream order.
pub(crate) struct Acker {
    client: async_nats::Client,
    frontier: AckFrontier,
    /// The stream, to ask whether a message the frontier waits for still exists.
    stream: jetstream::stream::Stream,
    /// The consumer's ack wait.
    ack_wait: Duration,
}

impl Acker {
    /// An acker whose frontier starts at `floor` (see [`ack_floor`]).
    pub(crate) fn new(
        client: async_nats::Client,
        stream: jetstream::stream::Stream,
        floor: u64,
        ack_wait: Duration,
    ) -> Self {
        Self {
            client,
            frontier: AckFrontier::new(floor),
            stream,
            ack_wait,
        }
    }

    /// After a batch is stored: acknowledges as far as every earlier message is stored too.
    pub(crate) async fn acknowledge(&mut self, acks: Vec<AckRun>) {
        for run in acks {
            self.frontier.stored(run);
        }
        if self.frontier.blocked_longer_than(self.ack_wait * 2) {
            self.skip_missing().await;
        }
        let advanced = self.frontier.advance();
        // A redelivery of an already acknowledged range carries a fresh delivery sequence; the
        // broker only honours a cumulative ack newer than its delivery floor, so ack with it.
        let reack = self.frontier.take_reack();
        for (seq, reply) in advanced.into_iter().chain(reack) {
            // AckPolicy::All: this one ack covers every message up to `seq`, all of them stored.
            match self
                .client
                .request(reply, Bytes::from_static(b"+ACK"))
                .await
            {
                Ok(_) => debug!(seq, "acknowledged"),
                Err(e) => {
                    warn!(error = %e, seq, "ack not confirmed; the broker will redeliver and the index skip")
                }
            }
        }
        if self.frontier.waiting() {
            debug!(
                floor = self.frontier.floor,
                "ack held back until earlier messages are redelivered"
            );
        }
    }

    /// The frontier has waited for the message after its floor for long: if the stream no
    /// longer holds it (deleted, expired), it will never come; step over it.
    async fn skip_missing(&mut self) {
        let missing = self.frontier.floor + 1;
        // Asked through the stream's state (first sequence, deleted ones), not by reading the
        // message: reading stored messages is the administrator's right alone.
        let info = self.stream.info_builder().with_deleted(true).fetch().await;
        let gone = info.is_ok_and(|i| {
            let state = &i.info.state;
            missing < state.first_sequence
                || state.deleted.as_ref().is_some_and(|d| d.contains(&missing))
        });
        if gone {
            warn!(
                seq = missing,
                "message gone from the stream; acknowledging past it"
            );
            self.frontier.skip(missing);
        } else {
            // Still there (or the state unknown): it will be redelivered.
            self.frontier.waited();
        }
    }
}
