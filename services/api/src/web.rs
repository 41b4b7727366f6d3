//! The web UI served by the binary itself: the pages (HTML, CSS and JavaScript built into the
//! binary, no Node.js and no network at run time), the JSON they read beside api-v1
//! (dashboards, panel data, agencies, status), and embedding: `/embed/{dashboard}?token=...`
//! renders one dashboard without the app's chrome, and every request it makes goes through
//! `/embed/api/...`, where the token is checked again and its dashboard and agency forced.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parwatch_auth::{Principal, Role};
use parwatch_lake::{EVENTS_TABLE, QueryEngine, REJECTED_TABLE};
use serde::Deserialize;
use serde_json::{Value, json};
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::AppState;
use crate::auth::principal;
use crate::dashboards::{self, AgencyFilter, DashboardError, Dashboards};
use crate::embed::{EmbedClaims, EmbedKey};
use crate::error::ApiError;
use crate::panels::{self, PanelParams, Scope};
use crate::server::ClientAddr;

/// The page every route of the app and of embeds serves; `{{config}}` says which.
const INDEX: &str = include_str!("../assets/web/index.html");

/// Files under `/assets/`: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/web/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/web/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/web/api.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/web/chart.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/web/i18n.js"),
    ),
    (
        "par.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/web/par.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/web/pages.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../assets/web/favicon.svg"),
    ),
];

/// How the web UI is set up.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Directory of dashboard files; `None`: `./dashboards` if present, else the built-in ones.
    pub dashboards: Option<PathBuf>,
    /// Signs and checks embed tokens.
    pub embed_key: EmbedKey,
    /// Origins allowed to frame embeds (`https://portal.example.gov.vn`).
    pub embed_origins: Vec<String>,
}

/// Why the web UI cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A dashboard definition is wrong.
    #[error(transparent)]
    Dashboards(#[from] DashboardError),
    /// An origin allowed to frame embeds is not an origin.
    #[error(
        "embed origin {0:?}: expected scheme://host[:port] without a path, e.g. https://sonoivu.example.gov.vn"
    )]
    Origin(String),
}

/// The web UI's state: dashboards in service, the embed key, the framing policy.
#[derive(Debug)]
pub struct Web {
    dashboards: Dashboards,
    key: EmbedKey,
    frame_ancestors: String,
}

/// `scheme://host[:port]`, host letters, digits, `-`, `.` and a leading `*.` wildcard.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl Web {
    /// Loads and checks the dashboards (their SQL planned with `engine`) and the origins.
    pub async fn new(config: WebConfig, engine: QueryEngine) -> Result<Self, WebError> {
        if let Some(bad) = config.embed_origins.iter().find(|o| !is_origin(o)) {
            return Err(WebError::Origin(bad.clone()));
        }
        let dashboards = Dashboards::open(config.dashboards.as_deref(), engine).await?;
        let mut ancestors = vec!["'self'".to_owned()];
        ancestors.extend(config.embed_origins);
        Ok(Self {
            dashboards,
            key: config.embed_key,
            frame_ancestors: ancestors.join(" "),
        })
    }

    /// Checks that `dashboard` exists and can carry `agency` as a lock, then mints a token.
    pub async fn mint(
        &self,
        dashboard: &str,
        agency: Option<&str>,
        ttl: std::time::Duration,
    ) -> Result<String, ApiError> {
        let found = self
            .dashboards
            .get(dashboard)
            .await
            .ok_or_else(|| ApiError::BadRequest(format!("no dashboard {dashboard:?}")))?;
        match (found.agency, agency) {
            (AgencyFilter::None, Some(_)) => Err(ApiError::BadRequest(format!(
                "dashboard {dashboard} cannot be locked to an agency"
            ))),
            (AgencyFilter::Required, None) => Err(ApiError::BadRequest(format!(
                "dashboard {dashboard} shows one agency: give --agency"
            ))),
            _ => self
                .key
                .mint(dashboard, agency, ttl)
                .map_err(|e| ApiError::Internal(e.to_string())),
        }
    }

    /// The Content-Security-Policy of every page: our own files only, framed by ourselves
    /// (the app) or by the configured origins too (embeds).
    fn csp(&self, embed: bool) -> String {
        let ancestors = if embed {
            self.frame_ancestors.as_str()
        } else {
            "'self'"
        };
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
             frame-ancestors {ancestors}"
        )
    }
}

