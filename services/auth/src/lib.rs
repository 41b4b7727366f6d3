//! Access control for ParWatch's HTTP API and PostgreSQL endpoint.
//!
//! - [`TokenStore`]: API tokens in `<data-dir>/tokens.json`, stored as SHA-256 digests only; the
//!   token itself is shown once, when created. Each has a [`Role`] and may carry an agency scope.
//! - [`Gate`]: turns a presented token into a [`Principal`]; runs open (a caller without a
//!   token is a local admin) only when started so ([`GateConfig::open`], loopback only), never
//!   because the token file emptied; tells which `Host` headers name this server.
//! - [`EmbedRevocations`]: the ids of embed tokens an admin revoked before their expiry.
//! - [`Budgets`]: per-token concurrent queries and queries per minute, so one analyst's heavy
//!   work cannot starve everyone else.
//! - [`Audit`]: the audit line of every SQL statement.

mod audit;
mod budget;
mod file;
mod revoked;
mod tokens;

use std::net::SocketAddr;

pub use audit::Audit;
pub use budget::{BudgetError, BudgetPermit, Budgets, QueryBudget};
pub use revoked::{EmbedRevocation, EmbedRevocations};
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
    /// No token was presented, and none exists yet: the server refuses everyone until an
    /// admin creates one (or it is restarted with `--open` on loopback).
    #[error(
        "no API token exists on this server yet, so every request is refused: create one with \
         `parwatch token create --role admin` (token file {path}), or start the server with \
         --open for local use without tokens"
    )]
    NoTokens {
        /// The token file.
        path: std::path::PathBuf,
    },
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

/// How a server admits callers, decided once at start and never derived again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateConfig {
    /// Open mode: a caller without a token is the local admin (a presented token is still
    /// checked). Loopback listeners only.
    pub open: bool,
    /// Host names (as in the `Host` header, port ignored) the HTTP server answers to besides
    /// `localhost` and IP addresses.
    pub allowed_hosts: Vec<String>,
}

/// Authenticates callers against a [`TokenStore`], and tells which `Host` headers name this
/// server.
#[derive(Debug)]
pub struct Gate {
    store: TokenStore,
    open: bool,
    hosts: Vec<String>,
}

impl Gate {
    /// A gate for servers listening on `addrs`. Refuses (with the reason) open mode on a
    /// non-loopback address, a non-loopback address when no token exists (that server could
    /// answer nobody), and an allowed host that is not a host name.
    pub fn new(
        store: TokenStore,
        addrs: &[SocketAddr],
        config: GateConfig,
    ) -> Result<Self, String> {
        let exposed: Vec<String> = addrs
            .iter()
            .filter(|a| !a.ip().is_loopback())
            .map(ToString::to_string)
            .collect();
        if config.open && !exposed.is_empty() {
            return Err(format!(
                "refusing to listen on {} in open mode: --open (PARWATCH_OPEN) makes every \
                 caller without a token an admin and is for loopback addresses only. Listen on \
                 127.0.0.1, or drop --open and create tokens with `parwatch token create`",
                exposed.join(", ")
            ));
        }
        let empty = store.is_empty().map_err(|e| e.to_string())?;
        if empty && !config.open && !exposed.is_empty() {
            return Err(format!(
                "refusing to listen on {} without access control: no API tokens exist in {}. \
                 Create one with `parwatch token create --role admin`, or listen on 127.0.0.1",
                exposed.join(", "),
                store.path().display()
            ));
        }
        let hosts = config
            .allowed_hosts
            .iter()
            .map(|h| {
                let name = host_name(h.trim());
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    Err(format!(
                        "allowed host {h:?}: expected a host name such as parwatch.example.gov.vn"
                    ))
                } else {
                    Ok(name)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if config.open {
            tracing::warn!(
                "running OPEN (--open): every caller without a token is an admin; loopback only"
            );
        } else if empty {
            tracing::warn!(
                "no API tokens in {}: every request is refused until one is created with \
                 `parwatch token create --role admin` (or start with --open for local use)",
                store.path().display()
            );
        }
        Ok(Self {
            store,
            open: config.open,
            hosts,
        })
    }

    /// Whether the server runs open, as decided at start.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The principal for a presented token (`None`: none presented). Without a token, the
    /// local admin in open mode, else a refusal saying how to get a token.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Principal> {
        match token {
            Some(token) => self.store.verify(token)?.ok_or(Error::Invalid),
            None if self.open => Ok(Principal::local()),
            None if self.store.is_empty()? => Err(Error::NoTokens {
                path: self.store.path().to_owned(),
            }),
            None => Err(Error::Missing),
        }
    }

    /// Whether `token`, which logged in as `principal`, still stands for exactly that
    /// principal (not revoked, same role and scope). Cheap: the token file is read again only
    /// when it changed.
    pub fn still_valid(&self, token: &str, principal: &Principal) -> Result<bool> {
        Ok(self.store.verify(token)?.as_ref() == Some(principal))
    }

    /// Whether a `Host` header (or a request's authority) names this server: an IP address,
    /// `localhost`, or one of the allowed hosts. Anything else is a name this server was not
    /// told about, which is what a DNS-rebinding page sends.
    pub fn host_allowed(&self, authority: &str) -> bool {
        let name = host_name(authority);
        name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.hosts.contains(&name)
    }
}

/// The host of an authority (`name[:port]`, `[v6][:port]`), lowercase, without a final dot or
/// the brackets of an IPv6 address.
fn host_name(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        },
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Vec<SocketAddr> {
        vec!["127.0.0.1:8080".parse().unwrap()]
    }

