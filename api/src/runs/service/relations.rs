//! What hangs from runs, executions and cases, read for many parents at once (the loaders'
//! statements).

use std::collections::HashMap;

use entity::{test_artifact, test_execution, test_step_execution};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

use crate::error::AppResult;
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs, by_page};
use crate::sql::{ChildQuery, child_pages, models};

/// Rows of `M` by the parent id `key` of each.
async fn grouped<M: FromQueryResult>(
    conn: &impl ConnectionTrait,
    text: &str,
    parents: &[Uuid],
    key: impl Fn(&M) -> Option<Uuid>,
) -> AppResult<HashMap<Uuid, Vec<M>>> {
    let mut out: HashMap<Uuid, Vec<M>> = HashMap::new();
    for (_, m) in models::<M>(conn, text, vec![parents.to_vec().into()]).await? {
        if let Some(k) = key(&m) {
            out.entry(k).or_default().push(m);
        }
    }
    Ok(out)
}

/// The step results of each execution, in step order.
pub async fn step_executions_of(
    conn: &impl ConnectionTrait,
    executions: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<test_step_execution::Model>>> {
    grouped(
        conn,
        "SELECT se.* FROM test_step_executions se JOIN test_steps s ON s.id = se.test_step_id
         WHERE se.test_execution_id = ANY($1) ORDER BY se.test_execution_id, s.order_index, se.id",
        executions,
        |m: &test_step_execution::Model| Some(m.test_execution_id),
    )
    .await
}

/// The artifacts of each execution itself (not of its steps), oldest first.
pub async fn artifacts_of_executions(
    conn: &impl ConnectionTrait,
    executions: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<test_artifact::Model>>> {
    grouped(
        conn,
        "SELECT * FROM test_artifacts WHERE test_execution_id = ANY($1) AND test_step_execution_id IS NULL
         ORDER BY created_at, id",
        executions,
        |m: &test_artifact::Model| m.test_execution_id,
    )
    .await
}

/// The artifacts of each step result, oldest first.
pub async fn artifacts_of_step_executions(
    conn: &impl ConnectionTrait,
    step_executions: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<test_artifact::Model>>> {
    grouped(
        conn,
        "SELECT * FROM test_artifacts WHERE test_step_execution_id = ANY($1) ORDER BY created_at, id",
        step_executions,
        |m: &test_artifact::Model| m.test_step_execution_id,
    )
    .await
}

/// The latest execution of each case.
pub async fn last_executions_of(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
) -> AppResult<HashMap<Uuid, test_execution::Model>> {
    Ok(models::<test_execution::Model>(
        conn,
        "SELECT DISTINCT ON (test_case_id) * FROM test_executions WHERE test_case_id = ANY($1)
         ORDER BY test_case_id, created_at DESC, id DESC",
        vec![cases.to_vec().into()],
    )
    .await?
    .into_iter()
    .map(|(_, m)| (m.test_case_id, m))
    .collect())
}

/// Which parent a page of executions hangs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionParent {
    /// A run's executions, in creation order.
    Run,
    /// A case's executions, newest first.
    Case,
}

/// A page of executions of each `(parent, page)` of `keys`, with the parent's count.
pub async fn execution_pages(
    conn: &impl ConnectionTrait,
    keys: &[((ExecutionParent, Uuid), PageArgs)],
) -> AppResult<HashMap<((ExecutionParent, Uuid), PageArgs), (Fetched<test_execution::Model>, i64)>>
{
    let mut out = HashMap::new();
    for (args, parents) in by_page(keys) {
        for kind in [ExecutionParent::Run, ExecutionParent::Case] {
            let ids: Vec<Uuid> = parents
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, id)| *id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let (parent, ordering) = match kind {
                ExecutionParent::Run => (
                    "e.test_run_id",
                    Ordering {
                        name: "runExecutions:asc".to_owned(),
                        sql: "e.created_at".to_owned(),
                        kind: KeyKind::Timestamp,
                        descending: false,
                        id_column: "e.id",
                    },
                ),
                ExecutionParent::Case => (
                    "e.test_case_id",
                    Ordering {
                        name: "caseExecutions:desc".to_owned(),
                        sql: "e.created_at".to_owned(),
                        kind: KeyKind::Timestamp,
                        descending: true,
                        id_column: "e.id",
                    },
                ),
            };
            let query = ChildQuery {
                conditions: Vec::new(),
                sql: Default::default(),
                from: "test_executions e",
                select: "e.*",
                parent,
                ordering,
            };
            let mut pages = child_pages(conn, &query, &ids, args).await?;
            for id in ids {
                let (fetched, total) = pages.remove(&id).unwrap_or_else(|| (Fetched::empty(), 0));
                let fetched =
                    fetched.try_map(|row| test_execution::Model::from_query_result(&row, ""))?;
                out.insert(((kind, id), args.clone()), (fetched, total));
            }
        }
    }
    Ok(out)
}