/// An HTML page with the security headers.
fn html(web: &Web, body: String, status: StatusCode, embed: bool) -> Response {
    let mut response = warp::reply::with_status(warp::reply::html(body), status).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_SECURITY_POLICY, web.csp(embed));
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned());
    // An embed's token is in its URL: no request the page makes carries it as a Referer,
    // not even to this server (where request logs would keep it).
    set(header::REFERRER_POLICY, "no-referrer".to_owned());
    set(header::CACHE_CONTROL, "no-store".to_owned());
    response
}

/// The page with its configuration (JSON, with `<` escaped so it cannot close the script).
fn page(web: &Web, config: Value, status: StatusCode, embed: bool) -> Response {
    let config = config.to_string().replace('<', "\\u003c");
    html(web, INDEX.replace("{{config}}", &config), status, embed)
}

fn with_web(
    state: AppState,
) -> impl Filter<Extract = ((AppState, Arc<Web>),), Error = Rejection> + Clone {
    warp::any().and_then(move || {
        let state = state.clone();
        async move {
            match state.web.clone() {
                Some(web) => Ok((state, web)),
                None => Err(warp::reject::not_found()),
            }
        }
    })
}

/// Counts the request against its client's `/embed/api` rate (429 past it).
fn embed_client(state: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and_then(move |peer: Option<ClientAddr>, forwarded: Option<String>| {
            let state = state.clone();
            async move {
                if let Some(ClientAddr(addr)) = peer {
                    let client = state.admission.client(addr.ip(), forwarded.as_deref());
                    state
                        .admission
                        .embed_client(client)
                        .map_err(warp::reject::custom)?;
                }
                Ok::<_, Rejection>(())
            }
        })
        .untuple_one()
}

