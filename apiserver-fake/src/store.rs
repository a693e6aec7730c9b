//! The object store: every object as `Arc<Value>` keyed by (storage, namespace, name),
//! one global monotonic resourceVersion, a bounded change history (the "etcd compaction
//! window" that decides 410 Gone), and per-watch channels fed at commit time.
//!
//! The lock is held only to check preconditions, assign a resourceVersion and push
//! `Arc`s into channels; patching, validation and serialization happen outside it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::error::ApiError;

/// (namespace or "" for cluster scope, name)
pub type ObjKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed write, as recorded in the history and sent to watches.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub storage: Arc<str>,
    pub kind: ChangeKind,
    /// The object after the change (for Deleted: the last state, carrying the deletion rv).
    pub object: Arc<Value>,
    /// The object before the change (None for Added).
    pub prev: Option<Arc<Value>>,
}

/// What a watch stream receives.
#[derive(Debug, Clone)]
pub enum WatchMsg {
    Change(Arc<Change>),
    /// A progress notification at this resourceVersion.
    Bookmark(u64),
    /// End the stream, optionally with an ERROR event first.
    Close(Option<ApiError>),
}

/// Precondition of a write.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Create: the key must be free.
    Absent,
    /// Update/delete: the live object must be at this resourceVersion.
    Rv(u64),
}

#[derive(Debug)]
pub enum WriteError {
    Exists(Arc<Value>),
    Missing,
    Stale(Arc<Value>),
}

struct Watcher {
    id: u64,
    namespace: Option<String>,
    tx: UnboundedSender<WatchMsg>,
}

#[derive(Default)]
struct State {
    rv: u64,
    tables: HashMap<Arc<str>, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    /// Changes with rv <= compacted are gone from the history.
    compacted: u64,
    watchers: HashMap<Arc<str>, Vec<Watcher>>,
    listeners: Vec<UnboundedSender<Arc<Change>>>,
    next_watcher: u64,
}

/// A registered watch: its backlog (replayed history or synthetic ADDED events),
/// then live messages from `rx`.
pub struct Subscription {
    pub id: u64,
    pub backlog: Vec<WatchMsg>,
    pub rx: UnboundedReceiver<WatchMsg>,
    /// Sender to this watch's own channel (bookmarks are pushed through it under the lock).
    pub tx: UnboundedSender<WatchMsg>,
    /// The resourceVersion the backlog brings the watch up to.
    pub start_rv: u64,
}

pub struct Store {
    state: Mutex<State>,
    history_limit: AtomicUsize,
}

