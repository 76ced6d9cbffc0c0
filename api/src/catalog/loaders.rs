//! DataLoaders of the catalogue: every relation is loaded for all parents of a level in one
//! statement, inside the request's transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Request};
use entity::{configuration, test_case, test_step, test_suite};
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use super::types::{
    Configuration, SuiteTestCaseConnection, SuiteTestCaseEdge, TestCase, TestStep, TestSuite,
};
use crate::auth::RequestDb;
use crate::error::AppError;
use crate::pagination::{Cursor, KeyKind, Ordering, Page, PageArgs, SortValue, Sql, finish_page};

type LoadResult<V> = Result<HashMap<Uuid, V>, async_graphql::Error>;

fn uuids(keys: &[Uuid]) -> Value {
    Value::from(keys.to_vec())
}

/// Runs `sql` in the request's transaction.
pub(crate) async fn query_all(
    db: &RequestDb,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<sea_orm::QueryResult>, AppError> {
    let conn = db.conn().await?;
    Ok(conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?)
}

/// A model from a row of `SELECT *`.
pub(crate) fn parse<M: FromQueryResult>(row: &sea_orm::QueryResult) -> Result<M, AppError> {
    Ok(M::from_query_result(row, "")?)
}

/// Test cases by id.
pub struct CaseById(Arc<RequestDb>);

impl Loader<Uuid> for CaseById {
    type Value = test_case::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
        let rows = query_all(
            &self.0,
            "SELECT * FROM test_cases WHERE id = ANY($1)",
            vec![uuids(keys)],
        )
        .await?;
        let mut out = HashMap::new();
        for row in &rows {
            let m: test_case::Model = parse(row)?;
            out.insert(m.id, m);
        }
        Ok(out)
    }
}

/// Configurations by id.
pub struct ConfigurationById(Arc<RequestDb>);

impl Loader<Uuid> for ConfigurationById {
    type Value = configuration::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
        let rows = query_all(
            &self.0,
            "SELECT * FROM configurations WHERE id = ANY($1)",
            vec![uuids(keys)],
        )
        .await?;
        let mut out = HashMap::new();
        for row in &rows {
            let m: configuration::Model = parse(row)?;
            out.insert(m.id, m);
        }
        Ok(out)
    }
}

/// The steps of each case, in order.
pub struct StepsByCase(Arc<RequestDb>);

impl Loader<Uuid> for StepsByCase {
    type Value = Vec<test_step::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
        let rows = query_all(
            &self.0,
            "SELECT * FROM test_steps WHERE test_case_id = ANY($1) ORDER BY test_case_id, order_index, id",
            vec![uuids(keys)],
        )
        .await?;
        let mut out: HashMap<Uuid, Vec<test_step::Model>> = HashMap::new();
        for row in &rows {
            let m: test_step::Model = parse(row)?;
            out.entry(m.test_case_id).or_default().push(m);
        }
        Ok(out)
    }
}

/// The suites of each case, by name.
pub struct SuitesByCase(Arc<RequestDb>);

impl Loader<Uuid> for SuitesByCase {
    type Value = Vec<test_suite::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
        let rows = query_all(
            &self.0,
            "SELECT s.*, m.test_case_id AS member_case_id FROM test_suite_test_cases m
             JOIN test_suites s ON s.id = m.test_suite_id
             WHERE m.test_case_id = ANY($1) ORDER BY s.name, s.id",
            vec![uuids(keys)],
        )
        .await?;
        let mut out: HashMap<Uuid, Vec<test_suite::Model>> = HashMap::new();
        for row in &rows {
            let case_id: Uuid = row.try_get("", "member_case_id").map_err(AppError::from)?;
            out.entry(case_id).or_default().push(parse(row)?);
        }
        Ok(out)
    }
}

/// The pagination arguments of a nested connection, as part of a loader key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
}

impl From<PageArgs> for PageKey {
    fn from(a: PageArgs) -> Self {
        PageKey {
            first: a.first,
            after: a.after,
            last: a.last,
            before: a.before,
        }
    }
}

impl From<&PageKey> for PageArgs {
    fn from(k: &PageKey) -> Self {
        PageArgs {
            first: k.first,
            after: k.after.clone(),
            last: k.last,
            before: k.before.clone(),
        }
    }
}

