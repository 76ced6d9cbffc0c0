//! `projects`: what a team shares. Test cases, suites, configurations and runs belong to one.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A project: its cases, suites, configurations and runs are shared by its members.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique short name (`web-shop`), used in URLs, tokens and the CLI.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub key: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    /// An archived project is read-only.
    pub archived: bool,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub created_by: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    /// A finished run with more than this share of failed outcomes (and enough of them) is an
    /// infrastructure failure, left out of flaky classification (0.05 to 1).
    pub infra_failure_share: f64,
    /// Cases that become FLAKY are quarantined automatically.
    pub auto_quarantine_flaky: bool,
    /// Fewest results a case's flip rate is judged on (2 to 20).
    pub flaky_min_sample: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::project_member::Entity")]
    ProjectMember,
}

impl Related<super::project_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectMember.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
