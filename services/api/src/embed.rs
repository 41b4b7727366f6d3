//! Embed tokens: an HS256 JWT that lets a portal show one dashboard, optionally locked to one
//! agency, until it expires or an admin revokes it. The server checks the token on every
//! request the embedded page makes and forces its dashboard and agency there; the page itself
//! is never trusted.
//!
//! Each token carries an id (`jti`); revoked ids are kept in `<data-dir>/embed-revoked.json`
//! ([`EmbedRevocations`]) and refused on every request. A token without an id (minted before
//! ids existed) cannot be revoked, so it is refused too: mint a new one.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parwatch_auth::EmbedRevocations;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Shortest secret accepted from the command line or environment.
const MIN_SECRET_LEN: usize = 32;

/// What an embed token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedClaims {
    /// The one dashboard it shows.
    pub dashboard: String,
    /// The one agency it shows, when locked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// The token's id, by which an admin revokes it (empty in tokens minted before ids).
    #[serde(default)]
    pub jti: String,
}

/// Bytes of randomness in a token id.
const ID_BYTES: usize = 12;

/// Why a token or a secret is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// No token in the request.
    #[error("no embed token: add ?token=... (minted by `parwatch embed-token`)")]
    Missing,
    /// The token's time is over.
    #[error("the embed token has expired; ask the site's administrator for a new one")]
    Expired,
    /// The signature does not match: forged, altered, or signed with another secret.
    #[error("the embed token's signature is not valid (altered, or signed with another secret)")]
    BadSignature,
    /// Not a token at all.
    #[error("the embed token is malformed: {0}")]
    Malformed(String),
    /// An admin revoked the token.
    #[error("the embed token has been revoked; ask the site's administrator for a new one")]
    Revoked,
    /// The token has no id, so it could not be revoked: refused.
    #[error(
        "the embed token has no id (minted before embed tokens could be revoked); ask the \
         site's administrator for a new one"
    )]
    NoId,
    /// The revocation list could not be read: every token is refused until it can.
    #[error("embed tokens cannot be checked now: {0}")]
    Revocations(String),
    /// The secret given is unusable.
    #[error("embed secret: {0}")]
    Secret(String),
}

impl EmbedError {
    /// A short name of the refusal, for a page to explain it in its own language.
    pub fn code(&self) -> &'static str {
        match self {
            EmbedError::Missing => "missing",
            EmbedError::Expired => "expired",
            EmbedError::BadSignature => "bad_signature",
            EmbedError::Malformed(_) => "malformed",
            EmbedError::Revoked => "revoked",
            EmbedError::NoId => "no_id",
            EmbedError::Revocations(_) => "unavailable",
            EmbedError::Secret(_) => "secret",
        }
    }
}

/// The secret that signs and checks embed tokens, and the list of revoked ones.
#[derive(Clone)]
pub struct EmbedKey {
    secret: Vec<u8>,
    revoked: Arc<EmbedRevocations>,
}

