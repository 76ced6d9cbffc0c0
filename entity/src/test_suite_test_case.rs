//! `test_suite_test_cases`: the suite <-> case junction.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Membership of a test case in a test suite, with the case's optional position in it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_suite_test_cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub test_suite_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub test_case_id: Uuid,
    pub order_index: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_suite::Entity",
        from = "Column::TestSuiteId",
        to = "super::test_suite::Column::Id",
        on_delete = "Cascade"
    )]
    TestSuite,
    #[sea_orm(
        belongs_to = "super::test_case::Entity",
        from = "Column::TestCaseId",
        to = "super::test_case::Column::Id",
        on_delete = "Cascade"
    )]
    TestCase,
}

impl Related<super::test_suite::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestSuite.def()
    }
}

impl Related<super::test_case::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCase.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
