//! State shared by every request.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::tokens::TokenCache;
use crate::config::ServerOptions;
use crate::live::hub::Hub;
use crate::rate_limit::RateLimiter;

/// What handlers and resolvers reach: the pool, the token cache, the live hub, the limits.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub tokens: Arc<TokenCache>,
    pub hub: Arc<Hub>,
    pub options: ServerOptions,
    pub rate_limiter: Arc<RateLimiter>,
    /// Turned true when the server shuts down: live streams end.
    pub shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// State over the pool `db` of the database at `url` (the live listener connects there).
    pub fn new(db: DatabaseConnection, url: String, options: ServerOptions) -> Self {
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let tokens = Arc::new(TokenCache::default());
        let hub = Hub::start(url, db.clone(), tokens.clone(), stopped, options.statements);
        Self {
            db,
            tokens,
            hub,
            options,
            rate_limiter: Arc::new(RateLimiter::new(options.rate_limits)),
            shutdown: Arc::new(shutdown),
        }
    }
}
