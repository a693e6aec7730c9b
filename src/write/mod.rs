//! Every Kubernetes write about an ExternalSecret: its target Secret (server-side apply), its
//! status and its events. The data-safety rules live here and nowhere else:
//! - nothing is written unless the whole desired Secret could be computed (errors upstream leave
//!   the existing Secret exactly as it was);
//! - a Secret managed by something else is never taken over (except by creationPolicy Merge,
//!   which only adds its own keys);
//! - values never reach a status, an event or a log line: only key names, version ids and a
//!   salted hash.

pub mod events;
pub mod secret;
pub mod status;
pub mod validate;

/// Field manager of every server-side apply of stagesync.
pub const FIELD_MANAGER: &str = "stagesync";

/// Label on every Secret stagesync writes; the operator watches only Secrets carrying it.
pub const LABEL_MANAGED: &str = "stagesync.io/managed";
/// Standard label on Secrets stagesync creates and owns.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Annotation naming the ExternalSecret (same namespace) that owns a Secret.
pub const ANNOTATION_OWNER: &str = "stagesync.io/external-secret";
/// Annotation prefix naming each ExternalSecret that merges keys into a Secret it does not own.
pub const ANNOTATION_MERGED_PREFIX: &str = "merge.stagesync.io/";
/// Annotation holding a salted hash of the Secret's data (workload restarts key on it).
pub const ANNOTATION_DATA_HASH: &str = "stagesync.io/data-hash";

/// The ExternalSecrets (same namespace) that write a Secret: its owner, and every ExternalSecret
/// merging keys into it.
pub fn writers(secret: &k8s_openapi::api::core::v1::Secret) -> Vec<String> {
    let annotations = secret.metadata.annotations.iter().flatten();
    let owner = annotations
        .clone()
        .filter(|(k, _)| *k == ANNOTATION_OWNER)
        .map(|(_, v)| v.clone());
    let merged = annotations
        .filter(|(k, _)| k.starts_with(ANNOTATION_MERGED_PREFIX))
        .map(|(_, v)| v.clone());
    owner.chain(merged).collect()
}
