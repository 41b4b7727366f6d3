//! The PAR Index (Chỉ số CCHC) of ParWatch: the yearly scoring models and what they give.
//!
//! A [`Models`] holds the rubrics — for each kind of agency (department, district, commune) and
//! each year a rubric changed, the components, their maxima, the criteria under them and which
//! criteria are derived from live metrics with what rule — read from the versioned files of
//! `deploy/par-model/<kind>/<year>.toml` (built in, or from a directory given at start).
//! [`year_index`] turns what is known of each agency in a year (scores given by `par.score`
//! events, values of the live metrics) into the index, its projection for a year not yet
//! scored in full, and the ranks among agencies of the same kind with the places gained or lost
//! against the previous year. It sits after the projections (lake → projections → **PAR
//! Index** → HTTP) and knows nothing of where its inputs come from; the simulator reads the same
//! rubrics to score its province.
//!
//! The national real-time service index of Decision 766 (`service_index.rs`) is dated data the
//! same way: [`ServiceRubrics`] read from `deploy/index-766/<valid-from-date>.toml`, and
//! [`service_index`] scoring each agency's inputs of a month, quarter or year.

mod index;
mod model;
mod service_index;

pub use index::{
    AgencyIndex, AgencyInput, ComponentIndex, Counts, CriterionIndex, CriterionInput, DerivedValue,
    Ratio, Score, Status, YearIndex, year_index,
};
pub use model::{Component, Criterion, Derivation, Models, Rubric, Rule};
pub use service_index::{
    AgencyServiceIndex, Group, GroupScore, IndexPeriod, Indicator, IndicatorScore, Input,
    ServiceIndex, ServiceInputs, ServiceRubric, ServiceRubrics, Span, service_index,
};

/// Result with the scoring crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A scoring model that cannot be read or does not add up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("reading scoring models: {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A rubric file is malformed or inconsistent.
    #[error("scoring model {file}: {message}")]
    Invalid {
        /// The file, as `<kind>/<year>.toml`.
        file: String,
        /// What is wrong, naming the component or criterion.
        message: String,
    },
}
