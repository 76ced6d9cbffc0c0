//! Role checks for resolvers.

use async_graphql::Context;

use super::Identity;
use crate::error::{AppError, AppResult};

/// The caller's identity; UNAUTHENTICATED without one.
pub fn identity(ctx: &Context<'_>) -> AppResult<Identity> {
    let db = super::context::request_db(ctx)?;
    db.identity()
        .cloned()
        .ok_or_else(|| AppError::Unauthenticated {
            message: "authentication required".to_owned(),
        })
}

/// The caller's identity if they are an admin; FORBIDDEN otherwise.
pub fn admin(ctx: &Context<'_>) -> AppResult<Identity> {
    let identity = identity(ctx)?;
    if identity.is_admin() {
        Ok(identity)
    } else {
        Err(AppError::Forbidden {
            message: "this operation needs the admin role".to_owned(),
        })
    }
}
