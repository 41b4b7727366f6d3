//! Access control for ParWatch's HTTP API and PostgreSQL endpoint.
//!
//! - [`TokenStore`]: API tokens in `<data-dir>/tokens.json`, stored as SHA-256 digests only; the
//!   token itself is shown once, when created. Each has a [`Role`] and may carry an agency scope.
//! - [`Gate`]: turns a presented token into a [`Principal`], or runs open (as a local admin)
//!   when no token exists and the server listens only on loopback.
//! - [`Budgets`]: per-token concurrent queries and queries per minute, so one analyst's heavy
//!   work cannot starve everyone else.
//! - [`Audit`]: the audit line of every SQL statement.

mod audit;
mod budget;
mod tokens;

use std::net::SocketAddr;

pub use audit::Audit;
pub use budget::{BudgetError, BudgetPermit, Budgets, QueryBudget};
pub use tokens::{TokenRecord, TokenStore};

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or changing the token file, or authenticating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token file could not be read or written.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The token file is not valid JSON of the expected shape.
    #[error("token file {path} is damaged: {source}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// No token was presented and one is required.
    #[error(
        "an API token is required: send `Authorization: Bearer <token>` (create one with `parwatch token create`)"
    )]
    Missing,
    /// The presented token is unknown or revoked.
    #[error("the API token is not valid (unknown or revoked)")]
    Invalid,
    /// The token's role does not allow the request.
    #[error("the {have} role may not {action}; it needs the {need} role")]
    Forbidden {
        /// The caller's role.
        have: Role,
        /// The role needed.
        need: Role,
        /// What was attempted.
        action: &'static str,
    },
}

/// What a token may do; each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Dashboards and metrics.
    Viewer,
    /// Also SQL, over HTTP and the PostgreSQL protocol.
    Analyst,
    /// Also minting embed tokens.
    Admin,
}

impl Role {
    /// The role's name as written in the token file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected viewer, analyst or admin"
            )),
        }
    }
}

/// Who is asking: a token's id, role and agency scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's public id (`local` when the server runs open).
    pub token_id: String,
    /// What it may do.
    pub role: Role,
    /// The only agency whose rows it sees, if scoped.
    pub agency: Option<String>,
}

impl Principal {
    /// The caller of a server running open on loopback: an unscoped admin.
    pub fn local() -> Self {
        Self {
            token_id: "local".to_owned(),
            role: Role::Admin,
            agency: None,
        }
    }

    /// Refuses unless the role includes `need`.
    pub fn require(&self, need: Role, action: &'static str) -> Result<()> {
        if self.role >= need {
            Ok(())
        } else {
            Err(Error::Forbidden {
                have: self.role,
                need,
                action,
            })
        }
    }
}

/// Authenticates callers against a [`TokenStore`].
#[derive(Debug)]
pub struct Gate {
    store: TokenStore,
    open_allowed: bool,
}

impl Gate {
    /// A gate for servers listening on `addrs`. Refuses (with the reason) to guard a
    /// non-loopback address when no token exists: that server would be open to the network.
    pub fn new(store: TokenStore, addrs: &[SocketAddr]) -> Result<Self, String> {
        let open_allowed = addrs.iter().all(|a| a.ip().is_loopback());
        let empty = store.is_empty().map_err(|e| e.to_string())?;
        if empty && !open_allowed {
            let exposed: Vec<String> = addrs
                .iter()
                .filter(|a| !a.ip().is_loopback())
                .map(ToString::to_string)
                .collect();
            return Err(format!(
                "refusing to listen on {} without access control: no API tokens exist in {}. \
                 Create one with `parwatch token create --role admin`, or listen on 127.0.0.1",
                exposed.join(", "),
                store.path().display()
            ));
        }
        if empty {
            tracing::warn!(
                "no API tokens in {}: running OPEN for local use (loopback only); every caller is an admin",
                store.path().display()
            );
        }
        Ok(Self {
            store,
            open_allowed,
        })
    }

    /// Whether the server runs open: loopback only and no token exists.
    pub fn is_open(&self) -> bool {
        self.open_allowed && self.store.is_empty().unwrap_or(false)
    }

    /// The principal for a presented token (`None`: none presented).
    pub fn authenticate(&self, token: Option<&str>) -> Result<Principal> {
        if self.is_open() {
            return Ok(Principal::local());
        }
        let token = token.ok_or(Error::Missing)?;
        self.store.verify(token)?.ok_or(Error::Invalid)
    }
}
