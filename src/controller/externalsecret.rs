//! The ExternalSecret reconciler: store → fetch → render → write, then status, event and
//! requeue. Level-based and idempotent: every run recomputes the wanted Secret from the spec and
//! AWS, and writes only when the live Secret differs. A failure anywhere before the write leaves
//! the existing Secret exactly as it was.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::Context;
use super::backoff::jitter;
use super::conditions::{rotation_condition, versions_note, workloads_condition};
use super::unchanged::Shortcut;
use crate::api::Reason;
use crate::api::duration::parse_go_duration;
use crate::api::externalsecret::{DeletionPolicy, ExternalSecret, RefreshPolicy, SecretBinding};
use crate::api::reason::CONDITION_READY;
use crate::api::shared::ConditionStatus;
use crate::render::RenderError;
use crate::render::data::build_data_from;
use crate::render::keys::is_valid_secret_key;
use crate::render::template::apply_template;
use crate::resolve::{FetchError, ReadOptions, fetch_all};
use crate::store::StoreError;
use crate::value::SecretObject;
use crate::write::events::publish;
use crate::write::secret::{
    DesiredContent, Ownership, WriteError, WriteMode, delete_owned, desired_secret, field_manager,
    needs_apply, ownership, remove_merged, write_mode,
};
use crate::write::status::{apply_status, condition, set_condition};

pub use super::finalizer::FINALIZER;
use super::finalizer::{ensure_finalizer, finalize};

/// Annotations that force a sync from AWS when set to a new value: ESO's, and ours.
pub const FORCE_SYNC_ANNOTATIONS: [&str; 2] = ["stagesync.io/force-sync", "force-sync"];

/// Slack on top of an ExternalSecret's refresh interval within which the tracker's knowledge is
/// still trusted (its sweep runs every tick; a check that lands a moment late is no reason to
/// read the value again).
const TRACKER_GRACE: Duration = Duration::from_secs(15);

/// How long a reconcile waits for the tracker's first check of its secrets (after a start).
const DEFER_FOR: Duration = Duration::from_secs(2);

/// Why a sync failed. Every variant maps to one condition reason; messages carry no values.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Fetching from the backend failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Shaping the values failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Some produced keys are not valid Secret keys.
    #[error("invalid Secret keys {0:?}: keys must match [-._a-zA-Z0-9]+; nothing was written")]
    InvalidKey(Vec<String>),
    /// The spec cannot work as written.
    #[error("{0}")]
    InvalidSpec(String),
    /// Writing the Secret failed or was refused.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Reading from Kubernetes failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl SyncError {
    /// The condition reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Store(e) => e.reason(),
            Self::Fetch(e) => e.reason(),
            Self::Render(e) => e.reason(),
            Self::InvalidKey(_) => Reason::InvalidKey,
            Self::InvalidSpec(_) => Reason::InvalidSpec,
            Self::Write(WriteError::Conflict { .. }) => Reason::SecretConflict,
            Self::Write(WriteError::Missing { .. }) => Reason::SecretMissing,
            Self::Write(WriteError::Invalid(_)) => Reason::InvalidSecret,
            Self::Write(WriteError::Kube { .. }) => Reason::SecretWriteFailed,
            Self::Kube(_) => Reason::SecretSyncedError,
        }
    }

    /// The least wait a backend asked for.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Fetch(FetchError::Provider(crate::provider::ProviderError::Throttled {
                retry_after,
                ..
            }))
            | Self::Store(StoreError::Provider(crate::provider::ProviderError::Throttled {
                retry_after,
                ..
            })) => *retry_after,
            _ => None,
        }
    }
}

