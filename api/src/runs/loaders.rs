//! DataLoaders of runs: every relation loaded for all parents of a level in one statement.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Request};
use entity::{test_artifact, test_execution, test_run, test_step, test_step_execution, test_suite};
use sea_orm::Value;
use uuid::Uuid;

use super::types::{
    ExecutionEdge, ExecutionPage, TestArtifact, TestExecution, TestRun, TestStepExecution,
};
use crate::auth::RequestDb;
use crate::catalog::loaders::PageKey;
use crate::catalog::types::{TestStep, TestSuite};
use crate::error::AppError;
use crate::pagination::{
    Cursor, KeyKind, Ordering, Page, PageArgs, Sql, finish_page, timestamp_key,
};

type LoadResult<V> = Result<HashMap<Uuid, V>, async_graphql::Error>;

use crate::catalog::loaders::{parse, query_all};

macro_rules! by_id_loader {
    ($name:ident, $model:ty, $table:literal) => {
        #[doc = concat!("Rows of `", $table, "` by id.")]
        pub struct $name(Arc<RequestDb>);

        impl Loader<Uuid> for $name {
            type Value = $model;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
                let rows = query_all(
                    &self.0,
                    concat!("SELECT * FROM ", $table, " WHERE id = ANY($1)"),
                    vec![Value::from(keys.to_vec())],
                )
                .await?;
                let mut out = HashMap::new();
                for row in &rows {
                    let m: $model = parse(row)?;
                    out.insert(m.id, m);
                }
                Ok(out)
            }
        }
    };
}

by_id_loader!(RunById, test_run::Model, "test_runs");
by_id_loader!(SuiteById, test_suite::Model, "test_suites");
by_id_loader!(StepById, test_step::Model, "test_steps");
by_id_loader!(ExecutionById, test_execution::Model, "test_executions");

macro_rules! grouped_loader {
    ($name:ident, $model:ty, $key:ident, $sql:literal) => {
        #[doc = concat!("Rows grouped by `", stringify!($key), "`: ", $sql)]
        pub struct $name(Arc<RequestDb>);

        impl Loader<Uuid> for $name {
            type Value = Vec<$model>;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
                let rows = query_all(&self.0, $sql, vec![Value::from(keys.to_vec())]).await?;
                let mut out: HashMap<Uuid, Vec<$model>> = HashMap::new();
                for row in &rows {
                    let m: $model = parse(row)?;
                    if let Some(key) = Option::<Uuid>::from(m.$key) {
                        out.entry(key).or_default().push(m);
                    }
                }
                Ok(out)
            }
        }
    };
}

grouped_loader!(
    StepExecutionsByExecution,
    test_step_execution::Model,
    test_execution_id,
    "SELECT se.* FROM test_step_executions se JOIN test_steps s ON s.id = se.test_step_id
     WHERE se.test_execution_id = ANY($1) ORDER BY se.test_execution_id, s.order_index, se.id"
);
grouped_loader!(
    ArtifactsByExecution,
    test_artifact::Model,
    test_execution_id,
    "SELECT * FROM test_artifacts WHERE test_execution_id = ANY($1) AND test_step_execution_id IS NULL
     ORDER BY created_at, id"
);
grouped_loader!(
    ArtifactsByStepExecution,
    test_artifact::Model,
    test_step_execution_id,
    "SELECT * FROM test_artifacts WHERE test_step_execution_id = ANY($1) ORDER BY created_at, id"
);

/// The latest execution of each case.
pub struct LastExecutionByCase(Arc<RequestDb>);

impl Loader<Uuid> for LastExecutionByCase {
    type Value = test_execution::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> LoadResult<Self::Value> {
        let rows = query_all(
            &self.0,
            "SELECT DISTINCT ON (test_case_id) * FROM test_executions WHERE test_case_id = ANY($1)
             ORDER BY test_case_id, created_at DESC, id DESC",
            vec![Value::from(keys.to_vec())],
        )
        .await?;
        let mut out = HashMap::new();
        for row in &rows {
            let m: test_execution::Model = parse(row)?;
            out.insert(m.test_case_id, m);
        }
        Ok(out)
    }
}

/// Which parent a page of executions hangs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionParent {
    /// A run's executions, in creation order.
    Run,
    /// A case's executions, newest first.
    Case,
}

fn execution_ordering(parent: ExecutionParent) -> Ordering {
    match parent {
        ExecutionParent::Run => Ordering {
            name: "runExecutions:asc".to_owned(),
            sql: "e.created_at".to_owned(),
            kind: KeyKind::Timestamp,
            descending: false,
            id_column: "e.id",
        },
        ExecutionParent::Case => Ordering {
            name: "caseExecutions:desc".to_owned(),
            sql: "e.created_at".to_owned(),
            kind: KeyKind::Timestamp,
            descending: true,
            id_column: "e.id",
        },
    }
}

/// A page of executions of each parent, with each parent's count.
pub struct ExecutionPages(Arc<RequestDb>);

