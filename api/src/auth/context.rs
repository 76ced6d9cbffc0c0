//! The per-request database context: one transaction per request, begun lazily, in which every
//! statement of the request runs (DataLoader batches included), committed when the request
//! ends if it wrote (a read is released without a COMMIT). With an identity, the transaction first sets `app.user_id` / `app.user_roles` and the
//! role (`application_admins` for an admin, `application_users` for a member), all
//! transaction-local, so row-level security applies and nothing leaks to the next user of the
//! pooled connection.
//!
//! A request whose document only reads (a query) begins its transaction on a read replica
//! when one is OK and within the lag bound ([`crate::db::replicas`]), under the same security
//! context (the standby has the same roles, policies and `app_begin_request`); anything else,
//! and a read whose replica cannot begin it, runs on the primary.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use super::Identity;
use crate::config::StatementLimits;
use crate::db::replicas::{self, ReadReplicas, Replica};
use crate::error::{AppError, AppResult};

/// Name of the savepoint that isolates one top-level field of a request from the others.
const FIELD_SAVEPOINT: &str = "jbts_field";

/// Whether a top-level field's statements are set apart, and whether its savepoint is set.
#[derive(Default)]
struct FieldScope {
    /// A field is being resolved in isolation: its first statement sets the savepoint.
    active: bool,
    /// The savepoint is set.
    savepoint: bool,
}

/// Role whose privileges (and RLS policies) a member's requests run under.
pub const MEMBER_ROLE: &str = "application_users";

/// Role an admin's requests run under: a member of [`MEMBER_ROLE`] (the same privileges) whose
/// `USING (true)` policies let the planner treat an admin's statements as the owner's.
pub const ADMIN_ROLE: &str = "application_admins";

/// The database role a request of `identity` runs under.
pub fn request_role(identity: &Identity) -> &'static str {
    if identity.is_admin() {
        ADMIN_ROLE
    } else {
        MEMBER_ROLE
    }
}

/// The request's database handle, shared by its resolvers and loaders.
pub struct RequestDb {
    pool: DatabaseConnection,
    identity: Option<Identity>,
    limits: StatementLimits,
    tx: Mutex<Option<DatabaseTransaction>>,
    /// Held while a top-level field resolves in isolation (see [`RequestDb::isolated`]).
    field_turn: Mutex<()>,
    field: std::sync::Mutex<FieldScope>,
    /// Whether the transaction must be committed (a mutation: see [`RequestDb::keep_writes`]).
    /// Otherwise it is released without a COMMIT.
    commit: AtomicBool,
    /// Loader batches scheduled and not yet done: a field's turn, and the request, end only
    /// once their statements have run (a batch runs as a task of its own, and may outlive the
    /// resolvers that asked for it).
    batches: std::sync::atomic::AtomicUsize,
    batches_idle: tokio::sync::Notify,
    /// The request ended: no statement may begin another transaction.
    finished: AtomicBool,
    watch: Arc<RequestWatch>,
    /// Where a read may go besides the primary.
    replicas: Arc<ReadReplicas>,
    /// The document only reads: its transaction may begin on a replica.
    reads_only: AtomicBool,
}

/// What the server process may need of a request's database work from outside it: the
/// backend its transaction runs on, and on which replica if not the primary (to cancel its
/// statement when the request times out), whether its COMMIT is under way (then it is let
/// finish: its answer must say what was done), and whether its replica failed it (then the
/// read is done again on the primary). The one who executes the request may also say that it
/// is to read on the primary.
#[derive(Default, Debug)]
pub struct RequestWatch {
    backend: std::sync::atomic::AtomicI32,
    committing: AtomicBool,
    replica: std::sync::Mutex<Option<Replica>>,
    replica_failed: AtomicBool,
    primary_only: AtomicBool,
}

impl RequestWatch {
    /// A watch for a request that must read on the primary (such as a read done again there
    /// after its replica failed).
    pub fn primary_only() -> Self {
        let watch = Self::default();
        watch.primary_only.store(true, Ordering::Release);
        watch
    }

