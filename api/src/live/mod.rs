//! Live run progress: the NOTIFY-fed hub and the GraphQL subscriptions on it.
//!
//! - `audience`: who a shared subscription stream's next message is for.
//! - `event`: notification payloads and hub events.
//! - `hub`: the one listener per process, coalescing, fan-out, shared snapshots.
//! - `subscription`: the subscriptions.

pub mod audience;
pub mod event;
pub mod hub;
pub mod subscription;
