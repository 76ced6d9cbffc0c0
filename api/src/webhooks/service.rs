//! Webhooks and their delivery log. Runs in the caller's connection: row-level security lets
//! only a project's maintainers (and admins) see and change its webhooks, and requests cannot
//! read the secret column at all (migration 22); the checks here explain a refusal first.

use std::collections::HashMap;
use std::net::IpAddr;

use entity::project;
use sea_orm::{ConnectionTrait, FromQueryResult, prelude::DateTimeWithTimeZone};
use uuid::Uuid;

use super::types::{CreateWebhookInput, UpdateWebhookInput, WebhookDeliveryStatus, WebhookEvent};
use crate::auth::Identity;
use crate::error::{AppError, AppResult};
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs};
use crate::projects::service::{self as projects, Action};
use crate::sql::{ChildQuery, Sql, child_pages, models, statement};

/// Longest webhook URL (`webhooks.url`): longer ones are not endpoints but payloads.
pub const URL_MAX: usize = 2000;

/// Shortest secret: an HMAC key anyone could guess protects nothing.
pub const SECRET_MIN: usize = 16;

/// Longest secret (`webhooks.secret`).
pub const SECRET_MAX: usize = 256;

/// Longest description (`ck_webhooks_description_length`).
pub const WEBHOOK_DESCRIPTION_MAX: usize = 1000;

/// Most webhooks of a project: each event costs one delivery per webhook, and the list of a
/// project's webhooks is read whole.
pub const WEBHOOKS_PER_PROJECT_MAX: i64 = 50;

/// Most attempts of a delivery shown (the latest): a delivery redelivered again and again
/// keeps its whole log, but a page of deliveries stays bounded.
pub const ATTEMPTS_SHOWN: i64 = 50;

/// The columns of `webhooks` a request may read (all but the secret).
const COLUMNS: &str = "id, project_id, url, secret_hint, events, format, active, description, \
                       created_by, created_at, updated_at";

/// A webhook as requests read it: without its secret.
#[derive(Debug, Clone, FromQueryResult)]
pub struct WebhookRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub url: String,
    pub secret_hint: Option<String>,
    pub events: Vec<String>,
    pub format: String,
    pub active: bool,
    pub description: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

/// A delivery: one event for one webhook (the outbox row).
#[derive(Debug, Clone, FromQueryResult)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event: String,
    pub subject_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeWithTimeZone,
    pub last_attempt_at: Option<DateTimeWithTimeZone>,
    pub delivered_at: Option<DateTimeWithTimeZone>,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeWithTimeZone,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTimeWithTimeZone,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub error: Option<String>,
}

/// A webhook URL: `https`, or `http` to a loopback host (a receiver on the server's machine);
/// a host, no credentials, bounded.
pub fn check_url(field: &str, url: &str) -> AppResult<()> {
    if url.len() > URL_MAX {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {URL_MAX} characters"),
        ));
    }
    let bad = |why: &str| AppError::bad_input(field, format!("{field} {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("is not a URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "must not carry credentials (sign with the secret instead)",
        ));
    }
    let host = parsed.host_str().ok_or_else(|| bad("must name a host"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(bad(
            "must use https (plain http only to a loopback host such as localhost)",
        )),
        _ => Err(bad("must be an https URL")),
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub fn check_secret(field: &str, secret: &str) -> AppResult<()> {
    let n = secret.chars().count();
    if (SECRET_MIN..=SECRET_MAX).contains(&n) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} must be {SECRET_MIN} to {SECRET_MAX} characters"),
        ))
    }
}

/// The events' stored names, each once, in a stable order; at least one.
pub fn event_names(field: &str, events: &[WebhookEvent]) -> AppResult<Vec<String>> {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} must name at least one event"),
        ));
    }
    Ok(events.iter().map(|e| e.as_str().to_owned()).collect())
}

fn check_description(field: &str, description: Option<&str>) -> AppResult<()> {
    crate::input::check_len(field, description, WEBHOOK_DESCRIPTION_MAX)
}

/// Refuses unless the request manages webhooks of `project`: an admin, or a maintainer there
/// (by membership: the seed's author rule gives nobody the default project's webhooks).
async fn require_manager(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    project: &project::Model,
) -> AppResult<()> {
    // archived projects and tokens limited elsewhere are refused with their own reason
    projects::require(conn, identity, project, Action::Manage).await?;
    require_membership(conn, identity, project, "manage").await
}

