//! Quarantines and the infrastructure-failure flag of runs. Runs in the caller's transaction:
//! row-level security decides what a caller sees and changes.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use entity::{test_case_quarantine, test_run};
use sea_orm::{ConnectionTrait, FromQueryResult, QueryResult};
use uuid::Uuid;

use crate::auth::Identity;
use crate::error::{AppError, AppResult};
use crate::input::{SHORT_TEXT_MAX, check_len, check_name};
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs, Selected};
use crate::projects::service::{Action, by_id, require};
use crate::sql::{ListQuery, Total, statement};

/// Longest reason for a quarantine or its release (`VARCHAR(1000)`).
pub const REASON_MAX: usize = 1_000;

/// Longest quarantine anyone may set (`ck_test_case_quarantines_expires_at`): a quarantine is
/// a stop-gap while someone fixes the case, not a way to stop running it.
pub const MAX_QUARANTINE_DAYS: i64 = 180;

/// When a quarantine counts, the one condition every reader uses (the quality gate's too): an
/// expired quarantine stops counting at its expiry, before the background task releases it.
pub const ACTIVE: &str = "test_case_quarantines.released_at IS NULL \
     AND (test_case_quarantines.expires_at IS NULL OR test_case_quarantines.expires_at > now())";

/// A quarantine with whether it counts now.
#[derive(Debug, Clone)]
pub struct Quarantine {
    pub row: test_case_quarantine::Model,
    pub active: bool,
}

fn quarantine_of(row: &QueryResult) -> AppResult<Quarantine> {
    Ok(Quarantine {
        row: test_case_quarantine::Model::from_query_result(row, "")?,
        active: row.try_get("", "active")?,
    })
}

/// The select list of a quarantine with `active`.
fn columns() -> String {
    format!("test_case_quarantines.*, ({ACTIVE}) AS active")
}

