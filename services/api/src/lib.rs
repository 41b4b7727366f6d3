//! The ParWatch HTTP API (warp): health, read-only SQL over the lake, process metrics.
//!
//! The last stage of the pipeline (lake → DataFusion → **HTTP**). [`routes`] builds the warp
//! filter tree, [`serve`] runs it on a listener until shutdown. Interfaces follow
//! `shared/design/api-v1.md`; every error is JSON `{"error": ...}` with a 4xx/5xx status, mapped
//! in one place (`error.rs`).

mod encode;
mod error;
mod handlers;
mod routes;
mod telemetry;

use std::future::Future;
use std::sync::Arc;

use parwatch_ingest::IngestStatus;
use parwatch_lake::{Lake, QueryEngine};

pub use error::ApiError;
pub use routes::routes;
pub use telemetry::Telemetry;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The lake the tables read.
    pub lake: Lake,
    /// SQL over the lake.
    pub engine: QueryEngine,
    /// The ingest worker's counters, when it runs in this process.
    pub ingest: Option<Arc<IngestStatus>>,
    /// Request counters of this server.
    pub telemetry: Arc<Telemetry>,
}

impl AppState {
    /// State for a server over `lake`, with the worker's status when it runs alongside.
    pub fn new(lake: Lake, ingest: Option<Arc<IngestStatus>>) -> parwatch_lake::Result<Self> {
        Ok(Self {
            engine: QueryEngine::new(&lake)?,
            lake,
            ingest,
            telemetry: Arc::default(),
        })
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
