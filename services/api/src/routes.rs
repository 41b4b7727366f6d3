//! The route table: every path and method of the API, what each needs of its caller and
//! which handler answers it; and the OpenAPI document, generated from the same handlers.
//!
//! Reading order: this table → `handlers/*` → the domain (`panels`, `dashboards`, `embed`,
//! the metrics and lake crates). Who may call a route is decided here and only here, by
//! filters: [`caller`] with a [`Need`] for bearer tokens, [`auth::embed`] for embed tokens;
//! which agency's rows a scoped caller sees is decided by the one parser (`params::agency`,
//! `View::agency`) the handlers read their agency through. Every
//! handler's result goes through [`reply`], and every rejection through
//! [`handle_rejection`], to one JSON error shape.

use std::convert::Infallible;
use std::sync::Arc;

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::AppState;
use crate::auth::{self, Need, caller};
use crate::error::{ErrorBody, handle_rejection};
use crate::handlers::{dashboards, embed, health, metrics, pages, par, reports, sql, status};
use crate::handlers::{index_766, index_766_lost, index_766_reconcile};
use crate::panels::PanelAsk;
use crate::params::Travel;
use crate::reply::reply;
use crate::web::Web;

/// Largest accepted SQL request body.
const MAX_SQL_BODY: u64 = 1024 * 1024;
/// Largest accepted embed-token request body.
const MAX_MINT_BODY: u64 = 16 * 1024;

/// One route: its filter, answering with a response.
type Route = BoxedFilter<(Response,)>;

/// `route!(METHOD PATH, EXTRACTORS... => HANDLER)`: the handler answers requests of that method
/// and path with what the extractors (query structs, the authorized caller, the state, a body)
/// give it, in order, through [`reply`].
macro_rules! route {
    ($method:ident $path:expr $(, $extract:expr)* => $handler:path) => {
        $path.and(warp::$method())$(.and($extract))*.then($handler).map(reply).boxed()
    };
}

/// Every route of the API, with errors rendered as JSON. The `Host` check answers first: a
/// request for another name reaches no route.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let table = one_of(table(&state));
    auth::foreign_host(state)
        .or(table)
        .recover(handle_rejection)
        .with(warp::trace(request_span))
}

/// The routes as one filter, joined pairwise into a balanced tree: a request passes through
/// about log2(routes) joins rather than one per route listed before its own.
fn one_of(mut routes: Vec<Route>) -> Route {
    while routes.len() > 1 {
        let mut joined = Vec::with_capacity(routes.len().div_ceil(2));
        let mut pairs = routes.into_iter();
        while let Some(first) = pairs.next() {
            joined.push(match pairs.next() {
                Some(second) => first.or(second).unify().boxed(),
                None => first,
            });
        }
        routes = joined;
    }
    routes.pop().expect("the table has routes")
}

