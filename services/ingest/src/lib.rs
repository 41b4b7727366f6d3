//! The ParWatch ingest worker: JetStream → validate → deduplicate → durable Parquet → ack.
//!
//! [`run`] consumes the `PAR_EVENTS` stream through a durable pull consumer, validates each
//! message against the contract (`parwatch-proto`), drops events whose `event_id` is already
//! stored, keeps invalid messages with their reason, and hands each batch to the lake. It
//! acknowledges a batch (one cumulative ack, `AckPolicy::All`) only after the lake reports every
//! file of it fsynced and renamed into place, so nothing acknowledged can be lost, and the
//! deduplication index, rebuilt from the files at start, makes redeliveries harmless.
//! [`LocalNats`] starts a private `nats-server` for single-machine use and tests.
//!
//! Publishers are authenticated by the broker and authorised here ([`publishers`]): the
//! stream's subject names the publisher, and an event for an agency the publisher may not
//! publish for, or an official assessment from a publisher not allowed them, is stored in
//! `rejected_events` with its reason, like any invalid message.

mod ack;
mod batch;
mod broker;
mod classify;
mod compactor;
mod config;
mod consumer;
pub mod exposition;
mod failpoint;
mod frontier;
mod lags;
mod leases;
mod local;
mod partitions;
pub mod publishers;
mod status;
mod store;

pub use batch::OVERSIZED_PREFIX_BYTES;
pub use broker::{
    Attempts, Backoff, STREAM_NAME, StreamLimits, connect, connect_retrying, ensure_stream,
};
pub use config::{CONSUMER_NAME, IngestConfig};
pub use consumer::run;
pub use failpoint::{Failpoint, Step};
pub use lags::PartitionLags;
pub use local::{LOCAL_PUBLISHER, LocalNats};
pub use partitions::{MAX_PARTITIONS, Partitions};
pub use publishers::{Identity, Publisher, Publishers};
pub use status::{IngestStatus, LatencyHistogram, PartitionStatus};

/// Result with the worker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What stops the worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS or JetStream refused an operation.
    #[error("nats {operation}: {message}")]
    Nats {
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        message: String,
    },
    /// The lake failed in a way retrying cannot fix.
    #[error(transparent)]
    Lake(#[from] parwatch_lake::Error),
    /// `nats-server` could not be started.
    #[error("{0}")]
    LocalServer(String),
    /// A configuration file, key or setting is unusable.
    #[error("{0}")]
    Config(String),
    /// A blocking task panicked.
    #[error("worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    pub(crate) fn nats(operation: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> Error {
        move |e| Error::Nats {
            operation,
            message: e.to_string(),
        }
    }
}
