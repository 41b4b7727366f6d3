//! Embed tokens revoked before their expiry: `<data-dir>/embed-revoked.json`, the ids (`jti`)
//! an admin revoked, checked on every embed request.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::file::SharedJson;

/// One revoked embed token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedRevocation {
    /// The token's id (its `jti` claim).
    pub id: String,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RevocationFile {
    revoked: Vec<EmbedRevocation>,
}

/// The revocation list, shared by the servers (which read it, cached until it changes) and
/// `parwatch embed-revoke` or the admin endpoint (which add to it under the file's lock).
#[derive(Debug)]
pub struct EmbedRevocations {
    file: SharedJson<RevocationFile>,
}

impl EmbedRevocations {
    /// The list at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            file: SharedJson::new(path.into()),
        }
    }

    /// The list's default place in a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("embed-revoked.json"))
    }

    /// Revokes the embed token `id`; whether it was not revoked already. Once this returns,
    /// every server refuses the token at its next request.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        self.file.update(|file| {
            if file.revoked.iter().any(|r| r.id == id) {
                return (false, false);
            }
            file.revoked.push(EmbedRevocation {
                id: id.to_owned(),
                revoked_at: Utc::now(),
            });
            (true, true)
        })
    }

    /// Whether the embed token `id` was revoked.
    pub fn is_revoked(&self, id: &str) -> Result<bool> {
        Ok(self.file.current()?.revoked.iter().any(|r| r.id == id))
    }

    /// Every revocation, oldest first.
    pub fn list(&self) -> Result<Vec<EmbedRevocation>> {
        Ok(self.file.current()?.revoked.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_id_stays_revoked_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let list = EmbedRevocations::in_data_dir(dir.path());
        let server = EmbedRevocations::in_data_dir(dir.path());
        assert!(!server.is_revoked("a1").unwrap());
        assert!(list.revoke("a1").unwrap());
        assert!(!list.revoke("a1").unwrap(), "already revoked");
        assert!(server.is_revoked("a1").unwrap());
        assert!(!server.is_revoked("b2").unwrap());
        assert_eq!(server.list().unwrap().len(), 1);
    }
}
