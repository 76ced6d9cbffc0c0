//! `configurations`: reusable configuration templates.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::ConfigType;

/// A reusable configuration template (browser, environment, ...) that test cases, runs and
/// executions may reference (errata 10).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "configurations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub config_type: ConfigType,
    #[sea_orm(column_type = "JsonBinary")]
    pub configuration_data: Json,
    pub is_active: bool,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub created_by: Option<String>,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
    /// The project the row belongs to (`projects`).
    pub project_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::test_case::Entity")]
    TestCase,
    #[sea_orm(has_many = "super::test_run::Entity")]
    TestRun,
    #[sea_orm(has_many = "super::test_execution::Entity")]
    TestExecution,
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

impl Related<super::test_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestExecution.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
