//! Run comparison: a run's baseline, and what changed between two runs, each case by its last
//! attempt in each run. One statement compares any number of pairs of runs (a page of runs'
//! comparisons at once): the two runs' final attempts are read through the executions' index
//! on their run, joined by case, sorted into lists, counted, and only the entries asked for
//! leave the database, with their error fingerprints. (The pool turns PostgreSQL's JIT
//! compilation off: `db::connect_with`.)

use std::collections::HashMap;
use std::sync::Arc;

use entity::enums::ExecutionStatus;
use entity::test_run;
use sea_orm::{ConnectionTrait, FromQueryResult, QueryResult};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Default ratio by which a passed case must have slowed down to count as a duration
/// regression (0.5: half as slow again).
pub const DURATION_THRESHOLD_DEFAULT: f64 = 0.5;
/// Largest threshold ratio accepted: a hundredfold slow-down; past it nothing would count.
pub const DURATION_THRESHOLD_MAX: f64 = 100.0;
/// Fewest milliseconds a case must have slowed down by to count as a duration regression,
/// whatever the ratio: a 2 ms test taking 5 ms is timer noise, not a regression.
pub const DURATION_REGRESSION_MIN_MS: i32 = 100;
/// Entries of a list when its `first` is not given.
pub const LIST_DEFAULT: i32 = 100;
/// Most entries of one list: a page a person reads or a CI job prints; the counts are exact.
pub const LIST_MAX: i32 = 1_000;
/// Runs a still-failing case's streak is followed back over (the base run and its
/// predecessors): bounds the work of `failingSince` to this many index lookups per case.
pub const STREAK_RUNS_MAX: i64 = 50;

/// The nil UUID stands for "no suite" in the baseline key (migration 25's index).
const NO_SUITE: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// The lists of a comparison, in the order of [`Limits`] and of the statement's `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum List {
    NewFailures = 0,
    Fixed = 1,
    StillFailing = 2,
    NewTests = 3,
    MissingTests = 4,
    DurationRegressions = 5,
}

/// Number of lists.
pub const LISTS: usize = 6;

/// How many entries of each list to read (0: only its count).
pub type Limits = [i32; LISTS];

/// One comparison to compute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    pub base: Uuid,
    pub head: Uuid,
    /// The duration threshold ratio, as its bits (hashable).
    pub threshold_bits: u64,
    pub limits: Limits,
    /// Also count the new failures of cases quarantined now (the quality gate's question).
    pub quarantine: bool,
}

impl Request {
    pub fn threshold(&self) -> f64 {
        f64::from_bits(self.threshold_bits)
    }
}

/// A case in a list.
#[derive(Debug, Clone)]
pub struct Entry {
    pub test_case_id: Uuid,
    pub base_execution_id: Option<Uuid>,
    pub base_status: Option<ExecutionStatus>,
    pub base_duration_ms: Option<i32>,
    pub head_execution_id: Option<Uuid>,
    pub head_status: Option<ExecutionStatus>,
    pub head_duration_ms: Option<i32>,
    pub error_fingerprint: Option<String>,
}

/// What a comparison found.
#[derive(Debug, Clone, Default)]
pub struct Compared {
    /// Each list's entries (at most its limit).
    pub lists: [Vec<Entry>; LISTS],
    /// Each list's size.
    pub counts: [i64; LISTS],
    /// Cases in both runs and in none of the lists.
    pub unchanged: i64,
    /// New failures whose case is quarantined now (counted when asked).
    pub quarantined_new_failures: i64,
}

/// Checks a duration threshold ratio.
pub fn check_threshold(field: &str, threshold: Option<f64>) -> AppResult<f64> {
    let t = threshold.unwrap_or(DURATION_THRESHOLD_DEFAULT);
    if !t.is_finite() || t <= 0.0 || t > DURATION_THRESHOLD_MAX {
        return Err(AppError::bad_input(
            field,
            format!(
                "{field} must be a ratio above 0 and at most {DURATION_THRESHOLD_MAX} \
                 (0.5: 50% slower)"
            ),
        ));
    }
    Ok(t)
}

/// Checks a list's `first`.
pub fn check_first(field: &str, first: Option<i32>) -> AppResult<i32> {
    let n = first.unwrap_or(LIST_DEFAULT);
    crate::input::check_range(field, n, 0, LIST_MAX)
}

