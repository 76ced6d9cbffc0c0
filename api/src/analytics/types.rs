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

/// What a case's recent results say it is (over its last passed/failed results outside runs
/// flagged as infrastructure failures).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlakyClassification {
    /// Neither flaky nor broken.
    #[default]
    Healthy,
    /// Passes and fails the same code: a pass and a fail on one commit, a pass on a retry,
    /// or a flip rate of at least 20% (3 flips or more) over at least the project's
    /// `flakyMinSample` results.
    Flaky,
    /// Its latest 3 or more runs all failed, with no pass on a retry: it needs fixing.
    Broken,
}

impl FlakyClassification {
    /// As the database stores it.
    pub fn stored(self) -> &'static str {
        match self {
            Self::Healthy => "HEALTHY",
            Self::Flaky => "FLAKY",
            Self::Broken => "BROKEN",
        }
    }

    /// The class stored as `s` (HEALTHY for anything else).
    pub fn of_stored(s: &str) -> Self {
        match s {
            "FLAKY" => Self::Flaky,
            "BROKEN" => Self::Broken,
            _ => Self::Healthy,
        }
    }
}

/// The kind of evidence behind a classification.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassificationReasonCode {
    /// It passed and failed on the same commit.
    SameCommit,
    /// It passed on a retry after failing in the same run.
    PassedOnRetry,
    /// Its outcome changes often between consecutive results.
    FlipRate,
    /// Its latest runs all failed.
    ConsecutiveFailures,
    /// Its flip rate is high, but over fewer results than the project's minimum sample.
    SampleTooSmall,
}

impl ClassificationReasonCode {
    fn of_stored(s: &str) -> Option<Self> {
        Some(match s {
            "SAME_COMMIT" => Self::SameCommit,
            "PASSED_ON_RETRY" => Self::PassedOnRetry,
            "FLIP_RATE" => Self::FlipRate,
            "CONSECUTIVE_FAILURES" => Self::ConsecutiveFailures,
            "SAMPLE_TOO_SMALL" => Self::SampleTooSmall,
            _ => return None,
        })
    }
}

/// One reason for a classification.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct ClassificationReason {
    /// What kind of evidence.
    pub code: ClassificationReasonCode,
    /// The evidence in words, with its figures.
    pub text: String,
}

impl ClassificationReason {
    /// The reasons as stored (a JSON array of `{code, text}`); unknown codes are skipped.
    pub fn list_of(stored: &serde_json::Value) -> Vec<Self> {
        stored
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|r| {
                        Some(Self {
                            code: ClassificationReasonCode::of_stored(r.get("code")?.as_str()?)?,
                            text: r.get("text")?.as_str()?.to_owned(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An estimate of the probability that the case's next result is a failure: the Beta(1, 1)
/// prior updated with the sample's failures and passes (its mean and 90% interval).
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct FailureProbability {
    /// Posterior mean: (failures + 1) / (sample + 2).
    pub mean: f64,
    /// Lower end of the 90% interval (the posterior's 5% quantile).
    pub lower: f64,
    /// Upper end of the 90% interval (the posterior's 95% quantile).
    pub upper: f64,
}

impl Default for FailureProbability {
    fn default() -> Self {
        super::classification::failure_probability(0, 0)
    }
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
    /// HEALTHY, FLAKY or BROKEN, from the same sample (results of runs flagged as
    /// infrastructure failures left out).
    pub classification: FlakyClassification,
    /// Why the case has its classification (empty for a plain HEALTHY).
    pub classification_reasons: Vec<ClassificationReason>,
    /// Commits on which the case both passed and failed within the sample.
    pub same_commit_flips: i64,
    /// The probability that its next result is a failure, estimated from the sample.
    pub failure_probability: FailureProbability,
    /// How sure the classification is, 0 to 1: 1 for FLAKY on direct evidence (a pass and a
    /// fail on one commit, or a pass on a retry); otherwise the posterior probability that
    /// the failure probability lies in the class's range (HEALTHY below 0.1, FLAKY 0.1 to
    /// 0.9, BROKEN above 0.9).
    pub confidence: f64,
    /// When the kept classification became what it is; null when it was computed on demand
    /// and differs from the kept one (another sample size), or is not kept yet.
    pub classified_at: Option<Timestamp>,
}

/// Failures sharing an error fingerprint.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct FailureGroup {
    /// The error message with numbers, UUIDs, hex, quoted strings and paths replaced.
    pub fingerprint: String,
    /// Failed executions with it.
    pub count: i64,
    /// Distinct cases affected.
    pub affected_test_cases: i64,
    /// Distinct runs affected (executions of no run are not counted here).
    pub affected_runs: i64,
    /// When the first of its failures completed.
    pub first_seen_at: Option<Timestamp>,
    /// When the last of its failures completed.
    pub last_seen_at: Option<Timestamp>,
    /// Up to three distinct original messages, the alphabetically first.
    pub examples: Vec<String>,
}

/// Which failures to group. Without a filter, or with `projectKey` alone, the groups are read
/// from a summary kept up to date as results arrive; the other filters group on demand.
#[derive(InputObject, Clone, Default, Debug)]
pub struct FailureFilter {
    /// Failures of this case (grouped on demand).
    pub test_case_id: Option<Uuid>,
    /// Failures in this run (grouped on demand).
    pub run_id: Option<Uuid>,
    /// Failures of this configuration: grouped on demand, over the last 31 days unless `since`,
    /// `testCaseId` or `runId` is given.
    pub configuration_id: Option<Uuid>,
    /// Failures completed at or after this time, at most 31 days ago (grouped on demand).
    pub since: Option<Timestamp>,
    /// Failures in this project's runs (its key).
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
