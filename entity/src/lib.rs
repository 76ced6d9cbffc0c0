//! SeaORM entities of the JBTestSuite database, one module per table, with the string enums
//! its CHECK constraints admit. Knows nothing of GraphQL or HTTP.
//!
//! - [`configuration`]: `configurations`, reusable configuration templates
//! - [`test_case`]: `test_cases`, the test catalogue
//! - [`test_step`]: `test_steps`, ordered steps of a case
//! - [`test_suite`]: `test_suites`, groupings of cases
//! - [`test_suite_test_case`]: `test_suite_test_cases`, the suite <-> case junction
//! - [`test_run`]: `test_runs`, batches of executions
//! - [`test_execution`]: `test_executions`, one attempt at a case
//! - [`test_step_execution`]: `test_step_executions`, one step within an execution
//! - [`test_artifact`]: `test_artifacts`, files produced by executions and steps
//! - [`project`]: `projects`, what a team shares
//! - [`project_member`]: `project_members`, a user's role in a project
//! - [`test_case_quarantine`]: `test_case_quarantines`, cases whose failures do not fail runs
//! - [`audit_log`]: `audit_log`, the trigger-written change history
//! - [`enums`]: status, priority and type enums stored as strings
//! - [`prelude`]: the entities under short names

pub mod audit_log;
pub mod configuration;
pub mod enums;
pub mod prelude;
pub mod project;
pub mod project_member;
pub mod test_artifact;
pub mod test_case;
pub mod test_case_quarantine;
pub mod test_execution;
pub mod test_run;
pub mod test_step;
pub mod test_step_execution;
pub mod test_suite;
pub mod test_suite_test_case;

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, ModelTrait, QueryTrait};
    use uuid::Uuid;

    use crate::{test_case, test_suite};

    const ID: &str = "00000000-0000-0000-0000-000000000000";

    #[test]
    fn suite_cases_when_related_then_joins_through_junction() {
        let suite = test_suite::Model {
            id: Uuid::nil(),
            name: "smoke".to_owned(),
            description: None,
            tags: None,
            configuration: None,
            is_active: true,
            created_by: None,
            created_at: None,
            updated_at: None,
            project_id: Uuid::nil(),
        };
        let sql = suite
            .find_related(test_case::Entity)
            .build(DbBackend::Postgres)
            .to_string();
        assert!(
            sql.contains(r#"INNER JOIN "test_suite_test_cases" ON "test_suite_test_cases"."test_case_id" = "test_cases"."id""#),
            "{sql}"
        );
        assert!(sql.contains(&format!("'{ID}'")), "{sql}");
    }

    #[test]
    fn case_suites_when_related_then_joins_through_junction() {
        let case = test_case::Model {
            id: Uuid::nil(),
            name: "login".to_owned(),
            description: None,
            status: crate::enums::TestCaseStatus::Draft,
            priority: crate::enums::Priority::Medium,
            tags: None,
            metadata: None,
            author: None,
            category: None,
            expected_duration_seconds: None,
            is_automated: true,
            retry_count: 0,
            configuration_id: None,
            created_at: None,
            updated_at: None,
            project_id: Uuid::nil(),
            identity_key: None,
        };
        let sql = case
            .find_related(test_suite::Entity)
            .build(DbBackend::Postgres)
            .to_string();
        assert!(
            sql.contains(r#"INNER JOIN "test_suite_test_cases" ON "test_suite_test_cases"."test_suite_id" = "test_suites"."id""#),
            "{sql}"
        );
        assert!(sql.contains(&format!("'{ID}'")), "{sql}");
    }
}
