//! ParWatch over the PostgreSQL wire protocol, for psql, DBeaver, Grafana and Metabase.
//!
//! The same tables and sandbox as HTTP SQL: each connection logs in with an API token as its
//! password (any user name), gets a [`Session`] for the token's agency scope, with `pg_catalog`
//! emulated so clients' catalogue queries get answers (psql's `\dt` and `\d events`, SQLAlchemy's
//! inspector as Superset and pandas use it, pgjdbc's `DatabaseMetaData` as DBeaver and Metabase
//! do; see `catalog.rs`). Simple and extended query protocols are served; every statement is
//! checked read-only, runs under the engine's limits and the token's budget, and is audited. The
//! token is checked again before every statement, so a revoked token ends its open sessions.
//! Transaction and `SET` statements that clients send on their own are accepted as no-ops.
//!
//! Connections are capped ([`ConnectionLimits`]): in all and per client address, as
//! PostgreSQL's `max_connections`; one over the cap gets SQLSTATE 53300, and a connection that
//! has not logged in within the login timeout is closed, so half-open ones cannot hold slots.
//!
//! [`Session`]: parwatch_lake::Session

mod catalog;
mod limits;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use parwatch_auth::{Budgets, Gate};
use parwatch_lake::QueryEngine;
use tokio::net::TcpListener;

pub use crate::limits::ConnectionLimits;
use crate::limits::Slots;
use crate::session::Connection;

/// What every connection shares.
#[derive(Debug)]
pub struct PgServer {
    engine: QueryEngine,
    gate: Arc<Gate>,
    budgets: Arc<Budgets>,
    slots: Slots,
}

impl PgServer {
    /// A server answering from `engine`, authenticating with `gate`, charging `budgets`,
    /// admitting connections within `limits`.
    pub fn new(
        engine: QueryEngine,
        gate: Arc<Gate>,
        budgets: Arc<Budgets>,
        limits: ConnectionLimits,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            gate,
            budgets,
            slots: Slots::new(limits),
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
        let slot = match self.slots.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::warn!(%peer, reason = %refusal, "pg: connection refused");
                self.slots.refuse(socket, refusal);
                return;
            }
        };
        let connection = Connection::new(Arc::clone(self), peer);
        let logged_in = connection.logged_in();
        let login_timeout = self.slots.login_timeout();
        tokio::spawn(async move {
            let _slot = slot;
            let session = pgwire::tokio::process_socket(socket, None, connection);
            tokio::pin!(session);
            let ended = tokio::select! {
                ended = &mut session => ended,
                () = tokio::time::sleep(login_timeout) => {
                    if !logged_in() {
                        // Dropping the session closes the socket and frees the slot.
                        tracing::info!(%peer, "pg: no login within {login_timeout:?}, closed");
                        return;
                    }
                    session.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "pg: connection ended with an error");
            }
        });
    }
}
