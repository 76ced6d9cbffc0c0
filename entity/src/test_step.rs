//! `test_steps`: the ordered steps of a test case.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::StepType;

/// One step of a test case, at position `order_index` (unique within its case, from 1).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub test_case_id: Uuid,
    pub order_index: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub step_type: StepType,
    #[sea_orm(column_type = "String(StringLen::N(500))")]
    pub selector: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub input_data: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub expected_result: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub configuration: Option<Json>,
    pub timeout_seconds: Option<i32>,
    pub is_optional: bool,
    pub continue_on_failure: bool,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
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
    #[sea_orm(has_many = "super::test_step_execution::Entity")]
    TestStepExecution,
}

impl Related<super::test_case::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCase.def()
    }
}

impl Related<super::test_step_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestStepExecution.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
