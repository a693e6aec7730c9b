//! stagesync keeps Kubernetes Secrets in sync with AWS Secrets Manager, version-stage aware.
//!
//! Rooms (see `ARCHITECTURE.md` in the shared folder): `api` (CRD types), `provider` (the secrets
//! backend trait and its AWS implementation), `render` (pure value extraction and decoding),
//! `cli` (the binary's commands).

pub mod api;
pub mod cli;
