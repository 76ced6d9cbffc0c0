//! Read replicas: streaming standbys of the primary that serve reads (queries, analytics,
//! subscription snapshots) within a bound on how far behind they may be.
//!
//! Each replica has a pool of its own and a monitor that asks it, every
//! [`MONITOR_INTERVAL`], whether it is a standby and how far its replay is behind. A replica
//! is then:
//! - OK: it answers, and its lag is within `--read-replica-max-lag`;
//! - LAGGING: it answers, but its lag is over the bound: reads go to the primary;
//! - DOWN: it does not answer (or was never reached): reads go to the primary.
//!
//! The lag is measured on the replica, as PostgreSQL's own monitoring does: WAL the replica
//! has not received yet (its connection to the primary slow or broken) does not count, so a
//! standby cut off from its primary may look current; the primary's own view
//! (`pg_stat_replication`) says when that happens.
//!
//! A read that fails for the replica's sake (its connection lost, the standby shutting down, a
//! conflict with recovery) marks it failed: it is skipped until its monitor next hears from
//! it, and the read is done again on the primary. Nothing here writes: every write, and the
//! LISTEN connection, stay on the primary.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};

use crate::config::ReplicaOptions;
use crate::telemetry;

/// Connections a server keeps to each replica: fewer than to the primary
/// ([`super::POOL_MAX_CONNECTIONS`]), since a replica serves only this process's reads, and
/// on two cores a few concurrent statements saturate it; past that the primary serves too
/// (a read waiting for a replica connection longer than [`BEGIN_TIMEOUT`] goes there).
pub const REPLICA_POOL_MAX_CONNECTIONS: u32 = 10;

/// How often a replica's monitor asks it how far behind it is: the staleness a client may see
/// past the bound is at most about this, and the probe is one cheap statement.
pub const MONITOR_INTERVAL: Duration = Duration::from_millis(250);

/// Longest a monitor's probe (connecting included) may take before the replica counts as
/// DOWN: a healthy standby answers in a millisecond; one that hangs must not keep reads on it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest a request waits to begin its transaction on a replica (a pooled connection, BEGIN
/// and the security context) before it marks the replica failed and begins on the primary:
/// a stopped replica's pool would otherwise hold the request for the whole acquire timeout.
pub const BEGIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest [`ReadReplicas::choose_caught_up`] waits for a replica to replay what the primary
/// had written: a streaming standby follows within a few milliseconds; waiting longer would
/// cost more than reading on the primary.
pub const CATCH_UP_WAIT: Duration = Duration::from_millis(10);

/// Interval of the checks while waiting for a replica to catch up.
const CATCH_UP_POLL: Duration = Duration::from_millis(2);

/// What a monitor asks a replica: whether it is a standby, whether it has replayed all it has
/// received, and how old its last replayed transaction is. (A standby whose primary is idle has
/// replayed all it received, however old that transaction is: lag 0. One whose replay is
/// paused, or slow, has received more than it replayed.)
///
/// "Replayed all it received" counts only while its WAL receiver streams from the primary: a
/// standby cut off from its primary has replayed all it received and still falls behind, so
/// it is then as far behind as the time since it last streamed and had replayed everything.
/// (The view shows the receiver's row to any role; its details need pg_read_all_stats.)
const PROBE_SQL: &str = "SELECT pg_is_in_recovery() AS recovery, \
     COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), true) \
         AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS replayed_all, \
     EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age";

/// Where a replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// It answers, within the lag bound: it serves reads.
    Ok,
    /// It answers, over the lag bound: reads go to the primary.
    Lagging,
    /// It does not answer: reads go to the primary.
    Down,
}

impl ReplicaState {
    /// The state's name, as `/readyz` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Lagging => "lagging",
            Self::Down => "down",
        }
    }
}

/// A replica as `/readyz` shows it.
#[derive(Debug, Clone)]
pub struct ReplicaStatus {
    pub index: usize,
    /// Where it is, without credentials (`host:port/database`).
    pub label: String,
    pub state: ReplicaState,
    /// Its replay lag when last asked (none while DOWN).
    pub lag: Option<Duration>,
    /// A read failed on it since its monitor last heard from it: it is skipped.
    pub failed: bool,
}

