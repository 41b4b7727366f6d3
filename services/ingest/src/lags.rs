//! How far behind each partition of the stream is, as the broker reports it: the messages its
//! worker has not acknowledged yet (held for it, or delivered and not yet stored). Watched by
//! API nodes, whose `/api/v1/status` shows it beside the positions in the lake's log.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream;
use tracing::debug;

use crate::ack::acked_through;
use crate::broker::{Backoff, connect_with};
use crate::config::CONSUMER_NAME;
use crate::partitions::Partitions;
use crate::publishers::{INGEST_INBOX_PREFIX, Identity};

/// How often the lags are read again.
const EVERY: Duration = Duration::from_secs(2);

/// Each partition's lag in messages, as last read from the broker (none before the first
/// reading, while the broker does not answer, or before a worker made the partition's
/// consumer).
#[derive(Debug, Default)]
pub struct PartitionLags(RwLock<Vec<Option<u64>>>);

impl PartitionLags {
    /// Reads the lags of `partitions` from the broker at `url` (as `identity`: the workers'
    /// key, which may read their consumers) every two seconds, for as long as the returned lags are kept.
    /// Connecting happens in the background, retried for ever: a broker that does not answer
    /// leaves the lags unknown and delays nothing.
    pub fn watch(url: String, identity: Option<Identity>, partitions: Partitions) -> Arc<Self> {
        let lags = Arc::new(Self(RwLock::new(vec![None; partitions.count() as usize])));
        let kept = Arc::downgrade(&lags);
        tokio::spawn(async move {
            let client = loop {
                let backoff = Backoff::with_deadline(EVERY * 15);
                // As the worker's user, whose replies come to its own inboxes.
                let inbox = Some(INGEST_INBOX_PREFIX);
                match connect_with(&url, "parwatch-lags", identity.as_ref(), inbox, &backoff).await
                {
                    Ok(client) => break client,
                    Err(e) if kept.strong_count() > 0 => {
                        debug!(error = %e, "the broker does not answer; lags unknown");
                    }
                    Err(_) => return,
                }
            };
            let js = jetstream::new(client);
            while let Some(lags) = kept.upgrade() {
                for (k, name) in partitions.streams().enumerate() {
                    let lag = match js.get_stream(&name).await {
                        Ok(stream) => match stream.consumer_info(CONSUMER_NAME).await {
                            // Delivered beyond the cumulative ack floor, and not delivered
                            // yet (nats-server 2.9 can count a redelivery below its floor as
                            // pending, so `num_ack_pending` is not used).
                            Ok(info) => Some(
                                info.num_pending
                                    + info
                                        .delivered
                                        .stream_sequence
                                        .saturating_sub(acked_through(&info)),
                            ),
                            Err(e) => {
                                debug!(stream = %name, error = %e, "no consumer yet");
                                None
                            }
                        },
                        Err(e) => {
                            debug!(stream = %name, error = %e, "stream unknown");
                            None
                        }
                    };
                    lags.0.write().expect("lags lock")[k] = lag;
                }
                drop(lags);
                tokio::time::sleep(EVERY).await;
            }
        });
        lags
    }

    /// Partition `k`'s lag, if known.
    pub fn get(&self, k: u32) -> Option<u64> {
        self.0
            .read()
            .expect("lags lock")
            .get(k as usize)
            .copied()
            .flatten()
    }
}
