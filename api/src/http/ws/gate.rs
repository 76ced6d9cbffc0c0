//! The gate in front of async-graphql's protocol engine: it reads every client frame first,
//! enforces the protocol and the socket's bounds, keeps the socket's token under watch, and
//! hands the engine only messages it accepts.
//!
//! The gate is the engine's input stream: the engine polls it, and handles whatever it yields
//! before polling it again. The operations the engine runs are tracked where they change:
//! an id becomes active when the gate yields its `subscribe`, and stops being active when the
//! engine's `complete` for it goes out (seen in the engine's sink, [`Operations::observe`]).
//! Both happen in the engine's task, in the engine's order, so the gate's view is the engine's.
//!
//! The gate answers refusals itself through the socket's outgoing channel: an `error` message
//! for a refused operation (the socket stays usable), or the close the protocol prescribes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::http::ClientMessage;
use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use uuid::Uuid;

use super::fanout::{Fanout, Membership, Subscriber};
use super::protocol::{Closing, Envelope, Kind, Protocol, ended_operation};
use super::slots::SocketSlot;
use super::{WS_CLOSE_REPLY_TIMEOUT, WS_INIT_TIMEOUT, WS_MAX_MESSAGE_BYTES, WsShared};
use crate::auth::extension::Authenticated;
use crate::auth::tokens::{self, CheckError, Grant, Refusal, TokenCache, TokenChange};
use crate::http::HttpState;

/// Longest wait before an expiring token's socket re-checks it: a far expiry is reached in
/// steps of this, which keeps the timer within the range tokio's timers cover.
const EXPIRY_STEP: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// The operations the engine runs on one socket, by id.
#[derive(Default)]
pub(super) struct Operations {
    active: Mutex<HashSet<String>>,
}

impl Operations {
    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        // each update is one insert or remove: a panic elsewhere leaves the set meaningful
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_active(&self, id: &str) -> bool {
        self.lock().contains(id)
    }

    fn count(&self) -> usize {
        self.lock().len()
    }

    fn started(&self, id: String) {
        self.lock().insert(id);
    }

    /// Notes an outgoing message: a `complete` or `error` ends its operation.
    pub(super) fn observe(&self, message: &Message) {
        if let Message::Text(text) = message
            && let Some(id) = ended_operation(text.as_str())
        {
            self.lock().remove(&id);
        }
    }
}

/// The connection data the engine gives every operation, left here by the gate when it
/// accepts `connection_init` and taken by the engine's initialiser.
pub(super) type InitData = Arc<Mutex<Option<async_graphql::Data>>>;

/// An authenticated socket's token.
struct Session {
    /// The `Authorization` value, to check again.
    header: String,
    grant: Grant,
    /// When to check the token again for its expiry.
    recheck_at: Option<Instant>,
    /// The socket's place among its token's sockets.
    _slot: SocketSlot<Uuid>,
}

/// What woke the gate.
enum Event {
    Frame(Option<Result<Message, axum::Error>>),
    Change(Result<TokenChange, RecvError>),
    Recheck,
    InitTimeout,
}

/// What to do with a client message or an event.
enum Verdict {
    /// Hand the message to the engine.
    Forward,
    /// Subscribe the client to the shared stream of this subscription (its id, its request).
    Join(String, Box<async_graphql::Request>),
    /// Nothing to do.
    Skip,
    /// Tell the client (a refused operation) and go on.
    Reply(Message),
    /// Close the socket, telling the client why.
    Close(Closing),
    /// The socket is done (the client closed it or went away).
    End,
}

pub(super) struct Gate {
    protocol: Protocol,
    pool: DatabaseConnection,
    tokens: Arc<TokenCache>,
    rate_limiter: Arc<crate::rate_limit::RateLimiter>,
    shared: Arc<WsShared>,
    socket: SplitStream<WebSocket>,
    out: futures::channel::mpsc::Sender<Message>,
    operations: Arc<Operations>,
    init_data: InitData,
    /// Token changes; `None` once the feed is gone (the server is stopping).
    changes: Option<broadcast::Receiver<TokenChange>>,
    init_deadline: Instant,
    session: Option<Session>,
    done: bool,
    schema: crate::schema::AppSchema,
    hub: Arc<crate::live::hub::Hub>,
    fanout: Arc<Fanout>,
    /// The socket's subscriptions on shared streams, by operation id: dropped with the gate
    /// when the socket ends.
    memberships: std::collections::HashMap<String, Membership>,
}

