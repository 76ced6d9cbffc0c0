//! Read entry points of insights: run comparison and the quality gate.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::compare;
use super::gate::{self, Rules};
use super::types::{QualityGateResult, QualityGateRules, RunComparison, limits_of};
use crate::auth::context::request_db;
use crate::error::{AppError, AppResult};

#[derive(Default)]
pub struct InsightsQuery;

#[Object]
impl InsightsQuery {
    /// What changed from run `base` to run `head` (two runs of one project): new failures,
    /// fixed, still failing, new and missing tests, duration regressions, each case by its
    /// last attempt in each run.
    async fn compare_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run compared against (the older one, usually).")] base: Uuid,
        #[graphql(desc = "The run compared.")] head: Uuid,
        #[graphql(
            desc = "The ratio by which a passed case must have slowed down to be a duration \
                    regression (default 0.5: 50% slower; above 0, at most 100), besides at \
                    least 100 ms."
        )]
        duration_threshold: Option<f64>,
    ) -> AppResult<RunComparison> {
        let threshold = compare::check_threshold("durationThreshold", duration_threshold)?;
        let limits = limits_of(ctx.look_ahead())?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let base_run = crate::runs::service::get_run(&*conn, base)
            .await?
            .ok_or_else(|| AppError::not_found("TestRun", base))?;
        let head_run = crate::runs::service::get_run(&*conn, head)
            .await?
            .ok_or_else(|| AppError::not_found("TestRun", head))?;
        if base_run.project_id != head_run.project_id {
            return Err(AppError::bad_input(
                "head",
                "the two runs are of different projects: compare runs of one project",
            ));
        }
        let request = compare::Request {
            base,
            head,
            threshold_bits: threshold.to_bits(),
            limits,
            quarantine: false,
        };
        let found = compare::compare(&*conn, std::slice::from_ref(&request))
            .await?
            .remove(&request)
            .unwrap_or_default();
        Ok(RunComparison {
            base: base_run,
            head: head_run,
            threshold,
            found,
        })
    }

    /// Whether run `runId` passes a quality gate: new failures against its baseline
    /// (quarantined cases left out), and the optional pass-rate, duration and finished rules,
    /// each with its reason. Nothing is written: `evaluateQualityGate` also raises the
    /// `quality_gate.failed` webhook event.
    async fn quality_gate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run judged.")] run_id: Uuid,
        #[graphql(desc = "The rules (default: no new failures, and a finished run).")]
        rules: Option<QualityGateRules>,
    ) -> AppResult<QualityGateResult> {
        let rules = Rules::checked(rules)?;
        let limits = limits_of(ctx.look_ahead().field("comparison"))?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let verdict = gate::evaluate(&*conn, run_id, &rules, limits).await?;
        Ok(super::mutation::result_of(verdict))
    }
}
