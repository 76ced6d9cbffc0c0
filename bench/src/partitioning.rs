//! Partitioned executions, measured: on the seeded dataset, copies of `test_executions` and
//! `test_step_executions` partitioned by month (native declarative partitioning) are built the
//! way docs/scaling.md's migration plan proposes, and the reads the API runs most are timed on
//! both shapes. The copies live in a schema of their own, under the tables' own names (so one
//! SQL text reads either shape, by search_path), and are dropped afterwards: the dataset is
//! left as it was found.
//!
//! The partition key is `run_created_at`, the creation time of the row's run, carried by every
//! execution and step result: a run's rows share one partition, so a month is detached whole
//! (never half a run), and the unique keys, which must include the key, stay as strong as
//! today's: a run has one creation time, so `(test_run_id, test_case_id, retry_attempt,
//! run_created_at)` is unique exactly when `(test_run_id, test_case_id, retry_attempt)` is.
//!
//! The plan's method, each phase timed: the partitioned tables are created without indexes;
//! rows are copied month by month with INSERT ... SELECT (the executions of the month's runs,
//! then their step results); then the indexes are built on the parents, the foreign keys added
//! per partition NOT VALID and validated (a lock that lets writes through) and attached to the
//! parents, the triggers, policies and grants carried over, and the copies analysed. Each query
//! is then EXPLAIN ANALYZEd as the owner on both shapes, alternately, and so is a bulk report's
//! worth of rows written, in a transaction rolled back.

use std::time::Instant;

use anyhow::Context as _;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};

use crate::report::Row;
use crate::seed::thousands;
use crate::{Ctx, progress};

/// Schema of the partitioned copies: the tables keep their names, so a query's text reads
/// today's tables or the copies by `search_path` alone.
const SCHEMA: &str = "partitioned_copy";

/// The copied tables, parents first (a step result references its execution).
const TABLES: [&str; 2] = ["test_executions", "test_step_executions"];

/// The partition key each copied row carries: its run's creation time. Executions without a
/// run (or a run without a creation time) fall back to their own, then to the default partition.
const KEY: &str = "coalesce(r.created_at, e.created_at, '-infinity'::timestamptz)";

/// EXPLAIN ANALYZE repetitions per query and shape, after one unmeasured: the median is
/// reported, so one disturbed sample on a shared machine does not move it.
const QUERY_SAMPLES: usize = 9;

/// Distinct runs, cases and executions the queries ask about, taken in turn, so that no figure
/// rests on one lucky row.
const SAMPLE_ROWS: i64 = 3;

/// Window of the recent-window aggregate, in days: the API's default for the most-failing cases.
const RECENT_DAYS: i64 = 30;

/// The scale the migration plan is projected to: 100M step results (docs/scaling.md) and,
/// at the large dataset's 5 step results per execution, 20M executions.
const PROJECTED_STEP_RESULTS: f64 = 100e6;
const PROJECTED_EXECUTIONS: f64 = 20e6;

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    progress::say(ctx.options, "scenario: partitioned executions");
    let mut conn = PgConnection::connect(&ctx.env.url)
        .await
        .context("connecting as the owner")?;
    // month boundaries in UTC whatever the server's time zone
    sqlx::raw_sql("SET TimeZone = 'UTC'")
        .execute(&mut conn)
        .await?;
    // left by an interrupted run
    drop_copies(&mut conn).await?;
    let measured = measure(ctx, &mut conn, report).await;
    let dropped = drop_copies(&mut conn).await;
    let _ = conn.close().await;
    measured?;
    dropped
}

async fn drop_copies(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "RESET search_path; DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"
    )))
    .execute(conn)
    .await
    .context("dropping the partitioned copies")?;
    Ok(())
}

/// A month partition: `[from, to)` and its name's suffix.
struct Month {
    from: String,
    to: String,
    suffix: String,
}

/// Seconds of each phase of the copy, and rows copied.
#[derive(Default)]
struct Copied {
    executions: i64,
    steps: i64,
    executions_s: f64,
    steps_s: f64,
    indexes_s: f64,
    keys_s: f64,
    carried_s: f64,
    analyze_s: f64,
    /// Objects carried over, for the note.
    carried: Vec<String>,
}

