//! stagesync keeps Kubernetes Secrets in sync with AWS Secrets Manager, version-stage aware.
//!
//! Rooms (see `docs/architecture.md`): [`api`] (CRD types), [`provider`] (the secrets backend
//! trait and its AWS implementation), [`render`] (pure value shaping), [`value`] (redacted secret
//! bytes), [`cli`] (the binary's commands).

pub mod api;
pub mod cli;
pub mod provider;
pub mod render;
pub mod store;
pub mod value;