/// The baseline of each run of `heads` (those that have one): the latest run of the same
/// project, suite (or both ad hoc), branch and environment that finished (passed or failed)
/// before the run was created and was not an infrastructure failure.
pub async fn baselines(
    conn: &impl ConnectionTrait,
    heads: &[Uuid],
) -> AppResult<HashMap<Uuid, test_run::Model>> {
    let sql = format!(
        "SELECT h.id AS head_id, b.* FROM test_runs h
         CROSS JOIN LATERAL (
             SELECT * FROM test_runs b
             WHERE b.project_id = h.project_id
               AND coalesce(b.test_suite_id, {NO_SUITE}) = coalesce(h.test_suite_id, {NO_SUITE})
               AND coalesce(b.branch, '') = coalesce(h.branch, '')
               AND coalesce(b.environment, '') = coalesce(h.environment, '')
               AND b.status IN ('passed', 'failed') AND NOT b.infrastructure_failure
               AND b.completed_at < h.created_at AND b.id <> h.id
             ORDER BY b.completed_at DESC, b.id DESC
             LIMIT 1) b
         WHERE h.id = ANY($1)"
    );
    let rows = conn
        .query_all_raw(crate::sql::statement(sql, vec![heads.to_vec().into()]))
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let head: Uuid = row.try_get("", "head_id")?;
        out.insert(head, test_run::Model::from_query_result(&row, "")?);
    }
    Ok(out)
}

/// Compares each requested pair of runs, in one statement. The caller has checked that it
/// sees both runs of each pair; row-level security applies to the executions as to any read.
#[tracing::instrument(skip_all, fields(pairs = requests.len()))]
pub async fn compare(
    conn: &impl ConnectionTrait,
    requests: &[Request],
) -> AppResult<HashMap<Request, Arc<Compared>>> {
    if requests.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = conn.query_all_raw(statement(requests)).await?;
    decode(requests, rows)
}

/// The comparison statement of `requests` (one row per list entry, one of counts per pair).
pub fn statement(requests: &[Request]) -> sea_orm::Statement {
    let bases: Vec<Uuid> = requests.iter().map(|r| r.base).collect();
    let heads: Vec<Uuid> = requests.iter().map(|r| r.head).collect();
    let ratios: Vec<f64> = requests.iter().map(Request::threshold).collect();
    let limits: Vec<i32> = requests.iter().flat_map(|r| r.limits).collect();
    let quarantine: Vec<bool> = requests.iter().map(|r| r.quarantine).collect();
    // the final attempt of each case in each run: the run's executions through its index,
    // the highest attempt of each case kept
    let final_attempts = |run: &str| {
        format!(
            "SELECT p.pair, x.* FROM p CROSS JOIN LATERAL (
                 SELECT DISTINCT ON (e.test_case_id) e.test_case_id, e.id, e.status, e.duration_ms
                 FROM test_executions e WHERE e.test_run_id = p.{run}
                 ORDER BY e.test_case_id DESC, e.retry_attempt DESC) x"
        )
    };
    // each list's first entries: a scan of the (materialized) pairs of attempts per list,
    // ordered only among its members, and only for the lists asked for
    let lists: Vec<String> = [
        (List::NewFailures, "f.nf", "f.case_id"),
        (List::Fixed, "f.fx", "f.case_id"),
        (List::StillFailing, "f.sf", "f.case_id"),
        (List::NewTests, "f.nt", "f.case_id"),
        (List::MissingTests, "f.mt", "f.case_id"),
        (
            List::DurationRegressions,
            "f.dr",
            "f.base_ms - f.head_ms, f.case_id",
        ),
    ]
    .iter()
    .map(|(list, member, order)| {
        let list = *list as usize;
        format!(
            "SELECT {list} AS list, f.*,
                    row_number() OVER (PARTITION BY f.pair ORDER BY {order}) AS n
             FROM f JOIN p ON p.pair = f.pair AND p.lim[{}] > 0 WHERE {member}",
            list + 1
        )
    })
    .collect();
    let active = crate::quarantine::service::ACTIVE;
    let sql = format!(
        "WITH p AS MATERIALIZED (
             SELECT u.base, u.head, u.ratio, u.quarantine, u.pair,
                    ($4::int[])[(u.pair - 1) * {LISTS} + 1 : u.pair * {LISTS}] AS lim
             FROM unnest($1::uuid[], $2::uuid[], $3::float8[], $5::boolean[])
                  WITH ORDINALITY AS u(base, head, ratio, quarantine, pair)),
         b AS ({base}),
         h AS ({head}),
         f AS MATERIALIZED (
             SELECT j.*,
                    coalesce(j.head_status = 'failed' AND j.base_status IS DISTINCT FROM 'failed',
                             false) AS nf,
                    coalesce(j.base_status = 'failed' AND j.head_status = 'passed', false) AS fx,
                    coalesce(j.base_status = 'failed' AND j.head_status = 'failed', false) AS sf,
                    j.base_id IS NULL AS nt,
                    j.head_id IS NULL AS mt,
                    coalesce(j.base_status = 'passed' AND j.head_status = 'passed'
                             AND j.head_ms > j.base_ms * (1 + p.ratio)
                             AND j.head_ms - j.base_ms >= $6, false) AS dr,
                    p.quarantine
             FROM (SELECT coalesce(h.pair, b.pair) AS pair,
                          coalesce(h.test_case_id, b.test_case_id) AS case_id,
                          b.id AS base_id, b.status AS base_status, b.duration_ms AS base_ms,
                          h.id AS head_id, h.status AS head_status, h.duration_ms AS head_ms
                   FROM b FULL JOIN h ON h.pair = b.pair AND h.test_case_id = b.test_case_id) j
             JOIN p ON p.pair = j.pair),
         e AS ({lists})
         SELECT f.pair, -1 AS list, NULL::uuid AS case_id, NULL::uuid AS base_id,
                NULL::text AS base_status, NULL::int AS base_ms, NULL::uuid AS head_id,
                NULL::text AS head_status, NULL::int AS head_ms, NULL::text AS fingerprint,
                ARRAY[count(*) FILTER (WHERE f.nf), count(*) FILTER (WHERE f.fx),
                      count(*) FILTER (WHERE f.sf), count(*) FILTER (WHERE f.nt),
                      count(*) FILTER (WHERE f.mt), count(*) FILTER (WHERE f.dr),
                      count(*) FILTER (WHERE NOT (f.nf OR f.fx OR f.sf OR f.nt OR f.mt OR f.dr)),
                      count(*) FILTER (WHERE f.nf AND f.quarantine AND EXISTS (
                          SELECT 1 FROM test_case_quarantines
                          WHERE test_case_quarantines.test_case_id = f.case_id AND {active}))]::bigint[]
                    AS counts
         FROM f GROUP BY f.pair
         UNION ALL
         SELECT e.pair, e.list, e.case_id, e.base_id, e.base_status, e.base_ms, e.head_id,
                e.head_status, e.head_ms,
                (SELECT error_fingerprint(x.error_message) FROM test_executions x
                 WHERE x.id = CASE WHEN e.head_status = 'failed' THEN e.head_id
                                   WHEN e.base_status = 'failed' THEN e.base_id END),
                NULL
         FROM e JOIN p ON p.pair = e.pair
         WHERE e.n <= p.lim[e.list + 1]
         ORDER BY 1, 2, 3",
        base = final_attempts("base"),
        head = final_attempts("head"),
        lists = lists.join(" UNION ALL "),
    );
    crate::sql::statement(
        sql,
        vec![
            bases.into(),
            heads.into(),
            ratios.into(),
            limits.into(),
            quarantine.into(),
            DURATION_REGRESSION_MIN_MS.into(),
        ],
    )
}

