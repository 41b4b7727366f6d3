//! The ParWatch event contract (events-v1): the Rust types of every event, the local time zone
//! rule, and the validator that turns a NATS message (subject + JSON body) into a typed [`Event`]
//! or a [`Rejection`] naming the field and the rule it broke.
//!
//! This crate is the first stage of the pipeline (publisher → JetStream → **validate** → lake) and
//! does no I/O. The JSON Schema files under `proto/schemas/` describe the same contract for
//! publishers in other languages; `tests/contract.rs` keeps them and this code in agreement.
//!
//! With the `testing` feature (dev-dependencies only), `testing::TestEvent` builds valid events
//! of every type for the other crates' tests.

mod event;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod time;
mod validate;

pub use event::{
    ActivityStatus, AgencyKind, AgencyLevel, Assessor, Channel, Event, EventData, EventType,
    Outcome, Portal, PostalKind, Rating, SUBJECT_PREFIX, ServiceMode, SplitTarget, TaskStatus,
};
pub use time::{LOCAL_TZ_NAME, local_date, local_offset};
pub use validate::{Fault, MAX_EVENT_BYTES, Rejection, TimeWindow, validate, validate_within};