/// `?token=` of embed routes.
#[derive(Debug, Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// Every route of the web UI. Pages and assets are open (a page asks for a token when the
/// server needs one); data needs a viewer's token; embeds carry their own signed token.
pub(crate) fn routes(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let viewer = principal(state.clone()).and_then(|p: Principal| async move {
        p.require(Role::Viewer, "read dashboards")
            .map(|()| p)
            .map_err(|e| warp::reject::custom(ApiError::from(e)))
    });
    let unscoped = viewer.clone().and_then(|p: Principal| async move {
        match &p.agency {
            None => Ok(p),
            Some(own) => Err(warp::reject::custom(ApiError::Forbidden(format!(
                "this token sees only agency {own}; this covers the whole province"
            )))),
        }
    });
    let mint = warp::path!("api" / "v1" / "embed-tokens")
        .and(warp::post())
        .and(principal(state.clone()))
        .and(warp::body::content_length_limit(16 * 1024))
        .and(warp::body::json::<MintRequest>())
        .and(with_web(state.clone()))
        .and_then(
            |p: Principal, req: MintRequest, (_, web): (AppState, Arc<Web>)| async move {
                mint_token(&p, &req, &web)
                    .await
                    .map_err(warp::reject::custom)
            },
        );
    let revoke = warp::path!("api" / "v1" / "embed-tokens" / String)
        .and(warp::delete())
        .and(principal(state.clone()))
        .and(with_web(state.clone()))
        .and_then(
            |id: String, p: Principal, (_, web): (AppState, Arc<Web>)| async move {
                revoke_token(&p, &id, &web).map_err(warp::reject::custom)
            },
        );
    let web = with_web(state.clone());
    let index = warp::path::end().and(warp::get()).and(web.clone()).map(
        |(_, web): (AppState, Arc<Web>)| {
            page(&web, json!({ "mode": "app" }), StatusCode::OK, false)
        },
    );
    let asset = warp::path!("assets" / String)
        .and(warp::get())
        .and(web.clone())
        .and_then(|name: String, _| async move { asset(&name) });
    let list =
        warp::path!("api" / "v1" / "dashboards")
            .and(warp::get())
            .and(viewer.clone())
            .and(web.clone())
            .then(|_: Principal, (_, web): (AppState, Arc<Web>)| async move {
                list_dashboards(&web).await
            });
    let definition = warp::path!("api" / "v1" / "dashboards" / String)
        .and(warp::get())
        .and(viewer.clone())
        .and(web.clone())
        .and_then(
            |id: String, _: Principal, (_, web): (AppState, Arc<Web>)| async move {
                dashboard_definition(&web, &id)
                    .await
                    .map_err(warp::reject::custom)
            },
        );
    let panel = warp::path!("api" / "v1" / "dashboards" / String / "panels" / String)
        .and(warp::get())
        .and(warp::query::<PanelParams>())
        .and(viewer.clone())
        .and(web.clone())
        .and_then(
            |id: String,
             panel: String,
             params: PanelParams,
             principal: Principal,
             (state, web): (AppState, Arc<Web>)| async move {
                state
                    .admission
                    .viewer_panel(&principal.token_id)
                    .map_err(warp::reject::custom)?;
                panel_data(&state, &web, &id, &panel, &params, Scope::App(&principal))
                    .await
                    .map_err(warp::reject::custom)
            },
        );
    let agencies = warp::path!("api" / "v1" / "agencies")
        .and(warp::get())
        .and(viewer.clone())
        .and(web.clone())
        .and_then(
            |p: Principal, (state, _): (AppState, Arc<Web>)| async move {
                agency_codes(&state, &p).await.map_err(warp::reject::custom)
            },
        );
    let ranges = warp::path!("api" / "v1" / "ranges")
        .and(warp::get())
        .and(web.clone())
        .map(|_| {
            let today = panels::today();
            warp::reply::json(
                &json!({ "today": today.to_string(), "presets": dashboards::presets(today) }),
            )
            .into_response()
        });
    let status = warp::path!("api" / "v1" / "status")
        .and(warp::get())
        .and(unscoped)
        .and(web.clone())
        .and_then(
            |_: Principal, (state, _): (AppState, Arc<Web>)| async move {
                status_report(&state).await.map_err(warp::reject::custom)
            },
        );
    let embed_page = warp::path!("embed" / String)
        .and(warp::get())
        .and(warp::query::<TokenParam>())
        .and(web.clone())
        .then(
            |id: String, q: TokenParam, (state, web): (AppState, Arc<Web>)| async move {
                embed_page(&state, &web, &id, q.token.as_deref().unwrap_or("")).await
            },
        );
    let embed_definition = warp::path!("embed" / "api" / "dashboard")
        .and(warp::get())
        .and(embed_client(state.clone()))
        .and(warp::query::<TokenParam>())
        .and(web.clone())
        .and_then(|q: TokenParam, (_, web): (AppState, Arc<Web>)| async move {
            let claims = verify(&web, q.token.as_deref())?;
            dashboard_definition(&web, &claims.dashboard)
                .await
                .map_err(warp::reject::custom)
        });
    let embed_panel = warp::path!("embed" / "api" / "panels" / String)
        .and(warp::get())
        .and(embed_client(state.clone()))
        .and(warp::query::<PanelParams>())
        .and(web.clone())
        .and_then(
            |panel: String, params: PanelParams, (state, web): (AppState, Arc<Web>)| async move {
                let claims = verify(&web, params.token.as_deref())?;
                state
                    .admission
                    .embed_panel(params.token.as_deref().unwrap_or_default())
                    .map_err(warp::reject::custom)?;
                panel_data(
                    &state,
                    &web,
                    &claims.dashboard,
                    &panel,
                    &params,
                    Scope::Embed(&claims),
                )
                .await
                .map_err(warp::reject::custom)
            },
        );
    let version = warp::path!("api" / "v1" / "version")
        .and(warp::get())
        .and(viewer)
        .and(web.clone())
        .map(|p: Principal, (state, _): (AppState, Arc<Web>)| {
            // A token scoped to one agency is not told the province's event count.
            data_version(&state, p.agency.is_some())
        });
    let embed_version = warp::path!("embed" / "api" / "version")
        .and(warp::get())
        .and(embed_client(state.clone()))
        .and(warp::query::<TokenParam>())
        .and(web)
        .and_then(
            |q: TokenParam, (state, web): (AppState, Arc<Web>)| async move {
                verify(&web, q.token.as_deref())?;
                Ok::<_, Rejection>(data_version(&state, true))
            },
        );
    index
        .or(asset)
        .unify()
        .or(list)
        .unify()
        .or(definition)
        .unify()
        .or(panel)
        .unify()
        .or(agencies)
        .unify()
        .or(ranges)
        .unify()
        .or(status)
        .unify()
        .or(embed_definition)
        .unify()
        .or(embed_panel)
        .unify()
        .or(version)
        .unify()
        .or(embed_version)
        .unify()
        .or(embed_page)
        .unify()
        .or(mint)
        .unify()
        .or(revoke)
        .unify()
}

/// Body of `POST /api/v1/embed-tokens`.
#[derive(Debug, Deserialize)]
struct MintRequest {
    dashboard: String,
    #[serde(default)]
    agency: Option<String>,
    /// Lifetime, e.g. `1h`, `30d` (default `1h`).
    #[serde(default)]
    ttl: Option<String>,
}

