//! GraphQL objects of run comparisons and quality gates.

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use entity::test_run;
use uuid::Uuid;

use super::compare::{self, Compared, Entry, LISTS, Limits, List};
use super::loaders;
use crate::catalog::types::TestCase;
use crate::error::{AppError, AppResult};
use crate::runs::enums::ExecutionStatus;
use crate::runs::types::TestRun;
use crate::scalars::Timestamp;

/// The list fields of [`RunComparison`], in [`List`] order.
const LIST_FIELDS: [&str; LISTS] = [
    "newFailures",
    "fixed",
    "stillFailing",
    "newTests",
    "missingTests",
    "durationRegressions",
];

/// How many entries of each list the selection under `look` asks for (the largest `first` of
/// each list field, for aliases of one list with different sizes); 0 for a list not asked.
pub fn limits_of(look: async_graphql::Lookahead<'_>) -> AppResult<Limits> {
    let mut limits = [0; LISTS];
    for (i, name) in LIST_FIELDS.iter().enumerate() {
        for field in look.field(name).selection_fields() {
            let arguments = field
                .arguments()
                .map_err(|e| AppError::bad_input("first", e.message))?;
            let first = arguments
                .iter()
                .find(|(n, _)| n.as_str() == "first")
                .and_then(|(_, v)| match v {
                    async_graphql::Value::Number(n) => n.as_i64(),
                    _ => None,
                })
                .map(|n| n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32);
            limits[i] = limits[i].max(compare::check_first("first", first)?);
        }
    }
    Ok(limits)
}

/// What changed between two runs of a project, each case by its last attempt in each run.
#[derive(Clone)]
pub struct RunComparison {
    pub base: test_run::Model,
    pub head: test_run::Model,
    pub threshold: f64,
    pub found: Arc<Compared>,
}

impl RunComparison {
    fn list(&self, list: List, first: Option<i32>) -> AppResult<Vec<ComparedCase>> {
        let n = compare::check_first("first", first)?;
        Ok(self.found.lists[list as usize]
            .iter()
            .take(usize::try_from(n).unwrap_or(0))
            .map(|e| ComparedCase {
                entry: e.clone(),
                base_run: self.base.id,
                list,
            })
            .collect())
    }
}

/// A comparison of two runs of a project (a head run against a base run, usually its
/// baseline): the cases that newly fail, were fixed, still fail, are new, went missing or got
/// slower, each by its last attempt (retries count as the run counts them). Each list gives
/// its first entries (`first`, default 100, at most 1000) and `counts` its exact sizes.
#[Object]
impl RunComparison {
    /// The run compared against.
    async fn base(&self) -> TestRun {
        TestRun(self.base.clone())
    }
    /// The run compared.
    async fn head(&self) -> TestRun {
        TestRun(self.head.clone())
    }
    /// The ratio by which a passed case must have slowed down to be a duration regression
    /// (0.5: 50% slower), besides at least 100 ms.
    async fn duration_threshold(&self) -> f64 {
        self.threshold
    }
    /// The size of each list, and the cases in neither.
    async fn counts(&self) -> ComparisonCounts {
        let c = &self.found.counts;
        ComparisonCounts {
            new_failures: c[List::NewFailures as usize],
            fixed: c[List::Fixed as usize],
            still_failing: c[List::StillFailing as usize],
            new_tests: c[List::NewTests as usize],
            missing_tests: c[List::MissingTests as usize],
            duration_regressions: c[List::DurationRegressions as usize],
            unchanged: self.found.unchanged,
        }
    }
    /// Cases failed in the head run that did not fail in the base run (passed, were skipped,
    /// or were not in it), by case id.
    async fn new_failures(
        &self,
        #[graphql(desc = "Entries (default 100, at most 1000).")] first: Option<i32>,
    ) -> AppResult<Vec<ComparedCase>> {
        self.list(List::NewFailures, first)
    }
    /// Cases failed in the base run and passed in the head run, by case id.
    async fn fixed(
        &self,
        #[graphql(desc = "Entries (default 100, at most 1000).")] first: Option<i32>,
    ) -> AppResult<Vec<ComparedCase>> {
        self.list(List::Fixed, first)
    }
    /// Cases failed in both runs, by case id; `failingStreak` says since when.
    async fn still_failing(
        &self,
        #[graphql(desc = "Entries (default 100, at most 1000).")] first: Option<i32>,
    ) -> AppResult<Vec<ComparedCase>> {
        self.list(List::StillFailing, first)
    }
    /// Cases in the head run that were not in the base run, by case id.
    async fn new_tests(
        &self,
        #[graphql(desc = "Entries (default 100, at most 1000).")] first: Option<i32>,
    ) -> AppResult<Vec<ComparedCase>> {
        self.list(List::NewTests, first)
    }
    /// Cases in the base run that are not in the head run, by case id.
    async fn missing_tests(
        &self,
        #[graphql(desc = "Entries (default 100, at most 1000).")] first: Option<i32>,
    ) -> AppResult<Vec<ComparedCase>> {
        self.list(List::MissingTests, first)
    }
    /// Cases passed in both runs that took longer in the head run than in the base run by
    /// more than `durationThreshold` and by at least 100 ms, most slowed down first.
    async fn duration_regressions(
        &self,
        #[graphql(desc = "Entries (default 100, at most 1000).")] first: Option<i32>,
    ) -> AppResult<Vec<ComparedCase>> {
        self.list(List::DurationRegressions, first)
    }
}

