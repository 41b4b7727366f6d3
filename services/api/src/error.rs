//! The one place that maps errors to HTTP statuses and JSON bodies.

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

/// An error answered to the client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request itself is wrong (bad SQL, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// No valid API token was presented.
    #[error("{0}")]
    Unauthorized(String),
    /// The request is understood but not allowed (a statement other than a query, a role or
    /// scope that does not cover it).
    #[error("{0}")]
    Forbidden(String),
    /// The query went past a limit (time, memory, rows, size) and was refused or cancelled.
    #[error("{0}")]
    Limit(String),
    /// The token's budget is spent for now.
    #[error("{message}")]
    TooManyRequests {
        /// What was exceeded.
        message: String,
        /// Seconds until a retry can succeed, when known.
        retry_after: Option<u64>,
    },
    /// No such resource (a dashboard, a panel).
    #[error("{0}")]
    NotFound(String),
    /// Something failed on our side: the cause, for the log only.
    #[error("{0}")]
    Internal(String),
}

impl Reject for ApiError {}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Limit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<parwatch_lake::Error> for ApiError {
    /// By the error's kind, decided in the lake (the PostgreSQL endpoint maps the same kinds).
    fn from(e: parwatch_lake::Error) -> Self {
        use parwatch_lake::ErrorKind as K;
        match e.kind() {
            K::Syntax | K::Plan | K::Data | K::Unsupported => {
                ApiError::BadRequest(e.client_message())
            }
            K::NotAQuery | K::Forbidden => ApiError::Forbidden(e.client_message()),
            K::Unauthenticated => ApiError::Unauthorized(e.client_message()),
            K::Limit(_) => ApiError::Limit(e.client_message()),
            K::Internal => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<parwatch_metrics::Error> for ApiError {
    /// A lake error by its kind (a moment of history that cannot be read is the client's);
    /// a damaged file or a failed build is ours.
    fn from(e: parwatch_metrics::Error) -> Self {
        match e {
            parwatch_metrics::Error::Lake(e) => e.into(),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<parwatch_metrics::MetricError> for ApiError {
    /// Every metric error is a mistake in the request (a name, a date, a range).
    fn from(e: parwatch_metrics::MetricError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<parwatch_auth::Error> for ApiError {
    fn from(e: parwatch_auth::Error) -> Self {
        use parwatch_auth::Error as A;
        match e {
            A::Missing | A::Invalid | A::NoTokens { .. } => ApiError::Unauthorized(e.to_string()),
            A::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
            A::Io { .. } | A::Format { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<parwatch_auth::BudgetError> for ApiError {
    fn from(e: parwatch_auth::BudgetError) -> Self {
        let retry_after = match &e {
            parwatch_auth::BudgetError::Rate { retry_after, .. } => {
                Some(retry_after.as_secs().max(1))
            }
            parwatch_auth::BudgetError::Concurrent { .. } => None,
            parwatch_auth::BudgetError::Busy { .. } => Some(1),
        };
        ApiError::TooManyRequests {
            message: e.to_string(),
            retry_after,
        }
    }
}

impl ApiError {
    /// The JSON error reply, with `WWW-Authenticate` or `Retry-After` where they apply.
    ///
    /// An internal error's cause is logged under a reference; the client gets the reference.
    pub(crate) fn into_response(self) -> warp::reply::Response {
        let message = match &self {
            ApiError::Internal(cause) => parwatch_lake::masked_internal(cause),
            other => other.to_string(),
        };
        let mut response = error_reply(self.status(), &message);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(
                    warp::http::header::WWW_AUTHENTICATE,
                    warp::http::HeaderValue::from_static("Bearer realm=\"parwatch\""),
                );
            }
            ApiError::TooManyRequests {
                retry_after: Some(seconds),
                ..
            } => {
                headers.insert(warp::http::header::RETRY_AFTER, seconds.into());
            }
            _ => {}
        }
        response
    }
}

/// The body of every error: `{"error": message}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong; an internal error names only a reference to the server's log.
    error: String,
}

/// JSON `{"error": message}` with the status.
pub(crate) fn error_reply(status: StatusCode, message: &str) -> warp::reply::Response {
    let body = warp::reply::json(&ErrorBody {
        error: message.to_owned(),
    });
    warp::reply::with_status(body, status).into_response()
}

/// Turns every rejection into a JSON error reply.
pub(crate) async fn handle_rejection(rejection: Rejection) -> Result<impl Reply, Infallible> {
    if let Some(e) = rejection.find::<ApiError>() {
        return Ok(e.clone().into_response());
    }
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not found".to_owned())
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        )
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid query string: {e}"),
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_owned(),
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large".to_owned(),
        )
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a JSON body".to_owned(),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "a Content-Length header is required".to_owned(),
        )
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        (
            StatusCode::BAD_REQUEST,
            format!("missing header {}", e.name()),
        )
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid header {}", e.name()),
        )
    } else {
        // Whatever it is, its details are for the log, not the client.
        tracing::error!(rejection = ?rejection, "request rejected for an unhandled reason");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error".to_owned(),
        )
    };
    Ok(error_reply(status, &message))
}
