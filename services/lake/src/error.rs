//! Errors of the lake.

use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

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
    /// The lake's location is not one ParWatch can open.
    #[error("lake location {0}")]
    Location(String),
    /// A Delta table operation failed (its log, a commit, compaction).
    #[error("delta: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    /// The object store failed (a local folder or an S3-compatible store).
    #[error("object store: {0}")]
    Store(#[from] deltalake::ObjectStoreError),
    /// A moment of a table's history that cannot be read (see [`crate::AsOf`]): the message
    /// is for the client (the cause, which may name where the lake is, is logged).
    #[error("{0}")]
    NoVersion(String),
    /// Another writer committed this table's ingest position: this one must stop.
    #[error("fenced: {0}")]
    Fenced(String),
}

impl Error {
    /// The error for a moment of `table`'s history that cannot be read: the cause (logged)
    /// may name where the lake is, which is not for the client.
    pub fn no_version(table: &str, at: crate::AsOf, cause: &dyn std::fmt::Display) -> Self {
        tracing::debug!(error = %cause, ?at, "time travel refused");
        let at = match at {
            crate::AsOf::Version(v) => v.to_string(),
            crate::AsOf::Time(t) => format!("at {}", t.to_rfc3339()),
        };
        Error::NoVersion(format!(
            "{table} has no version {at} (the log keeps 30 days of versions; the files of \
             versions replaced longer ago than the vacuum retention, 7 days by default, are gone)"
        ))
    }
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

/// What kind of failure an error is, decided where it arises. The HTTP status and the
/// SQLSTATE a client gets both follow from it, so the two protocols always agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// SQL that does not parse.
    Syntax,
    /// A query that parses but cannot be planned (unknown table or column, wrong types).
    Plan,
    /// A value the query computed on is bad (a cast, a division by zero, a pattern, a date).
    Data,
    /// Something the engine does not support.
    Unsupported,
    /// A statement other than a read-only query, or a statement the caller's scope may not run.
    NotAQuery,
    /// A limit the query ran into.
    Limit(LimitKind),
    /// No valid credentials.
    Unauthenticated,
    /// Valid credentials without the right to do this.
    Forbidden,
    /// Our own failure (I/O, a damaged file, a bug): logged with its cause, masked for clients.
    Internal,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Syntax | ErrorKind::Plan | ErrorKind::Data | ErrorKind::Unsupported => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::NotAQuery | ErrorKind::Forbidden => 403,
            ErrorKind::Limit(_) => 422,
            ErrorKind::Internal => 500,
        }
    }

    /// The PostgreSQL SQLSTATE of this kind.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "42601",
            ErrorKind::Plan => "42000",
            ErrorKind::Data => "22000",
            ErrorKind::Unsupported => "0A000",
            ErrorKind::NotAQuery => "25006",
            ErrorKind::Limit(LimitKind::Time) => "57014",
            ErrorKind::Limit(LimitKind::Memory) => "53200",
            ErrorKind::Limit(LimitKind::Rows | LimitKind::Size) => "54000",
            ErrorKind::Unauthenticated => "28000",
            ErrorKind::Forbidden => "42501",
            ErrorKind::Internal => "XX000",
        }
    }
}

