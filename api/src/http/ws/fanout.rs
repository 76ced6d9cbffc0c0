//! Shared subscription streams: clients whose subscriptions are the same (document, operation,
//! variables, extensions) and who may see the same rows ([`Identity::visibility_key`]) share
//! one execution. Each message of it is executed and serialised once; every client gets the
//! same bytes, wrapped in its protocol's message with its operation id (one small copy), and
//! its socket writes them. Ten thousand dashboards of one run cost one execution per event,
//! not ten thousand.
//!
//! A client joining a running stream gets the whole current state first, read by the stream
//! for the clients waiting, then the changes ([`crate::live::audience`]). A client whose
//! socket cannot take a message (its outbox is full) misses it, and is sent the whole state
//! again at the next change once it reads again: it never stalls the others.
//!
//! The stream stops when its last client leaves (`complete`, socket closed), and tells its
//! clients `complete` when it ends by itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::extract::ws::Message;
use futures::StreamExt;

use super::gate::Operations;
use super::protocol::Protocol;
use crate::auth::Identity;
use crate::auth::extension::Authenticated;
use crate::live::audience::Audience;
use crate::live::hub::{Hub, OpenSubscription};
use crate::schema::AppSchema;

/// The shared streams of a process, by what their clients asked.
#[derive(Default)]
pub(crate) struct Fanout {
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: std::sync::atomic::AtomicU64,
}

/// One shared stream and its clients.
struct Group {
    key: String,
    audience: Arc<Audience>,
    members: Mutex<Members>,
    /// Woken when the last client left.
    idle: tokio::sync::Notify,
}

#[derive(Default)]
struct Members {
    by_id: HashMap<u64, Member>,
    /// The stream ended: nobody joins any more.
    ended: bool,
}

/// A client's subscription on a shared stream.
struct Member {
    out: futures::channel::mpsc::Sender<Message>,
    /// The client's operation id.
    id: String,
    protocol: Protocol,
    operations: Arc<Operations>,
    /// Its generation ([`Audience::join`]); `u64::MAX` while it cannot be written to.
    joined: u64,
    _open: OpenSubscription,
}

/// Whether a message was sent, and how.
enum Sent {
    Yes,
    /// The client's outbox is full.
    Full,
    /// The socket is gone.
    Gone,
}

impl Member {
    fn send(&mut self, message: Message) -> Sent {
        match self.out.try_send(message) {
            Ok(()) => Sent::Yes,
            Err(e) if e.is_full() => Sent::Full,
            Err(_) => Sent::Gone,
        }
    }
}

/// A client's place on a shared stream: leaving (drop) removes it, and stops the stream when
/// it was the last.
pub(super) struct Membership {
    group: Arc<Group>,
    member: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut members = self.group.lock();
        if members.by_id.remove(&self.member).is_some() && members.by_id.is_empty() {
            self.group.idle.notify_one();
        }
    }
}

/// What a client subscribes with, and where its messages go.
pub(super) struct Subscriber {
    pub(super) identity: Identity,
    pub(super) protocol: Protocol,
    pub(super) id: String,
    pub(super) out: futures::channel::mpsc::Sender<Message>,
    pub(super) operations: Arc<Operations>,
}

