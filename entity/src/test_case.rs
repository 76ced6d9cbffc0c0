//! `test_cases`: the test catalogue.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Priority, TestCaseStatus};

/// A test case definition: the central row of the catalogue, owning ordered steps and
/// belonging to any number of suites.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub status: TestCaseStatus,
    pub priority: Priority,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Option<Json>,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub author: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub category: Option<String>,
    pub expected_duration_seconds: Option<i32>,
    pub is_automated: bool,
    pub retry_count: i32,
    pub configuration_id: Option<Uuid>,
    pub created_at: Option<DateTimeWithTimeZone>,
    pub updated_at: Option<DateTimeWithTimeZone>,
    /// The project the row belongs to (`projects`).
    pub project_id: Uuid,
    /// The test framework's stable name for the case (`classname::name`), unique per project.
    #[sea_orm(column_type = "String(StringLen::N(1000))")]
    pub identity_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::configuration::Entity",
        from = "Column::ConfigurationId",
        to = "super::configuration::Column::Id",
        on_delete = "SetNull"
    )]
    Configuration,
    #[sea_orm(has_many = "super::test_step::Entity")]
    TestStep,
    #[sea_orm(has_many = "super::test_execution::Entity")]
    TestExecution,
    #[sea_orm(has_many = "super::test_suite_test_case::Entity")]
    TestSuiteTestCase,
}

impl Related<super::configuration::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Configuration.def()
    }
}

impl Related<super::test_step::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestStep.def()
    }
}

impl Related<super::test_execution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestExecution.def()
    }
}

impl Related<super::test_suite_test_case::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestSuiteTestCase.def()
    }
}

/// The suites a case belongs to, through `test_suite_test_cases`.
impl Related<super::test_suite::Entity> for Entity {
    fn to() -> RelationDef {
        super::test_suite_test_case::Relation::TestSuite.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::test_suite_test_case::Relation::TestCase.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
