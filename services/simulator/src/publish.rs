//! Publishing to JetStream with pipelined acks: thousands of publishes in flight, their acks
//! awaited as they come back, never one by one.

use std::time::{Duration, Instant};

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{Context, PublishAckFuture, PublishError};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use futures::FutureExt;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};

use crate::generator::SimEvent;
use crate::{Error, Result};

/// How progress is reported while publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar on stderr (events, rate, ETA): for a terminal.
    Bar,
    /// A `tracing` info line every [`PublishOptions::log_every`]: for logs.
    Log,
    /// Nothing.
    Quiet,
}

/// Options of [`publish`].
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Most publishes awaiting their ack at once; at most the context's `max_ack_inflight`
    /// (5,000 by default).
    pub window: usize,
    /// Wait until each event's `occurred_at` before publishing it (live mode).
    pub paced: bool,
    /// How to report progress.
    pub progress: Progress,
    /// Expected number of events, for the bar's length and ETA.
    pub expected: Option<u64>,
    /// Interval of [`Progress::Log`] lines.
    pub log_every: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            window: 4_096,
            paced: false,
            progress: Progress::Quiet,
            expected: None,
            log_every: Duration::from_secs(10),
        }
    }
}

/// What a [`publish`] run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishStats {
    /// Events acknowledged by the broker (duplicates included).
    pub published: u64,
    /// Of those, events the broker reported as duplicates of an earlier `Nats-Msg-Id`.
    pub duplicates: u64,
    /// Events the stream refused for their size (over its `max_msg_size`, 64 KiB): the
    /// simulator's oversized malformations, not published.
    pub refused: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl PublishStats {
    /// Acknowledged events per second.
    pub fn rate(&self) -> f64 {
        self.published as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Reports progress as the run goes.
struct Reporter {
    bar: Option<ProgressBar>,
    log_every: Option<Duration>,
    last_log: Instant,
    started: Instant,
}

impl Reporter {
    fn new(options: &PublishOptions) -> Self {
        let bar = (options.progress == Progress::Bar).then(|| {
            let style = match options.expected {
                Some(_) => "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} events, {per_sec}, ETA {eta}",
                None => "{spinner} {elapsed_precise} {human_pos} events, {per_sec}",
            };
            let bar = ProgressBar::new(options.expected.unwrap_or(0));
            bar.set_style(ProgressStyle::with_template(style).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar
        });
        let now = Instant::now();
        Reporter {
            bar,
            log_every: (options.progress == Progress::Log).then_some(options.log_every),
            last_log: now,
            started: now,
        }
    }

    fn update(&mut self, stats: &PublishStats) {
        if let Some(bar) = &self.bar {
            bar.set_position(stats.published);
        }
        if let Some(every) = self.log_every
            && self.last_log.elapsed() >= every
        {
            self.last_log = Instant::now();
            let rate = stats.published as f64 / self.started.elapsed().as_secs_f64();
            tracing::info!(
                published = stats.published,
                duplicates = stats.duplicates,
                rate = rate as u64,
                "publishing events"
            );
        }
    }

    fn finish(&self, stats: &PublishStats) {
        if let Some(bar) = &self.bar {
            bar.set_position(stats.published);
            bar.finish();
        }
        if self.log_every.is_some() {
            tracing::info!(
                published = stats.published,
                duplicates = stats.duplicates,
                elapsed_ms = stats.elapsed.as_millis() as u64,
                rate = stats.rate() as u64,
                "events published"
            );
        }
    }
}

/// Whether the stream refused a message for being larger than its limit.
fn too_large(error: &PublishError) -> bool {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|e| e.error_code() == ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM)
}

fn settle(
    stats: &mut PublishStats,
    (event_id, ack): (String, Result<PublishAck, PublishError>),
) -> Result<()> {
    let ack = match ack {
        Err(e) if too_large(&e) => {
            stats.refused += 1;
            return Ok(());
        }
        ack => ack.map_err(|source| Error::Ack { event_id, source })?,
    };
    stats.published += 1;
    stats.duplicates += u64::from(ack.duplicate);
    Ok(())
}

/// Publishes `events` to JetStream, each on its subject with `Nats-Msg-Id` = its event id,
/// keeping up to [`PublishOptions::window`] acks in flight. Returns when every event is
/// acknowledged or refused for its size (counted in [`PublishStats::refused`]); stops at the
/// first other publish or ack error.
pub async fn publish(
    jetstream: &Context,
    events: impl IntoIterator<Item = SimEvent>,
    options: &PublishOptions,
) -> Result<PublishStats> {
    let started = Instant::now();
    let mut stats = PublishStats {
        published: 0,
        duplicates: 0,
        refused: 0,
        elapsed: Duration::ZERO,
    };
    let mut reporter = Reporter::new(options);
    let mut in_flight = FuturesUnordered::new();
    let window = options.window.max(1);
    let mut sent: u64 = 0;

    for event in events {
        let wait = (event.occurred_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        if options.paced && !wait.is_zero() {
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            // Keep collecting acks while waiting for the event's time.
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    Some(done) = in_flight.next() => settle(&mut stats, done)?,
                }
            }
        }
        while in_flight.len() >= window {
            if let Some(done) = in_flight.next().await {
                settle(&mut stats, done)?;
            }
        }
        let SimEvent {
            subject,
            event_id,
            body,
            ..
        } = event;
        let message = PublishMessage::build().payload(body).message_id(&event_id);
        let ack: PublishAckFuture = match jetstream.send_publish(subject, message).await {
            Ok(ack) => ack,
            Err(source) => {
                return Err(Error::Publish {
                    event_id,
                    subject,
                    source,
                });
            }
        };
        in_flight.push(ack.into_future().map(move |ack| (event_id, ack)));
        sent += 1;
        if sent.is_multiple_of(4_096) {
            reporter.update(&stats);
        }
    }
    while let Some(done) = in_flight.next().await {
        settle(&mut stats, done)?;
    }
    stats.elapsed = started.elapsed();
    reporter.finish(&stats);
    Ok(stats)
}
