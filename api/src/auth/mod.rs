//! Identity and access: API tokens, roles, guards, and the per-request database context in
//! which PostgreSQL's row-level security applies.
//!
//! - `tokens`: minting, hashing and checking tokens.
//! - `service`: token records.
//! - `context`: one transaction per request with the identity's settings.
//! - `extension`: gives every GraphQL operation that context.
//! - `guard`: role checks.
//! - `types`, `query`, `mutation`: the GraphQL surface.

pub mod context;
pub mod extension;
pub mod guard;
pub mod mutation;
pub mod query;
pub mod service;
pub mod tokens;
pub mod types;

pub use context::RequestDb;

/// A role an identity holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Role {
    /// Sees and changes everything.
    Admin,
    /// Sees and changes what they author.
    Member,
}

impl Role {
    /// The spelling stored in tokens and `app.user_roles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<Role>,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

impl From<crate::config::RoleArg> for Role {
    fn from(r: crate::config::RoleArg) -> Self {
        match r {
            crate::config::RoleArg::Admin => Self::Admin,
            crate::config::RoleArg::Member => Self::Member,
        }
    }
}
