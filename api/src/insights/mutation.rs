//! Write entry points of insights: a quality gate evaluated for CI, which raises its webhook
//! event when it fails.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::gate::{self, Rules, Verdict};
use super::types::{QualityGateResult, QualityGateRules, RunComparison, limits_of};
use crate::auth::context::request_db;
use crate::error::{AppError, AppResult};
use crate::projects::service::{Action, explained};

#[derive(Default)]
pub struct InsightsMutation;

/// A verdict as the GraphQL answer.
pub(super) fn result_of(verdict: Verdict) -> QualityGateResult {
    let comparison = match (&verdict.baseline, &verdict.compared) {
        (Some(base), Some(found)) => Some(RunComparison {
            base: base.clone(),
            head: verdict.run.clone(),
            threshold: verdict.threshold,
            found: found.clone(),
        }),
        _ => None,
    };
    QualityGateResult {
        status: verdict.status,
        reasons: verdict.reasons,
        run: verdict.run,
        baseline: verdict.baseline,
        comparison,
    }
}

#[Object]
impl InsightsMutation {
    /// Evaluates a quality gate on run `runId` as `qualityGate` does and, when it FAILED,
    /// raises the `quality_gate.failed` webhook event (with the run, its commit, branch and
    /// build URL, and the reasons) in the same transaction. For CI: the reporter's `--gate`
    /// calls it. Takes the right to report in the run's project.
    async fn evaluate_quality_gate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run judged.")] run_id: Uuid,
        #[graphql(desc = "The rules (default: no new failures, and a finished run).")]
        rules: Option<QualityGateRules>,
    ) -> AppResult<QualityGateResult> {
        let rules = Rules::checked(rules)?;
        let limits = limits_of(ctx.look_ahead().field("comparison"))?;
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let verdict = db
            .write(|tx| {
                Box::pin(async move {
                    let run = crate::runs::service::get_run(tx, run_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
                    let project = crate::projects::service::by_id(tx, run.project_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
                    crate::projects::service::require(tx, &identity, &project, Action::Report)
                        .await?;
                    let verdict = gate::evaluate(tx, run_id, &rules, limits).await?;
                    gate::announce(tx, &verdict).await?;
                    Ok(verdict)
                })
            })
            .await;
        explained(&db, verdict).await.map(result_of)
    }
}
