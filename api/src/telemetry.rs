//! Logging: `tracing` to standard error, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Filter used when `RUST_LOG` is not set: the service at info, chatty libraries at warn.
pub const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tower_http=warn";

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