async fn measure(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    report: &mut crate::Report,
) -> anyhow::Result<()> {
    let months = months(conn).await?;
    create(conn, &months).await?;
    let mut copied = Copied::default();
    copy(ctx, conn, &months, &mut copied).await?;
    build(ctx, conn, &months, &mut copied).await?;
    report_copy(report, &copied, months.len());
    progress::say(ctx.options, "partitioned executions: queries, both shapes");
    let samples = Samples::pick(conn).await?;
    let mut queries = queries(&samples);
    // writes last: the rows they roll back stay in the indexes as dead entries until VACUUM,
    // which the reads would wade through
    queries.sort_by_key(|q| q.write);
    for query in queries {
        compare(conn, report, &query, months.len() + 1).await?;
    }
    // the dead rows of the rolled-back writes gone from today's tables: as they were found
    sqlx::raw_sql("VACUUM public.test_executions, public.test_step_executions")
        .execute(&mut *conn)
        .await
        .context("vacuuming today's tables after the writes")?;
    report.note(format!(
        "Partitioning: copies of test_executions and test_step_executions partitioned by month of `run_created_at` (the run's creation time, carried by every row: a run stays in one partition, and unique keys that must include the key stay as strong as today's) are built in schema `{SCHEMA}` as docs/scaling.md's migration plan proposes: tables without indexes, rows copied month by month by INSERT ... SELECT (the executions of the month's runs, then their step results), then indexes built on the parents, foreign keys added per partition NOT VALID, validated and attached to the parents, triggers, policies and grants carried over ({}), ANALYZE. Queries: EXPLAIN (ANALYZE, TIMING OFF) as the owner, {QUERY_SAMPLES} times per shape alternately after one unmeasured; planning + execution time, median; the same SQL text on both shapes by search_path, or today's text with the partition key added (\"+ key\"), as the API would once it carries the key. The write: a run's executions inserted again as new attempts with every step of their cases, in a transaction rolled back, the tables' own triggers off on both shapes (on the copies they would act on today's tables by name); foreign-key checks stay. Ratio > 1: faster partitioned. The copies are dropped afterwards.",
        copied.carried.join(", ")
    ));
    Ok(())
}

/// Months from the first run's to the one after the latest (new writes land there).
async fn months(conn: &mut PgConnection) -> anyhow::Result<Vec<Month>> {
    let rows = sqlx::query(
        "SELECT to_char(m, 'YYYY-MM-DD'), to_char(m + interval '1 month', 'YYYY-MM-DD'),
                to_char(m, 'YYYY_MM')
         FROM (SELECT coalesce(min(created_at), now()) AS lo,
                      greatest(coalesce(max(created_at), now()), now()) AS hi FROM test_runs) b,
              generate_series(date_trunc('month', b.lo), date_trunc('month', b.hi) + interval '1 month',
                              interval '1 month') AS m
         ORDER BY m",
    )
    .fetch_all(&mut *conn)
    .await
    .context("months of the runs")?;
    rows.iter()
        .map(|r| {
            Ok(Month {
                from: r.try_get(0)?,
                to: r.try_get(1)?,
                suffix: r.try_get(2)?,
            })
        })
        .collect()
}

/// The partitioned parents (today's columns, defaults and CHECKs, plus the key) and their
/// month partitions, with a default partition for rows outside them.
async fn create(conn: &mut PgConnection, months: &[Month]) -> anyhow::Result<()> {
    let mut ddl = format!("CREATE SCHEMA {SCHEMA};");
    for table in TABLES {
        ddl.push_str(&format!(
            "CREATE TABLE {SCHEMA}.{table} (LIKE public.{table} INCLUDING DEFAULTS
                 INCLUDING CONSTRAINTS INCLUDING GENERATED, run_created_at timestamptz NOT NULL)
             PARTITION BY RANGE (run_created_at);
             CREATE TABLE {SCHEMA}.{table}_default PARTITION OF {SCHEMA}.{table} DEFAULT;"
        ));
        for m in months {
            ddl.push_str(&format!(
                "CREATE TABLE {SCHEMA}.{table}_{} PARTITION OF {SCHEMA}.{table}
                 FOR VALUES FROM ('{}') TO ('{}');",
                m.suffix, m.from, m.to
            ));
        }
    }
    sqlx::raw_sql(AssertSqlSafe(ddl))
        .execute(conn)
        .await
        .context("creating the partitioned tables")?;
    Ok(())
}

