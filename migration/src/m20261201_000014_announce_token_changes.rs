//! A changed API token is announced on channel `jbts_tokens`, with the token's id as payload, so
//! that every server process closes the WebSocket connections it authenticated at once, however
//! the token changed: through the API of any process, the command line (`token revoke`) or SQL.
//!
//! What changes a token's meaning: its revocation or expiry, its roles or user, its secret, or
//! its deletion. `last_used_at`, stamped once a minute per token in use, announces nothing. The
//! payload is the old row's id: the one the open sockets know. Announcements are sent at commit
//! (PostgreSQL's NOTIFY), so a process that hears one reads the committed change.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION announce_api_token_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_notify('jbts_tokens', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_announce_change
    AFTER UPDATE OF id, user_id, roles, secret_hash, expires_at, revoked_at ON api_tokens
    FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.roles IS DISTINCT FROM NEW.roles
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION announce_api_token_change();

CREATE TRIGGER api_tokens_announce_removal
    AFTER DELETE ON api_tokens
    FOR EACH ROW
    EXECUTE FUNCTION announce_api_token_change();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS api_tokens_announce_removal ON api_tokens;
DROP TRIGGER IF EXISTS api_tokens_announce_change ON api_tokens;
DROP FUNCTION IF EXISTS announce_api_token_change();
"#;

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
