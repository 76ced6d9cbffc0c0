//! `test_artifacts`: files produced by executions and step executions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::ArtifactType;

/// A file (screenshot, video, log, ...) produced by an execution or a step execution; at
/// least one of the two owners is set (`ck_test_artifacts_owner`, errata 9).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_artifacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub test_execution_id: Option<Uuid>,
    pub test_step_execution_id: Option<Uuid>,
    pub artifact_type: ArtifactType,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub file_name: String,
    #[sea_orm(column_type = "String(StringLen::N(1000))")]
    pub file_path: String,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub mime_type: Option<String>,
    pub file_size: Option<i64>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Option<Json>,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
    /// SHA-256 (lowercase hex) of the artifact's bytes on the artifact store, once uploaded.
    #[sea_orm(column_type = "Char(Some(64))")]
    pub blob_sha256: Option<String>,
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
        belongs_to = "super::test_step_execution::Entity",
        from = "Column::TestStepExecutionId",
        to = "super::test_step_execution::Column::Id",
        on_delete = "Cascade"
    )]
    TestStepExecution,
}

impl Related<super::test_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestExecution.def()
    }
}

impl Related<super::test_step_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestStepExecution.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
