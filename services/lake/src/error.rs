//! Errors of the lake.

use std::path::PathBuf;

/// Result with the lake's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong storing or querying events.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("lake i/o on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing or reading Parquet failed.
    #[error("parquet {path}: {source}")]
    Parquet {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: datafusion::parquet::errors::ParquetError,
    },
    /// Building Arrow data failed.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The statement is valid SQL but not a read-only query.
    #[error("{0}")]
    NotAQuery(String),
    /// The query went past one of its limits and was refused or cancelled.
    #[error("{message}")]
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// What happened, for the client.
        message: String,
    },
    /// DataFusion could not parse, plan or run the query.
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

/// The limits a query can run into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Wall time.
    Time,
    /// Memory reserved by operators.
    Memory,
    /// Rows in the result.
    Rows,
    /// Length of the SQL text.
    Size,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(datafusion::parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |source| Error::Parquet { path, source }
    }
}
