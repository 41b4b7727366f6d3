//! The token file: one JSON document listing each token's id, role, scope and SHA-256 digest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

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
/// `parwatch token` while a server runs take effect at its next request).
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    cached: Mutex<Option<(SystemTime, Arc<Vec<TokenRecord>>)>>,
}

impl TokenStore {
    /// The store at `path` (created on first [`TokenStore::create`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cached: Mutex::new(None),
        }
    }

    /// The store's default place in a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("tokens.json"))
    }

    /// Where the tokens are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether no token exists.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.list()?.is_empty())
    }

    /// All tokens, as stored (read again only when the file changed).
    pub fn list(&self) -> Result<Arc<Vec<TokenRecord>>> {
        let modified = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.modified().map_err(self.io())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::default()),
            Err(e) => return Err(self.io()(e)),
        };
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, tokens)) = cached.as_ref()
            && *seen == modified
        {
            return Ok(Arc::clone(tokens));
        }
        let tokens = Arc::new(self.read()?.tokens);
        *cached = Some((modified, Arc::clone(&tokens)));
        Ok(tokens)
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
            .map_err(|_| self.io()(std::io::Error::other("no system randomness")))?;
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
        let mut file = self.read()?;
        file.tokens.push(record.clone());
        self.write(&file)?;
        Ok((record, token))
    }

    /// Removes the token with this id; whether it existed.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        let mut file = self.read()?;
        let before = file.tokens.len();
        file.tokens.retain(|t| t.id != id);
        let removed = file.tokens.len() != before;
        if removed {
            self.write(&file)?;
        }
        Ok(removed)
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
            .list()?
            .iter()
            .find(|t| t.id == id && t.sha256 == presented)
            .map(|t| Principal {
                token_id: t.id.clone(),
                role: t.role,
                agency: t.agency.clone(),
            }))
    }

    fn read(&self) -> Result<TokenFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Format {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(self.io()(e)),
        }
    }

    /// Replaces the file atomically, readable by its owner only.
    fn write(&self, file: &TokenFile) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(self.io())?;
        }
        let staging = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(file).expect("token records serialise");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&staging)
            .map_err(self.io())?;
        out.write_all(&json)
            .and_then(|()| out.sync_all())
            .map_err(self.io())?;
        std::fs::rename(&staging, &self.path).map_err(self.io())
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> Error + '_ {
        |source| Error::Io {
            path: self.path.clone(),
            source,
        }
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
