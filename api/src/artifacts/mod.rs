//! Artifacts' bytes (screenshots, videos, traces): stored content-addressed on an object
//! store (`store`), tied to the tables and collected when nothing refers to them
//! (`service`), downloaded with a token or a signed URL (`signing`).

pub mod service;
pub mod signing;
pub mod store;

pub use service::{Artifacts, Collected, Swept, collect, sweep};

/// Path of artifacts over plain HTTP (`/{id}` the bytes, `/{id}/content` to upload them):
/// the routes serve it, signed URLs name it.
pub const ARTIFACTS_PATH: &str = "/api/v1/artifacts";
pub use store::{ArtifactStore, Blob, PutError};

use crate::runs::enums::ArtifactType;

/// The artifact type of a file, from its media type or its name.
pub fn type_of(content_type: Option<&str>, path: &str) -> ArtifactType {
    let path = path.to_ascii_lowercase();
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let ends = |exts: &[&str]| exts.iter().any(|e| path.ends_with(e));
    if ct.starts_with("image/") || ends(&[".png", ".jpg", ".jpeg", ".gif", ".webp"]) {
        ArtifactType::Screenshot
    } else if ct.starts_with("video/") || ends(&[".webm", ".mp4", ".mov"]) {
        ArtifactType::Video
    } else if ends(&[".har"]) {
        ArtifactType::Har
    } else if path.contains("trace") && ends(&[".zip"]) {
        ArtifactType::Trace
    } else if ct.starts_with("text/") || ends(&[".log", ".txt"]) {
        ArtifactType::Log
    } else if ends(&[".html", ".pdf"]) {
        ArtifactType::Report
    } else {
        ArtifactType::Other
    }
}

/// The media type of a file, from its name (`application/octet-stream` when unknown).
pub fn mime_of(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}
