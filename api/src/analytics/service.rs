//! The SQL of analytics. Every query reads a bounded slice through an index: one case's
//! executions (`ix_test_executions_case_created`), a window of recent executions, or a run's.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, QueryResult};
use uuid::Uuid;

use super::types::{
    CaseStats, ClassificationReason, DailyPassRate, FailingStep, Flakiness, FlakinessReason,
    FlakyClassification, RunStats, StabilityRating, StatsWindow, SuiteStats,
};
use crate::error::{AppError, AppResult};
use crate::input::{check_days, check_object};
use crate::pagination::Fetched;
use crate::sql::{Sql, Total, where_clause};

/// Executions a flakiness score looks at by default: recent enough to describe the case as it
/// is now, enough to see flips.
pub const DEFAULT_FLAKINESS_SAMPLE: i32 = 20;

/// Largest flakiness sample a client may ask for.
pub const MAX_FLAKINESS_SAMPLE: i32 = 1_000;

/// Days of history the flakiest / most failing lists look at by default.
pub const DEFAULT_LIST_WINDOW_DAYS: i32 = 30;

/// Longest list of cases or groups returned.
pub const MAX_LIST: i32 = 500;

/// The executions a window covers, as a subquery; its values are bound in `sql`. Archived
/// executions come from the view of both (`test_executions_all`).
fn window_source(window: &StatsWindow, sql: &mut Sql) -> AppResult<String> {
    let mut conditions = Vec::new();
    if let Some(days) = window.days {
        check_days("window.days", days)?;
        conditions.push(format!(
            "x.created_at >= now() - {} * interval '1 day'",
            sql.bind(days)
        ));
    }
    if let Some(c) = window.configuration_id {
        conditions.push(format!("x.configuration_id = {}", sql.bind(c)));
    }
    if let Some(rc) = &window.run_configuration {
        check_object("window.runConfiguration", &rc.0)?;
        conditions.push(format!(
            "x.test_run_id IN (SELECT id FROM test_runs WHERE run_configuration @> {}::jsonb)",
            sql.bind(rc.0.clone())
        ));
    }
    let table = if window.include_archived {
        "test_executions_all"
    } else {
        "test_executions"
    };
    Ok(format!(
        "(SELECT x.* FROM {table} x{})",
        where_clause(&conditions)
    ))
}

fn rating(total: i64, failed: i64) -> StabilityRating {
    if total == 0 {
        StabilityRating::NeverExecuted
    } else if failed == 0 {
        StabilityRating::Stable
    } else if failed as f64 / total as f64 > 0.5 {
        StabilityRating::Unstable
    } else {
        StabilityRating::Moderate
    }
}

/// Durations are reported to the millisecond.
fn ms(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 1000.0).round() / 1000.0)
}

fn rate(passed: i64, failed: i64) -> Option<f64> {
    (passed + failed > 0)
        .then(|| ((passed as f64 * 10_000.0 / (passed + failed) as f64).round()) / 100.0)
}