/// What a successful sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The Secret was created.
    Created,
    /// The Secret's content changed.
    Updated,
    /// The Secret already held the wanted content.
    Unchanged,
    /// creationPolicy None: nothing to write.
    NotWritten,
    /// The references gave no data at all and deletionPolicy is Retain: the Secret is kept as
    /// it is, as ESO does.
    Retained,
    /// Every AWS secret is gone and deletionPolicy Delete removed the Secret.
    Deleted,
    /// Every AWS secret is gone and deletionPolicy Merge removed the ExternalSecret's keys.
    KeysRemoved,
    /// The tracker has not checked the references yet: run again shortly.
    Deferred,
}

/// Result of a sync, for the status.
struct Synced {
    outcome: Outcome,
    synced_versions: crate::api::externalsecret::SyncedVersions,
    target: String,
    /// Referenced secrets whose rotation is stuck: (key, pending version, pending for).
    stuck: Vec<(String, String, Duration)>,
}

/// The name of the Secret an ExternalSecret writes.
pub fn target_name(es: &ExternalSecret) -> String {
    es.spec.target.name.clone().unwrap_or_else(|| es.name_any())
}

/// Reconciles one ExternalSecret.
pub async fn reconcile(es: Arc<ExternalSecret>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let namespace = es.namespace().unwrap_or_default();
    let name = es.name_any();
    let key = format!("{namespace}/{name}");
    let es_api: Api<ExternalSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let target = target_name(&es);
    // However this reconcile ends, workloads waiting for this Secret's rewrite stop waiting.
    let _settle = ctx
        .restarts
        .settle_on_drop((namespace.clone(), target.clone()));

    // An ExternalSecret whose store belongs to another controller class (ESO during a
    // migration) is left alone: no finalizer, no status, no event.
    if let Ok(Some(class)) = ctx
        .stores
        .controller_class(&namespace, &es.spec.secret_store_ref)
        .await
        && !ctx.config.handles_class(Some(&class))
    {
        return Ok(Action::await_change());
    }
    if es.metadata.deletion_timestamp.is_some() {
        return finalize(&es, &es_api, &secrets, &target).await;
    }
    ensure_finalizer(&es, &es_api).await?;

    if skip_refresh(&es, &secrets, &target).await? {
        return Ok(Action::await_change());
    }
    let force = force_sync_value(&es)
        .filter(|v| es.status.as_ref().and_then(|s| s.force_synced.as_deref()) != Some(v.as_str()));
    if let Some(held) =
        super::windows::hold(&es, &ctx, &es_api, &secrets, &target, force.is_some()).await?
    {
        return Ok(held);
    }

    let started = std::time::Instant::now();
    let result = sync(&es, &ctx, &secrets, &target, force.is_some()).await;
    ctx.metrics.observe_reconcile(
        result.as_ref().err().map(SyncError::reason),
        started.elapsed(),
    );
    let previous = es.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    let generation = es.metadata.generation;
    let reference = es.object_ref(&());
    match result {
        Ok(synced) if synced.outcome == Outcome::Deferred => {
            Ok(Action::requeue(jitter(DEFER_FOR, 0.2)))
        }
        Ok(synced) => {
            ctx.backoff.succeeded(&key);
            let (reason, message) = match synced.outcome {
                Outcome::Deleted => (
                    Reason::SecretDeleted,
                    format!(
                        "every AWS secret is gone; Secret {:?} was deleted (deletionPolicy Delete)",
                        synced.target
                    ),
                ),
                Outcome::KeysRemoved => (
                    Reason::SecretDeleted,
                    format!(
                        "every AWS secret is gone; this ExternalSecret's keys were removed from Secret {:?} (deletionPolicy Merge)",
                        synced.target
                    ),
                ),
                Outcome::NotWritten => (
                    Reason::SecretSynced,
                    "AWS secrets read; no Secret is written (creationPolicy None)".to_owned(),
                ),
                Outcome::Retained => (
                    Reason::SecretSynced,
                    format!(
                        "the references gave no data (nothing matched); Secret {:?} is kept as it was (deletionPolicy Retain)",
                        synced.target
                    ),
                ),
                _ => (
                    Reason::SecretSynced,
                    format!("Secret {:?} is synced", synced.target),
                ),
            };
            let ready = condition(
                &previous.conditions,
                CONDITION_READY,
                ConditionStatus::True,
                reason.as_str(),
                &message,
                generation,
            );
            set_condition(&mut status.conditions, ready);
            let rotation_event =
                rotation_condition(&mut status, &previous, &synced.stuck, generation);
            let workloads_event = workloads_condition(
                &mut status,
                &previous,
                ctx.restarts.outcome(&(namespace.clone(), target.clone())),
                generation,
            );
            if synced.outcome == Outcome::Updated {
                ctx.restarts.note_versions(
                    (namespace.clone(), target.clone()),
                    versions_note(&previous.synced_versions, &synced.synced_versions),
                );
            }
            if force.is_some() {
                status.force_synced = force.clone();
            }
            let now = Time(k8s_openapi::jiff::Timestamp::now());
            let mut synced_versions = synced.synced_versions;
            super::versions::stamp_current_since(
                &previous.synced_versions,
                &mut synced_versions,
                now.clone(),
            );
            status.refresh_time = Some(now);
            status.synced_versions = synced_versions;
            status.binding = match synced.outcome {
                Outcome::Deleted | Outcome::NotWritten => None,
                Outcome::Retained => previous.binding.clone(),
                _ => Some(SecretBinding {
                    name: synced.target.clone(),
                }),
            };
            apply_status(&es_api, &name, &status).await?;
            if let Some(note) = rotation_event {
                tracing::warn!(externalsecret = %key, "{note}");
                publish(
                    &ctx.recorder,
                    &reference,
                    true,
                    Reason::RotationStuck.as_str(),
                    "Rotation",
                    &note,
                )
                .await;
            }
            if let Some((warning, event_reason, note)) = workloads_event {
                publish(
                    &ctx.recorder,
                    &reference,
                    warning,
                    event_reason,
                    "Restart",
                    &note,
                )
                .await;
            }
            match synced.outcome {
                Outcome::Created => ctx.metrics.secret_write("created"),
                Outcome::Updated => ctx.metrics.secret_write("updated"),
                Outcome::Deleted => ctx.metrics.secret_write("deleted"),
                _ => {}
            }
            let event = match synced.outcome {
                Outcome::Created => {
                    Some(("Created", format!("created Secret {:?}", synced.target)))
                }
                Outcome::Updated => {
                    Some(("Updated", format!("updated Secret {:?}", synced.target)))
                }
                Outcome::Deleted | Outcome::KeysRemoved => Some((reason.as_str(), message.clone())),
                Outcome::Unchanged
                | Outcome::NotWritten
                | Outcome::Retained
                | Outcome::Deferred => None,
            };
            if let Some((event_reason, note)) = event {
                tracing::info!(externalsecret = %key, secret = %synced.target, reason = event_reason, "{note}");
                publish(
                    &ctx.recorder,
                    &reference,
                    false,
                    event_reason,
                    "Sync",
                    &note,
                )
                .await;
            }
            Ok(next_refresh(&es, &ctx))
        }
        Err(err) => {
            let reason = err.reason();
            let message = err.to_string();
            tracing::warn!(externalsecret = %key, reason = reason.as_str(), error = %message, "sync failed; the existing Secret is unchanged");
            let ready = condition(
                &previous.conditions,
                CONDITION_READY,
                ConditionStatus::False,
                reason.as_str(),
                &message,
                generation,
            );
            set_condition(&mut status.conditions, ready);
            // A forced sync is acted upon once, failed or not: `kubectl stagesync sync` waits
            // for this value, then reads Ready.
            if force.is_some() {
                status.force_synced = force.clone();
            }
            apply_status(&es_api, &name, &status).await?;
            publish(
                &ctx.recorder,
                &reference,
                true,
                reason.as_str(),
                "Sync",
                &message,
            )
            .await;
            Ok(Action::requeue(ctx.backoff.failed(&key, err.retry_after())))
        }
    }
}

