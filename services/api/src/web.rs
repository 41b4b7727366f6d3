//! The web UI's state: the dashboards in service, the key of embed tokens, and which origins
//! may frame embeds. Its routes are in the route table; its pages and data are served by
//! `handlers::{pages, dashboards, embed, status}`.

use std::path::PathBuf;
use std::sync::Arc;

use parwatch_lake::QueryEngine;

use crate::dashboards::{AgencyFilter, Dashboard, DashboardError, Dashboards};
use crate::embed::EmbedKey;
use crate::error::ApiError;

/// How the web UI is set up.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Directory of dashboard files; `None`: `./dashboards` if present, else the built-in ones.
    pub dashboards: Option<PathBuf>,
    /// Signs and checks embed tokens.
    pub embed_key: EmbedKey,
    /// Origins allowed to frame embeds (`https://portal.example.gov.vn`).
    pub embed_origins: Vec<String>,
    /// Embeds are public: points of fewer dossiers than this are withheld (with their
    /// complements; `parwatch_reports::suppress_points`).
    pub embed_min_dossiers: u32,
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
    embed_min_dossiers: u32,
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
            embed_min_dossiers: config.embed_min_dossiers,
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

    /// The dashboards in service.
    pub(crate) fn dashboards(&self) -> &Dashboards {
        &self.dashboards
    }

    /// One dashboard in service, or 404.
    pub(crate) async fn dashboard(&self, id: &str) -> Result<Arc<Dashboard>, ApiError> {
        self.dashboards
            .get(id)
            .await
            .ok_or_else(|| ApiError::NotFound(format!("no dashboard {id:?}")))
    }

    /// The smallest number of dossiers an embed's point shows.
    pub(crate) fn embed_min_dossiers(&self) -> u32 {
        self.embed_min_dossiers
    }

    /// The key that signs and checks embed tokens.
    pub(crate) fn key(&self) -> &EmbedKey {
        &self.key
    }

    /// The Content-Security-Policy of every page: our own files only, framed by ourselves
    /// (the app) or by the configured origins too (embeds).
    pub(crate) fn csp(&self, embed: bool) -> String {
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