/// Statistics of each case of `cases` over `window`.
pub async fn case_stats(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
    window: &StatsWindow,
) -> AppResult<HashMap<Uuid, CaseStats>> {
    let mut sql = Sql::default();
    let cases_param = sql.bind(cases.to_vec());
    let source = window_source(window, &mut sql)?;
    let text = format!(
        "SELECT e.test_case_id,
                count(*) AS total,
                count(*) FILTER (WHERE e.status = 'passed') AS passed,
                count(*) FILTER (WHERE e.status = 'failed') AS failed,
                count(*) FILTER (WHERE e.status = 'skipped') AS skipped,
                (avg(e.duration_ms) / 1000.0)::float8 AS avg_d, min(e.duration_seconds) AS min_d, max(e.duration_seconds) AS max_d,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_ms) / 1000.0 AS median_d,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms) / 1000.0 AS p95_d,
                min(e.completed_at) AS first_at, max(e.completed_at) AS last_at,
                count(*) FILTER (WHERE e.started_at >= CURRENT_DATE - interval '30 days') AS last30,
                count(*) FILTER (WHERE e.started_at >= CURRENT_DATE - interval '60 days'
                                   AND e.started_at < CURRENT_DATE - interval '30 days') AS prev30
         FROM {source} e WHERE e.test_case_id = ANY({cases_param}) GROUP BY e.test_case_id"
    );
    let rows = conn.query_all_raw(sql.statement(text)).await?;
    let mut out = HashMap::new();
    for r in &rows {
        let total: i64 = r.try_get("", "total")?;
        let passed: i64 = r.try_get("", "passed")?;
        let failed: i64 = r.try_get("", "failed")?;
        out.insert(
            r.try_get::<Uuid>("", "test_case_id")?,
            CaseStats {
                total_executions: total,
                passed,
                failed,
                skipped: r.try_get("", "skipped")?,
                success_rate: rate(passed, failed),
                avg_duration: ms(r.try_get("", "avg_d")?),
                min_duration: r.try_get("", "min_d")?,
                max_duration: r.try_get("", "max_d")?,
                median_duration: ms(r.try_get("", "median_d")?),
                p95_duration: ms(r.try_get("", "p95_d")?),
                first_executed_at: r.try_get("", "first_at")?,
                last_executed_at: r.try_get("", "last_at")?,
                executions_last_30_days: r.try_get("", "last30")?,
                executions_previous_30_days: r.try_get("", "prev30")?,
                stability_rating: rating(total, failed),
            },
        );
    }
    Ok(out)
}

/// Executions per case of the kept flakiness summary (`test_case_flakiness`, the sample of
/// `refresh_test_case_flakiness()`): the flakiest list with this sample is read from it.
pub const SUMMARY_SAMPLE: i32 = 20;

/// The flakiness and classification columns, of the kept summary or of
/// `test_case_classification_of` (both aliased `f`), with `classified_at` as `k`'s.
const FLAKINESS_COLUMNS: &str = "f.test_case_id, f.sample_size AS n, f.failures, f.flips, \
     f.failed_runs, f.recovered, f.score, f.same_commit_flips, f.classification::text AS classification, \
     f.reasons, k.classified_at";

/// The kept classification's time, for a classification computed on demand that agrees with it.
const KEPT_CLASSIFICATION: &str = "LEFT JOIN test_case_flakiness k \
     ON k.test_case_id = f.test_case_id AND k.classification = f.classification";

fn flakiness_of(r: &QueryResult) -> AppResult<Flakiness> {
    use super::classification::{confidence, failure_probability};
    let flips: i64 = r.try_get("", "flips")?;
    let recovered: i64 = r.try_get("", "recovered")?;
    let failures: i64 = r.try_get("", "failures")?;
    let sample_size: i64 = r.try_get("", "n")?;
    let same_commit_flips: i64 = r.try_get("", "same_commit_flips")?;
    let classification =
        FlakyClassification::of_stored(&r.try_get::<String>("", "classification")?);
    let mut reasons = Vec::new();
    if recovered > 0 {
        reasons.push(FlakinessReason::PassedOnRetry);
    }
    if flips > 0 {
        reasons.push(FlakinessReason::StatusFlips);
    }
    Ok(Flakiness {
        flaky_score: (r.try_get::<f64>("", "score")? * 1000.0).round() / 1000.0,
        reasons,
        sample_size,
        flips,
        failures,
        passed_on_retry: recovered,
        classification,
        classification_reasons: ClassificationReason::list_of(
            &r.try_get::<serde_json::Value>("", "reasons")?,
        ),
        same_commit_flips,
        failure_probability: failure_probability(failures, sample_size),
        confidence: confidence(
            classification,
            same_commit_flips,
            recovered,
            failures,
            sample_size,
        ),
        classified_at: r.try_get("", "classified_at")?,
    })
}

