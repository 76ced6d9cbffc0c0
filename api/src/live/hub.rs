//! The one listener of a process: a `PgListener` on the live channel, coalescing bursts per
//! run, routing each event to the topics it concerns ([`Topic`]: a run's progress, its
//! executions, its step results, every run), so that an event wakes only the subscriptions
//! that follow it: the work per event grows with its own followers, not with every
//! subscription of the process. The database work an event causes is shared too
//! ([`SnapshotCache`]): it grows with the number of distinct identities watching, never with
//! the number of subscribers.
//!
//! The same connection listens for token changes ([`TOKENS_CHANNEL`]) and hands them to the
//! token cache, which evicts the token and tells its open sockets to re-check it. Whenever the
//! listener (re)connects, announcements may have been lost: every token is re-checked.
//!
//! And for new webhook deliveries ([`WEBHOOKS_CHANNEL`]): it wakes the process's deliverer
//! ([`Hub::webhooks`]), also on every (re)connection, since a wake-up may have been lost.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::Shared;
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

use super::event::{CHANNEL, Notification, RunChange};
use crate::auth::tokens::{TOKENS_CHANNEL, TokenCache};

/// The channel `enqueue_webhook_event` notifies at COMMIT (migration 22).
pub const WEBHOOKS_CHANNEL: &str = "jbts_webhooks";

/// Least time between two events of one run: the changes of a burst (a bulk report, many
/// completions) arriving within it after an event are merged into the next one, so dashboards
/// get at most one message per run per window, however fast the writes.
pub const COALESCE_WINDOW: Duration = Duration::from_millis(20);

/// Wait before the event of a change to a run that had none within [`COALESCE_WINDOW`]: just
/// long enough to gather the other notifications of the same commit (a completion notifies
/// for the execution and for the run), so an isolated change is not held for a whole window.
pub const GATHER_DELAY: Duration = Duration::from_millis(2);

/// Events of one topic a slow subscription may fall behind by before it is resynchronised
/// with a snapshot. A topic carries one run's events, at most one per [`COALESCE_WINDOW`]:
/// 256 is five seconds of a run changing without pause.
pub const TOPIC_CAPACITY: usize = 256;

/// First delay before reconnecting a dropped listener; doubles up to [`RECONNECT_MAX`].
pub const RECONNECT_MIN: Duration = Duration::from_millis(50);

/// Longest delay between reconnection attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How long a computed snapshot is shared with subscribers asking for the same thing.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(2);

/// Notifications buffered between the listener and the coalescer.
const NOTIFICATION_BUFFER: usize = 16_384;

/// State of the listener connection, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerState {
    Connecting,
    Connected,
    Disconnected,
}

/// A snapshot, of the type its key implies.
type Snapshot = Arc<dyn std::any::Any + Send + Sync>;

type SharedLoad = Shared<Pin<Box<dyn Future<Output = Result<Snapshot, String>> + Send>>>;

/// Results of snapshot queries, decoded once and shared by key while fresh.
#[derive(Default)]
pub struct SnapshotCache {
    entries: Mutex<HashMap<String, (Instant, SharedLoad)>>,
}

impl SnapshotCache {
    /// The value for `key`, computing it with `load` unless a fresh one is shared already.
    /// A key stands for one type: asking it for another is an error.
    pub async fn get<T, F>(&self, key: String, load: F) -> Result<Arc<T>, String>
    where
        T: Send + Sync + 'static,
        F: Future<Output = Result<T, String>> + Send + 'static,
    {
        let shared = {
            let mut entries = match self.entries.lock() {
                Ok(e) => e,
                Err(p) => p.into_inner(),
            };
            let now = Instant::now();
            entries.retain(|_, (at, _)| now.duration_since(*at) < SNAPSHOT_TTL);
            match entries.get(&key) {
                Some((_, s)) => s.clone(),
                None => {
                    let fut: Pin<Box<dyn Future<Output = Result<Snapshot, String>> + Send>> =
                        Box::pin(async move { load.await.map(|v| Arc::new(v) as Snapshot) });
                    let shared = fut.shared();
                    entries.insert(key.clone(), (now, shared.clone()));
                    shared
                }
            }
        };
        shared
            .await?
            .downcast::<T>()
            .map_err(|_| format!("snapshot {key} is not of the type asked for"))
    }
}

