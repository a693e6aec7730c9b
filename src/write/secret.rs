//! The target Secret: who owns it, what it should look like, and the server-side apply that
//! makes it so — skipped when the live Secret already is exactly that.
//!
//! Field managers: a Secret the ExternalSecret owns (creationPolicy Owner, Orphan, or
//! CreateOrMerge when it creates it) is applied by `stagesync`. A Secret it merges into (Merge,
//! or CreateOrMerge on a Secret it does not own) is applied by `stagesync:<ExternalSecret name>`,
//! so several ExternalSecrets can merge into one Secret without removing each other's keys, and
//! each one's keys go away when it stops applying them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ANNOTATION_DATA_HASH, ANNOTATION_MERGED_PREFIX, ANNOTATION_OWNER, FIELD_MANAGER, LABEL_MANAGED,
    LABEL_MANAGED_BY,
};
use crate::api::externalsecret::{CreationPolicy, ExternalSecret};
use crate::value::{SecretBytes, SecretObject};

/// What the ExternalSecret wants written, after rendering.
#[derive(Debug, Clone, Default)]
pub struct DesiredContent {
    /// Secret data.
    pub data: BTreeMap<String, SecretBytes>,
    /// Labels from the template.
    pub labels: BTreeMap<String, String>,
    /// Annotations from the template.
    pub annotations: BTreeMap<String, String>,
    /// Secret type from the template.
    pub type_: Option<String>,
    /// Write the Secret immutable.
    pub immutable: bool,
    /// Finalizers from the template.
    pub finalizers: Vec<String>,
}

/// Who a live Secret belongs to, from the ExternalSecret's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// There is no such Secret.
    Missing,
    /// This ExternalSecret owns it.
    Ours,
    /// Something else owns it (described for the condition message).
    Foreign(String),
}

/// Decides who owns a live Secret.
pub fn ownership(existing: Option<&Secret>, es_name: &str) -> Ownership {
    let Some(secret) = existing else {
        return Ownership::Missing;
    };
    match secret.annotations().get(ANNOTATION_OWNER) {
        Some(owner) if owner == es_name => Ownership::Ours,
        Some(owner) => Ownership::Foreign(format!("ExternalSecret {owner:?}")),
        None => {
            let manager = secret
                .labels()
                .get(LABEL_MANAGED_BY)
                .map(|m| format!(" (managed by {m:?})"))
                .unwrap_or_default();
            Ownership::Foreign(format!("a Secret stagesync did not create{manager}"))
        }
    }
}

/// How the ExternalSecret writes its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Write the whole Secret, which the ExternalSecret owns.
    Own,
    /// Add and update only the ExternalSecret's keys in someone else's Secret.
    Merge,
}

/// Why the Secret was not written. `Debug` is its message: the API server's own words are never
/// kept whole (see [`api_refusal`]).
#[derive(thiserror::Error)]
pub enum WriteError {
    /// The Secret belongs to something else; it was left untouched.
    #[error(
        "Secret {secret:?} already exists and belongs to {owner}; it was left untouched (use creationPolicy Merge to add keys to it)"
    )]
    Conflict {
        /// The Secret's name.
        secret: String,
        /// Who owns it.
        owner: String,
    },
    /// creationPolicy Merge, and there is no Secret to merge into.
    #[error("Secret {secret:?} does not exist, and creationPolicy Merge never creates it")]
    Missing {
        /// The Secret's name.
        secret: String,
    },
    /// The API server would refuse the Secret as written (or did, 422).
    #[error(transparent)]
    Invalid(#[from] super::validate::InvalidSecret),
    /// The API server refused or failed the write.
    #[error("writing Secret {secret:?} failed: {}", api_refusal(error))]
    Kube {
        /// The Secret's name.
        secret: String,
        /// The API error. Not a `#[source]`: its message may quote what was written, so it is
        /// only ever shown through [`api_refusal`].
        error: kube::Error,
    },
}

impl std::fmt::Debug for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteError({self})")
    }
}

