//! `test_runs`: one run of a suite (or of an ad-hoc set of cases).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::RunStatus;

/// A test run: a batch of executions with counters, optionally of a suite and with a
/// configuration (errata 9 and 10). History outlives a deleted suite or configuration.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub test_suite_id: Option<Uuid>,
    pub configuration_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    pub status: RunStatus,
    pub started_at: Option<DateTimeWithTimeZone>,
    pub completed_at: Option<DateTimeWithTimeZone>,
    pub total_tests: i32,
    pub passed_tests: i32,
    pub failed_tests: i32,
    pub skipped_tests: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub run_configuration: Option<Json>,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub triggered_by: Option<String>,
    /// A pinned run is never archived.
    pub pinned: bool,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
    /// The project the row belongs to (`projects`).
    pub project_id: Uuid,
    /// A run without a suite: executions are created as results arrive, and the run ends
    /// when it is finished (or aborted).
    pub ad_hoc: bool,
    /// The client's key for the run (a CI build id), unique per project.
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub run_key: Option<String>,
    /// The last write into the run; a run idle for too long is aborted.
    pub last_activity_at: DateTimeWithTimeZone,
    /// The commit the run tested (a VCS revision, 1 to 64 of `[0-9A-Za-z._-]`).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub commit_sha: Option<String>,
    /// The branch the run tested.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub branch: Option<String>,
    /// Where the CI build that made the run is (http or https).
    #[sea_orm(column_type = "String(StringLen::N(2000))")]
    pub build_url: Option<String>,
    /// The environment the run tested (staging, production, ...).
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub environment: Option<String>,
    /// Most of the run's tests failed: an outage, left out of flaky classification.
    pub infrastructure_failure: bool,
    /// Failures of quarantined cases: counted in `failed_tests`, not in the run's outcome.
    pub quarantined_failed_tests: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_suite::Entity",
        from = "Column::TestSuiteId",
        to = "super::test_suite::Column::Id",
        on_delete = "SetNull"
    )]
    TestSuite,
    #[sea_orm(
        belongs_to = "super::configuration::Entity",
        from = "Column::ConfigurationId",
        to = "super::configuration::Column::Id",
        on_delete = "SetNull"
    )]
    Configuration,
    #[sea_orm(has_many = "super::test_execution::Entity")]
    TestExecution,
}

impl Related<super::test_suite::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestSuite.def()
    }
}

impl Related<super::configuration::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Configuration.def()
    }
}

impl Related<super::test_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestExecution.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
