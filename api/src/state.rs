//! State shared by every request: the pool, the serving options, the rate limiter, the
//! shutdown signal. (The token cache and the live hub, which belong to their domains, are
//! handed to the schema and the routes beside it.)

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::ServerOptions;
use crate::rate_limit::RateLimiter;

/// What handlers and resolvers reach: the pool and the limits.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub options: ServerOptions,
    pub rate_limiter: Arc<RateLimiter>,
    /// Turned true when the server shuts down: live streams end.
    pub shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Imports that may run at once (each spools a file and holds a parser thread).
    pub import_slots: Arc<tokio::sync::Semaphore>,
    /// Where artifacts' bytes go.
    pub artifacts: crate::artifacts::Artifacts,
    /// The read replicas queries may read from (none: every read on the primary).
    pub replicas: Arc<crate::db::replicas::ReadReplicas>,
}

impl AppState {
    /// State over the pool `db`, serving with `options`, artifacts in `artifacts`.
    pub fn new(
        db: DatabaseConnection,
        options: ServerOptions,
        artifacts: crate::artifacts::Artifacts,
    ) -> Self {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Self {
            db,
            rate_limiter: Arc::new(RateLimiter::new(options.rate_limits)),
            shutdown: Arc::new(shutdown),
            import_slots: Arc::new(tokio::sync::Semaphore::new(
                options.import.concurrent.max(1),
            )),
            options,
            artifacts,
            replicas: crate::db::replicas::ReadReplicas::none(),
        }
    }

    /// Turns true when the server shuts down.
    pub fn stopped(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
