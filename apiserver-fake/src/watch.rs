//! Watch streams: start point (`resourceVersion`, `sendInitialEvents`), selector
//! transitions as upstream's cacher computes them (stop matching -> DELETED, start
//! matching -> ADDED), BOOKMARK events (periodic and `k8s.io/initial-events-end`),
//! `timeoutSeconds`, 410 as an ERROR event, and fault hooks (drop after N events).
//! Each watch is its own task with its own channel; events are serialized there.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult, Cause};
use crate::ops::{Cluster, to_external};
use crate::registry::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeKind, WatchMsg};
use crate::table::Presentation;

/// A parsed watch request.
pub struct WatchRequest {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
    pub presentation: Presentation,
    /// Fault: end the stream after this many events.
    pub drop_after: Option<usize>,
    /// Fault: answer with a 410 ERROR event instead of watching.
    pub force_gone: bool,
}

/// Start a watch; returns the receiving end of the encoded event stream.
pub fn start(
    cluster: Arc<Cluster>,
    req: WatchRequest,
    bookmark_interval: Duration,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    let rv: Option<u64> = match req.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    if req.send_initial_events {
        if req.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![Cause::forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
                )],
            ));
        }
        if !req.bookmarks {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![Cause::forbidden(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is set",
                )],
            ));
        }
    } else if req
        .resource_version_match
        .as_deref()
        .is_some_and(|m| !m.is_empty())
    {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            vec![Cause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            )],
        ));
    }
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(256);
    let from = if req.send_initial_events { None } else { rv };
    let sub = if req.force_gone {
        Err(ApiError::too_old(
            rv.unwrap_or(0),
            cluster.store.current_rv(),
        ))
    } else {
        cluster
            .store
            .subscribe(&req.rt.storage, req.namespace.as_deref(), from)
    };
    tokio::spawn(async move {
        let mut sub = match sub {
            Ok(s) => s,
            Err(e) => {
                let _ = out_tx.send(encode_error(&e)).await;
                return;
            }
        };
        let mut sent = 0usize;
        if req.drop_after == Some(0) {
            // Fault: dropped before any event.
            return;
        }
        let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
        let backlog = std::mem::take(&mut sub.backlog);
        for msg in backlog {
            if !emit(&req, &msg, &out_tx, &mut sent).await {
                return;
            }
        }
        if req.send_initial_events {
            let b = bookmark(&req.rt, sub.start_rv, true);
            if out_tx.send(b).await.is_err() {
                return;
            }
        }
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + bookmark_interval,
            bookmark_interval,
        );
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = sub.rx.recv() => {
                    let Some(msg) = msg else { return };
                    if !emit(&req, &msg, &out_tx, &mut sent).await {
                        return;
                    }
                }
                _ = tick.tick(), if req.bookmarks => {
                    cluster.store.bookmark(&sub.tx);
                }
                _ = sleep => {
                    if req.bookmarks {
                        // Flush what is queued, then a final bookmark, as upstream does
                        // before closing a watch at its timeout.
                        cluster.store.bookmark(&sub.tx);
                        while let Ok(msg) = sub.rx.try_recv() {
                            let last = matches!(msg, WatchMsg::Bookmark(_));
                            if !emit(&req, &msg, &out_tx, &mut sent).await || last {
                                break;
                            }
                        }
                    }
                    return;
                }
                _ = out_tx.closed() => return,
            }
        }
    });
    Ok(out_rx)
}

/// Encode and send one message; false when the stream must end.
async fn emit(
    req: &WatchRequest,
    msg: &WatchMsg,
    out: &mpsc::Sender<Bytes>,
    sent: &mut usize,
) -> bool {
    match msg {
        WatchMsg::Bookmark(rv) => {
            if req.bookmarks {
                return out.send(bookmark(&req.rt, *rv, false)).await.is_ok();
            }
            true
        }
        WatchMsg::Close(err) => {
            if let Some(e) = err {
                let _ = out.send(encode_error(e)).await;
            }
            false
        }
        WatchMsg::Change(ch) => {
            let Some((ty, obj)) = transition(req, ch) else {
                return true;
            };
            let obj = to_external(&req.rt, &obj);
            let obj = req.presentation.render_one(&req.rt, obj);
            let mut line =
                serde_json::to_vec(&json!({"type": ty, "object": obj})).unwrap_or_default();
            line.push(b'\n');
            *sent += 1;
            // Fault: the stream ends right after its Nth event.
            out.send(Bytes::from(line)).await.is_ok()
                && req.drop_after.is_none_or(|limit| *sent < limit)
        }
    }
}

fn passes(req: &WatchRequest, obj: &Value) -> bool {
    if let Some(ns) = &req.namespace
        && obj["metadata"]["namespace"].as_str() != Some(ns.as_str())
    {
        return false;
    }
    if req.labels.is_empty() && req.fields.is_empty() {
        return true;
    }
    let ext = to_external(&req.rt, obj);
    req.labels.matches(&ext) && req.fields.matches(&ext)
}

/// The event a watch sees for a change (upstream cacheWatcher.convertToWatchEvent).
fn transition(req: &WatchRequest, ch: &Change) -> Option<(&'static str, Value)> {
    match ch.kind {
        ChangeKind::Deleted => passes(req, &ch.object).then(|| ("DELETED", (*ch.object).clone())),
        ChangeKind::Added | ChangeKind::Modified => {
            let cur = passes(req, &ch.object);
            let old = ch.prev.as_ref().is_some_and(|p| passes(req, p));
            match (cur, old) {
                (true, false) => Some(("ADDED", (*ch.object).clone())),
                (true, true) => Some(("MODIFIED", (*ch.object).clone())),
                (false, true) => {
                    // The previous content, stamped with this event's resourceVersion.
                    let mut prev = (**ch.prev.as_ref().expect("old passes")).clone();
                    prev["metadata"]["resourceVersion"] = json!(ch.rv.to_string());
                    Some(("DELETED", prev))
                }
                (false, false) => None,
            }
        }
    }
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let ev = json!({
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta},
    });
    let mut line = serde_json::to_vec(&ev).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// An ERROR watch event carrying a Status (how the real server reports 410 in a stream).
pub fn encode_error(e: &ApiError) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
