//! Signed download URLs: `/api/v1/artifacts/{id}?expires=<unix seconds>&signature=<hex>`, the
//! signature an HMAC-SHA256 of the artifact's id and the expiry with a key every server
//! process shares (`server_secrets`, created by the first process that needs it). Whoever
//! holds such a URL may download that artifact until it expires, without a token: it is given
//! only to one who may read the artifact (`TestArtifact.downloadUrl`), for a browser's
//! `<img>` or `<video>`, which cannot send a bearer token.

use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The name of the signing key in `server_secrets`.
const KEY_NAME: &str = "artifact_download_urls";

/// Signs and checks download URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner")
    }
}

/// Why a signed URL is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    Expired,
    Invalid,
}

impl UrlSigner {
    /// The signer with the shared key, created (by whichever process comes first) when there
    /// is none yet.
    pub async fn load(db: &DatabaseConnection) -> AppResult<Self> {
        use rand::RngCore;
        let mut fresh = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        // two statements: the second's snapshot sees a key another process created while
        // the first waited for it
        db.execute_raw(crate::sql::statement(
            "INSERT INTO server_secrets(name, secret) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
            vec![KEY_NAME.into(), fresh.into()],
        ))
        .await?;
        let row = db
            .query_one_raw(crate::sql::statement(
                "SELECT secret FROM server_secrets WHERE name = $1",
                vec![KEY_NAME.into()],
            ))
            .await?
            .ok_or_else(|| AppError::internal("no artifact URL signing key"))?;
        let key: Vec<u8> = row.try_get("", "secret")?;
        Ok(Self::with_key(&key))
    }

    /// A signer with `key` (tests).
    pub fn with_key(key: &[u8]) -> Self {
        Self { key: key.into() }
    }

    fn mac(&self, id: Uuid, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// The signature of artifact `id`'s URL valid until `expires` (Unix seconds).
    pub fn sign(&self, id: Uuid, expires: i64) -> String {
        super::store::hex(&self.mac(id, expires).finalize().into_bytes())
    }

    /// The download path of artifact `id`, valid for `ttl` from now.
    pub fn url(&self, id: Uuid, ttl: std::time::Duration) -> String {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let expires = chrono::Utc::now().timestamp().saturating_add(ttl);
        format!(
            "{}/{id}?expires={expires}&signature={}",
            super::ARTIFACTS_PATH,
            self.sign(id, expires)
        )
    }

    /// Checks a URL's signature (in constant time) and expiry.
    pub fn verify(&self, id: Uuid, expires: i64, signature: &str) -> Result<(), SignatureError> {
        let given = decode_hex(signature).ok_or(SignatureError::Invalid)?;
        self.mac(id, expires)
            .verify_slice(&given)
            .map_err(|_| SignatureError::Invalid)?;
        if expires < chrono::Utc::now().timestamp() {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// Lowercase or uppercase hex as bytes; `None` when it is not hex.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_then_only_the_signed_id_and_expiry_within_time_pass() {
        let signer = UrlSigner::with_key(b"a key");
        let id = Uuid::now_v7();
        let later = chrono::Utc::now().timestamp() + 60;
        let sig = signer.sign(id, later);
        assert_eq!(signer.verify(id, later, &sig), Ok(()));
        assert_eq!(
            signer.verify(id, later, &sig.to_uppercase()),
            Ok(()),
            "hex in either case"
        );
        assert_eq!(
            signer.verify(Uuid::now_v7(), later, &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            signer.verify(id, later + 1, &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            UrlSigner::with_key(b"another key").verify(id, later, &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(signer.verify(id, later, "zz"), Err(SignatureError::Invalid));
        let past = chrono::Utc::now().timestamp() - 1;
        assert_eq!(
            signer.verify(id, past, &signer.sign(id, past)),
            Err(SignatureError::Expired)
        );
        let url = signer.url(id, std::time::Duration::from_secs(60));
        assert!(
            url.starts_with(&format!("/api/v1/artifacts/{id}?expires=")),
            "{url}"
        );
    }
}
