//! GraphQL objects of webhooks.

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object};
use uuid::Uuid;

use super::loaders;
use super::service::{AttemptRow, DeliveryRow, WebhookRow};
use crate::connection::Connection;
use crate::pagination::PageArgs;
use crate::projects::types::Project;
use crate::scalars::{Json, Timestamp};

/// What a webhook may subscribe to. The name each event is sent under (`X-JBTS-Event`, the
/// envelope's `event`) is given with it.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEvent {
    /// `run.finished`: a run ended (passed, failed, cancelled or aborted).
    RunFinished,
    /// `run.first_failure`: a run that is still going has its first failed test, sent at that
    /// failure rather than at the run's end.
    RunFirstFailure,
    /// `case.flaky`: a test case was classified FLAKY.
    CaseFlaky,
    /// `case.broken`: a test case was classified BROKEN.
    CaseBroken,
    /// `quality_gate.failed`: a quality gate evaluated for a run failed.
    QualityGateFailed,
}

impl WebhookEvent {
    /// Every event, in the order the API lists them.
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::RunFinished,
        WebhookEvent::RunFirstFailure,
        WebhookEvent::CaseFlaky,
        WebhookEvent::CaseBroken,
        WebhookEvent::QualityGateFailed,
    ];

    /// The name the event is stored and sent under.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::RunFinished => "run.finished",
            WebhookEvent::RunFirstFailure => "run.first_failure",
            WebhookEvent::CaseFlaky => "case.flaky",
            WebhookEvent::CaseBroken => "case.broken",
            WebhookEvent::QualityGateFailed => "quality_gate.failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// The body a webhook receives.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// The event's envelope as JSON: `id`, `event`, `occurredAt`, `project` and `data`.
    #[default]
    Json,
    /// A Slack incoming-webhook message (`text` and `blocks`) describing the event in words;
    /// signed all the same.
    Slack,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }

    pub fn parse(name: &str) -> Self {
        match name {
            "slack" => WebhookFormat::Slack,
            _ => WebhookFormat::Json,
        }
    }
}

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet: its next attempt is due at `nextAttemptAt`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the most attempts (or its webhook was deactivated); `redeliverWebhookDelivery`
    /// tries once more.
    Failed,
}

impl WebhookDeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookDeliveryStatus::Pending => "pending",
            WebhookDeliveryStatus::Delivered => "delivered",
            WebhookDeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Self {
        match name {
            "delivered" => WebhookDeliveryStatus::Delivered,
            "failed" => WebhookDeliveryStatus::Failed,
            _ => WebhookDeliveryStatus::Pending,
        }
    }
}

#[derive(Clone)]
pub struct Webhook(pub WebhookRow);

/// A project's subscription to events: each event it subscribes to is POSTed to its URL,
/// signed with its secret (`X-JBTS-Signature: sha256=<hex HMAC-SHA256 of the body>`), and
/// retried with backoff until the receiver answers 2xx. An event is sent if and only if the
/// change that raised it committed. Only the project's maintainers (and admins) see it.
#[Object]
impl Webhook {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// The project whose events it receives.
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        Ok(crate::projects::loaders::project(ctx, self.0.project_id)
            .await?
            .map(Project))
    }
    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The last four characters of the secret, to tell secrets apart; the secret itself is
    /// never shown.
    async fn secret_hint(&self) -> &str {
        self.0.secret_hint.as_deref().unwrap_or_default()
    }
    /// The events it receives.
    async fn events(&self) -> Vec<WebhookEvent> {
        self.0
            .events
            .iter()
            .filter_map(|e| WebhookEvent::parse(e))
            .collect()
    }
    /// The body it receives.
    async fn format(&self) -> WebhookFormat {
        WebhookFormat::parse(&self.0.format)
    }
    /// Whether events are sent to it; while inactive, none are.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// User id of whoever created it.
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    /// When it was created.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
    /// Its deliveries, newest first: the delivery log.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deliveries in this state.")] status: Option<WebhookDeliveryStatus>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> async_graphql::Result<WebhookDeliveryConnection> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let (fetched, total) = loaders::deliveries_page(ctx, self.0.id, args, status).await?;
        Ok(crate::connection::plain(
            fetched,
            crate::sql::Total::Known(total),
            WebhookDelivery,
        ))
    }
    /// Its audit trail: created, changed (the secret shown only by its hint), deleted.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> async_graphql::Result<crate::audit::AuditEntryConnection> {
        crate::audit::history(
            ctx,
            crate::audit::AuditedType::Webhook,
            self.0.id,
            first,
            after,
        )
        .await
    }
}

