//! The cleanup finalizer of ExternalSecrets that merge into a Secret they do not own.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::externalsecret::{CreationPolicy, ExternalSecret};
use crate::write::secret::remove_merged;

/// Finalizer of ExternalSecrets that merge into a Secret they do not own: their keys must be
/// removed from it when they go.
pub const FINALIZER: &str = "stagesync.io/merge-cleanup";

/// Adds the cleanup finalizer to merging ExternalSecrets, removes it from the others.
pub(super) async fn ensure_finalizer(
    es: &ExternalSecret,
    api: &Api<ExternalSecret>,
) -> Result<(), kube::Error> {
    let wants = es.spec.target.creation_policy == CreationPolicy::Merge;
    let has = es.finalizers().iter().any(|f| f == FINALIZER);
    if wants == has {
        return Ok(());
    }
    let mut finalizers: Vec<String> = es
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if wants {
        finalizers.push(FINALIZER.to_owned());
    }
    patch_finalizers(es, api, finalizers).await
}

/// The ExternalSecret is being deleted: a merging one removes its keys, then lets go.
pub(super) async fn finalize(
    es: &ExternalSecret,
    api: &Api<ExternalSecret>,
    secrets: &Api<Secret>,
    target: &str,
) -> Result<Action, kube::Error> {
    if !es.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    remove_merged(secrets, target, &es.name_any()).await?;
    let finalizers: Vec<String> = es
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(es, api, finalizers).await?;
    Ok(Action::await_change())
}

/// Sets the finalizers with a merge patch guarded by the resourceVersion: a concurrent change
/// makes it fail with a conflict, and the next reconcile recomputes from fresh state.
async fn patch_finalizers(
    es: &ExternalSecret,
    api: &Api<ExternalSecret>,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": es.resource_version()}});
    api.patch(
        &es.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