fn check_sample(sample: i32) -> AppResult<i32> {
    if !(2..=MAX_FLAKINESS_SAMPLE).contains(&sample) {
        return Err(AppError::bad_input(
            "lastN",
            format!("lastN must be between 2 and {MAX_FLAKINESS_SAMPLE}"),
        ));
    }
    Ok(sample)
}

/// Flakiness and classification of each case of `cases` over its last `sample` executions.
pub async fn flakiness(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
    sample: i32,
) -> AppResult<HashMap<Uuid, Flakiness>> {
    let sample = check_sample(sample)?;
    let rows = conn
        .query_all_raw(crate::sql::statement(
            format!(
                "SELECT {FLAKINESS_COLUMNS} FROM test_case_classification_of($2, $1) f {KEPT_CLASSIFICATION}"
            ),
            vec![sample.into(), cases.to_vec().into()],
        ))
        .await?;
    let mut out = HashMap::new();
    for r in &rows {
        out.insert(r.try_get::<Uuid>("", "test_case_id")?, flakiness_of(r)?);
    }
    Ok(out)
}

/// The flakiest cases: among cases that failed in the last `days`, the highest scores; with a
/// classification, the cases of that class (BROKEN ones included, which need not flip).
///
/// With the default sample, read from the kept summary (refreshed first by the caller with
/// [`refresh_flakiness`], so that it reflects every committed write) through its index on
/// (classification, score) or on score; with another sample, computed from each recently
/// failed case's executions.
pub async fn flakiest(
    conn: &impl ConnectionTrait,
    limit: i32,
    sample: i32,
    days: i32,
    project: Option<Uuid>,
    classification: Option<FlakyClassification>,
) -> AppResult<Vec<(Uuid, Flakiness)>> {
    let sample = check_sample(sample)?;
    let limit = check_limit(limit)?;
    let days = check_days("days", days)?;
    let mut sql = Sql::default();
    let limit = sql.bind(limit);
    let days = sql.bind(days);
    let in_project = match project {
        Some(p) => format!(
            " AND test_case_id IN (SELECT id FROM test_cases WHERE project_id = {})",
            sql.bind(p)
        ),
        None => String::new(),
    };
    let which = match classification {
        Some(c) => format!("f.classification = {}", sql.bind(c.stored())),
        None => "(f.flips > 0 OR f.recovered > 0)".to_owned(),
    };
    let query = if sample == SUMMARY_SAMPLE {
        sql.statement(format!(
            "SELECT {FLAKINESS_COLUMNS} FROM test_case_flakiness f
             CROSS JOIN LATERAL (SELECT f.classified_at) k
             WHERE {which}
               AND f.last_failed_at >= now() - {days} * interval '1 day'{}
             ORDER BY f.score DESC, f.test_case_id LIMIT {limit}",
            in_project.replace(" test_case_id IN", " f.test_case_id IN")
        ))
    } else {
        let sample = sql.bind(sample);
        sql.statement(format!(
            "SELECT {FLAKINESS_COLUMNS} FROM test_case_classification_of(ARRAY(
                 SELECT DISTINCT test_case_id FROM test_executions
                 WHERE status = 'failed' AND completed_at >= now() - {days} * interval '1 day'{in_project}), {sample}) f
             {KEPT_CLASSIFICATION}
             WHERE {which}
             ORDER BY f.score DESC, f.test_case_id LIMIT {limit}"
        ))
    };
    let rows = conn.query_all_raw(query).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<Uuid>("", "test_case_id")?, flakiness_of(r)?)))
        .collect()
}

