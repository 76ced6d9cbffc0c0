//! Artifacts' bytes (screenshots, videos, traces): stored content-addressed on an object
//! store (`store`).

pub mod store;

pub use store::{ArtifactStore, Blob, PutError};