/// Revokes an embed token for an unscoped admin (a token id names no agency, so a scoped one
/// could not be held to its own): `{"id", "revoked"}`, `revoked` false when it already was.
fn revoke_token(principal: &Principal, id: &str, web: &Web) -> Result<Response, ApiError> {
    principal.require(Role::Admin, "revoke embed tokens")?;
    if let Some(own) = &principal.agency {
        return Err(ApiError::Forbidden(format!(
            "this token sees only agency {own}; revoking embed tokens needs an unscoped admin"
        )));
    }
    let (id, fresh) = web.key.revoke(id).map_err(|e| match e {
        crate::embed::EmbedError::Malformed(m) => ApiError::BadRequest(m),
        other => ApiError::Internal(other.to_string()),
    })?;
    tracing::info!(token = %principal.token_id, embed_token = %id, "embed token revoked");
    Ok(warp::reply::json(&json!({ "id": id, "revoked": fresh })).into_response())
}

/// Mints an embed token for an admin: `{"token", "id", "expires_in_s", "embed_path"}`.
async fn mint_token(
    principal: &Principal,
    req: &MintRequest,
    web: &Web,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin, "mint embed tokens")?;
    // A scoped admin mints for its own agency only.
    let agency = crate::auth::agency_filter(principal, req.agency.as_deref())?;
    let ttl = humantime::parse_duration(req.ttl.as_deref().unwrap_or("1h"))
        .map_err(|e| ApiError::BadRequest(format!("ttl: {e} (e.g. 1h, 30d)")))?;
    let token = web.mint(&req.dashboard, agency.as_deref(), ttl).await?;
    Ok(warp::reply::json(&json!({
        "token": token,
        "expires_in_s": ttl.as_secs(),
        "id": crate::embed::token_id(&token),
        "embed_path": format!("/embed/{}?token={token}", req.dashboard),
    }))
    .into_response())
}

fn asset(name: &str) -> Result<Response, Rejection> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, ..)| *n == name)
        .ok_or_else(warp::reject::not_found)?;
    let mut response = Response::new((*body).into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    // Small files that change with the binary: revalidate rather than cache stale copies.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    // Modules imported by a script follow its policy: none sends the page's URL.
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

async fn list_dashboards(web: &Web) -> Response {
    let (set, error) = web.dashboards.current().await;
    let mut dashboards: Vec<_> = set.values().collect();
    dashboards.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
    let dashboards: Vec<Value> = dashboards
        .iter()
        .map(|d| json!({ "id": d.id, "title": d.title, "description": d.description, "agency": d.agency }))
        .collect();
    warp::reply::json(&json!({ "dashboards": dashboards, "error": error })).into_response()
}

async fn dashboard_definition(web: &Web, id: &str) -> Result<Response, ApiError> {
    let dashboard = web
        .dashboards
        .get(id)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard {id:?}")))?;
    Ok(warp::reply::json(&dashboard.to_json(panels::today())).into_response())
}

async fn panel_data(
    state: &AppState,
    web: &Web,
    id: &str,
    panel: &str,
    params: &PanelParams,
    scope: Scope<'_>,
) -> Result<Response, ApiError> {
    let dashboard = web
        .dashboards
        .get(id)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard {id:?}")))?;
    let found = dashboard
        .panel(panel)
        .ok_or_else(|| ApiError::NotFound(format!("dashboard {id} has no panel {panel:?}")))?;
    panels::answer(state, &dashboard, found, params, scope).await
}

/// `{"agencies": [code], "names": {code: name}}`: the agencies with data the caller may see,
/// and the names the directory gives them.
async fn agency_codes(state: &AppState, principal: &Principal) -> Result<Response, ApiError> {
    state.refresh().await?;
    let mut codes = state.projector.read().agencies().to_vec();
    if let Some(own) = &principal.agency {
        codes.retain(|c| c == own);
    }
    codes.sort();
    let names = state.agency_names.among(codes.iter().map(String::as_str));
    Ok(warp::reply::json(&json!({ "agencies": codes, "names": names })).into_response())
}

/// `{"version": N}`: a number that changes whenever events are folded into the projections
/// or (with the worker in this process) rejections are stored, so pages redraw when data
/// lands. Answered from memory: pages ask every few seconds.
///
/// `opaque` (embeds, scoped tokens): the number hashed with a key of this process, a string
/// that changes when it does but says nothing of how many events the province has.
fn data_version(state: &AppState, opaque: bool) -> Response {
    use std::hash::BuildHasher;
    let folded = state.projector.read().event_count();
    let rejected = state
        .ingest
        .as_ref()
        .map_or(0, |s| s.rejected.load(Ordering::Relaxed));
    let version = folded + rejected;
    let body = if opaque {
        json!({ "version": format!("{:016x}", state.version_key.hash_one(version)) })
    } else {
        json!({ "version": version })
    };
    warp::reply::json(&body).into_response()
}

/// Freshness and health for the data-quality page: events and rejections stored, the newest
/// event's time, when a file last landed, the worker's lag.
async fn status_report(state: &AppState) -> Result<Response, ApiError> {
    let files = state.lake.files(EVENTS_TABLE).unwrap_or_default();
    let last_landed = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .max()
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    // Partitions are local dates of `occurred_at`: the newest event is in the newest one.
    let newest_partition = files.last().and_then(|f| {
        f.parent()?
            .file_name()?
            .to_str()?
            .strip_prefix("event_date=")?
            .parse::<chrono::NaiveDate>()
            .ok()
    });
    let newest_event = match newest_partition {
        Some(day) => {
            let sql = format!(
                "SELECT CAST(max(occurred_at) AS VARCHAR) FROM {EVENTS_TABLE} WHERE event_date = DATE '{day}'"
            );
            scalar(state, &sql).await?
        }
        None => None,
    };
    let count = |table: &str| {
        let sql = format!("SELECT count(*) FROM {table}");
        async move {
            let n = scalar(state, &sql).await?;
            Ok::<u64, ApiError>(n.and_then(|n| n.parse().ok()).unwrap_or(0))
        }
    };
    let (stored, rejected) = (count(EVENTS_TABLE).await?, count(REJECTED_TABLE).await?);
    let ingest = state.ingest.as_ref().map(|s| {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "ready": s.ready.load(Ordering::Relaxed),
            "consumer_lag": load(&s.consumer_lag),
            "events_stored": load(&s.events_stored),
            "rejected": load(&s.rejected),
            "duplicates": load(&s.duplicates),
            "write_failures": load(&s.write_failures),
        })
    });
    let (dossiers, agencies) = {
        let p = state.projector.read();
        (p.dossier_count(), p.agencies().len())
    };
    Ok(warp::reply::json(&json!({
        "events": stored,
        "dossiers": dossiers,
        "agencies": agencies,
        "newest_event_at": newest_event,
        "last_landed_at": last_landed,
        "rejected": rejected,
        "ingest": ingest,
        "tz": parwatch_proto::LOCAL_TZ_NAME,
    }))
    .into_response())
}

