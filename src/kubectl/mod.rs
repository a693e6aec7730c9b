//! The `kubectl stagesync` plugin (`src/bin/kubectl-stagesync.rs` only parses flags): what a
//! user asks about stagesync objects in a cluster, read with the user's own kubeconfig.
//!
//! - [`connect`]: kubeconfig, context and namespace resolution, as kubectl plugins do.
//! - [`status`]: gathering what an ExternalSecret, its Secret, stores and workloads say.
//!   [`stores`] and [`workloads`] are its parts about stores and the workloads restarted.
//! - [`show`]: that report as kubectl-style tables.
//! - [`sync`]: a forced refresh through the force-sync annotation, waited for.
//! - [`why`]: the last failure of an ExternalSecret in plain words, with the fix; every
//!   reason's explanation lives in [`explain`].
//! - [`output`] and [`table`]: output formats, colours, ages and aligned tables.
//!
//! It never reads a Secret's data (only its metadata) and never writes anything but the
//! force-sync annotation, under its own field manager.

pub mod connect;
pub mod explain;
pub mod output;
pub mod show;
pub mod status;
pub mod stores;
pub mod sync;
pub mod table;
pub mod why;
pub mod workloads;

/// Field manager of the plugin's only write (a user action, not the operator's).
pub const FIELD_MANAGER: &str = "kubectl-stagesync";

/// What a command found, as its exit code says it: 0 all well, 1 a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing wrong (exit 0).
    Ok,
    /// A problem was found or the action failed (exit 1).
    Problem,
}

impl Verdict {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Problem => 1,
        }
    }

    /// `Problem` when `problem` holds.
    pub fn from_problem(problem: bool) -> Self {
        if problem { Self::Problem } else { Self::Ok }
    }
}

/// Why a command could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    /// No usable kubeconfig, context or cluster.
    #[error("cannot reach the cluster: {0}")]
    Connect(String),
    /// The object asked about does not exist.
    #[error("{kind} {name:?} not found in namespace {namespace:?}")]
    NotFound {
        /// Kind of the object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The namespace looked in.
        namespace: String,
    },
    /// A Kubernetes API call failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The command cannot do what was asked (a flag combination, an object it does not apply
    /// to).
    #[error("{0}")]
    Usage(String),
    /// The operator did not act within the timeout.
    #[error("timed out after {0}: {1}")]
    Timeout(String, String),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    /// Serializing the output failed.
    #[error("serializing the output: {0}")]
    Serialize(String),
}

impl KubectlError {
    /// The process exit code: every error means the command could not run.
    pub fn exit_code(&self) -> u8 {
        2
    }

    /// Wraps a Kubernetes API error with what was being done.
    pub fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            what: what.into(),
            source,
        }
    }
}
