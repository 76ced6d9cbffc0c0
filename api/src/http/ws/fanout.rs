//! Shared subscription streams: clients whose subscriptions are the same (document, operation,
//! variables, extensions) and who may see the same rows ([`Identity::visibility_key`]) share
//! one execution. Each message of it is executed and serialised once; every client gets the
//! same bytes, wrapped in its protocol's message with its operation id (one small copy), and
//! its socket writes them. Ten thousand dashboards of one run cost one execution per event,
//! not ten thousand.
//!
//! A client joining a running stream gets the whole current state first, read by the stream
//! for the clients waiting, then the changes ([`crate::live::audience`]). A client whose
//! socket cannot take a message now (its outbox is full: a whole state of thousands of
//! executions, a slow reader) gets its messages queued in order and written by a task of its
//! own as its socket takes them, so it never stalls the others; past
//! [`MAX_QUEUED_MESSAGES`] the queue is dropped and the client, once it has read what its
//! socket held, is sent the whole state again.
//!
//! The stream stops when its last client leaves (`complete`, socket closed), and tells its
//! clients `complete` when it ends by itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
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
    /// Messages the streams produced (each serialised once).
    messages: Arc<std::sync::atomic::AtomicU64>,
}

/// One shared stream and its clients.
struct Group {
    key: String,
    audience: Arc<Audience>,
    members: Mutex<Members>,
    /// Woken when the last client left.
    idle: tokio::sync::Notify,
    /// The process's count of messages produced.
    produced: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Default)]
struct Members {
    by_id: HashMap<u64, Member>,
    /// The stream ended: nobody joins any more.
    ended: bool,
}

/// Messages queued for one client whose socket is not taking them as fast as they come: a
/// whole state of 10,000 executions is 10,000 messages, each sharing its bytes with every
/// other client's copy (a queued message costs a few dozen bytes). Past it the client is
/// resynchronised instead.
pub const MAX_QUEUED_MESSAGES: usize = 32_768;

/// A client's generation while it cannot be written to: it gets nothing until its socket has
/// taken what it holds, then joins again for the whole state.
const LAGGING: u64 = u64::MAX;

/// A client's subscription on a shared stream.
struct Member {
    out: futures::channel::mpsc::Sender<Message>,
    /// The client's operation id.
    id: String,
    protocol: Protocol,
    operations: Arc<Operations>,
    /// Its generation ([`Audience::join`]); [`LAGGING`] while it cannot be written to.
    joined: u64,
    /// Messages waiting for its socket, in order, while a task writes them.
    queued: Arc<Mutex<std::collections::VecDeque<Message>>>,
    /// Whether that task runs.
    draining: bool,
    _open: OpenSubscription,
}

/// Whether a message was sent (or queued), or the socket is gone.
enum Sent {
    Yes,
    Gone,
}