/// Recomputes the kept flakiness of the cases changed since the last refresh; returns how
/// many. Readers of the flakiest list run it first, on a connection of their own (one refresh
/// at a time: a second waits for the first to commit, then finds nothing left); the server
/// runs it in the background so that readers rarely have anything to do.
pub async fn refresh_flakiness(conn: &impl ConnectionTrait) -> AppResult<i32> {
    let row = conn
        .query_one_raw(crate::sql::statement(
            "SELECT refresh_test_case_flakiness() AS n".to_owned(),
            vec![],
        ))
        .await?
        .ok_or_else(|| AppError::internal("refresh_test_case_flakiness returned no row"))?;
    Ok(row.try_get("", "n")?)
}

pub(super) fn check_limit(limit: i32) -> AppResult<i32> {
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(AppError::bad_input(
            "limit",
            format!("limit must be between 1 and {MAX_LIST}"),
        ));
    }
    Ok(limit)
}

/// The cases failing most in the last `days`.
pub async fn most_failing(
    conn: &impl ConnectionTrait,
    limit: i32,
    days: i32,
    project: Option<Uuid>,
) -> AppResult<
    Vec<(
        Uuid,
        i64,
        i64,
        Option<chrono::DateTime<chrono::FixedOffset>>,
    )>,
> {
    let limit = check_limit(limit)?;
    let days = check_days("days", days)?;
    let mut values: Vec<sea_orm::Value> = vec![limit.into(), days.into()];
    let in_project = match project {
        Some(p) => {
            values.push(p.into());
            " AND test_case_id IN (SELECT id FROM test_cases WHERE project_id = $3)"
        }
        None => "",
    };
    let rows = conn
        .query_all_raw(crate::sql::statement(
            format!(
                "SELECT test_case_id, count(*) FILTER (WHERE status = 'failed') AS failures, count(*) AS executions,
                    max(completed_at) FILTER (WHERE status = 'failed') AS last_failure
             FROM test_executions WHERE completed_at >= now() - $2 * interval '1 day'{in_project}
             GROUP BY test_case_id HAVING count(*) FILTER (WHERE status = 'failed') > 0
             ORDER BY failures DESC, test_case_id LIMIT $1"
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "test_case_id")?,
                r.try_get("", "failures")?,
                r.try_get("", "executions")?,
                r.try_get("", "last_failure")?,
            ))
        })
        .collect()
}