/// Each visible member of the suites `suites` (a placeholder) with its position among the
/// cases the caller sees, from 1, in the suite's order (members without a stored position
/// last). The stored `order_index` counts every member, those of cases hidden from the caller
/// too: shown as such, or in a cursor, its gaps would tell how many hidden cases sit where
/// (erratum 11).
fn visible_members_sql(suites: &str) -> String {
    format!(
        "SELECT tc.*, m.test_suite_id AS member_suite_id,
            row_number() OVER (PARTITION BY m.test_suite_id
                               ORDER BY m.order_index NULLS LAST, m.test_case_id)::int AS member_position
         FROM test_suite_test_cases m JOIN test_cases tc ON tc.id = m.test_case_id
         WHERE m.test_suite_id = ANY({suites})"
    )
}

fn suite_ordering() -> Ordering {
    Ordering {
        name: "position:asc".to_owned(),
        sql: "v.member_position".to_owned(),
        kind: KeyKind::Int,
        descending: false,
        id_column: "v.id",
    }
}

/// A page of each suite's test cases, in the suite's order, with the suite's count.
pub struct SuiteCasesPage(Arc<RequestDb>);

impl Loader<(Uuid, PageKey)> for SuiteCasesPage {
    type Value = SuiteTestCaseConnection;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(Uuid, PageKey)],
    ) -> Result<HashMap<(Uuid, PageKey), Self::Value>, Self::Error> {
        let mut by_args: HashMap<&PageKey, Vec<Uuid>> = HashMap::new();
        for (suite, args) in keys {
            by_args.entry(args).or_default().push(*suite);
        }
        let all_suites: Vec<Uuid> = keys.iter().map(|(s, _)| *s).collect();
        let count_rows = query_all(
            &self.0,
            "SELECT m.test_suite_id, count(*) AS n FROM test_suite_test_cases m
             JOIN test_cases tc ON tc.id = m.test_case_id
             WHERE m.test_suite_id = ANY($1) GROUP BY m.test_suite_id",
            vec![uuids(&all_suites)],
        )
        .await?;
        let mut counts: HashMap<Uuid, i64> = HashMap::new();
        for row in &count_rows {
            counts.insert(
                row.try_get("", "test_suite_id").map_err(AppError::from)?,
                row.try_get("", "n").map_err(AppError::from)?,
            );
        }

        let ordering = suite_ordering();
        let mut out = HashMap::new();
        for (args, suites) in by_args {
            let page = Page::new(&PageArgs::from(args), &ordering)?;
            let mut sql = Sql::default();
            let members = visible_members_sql(&sql.bind(suites.clone()));
            let conditions = page.conditions(&ordering, &mut sql)?;
            let filter = if conditions.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conditions.join(" AND "))
            };
            let limit = sql.bind(page.limit as i64 + 1);
            let text = format!(
                "SELECT * FROM (
                   SELECT v.*, row_number() OVER (PARTITION BY v.member_suite_id ORDER BY {}) AS member_rank
                   FROM ({members}) v{filter}
                 ) ranked WHERE member_rank <= {limit} ORDER BY member_suite_id, member_rank",
                page.order_by(&ordering)
            );
            let rows = query_all(&self.0, &text, sql.values).await?;
            let mut per_suite: HashMap<Uuid, Vec<(i32, test_case::Model)>> = HashMap::new();
            for row in &rows {
                let suite: Uuid = row.try_get("", "member_suite_id").map_err(AppError::from)?;
                let position: i32 = row.try_get("", "member_position").map_err(AppError::from)?;
                per_suite
                    .entry(suite)
                    .or_default()
                    .push((position, parse(row)?));
            }
            for suite in suites {
                let rows = per_suite.remove(&suite).unwrap_or_default();
                let (edges, page_info) = finish_page(&page, rows, |(position, case)| Cursor {
                    ordering: ordering.name.clone(),
                    key: SortValue::Int(i64::from(*position)),
                    id: case.id,
                });
                let connection = SuiteTestCaseConnection {
                    edges: edges
                        .into_iter()
                        .map(|(cursor, (position, case))| SuiteTestCaseEdge {
                            cursor,
                            position,
                            node: TestCase(case),
                        })
                        .collect(),
                    page_info,
                    total_count: counts.get(&suite).copied().unwrap_or(0),
                };
                out.insert((suite, args.clone()), connection);
            }
        }
        Ok(out)
    }
}

/// How long the request's resolvers must have asked for no key before a batch is taken.
const QUIET_PERIOD: Duration = Duration::from_millis(1);