/// Resolves at `at`, or never.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next token change, or never once the feed is gone.
async fn next_change(
    changes: &mut Option<broadcast::Receiver<TokenChange>>,
) -> Result<TokenChange, RecvError> {
    match changes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// When a socket with a token expiring at `expires_at` checks it again.
fn recheck_at(expires_at: Option<chrono::DateTime<chrono::FixedOffset>>) -> Option<Instant> {
    let left = (expires_at? - chrono::Utc::now().fixed_offset())
        .to_std()
        .unwrap_or_default();
    Instant::now().checked_add(left.min(EXPIRY_STEP))
}

/// The `Authorization` value of a `connection_init` payload: `None` when it carries none,
/// `Some(Err)` when it is not text.
fn authorization(payload: Option<&serde_json::Value>) -> Option<Result<String, ()>> {
    let payload = payload?;
    let value = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))?;
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.trim().is_empty() => None,
        serde_json::Value::String(s) => Some(Ok(s.clone())),
        _ => Some(Err(())),
    }
}

impl Gate {
    /// The gate of a socket of the server `state`, reading `socket` and writing through `out`.
    pub(super) fn new(
        protocol: Protocol,
        state: &HttpState,
        socket: SplitStream<WebSocket>,
        out: futures::channel::mpsc::Sender<Message>,
        operations: Arc<Operations>,
        init_data: InitData,
    ) -> Self {
        Self {
            protocol,
            pool: state.app.db.clone(),
            tokens: state.tokens.clone(),
            rate_limiter: state.app.rate_limiter.clone(),
            shared: state.ws.clone(),
            changes: Some(state.tokens.watch()),
            socket,
            out,
            operations,
            init_data,
            init_deadline: Instant::now() + WS_INIT_TIMEOUT,
            session: None,
            done: false,
            schema: state.schema.clone(),
            hub: state.hub.clone(),
            fanout: state.ws.fanout.clone(),
            memberships: std::collections::HashMap::new(),
        }
    }

    /// The next message for the engine, or `None` once the socket is done: closed by the
    /// client, or by the gate after telling the client why.
    pub(super) async fn next(&mut self) -> Option<Message> {
        while !self.done {
            let (verdict, message) = match self.wait().await {
                Event::Frame(None) | Event::Frame(Some(Err(_))) => (Verdict::End, None),
                Event::Frame(Some(Ok(message))) => {
                    let verdict = match &message {
                        Message::Text(text) => self.judge(text.as_bytes()).await,
                        Message::Binary(bytes) => self.judge(bytes).await,
                        Message::Close(_) => Verdict::End,
                        Message::Ping(_) | Message::Pong(_) => Verdict::Skip,
                    };
                    (verdict, Some(message))
                }
                Event::Change(change) => (self.on_change(change).await, None),
                Event::Recheck => (self.recheck().await, None),
                Event::InitTimeout => (Verdict::Close(Closing::init_timeout()), None),
            };
            match verdict {
                Verdict::Forward => return message,
                Verdict::Join(id, request) => self.join(id, *request),
                Verdict::Skip => {}
                Verdict::Reply(reply) => {
                    if self.out.send(reply).await.is_err() {
                        self.done = true;
                    }
                }
                Verdict::Close(closing) => self.close(closing).await,
                Verdict::End => self.done = true,
            }
        }
        None
    }

    async fn wait(&mut self) -> Event {
        let init_deadline = self.session.is_none().then_some(self.init_deadline);
        let recheck_at = self.session.as_ref().and_then(|s| s.recheck_at);
        tokio::select! {
            frame = self.socket.next() => Event::Frame(frame),
            change = next_change(&mut self.changes) => Event::Change(change),
            () = until(recheck_at) => Event::Recheck,
            () = until(init_deadline) => Event::InitTimeout,
        }
    }