impl Member {
    /// Sends `message` now, or queues it behind those waiting (starting the task that writes
    /// them), or, past the queue's bound, drops the queue and marks the client lagging.
    fn send(&mut self, message: Message, group: &Arc<Group>, key: u64) -> Sent {
        if !self.draining {
            match self.out.try_send(message) {
                Ok(()) => return Sent::Yes,
                Err(e) if e.is_disconnected() => return Sent::Gone,
                Err(e) => {
                    lock(&self.queued).push_back(e.into_inner());
                    self.draining = true;
                    tokio::spawn(drain(
                        group.clone(),
                        key,
                        self.out.clone(),
                        self.queued.clone(),
                    ));
                    return Sent::Yes;
                }
            }
        }
        let mut queued = lock(&self.queued);
        if queued.len() >= MAX_QUEUED_MESSAGES {
            queued.clear();
            self.joined = LAGGING;
            metrics::counter!(crate::telemetry::LIVE_RESYNCS, "reason" => "lagged").increment(1);
        } else if self.joined != LAGGING {
            queued.push_back(message);
        }
        Sent::Yes
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // each update is one push, pop or clear: a panic elsewhere leaves it meaningful
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes a client's queued messages as its socket takes them; when none is left, the client
/// is written to directly again, and one that lagged joins again for the whole state.
async fn drain(
    group: Arc<Group>,
    key: u64,
    mut out: futures::channel::mpsc::Sender<Message>,
    queued: Arc<Mutex<std::collections::VecDeque<Message>>>,
) {
    use futures::SinkExt;
    loop {
        let next = lock(&queued).pop_front();
        match next {
            Some(message) => {
                if out.send(message).await.is_err() {
                    return;
                }
            }
            None => {
                let mut members = group.lock();
                // what was queued meanwhile is written first
                if !lock(&queued).is_empty() {
                    continue;
                }
                let ended = members.ended;
                if let Some(member) = members.by_id.get_mut(&key) {
                    member.draining = false;
                    if member.joined == LAGGING && !ended {
                        member.joined = group.audience.join();
                    }
                }
                return;
            }
        }
    }
}

/// A client's place on a shared stream: leaving (drop) removes it, and stops the stream when
/// it was the last.
pub(super) struct Membership {
    group: Arc<Group>,
    member: u64,
}

impl Membership {
    /// Whether the client is still on its stream (the stream may have ended by itself).
    pub(super) fn is_live(&self) -> bool {
        let members = self.group.lock();
        !members.ended && members.by_id.contains_key(&self.member)
    }
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
    // a named operation is one of "Multiple", even alone: without operationName, the only one
    let operation = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    // one root field: the resolver and the fan-out agree on one stream's messages (with
    // several, each field's stream would tag the shared messages in turn)
    operation.is_some_and(|op| {
        let items = &op.node.selection_set.node.items;
        op.node.ty == OperationType::Subscription
            && items.len() == 1
            && matches!(items[0].node, Selection::Field(_))
    })
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

    /// Shared streams running now.
    pub(crate) fn streams(&self) -> usize {
        self.lock().len()
    }

    /// Messages the streams produced so far, each serialised once.
    pub(crate) fn messages(&self) -> u64 {
        self.messages.load(std::sync::atomic::Ordering::Relaxed)
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
                    produced: self.messages.clone(),
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
                    queued: Arc::default(),
                    draining: false,
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
    let _ending = Ending {
        group: group.clone(),
        fanout,
    };
    let mut stream = schema.execute_stream_with_session_data(request, session);
    loop {
        tokio::select! {
            () = group.idle.notified() => {
                // ended in the same breath as found empty: a client joining now starts anew
                let mut members = group.lock();
                if members.by_id.is_empty() {
                    members.ended = true;
                    break;
                }
            }
            response = stream.next() => match response {
                Some(response) => deliver(&group, &response),
                None => break,
            },
        }
    }
}

/// Ends a shared stream however its task ends (a panic included): nobody joins it any more,
/// the registry forgets it, and the clients still on it are told `complete`.
struct Ending {
    group: Arc<Group>,
    fanout: Weak<Fanout>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        let members = {
            let mut members = self.group.lock();
            members.ended = true;
            std::mem::take(&mut members.by_id)
        };
        if let Some(fanout) = self.fanout.upgrade() {
            let mut groups = fanout.lock();
            if groups
                .get(&self.group.key)
                .is_some_and(|g| Arc::ptr_eq(g, &self.group))
            {
                groups.remove(&self.group.key);
            }
        }
        for (key, mut member) in members {
            let complete = member.protocol.complete(&member.id);
            member.operations.observe(&complete);
            // queued behind what the client has not read yet, if anything
            member.joined = 0;
            let _ = member.send(complete, &self.group, key);
        }
        metrics::gauge!(crate::telemetry::LIVE_STREAMS_OPEN).decrement(1.0);
    }
}

/// Sends one message of the stream to the clients it is for: serialised once; wrapped once per
/// distinct protocol and operation id.
fn deliver(group: &Arc<Group>, response: &async_graphql::Response) {
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
    group
        .produced
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // clients mostly use the same few ids ("1"): their messages are the very same bytes
    let mut wrapped: [HashMap<String, Message>; 2] = Default::default();
    let mut sent = 0u64;
    let mut gone = Vec::new();
    let mut members = group.lock();
    for (key, member) in members.by_id.iter_mut() {
        if member.joined == LAGGING || !Audience::receives(tag, member.joined, caught_up) {
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
        match member.send(message, group, *key) {
            Sent::Yes => sent += 1,
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
