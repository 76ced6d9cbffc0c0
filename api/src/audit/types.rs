//! GraphQL objects of the audit trail, and the one mapping between the audit log's names (the
//! database's tables, columns and operations, which SQL users read as they are) and the API's
//! (its types, fields and an operation enum).

use async_graphql::{Enum, InputObject, SimpleObject};
use serde_json::Value as JsonValue;
use uuid::Uuid;

use crate::connection::Connection;
use crate::scalars::{Json, Timestamp};

/// What kind of record an audit entry is about, named after the record's GraphQL type.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditedType {
    /// A `Project` (created, renamed, archived or restored).
    Project,
    /// A user's membership of a project (a `ProjectMember`); `recordId` is the project.
    ProjectMember,
    /// A `TestCase`.
    TestCase,
    /// A `TestStep` of a test case.
    TestStep,
    /// A `TestSuite`.
    TestSuite,
    /// A test case's place in a suite (a `SuiteTestCaseEdge` of `TestSuite.testCases`): added,
    /// moved or removed. `recordId` is the suite; the case is the entry's `testCaseId`.
    SuiteTestCase,
    /// A `Configuration`.
    Configuration,
    /// A `TestRun`.
    TestRun,
    /// A `TestExecution`; also the entries of an archival or a restore of executions.
    TestExecution,
    /// A `TestStepExecution`: the result of a step in an execution.
    TestStepExecution,
    /// A `TestArtifact`.
    TestArtifact,
    /// A `TestCaseQuarantine`: a case quarantined (created), released or expired (updated).
    TestCaseQuarantine,
    /// A `Webhook` (its secret never recorded: `secretHint` shows a change of it).
    Webhook,
}

/// What happened to the record of an audit entry.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOperation {
    /// The record was created; `newValues` holds it.
    Create,
    /// The record was changed; `changedFields` says which fields, `oldValues` and `newValues`
    /// hold it before and after.
    Update,
    /// The record was deleted; `oldValues` holds it as it was.
    Delete,
    /// Executions were moved to the archive with their step results and artifacts
    /// (`archiveExecutions`): one entry per archival, its counts in `newValues`.
    Archive,
    /// Archived executions were moved back (`restoreArchivedExecutions`): one entry per
    /// restore, its counts in `newValues`.
    Restore,
    /// Old runs were deleted for good with their executions, artifacts and unused files (the
    /// server's `purge` command): one entry per purge, its counts in `newValues`.
    Purge,
}

/// How the audit log stores each operation.
const OPERATIONS: &[(AuditOperation, &str)] = &[
    (AuditOperation::Create, "INSERT"),
    (AuditOperation::Update, "UPDATE"),
    (AuditOperation::Delete, "DELETE"),
    (AuditOperation::Archive, "ARCHIVE"),
    (AuditOperation::Restore, "RESTORE"),
    (AuditOperation::Purge, "PURGE"),
];

/// An audited table: the GraphQL type of its rows, and those of its columns whose GraphQL
/// field is not named as the camelCase of the column.
struct Audited {
    table: &'static str,
    ty: AuditedType,
    renamed: &'static [(&'static str, &'static str)],
}

/// A row's project, which the API shows as the `project` it belongs to.
const PROJECT: (&str, &str) = ("project_id", "project");

/// Every table whose changes the audit log records (those with an `audit_trigger`, the
/// archival's entries included), with the names the API gives them.
const AUDITED: &[Audited] = &[
    Audited {
        table: "projects",
        ty: AuditedType::Project,
        renamed: &[],
    },
    Audited {
        table: "project_members",
        ty: AuditedType::ProjectMember,
        renamed: &[PROJECT],
    },
    Audited {
        table: "test_cases",
        ty: AuditedType::TestCase,
        renamed: &[PROJECT],
    },
    Audited {
        table: "test_steps",
        ty: AuditedType::TestStep,
        renamed: &[],
    },
    Audited {
        table: "test_suites",
        ty: AuditedType::TestSuite,
        renamed: &[PROJECT],
    },
    Audited {
        table: "test_suite_test_cases",
        ty: AuditedType::SuiteTestCase,
        renamed: &[("order_index", "position")],
    },
    Audited {
        table: "configurations",
        ty: AuditedType::Configuration,
        renamed: &[PROJECT],
    },
    Audited {
        table: "test_runs",
        ty: AuditedType::TestRun,
        renamed: &[PROJECT],
    },
    Audited {
        table: "test_executions",
        ty: AuditedType::TestExecution,
        renamed: &[],
    },
    Audited {
        table: "test_step_executions",
        ty: AuditedType::TestStepExecution,
        renamed: &[],
    },
    Audited {
        table: "test_artifacts",
        ty: AuditedType::TestArtifact,
        renamed: &[("blob_sha256", "sha256")],
    },
    Audited {
        table: "test_case_quarantines",
        ty: AuditedType::TestCaseQuarantine,
        renamed: &[PROJECT],
    },
    Audited {
        table: "webhooks",
        ty: AuditedType::Webhook,
        renamed: &[PROJECT],
    },
];

fn audited(ty: AuditedType) -> &'static Audited {
    AUDITED.iter().find(|a| a.ty == ty).unwrap_or(&AUDITED[0])
}

