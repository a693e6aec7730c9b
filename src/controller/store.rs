//! The SecretStore and ClusterSecretStore reconcilers: a store is `Ready` once the registry
//! accepts it (tenancy rules, credentials) and the backend accepts its identity (a cheap
//! credential check). Rechecked every store refresh interval.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::Context;
use crate::api::Reason;
use crate::api::externalsecret::StoreKind;
use crate::api::reason::CONDITION_READY;
use crate::api::secretstore::{
    AwsProvider, ClusterSecretStore, SecretStore, store_refresh_interval,
};
use crate::api::shared::{ConditionStatus, SecretStoreStatus, VersionTrackingStatus};
use crate::resolve::CycleReport;
use crate::store::StoreError;
use crate::write::events::publish;
use crate::write::status::{apply_status, condition, set_condition};

/// Reconciles a namespaced SecretStore.
pub async fn reconcile_secret_store(
    store: Arc<SecretStore>,
    ctx: Arc<Context>,
) -> Result<Action, kube::Error> {
    if !ctx.config.handles_class(store.spec.controller.as_deref()) {
        return Ok(Action::await_change());
    }
    let namespace = store.namespace().unwrap_or_default();
    let api: Api<SecretStore> = Api::namespaced(ctx.client.clone(), &namespace);
    let (interval, invalid) = refresh(store.spec.refresh_interval.as_ref(), &ctx);
    let checked = match invalid {
        Some(e) => Err(e),
        None => {
            check(
                &ctx,
                StoreKind::SecretStore,
                Some(&namespace),
                &store.name_any(),
            )
            .await
        }
    };
    let notes = no_effect_notes(&store.spec.provider.aws);
    report(
        &*store,
        &api,
        store.status.clone(),
        checked,
        interval,
        &notes,
        &ctx,
    )
    .await
}

/// Reconciles a ClusterSecretStore.
pub async fn reconcile_cluster_secret_store(
    store: Arc<ClusterSecretStore>,
    ctx: Arc<Context>,
) -> Result<Action, kube::Error> {
    if !ctx.config.handles_class(store.spec.controller.as_deref()) {
        return Ok(Action::await_change());
    }
    let api: Api<ClusterSecretStore> = Api::all(ctx.client.clone());
    let (interval, invalid) = refresh(store.spec.refresh_interval.as_ref(), &ctx);
    let checked = match invalid {
        Some(e) => Err(e),
        None => check(&ctx, StoreKind::ClusterSecretStore, None, &store.name_any()).await,
    };
    let notes = no_effect_notes(&store.spec.provider.aws);
    report(
        &*store,
        &api,
        store.status.clone(),
        checked,
        interval,
        &notes,
        &ctx,
    )
    .await
}

/// Called when a store reconcile itself failed (the status write).
pub fn error_policy<K: Resource<DynamicType = ()>>(
    store: Arc<K>,
    err: &kube::Error,
    ctx: Arc<Context>,
) -> Action {
    let key = format!(
        "{}/{}/{}",
        K::kind(&()),
        store.meta().namespace.as_deref().unwrap_or(""),
        store.name_any()
    );
    tracing::warn!(store = %key, error = %err, "store reconcile failed; retrying with backoff");
    Action::requeue(ctx.backoff.failed(&key, None))
}

/// Settings ESO honours for PushSecret only: accepted so ESO manifests apply unchanged, and
/// reported once per generation so nobody believes they act.
fn no_effect_notes(aws: &AwsProvider) -> Vec<String> {
    let mut notes = Vec::new();
    if aws.secrets_manager.is_some() {
        notes.push(
            "provider.aws.secretsManager (forceDeleteWithoutRecovery, recoveryWindowInDays) configures how ESO's PushSecret deletes AWS secrets; stagesync only reads, so it has no effect"
                .to_owned(),
        );
    }
    notes
}