/// What a subscription follows: the events it is woken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every change of the run.
    Progress(Uuid),
    /// Changes of the run's executions (or more changes than were listed).
    Executions(Uuid),
    /// Changes of the run's step results.
    Steps(Uuid),
    /// Every change of every run.
    Runs,
}

impl Topic {
    /// Whether `change` concerns this topic's followers.
    fn concerns(&self, change: &RunChange) -> bool {
        match self {
            Topic::Progress(run) => change.run == *run,
            Topic::Executions(run) => {
                change.run == *run && (!change.executions.is_empty() || change.truncated)
            }
            Topic::Steps(run) => {
                change.run == *run && (!change.step_executions.is_empty() || change.truncated)
            }
            Topic::Runs => true,
        }
    }

    /// The topics a change of `run` may concern.
    fn of(run: Uuid) -> [Topic; 4] {
        [
            Topic::Progress(run),
            Topic::Executions(run),
            Topic::Steps(run),
            Topic::Runs,
        ]
    }
}

/// The topics followed now, each a broadcast channel of its followers.
#[derive(Default)]
struct Topics {
    senders: Mutex<HashMap<Topic, broadcast::Sender<Arc<RunChange>>>>,
    /// Followers woken so far.
    woken: std::sync::atomic::AtomicU64,
    /// Notifications the hub received so far: each one's place in that order.
    arrived: std::sync::atomic::AtomicU64,
}

impl Topics {
    /// Notifications received so far.
    fn arrived(&self) -> u64 {
        self.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, broadcast::Sender<Arc<RunChange>>>> {
        // each update is one insert or remove: a panic elsewhere leaves the map meaningful
        self.senders.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `change` to the topics it concerns; returns the followers woken.
    fn publish(&self, change: Arc<RunChange>) -> usize {
        let senders = self.lock();
        let mut woken = 0;
        for topic in Topic::of(change.run) {
            if topic.concerns(&change)
                && let Some(sender) = senders.get(&topic)
            {
                woken += sender.send(change.clone()).unwrap_or(0);
            }
        }
        self.woken
            .fetch_add(woken as u64, std::sync::atomic::Ordering::Relaxed);
        woken
    }
}

/// A subscription's place on a topic: its events, and the process's resynchronisations.
/// Leaving (drop) removes the topic once nobody follows it.
pub struct Follower {
    topic: Topic,
    /// Notifications received before this follower followed: their transactions had
    /// committed, so the whole state a subscription reads after following holds what they
    /// changed, and a change made of them alone would only repeat it. (Not raised when a
    /// follower lags: its re-read may fail or come from a shared resynchronisation read
    /// older than that, and a change sent twice is harmless where one lost is not.)
    floor: u64,
    events: Option<broadcast::Receiver<Arc<RunChange>>>,
    resyncs: watch::Receiver<u64>,
    hub: Arc<Hub>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        let mut senders = self.hub.topics.lock();
        // the receiver goes first, under the lock, so the count below is exact
        self.events = None;
        if senders
            .get(&self.topic)
            .is_some_and(|s| s.receiver_count() == 0)
        {
            senders.remove(&self.topic);
        }
    }
}

/// What woke a follower.
pub enum Woken {
    /// A change of what it follows.
    Change(Arc<RunChange>),
    /// The listener reconnected (the number tells resynchronisations apart): notifications
    /// may have been lost, everyone re-reads.
    Resync(u64),
    /// This follower fell behind its topic: it re-reads alone.
    Lagged,
    /// The server stops.
    Stop,
}

impl Follower {
    /// Keeps every change from now on, including those received before it followed: for a
    /// subscription that sends changes only, never a whole state.
    pub fn every_change(&mut self) {
        self.floor = 0;
    }