    /// Judges a client message.
    async fn judge(&mut self, bytes: &[u8]) -> Verdict {
        // (past WS_MAX_READ_BYTES a message never gets here: the socket drops the connection)
        if bytes.len() > WS_MAX_MESSAGE_BYTES {
            return Verdict::Close(Closing::too_big(WS_MAX_MESSAGE_BYTES));
        }
        let envelope = match Envelope::read(bytes) {
            Ok(envelope) => envelope,
            Err(e) => return Verdict::Close(Closing::bad_request(&e)),
        };
        match envelope.kind() {
            Kind::Init => self.on_init(bytes).await,
            Kind::Subscribe => self.on_subscribe(envelope.id, bytes).await,
            Kind::Unknown => Verdict::Close(Closing::bad_request("unknown message type")),
            Kind::Complete | Kind::Ping | Kind::Pong | Kind::Terminate => match parse(bytes) {
                Ok(ClientMessage::Stop { id })
                    if self.memberships.remove(&id).is_some_and(|m| m.is_live()) =>
                {
                    // as the engine does for its own operations: the operation is over
                    let complete = self.protocol.complete(&id);
                    self.operations.observe(&complete);
                    Verdict::Reply(complete)
                }
                Ok(_) => Verdict::Forward,
                Err(closing) => Verdict::Close(closing),
            },
        }
    }

    /// Subscribes the client to the shared stream of its subscription.
    fn join(&mut self, id: String, request: async_graphql::Request) {
        let Some(session) = &self.session else {
            return;
        };
        let membership = self.fanout.join(
            &self.schema,
            &self.hub,
            request,
            Subscriber {
                identity: session.grant.identity.clone(),
                protocol: self.protocol,
                id: id.clone(),
                out: self.out.clone(),
                operations: self.operations.clone(),
            },
        );
        // streams that ended by themselves (and told their clients) are forgotten here
        self.memberships.retain(|_, m| m.is_live());
        self.memberships.insert(id, membership);
    }

    async fn on_init(&mut self, bytes: &[u8]) -> Verdict {
        if self.session.is_some() {
            return Verdict::Close(Closing::second_init());
        }
        let payload = match parse(bytes) {
            Ok(ClientMessage::ConnectionInit { payload }) => payload,
            Ok(_) => return Verdict::Close(Closing::bad_request("not a connection_init")),
            Err(closing) => return Verdict::Close(closing),
        };
        let header = match authorization(payload.as_ref()) {
            None => return Verdict::Close(Closing::no_token()),
            Some(Err(())) => return Verdict::Close(Closing::forbidden(Refusal::Malformed)),
            Some(Ok(header)) => header,
        };
        let grant = match tokens::check(&self.pool, &self.tokens, Some(&header)).await {
            Ok(grant) => grant,
            Err(e) => return refused(e),
        };
        let max = self.shared.limits.max_sockets_per_token;
        let Some(slot) = self.shared.tokens.acquire(grant.token_id, max) else {
            return Verdict::Close(Closing::too_many_sockets(max));
        };
        let mut data = async_graphql::Data::default();
        data.insert(Authenticated(grant.identity.clone()));
        *self.init_data.lock().unwrap_or_else(|p| p.into_inner()) = Some(data);
        self.session = Some(Session {
            header,
            recheck_at: recheck_at(grant.expires_at),
            grant,
            _slot: slot,
        });
        Verdict::Forward
    }

    async fn on_subscribe(&mut self, id: Option<String>, bytes: &[u8]) -> Verdict {
        if self.session.is_none() {
            return Verdict::Close(Closing::unauthorized());
        }
        let Some(id) = id else {
            return Verdict::Close(Closing::bad_request("an operation needs an id"));
        };
        if self.operations.is_active(&id) {
            return Verdict::Close(Closing::duplicate(&id));
        }
        match self.check_token().await {
            Ok(()) => {}
            Err(Some(closing)) => return Verdict::Close(closing),
            Err(None) => {
                return Verdict::Reply(self.protocol.operation_error(
                    &id,
                    "INTERNAL_SERVER_ERROR",
                    "the token could not be checked; try again",
                ));
            }
        }
        // a subscribe counts against its token's rate limit, as a request over HTTP does
        if let Some(session) = &self.session
            && let Some(Err(spent)) = self
                .rate_limiter
                .take(crate::rate_limit::Client::Token(session.grant.token_id))
        {
            return Verdict::Reply(self.protocol.operation_error(
                &id,
                "RATE_LIMITED",
                &format!(
                    "rate limit exceeded: {} requests per window for this token; the window resets at {} (seconds since the epoch)",
                    spent.limit, spent.reset
                ),
            ));
        }
        let max = self.shared.limits.max_subscriptions_per_socket;
        if self.operations.count() >= max {
            return Verdict::Reply(self.protocol.operation_error(
                &id,
                "TOO_MANY_SUBSCRIPTIONS",
                &format!(
                    "at most {max} subscriptions may be open on one socket: complete one first"
                ),
            ));
        }
        if let Err(e) = crate::limits::check_json(bytes, "the message") {
            return Verdict::Reply(self.protocol.operation_error(&id, e.code(), &e.message()));
        }
        let request = match parse(bytes) {
            Ok(ClientMessage::Start { payload, .. }) => payload,
            Ok(_) => return Verdict::Close(Closing::bad_request("not a subscribe")),
            Err(closing) => return Verdict::Close(closing),
        };
        if let Err(e) = crate::limits::check_query(&request.query) {
            return Verdict::Reply(self.protocol.operation_error(&id, e.code(), &e.message()));
        }
        if super::fanout::is_subscription(&request) {
            self.operations.started(id.clone());
            return Verdict::Join(id, Box::new(request));
        }
        // the engine starts it as soon as this is yielded
        self.operations.started(id);
        Verdict::Forward
    }

