//! State shared by every request.

use sea_orm::DatabaseConnection;

/// What handlers and resolvers reach: the pool (and, later, the live-event hub).
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
}