    /// The replica the request's transaction runs on, if not the primary.
    pub fn replica(&self) -> Option<Replica> {
        self.replica
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the request's answer may be wrong for its replica's sake (its connection lost,
    /// a statement failed as only a standby's does): the read is to be done again on the
    /// primary.
    pub fn replica_failed(&self) -> bool {
        self.replica_failed.load(Ordering::Acquire)
    }

    /// The backend process of the request's transaction, once it has begun.
    pub fn backend(&self) -> Option<i32> {
        Some(self.backend.load(Ordering::Acquire)).filter(|pid| *pid != 0)
    }

    /// Whether the request's COMMIT is under way.
    pub fn committing(&self) -> bool {
        self.committing.load(Ordering::Acquire)
    }
}

/// A loader batch of a request, scheduled and not done yet ([`RequestDb::batch`]).
pub struct BatchGuard(Arc<RequestDb>);

impl Drop for BatchGuard {
    fn drop(&mut self) {
        if self.0.batches.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.batches_idle.notify_waiters();
        }
    }
}

/// A boxed future borrowing a transaction, for [`RequestDb::write`].
pub type TxFuture<'a, T> = Pin<Box<dyn Future<Output = AppResult<T>> + Send + 'a>>;

impl RequestDb {
    /// A request on the primary `pool` only.
    pub fn new(
        pool: DatabaseConnection,
        identity: Option<Identity>,
        limits: StatementLimits,
    ) -> Arc<Self> {
        Self::watched(pool, ReadReplicas::none(), identity, limits, Arc::default())
    }

