//! GraphQL objects of the audit trail.

use async_graphql::{InputObject, SimpleObject};
use uuid::Uuid;

use crate::connection::Connection;
use crate::scalars::{Json, Timestamp};

/// One change of one record.
#[derive(SimpleObject, Clone)]
pub struct AuditEntry {
    /// Unique id.
    pub id: Uuid,
    /// Table of the record.
    pub table_name: String,
    /// The record (for suite membership: the suite).
    pub record_id: Uuid,
    /// INSERT, UPDATE, DELETE, ARCHIVE, RESTORE or PURGE.
    pub operation: String,
    /// The record before the change.
    pub old_values: Option<Json>,
    /// The record after the change.
    pub new_values: Option<Json>,
    /// Columns whose value changed (for an update; all columns for an insert or delete).
    pub changed_fields: Vec<String>,
    /// Who made the change.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Timestamp,
}

/// Which audit entries to list.
#[derive(InputObject, Default, Clone)]
pub struct AuditLogFilter {
    /// Entries of this table.
    pub table_name: Option<String>,
    /// Entries of this record.
    pub record_id: Option<Uuid>,
    /// Entries by this user.
    pub changed_by: Option<String>,
    /// Entries of this operation (INSERT, UPDATE, DELETE, ARCHIVE, RESTORE, PURGE).
    pub operation: Option<String>,
    /// At or after this time.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub to: Option<Timestamp>,
    /// Entries about the rows of this project (its key): its cases, steps, suites,
    /// configurations, runs and their results, members and the project itself.
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

/// A page of audit entries, newest first.
pub type AuditEntryConnection = Connection<AuditEntry>;

crate::project_filtered!(AuditLogFilter);