/// The sizes of a comparison's lists.
#[derive(SimpleObject, Clone, Copy)]
pub struct ComparisonCounts {
    /// Cases failed in the head run that did not fail in the base run.
    pub new_failures: i64,
    /// Cases failed in the base run and passed in the head run.
    pub fixed: i64,
    /// Cases failed in both runs.
    pub still_failing: i64,
    /// Cases in the head run only.
    pub new_tests: i64,
    /// Cases in the base run only.
    pub missing_tests: i64,
    /// Cases passed in both runs that got slower beyond the threshold.
    pub duration_regressions: i64,
    /// Cases in both runs and in none of the lists (the same outcome, or a change no list
    /// names, such as passed then skipped).
    pub unchanged: i64,
}

/// A case in a comparison's list, with its last attempt in each run.
#[derive(Clone)]
pub struct ComparedCase {
    entry: Entry,
    base_run: Uuid,
    list: List,
}

/// A case in a comparison's list, with its last attempt in each run.
#[Object]
impl ComparedCase {
    /// Id of the case.
    async fn test_case_id(&self) -> Uuid {
        self.entry.test_case_id
    }
    /// The case; null when the caller cannot see it.
    async fn test_case(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestCase>> {
        Ok(crate::catalog::loaders::case(ctx, self.entry.test_case_id)
            .await?
            .map(TestCase))
    }
    /// Its outcome in the base run (its last attempt); null when it was not in the base run.
    async fn base_status(&self) -> Option<ExecutionStatus> {
        self.entry.base_status.map(Into::into)
    }
    /// Its outcome in the head run (its last attempt); null when it is not in the head run.
    async fn head_status(&self) -> Option<ExecutionStatus> {
        self.entry.head_status.map(Into::into)
    }
    /// Its last execution in the base run; null when it was not in the base run.
    async fn base_execution_id(&self) -> Option<Uuid> {
        self.entry.base_execution_id
    }
    /// Its last execution in the head run; null when it is not in the head run.
    async fn head_execution_id(&self) -> Option<Uuid> {
        self.entry.head_execution_id
    }
    /// How long its last attempt took in the base run, in milliseconds; null when unknown.
    async fn base_duration_ms(&self) -> Option<i32> {
        self.entry.base_duration_ms
    }
    /// How long its last attempt took in the head run, in milliseconds; null when unknown.
    async fn head_duration_ms(&self) -> Option<i32> {
        self.entry.head_duration_ms
    }
    /// The normalised error of its failure in the head run, else of its failure in the base
    /// run (numbers, ids, paths and quoted text masked, as `failureGroups` groups them); null
    /// when neither failed with a message.
    async fn error_fingerprint(&self) -> Option<&str> {
        self.entry.error_fingerprint.as_deref()
    }
    /// For a still-failing case, since when it fails: the first run of its current failing
    /// streak among the base run and the earlier runs of its series (its suite, branch and
    /// environment), looking back at most 50 runs; null in the other lists.
    async fn failing_streak(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<FailingStreak>> {
        if self.list != List::StillFailing {
            return Ok(None);
        }
        Ok(loaders::streak(ctx, self.base_run, self.entry.test_case_id)
            .await?
            .map(|s| FailingStreak {
                since: s.since,
                run_id: s.run_id,
                runs: s.runs,
                complete: s.complete,
            }))
    }
}

/// Since when a case fails, run after run.
#[derive(SimpleObject, Clone)]
pub struct FailingStreak {
    /// When the streak's first run started: the time the case has failed since.
    pub since: Timestamp,
    /// The streak's first run.
    pub run_id: Uuid,
    /// Runs of the streak looked at (those in which the case ran, all failed).
    pub runs: i64,
    /// Whether the streak's start was found; false when it goes back further than 50 runs
    /// (it is then at least as old as `since`).
    pub complete: bool,
}

/// The comparison of `run` with its baseline (null when it has none), through the request's
/// loaders: the runs of a page are compared in one statement.
pub async fn comparison_of(
    ctx: &Context<'_>,
    run: &test_run::Model,
    duration_threshold: Option<f64>,
) -> async_graphql::Result<Option<RunComparison>> {
    let threshold = compare::check_threshold("durationThreshold", duration_threshold)?;
    let limits = limits_of(ctx.look_ahead())?;
    let Some(base) = loaders::baseline(ctx, run.id).await? else {
        return Ok(None);
    };
    let request = compare::Request {
        base: base.id,
        head: run.id,
        threshold_bits: threshold.to_bits(),
        limits,
        quarantine: false,
    };
    let found = loaders::comparison(ctx, request).await?.unwrap_or_default();
    Ok(Some(RunComparison {
        base,
        head: run.clone(),
        threshold,
        found,
    }))
}

/// The baseline of `run`: the run it is compared with by default (null when none).
pub async fn baseline_of(
    ctx: &Context<'_>,
    run: &test_run::Model,
) -> async_graphql::Result<Option<TestRun>> {
    Ok(loaders::baseline(ctx, run.id).await?.map(TestRun))
}

/// A quality gate's verdict.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QualityGateStatus {
    /// Every rule held.
    Passed,
    /// A rule did not hold (see the reasons).
    Failed,
}

/// A rule of a quality gate.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QualityGateRule {
    /// The run must have finished (PASSED or FAILED).
    RequireFinished,
    /// At most `maxNewFailures` new failures against the baseline, quarantined cases left
    /// out.
    MaxNewFailures,
    /// A pass rate of at least `minPassRate`.
    MinPassRate,
    /// At most `maxDurationRegressions` duration regressions against the baseline.
    MaxDurationRegressions,
}

