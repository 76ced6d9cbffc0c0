//! `test_step_executions`: the outcome of one step within an execution.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::StepExecutionStatus;

/// The record of one test step performed during one test execution.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_step_executions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub test_execution_id: Uuid,
    pub test_step_id: Uuid,
    pub status: StepExecutionStatus,
    pub started_at: Option<DateTimeWithTimeZone>,
    pub completed_at: Option<DateTimeWithTimeZone>,
    pub duration_seconds: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub error_message: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub actual_result: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub step_metadata: Option<Json>,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
    /// The duration in milliseconds (the seconds are this, rounded).
    pub duration_ms: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_execution::Entity",
        from = "Column::TestExecutionId",
        to = "super::test_execution::Column::Id",
        on_delete = "Cascade"
    )]
    TestExecution,
    #[sea_orm(
        belongs_to = "super::test_step::Entity",
        from = "Column::TestStepId",
        to = "super::test_step::Column::Id",
        on_delete = "Cascade"
    )]
    TestStep,
    #[sea_orm(has_many = "super::test_artifact::Entity")]
    TestArtifact,
}

impl Related<super::test_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestExecution.def()
    }
}

impl Related<super::test_step::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestStep.def()
    }
}

impl Related<super::test_artifact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestArtifact.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
