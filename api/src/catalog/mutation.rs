//! Write entry points of the catalogue. Each runs in a savepoint of the request's transaction
//! and returns what it changed, so clients can update their caches.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::inputs::{
    CreateConfigurationInput, CreateTestCaseInput, CreateTestSuiteInput, TestStepInput,
    UpdateConfigurationInput, UpdateTestCaseInput, UpdateTestStepInput, UpdateTestSuiteInput,
};
use super::service;
use super::types::{Configuration, TestCase, TestStep, TestSuite};
use crate::auth::context::request_db;
use crate::error::{AppError, AppResult};
use crate::projects::service::Action;
use crate::projects::service::explained;

#[derive(Default)]
pub struct CatalogMutation;

/// A member may author only as themselves; an admin as anyone.
fn check_author(db: &crate::auth::RequestDb, author: Option<&str>) -> AppResult<()> {
    match (db.identity(), author) {
        (Some(identity), Some(author)) if !identity.is_admin() && author != identity.user_id => {
            Err(AppError::Forbidden {
                message: "a member may only author test cases as themselves".to_owned(),
            })
        }
        _ => Ok(()),
    }
}

/// The project a new catalogue row goes into (`input.projectKey`), if the caller may `action`
/// there.
async fn new_row_project(
    tx: &sea_orm::DatabaseTransaction,
    identity: &crate::auth::Identity,
    key: Option<&str>,
    action: Action,
) -> AppResult<Uuid> {
    crate::projects::service::for_new_row(tx, identity, "input.projectKey", key, action).await
}