/// Rows copied month by month, executions first; then those of no month (no run).
async fn copy(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    months: &[Month],
    copied: &mut Copied,
) -> anyhow::Result<()> {
    let bar = progress::bar(
        ctx.options,
        2 * (months.len() as u64 + 1),
        "partitioned executions: copying by month",
    );
    let runs_of_month = "SELECT id FROM public.test_runs WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz";
    let no_month = "e.test_run_id IS NULL OR e.test_run_id IN (SELECT id FROM public.test_runs WHERE created_at IS NULL)";
    let executions = |filter: &str| {
        format!(
            "INSERT INTO {SCHEMA}.test_executions
             SELECT e.*, {KEY} FROM public.test_executions e
             LEFT JOIN public.test_runs r ON r.id = e.test_run_id WHERE {filter}"
        )
    };
    let steps = |filter: &str| {
        format!(
            "INSERT INTO {SCHEMA}.test_step_executions
             SELECT s.*, {KEY} FROM public.test_step_executions s
             JOIN public.test_executions e ON e.id = s.test_execution_id
             LEFT JOIN public.test_runs r ON r.id = e.test_run_id WHERE {filter}"
        )
    };
    let by_month = format!("e.test_run_id IN ({runs_of_month})");
    for (is_steps, rows, seconds) in [
        (false, &mut copied.executions, &mut copied.executions_s),
        (true, &mut copied.steps, &mut copied.steps_s),
    ] {
        let sql = if is_steps {
            [steps(&by_month), steps(no_month)]
        } else {
            [executions(&by_month), executions(no_month)]
        };
        let t0 = Instant::now();
        for m in months {
            *rows += sqlx::query(AssertSqlSafe(sql[0].clone()))
                .bind(&m.from)
                .bind(&m.to)
                .execute(&mut *conn)
                .await
                .with_context(|| format!("copying {}", m.suffix))?
                .rows_affected() as i64;
            bar.inc(1);
        }
        *rows += sqlx::raw_sql(AssertSqlSafe(sql[1].clone()))
            .execute(&mut *conn)
            .await
            .context("copying rows without a run")?
            .rows_affected() as i64;
        bar.inc(1);
        *seconds = t0.elapsed().as_secs_f64();
    }
    bar.finish_and_clear();
    Ok(())
}

/// Indexes, keys, triggers, policies and grants as today's tables have them, then ANALYZE.
async fn build(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    months: &[Month],
    copied: &mut Copied,
) -> anyhow::Result<()> {
    progress::say(
        ctx.options,
        "partitioned executions: indexes, keys, triggers, policies",
    );
    let t0 = Instant::now();
    let mut indexes = 0;
    for table in TABLES {
        indexes += carry_indexes(conn, table).await?;
    }
    copied.indexes_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let mut keys = 0;
    for table in TABLES {
        keys += carry_foreign_keys(conn, table, months).await?;
    }
    copied.keys_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let (mut triggers, mut policies) = (0, 0);
    for table in TABLES {
        triggers += carry_triggers(conn, table).await?;
        policies += carry_policies(conn, table).await?;
    }
    copied.carried_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ANALYZE {SCHEMA}.test_executions; ANALYZE {SCHEMA}.test_step_executions"
    )))
    .execute(&mut *conn)
    .await
    .context("analysing the copies")?;
    copied.analyze_s = t0.elapsed().as_secs_f64();
    copied.carried = vec![
        format!("{indexes} indexes"),
        format!("{keys} foreign keys"),
        format!("{triggers} triggers"),
        format!("{policies} policies"),
    ];
    Ok(())
}

