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

/// What a token may do, within what its user's roles and memberships allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
pub enum Capability {
    /// Read the catalogue, runs and results.
    Read,
    /// Start and finish runs, report and import results, upload artifacts; read the
    /// catalogue and the runs it reported.
    Report,
    /// Change the catalogue (and, as a project's maintainer, its suites, configurations and
    /// members); implies read and report.
    Write,
    /// Everything the user's roles allow, admin rights included.
    Admin,
}

impl Capability {
    /// The spelling stored in `api_tokens.capabilities`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::Report => "report",
            Capability::Write => "write",
            Capability::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Capability::Read,
            "report" => Capability::Report,
            "write" => Capability::Write,
            "admin" => Capability::Admin,
            _ => return None,
        })
    }
}

/// Where a token acts: one project, and some capabilities. The default, no scope, is
/// everything its user's roles and memberships allow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The one project the token acts in.
    pub project: Option<uuid::Uuid>,
    /// What it may do (`None`: everything).
    pub capabilities: Option<Vec<Capability>>,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<Role>,
    /// What the token limits the caller to.
    pub scope: Scope,
}

impl Identity {
    /// An identity with every right its roles give (a token without a scope).
    pub fn unscoped(user_id: impl Into<String>, roles: Vec<Role>) -> Self {
        Self {
            user_id: user_id.into(),
            roles,
            scope: Scope::default(),
        }
    }

    /// What decides what this identity may see (who, roles, project, capabilities), as text:
    /// two identities with the same key see the same rows, so reads and live messages made
    /// for one may be shared with the other.
    pub fn visibility_key(&self) -> String {
        let roles: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        let capabilities = match &self.scope.capabilities {
            Some(caps) => caps
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
            None => "*".to_owned(),
        };
        let project = self
            .scope
            .project
            .map(|p| p.to_string())
            .unwrap_or_default();
        format!(
            "{}|{}|{project}|{capabilities}",
            self.user_id,
            roles.join(",")
        )
    }

    /// Whether the request acts as an admin: an admin's token that is neither limited to a
    /// project nor without the admin capability (such a token acts as a member, or as a
    /// maintainer of its project).
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
            && self.scope.project.is_none()
            && self.allows(Capability::Admin)
    }

    /// Whether the token's capabilities include `capability`.
    pub fn allows(&self, capability: Capability) -> bool {
        self.scope
            .capabilities
            .as_ref()
            .is_none_or(|caps| caps.contains(&capability))
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

impl From<crate::config::CapabilityArg> for Capability {
    fn from(c: crate::config::CapabilityArg) -> Self {
        match c {
            crate::config::CapabilityArg::Read => Self::Read,
            crate::config::CapabilityArg::Report => Self::Report,
            crate::config::CapabilityArg::Write => Self::Write,
            crate::config::CapabilityArg::Admin => Self::Admin,
        }
    }
}