/// The case `id` if the caller may change it: NOT_FOUND when they do not see it, FORBIDDEN
/// with the reason when they only read it (a viewer, a read-only token, an archived project).
async fn writable_case(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
) -> AppResult<entity::test_case::Model> {
    let case = crate::catalog::service::cases::get(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("TestCase", id))?;
    let allowed: bool = conn
        .query_one_raw(statement(
            "SELECT app_may_write_case($1) AS allowed",
            vec![id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("permission check returned nothing"))?
        .try_get("", "allowed")?;
    if allowed {
        return Ok(case);
    }
    if let Some(project) = by_id(conn, case.project_id).await? {
        require(conn, identity, &project, Action::Write).await?;
    }
    Err(AppError::Forbidden {
        message: "not allowed to quarantine or release this test case: it takes a member or \
                  maintainer of its project (in the default project, its author)"
            .to_owned(),
    })
}

/// Quarantines case `id` as `identity`: `owner` (default the caller) is responsible for it,
/// until `expires_at` (at most [`MAX_QUARANTINE_DAYS`] away) or its release. CONFLICT when
/// it is quarantined already.
pub async fn quarantine(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
    reason: &str,
    expires_at: Option<DateTime<FixedOffset>>,
    owner: Option<String>,
) -> AppResult<Quarantine> {
    check_name("reason", reason, REASON_MAX)?;
    let owner = owner.unwrap_or_else(|| identity.user_id.clone());
    check_name("owner", &owner, SHORT_TEXT_MAX)?;
    if let Some(at) = expires_at {
        let now = Utc::now();
        if at <= now || at > now + chrono::Duration::days(MAX_QUARANTINE_DAYS) {
            return Err(AppError::bad_input(
                "expiresAt",
                format!(
                    "expiresAt must be in the future and at most {MAX_QUARANTINE_DAYS} days away"
                ),
            ));
        }
    }
    let case = writable_case(conn, identity, id).await?;
    // an expired quarantine the background task has not released yet makes way
    conn.execute_raw(statement(
        "UPDATE test_case_quarantines SET released_at = expires_at, release_reason = 'expired'
         WHERE test_case_id = $1 AND released_at IS NULL AND expires_at <= now()",
        vec![id.into()],
    ))
    .await?;
    let row = conn
        .query_one_raw(statement(
            format!(
                "INSERT INTO test_case_quarantines(test_case_id, project_id, owner, reason,
                                                   expires_at, automatic, created_by)
                 VALUES ($1, $2, $3, $4, $5, false, $6) RETURNING {}",
                columns()
            ),
            vec![
                id.into(),
                case.project_id.into(),
                owner.into(),
                reason.to_owned().into(),
                expires_at.into(),
                identity.user_id.clone().into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("quarantine insert returned nothing"))?;
    quarantine_of(&row)
}

/// Releases case `id`'s quarantine as `identity`; CONFLICT when it is not quarantined.
pub async fn release(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    id: Uuid,
    reason: Option<&str>,
) -> AppResult<Quarantine> {
    check_len("reason", reason, REASON_MAX)?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    writable_case(conn, identity, id).await?;
    let row = conn
        .query_one_raw(statement(
            format!(
                "UPDATE test_case_quarantines SET released_at = now(), released_by = $2,
                        release_reason = $3
                 WHERE test_case_id = $1 AND {ACTIVE} RETURNING {}",
                columns()
            ),
            vec![
                id.into(),
                identity.user_id.clone().into(),
                reason.map(str::to_owned).into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::conflict(Some("id"), "the test case is not quarantined"))?;
    quarantine_of(&row)
}

/// The active quarantines the caller sees, of a project or all, newest first, a page at a
/// time.
pub async fn list(
    conn: &impl ConnectionTrait,
    project: Option<Uuid>,
    args: &PageArgs,
    want: Selected,
) -> AppResult<(Fetched<Quarantine>, Total)> {
    let mut q = ListQuery::new(
        "test_case_quarantines",
        Ordering::column(
            "test_case_quarantines",
            "created_at",
            KeyKind::Timestamp,
            true,
            "test_case_quarantines.id",
        ),
    );
    q.extra = ", true AS active".to_owned();
    q.conditions.push(format!("({ACTIVE})"));
    if let Some(p) = project {
        let p = q.sql.bind(p);
        q.conditions
            .push(format!("test_case_quarantines.project_id = {p}"));
    }
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    Ok((fetched.try_map(|row| quarantine_of(&row))?, total))
}

/// The active quarantine of each of `cases` that has one.
pub async fn active_of(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
) -> AppResult<HashMap<Uuid, Quarantine>> {
    let rows = conn
        .query_all_raw(statement(
            format!(
                "SELECT {} FROM test_case_quarantines WHERE test_case_id = ANY($1) AND {ACTIVE}",
                columns()
            ),
            vec![cases.to_vec().into()],
        ))
        .await?;
    let mut out = HashMap::new();
    for row in &rows {
        let q = quarantine_of(row)?;
        out.insert(q.row.test_case_id, q);
    }
    Ok(out)
}

/// Marks the quarantines whose expiry has passed released (reason `expired`, audited);
/// returns how many. The server runs it in the background; reads never need it.
pub async fn release_expired(conn: &impl ConnectionTrait) -> AppResult<i32> {
    let row = conn
        .query_one_raw(statement(
            "SELECT release_expired_quarantines() AS n".to_owned(),
            vec![],
        ))
        .await?
        .ok_or_else(|| AppError::internal("release_expired_quarantines returned no row"))?;
    Ok(row.try_get("", "n")?)
}

/// Sets or clears a finished run's infrastructure-failure flag, as a maintainer of its project
/// (or an admin); the run's cases are then reclassified with or without its results.
pub async fn mark_infrastructure_failure(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    run_id: Uuid,
    value: bool,
) -> AppResult<test_run::Model> {
    let run = crate::runs::service::lock_run(conn, run_id).await?;
    let project = by_id(conn, run.project_id)
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
    require(conn, identity, &project, Action::Manage).await?;
    if !crate::runs::service::bulk::run_is_finished(run.status) {
        return Err(AppError::conflict(
            Some("runId"),
            "the run is still open: whether it was an infrastructure failure is decided when it \
             finishes",
        ));
    }
    let row = conn
        .query_one_raw(statement(
            "UPDATE test_runs SET infrastructure_failure = $2 WHERE id = $1 RETURNING *",
            vec![run_id.into(), value.into()],
        ))
        .await?
        .ok_or_else(|| AppError::Forbidden {
            message: "not allowed to change this run".to_owned(),
        })?;
    Ok(test_run::Model::from_query_result(&row, "")?)
}
