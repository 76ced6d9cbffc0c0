//! Projects and their members. Runs in the caller's connection, so row-level security decides
//! which projects and members a caller sees and changes; a project the caller does not see is
//! answered exactly as one that does not exist.

use std::collections::HashMap;

use entity::{project, project_member};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};
use uuid::Uuid;

use crate::auth::Identity;
use crate::error::{AppError, AppResult};
use crate::input::{DESCRIPTION_MAX, NAME_MAX, SHORT_TEXT_MAX, check_len, check_name};
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs};
use crate::sql::{ListQuery, Total, contains_pattern, statement};

/// The project of every row created before projects existed, and of those created without one
/// (migration 16).
pub const DEFAULT_PROJECT: Uuid = Uuid::from_u128(1);

/// Longest project key (`VARCHAR(64)`).
pub const KEY_MAX: usize = 64;

/// A role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum ProjectRole {
    /// Reads the project's catalogue, runs and results.
    Viewer,
    /// Also writes test cases, starts runs and reports results.
    Member,
    /// Also manages suites, configurations and members.
    Maintainer,
}

impl ProjectRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Viewer => "viewer",
            ProjectRole::Member => "member",
            ProjectRole::Maintainer => "maintainer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => ProjectRole::Viewer,
            "member" => ProjectRole::Member,
            "maintainer" => ProjectRole::Maintainer,
            _ => return None,
        })
    }
}

impl From<crate::config::ProjectRoleArg> for ProjectRole {
    fn from(r: crate::config::ProjectRoleArg) -> Self {
        match r {
            crate::config::ProjectRoleArg::Viewer => Self::Viewer,
            crate::config::ProjectRoleArg::Member => Self::Member,
            crate::config::ProjectRoleArg::Maintainer => Self::Maintainer,
        }
    }
}

/// What a caller wants to do in a project, as the policies name it (`app_projects(kind)`),
/// with the capability the seed's author rule needs for the same in the default project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start runs and report results.
    Report,
    /// Change test cases.
    Write,
    /// Manage suites, configurations and members.
    Manage,
    /// Add, change or remove members.
    ManageMembers,
    /// Rename, archive or restore the project itself (archived or not).
    Maintain,
}

impl Action {
    fn kind(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Write => "write",
            Action::Manage | Action::ManageMembers => "manage",
            Action::Maintain => "maintain",
        }
    }

    /// The capability of the seed's author rule that allows the same in the default project
    /// (none changes the project itself).
    fn own(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Write | Action::Manage => "write",
            Action::ManageMembers | Action::Maintain => "none",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Action::Report => "start runs or report results",
            Action::Write => "change test cases",
            Action::Manage => "manage suites or configurations",
            Action::ManageMembers => "manage members",
            Action::Maintain => "change the project",
        }
    }
}

/// A project key's shape (`ck_projects_key`), checked before any statement.
pub fn check_key(field: &str, key: &str) -> AppResult<()> {
    let bytes = key.as_bytes();
    let shaped = !bytes.is_empty()
        && bytes.len() <= KEY_MAX
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-';
    if shaped {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!(
                "{field} must be 1 to {KEY_MAX} lowercase letters, digits and dashes, starting and ending with a letter or digit"
            ),
        ))
    }
}

fn one<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