fn decode(
    requests: &[Request],
    rows: Vec<QueryResult>,
) -> AppResult<HashMap<Request, Arc<Compared>>> {
    let mut found: Vec<Compared> = vec![Compared::default(); requests.len()];
    for row in rows {
        let pair: i64 = row.try_get("", "pair")?;
        let Some(compared) = usize::try_from(pair - 1)
            .ok()
            .and_then(|i| found.get_mut(i))
        else {
            return Err(AppError::internal("a comparison row of no pair"));
        };
        let list: i32 = row.try_get("", "list")?;
        if list < 0 {
            let counts: Vec<i64> = row.try_get("", "counts")?;
            for (i, n) in counts.iter().take(LISTS).enumerate() {
                compared.counts[i] = *n;
            }
            compared.unchanged = counts.get(LISTS).copied().unwrap_or(0);
            compared.quarantined_new_failures = counts.get(LISTS + 1).copied().unwrap_or(0);
            continue;
        }
        let list = usize::try_from(list)
            .ok()
            .filter(|l| *l < LISTS)
            .ok_or_else(|| AppError::internal("a comparison row of no list"))?;
        compared.lists[list].push(entry(&row)?);
    }
    // a regression list reads most regressed first (the statement's order is by case)
    for compared in &mut found {
        compared.lists[List::DurationRegressions as usize].sort_by_key(|e| {
            (
                std::cmp::Reverse(
                    e.head_duration_ms.unwrap_or(0) - e.base_duration_ms.unwrap_or(0),
                ),
                e.test_case_id,
            )
        });
    }
    Ok(requests
        .iter()
        .cloned()
        .zip(found.into_iter().map(Arc::new))
        .collect())
}

