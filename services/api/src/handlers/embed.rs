//! Embedding: `/embed/{dashboard}?token=...` renders one dashboard without the app's chrome,
//! and every request it makes goes through `/embed/api/...`, where the token is checked again
//! (by the route table's [`auth::embed`](crate::auth::embed)) and its dashboard and agency
//! forced. Admins mint and revoke the tokens.

use std::sync::Arc;

use parwatch_auth::Principal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::AppState;
use crate::auth::{Embed, EmbedToken};
use crate::dashboards::DashboardDefinition;
use crate::embed::EmbedError;
use crate::error::{ApiError, ErrorBody};
use crate::handlers::dashboards::{DataVersion, data_version, panel_data};
use crate::handlers::pages::page;
use crate::panels::{PanelAsk, PanelData, PanelQuery, Scope};
use crate::params::{self, Dates, View, today};
use crate::reply::Json;
use crate::web::Web;

/// One dashboard alone for a portal's frame, or a page saying why not. The page carries the
/// names of the agencies it may show.
#[utoipa::path(get, path = "/embed/{id}", operation_id = "embed_page", tag = "embed",
    params(("id" = String, Path, description = "The token's dashboard", example = "province"), EmbedToken),
    responses(
        (status = 200, description = "The embedded dashboard's page", body = String, content_type = "text/html"),
        (status = 400, description = "A query string that does not decode", body = ErrorBody),
        (status = 401, description = "A page saying the token is missing, expired, revoked or forged", body = String, content_type = "text/html"),
        (status = 403, description = "A page saying the token is for another dashboard", body = String, content_type = "text/html"),
        (status = 404, description = "A page saying there is no such dashboard", body = String, content_type = "text/html")))]
pub(crate) async fn page_for(
    id: String,
    token: EmbedToken,
    state: AppState,
    web: Arc<Web>,
) -> Result<Response, ApiError> {
    let refuse = |status: StatusCode, reason: &str, message: String| {
        let config = json!({ "mode": "refused", "status": status.as_u16(), "reason": reason, "message": message });
        Ok(page(&web, config, status, true))
    };
    let claims = match token.verify(&web) {
        Ok(claims) => claims,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.code(), e.to_string()),
    };
    if claims.dashboard != id {
        let message = format!("this token is for dashboard {}, not {id}", claims.dashboard);
        return refuse(StatusCode::FORBIDDEN, "other_dashboard", message);
    }
    if web.dashboards().get(&id).await.is_none() {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard {id:?}"),
        );
    }
    let names = match &claims.agency {
        Some(own) => state.agency_names.among([own.as_str()]),
        None => state.agency_names.as_ref().clone(),
    };
    let config = json!({ "mode": "embed", "dashboard": id, "agency": claims.agency,
        "token": token.text(), "expires": claims.exp, "names": names });
    Ok(page(&web, config, StatusCode::OK, true))
}

/// The embed's dashboard definition.
#[utoipa::path(get, path = "/embed/api/dashboard", operation_id = "embed_dashboard", tag = "embed", params(EmbedToken),
    responses(
        (status = 200, description = "The definition", body = DashboardDefinition),
        (status = 400, description = "A query string that does not decode", body = ErrorBody),
        (status = 401, description = "No valid embed token", body = ErrorBody),
        (status = 404, description = "The token's dashboard is gone", body = ErrorBody),
        (status = 429, description = "This address's embed rate is spent", body = ErrorBody)))]
pub(crate) async fn dashboard(
    embed: Embed,
    web: Arc<Web>,
) -> Result<Json<DashboardDefinition>, ApiError> {
    Ok(Json::ok(
        web.dashboard(&embed.claims.dashboard)
            .await?
            .definition(today()),
    ))
}