    /// As [`RequestDb::new`], reading on `replicas` once told the document only reads
    /// ([`RequestDb::reads_only`]), and reporting to `watch`.
    pub fn watched(
        pool: DatabaseConnection,
        replicas: Arc<ReadReplicas>,
        identity: Option<Identity>,
        limits: StatementLimits,
        watch: Arc<RequestWatch>,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            identity,
            limits,
            tx: Mutex::new(None),
            field_turn: Mutex::new(()),
            field: std::sync::Mutex::new(FieldScope::default()),
            batches: std::sync::atomic::AtomicUsize::new(0),
            batches_idle: tokio::sync::Notify::new(),
            finished: AtomicBool::new(false),
            commit: AtomicBool::new(false),
            watch,
            replicas,
            reads_only: AtomicBool::new(false),
        })
    }

    /// The request's document only reads (a query): its transaction may begin on a replica.
    pub fn reads_only(&self) {
        self.reads_only.store(true, Ordering::Release);
    }

    /// The request reads on the primary: it wrote there first, outside its transaction (a
    /// refresh of what is kept), and must see what it wrote. Said before the request's first
    /// statement, as such writes are; after it, the transaction stays where it began.
    pub fn read_primary(&self) {
        let was = self.watch.primary_only.swap(true, Ordering::AcqRel);
        if !was && self.reads_only.load(Ordering::Acquire) && !self.replicas.is_empty() {
            metrics::counter!(crate::telemetry::READ_REPLICA_FALLBACKS, "reason" => "refreshed")
                .increment(1);
        }
    }

    /// Whether the request's transaction may begin on a replica.
    fn may_read_replica(&self) -> bool {
        self.reads_only.load(Ordering::Acquire)
            && !self.commit.load(Ordering::Acquire)
            && !self.watch.primary_only.load(Ordering::Acquire)
            && !self.replicas.is_empty()
    }

    /// Begins the request's transaction: on a replica when the request may read there and
    /// one is usable (falling back to the primary, the replica marked failed, when beginning
    /// there fails for the replica's sake), else on the primary; then sets its security
    /// context. Returns the transaction and its backend's process id.
    async fn begin(&self, identity: &Identity) -> AppResult<(DatabaseTransaction, Option<i32>)> {
        if !self.may_read_replica() {
            return Ok(self.begin_on(&self.pool, identity).await?);
        }
        let fallback = match self.replicas.choose() {
            None => "none",
            Some(replica) => {
                let begun = tokio::time::timeout(
                    replicas::BEGIN_TIMEOUT,
                    self.begin_on(&replica.pool, identity),
                )
                .await;
                match begun {
                    Ok(Ok(begun)) => {
                        metrics::counter!(crate::telemetry::DB_READS, "target" => "replica")
                            .increment(1);
                        *self.watch.replica.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(replica);
                        return Ok(begun);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(replica = %replica.label, error = %e, "beginning a read on the replica failed");
                        if replicas::is_replica_failure(&e) {
                            self.replicas.failed(&replica);
                        }
                    }
                    Err(_) => {
                        tracing::warn!(replica = %replica.label, "beginning a read on the replica took too long");
                        self.replicas.failed(&replica);
                    }
                }
                "begin_failed"
            }
        };
        metrics::counter!(crate::telemetry::READ_REPLICA_FALLBACKS, "reason" => fallback)
            .increment(1);
        metrics::counter!(crate::telemetry::DB_READS, "target" => "primary").increment(1);
        Ok(self.begin_on(&self.pool, identity).await?)
    }

    /// Begins a transaction on `pool` with the request's security context.
    async fn begin_on(
        &self,
        pool: &DatabaseConnection,
        identity: &Identity,
    ) -> Result<(DatabaseTransaction, Option<i32>), sea_orm::DbErr> {
        let tx = pool.begin().await?;
        let roles = identity
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let capabilities: Option<Vec<String>> = identity
            .scope
            .capabilities
            .as_ref()
            .map(|caps| caps.iter().map(|c| c.as_str().to_owned()).collect());
        let timeout = format!("{}ms", self.limits.statement_timeout.as_millis());
        // one function sets the whole security context (migration 16): who, the projects the
        // token may act in by the user's memberships, the role and the time limits, in one
        // round trip
        let row = tx
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT app_begin_request($1, $2, $3, $4, $5, $6) AS backend",
                [
                    identity.user_id.clone().into(),
                    roles.into(),
                    request_role(identity).into(),
                    identity.scope.project.into(),
                    capabilities.into(),
                    timeout.into(),
                ],
            ))
            .await?;
        let backend = match row {
            Some(row) => Some(row.try_get::<i32>("", "backend")?),
            None => None,
        };
        Ok((tx, backend))
    }

    /// After the request answered with errors, on a replica: whether the read is to be done
    /// again on the primary. It is when the replica's connection is lost or the standby
    /// ended the transaction (the replica is then marked failed), and when `suspect` (errors
    /// a read on the primary would not give, such as a conflict with recovery).
    pub async fn replica_failure(&self, suspect: bool) -> bool {
        let Some(replica) = self.watch.replica() else {
            return false;
        };
        let lost = {
            let guard = self.tx.lock().await;
            match guard.as_ref() {
                Some(tx) => tx
                    .execute_unprepared("SELECT 1")
                    .await
                    .err()
                    .is_some_and(|e| replicas::is_replica_failure(&e)),
                None => false,
            }
        };
        if lost {
            self.replicas.failed(&replica);
        }
        let failed = lost || suspect;
        if failed {
            self.watch.replica_failed.store(true, Ordering::Release);
        }
        failed
    }

    /// Marks the request's writes as to be kept: its transaction is committed when it ends.
    /// Mutations are marked before they run (and [`RequestDb::write`] marks too).
    pub fn keep_writes(&self) {
        self.commit.store(true, Ordering::Release);
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The time limits of the request's statements.
    pub fn limits(&self) -> StatementLimits {
        self.limits
    }

    /// The pool itself: statements on it run as the tables' owner, outside this request's
    /// transaction and security context. Only for `SECURITY DEFINER` maintenance that must
    /// commit on its own (refreshing what is kept), and for transactions of this request's
    /// identity that commit on their own (a [`RequestDb`] of it: an import's batches); never
    /// for reading or writing data directly.
    pub fn pool_outside_request(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// The request's transaction, begun on first use. Hold the guard only for the statements
    /// of one service call: other resolvers of the request wait for it.
    pub async fn conn(&self) -> AppResult<MappedMutexGuard<'_, DatabaseTransaction>> {
        let identity = self
            .identity
            .as_ref()
            .ok_or_else(|| AppError::Unauthenticated {
                message: "authentication required: send Authorization: Bearer <token>".to_owned(),
            })?;
        let mut guard = self.tx.lock().await;
        if guard.is_none() {
            if self.finished.load(Ordering::Acquire) {
                return Err(AppError::internal("a statement after the request ended"));
            }
            let (tx, backend) = self.begin(identity).await?;
            if let Some(backend) = backend {
                self.watch.backend.store(backend, Ordering::Release);
            }
            *guard = Some(tx);
        }
        let set_savepoint = match self.field.lock() {
            Ok(mut field) if field.active && !field.savepoint => {
                field.savepoint = true;
                true
            }
            _ => false,
        };
        if set_savepoint && let Some(tx) = guard.as_ref() {
            tx.execute_unprepared(&format!("SAVEPOINT {FIELD_SAVEPOINT}"))
                .await?;
        }
        MutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| AppError::internal("request transaction missing"))
    }

    /// Resolves one top-level field of a request with several so that a failed statement of
    /// it cannot abort the others' transaction: fields take turns, and the statements of each
    /// run in a savepoint (set by its first statement, so a field that reads nothing costs
    /// nothing), released when the field ends or, when the field left the transaction failed,
    /// rolled back to. Returns the field's result and whether its statements were undone: the
    /// caller reports that for a field that wrote.
    pub async fn isolated<T>(&self, field: impl Future<Output = T>) -> (T, bool) {
        let _turn = self.field_turn.lock().await;
        if let Ok(mut scope) = self.field.lock() {
            *scope = FieldScope {
                active: true,
                savepoint: false,
            };
        }
        let value = field.await;
        // the field's batches run in its savepoint, even those it stopped waiting for
        self.batches_done().await;
        let set = match self.field.lock() {
            Ok(mut scope) => std::mem::take(&mut *scope).savepoint,
            Err(_) => false,
        };
        if !set {
            return (value, false);
        }
        let guard = self.tx.lock().await;
        let Some(tx) = guard.as_ref() else {
            return (value, false);
        };
        if tx
            .execute_unprepared(&format!("RELEASE SAVEPOINT {FIELD_SAVEPOINT}"))
            .await
            .is_ok()
        {
            return (value, false);
        }
        // the field left the transaction failed: undo its statements, keep the rest
        let _ = tx
            .execute_unprepared(&format!(
                "ROLLBACK TO SAVEPOINT {FIELD_SAVEPOINT}; RELEASE SAVEPOINT {FIELD_SAVEPOINT}"
            ))
            .await;
        (value, true)
    }

    /// Notes a loader batch scheduled for this request; it is done when the guard is dropped.
    pub fn batch(self: &Arc<Self>) -> BatchGuard {
        self.batches.fetch_add(1, Ordering::AcqRel);
        BatchGuard(self.clone())
    }

    /// Returns once no loader batch of the request is scheduled or running.
    async fn batches_done(&self) {
        loop {
            let idle = self.batches_idle.notified();
            if self.batches.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Runs a write in a savepoint of the request's transaction: on error the savepoint is
    /// rolled back, so a failed mutation leaves nothing behind while the request goes on.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> TxFuture<'a, T>,
    {
        self.keep_writes();
        let conn = self.conn().await?;
        let savepoint = conn.begin().await?;
        match f(&savepoint).await {
            Ok(value) => {
                savepoint.commit().await?;
                Ok(value)
            }
            Err(e) => {
                let _ = savepoint.rollback().await;
                Err(e)
            }
        }
    }

    /// Ends the request's transaction, if one was begun: commits what is to be kept; a
    /// request that only read is released without waiting for a COMMIT (its connection rolls
    /// back on its way to the pool, with the check the pool makes there anyway), which saves
    /// a round trip on every read.
    pub async fn finish(&self) -> AppResult<()> {
        self.batches_done().await;
        self.finished.store(true, Ordering::Release);
        let tx = self.tx.lock().await.take();
        if let Some(tx) = tx {
            if self.commit.load(Ordering::Acquire) {
                self.watch.committing.store(true, Ordering::Release);
                tx.commit().await?;
            } else {
                drop(tx);
            }
        }
        Ok(())
    }
}

/// The request's database handle from a resolver context.
pub fn request_db(ctx: &async_graphql::Context<'_>) -> AppResult<Arc<RequestDb>> {
    ctx.data::<Arc<RequestDb>>()
        .cloned()
        .map_err(|_| AppError::internal("no request database context"))
}
