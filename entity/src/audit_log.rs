//! `audit_log`: the append-only change history written by triggers.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One audited change to a row of another table, written by the `audit_trigger` triggers
/// (and by maintenance tasks). `operation` stays a plain string: besides `INSERT`, `UPDATE`
/// and `DELETE`, maintenance writes values such as `ARCHIVE` and `ANALYZE`, and no CHECK
/// limits the set.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub table_name: String,
    pub record_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(10))")]
    pub operation: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub old_values: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub new_values: Option<Json>,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub changed_by: Option<String>,
    pub changed_at: Option<DateTimeWithTimeZone>,
}

/// Audit rows point at other tables by name and id, not by foreign key.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