/// Today's indexes on the parent (each partition gets its own); unique ones gain the key, as
/// PostgreSQL requires of a partitioned table.
async fn carry_indexes(conn: &mut PgConnection, table: &str) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisprimary, i.indisunique
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = ('public.' || $1)::regclass ORDER BY c.relname",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .context("reading today's indexes")?;
    let on = (
        format!(" ON public.{table} "),
        format!(" ON {SCHEMA}.{table} "),
    );
    for r in &rows {
        let name: String = r.try_get(0)?;
        let def: String = r.try_get(1)?;
        let (primary, unique): (bool, bool) = (r.try_get(2)?, r.try_get(3)?);
        let sql = if primary {
            let (_, columns) = def
                .rsplit_once(" (")
                .with_context(|| format!("the columns of {name}"))?;
            let columns = columns.trim_end_matches(')');
            format!(
                "ALTER TABLE {SCHEMA}.{table} ADD CONSTRAINT {name} PRIMARY KEY ({columns}, run_created_at)"
            )
        } else if unique {
            let open = def
                .strip_suffix(')')
                .filter(|d| !d.contains(" WHERE "))
                .with_context(|| format!("unique index {name} cannot gain the key: {def}"))?;
            format!("{}, run_created_at)", open.replace(&on.0, &on.1))
        } else {
            def.replace(&on.0, &on.1)
        };
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("index {name}"))?;
    }
    Ok(rows.len())
}

/// Today's foreign keys: per partition NOT VALID, then validated (SHARE UPDATE EXCLUSIVE on the
/// partition: writes go on), then on the parent, which adopts them without another scan. A key
/// to a copied table becomes composite with the partition key.
async fn carry_foreign_keys(
    conn: &mut PgConnection,
    table: &str,
    months: &[Month],
) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT conname, pg_get_constraintdef(oid), confrelid::regclass::text,
                (SELECT string_agg(attname, ', ' ORDER BY k.n) FROM unnest(conkey) WITH ORDINALITY k(a, n)
                 JOIN pg_attribute ON attrelid = conrelid AND attnum = k.a),
                (SELECT string_agg(attname, ', ' ORDER BY k.n) FROM unnest(confkey) WITH ORDINALITY k(a, n)
                 JOIN pg_attribute ON attrelid = confrelid AND attnum = k.a)
         FROM pg_constraint WHERE contype = 'f' AND conrelid = ('public.' || $1)::regclass
         ORDER BY conname",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .context("reading today's foreign keys")?;
    let mut partitions: Vec<String> = months
        .iter()
        .map(|m| format!("{table}_{}", m.suffix))
        .collect();
    partitions.push(format!("{table}_default"));
    for r in &rows {
        let name: String = r.try_get(0)?;
        let def: String = r.try_get(1)?;
        let referenced: String = r.try_get(2)?;
        let def = if TABLES.contains(&referenced.trim_start_matches("public.")) {
            let (columns, referenced_columns): (String, String) = (r.try_get(3)?, r.try_get(4)?);
            let actions = def
                .split_once(')')
                .and_then(|(_, rest)| rest.split_once(')'));
            let actions = actions.map(|(_, a)| a).unwrap_or_default();
            // SET NULL would empty the partition key too
            anyhow::ensure!(
                !actions.contains("SET "),
                "{name} cannot become composite with the partition key: {def}"
            );
            format!(
                "FOREIGN KEY ({columns}, run_created_at) REFERENCES {SCHEMA}.{}({referenced_columns}, run_created_at){actions}",
                referenced.trim_start_matches("public.")
            )
        } else {
            def
        };
        for p in &partitions {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "ALTER TABLE {SCHEMA}.{p} ADD CONSTRAINT {name} {def} NOT VALID;
                 ALTER TABLE {SCHEMA}.{p} VALIDATE CONSTRAINT {name}"
            )))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("foreign key {name} on {p}"))?;
        }
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE {SCHEMA}.{table} ADD CONSTRAINT {name} {def}"
        )))
        .execute(&mut *conn)
        .await
        .with_context(|| format!("foreign key {name}"))?;
    }
    Ok(rows.len())
}

/// Today's triggers, as they are: statement-level triggers with transition tables and
/// row-level BEFORE triggers are accepted on a partitioned parent.
async fn carry_triggers(conn: &mut PgConnection, table: &str) -> anyhow::Result<usize> {
    let defs: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger
         WHERE tgrelid = ('public.' || $1)::regclass AND NOT tgisinternal ORDER BY tgname",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .context("reading today's triggers")?;
    let on = (
        format!(" ON public.{table} "),
        format!(" ON {SCHEMA}.{table} "),
    );
    for def in &defs {
        sqlx::raw_sql(AssertSqlSafe(def.replace(&on.0, &on.1)))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("trigger {def}"))?;
    }
    Ok(defs.len())
}

