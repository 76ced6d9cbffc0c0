//! GraphQL objects of projects.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, FixedOffset};
use entity::{project, project_member};
use uuid::Uuid;

use super::loaders;
pub use super::service::{ProjectFilter, ProjectRole};
use crate::connection::Connection;

#[derive(Clone)]
pub struct Project(pub project::Model);

/// A project: a team's shared test cases, suites, configurations and runs. Its members see
/// all of it; their role says what they may change.
#[Object]
impl Project {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Unique short name (`web-shop`): what `projectKey` arguments, tokens and the CLI take.
    async fn key(&self) -> &str {
        &self.0.key
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the project is about.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Whether it is archived (read-only).
    async fn archived(&self) -> bool {
        self.0.archived
    }
    /// User id of whoever created it; null when none was recorded.
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<FixedOffset> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<FixedOffset> {
        self.0.updated_at
    }
    /// A finished run with at least 10 passed/failed outcomes, more than this share of them
    /// failed, is flagged an infrastructure failure (an outage, not the tests) and left out of
    /// flaky classification (0.05 to 1; default 0.5).
    async fn infra_failure_share(&self) -> f64 {
        self.0.infra_failure_share
    }
    /// Whether cases that become FLAKY are quarantined automatically (for 14 days, owned by
    /// the case's author); BROKEN cases never are. Default false.
    async fn auto_quarantine_flaky(&self) -> bool {
        self.0.auto_quarantine_flaky
    }
    /// Fewest results a case's flip rate is judged on (2 to 20; default 5): with fewer, a
    /// case is FLAKY only on direct evidence (a pass and a fail on one commit, a pass on a
    /// retry).
    async fn flaky_min_sample(&self) -> i32 {
        self.0.flaky_min_sample
    }
    /// The caller's role in it (null when they are not a member: an admin, or the author of
    /// records in the default project).
    async fn viewer_role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ProjectRole>> {
        loaders::viewer_role(ctx, self.0.id).await
    }
    /// Its members, by user id.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectMember>> {
        Ok(loaders::members(ctx, self.0.id)
            .await?
            .into_iter()
            .filter_map(ProjectMember::from_model)
            .collect())
    }
}

/// A user's membership of a project.
#[derive(SimpleObject)]
pub struct ProjectMember {
    /// The user.
    pub user_id: String,
    /// Their role.
    pub role: ProjectRole,
    /// Who added them.
    pub added_by: Option<String>,
    /// When.
    pub added_at: DateTime<FixedOffset>,
}

impl ProjectMember {
    pub fn from_model(m: project_member::Model) -> Option<Self> {
        Some(Self {
            user_id: m.user_id,
            role: ProjectRole::parse(&m.role)?,
            added_by: m.added_by,
            added_at: m.added_at,
        })
    }
}

/// One of the caller's projects and their role in it.
#[derive(SimpleObject)]
pub struct ProjectMembership {
    /// The project.
    pub project: Project,
    /// The caller's role in it.
    pub role: ProjectRole,
}

/// A page of projects.
pub type ProjectConnection = Connection<Project>;

/// A new project.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// Unique short name: 1 to 64 lowercase letters, digits and dashes (`web-shop`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is about.
    pub description: Option<String>,
}

/// Changes to a project; absent fields stay as they are.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    /// Display name.
    pub name: Option<String>,
    /// What it is about (null clears it).
    pub description: MaybeUndefined<String>,
    /// Share of failed outcomes above which a finished run is an infrastructure failure
    /// (0.05 to 1).
    pub infra_failure_share: Option<f64>,
    /// Whether cases that become FLAKY are quarantined automatically.
    pub auto_quarantine_flaky: Option<bool>,
    /// Fewest results a flip rate is judged on (2 to 20).
    pub flaky_min_sample: Option<i32>,
}

/// A project and the member just added, changed or removed.
#[derive(SimpleObject)]
pub struct ProjectMemberPayload {
    /// The project.
    pub project: Project,
    /// The user concerned.
    pub user_id: String,
    /// Their role now (null once removed).
    pub role: Option<ProjectRole>,
}
