//! Projects: what a team shares. Every test case, suite, configuration and run belongs to one;
//! a user sees what they wrote and everything in the projects they belong to, with a role
//! (viewer, member, maintainer) that says what they may change. PostgreSQL enforces it
//! (migration 16); this domain names projects, manages members, and explains a refusal before
//! the policies would give it.
//!
//! - `service`: projects and members, and the project a new row goes into.
//! - `types`, `query`, `mutation`, `loaders`: the GraphQL surface.

pub mod loaders;
pub mod mutation;
pub mod query;
pub mod service;
pub mod types;
