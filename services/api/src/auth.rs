//! Who is calling: the `Authorization: Bearer` token as a principal, and what its scope allows.

use parwatch_auth::Principal;
use parwatch_lake::Scope;
use warp::{Filter, Rejection};

use crate::AppState;
use crate::error::ApiError;

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
