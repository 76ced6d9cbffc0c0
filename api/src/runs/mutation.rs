//! Write entry points of runs: the lifecycle, one change at a time or in bulk.

use async_graphql::{Context, Object, Upload};
use uuid::Uuid;

use super::enums::{Outcome, StepExecutionStatus};
use super::service;
use super::types::{
    AttachArtifactInput, ReportResultInput, ReportResultsPayload, StartTestRunInput, TestArtifact,
    TestExecution, TestRun, TestStepExecution,
};
use crate::auth::context::request_db;
use crate::error::{AppError, AppResult};
use crate::projects::service::explained;
use crate::scalars::Json;

#[derive(Default)]
pub struct RunsMutation;

#[Object]
impl RunsMutation {
    /// Starts a run of a suite: the run and one PENDING execution per active case, in the
    /// suite's order, in one transaction.
    async fn start_test_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to run.")] input: StartTestRunInput,
    ) -> AppResult<TestRun> {
        let db = request_db(ctx)?;
        let identity = crate::auth::guard::identity(ctx)?;
        if let Some(by) = &input.triggered_by
            && !identity.is_admin()
            && by != &identity.user_id
        {
            return Err(AppError::Forbidden {
                message: "a member may only start runs as themselves".to_owned(),
            });
        }
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    let run = service::lifecycle::start_run(tx, &identity, input).await?;
                    service::get_run(tx, run.id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestRun", run.id))
                })
            })
            .await,
        )
        .await
        .map(TestRun)
    }

    /// Marks an execution RUNNING (repeating it is harmless).
    async fn start_test_execution(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The execution.")] id: Uuid,
    ) -> AppResult<TestExecution> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move { service::lifecycle::start_execution(tx, id).await })
            })
            .await,
        )
        .await
        .map(TestExecution)
    }

    /// Records a step's result; reporting it again updates it. Starts a pending execution.
    #[allow(clippy::too_many_arguments)]
    async fn report_step_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The execution.")] execution_id: Uuid,
        #[graphql(desc = "The step of the execution's case.")] step_id: Uuid,
        #[graphql(desc = "The step's status.")] status: StepExecutionStatus,
        #[graphql(desc = "What actually happened.")] actual_result: Option<String>,
        #[graphql(desc = "Why it failed.")] error_message: Option<String>,
        #[graphql(desc = "Duration in seconds, fractional (0 or more); or give durationMs.")]
        duration_seconds: Option<f64>,
        #[graphql(desc = "Duration in milliseconds, fractional (0 or more).")] duration_ms: Option<
            f64,
        >,
    ) -> AppResult<TestStepExecution> {
        let duration_ms = crate::input::duration_ms(
            "durationSeconds",
            duration_seconds,
            "durationMs",
            duration_ms,
        )?;
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    service::lifecycle::report_step(
                        tx,
                        execution_id,
                        step_id,
                        status,
                        actual_result,
                        error_message,
                        duration_ms,
                    )
                    .await
                })
            })
            .await,
        )
        .await
        .map(TestStepExecution)
    }

    /// Finishes an execution with an outcome; the run finishes by itself with its last
    /// execution. The same outcome again is harmless; a different one is a CONFLICT.
    #[allow(clippy::too_many_arguments)]
    async fn complete_test_execution(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The execution.")] id: Uuid,
        #[graphql(desc = "The outcome.")] status: Outcome,
        #[graphql(desc = "Why it failed.")] error_message: Option<String>,
        #[graphql(desc = "Details (a JSON object).")] execution_metadata: Option<Json>,
        #[graphql(
            desc = "Duration in seconds, fractional (default: since it started); or give \
                          durationMs."
        )]
        duration_seconds: Option<f64>,
        #[graphql(desc = "Duration in milliseconds, fractional.")] duration_ms: Option<f64>,
    ) -> AppResult<TestExecution> {
        let duration_ms = crate::input::duration_ms(
            "durationSeconds",
            duration_seconds,
            "durationMs",
            duration_ms,
        )?;
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    service::lifecycle::complete_execution(
                        tx,
                        id,
                        status,
                        error_message,
                        execution_metadata.map(|j| j.0),
                        duration_ms,
                    )
                    .await
                })
            })
            .await,
        )
        .await
        .map(TestExecution)
    }

    /// A new attempt of a FAILED execution (retryAttempt + 1), up to the case's retry count.
    async fn retry_test_execution(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The failed execution.")] id: Uuid,
    ) -> AppResult<TestExecution> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move { service::lifecycle::retry_execution(tx, id).await })
            })
            .await,
        )
        .await
        .map(TestExecution)
    }

    /// Finishes a run with the outcome its results imply: FAILED when a case's latest attempt
    /// failed, else PASSED (ABORTED when nothing was reported). Executions still open are
    /// cancelled. Finishing a finished run answers it unchanged.
    async fn finish_test_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] id: Uuid,
    ) -> AppResult<TestRun> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::lifecycle::finish_run(tx, id).await }))
                .await,
        )
        .await
        .map(TestRun)
    }

    /// Cancels a run and its open executions (cancelling twice is harmless).
    async fn cancel_test_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] id: Uuid,
    ) -> AppResult<TestRun> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::lifecycle::cancel_run(tx, id).await }))
                .await,
        )
        .await
        .map(TestRun)
    }

    /// Attaches an artifact to an execution or to a step result: its metadata, and its bytes
    /// when `file` is uploaded with the request (a GraphQL multipart request; they go to the
    /// artifact store, and `fileSize`, when given, must match them). Bytes can also come later:
    /// `PUT /api/v1/artifacts/{id}/content`; a large file is better sent there (or to
    /// `POST /api/v1/executions/{id}/artifacts`), which the GraphQL request timeout does not
    /// bound.
    async fn attach_artifact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The artifact and its owner.")] input: AttachArtifactInput,
        #[graphql(desc = "The artifact's bytes.")] file: Option<Upload>,
    ) -> AppResult<TestArtifact> {
        let db = request_db(ctx)?;
        let Some(file) = file else {
            return explained(
                &db,
                db.write(|tx| {
                    Box::pin(async move { service::lifecycle::attach_artifact(tx, input).await })
                })
                .await,
            )
            .await
            .map(TestArtifact);
        };
        service::lifecycle::check_artifact("artifact.", &input.artifact)?;
        let identity = db
            .identity()
            .cloned()
            .ok_or_else(|| AppError::Unauthenticated {
                message: "authentication required: send Authorization: Bearer <token>".to_owned(),
            })?;
        // who may not attach is refused before the file reaches the store
        crate::artifacts::service::may_attach(
            db.pool_outside_request(),
            &identity,
            db.limits(),
            input.execution_id,
            input.step_execution_id,
        )
        .await?;
        let artifacts = ctx
            .data::<crate::state::AppState>()
            .map_err(|_| AppError::internal("no state"))?
            .artifacts
            .clone();
        let upload = file
            .value(ctx)
            .map_err(|e| AppError::bad_input("file", format!("the upload cannot be read: {e}")))?;
        let declared = crate::artifacts::service::Declared {
            size: input.artifact.file_size.map(|s| s as u64),
            sha256: None,
        };
        let limit = artifacts.options.limit(input.artifact.artifact_type.into());
        let content = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(upload.content));
        let staged = artifacts
            .store
            .stage(content, limit)
            .await
            .map_err(|e| crate::artifacts::service::put_error(e, "file"))?;
        let written = match crate::artifacts::service::check_declared(
            &staged,
            &declared,
            "artifact.fileSize",
        ) {
            Err(e) => Err(e),
            Ok(()) => {
                let store = artifacts.store.clone();
                let staged = staged.clone();
                explained(
                    &db,
                    db.write(|tx| {
                        Box::pin(async move {
                            let created = service::lifecycle::attach_artifact(tx, input).await?;
                            crate::artifacts::service::attach_content(
                                tx, &store, created.id, &staged,
                            )
                            .await
                        })
                    })
                    .await,
                )
                .await
            }
        };
        // the request commits after this resolver: the staging object is left to its blob
        // (placed already), only its own copy goes
        if let Err(e) = artifacts.store.discard(staged).await {
            tracing::warn!(error = %e, "removing a staged upload failed; the orphan sweep will");
        }
        written.map(TestArtifact)
    }

    /// Reports many results at once (up to 10,000): each item completes its case's latest
    /// attempt with its step results and artifacts. Items are idempotent by key; each gets its
    /// own outcome, and valid items are written even when others are rejected.
    async fn report_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] run_id: Uuid,
        #[graphql(desc = "The results.")] results: Vec<ReportResultInput>,
        #[graphql(
            desc = "Reject results for test keys no case has (NOT_FOUND) instead of \
                          creating the cases (default false)."
        )]
        known_tests_only: Option<bool>,
    ) -> AppResult<ReportResultsPayload> {
        let db = request_db(ctx)?;
        let (run, results) = explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    let results = service::bulk::report(
                        tx,
                        run_id,
                        results,
                        service::bulk::WriteOptions {
                            known_only: known_tests_only.unwrap_or(false),
                            recount: true,
                        },
                    )
                    .await?;
                    let run = service::get_run(tx, run_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
                    Ok((run, results))
                })
            })
            .await,
        )
        .await?;
        let accepted = results.iter().filter(|r| r.ok && !r.duplicate).count() as i32;
        let duplicates = results.iter().filter(|r| r.duplicate).count() as i32;
        let rejected = results.iter().filter(|r| !r.ok).count() as i32;
        Ok(ReportResultsPayload {
            run: TestRun(run),
            results,
            accepted,
            duplicates,
            rejected,
        })
    }
}
