//! Batching of `AWSCURRENT` reads: requests arriving within a few milliseconds of each other (a
//! cold start, many ExternalSecrets woken together) share one `BatchGetSecretValue` of up to 20
//! secrets. A secret the batch does not return is read on its own with `GetSecretValue`, which
//! reports its failure precisely; an identity denied `BatchGetSecretValue` reads one by one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::{mpsc, oneshot};

use crate::api::VersionSelector;
use crate::api::version::AWS_CURRENT;
use crate::provider::aws::BATCH_GET_MAX;
use crate::provider::{ProviderError, RemoteSecret, SecretsBackend};

/// How long the first request of a batch waits for company.
const GATHER: Duration = Duration::from_millis(5);

type Reply = oneshot::Sender<Result<RemoteSecret, ProviderError>>;

/// The batcher of one store.
#[derive(Debug)]
pub(super) struct Batcher {
    tx: mpsc::UnboundedSender<(String, Reply)>,
    denied: Arc<AtomicBool>,
}

impl Batcher {
    /// Starts the batching task; it ends when the batcher is dropped.
    pub(super) fn start(backend: Arc<dyn SecretsBackend>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let denied = Arc::new(AtomicBool::new(false));
        tokio::spawn(run(backend, rx, denied.clone()));
        Self { tx, denied }
    }

    /// Whether batching is available (not denied to the store's identity).
    pub(super) fn usable(&self) -> bool {
        !self.denied.load(Ordering::Relaxed)
    }

    /// The store's identity was refused `BatchGetSecretValue`: values are read one by one until
    /// the store changes (a new identity gets a new batcher).
    pub(super) fn denied(&self) {
        deny(&self.denied);
    }

    /// The current value of `key`, read in a batch.
    pub(super) async fn current(&self, key: &str) -> Result<RemoteSecret, ProviderError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send((key.to_owned(), reply)).is_err() {
            return Err(ProviderError::Unavailable {
                key: Some(key.to_owned()),
                detail: "the store is shutting down".into(),
            });
        }
        answer.await.unwrap_or_else(|_| {
            Err(ProviderError::Unavailable {
                key: Some(key.to_owned()),
                detail: "the batched read was dropped".into(),
            })
        })
    }
}

async fn run(
    backend: Arc<dyn SecretsBackend>,
    mut rx: mpsc::UnboundedReceiver<(String, Reply)>,
    denied: Arc<AtomicBool>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH_GET_MAX {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(req)) => batch.push(req),
                Ok(None) | Err(_) => break,
            }
        }
        // Answered on its own task, so the next batch gathers meanwhile.
        tokio::spawn(answer(backend.clone(), batch, denied.clone()));
    }
}

async fn answer(
    backend: Arc<dyn SecretsBackend>,
    batch: Vec<(String, Reply)>,
    denied: Arc<AtomicBool>,
) {
    let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
    let mut found = match backend.batch_get_current(&keys).await {
        // Only an answer that says it is AWSCURRENT is taken as such (moto, for one, answers
        // a batch with a stale version after UpdateSecretVersionStage).
        Ok(values) => values
            .into_iter()
            .filter(|v| v.version_stages.iter().any(|s| s == AWS_CURRENT))
            .collect(),
        Err(ProviderError::AccessDenied { .. }) => {
            tracing::info!(
                "BatchGetSecretValue is denied to this store's identity; values are read one by one"
            );
            denied.store(true, Ordering::Relaxed);
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    let mut singles = Vec::new();
    for (key, reply) in batch {
        match found.iter().position(|v| v.name == key || v.arn == key) {
            Some(i) => {
                let _ = reply.send(Ok(found.swap_remove(i)));
            }
            None => singles.push((key, reply)),
        }
    }
    join_all(singles.into_iter().map(|(key, reply)| {
        let backend = backend.clone();
        async move {
            let got = backend.get_secret(&key, &VersionSelector::default()).await;
            let _ = reply.send(got);
        }
    }))
    .await;
}

fn deny(flag: &AtomicBool) {
    if !flag.swap(true, Ordering::Relaxed) {
        tracing::info!(
            "BatchGetSecretValue is denied to this store's identity; values are read one by one"
        );
    }
}