/// Row-level security as today (enabled, forced or not), every policy, and the grants.
async fn carry_policies(conn: &mut PgConnection, table: &str) -> anyhow::Result<usize> {
    let mut ddl: Vec<String> = sqlx::query_scalar(
        "SELECT format('ALTER TABLE %I.%I %s ROW LEVEL SECURITY', $2::text, relname,
                       CASE WHEN relrowsecurity THEN 'ENABLE' ELSE 'DISABLE' END)
             || CASE WHEN relforcerowsecurity
                     THEN format('; ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', $2::text, relname)
                     ELSE '' END
         FROM pg_class WHERE oid = ('public.' || $1)::regclass
         UNION ALL
         SELECT format('GRANT %s ON %I.%I TO %s', string_agg(privilege_type, ', '), $2::text,
                       table_name,
                       CASE WHEN grantee = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(grantee) END)
         FROM information_schema.role_table_grants
         WHERE table_schema = 'public' AND table_name = $1
           AND grantee <> (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = $1)
         GROUP BY table_name, grantee",
    )
    .bind(table)
    .bind(SCHEMA)
    .fetch_all(&mut *conn)
    .await
    .context("reading today's security")?;
    let policies: Vec<String> = sqlx::query_scalar(
        "SELECT format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s', policyname, $2::text,
                       tablename, permissive, cmd,
                       (SELECT string_agg(quote_ident(g), ', ') FROM unnest(roles) g))
             || coalesce(' USING (' || qual || ')', '')
             || coalesce(' WITH CHECK (' || with_check || ')', '')
         FROM pg_policies WHERE schemaname = 'public' AND tablename = $1 ORDER BY policyname",
    )
    .bind(table)
    .bind(SCHEMA)
    .fetch_all(&mut *conn)
    .await
    .context("reading today's policies")?;
    let count = policies.len();
    ddl.extend(policies);
    for sql in ddl {
        sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("carrying {sql}"))?;
    }
    Ok(count)
}

fn report_copy(report: &mut crate::Report, c: &Copied, months: usize) {
    let rate = |rows: i64, s: f64| if s > 0.0 { rows as f64 / s } else { 0.0 };
    let executions_rate = rate(c.executions, c.executions_s);
    let steps_rate = rate(c.steps, c.steps_s);
    report.row(Row::value(
        "partitioning",
        "copy executions by month (INSERT ... SELECT)",
        "rows/s",
        executions_rate,
        &format!(
            "{} rows in {:.1} s, {months} monthly batches and one for rows without a run",
            thousands(c.executions),
            c.executions_s
        ),
    ));
    report.row(Row::value(
        "partitioning",
        "copy step results by month (INSERT ... SELECT)",
        "rows/s",
        steps_rate,
        &format!(
            "{} rows in {:.1} s, each with its execution's run's creation time",
            thousands(c.steps),
            c.steps_s
        ),
    ));
    let after = c.indexes_s + c.keys_s + c.carried_s + c.analyze_s;
    let rows = c.executions + c.steps;
    let whole = c.executions_s + c.steps_s + after;
    report.row(Row::value(
        "partitioning",
        "whole build: copy, indexes, keys, triggers, policies, ANALYZE",
        "rows/s",
        rate(rows, whole),
        &format!(
            "{:.1} s in all: copy {:.1} s, indexes {:.1} s, foreign keys (per partition NOT VALID + VALIDATE, attached) {:.1} s, triggers/policies/grants {:.2} s, ANALYZE {:.1} s",
            whole,
            c.executions_s + c.steps_s,
            c.indexes_s,
            c.keys_s,
            c.carried_s,
            c.analyze_s
        ),
    ));
    // linear in rows: index builds sort (n log n), so this is the floor of the real figure
    let per_row_after = if rows > 0 { after / rows as f64 } else { 0.0 };
    let projected_s = if executions_rate > 0.0 && steps_rate > 0.0 {
        PROJECTED_EXECUTIONS / executions_rate
            + PROJECTED_STEP_RESULTS / steps_rate
            + per_row_after * (PROJECTED_EXECUTIONS + PROJECTED_STEP_RESULTS)
    } else {
        0.0
    };
    report.row(Row::value(
        "partitioning",
        "projected build for 100M step results + 20M executions",
        "h",
        projected_s / 3600.0,
        "the rates above, linearly (index sorts grow n log n: a floor); the old tables keep serving meanwhile, only the final catch-up and rename block writes",
    ));
}

