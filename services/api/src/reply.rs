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
        Self::with_status(body, warp::http::StatusCode::OK)
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

/// A JSON body serialized once, with its strong validator (a hash of the body, so every node
/// serving the same lake version gives the same tag): what the metric, ranking, panel and PAR
/// endpoints send, and what the answer cache keeps.
#[derive(Debug)]
pub(crate) struct Answer {
    body: bytes::Bytes,
    tag: String,
    /// Headers saying how complete it is (see `freshness.rs`).
    stamp: Vec<(&'static str, String)>,
}

impl Answer {
    /// `body` as JSON, with its tag.
    pub(crate) fn of<T: Serialize>(body: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        let tag = etag(&body);
        Ok(Self {
            body: body.into(),
            tag,
            stamp: Vec::new(),
        })
    }

    /// The same answer sent with `stamp`'s headers.
    pub(crate) fn stamped(self, stamp: Vec<(&'static str, String)>) -> Self {
        Self { stamp, ..self }
    }

    /// Bytes of the body.
    pub(crate) fn len(&self) -> usize {
        self.body.len()
    }

    /// The response: `status` with the body, or `304 Not Modified` and no body when
    /// `if_none_match` names the tag; with the `ETag` and `Cache-Control: private, no-cache`,
    /// and the freshness headers when `stamped`: only for callers who may see the whole lake's
    /// state (the lake version and the newest event are province-wide facts, which
    /// `/api/v1/status` keeps from agency-scoped tokens, and embeds see a keyed version only).
    pub(crate) fn reply(
        &self,
        status: warp::http::StatusCode,
        if_none_match: Option<&str>,
        stamped: bool,
    ) -> Response {
        use warp::http::{HeaderValue, StatusCode, header};
        let mut response = if if_none_match.is_some_and(|asked| matches(asked, &self.tag)) {
            let mut response = Response::new(Vec::new().into());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = Response::new(self.body.clone().into());
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        };
        let headers = response.headers_mut();
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(&self.tag).expect("hex is a valid header"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        for (name, value) in self.stamp.iter().filter(|_| stamped) {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
        response
    }
}

/// The strong validator of a body: a hash of its bytes, the same in every process.
fn etag(body: &[u8]) -> String {
    use std::hash::{DefaultHasher, Hasher};
    // `DefaultHasher::new` has fixed keys: the same bytes hash alike on every node.
    let mut hasher = DefaultHasher::new();
    hasher.write(body);
    format!("\"{:016x}{:08x}\"", hasher.finish(), body.len())
}

/// Whether an `If-None-Match` value names `tag` (a list of tags, weak or strong, or `*`).
fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// A handler's result as the response: its reply, or the error's JSON (see [`ApiError`]).
pub(crate) fn reply<R: Reply>(result: Result<R, ApiError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}
