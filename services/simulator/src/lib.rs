//! The ParWatch simulator: a believable, deterministic Vietnamese province — departments (with the
//! March 2025 mergers), district committees (until July 2025) and communes, a procedure catalogue
//! with skewed volumes, the civil-service calendar with Tết and the other public holidays — whose
//! dossiers flow through their lifecycle (online application → received → late → apology →
//! resolved → result by post) as events of the contract in `parwatch-proto`.
//!
//! It sits at the very start of the pipeline (**publisher** → JetStream → ingest → lake): it is
//! the demo data of `parwatch up --demo` and the load generator of the benchmarks. A
//! [`Generator`] yields [`SimEvent`]s in time order (backfill of a date range as fast as possible,
//! or live at a rate); [`publish`] sends them to JetStream with pipelined acks. The same
//! [`SimOptions`] always give byte-identical events.
//!
//! Beside the dossiers, each agency the PAR Index scores does its own PAR work, planned a year
//! at a time by the scoring models of `parwatch-scoring`: plan activities, tasks from the
//! province, and the scores of its index (`plan.activity`, `directive.task`, `par.score`). The
//! 2025 reorganisation is published as registry events (`agency.registered`, `agency.merged`,
//! `agency.dissolved`) when its decisions are taken.
//!
//! The national service index (Decision 766) gets its events too: around each dossier's
//! lifecycle the sync to the national portal, fees and their payment, components digitised or
//! reused, supplement requests, results issued and ratings; per agency a few petitions (PAKN) a
//! month; and, when a backfill starts, the catalogue facts of every procedure at every agency
//! (`procedure.catalogued`).

mod calendar;
mod catalogue;
mod dossier;
mod generator;
mod governance;
mod index766;
mod invalid;
mod model;
mod petition;
mod province;
mod publish;
mod registry;
mod render;
mod subject;

pub use calendar::{Calendar, OFFICE_CLOSES, OFFICE_OPENS};
pub use generator::{Generator, Mode, SimEvent, SimOptions};
pub use invalid::Malformation;
pub use province::{Agency, AgencyKind, Procedure, Province};
pub use publish::{Progress, PublishOptions, PublishStats, publish};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option is out of its range.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// JetStream did not accept a message for publishing.
    #[error("publishing event {event_id} on {subject} failed: {source}")]
    Publish {
        /// Id of the event.
        event_id: String,
        /// Its subject.
        subject: &'static str,
        /// The client's error.
        source: async_nats::jetstream::context::PublishError,
    },
    /// The broker did not acknowledge a published message.
    #[error("no acknowledgement for event {event_id}: {source}")]
    Ack {
        /// Id of the event.
        event_id: String,
        /// The client's error.
        source: async_nats::jetstream::context::PublishError,
    },
    /// The broker acknowledged no publish, retried, until the retry deadline.
    #[error(
        "the broker acknowledged nothing for {seconds} s ({attempts} attempts): {count} events \
         unpublished, the first {event_id}; last error: {last_error}"
    )]
    Unacknowledged {
        /// Id of the first event not published.
        event_id: String,
        /// Events not published at the last attempt.
        count: usize,
        /// Attempts made since the last acknowledgement.
        attempts: u32,
        /// Seconds since the first of them.
        seconds: u64,
        /// The last error (in the message, not a source: it would be said twice).
        last_error: async_nats::jetstream::context::PublishError,
    },
}

/// The simulator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
