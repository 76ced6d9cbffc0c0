//! Archival, restore and maintenance: the SQL.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::types::ArchiveReport;
use crate::error::{AppError, AppResult};

/// Executions moved per transaction: small enough that each transaction's locks are brief.
pub const ARCHIVE_BATCH: i64 = 1_000;

/// Oldest cutoff an archival may be given, in days (a century): further back the cutoff
/// could not be computed.
pub const ARCHIVE_DAYS_MAX: i32 = 36_500;

/// Executions eligible for archival: completed before `cutoff`, not in a pinned run.
const ELIGIBLE: &str = "FROM test_executions e LEFT JOIN test_runs r ON r.id = e.test_run_id
     WHERE e.completed_at < $1 AND e.status IN ('passed', 'failed', 'skipped', 'cancelled')
       AND NOT coalesce(r.pinned, false)";

async fn count_eligible(
    db: &DatabaseConnection,
    cutoff: DateTime<FixedOffset>,
) -> AppResult<ArchiveReport> {
    let row = db
        .query_one_raw(crate::sql::statement(
            format!(
                "WITH x AS (SELECT e.id {ELIGIBLE})
                 SELECT (SELECT count(*) FROM x) AS e,
                        (SELECT count(*) FROM test_step_executions s WHERE s.test_execution_id IN (SELECT id FROM x)) AS s,
                        (SELECT count(*) FROM test_artifacts a WHERE a.test_execution_id IN (SELECT id FROM x)) AS a"
            ),
            vec![cutoff.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("count returned nothing"))?;
    Ok(ArchiveReport {
        executions: row.try_get("", "e")?,
        step_executions: row.try_get("", "s")?,
        artifacts: row.try_get("", "a")?,
        batches: 0,
        dry_run: true,
    })
}

/// Archives executions completed more than `older_than` ago (to the second: `12h` is twelve
/// hours); `actor` is recorded in the audit log. Runs as the tables' owner (an admin
/// operation).
#[tracing::instrument(skip(db))]
pub async fn archive(
    db: &DatabaseConnection,
    older_than: std::time::Duration,
    dry_run: bool,
    actor: &str,
) -> AppResult<ArchiveReport> {
    let max = std::time::Duration::from_secs(ARCHIVE_DAYS_MAX as u64 * 86_400);
    if older_than > max {
        return Err(AppError::bad_input(
            "olderThan",
            format!("the age of the executions to archive must be at most {ARCHIVE_DAYS_MAX} days"),
        ));
    }
    let age = chrono::Duration::from_std(older_than)
        .map_err(|_| AppError::bad_input("olderThan", "the age is too long"))?;
    let cutoff = (Utc::now() - age).fixed_offset();
    if dry_run {
        return count_eligible(db, cutoff).await;
    }
    let mut report = ArchiveReport::default();
    loop {
        let tx = begin_as(db, actor).await?;
        let ids: Vec<Uuid> = tx
            .query_all_raw(crate::sql::statement(
                format!("SELECT e.id {ELIGIBLE} ORDER BY e.completed_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED"),
                vec![cutoff.into(), ARCHIVE_BATCH.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<Uuid>("", "id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            tx.rollback().await?;
            break;
        }
        let moved = move_batch(&tx, &ids, Direction::ToArchive).await?;
        tx.commit().await?;
        report.executions += moved.executions;
        report.step_executions += moved.step_executions;
        report.artifacts += moved.artifacts;
        report.batches += 1;
    }
    record(db, "ARCHIVE", actor, &report, Some(cutoff)).await?;
    Ok(report)
}

/// Restores archived executions of a run, or those completed before a time.
#[tracing::instrument(skip(db))]
pub async fn restore(
    db: &DatabaseConnection,
    run: Option<Uuid>,
    before: Option<DateTime<FixedOffset>>,
    actor: &str,
) -> AppResult<ArchiveReport> {
    if run.is_none() && before.is_none() {
        return Err(AppError::bad_input(
            "runId",
            "give a runId or a before time",
        ));
    }
    let mut report = ArchiveReport::default();
    loop {
        let tx = begin_as(db, actor).await?;
        let ids: Vec<Uuid> = tx
            .query_all_raw(crate::sql::statement(
                "SELECT id FROM test_executions_archive
                 WHERE ($1::uuid IS NULL OR test_run_id = $1) AND ($2::timestamptz IS NULL OR completed_at < $2)
                 ORDER BY completed_at LIMIT $3 FOR UPDATE SKIP LOCKED",
                vec![run.into(), before.into(), ARCHIVE_BATCH.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<Uuid>("", "id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            tx.rollback().await?;
            break;
        }
        let moved = move_batch(&tx, &ids, Direction::FromArchive).await?;
        tx.commit().await?;
        report.executions += moved.executions;
        report.step_executions += moved.step_executions;
        report.artifacts += moved.artifacts;
        report.batches += 1;
    }
    record(db, "RESTORE", actor, &report, before).await?;
    Ok(report)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToArchive,
    FromArchive,
}

/// The tables archival moves, parents first, with their archives. An archive table has the
/// columns of its table plus `archived_at`; which columns move is read from the table itself,
/// so that a column added to both by a migration moves without a change here.
const MOVED: &[(&str, &str, &str)] = &[
    ("test_executions", "test_executions_archive", "id"),
    (
        "test_step_executions",
        "test_step_executions_archive",
        "test_execution_id",
    ),
    (
        "test_artifacts",
        "test_artifacts_archive",
        "test_execution_id",
    ),
    (
        "test_result_reports",
        "test_result_reports_archive",
        "test_execution_id",
    ),
];

/// The columns of `table`, quoted, in order.
async fn columns(tx: &impl ConnectionTrait, table: &str) -> AppResult<String> {
    let row = tx
        .query_one_raw(crate::sql::statement(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS columns
             FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            vec![table.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("no columns"))?;
    row.try_get::<Option<String>>("", "columns")?
        .ok_or_else(|| AppError::internal(format!("table {table} has no columns")))
}

/// Moves the executions `ids` with their step results, artifacts and report keys, parents
/// first on the way in and last on the way out, so that foreign keys hold at every statement.
async fn move_batch(
    tx: &impl ConnectionTrait,
    ids: &[Uuid],
    direction: Direction,
) -> AppResult<ArchiveReport> {
    let ids_value: sea_orm::Value = ids.to_vec().into();
    let mut moved = Vec::with_capacity(MOVED.len());
    for (live, archive, key) in MOVED {
        let columns = columns(tx, live).await?;
        let (from, to) = match direction {
            Direction::ToArchive => (live, archive),
            Direction::FromArchive => (archive, live),
        };
        let n = tx
            .execute_raw(crate::sql::statement(
                format!(
                    "INSERT INTO {to}({columns}) SELECT {columns} FROM {from} WHERE {key} = ANY($1)"
                ),
                vec![ids_value.clone()],
            ))
            .await?
            .rows_affected() as i64;
        moved.push(n);
    }
    match direction {
        // the cascade removes the step results, artifacts and report keys copied above
        Direction::ToArchive => {
            tx.execute_raw(crate::sql::statement(
                "DELETE FROM test_executions WHERE id = ANY($1)",
                vec![ids_value],
            ))
            .await?;
        }
        Direction::FromArchive => {
            for (_, archive, key) in MOVED.iter().rev() {
                tx.execute_raw(crate::sql::statement(
                    format!("DELETE FROM {archive} WHERE {key} = ANY($1)"),
                    vec![ids_value.clone()],
                ))
                .await?;
            }
        }
    }
    Ok(ArchiveReport {
        executions: moved[0],
        step_executions: moved[1],
        artifacts: moved[2],
        batches: 1,
        dry_run: false,
    })
}

/// The ARCHIVE / RESTORE entry of the audit log.
async fn record(
    db: &DatabaseConnection,
    operation: &str,
    actor: &str,
    report: &ArchiveReport,
    cutoff: Option<DateTime<FixedOffset>>,
) -> AppResult<()> {
    let values = serde_json::json!({
        "executions": report.executions,
        "step_executions": report.step_executions,
        "artifacts": report.artifacts,
        "batches": report.batches,
        "cutoff": cutoff,
    });
    db.execute_raw(crate::sql::statement(
        "INSERT INTO audit_log(table_name, record_id, operation, new_values, changed_by)
         VALUES ('test_executions', gen_random_uuid(), $1, $2, $3)",
        vec![operation.into(), values.into(), actor.into()],
    ))
    .await?;
    Ok(())
}

/// A transaction of maintenance as `actor`: recorded as theirs, without an audit entry per row
/// (the operation records one with its counts).
async fn begin_as(db: &DatabaseConnection, actor: &str) -> AppResult<sea_orm::DatabaseTransaction> {
    let tx = db.begin().await?;
    tx.execute_raw(crate::sql::statement(
        "SELECT set_config('app.user_id', $1, true), set_config('app.archiving', 'on', true)",
        vec![actor.into()],
    ))
    .await?;
    Ok(tx)
}

/// Deletes the executions `which` (a condition on `$1`) selects, live and archived, with
/// what archival moves with them (the tables of [`MOVED`], children first: the archive has
/// no cascades), counting them into `report`.
async fn delete_executions(
    tx: &impl ConnectionTrait,
    which: &str,
    value: sea_orm::Value,
    report: &mut PurgeReport,
) -> AppResult<()> {
    for archived in [false, true] {
        let table = |t: &(&'static str, &'static str, &'static str)| -> &'static str {
            if archived { t.1 } else { t.0 }
        };
        let executions = table(&MOVED[0]);
        let ids: Vec<Uuid> = tx
            .query_all_raw(crate::sql::statement(
                format!("SELECT id FROM {executions} WHERE {which}"),
                vec![value.clone()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<Uuid>("", "id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            continue;
        }
        let ids: sea_orm::Value = ids.into();
        for child in MOVED[1..].iter().rev() {
            let n = tx
                .execute_raw(crate::sql::statement(
                    format!("DELETE FROM {} WHERE {} = ANY($1)", table(child), child.2),
                    vec![ids.clone()],
                ))
                .await?
                .rows_affected() as i64;
            if child.0 == "test_artifacts" {
                report.artifacts += n;
            }
        }
        report.executions += tx
            .execute_raw(crate::sql::statement(
                format!("DELETE FROM {executions} WHERE id = ANY($1)"),
                vec![ids],
            ))
            .await?
            .rows_affected() as i64;
    }
    Ok(())
}

/// Runs deleted per transaction by a purge.
pub const PURGE_BATCH: i64 = 100;

/// What a purge deleted (or, dry, would delete).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    pub runs: i64,
    /// Executions, live and archived, with their step results and artifacts.
    pub executions: i64,
    pub artifacts: i64,
    /// Blobs of the artifact store no artifact refers to any more, removed.
    pub blobs: u64,
    pub bytes: u64,
    pub dry_run: bool,
}

/// The runs a purge deletes: finished before the cutoff `$1`, not pinned.
const PURGED_RUNS: &str = "SELECT id FROM test_runs WHERE completed_at < $1 AND NOT pinned";

/// Executions a purge deletes beside its runs': those of no run, completed before `$1`.
const PURGED_LOOSE: &str = "test_run_id IS NULL AND completed_at < $1";

/// Deletes, for good, the runs finished more than `older_than` ago (pinned runs excepted)
/// with their executions, live and archived, and the executions of no run completed as long
/// ago; then the blobs no artifact refers to any more. Batches of [`PURGE_BATCH`] runs, each
/// one transaction; one PURGE entry in the audit log with the counts.
#[tracing::instrument(skip(db, store))]
pub async fn purge(
    db: &DatabaseConnection,
    store: &crate::artifacts::ArtifactStore,
    older_than: std::time::Duration,
    dry_run: bool,
    actor: &str,
) -> AppResult<PurgeReport> {
    let age = chrono::Duration::from_std(older_than)
        .ok()
        .filter(|a| *a <= chrono::Duration::days(ARCHIVE_DAYS_MAX as i64))
        .ok_or_else(|| {
            AppError::bad_input(
                "olderThan",
                format!("the age of the runs to purge must be at most {ARCHIVE_DAYS_MAX} days"),
            )
        })?;
    let cutoff = (Utc::now() - age).fixed_offset();
    if dry_run {
        let row = db
            .query_one_raw(crate::sql::statement(
                format!(
                    "WITH r AS ({PURGED_RUNS}),
                     e AS (SELECT id FROM test_executions WHERE test_run_id IN (SELECT id FROM r) OR ({PURGED_LOOSE})),
                     ea AS (SELECT id FROM test_executions_archive WHERE test_run_id IN (SELECT id FROM r) OR ({PURGED_LOOSE}))
                     SELECT (SELECT count(*) FROM r) AS runs,
                            (SELECT count(*) FROM e) + (SELECT count(*) FROM ea) AS executions,
                            (SELECT count(*) FROM test_artifacts WHERE test_execution_id IN (SELECT id FROM e))
                          + (SELECT count(*) FROM test_artifacts_archive WHERE test_execution_id IN (SELECT id FROM ea)) AS artifacts"
                ),
                vec![cutoff.into()],
            ))
            .await?
            .ok_or_else(|| AppError::internal("count returned nothing"))?;
        return Ok(PurgeReport {
            runs: row.try_get("", "runs")?,
            executions: row.try_get("", "executions")?,
            artifacts: row.try_get("", "artifacts")?,
            dry_run: true,
            ..PurgeReport::default()
        });
    }
    let mut report = PurgeReport::default();
    // the runs, a batch at a time
    loop {
        let tx = begin_as(db, actor).await?;
        let runs: Vec<Uuid> = tx
            .query_all_raw(crate::sql::statement(
                format!("{PURGED_RUNS} ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED"),
                vec![cutoff.into(), PURGE_BATCH.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<Uuid>("", "id"))
            .collect::<Result<_, _>>()?;
        if runs.is_empty() {
            tx.rollback().await?;
            break;
        }
        delete_executions(
            &tx,
            "test_run_id = ANY($1)",
            runs.clone().into(),
            &mut report,
        )
        .await?;
        tx.execute_raw(crate::sql::statement(
            "DELETE FROM test_runs WHERE id = ANY($1)",
            vec![runs.clone().into()],
        ))
        .await?;
        tx.commit().await?;
        report.runs += runs.len() as i64;
    }
    // then the executions of no run
    let tx = begin_as(db, actor).await?;
    delete_executions(&tx, PURGED_LOOSE, cutoff.into(), &mut report).await?;
    tx.commit().await?;
    let collected = crate::artifacts::collect(db, store, false).await?;
    report.blobs = collected.blobs;
    report.bytes = collected.bytes;
    let values = serde_json::json!({
        "runs": report.runs,
        "executions": report.executions,
        "artifacts": report.artifacts,
        "blobs": report.blobs,
        "bytes": report.bytes,
        "cutoff": cutoff,
    });
    db.execute_raw(crate::sql::statement(
        "INSERT INTO audit_log(table_name, record_id, operation, new_values, changed_by)
         VALUES ('test_runs', gen_random_uuid(), 'PURGE', $1, $2)",
        vec![values.into(), actor.into()],
    ))
    .await?;
    Ok(report)
}

/// Database maintenance, run from the application because PostgreSQL forbids VACUUM and
/// REINDEX CONCURRENTLY inside functions (errata 5): the kept flakiness of changed cases, the
/// kept failure groups, statistics, upcoming audit partitions, and rebuilding bloated indexes.
#[tracing::instrument(skip(db))]
pub async fn maintenance(db: &DatabaseConnection, months_ahead: i32) -> AppResult<Vec<String>> {
    let mut done = Vec::new();
    let refreshed = crate::analytics::service::refresh_flakiness(db).await?;
    done.push(format!("flakiness of {refreshed} changed cases refreshed"));
    let folded = crate::analytics::failures::fold(db).await?;
    done.push(format!(
        "{folded} failure notes folded into the failure groups"
    ));
    db.execute_unprepared("VACUUM (ANALYZE)").await?;
    done.push("vacuum analyze".to_owned());
    let rows = db
        .query_all_raw(crate::sql::statement(
            "SELECT create_audit_partition((date_trunc('month', now()) + n * interval '1 month')::date) AS p
             FROM generate_series(0, $1) n",
            vec![months_ahead.into()],
        ))
        .await?;
    for r in rows {
        done.push(format!("audit partition {}", r.try_get::<String>("", "p")?));
    }
    // indexes at least 4x the size their table's live rows would need are rebuilt
    let bloated = db
        .query_all_raw(crate::sql::statement(
            "SELECT i.indexrelid::regclass::text AS name FROM pg_stat_user_indexes i
             JOIN pg_class t ON t.oid = i.relid
             WHERE pg_relation_size(i.indexrelid) > 8 * 1024 * 1024
               AND pg_relation_size(i.indexrelid) > 4 * greatest(t.reltuples, 1) * 64",
            vec![],
        ))
        .await?;
    for r in bloated {
        let name: String = r.try_get("", "name")?;
        db.execute_unprepared(&format!("REINDEX INDEX CONCURRENTLY {name}"))
            .await?;
        done.push(format!("reindexed {name}"));
    }
    Ok(done)
}
