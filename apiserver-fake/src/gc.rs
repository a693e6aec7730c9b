//! The built-in controllers that make deletion behave as in a real cluster: the garbage
//! collector (ownerReferences: background, foreground with `blockOwnerDeletion`, orphan,
//! dangling owners), the namespace controller (deletes a terminating namespace's content,
//! then the namespace) and the CRD cleanup controller (deletes custom resources of a
//! deleted CRD). They run as one task fed by the store's change stream.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::crd::CLEANUP_FINALIZER;
use crate::ops::{Cluster, DeleteOpts, Propagation, WriteOpts, finalizers, to_external};
use crate::registry::{ResourceType, split_api_version};
use crate::store::{Change, ChangeKind, ObjKey, key_of};

const MANAGER: &str = "generic-garbage-collector";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    Dependent(Arc<str>, ObjKey),
    Owner(Arc<str>, ObjKey),
    /// An owner named by a reference: (dependent's namespace, apiVersion, kind, name).
    OwnerRef(String, String, String, String),
    Namespace(String),
    Crd(String),
}

/// Owner uid -> dependents, built from the change stream.
#[derive(Default)]
struct Graph {
    dependents: HashMap<String, HashSet<(Arc<str>, ObjKey)>>,
    terminating_ns: HashSet<String>,
    terminating_crds: HashSet<String>,
}

fn owner_refs(obj: &Value) -> Vec<Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

