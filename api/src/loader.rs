//! DataLoaders: every relation of a level of parents is read in one statement.
//!
//! A relation is a [`Batch`]: given the keys of many parents, one service call reads them all
//! in the request's transaction. Resolvers ask with [`load_one`] and [`load_many`]; the
//! request's loader of each relation is made on first use ([`Loaders`]), so adding a relation
//! is writing its `Batch`, nothing else. [`ById`] reads rows of a table by id.
//!
//! **When a batch is read.** The resolvers of a page (up to 100 parents) run concurrently and
//! each asks for its key when it is first polled; the batch is read once they have all asked,
//! that is once the request's count of keys asked has stood still across a yield to the
//! runtime and a quiet period of [`QUIET_PERIOD`] (checked up to [`MAX_SETTLE_ROUNDS`] times).
//! It has to wait for that rather than for a fixed delay after the first key: a page that
//! takes longer to resolve than the delay (the executor yields between list items, a resolver
//! may wait for the transaction) would have its keys split over several statements, and the
//! statements a request runs would depend on its page size and on timing.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use futures::future::BoxFuture;
use sea_orm::{DatabaseTransaction, FromQueryResult};
use uuid::Uuid;

use crate::auth::RequestDb;
use crate::error::{AppError, AppResult};

/// How long the request's resolvers must have asked for no key before a batch is read.
pub const QUIET_PERIOD: Duration = Duration::from_millis(1);

/// Most rounds a batch waits for the request's resolvers to stop asking for keys; past it the
/// batch is read anyway (still correct, possibly split in two).
pub const MAX_SETTLE_ROUNDS: usize = 1_000;

/// A relation read for many parents at once.
pub trait Batch: Send + Sync + 'static {
    /// What a parent asks for (its id, with the page arguments for a nested page).
    type Key: Send + Sync + Hash + Eq + Clone + 'static;
    /// What it gets; a key missing from the answer has none.
    type Value: Send + Sync + Clone + 'static;

    /// Reads the values of `keys` through `conn` (the request's transaction).
    fn read(
        conn: &DatabaseTransaction,
        keys: &[Self::Key],
    ) -> impl Future<Output = AppResult<HashMap<Self::Key, Self::Value>>> + Send;
}

/// The DataLoader of relation `B`, reading in the request's transaction.
struct Reader<B>(Arc<RequestDb>, PhantomData<fn() -> B>);

impl<B: Batch> async_graphql::dataloader::Loader<B::Key> for Reader<B> {
    type Value = B::Value;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[B::Key]) -> Result<HashMap<B::Key, B::Value>, Self::Error> {
        let conn = self.0.conn().await?;
        Ok(B::read(&conn, keys).await?)
    }
}

/// The request's loaders, one per relation, made on first use.
pub struct Loaders {
    db: Arc<RequestDb>,
    /// Keys asked so far by the request's resolvers (see the module's batching rule).
    asked: Arc<AtomicU64>,
    made: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Loaders {
    pub fn new(db: Arc<RequestDb>) -> Self {
        Self {
            db,
            asked: Arc::default(),
            made: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The loader of `B`, noting that a key is about to be asked of it.
    fn of<B: Batch>(&self) -> AppResult<Arc<DataLoader<Reader<B>>>> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let mut made = self
            .made
            .lock()
            .map_err(|_| AppError::internal("loaders poisoned"))?;
        let any = made
            .entry(TypeId::of::<B>())
            .or_insert_with(|| {
                let asked = self.asked.clone();
                let db = self.db.clone();
                let reader = Reader::<B>(self.db.clone(), PhantomData);
                let loader = DataLoader::new(reader, move |batch: BoxFuture<'static, ()>| {
                    let asked = asked.clone();
                    // counted from now: the request's field (and the request) wait for it
                    let scheduled = db.batch();
                    tokio::spawn(async move {
                        settle(&asked).await;
                        batch.await;
                        drop(scheduled);
                    })
                })
                .delay(Duration::ZERO);
                Arc::new(loader) as Arc<dyn Any + Send + Sync>
            })
            .clone();
        any.downcast::<DataLoader<Reader<B>>>()
            .map_err(|_| AppError::internal("a loader of another relation"))
    }
}

/// Returns once no key was asked for during a yield to the runtime and a quiet period.
async fn settle(asked: &AtomicU64) {
    for _ in 0..MAX_SETTLE_ROUNDS {
        let seen = asked.load(Ordering::Relaxed);
        tokio::task::yield_now().await;
        tokio::time::sleep(QUIET_PERIOD).await;
        if asked.load(Ordering::Relaxed) == seen {
            return;
        }
    }
}

fn loaders<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| AppError::internal("no loaders in the request"))
}

/// The value of `key` in relation `B`, read in one statement with the other keys of its level.
pub async fn load_one<B: Batch>(
    ctx: &Context<'_>,
    key: B::Key,
) -> async_graphql::Result<Option<B::Value>> {
    let loader = loaders(ctx)?.of::<B>()?;
    loader.load_one(key).await
}

/// The values of `keys` in relation `B`.
pub async fn load_many<B: Batch>(
    ctx: &Context<'_>,
    keys: Vec<B::Key>,
) -> async_graphql::Result<HashMap<B::Key, B::Value>> {
    let loader = loaders(ctx)?.of::<B>()?;
    loader.load_many(keys).await
}

/// A table's row type, for [`ById`].
pub trait Row: FromQueryResult + Clone + Send + Sync + 'static {
    /// The table.
    const TABLE: &'static str;
    /// The row's id.
    fn id(&self) -> Uuid;
}

macro_rules! rows {
    ($($model:ty => $table:literal),* $(,)?) => {$(
        impl Row for $model {
            const TABLE: &'static str = $table;
            fn id(&self) -> Uuid {
                self.id
            }
        }
    )*};
}

rows! {
    entity::test_case::Model => "test_cases",
    entity::test_step::Model => "test_steps",
    entity::test_suite::Model => "test_suites",
    entity::configuration::Model => "configurations",
    entity::test_run::Model => "test_runs",
    entity::test_execution::Model => "test_executions",
    entity::project::Model => "projects",
}

/// Rows of a table by id (those the caller can see).
pub struct ById<M>(PhantomData<fn() -> M>);

impl<M: Row> Batch for ById<M> {
    type Key = Uuid;
    type Value = M;

    async fn read(conn: &DatabaseTransaction, keys: &[Uuid]) -> AppResult<HashMap<Uuid, M>> {
        let sql = format!("SELECT * FROM {} WHERE id = ANY($1)", M::TABLE);
        Ok(
            crate::sql::models::<M>(conn, &sql, vec![keys.to_vec().into()])
                .await?
                .into_iter()
                .map(|(_, m)| (m.id(), m))
                .collect(),
        )
    }
}
