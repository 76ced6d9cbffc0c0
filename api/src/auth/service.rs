//! API token records: create, list, revoke. Runs in the caller's connection, so row-level
//! security decides who sees and changes which tokens.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};
use uuid::Uuid;

use super::tokens::mint;
use super::{Capability, Role};
use crate::error::{AppError, AppResult};

/// Longest user id (`VARCHAR(100)`, as the catalogue's author columns).
pub const USER_ID_MAX: usize = 100;

/// A token as listed (never with its secret).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: Uuid,
    pub user_id: String,
    pub name: Option<String>,
    pub roles: Vec<Role>,
    pub created_at: DateTime<FixedOffset>,
    pub last_used_at: Option<DateTime<FixedOffset>>,
    pub expires_at: Option<DateTime<FixedOffset>>,
    pub revoked_at: Option<DateTime<FixedOffset>>,
    /// The one project it acts in, if limited.
    pub project_id: Option<Uuid>,
    /// What it may do, if limited.
    pub capabilities: Option<Vec<Capability>>,
}

impl TokenRecord {
    fn from_row(row: &QueryResult) -> AppResult<Self> {
        let roles: Vec<String> = row.try_get("", "roles")?;
        Ok(Self {
            id: row.try_get("", "id")?,
            user_id: row.try_get("", "user_id")?,
            name: row.try_get("", "name")?,
            roles: super::tokens::parse_roles(&roles),
            created_at: row.try_get("", "created_at")?,
            last_used_at: row.try_get("", "last_used_at")?,
            expires_at: row.try_get("", "expires_at")?,
            revoked_at: row.try_get("", "revoked_at")?,
            project_id: row.try_get("", "project_id")?,
            capabilities: row
                .try_get::<Option<Vec<String>>>("", "capabilities")?
                .map(|caps| super::tokens::parse_capabilities(&caps)),
        })
    }
}

const COLUMNS: &str = "id, user_id, name, roles, created_at, last_used_at, expires_at, revoked_at, \
                       project_id, capabilities";

/// What a new token is.
#[derive(Debug, Clone, Default)]
pub struct NewToken<'a> {
    pub user_id: &'a str,
    pub roles: &'a [Role],
    pub name: Option<&'a str>,
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// The one project it acts in (its key).
    pub project_key: Option<&'a str>,
    /// What it may do (default: everything the user's roles allow).
    pub capabilities: Option<&'a [Capability]>,
}

/// Creates a token; returns its record and the token text (shown once). A token limited to a
/// project is for a member of it (or an admin, who acts there as a maintainer).
pub async fn create(
    conn: &impl ConnectionTrait,
    new: &NewToken<'_>,
) -> AppResult<(TokenRecord, String)> {
    let NewToken {
        user_id,
        roles,
        name,
        expires_at,
        project_key,
        capabilities,
    } = new.clone();
    if user_id.trim().is_empty() || user_id.chars().count() > USER_ID_MAX {
        return Err(AppError::bad_input(
            "userId",
            format!("userId must be 1 to {USER_ID_MAX} characters"),
        ));
    }
    if roles.is_empty() {
        return Err(AppError::bad_input(
            "roles",
            "a token needs at least one role",
        ));
    }
    if name.is_some_and(|n| n.chars().count() > 255) {
        return Err(AppError::bad_input(
            "name",
            "name must be at most 255 characters",
        ));
    }
    if let Some(at) = expires_at
        && at <= chrono::Utc::now()
    {
        return Err(AppError::bad_input(
            "expiresAt",
            "expiresAt must be in the future",
        ));
    }
    let mut role_names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    role_names.sort();
    role_names.dedup();
    let capabilities: Option<Vec<String>> = match capabilities {
        Some([]) => {
            return Err(AppError::bad_input(
                "capabilities",
                "a token needs at least one capability (or none given: all of them)",
            ));
        }
        Some(caps) => {
            let mut caps = caps.to_vec();
            caps.sort();
            caps.dedup();
            Some(caps.iter().map(|c| c.as_str().to_owned()).collect())
        }
        None => None,
    };
    let project = match project_key {
        Some(key) => {
            let project = crate::projects::service::resolve(conn, "projectKey", key).await?;
            if !roles.contains(&Role::Admin)
                && crate::projects::service::roles_of(conn, user_id, &[project.id])
                    .await?
                    .is_empty()
            {
                return Err(AppError::bad_input(
                    "projectKey",
                    format!(
                        "{user_id} is not a member of project '{key}': add them first (setProjectMember, or `jbtestsuite project add-member {key} {user_id}`)"
                    ),
                ));
            }
            Some(project.id)
        }
        None => None,
    };
    let minted = mint(Uuid::new_v4());
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO api_tokens(id, user_id, name, roles, secret_hash, expires_at, project_id, capabilities)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
            ),
            [
                minted.id.into(),
                user_id.into(),
                name.map(str::to_owned).into(),
                role_names.into(),
                minted.secret_hash.into(),
                expires_at.into(),
                project.into(),
                capabilities.into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("token insert returned nothing"))?;
    Ok((TokenRecord::from_row(&row)?, minted.token))
}

/// Tokens visible to the caller (all for an admin, one's own for a member), newest first;
/// `user_id` narrows the list.
pub async fn list(
    conn: &impl ConnectionTrait,
    user_id: Option<&str>,
) -> AppResult<Vec<TokenRecord>> {
    crate::input::check_len("userId", user_id, USER_ID_MAX)?;
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {COLUMNS} FROM api_tokens WHERE ($1::text IS NULL OR user_id = $1)
                 ORDER BY created_at DESC, id"
            ),
            [user_id.map(str::to_owned).into()],
        ))
        .await?;
    rows.iter().map(TokenRecord::from_row).collect()
}

/// Revokes a token (idempotent); NOT_FOUND when absent or not the caller's to revoke.
pub async fn revoke(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<TokenRecord> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
            ),
            [id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("ApiToken", id))?;
    TokenRecord::from_row(&row)
}

/// Whether any token exists (for the first start of a managed database).
pub async fn any_exists(conn: &impl ConnectionTrait) -> AppResult<bool> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM api_tokens) AS any",
        ))
        .await?
        .ok_or_else(|| AppError::internal("exists returned nothing"))?;
    Ok(row.try_get("", "any")?)
}