    async fn on_change(&mut self, change: Result<TokenChange, RecvError>) -> Verdict {
        let Some(session) = &self.session else {
            return Verdict::Skip;
        };
        match change {
            Ok(TokenChange::Changed(id)) if id != session.grant.token_id => Verdict::Skip,
            // this token changed, changes may have been missed, or this socket fell behind
            Ok(_) | Err(RecvError::Lagged(_)) => self.recheck().await,
            Err(RecvError::Closed) => {
                self.changes = None;
                Verdict::Skip
            }
        }
    }

    /// Checks the token again, closing the socket if it is no longer acceptable.
    async fn recheck(&mut self) -> Verdict {
        match self.check_token().await {
            Ok(()) => Verdict::Skip,
            Err(Some(closing)) => Verdict::Close(closing),
            Err(None) => Verdict::Close(Closing::internal()),
        }
    }

    /// Checks the socket's token again: `Err(Some)` closes the socket, `Err(None)` means it
    /// could not be checked.
    async fn check_token(&mut self) -> Result<(), Option<Closing>> {
        let Some(session) = self.session.as_mut() else {
            return Err(Some(Closing::unauthorized()));
        };
        match tokens::check(&self.pool, &self.tokens, Some(&session.header)).await {
            Ok(grant)
                if grant.token_id == session.grant.token_id
                    && grant.identity == session.grant.identity =>
            {
                session.recheck_at = recheck_at(grant.expires_at);
                session.grant = grant;
                Ok(())
            }
            Ok(_) => Err(Some(Closing::identity_changed())),
            Err(CheckError::Refused(refusal)) => Err(Some(Closing::forbidden(refusal))),
            Err(CheckError::Failed(e)) => {
                tracing::warn!(error = ?e, "re-checking a WebSocket's token failed");
                Err(None)
            }
        }
    }

    /// Tells the client why, closes, and waits a moment for the client's close reply: frames
    /// it sent meanwhile are read, so that the connection is not reset before the client has
    /// read why it was closed.
    async fn close(&mut self, closing: Closing) {
        tracing::info!(code = closing.code, reason = %closing.reason, "closing a WebSocket");
        self.done = true;
        let protocol = self.protocol;
        let out = &mut self.out;
        let socket = &mut self.socket;
        let _ = tokio::time::timeout(WS_CLOSE_REPLY_TIMEOUT, async move {
            for message in closing.messages(protocol) {
                if out.send(message).await.is_err() {
                    return;
                }
            }
            while let Some(Ok(message)) = socket.next().await {
                if matches!(message, Message::Close(_)) {
                    return;
                }
            }
        })
        .await;
    }
}

/// A refused or failed token check at `connection_init`.
fn refused(e: CheckError) -> Verdict {
    match e {
        CheckError::Refused(refusal) => Verdict::Close(Closing::forbidden(refusal)),
        CheckError::Failed(e) => {
            tracing::warn!(error = ?e, "checking a WebSocket's token failed");
            Verdict::Close(Closing::internal())
        }
    }
}

/// Parses a client message as the engine will, after bounding its nesting, so that nothing
/// the engine is handed can fail to parse (the engine would close with 1002) or recurse deep.
fn parse(bytes: &[u8]) -> Result<ClientMessage, Closing> {
    crate::limits::check_json(bytes, "the message")
        .map_err(|e| Closing::bad_request(&e.message()))?;
    ClientMessage::from_bytes(bytes).map_err(|e| Closing::bad_request(&e.to_string()))
}