/// A replica chosen to read on.
#[derive(Clone)]
pub struct Replica {
    pub index: usize,
    pub pool: DatabaseConnection,
    /// Where it is, without credentials (as in the metrics).
    pub label: Arc<str>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("index", &self.index)
            .field("label", &self.label)
            .finish()
    }
}

/// What the monitor last found.
#[derive(Debug, Clone, Copy)]
struct Health {
    state: ReplicaState,
    lag: Option<Duration>,
}

/// One replica: its URL, its pool once connected, and what its monitor found.
struct Slot {
    index: usize,
    label: Arc<str>,
    url: String,
    pool: OnceLock<DatabaseConnection>,
    health: Mutex<Health>,
    /// A read failed on it: skipped until the monitor hears from it again.
    failed: AtomicBool,
    /// When the monitor last found it had replayed all it had received: what it had
    /// received then was replayed, so it is at most this far behind (see [`Slot::probe`]).
    replayed_all_at: Mutex<Option<Instant>>,
}

/// The read replicas of a server process, shared as `Arc<ReadReplicas>`. Their monitors stop
/// when it is dropped.
pub struct ReadReplicas {
    slots: Vec<Arc<Slot>>,
    max_lag: Duration,
    next: AtomicUsize,
    monitors: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ReadReplicas {
    fn drop(&mut self) {
        for monitor in &self.monitors {
            monitor.abort();
        }
    }
}

impl ReadReplicas {
    /// No replicas: every read on the primary.
    pub fn none() -> Arc<Self> {
        static NONE: OnceLock<Arc<ReadReplicas>> = OnceLock::new();
        NONE.get_or_init(|| {
            Arc::new(Self {
                slots: Vec::new(),
                max_lag: Duration::ZERO,
                next: AtomicUsize::new(0),
                monitors: Vec::new(),
            })
        })
        .clone()
    }

