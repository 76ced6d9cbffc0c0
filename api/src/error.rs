//! The one error type of the API. Every error a client sees carries `extensions.code`; internal
//! causes are logged and masked.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql turns any `Display` type
//! into an error without a code, and that must not be possible by accident.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// Result of every resolver and service.
pub type AppResult<T> = Result<T, AppError>;

/// What went wrong, in terms a client can act on.
#[derive(Debug, Clone)]
pub enum AppError {
    /// The input is invalid; `field` names the offending input field (camelCase path).
    BadUserInput { field: String, message: String },
    /// The addressed record does not exist (or is not visible to the caller).
    NotFound { entity: &'static str, id: String },
    /// The change conflicts with the current state (a duplicate, an illegal transition).
    Conflict {
        field: Option<String>,
        message: String,
    },
    /// No valid credentials.
    Unauthenticated { message: String },
    /// Valid credentials without the required role.
    Forbidden { message: String },
    /// The work took longer than its time limit and was stopped.
    Timeout { message: String },
    /// The input is larger than its bound (`limit` bytes).
    TooLarge { message: String, limit: u64 },
    /// A service the request needs (the artifact store) failed; trying again may succeed.
    Unavailable { message: String },
    /// Anything else; the cause is logged, never shown.
    Internal { cause: String },
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal {
            cause: cause.to_string(),
        }
    }

    /// What the client is told (an internal cause is never shown).
    pub fn message(&self) -> String {
        match self {
            Self::BadUserInput { message, .. }
            | Self::Conflict { message, .. }
            | Self::Unauthenticated { message }
            | Self::Forbidden { message }
            | Self::Timeout { message }
            | Self::TooLarge { message, .. }
            | Self::Unavailable { message } => message.clone(),
            Self::NotFound { entity, id } => format!("{entity} {id} not found"),
            Self::Internal { .. } => "internal server error".to_owned(),
        }
    }

