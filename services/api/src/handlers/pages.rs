//! The pages: one HTML page (its configuration says what it shows) and its files, built into
//! the binary (no Node.js and no network at run time), served with their security headers.

use std::sync::Arc;

use serde_json::{Value, json};
use warp::Reply;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use crate::error::{ApiError, ErrorBody};
use crate::web::Web;

/// The page every route of the app and of embeds serves; `{{config}}` says which.
const INDEX: &str = include_str!("../../assets/web/index.html");

/// Files under `/assets/`: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/api.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/chart.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/i18n.js"),
    ),
    (
        "index766.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/index766.js"),
    ),
    (
        "par.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/par.js"),
    ),
    (
        "reports.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/reports.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/pages.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/web/favicon.svg"),
    ),
];

/// The app.
#[utoipa::path(get, path = "/", operation_id = "app_page", tag = "pages",
    responses((status = 200, description = "The app's page", body = String, content_type = "text/html")))]
pub(crate) async fn index(web: Arc<Web>) -> Result<Response, ApiError> {
    Ok(page(&web, json!({ "mode": "app" }), StatusCode::OK, false))
}

/// A file of the pages.
#[utoipa::path(get, path = "/assets/{name}", tag = "pages",
    params(("name" = String, Path, description = "A file name", example = "app.js")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml"))),
        (status = 404, description = "No such file", body = ErrorBody)))]
pub(crate) async fn asset(name: String) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, ..)| *n == name)
        .ok_or_else(|| ApiError::NotFound("not found".to_owned()))?;
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
pub(crate) fn page(web: &Web, config: Value, status: StatusCode, embed: bool) -> Response {
    let config = config.to_string().replace('<', "\\u003c");
    html(web, INDEX.replace("{{config}}", &config), status, embed)
}
