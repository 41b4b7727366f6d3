//! The token file: one JSON document listing each token's id, role, scope and SHA-256 digest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::file::SharedJson;
use crate::{Error, Principal, Result, Role};

/// Prefix of every ParWatch API token, so leaked ones are easy to recognise.
const PREFIX: &str = "pwt";

/// A token as stored: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id, part of the token and of audit lines.
    pub id: String,
    /// What it may do.
    pub role: Role,
    /// The only agency it sees, if scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// Hex SHA-256 of the whole token.
    pub sha256: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Free text: who or what it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<TokenRecord>,
}

/// The token file, re-read whenever it changes on disk (tokens created or revoked by
/// `parwatch token` while a server runs take effect at its next request or statement), and
/// changed under a lock so concurrent `create` and `revoke` cannot undo each other.
#[derive(Debug)]
pub struct TokenStore {
    file: SharedJson<TokenFile>,
}

impl TokenStore {
    /// The store at `path` (created on first [`TokenStore::create`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            file: SharedJson::new(path.into()),
        }
    }

    /// The store's default place in a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("tokens.json"))
    }

    /// Where the tokens are kept.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Whether no token exists.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.file.current()?.tokens.is_empty())
    }

    /// All tokens, as stored (read again only when the file changed).
    pub fn list(&self) -> Result<Arc<Vec<TokenRecord>>> {
        Ok(Arc::new(self.file.current()?.tokens.clone()))
    }

    /// Mints a token; returns its record and the token, which is not stored and cannot be
    /// shown again.
    pub fn create(
        &self,
        role: Role,
        agency: Option<String>,
        note: Option<String>,
    ) -> Result<(TokenRecord, String)> {
        let rng = SystemRandom::new();
        let mut id = [0u8; 4];
        let mut secret = [0u8; 24];
        rng.fill(&mut id)
            .and_then(|()| rng.fill(&mut secret))
            .map_err(|_| Error::Io {
                path: self.path().to_owned(),
                source: std::io::Error::other("no system randomness"),
            })?;
        let id = hex(&id);
        let token = format!("{PREFIX}_{id}_{}", hex(&secret));
        let record = TokenRecord {
            id,
            role,
            agency,
            sha256: hex(digest(&SHA256, token.as_bytes()).as_ref()),
            created_at: Utc::now(),
            note,
        };
        self.file.update(|file| {
            file.tokens.push(record.clone());
            (true, ())
        })?;
        Ok((record, token))
    }

    /// Removes the token with this id; whether it existed. Once this returns, no server
    /// accepts the token: not at a new request, not at an open session's next statement.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        self.file.update(|file| {
            let before = file.tokens.len();
            file.tokens.retain(|t| t.id != id);
            let removed = file.tokens.len() != before;
            (removed, removed)
        })
    }

    /// The principal a presented token stands for, if it is one of ours.
    pub fn verify(&self, token: &str) -> Result<Option<Principal>> {
        let Some(id) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.split('_').next())
        else {
            return Ok(None);
        };
        let presented = hex(digest(&SHA256, token.as_bytes()).as_ref());
        Ok(self
            .file
            .current()?
            .tokens
            .iter()
            .find(|t| t.id == id && t.sha256 == presented)
            .map(|t| Principal {
                token_id: t.id.clone(),
                role: t.role,
                agency: t.agency.clone(),
            }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_verifies_and_a_changed_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        assert!(store.is_empty().unwrap());
        let (record, token) = store
            .create(Role::Analyst, Some("STP".into()), None)
            .unwrap();
        let principal = store.verify(&token).unwrap().unwrap();
        assert_eq!(principal.token_id, record.id);
        assert_eq!(principal.role, Role::Analyst);
        assert_eq!(principal.agency.as_deref(), Some("STP"));
        // The file holds the digest, never the token.
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&token[8..]));
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        assert_eq!(store.verify(&tampered).unwrap(), None);
        assert_eq!(store.verify("Bearer nonsense").unwrap(), None);
        assert!(store.revoke(&record.id).unwrap());
        assert_eq!(store.verify(&token).unwrap(), None);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        std::fs::write(store.path(), b"{not json").unwrap();
        let err = store.is_empty().unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