    /// The next event for this follower.
    pub async fn next(&mut self) -> Woken {
        let hub = self.hub.clone();
        loop {
            let Some(events) = self.events.as_mut() else {
                return Woken::Stop;
            };
            let woken = tokio::select! {
                _ = hub.stopped() => Woken::Stop,
                changed = self.resyncs.changed() => match changed {
                    Ok(()) => Woken::Resync(*self.resyncs.borrow_and_update()),
                    Err(_) => Woken::Stop,
                },
                event = events.recv() => match event {
                    Ok(change) => Woken::Change(change),
                    Err(RecvError::Lagged(_)) => {
                        metrics::counter!(crate::telemetry::LIVE_RESYNCS, "reason" => "lagged").increment(1);
                        Woken::Lagged
                    }
                    Err(RecvError::Closed) => Woken::Stop,
                }
            };
            match woken {
                // all of it committed before the whole state this follower reads or sent
                Woken::Change(change) if change.arrived <= self.floor => {}
                woken => return woken,
            }
        }
    }
}

/// The process's live hub.
pub struct Hub {
    topics: Arc<Topics>,
    resyncs: Arc<watch::Sender<u64>>,
    /// Client subscriptions open now (over all sockets).
    subscriptions: std::sync::atomic::AtomicUsize,
    state: watch::Receiver<ListenerState>,
    shutdown: watch::Receiver<bool>,
    pub snapshots: SnapshotCache,
    pub pool: DatabaseConnection,
    /// Time limits of the subscriptions' reads.
    pub statements: crate::config::StatementLimits,
    /// Read replicas: whole-state reads go to one that has replayed everything announced.
    pub replicas: Arc<crate::db::replicas::ReadReplicas>,
    /// Woken when webhook deliveries were committed (or may have been, after a reconnect).
    webhooks: Arc<tokio::sync::Notify>,
}

impl Hub {
    /// Starts the listener for the database at `url`, announcing token changes to `tokens`;
    /// it stops when `shutdown` turns true.
    pub fn start(
        url: String,
        pool: DatabaseConnection,
        tokens: Arc<TokenCache>,
        shutdown: watch::Receiver<bool>,
        statements: crate::config::StatementLimits,
        replicas: Arc<crate::db::replicas::ReadReplicas>,
    ) -> Arc<Self> {
        crate::telemetry::metrics();
        let topics = Arc::new(Topics::default());
        let resyncs = Arc::new(watch::channel(0).0);
        let (state_tx, state) = watch::channel(ListenerState::Connecting);
        let (notes_tx, notes_rx) = mpsc::channel(NOTIFICATION_BUFFER);
        let webhooks = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(listen(
            url,
            notes_tx,
            resyncs.clone(),
            tokens,
            webhooks.clone(),
            state_tx,
            shutdown.clone(),
        ));
        tokio::spawn(coalesce(notes_rx, topics.clone()));
        Arc::new(Self {
            topics,
            resyncs,
            subscriptions: Default::default(),
            state,
            shutdown,
            snapshots: SnapshotCache::default(),
            pool,
            statements,
            replicas,
            webhooks,
        })
    }

    /// What wakes the webhook deliverer: notified when deliveries were committed.
    pub fn webhooks(&self) -> Arc<tokio::sync::Notify> {
        self.webhooks.clone()
    }

    /// Follows `topic` from now on.
    pub fn follow(self: &Arc<Self>, topic: Topic) -> Follower {
        let events = self
            .topics
            .lock()
            .entry(topic)
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .subscribe();
        let mut resyncs = self.resyncs.subscribe();
        resyncs.mark_unchanged();
        Follower {
            topic,
            // read once subscribed: a change published before is not received at all
            floor: self.topics.arrived(),
            events: Some(events),
            resyncs,
            hub: self.clone(),
        }
    }

