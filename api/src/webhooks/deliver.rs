//! The deliverer: a background task of every server process that sends due deliveries.
//!
//! Woken by `NOTIFY jbts_webhooks` (through the live hub's listener, at the COMMIT of an event)
//! and by a timer for the next due retry. Each delivery is claimed in a transaction with
//! `FOR UPDATE SKIP LOCKED` and the transaction is held across the HTTP call: other processes
//! skip it meanwhile, and if this process dies mid-call the row is let go with its connection
//! and another process retries it. The attempt is logged and the delivery updated in the same
//! transaction. Delivery is at least once; receivers dedupe on `X-JBTS-Delivery`.
//!
//! It runs as the tables' owner (it reads the secrets; requests cannot), on a small pool of
//! its own so that slow receivers never take connections from requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore, watch};
use uuid::Uuid;

use super::types::WebhookFormat;
use crate::config::WebhookOptions;
use crate::sql::statement;

/// Deliveries in flight at once per process: each holds a connection of the deliverer's pool
/// and a socket for up to [`DELIVERY_TIMEOUT`].
pub const MAX_IN_FLIGHT: usize = 8;

/// Longest a receiver may take to answer; past it the attempt fails and is retried.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts before a delivery is given up as failed: with the default 5 s base and the
/// [`RETRY_CAP`], about 2.7 hours of a receiver being down.
pub const MAX_ATTEMPTS: i32 = 12;

/// Longest wait between two attempts of a delivery.
pub const RETRY_CAP: Duration = Duration::from_secs(3600);

/// Longest the deliverer sleeps without being woken: a safety net for wake-ups lost while the
/// listener reconnects.
pub const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// Wait before looking again at deliveries that are due but claimed by another process (let
/// go at the end of its call, or when that process dies).
pub const LOCKED_RECHECK: Duration = Duration::from_secs(1);

/// Pause after the database failed the deliverer, before trying again.
pub const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Longest error text kept for an attempt.
pub const ERROR_TEXT_MAX: usize = 500;

/// How long a claim's transaction may sit idle before PostgreSQL ends it: longer than any
/// HTTP call, so only a stuck deliverer loses its claims.
const CLAIM_IDLE_TIMEOUT: Duration = Duration::from_secs(DELIVERY_TIMEOUT.as_secs() + 20);

/// Time limit of the deliverer's statements (a claim, a record: index lookups).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The signature header: `sha256=<hex HMAC-SHA256 of the body with the webhook's secret>`.
pub const SIGNATURE_HEADER: &str = "X-JBTS-Signature";
/// The event's name header.
pub const EVENT_HEADER: &str = "X-JBTS-Event";
/// The delivery's id header, the same on every attempt: what receivers dedupe on.
pub const DELIVERY_HEADER: &str = "X-JBTS-Delivery";

/// The oldest due delivery that no other deliverer holds, with its webhook.
const CLAIM: &str =
    "SELECT d.id, d.event, d.payload, d.attempts, w.url, w.secret, w.format, w.active
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT 1
    FOR UPDATE OF d SKIP LOCKED";

/// How long until the next delivery falls due, and whether some are due already (held by
/// another deliverer): two reads of the due index. A NULL `wait` with nothing pending: the deliverer then sleeps until woken (a `greatest(.., 0)`
/// here once turned that NULL into 0, GREATEST ignoring NULLs, and an idle server polled
/// without pause); a past instant is clamped to 0 by the caller.
const NEXT_DUE: &str = "SELECT
    (SELECT extract(epoch FROM min(next_attempt_at) - clock_timestamp())::float8
       FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > now()) AS wait,
    EXISTS (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now())
        AS due";

/// An attempt logged, and its delivery updated.
const RECORD: &str = "WITH logged AS (
        INSERT INTO webhook_delivery_attempts(delivery_id, attempt, at, duration_ms,
                                              response_status, error)
        VALUES ($1, $2, $3, $4, $5, $6))
    UPDATE webhook_deliveries
       SET attempts = $2, last_attempt_at = $3, response_status = $5, last_error = $6,
           status = $7::text,
           delivered_at = CASE WHEN $7::text = 'delivered' THEN clock_timestamp() END,
           next_attempt_at = CASE WHEN $7::text = 'pending'
                                  THEN clock_timestamp() + make_interval(secs => $8)
                                  ELSE next_attempt_at END
     WHERE id = $1";

/// A delivery claimed, with what sending it takes.
struct Claimed {
    tx: DatabaseTransaction,
    id: Uuid,
    event: String,
    payload: serde_json::Value,
    attempts: i32,
    url: String,
    secret: String,
    format: WebhookFormat,
    active: bool,
}

/// Starts the deliverer for the database at `url`; it stops when `shutdown` turns true (its
/// deliveries in flight are let go, for the next process to send).
pub fn start(
    url: String,
    options: WebhookOptions,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) {
    crate::telemetry::metrics();
    tokio::spawn(run(url, options, wake, shutdown));
}