/// Called by the controller when reconcile itself failed (status or finalizer writes).
pub fn error_policy(es: Arc<ExternalSecret>, err: &kube::Error, ctx: Arc<Context>) -> Action {
    let es_ref = super::es_ref(&es);
    let key = format!("{}/{}", es_ref.0, es_ref.1);
    // The ExternalSecret itself is gone (the cache is behind): nothing to retry, nothing to
    // track; its Delete, or the next list, brings the cache up to date.
    if is_gone(err, &es_ref.1) {
        tracing::debug!(externalsecret = %key, "deleted meanwhile; not retried");
        ctx.forget(&es_ref);
        ctx.backoff.succeeded(&key);
        return Action::await_change();
    }
    tracing::warn!(externalsecret = %key, error = %err, "reconcile failed; retrying with backoff");
    Action::requeue(ctx.backoff.failed(&key, None))
}

/// A 404 about the ExternalSecret `name` itself.
fn is_gone(err: &kube::Error, name: &str) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404
        && status.details.as_ref().is_some_and(|d| d.kind == "externalsecrets" && d.name == name))
}

/// The referenced secrets whose rotation is stuck: (key, pending version, pending for).
fn stuck_rotations(
    resolver: &crate::resolve::StoreResolver,
    spec: &crate::api::externalsecret::ExternalSecretSpec,
) -> Vec<(String, String, Duration)> {
    crate::resolve::references(spec)
        .values
        .iter()
        .map(|(k, _)| k)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|k| {
            resolver
                .stuck_rotation(k)
                .map(|(v, age)| (k.clone(), v, age))
        })
        .collect()
}

