//! `test_suites`: named groupings of test cases.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A named, ordered grouping of test cases (through `test_suite_test_cases`) that runs
/// execute.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_suites")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub configuration: Option<Json>,
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
    #[sea_orm(has_many = "super::test_run::Entity")]
    TestRun,
    #[sea_orm(has_many = "super::test_suite_test_case::Entity")]
    TestSuiteTestCase,
}

impl Related<super::test_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestRun.def()
    }
}

impl Related<super::test_suite_test_case::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestSuiteTestCase.def()
    }
}

/// The cases of a suite, through `test_suite_test_cases`.
impl Related<super::test_case::Entity> for Entity {
    fn to() -> RelationDef {
        super::test_suite_test_case::Relation::TestCase.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::test_suite_test_case::Relation::TestSuite.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
