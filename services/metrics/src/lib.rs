//! The ParWatch metric catalogue (metrics-v1) over event-sourced projections.
//!
//! Sits beside the query engine (lake → **projections** → metrics, ranking, dashboards). The
//! [`Projector`] folds every stored event into two projections, updated incrementally as files
//! land: per-dossier [`Facts`] (the earliest event of each type; a merge that does not depend on
//! arrival order) and per-day, per-agency counters ([`DayStats`]). When an event changes a
//! dossier's facts — a late apology, an event arriving out of order — the dossier's old
//! contribution to the daily counters is subtracted and the new one added, so old buckets move
//! as an event-sourced view should, and dashboards never rescan raw events. Metrics over any
//! bucket are sums of days (the overdue backlog a running sum, the median a merge of log
//! histograms). Both projections are also SQL tables (`dossiers`, `daily_agency_stats`).
//!
//! The agencies' own PAR work — plan activities, tasks from superiors, PAR Index scores — is
//! folded the same way ([`Activity`], [`Task`], [`Scored`]; tables `plan_activities`,
//! `directive_tasks`, `par_scores`): plans and tasks feed the daily counters of the metrics
//! `plan_completion` and `tasks_on_time`, and [`Rollups::par_index`] hands scores and live
//! metric values to the scoring models of `parwatch-scoring`.
//!
//! The registry of agencies over time is folded from the `agency.*` events (tables
//! `agency_registry`, `agency_lineage`): every figure can be read as recorded, or restated to
//! the units of a date through the lineage ([`Rollups::restated_series`],
//! [`Rollups::restated_ranking`], [`Rollups::breaks`]). Every dossier figure can also be read
//! under another agency of the dossier than its competent one — the point that received it
//! or its commune area ([`DossierRole`], [`Rollups::in_role`]).

mod agencies;
mod batches;
mod bucket;
mod catalogue;
mod dossiers;
mod facts;
mod fold;
mod governance;
mod histogram;
mod par;
mod par_work;
mod projection;
mod projector;
mod registry;
mod restate;
mod roles;
mod rollup;
mod rollups;
mod service_index;
mod service_tables;
mod tables;

pub use bucket::Bucket;
pub use catalogue::{
    Better, FIRST_DATE, LAST_DATE, METRICS, MetricDef, MetricError, Point, RankRow, Ranking,
    Series, Unit, check_date, metric,
};
pub use dossiers::{DossierRow, Dossiers, Eviction};
pub use facts::{Facts, Late, Received, Resolved};
pub use governance::{Activity, ScoreFact, Scored, Task};
pub use par::{as_of, load_models};
pub use projection::Projection;
pub use projector::Projector;
pub use registry::{Break, Edge, Period};
pub use restate::InUnits;
pub use roles::{DossierRole, Roles};
pub use rollup::DayStats;
pub use rollups::Rollups;
pub use service_index::{
    LostAsk, LostItem, LostPoints, LostReason, LostSubject, ServiceFacts, lost_points,
};
pub use service_tables::register_index_766;
pub use tables::register_tables;

/// Result with the metrics crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading events into projections.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the lake failed.
    #[error(transparent)]
    Lake(#[from] parwatch_lake::Error),
    /// A stored file did not have the expected columns.
    #[error("event file {path}: {message}")]
    BadFile {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// Building Arrow data for a projection table failed.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}
