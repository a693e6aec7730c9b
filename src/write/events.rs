//! Kubernetes Events (`events.k8s.io/v1`) about stagesync resources. Repeats of an event (same
//! object, type, reason, action and related object, within 6 minutes) fold into one Event's
//! series, as Kubernetes' own recorder and kube's `Recorder` do. Publishing an event never fails
//! a reconcile: a refused event is logged and dropped.
//!
//! kube's `Recorder` remembers every Event it published, whole (about 2.4 KB each, in a map whose
//! capacity never shrinks): 25 MiB at 10,000 ExternalSecrets after a cold start. This one
//! remembers a series by a hash, the Event's name and its count.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use serde_json::json;

use super::status::truncate;

/// Event notes are limited to 1 kB by the API server.
const MAX_NOTE: usize = 1000;

/// A repeat within this long of the last one joins its series (Kubernetes' and kube's figure).
const SERIES_TTL: Duration = Duration::from_secs(6 * 60);

/// How often series older than [`SERIES_TTL`] are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Publishes events as `controller` (instance: the pod's name, or the controller's).
pub struct Recorder {
    client: kube::Client,
    controller: String,
    instance: String,
    series: Mutex<Series>,
}

#[derive(Default)]
struct Series {
    /// Hash of an event's identity → the Event holding its series.
    open: HashMap<u64, Open>,
    swept: Option<Instant>,
}

struct Open {
    name: String,
    count: i32,
    last: Instant,
}

impl Recorder {
    /// A recorder publishing as `controller`, from `instance` (the pod's name) when known.
    pub fn new(client: kube::Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or_else(|| controller.to_owned()),
            series: Mutex::default(),
        }
    }

    /// Publishes `ev` about `regarding`: a new Event, or the next count of its series.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let key = identity(ev, regarding);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let now = Instant::now();
        let repeat = self.series.lock().expect("series lock").repeat(key, now);
        if let Some((name, count)) = repeat {
            let patch = json!({"series": {
                "count": count,
                "lastObservedTime": MicroTime(Timestamp::now()),
            }});
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.series
                        .lock()
                        .expect("series lock")
                        .seen(key, name, count, now);
                    return Ok(());
                }
                // The API server dropped the Event (its own TTL): start a new one.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.event(ev, regarding);
        let created = events.create(&PostParams::default(), &event).await?;
        let name = created.metadata.name.unwrap_or_default();
        self.series
            .lock()
            .expect("series lock")
            .seen(key, name, 1, now);
        Ok(())
    }

    fn event(&self, ev: &Event, regarding: &ObjectReference) -> K8sEvent {
        let now = Timestamp::now();
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                )),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            ..Default::default()
        }
    }
}

impl Series {
    /// The Event and next count of `key`'s series, if one is open at `now`.
    fn repeat(&mut self, key: u64, now: Instant) -> Option<(String, i32)> {
        if self
            .swept
            .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY)
        {
            self.open
                .retain(|_, o| now.saturating_duration_since(o.last) < SERIES_TTL);
            self.open.shrink_to_fit();
            self.swept = Some(now);
        }
        self.open
            .get(&key)
            .filter(|o| now.saturating_duration_since(o.last) < SERIES_TTL)
            .map(|o| (o.name.clone(), o.count + 1))
    }

    fn seen(&mut self, key: u64, name: String, count: i32, now: Instant) {
        self.open.insert(
            key,
            Open {
                name,
                count,
                last: now,
            },
        );
    }
}

/// What makes two events the same series: the object (by kind, name, namespace and uid), type,
/// reason, action and related object.
fn identity(ev: &Event, regarding: &ObjectReference) -> u64 {
    let mut h = DefaultHasher::new();
    let object = |r: &ObjectReference, h: &mut DefaultHasher| {
        (&r.api_version, &r.kind, &r.name, &r.namespace, &r.uid).hash(h);
    };
    object(regarding, &mut h);
    match &ev.secondary {
        Some(related) => {
            true.hash(&mut h);
            object(related, &mut h);
        }
        None => false.hash(&mut h),
    }
    (ev.type_ == EventType::Warning, &ev.reason, &ev.action).hash(&mut h);
    h.finish()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(reason: &str, related: Option<&str>) -> Event {
        Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some("a note".into()),
            action: "Sync".into(),
            secondary: related.map(|name| ObjectReference {
                kind: Some("Deployment".into()),
                name: Some(name.into()),
                ..Default::default()
            }),
        }
    }

    fn object(name: &str, uid: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("ExternalSecret".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_series_is_the_object_reason_action_type_and_related_object() {
        let base = identity(&event("StoreNotFound", None), &object("db", "1"));
        let mut other_note = event("StoreNotFound", None);
        other_note.note = Some("another note".into());
        assert_eq!(identity(&other_note, &object("db", "1")), base);
        assert_ne!(
            identity(&event("InvalidSpec", None), &object("db", "1")),
            base
        );
        assert_ne!(
            identity(&event("StoreNotFound", None), &object("db", "2")),
            base
        );
        assert_ne!(
            identity(&event("StoreNotFound", None), &object("other", "1")),
            base
        );
        assert_ne!(
            identity(&event("StoreNotFound", Some("web")), &object("db", "1")),
            base
        );
        let mut normal = event("StoreNotFound", None);
        normal.type_ = EventType::Normal;
        assert_ne!(identity(&normal, &object("db", "1")), base);
    }

    #[test]
    fn repeats_count_up_within_the_ttl_and_start_over_after_it() {
        let mut series = Series::default();
        let t0 = Instant::now();
        assert_eq!(series.repeat(7, t0), None, "first of its kind");
        series.seen(7, "db.1".into(), 1, t0);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(series.repeat(7, t1), Some(("db.1".into(), 2)));
        series.seen(7, "db.1".into(), 2, t1);
        // The TTL runs from the last repeat.
        let t2 = t1 + SERIES_TTL - Duration::from_secs(1);
        assert_eq!(series.repeat(7, t2), Some(("db.1".into(), 3)));
        assert_eq!(series.repeat(7, t1 + SERIES_TTL), None, "expired");
    }

    #[test]
    fn expired_series_are_swept_and_their_memory_returned() {
        let mut series = Series::default();
        let t0 = Instant::now();
        series.repeat(0, t0);
        for key in 0..10_000 {
            series.seen(key, format!("es-{key}.1"), 1, t0);
        }
        assert!(series.open.capacity() >= 10_000);
        let later = t0 + SERIES_TTL + SWEEP_EVERY;
        series.seen(10_000, "fresh.1".into(), 1, later);
        assert_eq!(series.repeat(10_000, later), Some(("fresh.1".into(), 2)));
        assert_eq!(series.open.len(), 1, "only the fresh series is left");
        assert!(series.open.capacity() < 100, "{}", series.open.capacity());
    }
}