impl std::fmt::Debug for EmbedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbedKey(..)")
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl EmbedKey {
    /// A key from a configured secret (at least 32 characters), checking revocations in
    /// `revoked`.
    fn from_secret(secret: &str, revoked: Arc<EmbedRevocations>) -> Result<Self, EmbedError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(EmbedError::Secret(format!(
                "at least {MIN_SECRET_LEN} characters, got {}",
                secret.len()
            )));
        }
        Ok(Self {
            secret: secret.as_bytes().to_vec(),
            revoked,
        })
    }

    /// The configured secret when given, else `<data_dir>/embed.key`, created once with 32
    /// random bytes (hex) and mode 0600 so every process on this data directory agrees. The
    /// revocation list is `<data_dir>/embed-revoked.json`.
    pub fn resolve(secret: Option<&str>, data_dir: &Path) -> Result<Self, EmbedError> {
        let revoked = Arc::new(EmbedRevocations::in_data_dir(data_dir));
        match secret {
            Some(secret) => Self::from_secret(secret, revoked),
            None => Self::load_or_create(&data_dir.join("embed.key"), revoked),
        }
    }

    fn load_or_create(path: &Path, revoked: Arc<EmbedRevocations>) -> Result<Self, EmbedError> {
        let failed = |what: &str, e: std::io::Error| {
            EmbedError::Secret(format!("{what} {}: {e}", path.display()))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_secret(text.trim(), revoked)
                .map_err(|e| EmbedError::Secret(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes)
                    .map_err(|e| EmbedError::Secret(format!("no system randomness: {e}")))?;
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| failed("creating the directory of", e))?;
                }
                let created = {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                };
                match created {
                    Ok(mut file) => {
                        file.write_all(hex.as_bytes())
                            .and_then(|()| file.sync_all())
                            .map_err(|e| failed("writing", e))?;
                        tracing::info!(path = %path.display(), "embed secret generated");
                        Self::from_secret(&hex, revoked)
                    }
                    // Another process made it meanwhile: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path, revoked)
                    }
                    Err(e) => Err(failed("creating", e)),
                }
            }
            Err(e) => Err(failed("reading", e)),
        }
    }

    /// A token for `dashboard` (and `agency`, when locked to one) valid for `ttl`.
    pub fn mint(
        &self,
        dashboard: &str,
        agency: Option<&str>,
        ttl: Duration,
    ) -> Result<String, EmbedError> {
        let iat = now();
        let mut id = [0u8; ID_BYTES];
        getrandom::fill(&mut id)
            .map_err(|e| EmbedError::Secret(format!("no system randomness: {e}")))?;
        let claims = EmbedClaims {
            dashboard: dashboard.to_owned(),
            agency: agency.map(str::to_owned),
            exp: iat.saturating_add(ttl.as_secs().max(1)),
            iat,
            jti: id.iter().map(|b| format!("{b:02x}")).collect(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .map_err(|e| EmbedError::Malformed(e.to_string()))
    }

    /// The claims of a genuine, unexpired, unrevoked token.
    pub fn verify(&self, token: &str) -> Result<EmbedClaims, EmbedError> {
        let claims = self.verify_signed(token)?;
        if claims.jti.is_empty() {
            return Err(EmbedError::NoId);
        }
        match self.revoked.is_revoked(&claims.jti) {
            Ok(false) => Ok(claims),
            Ok(true) => Err(EmbedError::Revoked),
            Err(e) => {
                tracing::error!(error = %e, "embed revocation list unreadable: embeds refused");
                Err(EmbedError::Revocations(
                    "the revocation list is unreadable".to_owned(),
                ))
            }
        }
    }

    /// Revokes the embed token with this id, or the id of this token (`eyJ...`); the id and
    /// whether it was not revoked already. Servers refuse it from their next request on.
    pub fn revoke(&self, id_or_token: &str) -> Result<(String, bool), EmbedError> {
        let id = revocation_id(id_or_token)?;
        let fresh = self
            .revoked
            .revoke(&id)
            .map_err(|e| EmbedError::Revocations(e.to_string()))?;
        Ok((id, fresh))
    }

    /// The claims of a genuine, unexpired token, revoked or not.
    fn verify_signed(&self, token: &str) -> Result<EmbedClaims, EmbedError> {
        if token.is_empty() {
            return Err(EmbedError::Missing);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        jsonwebtoken::decode::<EmbedClaims>(
            token,
            &DecodingKey::from_secret(&self.secret),
            &validation,
        )
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => EmbedError::Expired,
            ErrorKind::InvalidSignature => EmbedError::BadSignature,
            _ => EmbedError::Malformed(e.to_string()),
        })
    }
}

/// The id to revoke for an argument that is a token id or a whole token (`eyJ...`).
pub fn revocation_id(id_or_token: &str) -> Result<String, EmbedError> {
    let id = if id_or_token.contains('.') {
        token_id(id_or_token).ok_or_else(|| {
            EmbedError::Malformed("not an embed token with an id, and not a token id".to_owned())
        })?
    } else {
        id_or_token.to_owned()
    };
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(EmbedError::Malformed(format!(
            "{id:?} is not an embed token id (the `id` printed when it was minted)"
        )));
    }
    Ok(id)
}

