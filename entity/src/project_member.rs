//! `project_members`: a user's role in a project.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One user's membership of one project.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "project_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(100))"
    )]
    pub user_id: String,
    /// `viewer`, `member` or `maintainer` (`ck_project_members_role`).
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub role: String,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub added_by: Option<String>,
    pub added_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