/// The single value of a one-row query of ours, as text; `None` when empty or null.
async fn scalar(state: &AppState, sql: &str) -> Result<Option<String>, ApiError> {
    let output = state.engine.sql(sql).await?;
    Ok(output
        .batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .filter(|b| b.column(0).is_valid(0))
        .and_then(|b| datafusion::arrow::util::display::array_value_to_string(b.column(0), 0).ok()))
}

/// The claims of the request's embed token, or a 401.
fn verify(web: &Web, token: Option<&str>) -> Result<EmbedClaims, Rejection> {
    web.key
        .verify(token.unwrap_or(""))
        .map_err(|e| warp::reject::custom(ApiError::Unauthorized(e.to_string())))
}

/// `/embed/{dashboard}`: the dashboard alone, or a page saying why not. The page carries the
/// names of the agencies it may show.
async fn embed_page(state: &AppState, web: &Web, id: &str, token: &str) -> Response {
    let refuse = |status: StatusCode, reason: &str, message: String| {
        let config = json!({ "mode": "refused", "status": status.as_u16(), "reason": reason, "message": message });
        page(web, config, status, true)
    };
    let claims = match web.key.verify(token) {
        Ok(claims) => claims,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.code(), e.to_string()),
    };
    if claims.dashboard != id {
        let message = format!("this token is for dashboard {}, not {id}", claims.dashboard);
        return refuse(StatusCode::FORBIDDEN, "other_dashboard", message);
    }
    if web.dashboards.get(id).await.is_none() {
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
    page(
        web,
        json!({ "mode": "embed", "dashboard": id, "agency": claims.agency, "token": token, "expires": claims.exp, "names": names }),
        StatusCode::OK,
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::is_origin;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://sotuphap.example.gov.vn",
            "http://localhost:8081",
            "https://*.example.gov.vn",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "sotuphap.example.gov.vn",
            "ftp://example.gov.vn",
            "https://example.gov.vn/path",
            "https://example.gov.vn; script-src *",
            "https://example.gov.vn:",
            "https://example.gov.vn:80a",
            "https://'self'",
            "https://",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