pub fn object_rv(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
    }
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            history_limit: AtomicUsize::new(history_limit.max(1)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every mutation is
        // completed before any fallible step), so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_history_limit(&self, limit: usize) {
        self.history_limit.store(limit.max(1), Ordering::Relaxed);
        let mut st = self.lock();
        Self::trim(&mut st, limit.max(1));
    }

    /// Drop the whole history, as an etcd compaction at the current revision would:
    /// every watch or list from an older resourceVersion then gets 410 Gone.
    pub fn compact(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.compacted = st.rv;
    }

    /// What clients see when an API server's watch cache is reset (a restart, or an etcd
    /// compaction racing unrelated writes): every open watch ends, and resuming from any
    /// resourceVersion seen so far is answered 410 Gone; a new list, and a watch from it, work.
    pub fn expire_watches(&self) {
        {
            let mut st = self.lock();
            // etcd's revision is global: a write elsewhere moves it past every client's.
            st.rv += 1;
            st.history.clear();
            st.compacted = st.rv;
        }
        self.close_watches(None, None, None);
    }

    /// The oldest resourceVersion a watch can still start from.
    pub fn compacted_rv(&self) -> u64 {
        self.lock().compacted
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn len(&self) -> usize {
        self.lock().tables.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, storage: &str, key: &ObjKey) -> Option<Arc<Value>> {
        self.lock().tables.get(storage)?.get(key).cloned()
    }

    /// Current objects of a storage, optionally one namespace, in key order, plus the rv.
    pub fn list(&self, storage: &str, namespace: Option<&str>) -> (u64, Vec<Arc<Value>>) {
        let st = self.lock();
        let items = match st.tables.get(storage) {
            None => Vec::new(),
            Some(t) => match namespace {
                None => t.values().cloned().collect(),
                Some(ns) => t
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
            },
        };
        (st.rv, items)
    }

    /// The objects of a storage as they were at `rv` (consistent pagination and
    /// `resourceVersionMatch=Exact`), rebuilt by undoing newer changes. 410 if the
    /// history no longer reaches back to `rv`.
    pub fn list_at(
        &self,
        storage: &str,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        let st = self.lock();
        if rv < st.compacted {
            return Err(ApiError::too_old(rv, st.compacted + 1));
        }
        let mut map: BTreeMap<ObjKey, Arc<Value>> = match st.tables.get(storage) {
            None => BTreeMap::new(),
            Some(t) => t
                .iter()
                .filter(|((n, _), _)| namespace.is_none_or(|ns| ns == n))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        for ch in st.history.iter().rev() {
            if ch.rv <= rv {
                break;
            }
            if &*ch.storage != storage {
                continue;
            }
            let key = key_of(&ch.object);
            if namespace.is_some_and(|ns| ns != key.0) {
                continue;
            }
            match (&ch.kind, &ch.prev) {
                (ChangeKind::Added, _) | (_, None) => {
                    map.remove(&key);
                }
                (_, Some(prev)) => {
                    map.insert(key, prev.clone());
                }
            }
        }
        Ok(map.into_values().collect())
    }

    /// Commit `obj` at `key` under precondition `expect`; assigns the next resourceVersion.
    pub fn write(
        &self,
        storage: &Arc<str>,
        key: ObjKey,
        expect: Expect,
        mut obj: Value,
    ) -> Result<Arc<Value>, WriteError> {
        let mut st = self.lock();
        let table = st.tables.entry(storage.clone()).or_default();
        let prev = table.get(&key).cloned();
        match (expect, &prev) {
            (Expect::Absent, Some(p)) => return Err(WriteError::Exists(p.clone())),
            (Expect::Rv(_), None) => return Err(WriteError::Missing),
            (Expect::Rv(rv), Some(p)) if object_rv(p) != rv => {
                return Err(WriteError::Stale(p.clone()));
            }
            _ => {}
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        st.tables
            .get_mut(storage)
            .expect("table exists")
            .insert(key, obj.clone());
        let kind = if prev.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.publish(
            &mut st,
            Change {
                rv,
                storage: storage.clone(),
                kind,
                object: obj.clone(),
                prev,
            },
        );
        Ok(obj)
    }

    /// Remove the object at `key` (if at `expect_rv` when given). The DELETED event
    /// carries the last state with a fresh resourceVersion, as upstream does.
    pub fn remove(
        &self,
        storage: &Arc<str>,
        key: &ObjKey,
        expect_rv: Option<u64>,
    ) -> Result<Arc<Value>, WriteError> {
        let mut st = self.lock();
        let Some(table) = st.tables.get_mut(storage) else {
            return Err(WriteError::Missing);
        };
        let Some(prev) = table.get(key).cloned() else {
            return Err(WriteError::Missing);
        };
        if let Some(rv) = expect_rv
            && object_rv(&prev) != rv
        {
            return Err(WriteError::Stale(prev));
        }
        table.remove(key);
        st.rv += 1;
        let rv = st.rv;
        let mut last = (*prev).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        self.publish(
            &mut st,
            Change {
                rv,
                storage: storage.clone(),
                kind: ChangeKind::Deleted,
                object: last.clone(),
                prev: Some(prev),
            },
        );
        Ok(last)
    }

    fn trim(st: &mut State, limit: usize) {
        while st.history.len() > limit {
            if let Some(old) = st.history.pop_front() {
                st.compacted = old.rv;
            }
        }
    }

    fn publish(&self, st: &mut State, change: Change) {
        let change = Arc::new(change);
        st.history.push_back(change.clone());
        Self::trim(st, self.history_limit.load(Ordering::Relaxed));
        let ns = &change.object["metadata"]["namespace"];
        if let Some(ws) = st.watchers.get_mut(&change.storage) {
            ws.retain(|w| {
                if w.tx.is_closed() {
                    return false;
                }
                if let Some(want) = &w.namespace
                    && ns.as_str() != Some(want.as_str())
                {
                    return true;
                }
                w.tx.send(WatchMsg::Change(change.clone())).is_ok()
            });
        }
        st.listeners.retain(|l| l.send(change.clone()).is_ok());
    }

    /// Register a watch on `storage` (optionally one namespace). `from`: Some(rv) replays
    /// history after rv (410 if compacted past it); None starts with synthetic ADDED
    /// events for the current state.
    pub fn subscribe(
        &self,
        storage: &Arc<str>,
        namespace: Option<&str>,
        from: Option<u64>,
    ) -> Result<Subscription, ApiError> {
        let mut st = self.lock();
        let mut backlog = Vec::new();
        match from {
            Some(rv) => {
                if rv < st.compacted {
                    return Err(ApiError::too_old(rv, st.compacted + 1));
                }
                let start = st.history.partition_point(|c| c.rv <= rv);
                for ch in st.history.range(start..) {
                    if &ch.storage != storage {
                        continue;
                    }
                    if let Some(ns) = namespace
                        && ch.object["metadata"]["namespace"].as_str() != Some(ns)
                    {
                        continue;
                    }
                    backlog.push(WatchMsg::Change(ch.clone()));
                }
            }
            None => {
                if let Some(t) = st.tables.get(storage) {
                    for ((n, _), obj) in t.iter() {
                        if namespace.is_some_and(|ns| ns != n) {
                            continue;
                        }
                        backlog.push(WatchMsg::Change(Arc::new(Change {
                            rv: object_rv(obj),
                            storage: storage.clone(),
                            kind: ChangeKind::Added,
                            object: obj.clone(),
                            prev: None,
                        })));
                    }
                }
            }
        }
        let (tx, rx) = unbounded_channel();
        st.next_watcher += 1;
        let id = st.next_watcher;
        st.watchers
            .entry(storage.clone())
            .or_default()
            .push(Watcher {
                id,
                namespace: namespace.map(str::to_string),
                tx: tx.clone(),
            });
        Ok(Subscription {
            id,
            backlog,
            rx,
            tx,
            start_rv: st.rv,
        })
    }

    /// Push a bookmark at the current rv into a watch's channel. Done under the lock so
    /// it is ordered after every change it covers.
    pub fn bookmark(&self, tx: &UnboundedSender<WatchMsg>) {
        let st = self.lock();
        let _ = tx.send(WatchMsg::Bookmark(st.rv));
    }

    /// Close watches on a storage (CRD removed, faults). `only`: a single watch id.
    pub fn close_watches(&self, storage: Option<&str>, only: Option<u64>, err: Option<ApiError>) {
        let mut st = self.lock();
        for (s, ws) in st.watchers.iter_mut() {
            if storage.is_some_and(|want| want != &**s) {
                continue;
            }
            ws.retain(|w| {
                if only.is_some_and(|id| id != w.id) {
                    return true;
                }
                let _ = w.tx.send(WatchMsg::Close(err.clone()));
                false
            });
        }
    }

    /// Number of open watches (for tests and the bench).
    pub fn watch_count(&self) -> usize {
        let mut st = self.lock();
        st.watchers
            .values_mut()
            .map(|ws| {
                ws.retain(|w| !w.tx.is_closed());
                ws.len()
            })
            .sum()
    }

    /// Every change of every storage, for the built-in controllers (GC, namespaces, CRDs).
    pub fn listen(&self) -> UnboundedReceiver<Arc<Change>> {
        let (tx, rx) = unbounded_channel();
        self.lock().listeners.push(tx);
        rx
    }

    /// Drop every object of a storage without events (its CRD is gone for good).
    pub fn drop_storage(&self, storage: &str) {
        self.lock().tables.remove(storage);
    }

    /// Every storage key with at least one object (namespace deletion walks these).
    pub fn storages(&self) -> Vec<Arc<str>> {
        self.lock()
            .tables
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// The (namespace, name) key of an object.
pub fn key_of(obj: &Value) -> ObjKey {
    (
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}