    /// The input field the error concerns, if it concerns one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BadUserInput { field, .. } => Some(field),
            Self::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict { .. } => "CONFLICT",
            Self::Unauthenticated { .. } => "UNAUTHENTICATED",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::Timeout { .. } => "TIMEOUT",
            Self::TooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal { .. } => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status of this error when it answers a plain HTTP request (not GraphQL, whose
    /// errors travel in a 200 response).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadUserInput { .. } => 400,
            Self::Unauthenticated { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::TooLarge { .. } => 413,
            Self::Internal { .. } => 500,
            Self::Unavailable { .. } => 503,
            Self::Timeout { .. } => 504,
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal { cause } = &err {
            tracing::error!(%cause, "internal error");
        }
        let code = err.code();
        let field = err.field().map(str::to_owned);
        async_graphql::Error::new(err.message()).extend_with(|_, e| {
            e.set("code", code);
            if let Some(field) = &field {
                e.set("field", field.as_str());
            }
        })
    }
}

/// How a violated constraint is reported: code, input field, message.
struct ConstraintRule {
    constraint: &'static str,
    conflict: bool,
    field: &'static str,
    message: &'static str,
}

const fn bad(
    constraint: &'static str,
    field: &'static str,
    message: &'static str,
) -> ConstraintRule {
    ConstraintRule {
        constraint,
        conflict: false,
        field,
        message,
    }
}

const fn conflict(
    constraint: &'static str,
    field: &'static str,
    message: &'static str,
) -> ConstraintRule {
    ConstraintRule {
        constraint,
        conflict: true,
        field,
        message,
    }
}

/// Every named constraint of the schema, by the name PostgreSQL reports.
const CONSTRAINTS: &[ConstraintRule] = &[
    conflict(
        "uq_test_executions_run_case_attempt",
        "retryAttempt",
        "this attempt of the case is already recorded in the run",
    ),
    conflict(
        "uq_test_step_executions_execution_step",
        "stepId",
        "the step already has a result in this execution",
    ),
    bad(
        "ck_test_cases_status",
        "status",
        "must be one of draft, active, archived, deprecated",
    ),
    bad(
        "ck_test_cases_priority",
        "priority",
        "must be one of critical, high, medium, low",
    ),
    bad(
        "ck_test_cases_retry_count",
        "retryCount",
        "must be between 0 and 10",
    ),
    bad(
        "ck_test_cases_duration_positive",
        "expectedDurationSeconds",
        "must be greater than 0",
    ),
    bad(
        "ck_test_cases_tags_array",
        "tags",
        "must be an array of strings",
    ),
    bad(
        "ck_test_cases_metadata_object",
        "metadata",
        "must be a JSON object",
    ),
    conflict(
        "uq_test_cases_name_category_author",
        "name",
        "a test case with this name already exists in this category",
    ),
    conflict(
        "uq_test_cases_project_name_category",
        "name",
        "a test case with this name already exists in this category",
    ),
    conflict(
        "uq_test_cases_project_identity_key",
        "identityKey",
        "another test case has this identity key",
    ),
    conflict(
        "uq_test_cases_identity_key_author",
        "identityKey",
        "another test case has this identity key",
    ),
    conflict(
        "test_case_aliases_pkey",
        "key",
        "the key is already an alias of a test case",
    ),
    bad(
        "test_case_aliases_project_id_fkey",
        "projectKey",
        "no such project",
    ),
    bad(
        "test_case_aliases_test_case_id_fkey",
        "testCaseId",
        "no such test case",
    ),
    conflict(
        "uq_test_runs_run_key",
        "runKey",
        "another run of yours has this run key",
    ),
    bad(
        "ck_test_executions_duration_positive_ms",
        "durationMs",
        "must be 0 or more",
    ),
    bad(
        "ck_test_step_executions_duration_positive_ms",
        "durationMs",
        "must be 0 or more",
    ),
    bad(
        "test_cases_project_id_fkey",
        "projectKey",
        "no such project",
    ),
    bad(
        "test_suites_project_id_fkey",
        "projectKey",
        "no such project",
    ),
    bad(
        "configurations_project_id_fkey",
        "projectKey",
        "no such project",
    ),
    bad("test_runs_project_id_fkey", "projectKey", "no such project"),
    bad("webhooks_project_id_fkey", "projectKey", "no such project"),
    bad(
        "ck_webhooks_url",
        "url",
        "must be an http(s) URL with a host and no credentials",
    ),
    bad(
        "ck_webhooks_secret_length",
        "secret",
        "must be 16 to 256 characters",
    ),
    bad(
        "ck_webhooks_events",
        "events",
        "must name at least one event, each of the subscribable events",
    ),
    bad("ck_webhooks_format", "format", "must be json or slack"),
    bad(
        "ck_webhooks_description_length",
        "description",
        "must be at most 1000 characters",
    ),
    conflict(
        "uq_projects_key",
        "key",
        "a project with this key already exists",
    ),
    bad(
        "ck_projects_key",
        "key",
        "must be 1 to 64 lowercase letters, digits and dashes, starting and ending with a letter or digit",
    ),
    bad("ck_projects_name_not_blank", "name", "must not be blank"),
    bad(
        "ck_projects_infra_failure_share",
        "input.infraFailureShare",
        "must be between 0.05 and 1",
    ),
    bad(
        "ck_projects_flaky_min_sample",
        "input.flakyMinSample",
        "must be between 2 and 20",
    ),
    conflict(
        "uq_test_case_quarantines_active",
        "id",
        "the test case is already quarantined: release it first",
    ),
    bad(
        "test_case_quarantines_test_case_id_fkey",
        "id",
        "no such test case",
    ),
    bad(
        "test_case_quarantines_project_id_fkey",
        "id",
        "no such project",
    ),
    bad(
        "ck_test_case_quarantines_reason",
        "reason",
        "must be 1 to 1000 characters, not blank",
    ),
    bad(
        "ck_test_case_quarantines_owner",
        "owner",
        "must not be blank",
    ),
    bad(
        "ck_test_case_quarantines_expires_at",
        "expiresAt",
        "must be in the future and at most 180 days away",
    ),
    bad(
        "ck_project_members_role",
        "role",
        "must be one of viewer, member, maintainer",
    ),
    bad(
        "ck_project_members_user_id_not_blank",
        "userId",
        "must not be blank",
    ),
    bad(
        "project_members_project_id_fkey",
        "projectKey",
        "no such project",
    ),
    bad(
        "test_cases_configuration_id_fkey",
        "configurationId",
        "no such configuration",
    ),
    bad(
        "ck_test_steps_order_positive",
        "orderIndex",
        "must be greater than 0",
    ),
    bad(
        "ck_test_steps_timeout_positive",
        "timeoutSeconds",
        "must be greater than 0",
    ),
    bad("ck_test_steps_type", "stepType", "is not a known step type"),
    conflict(
        "test_steps_test_case_id_order_index_key",
        "orderIndex",
        "another step of this test case has this position",
    ),
    bad(
        "test_steps_test_case_id_fkey",
        "testCaseId",
        "no such test case",
    ),
    bad(
        "ck_test_suites_tags_array",
        "tags",
        "must be an array of strings",
    ),
    conflict(
        "test_suite_test_cases_pkey",
        "testCaseIds",
        "the test case is already in the suite",
    ),
    bad(
        "test_suite_test_cases_test_case_id_fkey",
        "testCaseIds",
        "no such test case",
    ),
    bad(
        "test_suite_test_cases_test_suite_id_fkey",
        "suiteId",
        "no such test suite",
    ),
    bad(
        "ck_configurations_type",
        "configType",
        "is not a known configuration type",
    ),
    conflict(
        "uq_configurations_active_name_type",
        "name",
        "an active configuration with this name and type already exists",
    ),
    bad("ck_test_runs_status", "status", "is not a known run status"),
    bad(
        "ck_test_runs_counters_non_negative",
        "counters",
        "must not be negative",
    ),
    bad(
        "ck_test_runs_counters_total",
        "counters",
        "passed + failed + skipped must not exceed total",
    ),
    bad(
        "ck_test_runs_completion_logic",
        "status",
        "a finished run needs a completion time, an open one none",
    ),
    bad(
        "ck_test_runs_commit_sha",
        "commitSha",
        "must be 1 to 64 letters, digits, '.', '_' or '-'",
    ),
    bad("ck_test_runs_branch", "branch", "must not be blank"),
    bad(
        "ck_test_runs_build_url",
        "buildUrl",
        "must be an http or https URL",
    ),
    bad(
        "ck_test_runs_environment",
        "environment",
        "must not be blank",
    ),
    bad(
        "ck_test_runs_quarantined_failed",
        "quarantinedFailedTests",
        "must be 0 to the number of failed tests",
    ),
    bad(
        "test_runs_test_suite_id_fkey",
        "suiteId",
        "no such test suite",
    ),
    bad(
        "test_runs_configuration_id_fkey",
        "configurationId",
        "no such configuration",
    ),
    bad(
        "ck_test_executions_status",
        "status",
        "is not a known execution status",
    ),
    bad(
        "ck_test_executions_retry_attempt",
        "retryAttempt",
        "must not be negative",
    ),
    bad(
        "ck_test_executions_duration_positive",
        "durationSeconds",
        "must not be negative",
    ),
    bad(
        "ck_test_executions_completion_logic",
        "status",
        "a finished execution needs a completion time, an open one none",
    ),
    bad(
        "test_executions_test_case_id_fkey",
        "testCaseId",
        "no such test case",
    ),
    bad(
        "test_executions_test_run_id_fkey",
        "runId",
        "no such test run",
    ),
    bad(
        "test_executions_configuration_id_fkey",
        "configurationId",
        "no such configuration",
    ),
    bad(
        "ck_test_step_executions_status",
        "status",
        "is not a known step execution status",
    ),
    bad(
        "ck_test_step_executions_duration_positive",
        "durationSeconds",
        "must not be negative",
    ),
    bad(
        "test_step_executions_test_execution_id_fkey",
        "executionId",
        "no such test execution",
    ),
    bad(
        "test_step_executions_test_step_id_fkey",
        "stepId",
        "no such test step",
    ),
    bad(
        "ck_test_artifacts_owner",
        "executionId",
        "an artifact belongs to an execution or a step execution",
    ),
    bad(
        "ck_test_artifacts_file_size_non_negative",
        "fileSize",
        "must not be negative",
    ),
    bad(
        "ck_test_artifacts_type",
        "artifactType",
        "is not a known artifact type",
    ),
    bad(
        "test_artifacts_test_execution_id_fkey",
        "executionId",
        "no such test execution",
    ),
    bad(
        "test_artifacts_test_step_execution_id_fkey",
        "stepExecutionId",
        "no such step execution",
    ),
    // (claimed in the same transaction, a blob cannot be missing; if it ever were, the bytes
    // are to be sent again)
    bad(
        "fk_test_artifacts_blob",
        "file",
        "the artifact's bytes are not stored: upload them again",
    ),
];

/// SQLSTATE of a missing privilege, which is also how row-level security refuses a new row.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// How PostgreSQL words a new row refused by a row-level security policy (the table follows,
/// as the last quoted name). The managed cluster runs without a locale, so its messages are
/// these; with a server's translated messages every refusal is the plain FORBIDDEN, for a
/// hidden and a missing parent alike still.
const RLS_NEW_ROW: &str = "new row violates row-level security policy";

/// Tables whose members' policy admits a row only under a parent its writer can see, with the
/// foreign key to that parent. The policy is checked before the key, so it refuses a member's
/// row under a hidden parent and under a missing one alike; both are answered as the key
/// answers a missing parent (as an admin, who sees every parent, is answered), never as a row
/// of another user, which would be false of the missing one (erratum 11 of
/// `docs/architecture.md`). Services look parents up through the caller's policies before
/// writing; this covers the rest (a parent hidden in between, or a writer other than those).
const HIDDEN_PARENTS: &[(&str, &str)] = &[
    ("test_steps", "test_steps_test_case_id_fkey"),
    (
        "test_suite_test_cases",
        "test_suite_test_cases_test_case_id_fkey",
    ),
    ("test_executions", "test_executions_test_case_id_fkey"),
    (
        "test_step_executions",
        "test_step_executions_test_execution_id_fkey",
    ),
    ("test_artifacts", "test_artifacts_test_execution_id_fkey"),
    // (a result's key under a hidden run: answered as its execution's run would be; the keys
    // hold no foreign key of their own, migration 18)
    ("test_result_reports", "test_executions_test_run_id_fkey"),
];

/// The table of a row refused by row-level security, from the server's message.
fn rls_refused_table(message: &str) -> Option<&str> {
    if !message.starts_with(RLS_NEW_ROW) {
        return None;
    }
    message.rsplit_once(" for table \"")?.1.strip_suffix('"')
}

/// The error a violated constraint is reported as, if it is one of [`CONSTRAINTS`].
pub fn constraint_error(name: &str) -> Option<AppError> {
    let rule = CONSTRAINTS.iter().find(|r| r.constraint == name)?;
    Some(if rule.conflict {
        AppError::conflict(Some(rule.field), rule.message)
    } else {
        AppError::bad_input(rule.field, format!("{} {}", rule.field, rule.message))
    })
}

/// A refused privilege: a row under a hidden parent as if the parent were missing; any other
/// row a member may not write (one naming another user as its author, creator or trigger) is
/// refused for what it says itself, which depends on no other row.
fn insufficient_privilege(message: &str) -> AppError {
    let Some(table) = rls_refused_table(message) else {
        return AppError::Forbidden {
            message: "not allowed".to_owned(),
        };
    };
    HIDDEN_PARENTS
        .iter()
        .find(|(t, _)| *t == table)
        .and_then(|(_, key)| constraint_error(key))
        .unwrap_or_else(|| AppError::Forbidden {
            message: "not allowed: a member writes records only as themselves".to_owned(),
        })
}

/// SQLSTATE class of data exceptions: the value given cannot be stored as such.
const DATA_EXCEPTION_CLASS: &str = "22";

/// SQLSTATE class of program limits exceeded: a value too large for PostgreSQL to process
/// (a search too big for a tsquery, an index row too large, a statement too complex).
const PROGRAM_LIMIT_CLASS: &str = "54";

/// SQLSTATE of a statement cancelled, by `statement_timeout` here.
const QUERY_CANCELED: &str = "57014";

/// The PostgreSQL error behind a SeaORM error, if it came from the server.
pub fn pg_error(err: &DbErr) -> Option<&(dyn sqlx::error::DatabaseError + 'static)> {
    let runtime = match err {
        DbErr::Query(r) | DbErr::Exec(r) | DbErr::Conn(r) => r,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            sqlx::Error::Database(db) => Some(db.as_ref()),
            _ => None,
        },
        _ => None,
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if let Some(db) = pg_error(&err) {
            if let Some(error) = db.constraint().and_then(constraint_error) {
                return error;
            }
            // SQLSTATE classes that are the input's fault rather than ours
            match db.code().as_deref() {
                Some("22001") => {
                    return AppError::bad_input("input", "a value is longer than its field allows");
                }
                Some("22003") => return AppError::bad_input("input", "a number is out of range"),
                Some("22P02") => {
                    return AppError::bad_input("input", "a value has the wrong format");
                }
                Some(INSUFFICIENT_PRIVILEGE) => return insufficient_privilege(db.message()),
                Some("40001") | Some("40P01") => {
                    return AppError::conflict(None, "concurrent update; retry the request");
                }
                // any other data exception (class 22): a value PostgreSQL cannot take, such as
                // a NUL character in text or JSON
                Some(code) if code.starts_with(DATA_EXCEPTION_CLASS) => {
                    return AppError::bad_input("input", "a value is not acceptable");
                }
                Some(code) if code.starts_with(PROGRAM_LIMIT_CLASS) => {
                    return AppError::bad_input(
                        "input",
                        "a value is too large to be processed; make it smaller",
                    );
                }
                Some(QUERY_CANCELED) => {
                    return AppError::Timeout {
                        message: "the database took longer than its time limit and was stopped"
                            .to_owned(),
                    };
                }
                _ => {}
            }
        }
        AppError::internal(format!("database: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rls_refusals_name_their_table_in_each_wording_of_the_server() {
        for (message, table) in [
            (
                "new row violates row-level security policy for table \"test_steps\"",
                Some("test_steps"),
            ),
            (
                "new row violates row-level security policy \"p\" for table \"test_artifacts\"",
                Some("test_artifacts"),
            ),
            (
                "new row violates row-level security policy (USING expression) for table \"test_step_executions\"",
                Some("test_step_executions"),
            ),
            ("permission denied for table test_steps", None),
        ] {
            assert_eq!(rls_refused_table(message), table, "{message}");
        }
    }

    #[test]
    fn every_hidden_parent_is_answered_as_its_missing_parent() {
        for (table, key) in HIDDEN_PARENTS {
            let refused = insufficient_privilege(&format!(
                "new row violates row-level security policy for table \"{table}\""
            ));
            let missing = constraint_error(key).map(|e| format!("{e:?}"));
            assert!(missing.is_some(), "{key} has no rule");
            assert_eq!(Some(format!("{refused:?}")), missing, "{table}");
        }
    }

    #[test]
    fn a_violated_constraint_is_answered_with_its_code_field_and_message() {
        let conflict = constraint_error("uq_configurations_active_name_type").expect("rule");
        assert_eq!(conflict.code(), "CONFLICT");
        assert_eq!(conflict.field(), Some("name"));
        let bad = constraint_error("ck_test_cases_retry_count").expect("rule");
        assert_eq!(bad.code(), "BAD_USER_INPUT");
        assert_eq!(bad.field(), Some("retryCount"));
        assert_eq!(bad.message(), "retryCount must be between 0 and 10");
        assert!(constraint_error("no_such_constraint").is_none());
    }

    #[test]
    fn an_internal_cause_is_never_shown() {
        let e = AppError::internal("connection to 10.0.0.7 refused");
        assert_eq!(e.code(), "INTERNAL_SERVER_ERROR");
        assert_eq!(e.message(), "internal server error");
        assert_eq!(e.field(), None);
    }
}
