//! `test_case_quarantines`: a case whose failures are recorded and shown but do not fail runs,
//! with who is responsible, why, until when, and its release.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A quarantine of a test case. Active while `released_at` is null and `expires_at` (if any)
/// is in the future; at most one unreleased per case.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "test_case_quarantines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub test_case_id: Uuid,
    /// The case's project.
    pub project_id: Uuid,
    /// Who is responsible for the case while it is quarantined.
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub owner: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(1000))")]
    pub reason: String,
    pub expires_at: Option<DateTimeWithTimeZone>,
    /// Set by the classification (the project's opt-in rule), not by a person.
    pub automatic: bool,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub created_by: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub released_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub released_by: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(1000))")]
    pub release_reason: Option<String>,
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
}

impl Related<super::test_case::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCase.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
