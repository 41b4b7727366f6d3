//! The one adapter from handlers to HTTP: a handler returns `Result<R, ApiError>` where `R` is
//! a typed body ([`Json`]) or a response it built (a stream, CSV, a page); [`reply`] turns
//! either side into the response.

use serde::Serialize;
use warp::Reply;
use warp::reply::Response;

use crate::error::ApiError;

/// A typed JSON body (status 200 unless [`Json::with_status`] says otherwise).
#[derive(Debug)]
pub(crate) struct Json<T> {
    body: T,
    status: warp::http::StatusCode,
}

impl<T> Json<T> {
    /// `body` with status 200.
    pub(crate) fn ok(body: T) -> Self {
        Self {
            body,
            status: warp::http::StatusCode::OK,
        }
    }

    /// `body` with `status`.
    pub(crate) fn with_status(body: T, status: warp::http::StatusCode) -> Self {
        Self { body, status }
    }
}

impl<T: Serialize + Send> Reply for Json<T> {
    fn into_response(self) -> Response {
        warp::reply::with_status(warp::reply::json(&self.body), self.status).into_response()
    }
}

/// A handler's result as the response: its reply, or the error's JSON (see [`ApiError`]).
pub(crate) fn reply<R: Reply>(result: Result<R, ApiError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}
