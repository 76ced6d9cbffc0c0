//! API tokens: minting, hashing, parsing and checking.
//!
//! A token reads `jbts_<id>_<secret>`: the id (the row's UUID, hex) finds the row, the secret
//! (32 random bytes, base64url) is checked against the stored SHA-256 hash in constant time.
//! The token is never stored or logged in clear.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Identity, Role};
use crate::error::{AppError, AppResult};

/// Prefix of every token, so that leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "jbts_";

/// Random bytes in a token's secret: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// How long a token's row, once read, is reused to authenticate further requests without a
/// database round trip. Revoking through this process takes effect at once; a revocation made
/// elsewhere (another process, SQL) within this delay.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Most token rows kept in memory; past it the cache starts afresh (it only saves lookups).
const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// A token row as read, for [`TokenCache`].
#[derive(Clone)]
struct TokenRow {
    read_at: std::time::Instant,
    secret_hash: Vec<u8>,
    identity: Identity,
    revoked: bool,
    expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Recently read token rows, by token id.
#[derive(Default)]
pub struct TokenCache {
    rows: std::sync::Mutex<std::collections::HashMap<Uuid, TokenRow>>,
}

impl TokenCache {
    fn get(&self, id: Uuid) -> Option<TokenRow> {
        let rows = self.rows.lock().ok()?;
        rows.get(&id)
            .filter(|r| r.read_at.elapsed() < TOKEN_CACHE_TTL)
            .cloned()
    }

    fn put(&self, id: Uuid, row: TokenRow) {
        if let Ok(mut rows) = self.rows.lock() {
            if rows.len() >= TOKEN_CACHE_CAPACITY {
                rows.clear();
            }
            rows.insert(id, row);
        }
    }

    /// Forgets a token (after it was revoked here).
    pub fn evict(&self, id: Uuid) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.remove(&id);
        }
    }
}

/// A freshly minted token: the text to hand out once, and what is stored.
pub struct MintedToken {
    pub id: Uuid,
    pub token: String,
    pub secret_hash: Vec<u8>,
}

/// Mints a new token for row `id`.
pub fn mint(id: Uuid) -> MintedToken {
    let mut secret = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    MintedToken {
        id,
        token: format!("{TOKEN_PREFIX}{}_{secret}", id.simple()),
        secret_hash: hash_secret(&secret),
    }
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits `jbts_<id>_<secret>`.
fn parse(token: &str) -> Option<(Uuid, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = Uuid::try_parse(id).ok()?;
    (!secret.is_empty()).then_some((id, secret))
}

/// The id of the token an `Authorization` header carries, if it is one of ours in form (not
/// whether it is valid: see [`authenticate`]).
pub fn token_id(header: Option<&str>) -> Option<Uuid> {
    let (_, token) = header?.trim().split_once(' ')?;
    parse(token.trim()).map(|(id, _)| id)
}

fn unauthenticated(message: &str) -> AppError {
    AppError::Unauthenticated {
        message: message.to_owned(),
    }
}

/// Parses roles as stored (`{admin,member}`).
pub fn parse_roles(roles: &[String]) -> Vec<Role> {
    roles
        .iter()
        .filter_map(|r| match r.as_str() {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        })
        .collect()
}

/// Resolves an `Authorization` header value to the identity of a valid token.
/// Runs as the tables' owner: authentication comes before any identity exists.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    pool: &DatabaseConnection,
    cache: &TokenCache,
    header: Option<&str>,
) -> AppResult<Identity> {
    let header = header.ok_or_else(|| {
        unauthenticated("authentication required: send Authorization: Bearer <token>")
    })?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthenticated("the Authorization scheme must be Bearer"));
    }
    let (id, secret) = parse(token.trim()).ok_or_else(|| unauthenticated("malformed token"))?;
    let given = hash_secret(secret);
    let row = match cache.get(id) {
        Some(row) => row,
        None => {
            let Some(row) = read_token(pool, id).await? else {
                return Err(unauthenticated("invalid token"));
            };
            cache.put(id, row.clone());
            row
        }
    };
    if !bool::from(row.secret_hash.ct_eq(&given)) {
        return Err(unauthenticated("invalid token"));
    }
    if row.revoked {
        return Err(unauthenticated("the token has been revoked"));
    }
    if row.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        return Err(unauthenticated("the token has expired"));
    }
    Ok(row.identity)
}

/// Reads a token's row, and records its use (at most once a minute, off the request's path).
async fn read_token(pool: &DatabaseConnection, id: Uuid) -> AppResult<Option<TokenRow>> {
    let row = pool
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT user_id, roles, secret_hash, revoked_at IS NOT NULL AS revoked, expires_at,
                    (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS stale_use
             FROM api_tokens WHERE id = $1",
            [id.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.try_get::<bool>("", "stale_use")? {
        let pool = pool.clone();
        tokio::spawn(async move {
            let _ = pool
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE api_tokens SET last_used_at = now() WHERE id = $1",
                    [id.into()],
                ))
                .await;
        });
    }
    let roles: Vec<String> = row.try_get("", "roles")?;
    Ok(Some(TokenRow {
        read_at: std::time::Instant::now(),
        secret_hash: row.try_get("", "secret_hash")?,
        identity: Identity {
            user_id: row.try_get("", "user_id")?,
            roles: parse_roles(&roles),
        },
        revoked: row.try_get("", "revoked")?,
        expires_at: row.try_get("", "expires_at")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_parses_back_to_its_id_and_hash() {
        let id = Uuid::new_v4();
        let minted = mint(id);
        let (parsed, secret) = parse(&minted.token).expect("parses");
        assert_eq!(parsed, id);
        assert_eq!(hash_secret(secret), minted.secret_hash);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for token in [
            "",
            "jbts_",
            "jbts_nothex_abc",
            "other_0123_abc",
            &format!("jbts_{}_", Uuid::new_v4().simple()),
        ] {
            assert!(parse(token).is_none(), "{token}");
        }
    }
}
