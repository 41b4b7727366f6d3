//! ParWatch periodic CCHC reports (báo cáo định kỳ): definitions as code, figures read at a
//! lake version, published and frozen, reproduced, compared with today's figures, exported.
//!
//! Sits beside the dashboards, on the projections (lake → projections → metrics → **reports**):
//! a report definition (`reports/<id>.toml`, `definition.rs`) names sections, tables of metrics
//! by agency or by month, the PAR Index and rankings, and texts with `{figure}` placeholders;
//! [`render`] reads every figure from the projections of one Delta version of `events`
//! ([`parwatch_metrics::Projector::at`]); publishing stores the figures, the version and the
//! definition's text once, in the lake's object store ([`Shelf`]), so every node over the lake
//! sees it and it never changes; [`reproduce`] renders a published report again at its
//! version, byte for byte; [`compare`] sets today's figures beside the published ones and names
//! the events ingested since that changed them.

mod changes;
mod definition;
mod disclosure;
mod pdf;
mod period;
mod portal_766;
mod render;
mod store;
mod xlsx;

use std::sync::Arc;

use parwatch_lake::AsOf;
use parwatch_metrics::Projector;
use parwatch_scoring::Models;

pub use changes::{Cause, Comparison, Difference, compare};
pub use definition::{
    BUILT_IN_PLACEHOLDERS, Catalogue, Column, Definition, Expr, Field, Kind, MIN_DOSSIERS, Rows,
    Section, Subject, Table, Term, Text, Units, parse,
};
pub use disclosure::suppress_points;
pub use pdf::{FONTS, pdf};
pub use period::Period;
pub use portal_766::{
    MAX_PORTAL_ROWS, PORTAL_COLUMNS, PortalFigure, PortalFigures, PortalShelf, parse_portal_csv,
};
pub use render::{
    Ask, Disclosure, Figure, Figures, Heading, Lang, Line, SUPPRESSED, SectionFigures,
    TableFigures, View, format_value, render,
};
pub use store::{Published, Shelf, Summary};
pub use xlsx::xlsx;

/// Result with the reports crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong defining, running, publishing or exporting a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A definition file is wrong as a whole.
    #[error("{file}: {message}")]
    Definition {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// One section of a definition is wrong.
    #[error("{file}: section {section:?}: {message}")]
    Section {
        /// The file.
        file: String,
        /// The section's id.
        section: String,
        /// What is wrong.
        message: String,
    },
    /// One table of a definition is wrong.
    #[error("{file}: section {section:?}: table {table:?}: {message}")]
    Table {
        /// The file.
        file: String,
        /// The section's id.
        section: String,
        /// The table's id.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// A definitions directory or file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// No report of that id.
    #[error("unknown report {0:?}")]
    UnknownReport(String),
    /// No published report of that id (within the caller's scope).
    #[error("no published report {0:?}")]
    NotPublished(String),
    /// A period that is not `2025`, `2025-H1`, `2025-Q1` or `2025-03`.
    #[error(
        "period {0:?}: expected a year (2025), half (2025-H1), quarter (2025-Q1) or month (2025-03)"
    )]
    BadPeriod(String),
    /// Parameters that do not suit the report.
    #[error("{0}")]
    BadAsk(String),
    /// The metrics refused a range.
    #[error(transparent)]
    Metric(#[from] parwatch_metrics::MetricError),
    /// Reading the projections failed.
    #[error(transparent)]
    Projection(#[from] parwatch_metrics::Error),
    /// Reading the lake failed.
    #[error(transparent)]
    Lake(#[from] parwatch_lake::Error),
    /// The object store failed.
    #[error("report store: {0}")]
    ObjectStore(#[from] deltalake::logstore::object_store::Error),
    /// A stored report cannot be read or written.
    #[error("report store: {0}")]
    Store(String),
    /// An export failed.
    #[error("export: {0}")]
    Export(String),
}

impl Error {
    /// Whether the caller asked for something wrong (HTTP 400/404) rather than the server
    /// failing.
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::UnknownReport(_)
            | Self::NotPublished(_)
            | Self::BadPeriod(_)
            | Self::BadAsk(_)
            | Self::Metric(_) => true,
            Self::Lake(e) => matches!(e, parwatch_lake::Error::NoVersion(_)),
            Self::Projection(parwatch_metrics::Error::Lake(e)) => {
                matches!(e, parwatch_lake::Error::NoVersion(_))
            }
            _ => false,
        }
    }
}

/// Renders `definition` for `ask` at `at` (the latest version when `None`). Blocking: a past
/// version is folded from its files.
pub fn run(
    definition: &Definition,
    ask: &Ask,
    projector: &Projector,
    at: Option<u64>,
    models: &Models,
) -> Result<Figures> {
    ask.check(definition)?;
    let view: Arc<View> = match at {
        Some(v) => projector.at(AsOf::Version(v))?,
        None => {
            projector.catch_up(&mut |_, _| {})?;
            projector.rollups()
        }
    };
    let version = view
        .version()
        .ok_or_else(|| Error::Store("the projections have not read the lake yet".to_owned()))?;
    render(definition, ask, &view, version, models)
}

/// Renders a published report again from its recorded definition at its recorded version.
/// Blocking.
pub fn reproduce(published: &Published, projector: &Projector, models: &Models) -> Result<Figures> {
    let figures = &published.figures;
    let definition = parse(&figures.report, &published.id, &published.definition)?;
    run(
        &definition,
        &figures.ask,
        projector,
        Some(figures.lake_version),
        models,
    )
}