    #[test]
    fn an_emptied_token_file_refuses_everyone_unless_started_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        let (record, token) = store.create(Role::Admin, None, None).unwrap();
        let gate = Gate::new(
            TokenStore::in_data_dir(dir.path()),
            &loopback(),
            GateConfig::default(),
        )
        .unwrap();
        assert!(gate.authenticate(Some(&token)).is_ok());
        assert!(store.revoke(&record.id).unwrap());
        // The last token is gone: nobody gets in, and the refusal says how to get a token.
        let err = gate.authenticate(None).unwrap_err();
        assert!(matches!(err, Error::NoTokens { .. }), "{err}");
        assert!(err.to_string().contains("parwatch token create"), "{err}");
        assert!(matches!(
            gate.authenticate(Some(&token)),
            Err(Error::Invalid)
        ));
        assert!(!gate.is_open());

        let open = Gate::new(
            TokenStore::in_data_dir(dir.path()),
            &loopback(),
            GateConfig {
                open: true,
                ..GateConfig::default()
            },
        )
        .unwrap();
        assert_eq!(open.authenticate(None).unwrap(), Principal::local());
        // A presented token is still checked in open mode.
        assert!(matches!(
            open.authenticate(Some(&token)),
            Err(Error::Invalid)
        ));
    }

    #[test]
    fn open_mode_is_refused_off_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let exposed: Vec<SocketAddr> = vec!["0.0.0.0:8080".parse().unwrap()];
        let config = GateConfig {
            open: true,
            ..GateConfig::default()
        };
        let err = Gate::new(TokenStore::in_data_dir(dir.path()), &exposed, config).unwrap_err();
        assert!(err.contains("open mode"), "{err}");
    }

    #[test]
    fn hosts_are_ip_addresses_localhost_or_allowed_names() {
        let dir = tempfile::tempdir().unwrap();
        let config = GateConfig {
            open: true,
            allowed_hosts: vec!["ParWatch.example.gov.vn".to_owned()],
        };
        let gate = Gate::new(TokenStore::in_data_dir(dir.path()), &loopback(), config).unwrap();
        for good in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "10.1.2.3",
            "parwatch.example.gov.vn",
            "parwatch.example.gov.vn.:443",
        ] {
            assert!(gate.host_allowed(good), "{good}");
        }
        for bad in [
            "evil.example.com:8080",
            "localhost.evil.example.com",
            "example.gov.vn",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!gate.host_allowed(bad), "{bad}");
        }
        let config = GateConfig {
            open: false,
            allowed_hosts: vec!["bad/host".to_owned()],
        };
        assert!(Gate::new(TokenStore::in_data_dir(dir.path()), &loopback(), config).is_err());
    }
}