#[Object]
impl CatalogMutation {
    /// Creates a test case with its steps, all or nothing.
    async fn create_test_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and its steps.")] input: CreateTestCaseInput,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        check_author(&db, input.author.as_deref())?;
        let identity = crate::auth::guard::identity(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    let project =
                        new_row_project(tx, &identity, input.project_key.as_deref(), Action::Write)
                            .await?;
                    service::cases::create(tx, project, input, Some(&identity.user_id)).await
                })
            })
            .await,
        )
        .await
        .map(TestCase)
    }

    /// Changes a test case: absent fields stay, `null` clears. Status changes (activate,
    /// archive, deprecate) are updates of `status`.
    async fn update_test_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case's id.")] id: Uuid,
        #[graphql(desc = "The changes.")] input: UpdateTestCaseInput,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        if let async_graphql::MaybeUndefined::Value(author) = &input.author {
            check_author(&db, Some(author))?;
        }
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::cases::update(tx, id, input).await }))
                .await,
        )
        .await
        .map(TestCase)
    }

    /// Maps an identity key onto a case (a renamed test's former key): results reported or
    /// imported with the key land on the case.
    async fn add_test_case_alias(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] test_case_id: Uuid,
        #[graphql(desc = "The key (1 to 1000 characters).")] key: String,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move { service::identity::add_alias(tx, test_case_id, key).await })
            })
            .await,
        )
        .await
        .map(TestCase)
    }

    /// Removes an alias of a case.
    async fn remove_test_case_alias(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] test_case_id: Uuid,
        #[graphql(desc = "The alias.")] key: String,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(
                    async move { service::identity::remove_alias(tx, test_case_id, &key).await },
                )
            })
            .await,
        )
        .await
        .map(TestCase)
    }

    /// Merges a case into another of its project (a renamed test whose results started a new
    /// case): the source's executions (archived ones too), step results, suite memberships and
    /// keys (as aliases) go to the target, and the source is deleted. Refused (CONFLICT) when
    /// both have results in one run.
    async fn merge_test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case merged away.")] source_id: Uuid,
        #[graphql(desc = "The case that keeps the history.")] target_id: Uuid,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move { service::identity::merge(tx, source_id, target_id).await })
            })
            .await,
        )
        .await
        .map(TestCase)
    }

    /// Deletes a test case with its steps, executions and suite memberships; returns its id.
    async fn delete_test_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case's id.")] id: Uuid,
    ) -> AppResult<Uuid> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::cases::delete(tx, id).await }))
                .await,
        )
        .await
    }

    /// Adds a step at `position` (1-based; default: last), shifting the steps after it.
    async fn add_test_step(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case to add to.")] test_case_id: Uuid,
        #[graphql(desc = "The step.")] input: TestStepInput,
        #[graphql(desc = "Where to insert it, from 1 (default: after the last step).")]
        position: Option<i32>,
    ) -> AppResult<TestStep> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(
                    async move { service::steps::add(tx, test_case_id, input, position).await },
                )
            })
            .await,
        )
        .await
        .map(TestStep)
    }

    /// Changes a step: absent fields stay, `null` clears.
    async fn update_test_step(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The step's id.")] id: Uuid,
        #[graphql(desc = "The changes.")] input: UpdateTestStepInput,
    ) -> AppResult<TestStep> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::steps::update(tx, id, input).await }))
                .await,
        )
        .await
        .map(TestStep)
    }

    /// Removes a step and closes the gap; returns its case.
    async fn remove_test_step(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The step's id.")] id: Uuid,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    let case_id = service::steps::remove(tx, id).await?;
                    service::cases::get(tx, case_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestCase", case_id))
                })
            })
            .await,
        )
        .await
        .map(TestCase)
    }

    /// Puts a case's steps in the given order; the list must be exactly the case's steps.
    async fn reorder_test_steps(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] test_case_id: Uuid,
        #[graphql(desc = "All of the case's step ids, in the new order.")] step_ids: Vec<Uuid>,
    ) -> AppResult<TestCase> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    service::steps::reorder(tx, test_case_id, &step_ids).await?;
                    service::cases::get(tx, test_case_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestCase", test_case_id))
                })
            })
            .await,
        )
        .await
        .map(TestCase)
    }

    /// Creates a test suite, optionally with its cases in order.
    async fn create_test_suite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite.")] input: CreateTestSuiteInput,
    ) -> AppResult<TestSuite> {
        let db = request_db(ctx)?;
        let identity = crate::auth::guard::identity(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    let project = new_row_project(
                        tx,
                        &identity,
                        input.project_key.as_deref(),
                        Action::Manage,
                    )
                    .await?;
                    service::suites::create(tx, project, input, Some(&identity.user_id)).await
                })
            })
            .await,
        )
        .await
        .map(TestSuite)
    }

    /// Changes a test suite: absent fields stay, `null` clears.
    async fn update_test_suite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite's id.")] id: Uuid,
        #[graphql(desc = "The changes.")] input: UpdateTestSuiteInput,
    ) -> AppResult<TestSuite> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::suites::update(tx, id, input).await }))
                .await,
        )
        .await
        .map(TestSuite)
    }

    /// Deletes a test suite (its cases stay; its runs keep their history); returns its id.
    async fn delete_test_suite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite's id.")] id: Uuid,
    ) -> AppResult<Uuid> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::suites::delete(tx, id).await }))
                .await,
        )
        .await
    }

    /// Adds test cases to a suite at `position` (1-based; default: at the end), in the given order.
    async fn add_test_cases_to_suite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite.")] suite_id: Uuid,
        #[graphql(desc = "The cases to add, in order.")] test_case_ids: Vec<Uuid>,
        #[graphql(desc = "Where to insert them, from 1 (default: at the end).")] position: Option<
            i32,
        >,
    ) -> AppResult<TestSuite> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    service::suites::add_cases(tx, suite_id, &test_case_ids, position).await?;
                    service::suites::get(tx, suite_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestSuite", suite_id))
                })
            })
            .await,
        )
        .await
        .map(TestSuite)
    }

    /// Removes test cases from a suite, closing the gaps.
    async fn remove_test_cases_from_suite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite.")] suite_id: Uuid,
        #[graphql(desc = "The cases to remove.")] test_case_ids: Vec<Uuid>,
    ) -> AppResult<TestSuite> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    service::suites::remove_cases(tx, suite_id, &test_case_ids).await?;
                    service::suites::get(tx, suite_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestSuite", suite_id))
                })
            })
            .await,
        )
        .await
        .map(TestSuite)
    }

    /// Puts a suite's cases in the given order; the list must be exactly the suite's cases.
    async fn reorder_suite_test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite.")] suite_id: Uuid,
        #[graphql(desc = "All of the suite's case ids, in the new order.")] test_case_ids: Vec<
            Uuid,
        >,
    ) -> AppResult<TestSuite> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    service::suites::reorder(tx, suite_id, &test_case_ids).await?;
                    service::suites::get(tx, suite_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestSuite", suite_id))
                })
            })
            .await,
        )
        .await
        .map(TestSuite)
    }

    /// Creates a configuration. A second active configuration with the same name and type is
    /// a CONFLICT.
    async fn create_configuration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The configuration.")] input: CreateConfigurationInput,
    ) -> AppResult<Configuration> {
        let db = request_db(ctx)?;
        let identity = crate::auth::guard::identity(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move {
                    let project = new_row_project(
                        tx,
                        &identity,
                        input.project_key.as_deref(),
                        Action::Manage,
                    )
                    .await?;
                    service::configurations::create(tx, project, input, Some(&identity.user_id))
                        .await
                })
            })
            .await,
        )
        .await
        .map(Configuration)
    }

    /// Changes a configuration: absent fields stay, `null` clears.
    async fn update_configuration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The configuration's id.")] id: Uuid,
        #[graphql(desc = "The changes.")] input: UpdateConfigurationInput,
    ) -> AppResult<Configuration> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| {
                Box::pin(async move { service::configurations::update(tx, id, input).await })
            })
            .await,
        )
        .await
        .map(Configuration)
    }

    /// Deletes a configuration (cases, runs and executions using it keep none); returns its id.
    async fn delete_configuration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The configuration's id.")] id: Uuid,
    ) -> AppResult<Uuid> {
        let db = request_db(ctx)?;
        explained(
            &db,
            db.write(|tx| Box::pin(async move { service::configurations::delete(tx, id).await }))
                .await,
        )
        .await
    }
}
