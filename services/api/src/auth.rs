//! Who is calling: the `Authorization: Bearer` token as a principal, and what its scope allows;
//! and whether the request is for this server at all (its `Host`).

use parwatch_auth::Principal;
use parwatch_lake::Scope;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::AppState;
use crate::error::{ApiError, error_reply};

/// Longest part of a refused `Host` quoted back.
const QUOTED_HOST: usize = 100;

/// Answers 421 (JSON) to a request whose `Host` is not a name of this server — what a page
/// on another site sends after DNS rebinding points its own name at this server — and rejects
/// (not found, so the routes answer) every other request. Placed first in the route tree.
pub(crate) fn foreign_host(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let gate = std::sync::Arc::clone(&state.gate);
        async move {
            let foreign = headers
                .get_all(header::HOST)
                .iter()
                .find(|v| v.to_str().map_or(true, |host| !gate.host_allowed(host)));
            let Some(host) = foreign else {
                return Err(warp::reject::not_found());
            };
            let host: String = String::from_utf8_lossy(host.as_bytes())
                .chars()
                .take(QUOTED_HOST)
                .collect();
            tracing::warn!(
                host = host.as_str(),
                "request for a host this server is not"
            );
            Ok(error_reply(
                StatusCode::MISDIRECTED_REQUEST,
                &format!(
                    "this server does not answer to the host {host:?}; if that is its name, \
                     start it with --allowed-host NAME (PARWATCH_ALLOWED_HOSTS)"
                ),
            ))
        }
    })
}

/// The caller's principal (the local admin when the server runs open), or a 401.
pub(crate) fn principal(
    state: AppState,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::any().map(move || state.clone()))
        .and_then(|header: Option<String>, state: AppState| async move {
            let token = match header.as_deref() {
                None => None,
                Some(value) => Some(value.strip_prefix("Bearer ").map(str::trim).ok_or_else(
                    || {
                        warp::reject::custom(ApiError::Unauthorized(
                            "the Authorization header must be `Bearer <token>`".to_owned(),
                        ))
                    },
                )?),
            };
            state
                .gate
                .authenticate(token)
                .map_err(|e| warp::reject::custom(ApiError::from(e)))
        })
}

/// The SQL scope of a principal.
pub(crate) fn scope(principal: &Principal) -> Scope {
    Scope::from(principal.agency.clone())
}

/// The agency a metric request may ask for: a scoped token's own, whatever the URL says
/// (another agency is refused, not silently replaced).
pub(crate) fn agency_filter(
    principal: &Principal,
    asked: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match (&principal.agency, asked) {
        (None, asked) => Ok(asked.filter(|a| !a.is_empty()).map(str::to_owned)),
        (Some(own), None | Some("")) => Ok(Some(own.clone())),
        (Some(own), Some(asked)) if asked == own => Ok(Some(own.clone())),
        (Some(own), Some(asked)) => Err(ApiError::Forbidden(format!(
            "this token sees only agency {own}, not {asked}"
        ))),
    }
}