/// Logs an internal error with its cause under a fresh reference and returns the message a
/// client gets instead: no paths, no process details, only the reference to find the cause.
pub fn masked_internal(cause: &dyn std::fmt::Display) -> String {
    let mut id = [0u8; 6];
    // Without randomness the reference is still unique enough to find in the log by time.
    let _ = getrandom::fill(&mut id);
    let reference: String = id.iter().map(|b| format!("{b:02x}")).collect();
    tracing::error!(reference = %reference, cause = %cause, "internal error");
    format!("internal error (reference {reference}); the server's log has its cause")
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. }
            | Error::Parquet { .. }
            | Error::Arrow(_)
            | Error::Location(_)
            | Error::Delta(_)
            | Error::Store(_)
            | Error::Fenced(_) => ErrorKind::Internal,
            Error::NotAQuery(_) => ErrorKind::NotAQuery,
            Error::NoVersion(_) => ErrorKind::Plan,
            Error::Limit { kind, .. } => ErrorKind::Limit(*kind),
            Error::Query(e) => query_kind(e),
        }
    }

    /// The message for a client: the error itself, or for an internal error a masked message
    /// (the cause logged, see [`masked_internal`]).
    pub fn client_message(&self) -> String {
        match (self.kind(), self) {
            (ErrorKind::Internal, _) => masked_internal(self),
            (_, Error::Query(e)) => e.strip_backtrace(),
            (_, other) => other.to_string(),
        }
    }

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

/// The kind of a query's error, by its root cause.
fn query_kind(e: &DataFusionError) -> ErrorKind {
    use DataFusionError as Df;
    match e.find_root() {
        Df::SQL(..) => ErrorKind::Syntax,
        Df::Plan(_) | Df::SchemaError(..) => ErrorKind::Plan,
        Df::NotImplemented(_) => ErrorKind::Unsupported,
        Df::ResourcesExhausted(_) => ErrorKind::Limit(LimitKind::Memory),
        // Functions report the values they cannot take as execution errors.
        Df::Execution(_) => ErrorKind::Data,
        Df::ArrowError(inner, _) => arrow_kind(inner),
        // Filters run inside the Parquet scan: a function's error comes back wrapped.
        Df::ParquetError(inner) => wrapped_kind(inner.as_ref()),
        _ => ErrorKind::Internal,
    }
}

fn arrow_kind(e: &ArrowError) -> ErrorKind {
    match e {
        ArrowError::CastError(_)
        | ArrowError::ParseError(_)
        | ArrowError::DivideByZero
        | ArrowError::ArithmeticOverflow(_)
        | ArrowError::InvalidArgumentError(_)
        | ArrowError::ComputeError(_) => ErrorKind::Data,
        ArrowError::ExternalError(_) => wrapped_kind(e),
        _ => ErrorKind::Internal,
    }
}

/// The kind of the first query or Arrow error among `e`'s causes; internal without one.
fn wrapped_kind(e: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut cause = e.source();
    while let Some(inner) = cause {
        if let Some(e) = inner.downcast_ref::<DataFusionError>() {
            return query_kind(e);
        }
        if let Some(e) = inner.downcast_ref::<ArrowError>() {
            return arrow_kind(e);
        }
        cause = inner.source();
    }
    ErrorKind::Internal
}

#[cfg(test)]
mod tests {
    use datafusion::parquet::errors::ParquetError;

    use super::*;

    /// A function's error raised in a filter inside the Parquet scan, as the reader wraps it.
    fn in_scan(e: DataFusionError) -> Error {
        let arrow = ArrowError::ExternalError(Box::new(e));
        Error::Query(DataFusionError::ParquetError(Box::new(ParquetError::from(
            arrow,
        ))))
    }

    #[test]
    fn errors_inside_a_parquet_scan_keep_their_kind() {
        let bad_value = in_scan(DataFusionError::Execution("regex too large".into()));
        assert_eq!(bad_value.kind(), ErrorKind::Data);
        let cast = Error::Query(DataFusionError::ParquetError(Box::new(ParquetError::from(
            ArrowError::CastError("not a number".into()),
        ))));
        assert_eq!(cast.kind(), ErrorKind::Data);
        let memory = in_scan(DataFusionError::ResourcesExhausted("memory".into()));
        assert_eq!(memory.kind(), ErrorKind::Limit(LimitKind::Memory));
        let damaged = Error::Query(DataFusionError::ParquetError(Box::new(
            ParquetError::General("corrupt page".into()),
        )));
        assert_eq!(damaged.kind(), ErrorKind::Internal);
    }
}