async fn require_membership(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    project: &project::Model,
    kind: &str,
) -> AppResult<()> {
    if identity.is_admin() {
        return Ok(());
    }
    let row = conn
        .query_one_raw(statement(
            "SELECT $1 = ANY (app_projects($2)) AS allowed",
            vec![project.id.into(), kind.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("permission check returned nothing"))?;
    if row.try_get::<bool>("", "allowed")? {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: format!(
                "not allowed to manage webhooks of project '{}': it takes the maintainer role \
                 in the project",
                project.key
            ),
        })
    }
}

/// The webhooks of the project `key` (input `field`), oldest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    field: &str,
    key: &str,
) -> AppResult<Vec<WebhookRow>> {
    let project = projects::resolve(conn, field, key).await?;
    // maintainers read the webhooks of an archived project too
    require_membership(conn, identity, &project, "maintain").await?;
    Ok(models::<WebhookRow>(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM webhooks WHERE project_id = $1 ORDER BY created_at, id LIMIT $2"
        ),
        vec![project.id.into(), WEBHOOKS_PER_PROJECT_MAX.into()],
    )
    .await?
    .into_iter()
    .map(|(_, w)| w)
    .collect())
}

/// The webhook `id`, if the caller sees it.
pub async fn by_id(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<WebhookRow>> {
    Ok(models::<WebhookRow>(
        conn,
        &format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .into_iter()
    .next()
    .map(|(_, w)| w))
}

/// The webhook `id` and its project, refused unless the caller manages it there.
async fn managed(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
) -> AppResult<(WebhookRow, project::Model)> {
    let webhook = by_id(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("Webhook", id))?;
    let project = projects::by_id(conn, webhook.project_id)
        .await?
        .ok_or_else(|| AppError::not_found("Webhook", id))?;
    require_manager(conn, identity, &project).await?;
    Ok((webhook, project))
}

pub async fn create(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    input: CreateWebhookInput,
) -> AppResult<WebhookRow> {
    check_url("url", &input.url)?;
    check_secret("secret", &input.secret)?;
    let events = event_names("events", &input.events)?;
    check_description("description", input.description.as_deref())?;
    let project = match input.project_key.as_deref() {
        Some(key) => projects::resolve(conn, "projectKey", key).await?,
        None => {
            let id = identity.scope.project.unwrap_or(projects::DEFAULT_PROJECT);
            projects::by_id(conn, id).await?.ok_or_else(|| {
                AppError::bad_input("projectKey", "projectKey is required: name a project")
            })?
        }
    };
    require_manager(conn, identity, &project).await?;
    // one creation at a time per project, so that the bound holds under concurrency
    conn.execute_raw(statement(
        "SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1::text, 0))",
        vec![project.id.into()],
    ))
    .await?;
    let count = conn
        .query_one_raw(statement(
            "SELECT count(*) AS n FROM webhooks WHERE project_id = $1",
            vec![project.id.into()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if count >= WEBHOOKS_PER_PROJECT_MAX {
        return Err(AppError::conflict(
            Some("projectKey"),
            format!(
                "project '{}' has {WEBHOOKS_PER_PROJECT_MAX} webhooks already, the most it may \
                 have",
                project.key
            ),
        ));
    }
    let rows = models::<WebhookRow>(
        conn,
        &format!(
            "INSERT INTO webhooks(id, project_id, url, secret, events, format, active, \
             description, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING {COLUMNS}"
        ),
        vec![
            Uuid::now_v7().into(),
            project.id.into(),
            input.url.into(),
            input.secret.into(),
            events.into(),
            input.format.as_str().into(),
            input.active.unwrap_or(true).into(),
            input.description.into(),
            identity.user_id.clone().into(),
        ],
    )
    .await?;
    rows.into_iter()
        .next()
        .map(|(_, w)| w)
        .ok_or_else(|| AppError::internal("INSERT returned no webhook"))
}

pub async fn update(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
    input: UpdateWebhookInput,
) -> AppResult<WebhookRow> {
    let mut sql = Sql::default();
    let mut sets = Vec::new();
    if let Some(url) = input.url {
        check_url("url", &url)?;
        sets.push(format!("url = {}", sql.bind(url)));
    }
    if let Some(secret) = input.secret {
        check_secret("secret", &secret)?;
        sets.push(format!("secret = {}", sql.bind(secret)));
    }
    if let Some(events) = input.events {
        let names = event_names("events", &events)?;
        sets.push(format!("events = {}", sql.bind(names)));
    }
    if let Some(format) = input.format {
        sets.push(format!("format = {}", sql.bind(format.as_str())));
    }
    if let Some(active) = input.active {
        sets.push(format!("active = {}", sql.bind(active)));
    }
    match input.description {
        async_graphql::MaybeUndefined::Undefined => {}
        async_graphql::MaybeUndefined::Null => sets.push("description = NULL".to_owned()),
        async_graphql::MaybeUndefined::Value(d) => {
            check_description("description", Some(&d))?;
            sets.push(format!("description = {}", sql.bind(d)));
        }
    }
    let (webhook, _) = managed(conn, identity, id).await?;
    if sets.is_empty() {
        return Ok(webhook);
    }
    let id_param = sql.bind(id);
    let rows = conn
        .query_all_raw(sql.statement(format!(
            "UPDATE webhooks SET {} WHERE id = {id_param} RETURNING {COLUMNS}",
            sets.join(", ")
        )))
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| AppError::not_found("Webhook", id))?;
    Ok(WebhookRow::from_query_result(row, "")?)
}

pub async fn delete(conn: &impl ConnectionTrait, identity: &Identity, id: Uuid) -> AppResult<Uuid> {
    managed(conn, identity, id).await?;
    let deleted = conn
        .query_one_raw(statement(
            "DELETE FROM webhooks WHERE id = $1 RETURNING id",
            vec![id.into()],
        ))
        .await?;
    match deleted {
        Some(_) => Ok(id),
        None => Err(AppError::not_found("Webhook", id)),
    }
}

/// Wakes the deliverers of every server process at COMMIT.
async fn wake_deliverers(conn: &impl ConnectionTrait) -> AppResult<()> {
    conn.execute_raw(statement(
        format!(
            "SELECT pg_notify('{}', '')",
            crate::live::hub::WEBHOOKS_CHANNEL
        ),
        vec![],
    ))
    .await?;
    Ok(())
}

/// Enqueues a `ping` delivery to the webhook `id`, whatever events it subscribes to.
pub async fn ping(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
) -> AppResult<DeliveryRow> {
    let (webhook, project) = managed(conn, identity, id).await?;
    let delivery = Uuid::new_v4();
    let rows = models::<DeliveryRow>(
        conn,
        "INSERT INTO webhook_deliveries(id, webhook_id, event, subject_id, payload)
         VALUES ($1, $2, 'ping', $2, jsonb_build_object(
             'id', $1::uuid,
             'event', 'ping',
             'occurredAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
             'project', jsonb_build_object('id', $3::uuid, 'key', $4::text),
             'data', jsonb_build_object('webhook', jsonb_build_object('id', $2::uuid, 'url', $5::text))))
         RETURNING *",
        vec![
            delivery.into(),
            webhook.id.into(),
            project.id.into(),
            project.key.into(),
            webhook.url.into(),
        ],
    )
    .await?;
    wake_deliverers(conn).await?;
    rows.into_iter()
        .next()
        .map(|(_, d)| d)
        .ok_or_else(|| AppError::internal("INSERT returned no delivery"))
}

/// Puts a failed delivery back in the queue, due now: one more attempt.
pub async fn redeliver(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
) -> AppResult<DeliveryRow> {
    let current = models::<DeliveryRow>(
        conn,
        "SELECT * FROM webhook_deliveries WHERE id = $1",
        vec![id.into()],
    )
    .await?
    .into_iter()
    .next()
    .map(|(_, d)| d)
    .ok_or_else(|| AppError::not_found("WebhookDelivery", id))?;
    managed(conn, identity, current.webhook_id).await?;
    let rows = models::<DeliveryRow>(
        conn,
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()
         WHERE id = $1 AND status = 'failed' RETURNING *",
        vec![id.into()],
    )
    .await?;
    let Some((_, delivery)) = rows.into_iter().next() else {
        return Err(AppError::conflict(
            Some("id"),
            format!(
                "only a failed delivery can be redelivered; this one is {}",
                current.status
            ),
        ));
    };
    wake_deliverers(conn).await?;
    Ok(delivery)
}

/// A page of each webhook's deliveries (newest first, of one status or all) with its count,
/// for each key.
pub async fn delivery_pages(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, PageArgs, Option<WebhookDeliveryStatus>)],
) -> AppResult<DeliveryPages> {
    let ordering = Ordering {
        name: "createdAt:desc".to_owned(),
        sql: "d.created_at".to_owned(),
        kind: KeyKind::Timestamp,
        descending: true,
        id_column: "d.id",
    };
    // one statement per page shape and status, for all the webhooks asking it
    let mut groups: Vec<(&PageArgs, Option<WebhookDeliveryStatus>, Vec<Uuid>)> = Vec::new();
    for (webhook, args, status) in keys {
        match groups
            .iter_mut()
            .find(|(a, s, _)| *a == args && s == status)
        {
            Some((_, _, ids)) => ids.push(*webhook),
            None => groups.push((args, *status, vec![*webhook])),
        }
    }
    let mut out = HashMap::new();
    for (args, status, webhooks) in groups {
        let mut sql = Sql::default();
        let mut conditions = Vec::new();
        if let Some(status) = status {
            conditions.push(format!("d.status = {}", sql.bind(status.as_str())));
        }
        let query = ChildQuery {
            conditions,
            sql,
            from: "webhook_deliveries d",
            select: "d.*",
            parent: "d.webhook_id",
            ordering: ordering.clone(),
        };
        let mut pages = child_pages(conn, &query, &webhooks, args).await?;
        for webhook in webhooks {
            let (fetched, total) = pages
                .remove(&webhook)
                .unwrap_or_else(|| (Fetched::empty(), 0));
            let fetched = fetched.try_map(|row| DeliveryRow::from_query_result(&row, ""))?;
            out.insert((webhook, args.clone(), status), (fetched, total));
        }
    }
    Ok(out)
}

/// Pages of deliveries by webhook, page and status.
pub type DeliveryPages =
    HashMap<(Uuid, PageArgs, Option<WebhookDeliveryStatus>), (Fetched<DeliveryRow>, i64)>;

/// The latest attempts of each delivery, in order.
pub async fn attempts_of(
    conn: &impl ConnectionTrait,
    deliveries: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<AttemptRow>>> {
    let rows = models::<AttemptRow>(
        conn,
        "SELECT a.* FROM unnest($1::uuid[]) AS p(id)
         CROSS JOIN LATERAL (
             SELECT * FROM webhook_delivery_attempts a WHERE a.delivery_id = p.id
             ORDER BY a.attempt DESC LIMIT $2) a
         ORDER BY a.delivery_id, a.attempt",
        vec![deliveries.to_vec().into(), ATTEMPTS_SHOWN.into()],
    )
    .await?;
    let mut out: HashMap<Uuid, Vec<AttemptRow>> = HashMap::new();
    for (_, a) in rows {
        out.entry(a.delivery_id).or_default().push(a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::types::WebhookFormat;

    #[test]
    fn urls_are_https_or_http_to_loopback_without_credentials() {
        for ok in [
            "https://hooks.example.com/x?y=1",
            "http://localhost:8080/hook",
            "http://127.0.0.1:9/",
            "http://127.3.2.1/",
            "http://[::1]:80/x",
        ] {
            assert!(check_url("url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/hook",
            "http://10.0.0.1/",
            "ftp://localhost/",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "not a url",
        ] {
            assert!(check_url("url", bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX));
        assert!(check_url("url", &long).is_err());
    }

    #[test]
    fn events_are_deduplicated_and_never_empty() {
        assert!(event_names("events", &[]).is_err());
        assert_eq!(
            event_names(
                "events",
                &[WebhookEvent::RunFinished, WebhookEvent::RunFinished]
            )
            .ok(),
            Some(vec!["run.finished".to_owned()])
        );
    }

    #[test]
    fn formats_parse_back() {
        assert_eq!(WebhookFormat::parse("slack"), WebhookFormat::Slack);
        assert_eq!(WebhookFormat::parse("json"), WebhookFormat::Json);
    }
}