/// The value of a force-sync annotation, if set.
fn force_sync_value(es: &ExternalSecret) -> Option<String> {
    FORCE_SYNC_ANNOTATIONS
        .iter()
        .find_map(|a| es.annotations().get(*a))
        .filter(|v| !v.is_empty())
        .cloned()
}

/// The refresh interval of a periodically refreshed ExternalSecret (`None`: it never refreshes
/// by itself).
fn periodic_interval(es: &ExternalSecret, ctx: &Context) -> Option<Duration> {
    refresh_every(&es.spec, ctx.config.default_refresh_interval)
}

/// How often an ExternalSecret with `spec` is refreshed when the operator's default interval is
/// `default` (`None`: never by itself — refreshPolicy CreatedOnce or OnChange, or interval 0).
pub fn refresh_every(spec: &crate::api::ExternalSecretSpec, default: Duration) -> Option<Duration> {
    if matches!(
        spec.refresh_policy,
        Some(RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange)
    ) {
        return None;
    }
    let interval = if spec.refresh_interval.is_empty() {
        default
    } else {
        parse_go_duration(&spec.refresh_interval).unwrap_or(default)
    };
    (!interval.is_zero()).then_some(interval)
}

/// The whole sync: nothing is written unless every step before the write succeeded.
async fn sync(
    es: &ExternalSecret,
    ctx: &Context,
    secrets: &Api<Secret>,
    target: &str,
    force: bool,
) -> Result<Synced, SyncError> {
    let namespace = es.namespace().unwrap_or_default();
    let es_ref = super::es_ref(es);
    let spec = &es.spec;
    // What this ExternalSecret waits for among unmanaged Secrets: its target (a Merge target
    // may not exist yet), its template sources and its store's credentials.
    let mut wanted: Vec<(String, String)> = vec![(namespace.clone(), target.to_owned())];
    if let Some(t) = &spec.target.template {
        wanted.extend(
            t.template_from
                .iter()
                .filter_map(|f| f.secret.as_ref())
                .map(|s| (namespace.clone(), s.name.clone())),
        );
    }
    if let Some(refused) = super::sources::unsupported(spec) {
        ctx.wanted.set(&es_ref, wanted);
        ctx.stores.forget(&es_ref);
        return Err(SyncError::InvalidSpec(refused));
    }
    // Every store the entries read through, each under its own tenancy rules.
    let store_refs = super::sources::store_refs(spec);
    let mut stores = Vec::with_capacity(store_refs.len());
    let mut failed = None;
    for store_ref in &store_refs {
        match ctx.stores.for_external_secret(&namespace, store_ref).await {
            Ok(store) => {
                wanted.extend(store.credential_secrets.iter().cloned());
                stores.push(store);
            }
            Err(err) => {
                if let StoreError::CredentialsNotFound { secret, .. } = &err {
                    wanted.push(secret.clone());
                }
                failed.get_or_insert(err);
            }
        }
    }
    ctx.wanted.set(&es_ref, wanted);
    // Stores it no longer reads through (re-pointed, or gone bad) stop tracking for it.
    let using: Vec<_> = stores.iter().map(|s| &s.resolver).collect();
    ctx.stores.forget_except(&es_ref, &using);
    if let Some(err) = failed {
        return Err(err.into());
    }
    let store_index = |r: Option<&crate::api::externalsecret::SecretStoreRef>| {
        r.and_then(|r| store_refs.iter().position(|s| s == r))
            .unwrap_or(0)
    };
    // Each store's key prefix applies to its entries (status keys included: they name the AWS
    // secrets as AWS knows them).
    let effective =
        super::sources::with_prefixes(spec, |r| stores[store_index(r)].prefix.as_deref());
    let spec = &effective;
    let slices: Vec<_> = store_refs
        .iter()
        .enumerate()
        .map(|(i, r)| super::sources::slice(spec, r, i == 0))
        .collect();
    let tolerate_missing = matches!(
        spec.target.deletion_policy,
        DeletionPolicy::Delete | DeletionPolicy::Merge
    );
    let interval = periodic_interval(es, ctx);
    let opts = ReadOptions {
        max_age: interval.unwrap_or(ctx.config.default_refresh_interval) + TRACKER_GRACE,
        force,
    };
    // The live Secret holds values: zeroed when this reconcile drops it.
    let existing = secrets.get_opt(target).await?.map(SecretObject::new);
    let mut stuck = Vec::new();
    for (store, slice) in stores.iter().zip(&slices) {
        stuck.extend(stuck_rotations(&store.resolver, slice));
        crate::resolve::track(&store.resolver, &es_ref, slice, interval);
    }
    // The no-read shortcut knows one store's versions; entries from several stores are read.
    let shortcut = (!force && stores.len() == 1)
        .then(|| {
            super::unchanged::shortcut(
                es,
                spec,
                &stores[0].resolver,
                existing.as_deref(),
                opts.max_age,
            )
        })
        .flatten();
    if let Some(shortcut) = shortcut {
        let (outcome, synced_versions) = match shortcut {
            Shortcut::Unchanged(versions) => (Outcome::Unchanged, versions),
            Shortcut::Defer => (Outcome::Deferred, Default::default()),
        };
        return Ok(Synced {
            outcome,
            synced_versions,
            target: target.to_owned(),
            stuck,
        });
    }
    let mut fetched = Vec::with_capacity(stores.len());
    for (store, slice) in stores.iter().zip(&slices) {
        fetched.push(fetch_all(&store.resolver, &es_ref, slice, tolerate_missing, opts).await?);
    }
    let es_name = es.name_any();
    let owner = ownership(existing.as_deref(), &es_name);

    if tolerate_missing && crate::resolve::FetchedValues::all_missing_in(&fetched) {
        return deleted_upstream(es, secrets, target, &owner).await;
    }

    let built = build_data_from(spec, &|r| &fetched[store_index(r)])?;
    // ESO: no data at all (a find that matches nothing) under deletionPolicy Retain leaves the
    // Secret as it is — never emptied — and the sync is done.
    if built.data.is_empty() && spec.target.deletion_policy == DeletionPolicy::Retain {
        return Ok(Synced {
            outcome: Outcome::Retained,
            synced_versions: built.synced_versions,
            target: target.to_owned(),
            stuck,
        });
    }
    let sources = super::template_sources::read(es, ctx).await?;
    let rendered = apply_template(spec.target.template.as_ref(), built.data, &sources)?;
    let invalid: Vec<String> = rendered
        .data
        .keys()
        .filter(|k| !is_valid_secret_key(k))
        .cloned()
        .collect();
    if !invalid.is_empty() {
        return Err(SyncError::InvalidKey(invalid));
    }
    let Some(mode) = write_mode(spec.target.creation_policy, &owner, target)? else {
        return Ok(Synced {
            outcome: Outcome::NotWritten,
            synced_versions: built.synced_versions,
            target: target.to_owned(),
            stuck,
        });
    };
    let content = DesiredContent {
        data: rendered.data,
        labels: rendered.labels,
        annotations: rendered.annotations,
        type_: rendered.type_,
        immutable: spec.target.immutable,
        finalizers: spec
            .target
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .map(|m| m.finalizers.clone())
            .unwrap_or_default(),
    };
    let desired = desired_secret(es, target, mode, &content);
    let manager = field_manager(mode, &es_name);
    let outcome = if !needs_apply(existing.as_deref(), &desired, &manager) {
        Outcome::Unchanged
    } else {
        crate::write::validate::check(existing.as_deref(), &desired).map_err(WriteError::from)?;
        let data_changed = existing.as_deref().is_none_or(|live| {
            let live_data = live.data.as_ref();
            content.data.iter().any(|(k, v)| {
                live_data.and_then(|d| d.get(k)).map(|b| b.0.as_slice()) != Some(v.expose())
            })
        });
        match mode {
            WriteMode::Own => {
                if existing.is_none() {
                    // A create is the one write that outlives its owner: were the ExternalSecret
                    // deleted unseen (a stale cache), garbage collection would delete the Secret
                    // and the stale copy create it again, until the cache caught up. A 404 here
                    // names the ExternalSecret, and the reconcile forgets it.
                    Api::<ExternalSecret>::namespaced(ctx.client.clone(), &namespace)
                        .get_metadata(&es_ref.1)
                        .await?;
                }
                crate::write::secret::apply(secrets, &desired, &manager).await?;
            }
            WriteMode::Merge => {
                let uid = existing.as_ref().and_then(|s| s.uid()).unwrap_or_default();
                crate::write::secret::apply_merge(secrets, &desired, &manager, &uid).await?;
            }
        }
        match (existing.is_some(), data_changed) {
            (false, _) => Outcome::Created,
            (true, true) => Outcome::Updated,
            (true, false) => Outcome::Unchanged,
        }
    };
    Ok(Synced {
        outcome,
        synced_versions: built.synced_versions,
        target: target.to_owned(),
        stuck,
    })
}