    /// The replicas `options` names, each asked once (at most [`PROBE_TIMEOUT`] each) and
    /// then followed by its monitor until `stopped` turns true (the server shuts down) or
    /// this is dropped. A replica that does not answer is DOWN until it does: it never stops
    /// the server from starting.
    pub async fn start(
        options: &ReplicaOptions,
        stopped: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Self> {
        if options.urls.is_empty() {
            return Self::none();
        }
        let slots: Vec<Arc<Slot>> = options
            .urls
            .iter()
            .enumerate()
            .map(|(index, url)| {
                Arc::new(Slot {
                    index,
                    label: super::url::redacted(url).into(),
                    url: super::url::normalize(url),
                    pool: OnceLock::new(),
                    health: Mutex::new(Health {
                        state: ReplicaState::Down,
                        lag: None,
                    }),
                    failed: AtomicBool::new(false),
                    replayed_all_at: Mutex::new(None),
                })
            })
            .collect();
        let mut monitors = Vec::with_capacity(slots.len());
        for slot in &slots {
            slot.probe(options.max_lag).await;
            let health = slot.health();
            tracing::info!(
                replica = %slot.label,
                state = health.state.as_str(),
                lag_ms = health.lag.map(|l| l.as_millis() as u64),
                "read replica"
            );
            monitors.push(tokio::spawn(monitor(
                slot.clone(),
                options.max_lag,
                stopped.clone(),
            )));
        }
        Arc::new(Self {
            slots,
            max_lag: options.max_lag,
            next: AtomicUsize::new(0),
            monitors,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The lag bound past which a replica is skipped.
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// The replicas that may serve a read now, the next in round-robin order first.
    fn usable(&self) -> Vec<Replica> {
        let n = self.slots.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.slots[(start + i) % n])
            .filter(|slot| {
                slot.health().state == ReplicaState::Ok && !slot.failed.load(Ordering::Acquire)
            })
            .filter_map(|slot| slot.replica())
            .collect()
    }

    /// A healthy replica within the lag bound (round robin), or None.
    pub fn choose(&self) -> Option<Replica> {
        self.usable().into_iter().next()
    }

    /// A replica that has replayed all the primary had committed when this was called
    /// (one statement on `primary`, then the replicas' replay positions compared, waiting
    /// [`CATCH_UP_WAIT`] at most), or None.
    pub async fn choose_caught_up(&self, primary: &DatabaseConnection) -> Option<Replica> {
        let candidates = self.usable();
        if candidates.is_empty() {
            return None;
        }
        // the insert position, not the write position: with asynchronous commit a COMMIT
        // returns before its WAL is written, and what it committed must be waited for too
        let row = primary
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_current_wal_insert_lsn()::text AS lsn",
            ))
            .await
            .ok()??;
        let lsn: String = row.try_get("", "lsn").ok()?;
        let deadline = Instant::now() + CATCH_UP_WAIT;
        loop {
            for replica in &candidates {
                let caught_up = replica
                    .pool
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS ok",
                        [lsn.clone().into()],
                    ))
                    .await;
                match caught_up {
                    Ok(Some(row)) if row.try_get::<bool>("", "ok").unwrap_or(false) => {
                        return Some(replica.clone());
                    }
                    Ok(_) => {}
                    Err(e) if is_replica_failure(&e) => self.failed(replica),
                    Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                metrics::counter!(telemetry::READ_REPLICA_FALLBACKS, "reason" => "behind")
                    .increment(1);
                return None;
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }

    /// A read on `replica` failed for the replica's sake: skip it until its monitor sees it
    /// answer again.
    pub fn failed(&self, replica: &Replica) {
        if let Some(slot) = self.slots.get(replica.index)
            && !slot.failed.swap(true, Ordering::AcqRel)
        {
            tracing::warn!(
                replica = %slot.label,
                "a read failed on the read replica: reads go to the primary until it answers again"
            );
        }
    }

    /// For /readyz.
    pub fn states(&self) -> Vec<ReplicaStatus> {
        self.slots
            .iter()
            .map(|slot| {
                let health = slot.health();
                ReplicaStatus {
                    index: slot.index,
                    label: slot.label.to_string(),
                    state: health.state,
                    lag: health.lag,
                    failed: slot.failed.load(Ordering::Acquire),
                }
            })
            .collect()
    }
}

/// Asks the replica of `slot` how it is, every [`MONITOR_INTERVAL`], for as long as its
/// [`ReadReplicas`] lives and the server serves.
async fn monitor(
    slot: Arc<Slot>,
    max_lag: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(MONITOR_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stopped| *stopped) => return,
        }
        let before = slot.health().state;
        slot.probe(max_lag).await;
        let after = slot.health();
        if after.state != before {
            let lag_ms = after.lag.map(|l| l.as_millis() as u64);
            match after.state {
                ReplicaState::Ok => {
                    tracing::info!(replica = %slot.label, lag_ms, "read replica serves reads")
                }
                ReplicaState::Lagging => tracing::warn!(
                    replica = %slot.label,
                    lag_ms,
                    max_lag_ms = max_lag.as_millis() as u64,
                    "read replica lags behind the bound: reads go to the primary"
                ),
                ReplicaState::Down => tracing::warn!(
                    replica = %slot.label,
                    "read replica does not answer: reads go to the primary"
                ),
            }
        }
    }
}

impl Slot {
    fn health(&self) -> Health {
        *self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn replica(&self) -> Option<Replica> {
        Some(Replica {
            index: self.index,
            pool: self.pool.get()?.clone(),
            label: self.label.clone(),
        })
    }

    /// Asks the replica where it stands (connecting first if it never was), and records it.
    ///
    /// The lag: 0 when it has replayed all it has received (an idle primary sends nothing
    /// new, however old the last transaction is); otherwise the age of its last replayed
    /// transaction, but no more than the time since the monitor last saw it replay all it had
    /// received (after a long idle time, the last replayed transaction is old while the
    /// replica is only just behind).
    async fn probe(&self, max_lag: Duration) {
        let answer = tokio::time::timeout(PROBE_TIMEOUT, self.ask()).await;
        let health = match answer {
            Ok(Ok((recovery, replayed_all, replay_age))) => {
                let now = Instant::now();
                let mut replayed_all_at = self
                    .replayed_all_at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let lag = if !recovery || replayed_all {
                    *replayed_all_at = Some(now);
                    Duration::ZERO
                } else {
                    let age = Duration::from_secs_f64(replay_age.unwrap_or(0.0).max(0.0));
                    replayed_all_at.map_or(age, |at| age.min(now - at))
                };
                self.failed.store(false, Ordering::Release);
                Health {
                    state: if lag > max_lag {
                        ReplicaState::Lagging
                    } else {
                        ReplicaState::Ok
                    },
                    lag: Some(lag),
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(replica = %self.label, error = %e, "read replica probe failed");
                self.down()
            }
            Err(_) => self.down(),
        };
        let label = self.label.to_string();
        metrics::gauge!(telemetry::READ_REPLICA_UP, "replica" => label.clone()).set(
            if health.state == ReplicaState::Down {
                0.0
            } else {
                1.0
            },
        );
        if let Some(lag) = health.lag {
            metrics::gauge!(telemetry::READ_REPLICA_LAG, "replica" => label.clone())
                .set(lag.as_secs_f64());
        }
        for state in [ReplicaState::Ok, ReplicaState::Lagging, ReplicaState::Down] {
            metrics::gauge!(telemetry::READ_REPLICA_STATE, "replica" => label.clone(), "state" => state.as_str())
                .set(if health.state == state { 1.0 } else { 0.0 });
        }
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = health;
    }

    fn down(&self) -> Health {
        // what it had replayed before it went away says nothing of where it is when back
        *self
            .replayed_all_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        Health {
            state: ReplicaState::Down,
            lag: None,
        }
    }

    /// The probe's statement: (in recovery, replayed all received, age of the last replayed
    /// transaction in seconds).
    async fn ask(&self) -> Result<(bool, bool, Option<f64>), DbErr> {
        let pool = match self.pool.get() {
            Some(pool) => pool,
            None => {
                let pool =
                    super::connect_with(&self.url, REPLICA_POOL_MAX_CONNECTIONS, PROBE_TIMEOUT)
                        .await?;
                self.pool.get_or_init(|| pool)
            }
        };
        let row = pool
            .query_one_raw(Statement::from_string(DbBackend::Postgres, PROBE_SQL))
            .await?
            .ok_or_else(|| DbErr::Custom("the replica's probe returned no row".to_owned()))?;
        Ok((
            row.try_get("", "recovery")?,
            row.try_get("", "replayed_all")?,
            row.try_get("", "replay_age")?,
        ))
    }
}

/// SQLSTATEs of a replica's own failures: a read-only transaction asked to write (25006), a
/// statement cancelled by a conflict with recovery (40001), the standby shutting down or
/// starting (57P01, 57P02, 57P03).
const REPLICA_FAILURE_CODES: [&str; 5] = ["25006", "40001", "57P01", "57P02", "57P03"];

/// Whether `err` is the replica's failure (connection lost or refused, 25006
/// read_only_sql_transaction, 40001 conflict with recovery, 57P01/57P02/57P03 shutdown):
/// the read may be retried on the primary.
pub fn is_replica_failure(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    let RuntimeErr::SqlxError(e) = runtime else {
        return matches!(err, DbErr::Conn(_));
    };
    match e.as_ref() {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| REPLICA_FAILURE_CODES.contains(&code.as_ref())),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{DbErr, RuntimeErr};

    use super::is_replica_failure;

    fn sqlx(e: sqlx::Error) -> RuntimeErr {
        RuntimeErr::SqlxError(Arc::new(e))
    }

    #[test]
    fn is_replica_failure_when_the_connection_is_lost_then_true() {
        let lost = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert!(is_replica_failure(&DbErr::Query(sqlx(sqlx::Error::Io(
            lost()
        )))));
        assert!(is_replica_failure(&DbErr::Exec(sqlx(sqlx::Error::Io(
            lost()
        )))));
        assert!(is_replica_failure(&DbErr::Conn(sqlx(
            sqlx::Error::PoolTimedOut
        ))));
        assert!(is_replica_failure(&DbErr::Query(sqlx(
            sqlx::Error::Protocol("unexpected message".to_owned())
        ))));
    }

    #[test]
    fn is_replica_failure_when_the_error_is_the_statements_then_false() {
        assert!(!is_replica_failure(&DbErr::Query(sqlx(
            sqlx::Error::RowNotFound
        ))));
        assert!(!is_replica_failure(&DbErr::RecordNotFound("x".to_owned())));
        assert!(!is_replica_failure(&DbErr::Custom("x".to_owned())));
    }
}
