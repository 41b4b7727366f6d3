//! The rows the lake stores: valid events with their stream sequence, and rejected messages
//! with their reason. The ingest worker fills a [`crate::Commit`] with them; `columns.rs` turns
//! them into Arrow.

use chrono::{DateTime, Utc};
use parwatch_proto::Event;

/// A valid event with the JetStream stream sequence it arrived with.
#[derive(Debug, Clone)]
pub struct StoredEvent<'a> {
    /// The validated event.
    pub event: Event<'a>,
    /// Stream sequence of the message that carried it.
    pub stream_seq: u64,
}

/// A message that failed validation, kept with its reason.
#[derive(Debug, Clone)]
pub struct RejectedMessage {
    /// NATS subject it was published on.
    pub subject: String,
    /// The body exactly as received.
    pub raw: Vec<u8>,
    /// Field and rule it broke.
    pub reason: String,
    /// Stable fault code (see `parwatch_proto::Fault::code`).
    pub fault: &'static str,
    /// When the broker stored it.
    pub received_at: DateTime<Utc>,
    /// Stream sequence of the message.
    pub stream_seq: u64,
}
