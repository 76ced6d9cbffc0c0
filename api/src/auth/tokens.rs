//! API tokens: minting, hashing, parsing and checking.
//!
//! A token reads `jbts_<id>_<secret>`: the id (the row's UUID, hex) finds the row, the secret
//! (32 random bytes, base64url) is checked against the stored SHA-256 hash in constant time.
//! The token is never stored or logged in clear.

use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::FutureExt;
use futures::future::Shared;
use rand::RngCore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Capability, Identity, Role, Scope};
use crate::error::{AppError, AppResult};

/// Prefix of every token, so that leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "jbts_";

/// Random bytes in a token's secret: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// How long a token's row, once read, is reused to authenticate further requests without a
/// database round trip. A change to a token (revocation, expiry, roles; by any process, the
/// command line or SQL) is announced by the database and evicts the row at once
/// ([`TokenCache::announce_changed`]); the delay only bounds staleness while the announcing
/// listener is disconnected, and then the reconnection clears the cache.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Most token rows kept in memory; past it the cache starts afresh (it only saves lookups).
const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// Token changes a holder of [`TokenCache::watch`] may fall behind by; one that falls further
/// behind re-checks its token as after a reconnection, so nothing is missed, only re-read.
pub const TOKEN_CHANGES_CAPACITY: usize = 1024;

/// Channel on which the database announces a changed token: the payload is the token's id
/// (migration `m20261201_000014_announce_token_changes`).
pub const TOKENS_CHANNEL: &str = "jbts_tokens";

/// A token row as read, for [`TokenCache`].
#[derive(Clone)]
struct TokenRow {
    read_at: std::time::Instant,
    secret_hash: Vec<u8>,
    identity: Identity,
    revoked: bool,
    expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// What the holders of a token's sockets hear from [`TokenCache::watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenChange {
    /// This token changed (revoked, expired, deleted, its roles changed): re-check it.
    Changed(Uuid),
    /// Changes may have been missed (the listener reconnected): re-check every token.
    All,
}

/// Token reads under way past which finished ones are swept from the table: a check whose
/// client went away leaves its read's entry behind until then.
const LOADING_MAX: usize = 1_000;

/// A read of a token's row, shared by the checks that ask for it while it is under way.
type Load = Shared<Pin<Box<dyn Future<Output = AppResult<Option<TokenRow>>> + Send>>>;

#[derive(Default)]
struct CachedRows {
    rows: std::collections::HashMap<Uuid, TokenRow>,
    /// Reads under way, with the epoch they started in.
    loading: std::collections::HashMap<Uuid, (u64, Load)>,
    /// Bumped by every eviction: a row read before it may predate the change that caused it,
    /// so it is neither kept nor shared with checks that start after it.
    epoch: u64,
}

