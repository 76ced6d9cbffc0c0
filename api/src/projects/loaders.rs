//! Projects' relations, each read for a whole level of parents at once ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use entity::{project, project_member};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service::{self, ProjectRole};
use crate::error::AppResult;
use crate::loader::{Batch, ById, load_one};

/// The members of each project.
pub struct MembersOfProject;

impl Batch for MembersOfProject {
    type Key = Uuid;
    type Value = Vec<project_member::Model>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::members_of(conn, keys).await
    }
}

/// The caller's role in each project.
pub struct ViewerRole;

impl Batch for ViewerRole {
    type Key = Uuid;
    type Value = ProjectRole;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::caller_roles(conn, keys).await
    }
}

/// A project by id, if the caller sees it.
pub async fn project(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<project::Model>> {
    load_one::<ById<project::Model>>(ctx, id).await
}

pub async fn members(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<project_member::Model>> {
    Ok(load_one::<MembersOfProject>(ctx, id)
        .await?
        .unwrap_or_default())
}

pub async fn viewer_role(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<ProjectRole>> {
    load_one::<ViewerRole>(ctx, id).await
}