/// The API server's refusal without what it may echo of a value: a field error quotes the
/// refused value (`Invalid value: "..."`), and in the fields a template fills (`data`,
/// `stringData`, labels, annotations) that value may come from a secret, so there every quoted
/// text is replaced (but the API server's own `<secret contents redacted>`). Other fields
/// (`type`, ...) come from the spec and are told whole.
pub fn api_refusal(error: &kube::Error) -> String {
    let kube::Error::Api(status) = error else {
        return error.to_string();
    };
    let causes: Vec<String> = status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .map(|c| {
            let carries_values = [
                "data",
                "stringData",
                "metadata.labels",
                "metadata.annotations",
            ]
            .iter()
            .any(|f| c.field.starts_with(f));
            let message = if carries_values {
                without_quoted(&c.message)
            } else {
                c.message.clone()
            };
            match (c.field.is_empty(), message.is_empty()) {
                (false, false) => format!("{}: {message}", c.field),
                (false, true) => format!("{}: {}", c.field, c.reason),
                (true, _) => message,
            }
        })
        .filter(|c| !c.is_empty())
        .collect();
    match (causes.is_empty(), status.reason == "Invalid") {
        (false, _) => format!("{} ({}): {}", status.reason, status.code, causes.join("; ")),
        // An invalid object without causes: its message may quote a value too.
        (true, true) => format!("{} ({})", status.reason, status.code),
        (true, false) => format!("{} ({}): {}", status.reason, status.code, status.message),
    }
}

/// `text` with every double-quoted part (Go's `%q`, escapes included) replaced by `"<redacted>"`,
/// but the API server's own `"<secret contents redacted>"`.
fn without_quoted(text: &str) -> String {
    const OWN: &str = "\"<secret contents redacted>\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let quoted = &rest[start..];
        let mut end = None;
        let mut escaped = false;
        for (i, ch) in quoted.char_indices().skip(1) {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            // An unterminated quote: nothing after it is told.
            out.push_str("\"<redacted>");
            return out;
        };
        out.push_str(if quoted.starts_with(OWN) {
            OWN
        } else {
            "\"<redacted>\""
        });
        rest = &quoted[end..];
    }
    out.push_str(rest);
    out
}

/// Picks the write mode for a creation policy and the live Secret's ownership; `Ok(None)` means
/// nothing is written (creationPolicy None).
pub fn write_mode(
    policy: CreationPolicy,
    ownership: &Ownership,
    secret: &str,
) -> Result<Option<WriteMode>, WriteError> {
    let conflict = |owner: &String| WriteError::Conflict {
        secret: secret.to_owned(),
        owner: owner.clone(),
    };
    match (policy, ownership) {
        (CreationPolicy::None, _) => Ok(None),
        (CreationPolicy::Owner | CreationPolicy::Orphan, Ownership::Foreign(owner)) => {
            Err(conflict(owner))
        }
        (CreationPolicy::Owner | CreationPolicy::Orphan, _) => Ok(Some(WriteMode::Own)),
        (CreationPolicy::Merge, Ownership::Missing) => Err(WriteError::Missing {
            secret: secret.to_owned(),
        }),
        (CreationPolicy::Merge, _) => Ok(Some(WriteMode::Merge)),
        (CreationPolicy::CreateOrMerge, Ownership::Foreign(_)) => Ok(Some(WriteMode::Merge)),
        (CreationPolicy::CreateOrMerge, _) => Ok(Some(WriteMode::Own)),
    }
}

/// The field manager of a write mode.
pub fn field_manager(mode: WriteMode, es_name: &str) -> String {
    match mode {
        WriteMode::Own => FIELD_MANAGER.to_owned(),
        // Field manager names are limited to 128 characters.
        WriteMode::Merge => format!("{FIELD_MANAGER}:{}", short_name(es_name, 100)),
    }
}

/// Annotation key marking this ExternalSecret's merge into a Secret (its value is the
/// ExternalSecret's name); the name part of an
/// annotation key is at most 63 characters, so long names are shortened with a hash.
pub fn merged_annotation(es_name: &str) -> String {
    format!("{ANNOTATION_MERGED_PREFIX}{}", short_name(es_name, 63))
}

fn short_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let digest = hex(&Sha256::digest(name.as_bytes()))[..10].to_owned();
    format!("{}-{digest}", &name[..max - 11])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash of the data, salted with the ExternalSecret's uid so equal values in two clusters or
/// two ExternalSecrets do not hash alike (the annotation is readable by anyone who can read the
/// Secret's metadata).
pub fn data_hash(salt: &str, data: &BTreeMap<String, SecretBytes>) -> String {
    let mut h = Sha256::new();
    h.update((salt.len() as u64).to_be_bytes());
    h.update(salt.as_bytes());
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v.expose());
    }
    hex(&h.finalize())
}