/// Resolves once the flag is true (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn run(
    url: String,
    options: WebhookOptions,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        // a redirect is an answer, not a 2xx: following it would send the signed body elsewhere
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("JBTestSuite-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook deliverer: no HTTP client; webhooks are not sent");
            return;
        }
    };
    let pool = loop {
        match crate::db::connect_with(&url, MAX_IN_FLIGHT as u32 + 1, STATEMENT_TIMEOUT).await {
            Ok(pool) => break pool,
            Err(e) => {
                tracing::warn!(error = %e, "webhook deliverer cannot connect; trying again");
                tokio::select! {
                    _ = stopped(&mut shutdown) => return,
                    _ = tokio::time::sleep(ERROR_PAUSE) => {}
                }
            }
        }
    };
    dispatch(&pool, &client, options, wake, shutdown).await;
    let _ = pool.close().await;
}

/// Claims due deliveries while slots are free, each sent by a task of its own; sleeps until
/// woken or the next one falls due.
async fn dispatch(
    pool: &DatabaseConnection,
    client: &reqwest::Client,
    options: WebhookOptions,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        match claim(pool).await {
            Ok(Some(claimed)) => {
                let (pool, client) = (pool.clone(), client.clone());
                let done = wake.clone();
                let stop = shutdown.clone();
                in_flight.spawn(async move {
                    work(claimed, &pool, &client, options, stop).await;
                    drop(slot);
                    // its retries may fall due before the deliverer's next look
                    done.notify_one();
                });
                continue;
            }
            Ok(None) => drop(slot),
            Err(e) => {
                drop(slot);
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                tokio::select! {
                    _ = stopped(&mut shutdown) => break,
                    _ = tokio::time::sleep(ERROR_PAUSE) => {}
                }
                continue;
            }
        }
        let wait = match next_wait(pool).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "reading the next webhook delivery's time failed");
                ERROR_PAUSE
            }
        };
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // deliveries in flight let go of their calls (their transactions roll back): the next
    // process, or this one restarted, sends them; receivers dedupe. Their statements are not
    // cut short, so every claim ends cleanly.
    while in_flight.join_next().await.is_some() {}
}

/// Sends `first`, then claims and sends due deliveries until none is left: a burst is sent by
/// every slot claiming in parallel, not through the dispatcher one claim at a time.
async fn work(
    first: Claimed,
    pool: &DatabaseConnection,
    client: &reqwest::Client,
    options: WebhookOptions,
    shutdown: watch::Receiver<bool>,
) {
    let mut next = Some(first);
    while let Some(claimed) = next.take() {
        send(claimed, client, options, shutdown.clone()).await;
        if *shutdown.borrow() {
            return;
        }
        next = match claim(pool).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                None
            }
        };
    }
}

/// How long to sleep before looking for due deliveries again.
async fn next_wait(pool: &DatabaseConnection) -> Result<Duration, DbErr> {
    let Some(row) = pool.query_one_raw(statement(NEXT_DUE, vec![])).await? else {
        return Ok(IDLE_RECHECK);
    };
    let due: bool = row.try_get("", "due")?;
    let wait: Option<f64> = row.try_get("", "wait")?;
    let until_next = wait
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, IDLE_RECHECK.as_secs_f64())))
        .unwrap_or(IDLE_RECHECK);
    Ok(if due {
        until_next.min(LOCKED_RECHECK)
    } else {
        until_next
    })
}

/// Claims the oldest due delivery no one holds, in a transaction left open.
async fn claim(pool: &DatabaseConnection) -> Result<Option<Claimed>, DbErr> {
    let tx = pool.begin().await?;
    tx.execute_unprepared(&format!(
        "SET LOCAL idle_in_transaction_session_timeout = '{}ms'",
        CLAIM_IDLE_TIMEOUT.as_millis()
    ))
    .await?;
    let Some(row) = tx.query_one_raw(statement(CLAIM, vec![])).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    Ok(Some(Claimed {
        id: row.try_get("", "id")?,
        event: row.try_get("", "event")?,
        payload: row.try_get("", "payload")?,
        attempts: row.try_get("", "attempts")?,
        url: row.try_get("", "url")?,
        secret: row.try_get("", "secret")?,
        format: WebhookFormat::parse(&row.try_get::<String>("", "format")?),
        active: row.try_get("", "active")?,
        tx,
    }))
}

/// How an attempt ended.
struct Outcome {
    response_status: Option<i32>,
    error: Option<String>,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// The body sent for a delivery: the exact bytes signed.
pub fn body(format: WebhookFormat, envelope: &serde_json::Value) -> Result<Vec<u8>, String> {
    let value = match format {
        WebhookFormat::Json => envelope.clone(),
        WebhookFormat::Slack => super::slack::message(envelope),
    };
    serde_json::to_vec(&value).map_err(|e| format!("encoding the body failed: {e}"))
}

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
pub fn signature(secret: &str, body: &[u8]) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| format!("the secret cannot key an HMAC: {e}"))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        crate::artifacts::store::hex(&mac.finalize().into_bytes())
    ))
}

