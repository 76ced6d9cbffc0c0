//! GraphQL objects of analytics.

use async_graphql::{Enum, InputObject, SimpleObject};
use uuid::Uuid;

use crate::scalars::{Json, Timestamp};

/// How stable a case is, from the share of its executions that failed (those the statistics'
/// window selects).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StabilityRating {
    /// No execution counted.
    #[default]
    NeverExecuted,
    /// Executions, none of them failed.
    Stable,
    /// Some executions failed, at most half of them.
    Moderate,
    /// More than half of the executions failed.
    Unstable,
}

/// Which executions statistics cover.
#[derive(InputObject, Clone, Default, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsWindow {
    /// Only executions created in the last this many days.
    pub days: Option<i32>,
    /// Only executions with this configuration.
    pub configuration_id: Option<Uuid>,
    /// Only executions of runs whose configuration contains this JSON object.
    pub run_configuration: Option<Json>,
    /// Include archived executions (default false).
    #[graphql(default)]
    pub include_archived: bool,
}

/// Execution statistics of a test case, over the executions a window selects. Durations are
/// those of the executions that have one.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CaseStats {
    /// Executions counted (every status).
    pub total_executions: i64,
    /// Executions that passed.
    pub passed: i64,
    /// Executions that failed.
    pub failed: i64,
    /// Executions that were skipped.
    pub skipped: i64,
    /// passed / (passed + failed) × 100, two decimals; null without either.
    pub success_rate: Option<f64>,
    /// Average duration in seconds (to the millisecond); null when no execution has one.
    pub avg_duration: Option<f64>,
    /// Shortest duration in whole seconds; null when no execution has one.
    pub min_duration: Option<i32>,
    /// Longest duration in whole seconds; null when no execution has one.
    pub max_duration: Option<i32>,
    /// Median duration in seconds (to the millisecond); null when no execution has one, and
    /// in the `testCaseStats` list, which leaves percentiles to `TestCase.stats`.
    pub median_duration: Option<f64>,
    /// 95th percentile of the durations in seconds (to the millisecond): 95% of the
    /// executions took at most this long. Null when no execution has one, and in the
    /// `testCaseStats` list, which leaves percentiles to `TestCase.stats`.
    pub p95_duration: Option<f64>,
    /// When the first counted execution completed; null when none has.
    pub first_executed_at: Option<Timestamp>,
    /// When the last counted execution completed; null when none has.
    pub last_executed_at: Option<Timestamp>,
    /// Executions started in the last 30 days.
    pub executions_last_30_days: i64,
    /// Executions started 60 to 30 days ago, to compare with `executionsLast30Days`.
    pub executions_previous_30_days: i64,
    /// How stable the case is: from the share of counted executions that failed.
    pub stability_rating: StabilityRating,
}

/// Why a case is considered flaky.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlakinessReason {
    /// It passed after a failed attempt in the same run.
    PassedOnRetry,
    /// Its outcome flips between consecutive executions.
    StatusFlips,
}

/// How flaky a case is, and why (a case without executions: 0, no reasons, no sample).
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct Flakiness {
    /// 0 (steady) to 1 (flips every time): the larger of the flip rate over the sample and the
    /// share of runs with a failure that passed on a retry.
    pub flaky_score: f64,
    /// The reasons behind a score above 0.
    pub reasons: Vec<FlakinessReason>,
    /// Passed/failed executions the score rests on.
    pub sample_size: i64,
    /// Outcome changes between consecutive executions of the sample.
    pub flips: i64,
    /// Failures in the sample.
    pub failures: i64,
    /// Runs in which a failed attempt was followed by a passing retry.
    pub passed_on_retry: i64,
}

/// Failures sharing an error fingerprint.
#[derive(SimpleObject, Clone, Debug)]
pub struct FailureGroup {
    /// The error message with numbers, UUIDs, hex, quoted strings and paths replaced.
    pub fingerprint: String,
    /// Failed executions with it.
    pub count: i64,
    /// Distinct cases affected.
    pub affected_test_cases: i64,
    /// First seen.
    pub first_seen_at: Option<Timestamp>,
    /// Last seen.
    pub last_seen_at: Option<Timestamp>,
    /// Up to three distinct original messages.
    pub examples: Vec<String>,
}

/// Which failures to group.
#[derive(InputObject, Clone, Default)]
pub struct FailureFilter {
    /// Failures of this case.
    pub test_case_id: Option<Uuid>,
    /// Failures in this run.
    pub run_id: Option<Uuid>,
    /// Failures of this configuration.
    pub configuration_id: Option<Uuid>,
    /// Failures at or after this time.
    pub since: Option<Timestamp>,
    /// Failures of this project's cases (its key).
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

/// A step of a case that fails, with its common errors.
#[derive(SimpleObject, Clone, Debug)]
pub struct FailingStep {
    /// The step.
    pub step_id: Uuid,
    /// Its name.
    pub step_name: String,
    /// Its position.
    pub order_index: i32,
    /// Failed results of it.
    pub failure_count: i64,
    /// Its most common error fingerprints (up to three).
    pub common_errors: Vec<String>,
}

/// One day of a pass-rate trend.
#[derive(SimpleObject, Clone, Debug)]
pub struct DailyPassRate {
    /// The day (UTC).
    pub day: chrono::NaiveDate,
    /// Passed executions completed that day.
    pub passed: i64,
    /// Failed.
    pub failed: i64,
    /// Skipped.
    pub skipped: i64,
    /// passed / (passed + failed) × 100; null without either.
    pub pass_rate: Option<f64>,
}

/// Aggregates of a run, over its executions (archived ones included).
#[derive(SimpleObject, Clone, Debug)]
pub struct RunStats {
    /// passed / (passed + failed) × 100 over the cases' latest attempts; null while no case
    /// has passed or failed.
    pub pass_rate: Option<f64>,
    /// Average execution duration in seconds (to the millisecond); null when no execution
    /// has a duration yet.
    pub avg_duration: Option<f64>,
    /// 95th percentile of the execution durations in seconds (to the millisecond): 95% of the
    /// run's executions took at most this long. Null when no execution has a duration yet.
    pub p95_duration: Option<f64>,
    /// Executions that were retries.
    pub retries: i64,
    /// Cases that passed on a retry.
    pub passed_on_retry: i64,
}

/// Aggregates of a suite's runs.
#[derive(SimpleObject, Clone, Debug)]
pub struct SuiteStats {
    /// Runs counted.
    pub runs: i64,
    /// Runs that passed.
    pub passed_runs: i64,
    /// Runs that failed.
    pub failed_runs: i64,
    /// Average pass rate of the runs, 0 to 100.
    pub avg_pass_rate: Option<f64>,
    /// Average run duration in seconds.
    pub avg_run_duration: Option<f64>,
    /// Last run's start.
    pub last_run_at: Option<Timestamp>,
}

/// What case statistics can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatsOrderField {
    /// Share of failed among passed and failed executions.
    FailureRate,
    /// Failed executions.
    Failures,
    /// Executions.
    Executions,
    /// Average duration.
    AvgDuration,
    /// Last completion.
    LastExecuted,
}

/// Ordering of case statistics; the case id breaks ties.
#[derive(InputObject, Clone, Copy)]
pub struct CaseStatsOrder {
    /// What to order by.
    pub field: CaseStatsOrderField,
    /// Which way (default descending).
    #[graphql(default)]
    pub direction: crate::catalog::enums::OrderDirection,
}

crate::project_filtered!(FailureFilter);
