//! Kubernetes Events about stagesync resources, through kube's recorder (which folds repeats of
//! the same event into a series, as Kubernetes' own recorder does). Publishing an event never
//! fails a reconcile: a refused event is logged and dropped.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

use super::status::truncate;

/// Event notes are limited to 1 kB by the API server.
const MAX_NOTE: usize = 1000;

/// Publishes an event about `regarding`.
pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    warning: bool,
    reason: &str,
    action: &str,
    note: &str,
) {
    publish_related(recorder, regarding, None, warning, reason, action, note).await;
}

/// Publishes an event about `regarding` that concerns `related` too (events about one object
/// with the same reason fold into one series unless their related objects differ).
pub async fn publish_related(
    recorder: &Recorder,
    regarding: &ObjectReference,
    related: Option<ObjectReference>,
    warning: bool,
    reason: &str,
    action: &str,
    note: &str,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(truncate(note, MAX_NOTE)),
        action: action.to_owned(),
        secondary: related,
    };
    if let Err(err) = recorder.publish(&event, regarding).await {
        tracing::warn!(
            object = regarding.name.as_deref().unwrap_or_default(),
            namespace = regarding.namespace.as_deref().unwrap_or_default(),
            reason,
            error = %err,
            "publishing an event failed"
        );
    }
}
