//! Webhooks: a project's events POSTed to URLs, from a transactional outbox (migration 22).
//!
//! An event (a run finished, a run's first failure, a case became flaky or broken, a quality
//! gate failed) inserts one delivery per subscribed webhook in the transaction that made the
//! change, so it is sent if and only if the change committed, and wakes the deliverers at
//! COMMIT. Every server process runs a deliverer: it claims due deliveries with
//! `FOR UPDATE SKIP LOCKED`, holds the claim across the HTTP call (a process that dies mid-call
//! lets go of the row, and another retries it), signs the body with the webhook's secret and
//! retries failures with exponential backoff. Receivers dedupe on `X-JBTS-Delivery`.
//!
//! - `service`: webhooks, deliveries and their log, in the caller's connection.
//! - `deliver`: the background deliverer (claim, sign, POST, record, back off).
//! - `slack`: a delivery as a Slack incoming-webhook message.
//! - `types`, `query`, `mutation`, `loaders`: the GraphQL surface.

pub mod deliver;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod service;
pub mod slack;
pub mod types;
