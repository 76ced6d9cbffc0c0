//! Live run progress: the NOTIFY-fed hub and the GraphQL subscriptions on it.
//!
//! - `event`: notification payloads and hub events.
//! - `hub`: the one listener per process, coalescing, fan-out, shared snapshots.
//! - `subscription`: the subscriptions.

pub mod event;
pub mod hub;
pub mod subscription;
