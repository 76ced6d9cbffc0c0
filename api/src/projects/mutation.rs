//! Write entry points of projects.

use async_graphql::{Context, Object};

use super::service::{self, ProjectRole};
use super::types::{CreateProjectInput, Project, ProjectMemberPayload, UpdateProjectInput};
use crate::auth::context::request_db;
use crate::error::AppResult;

#[derive(Default)]
pub struct ProjectsMutation;

#[Object]
impl ProjectsMutation {
    /// Creates a project (admin only: keys are unique across every project). Add members with
    /// `setProjectMember`.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its key, name and description.")] input: CreateProjectInput,
    ) -> AppResult<Project> {
        let identity = crate::auth::guard::admin(ctx)?;
        let db = request_db(ctx)?;
        let project = db
            .write(|tx| {
                Box::pin(async move {
                    service::create(
                        tx,
                        &input.key,
                        &input.name,
                        input.description.as_deref(),
                        &identity.user_id,
                    )
                    .await
                })
            })
            .await?;
        Ok(Project(project))
    }

    /// Changes a project's name, description or classification settings (its maintainers,
    /// or an admin).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's key.")] key: String,
        #[graphql(desc = "What changes.")] input: UpdateProjectInput,
    ) -> AppResult<Project> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let project = db
            .write(|tx| {
                Box::pin(async move {
                    service::update(
                        tx,
                        &identity,
                        &key,
                        input.name.as_deref(),
                        input.description,
                        None,
                        service::ProjectSettings {
                            infra_failure_share: input.infra_failure_share,
                            auto_quarantine_flaky: input.auto_quarantine_flaky,
                            flaky_min_sample: input.flaky_min_sample,
                        },
                    )
                    .await
                })
            })
            .await?;
        Ok(Project(project))
    }

    /// Archives a project (read-only from then on), or restores it with `archived: false`
    /// (its maintainers, or an admin).
    async fn archive_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's key.")] key: String,
        #[graphql(desc = "Archive (default) or restore.", default = true)] archived: bool,
    ) -> AppResult<Project> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let project = db
            .write(|tx| {
                Box::pin(async move {
                    service::update(
                        tx,
                        &identity,
                        &key,
                        None,
                        async_graphql::MaybeUndefined::Undefined,
                        Some(archived),
                        service::ProjectSettings::default(),
                    )
                    .await
                })
            })
            .await?;
        Ok(Project(project))
    }

    /// Gives a user a role in a project, adding them if needed (its maintainers, or an admin).
    async fn set_project_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's key.")] project_key: String,
        #[graphql(desc = "The user.")] user_id: String,
        #[graphql(desc = "Their role.")] role: ProjectRole,
    ) -> AppResult<ProjectMemberPayload> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let (project, member) = db
            .write(|tx| {
                Box::pin(async move {
                    service::set_member(tx, &identity, &project_key, &user_id, role).await
                })
            })
            .await?;
        Ok(ProjectMemberPayload {
            project: Project(project),
            user_id: member.user_id,
            role: ProjectRole::parse(&member.role),
        })
    }

    /// Removes a user from a project (its maintainers, or an admin); NOT_FOUND when they are
    /// not a member.
    async fn remove_project_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's key.")] project_key: String,
        #[graphql(desc = "The user.")] user_id: String,
    ) -> AppResult<ProjectMemberPayload> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let removed = user_id.clone();
        let project = db
            .write(|tx| {
                Box::pin(async move {
                    service::remove_member(tx, &identity, &project_key, &user_id).await
                })
            })
            .await?;
        Ok(ProjectMemberPayload {
            project: Project(project),
            user_id: removed,
            role: None,
        })
    }
}
