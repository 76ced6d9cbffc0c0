//! GraphQL inputs of the catalogue: filters, orderings, and what creates and changes cases,
//! steps, suites and configurations. (Services read these; they need none of the objects.)

use async_graphql::{InputObject, MaybeUndefined};
use uuid::Uuid;

use super::enums::{ConfigType, OrderDirection, Priority, StepType, TestCaseStatus};
use crate::scalars::{Json, Timestamp};

// ---------------------------------------------------------------- filters and orders

/// Which test cases to list. All given conditions must hold.
#[derive(InputObject, Default, Clone)]
pub struct TestCaseFilter {
    /// Status is any of these.
    pub status: Option<Vec<TestCaseStatus>>,
    /// Priority is any of these.
    pub priority: Option<Vec<Priority>>,
    /// Category equals this.
    pub category: Option<String>,
    /// Author equals this.
    pub author: Option<String>,
    /// Automation flag equals this.
    pub is_automated: Option<bool>,
    /// Has all of these tags.
    pub tags_all: Option<Vec<String>>,
    /// Has at least one of these tags.
    pub tags_any: Option<Vec<String>>,
    /// Metadata contains this JSON object (`@>`).
    pub metadata_contains: Option<Json>,
    /// Created at or after this time.
    pub created_after: Option<Timestamp>,
    /// Created before this time.
    pub created_before: Option<Timestamp>,
    /// Search over name and description as it is typed (at most 500 characters), web-search
    /// syntax: `"exact phrase"`, `a OR b`, `-excluded`; every other word matches as the start
    /// of a word (`check` finds "Checkout"), and one of 4 letters or more that few cases
    /// contain also as a word of the name spelled alike (`chekout` finds "Checkout"). Results
    /// are ranked by relevance unless `orderBy` says otherwise, cases found by spelling alone
    /// last.
    pub search: Option<String>,
    /// In this project (its key).
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

/// Fields test cases can be ordered by.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TestCaseOrderField {
    /// Creation time.
    CreatedAt,
    /// Last change time.
    UpdatedAt,
    /// Name.
    Name,
    /// Priority in severity order (critical is the highest).
    Priority,
    /// Search relevance (only with `filter.search`).
    Relevance,
}