/// The Secret as the ExternalSecret wants it (the apply configuration); its data is zeroed
/// when it is dropped.
pub fn desired_secret(
    es: &ExternalSecret,
    target: &str,
    mode: WriteMode,
    content: &DesiredContent,
) -> SecretObject {
    let es_name = es.name_any();
    let hash = data_hash(&es.uid().unwrap_or_default(), &content.data);
    let mut labels = content.labels.clone();
    labels.insert(LABEL_MANAGED.to_owned(), "true".to_owned());
    let mut annotations = content.annotations.clone();
    let mut owner_references = None;
    let (type_, immutable) = match mode {
        WriteMode::Own => {
            labels.insert(LABEL_MANAGED_BY.to_owned(), FIELD_MANAGER.to_owned());
            annotations.insert(ANNOTATION_OWNER.to_owned(), es_name.clone());
            annotations.insert(ANNOTATION_DATA_HASH.to_owned(), hash);
            if es.spec.target.creation_policy == CreationPolicy::Owner {
                owner_references = es.controller_owner_ref(&()).map(|r| vec![r]);
            }
            (
                Some(content.type_.clone().unwrap_or_else(|| "Opaque".to_owned())),
                content.immutable.then_some(true),
            )
        }
        WriteMode::Merge => {
            // Names the merging ExternalSecret, so a change of the Secret wakes it up.
            annotations.insert(merged_annotation(&es_name), es_name.clone());
            (None, None)
        }
    };
    SecretObject::new(Secret {
        metadata: ObjectMeta {
            name: Some(target.to_owned()),
            namespace: es.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references,
            finalizers: (!content.finalizers.is_empty()).then(|| content.finalizers.clone()),
            ..Default::default()
        },
        data: Some(
            content
                .data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
                .collect(),
        ),
        type_,
        immutable,
        ..Default::default()
    })
}

/// Whether applying `desired` with `manager` would change the live Secret: some desired field is
/// missing or different, or the manager still owns a data key, label or annotation it no longer
/// wants (the apply would remove it).
pub fn needs_apply(existing: Option<&Secret>, desired: &Secret, manager: &str) -> bool {
    let Some(existing) = existing else {
        return true;
    };
    let (Ok(mut live), Ok(mut want)) = (
        serde_json::to_value(existing),
        serde_json::to_value(desired),
    ) else {
        return true;
    };
    // Both documents hold the data (base64): zeroed once compared.
    let needed = differs(existing, desired, manager, &live, &mut want);
    crate::value::wipe_json(&mut live);
    crate::value::wipe_json(&mut want);
    needed
}

fn differs(
    existing: &Secret,
    desired: &Secret,
    manager: &str,
    live: &Value,
    want: &mut Value,
) -> bool {
    // Finalizers are a set: others' finalizers may sit beside ours.
    let want_finalizers: BTreeSet<String> = desired
        .metadata
        .finalizers
        .iter()
        .flatten()
        .cloned()
        .collect();
    if let Some(meta) = want["metadata"].as_object_mut() {
        meta.remove("finalizers");
    }
    let live_finalizers: BTreeSet<&String> =
        existing.metadata.finalizers.iter().flatten().collect();
    if !is_subset(want, live) || !want_finalizers.iter().all(|f| live_finalizers.contains(f)) {
        return true;
    }
    let owned = owned_fields(existing, manager);
    let wanted = |path: &[&str]| -> BTreeSet<String> {
        let mut v = &*want;
        for p in path {
            v = &v[*p];
        }
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    owned.data != wanted(&["data"])
        || owned.labels != wanted(&["metadata", "labels"])
        || owned.annotations != wanted(&["metadata", "annotations"])
        || owned.finalizers != want_finalizers
}

/// Every value in `want` is present and equal in `live` (objects compared key by key, lists and
/// scalars as wholes).
fn is_subset(want: &Value, live: &Value) -> bool {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => w
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| is_subset(v, lv))),
        (w, l) => w == l,
    }
}

#[derive(Default)]
struct OwnedFields {
    data: BTreeSet<String>,
    labels: BTreeSet<String>,
    annotations: BTreeSet<String>,
    finalizers: BTreeSet<String>,
}