async fn models<M: FromQueryResult>(
    conn: &impl ConnectionTrait,
    text: &str,
    values: Vec<Value>,
) -> AppResult<Vec<M>> {
    Ok(crate::sql::models::<M>(conn, text, values)
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// The project with `key`, if the caller sees it.
pub async fn by_key(conn: &impl ConnectionTrait, key: &str) -> AppResult<Option<project::Model>> {
    if key.len() > KEY_MAX {
        return Ok(None);
    }
    Ok(one(models(
        conn,
        "SELECT * FROM projects WHERE key = $1",
        vec![key.into()],
    )
    .await?))
}

/// The project with `id`, if the caller sees it.
pub async fn by_id(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<project::Model>> {
    Ok(one(models(
        conn,
        "SELECT * FROM projects WHERE id = $1",
        vec![id.into()],
    )
    .await?))
}

/// The project named by `key` in input `field`; a project the caller does not see is
/// BAD_USER_INPUT "no such project", as a missing one.
pub async fn resolve(
    conn: &impl ConnectionTrait,
    field: &str,
    key: &str,
) -> AppResult<project::Model> {
    check_key(field, key)?;
    by_key(conn, key)
        .await?
        .ok_or_else(|| AppError::bad_input(field, format!("{field}: no such project '{key}'")))
}

/// The id of the project named by `key` (input `field`), for a filter.
pub async fn resolve_id(
    conn: &impl ConnectionTrait,
    field: &str,
    key: Option<&str>,
) -> AppResult<Option<Uuid>> {
    match key {
        Some(key) => Ok(Some(resolve(conn, field, key).await?.id)),
        None => Ok(None),
    }
}

/// A list filter with a `projectKey`, resolved into the project's id before the list is read.
pub trait ProjectFiltered: Default {
    fn project_key(&self) -> Option<&str>;
    fn set_project_id(&mut self, id: Option<Uuid>);
}

/// Implements [`ProjectFiltered`] for filters with `project_key` and `project_id` fields.
#[macro_export]
macro_rules! project_filtered {
    ($($filter:ty),* $(,)?) => {$(
        impl $crate::projects::service::ProjectFiltered for $filter {
            fn project_key(&self) -> Option<&str> {
                self.project_key.as_deref()
            }
            fn set_project_id(&mut self, id: Option<uuid::Uuid>) {
                self.project_id = id;
            }
        }
    )*};
}

/// `filter` (or the empty one) with its project key resolved: a project the caller does not
/// see is BAD_USER_INPUT on `filter.projectKey`, as one that does not exist.
pub async fn resolved<F: ProjectFiltered>(
    conn: &impl ConnectionTrait,
    filter: Option<F>,
) -> AppResult<F> {
    let mut filter = filter.unwrap_or_default();
    let id = resolve_id(conn, "filter.projectKey", filter.project_key()).await?;
    filter.set_project_id(id);
    Ok(filter)
}

/// Whether the request may do `action` in `project` (an admin anything; otherwise what the
/// token's scope and the user's role there allow, as the policies read it).
pub async fn may(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    project: Uuid,
    action: Action,
) -> AppResult<bool> {
    if identity.is_admin() {
        return Ok(true);
    }
    let row = conn
        .query_one_raw(statement(
            "SELECT ($1 = ANY (app_projects($2))) OR ($1 = $3 AND app_own($4)) AS allowed",
            vec![
                project.into(),
                action.kind().into(),
                DEFAULT_PROJECT.into(),
                action.own().into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("permission check returned nothing"))?;
    Ok(row.try_get("", "allowed")?)
}

/// Whether the request may do `action` in `project` by membership (not by the author rule).
async fn by_membership(
    conn: &impl ConnectionTrait,
    project: Uuid,
    action: Action,
) -> AppResult<bool> {
    let row = conn
        .query_one_raw(statement(
            "SELECT $1 = ANY (app_projects($2)) AS allowed",
            vec![project.into(), action.kind().into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("permission check returned nothing"))?;
    Ok(row.try_get("", "allowed")?)
}

/// Refuses `action` in `project` with a clear FORBIDDEN when the request may not do it (the
/// project is one the caller sees: they may know their role in it).
pub async fn require(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    project: &project::Model,
    action: Action,
) -> AppResult<()> {
    if project.archived && !identity.is_admin() {
        return Err(AppError::Forbidden {
            message: format!(
                "project '{}' is archived: it is read-only until a maintainer restores it",
                project.key
            ),
        });
    }
    if may(conn, identity, project.id, action).await? {
        return Ok(());
    }
    Err(AppError::Forbidden {
        message: format!(
            "not allowed to {} in project '{}': {}",
            action.describe(),
            project.key,
            why_not(identity, project, action)
        ),
    })
}

fn why_not(identity: &Identity, project: &project::Model, action: Action) -> String {
    let scope = &identity.scope;
    if scope.project.is_some_and(|p| p != project.id) {
        return "the token is limited to another project".to_owned();
    }
    if let Some(caps) = &scope.capabilities {
        let names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
        return format!(
            "the token's capabilities ({}) or the user's role there do not allow it",
            names.join(", ")
        );
    }
    match action {
        Action::Manage | Action::ManageMembers | Action::Maintain => {
            "it takes the maintainer role in the project".to_owned()
        }
        _ => "it takes the member or maintainer role in the project".to_owned(),
    }
}

/// The project a new row goes into: `key` (input `field`) or, without one, the token's project
/// or the default project; refused with a clear error unless the request may do `action`
/// there.
pub async fn for_new_row(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    field: &str,
    key: Option<&str>,
    action: Action,
) -> AppResult<Uuid> {
    let project = match key {
        Some(key) => {
            let project = resolve(conn, field, key).await;
            // a token limited to a project says so, whatever the other key names (the
            // answer is the same for a project that exists and one that does not)
            if let (Err(AppError::BadUserInput { .. }), Some(own)) =
                (&project, identity.scope.project)
                && let Some(own) = by_id(conn, own).await?
                && own.key != key
            {
                return Err(AppError::bad_input(
                    field,
                    format!("{field}: the token is limited to project '{}'", own.key),
                ));
            }
            project?
        }
        None => {
            let id = identity.scope.project.unwrap_or(DEFAULT_PROJECT);
            one(models(
                conn,
                "SELECT * FROM projects WHERE id = $1",
                vec![id.into()],
            )
            .await?)
            .ok_or_else(|| {
                AppError::bad_input(field, format!("{field} is required: name a project"))
            })?
        }
    };
    require(conn, identity, &project, action).await?;
    Ok(project.id)
}

/// Refuses a reference (input `field`) to a row of `table` that the caller does not see, or
/// that belongs to another project than `project`: foreign keys ignore row-level security,
/// so a hidden row would pass the key where a missing one fails it, and would tie two
/// projects together.
pub async fn check_reference(
    conn: &impl ConnectionTrait,
    field: &str,
    table: &'static str,
    id: Option<Uuid>,
    project: Uuid,
) -> AppResult<()> {
    let Some(id) = id else {
        return Ok(());
    };
    let row = conn
        .query_one_raw(statement(
            format!("SELECT project_id FROM {table} WHERE id = $1"),
            vec![id.into()],
        ))
        .await?;
    let what = table.trim_end_matches('s').replace('_', " ");
    match row {
        None => Err(AppError::bad_input(
            field,
            format!("{field}: no such {what}"),
        )),
        Some(row) if row.try_get::<Uuid>("", "project_id")? != project => Err(AppError::bad_input(
            field,
            format!("{field}: the {what} belongs to another project"),
        )),
        Some(_) => Ok(()),
    }
}

/// The project of a row of `entity` (as errors name it), and what changing it takes.
fn project_of(entity: &str) -> Option<(&'static str, Action)> {
    Some(match entity {
        "TestCase" => (
            "SELECT project_id FROM test_cases WHERE id = $1",
            Action::Write,
        ),
        "TestStep" => (
            "SELECT c.project_id FROM test_steps s JOIN test_cases c ON c.id = s.test_case_id
             WHERE s.id = $1",
            Action::Write,
        ),
        "TestSuite" => (
            "SELECT project_id, created_by AS owner FROM test_suites WHERE id = $1",
            Action::Manage,
        ),
        "Configuration" => (
            "SELECT project_id, created_by AS owner FROM configurations WHERE id = $1",
            Action::Manage,
        ),
        "TestRun" => (
            "SELECT project_id FROM test_runs WHERE id = $1",
            Action::Report,
        ),
        "TestExecution" => (
            "SELECT r.project_id FROM test_executions e JOIN test_runs r ON r.id = e.test_run_id
             WHERE e.id = $1",
            Action::Report,
        ),
        "TestStepExecution" => (
            "SELECT r.project_id FROM test_step_executions se
             JOIN test_executions e ON e.id = se.test_execution_id
             JOIN test_runs r ON r.id = e.test_run_id WHERE se.id = $1",
            Action::Report,
        ),
        _ => return None,
    })
}

/// Runs the write `f` in a transaction of `identity`'s own (not a request's), commits it, and
/// answers as [`explained`] does: for work that commits in steps (an import's batches, an
/// upload once its bytes are stored).
pub async fn write_as<T: Send + 'static>(
    pool: &sea_orm::DatabaseConnection,
    identity: &crate::auth::Identity,
    limits: crate::config::StatementLimits,
    f: impl for<'a> FnOnce(&'a sea_orm::DatabaseTransaction) -> crate::auth::context::TxFuture<'a, T>
    + Send,
) -> AppResult<T> {
    let db = crate::auth::RequestDb::new(pool.clone(), Some(identity.clone()), limits);
    let value = db.write(f).await;
    let value = explained(&db, value).await?;
    db.finish().await?;
    Ok(value)
}

/// Runs `f` in a transaction of `identity`'s own that is rolled back, answering as
/// [`explained`] does: a check before work that must not start unless it would be allowed
/// (an upload's body is read only once its target is known writable; the locks it took are
/// let go).
pub async fn read_as<T: Send + 'static>(
    pool: &sea_orm::DatabaseConnection,
    identity: &crate::auth::Identity,
    limits: crate::config::StatementLimits,
    f: impl for<'a> FnOnce(&'a sea_orm::DatabaseTransaction) -> crate::auth::context::TxFuture<'a, T>
    + Send,
) -> AppResult<T> {
    let db = crate::auth::RequestDb::new(pool.clone(), Some(identity.clone()), limits);
    let result = {
        let conn = db.conn().await?;
        f(&conn).await
    };
    let result = explained(&db, result).await;
    // not committed: nothing is kept
    let _ = db.finish().await;
    result
}

/// A change answered NOT_FOUND because row-level security let the caller read the row but
/// not change it (a viewer, a report-only token, a project's archived state) is answered
/// FORBIDDEN with the reason; a row the caller does not see stays NOT_FOUND, as a missing one.
pub async fn explained<T>(db: &crate::auth::RequestDb, result: AppResult<T>) -> AppResult<T> {
    let Err(AppError::NotFound { entity, id }) = &result else {
        return result;
    };
    let (Some((sql, action)), Ok(id), Some(identity)) =
        (project_of(entity), Uuid::parse_str(id), db.identity())
    else {
        return result;
    };
    let explanation = async {
        let conn = db.conn().await?;
        let Some(row) = conn.query_one_raw(statement(sql, vec![id.into()])).await? else {
            return Ok(None);
        };
        let Some(project) = by_id(&*conn, row.try_get("", "project_id")?).await? else {
            return Ok(None);
        };
        if let Err(forbidden) = require(&*conn, identity, &project, action).await {
            return Ok(Some(forbidden));
        }
        // everyone reads the default project's suites and configurations; the author rule
        // lets only their creator change them
        let owner: Option<String> = row.try_get("", "owner").unwrap_or(None);
        if project.id == DEFAULT_PROJECT
            && owner.is_some_and(|o| o != identity.user_id)
            && !by_membership(&*conn, project.id, action).await?
        {
            return Ok(Some(AppError::Forbidden {
                message: "not allowed: in the default project only its creator or a maintainer \
                          changes it"
                    .to_owned(),
            }));
        }
        Ok::<_, AppError>(None)
    };
    match explanation.await {
        Ok(Some(forbidden)) => Err(forbidden),
        _ => result,
    }
}

/// Which projects a list shows.
#[derive(async_graphql::InputObject, Clone, Default)]
pub struct ProjectFilter {
    /// Archived projects too (default: no).
    pub include_archived: Option<bool>,
    /// Projects whose key or name contains this text (case-insensitive).
    pub search: Option<String>,
}

/// The projects the caller sees, by key, a page at a time.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: ProjectFilter,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Fetched<project::Model>, Total)> {
    let mut q = ListQuery::new(
        "projects",
        Ordering::column("projects", "key", KeyKind::Text, false, "projects.id"),
    );
    if !filter.include_archived.unwrap_or(false) {
        q.conditions.push("NOT projects.archived".to_owned());
    }
    if let Some(text) = filter.search {
        check_len("filter.search", Some(&text), NAME_MAX)?;
        let p = q.sql.bind(contains_pattern(&text));
        q.conditions.push(format!(
            "(projects.key ILIKE {p} OR projects.name ILIKE {p})"
        ));
    }
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    Ok((
        fetched.try_map(|row| project::Model::from_query_result(&row, ""))?,
        total,
    ))
}

fn check_fields(name: Option<&str>, description: Option<&str>) -> AppResult<()> {
    if let Some(name) = name {
        check_name("name", name, NAME_MAX)?;
    }
    check_len("description", description, DESCRIPTION_MAX)
}

/// Creates a project (admins only: a key is unique across all projects, so only those who see
/// them all may pick one without learning of others).
pub async fn create(
    conn: &impl ConnectionTrait,
    key: &str,
    name: &str,
    description: Option<&str>,
    created_by: &str,
) -> AppResult<project::Model> {
    check_key("key", key)?;
    check_fields(Some(name), description)?;
    one(models(
        conn,
        "INSERT INTO projects(key, name, description, created_by) VALUES ($1, $2, $3, $4)
         RETURNING *",
        vec![
            key.into(),
            name.into(),
            description.map(str::to_owned).into(),
            created_by.into(),
        ],
    )
    .await?)
    .ok_or_else(|| AppError::internal("project insert returned nothing"))
}

/// Smallest share of failed outcomes a project may set as its infrastructure-failure
/// threshold: below it, an ordinary bad run would be taken for an outage.
pub const INFRA_FAILURE_SHARE_MIN: f64 = 0.05;

/// Fewest results a project may ask its flip rates to be judged on: two results make one
/// possible flip.
pub const FLAKY_MIN_SAMPLE_MIN: i32 = 2;

/// Most results a project may ask its flip rates to be judged on: the classification looks at
/// the last 20.
pub const FLAKY_MIN_SAMPLE_MAX: i32 = 20;

/// How a project's results are classified; absent settings stay as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectSettings {
    /// Share of failed outcomes above which a finished run is an infrastructure failure.
    pub infra_failure_share: Option<f64>,
    /// Whether cases that become FLAKY are quarantined automatically.
    pub auto_quarantine_flaky: Option<bool>,
    /// Fewest results a flip rate is judged on.
    pub flaky_min_sample: Option<i32>,
}

impl ProjectSettings {
    /// Refuses a setting out of its bounds (`ck_projects_*` say the same).
    fn check(&self) -> AppResult<()> {
        if let Some(share) = self.infra_failure_share
            && !(INFRA_FAILURE_SHARE_MIN..=1.0).contains(&share)
        {
            return Err(AppError::bad_input(
                "input.infraFailureShare",
                format!("infraFailureShare must be between {INFRA_FAILURE_SHARE_MIN} and 1"),
            ));
        }
        if let Some(n) = self.flaky_min_sample {
            crate::input::check_range(
                "input.flakyMinSample",
                n,
                FLAKY_MIN_SAMPLE_MIN,
                FLAKY_MIN_SAMPLE_MAX,
            )?;
        }
        Ok(())
    }
}

/// Changes a project's name, description, archived flag or classification settings (its
/// maintainers, or an admin).
pub async fn update(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    key: &str,
    name: Option<&str>,
    description: async_graphql::MaybeUndefined<String>,
    archived: Option<bool>,
    settings: ProjectSettings,
) -> AppResult<project::Model> {
    check_fields(name, description.as_opt_deref().flatten())?;
    settings.check()?;
    let project = resolve(conn, "key", key).await?;
    if project.id == DEFAULT_PROJECT && archived == Some(true) {
        return Err(AppError::bad_input(
            "key",
            "the default project cannot be archived: rows created without a project go there",
        ));
    }
    if !may(conn, identity, project.id, Action::Maintain).await? {
        return Err(AppError::Forbidden {
            message: format!(
                "not allowed to change project '{}': {}",
                project.key,
                why_not(identity, &project, Action::Maintain)
            ),
        });
    }
    let (set_description, description) = match description {
        async_graphql::MaybeUndefined::Undefined => (false, None),
        async_graphql::MaybeUndefined::Null => (true, None),
        async_graphql::MaybeUndefined::Value(d) => (true, Some(d)),
    };
    one(models(
        conn,
        "UPDATE projects SET name = coalesce($2, name),
                description = CASE WHEN $3 THEN $4 ELSE description END,
                archived = coalesce($5, archived),
                infra_failure_share = coalesce($6, infra_failure_share),
                auto_quarantine_flaky = coalesce($7, auto_quarantine_flaky),
                flaky_min_sample = coalesce($8, flaky_min_sample)
         WHERE id = $1 RETURNING *",
        vec![
            project.id.into(),
            name.map(str::to_owned).into(),
            set_description.into(),
            description.into(),
            archived.into(),
            settings.infra_failure_share.into(),
            settings.auto_quarantine_flaky.into(),
            settings.flaky_min_sample.into(),
        ],
    )
    .await?)
    .ok_or_else(|| AppError::Forbidden {
        message: format!(
            "not allowed to change project '{}': it takes the maintainer role in the project",
            project.key
        ),
    })
}

/// Gives `user_id` `role` in the project (adding or changing the membership).
pub async fn set_member(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    key: &str,
    user_id: &str,
    role: ProjectRole,
) -> AppResult<(project::Model, project_member::Model)> {
    check_name("userId", user_id, SHORT_TEXT_MAX)?;
    let project = resolve(conn, "projectKey", key).await?;
    require(conn, identity, &project, Action::ManageMembers).await?;
    let member = one(models(
        conn,
        "INSERT INTO project_members(project_id, user_id, role, added_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role
         RETURNING *",
        vec![
            project.id.into(),
            user_id.into(),
            role.as_str().into(),
            identity.user_id.clone().into(),
        ],
    )
    .await?)
    .ok_or_else(|| AppError::internal("member upsert returned nothing"))?;
    Ok((project, member))
}

/// Removes `user_id` from the project; NOT_FOUND when they are not a member.
pub async fn remove_member(
    conn: &impl ConnectionTrait,
    identity: &Identity,
    key: &str,
    user_id: &str,
) -> AppResult<project::Model> {
    check_len("userId", Some(user_id), SHORT_TEXT_MAX)?;
    let project = resolve(conn, "projectKey", key).await?;
    require(conn, identity, &project, Action::ManageMembers).await?;
    let removed: Vec<project_member::Model> = models(
        conn,
        "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 RETURNING *",
        vec![project.id.into(), user_id.into()],
    )
    .await?;
    if removed.is_empty() {
        return Err(AppError::not_found("ProjectMember", user_id));
    }
    Ok(project)
}

/// The members of each project the caller sees, by user id.
pub async fn members_of(
    conn: &impl ConnectionTrait,
    projects: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<project_member::Model>>> {
    let rows: Vec<project_member::Model> = models(
        conn,
        "SELECT * FROM project_members WHERE project_id = ANY($1) ORDER BY project_id, user_id",
        vec![projects.to_vec().into()],
    )
    .await?;
    let mut out: HashMap<Uuid, Vec<project_member::Model>> = HashMap::new();
    for row in rows {
        out.entry(row.project_id).or_default().push(row);
    }
    Ok(out)
}

/// `user_id`'s role in each of `projects` they belong to.
pub async fn roles_of(
    conn: &impl ConnectionTrait,
    user_id: &str,
    projects: &[Uuid],
) -> AppResult<HashMap<Uuid, ProjectRole>> {
    roles(conn, "$2", vec![projects.to_vec().into(), user_id.into()]).await
}

/// The caller's role in each of `projects` they belong to (in one statement: the caller is
/// the request's `app.user_id`).
pub async fn caller_roles(
    conn: &impl ConnectionTrait,
    projects: &[Uuid],
) -> AppResult<HashMap<Uuid, ProjectRole>> {
    roles(conn, "app_user_id()", vec![projects.to_vec().into()]).await
}

async fn roles(
    conn: &impl ConnectionTrait,
    user: &str,
    values: Vec<Value>,
) -> AppResult<HashMap<Uuid, ProjectRole>> {
    let rows: Vec<project_member::Model> = models(
        conn,
        &format!("SELECT * FROM project_members WHERE project_id = ANY($1) AND user_id = {user}"),
        values,
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| ProjectRole::parse(&m.role).map(|r| (m.project_id, r)))
        .collect())
}

/// The projects `user_id` belongs to (that the caller sees), by key, with their role.
pub async fn memberships(
    conn: &impl ConnectionTrait,
    user_id: &str,
) -> AppResult<Vec<(project::Model, ProjectRole)>> {
    let rows = crate::sql::models::<project::Model>(
        conn,
        "SELECT p.*, m.role AS member_role FROM project_members m
         JOIN projects p ON p.id = m.project_id
         WHERE m.user_id = $1 ORDER BY p.key",
        vec![user_id.into()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (row, project) in rows {
        let role: String = row.try_get("", "member_role")?;
        if let Some(role) = ProjectRole::parse(&role) {
            out.push((project, role));
        }
    }
    Ok(out)
}