/// The failing steps of each of `cases` with their common errors, most failing first.
pub async fn failing_steps(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<FailingStep>>> {
    let rows = conn
        .query_all_raw(crate::sql::statement(
            "SELECT s.test_case_id, s.id, s.name, s.order_index, count(*) AS failures,
                    coalesce((SELECT array_agg(fp ORDER BY n DESC, fp) FROM (
                        SELECT error_fingerprint(x.error_message) AS fp, count(*) AS n
                        FROM test_step_executions x
                        WHERE x.test_step_id = s.id AND x.status = 'failed' AND x.error_message IS NOT NULL
                        GROUP BY 1 ORDER BY n DESC, fp LIMIT 3) common), '{}') AS errors
             FROM test_step_executions se JOIN test_steps s ON s.id = se.test_step_id
             WHERE s.test_case_id = ANY($1) AND se.status = 'failed'
             GROUP BY s.test_case_id, s.id, s.name, s.order_index
             ORDER BY s.test_case_id, failures DESC, s.order_index"
                .to_owned(),
            vec![cases.to_vec().into()],
        ))
        .await?;
    let mut out: HashMap<Uuid, Vec<FailingStep>> = HashMap::new();
    for r in &rows {
        out.entry(r.try_get("", "test_case_id")?)
            .or_default()
            .push(FailingStep {
                step_id: r.try_get("", "id")?,
                step_name: r.try_get("", "name")?,
                order_index: r.try_get("", "order_index")?,
                failure_count: r.try_get("", "failures")?,
                common_errors: r.try_get("", "errors")?,
            });
    }
    Ok(out)
}

/// Longest trend a client may ask for.
pub const MAX_TREND_DAYS: i64 = 366;

/// Daily pass rate from `from` to `to` (inclusive), optionally of a suite, a case or a window.
pub async fn trend(
    conn: &impl ConnectionTrait,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    suite: Option<Uuid>,
    case: Option<Uuid>,
    window: &StatsWindow,
) -> AppResult<Vec<DailyPassRate>> {
    if to < from || (to - from).num_days() >= MAX_TREND_DAYS {
        return Err(AppError::bad_input(
            "to",
            format!("the range must be 1 to {MAX_TREND_DAYS} days"),
        ));
    }
    let mut sql = Sql::default();
    let (from, to, suite, case) = (
        sql.bind(from),
        sql.bind(to),
        sql.bind(suite),
        sql.bind(case),
    );
    let source = window_source(window, &mut sql)?;
    let text = format!(
        "SELECT d::date AS day,
                count(e.id) FILTER (WHERE e.status = 'passed') AS passed,
                count(e.id) FILTER (WHERE e.status = 'failed') AS failed,
                count(e.id) FILTER (WHERE e.status = 'skipped') AS skipped
         FROM generate_series({from}::date, {to}::date, interval '1 day') d
         LEFT JOIN {source} e ON e.completed_at >= d AND e.completed_at < d + interval '1 day'
              AND ({suite}::uuid IS NULL OR e.test_run_id IN (SELECT id FROM test_runs WHERE test_suite_id = {suite}))
              AND ({case}::uuid IS NULL OR e.test_case_id = {case})
         GROUP BY d ORDER BY d"
    );
    let rows = conn.query_all_raw(sql.statement(text)).await?;
    rows.iter()
        .map(|r| {
            let passed: i64 = r.try_get("", "passed")?;
            let failed: i64 = r.try_get("", "failed")?;
            Ok(DailyPassRate {
                day: r.try_get("", "day")?,
                passed,
                failed,
                skipped: r.try_get("", "skipped")?,
                pass_rate: rate(passed, failed),
            })
        })
        .collect()
}

/// Aggregates of each of `runs`, archived executions included.
pub async fn run_stats(
    conn: &impl ConnectionTrait,
    runs: &[Uuid],
) -> AppResult<HashMap<Uuid, RunStats>> {
    let rows = conn
        .query_all_raw(crate::sql::statement(
            "WITH e AS (SELECT * FROM test_executions_all WHERE test_run_id = ANY($1)),
                  latest AS (SELECT DISTINCT ON (test_run_id, test_case_id) test_run_id, status FROM e
                             ORDER BY test_run_id, test_case_id, retry_attempt DESC),
                  outcomes AS (SELECT test_run_id, count(*) FILTER (WHERE status = 'passed') AS passed,
                                      count(*) FILTER (WHERE status = 'failed') AS failed
                               FROM latest GROUP BY 1),
                  durations AS (SELECT test_run_id, (avg(duration_ms) / 1000.0)::float8 AS avg_d,
                                       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) / 1000.0 AS p95_d,
                                       count(*) FILTER (WHERE retry_attempt > 0) AS retries,
                                       count(DISTINCT test_case_id) FILTER (WHERE retry_attempt > 0 AND status = 'passed') AS recovered
                                FROM e GROUP BY 1)
             SELECT r.id, coalesce(o.passed, 0) AS passed, coalesce(o.failed, 0) AS failed,
                    d.avg_d, d.p95_d, coalesce(d.retries, 0) AS retries, coalesce(d.recovered, 0) AS recovered
             FROM unnest($1::uuid[]) AS r(id)
             LEFT JOIN outcomes o ON o.test_run_id = r.id LEFT JOIN durations d ON d.test_run_id = r.id"
                .to_owned(),
            vec![runs.to_vec().into()],
        ))
        .await?;
    let mut out = HashMap::new();
    for r in &rows {
        let passed: i64 = r.try_get("", "passed")?;
        let failed: i64 = r.try_get("", "failed")?;
        out.insert(
            r.try_get::<Uuid>("", "id")?,
            RunStats {
                pass_rate: rate(passed, failed),
                avg_duration: ms(r.try_get("", "avg_d")?),
                p95_duration: ms(r.try_get("", "p95_d")?),
                retries: r.try_get("", "retries")?,
                passed_on_retry: r.try_get("", "recovered")?,
            },
        );
    }
    Ok(out)
}