/// The data keys, labels and annotations a manager owns through Apply, from managedFields.
fn owned_fields(secret: &Secret, manager: &str) -> OwnedFields {
    let mut owned = OwnedFields::default();
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.strip_prefix("f:"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for entry in secret.metadata.managed_fields.iter().flatten() {
        if entry.manager.as_deref() != Some(manager) || entry.operation.as_deref() != Some("Apply")
        {
            continue;
        }
        let Some(fields) = entry.fields_v1.as_ref().map(|f| &f.0) else {
            continue;
        };
        owned.data.extend(keys(&fields["f:data"]));
        owned.labels.extend(keys(&fields["f:metadata"]["f:labels"]));
        owned
            .annotations
            .extend(keys(&fields["f:metadata"]["f:annotations"]));
        // Set items are `v:<JSON value>`.
        owned.finalizers.extend(
            fields["f:metadata"]["f:finalizers"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter_map(|k| serde_json::from_str::<String>(k.strip_prefix("v:")?).ok()),
        );
    }
    owned
}

/// Applies the desired Secret (forcing: fields someone else changed in a Secret we own or merge
/// into are taken back — that is drift repair).
pub async fn apply(
    api: &Api<Secret>,
    desired: &Secret,
    manager: &str,
) -> Result<SecretObject, WriteError> {
    let name = desired.name_any();
    api.patch(
        &name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(desired),
    )
    .await
    .map(SecretObject::new)
    .map_err(|error| match &error {
        kube::Error::Api(status) if status.code == 422 => {
            WriteError::Invalid(super::validate::InvalidSecret::Refused {
                refusal: api_refusal(&error),
                secret: name,
            })
        }
        _ => WriteError::Kube {
            secret: name,
            error,
        },
    })
}

/// Applies a merge into a Secret that existed (with `uid`) when the reconcile read it. Merge
/// never creates a Secret, but an apply creates what is missing: see [`undo_creation`].
pub async fn apply_merge(
    api: &Api<Secret>,
    desired: &Secret,
    manager: &str,
    uid: &str,
) -> Result<SecretObject, WriteError> {
    let applied = apply(api, desired, manager).await?;
    let name = desired.name_any();
    match undo_creation(api, &applied, uid).await {
        Ok(false) => Ok(applied),
        Ok(true) => Err(WriteError::Missing { secret: name }),
        Err(error) => Err(WriteError::Kube {
            secret: name,
            error,
        }),
    }
}

/// Removes everything a merging ExternalSecret applied to a Secret (its keys, label and
/// annotation), by applying an empty configuration with its field manager. A missing Secret has
/// nothing left to remove.
pub async fn remove_merged(
    api: &Api<Secret>,
    secret: &str,
    es_name: &str,
) -> Result<(), kube::Error> {
    let Some(uid) = api
        .get_opt(secret)
        .await?
        .map(SecretObject::new)
        .and_then(|s| s.uid())
    else {
        return Ok(());
    };
    let empty = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}});
    let params = PatchParams::apply(&field_manager(WriteMode::Merge, es_name)).force();
    match api.patch(secret, &params, &Patch::Apply(&empty)).await {
        Ok(applied) => undo_creation(api, &SecretObject::new(applied), &uid)
            .await
            .map(|_| ()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err),
    }
}

/// An apply creates the object when it is missing. When a Secret that was read (with `uid`) is
/// deleted before the apply lands, the apply creates a new one — which a merging ExternalSecret
/// must never do. Deletes such a Secret again at once (only the one just created, by uid) and
/// returns whether it did.
async fn undo_creation(
    api: &Api<Secret>,
    applied: &Secret,
    uid: &str,
) -> Result<bool, kube::Error> {
    let Some(created) = applied.uid().filter(|u| u != uid) else {
        return Ok(false);
    };
    let only_the_one_we_created = kube::api::DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some(created),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api
        .delete(&applied.name_any(), &only_the_one_we_created)
        .await
    {
        Ok(_) => Ok(true),
        // Gone already, or replaced by someone else's Secret: nothing of ours left to undo.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(true),
        Err(err) => Err(err),
    }
}

/// Deletes a Secret the ExternalSecret owns (deletionPolicy Delete once every AWS secret is gone).
pub async fn delete_owned(api: &Api<Secret>, secret: &str) -> Result<(), WriteError> {
    match api.delete(secret, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(error) => Err(WriteError::Kube {
            secret: secret.to_owned(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests;