/// `snake_case` as `camelCase`.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl AuditedType {
    /// The table whose rows are of this type.
    pub fn table(self) -> &'static str {
        audited(self).table
    }

    /// The type of the rows of `table`, if it is audited.
    pub fn of_table(table: &str) -> Option<Self> {
        AUDITED.iter().find(|a| a.table == table).map(|a| a.ty)
    }

    /// Every audited table.
    pub fn tables() -> impl Iterator<Item = &'static str> {
        AUDITED.iter().map(|a| a.table)
    }

    /// The GraphQL field of this type that shows `column`.
    pub fn field(self, column: &str) -> String {
        audited(self)
            .renamed
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, field)| (*field).to_owned())
            .unwrap_or_else(|| camel_case(column))
    }

    /// A stored row (a JSON object keyed by column) keyed by GraphQL field instead.
    pub fn fields_of(self, row: JsonValue) -> JsonValue {
        match row {
            JsonValue::Object(columns) => JsonValue::Object(
                columns
                    .into_iter()
                    .map(|(column, value)| (self.field(&column), value))
                    .collect(),
            ),
            other => other,
        }
    }
}

impl AuditOperation {
    /// How the audit log stores this operation.
    pub fn stored(self) -> &'static str {
        OPERATIONS
            .iter()
            .find(|(op, _)| *op == self)
            .map_or("", |(_, stored)| stored)
    }

    /// The operation the audit log stores as `stored`, if it is one.
    pub fn of_stored(stored: &str) -> Option<Self> {
        OPERATIONS
            .iter()
            .find(|(_, s)| *s == stored)
            .map(|(op, _)| *op)
    }
}

/// One change of one record.
#[derive(SimpleObject, Clone)]
pub struct AuditEntry {
    /// Unique id.
    pub id: Uuid,
    /// What kind of record changed.
    pub record_type: AuditedType,
    /// The record's id. For a SUITE_TEST_CASE entry it is the suite's, for a PROJECT_MEMBER
    /// entry the project's; for an ARCHIVE, RESTORE or PURGE entry, an id of the operation
    /// itself.
    pub record_id: Uuid,
    /// What happened to the record.
    pub operation: AuditOperation,
    /// The record before the change (a JSON object keyed by the fields of its `recordType`,
    /// values as stored); null for a creation.
    pub old_values: Option<Json>,
    /// The record after the change (a JSON object keyed as `oldValues`); null for a deletion.
    /// For an ARCHIVE, RESTORE or PURGE entry: the counts of what it moved or deleted.
    pub new_values: Option<Json>,
    /// The fields whose value changed, named as in `oldValues` and `newValues`, in
    /// alphabetical order: for an update those that differ (`updatedAt` left out), for
    /// anything else every field the entry holds.
    pub changed_fields: Vec<String>,
    /// User id of whoever made the change (`cli` for the server's commands); null for a
    /// change made by nobody the service knows (SQL run outside it, a migration).
    pub changed_by: Option<String>,
    /// When the change was made.
    pub changed_at: Timestamp,
}

/// Which audit entries to list. All given conditions must hold.
#[derive(InputObject, Default, Clone)]
pub struct AuditLogFilter {
    /// Entries about records of this kind.
    pub record_type: Option<AuditedType>,
    /// Entries of this record.
    pub record_id: Option<Uuid>,
    /// Entries by this user.
    pub changed_by: Option<String>,
    /// Entries of this operation.
    pub operation: Option<AuditOperation>,
    /// At or after this time.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub to: Option<Timestamp>,
    /// Entries about the records of this project (its key): its cases, steps, suites,
    /// configurations, runs and their results, members and the project itself.
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

/// A page of audit entries, newest first.
pub type AuditEntryConnection = Connection<AuditEntry>;

crate::project_filtered!(AuditLogFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_and_operation_maps_both_ways() {
        use async_graphql::resolver_utils::EnumType;
        for item in AuditedType::items() {
            let table = item.value.table();
            assert_eq!(
                AuditedType::of_table(table),
                Some(item.value),
                "{}",
                item.name
            );
        }
        assert_eq!(AuditedType::tables().count(), AuditedType::items().len());
        for item in AuditOperation::items() {
            let stored = item.value.stored();
            assert_eq!(
                AuditOperation::of_stored(stored),
                Some(item.value),
                "{}",
                item.name
            );
        }
        assert_eq!(OPERATIONS.len(), AuditOperation::items().len());
        assert_eq!(AuditedType::of_table("api_tokens"), None);
        assert_eq!(AuditOperation::of_stored("TRUNCATE"), None);
    }

    #[test]
    fn columns_are_named_as_the_types_fields() {
        assert_eq!(AuditedType::TestStep.field("is_optional"), "isOptional");
        assert_eq!(AuditedType::TestStep.field("test_case_id"), "testCaseId");
        assert_eq!(AuditedType::TestCase.field("project_id"), "project");
        assert_eq!(AuditedType::TestArtifact.field("blob_sha256"), "sha256");
        assert_eq!(AuditedType::SuiteTestCase.field("order_index"), "position");
        assert_eq!(AuditedType::TestRun.field("name"), "name");
        assert_eq!(
            AuditedType::TestExecution.fields_of(json!({ "step_executions": 3, "cutoff": null })),
            json!({ "stepExecutions": 3, "cutoff": null })
        );
    }
}
