//! The bearer tokens of `hpo serve` (`hpo serve token create|list|revoke`): kept in the
//! store as SHA-256 digests only, so the store never holds a usable secret; the server
//! compares digests in constant time.

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
    /// Mimpl Store {
    /// Makes a token labelled `label`: its id and its secret (shown once, kept as a digest).
    pub fn create_token(&self, label: &str) -> Result<(i64, String), String> {
        let secret = new_secret()?;
        let hash = digest(&secret).to_vec();
        let id = self
            .write(|c| {
                c.query_opt(
                    "INSERT INTO tokens (label, digest) VALUES ($1, $2) RETURNING id",
                    &[label.into(), hash.into()],
                )?
                .map_or(Ok(0), |r| r.int(0))
            })
            .map_err(|e| e.to_string())?;
        Ok((id, secret))
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenListing>, StoreError> {
        self.rows(
            "SELECT id, label, created, revoked FROM tokens ORDER BY id",
            &[],
            |r| {
                Ok(TokenListing {
                    id: r.int(0)?,
                    label: r.text(1)?,
                    created: r.text(2)?,
                    revoked: r.flag(3)?,
                })
            },
        )
    }

    /// Revokes token `id`; false when there is no such token.
    pub fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        self.write(|c| c.execute("UPDATE tokens SET revoked = 1 WHERE id = $1", &[id.into()]))
            .map(|changed| changed > 0)
    }

    /// Whether the store ever held a token (revoked ones included): from then on, a
    /// service over it admits only tokens in force, even when none is left.
    pub fn has_tokens(&self) -> Result<bool, StoreError> {
        self.row("SELECT COUNT(*) FROM tokens", &[], |r| r.int(0))
            .map(|n| n.unwrap_or(0) > 0)
    }

    /// In one read: whether the store ever held a token ([`Store::has_tokens`]) and the
    /// digests of those in force ([`Store::token_digests`]).
    pub fn token_state(&self) -> Result<(bool, Vec<[u8; 32]>), StoreError> {
        let rows = self.rows("SELECT digest, revoked FROM tokens", &[], |r| {
            Ok((r.opt_blob(0)?.unwrap_or_default(), r.flag(1)?))
        })?;
        let digests = rows
            .iter()
            .filter(|(_, revoked)| !revoked)
            .filter_map(|(d, _)| <[u8; 32]>::try_from(d.as_slice()).ok())
            .collect();
        Ok((!rows.is_empty(), digests))
    }

    /// The digests of the tokens in force.
    pub fn token_digests(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let digests = self.rows("SELECT digest FROM tokens WHERE revoked = 0", &[], |r| {
            r.opt_blob(0).map(Option::unwrap_or_default)
        })?;
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
