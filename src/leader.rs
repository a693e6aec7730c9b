//! Leader election on a `coordination.k8s.io/v1` Lease (the `kube-lease-manager` crate): with
//! several replicas exactly one runs the controllers; the others wait as ready standbys. A
//! leader that loses its lease stops at once (its process exits, Kubernetes restarts it as a
//! standby) rather than keep writing beside a new leader; a graceful stop releases the lease so
//! a standby does not wait for it to expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};

/// Leader-election settings.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Elect a leader at all (`false`: this process always runs the controllers).
    pub enabled: bool,
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// How long a lease is valid after its last renewal; a standby takes over a dead leader's
    /// lease within this time.
    pub lease_duration: Duration,
    /// This replica's identity (the pod name).
    pub identity: String,
}

/// Why leading stopped.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be read or written.
    #[error("leader election on Lease {namespace}/{name}: {source}")]
    Lease {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// What failed.
        #[source]
        source: LeaseManagerError,
    },
    /// Another replica holds the lease now: this one must stop writing.
    #[error(
        "lost the leader lease {namespace}/{name}; stopping so that only the new leader writes"
    )]
    Lost {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
    },
}

/// Runs `work` while this replica leads, until `shutdown` resolves. `ready` is set while this
/// replica is a standby (ready to take over); as leader, `work` sets it once its caches are
/// synced. `leading` reports leadership (the `stagesync_leader` metric).
pub async fn run_elected<F, Fut>(
    client: kube::Client,
    config: LeaderConfig,
    ready: Arc<AtomicBool>,
    leading: impl Fn(bool),
    shutdown: Shared<BoxFuture<'static, ()>>,
    work: F,
) -> Result<(), LeaderError>
where
    F: FnOnce(BoxFuture<'static, ()>) -> Fut,
    Fut: Future<Output = ()>,
{
    if !config.enabled {
        leading(true);
        work(shutdown.boxed()).await;
        return Ok(());
    }
    let lease_error = |source| LeaderError::Lease {
        namespace: config.namespace.clone(),
        name: config.lease_name.clone(),
        source,
    };
    let seconds = config.lease_duration.as_secs().max(3);
    let manager = LeaseManagerBuilder::new(client, &config.lease_name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(seconds)
        // Renew a third of the way before expiry: two renewals may fail before the lease lapses.
        .with_grace((seconds / 3).max(1))
        .with_field_manager(format!("stagesync:leader:{}", config.identity))
        .build()
        .await
        .map_err(lease_error)?;
    let (mut elected, task) = manager.watch().await;
    ready.store(true, Ordering::Relaxed);
    leading(false);
    tracing::info!(lease = %config.lease_name, namespace = %config.namespace, identity = %config.identity, "waiting to lead");
    let mut stopping = shutdown.clone();
    loop {
        if *elected.borrow_and_update() {
            break;
        }
        tokio::select! {
            () = &mut stopping => {
                drop(elected);
                let _ = task.await;
                return Ok(());
            }
            changed = elected.changed() => {
                if changed.is_err() {
                    // The lease task ended (it failed): surface its error.
                    return match task.await {
                        Ok(Err(err)) => Err(lease_error(err)),
                        _ => Err(LeaderError::Lost { namespace: config.namespace.clone(), name: config.lease_name.clone() }),
                    };
                }
            }
        }
    }
    tracing::info!(lease = %config.lease_name, identity = %config.identity, "leading: starting the controllers");
    ready.store(false, Ordering::Relaxed);
    leading(true);
    let mut lost_watch = elected.clone();
    let lost = async move {
        while lost_watch.changed().await.is_ok() {
            if !*lost_watch.borrow_and_update() {
                return;
            }
        }
    }
    .shared();
    let stop = futures::future::select(shutdown.clone(), lost.clone())
        .map(|_| ())
        .boxed();
    work(stop).await;
    leading(false);
    if shutdown.peek().is_some() {
        // Graceful stop: closing the channel (every receiver) makes the lease task release the
        // lease.
        drop(lost);
        drop(elected);
        let _ = task.await;
        tracing::info!(lease = %config.lease_name, "lease released");
        return Ok(());
    }
    Err(LeaderError::Lost {
        namespace: config.namespace,
        name: config.lease_name,
    })
}

/// This replica's identity: the pod name when the Downward API gives it, else the host name,
/// with a random suffix so two processes on one host differ.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "stagesync".to_owned());
    format!("{host}-{:08x}", fastrand::u32(..))
}

/// The namespace the operator runs in: `POD_NAMESPACE`, the in-cluster service account's
/// namespace, else the kubeconfig's default.
pub fn default_namespace(client: &kube::Client) -> String {
    if let Ok(ns) = std::env::var("POD_NAMESPACE")
        && !ns.is_empty()
    {
        return ns;
    }
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .map(|n| n.trim().to_owned())
        .unwrap_or_else(|_| client.default_namespace().to_owned())
}
