//! ParWatch over the PostgreSQL wire protocol, for psql, DBeaver, Grafana and Metabase.
//!
//! The same tables and sandbox as HTTP SQL: each connection logs in with an API token as its
//! password (any user name), gets a [`Session`] for the token's agency scope, with `pg_catalog`
//! emulated so clients' catalogue queries (psql's `\dt`, `\d events`, BI tools' schema browsers)
//! get answers. Simple and extended query protocols are served; every statement is checked
//! read-only, runs under the engine's limits and the token's budget, and is audited.
//! Transaction and `SET` statements that clients send on their own are accepted as no-ops.

mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use parwatch_auth::{Budgets, Gate};
use parwatch_lake::QueryEngine;
use tokio::net::TcpListener;

use crate::session::Connection;

/// What every connection shares.
#[derive(Debug)]
pub struct PgServer {
    engine: QueryEngine,
    gate: Arc<Gate>,
    budgets: Arc<Budgets>,
}

impl PgServer {
    /// A server answering from `engine`, authenticating with `gate`, charging `budgets`.
    pub fn new(engine: QueryEngine, gate: Arc<Gate>, budgets: Arc<Budgets>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            gate,
            budgets,
        })
    }

    /// Accepts connections on `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => self.spawn_connection(socket, peer),
                    Err(e) => tracing::warn!(error = %e, "pg: accept failed"),
                },
            }
        }
    }

    fn spawn_connection(self: &Arc<Self>, socket: tokio::net::TcpStream, peer: SocketAddr) {
        let connection = Connection::new(Arc::clone(self), peer);
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, None, connection).await {
                tracing::debug!(%peer, error = %e, "pg: connection ended with an error");
            }
        });
    }
}