/// One panel of the embed's dashboard, held to the token's agency.
#[utoipa::path(get, path = "/embed/api/panels/{panel}", operation_id = "embed_panel_data", tag = "embed",
    params(("panel" = String, Path, description = "A panel's id in the token's dashboard"),
        EmbedToken, Dates, View, PanelQuery),
    responses(
        (status = 200, description = "The panel's data", content(
            (PanelData = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad date, range, bucket or format", body = ErrorBody),
        (status = 401, description = "No valid embed token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's, or a comparison", body = ErrorBody),
        (status = 404, description = "No such panel", body = ErrorBody),
        (status = 422, description = "A SQL panel reached a limit", body = ErrorBody),
        (status = 429, description = "This address's or this token's rate, or the server's running statements, are spent", body = ErrorBody)))]
pub(crate) async fn panel(
    panel: String,
    embed: Embed,
    ask: PanelAsk,
    state: AppState,
    web: Arc<Web>,
) -> Result<Response, ApiError> {
    state.admission.embed_panel(&embed.token)?;
    let scope = Scope::Embed(&embed.claims);
    panel_data(&state, &web, &embed.claims.dashboard, &panel, &ask, scope).await
}

/// The data version, opaque.
#[utoipa::path(get, path = "/embed/api/version", operation_id = "embed_data_version", tag = "embed", params(EmbedToken),
    responses(
        (status = 200, description = "The version (a string)", body = DataVersion),
        (status = 400, description = "A query string that does not decode", body = ErrorBody),
        (status = 401, description = "No valid embed token", body = ErrorBody),
        (status = 429, description = "This address's embed rate is spent", body = ErrorBody)))]
pub(crate) async fn version(_embed: Embed, state: AppState) -> Result<Json<DataVersion>, ApiError> {
    Ok(Json::ok(data_version(&state, true)))
}

/// Body of `POST /api/v1/embed-tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MintRequest {
    /// The dashboard it shows.
    #[schema(example = "province")]
    dashboard: String,
    /// The agency it is locked to (a scoped admin's own by default); none: the province.
    #[serde(default)]
    #[schema(nullable = false)]
    agency: Option<String>,
    /// Lifetime, e.g. `1h`, `30d` (default `1h`).
    #[serde(default)]
    #[schema(nullable = false)]
    #[schema(example = "30d")]
    ttl: Option<String>,
}

/// A minted embed token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Minted {
    /// The token.
    token: String,
    /// Seconds until it expires.
    expires_in_s: u64,
    /// Its id, by which it is revoked.
    id: Option<String>,
    /// `/embed/{dashboard}?token=...`: the URL path a portal frames.
    embed_path: String,
}

/// Mints an embed token (an admin; a scoped admin for its own agency only).
#[utoipa::path(post, path = "/api/v1/embed-tokens", tag = "embed",
    request_body = MintRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token", body = Minted),
        (status = 400, description = "An unknown dashboard, an agency it cannot carry, a bad lifetime or body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin's token, or another agency than its own", body = ErrorBody),
        (status = 411, description = "No Content-Length", body = ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = ErrorBody),
        (status = 415, description = "A body that says it is not JSON", body = ErrorBody)))]
pub(crate) async fn mint(
    principal: Principal,
    req: MintRequest,
    web: Arc<Web>,
) -> Result<Json<Minted>, ApiError> {
    let agency = params::agency(&principal, req.agency.as_deref())?;
    let ttl = humantime::parse_duration(req.ttl.as_deref().unwrap_or("1h"))
        .map_err(|e| ApiError::BadRequest(format!("ttl: {e} (e.g. 1h, 30d)")))?;
    let token = web.mint(&req.dashboard, agency.as_deref(), ttl).await?;
    Ok(Json::ok(Minted {
        expires_in_s: ttl.as_secs(),
        id: crate::embed::token_id(&token),
        embed_path: format!("/embed/{}?token={token}", req.dashboard),
        token,
    }))
}

/// A revoked embed token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Revoked {
    /// Its id.
    id: String,
    /// False when it was revoked already.
    revoked: bool,
}

/// Revokes an embed token by id or by the token itself (an admin not scoped to an agency: a
/// token id names no agency).
#[utoipa::path(delete, path = "/api/v1/embed-tokens/{id}", tag = "embed",
    params(("id" = String, Path, description = "The token's id, or the token")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, description = "Not a token id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an unscoped admin's token", body = ErrorBody)))]
pub(crate) async fn revoke(
    id: String,
    principal: Principal,
    web: Arc<Web>,
) -> Result<Json<Revoked>, ApiError> {
    let (id, fresh) = web.key().revoke(&id).map_err(|e| match e {
        EmbedError::Malformed(m) => ApiError::BadRequest(m),
        other => ApiError::Internal(other.to_string()),
    })?;
    tracing::info!(token = %principal.token_id, embed_token = %id, "embed token revoked");
    Ok(Json::ok(Revoked { id, revoked: fresh }))
}