fn status(row: &QueryResult, column: &str) -> AppResult<Option<ExecutionStatus>> {
    use sea_orm::ActiveEnum;
    let text: Option<String> = row.try_get("", column)?;
    text.map(|t| ExecutionStatus::try_from_value(&t).map_err(AppError::from))
        .transpose()
}

fn entry(row: &QueryResult) -> AppResult<Entry> {
    Ok(Entry {
        test_case_id: row.try_get("", "case_id")?,
        base_execution_id: row.try_get("", "base_id")?,
        base_status: status(row, "base_status")?,
        base_duration_ms: row.try_get("", "base_ms")?,
        head_execution_id: row.try_get("", "head_id")?,
        head_status: status(row, "head_status")?,
        head_duration_ms: row.try_get("", "head_ms")?,
        error_fingerprint: row.try_get("", "fingerprint")?,
    })
}

/// Since when a still-failing case fails: the first run of its current failing streak in the
/// base run's series (the base run, then each earlier run of its suite, branch and
/// environment, as baselines are chosen), at most [`STREAK_RUNS_MAX`] runs back.
#[derive(Debug, Clone)]
pub struct Streak {
    /// The streak's first run.
    pub run_id: Uuid,
    /// When that run started (its creation when it never started).
    pub since: chrono::DateTime<chrono::FixedOffset>,
    /// Runs of the series in which the case failed, from that run to the base run.
    pub runs: i64,
    /// Whether the streak's start was seen: false when it goes back further than was looked.
    pub complete: bool,
}

/// The streak of each (base run, case) key, in one statement.
#[tracing::instrument(skip_all, fields(keys = keys.len()))]
pub async fn streaks(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid)],
) -> AppResult<HashMap<(Uuid, Uuid), Streak>> {
    let bases: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let cases: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
    let sql = format!(
        "WITH k AS (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[]) AS k(base, case_id)),
         s AS (
             SELECT br.id AS base, 0::bigint AS k, br.id, coalesce(br.started_at, br.created_at) AS at
             FROM test_runs br WHERE br.id IN (SELECT base FROM k)
             UNION ALL
             SELECT br.id, row_number() OVER (PARTITION BY br.id ORDER BY r.completed_at DESC, r.id DESC),
                    r.id, r.at
             FROM test_runs br
             CROSS JOIN LATERAL (
                 SELECT r.id, r.completed_at, coalesce(r.started_at, r.created_at) AS at
                 FROM test_runs r
                 WHERE r.project_id = br.project_id
                   AND coalesce(r.test_suite_id, {NO_SUITE}) = coalesce(br.test_suite_id, {NO_SUITE})
                   AND coalesce(r.branch, '') = coalesce(br.branch, '')
                   AND coalesce(r.environment, '') = coalesce(br.environment, '')
                   AND r.status IN ('passed', 'failed') AND NOT r.infrastructure_failure
                   AND r.completed_at < br.created_at AND r.id <> br.id
                 ORDER BY r.completed_at DESC, r.id DESC
                 LIMIT $3) r
             WHERE br.id IN (SELECT base FROM k)),
         o AS (
             SELECT k.base, k.case_id, s.k, s.id, s.at,
                    (SELECT e.status FROM test_executions e
                     WHERE e.test_run_id = s.id AND e.test_case_id = k.case_id
                     ORDER BY e.retry_attempt DESC LIMIT 1) AS status
             FROM k JOIN s ON s.base = k.base),
         w AS (
             SELECT o.*, min(o.k) FILTER (WHERE o.status <> 'failed')
                             OVER (PARTITION BY o.base, o.case_id) AS broke,
                         max(o.k) OVER (PARTITION BY o.base, o.case_id) AS deepest
             FROM o)
         SELECT DISTINCT ON (w.base, w.case_id) w.base, w.case_id, w.id, w.at,
                count(*) OVER (PARTITION BY w.base, w.case_id) AS runs,
                (w.broke IS NOT NULL OR w.deepest < $3) AS complete
         FROM w WHERE w.status = 'failed' AND (w.broke IS NULL OR w.k < w.broke)
         ORDER BY w.base, w.case_id, w.k DESC"
    );
    let rows = conn
        .query_all_raw(crate::sql::statement(
            sql,
            vec![bases.into(), cases.into(), STREAK_RUNS_MAX.into()],
        ))
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = (row.try_get("", "base")?, row.try_get("", "case_id")?);
        out.insert(
            key,
            Streak {
                run_id: row.try_get("", "id")?,
                since: row.try_get("", "at")?,
                runs: row.try_get("", "runs")?,
                complete: row.try_get("", "complete")?,
            },
        );
    }
    Ok(out)
}