/// Recently read token rows, by token id, and the feed of token changes.
pub struct TokenCache {
    rows: std::sync::Mutex<CachedRows>,
    changes: tokio::sync::broadcast::Sender<TokenChange>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            rows: std::sync::Mutex::default(),
            changes: tokio::sync::broadcast::channel(TOKEN_CHANGES_CAPACITY).0,
        }
    }
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedRows> {
        // the map is only ever left consistent: a panic elsewhere does not poison its meaning
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn get(&self, id: Uuid) -> Option<TokenRow> {
        self.lock()
            .rows
            .get(&id)
            .filter(|r| r.read_at.elapsed() < TOKEN_CACHE_TTL)
            .cloned()
    }

    /// The row of token `id`: cached, or read by `read` once however many checks ask for it
    /// at the same time (a listener reconnection has every open socket check its token at
    /// once). A row read across an eviction is returned to the checks that started before it,
    /// but not kept.
    async fn row<F>(&self, id: Uuid, read: impl FnOnce() -> F) -> AppResult<Option<TokenRow>>
    where
        F: Future<Output = AppResult<Option<TokenRow>>> + Send + 'static,
    {
        let (epoch, load) = {
            let mut cached = self.lock();
            if let Some(row) = cached
                .rows
                .get(&id)
                .filter(|r| r.read_at.elapsed() < TOKEN_CACHE_TTL)
            {
                return Ok(Some(row.clone()));
            }
            let epoch = cached.epoch;
            match cached.loading.get(&id) {
                Some((started, load)) if *started == epoch => (epoch, load.clone()),
                _ => {
                    // the read runs as a task of its own: it finishes, and gives its pooled
                    // connection back, even when every check waiting for it is dropped
                    let task = tokio::spawn(read());
                    let load: Load = (Box::pin(async move {
                        task.await
                            .unwrap_or_else(|e| Err(AppError::internal(format!("token read: {e}"))))
                    })
                        as Pin<Box<dyn Future<Output = _> + Send>>)
                        .shared();
                    if cached.loading.len() >= LOADING_MAX {
                        // reads whose checks all went away leave their finished entry behind
                        cached.loading.retain(|_, (_, l)| l.peek().is_none());
                    }
                    cached.loading.insert(id, (epoch, load.clone()));
                    (epoch, load)
                }
            }
        };
        let result = load.clone().await;
        let mut cached = self.lock();
        if cached
            .loading
            .get(&id)
            .is_some_and(|(_, l)| l.ptr_eq(&load))
        {
            cached.loading.remove(&id);
        }
        if cached.epoch == epoch
            && let Ok(Some(row)) = &result
        {
            if cached.rows.len() >= TOKEN_CACHE_CAPACITY {
                cached.rows.clear();
            }
            cached.rows.insert(id, row.clone());
        }
        result
    }

    /// Forgets a token, so that the next check reads it again.
    pub fn evict(&self, id: Uuid) {
        let mut cached = self.lock();
        cached.epoch = cached.epoch.wrapping_add(1);
        cached.rows.remove(&id);
        cached.loading.remove(&id);
    }

    /// A token changed in the database: forgets it and tells the holders of its sockets.
    pub fn announce_changed(&self, id: Uuid) {
        self.evict(id);
        let _ = self.changes.send(TokenChange::Changed(id));
    }

    /// Changes may have been missed: forgets every token and tells every socket to re-check.
    pub fn announce_all(&self) {
        {
            let mut cached = self.lock();
            cached.epoch = cached.epoch.wrapping_add(1);
            cached.rows.clear();
            cached.loading.clear();
        }
        let _ = self.changes.send(TokenChange::All);
    }

    /// The feed of token changes, from now on.
    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<TokenChange> {
        self.changes.subscribe()
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

/// Parses capabilities as stored (`{read,report}`).
pub fn parse_capabilities(capabilities: &[String]) -> Vec<Capability> {
    capabilities
        .iter()
        .filter_map(|c| Capability::parse(c))
        .collect()
}

/// Why a token was refused. Each reason has its own text, so that a client can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials at all.
    Missing,
    /// A scheme other than Bearer.
    Scheme,
    /// Not shaped like a token.
    Malformed,
    /// No such token, or the wrong secret.
    Invalid,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl Refusal {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "authentication required: send Authorization: Bearer <token>",
            Self::Scheme => "the Authorization scheme must be Bearer",
            Self::Malformed => "malformed token",
            Self::Invalid => "invalid token",
            Self::Revoked => "the token has been revoked",
            Self::Expired => "the token has expired",
        }
    }
}

/// Why a token could not be accepted.
#[derive(Debug, Clone)]
pub enum CheckError {
    /// The token is not acceptable.
    Refused(Refusal),
    /// It could not be checked (the database failed).
    Failed(AppError),
}

impl From<CheckError> for AppError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Refused(r) => unauthenticated(r.message()),
            CheckError::Failed(e) => e,
        }
    }
}

/// An accepted token: whose it is and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's row id (what its change announcements name).
    pub token_id: Uuid,
    pub identity: Identity,
    pub expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Resolves an `Authorization` header value to the identity of a valid token.
