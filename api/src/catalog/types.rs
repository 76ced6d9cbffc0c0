//! GraphQL objects and connections of the catalogue.

use async_graphql::{Context, Object, SimpleObject};
use entity::{configuration, test_case, test_step, test_suite};
use serde_json::Value as JsonValue;
use uuid::Uuid;

use super::enums::{ConfigType, Priority, StepType, TestCaseStatus};
use super::loaders;
use crate::connection::Connection;
use crate::pagination::PageArgs;
use crate::scalars::{Json, Timestamp, object_or_empty};

fn tags_of(v: &Option<JsonValue>) -> Vec<String> {
    v.as_ref()
        .and_then(JsonValue::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone)]
pub struct TestCase(pub test_case::Model);

/// A test case: one thing to verify, as ordered steps, with its classification (status,
/// priority, category, tags), the executions it has had and statistics over them. It belongs to
/// a project, and suites group cases to run them together.
#[Object]
impl TestCase {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// The project it belongs to; null when the caller does not see the project (the author
    /// of a record in a project they are not a member of).
    async fn project(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::types::Project>> {
        Ok(crate::projects::loaders::project(ctx, self.0.project_id)
            .await?
            .map(crate::projects::types::Project))
    }
    /// Name (1 to 255 characters), unique within its category and project among the cases
    /// that are not archived.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the case verifies.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Where the case is in its life: DRAFT, ACTIVE, DEPRECATED or ARCHIVED. A suite's run
    /// executes only its ACTIVE cases.
    async fn status(&self) -> TestCaseStatus {
        self.0.status.into()
    }
    /// How much the case matters, from CRITICAL to LOW.
    async fn priority(&self) -> Priority {
        self.0.priority.into()
    }
    /// Free-form labels (empty when it has none).
    async fn tags(&self) -> Vec<String> {
        tags_of(&self.0.tags)
    }
    /// Free-form attributes (a JSON object; `{}` when it has none).
    async fn metadata(&self) -> Json {
        object_or_empty(&self.0.metadata)
    }
    /// User id of the author; null when none was recorded.
    async fn author(&self) -> Option<&str> {
        self.0.author.as_deref()
    }
    /// Category (a feature area, or the suite or class path of an imported test); null when
    /// it has none.
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    /// The test framework's stable name for the case (such as `classname::name`): results
    /// reported or imported by this key land on the case. Null when it has none.
    async fn identity_key(&self) -> Option<&str> {
        self.0.identity_key.as_deref()
    }
    /// Older keys that land on this case (a renamed test's former names).
    async fn aliases(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        loaders::aliases_of_case(ctx, self.0.id).await
    }
    /// How long the case is expected to take, in seconds (greater than 0); null when not
    /// given.
    async fn expected_duration_seconds(&self) -> Option<i32> {
        self.0.expected_duration_seconds
    }
    /// Whether the case runs automatically (false: it is carried out by hand).
    async fn is_automated(&self) -> bool {
        self.0.is_automated
    }
    /// How many times a failed execution of the case may be retried within a run (0 to 10;
    /// 0 unless given).
    async fn retry_count(&self) -> i32 {
        self.0.retry_count
    }
    /// Id of the configuration the case runs with by default; null when it has none.
    async fn configuration_id(&self) -> Option<Uuid> {
        self.0.configuration_id
    }
    /// The configuration the case runs with by default; null when it has none.
    async fn configuration(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Configuration>> {
        match self.0.configuration_id {
            Some(id) => Ok(loaders::configuration(ctx, id).await?.map(Configuration)),
            None => Ok(None),
        }
    }
    /// When the case was created.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
    /// When the case last changed.
    async fn updated_at(&self) -> Option<Timestamp> {
        self.0.updated_at
    }
    /// The case's steps, in order (first `orderIndex` 1).
    async fn steps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TestStep>> {
        Ok(loaders::steps_of_case(ctx, self.0.id)
            .await?
            .into_iter()
            .map(TestStep)
            .collect())
    }
    /// The suites the case belongs to, ordered by name (empty when it is in none).
    async fn suites(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TestSuite>> {
        Ok(loaders::suites_of_case(ctx, self.0.id)
            .await?
            .into_iter()
            .map(TestSuite)
            .collect())
    }
    /// The case's executions, newest first (its execution history).
    async fn executions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> async_graphql::Result<crate::runs::types::ExecutionPage> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        crate::runs::types::executions_page(
            ctx,
            crate::runs::loaders::ExecutionParent::Case,
            self.0.id,
            args,
        )
        .await
    }
    /// Statistics of the case's executions: how many passed, failed and were skipped, the
    /// success rate, durations (average, shortest, longest, median, 95th percentile), when it
    /// first and last ran, and a stability rating. The window chooses which executions count.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which executions count (default: all live ones).")] window: Option<
            crate::analytics::types::StatsWindow,
        >,
    ) -> async_graphql::Result<crate::analytics::types::CaseStats> {
        crate::analytics::loaders::case_stats(ctx, self.0.id, window.unwrap_or_default()).await
    }
    /// How flaky the case is over its last `lastN` passed/failed executions, and why.
    async fn flakiness(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Executions the score looks at (2 to 1000).", default = 20)] last_n: i32,
    ) -> async_graphql::Result<crate::analytics::types::Flakiness> {
        crate::analytics::loaders::case_flakiness(ctx, self.0.id, last_n).await
    }
    /// The case's quarantine if it is quarantined now (not released, not expired): its
    /// failures are shown but do not fail runs. Null otherwise.
    async fn quarantine(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::quarantine::types::TestCaseQuarantine>> {
        crate::quarantine::loaders::active(ctx, self.0.id).await
    }
    /// The case's failing steps with their common errors, most failing first.
    async fn failing_steps(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::analytics::types::FailingStep>> {
        crate::analytics::loaders::failing_steps(ctx, self.0.id).await
    }
    /// The case's changes, newest first, from the audit trail.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> async_graphql::Result<crate::audit::AuditEntryConnection> {
        crate::audit::history(
            ctx,
            crate::audit::AuditedType::TestCase,
            self.0.id,
            first,
            after,
        )
        .await
    }
    /// The case's most recent execution; null when it has never been executed.
    async fn last_execution(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::runs::types::TestExecution>> {
        Ok(crate::runs::loaders::last_execution(ctx, self.0.id)
            .await?
            .map(crate::runs::types::TestExecution))
    }
}

#[derive(Clone)]
pub struct TestStep(pub test_step::Model);

/// One step of a test case: an action (open a URL, click, type, call an API, assert, ...),
/// what it acts on, its input and what should happen. A case's steps are numbered from 1.
#[Object]
impl TestStep {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Id of the case the step belongs to.
    async fn test_case_id(&self) -> Uuid {
        self.0.test_case_id
    }
    /// Position within the case, from 1.
    async fn order_index(&self) -> i32 {
        self.0.order_index
    }
    /// Name (1 to 255 characters).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the step does.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The kind of action the step performs.
    async fn step_type(&self) -> StepType {
        self.0.step_type.into()
    }
    /// Selector of the page element the action targets (at most 500 characters); null when
    /// the action targets none.
    async fn selector(&self) -> Option<&str> {
        self.0.selector.as_deref()
    }
    /// Input (text to type, URL, request body, ...).
    async fn input_data(&self) -> Option<&str> {
        self.0.input_data.as_deref()
    }
    /// What should happen.
    async fn expected_result(&self) -> Option<&str> {
        self.0.expected_result.as_deref()
    }
    /// Settings of the step (a JSON object; `{}` when it has none).
    async fn configuration(&self) -> Json {
        object_or_empty(&self.0.configuration)
    }
    /// How long the step may take, in seconds (greater than 0; 30 unless given); null when
    /// it has no limit.
    async fn timeout_seconds(&self) -> Option<i32> {
        self.0.timeout_seconds
    }
    /// Whether the step is optional: when it fails, the case need not fail (default false).
    /// It tells the test runner how to treat the step; the service does not judge outcomes
    /// from it: an execution's outcome is the one reported for it.
    async fn is_optional(&self) -> bool {
        self.0.is_optional
    }
    /// Whether the runner goes on with the case's next steps after this step fails (default
    /// false: the case stops there). Like `isOptional`, guidance for the runner.
    async fn continue_on_failure(&self) -> bool {
        self.0.continue_on_failure
    }
    /// When the step was created.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
    /// When the step last changed.
    async fn updated_at(&self) -> Option<Timestamp> {
        self.0.updated_at
    }
    /// The case the step belongs to.
    async fn test_case(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestCase>> {
        Ok(loaders::case(ctx, self.0.test_case_id).await?.map(TestCase))
    }
}

#[derive(Clone)]
pub struct TestSuite(pub test_suite::Model);

/// A test suite: an ordered group of test cases that run together. Starting a run of a suite
/// creates one execution per ACTIVE case, in the suite's order. A case can be in many suites.
#[Object]
impl TestSuite {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// The project it belongs to; null when the caller does not see the project (the author
    /// of a record in a project they are not a member of).
    async fn project(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::types::Project>> {
        Ok(crate::projects::loaders::project(ctx, self.0.project_id)
            .await?
            .map(crate::projects::types::Project))
    }
    /// Name (1 to 255 characters).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the suite covers.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Free-form labels.
    async fn tags(&self) -> Vec<String> {
        tags_of(&self.0.tags)
    }
    /// Settings of the suite (a JSON object; `{}` when it has none).
    async fn configuration(&self) -> Json {
        object_or_empty(&self.0.configuration)
    }
    /// Whether the suite is in use (a label for the team: an inactive suite can still be
    /// run).
    async fn is_active(&self) -> bool {
        self.0.is_active
    }
    /// User id of the creator.
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    /// When the suite was created.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
    /// When the suite last changed.
    async fn updated_at(&self) -> Option<Timestamp> {
        self.0.updated_at
    }
    /// Aggregates of the suite's runs, optionally over the last `days`.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs created in the last this many days.")] days: Option<i32>,
    ) -> async_graphql::Result<crate::analytics::types::SuiteStats> {
        crate::analytics::loaders::suite_stats(ctx, self.0.id, days).await
    }
    /// The suite's changes (membership included), newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> async_graphql::Result<crate::audit::AuditEntryConnection> {
        crate::audit::history(
            ctx,
            crate::audit::AuditedType::TestSuite,
            self.0.id,
            first,
            after,
        )
        .await
    }
    /// The suite's test cases, in the suite's order.
    async fn test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> async_graphql::Result<SuiteTestCaseConnection> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let (fetched, total) = loaders::suite_cases_page(ctx, self.0.id, args).await?;
        Ok(crate::connection::connection(
            fetched,
            crate::sql::Total::Known(total),
            |(position, case)| (TestCase(case), SuitePosition { position }),
        ))
    }
}

#[derive(Clone)]
pub struct Configuration(pub configuration::Model);

/// A reusable configuration: named settings of one kind (a browser, an environment, an
/// integration, ...). Test cases name one as their default, and runs and executions record the
/// one they ran with, so that statistics can be sliced by it.
#[Object]
impl Configuration {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// The project it belongs to; null when the caller does not see the project (the author
    /// of a record in a project they are not a member of).
    async fn project(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::types::Project>> {
        Ok(crate::projects::loaders::project(ctx, self.0.project_id)
            .await?
            .map(crate::projects::types::Project))
    }
    /// Name (1 to 255 characters), unique among the project's active configurations of the
    /// same kind.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the configuration is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// What the configuration configures.
    async fn config_type(&self) -> ConfigType {
        self.0.config_type.into()
    }
    /// The settings (a JSON object).
    async fn configuration_data(&self) -> Json {
        async_graphql::Json(self.0.configuration_data.clone())
    }
    /// Whether the configuration is in use (an inactive one frees its name for a new one).
    async fn is_active(&self) -> bool {
        self.0.is_active
    }
    /// User id of the creator.
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    /// When the configuration was created.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
    /// When the configuration last changed.
    async fn updated_at(&self) -> Option<Timestamp> {
        self.0.updated_at
    }
    /// The configuration's changes, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> async_graphql::Result<crate::audit::AuditEntryConnection> {
        crate::audit::history(
            ctx,
            crate::audit::AuditedType::Configuration,
            self.0.id,
            first,
            after,
        )
        .await
    }
}

// ---------------------------------------------------------------- connections

/// What a search found in a listed case (null without `filter.search`). Snippets are HTML:
/// the case's text escaped (`&lt;` for `<`, ...), matches of the full text in `<mark>`.
#[derive(SimpleObject, Clone)]
pub struct SearchMatch {
    /// With a search: the matching parts of name and description together, as HTML.
    #[graphql(deprecation = "Use nameSnippet and descriptionSnippet, which keep the two apart.")]
    pub snippet: Option<String>,
    /// With a search: the whole name, as HTML, its matches in `<mark>` (none when only its
    /// spelling is like the search's).
    pub name_snippet: Option<String>,
    /// With a search: the best-matching parts of the description (its beginning when only the
    /// name matches), as HTML, matches in `<mark>`; null without a description.
    pub description_snippet: Option<String>,
    /// With a search: its relevance, higher first: 0 or more for a match of the full text
    /// (its `ts_rank`), below 0 for a case found only by the spelling of its name.
    pub rank: Option<f64>,
}

/// A page of test cases, with what a search found in each.
pub type TestCaseConnection = Connection<TestCase, SearchMatch>;

/// Where a case stands in a suite.
#[derive(SimpleObject, Clone)]
pub struct SuitePosition {
    /// Position within the suite, from 1.
    pub position: i32,
}

crate::connection_names!(
    SuiteCasesNames,
    "SuiteTestCaseConnection",
    "SuiteTestCaseEdge"
);

/// A page of a suite's test cases, in the suite's order.
pub type SuiteTestCaseConnection = Connection<TestCase, SuitePosition, SuiteCasesNames>;

/// A page of test suites.
pub type TestSuiteConnection = Connection<TestSuite>;

/// A page of configurations.
pub type ConfigurationConnection = Connection<Configuration>;
