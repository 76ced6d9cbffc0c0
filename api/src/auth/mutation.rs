//! Write entry points of identity and access.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service;
use super::types::{ApiToken, CreateApiTokenInput, CreatedApiToken};
use crate::auth::context::request_db;
use crate::error::AppResult;

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an API token (admin only). The token text is in the answer, and only there.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who the token is for and what it grants.")] input: CreateApiTokenInput,
    ) -> AppResult<CreatedApiToken> {
        super::guard::admin(ctx)?;
        let db = request_db(ctx)?;
        let (record, token) = db
            .write(|tx| {
                Box::pin(async move {
                    service::create(
                        tx,
                        &service::NewToken {
                            user_id: &input.user_id,
                            roles: &input.roles,
                            name: input.name.as_deref(),
                            expires_at: input.expires_at,
                            project_key: input.project_key.as_deref(),
                            capabilities: input.capabilities.as_deref(),
                        },
                    )
                    .await
                })
            })
            .await?;
        Ok(CreatedApiToken {
            token,
            api_token: record.into(),
        })
    }

    /// Revokes an API token: an admin any, a member their own. Revoking twice is harmless.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token's id.")] id: Uuid,
    ) -> AppResult<ApiToken> {
        super::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let revoked = db
            .write(|tx| Box::pin(async move { service::revoke(tx, id).await }))
            .await?;
        if let Ok(tokens) = ctx.data::<std::sync::Arc<super::tokens::TokenCache>>() {
            tokens.evict(id);
        }
        Ok(ApiToken::from(revoked))
    }
}