/// Runs as the tables' owner: authentication comes before any identity exists.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    pool: &DatabaseConnection,
    cache: &TokenCache,
    header: Option<&str>,
) -> AppResult<Identity> {
    Ok(check(pool, cache, header).await?.identity)
}

/// Checks an `Authorization` header value: the token's grant, or why it is refused.
#[tracing::instrument(skip_all)]
pub async fn check(
    pool: &DatabaseConnection,
    cache: &TokenCache,
    header: Option<&str>,
) -> Result<Grant, CheckError> {
    let refuse = |r| Err(CheckError::Refused(r));
    let Some(header) = header else {
        return refuse(Refusal::Missing);
    };
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return refuse(Refusal::Scheme);
    }
    let Some((id, secret)) = parse(token.trim()) else {
        return refuse(Refusal::Malformed);
    };
    let given = hash_secret(secret);
    let pool = pool.clone();
    let row = cache
        .row(id, move || async move { read_token(&pool, id).await })
        .await
        .map_err(CheckError::Failed)?;
    let Some(row) = row else {
        return refuse(Refusal::Invalid);
    };
    if !bool::from(row.secret_hash.ct_eq(&given)) {
        return refuse(Refusal::Invalid);
    }
    if row.revoked {
        return refuse(Refusal::Revoked);
    }
    if row.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        return refuse(Refusal::Expired);
    }
    Ok(Grant {
        token_id: id,
        identity: row.identity,
        expires_at: row.expires_at,
    })
}

/// Reads a token's row, and records its use (at most once a minute, off the request's path).
async fn read_token(pool: &DatabaseConnection, id: Uuid) -> AppResult<Option<TokenRow>> {
    let row = pool
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT user_id, roles, project_id, capabilities, secret_hash,
                    revoked_at IS NOT NULL AS revoked, expires_at,
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
            scope: Scope {
                project: row.try_get("", "project_id")?,
                capabilities: row
                    .try_get::<Option<Vec<String>>>("", "capabilities")?
                    .map(|caps| parse_capabilities(&caps)),
            },
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

    fn row() -> TokenRow {
        TokenRow {
            read_at: std::time::Instant::now(),
            secret_hash: Vec::new(),
            identity: Identity::unscoped("u", vec![Role::Member]),
            revoked: false,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_row_read_across_an_eviction_is_not_kept() {
        let cache = std::sync::Arc::new(TokenCache::default());
        let id = Uuid::new_v4();
        let during = cache.clone();
        // the token changes while its row is being read: the row may predate the change
        let read = cache
            .row(id, move || async move {
                during.announce_changed(Uuid::new_v4());
                Ok(Some(row()))
            })
            .await;
        assert!(matches!(read, Ok(Some(_))));
        assert!(cache.get(id).is_none());
        let read = cache.row(id, || async { Ok(Some(row())) }).await;
        assert!(matches!(read, Ok(Some(_))));
        assert!(cache.get(id).is_some());
    }

    #[tokio::test]
    async fn checks_at_the_same_time_share_one_read() {
        let cache = TokenCache::default();
        let id = Uuid::new_v4();
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let read = || {
            let reads = reads.clone();
            move || async move {
                reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(Some(row()))
            }
        };
        let (a, b) = tokio::join!(cache.row(id, read()), cache.row(id, read()));
        assert!(matches!((a, b), (Ok(Some(_)), Ok(Some(_)))));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn announcements_evict_and_reach_watchers() {
        let cache = TokenCache::default();
        let id = Uuid::new_v4();
        let mut changes = cache.watch();
        cache.lock().rows.insert(id, row());
        cache.announce_changed(id);
        assert!(cache.get(id).is_none());
        assert_eq!(changes.try_recv().ok(), Some(TokenChange::Changed(id)));
        cache.lock().rows.insert(id, row());
        cache.announce_all();
        assert!(cache.get(id).is_none());
        assert_eq!(changes.try_recv().ok(), Some(TokenChange::All));
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
