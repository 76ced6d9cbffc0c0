//! `test_executions`: one attempt at running a test case.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::ExecutionStatus;

/// One execution attempt of a test case, optionally within a run and with a configuration.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_executions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub test_case_id: Uuid,
    pub test_run_id: Option<Uuid>,
    pub configuration_id: Option<Uuid>,
    pub status: ExecutionStatus,
    pub started_at: Option<DateTimeWithTimeZone>,
    pub completed_at: Option<DateTimeWithTimeZone>,
    pub duration_seconds: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub error_message: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub execution_metadata: Option<Json>,
    pub retry_attempt: i32,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
    /// The duration in milliseconds (the seconds are this, rounded).
    pub duration_ms: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_case::Entity",
        from = "Column::TestCaseId",
        to = "super::test_case::Column::Id",
        on_delete = "Cascade"
    )]
    TestCase,
    #[sea_orm(
        belongs_to = "super::test_run::Entity",
        from = "Column::TestRunId",
        to = "super::test_run::Column::Id",
        on_delete = "SetNull"
    )]
    TestRun,
    #[sea_orm(
        belongs_to = "super::configuration::Entity",
        from = "Column::ConfigurationId",
        to = "super::configuration::Column::Id",
        on_delete = "SetNull"
    )]
    Configuration,
    #[sea_orm(has_many = "super::test_step_execution::Entity")]
    TestStepExecution,
    #[sea_orm(has_many = "super::test_artifact::Entity")]
    TestArtifact,
}

impl Related<super::test_case::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCase.def()
    }
}

impl Related<super::test_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestRun.def()
    }
}

impl Related<super::configuration::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Configuration.def()
    }
}

impl Related<super::test_step_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestStepExecution.def()
    }
}

impl Related<super::test_artifact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestArtifact.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
