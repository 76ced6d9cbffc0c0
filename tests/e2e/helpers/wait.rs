//! Waiting for something the server does on its own time (a background task, a replica's
//! replay, a figure): check, sleep a little, check again, up to a deadline.

use std::future::Future;
use std::time::Duration;

/// How often a condition is checked again.
pub const CHECK_EVERY: Duration = Duration::from_millis(20);

/// Waits until `check` holds, checking every [`CHECK_EVERY`]; fails the test after `within`,
/// naming `what` it waited for.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(CHECK_EVERY).await;
    }
}
