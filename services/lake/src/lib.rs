//! The ParWatch lake: where validated events come to rest, and how SQL reaches them.
//!
//! Second half of the pipeline (JetStream → validate → **lake** → DataFusion). The ingest worker
//! lays a [`Commit`] (valid events and rejected messages, each with its JetStream stream
//! sequence) out as Arrow batches ([`Commit::prepare`]) and hands them to
//! [`Lake::write_prepared`], which lands them as zstd Parquet files in a Hive-style layout any
//! engine reads (`events/event_date=YYYY-MM-DD/part-*.parquet`), each file fsynced and renamed
//! into place before the worker acknowledges anything. The stored files are the single source of
//! truth: [`Lake::load_index`] rebuilds the deduplication index from them after a restart.
//! Each partition is a symlink to its current generation of files, so [`Lake::compact`] can
//! merge small files and swap them in atomically (see `layout.rs`). Every file lands through
//! one durable write (`durable.rs`). `lake.rs` lists what a [`Lake`] does and which module
//! does it.
//! [`QueryEngine`] registers the tables with DataFusion and answers read-only SQL in a sandbox
//! (scopes, limits; see `sandbox.rs`).

mod columns;
mod commit;
mod compact;
mod durable;
mod encoding;
mod error;
mod guards;
mod index;
mod lake;
mod layout;
mod lock;
mod passthrough;
mod query;
mod rows;
mod sandbox;
mod schema;
mod scope;
mod snapshot;
mod step;
mod uuid;
mod writer;

pub use commit::{Commit, Prepared};
pub use compact::{CompactionPolicy, CompactionStats};
pub use error::{Error, ErrorKind, LimitKind, Result, masked_internal};
pub use index::DedupIndex;
pub use lake::Lake;
pub use lock::WriterLock;
pub use query::{AGENCY_COLUMN, CATALOG, PG_VERSION, QueryEngine, QueryOutput, SCHEMA};
pub use rows::{RejectedMessage, StoredEvent};
pub use sandbox::{
    Limits, MAX_LINKS, MAX_SQL_BYTES, QueryStream, Scope, Scoping, Session, check_sql_text,
};
pub use schema::{EVENTS_TABLE, REJECTED_TABLE, events_schema, rejected_schema};
pub use snapshot::Snapshot;
pub use writer::WriteProgress;