/// The rows the queries ask about.
struct Samples {
    /// Runs with executions, with their creation time as SQL text.
    runs: Vec<(String, String)>,
    cases: Vec<String>,
    executions: Vec<(String, String)>,
}

impl Samples {
    async fn pick(conn: &mut PgConnection) -> anyhow::Result<Self> {
        let pairs = |rows: Vec<sqlx::postgres::PgRow>| -> anyhow::Result<Vec<(String, String)>> {
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        };
        let runs = sqlx::query(
            "SELECT r.id::text, r.created_at::text FROM public.test_runs r
             WHERE r.created_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM public.test_executions e WHERE e.test_run_id = r.id)
             ORDER BY md5(r.id::text) LIMIT $1",
        )
        .bind(SAMPLE_ROWS)
        .fetch_all(&mut *conn)
        .await
        .context("sample runs")?;
        let cases = sqlx::query_scalar(
            "SELECT c.id::text FROM public.test_cases c
             WHERE EXISTS (SELECT 1 FROM public.test_executions e WHERE e.test_case_id = c.id)
             ORDER BY md5(c.id::text) LIMIT $1",
        )
        .bind(SAMPLE_ROWS)
        .fetch_all(&mut *conn)
        .await
        .context("sample cases")?;
        let executions = sqlx::query(AssertSqlSafe(format!(
            "SELECT id::text, run_created_at::text FROM {SCHEMA}.test_executions
             ORDER BY md5(id::text) LIMIT $1"
        )))
        .bind(SAMPLE_ROWS)
        .fetch_all(&mut *conn)
        .await
        .context("sample executions")?;
        let samples = Self {
            runs: pairs(runs)?,
            cases,
            executions: pairs(executions)?,
        };
        anyhow::ensure!(
            !samples.runs.is_empty() && !samples.cases.is_empty() && !samples.executions.is_empty(),
            "the dataset has no executions to query"
        );
        Ok(samples)
    }
}

/// One read, as today's text and as the text on the partitioned tables, per sample row.
struct Query {
    name: &'static str,
    texts: Vec<(String, String)>,
    note: &'static str,
    /// A write: run in a transaction rolled back, with the tables' own triggers off.
    write: bool,
}