fn sys_opts() -> WriteOpts {
    WriteOpts {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// Run the controllers until the change stream ends.
pub async fn run(cluster: Arc<Cluster>, mut rx: UnboundedReceiver<Arc<Change>>) {
    let mut g = Graph::default();
    while let Some(first) = rx.recv().await {
        let mut work = BTreeSet::new();
        let mut saw_delete = false;
        let mut next = Some(first);
        while let Some(ch) = next {
            saw_delete |= ch.kind == ChangeKind::Deleted;
            g.observe(&ch, &mut work);
            next = rx.try_recv().ok();
        }
        if saw_delete {
            work.extend(g.terminating_ns.iter().cloned().map(Work::Namespace));
            work.extend(g.terminating_crds.iter().cloned().map(Work::Crd));
        }
        for w in work {
            g.process(&cluster, w);
        }
    }
}

impl Graph {
    fn observe(&mut self, ch: &Change, work: &mut BTreeSet<Work>) {
        let key = key_of(&ch.object);
        let me = (ch.storage.clone(), key.clone());
        if let Some(prev) = &ch.prev {
            for r in owner_refs(prev) {
                if let Some(uid) = r["uid"].as_str()
                    && let Some(set) = self.dependents.get_mut(uid)
                {
                    set.remove(&me);
                }
            }
        }
        let uid = ch.object["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match ch.kind {
            ChangeKind::Deleted => {
                if let Some(deps) = self.dependents.get(&uid) {
                    for d in deps {
                        work.insert(Work::Dependent(d.0.clone(), d.1.clone()));
                    }
                }
                // A dependent going away may unblock its foreground owners.
                for r in owner_refs(&ch.object) {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    work.insert(Work::OwnerRef(
                        key.0.clone(),
                        s("apiVersion"),
                        s("kind"),
                        s("name"),
                    ));
                }
                if &*ch.storage == "namespaces" {
                    self.terminating_ns.remove(&key.1);
                }
                if &*ch.storage == "customresourcedefinitions.apiextensions.k8s.io" {
                    self.terminating_crds.remove(&key.1);
                }
            }
            ChangeKind::Added | ChangeKind::Modified => {
                let refs = owner_refs(&ch.object);
                for r in &refs {
                    if let Some(ou) = r["uid"].as_str() {
                        self.dependents
                            .entry(ou.to_string())
                            .or_default()
                            .insert(me.clone());
                    }
                }
                if !refs.is_empty() {
                    work.insert(Work::Dependent(me.0.clone(), me.1.clone()));
                }
                if deleting(&ch.object) {
                    let fins = finalizers(&ch.object);
                    if fins
                        .iter()
                        .any(|f| f == "foregroundDeletion" || f == "orphan")
                    {
                        work.insert(Work::Owner(me.0.clone(), me.1.clone()));
                    }
                    if &*ch.storage == "namespaces" {
                        self.terminating_ns.insert(key.1.clone());
                        work.insert(Work::Namespace(key.1.clone()));
                    }
                    if &*ch.storage == "customresourcedefinitions.apiextensions.k8s.io" {
                        self.terminating_crds.insert(key.1.clone());
                        work.insert(Work::Crd(key.1.clone()));
                    }
                }
                // Dependents re-evaluate when their owner's state changes (e.g. starts
                // foreground deletion).
                if deleting(&ch.object)
                    && let Some(deps) = self.dependents.get(&uid)
                {
                    for d in deps {
                        work.insert(Work::Dependent(d.0.clone(), d.1.clone()));
                    }
                }
            }
        }
    }

    fn process(&mut self, c: &Cluster, w: Work) {
        match w {
            Work::Dependent(storage, key) => attempt_to_delete(c, &storage, &key),
            Work::Owner(storage, key) => self.process_owner(c, &storage, &key),
            Work::OwnerRef(ns, api_version, kind, name) => {
                let (group, _) = split_api_version(&api_version);
                if let Some(ort) = c.registry.find_group_kind(group, &kind) {
                    let ns = if ort.namespaced { ns } else { String::new() };
                    self.process_owner(c, &ort.storage, &(ns, name));
                }
            }
            Work::Namespace(name) => namespace_cleanup(c, &name),
            Work::Crd(name) => crd_cleanup(c, &name),
        }
    }

    /// An owner being deleted with `foregroundDeletion` or `orphan`.
    fn process_owner(&mut self, c: &Cluster, storage: &Arc<str>, key: &ObjKey) {
        let Some(obj) = c.store.get(storage, key) else {
            return;
        };
        let Some(rt) = c.registry.by_storage(storage) else {
            return;
        };
        if !deleting(&obj) {
            return;
        }
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let deps: Vec<(Arc<str>, ObjKey)> = self
            .dependents
            .get(&uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let fins = finalizers(&obj);
        if fins.iter().any(|f| f == "orphan") {
            for (ds, dk) in &deps {
                let Some(drt) = c.registry.by_storage(ds) else {
                    continue;
                };
                modify(c, &drt, dk, |o| {
                    let refs: Vec<Value> = owner_refs(o)
                        .into_iter()
                        .filter(|r| r["uid"].as_str() != Some(uid.as_str()))
                        .collect();
                    set_refs(o, refs);
                });
            }
            let remaining = deps.iter().any(|(ds, dk)| {
                c.store.get(ds, dk).is_some_and(|d| {
                    owner_refs(&d)
                        .iter()
                        .any(|r| r["uid"].as_str() == Some(uid.as_str()))
                })
            });
            if !remaining {
                remove_finalizer(c, &rt, key, "orphan");
            }
            return;
        }
        if fins.iter().any(|f| f == "foregroundDeletion") {
            let mut blocking = false;
            for (ds, dk) in &deps {
                let Some(dep) = c.store.get(ds, dk) else {
                    continue;
                };
                if owner_refs(&dep).iter().any(|r| {
                    r["uid"].as_str() == Some(uid.as_str())
                        && r["blockOwnerDeletion"].as_bool() == Some(true)
                }) {
                    blocking = true;
                }
                if !deleting(&dep) {
                    attempt_to_delete(c, ds, dk);
                }
            }
            if !blocking {
                remove_finalizer(c, &rt, key, "foregroundDeletion");
            }
        }
    }
}

fn set_refs(obj: &mut Value, refs: Vec<Value>) {
    if let Some(m) = obj["metadata"].as_object_mut() {
        if refs.is_empty() {
            m.remove("ownerReferences");
        } else {
            m.insert("ownerReferences".into(), Value::Array(refs));
        }
    }
}

/// Read-modify-write of one object as the garbage collector, retried on conflicts.
fn modify(c: &Cluster, rt: &Arc<ResourceType>, key: &ObjKey, f: impl Fn(&mut Value)) -> bool {
    let ns = (!key.0.is_empty()).then_some(key.0.as_str());
    for _ in 0..5 {
        let Some(cur) = c.store.get(&rt.storage, key) else {
            return false;
        };
        let before = to_external(rt, &cur);
        let mut new = before.clone();
        f(&mut new);
        if new == before {
            return true;
        }
        match c.update(rt, ns, &key.1, new, None, &sys_opts()) {
            Ok(_) => return true,
            Err(e) if e.code == 409 => continue,
            Err(_) => return false,
        }
    }
    false
}

fn remove_finalizer(c: &Cluster, rt: &Arc<ResourceType>, key: &ObjKey, fin: &str) {
    modify(c, rt, key, |o| {
        let fins: Vec<String> = finalizers(o).into_iter().filter(|f| f != fin).collect();
        crate::ops::set_finalizers(o, &fins);
    });
}

enum OwnerState {
    Solid,
    Dangling,
    Waiting,
    Unknown,
}

fn owner_state(c: &Cluster, dep_ns: &str, r: &Value) -> OwnerState {
    let (group, _) = split_api_version(r["apiVersion"].as_str().unwrap_or_default());
    let kind = r["kind"].as_str().unwrap_or_default();
    let Some(ort) = c.registry.find_group_kind(group, kind) else {
        return OwnerState::Unknown;
    };
    let ns = if ort.namespaced { dep_ns } else { "" };
    if ort.namespaced && dep_ns.is_empty() {
        // A cluster-scoped dependent cannot have a namespaced owner.
        return OwnerState::Dangling;
    }
    let name = r["name"].as_str().unwrap_or_default();
    match c
        .store
        .get(&ort.storage, &(ns.to_string(), name.to_string()))
    {
        None => OwnerState::Dangling,
        Some(o) if o["metadata"]["uid"] != r["uid"] => OwnerState::Dangling,
        Some(o) if deleting(&o) && finalizers(&o).iter().any(|f| f == "foregroundDeletion") => {
            OwnerState::Waiting
        }
        Some(_) => OwnerState::Solid,
    }
}

/// Upstream's attemptToDeleteItem: delete a dependent whose owners are all gone (or
/// waiting for dependents), or drop the dangling references of one that keeps a live owner.
fn attempt_to_delete(c: &Cluster, storage: &Arc<str>, key: &ObjKey) {
    let Some(obj) = c.store.get(storage, key) else {
        return;
    };
    let Some(rt) = c.registry.by_storage(storage) else {
        return;
    };
    let refs = owner_refs(&obj);
    if refs.is_empty() {
        return;
    }
    let (mut solid, mut dangling, mut waiting) = (0, Vec::new(), Vec::new());
    for r in &refs {
        match owner_state(c, &key.0, r) {
            OwnerState::Unknown => return,
            OwnerState::Solid => solid += 1,
            OwnerState::Dangling => dangling.push(r["uid"].clone()),
            OwnerState::Waiting => waiting.push(r["uid"].clone()),
        }
    }
    if solid > 0 {
        if dangling.is_empty() && waiting.is_empty() {
            return;
        }
        modify(c, &rt, key, |o| {
            let keep: Vec<Value> = owner_refs(o)
                .into_iter()
                .filter(|r| !dangling.contains(&r["uid"]) && !waiting.contains(&r["uid"]))
                .collect();
            set_refs(o, keep);
        });
        return;
    }
    if deleting(&obj) {
        return;
    }
    let fins = finalizers(&obj);
    let policy = if !waiting.is_empty() {
        Propagation::Foreground
    } else if fins.iter().any(|f| f == "orphan") {
        Propagation::Orphan
    } else if fins.iter().any(|f| f == "foregroundDeletion") {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    let name = key.1.clone();
    let ns = (!key.0.is_empty()).then(|| key.0.clone());
    let _ = c.delete(
        &rt,
        ns.as_deref(),
        &name,
        &DeleteOpts {
            propagation: Some(policy),
            precondition_uid: obj["metadata"]["uid"].as_str().map(String::from),
            ..Default::default()
        },
        &sys_opts(),
    );
}

/// Delete everything in a terminating namespace, then finalize it.
fn namespace_cleanup(c: &Cluster, name: &str) {
    let Some(ns_obj) = c
        .store
        .get("namespaces", &(String::new(), name.to_string()))
    else {
        return;
    };
    if !deleting(&ns_obj) {
        return;
    }
    let mut left = 0;
    for storage in c.store.storages() {
        let Some(rt) = c.registry.by_storage(&storage) else {
            continue;
        };
        if !rt.namespaced {
            continue;
        }
        let (_, items) = c.store.list(&storage, Some(name));
        for obj in items {
            left += 1;
            if deleting(&obj) {
                continue;
            }
            let oname = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let _ = c.delete(&rt, Some(name), &oname, &DeleteOpts::default(), &sys_opts());
        }
    }
    if left > 0 {
        return;
    }
    let Some(rt) = c.registry.find("", "v1", "namespaces") else {
        return;
    };
    // What the namespace controller's `finalize` call does: drop `kubernetes`.
    modify(c, &rt, &(String::new(), name.to_string()), |o| {
        let left: Vec<Value> = o["spec"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != "kubernetes")
            .collect();
        if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
            if left.is_empty() {
                spec.remove("finalizers");
            } else {
                spec.insert("finalizers".into(), Value::Array(left));
            }
        }
    });
}

/// Delete every custom resource of a terminating CRD, then drop its finalizer.
fn crd_cleanup(c: &Cluster, name: &str) {
    let crd_storage = "customresourcedefinitions.apiextensions.k8s.io";
    let Some(crd) = c.store.get(crd_storage, &(String::new(), name.to_string())) else {
        return;
    };
    if !deleting(&crd) {
        return;
    }
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    let storage = format!("{plural}.{group}");
    let (_, items) = c.store.list(&storage, None);
    if let Some(rt) = c.registry.by_storage(&storage) {
        for obj in &items {
            if deleting(obj) {
                continue;
            }
            let (ns, oname) = key_of(obj);
            let _ = c.delete(
                &rt,
                (!ns.is_empty()).then_some(ns.as_str()),
                &oname,
                &DeleteOpts::default(),
                &sys_opts(),
            );
        }
    }
    if !items.is_empty() {
        return;
    }
    let Some(rt) = c
        .registry
        .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return;
    };
    remove_finalizer(
        c,
        &rt,
        &(String::new(), name.to_string()),
        CLEANUP_FINALIZER,
    );
}