impl QualityGateRule {
    /// The rule's name as the GraphQL enum spells it (webhook payloads use it).
    pub fn name(self) -> &'static str {
        match self {
            Self::RequireFinished => "REQUIRE_FINISHED",
            Self::MaxNewFailures => "MAX_NEW_FAILURES",
            Self::MinPassRate => "MIN_PASS_RATE",
            Self::MaxDurationRegressions => "MAX_DURATION_REGRESSIONS",
        }
    }
}

/// The rules a run must meet. Every rule given is evaluated; a reason is given for each.
#[derive(InputObject, Clone, Default)]
pub struct QualityGateRules {
    /// New failures allowed against the baseline (default 0; 0 to 1000000). A failure of a
    /// case quarantined now does not count. Without a baseline every failure is new.
    pub max_new_failures: Option<i32>,
    /// Lowest pass rate allowed, 0 to 1: passed over passed and failed of the cases' last
    /// attempts, failures of cases quarantined now left out. Not checked when not given.
    pub min_pass_rate: Option<f64>,
    /// Duration regressions allowed against the baseline (0 to 1000000). Not checked when
    /// not given.
    pub max_duration_regressions: Option<i32>,
    /// The ratio by which a passed case must have slowed down to be a duration regression
    /// (default 0.5: 50% slower), besides at least 100 ms.
    pub duration_threshold: Option<f64>,
    /// The run to compare with (default: the run's baseline, the previous finished run of its
    /// suite, branch and environment); it must be of the same project.
    pub baseline_run_id: Option<Uuid>,
    /// Whether an unfinished run fails the gate (default true).
    pub require_finished: Option<bool>,
}

/// Why a gate passed or failed: one rule's outcome.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "QualityGateReason")]
pub struct QualityGateReason {
    /// The rule.
    pub rule: QualityGateRule,
    /// Whether it held.
    pub passed: bool,
    /// What was found, in words.
    pub message: String,
    /// The measured value (new failures, pass rate, regressions); null when there is none.
    pub actual: Option<f64>,
    /// The bound it was held to; null for `REQUIRE_FINISHED`.
    pub expected: Option<f64>,
}

/// A quality gate's answer for a run.
#[derive(Clone)]
pub struct QualityGateResult {
    pub status: QualityGateStatus,
    pub reasons: Vec<QualityGateReason>,
    pub run: test_run::Model,
    pub baseline: Option<test_run::Model>,
    pub comparison: Option<RunComparison>,
}

/// Whether a run may pass (merge, deploy): its verdict, the reason of each rule, and what it
/// was compared with.
#[Object]
impl QualityGateResult {
    /// PASSED when every rule held.
    async fn status(&self) -> QualityGateStatus {
        self.status
    }
    /// One per rule evaluated, in the order of the rules.
    async fn reasons(&self) -> &[QualityGateReason] {
        &self.reasons
    }
    /// The run judged.
    async fn run(&self) -> TestRun {
        TestRun(self.run.clone())
    }
    /// The run it was compared with; null when it has no baseline.
    async fn baseline(&self) -> Option<TestRun> {
        self.baseline.clone().map(TestRun)
    }
    /// The comparison with the baseline; null when it has none.
    async fn comparison(&self) -> Option<&RunComparison> {
        self.comparison.as_ref()
    }
}