/// Every referenced AWS secret is gone and the deletion policy tolerates it.
async fn deleted_upstream(
    es: &ExternalSecret,
    secrets: &Api<Secret>,
    target: &str,
    owner: &Ownership,
) -> Result<Synced, SyncError> {
    let es_name = es.name_any();
    let outcome = match (es.spec.target.deletion_policy, owner) {
        (DeletionPolicy::Delete, Ownership::Ours) => {
            delete_owned(secrets, target).await?;
            Outcome::Deleted
        }
        (DeletionPolicy::Delete, Ownership::Missing) => Outcome::Deleted,
        // A Secret we do not own is never deleted; our keys are removed from it instead.
        (DeletionPolicy::Delete | DeletionPolicy::Merge, Ownership::Foreign(_)) => {
            remove_merged(secrets, target, &es_name)
                .await
                .map_err(|error| WriteError::Kube {
                    secret: target.to_owned(),
                    error,
                })?;
            Outcome::KeysRemoved
        }
        (DeletionPolicy::Merge, Ownership::Ours) => {
            // Keep the Secret, drop our keys: apply our usual shape with no data.
            let desired = desired_secret(es, target, WriteMode::Own, &DesiredContent::default());
            crate::write::secret::apply(
                secrets,
                &desired,
                &field_manager(WriteMode::Own, &es_name),
            )
            .await?;
            Outcome::KeysRemoved
        }
        (DeletionPolicy::Merge, Ownership::Missing) => Outcome::KeysRemoved,
        // Retain does not tolerate missing secrets, so it never gets here; should it, keeping
        // the Secret as it is is what Retain means.
        (DeletionPolicy::Retain, _) => Outcome::Unchanged,
    };
    Ok(Synced {
        outcome,
        synced_versions: Default::default(),
        target: target.to_owned(),
        stuck: Vec::new(),
    })
}

