//! A faithful in-memory Kubernetes API server fake for stagesync's tests, demo and
//! benchmarks. See README.md for the CLI, the fault file format and known differences.
//!
//! ```no_run
//! # async fn demo() -> Result<(), apiserver_fake::FakeError> {
//! let fake = apiserver_fake::FakeApiServer::start(Default::default())?;
//! let client = fake.client(); // in-process kube::Client
//! let https = fake.serve_http("127.0.0.1:0".parse().unwrap(), true).await?;
//! println!("kubeconfig at {}", https.kubeconfig.display());
//! # Ok(()) }
//! ```

pub mod auth;
pub mod convert;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod gc;
pub mod http;
pub mod kubeconfig;
pub mod merge;
pub mod openapi;
pub mod ops;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod reviews;
pub mod scale;
pub use crd_schema as schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod tls;
pub mod token;
pub mod typed;
pub mod validation;
pub mod watch;

pub use auth::UserInfo;
pub use error::ApiError;
pub use faults::{FaultRule, Faults};
pub use server::{Endpoint, FakeApiServer, FakeService, Options};

/// Errors of the library API (startup, serving, files).
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(String),
    #[error("config: {0}")]
    Config(String),
    #[error("api: {0}")]
    Api(ApiError),
}
