//! The string enums stored in `VARCHAR` columns and guarded by `CHECK` constraints.
//!
//! Each `string_value` is exactly a value the column's constraint admits, and serde uses the
//! same spelling, so a value reads the same in the database, in JSON and in the audit log.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The kind of a reusable configuration (`configurations.config_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(50))")]
#[serde(rename_all = "snake_case")]
pub enum ConfigType {
    #[sea_orm(string_value = "browser")]
    Browser,
    #[sea_orm(string_value = "environment")]
    Environment,
    #[sea_orm(string_value = "execution")]
    Execution,
    #[sea_orm(string_value = "notification")]
    Notification,
    #[sea_orm(string_value = "integration")]
    Integration,
}

/// The life-cycle state of a test case (`test_cases.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum TestCaseStatus {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "archived")]
    Archived,
    #[sea_orm(string_value = "deprecated")]
    Deprecated,
}

/// How important a test case is (`test_cases.priority`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[sea_orm(string_value = "critical")]
    Critical,
    #[sea_orm(string_value = "high")]
    High,
    #[sea_orm(string_value = "medium")]
    Medium,
    #[sea_orm(string_value = "low")]
    Low,
}

/// What a test step does (`test_steps.step_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(50))")]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    #[sea_orm(string_value = "navigate")]
    Navigate,
    #[sea_orm(string_value = "click")]
    Click,
    #[sea_orm(string_value = "type")]
    Type,
    #[sea_orm(string_value = "wait")]
    Wait,
    #[sea_orm(string_value = "assert")]
    Assert,
    #[sea_orm(string_value = "screenshot")]
    Screenshot,
    #[sea_orm(string_value = "api_call")]
    ApiCall,
    #[sea_orm(string_value = "custom")]
    Custom,
}

/// The state of a test run (`test_runs.status`, constraint `ck_test_runs_status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "passed")]
    Passed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Ended without being finished: no activity for the configured time (migration 17).
    #[sea_orm(string_value = "aborted")]
    Aborted,
}

/// The state of one execution of a test case (`test_executions.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "passed")]
    Passed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "skipped")]
    Skipped,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

/// The state of one step within an execution (`test_step_executions.status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum StepExecutionStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "passed")]
    Passed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "skipped")]
    Skipped,
}

/// The kind of file an execution or step execution produced (`test_artifacts.artifact_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(50))")]
#[serde(rename_all = "snake_case")]
pub enum ArtifactType {
    #[sea_orm(string_value = "screenshot")]
    Screenshot,
    #[sea_orm(string_value = "video")]
    Video,
    #[sea_orm(string_value = "log")]
    Log,
    #[sea_orm(string_value = "trace")]
    Trace,
    #[sea_orm(string_value = "har")]
    Har,
    #[sea_orm(string_value = "report")]
    Report,
    #[sea_orm(string_value = "other")]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    /// serde must spell every variant exactly as the database does.
    fn assert_serde_matches_db<E>()
    where
        E: ActiveEnum<Value = String> + Iterable + Serialize + std::fmt::Debug,
    {
        for variant in E::iter() {
            let json = serde_json::to_value(&variant).ok();
            assert_eq!(
                json,
                Some(serde_json::Value::String(variant.to_value())),
                "{variant:?}"
            );
        }
    }

    #[test]
    fn every_enum_when_serialized_then_matches_its_string_value() {
        assert_serde_matches_db::<ConfigType>();
        assert_serde_matches_db::<TestCaseStatus>();
        assert_serde_matches_db::<Priority>();
        assert_serde_matches_db::<StepType>();
        assert_serde_matches_db::<RunStatus>();
        assert_serde_matches_db::<ExecutionStatus>();
        assert_serde_matches_db::<StepExecutionStatus>();
        assert_serde_matches_db::<ArtifactType>();
    }
}
