//! Lossless archival: completed executions older than a cutoff move, with their step results
//! and artifacts, into the archive tables; restore moves them back unchanged. Each batch is
//! one transaction (nothing is ever half-moved) and batches are small, so that archiving
//! millions of rows never holds long locks. Pinned runs are never archived. Each archival
//! leaves one ARCHIVE entry in the audit log with its counts.

//!
//! - `types`: what an archival or restore moved.
//! - `service`: archival, restore, maintenance.
//! - `mutation`: archival over GraphQL.

pub mod mutation;
pub mod service;
pub mod types;

pub use mutation::ArchiveMutation;
pub use service::{ARCHIVE_BATCH, ARCHIVE_DAYS_MAX, archive, maintenance, restore};
pub use types::ArchiveReport;
