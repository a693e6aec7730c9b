//! stagesync keeps Kubernetes Secrets in sync with AWS Secrets Manager, version-stage aware.
//!
//! Data flows one way: [`controller`] (one reconciler per kind) → [`store`] (which store, which
//! identity) → [`resolve`] (values from the backend, [`provider`]) → [`render`] (pure: values to
//! Secret data) → [`write`] (server-side apply, status, events). [`api`] holds the CRD types,
//! [`value`] the redacted secret bytes; [`cli`], [`http`], [`leader`], [`metrics`], [`telemetry`]
//! and [`watches`] are the binary's edges; [`kubectl`] is the `kubectl stagesync` plugin.

pub mod api;
pub mod check;
pub mod cli;
pub mod controller;
pub mod http;
pub mod kubectl;
pub mod leader;
pub mod manifest;
pub mod metrics;
pub mod migrate;
pub mod provider;
pub mod render;
pub mod resolve;
pub mod restart;
pub mod store;
pub mod telemetry;
pub mod value;
pub mod watches;
pub mod write;
