//! The audit trail over GraphQL: a filterable connection, and the history of a record.
//! Row-level security decides which entries a caller sees (a member: those of records they
//! can see).
//!
//! - `types`: the GraphQL objects, the filter, and the mapping of the log's tables, columns
//!   and operations to GraphQL types, fields and [`AuditOperation`].
//! - `service`: the SQL.
//! - `loaders`: the history of each of a level of records, in one statement.
//! - `query`: the entry point.

pub mod loaders;
pub mod query;
pub mod service;
pub mod types;

pub use loaders::history;
pub use query::AuditQuery;
pub use types::{AuditEntryConnection, AuditOperation, AuditedType};