#[derive(Clone)]
pub struct WebhookDelivery(pub DeliveryRow);

/// One event for one webhook: the envelope sent, and how its attempts went. Its id is the
/// envelope's `id` and the `X-JBTS-Delivery` header: every attempt carries the same, so a
/// receiver that remembers the ids it handled handles each event once.
#[Object]
impl WebhookDelivery {
    /// Unique id, sent as `X-JBTS-Delivery` and as the envelope's `id`.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Id of the webhook it is for.
    async fn webhook_id(&self) -> Uuid {
        self.0.webhook_id
    }
    /// The event's name as sent in `X-JBTS-Event` (`run.finished`, `run.first_failure`,
    /// `case.flaky`, `case.broken`, `quality_gate.failed`, or `ping` for `testWebhook`).
    async fn event(&self) -> &str {
        &self.0.event
    }
    /// Id of what the event is about (the run, the test case, the webhook for a ping).
    async fn subject_id(&self) -> Option<Uuid> {
        self.0.subject_id
    }
    /// The envelope: `id`, `event`, `occurredAt`, `project` (`id`, `key`) and `data`. A JSON
    /// webhook receives exactly this.
    async fn payload(&self) -> Json {
        async_graphql::Json(self.0.payload.clone())
    }
    /// Where it stands.
    async fn status(&self) -> WebhookDeliveryStatus {
        WebhookDeliveryStatus::parse(&self.0.status)
    }
    /// Attempts made so far.
    async fn attempt_count(&self) -> i32 {
        self.0.attempts
    }
    /// When the next attempt is due (while pending).
    async fn next_attempt_at(&self) -> Option<Timestamp> {
        (self.0.status == "pending").then_some(self.0.next_attempt_at)
    }
    /// When the last attempt was made.
    async fn last_attempt_at(&self) -> Option<Timestamp> {
        self.0.last_attempt_at
    }
    /// When the receiver accepted it.
    async fn delivered_at(&self) -> Option<Timestamp> {
        self.0.delivered_at
    }
    /// The HTTP status of the last answer; null when there was none.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the event was raised.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
    /// Its attempts, in order (the latest 50).
    async fn attempts(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<WebhookDeliveryAttempt>> {
        Ok(loaders::attempts(ctx, self.0.id)
            .await?
            .into_iter()
            .map(WebhookDeliveryAttempt)
            .collect())
    }
}

pub struct WebhookDeliveryAttempt(pub AttemptRow);

/// One POST of a delivery to its webhook's URL.
#[Object]
impl WebhookDeliveryAttempt {
    /// Its number among the delivery's attempts, from 1.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// When it started.
    async fn at(&self) -> Timestamp {
        self.0.at
    }
    /// How long the receiver took to answer (or to fail), in milliseconds.
    async fn duration_ms(&self) -> i32 {
        self.0.duration_ms
    }
    /// The HTTP status answered; null when no answer came (refused, timed out).
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }
    /// Why it failed; null when the receiver accepted it.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// A page of a webhook's deliveries.
pub type WebhookDeliveryConnection = Connection<WebhookDelivery>;

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// Where to POST events: an `https` URL (or `http` to a loopback host such as
    /// `localhost`, for a receiver on the server's machine), without credentials, at most
    /// 2000 characters.
    pub url: String,
    /// The key the body is signed with (16 to 256 characters); shown only by its last four
    /// characters afterwards.
    pub secret: String,
    /// The events to receive (at least one).
    pub events: Vec<WebhookEvent>,
    /// The body to send.
    #[graphql(default)]
    pub format: WebhookFormat,
    /// What it is for (at most 1000 characters).
    pub description: Option<String>,
    /// Whether events are sent to it (default true).
    pub active: Option<bool>,
    /// The project whose events it receives (default: the token's project, else the default
    /// project). Managing webhooks takes the maintainer role there.
    pub project_key: Option<String>,
}

/// Changes to a webhook; absent fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// Where to POST events (as in `createWebhook`).
    pub url: Option<String>,
    /// A new secret (16 to 256 characters): the next attempts are signed with it.
    pub secret: Option<String>,
    /// The events to receive (at least one).
    pub events: Option<Vec<WebhookEvent>>,
    /// The body to send.
    pub format: Option<WebhookFormat>,
    /// Whether events are sent to it; while inactive, its pending deliveries fail as they
    /// come due (`redeliverWebhookDelivery` sends them once it is active again).
    pub active: Option<bool>,
    /// What it is for (null clears it).
    pub description: MaybeUndefined<String>,
}