impl Loader<(ExecutionParent, Uuid, PageKey)> for ExecutionPages {
    type Value = ExecutionPage;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(ExecutionParent, Uuid, PageKey)],
    ) -> Result<HashMap<(ExecutionParent, Uuid, PageKey), Self::Value>, Self::Error> {
        let mut groups: HashMap<(ExecutionParent, &PageKey), Vec<Uuid>> = HashMap::new();
        for (parent, id, args) in keys {
            groups.entry((*parent, args)).or_default().push(*id);
        }
        let mut out = HashMap::new();
        for ((parent, args), parents) in groups {
            let column = match parent {
                ExecutionParent::Run => "test_run_id",
                ExecutionParent::Case => "test_case_id",
            };
            let counts = query_all(
                &self.0,
                &format!("SELECT {column} AS parent, count(*) AS n FROM test_executions WHERE {column} = ANY($1) GROUP BY 1"),
                vec![Value::from(parents.clone())],
            )
            .await?;
            let mut count_of: HashMap<Uuid, i64> = HashMap::new();
            for row in &counts {
                count_of.insert(
                    row.try_get("", "parent").map_err(AppError::from)?,
                    row.try_get("", "n").map_err(AppError::from)?,
                );
            }
            let ordering = execution_ordering(parent);
            let page = Page::new(&PageArgs::from(args), &ordering)?;
            let mut sql = Sql::default();
            let parents_param = sql.bind(parents.clone());
            let mut conditions = String::new();
            for condition in page.conditions(&ordering, &mut sql)? {
                conditions.push_str(" AND ");
                conditions.push_str(&condition);
            }
            let limit = sql.bind(page.limit as i64 + 1);
            let text = format!(
                "SELECT * FROM (
                   SELECT e.*, e.{column} AS page_parent,
                          row_number() OVER (PARTITION BY e.{column} ORDER BY {}) AS page_rank
                   FROM test_executions e WHERE e.{column} = ANY({parents_param}){conditions}
                 ) ranked WHERE page_rank <= {limit} ORDER BY page_parent, page_rank",
                page.order_by(&ordering)
            );
            let rows = query_all(&self.0, &text, sql.values).await?;
            let mut per_parent: HashMap<Uuid, Vec<test_execution::Model>> = HashMap::new();
            for row in &rows {
                let p: Uuid = row.try_get("", "page_parent").map_err(AppError::from)?;
                per_parent.entry(p).or_default().push(parse(row)?);
            }
            for p in parents {
                let rows = per_parent.remove(&p).unwrap_or_default();
                let (edges, page_info) = finish_page(&page, rows, |e| Cursor {
                    ordering: ordering.name.clone(),
                    key: timestamp_key(e.created_at),
                    id: e.id,
                });
                out.insert(
                    (parent, p, args.clone()),
                    ExecutionPage {
                        edges: edges
                            .into_iter()
                            .map(|(cursor, e)| ExecutionEdge {
                                cursor,
                                node: TestExecution(e),
                            })
                            .collect(),
                        page_info,
                        total: Some(count_of.get(&p).copied().unwrap_or(0)),
                        count: None,
                    },
                );
            }
        }
        Ok(out)
    }
}

/// Adds the runs' loaders to a request.
pub fn register(
    req: Request,
    db: &Arc<RequestDb>,
    activity: &crate::catalog::loaders::LoadActivity,
) -> Request {
    req.data(activity.loader(RunById(db.clone())))
        .data(activity.loader(SuiteById(db.clone())))
        .data(activity.loader(StepById(db.clone())))
        .data(activity.loader(ExecutionById(db.clone())))
        .data(activity.loader(StepExecutionsByExecution(db.clone())))
        .data(activity.loader(ArtifactsByExecution(db.clone())))
        .data(activity.loader(ArtifactsByStepExecution(db.clone())))
        .data(activity.loader(LastExecutionByCase(db.clone())))
        .data(activity.loader(ExecutionPages(db.clone())))
}

fn loader<'a, L: Send + Sync + 'static>(
    ctx: &'a Context<'_>,
) -> async_graphql::Result<&'a DataLoader<L>> {
    ctx.data::<DataLoader<L>>()
        .map_err(|_| AppError::internal("loader missing from the request").into())
}

pub async fn run(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<TestRun>> {
    Ok(loader::<RunById>(ctx)?.load_one(id).await?.map(TestRun))
}

pub async fn suite(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<TestSuite>> {
    Ok(loader::<SuiteById>(ctx)?.load_one(id).await?.map(TestSuite))
}

pub async fn step(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<TestStep>> {
    Ok(loader::<StepById>(ctx)?.load_one(id).await?.map(TestStep))
}

pub async fn execution(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<TestExecution>> {
    Ok(loader::<ExecutionById>(ctx)?
        .load_one(id)
        .await?
        .map(TestExecution))
}

pub async fn step_executions(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<TestStepExecution>> {
    Ok(loader::<StepExecutionsByExecution>(ctx)?
        .load_one(id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(TestStepExecution)
        .collect())
}

pub async fn execution_artifacts(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<TestArtifact>> {
    Ok(loader::<ArtifactsByExecution>(ctx)?
        .load_one(id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(TestArtifact)
        .collect())
}

pub async fn step_execution_artifacts(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<TestArtifact>> {
    Ok(loader::<ArtifactsByStepExecution>(ctx)?
        .load_one(id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(TestArtifact)
        .collect())
}

pub async fn last_execution(
    ctx: &Context<'_>,
    case: Uuid,
) -> async_graphql::Result<Option<TestExecution>> {
    Ok(loader::<LastExecutionByCase>(ctx)?
        .load_one(case)
        .await?
        .map(TestExecution))
}

async fn executions_page(
    ctx: &Context<'_>,
    parent: ExecutionParent,
    id: Uuid,
    args: PageArgs,
) -> async_graphql::Result<ExecutionPage> {
    let key = PageKey::from(args);
    loader::<ExecutionPages>(ctx)?
        .load_one((parent, id, key))
        .await?
        .ok_or_else(|| AppError::internal("execution page missing").into())
}

pub async fn run_executions(
    ctx: &Context<'_>,
    run: Uuid,
    args: PageArgs,
) -> async_graphql::Result<ExecutionPage> {
    executions_page(ctx, ExecutionParent::Run, run, args).await
}

pub async fn case_executions(
    ctx: &Context<'_>,
    case: Uuid,
    args: PageArgs,
) -> async_graphql::Result<ExecutionPage> {
    executions_page(ctx, ExecutionParent::Case, case, args).await
}