/// The store's recheck interval (the operator's default when unset), and the store's problem
/// when its `refreshInterval` does not parse (then the default applies until it is fixed).
fn refresh(
    value: Option<&IntOrString>,
    ctx: &Context,
) -> (std::time::Duration, Option<StoreError>) {
    match store_refresh_interval(value) {
        Ok(interval) => (interval.unwrap_or(ctx.config.store_refresh_interval), None),
        Err(e) => (
            ctx.config.store_refresh_interval,
            Some(StoreError::InvalidConfig(e)),
        ),
    }
}

/// Checks a store; on success returns what its version tracker reports.
async fn check(
    ctx: &Context,
    kind: StoreKind,
    namespace: Option<&str>,
    name: &str,
) -> Result<VersionTrackingStatus, StoreError> {
    let handle = ctx.stores.for_store(kind, namespace, name).await?;
    handle.resolver.backend().check_credentials().await?;
    Ok(tracking_status(&handle.resolver.report()))
}

fn tracking_status(r: &CycleReport) -> VersionTrackingStatus {
    VersionTrackingStatus {
        mode: r.mode.clone(),
        strategy: r.strategy.as_str().to_owned(),
        list_secrets_denied: r.list_denied,
        tracked_secrets: i64::try_from(r.tracked).unwrap_or(i64::MAX),
        account_secrets: r.account_size.and_then(|n| i64::try_from(n).ok()),
        last_cycle_calls: r
            .calls
            .iter()
            .map(|(k, v)| (k.clone(), i64::try_from(*v).unwrap_or(i64::MAX)))
            .collect(),
        estimated_monthly_cost_usd: format!("{:.4}", r.dollars_per_month),
    }
}

async fn report<K>(
    store: &K,
    api: &Api<K>,
    previous: Option<SecretStoreStatus>,
    checked: Result<VersionTrackingStatus, StoreError>,
    interval: std::time::Duration,
    no_effect: &[String],
    ctx: &Context,
) -> Result<Action, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let key = format!(
        "{}/{}/{}",
        K::kind(&()),
        store.meta().namespace.as_deref().unwrap_or(""),
        store.name_any()
    );
    let previous = previous.unwrap_or_default();
    let generation = store.meta().generation;
    let (status, reason, message) = match &checked {
        Ok(_) => (
            ConditionStatus::True,
            Reason::StoreValid,
            "store validated: credentials accepted".to_owned(),
        ),
        Err(e) => (ConditionStatus::False, e.reason(), e.to_string()),
    };
    let new_generation = !previous
        .conditions
        .iter()
        .any(|c| c.type_ == CONDITION_READY && c.observed_generation == generation);
    if new_generation {
        for note in no_effect {
            publish(
                &ctx.recorder,
                &store.object_ref(&()),
                false,
                "NoEffect",
                "Validate",
                note,
            )
            .await;
        }
    }
    let mut next = previous.clone();
    if let Ok(tracking) = &checked {
        next.version_tracking = Some(tracking.clone());
    }
    set_condition(
        &mut next.conditions,
        condition(
            &previous.conditions,
            CONDITION_READY,
            status,
            reason.as_str(),
            &message,
            generation,
        ),
    );
    if next != previous {
        apply_status(api, &store.name_any(), &next).await?;
    }
    let was_ready = previous
        .conditions
        .iter()
        .any(|c| c.type_ == CONDITION_READY && c.status == ConditionStatus::True);
    match checked {
        Ok(_) => {
            ctx.backoff.succeeded(&key);
            if !was_ready {
                publish(
                    &ctx.recorder,
                    &store.object_ref(&()),
                    false,
                    reason.as_str(),
                    "Validate",
                    &message,
                )
                .await;
            }
            Ok(Action::requeue(super::backoff::jitter(interval, 0.05)))
        }
        Err(err) => {
            tracing::warn!(store = %key, reason = reason.as_str(), error = %err, "store is not ready");
            publish(
                &ctx.recorder,
                &store.object_ref(&()),
                true,
                reason.as_str(),
                "Validate",
                &message,
            )
            .await;
            Ok(Action::requeue(ctx.backoff.failed(&key, None)))
        }
    }
}