/// Aggregates of the runs of each of `suites` created in the last `days` (all without).
pub async fn suite_stats(
    conn: &impl ConnectionTrait,
    suites: &[Uuid],
    days: Option<i32>,
) -> AppResult<HashMap<Uuid, SuiteStats>> {
    if let Some(days) = days {
        check_days("days", days)?;
    }
    let rows = conn
        .query_all_raw(crate::sql::statement(
            "SELECT s.id, count(r.id) AS runs,
                    count(r.id) FILTER (WHERE r.status = 'passed') AS passed_runs,
                    count(r.id) FILTER (WHERE r.status = 'failed') AS failed_runs,
                    avg(CASE WHEN r.passed_tests + r.failed_tests > 0
                             THEN 100.0 * r.passed_tests / (r.passed_tests + r.failed_tests) END)::float8 AS avg_rate,
                    avg(extract(epoch FROM r.completed_at - r.started_at))::float8 AS avg_d,
                    max(r.started_at) AS last_at
             FROM unnest($1::uuid[]) AS s(id)
             LEFT JOIN test_runs r ON r.test_suite_id = s.id
                  AND ($2::int IS NULL OR r.created_at >= now() - $2 * interval '1 day')
             GROUP BY s.id"
                .to_owned(),
            vec![suites.to_vec().into(), days.into()],
        ))
        .await?;
    let mut out = HashMap::new();
    for r in &rows {
        out.insert(
            r.try_get::<Uuid>("", "id")?,
            SuiteStats {
                runs: r.try_get("", "runs")?,
                passed_runs: r.try_get("", "passed_runs")?,
                failed_runs: r.try_get("", "failed_runs")?,
                avg_pass_rate: r
                    .try_get::<Option<f64>>("", "avg_rate")?
                    .map(|v| (v * 100.0).round() / 100.0),
                avg_run_duration: ms(r.try_get("", "avg_d")?),
                last_run_at: r.try_get("", "last_at")?,
            },
        );
    }
    Ok(out)
}