/// Ordering of test cases; the id breaks ties.
#[derive(InputObject, Clone, Copy)]
pub struct TestCaseOrder {
    /// What to order by.
    pub field: TestCaseOrderField,
    /// Which way (default descending).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Which suites to list. All given conditions must hold.
#[derive(InputObject, Default, Clone)]
pub struct TestSuiteFilter {
    /// Active flag equals this.
    pub is_active: Option<bool>,
    /// Creator equals this.
    pub created_by: Option<String>,
    /// Name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// Contains this test case.
    pub contains_test_case: Option<Uuid>,
    /// In this project (its key).
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

/// Fields suites and configurations can be ordered by.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum CatalogOrderField {
    /// Creation time.
    CreatedAt,
    /// Last change time.
    UpdatedAt,
    /// Name.
    Name,
}

/// Ordering of suites or configurations; the id breaks ties.
#[derive(InputObject, Clone, Copy)]
pub struct CatalogOrder {
    /// What to order by.
    pub field: CatalogOrderField,
    /// Which way (default descending).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Which configurations to list. All given conditions must hold.
#[derive(InputObject, Default, Clone)]
pub struct ConfigurationFilter {
    /// Type is any of these.
    pub config_type: Option<Vec<ConfigType>>,
    /// Active flag equals this.
    pub is_active: Option<bool>,
    /// Name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// In this project (its key).
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

// ---------------------------------------------------------------- inputs

/// A new test case, with its steps.
#[derive(InputObject, Clone)]
pub struct CreateTestCaseInput {
    /// Name (1 to 255 characters), unique within the category and project among cases not
    /// archived (in the default project: among the author's).
    pub name: String,
    /// What the case verifies.
    pub description: Option<String>,
    /// Status (default DRAFT).
    pub status: Option<TestCaseStatus>,
    /// Priority (default MEDIUM).
    pub priority: Option<Priority>,
    /// Labels.
    pub tags: Option<Vec<String>>,
    /// Attributes (a JSON object).
    pub metadata: Option<Json>,
    /// Author's user id (at most 100 characters; defaults to the caller).
    pub author: Option<String>,
    /// Category (at most 100 characters).
    pub category: Option<String>,
    /// Expected duration in seconds (greater than 0).
    pub expected_duration_seconds: Option<i32>,
    /// Whether the case runs automatically (default true).
    pub is_automated: Option<bool>,
    /// Retries allowed after a failure, 0 to 10 (default 0).
    pub retry_count: Option<i32>,
    /// Default configuration.
    pub configuration_id: Option<Uuid>,
    /// Steps, in order.
    pub steps: Option<Vec<TestStepInput>>,
    /// The project it belongs to (its key; default: the token's project, or `default`).
    pub project_key: Option<String>,
    /// The test framework's stable name for the case (such as `classname::name`, 1 to 1000
    /// characters), unique per project: results reported or imported by this key land on
    /// the case.
    pub identity_key: Option<String>,
}

/// Changes to a test case: absent fields stay as they are, `null` clears a nullable field.
#[derive(InputObject, Clone, Default)]
pub struct UpdateTestCaseInput {
    /// New name.
    pub name: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New status (activate, archive, deprecate).
    pub status: MaybeUndefined<TestCaseStatus>,
    /// New priority.
    pub priority: MaybeUndefined<Priority>,
    /// New labels (replace the old ones).
    pub tags: MaybeUndefined<Vec<String>>,
    /// New attributes (replace the old ones).
    pub metadata: MaybeUndefined<Json>,
    /// New author.
    pub author: MaybeUndefined<String>,
    /// New category.
    pub category: MaybeUndefined<String>,
    /// New expected duration.
    pub expected_duration_seconds: MaybeUndefined<i32>,
    /// New automation flag.
    pub is_automated: MaybeUndefined<bool>,
    /// New retry count.
    pub retry_count: MaybeUndefined<i32>,
    /// New default configuration.
    pub configuration_id: MaybeUndefined<Uuid>,
    /// New identity key (`null` removes it; the old key is kept as an alias only when given
    /// to `addTestCaseAlias`).
    pub identity_key: MaybeUndefined<String>,
}

/// A step to add.
#[derive(InputObject, Clone)]
pub struct TestStepInput {
    /// Name (1 to 255 characters).
    pub name: String,
    /// What the step does.
    pub description: Option<String>,
    /// Kind of action.
    pub step_type: StepType,
    /// Element selector (at most 500 characters).
    pub selector: Option<String>,
    /// Input data.
    pub input_data: Option<String>,
    /// Expected result.
    pub expected_result: Option<String>,
    /// Settings (a JSON object).
    pub configuration: Option<Json>,
    /// Timeout in seconds (greater than 0; default 30).
    pub timeout_seconds: Option<i32>,
    /// Whether the step is optional: when it fails, the case need not fail (default false).
    /// Guidance for the test runner: an execution's outcome is the one reported for it.
    pub is_optional: Option<bool>,
    /// Whether the runner goes on with the case's next steps after this step fails (default
    /// false).
    pub continue_on_failure: Option<bool>,
}

/// Changes to a step: absent fields stay, `null` clears a nullable field. Use
/// `reorderTestSteps` to move it.
#[derive(InputObject, Clone, Default)]
pub struct UpdateTestStepInput {
    /// New name.
    pub name: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New kind of action.
    pub step_type: MaybeUndefined<StepType>,
    /// New selector.
    pub selector: MaybeUndefined<String>,
    /// New input data.
    pub input_data: MaybeUndefined<String>,
    /// New expected result.
    pub expected_result: MaybeUndefined<String>,
    /// New settings.
    pub configuration: MaybeUndefined<Json>,
    /// New timeout.
    pub timeout_seconds: MaybeUndefined<i32>,
    /// Whether the step is optional from now on (see `TestStep.isOptional`).
    pub is_optional: MaybeUndefined<bool>,
    /// Whether the runner goes on after the step fails from now on (see
    /// `TestStep.continueOnFailure`).
    pub continue_on_failure: MaybeUndefined<bool>,
}

/// A new test suite.
#[derive(InputObject, Clone)]
pub struct CreateTestSuiteInput {
    /// Name (1 to 255 characters).
    pub name: String,
    /// What the suite covers.
    pub description: Option<String>,
    /// Labels.
    pub tags: Option<Vec<String>>,
    /// Settings (a JSON object).
    pub configuration: Option<Json>,
    /// Whether the suite is in use (default true).
    pub is_active: Option<bool>,
    /// Creator's user id (defaults to the caller).
    pub created_by: Option<String>,
    /// Test cases, in order (of the suite's project).
    pub test_case_ids: Option<Vec<Uuid>>,
    /// The project it belongs to (its key; default: the token's project, or `default`).
    pub project_key: Option<String>,
}

/// Changes to a suite: absent fields stay, `null` clears a nullable field.
#[derive(InputObject, Clone, Default)]
pub struct UpdateTestSuiteInput {
    /// New name.
    pub name: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New labels.
    pub tags: MaybeUndefined<Vec<String>>,
    /// New settings.
    pub configuration: MaybeUndefined<Json>,
    /// New active flag.
    pub is_active: MaybeUndefined<bool>,
}

/// A new configuration.
#[derive(InputObject, Clone)]
pub struct CreateConfigurationInput {
    /// Name (1 to 255 characters); unique among the project's active configurations of the
    /// type.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Kind.
    pub config_type: ConfigType,
    /// The settings (a JSON object; default empty).
    pub configuration_data: Option<Json>,
    /// Whether it is in use (default true).
    pub is_active: Option<bool>,
    /// Creator's user id (defaults to the caller).
    pub created_by: Option<String>,
    /// The project it belongs to (its key; default: the token's project, or `default`).
    pub project_key: Option<String>,
}

/// Changes to a configuration: absent fields stay, `null` clears a nullable field.
#[derive(InputObject, Clone, Default)]
pub struct UpdateConfigurationInput {
    /// New name.
    pub name: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New kind.
    pub config_type: MaybeUndefined<ConfigType>,
    /// New settings.
    pub configuration_data: MaybeUndefined<Json>,
    /// New active flag.
    pub is_active: MaybeUndefined<bool>,
}

crate::project_filtered!(TestCaseFilter, TestSuiteFilter, ConfigurationFilter);