/// Whether `request` selects a subscription operation (otherwise the engine runs it as it
/// runs queries and mutations; a document that does not parse is the engine's to answer).
pub(super) fn is_subscription(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let operation = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.is_some_and(|op| op.node.ty == OperationType::Subscription)
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, Members> {
        // each update is an insert, a remove or a flag: a panic elsewhere leaves it meaningful
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Fanout {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Group>>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes `subscriber` to the stream of `request`, starting it if nobody runs it.
    pub(super) fn join(
        self: &Arc<Self>,
        schema: &AppSchema,
        hub: &Arc<Hub>,
        request: async_graphql::Request,
        subscriber: Subscriber,
    ) -> Membership {
        let key = serde_json::json!([
            subscriber.identity.visibility_key(),
            request.query,
            request.operation_name,
            request.variables,
            request.extensions,
        ])
        .to_string();
        let member_id = self
            .next_member
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut groups = self.lock();
        let running = groups.get(&key).cloned();
        let (group, fresh) = match running {
            Some(group) if !group.lock().ended => (group, false),
            _ => {
                let group = Arc::new(Group {
                    key: key.clone(),
                    audience: Arc::new(Audience::default()),
                    members: Mutex::default(),
                    idle: tokio::sync::Notify::new(),
                });
                groups.insert(key, group.clone());
                (group, true)
            }
        };
        {
            let mut members = group.lock();
            let joined = group.audience.join();
            members.by_id.insert(
                member_id,
                Member {
                    out: subscriber.out,
                    id: subscriber.id,
                    protocol: subscriber.protocol,
                    operations: subscriber.operations,
                    joined,
                    _open: hub.subscription_opened(),
                },
            );
        }
        drop(groups);
        if fresh {
            let mut session = async_graphql::Data::default();
            session.insert(Authenticated(subscriber.identity));
            tokio::spawn(run(
                group.clone(),
                schema.clone(),
                request.data(group.audience.clone()),
                Arc::new(session),
                Arc::downgrade(self),
            ));
        }
        Membership {
            group,
            member: member_id,
        }
    }
}

/// Runs a shared stream until it ends or its last client leaves.
async fn run(
    group: Arc<Group>,
    schema: AppSchema,
    request: async_graphql::Request,
    session: Arc<async_graphql::Data>,
    fanout: Weak<Fanout>,
) {
    metrics::gauge!(crate::telemetry::LIVE_STREAMS_OPEN).increment(1.0);
    let mut stream = schema.execute_stream_with_session_data(request, session);
    loop {
        tokio::select! {
            () = group.idle.notified() => {
                if group.lock().by_id.is_empty() {
                    break;
                }
            }
            response = stream.next() => match response {
                Some(response) => deliver(&group, &response),
                None => break,
            },
        }
    }
    drop(stream);
    // nobody joins an ended stream: the next subscriber starts a new one
    let members = {
        let mut members = group.lock();
        members.ended = true;
        std::mem::take(&mut members.by_id)
    };
    if let Some(fanout) = fanout.upgrade() {
        let mut groups = fanout.lock();
        if groups
            .get(&group.key)
            .is_some_and(|g| Arc::ptr_eq(g, &group))
        {
            groups.remove(&group.key);
        }
    }
    for (_, mut member) in members {
        let complete = member.protocol.complete(&member.id);
        member.operations.observe(&complete);
        let _ = member.send(complete);
    }
    metrics::gauge!(crate::telemetry::LIVE_STREAMS_OPEN).decrement(1.0);
}

/// Sends one message of the stream to the clients it is for: serialised once; wrapped once per
/// distinct protocol and operation id.
fn deliver(group: &Group, response: &async_graphql::Response) {
    let tag = group.audience.current();
    let caught_up = group.audience.caught_up();
    let payload = match serde_json::to_string(response) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::error!(error = %e, "a subscription message could not be serialised");
            return;
        }
    };
    metrics::counter!(crate::telemetry::LIVE_STREAM_MESSAGES).increment(1);
    let is_change = tag == crate::live::audience::Tag::Change;
    // clients mostly use the same few ids ("1"): their messages are the very same bytes
    let mut wrapped: [HashMap<String, Message>; 2] = Default::default();
    let mut sent = 0u64;
    let mut gone = Vec::new();
    let mut members = group.lock();
    for (key, member) in members.by_id.iter_mut() {
        if member.joined == u64::MAX {
            // it could not be written to: at a change, it asks for the whole state again
            if is_change {
                member.joined = group.audience.join();
            }
            continue;
        }
        if !Audience::receives(tag, member.joined, caught_up) {
            continue;
        }
        let same = &mut wrapped[member.protocol as usize];
        let message = match same.get(member.id.as_str()) {
            Some(message) => message.clone(),
            None => {
                let message = member.protocol.next_message(&member.id, &payload);
                same.insert(member.id.clone(), message.clone());
                message
            }
        };
        match member.send(message) {
            Sent::Yes => sent += 1,
            Sent::Full => member.joined = u64::MAX,
            Sent::Gone => gone.push(*key),
        }
    }
    for key in gone {
        members.by_id.remove(&key);
    }
    if members.by_id.is_empty() {
        group.idle.notify_one();
    }
    drop(members);
    metrics::counter!(crate::telemetry::WS_MESSAGES).increment(sent);
}
