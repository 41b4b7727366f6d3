//! The ParWatch lake: where validated events come to rest, and how SQL reaches them.
//!
//! Second half of the pipeline (JetStream → validate → **lake** → DataFusion). The lake is two
//! Delta Lake tables, `events` and `rejected_events`, at a [`LakeLocation`]: a local folder or
//! an S3-compatible store, one code path through object_store. The ingest worker lays a
//! [`Commit`] (valid events and rejected messages, each with its JetStream stream sequence) out
//! as Arrow batches ([`Commit::prepare`]) and hands them to [`Lake::write_prepared`], which puts
//! one zstd Parquet file per table and commits it to the table's Delta log with the stream
//! position it covers, before the worker acknowledges anything. The logs are the single source
//! of truth: [`Lake::load_index`] rebuilds the deduplication index from the files they list,
//! and [`Lake::compact`] merges small files (a fenced swap of its own) and vacuums replaced
//! ones (Delta VACUUM). Any engine that reads Delta reads the lake transactionally. `lake.rs` lists what a
//! [`Lake`] does and which module does it.
//! [`QueryEngine`] registers the tables with DataFusion and answers read-only SQL in a sandbox
//! (scopes, limits; see `sandbox.rs`).

mod catalogue;
mod changes;
mod columns;
mod commit;
mod compact;
mod dates;
mod encoding;
mod error;
mod guards;
mod index;
mod lake;
mod local_log;
mod location;
mod passthrough;
mod query;
mod rows;
mod sandbox;
mod schema;
mod scope;
mod snapshot;
mod step;
mod table;
mod travel;
mod writer;

pub use catalogue::{
    ColumnError, ColumnSpec, ColumnType, DataColumn, Domain, EnumColumn, EventColumn, EventRows,
    FlagColumn, ReadBack, RejectedColumn, StoredEnum, TextColumn, TimeColumn, Unknown, Values,
};
pub use changes::Changes;
pub use commit::{Commit, Prepared};
pub use compact::{CompactionPolicy, CompactionStats, ORPHAN_AGE, TARGET_FILE_BYTES};
pub use error::{Error, ErrorKind, LimitKind, Result, masked_internal};
pub use index::DedupIndex;
pub use lake::{DataFile, Lake};
pub use location::LakeLocation;
pub use passthrough::reserved;
pub use query::{AGENCY_COLUMN, CATALOG, PG_VERSION, QueryEngine, QueryOutput, SCHEMA};
pub use rows::{RejectedMessage, StoredEvent};
pub use sandbox::{
    Limits, MAX_LINKS, MAX_SQL_BYTES, QueryStream, Scope, Scoping, Session, check_sql_text,
};
pub use schema::{EVENTS_TABLE, REJECTED_TABLE, events_schema, rejected_schema};
pub use snapshot::{SNAPSHOT_BATCH_ROWS, Snapshot};
pub use table::{INGEST_APP_ID, PartitionState, TableStats, Writer};
pub use travel::AsOf;
pub use writer::WriteProgress;

#[cfg(feature = "testing")]
pub mod testing;
