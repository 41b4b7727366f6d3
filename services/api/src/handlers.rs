//! Request handlers, one file per concern. Each takes what the route table extracted (path
//! parameters, parsed query structs, the authorized caller, the state) and returns
//! `Result<R, ApiError>`, `R` a typed [`Json`](crate::reply::Json) body or a response it built
//! (a stream, CSV, a page); its `#[utoipa::path]` declares it in the OpenAPI document.

pub(crate) mod dashboards;
pub(crate) mod embed;
pub(crate) mod health;
pub(crate) mod index_766;
pub(crate) mod index_766_lost;
pub(crate) mod index_766_reconcile;
pub(crate) mod metrics;
pub(crate) mod pages;
pub(crate) mod par;
pub(crate) mod reports;
pub(crate) mod sql;
pub(crate) mod status;
