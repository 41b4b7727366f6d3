//! Publishing to JetStream with pipelined acks: thousands of publishes in flight, their acks
//! awaited as they come back, never one by one. A publish the broker does not acknowledge (no
//! answer in time, the connection lost, the stream not there yet) is sent again with the same
//! `Nats-Msg-Id`, so JetStream stores it once, after a pause that grows while nothing is
//! acknowledged, until the retry deadline.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::time::{Duration, Instant};

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{Context, PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use parwatch_ingest::{Attempts, Backoff};

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
    /// How unacknowledged publishes are sent again: the deadline counts from the first
    /// failure while nothing is acknowledged.
    pub retry: Backoff,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            window: 4_096,
            paced: false,
            progress: Progress::Quiet,
            expected: None,
            log_every: Duration::from_secs(10),
            retry: Backoff::default(),
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

/// Whether a publish that failed may succeed when sent again: no answer in time, the
/// connection gone, no stream yet for the subject (the worker creates it at its start).
fn transient(error: &PublishError) -> bool {
    matches!(
        error.kind(),
        PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
            | PublishErrorKind::StreamNotFound
            | PublishErrorKind::MaxAckPending
    )
}

/// An event until the broker acknowledges it.
struct Outgoing {
    /// Its place in the run, to send retries in the original order.
    order: u64,
    subject: &'static str,
    event_id: String,
    body: Bytes,
}

impl Outgoing {
    /// The message, `Nats-Msg-Id` = the event id, the same at every attempt.
    fn message(&self) -> PublishMessage {
        PublishMessage::build()
            .payload(self.body.clone())
            .message_id(&self.event_id)
    }
}

/// The ack of `outgoing`, with it.
fn acked(
    ack: PublishAckFuture,
    outgoing: Outgoing,
) -> impl Future<Output = (Outgoing, Result<PublishAck, PublishError>)> {
    let ack = ack.into_future();
    async move { (outgoing, ack.await) }
}

/// The publishes to send again, and the run of failures since the last acknowledgement.
struct Unacknowledged {
    failed: Vec<Outgoing>,
    last_error: Option<PublishError>,
    attempts: Option<Attempts>,
}

impl Unacknowledged {
    fn new() -> Self {
        Unacknowledged {
            failed: Vec::new(),
            last_error: None,
            attempts: None,
        }
    }

    /// Counts an ack, or keeps the event to send again; an error retrying cannot fix ends the run.
    fn settle(
        &mut self,
        stats: &mut PublishStats,
        (outgoing, ack): (Outgoing, Result<PublishAck, PublishError>),
    ) -> Result<()> {
        match ack {
            Ok(ack) => {
                stats.published += 1;
                stats.duplicates += u64::from(ack.duplicate);
                self.attempts = None;
                Ok(())
            }
            Err(e) if too_large(&e) => {
                stats.refused += 1;
                Ok(())
            }
            Err(e) if transient(&e) => {
                self.fail(outgoing, e);
                Ok(())
            }
            Err(source) => Err(Error::Ack {
                event_id: outgoing.event_id,
                source,
            }),
        }
    }

    fn fail(&mut self, outgoing: Outgoing, error: PublishError) {
        self.failed.push(outgoing);
        self.last_error = Some(error);
    }

    /// Pauses by `backoff` (one warning saying so), then puts what failed back into `resend`,
    /// everything there in the events' order; fails when the deadline has passed.
    async fn pause(&mut self, backoff: &Backoff, resend: &mut VecDeque<Outgoing>) -> Result<()> {
        let attempts = self.attempts.get_or_insert_with(|| backoff.attempts());
        let count = self.failed.len();
        let error = self
            .last_error
            .take()
            .expect("a failed publish has its error");
        let Some(delay) = attempts.next_delay() else {
            let first = self.failed.iter().min_by_key(|o| o.order);
            return Err(Error::Unacknowledged {
                event_id: first.map(|o| o.event_id.clone()).unwrap_or_default(),
                count,
                attempts: attempts.failures(),
                seconds: attempts.elapsed().as_secs(),
                last_error: error,
            });
        };
        tracing::warn!(
            attempt = attempts.failures(),
            "publishing to JetStream: {count} events not acknowledged ({error}); next attempt \
             in {:.1} s, with the same message ids",
            delay.as_secs_f64()
        );
        tokio::time::sleep(delay).await;
        let mut again: Vec<Outgoing> = self.failed.drain(..).chain(resend.drain(..)).collect();
        again.sort_by_key(|o| o.order);
        resend.extend(again);
        Ok(())
    }
}

/// Publishes `events` to JetStream, each on its subject with `Nats-Msg-Id` = its event id,
/// keeping up to [`PublishOptions::window`] acks in flight. Returns when every event is
/// acknowledged or refused for its size (counted in [`PublishStats::refused`]). Publishes
/// without an answer are sent again by [`PublishOptions::retry`] (one warning per pause);
/// the run stops at another publish or ack error, or when the broker acknowledges nothing
/// until the retry deadline.
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
    let mut unacknowledged = Unacknowledged::new();
    let mut resend = VecDeque::new();
    let mut events = events.into_iter();
    let window = options.window.max(1);
    let mut sent: u64 = 0;

    loop {
        if !unacknowledged.failed.is_empty() {
            // Every publish in flight settles first: one pause for all that failed together.
            while let Some(done) = in_flight.next().await {
                unacknowledged.settle(&mut stats, done)?;
            }
            unacknowledged.pause(&options.retry, &mut resend).await?;
        }
        let outgoing = match resend.pop_front() {
            Some(outgoing) => outgoing,
            None => match events.next() {
                Some(event) => {
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
                                Some(done) = in_flight.next() => unacknowledged.settle(&mut stats, done)?,
                            }
                        }
                    }
                    let SimEvent {
                        subject,
                        event_id,
                        body,
                        ..
                    } = event;
                    sent += 1;
                    Outgoing {
                        order: sent,
                        subject,
                        event_id,
                        body,
                    }
                }
                None => match in_flight.next().await {
                    Some(done) => {
                        unacknowledged.settle(&mut stats, done)?;
                        continue;
                    }
                    None => break,
                },
            },
        };
        while in_flight.len() >= window {
            if let Some(done) = in_flight.next().await {
                unacknowledged.settle(&mut stats, done)?;
            }
        }
        match jetstream
            .send_publish(outgoing.subject, outgoing.message())
            .await
        {
            Ok(ack) => in_flight.push(acked(ack, outgoing)),
            Err(e) if transient(&e) => unacknowledged.fail(outgoing, e),
            Err(source) => {
                return Err(Error::Publish {
                    event_id: outgoing.event_id,
                    subject: outgoing.subject,
                    source,
                });
            }
        }
        if sent.is_multiple_of(4_096) {
            reporter.update(&stats);
        }
    }
    stats.elapsed = started.elapsed();
    reporter.finish(&stats);
    Ok(stats)
}