    /// Subscription streams woken by events so far (this hub's share of
    /// `jbts_live_wakeups_total`).
    pub fn wakeups(&self) -> u64 {
        self.topics.woken.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Run-change notifications received from the database so far.
    pub fn notifications(&self) -> u64 {
        self.topics.arrived()
    }

    /// Topics followed now.
    pub fn topics(&self) -> usize {
        self.topics.lock().len()
    }

    /// Counts a client subscription as open while the guard lives.
    pub fn subscription_opened(self: &Arc<Self>) -> OpenSubscription {
        self.subscriptions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenSubscription(self.clone())
    }

    /// Resolves once the listener is connected (at start, or after a reconnect).
    pub async fn connected(&self) {
        let mut rx = self.state.clone();
        loop {
            if *rx.borrow_and_update() == ListenerState::Connected {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn state(&self) -> ListenerState {
        *self.state.borrow()
    }

    /// Resolves when the server shuts down.
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.clone();
        until_true(&mut rx).await;
    }

    /// Client subscriptions open now.
    pub fn subscribers(&self) -> usize {
        self.subscriptions
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A client subscription, counted as open while this lives.
pub struct OpenSubscription(Arc<Hub>);

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        self.0
            .subscriptions
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Resolves once the flag is true (or its sender is gone).
async fn until_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn listen(
    url: String,
    notes: mpsc::Sender<Notification>,
    resyncs: Arc<watch::Sender<u64>>,
    tokens: Arc<TokenCache>,
    webhooks: Arc<tokio::sync::Notify>,
    state: watch::Sender<ListenerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delay = RECONNECT_MIN;
    let mut connected_before = false;
    let mut resyncs_sent: u64 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let attempt = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener
                .listen_all([CHANNEL, TOKENS_CHANNEL, WEBHOOKS_CHANNEL])
                .await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match attempt.await {
            Ok(mut listener) => {
                let _ = state.send(ListenerState::Connected);
                delay = RECONNECT_MIN;
                // token changes announced while no listener was connected are lost: sockets
                // opened meanwhile (or before a drop) re-check theirs
                tokens.announce_all();
                // deliveries committed while no listener was connected woke nobody
                webhooks.notify_one();
                if connected_before {
                    // anything sent while we were away is lost: everyone re-reads
                    metrics::counter!(crate::telemetry::LIVE_RECONNECTS).increment(1);
                    metrics::counter!(crate::telemetry::LIVE_RESYNCS, "reason" => "reconnect")
                        .increment(1);
                    resyncs_sent += 1;
                    resyncs.send_replace(resyncs_sent);
                    tracing::info!("live listener reconnected; subscriptions resynchronised");
                }
                connected_before = true;
                loop {
                    tokio::select! {
                        _ = until_true(&mut shutdown) => return,
                        received = listener.try_recv() => match received {
                            Ok(Some(n)) if n.channel() == WEBHOOKS_CHANNEL => webhooks.notify_one(),
                            Ok(Some(n)) if n.channel() == TOKENS_CHANNEL => {
                                match Uuid::try_parse(n.payload()) {
                                    Ok(id) => tokens.announce_changed(id),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "unreadable token notification");
                                        tokens.announce_all();
                                    }
                                }
                            }
                            Ok(Some(n)) => match serde_json::from_str::<Notification>(n.payload()) {
                                Ok(note) => {
                                    metrics::counter!(crate::telemetry::LIVE_NOTIFICATIONS).increment(1);
                                    if notes.send(note).await.is_err() {
                                        return;
                                    }
                                }
                                Err(e) => tracing::warn!(error = %e, "unreadable live notification"),
                            },
                            // the connection dropped (sqlx reconnects on the next call)
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "live listener failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "live listener cannot connect"),
        }
        let _ = state.send(ListenerState::Disconnected);
        tokio::select! {
            _ = until_true(&mut shutdown) => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

async fn coalesce(mut notes: mpsc::Receiver<Notification>, topics: Arc<Topics>) {
    // runs with changes waiting for their event, and when it is due
    let mut pending: HashMap<Uuid, (Instant, RunChange)> = HashMap::new();
    // when each run's last event went out, while within the window
    let mut sent: HashMap<Uuid, Instant> = HashMap::new();
    loop {
        let next_due = pending.values().map(|(due, _)| *due).min();
        tokio::select! {
            note = notes.recv() => match note {
                Some(note) => {
                    let now = Instant::now();
                    let place = topics.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let change = &mut pending
                        .entry(note.run)
                        .or_insert_with(|| {
                            let due = match sent.get(&note.run) {
                                Some(last) if now < *last + COALESCE_WINDOW => *last + COALESCE_WINDOW,
                                _ => now + GATHER_DELAY,
                            };
                            (due, RunChange::new(note.run))
                        })
                        .1;
                    change.merge(&note);
                    change.arrived = place;
                }
                None => return,
            },
            _ = async {
                match next_due {
                    Some(due) => tokio::time::sleep_until(due.into()).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                let now = Instant::now();
                sent.retain(|_, last| now < *last + COALESCE_WINDOW);
                let due: Vec<Uuid> = pending
                    .iter()
                    .filter(|(_, (due, _))| now >= *due)
                    .map(|(run, _)| *run)
                    .collect();
                for run in due {
                    if let Some((_, change)) = pending.remove(&run) {
                        sent.insert(run, now);
                        metrics::counter!(crate::telemetry::LIVE_EVENTS).increment(1);
                        let woken = topics.publish(Arc::new(change));
                        metrics::counter!(crate::telemetry::LIVE_WAKEUPS).increment(woken as u64);
                    }
                }
            }
        }
    }
}