/// The wait before the retry after failed attempt `attempt` (from 1): `base` doubled per
/// attempt, at most [`RETRY_CAP`], times `jitter` (0.5 to 1, so that deliveries failed
/// together do not all come back at once).
pub fn backoff(base: Duration, attempt: i32, jitter: f64) -> Duration {
    let doubled = 2f64.powi((attempt - 1).clamp(0, 40));
    let full = (base.as_secs_f64() * doubled).min(RETRY_CAP.as_secs_f64());
    Duration::from_secs_f64(full * jitter.clamp(0.5, 1.0))
}

/// `text` cut to [`ERROR_TEXT_MAX`] characters.
fn bounded(text: String) -> String {
    if text.chars().count() <= ERROR_TEXT_MAX {
        text
    } else {
        text.chars().take(ERROR_TEXT_MAX).collect()
    }
}

/// POSTs the delivery and ends its attempt: delivered on 2xx, else retried later or failed.
#[tracing::instrument(skip_all, fields(delivery = %claimed.id, event = %claimed.event))]
async fn send(
    claimed: Claimed,
    client: &reqwest::Client,
    options: WebhookOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let id = claimed.id;
    if !claimed.active {
        let result = claimed
            .tx
            .execute_raw(statement(
                "UPDATE webhook_deliveries SET status = 'failed',
                        last_error = 'the webhook is inactive' WHERE id = $1",
                vec![id.into()],
            ))
            .await;
        finish(claimed.tx, result.map(|_| ()), "failed").await;
        return;
    }
    let at = chrono::Utc::now();
    let started = Instant::now();
    let outcome = tokio::select! {
        outcome = post(&claimed, client) => Some(outcome),
        _ = stopped(&mut shutdown) => None,
    };
    let Some(outcome) = outcome else {
        // the server stops mid-call: the claim is let go, as if this process had died
        let _ = claimed.tx.rollback().await;
        return;
    };
    let elapsed = started.elapsed();
    metrics::histogram!(crate::telemetry::WEBHOOK_ATTEMPT_DURATION).record(elapsed.as_secs_f64());
    let attempt = claimed.attempts + 1;
    let (status, retry_in) = if outcome.delivered() {
        ("delivered", 0.0)
    } else if attempt >= MAX_ATTEMPTS {
        ("failed", 0.0)
    } else {
        let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..=1.0);
        (
            "pending",
            backoff(options.retry_base, attempt, jitter).as_secs_f64(),
        )
    };
    let result = claimed
        .tx
        .execute_raw(statement(
            RECORD,
            vec![
                id.into(),
                attempt.into(),
                at.into(),
                i32::try_from(elapsed.as_millis())
                    .unwrap_or(i32::MAX)
                    .into(),
                outcome.response_status.into(),
                outcome.error.clone().into(),
                status.into(),
                retry_in.into(),
            ],
        ))
        .await;
    let outcome_label = match status {
        "pending" => "retrying",
        other => other,
    };
    if let Some(error) = &outcome.error {
        tracing::info!(attempt, error = %error, next = outcome_label, "webhook attempt failed");
    }
    finish(claimed.tx, result.map(|_| ()), outcome_label).await;
}

/// Commits what an attempt recorded, counting its outcome; on failure the claim is let go and
/// the delivery is attempted again (the receiver dedupes).
async fn finish(tx: DatabaseTransaction, recorded: Result<(), DbErr>, outcome: &'static str) {
    let committed = match recorded {
        Ok(()) => tx.commit().await,
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    };
    match committed {
        Ok(()) => {
            metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => outcome)
                .increment(1);
        }
        Err(e) => {
            tracing::warn!(error = %e, "recording a webhook attempt failed; it will be retried")
        }
    }
}

/// One POST of the delivery.
async fn post(claimed: &Claimed, client: &reqwest::Client) -> Outcome {
    let failed = |error: String| Outcome {
        response_status: None,
        error: Some(bounded(error)),
    };
    let body = match body(claimed.format, &claimed.payload) {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    let signature = match signature(&claimed.secret, &body) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let sent = client
        .post(&claimed.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_HEADER, &claimed.event)
        .header(DELIVERY_HEADER, claimed.id.to_string())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            Outcome {
                response_status: Some(i32::from(status.as_u16())),
                error: (!status.is_success())
                    .then(|| format!("the receiver answered HTTP {status}")),
            }
        }
        Err(e) if e.is_timeout() => {
            failed(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()))
        }
        Err(e) if e.is_connect() => failed(format!("could not connect: {}", e.without_url())),
        Err(e) => failed(e.without_url().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(base, 3, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(base, 3, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(base, 30, 1.0), RETRY_CAP);
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2
        let sig = signature("Jefe", b"what do ya want for nothing?").unwrap_or_default();
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