/// The table: method and path, what the handler is given (query structs, the caller
/// authorized for what it needs, state, body), the handler.
fn table(state: &AppState) -> Vec<Route> {
    use warp::body::{bytes, content_length_limit as max_body, json};
    use warp::{path, query};
    let st = || with(state.clone());
    let web = || web(state);
    // Routes only a server with the web UI answers (404 otherwise), that take nothing of it.
    let ui = || web().map(|_| ()).untuple_one();
    let viewer = |action| caller(state, Need::viewer(action));
    let embed = || auth::embed(web());
    let document = ::bytes::Bytes::from(document());
    let province = "this covers the whole province";
    let unscoped_admin = "revoking embed tokens needs an unscoped admin";
    let report_set = state.reports.clone();
    let reports = || with(report_set.clone());
    vec![
        // Health and this document.
        route!(get path!("healthz") => health::healthz),
        route!(get path!("readyz"), st() => health::readyz),
        route!(get path!("metrics"), st() => health::prometheus),
        route!(get path!("api" / "v1" / "openapi.json"), with(document) => health::openapi),
        // SQL.
        route!(post path!("api" / "v1" / "sql"), query(), caller(state, Need::analyst("run SQL")),
            max_body(MAX_SQL_BODY), bytes(), st() => sql::sql),
        // Metrics and the PAR Index.
        route!(get path!("api" / "v1" / "metrics") => metrics::catalogue),
        route!(get path!("api" / "v1" / "metrics" / String), query(), query(), query(), Travel::filter(),
            viewer("read metrics"), st() => metrics::series),
        route!(get path!("api" / "v1" / "ranking"), query(), query(), Travel::filter(),
            viewer("read rankings"), st() => metrics::ranking),
        route!(get path!("api" / "v1" / "par-index"), query(), viewer("read the PAR Index"),
            st() => par::index),
        route!(get path!("api" / "v1" / "par-index" / "history"), query(),
            viewer("read the PAR Index"), st() => par::history),
        route!(get path!("api" / "v1" / "index-766"), query(),
            viewer("read the 766 service index"), st() => index_766::index),
        route!(get path!("api" / "v1" / "index-766" / String / "lost"), query(),
            viewer("read the 766 service index"), st() => index_766_lost::lost),
        route!(get path!("api" / "v1" / "index-766" / "reconcile"), query(),
            viewer("read the 766 service index"), st() => index_766_reconcile::reconcile),
        // The pages and what they read.
        route!(get path::end(), web() => pages::index),
        route!(get path!("assets" / String), ui() => pages::asset),
        route!(get path!("api" / "v1" / "dashboards"), viewer("read dashboards"), web()
            => dashboards::list),
        route!(get path!("api" / "v1" / "dashboards" / String), viewer("read dashboards"), web()
            => dashboards::definition),
        route!(get path!("api" / "v1" / "dashboards" / String / "panels" / String), panel_ask(),
            viewer("read dashboards"), st(), web() => dashboards::panel),
        route!(get path!("api" / "v1" / "agencies"), ui(), query(), viewer("read dashboards"),
            st() => dashboards::agencies),
        route!(get path!("api" / "v1" / "ranges"), ui() => dashboards::ranges),
        route!(get path!("api" / "v1" / "status"), ui(),
            caller(state, Need::viewer("read dashboards").unscoped(province)), st()
            => status::status),
        route!(get path!("api" / "v1" / "version"), ui(), viewer("read dashboards"), st()
            => dashboards::version),
        // Embedding.
        route!(get path!("embed" / String), query(), st(), web() => embed::page_for),
        route!(get path!("embed" / "api" / "dashboard"), embed_client(state), embed(), web()
            => embed::dashboard),
        route!(get path!("embed" / "api" / "panels" / String), embed_client(state), embed(),
            panel_ask(), st(), web() => embed::panel),
        route!(get path!("embed" / "api" / "version"), embed_client(state), embed(), st()
            => embed::version),
        route!(post path!("api" / "v1" / "embed-tokens"),
            caller(state, Need::admin("mint embed tokens")), max_body(MAX_MINT_BODY), json(),
            web() => embed::mint),
        route!(delete path!("api" / "v1" / "embed-tokens" / String),
            caller(state, Need::admin("revoke embed tokens").unscoped(unscoped_admin)), web()
            => embed::revoke),
        // Periodic reports.
        route!(get path!("api" / "v1" / "reports"), viewer("read reports"), reports()
            => reports::list),
        route!(get path!("api" / "v1" / "reports" / String / "preview"), query(),
            viewer("read reports"), st(), reports() => reports::preview),
        route!(post path!("api" / "v1" / "reports" / String / "publish"), query(),
            caller(state, Need::admin("publish reports")), st(), reports() => reports::publish),
        route!(get path!("api" / "v1" / "reports" / "published"), query(), viewer("read reports"),
            st(), reports() => reports::published),
        route!(get path!("api" / "v1" / "reports" / "published" / String), query(),
            viewer("read reports"), st(), reports() => reports::read),
        route!(get path!("api" / "v1" / "reports" / "published" / String / "reproduce"),
            viewer("read reports"), st(), reports() => reports::reproduce),
        route!(get path!("api" / "v1" / "reports" / "published" / String / "changes"),
            viewer("read reports"), st(), reports() => reports::changes),
    ]
}

/// The OpenAPI document: every handler of [`table`], in its order.
#[derive(OpenApi)]
#[openapi(
    info(title = "ParWatch API", version = "1",
        description = "Read-only SQL over the lake, the metric catalogue, the PAR Index, dashboards and embedding. Errors are JSON `{\"error\": ...}`; every operation may also answer 421 (a Host this server is not) and 500."),
    paths(
        health::healthz, health::readyz, health::prometheus, health::openapi,
        sql::sql,
        metrics::catalogue, metrics::series, metrics::ranking, par::index, par::history,
        index_766::index, index_766_lost::lost, index_766_reconcile::reconcile,
        pages::index, pages::asset,
        dashboards::list, dashboards::definition, dashboards::panel, dashboards::agencies,
        dashboards::ranges, status::status, dashboards::version,
        embed::page_for, embed::dashboard, embed::panel, embed::version, embed::mint, embed::revoke,
        reports::list, reports::preview, reports::publish, reports::published, reports::read,
        reports::reproduce, reports::changes,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Everywhere),
)]
struct ApiDoc;

/// The document as served. A nullable member is always there (the API writes `null`, never
/// leaves a key out), so it is required too (marked here: the schemas the operations use are
/// collected after [`Everywhere`] runs).
fn document() -> String {
    let mut document = ApiDoc::openapi();
    if let Some(components) = &mut document.components {
        components.schemas.values_mut().for_each(require_nullable);
    }
    document.to_json().expect("the OpenAPI document serializes")
}

/// What holds for every operation: the bearer scheme, and the 421 and 500 answers.
struct Everywhere;

