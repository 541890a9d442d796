//! The bearer tokens of `hpo serve` (`hpo serve token create|list|revoke`): kept in the
//! store as SHA-256 digests only, so the store never holds a usable secret; the server
//! compares digests in constant time.

use rusqlite::params;
use sha2::{Digest, Sha256};

use super::{Store, StoreError};

/// One token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenListing {
    /// Its id (what `revoke` takes).
    pub id: i64,
    /// What it is for.
    pub label: String,
    /// When it was made (UTC).
    pub created: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// The digest a token is kept and compared as.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new secret: `hpo_` and 32 random bytes in hex.
fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a token: {e}"))?;
    Ok(format!(
        "hpo_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

impl Store {
    /// Makes a token labelled `label`: its id and its secret (shown once, kept as a digest).
    pub fn create_token(&self, label: &str) -> Result<(i64, String), String> {
        let secret = new_secret()?;
        let hash = digest(&secret).to_vec();
        let id = self
            .write(|c| {
                c.execute(
                    "INSERT INTO tokens (label, digest) VALUES (?1, ?2)",
                    params![label, hash],
                )?;
                Ok(c.last_insert_rowid())
            })
            .map_err(|e| e.to_string())?;
        Ok((id, secret))
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenListing>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, label, created, revoked FROM tokens ORDER BY id")
            .map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TokenListing {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    created: r.get(2)?,
                    revoked: r.get::<_, i64>(3)? != 0,
                })
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// Revokes token `id`; false when there is no such token.
    pub fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        self.write(|c| c.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", params![id]))
            .map(|changed| changed > 0)
    }

    /// Whether the store ever held a token (revoked ones included): from then on, a
    /// service over it admits only tokens in force, even when none is left.
    pub fn has_tokens(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM tokens)", [], |r| r.get(0))
            .map_err(|e| self.wrap(e))
    }

    /// The digests of the tokens in force.
    pub fn token_digests(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT digest FROM tokens WHERE revoked = 0")
            .map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.wrap(e))?;
        let digests = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))?;
        Ok(digests
            .into_iter()
            .filter_map(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_as_its_digest_and_revoked_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let (id, secret) = store.create_token("ci").unwrap();
        assert!(secret.starts_with("hpo_") && secret.len() == 68, "{secret}");
        assert_eq!(store.token_digests().unwrap(), vec![digest(&secret)]);
        let listed = store.tokens().unwrap();
        assert_eq!((listed[0].id, listed[0].label.as_str()), (id, "ci"));
        assert!(store.revoke_token(id).unwrap());
        assert!(store.token_digests().unwrap().is_empty());
        assert!(
            store.has_tokens().unwrap(),
            "a revoked token still closes the door"
        );
        assert!(!store.revoke_token(id + 1).unwrap());
    }
}