/// Statistics of every case matching `filter` in `window`, a keyset page at a time, ordered
/// by a statistic. Percentiles are left to `TestCase.stats` (exact per case).
pub async fn stats_page(
    conn: &impl ConnectionTrait,
    filter: &crate::catalog::inputs::TestCaseFilter,
    window: &StatsWindow,
    order: Option<super::types::CaseStatsOrder>,
    args: &crate::pagination::PageArgs,
) -> AppResult<(Fetched<(test_case_model::Model, CaseStats)>, Total)> {
    use super::types::CaseStatsOrderField as F;
    use crate::pagination::{Cursor, KeyKind, Ordering, Page, SortValue, finish_page};
    if filter
        .search
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
    {
        return Err(AppError::bad_input(
            "filter.search",
            "search is not available on statistics",
        ));
    }
    let (field, descending) = order
        .map(|o| {
            (
                o.field,
                o.direction == crate::catalog::enums::OrderDirection::Desc,
            )
        })
        .unwrap_or((F::FailureRate, true));
    let (name, expr, kind) = match field {
        F::FailureRate => (
            "failureRate",
            "coalesce(s.failed::float8 / nullif(s.passed + s.failed, 0), -1)",
            KeyKind::Float,
        ),
        F::Failures => ("failures", "s.failed::float8", KeyKind::Float),
        F::Executions => ("executions", "s.total::float8", KeyKind::Float),
        F::AvgDuration => ("avgDuration", "coalesce(s.avg_d, -1)", KeyKind::Float),
        F::LastExecuted => (
            "lastExecuted",
            "coalesce(extract(epoch FROM s.last_at), -1)::float8",
            KeyKind::Float,
        ),
    };
    let ordering = Ordering {
        name: format!("stats:{name}:{}", if descending { "desc" } else { "asc" }),
        sql: expr.to_owned(),
        kind,
        descending,
        id_column: "s.id",
    };
    let page = Page::new(args, &ordering)?;
    let mut sql = Sql::default();
    let case_conditions = crate::catalog::service::cases::filter_conditions(filter, &mut sql)?;
    let total = Total::Count(sql.statement(format!(
        "SELECT count(*) FROM test_cases{}",
        where_clause(&case_conditions)
    )));
    let source = window_source(window, &mut sql)?;
    let keyset = crate::sql::keyset(&page, &ordering, &mut sql)?;
    let limit = sql.bind(page.limit as i64 + 1);
    let case_filter = if case_conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", case_conditions.join(" AND "))
    };
    let keyset = if keyset.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", keyset.join(" AND "))
    };
    let text = format!(
        "WITH s AS (
             SELECT test_cases.id, count(e.id) AS total,
                    count(e.id) FILTER (WHERE e.status = 'passed') AS passed,
                    count(e.id) FILTER (WHERE e.status = 'failed') AS failed,
                    count(e.id) FILTER (WHERE e.status = 'skipped') AS skipped,
                    (avg(e.duration_ms) / 1000.0)::float8 AS avg_d, min(e.duration_seconds) AS min_d,
                    max(e.duration_seconds) AS max_d, min(e.completed_at) AS first_at, max(e.completed_at) AS last_at,
                    count(e.id) FILTER (WHERE e.started_at >= CURRENT_DATE - interval '30 days') AS last30,
                    count(e.id) FILTER (WHERE e.started_at >= CURRENT_DATE - interval '60 days'
                                          AND e.started_at < CURRENT_DATE - interval '30 days') AS prev30
             FROM test_cases LEFT JOIN {source} e ON e.test_case_id = test_cases.id
             {case_filter}
             GROUP BY test_cases.id)
         SELECT tc.*, s.total, s.passed, s.failed, s.skipped, s.avg_d, s.min_d, s.max_d, s.first_at, s.last_at,
                s.last30, s.prev30, ({expr})::float8 AS sort_key
         FROM s JOIN test_cases tc ON tc.id = s.id
         {keyset}
         ORDER BY {} LIMIT {limit}",
        crate::sql::order_by(&page, &ordering)
    );
    let rows = conn.query_all_raw(sql.statement(text)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        use sea_orm::FromQueryResult;
        let case = test_case_model::Model::from_query_result(r, "")?;
        let total: i64 = r.try_get("", "total")?;
        let passed: i64 = r.try_get("", "passed")?;
        let failed: i64 = r.try_get("", "failed")?;
        let stats = CaseStats {
            total_executions: total,
            passed,
            failed,
            skipped: r.try_get("", "skipped")?,
            success_rate: rate(passed, failed),
            avg_duration: ms(r.try_get("", "avg_d")?),
            min_duration: r.try_get("", "min_d")?,
            max_duration: r.try_get("", "max_d")?,
            median_duration: None,
            p95_duration: None,
            first_executed_at: r.try_get("", "first_at")?,
            last_executed_at: r.try_get("", "last_at")?,
            executions_last_30_days: r.try_get("", "last30")?,
            executions_previous_30_days: r.try_get("", "prev30")?,
            stability_rating: rating(total, failed),
        };
        let key: f64 = r.try_get("", "sort_key")?;
        out.push((key, case, stats));
    }
    let fetched = finish_page(&page, out, |(key, case, _)| Cursor {
        ordering: ordering.name.clone(),
        key: SortValue::Float(*key),
        id: case.id,
    });
    Ok((fetched.map(|(_, case, stats)| (case, stats)), total))
}

use entity::test_case as test_case_model;