fn queries(s: &Samples) -> Vec<Query> {
    let same = |texts: Vec<String>| -> Vec<(String, String)> {
        texts.into_iter().map(|t| (t.clone(), t)).collect()
    };
    let run_executions = |run: &str| {
        format!("SELECT * FROM test_executions WHERE test_run_id = '{run}' ORDER BY created_at, id")
    };
    let run_steps = |run: &str| {
        format!(
            "SELECT s.* FROM test_step_executions s JOIN test_executions e ON e.id = s.test_execution_id
             WHERE e.test_run_id = '{run}'"
        )
    };
    let by_id = |id: &str| format!("SELECT * FROM test_executions WHERE id = '{id}'");
    // the API's most-failing statement (analytics::service::most_failing)
    let most_failing = |key: &str| {
        format!(
            "SELECT test_case_id, count(*) FILTER (WHERE status = 'failed') AS failures, count(*) AS executions,
                    max(completed_at) FILTER (WHERE status = 'failed') AS last_failure
             FROM test_executions WHERE completed_at >= now() - {RECENT_DAYS} * interval '1 day'{key}
             GROUP BY test_case_id HAVING count(*) FILTER (WHERE status = 'failed') > 0
             ORDER BY failures DESC, test_case_id LIMIT 50"
        )
    };
    // a run's executions again as new attempts, with every step of their cases: the rows of
    // a bulk report
    let report_again = |run: &str, at: Option<&str>| {
        let (column, value, only, key) = match at {
            Some(at) => (
                ", run_created_at",
                ", run_created_at",
                format!(" AND run_created_at = '{at}'"),
                ", e.run_created_at",
            ),
            None => ("", "", String::new(), ""),
        };
        format!(
            "WITH e AS (INSERT INTO test_executions (test_case_id, test_run_id, status, retry_attempt{column})
                 SELECT test_case_id, test_run_id, 'pending', retry_attempt + 1000{value}
                 FROM test_executions WHERE test_run_id = '{run}'{only}
                 RETURNING id, test_case_id{value})
             INSERT INTO test_step_executions (test_execution_id, test_step_id, status{column})
             SELECT e.id, s.id, 'passed'{key} FROM e JOIN test_steps s ON s.test_case_id = e.test_case_id"
        )
    };
    vec![
        Query {
            name: "a bulk report's rows written",
            texts: s
                .runs
                .iter()
                .map(|(r, at)| (report_again(r, None), report_again(r, Some(at))))
                .collect(),
            note: "a run's executions as new attempts with all their cases' steps, in a transaction rolled back, user triggers off on both shapes (heap, indexes, foreign-key checks, routing)",
            write: true,
        },
        Query {
            name: "a run's executions",
            texts: same(s.runs.iter().map(|(r, _)| run_executions(r)).collect()),
            note: "today's text: every partition's index probed",
            write: false,
        },
        Query {
            name: "a run's executions, + key",
            texts: s
                .runs
                .iter()
                .map(|(r, at)| {
                    (
                        run_executions(r),
                        run_executions(r).replace(
                            " ORDER BY",
                            &format!(" AND run_created_at = '{at}' ORDER BY"),
                        ),
                    )
                })
                .collect(),
            note: "the run's creation time given: one partition",
            write: false,
        },
        Query {
            name: "a run's step results",
            texts: same(s.runs.iter().map(|(r, _)| run_steps(r)).collect()),
            note: "today's text",
            write: false,
        },
        Query {
            name: "a run's step results, + key",
            texts: s
                .runs
                .iter()
                .map(|(r, at)| {
                    (
                        run_steps(r),
                        format!(
                            "{} AND e.run_created_at = '{at}' AND s.run_created_at = '{at}'",
                            run_steps(r)
                        ),
                    )
                })
                .collect(),
            note: "the run's creation time given: one partition of each table",
            write: false,
        },
        Query {
            name: "a case's history, newest 20",
            texts: same(
                s.cases
                    .iter()
                    .map(|c| {
                        format!(
                            "SELECT * FROM test_executions WHERE test_case_id = '{c}'
                             ORDER BY created_at DESC, id DESC LIMIT 20"
                        )
                    })
                    .collect(),
            ),
            note: "today's text: merged from every partition's index",
            write: false,
        },
        Query {
            name: "50 most-failing cases, 30 days",
            texts: same(vec![most_failing("")]),
            note: "the API's text (window on completed_at): no partition pruned",
            write: false,
        },
        Query {
            name: "50 most-failing cases, 30 days, + key",
            texts: vec![(
                most_failing(""),
                most_failing(&format!(
                    " AND run_created_at >= now() - {RECENT_DAYS} * interval '1 day'"
                )),
            )],
            note: "window also on the run's creation time: older partitions pruned (runs started before the window and completed in it are left out)",
            write: false,
        },
        Query {
            name: "one execution by id",
            texts: same(s.executions.iter().map(|(id, _)| by_id(id)).collect()),
            note: "today's text: every partition's primary key probed",
            write: false,
        },
        Query {
            name: "one execution by id, + key",
            texts: s
                .executions
                .iter()
                .map(|(id, at)| {
                    (
                        by_id(id),
                        format!("{} AND run_created_at = '{at}'", by_id(id)),
                    )
                })
                .collect(),
            note: "with its run's creation time: one partition",
            write: false,
        },
    ]
}

