//! Who is calling and what they may do, checked by filters of the route table and nowhere
//! else: [`caller`] (an `Authorization: Bearer` token, a role, a scope) and [`embed`] (an
//! embed's `?token=`); whether the request is for this server at all (its `Host`); and what
//! an agency's token may ask of the data ([`agency_filter`]).

use futures::TryFutureExt;
use parwatch_auth::{Principal, Role};
use parwatch_lake::Scope;
use serde::Deserialize;
use utoipa::IntoParams;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::AppState;
use crate::embed::{EmbedClaims, EmbedError};
use crate::error::{ApiError, error_reply};
use crate::web::Web;

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

/// What a route needs of its caller: a role, and for some, a token not scoped to one agency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need {
    role: Role,
    /// What the caller wants to do, as a refusal says it ("read metrics").
    action: &'static str,
    /// Why an agency's token is refused, when the route covers the whole province.
    unscoped: Option<&'static str>,
}

impl Need {
    /// A viewer (or more) doing `action`.
    pub(crate) const fn viewer(action: &'static str) -> Self {
        Self::role(Role::Viewer, action)
    }

    /// An analyst (or more) doing `action`.
    pub(crate) const fn analyst(action: &'static str) -> Self {
        Self::role(Role::Analyst, action)
    }

    /// An admin doing `action`.
    pub(crate) const fn admin(action: &'static str) -> Self {
        Self::role(Role::Admin, action)
    }

    const fn role(role: Role, action: &'static str) -> Self {
        Self {
            role,
            action,
            unscoped: None,
        }
    }

    /// The same, refused to a token scoped to one agency (`why`: "this covers the whole
    /// province").
    pub(crate) const fn unscoped(self, why: &'static str) -> Self {
        Self {
            unscoped: Some(why),
            ..self
        }
    }

    fn check(self, principal: &Principal) -> Result<(), ApiError> {
        principal.require(self.role, self.action)?;
        match (&principal.agency, self.unscoped) {
            (Some(own), Some(why)) => Err(ApiError::Forbidden(format!(
                "this token sees only agency {own}; {why}"
            ))),
            _ => Ok(()),
        }
    }
}

/// The way every route authorizes a bearer: the caller's principal (the local admin when the
/// server runs open) if it may do what `need` says; else 401 (no valid token) or 403.
pub(crate) fn caller(
    state: &AppState,
    need: Need,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone + use<> {
    let gate = std::sync::Arc::clone(&state.gate);
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let gate = std::sync::Arc::clone(&gate);
        async move {
            let principal = authenticate(&gate, header.as_deref())?;
            need.check(&principal)?;
            Ok::<_, ApiError>(principal)
        }
        .map_err(warp::reject::custom)
    })
}

fn authenticate(gate: &parwatch_auth::Gate, header: Option<&str>) -> Result<Principal, ApiError> {
    let token = match header {
        None => None,
        Some(value) => Some(
            value
                .strip_prefix("Bearer ")
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the Authorization header must be `Bearer <token>`".to_owned(),
                    )
                })?,
        ),
    };
    Ok(gate.authenticate(token)?)
}

/// `?token=` of the embed routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EmbedToken {
    /// The embed token (minted by `POST /api/v1/embed-tokens` or `parwatch embed-token`).
    token: Option<String>,
}

impl EmbedToken {
    /// The token's text (empty when absent).
    pub(crate) fn text(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// Its claims, if `web`'s key signed it and it is neither expired nor revoked.
    pub(crate) fn verify(&self, web: &Web) -> Result<EmbedClaims, EmbedError> {
        web.key().verify(self.text())
    }
}

/// An embed's checked token: its claims, and its text (the key of its rate).
#[derive(Debug, Clone)]
pub(crate) struct Embed {
    /// What the token grants.
    pub(crate) claims: EmbedClaims,
    /// The token itself.
    pub(crate) token: String,
}

/// The way every `/embed/api/*` route authorizes: the request's `?token=`, checked (401).
pub(crate) fn embed(
    web: impl Filter<Extract = (std::sync::Arc<Web>,), Error = Rejection>
    + Clone
    + Send
    + Sync
    + 'static,
) -> impl Filter<Extract = (Embed,), Error = Rejection> + Clone {
    warp::query::<EmbedToken>().and(web).and_then(
        |token: EmbedToken, web: std::sync::Arc<Web>| async move {
            match token.verify(&web) {
                Ok(claims) => Ok(Embed {
                    claims,
                    token: token.text().to_owned(),
                }),
                Err(e) => Err(warp::reject::custom(ApiError::Unauthorized(e.to_string()))),
            }
        },
    )
}

/// The SQL scope of a principal.
pub(crate) fn scope(principal: &Principal) -> Scope {
    Scope::from(principal.agency.clone())
}

/// The agency a request may ask for: a scoped token's own, whatever the URL says (another
/// agency is refused, not silently replaced). Read through [`crate::params::agency`].
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
