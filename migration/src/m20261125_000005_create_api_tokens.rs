//! API tokens: how requests authenticate. Only a SHA-256 hash of each token's secret is
//! stored; the token itself is shown once, when it is created.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE api_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(100) NOT NULL,
    name VARCHAR(255),
    roles TEXT[] NOT NULL,
    secret_hash BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    last_used_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE,
    revoked_at TIMESTAMP WITH TIME ZONE,

    CONSTRAINT ck_api_tokens_roles
        CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['admin', 'member']::text[]),
    CONSTRAINT ck_api_tokens_secret_hash_length CHECK (octet_length(secret_hash) = 32),
    CONSTRAINT ck_api_tokens_user_id_not_blank CHECK (btrim(user_id) <> '')
);

CREATE INDEX ix_api_tokens_user_id ON api_tokens(user_id);
"#;

const DOWN: &str = "DROP TABLE IF EXISTS api_tokens;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