/// Milliseconds of one EXPLAIN ANALYZE (planning + execution), and the partitions it read.
async fn explain(conn: &mut PgConnection, sql: &str) -> anyhow::Result<(f64, f64, usize)> {
    let plan: Value = sqlx::query_scalar(AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}"
    )))
    .fetch_one(&mut *conn)
    .await
    .with_context(|| format!("EXPLAIN ANALYZE {sql}"))?;
    let top = &plan[0];
    let planning = top["Planning Time"].as_f64().unwrap_or(0.0);
    let execution = top["Execution Time"].as_f64().unwrap_or(0.0);
    let mut partitions = 0;
    count_partitions(&top["Plan"], &mut partitions);
    Ok((planning, execution, partitions))
}

/// [`explain`] of a write, in a transaction rolled back whatever happens, with the triggers
/// the tables' owner defined (audit, NOTIFY, notes) off: they refer to today's tables by name,
/// so on the copies they would do other work. Foreign-key checks are system triggers and stay.
async fn written(conn: &mut PgConnection, sql: &str) -> anyhow::Result<(f64, f64, usize)> {
    let begun = sqlx::raw_sql(
        "BEGIN; ALTER TABLE test_executions DISABLE TRIGGER USER;
         ALTER TABLE test_step_executions DISABLE TRIGGER USER",
    )
    .execute(&mut *conn)
    .await
    .context("beginning the write");
    let result = match begun {
        Ok(_) => explain(conn, sql).await,
        Err(e) => Err(e),
    };
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut *conn)
        .await
        .context("rolling the write back")?;
    result
}

/// Scans of a month or default partition that ran at least once.
fn count_partitions(node: &Value, n: &mut usize) {
    let name = node["Relation Name"].as_str().unwrap_or_default();
    let ran = node["Actual Loops"].as_f64().unwrap_or(0.0) > 0.0;
    if ran
        && TABLES
            .iter()
            .any(|t| name.len() > t.len() && name.starts_with(&format!("{t}_")))
    {
        *n += 1;
    }
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            count_partitions(c, n);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// One query on both shapes, alternately; a row of the partitioned shape's speed against
/// today's.
async fn compare(
    conn: &mut PgConnection,
    report: &mut crate::Report,
    q: &Query,
    partitions: usize,
) -> anyhow::Result<()> {
    let copies_first = format!("{SCHEMA}, public");
    let paths = ["public", copies_first.as_str()];
    // per shape: total, planning, execution (ms); partitions read by the last sample
    let mut total = [Vec::new(), Vec::new()];
    let mut planning = [Vec::new(), Vec::new()];
    let mut execution = [Vec::new(), Vec::new()];
    let mut read = 0;
    for i in 0..=QUERY_SAMPLES {
        let (today, partitioned) = &q.texts[i % q.texts.len()];
        for (side, sql) in [today, partitioned].into_iter().enumerate() {
            sqlx::raw_sql(AssertSqlSafe(format!("SET search_path = {}", paths[side])))
                .execute(&mut *conn)
                .await?;
            let (p, e, n) = if q.write {
                written(conn, sql).await
            } else {
                explain(conn, sql).await
            }
            .context(q.name)?;
            // the first round is unmeasured: plans, caches
            if i > 0 {
                total[side].push(p + e);
                planning[side].push(p);
                execution[side].push(e);
                if side == 1 {
                    read = n;
                }
            }
        }
    }
    sqlx::raw_sql("RESET search_path")
        .execute(&mut *conn)
        .await?;
    let [today_ms, part_ms] = total.map(median);
    let [today_plan, part_plan] = planning.map(median);
    let [today_exec, part_exec] = execution.map(median);
    let per_second = |ms: f64| if ms > 0.0 { 1000.0 / ms } else { 0.0 };
    let mut row = Row::against(
        "partitioning",
        &format!("{}: partitioned", q.name),
        "queries/s",
        per_second(part_ms),
        ("today's tables", per_second(today_ms)),
        &format!(
            "p50 {part_ms:.2} ms (planning {part_plan:.2} + execution {part_exec:.2}) vs today {today_ms:.2} ms ({today_plan:.2} + {today_exec:.2}); partitions read: {read} (of {partitions} per table); {}",
            q.note
        ),
    );
    row.p50_ms = Some(part_ms);
    report.row(row);
    Ok(())
}