/// refreshPolicy CreatedOnce / OnChange: once the Secret was synced for this generation, only a
/// spec change (a new generation) syncs again.
async fn skip_refresh(
    es: &ExternalSecret,
    secrets: &Api<Secret>,
    target: &str,
) -> Result<bool, kube::Error> {
    let synced_this_generation = es.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == CONDITION_READY
                && c.status == ConditionStatus::True
                && c.observed_generation == es.metadata.generation
        })
    });
    match es.spec.refresh_policy {
        Some(RefreshPolicy::OnChange) => Ok(synced_this_generation),
        Some(RefreshPolicy::CreatedOnce) => {
            // Only whether the Secret exists matters: its data is zeroed at once.
            let exists = secrets
                .get_opt(target)
                .await?
                .map(SecretObject::new)
                .is_some();
            Ok(synced_this_generation && exists)
        }
        Some(RefreshPolicy::Periodic) | None => Ok(false),
    }
}

/// When to run again after a successful sync. The store's tracker checks the referenced
/// versions every refresh interval and wakes the ExternalSecret when one moved, so the
/// reconcile itself only re-runs as a safety net, at least every `resync_floor` (every
/// interval in the naive baseline, which has no tracker, and with a `find`, whose matches no
/// tracker watches: secrets appearing or going are seen by searching again).
fn next_refresh(es: &ExternalSecret, ctx: &Context) -> Action {
    let Some(interval) = periodic_interval(es, ctx) else {
        return Action::await_change();
    };
    let untracked = es.spec.data_from.iter().any(|d| d.find.is_some());
    let every = if ctx.stores.policy().tracking.naive || untracked {
        interval
    } else {
        interval.max(ctx.config.resync_floor)
    };
    // A little jitter spreads the refreshes of ExternalSecrets created together.
    Action::requeue(jitter(every, 0.05))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_write_the_api_server_failed_has_its_own_reason() {
        let conflict: kube::core::Status = serde_json::from_value(json!({
            "status": "Failure", "code": 409, "reason": "Conflict",
            "message": "Operation cannot be fulfilled on secrets \"db\"",
        }))
        .unwrap();
        let failed = |status: &kube::core::Status| kube::Error::Api(Box::new(status.clone()));
        let write = SyncError::Write(WriteError::Kube {
            secret: "db".into(),
            error: failed(&conflict),
        });
        assert_eq!(write.reason(), Reason::SecretWriteFailed);
        assert!(write.to_string().contains("409"), "{write}");
        assert_eq!(
            SyncError::Kube(failed(&conflict)).reason(),
            Reason::SecretSyncedError
        );
    }

    #[test]
    fn only_a_404_about_the_external_secret_itself_means_it_is_gone() {
        let not_found = |kind: &str, name: &str| {
            let status: kube::core::Status = serde_json::from_value(json!({
                "status": "Failure", "code": 404, "reason": "NotFound",
                "details": {"name": name, "group": "stagesync.io", "kind": kind},
            }))
            .unwrap();
            kube::Error::Api(Box::new(status))
        };
        assert!(is_gone(&not_found("externalsecrets", "db"), "db"));
        assert!(!is_gone(&not_found("externalsecrets", "other"), "db"));
        assert!(!is_gone(&not_found("secrets", "db"), "db"));
    }
}