/// Most rounds a batch waits for the request's resolvers to stop asking for keys; past it the
/// batch is taken anyway (still correct, possibly split in two).
const MAX_SETTLE_ROUNDS: usize = 1_000;

/// How many keys the request's resolvers have asked its loaders for so far.
///
/// A DataLoader takes its batch a fixed delay after the first key. A page of 100 parents can
/// take longer than that to resolve (the executor yields between list items), and the batch
/// would be split: the statements of a request would depend on its page size and on timing.
/// So a batch is only taken once this count has stood still across a yield to the runtime and
/// a quiet period, that is once every resolver of the level has asked for what it needs.
#[derive(Clone, Default)]
pub struct LoadActivity(Arc<AtomicU64>);

impl LoadActivity {
    pub fn touch(&self) {
        self.0.fetch_add(1, AtomicOrdering::Relaxed);
    }

    /// Returns once no key was asked for during a yield to the runtime and a quiet period.
    async fn settle(&self) {
        for _ in 0..MAX_SETTLE_ROUNDS {
            let seen = self.0.load(AtomicOrdering::Relaxed);
            tokio::task::yield_now().await;
            tokio::time::sleep(QUIET_PERIOD).await;
            if self.0.load(AtomicOrdering::Relaxed) == seen {
                return;
            }
        }
    }

    /// A DataLoader of `loader` whose batches are taken once the request's resolvers settled
    /// (instead of after a fixed delay).
    pub fn loader<T: Send + Sync + 'static>(&self, loader: T) -> DataLoader<T> {
        let activity = self.clone();
        DataLoader::new(loader, move |batch: BoxFuture<'static, ()>| {
            let activity = activity.clone();
            tokio::spawn(async move {
                activity.settle().await;
                batch.await;
            })
        })
        .delay(Duration::ZERO)
    }
}

/// Adds the catalogue's loaders to a request (`activity` is shared by all loaders of it and
/// added to the request by the caller).
pub fn register(req: Request, db: &Arc<RequestDb>, activity: &LoadActivity) -> Request {
    req.data(activity.loader(CaseById(db.clone())))
        .data(activity.loader(ConfigurationById(db.clone())))
        .data(activity.loader(StepsByCase(db.clone())))
        .data(activity.loader(SuitesByCase(db.clone())))
        .data(activity.loader(SuiteCasesPage(db.clone())))
}

/// The request's loader `L`, noting that a key is about to be asked of it.
fn loader<'a, L: Send + Sync + 'static>(
    ctx: &'a Context<'_>,
) -> async_graphql::Result<&'a DataLoader<L>> {
    if let Ok(activity) = ctx.data::<LoadActivity>() {
        activity.touch();
    }
    ctx.data::<DataLoader<L>>()
        .map_err(|_| AppError::internal("loader missing from the request").into())
}

/// Several cases by id, in one batch.
pub async fn cases(
    ctx: &Context<'_>,
    ids: Vec<Uuid>,
) -> async_graphql::Result<HashMap<Uuid, TestCase>> {
    Ok(loader::<CaseById>(ctx)?
        .load_many(ids)
        .await?
        .into_iter()
        .map(|(id, m)| (id, TestCase(m)))
        .collect())
}

pub async fn case(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<TestCase>> {
    Ok(loader::<CaseById>(ctx)?.load_one(id).await?.map(TestCase))
}

pub async fn configuration(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<Configuration>> {
    Ok(loader::<ConfigurationById>(ctx)?
        .load_one(id)
        .await?
        .map(Configuration))
}

pub async fn steps_of_case(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Vec<TestStep>> {
    Ok(loader::<StepsByCase>(ctx)?
        .load_one(id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(TestStep)
        .collect())
}

pub async fn suites_of_case(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Vec<TestSuite>> {
    Ok(loader::<SuitesByCase>(ctx)?
        .load_one(id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(TestSuite)
        .collect())
}

pub async fn suite_cases_page(
    ctx: &Context<'_>,
    suite: Uuid,
    args: PageArgs,
) -> async_graphql::Result<SuiteTestCaseConnection> {
    let key = PageKey {
        first: args.first,
        after: args.after,
        last: args.last,
        before: args.before,
    };
    loader::<SuiteCasesPage>(ctx)?
        .load_one((suite, key))
        .await?
        .ok_or_else(|| AppError::internal("suite page missing").into())
}