impl utoipa::Modify for Everywhere {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::Content};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A ParWatch API token (`parwatch token create`). Not needed when the \
                         server runs open: loopback only and no token exists.",
                    ))
                    .build(),
            ),
        );
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "ErrorBody",
                        )))),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut operation.responses.responses;
                responses.insert(
                    "421".to_owned(),
                    error("A Host this server does not answer to"),
                );
                responses.insert(
                    "500".to_owned(),
                    error("An internal error (its reference is in the server's log)"),
                );
            }
        }
    }
}

/// Marks every nullable property of `schema` (and of the schemas inside it) required.
fn require_nullable(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::Schema>) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ArrayItems, Object, Schema, SchemaType, Type};
    let is_null = |s: &RefOr<Schema>| match s {
        RefOr::T(Schema::Object(o)) => match &o.schema_type {
            SchemaType::Type(t) => *t == Type::Null,
            SchemaType::Array(types) => types.contains(&Type::Null),
            SchemaType::AnyValue => false,
        },
        _ => false,
    };
    let nullable = |s: &RefOr<Schema>| match s {
        RefOr::T(Schema::OneOf(one)) => one.items.iter().any(is_null),
        other => is_null(other),
    };
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(Object {
            properties,
            required,
            ..
        }) => {
            for (name, property) in properties.iter_mut() {
                if nullable(property) && !required.contains(name) {
                    required.push(name.clone());
                }
                require_nullable(property);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                require_nullable(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(require_nullable),
        Schema::AllOf(all) => all.items.iter_mut().for_each(require_nullable),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(require_nullable),
        _ => {}
    }
}

/// The state, for handlers.
fn with<T: Clone + Send + Sync + 'static>(
    value: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || value.clone())
}

/// The web UI, or 404 when this server has none.
fn web(state: &AppState) -> impl Filter<Extract = (Arc<Web>,), Error = Rejection> + Clone + use<> {
    let web = state.web.clone();
    warp::any().and_then(move || {
        let web = web.clone();
        async move { web.ok_or_else(warp::reject::not_found) }
    })
}

/// The query of a panel request: range, bucket and agency, comparisons, format.
fn panel_ask() -> impl Filter<Extract = (PanelAsk,), Error = Rejection> + Clone {
    warp::query()
        .and(warp::query())
        .and(warp::query())
        .map(|dates, view, query| PanelAsk { dates, view, query })
}

/// Counts the request against its client's `/embed/api` rate (429 past it).
fn embed_client(state: &AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    let state = state.clone();
    warp::ext::optional::<crate::server::ClientAddr>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and_then(
            move |peer: Option<crate::server::ClientAddr>, forwarded: Option<String>| {
                let state = state.clone();
                async move {
                    if let Some(crate::server::ClientAddr(addr)) = peer {
                        let client = state.admission.client(addr.ip(), forwarded.as_deref());
                        state
                            .admission
                            .embed_client(client)
                            .map_err(warp::reject::custom)?;
                    }
                    Ok::<_, Rejection>(())
                }
            },
        )
        .untuple_one()
}

/// The span of a request: its method and path only. Not the query string (an embed's token
/// is there), not the Referer (the embed's URL) nor any credential header.
fn request_span(info: warp::trace::Info<'_>) -> tracing::Span {
    tracing::info_span!("request", method = %info.method(), path = %info.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This file's text, where the table and the document's `paths(...)` both name handlers.
    const SOURCE: &str = include_str!("routes.rs");

    /// The handlers of [`table`], in order, as its `route!` lines name them.
    fn table_handlers() -> Vec<&'static str> {
        let body = SOURCE
            .split_once("fn table(")
            .and_then(|(_, rest)| rest.split_once("\n}\n"))
            .expect("the table")
            .0;
        body.split("=> ")
            .skip(1)
            .map(|after| after.split(')').next().unwrap_or_default().trim())
            .collect()
    }

    #[test]
    fn the_document_lists_every_handler_of_the_table_in_its_order() {
        let paths = SOURCE
            .split_once("    paths(\n")
            .and_then(|(_, rest)| rest.split_once("\n    ),"))
            .expect("the document's paths")
            .0;
        let documented: Vec<&str> = paths
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        assert_eq!(documented, table_handlers());
    }

    #[test]
    fn every_operation_declares_its_refusals() {
        let document: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                let declared = operation["responses"].as_object().unwrap();
                let has = |status: &str| declared.contains_key(status);
                assert!(has("421") && has("500"), "{method} {path}");
                assert!(
                    declared.keys().any(|s| s.starts_with('2')),
                    "{method} {path}: no success"
                );
                // A route that takes a bearer token says what happens without one.
                if operation.get("security").is_some() {
                    assert!(has("401"), "{method} {path}");
                }
            }
        }
        assert_eq!(operations, table_handlers().len());
        let point = &document["components"]["schemas"]["Point"];
        assert_eq!(
            point["required"],
            serde_json::json!(["bucket", "denominator", "numerator", "value"]),
            "nullable members are required: {point}"
        );
    }
}