/// The id a token says it has, read without checking its signature or expiry: for showing
/// and revoking (revoking an id only ever refuses more), never for granting anything.
pub fn token_id(token: &str) -> Option<String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.set_required_spec_claims::<&str>(&[]);
    jsonwebtoken::decode::<EmbedClaims>(token, &DecodingKey::from_secret(&[]), &validation)
        .ok()
        .map(|data| data.claims.jti)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a test secret that is long enough!!";

    /// A key whose revocation list is empty (its directory does not exist; only revoking
    /// would create it).
    fn key() -> EmbedKey {
        EmbedKey::resolve(Some(SECRET), Path::new("/nonexistent/parwatch-embed-tests")).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let token = key()
            .mint("province", Some("000.00.17.H02"), Duration::from_secs(3600))
            .unwrap();
        let claims = key().verify(&token).unwrap();
        assert_eq!(claims.dashboard, "province");
        assert_eq!(claims.agency.as_deref(), Some("000.00.17.H02"));
        assert_eq!(claims.exp - claims.iat, 3600);
        let open = key()
            .mint("province", None, Duration::from_secs(60))
            .unwrap();
        assert_eq!(key().verify(&open).unwrap().agency, None);
    }

    #[test]
    fn tampered_forged_expired_and_malformed_tokens_are_refused() {
        let token = key()
            .mint("province", Some("A"), Duration::from_secs(3600))
            .unwrap();
        // Change the payload (another agency) but keep the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let other = key()
            .mint("province", Some("B"), Duration::from_secs(3600))
            .unwrap();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(key().verify(&tampered), Err(EmbedError::BadSignature));
        let other_dir = tempfile::tempdir().unwrap();
        let forged = EmbedKey::resolve(
            Some("another secret, also long enough...."),
            other_dir.path(),
        )
        .unwrap()
        .mint("province", None, Duration::from_secs(3600))
        .unwrap();
        assert_eq!(key().verify(&forged), Err(EmbedError::BadSignature));
        let claims = EmbedClaims {
            dashboard: "province".to_owned(),
            agency: None,
            exp: now() - 1,
            iat: now() - 100,
            jti: "0123".to_owned(),
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"a test secret that is long enough!!"),
        )
        .unwrap();
        assert_eq!(key().verify(&expired), Err(EmbedError::Expired));
        assert!(matches!(
            key().verify("not-a-token"),
            Err(EmbedError::Malformed(_))
        ));
        assert_eq!(key().verify(""), Err(EmbedError::Missing));
    }

    #[test]
    fn short_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = EmbedKey::resolve(Some("short"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("at least 32"), "{e}");
    }

    #[test]
    fn the_generated_key_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let first = EmbedKey::resolve(None, tmp.path()).unwrap();
        let path = tmp.path().join("embed.key");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = EmbedKey::resolve(None, tmp.path()).unwrap();
        let token = first
            .mint("province", None, Duration::from_secs(60))
            .unwrap();
        assert!(second.verify(&token).is_ok(), "the same key is read back");
        assert_eq!(std::fs::read_to_string(&path).unwrap().len(), 64);
    }

    #[test]
    fn a_revoked_token_is_refused_and_one_without_an_id_too() {
        let dir = tempfile::tempdir().unwrap();
        let key = EmbedKey::resolve(Some(SECRET), dir.path()).unwrap();
        let token = key
            .mint("province", None, Duration::from_secs(3600))
            .unwrap();
        let other = key
            .mint("province", None, Duration::from_secs(3600))
            .unwrap();
        let id = key.verify(&token).unwrap().jti;
        assert_eq!(token_id(&token).as_deref(), Some(id.as_str()));
        // Another process (the CLI) revokes by id; this key sees it at once.
        let cli = EmbedKey::resolve(Some(SECRET), dir.path()).unwrap();
        assert_eq!(cli.revoke(&id).unwrap(), (id.clone(), true));
        assert_eq!(key.verify(&token), Err(EmbedError::Revoked));
        assert!(key.verify(&other).is_ok(), "only that token");
        // By the token itself, too.
        assert!(cli.revoke(&other).unwrap().1);
        assert_eq!(key.verify(&other), Err(EmbedError::Revoked));
        assert!(matches!(
            cli.revoke("not an id"),
            Err(EmbedError::Malformed(_))
        ));
        // A token of the same secret minted without an id cannot be revoked: refused.
        let claims =
            serde_json::json!({ "dashboard": "province", "exp": now() + 3600, "iat": now() });
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(key.verify(&legacy), Err(EmbedError::NoId));
    }
}
